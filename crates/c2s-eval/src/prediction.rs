//! Cell type prediction scored against the truth, beside two baselines on the
//! same split: the majority class, and k-NN on normalised log expression
//! after PCA (a model that learned nothing beyond expression similarity).

use serde::Serialize;

use crate::classification::{classification_report, majority_label, ClassificationReport};
use crate::error::{EvalError, Result};
use crate::knn::KnnClassifier;
use crate::paired::Paired;
use crate::pca::Pca;
use crate::profiles::{dense, variable_genes, SparseCell};

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Baseline {
    pub name: String,
    pub accuracy: f64,
    pub macro_f1: f64,
    /// The model against this baseline, cell by cell.
    pub paired: Paired,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PredictionReport {
    /// The dataset split scored ("test" unless asked otherwise): figures
    /// about a model are of cells it did not learn from.
    pub split: String,
    /// Predictions of cells of other splits, left out.
    pub left_out: usize,
    pub model: ClassificationReport,
    pub baselines: Vec<Baseline>,
    /// Mean confidence of right and of wrong answers, when given.
    pub mean_confidence_right: Option<f64>,
    pub mean_confidence_wrong: Option<f64>,
}

/// Scores predictions; `train_labels` give the majority baseline.
pub(crate) fn evaluate_predictions(
    truth: &[String],
    predicted: &[String],
    confidence: &[Option<f64>],
    train_labels: &[String],
) -> Result<PredictionReport> {
    let model = classification_report(truth, predicted)?;
    let mut baselines = Vec::new();
    if let Some(major) = majority_label(train_labels) {
        let guess = vec![major.clone(); truth.len()];
        let r = classification_report(truth, &guess)?;
        baselines.push(Baseline {
            name: format!("majority class ({major})"),
            accuracy: r.accuracy,
            macro_f1: r.macro_f1,
            paired: Paired::of(truth, predicted, &guess),
        });
    }
    let mean = |right: bool| {
        let v: Vec<f64> = (0..truth.len())
            .filter(|&i| (truth[i] == predicted[i]) == right)
            .filter_map(|i| confidence.get(i).copied().flatten())
            .collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    };
    Ok(PredictionReport {
        split: "all".into(),
        left_out: 0,
        model,
        baselines,
        mean_confidence_right: mean(true),
        mean_confidence_wrong: mean(false),
    })
}

/// k-NN (k neighbours) on expression: highly variable genes of the training
/// cells, PCA fitted on them, both splits projected; compared cell by cell
/// with the model's answers for the same test cells.
#[allow(clippy::too_many_arguments)]
pub(crate) fn knn_expression_baseline(
    train: &[SparseCell],
    train_labels: &[String],
    test: &[SparseCell],
    test_labels: &[String],
    model_predicted: &[String],
    n_genes: usize,
    k: usize,
    seed: u64,
) -> Result<Baseline> {
    if train.len() <= k || test.is_empty() {
        return Err(EvalError::bad(
            "k-NN baseline",
            format!("{} training and {} test cells", train.len(), test.len()),
            "the baseline needs more training cells than neighbours and some test cells",
        ));
    }
    let panel = variable_genes(train, n_genes, 2000);
    let tr: Vec<&SparseCell> = train.iter().collect();
    let te: Vec<&SparseCell> = test.iter().collect();
    let x_train = dense(&tr, &panel);
    let pca = Pca::fit(x_train.view(), 50, seed)?;
    let z_train = pca.transform(x_train.view());
    let z_test = pca.transform(dense(&te, &panel).view());
    let knn = KnnClassifier::fit(z_train.view(), train_labels)?;
    let predicted = knn.predict(z_test.view(), k)?;
    let r = classification_report(test_labels, &predicted)?;
    Ok(Baseline {
        name: format!("k-NN on expression (k = {k}, {} PCs)", pca.n_components()),
        accuracy: r.accuracy,
        macro_f1: r.macro_f1,
        paired: Paired::of(test_labels, model_predicted, &predicted),
    })
}
