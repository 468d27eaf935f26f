//! Annotate: every cell's type, the annotation rules, the held-out report and
//! the annotated .h5ad.

use super::export::write_export;
use super::*;
use c2s_eval::classification::ClassificationReport;

/// Annotate: predicts the type of every converted cell of a dataset.
// async: the model loads off the window's thread.
#[tauri::command(async)]
pub fn start_annotate(
    project_id: i64,
    dataset_id: i64,
    model_dir: String,
    rules: Option<AnnotationRules>,
    app: AppHandle,
    state: State<'_, AppState>,
) -> CmdResult<u64> {
    let rules = rules.unwrap_or_default();
    rules.check().map_err(text)?;
    let ds = dataset_folder(&state, project_id, dataset_id)?;
    let model = load_model(&state, &checked(&state, &model_dir)?).map_err(any_text)?;
    let to = AnnotationTarget::new(&state, project_id, ds, json!({ "model": model_dir }))?;
    Ok(state.jobs.spawn(&app, "annotate", move |ctx| {
        annotate_job(ctx, &model, &rules, to)
    }))
}

/// Where an annotation job writes and keeps its records.
pub(crate) struct AnnotationTarget {
    pub home: PathBuf,
    pub project_id: i64,
    /// The dataset folder annotated.
    pub dataset: PathBuf,
    pub out: Reserved,
    /// What the store keeps about the annotation (the model).
    pub meta: Value,
}

impl AnnotationTarget {
    pub(crate) fn new(
        state: &AppState,
        project_id: i64,
        dataset: PathBuf,
        meta: Value,
    ) -> CmdResult<Self> {
        let project = project_of(state, project_id)?;
        let out = Reserved::new(
            &Path::new(&project.folder).join("predictions"),
            "predictions",
            Some("jsonl"),
        )?;
        Ok(AnnotationTarget {
            home: state.home.clone(),
            project_id,
            dataset,
            out,
            meta,
        })
    }

    /// Applies the rules to the records, writes them, adds them to the
    /// project and scores the held-out cells against `label_column`.
    pub(crate) fn finish(
        self,
        ctx: &JobCtx,
        mut records: Vec<PredictionRecord>,
        rules: &AnnotationRules,
        label_column: Option<String>,
        published: Option<PublishedAnnotation>,
    ) -> anyhow::Result<Outcome> {
        let out = self.out.path().to_path_buf();
        ctx.progress("voting", 0, 1, None);
        let answers = refine_records(&self.dataset, &mut records, rules)?;
        c2s_data::output::write_file(&out, predictions_jsonl(&records).as_bytes(), true)?;
        let report = c2s_eval::classification::report_of_labelled(
            records
                .iter()
                .map(|r| (r.truth.as_deref(), r.predicted.as_deref())),
        )?;
        let store = Store::open(&self.home.join(crate::DB_FILE))?;
        store.add_artefact(self.project_id, "predictions", &out, Some(&self.meta))?;
        let held_out = match &label_column {
            Some(col) => {
                ctx.progress("scoring the held-out cells", 0, 1, None);
                HeldOut::of(&self.dataset, &out, col)
            }
            None => HeldOut::default(),
        };
        Ok(Outcome::Ok(JobResult::Annotate(Annotation {
            predictions: out,
            cells: records.len(),
            label_column,
            report,
            answers,
            held_out,
            published,
        })))
    }
}

/// Predicts every cell's type with a model trained here.
fn annotate_job(
    ctx: &JobCtx,
    model: &TrainedModel,
    rules: &AnnotationRules,
    to: AnnotationTarget,
) -> anyhow::Result<Outcome> {
    let records = read_sentences(&to.dataset)?;
    let cells: Vec<CellInput> = records.iter().map(CellInput::of).collect();
    let progress = |done, total| ctx.progress("predicting", done as u64, total as u64, None);
    let preds = match predict_cells(model, &cells, false, &rules.only, &progress, &ctx.cancel) {
        Err(c2s_model::ModelError::Cancelled) => return Ok(Outcome::Cancelled(None)),
        r => r?,
    };
    let col = &model.card.label_column;
    let lines = preds
        .iter()
        .zip(&records)
        .map(|(p, r)| p.record(r.label(col), r.label("split")))
        .collect();
    to.finish(ctx, lines, rules, Some(col.clone()), None)
}

/// An annotation's result: where its records are, what it answered, and
/// how it scores on the held-out cells.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct Annotation {
    /// The prediction records (JSON lines).
    pub predictions: PathBuf,
    pub cells: usize,
    /// The column the answers are scored against.
    pub label_column: Option<String>,
    /// Over every cell with a label, training cells included.
    pub report: Option<ClassificationReport>,
    #[serde(flatten)]
    pub answers: AnswerSummary,
    #[serde(flatten)]
    pub held_out: HeldOut,
    /// How a published model was asked.
    pub published: Option<PublishedAnnotation>,
}

/// How a published model annotated the dataset.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct PublishedAnnotation {
    /// Cells asked (a sample of each group when voting by group).
    pub prompts: usize,
    /// Candidate labels.
    pub candidates: usize,
    /// The column whose groups took their cells' majority answer.
    pub voted: Option<String>,
}

