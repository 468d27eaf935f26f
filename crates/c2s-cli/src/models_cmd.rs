//! `c2s models`: the published C2S models, their licences and downloads; a
//! thin wrapper over c2s_model::hub.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use anyhow::Result;
use c2s_model::hub::ModelStore;
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Subcommand)]
pub enum ModelsCommand {
    /// The published models: family, size, memory, tasks, licence, whether
    /// downloaded (the default).
    List {
        /// Print JSON for scripts instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show a model's licence; with --accept, record that you accept it
    /// (asked once, before the first download or use).
    Licence {
        /// Hub id (owner/name) or a published model's name.
        id: String,
        #[arg(long)]
        accept: bool,
    },
    /// Download a model into the Hugging Face cache (HF_HOME), with progress;
    /// Ctrl-C stops it and running it again resumes.
    Download {
        /// Hub id (owner/name) or a published model's name.
        id: String,
        /// Accept the model's licence (shown first) without a separate step.
        #[arg(long)]
        accept_licence: bool,
    },
    /// Print the folder of a downloaded model.
    Path { id: String },
}

fn gb(bytes: u64) -> String {
    format!("{:.1} GB", bytes as f64 / 1e9)
}

pub fn run(command: Option<ModelsCommand>, cancel: &AtomicBool) -> Result<()> {
    let store = ModelStore::from_env();
    match command.unwrap_or(ModelsCommand::List { json: false }) {
        ModelsCommand::List { json } => {
            let rows = store.listings();
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
                return Ok(());
            }
            for r in &rows {
                let e = &r.entry;
                let tasks: Vec<String> = e
                    .tasks
                    .iter()
                    .map(|t| {
                        serde_json::to_value(t)
                            .expect("task")
                            .as_str()
                            .unwrap_or("")
                            .replace('_', " ")
                    })
                    .collect();
                let here = match (&r.local.folder, r.local.partial_bytes) {
                    (Some(_), _) => "downloaded".to_string(),
                    (None, 0) => "not downloaded".to_string(),
                    (None, p) => format!("{} downloaded, resumable", gb(p)),
                };
                println!("{}\n  {}", e.name, e.id);
                println!(
                    "  {} · {:.0} M parameters · download {}{} · memory {} (bf16) / {} (f32)",
                    e.family.name(),
                    e.parameters as f64 / 1e6,
                    if e.download_size_known() {
                        ""
                    } else {
                        "up to "
                    },
                    gb(r.download_bytes),
                    gb(r.memory_bf16_bytes),
                    gb(r.memory_f32_bytes),
                );
                println!("  tasks: {}", tasks.join(", "));
                println!(
                    "  licence: {}{} · {here}\n",
                    e.licence.name(),
                    if r.local.licence_accepted {
                        " (accepted)"
                    } else {
                        ""
                    }
                );
            }
            eprintln!("Models are kept in {}", store.cache_dir().display());
        }
        ModelsCommand::Licence { id, accept } => {
            show_licence(&id);
            if accept {
                store.accept_licence(&id)?;
                println!("Accepted.");
            } else if store.licence_accepted(&id) {
                println!("You accepted it already.");
            } else {
                println!("To accept it: c2s models licence {id} --accept");
            }
        }
        ModelsCommand::Download { id, accept_licence } => {
            let dir = download(&store, &id, accept_licence, cancel)?;
            println!("{}", dir.display());
        }
        ModelsCommand::Path { id } => println!("{}", store.model_for_use(&id)?.display()),
    }
    Ok(())
}

/// Downloads a model with a byte progress bar, showing its licence first when
/// it is not accepted yet (and accepting it with `accept_licence`).
pub fn download(
    store: &ModelStore,
    id: &str,
    accept_licence: bool,
    cancel: &AtomicBool,
) -> Result<PathBuf> {
    if !store.licence_accepted(id) {
        show_licence(id);
        if accept_licence {
            store.accept_licence(id)?;
        }
    }
    fetch(store, id, cancel)
}

/// Shows a model's licence and records that the user accepted it.
pub fn accept(store: &ModelStore, id: &str) -> Result<()> {
    show_licence(id);
    Ok(store.accept_licence(id)?)
}

fn fetch(store: &ModelStore, id: &str, cancel: &AtomicBool) -> Result<PathBuf> {
    let pb = ProgressBar::new(0);
    pb.set_style(
        ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} (ETA {eta})",
        )
        .expect("template")
        .progress_chars("=> "),
    );
    let r = store.download(
        id,
        &mut |p| {
            pb.set_length(p.total_bytes);
            pb.set_position(p.done_bytes);
            pb.set_message(p.file.clone());
        },
        cancel,
    );
    pb.finish_and_clear();
    Ok(r?)
}

fn show_licence(id: &str) {
    let l = ModelStore::licence_of(id);
    eprintln!("Licence of {id}: {}\n  {}\n  {}", l.name(), l.note, l.url);
}
