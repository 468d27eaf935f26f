//! One evaluation run from files: a converted dataset, and any of a
//! predictions file (`c2s predict`), a generated-cells file (`c2s generate`)
//! and a training run folder (its loss log). The CLI and the app call this.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use c2s_data::convert::sample_rows;
use c2s_data::dataset::{read_sentences, SentenceRecord, FIT_JSON, MANIFEST_JSON, VOCABULARY_TSV};
use c2s_data::expression::{log_expression, ExpressionRow};
use c2s_data::loss_log::{LossPoint, LOSS_LOG};
use c2s_data::predictions::read_predictions;
use c2s_data::reconstruct::read_fit;
use c2s_data::split::{Split, SplitChoice};
use c2s_data::Vocabulary;
use serde::Serialize;

use crate::error::{EvalError, Result, Stages};
use crate::generated::{evaluate_generated, CellSet, GeneratedOptions, GeneratedReport};
use crate::prediction::{evaluate_predictions, knn_expression_baseline, PredictionReport};
use crate::profiles::SentenceSpace;

/// The split figures about a model are measured on by default: the cells
/// it never learned from.
pub const HELD_OUT_SPLIT: SplitChoice = SplitChoice::One(Split::Test);
pub const HELD_OUT: &str = HELD_OUT_SPLIT.as_str();

/// A seeded sample of `n` held-out cells (of all cells when the dataset has
/// no split): cells to ask a model about that it never learned from.
pub fn held_out_sample(records: &[SentenceRecord], n: usize, seed: u64) -> Vec<&SentenceRecord> {
    let held_out: Vec<&SentenceRecord> = records
        .iter()
        .filter(|r| r.label("split") == Some(HELD_OUT))
        .collect();
    let pool = if held_out.is_empty() {
        records.iter().collect()
    } else {
        held_out
    };
    sample_rows(pool.len(), n, seed)
        .into_iter()
        .map(|k| pool[k])
        .collect()
}

#[derive(Debug, Clone, Default)]
pub struct EvalInputs {
    pub dataset: PathBuf,
    /// obs label column; `None`: the dataset's first one.
    pub label: Option<String>,
    pub predictions: Option<PathBuf>,
    pub generated: Option<PathBuf>,
    /// A `c2s train` output folder (loss_log.jsonl).
    pub run: Option<PathBuf>,
    /// The .h5ad the dataset came from, when it moved (default: the manifest's).
    pub source: Option<PathBuf>,
    /// Real cells the generated ones are compared with: "test" (default),
    /// "validation" ("val"), "train" or "all". Other real cells (validation,
    /// or test when the reference is validation) give the ceiling.
    pub reference_split: Option<String>,
    /// Words of each real sentence used (default: the longest generated one).
    pub top_k: Option<usize>,
    /// Predictions are scored on the cells of this split only: "test"
    /// (default), "validation" ("val") or "all" (training cells included,
    /// which the report then says).
    pub prediction_split: Option<String>,
    /// Which answer of a prediction record is scored: "predicted" (the
    /// model's, default), "assigned" (Unassigned below a confidence) or
    /// "majority_vote" (its over-cluster's answer). Unassigned and
    /// Heterogeneous count as wrong.
    pub answer: Option<String>,
    /// Real cells the user chose (a lasso on a map), each put beside the
    /// generated cells and scored as they are. Cells of the reference split
    /// are left out of them: they would be their own nearest neighbours.
    pub selections: Vec<NamedCells>,
}

/// Cells of the dataset, by name, under a name the user gave them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct NamedCells {
    pub name: String,
    pub cells: Vec<String>,
}

impl NamedCells {
    /// A text file of cell names, one a line (blank lines skipped), named
    /// after the file (its stem).
    pub fn read_list(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| EvalError::io(path, e))?;
        let cells: Vec<String> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect();
        if cells.is_empty() {
            return Err(EvalError::bad(
                path.display().to_string(),
                "the file names no cells",
                "write one cell name a line",
            ));
        }
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        Ok(NamedCells { name, cells })
    }
}

/// A selection's row in the report, beside "generated".
pub fn selection_set_name(name: &str) -> String {
    format!("your selection: {name}")
}

