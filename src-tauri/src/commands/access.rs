//! Which files and folders the page may name. The web view is the least
//! trusted part of the app (it shows text from the user's files: gene names,
//! labels, model cards), so a path from it is honoured only when the user
//! chose it in a native dialog or dropped it on the window this session, or
//! when the app itself wrote or recorded it: its data folder (projects, runs,
//! predictions, reports), the model download cache, the demo dataset and the
//! source files of projects in the store. The page gets paths from
//! `choose_path`, which opens the dialog here: it has no dialog permission
//! of its own.

use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;

use serde::Deserialize;
use tauri::{AppHandle, State};

use super::{AppState, CmdResult};
use crate::LockAnyway;

/// Paths the user chose in a dialog or dropped on the window. A folder
/// grants everything in it (a model folder's files, a run's model).
#[derive(Default)]
pub struct Granted(Mutex<Vec<PathBuf>>);

impl Granted {
    pub fn grant(&self, path: &Path) {
        let p = resolved(path);
        let mut g = self.0.lock_anyway();
        if !g.contains(&p) {
            g.push(p);
        }
    }

    fn covers(&self, path: &Path) -> bool {
        self.0.lock_anyway().iter().any(|g| path.starts_with(g))
    }
}

/// The canonical path where it exists; otherwise the absolute path as
/// given (a folder chosen and then deleted still gets its own message).
fn resolved(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// `path` from the page, if the page may name it; otherwise an error that
/// says how to choose it.
pub fn checked(state: &AppState, path: &str) -> CmdResult<PathBuf> {
    let given = Path::new(path.trim());
    // `..` could climb out of an allowed folder where the path does not
    // exist (and so is not canonicalised); relative paths mean nothing here.
    if !given.is_absolute() || given.components().any(|c| c == Component::ParentDir) {
        return Err(refused(given));
    }
    let p = resolved(given);
    let under = |root: &Path| p.starts_with(resolved(root));
    let ok = state.granted.covers(&p)
        || under(&state.home)
        || under(c2s_model::hub::ModelStore::from_env().cache_dir())
        || state.demo.as_deref().is_some_and(|d| p == resolved(d))
        || state
            .store
            .lock_anyway()
            .is_project_source(&p)
            .unwrap_or(false);
    if ok {
        Ok(p)
    } else {
        Err(refused(given))
    }
}

fn refused(path: &Path) -> String {
    format!(
        "{}: this app opens only files and folders chosen with Browse… or dropped on the window",
        path.display()
    )
}

/// What the dialog asks for.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PathKind {
    /// A single-cell data file (.h5ad).
    Dataset,
    /// A model folder (config.json, model.safetensors, tokenizer.json).
    ModelFolder,
}

/// Window tests set `C2S_STUDIO_PICKS` to a file whose first line is what
/// the next dialog answers: WebKitWebDriver cannot drive GTK's dialog. The
/// page cannot set the app's environment, so this grants it nothing.
const TEST_PICKS: &str = "C2S_STUDIO_PICKS";

fn test_pick() -> Option<Option<PathBuf>> {
    let file = PathBuf::from(std::env::var_os(TEST_PICKS)?);
    let text = std::fs::read_to_string(&file).ok();
    let _ = std::fs::remove_file(&file);
    Some(
        text.and_then(|t| t.lines().next().map(str::to_owned))
            .filter(|l| !l.is_empty())
            .map(PathBuf::from),
    )
}

/// Opens the native dialog and grants what the user chose; `None` when the
/// dialog was cancelled.
#[tauri::command(async)]
pub fn choose_path(
    kind: PathKind,
    app: AppHandle,
    state: State<'_, AppState>,
) -> CmdResult<Option<String>> {
    let picked = match test_pick() {
        Some(p) => p,
        None => pick_in_dialog(&app, kind)?,
    };
    Ok(picked.map(|p| {
        state.granted.grant(&p);
        p.to_string_lossy().into_owned()
    }))
}

/// The system's dialog for a `kind` of path; None when the user cancels.
fn pick_in_dialog(app: &AppHandle, kind: PathKind) -> CmdResult<Option<PathBuf>> {
    use tauri_plugin_dialog::DialogExt;
    let d = app.dialog().file();
    let p = match kind {
        PathKind::Dataset => d
            .set_title("A single-cell data file")
            .add_filter("Single-cell data", &["h5ad", "h5"])
            .blocking_pick_file(),
        PathKind::ModelFolder => d
            .set_title("A model folder (config.json, model.safetensors, tokenizer.json)")
            .blocking_pick_folder(),
    };
    p.map(|f| f.into_path().map_err(|e| e.to_string()))
        .transpose()
}

/// Window tests set `C2S_STUDIO_SHOWN` to a file that "Show in folder"
/// appends its path to instead of opening a file manager (there is none
/// under Xvfb).
const TEST_SHOWN: &str = "C2S_STUDIO_SHOWN";

