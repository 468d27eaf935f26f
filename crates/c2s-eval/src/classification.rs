//! Cell type prediction metrics with scikit-learn's definitions: labels sorted,
//! a precision or recall with nothing to divide by counts as 0.

use serde::Serialize;

use crate::error::{EvalError, Result};

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ClassMetrics {
    pub label: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Cells of this class in the truth.
    pub support: usize,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ClassificationReport {
    pub n_cells: usize,
    pub accuracy: f64,
    pub macro_f1: f64,
    pub classes: Vec<ClassMetrics>,
    /// Sorted labels (truth and predictions); rows: truth, columns: predicted.
    pub labels: Vec<String>,
    pub confusion: Vec<Vec<usize>>,
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Accuracy, macro F1, per-class precision and recall and the confusion matrix.
/// The report over the cells that have both a true label and an answer
/// (an annotation of a whole dataset, where some cells have neither);
/// `None` when no cell has both.
pub fn report_of_labelled<'a>(
    cells: impl IntoIterator<Item = (Option<&'a str>, Option<&'a str>)>,
) -> Result<Option<ClassificationReport>> {
    let (truth, predicted): (Vec<&str>, Vec<&str>) = cells
        .into_iter()
        .filter_map(|(t, p)| Some((t?, p?)))
        .unzip();
    if truth.is_empty() {
        return Ok(None);
    }
    classification_report(&truth, &predicted).map(Some)
}

pub fn classification_report<S: AsRef<str>>(
    truth: &[S],
    predicted: &[S],
) -> Result<ClassificationReport> {
    if truth.len() != predicted.len() {
        return Err(EvalError::bad(
            "predictions",
            format!(
                "{} true labels but {} predictions",
                truth.len(),
                predicted.len()
            ),
            "give one prediction per labelled cell",
        ));
    }
    if truth.is_empty() {
        return Err(EvalError::bad(
            "predictions",
            "no labelled cells to score",
            "predict on a split whose cells carry the label column",
        ));
    }
    let mut labels: Vec<String> = truth
        .iter()
        .chain(predicted)
        .map(|s| s.as_ref().to_string())
        .collect();
    labels.sort();
    labels.dedup();
    let index = |s: &str| {
        labels
            .binary_search_by(|l| l.as_str().cmp(s))
            .expect("label listed")
    };
    let k = labels.len();
    let mut confusion = vec![vec![0usize; k]; k];
    for (t, p) in truth.iter().zip(predicted) {
        confusion[index(t.as_ref())][index(p.as_ref())] += 1;
    }
    let correct: usize = (0..k).map(|i| confusion[i][i]).sum();
    let classes: Vec<ClassMetrics> = (0..k)
        .map(|i| {
            let tp = confusion[i][i];
            let support: usize = confusion[i].iter().sum();
            let predicted_as: usize = confusion.iter().map(|row| row[i]).sum();
            let precision = ratio(tp, predicted_as);
            let recall = ratio(tp, support);
            // 2tp / (2tp + fp + fn), as scikit-learn computes it.
            let f1 = ratio(2 * tp, predicted_as + support);
            ClassMetrics {
                label: labels[i].clone(),
                precision,
                recall,
                f1,
                support,
            }
        })
        .collect();
    let macro_f1 = classes.iter().map(|c| c.f1).sum::<f64>() / k as f64;
    Ok(ClassificationReport {
        n_cells: truth.len(),
        accuracy: correct as f64 / truth.len() as f64,
        macro_f1,
        classes,
        labels,
        confusion,
    })
}

/// The most frequent label (ties: the first in sorted order), the answer of
/// the majority-class baseline.
pub(crate) fn majority_label<S: AsRef<str>>(labels: &[S]) -> Option<String> {
    let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
    for l in labels {
        *counts.entry(l.as_ref()).or_default() += 1;
    }
    let best = counts.values().copied().max()?;
    counts
        .into_iter()
        .find(|&(_, c)| c == best)
        .map(|(l, _)| l.to_string())
}

/// Bins of a confidence histogram (5 % each), as the app's Annotate shows it.
pub const CONFIDENCE_BINS: usize = 20;

/// Answers per confidence bin: `bins` equal bins over 0 to 1 (1 falls in
/// the last); values that are not numbers are left out.
pub fn confidence_histogram(confidences: impl IntoIterator<Item = f64>, bins: usize) -> Vec<usize> {
    let mut counts = vec![0; bins];
    if bins == 0 {
        return counts;
    }
    for c in confidences.into_iter().filter(|c| c.is_finite()) {
        let b = ((c.clamp(0.0, 1.0) * bins as f64) as usize).min(bins - 1);
        counts[b] += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_cells_with_a_label_and_an_answer_are_scored() {
        let cells = [
            (Some("B"), Some("B")),
            (None, Some("B")),
            (Some("T"), None),
            (Some("T"), Some("B")),
        ];
        let r = report_of_labelled(cells).unwrap().unwrap();
        assert_eq!(r.n_cells, 2);
        assert!((r.accuracy - 0.5).abs() < 1e-12);
        assert!(report_of_labelled([(None, Some("B")), (Some("T"), None)])
            .unwrap()
            .is_none());
    }

    #[test]
    fn counts_by_hand() {
        let t = ["a", "a", "b", "c"];
        let p = ["a", "b", "b", "b"];
        let r = classification_report(&t, &p).unwrap();
        assert_eq!(r.labels, ["a", "b", "c"]);
        assert_eq!(
            r.confusion,
            vec![vec![1, 1, 0], vec![0, 1, 0], vec![0, 1, 0]]
        );
        assert!((r.accuracy - 0.5).abs() < 1e-12);
        // a: p 1, r 0.5, f1 2/3; b: p 1/3, r 1, f1 0.5; c: 0.
        assert!((r.macro_f1 - (2.0 / 3.0 + 0.5) / 3.0).abs() < 1e-12);
        assert_eq!(majority_label(&t).as_deref(), Some("a"));
        assert_eq!(majority_label(&["y", "x"]).as_deref(), Some("x"));
    }

    #[test]
    fn mismatched_lengths_are_refused() {
        assert!(classification_report(&["a"], &["a", "b"]).is_err());
        assert!(classification_report::<&str>(&[], &[]).is_err());
    }

    #[test]
    fn confidence_histogram_bins_over_zero_to_one() {
        let h = confidence_histogram([0.0, 0.04, 0.05, 0.5, 0.99, 1.0, f64::NAN], 20);
        assert_eq!(h.len(), 20);
        assert_eq!((h[0], h[1], h[10], h[19]), (2, 1, 1, 2));
        assert_eq!(h.iter().sum::<usize>(), 6);
        assert!(confidence_histogram([0.5], 0).is_empty());
    }
}