/// The answers a prediction record may hold, and what writes each.
pub(crate) const ANSWERS: [(&str, &str); 3] = [
    ("predicted", "c2s predict or the app's Annotate"),
    (
        "assigned",
        "c2s predict --unassigned-below, or Annotate with a confidence threshold",
    ),
    (
        "majority_vote",
        "c2s predict --majority-voting, or Annotate with majority voting",
    ),
];

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct LossCurve {
    pub train: Vec<(f64, f64)>,
    pub validation: Vec<(f64, f64)>,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct FitPlotData {
    pub slope: f64,
    pub intercept: f64,
    pub r_squared: f64,
    /// (log10(1 + rank), expression) of a few real cells.
    pub points: Vec<(f64, f64)>,
    pub n_cells: usize,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct EvalReport {
    pub c2s_version: &'static str,
    pub dataset: String,
    pub label_column: String,
    pub prediction: Option<PredictionReport>,
    pub generated: Option<GeneratedReport>,
    pub loss_curve: Option<LossCurve>,
    pub fit: Option<FitPlotData>,
    /// What was skipped and why.
    pub notes: Vec<String>,
    pub seconds: f64,
}

fn label<'a>(r: &'a SentenceRecord, col: &str) -> Option<&'a str> {
    r.labels
        .iter()
        .find(|(k, _)| k == col)
        .and_then(|(_, v)| v.as_deref())
}

/// The user's selections as cell sets (named for the report), without the
/// reference cells, each with its cells' types. Cells the dataset lacks (a
/// map of the .h5ad holds cells a conversion filtered out) are left out
/// with a note naming the first; a selection left empty is skipped, noted.
fn selected_sets(
    selections: &[NamedCells],
    records: &[SentenceRecord],
    reference: &[&SentenceRecord],
    label_column: &str,
    seed: u64,
    notes: &mut Vec<String>,
) -> Vec<(String, CellSet)> {
    let by_name: std::collections::HashMap<&str, &SentenceRecord> =
        records.iter().map(|r| (r.cell_name.as_str(), r)).collect();
    let in_reference: std::collections::HashSet<&str> =
        reference.iter().map(|r| r.cell_name.as_str()).collect();
    let mut out = Vec::new();
    for sel in selections {
        let mut set = CellSet::default();
        let mut left_out = 0usize;
        let mut missing: Vec<&str> = Vec::new();
        for name in &sel.cells {
            let Some(r) = by_name.get(name.as_str()) else {
                missing.push(name);
                continue;
            };
            if in_reference.contains(name.as_str()) {
                left_out += 1;
                continue;
            }
            set.sentences.push(r.sentence.clone());
            set.labels.push(label(r, label_column).map(String::from));
        }
        if let Some(first) = missing.first() {
            notes.push(format!(
                "{} cells of the selection {:?} are not in the dataset (the first: {first:?}) and are left out",
                missing.len(),
                sel.name
            ));
        }
        if left_out > 0 {
            notes.push(format!(
                "{left_out} of the {} cells of the selection {:?} are among the real cells the others are compared with, and are left out of it",
                sel.cells.len(),
                sel.name
            ));
        }
        if set.sentences.is_empty() {
            notes.push(format!(
                "the selection {:?} has no cells outside the real cells compared with: skipped",
                sel.name
            ));
            continue;
        }
        // Bounded work on a lasso around most of a large dataset.
        let keep = sample_rows(set.sentences.len(), SELECTION_CELLS, seed);
        if keep.len() < set.sentences.len() {
            notes.push(format!(
                "the selection {:?} is scored on a seeded sample of {} of its {} cells",
                sel.name,
                keep.len(),
                set.sentences.len()
            ));
            set = CellSet {
                sentences: keep.iter().map(|&i| set.sentences[i].clone()).collect(),
                labels: keep.iter().map(|&i| set.labels[i].clone()).collect(),
            };
        }
        out.push((selection_set_name(&sel.name), set));
    }
    out
}

/// The most cells of a selection scored beside the generated ones.
pub(crate) const SELECTION_CELLS: usize = 5_000;

fn split_of(r: &SentenceRecord) -> &str {
    label(r, "split").unwrap_or("")
}

/// Runs every evaluation its inputs allow.
pub fn evaluate(
    inputs: &EvalInputs,
    opts: &GeneratedOptions,
    progress: &dyn Fn(&str),
) -> Result<EvalReport> {
    evaluate_cancellable(inputs, opts, progress, &AtomicBool::new(false))
}

