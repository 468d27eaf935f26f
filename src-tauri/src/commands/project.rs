//! The app's own questions: its version and notices, the projects and runs it
//! keeps, and what a project holds.

use super::*;

#[derive(Serialize)]
pub struct AppInfo {
    pub demo_path: Option<String>,
    pub home: String,
    pub version: &'static str,
}

#[tauri::command]
pub fn app_info(state: State<'_, AppState>) -> AppInfo {
    AppInfo {
        demo_path: state.demo.as_ref().map(|p| p.to_string_lossy().into()),
        home: state.home.to_string_lossy().into(),
        version: env!("CARGO_PKG_VERSION"),
    }
}

#[derive(Serialize)]
pub struct About {
    pub version: &'static str,
    pub licence: &'static str,
    pub licence_text: String,
    /// THIRD-PARTY-NOTICES.txt of the installed packages (none in a build
    /// from source: scripts/package.sh writes it).
    pub notices: Option<String>,
    pub home: String,
    pub models: String,
}

/// Help / About: the version, the licence and the notices the licences of
/// the included software require, read from the app's resources.
#[tauri::command(async)]
pub fn about(app: AppHandle, state: State<'_, AppState>) -> About {
    use tauri::Manager;
    let resources = app.path().resource_dir().ok();
    let read = |name: &str| std::fs::read_to_string(resources.as_ref()?.join(name)).ok();
    let licences = [read("LICENSE-MIT"), read("LICENSE-APACHE")]
        .into_iter()
        .flatten();
    let models = c2s_model::hub::ModelStore::from_env()
        .cache_dir()
        .to_path_buf();
    About {
        version: env!("CARGO_PKG_VERSION"),
        licence: env!("CARGO_PKG_LICENSE"),
        licence_text: licences.collect::<Vec<_>>().join("\n\n"),
        notices: read("THIRD-PARTY-NOTICES.txt"),
        home: state.home.to_string_lossy().into(),
        models: models.to_string_lossy().into(),
    }
}

#[tauri::command]
pub fn recent_projects(state: State<'_, AppState>) -> CmdResult<Vec<Project>> {
    state.store.lock_anyway().recent_projects(12).map_err(text)
}

#[tauri::command]
pub fn resumable_runs(state: State<'_, AppState>) -> CmdResult<Vec<crate::store::RunRow>> {
    state.store.lock_anyway().resumable_runs().map_err(text)
}

#[derive(Serialize, ts_rs::TS)]
pub struct ProjectState {
    pub project: Project,
    pub datasets: Vec<crate::store::DatasetRow>,
    pub runs: Vec<crate::store::RunRow>,
    pub generated: Vec<crate::store::Artefact>,
    pub annotations: Vec<crate::store::Artefact>,
}

#[tauri::command]
pub fn project_state(project_id: i64, state: State<'_, AppState>) -> CmdResult<ProjectState> {
    let s = state.store.lock_anyway();
    Ok(ProjectState {
        project: s.project(project_id).map_err(text)?,
        datasets: s.datasets(project_id).map_err(text)?,
        runs: s.runs(project_id).map_err(text)?,
        generated: s.artefacts(project_id, "generated").map_err(text)?,
        annotations: s.artefacts(project_id, "predictions").map_err(text)?,
    })
}

/// A model folder of a finished run.
#[tauri::command]
pub fn run_model_dir(run_id: i64, state: State<'_, AppState>) -> CmdResult<String> {
    Ok(finished_model(&state, run_id)?.to_string_lossy().into())
}

/// The model folder of a finished run.
pub(crate) fn finished_model(state: &AppState, run_id: i64) -> CmdResult<PathBuf> {
    let run = state.store.lock_anyway().run(run_id).map_err(text)?;
    let dir = Path::new(&run.folder).join(c2s_model::train::FINAL_MODEL);
    if !dir.join(c2s_model::trained::MODEL_CARD).exists() {
        return Err("this run has not finished: resume it to get a model".into());
    }
    Ok(dir)
}