/// "Show in folder": the folder that holds `path` (a file the app wrote, or
/// one the page may name) in the system's file manager.
#[tauri::command(async)]
pub fn show_in_folder(path: String, state: State<'_, AppState>) -> CmdResult<()> {
    let p = checked(&state, &path)?;
    if !p.exists() {
        return Err(format!("{} is no longer there.", p.display()));
    }
    if let Some(log) = std::env::var_os(TEST_SHOWN) {
        return log_shown(Path::new(&log), &p).map_err(|e| e.to_string());
    }
    reveal(&p).map_err(|e| {
        format!(
            "The file manager could not be opened ({e}). The file is at {}",
            p.display()
        )
    })
}

/// Under the window tests: appends `path` to the `log` file instead.
fn log_shown(log: &Path, path: &Path) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    writeln!(f, "{}", path.display())
}

/// Opens the file manager at `path`, by the platform's own command (the
/// opener plugin would add 35 crates, a D-Bus stack among them, for this):
/// the file selected on macOS and Windows, its folder elsewhere.
fn reveal(path: &Path) -> std::io::Result<()> {
    use std::process::Command;
    #[cfg(target_os = "macos")]
    let mut cmd = {
        let mut c = Command::new("open");
        c.arg("-R").arg(path);
        c
    };
    #[cfg(windows)]
    let mut cmd = {
        use std::os::windows::process::CommandExt;
        // Explorer reads `/select,"PATH"` as one argument, unquoted around
        // the switch, which Command's own quoting would break.
        let mut c = Command::new("explorer");
        c.raw_arg(format!("/select,\"{}\"", path.display()));
        c
    };
    #[cfg(not(any(target_os = "macos", windows)))]
    let mut cmd = {
        let folder = if path.is_dir() {
            path
        } else {
            path.parent().unwrap_or(path)
        };
        let mut c = Command::new("xdg-open");
        c.arg(folder);
        c
    };
    // The file manager outlives the call; reap it on a thread, so no zombie stays.
    let mut child = cmd.spawn()?;
    std::thread::spawn(move || child.wait());
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::jobs::Jobs;
    use crate::store::Store;
    use std::sync::Arc;

    /// An app state over a store in `home`, as the app starts with.
    pub(crate) fn state(home: &Path, demo: Option<PathBuf>) -> AppState {
        AppState {
            store: Mutex::new(Store::open(&home.join("studio.sqlite")).unwrap()),
            jobs: Arc::new(Jobs::default()),
            home: home.to_path_buf(),
            demo,
            model: Mutex::new(None),
            published: Default::default(),
            discarded: Arc::default(),
            granted: Granted::default(),
            map_samples: Default::default(),
        }
    }

    #[test]
    fn the_page_names_only_chosen_or_app_written_paths() {
        let t = tempfile::tempdir().unwrap();
        let home = t.path().join("home");
        let outside = t.path().join("elsewhere");
        for d in [&home, &outside] {
            std::fs::create_dir_all(d.join("model")).unwrap();
        }
        let data = outside.join("cells.h5ad");
        std::fs::write(&data, "x").unwrap();
        let demo = outside.join("demo.h5ad");
        std::fs::write(&demo, "x").unwrap();
        let s = state(&home, Some(demo.clone()));
        let p = |p: &Path| p.to_str().unwrap().to_string();

        // Outside the app's folders and never chosen: refused, with the way.
        for bad in [
            p(&outside.join("model")),
            p(&data),
            "/etc/passwd".into(),
            "model".into(),
            format!("{}/../elsewhere/model", p(&home)),
        ] {
            let e = checked(&s, &bad).unwrap_err();
            assert!(e.contains("chosen with Browse"), "{bad}: {e}");
        }
        // What the app wrote, the demo and a project's source are allowed.
        assert!(checked(&s, &p(&home.join("model"))).is_ok());
        assert!(checked(&s, &p(&demo)).is_ok());
        s.store
            .lock_anyway()
            .open_project(&resolved(&data), "cells", |id| home.join(id.to_string()))
            .unwrap();
        assert_eq!(checked(&s, &p(&data)).unwrap(), resolved(&data));
        // A chosen folder grants what is in it, and only that.
        assert!(checked(&s, &p(&outside.join("model"))).is_err());
        s.granted.grant(&outside.join("model"));
        assert!(checked(&s, &p(&outside.join("model"))).is_ok());
        assert!(checked(&s, &p(&outside.join("model/config.json"))).is_ok());
        assert!(checked(&s, &p(&outside)).is_err());
        // A symbolic link out of the data folder leads where it points.
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(&outside, home.join("link")).unwrap();
            assert!(checked(&s, &p(&home.join("link/demo.h5ad"))).is_ok());
            assert!(checked(&s, &p(&home.join("link/cells.h5ad"))).is_ok());
            std::fs::write(outside.join("secret.txt"), "x").unwrap();
            assert!(checked(&s, &p(&home.join("link/secret.txt"))).is_err());
        }
    }
}
