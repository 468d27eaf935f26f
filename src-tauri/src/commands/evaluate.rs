//! Compare: the evaluation job over generated cells and predictions.

use super::*;

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct EvalForm {
    #[ts(type = "number")]
    pub dataset_id: i64,
    #[ts(type = "number | null", optional)]
    pub run_id: Option<i64>,
    #[serde(default)]
    pub with_generated: bool,
    #[serde(default)]
    pub with_predictions: bool,
}

/// An evaluation's result: the report, and the folder it was written in.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct Evaluated {
    pub report: c2s_eval::EvalReport,
    pub folder: PathBuf,
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
    let inputs = eval_inputs(&state, project_id, &form)?;
    let reserved = Reserved::new(&Path::new(&project.folder).join("reports"), "report", None)?;
    Ok(state.jobs.spawn(&app, "evaluate", move |ctx| {
        evaluate_job(ctx, &inputs, reserved.path())
    }))
}

/// What the form asks to compare, from the project's store: the run's loss
/// curve, the cells added from the chat with the saved selections put
/// beside them, and the latest annotation.
fn eval_inputs(
    state: &AppState,
    project_id: i64,
    form: &EvalForm,
) -> CmdResult<c2s_eval::EvalInputs> {
    let dataset = dataset_folder(state, project_id, form.dataset_id)?;
    let s = state.store.lock_anyway();
    let run = form
        .run_id
        .map(|id| s.run(id).map(|r| PathBuf::from(r.folder)))
        .transpose()
        .map_err(text)?;
    let latest = |kind: &str| -> CmdResult<Option<PathBuf>> {
        let a = s.artefacts(project_id, kind).map_err(text)?;
        Ok(a.first().map(|a| PathBuf::from(&a.path)))
    };
    let generated = latest("generated")?.filter(|_| form.with_generated);
    let predictions = latest("predictions")?.filter(|_| form.with_predictions);
    if run.is_none() && generated.is_none() && predictions.is_none() {
        return Err("nothing to compare yet: generate cells in the chat and add them to the comparison, annotate the dataset, or train a model".into());
    }
    // Saved selections put in the comparison go beside generated cells.
    let selections = match generated {
        Some(_) => s
            .selections(project_id)
            .map_err(text)?
            .into_iter()
            .filter(|x| x.compared)
            .map(|x| c2s_eval::NamedCells {
                name: x.name,
                cells: x.cells,
            })
            .collect(),
        None => Vec::new(),
    };
    Ok(c2s_eval::EvalInputs {
        dataset,
        predictions,
        generated,
        run,
        selections,
        ..Default::default()
    })
}

/// Evaluates and writes the report (HTML, PNG and SVG plots) in `out`.
fn evaluate_job(
    ctx: &JobCtx,
    inputs: &c2s_eval::EvalInputs,
    out: &Path,
) -> anyhow::Result<Outcome> {
    let opts = c2s_eval::GeneratedOptions::default();
    let progress = |stage: &str| ctx.progress(stage, 0, 1, None);
    let report = match c2s_eval::evaluate_cancellable(inputs, &opts, &progress, &ctx.cancel) {
        Err(c2s_eval::EvalError::Cancelled) => return Ok(Outcome::Cancelled(None)),
        r => r?,
    };
    ctx.progress("drawing the report", 0, 1, None);
    c2s_eval::write_report(&report, out, true, &[inputs.dataset.as_path()])?;
    Ok(Outcome::Ok(JobResult::Evaluate(Evaluated {
        report,
        folder: out.to_path_buf(),
    })))
}
