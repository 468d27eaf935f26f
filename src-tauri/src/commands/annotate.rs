//! Annotate: every cell's type, the annotation rules, the held-out report and
//! the annotated .h5ad.

use super::export::write_export;
use super::*;

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
    let project = project_of(&state, project_id)?;
    let ds = dataset_folder(&state, project_id, dataset_id)?;
    let model = load_model(&state, &checked(&state, &model_dir)?).map_err(any_text)?;
    let reserved = Reserved::new(
        &Path::new(&project.folder).join("predictions"),
        "predictions",
        Some("jsonl"),
    )?;
    let home = state.home.clone();
    Ok(state.jobs.spawn(&app, "annotate", move |ctx| {
        let out = reserved.path().to_path_buf();
        let records = read_sentences(&ds)?;
        let cells: Vec<CellInput> = records
            .iter()
            .map(|r| CellInput {
                name: &r.cell_name,
                sentence: &r.sentence,
            })
            .collect();
        let preds = match predict_cells(
            &model,
            &cells,
            false,
            &rules.only,
            &|done, total| ctx.progress("predicting", done as u64, total as u64, Value::Null),
            &ctx.cancel,
        ) {
            Err(c2s_model::ModelError::Cancelled) => return Ok(Outcome::Cancelled(Value::Null)),
            r => r?,
        };
        let col = &model.card.label_column;
        let truth: Vec<Option<&str>> = records.iter().map(|r| r.label(col)).collect();
        let mut lines: Vec<PredictionRecord> = preds
            .iter()
            .zip(&truth)
            .zip(&records)
            .map(|((p, t), r)| PredictionRecord::new(p, *t, r.label("split")))
            .collect();
        ctx.progress("voting", 0, 1, Value::Null);
        let summary = refine_records(&ds, &mut lines, &rules)?;
        let lines = predictions_jsonl(&lines);
        c2s_data::output::write_file(&out, lines.as_bytes(), true)?;
        let confusion = c2s_eval::classification::report_of_labelled(
            truth
                .iter()
                .zip(&preds)
                .map(|(t, p)| (*t, p.predicted.as_deref())),
        )?;
        let store = Store::open(&home.join(crate::DB_FILE))?;
        store.add_artefact(
            project_id,
            "predictions",
            &out,
            Some(&json!({"model": model_dir})),
        )?;
        let mut result = json!({
            "predictions": out, "cells": preds.len(), "label_column": col,
            "report": confusion,
        });
        merge(&mut result, summary);
        ctx.progress("scoring the held-out cells", 0, 1, Value::Null);
        merge(&mut result, held_out_report(&ds, &out, Some(col)));
        Ok(Outcome::Ok(result))
    }))
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

/// The predictions of held-out (test) cells scored beside the baselines on
/// the same cells, as Compare scores them: `held_out`, or why not.
pub(crate) fn held_out_report(ds: &Path, predictions: &Path, label: Option<&str>) -> Value {
    let inputs = c2s_eval::EvalInputs {
        dataset: ds.to_path_buf(),
        label: label.map(String::from),
        predictions: Some(predictions.to_path_buf()),
        ..Default::default()
    };
    match c2s_eval::evaluate(&inputs, &c2s_eval::GeneratedOptions::default(), &|_| {}) {
        Ok(r) => json!({ "held_out": r.prediction }),
        Err(e) => json!({ "held_out_error": e.to_string() }),
    }
}

/// Adds `extra`'s fields to the object `into`.
pub(crate) fn merge(into: &mut Value, extra: Value) {
    if let (Some(a), Value::Object(b)) = (into.as_object_mut(), extra) {
        a.extend(b);
    }
}

/// Applies the annotation rules to a job's records (cells of the dataset
/// `ds`) and sums up its answers for the Annotate screen.
pub(crate) fn refine_records(
    ds: &Path,
    records: &mut [PredictionRecord],
    rules: &AnnotationRules,
) -> anyhow::Result<Value> {
    // Without rules every cell's votes stay empty (and nothing is read).
    let calls: Vec<CellCall> = records.iter().map(PredictionRecord::call).collect();
    let votes = apply_rules(ds, None, &calls, rules)?;
    for (r, v) in records.iter_mut().zip(votes) {
        r.votes = v;
    }
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for r in records.iter() {
        *counts.entry(r.final_answer().unwrap_or("?")).or_default() += 1;
    }
    let mut summary = json!({
        "counts": counts,
        "unassigned_below": rules.unassigned_below,
        "confidence_histogram": records.iter().any(|r| r.confidence.is_some()).then(|| {
            c2s_eval::classification::confidence_histogram(
                records.iter().filter_map(|r| r.confidence),
                c2s_eval::classification::CONFIDENCE_BINS,
            )
        }),
    });
    merge(
        &mut summary,
        serde_json::to_value(VoteSummary::of(records.iter().map(|r| &r.votes)))?,
    );
    Ok(summary)
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