/// `evaluate`, stopping with `EvalError::Cancelled` at the next stage once
/// `cancel` is set.
pub fn evaluate_cancellable(
    inputs: &EvalInputs,
    opts: &GeneratedOptions,
    progress: &dyn Fn(&str),
    cancel: &AtomicBool,
) -> Result<EvalReport> {
    let stages = Stages { progress, cancel };
    let started = std::time::Instant::now();
    let d = EvalDataset::open(inputs, &stages)?;
    let mut notes = Vec::new();
    // Expression read back from the source file, for the k-NN baseline and
    // the rank-expression plot: one opening of the file for both.
    let mut fit_rows = None;
    let prediction = match &inputs.predictions {
        None => None,
        Some(path) => {
            stages.stage("scoring predictions")?;
            let scored = ScoredPredictions::read(&d, path, inputs)?;
            let mut report = scored.report(&d, &mut notes)?;
            stages.stage("k-NN baseline on expression")?;
            let rows = scored.knn_baseline(&d, opts.seed, &mut report, &mut notes)?;
            fit_rows = Some(rows);
            Some(report)
        }
    };
    let generated = match &inputs.generated {
        None if !inputs.selections.is_empty() => {
            return Err(EvalError::bad(
                "selected cells",
                "selections are compared beside generated cells, and there are none",
                "add generated cells to the comparison too (c2s eval --generated)",
            ))
        }
        None => None,
        Some(path) => Some(score_generated(
            &d, path, inputs, opts, &stages, &mut notes,
        )?),
    };
    let loss_curve = match &inputs.run {
        None => None,
        Some(run) => Some(read_loss_curve(&run.join(LOSS_LOG))?),
    };
    stages.stage("rank-expression plot data")?;
    let fit_rows = fit_rows.unwrap_or_else(|| d.fit_rows());
    let fit = d.fit_plot(fit_rows, &mut notes);
    Ok(EvalReport {
        c2s_version: env!("CARGO_PKG_VERSION"),
        dataset: d.dir.display().to_string(),
        label_column: d.label_column,
        prediction,
        generated,
        loss_curve,
        fit,
        notes,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The converted dataset an evaluation scores against, read once.
struct EvalDataset<'a> {
    dir: &'a Path,
    /// The .h5ad to read expression from, if not the manifest's.
    source: Option<&'a Path>,
    records: Vec<SentenceRecord>,
    vocab: Vocabulary,
    fit: c2s_data::inverse::RankFit,
    label_column: String,
}

impl<'a> EvalDataset<'a> {
    fn open(inputs: &'a EvalInputs, stages: &Stages) -> Result<Self> {
        let ds = &inputs.dataset;
        if !ds.join(MANIFEST_JSON).exists() {
            return Err(EvalError::bad(
                ds.display().to_string(),
                "not a converted dataset (no manifest.json)",
                "pass the folder `c2s convert` wrote",
            ));
        }
        stages.stage("reading the dataset")?;
        let records = read_sentences(ds)?;
        let vocab = Vocabulary::read_tsv(&ds.join(VOCABULARY_TSV))?;
        let fit = read_fit(&ds.join(FIT_JSON))?;
        let label_column = match &inputs.label {
            Some(l) => l.clone(),
            None => c2s_data::dataset::default_label_column(&records).ok_or_else(|| {
                EvalError::bad(
                    ds.display().to_string(),
                    "the dataset has no label column",
                    "convert again with --label COLUMN (e.g. cell_type)",
                )
            })?,
        };
        if records
            .first()
            .is_some_and(|r| !r.labels.iter().any(|(k, _)| *k == label_column))
        {
            return Err(EvalError::bad(
                ds.display().to_string(),
                format!("no label column `{label_column}`"),
                "name a column the dataset was converted with (--label)",
            ));
        }
        Ok(EvalDataset {
            dir: ds,
            source: inputs.source.as_deref(),
            records,
            vocab,
            fit,
            label_column,
        })
    }

    /// The labelled cells of a split ("all": of every split).
    fn in_split(&self, s: &str) -> Vec<&SentenceRecord> {
        self.records
            .iter()
            .filter(|r| (s == "all" || split_of(r) == s) && self.label(r).is_some())
            .collect()
    }

    fn label<'r>(&self, r: &'r SentenceRecord) -> Option<&'r str> {
        label(r, &self.label_column)
    }

    /// The cells of the rank-expression plot: the first 20 training cells.
    fn fit_names(&self) -> Vec<&str> {
        self.in_split("train")
            .iter()
            .take(20)
            .map(|r| r.cell_name.as_str())
            .collect()
    }

    /// The plot's cells' expression, or why it could not be read.
    fn fit_rows(&self) -> std::result::Result<Vec<ExpressionRow>, String> {
        log_expression(self.dir, &self.fit_names(), self.source).map_err(|e| e.to_string())
    }

    /// Each plotted cell's expression against log10(1 + rank), beside the
    /// dataset's fit.
    fn fit_plot(
        &self,
        rows: std::result::Result<Vec<ExpressionRow>, String>,
        notes: &mut Vec<String>,
    ) -> Option<FitPlotData> {
        let cells = match rows {
            Ok(cells) => cells,
            Err(e) => {
                notes.push(format!("rank-expression plot skipped: {e}"));
                return None;
            }
        };
        let mut points = Vec::new();
        for c in &cells {
            let mut v: Vec<f64> = c.iter().map(|x| x.1).collect();
            v.sort_by(|a, b| b.total_cmp(a));
            points.extend(
                v.into_iter()
                    .enumerate()
                    .map(|(r, y)| (((r + 1) as f64).log10(), y)),
            );
        }
        Some(FitPlotData {
            slope: self.fit.slope,
            intercept: self.fit.intercept,
            r_squared: self.fit.r_squared,
            points,
            n_cells: cells.len(),
        })
    }
}

