//! The predictions file (JSON lines of `PredictionRecord`): written by
//! `c2s predict` and the app's Annotate, read by `c2s eval`, Compare, the
//! annotated .h5ad and the per-cell table. One type writes and reads it.

use std::path::Path;

use serde::Serialize;

use crate::annotation_rules::{CellCall, CellVotes};
use crate::dataset::read_json_lines;
use crate::error::Result;

/// One line of a predictions file (JSON lines): the one record the CLI and
/// the app write, and `c2s eval` and Compare read. Every field is always
/// present (null when it does not apply), so pandas reads one schema.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct PredictionRecord {
    pub cell_name: String,
    /// The known type chosen (free answers: the type named, if any).
    pub predicted: Option<String>,
    /// Scored predictions: the softmax over the candidate types (published
    /// models voting by group: the vote's share).
    pub confidence: Option<f64>,
    /// Free answers: the model's words.
    pub answer: Option<String>,
    /// The dataset's label of the cell, if it has one.
    #[serde(rename = "true")]
    pub truth: Option<String>,
    /// The cell's split in the dataset (train, val, test): figures are of
    /// held-out cells only.
    pub split: Option<String>,
    /// CellTypist's refinements, where asked for: `assigned` (Unassigned
    /// below the confidence threshold), `over_cluster`, `majority_vote`.
    #[serde(flatten)]
    pub votes: CellVotes,
}

impl PredictionRecord {
    /// The cell as the annotation rules see it.
    pub fn call(&self) -> CellCall<'_> {
        CellCall {
            cell_name: &self.cell_name,
            predicted: self.predicted.as_deref(),
            confidence: self.confidence,
        }
    }

    /// The answer to show: the cluster's vote, else the answer under the
    /// confidence threshold, else the model's.
    pub fn final_answer(&self) -> Option<&str> {
        self.votes
            .majority_vote
            .as_deref()
            .or(self.votes.assigned.as_deref())
            .or(self.predicted.as_deref())
    }
}

/// The records as JSON lines.
pub fn predictions_jsonl(records: &[PredictionRecord]) -> String {
    records
        .iter()
        .map(|r| serde_json::to_string(r).expect("plain data serialises") + "\n")
        .collect()
}

/// Reads a predictions file (JSON lines) as `c2s predict` and the app write it.
pub fn read_predictions(path: &Path) -> Result<Vec<PredictionRecord>> {
    let lines = read_json_lines(
        path,
        "a prediction record",
        "pass a file that `c2s predict --output` or the app's Annotate wrote",
    )?;
    Ok(lines.into_iter().map(|(_, r)| r).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prediction_records_read_back_and_a_bad_line_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = PredictionRecord {
            cell_name: "c1".into(),
            predicted: Some("B cell".into()),
            confidence: Some(0.4),
            answer: None,
            truth: Some("B cell".into()),
            split: Some("test".into()),
            votes: CellVotes::default(),
        };
        r.votes.assigned = Some("Unassigned".into());
        let path = dir.path().join("p.jsonl");
        std::fs::write(&path, predictions_jsonl(std::slice::from_ref(&r))).unwrap();
        assert_eq!(read_predictions(&path).unwrap(), vec![r.clone()]);
        assert_eq!(r.final_answer(), Some("Unassigned"));
        // A record written before the rules existed reads with empty votes.
        let old = r#"{"cell_name":"c2","predicted":"NK cell","confidence":0.9,"answer":null,"true":null,"split":"val"}"#;
        std::fs::write(&path, format!("{old}\nnot json\n")).unwrap();
        let e = read_predictions(&path).unwrap_err().to_string();
        assert!(e.contains("line 2: not a prediction record"), "{e}");
        std::fs::write(&path, format!("{old}\n")).unwrap();
        let back = read_predictions(&path).unwrap();
        assert_eq!(back[0].votes, CellVotes::default());
        assert_eq!(back[0].final_answer(), Some("NK cell"));
        let e = read_predictions(&dir.path().join("missing.jsonl")).unwrap_err();
        assert!(e.to_string().contains("missing.jsonl"), "{e}");
    }
}
