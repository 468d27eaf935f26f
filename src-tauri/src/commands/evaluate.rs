//! Compare: the evaluation job over generated cells and predictions.

use super::*;

#[derive(Debug, Clone, Deserialize)]
pub struct EvalForm {
    pub dataset_id: i64,
    pub run_id: Option<i64>,
    #[serde(default)]
    pub with_generated: bool,
    #[serde(default)]
    pub with_predictions: bool,
}

/// Compare: evaluates generated cells, predictions and the loss curve, and
/// writes the report (HTML, PNG and SVG plots) in the project folder.
#[tauri::command]
pub fn start_evaluate(
    project_id: i64,
    form: EvalForm,
    app: AppHandle,
    state: State<'_, AppState>,
) -> CmdResult<u64> {
    let project = project_of(&state, project_id)?;
    let ds = dataset_folder(&state, project_id, form.dataset_id)?;
    let (run, generated, predictions, selections) = {
        let s = state.store.lock_anyway();
        let run = form
            .run_id
            .map(|id| s.run(id).map(|r| PathBuf::from(r.folder)))
            .transpose()
            .map_err(text)?;
        let generated = s
            .artefacts(project_id, "generated")
            .map_err(text)?
            .first()
            .map(|a| PathBuf::from(&a.path))
            .filter(|_| form.with_generated);
        let predictions = s
            .artefacts(project_id, "predictions")
            .map_err(text)?
            .first()
            .map(|a| PathBuf::from(&a.path))
            .filter(|_| form.with_predictions);
        // Saved selections put in the comparison go beside generated cells.
        let selections: Vec<c2s_eval::NamedCells> = if generated.is_some() {
            s.selections(project_id)
                .map_err(text)?
                .into_iter()
                .filter(|x| x.compared)
                .map(|x| c2s_eval::NamedCells {
                    name: x.name,
                    cells: x.cells,
                })
                .collect()
        } else {
            Vec::new()
        };
        (run, generated, predictions, selections)
    };
    if run.is_none() && generated.is_none() && predictions.is_none() {
        return Err("nothing to compare yet: generate cells in the chat and add them to the comparison, annotate the dataset, or train a model".into());
    }
    let reserved = Reserved::new(&Path::new(&project.folder).join("reports"), "report", None)?;
    Ok(state.jobs.spawn(&app, "evaluate", move |ctx| {
        let out = reserved.path().to_path_buf();
        let inputs = c2s_eval::EvalInputs {
            dataset: ds,
            predictions,
            generated,
            run,
            selections,
            ..Default::default()
        };
        let opts = c2s_eval::GeneratedOptions::default();
        let progress = |stage: &str| ctx.progress(stage, 0, 1, Value::Null);
        let report = match c2s_eval::evaluate_cancellable(&inputs, &opts, &progress, &ctx.cancel) {
            Err(c2s_eval::EvalError::Cancelled) => return Ok(Outcome::Cancelled(Value::Null)),
            r => r?,
        };
        ctx.progress("drawing the report", 0, 1, Value::Null);
        c2s_eval::write_report(&report, &out, true, &[inputs.dataset.as_path()])?;
        Ok(Outcome::Ok(json!({"report": report, "folder": out})))
    }))
}