/// The predictions of a file that are scored: each labelled cell of the
/// chosen split with its answer.
struct ScoredPredictions {
    split: &'static str,
    answer: String,
    truth: Vec<String>,
    pred: Vec<String>,
    conf: Vec<Option<f64>>,
    names: Vec<String>,
    /// Predictions of cells of other splits.
    left_out: usize,
    /// Answers that are Unassigned or Heterogeneous.
    not_typed: usize,
}

impl ScoredPredictions {
    fn read(d: &EvalDataset, path: &Path, inputs: &EvalInputs) -> Result<Self> {
        let name = inputs.prediction_split.as_deref().unwrap_or(HELD_OUT);
        let split = match name.parse::<SplitChoice>() {
            Ok(SplitChoice::One(Split::Train)) | Err(_) => {
                return Err(EvalError::bad(
                    name.to_string(),
                    "not a split to score predictions on",
                    "choose test (the held-out cells), val or all",
                ))
            }
            Ok(s) => s.as_str(),
        };
        let answer = inputs.answer.as_deref().unwrap_or("predicted");
        let Some(&(_, writer)) = ANSWERS.iter().find(|(a, _)| *a == answer) else {
            return Err(EvalError::bad(
                answer.to_string(),
                "not an answer of a prediction record",
                "choose predicted, assigned or majority_vote",
            ));
        };
        let by_name: std::collections::HashMap<&str, &SentenceRecord> = d
            .records
            .iter()
            .map(|r| (r.cell_name.as_str(), r))
            .collect();
        let mut s = ScoredPredictions {
            split,
            answer: answer.to_string(),
            truth: vec![],
            pred: vec![],
            conf: vec![],
            names: vec![],
            left_out: 0,
            not_typed: 0,
        };
        for (i, rec) in read_predictions(path)?.into_iter().enumerate() {
            let answered = match answer {
                "assigned" => rec.votes.assigned.as_deref(),
                "majority_vote" => rec.votes.majority_vote.as_deref(),
                _ => rec.predicted.as_deref(),
            };
            let Some(p) = answered else {
                return Err(EvalError::bad(
                    path.display().to_string(),
                    format!("entry {}: no `{answer}` answer", i + 1),
                    format!("pass a file written by {writer}"),
                ));
            };
            let name = rec.cell_name.as_str();
            // Scored against their own `true` field, foreign cells would
            // count as right without the dataset knowing them.
            let Some(r) = by_name.get(name) else {
                return Err(EvalError::bad(
                    path.display().to_string(),
                    format!(
                        "entry {}: the cell {name:?} is not in the dataset {}",
                        i + 1,
                        d.dir.display()
                    ),
                    "evaluate predictions against the dataset they were made on",
                ));
            };
            if split != "all" && split_of(r) != split {
                s.left_out += 1;
                continue;
            }
            // The truth is the dataset's; a file's own `true` field only
            // stands in where the dataset has no label for the cell.
            if let Some(t) = d.label(r).or(rec.truth.as_deref()) {
                s.not_typed += usize::from(
                    p == c2s_data::annotation_rules::UNASSIGNED
                        || p == c2s_data::annotation_rules::HETEROGENEOUS,
                );
                s.truth.push(t.to_string());
                s.pred.push(p.to_string());
                s.conf.push(rec.confidence);
                s.names.push(name.to_string());
            }
        }
        if s.truth.is_empty() {
            return Err(EvalError::bad(
                path.display().to_string(),
                format!(
                    "no prediction is of a labelled {split} cell ({} of other splits)",
                    s.left_out
                ),
                "predict the dataset's held-out cells (c2s predict --split test, or Annotate in the app), or pass --split all",
            ));
        }
        Ok(s)
    }

