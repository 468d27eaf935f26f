//! C2S Studio's desktop app: Tauri commands over the engine crates, background
//! jobs with progress events, and the project store. No algorithms here.

mod bindings;
pub mod commands;
pub mod jobs;
pub mod store;

/// Locks that survive a panic in another command: the data behind them (the
/// store's connection, a loaded model, the job table) stays valid, so one
/// failed command does not make every later one fail too.
pub(crate) trait LockAnyway<T> {
    fn lock_anyway(&self) -> std::sync::MutexGuard<'_, T>;
}

impl<T> LockAnyway<T> for std::sync::Mutex<T> {
    fn lock_anyway(&self) -> std::sync::MutexGuard<'_, T> {
        self.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tauri::Manager;

use commands::AppState;
use jobs::Jobs;
use store::Store;

/// The project database's file name in the app's data folder.
pub const DB_FILE: &str = "studio.sqlite";

/// The bundled demo dataset: `C2S_STUDIO_DEMO`, or the app's resources (an
/// installed app's resource folder; beside the binary in a build from
/// source, where tauri-build copies the resources). Never the source tree.
fn demo_dataset(app: &tauri::App) -> Option<PathBuf> {
    std::env::var_os("C2S_STUDIO_DEMO")
        .map(PathBuf::from)
        .into_iter()
        .chain(
            app.path()
                .resource_dir()
                .ok()
                .map(|d| d.join("assets").join("pbmc3k-10x.h5ad")),
        )
        .find(|p| p.is_file())
        .map(|p| std::fs::canonicalize(&p).unwrap_or(p))
}

/// The app's configuration and its front end, embedded at compile time.
/// Only the app's own build expands it: tauri-codegen caches the compressed
/// front end in OUT_DIR without a lock, and this crate's unit-test build,
/// compiled at the same time, could otherwise make the app embed a
/// half-written script (a blank window).
#[cfg(not(test))]
fn context() -> tauri::Context<tauri::Wry> {
    tauri::generate_context!()
}

#[cfg(test)]
fn context() -> tauri::Context<tauri::Wry> {
    unreachable!("unit tests never start the app")
}

fn grant_dropped(app: &tauri::AppHandle, paths: &[PathBuf]) {
    if let Some(state) = app.try_state::<AppState>() {
        for p in paths {
            state.granted.grant(p);
        }
    }
}

pub fn run() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let app = tauri::Builder::default()
        .plugin(tauri_plugin_dialog::init())
        .setup(|app| {
            // C2S_STUDIO_HOME keeps tests and demos apart from a user's projects.
            let home = match std::env::var_os("C2S_STUDIO_HOME") {
                Some(h) => PathBuf::from(h),
                None => app.path().app_data_dir()?,
            };
            std::fs::create_dir_all(&home)?;
            let store = Store::open(&home.join(DB_FILE))?;
            let interrupted = store.mark_interrupted()?;
            if interrupted > 0 {
                tracing::info!(
                    "{interrupted} training run(s) were interrupted; the app offers to resume them"
                );
            }
            let demo = demo_dataset(app);
            app.manage(AppState {
                store: Mutex::new(store),
                jobs: Arc::new(Jobs::default()),
                home,
                demo,
                model: Mutex::new(None),
                published: Default::default(),
                discarded: Arc::default(),
                granted: Default::default(),
                map_samples: Default::default(),
            });
            Ok(())
        })
        // A dropped file or folder may be named by the page afterwards.
        .on_window_event(|w, e| {
            if let tauri::WindowEvent::DragDrop(tauri::DragDropEvent::Drop { paths, .. }) = e {
                grant_dropped(w.app_handle(), paths);
            }
        })
        .on_webview_event(|w, e| {
            if let tauri::WebviewEvent::DragDrop(tauri::DragDropEvent::Drop { paths, .. }) = e {
                grant_dropped(w.app_handle(), paths);
            }
        })
        .invoke_handler(tauri::generate_handler![
            commands::access::choose_path,
            commands::access::show_in_folder,
            commands::project::app_info,
            commands::project::about,
            commands::project::recent_projects,
            commands::project::resumable_runs,
            commands::dataset::open_dataset,
            commands::dataset::start_dataset_map,
            commands::dataset::preview_sentences,
            commands::dataset::start_convert,
            commands::project::project_state,
            commands::train::estimate_training,
            commands::train::recommend_preset,
            commands::dataset::map_gene_values,
            commands::dataset::save_selection,
            commands::dataset::compare_selection,
            commands::dataset::selections,
            commands::dataset::delete_selection,
            commands::chat::call_selected_cells,
            commands::train::start_training,
            commands::train::resume_training,
            commands::train::cancel_job,
            commands::train::cancel_training,
            commands::chat::start_free_text,
            commands::train::loss_curve,
            commands::chat::chat_history,
            commands::chat::save_chat,
            commands::chat::model_info,
            commands::chat::start_generate,
            commands::chat::generation_defaults,
            commands::published::estimate_published_generation,
            commands::chat::add_to_comparison,
            commands::chat::predict_sentence,
            commands::chat::sample_cells,
            commands::evaluate::start_evaluate,
            commands::evaluate::start_generate_mix,
            commands::annotate::start_annotate,
            commands::annotate::save_annotated,
            commands::annotate::save_annotated_as,
            commands::export::save_export,
            commands::chat::marker_genes,
            commands::train::train_presets,
            commands::annotate::export_predictions,
            commands::project::run_model_dir,
            commands::published::published_models,
            commands::published::accept_licence,
            commands::published::start_model_download,
            commands::published::inspect_model,
            commands::published::estimate_published_annotation,
            commands::published::start_annotate_published,
            commands::published::start_published_generate,
            commands::published::start_describe_group,
            commands::published::models_folder,
            commands::published::dataset_groups,
        ])
        .build(context());
    let app = match app {
        Ok(app) => app,
        // A message (the project database of a newer version, a data folder
        // that cannot be written), not a panic.
        Err(e) => {
            tracing::error!("C2S Studio could not start: {e}");
            eprintln!("C2S Studio could not start: {e}");
            std::process::exit(1);
        }
    };
    // SIGINT, SIGTERM and SIGHUP (logging out, a terminal closing) end the
    // app as closing its window does, so the hook below runs.
    let handle = app.handle().clone();
    let _ = ctrlc::set_handler(move || handle.exit(0));
    app.run(|app, event| {
        if let tauri::RunEvent::Exit = event {
            // Closing mid-training pauses the run at a checkpoint (reopening
            // offers Resume); other jobs stop without partial output.
            if let Some(state) = app.try_state::<AppState>() {
                let left = state.jobs.stop_all(std::time::Duration::from_secs(60));
                if left > 0 {
                    tracing::warn!("{left} job(s) did not stop within 60 s of closing");
                }
            }
        }
    });
}