/// The final answers counted, and what the annotation rules did.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct AnswerSummary {
    /// Cells by final answer ("?" for none).
    #[ts(type = "Record<string, number>")]
    pub counts: BTreeMap<String, usize>,
    pub unassigned_below: Option<f64>,
    /// Cells by confidence, in CONFIDENCE_BINS equal bins (none: no cell
    /// has a confidence).
    pub confidence_histogram: Option<Vec<usize>>,
    #[serde(flatten)]
    pub votes: VoteSummary,
}

/// The held-out (test) cells scored as Compare scores them, or why not.
#[derive(Debug, Clone, Default, Serialize, ts_rs::TS)]
pub struct HeldOut {
    pub held_out: Option<c2s_eval::prediction::PredictionReport>,
    pub held_out_error: Option<String>,
}

/// Saves a copy of the project's .h5ad with the predicted type and its
/// confidence as new obs columns, in the project folder.
#[tauri::command(async)]
pub fn save_annotated(
    project_id: i64,
    predictions: String,
    state: State<'_, AppState>,
) -> CmdResult<String> {
    let project = project_of(&state, project_id)?;
    let predictions = checked(&state, &predictions)?;
    let stem = Path::new(&project.source_path)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "dataset".into());
    let dst = Path::new(&project.folder).join(format!("{stem}-annotated.h5ad"));
    write_annotated(Path::new(&project.source_path), &predictions, &dst).map_err(any_text)?;
    state
        .store
        .lock_anyway()
        .add_artefact(project_id, "annotated", &dst, None)
        .map_err(text)?;
    Ok(dst.to_string_lossy().into())
}

fn write_annotated(source: &Path, predictions: &Path, dst: &Path) -> anyhow::Result<()> {
    let records = c2s_model::cells::read_predictions(predictions)?;
    c2s_model::cells::write_annotated_h5ad(source, dst, &records)?;
    Ok(())
}

impl HeldOut {
    /// The predictions of held-out (test) cells scored beside the baselines
    /// on the same cells, against the `label` column.
    pub(crate) fn of(ds: &Path, predictions: &Path, label: &str) -> Self {
        let inputs = c2s_eval::EvalInputs {
            dataset: ds.to_path_buf(),
            label: Some(label.into()),
            predictions: Some(predictions.to_path_buf()),
            ..Default::default()
        };
        match c2s_eval::evaluate(&inputs, &c2s_eval::GeneratedOptions::default(), &|_| {}) {
            Ok(r) => HeldOut {
                held_out: r.prediction,
                held_out_error: None,
            },
            Err(e) => HeldOut {
                held_out: None,
                held_out_error: Some(e.to_string()),
            },
        }
    }
}

/// Applies the annotation rules to a job's records (cells of the dataset
/// `ds`) and sums up its answers for the Annotate screen.
pub(crate) fn refine_records(
    ds: &Path,
    records: &mut [PredictionRecord],
    rules: &AnnotationRules,
) -> anyhow::Result<AnswerSummary> {
    let votes = c2s_eval::voting::refine_predictions(ds, None, records, rules)?;
    let mut counts = BTreeMap::new();
    for r in records.iter() {
        *counts
            .entry(r.final_answer().unwrap_or("?").to_string())
            .or_default() += 1;
    }
    Ok(AnswerSummary {
        counts,
        unassigned_below: rules.unassigned_below,
        confidence_histogram: records.iter().any(|r| r.confidence.is_some()).then(|| {
            c2s_eval::classification::confidence_histogram(
                records.iter().filter_map(|r| r.confidence),
                c2s_eval::classification::CONFIDENCE_BINS,
            )
        }),
        votes,
    })
}

/// Asks where to save (native dialog, opened here so the web view never
/// names a path to write), then saves the annotated .h5ad there.
#[tauri::command(async)]
pub fn save_annotated_as(
    project_id: i64,
    predictions: String,
    app: AppHandle,
    state: State<'_, AppState>,
) -> CmdResult<Option<String>> {
    use tauri_plugin_dialog::DialogExt;
    let project = project_of(&state, project_id)?;
    let predictions = checked(&state, &predictions)?;
    let Some(path) = app
        .dialog()
        .file()
        .add_filter("AnnData", &["h5ad"])
        .set_file_name("annotated.h5ad")
        .blocking_save_file()
    else {
        return Ok(None);
    };
    let dst = path.into_path().map_err(text)?;
    write_annotated(Path::new(&project.source_path), &predictions, &dst).map_err(any_text)?;
    Ok(Some(dst.to_string_lossy().into()))
}

/// Saves an annotation's per-cell table (CSV: each cell's answer, its
/// confidence and CellTypist's refinements) in the project's exports folder.
#[tauri::command(async)]
pub fn export_predictions(
    project_id: i64,
    predictions: String,
    state: State<'_, AppState>,
) -> CmdResult<String> {
    let project = project_of(&state, project_id)?;
    let predictions = checked(&state, &predictions)?;
    let records = c2s_model::cells::read_predictions(&predictions).map_err(text)?;
    let stem = predictions
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "predictions".into());
    write_export(
        &project,
        &format!("{stem}-per-cell.csv"),
        c2s_model::cells::predictions_csv(&records).as_bytes(),
    )
}