    /// The metrics, and the baselines that need no expression.
    fn report(&self, d: &EvalDataset, notes: &mut Vec<String>) -> Result<PredictionReport> {
        let train_labels: Vec<String> = d
            .in_split("train")
            .iter()
            .filter_map(|r| d.label(r))
            .map(String::from)
            .collect();
        let mut report = evaluate_predictions(&self.truth, &self.pred, &self.conf, &train_labels)?;
        report.split = self.split.to_string();
        report.left_out = self.left_out;
        if self.split == "all" {
            notes.push(
                "predictions scored on all cells, training cells included: not a held-out figure"
                    .into(),
            );
        }
        if self.answer != "predicted" {
            notes.push(format!(
                "scored the `{}` answers: {} of {} cells were Unassigned or Heterogeneous, counted as wrong",
                self.answer,
                self.not_typed,
                self.truth.len()
            ));
        }
        Ok(report)
    }

    /// Adds k-NN on expression, fitted on the training cells, to the
    /// report's baselines; returns the rank-expression plot's cells, read in
    /// the same opening of the source file.
    fn knn_baseline(
        &self,
        d: &EvalDataset,
        seed: u64,
        report: &mut PredictionReport,
        notes: &mut Vec<String>,
    ) -> Result<std::result::Result<Vec<ExpressionRow>, String>> {
        let train = d.in_split("train");
        // Bounded work and memory on large datasets: seeded samples.
        let train_rows = sample_rows(train.len(), MAX_SAMPLE_CELLS, seed);
        let test_rows = sample_rows(self.names.len(), MAX_SAMPLE_CELLS, seed ^ 1);
        if train_rows.len() < train.len() || test_rows.len() < self.names.len() {
            notes.push(format!(
                "k-NN baseline on a seeded sample: {} training and {} predicted cells",
                train_rows.len(),
                test_rows.len()
            ));
        }
        let train_names: Vec<&str> = train_rows
            .iter()
            .map(|&i| train[i].cell_name.as_str())
            .collect();
        let train_labels: Vec<String> = train_rows
            .iter()
            .map(|&i| d.label(train[i]).unwrap_or_default().to_string())
            .collect();
        let test_names: Vec<&str> = test_rows.iter().map(|&i| self.names[i].as_str()).collect();
        let test_truth: Vec<String> = test_rows.iter().map(|&i| self.truth[i].clone()).collect();
        let test_pred: Vec<String> = test_rows.iter().map(|&i| self.pred[i].clone()).collect();
        let all_names = [train_names.as_slice(), &test_names, &d.fit_names()].concat();
        match log_expression(d.dir, &all_names, d.source) {
            Ok(mut rows) => {
                let fit_rows = rows.split_off(train_names.len() + test_names.len());
                let te = rows.split_off(train_names.len());
                let n_genes = d.vocab.len();
                let b = knn_expression_baseline(
                    &rows,
                    &train_labels,
                    &te,
                    &test_truth,
                    &test_pred,
                    n_genes,
                    5,
                    seed,
                )?;
                report.baselines.push(b);
                Ok(Ok(fit_rows))
            }
            Err(e) => {
                notes.push(format!("k-NN baseline on expression skipped: {e}"));
                Ok(Err(e.to_string()))
            }
        }
    }
}

