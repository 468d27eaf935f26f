//! Exported plots and tables, saved into the project's exports folder.

use super::*;

/// Saves an exported plot or table into the project's exports folder.
/// `data` is text (SVG, CSV) or a `data:image/png;base64,` URL.
#[tauri::command]
pub fn save_export(
    project_id: i64,
    name: String,
    data: String,
    state: State<'_, AppState>,
) -> CmdResult<String> {
    use base64::Engine;
    let project = project_of(&state, project_id)?;
    let bytes = match data.strip_prefix("data:image/png;base64,") {
        Some(b64) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(text)?,
        None => data.into_bytes(),
    };
    write_export(&project, &name, &bytes)
}

/// Writes `bytes` as `name` in the project's exports folder (replacing a
/// file of that name, atomically) and returns its path.
pub(super) fn write_export(project: &Project, name: &str, bytes: &[u8]) -> CmdResult<String> {
    // Only a plain file name: the web view never chooses where files go.
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if safe.is_empty() || safe.starts_with('.') {
        return Err("bad export name".into());
    }
    let path = Path::new(&project.folder).join("exports").join(safe);
    c2s_data::output::write_file(&path, bytes, true).map_err(text)?;
    Ok(path.to_string_lossy().into())
}
