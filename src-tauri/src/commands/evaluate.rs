//! Compare: the evaluation job over generated cells and predictions, and
//! the job that writes generated cells in the held-out cells' mix of types.

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

/// Cells generated in the mix of types of the cells Compare measures them
/// on: the engine's figures, and the types left out.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct MixCells {
    /// Each type written and its number of cells, commonest first.
    #[ts(type = "Array<[string, number]>")]
    pub types: Vec<(String, usize)>,
    /// Types of those cells the model did not learn.
    pub left_out: Vec<String>,
    pub cells: usize,
    pub valid_share: f64,
    pub unique_share: f64,
}

/// Compare: writes as many cells of each type the run's model learned as
/// the held-out cells Compare measures them on hold (the engine's mix), in
/// place of the cells added from the chat, so the two compare like with like.
#[tauri::command(async)]
pub fn start_generate_mix(
    project_id: i64,
    dataset_id: i64,
    run_id: i64,
    app: AppHandle,
    state: State<'_, AppState>,
) -> CmdResult<u64> {
    let project = project_of(&state, project_id)?;
    let records = read_dataset(&dataset_folder(&state, project_id, dataset_id)?).map_err(text)?;
    let model =
        load_model(&state, &super::project::finished_model(&state, run_id)?).map_err(any_text)?;
    let held_out = c2s_eval::evaluate::HELD_OUT_SPLIT;
    let mix = TypeMix::of_split(&records, held_out, &model.card).map_err(text)?;
    let out = (
        Path::new(&project.folder).join("generated.jsonl"),
        state.home.join(crate::DB_FILE),
    );
    Ok(state.jobs.spawn(&app, "generate_mix", move |ctx| {
        mix_job(ctx, &model, &mix, (project_id, &out.0), &out.1)
    }))
}

/// Generates the mix, then keeps the cells for Compare: written whole, in
/// place of earlier ones, and recorded in the project.
fn mix_job(
    ctx: &JobCtx,
    model: &TrainedModel,
    mix: &TypeMix,
    (project_id, path): (i64, &Path),
    db: &Path,
) -> anyhow::Result<Outcome> {
    let req = mix.request(GenerateRequest::default());
    let progress = |done, total| ctx.progress("generating", done as u64, total as u64, None);
    let g = match generate_cells(model, &req, &mut |_, _| {}, &progress, &ctx.cancel) {
        Err(c2s_model::ModelError::Cancelled) => return Ok(Outcome::Cancelled(None)),
        r => r?,
    };
    let jsonl = c2s_model::cells::generated_jsonl(&g.cells);
    c2s_data::output::write_file(path, jsonl.as_bytes(), true)?;
    Store::open(db)?.add_artefact_once(project_id, "generated", path)?;
    Ok(Outcome::Ok(JobResult::GenerateMix(MixCells {
        types: mix.types.clone(),
        left_out: mix.left_out.clone(),
        cells: g.cells.len(),
        valid_share: g.valid_share,
        unique_share: g.unique_share,
    })))
}