/// Generated cells (and the selections beside them) against real cells of
/// the reference split, with other real cells as the ceiling.
fn score_generated(
    d: &EvalDataset,
    path: &Path,
    inputs: &EvalInputs,
    opts: &GeneratedOptions,
    stages: &Stages,
    notes: &mut Vec<String>,
) -> Result<GeneratedReport> {
    let gen = read_sentences(path)?;
    let requested = |r: &SentenceRecord| {
        label(r, "cell_type")
            .or_else(|| d.label(r))
            .map(String::from)
    };
    let generated = CellSet {
        sentences: gen.iter().map(|r| r.sentence.clone()).collect(),
        labels: gen.iter().map(requested).collect(),
    };
    let split = inputs
        .reference_split
        .as_deref()
        .unwrap_or(HELD_OUT)
        .parse::<SplitChoice>()
        .map_err(|e| {
            EvalError::bad(
                "reference split",
                e.to_string(),
                "use test, validation, train or all",
            )
        })?
        .as_str();
    let reference = sample_records(d.in_split(split), opts.seed, "real reference cells", notes);
    let ceiling_split = if split == "val" { "test" } else { "val" };
    let ceiling = sample_records(
        d.in_split(ceiling_split),
        opts.seed ^ 2,
        "ceiling cells",
        notes,
    );
    let to_set = |rs: &[&SentenceRecord]| CellSet {
        sentences: rs.iter().map(|r| r.sentence.clone()).collect(),
        labels: rs.iter().map(|r| d.label(r).map(String::from)).collect(),
    };
    if inputs.top_k == Some(0) {
        return Err(EvalError::bad(
            "genes read from each real sentence",
            "0 genes leave nothing to compare",
            "use at least 1, or leave it out to read as many as the longest generated cell",
        ));
    }
    let top_k = inputs.top_k.or_else(|| {
        generated
            .sentences
            .iter()
            .map(|s| s.split_whitespace().count())
            .max()
    });
    let selections = selected_sets(
        &inputs.selections,
        &d.records,
        &reference,
        &d.label_column,
        opts.seed ^ 3,
        notes,
    );
    let delimiter = manifest_delimiter(d.dir);
    let space = SentenceSpace::new(&d.vocab.genes, &d.fit, &delimiter, top_k);
    evaluate_generated(
        &to_set(&reference),
        &to_set(&ceiling),
        &generated,
        &selections,
        &space,
        &d.vocab.genes,
        opts,
        stages,
    )
}

/// Cells kept for the expression baseline and for the real side of the
/// generated-cell metrics: enough for stable figures, bounded memory (a dense
/// cells x 2,000-gene matrix each).
const MAX_SAMPLE_CELLS: usize = 20_000;

fn sample_records<'a>(
    rs: Vec<&'a SentenceRecord>,
    seed: u64,
    what: &str,
    notes: &mut Vec<String>,
) -> Vec<&'a SentenceRecord> {
    let keep = sample_rows(rs.len(), MAX_SAMPLE_CELLS, seed);
    if keep.len() < rs.len() {
        notes.push(format!(
            "{what}: a seeded sample of {} of {} cells",
            keep.len(),
            rs.len()
        ));
    }
    keep.into_iter().map(|i| rs[i]).collect()
}

fn manifest_delimiter(ds: &Path) -> String {
    c2s_data::manifest::Manifest::read(ds).map_or_else(|_| " ".into(), |m| m.delimiter)
}

/// Training and validation loss by step from a run's loss log.
pub fn read_loss_curve(path: &Path) -> Result<LossCurve> {
    let mut curve = LossCurve {
        train: vec![],
        validation: vec![],
    };
    for p in LossPoint::read_log(path)? {
        let step = p.step as f64;
        if let Some(l) = p.train_loss {
            curve.train.push((step, l));
        }
        if let Some(l) = p.val_loss {
            curve.validation.push((step, l));
        }
    }
    if curve.train.is_empty() {
        return Err(EvalError::bad(
            path.display().to_string(),
            "no training losses in the log",
            "pass a folder `c2s train` wrote",
        ));
    }
    Ok(curve)
}
