//! A training run's loss log (`loss_log.jsonl`): one `LossPoint` a line,
//! appended by the trainer (c2s-model) and read back for the loss curve
//! (c2s-eval, the app's Train screen). Kept here, below both, so that one
//! type writes and reads it.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::dataset::read_json_lines;
use crate::error::{DataError, Result};

/// The log's file name in a run folder.
pub const LOSS_LOG: &str = "loss_log.jsonl";

/// A logged training step. Fields are in the order the log has always had
/// (alphabetical), so logs stay byte for byte what earlier versions wrote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LossPoint {
    /// Validation cells named right at this step, of those asked (at some
    /// validation steps only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_out_cells: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_out_right: Option<usize>,
    /// The learning rate of the step.
    pub lr: f64,
    pub step: usize,
    /// Mean training loss since the last logged step (none if not finite).
    pub train_loss: Option<f64>,
    /// At validation steps.
    pub val_loss: Option<f64>,
}

impl LossPoint {
    /// Appends the point as a line of `log` (the file at `path`).
    pub fn append(&self, log: &mut impl Write, path: &Path) -> Result<()> {
        let line = serde_json::to_string(self).expect("plain data");
        writeln!(log, "{line}").map_err(|source| DataError::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Every point of the log at `path`, in order. A line that is not a
    /// point is an error naming it.
    pub fn read_log(path: &Path) -> Result<Vec<LossPoint>> {
        let lines = read_json_lines(
            path,
            "a logged training step",
            "pass a run folder `c2s train` wrote",
        )?;
        Ok(lines.into_iter().map(|(_, p)| p).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_reads_back_as_written_in_its_old_layout() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOSS_LOG);
        let points = [
            LossPoint {
                held_out_cells: None,
                held_out_right: None,
                lr: 1e-3,
                step: 1,
                train_loss: Some(4.5),
                val_loss: None,
            },
            LossPoint {
                held_out_cells: Some(20),
                held_out_right: Some(17),
                lr: 5e-4,
                step: 2,
                train_loss: None,
                val_loss: Some(3.25),
            },
        ];
        let mut f = std::fs::File::create(&path).unwrap();
        for p in &points {
            p.append(&mut f, &path).unwrap();
        }
        drop(f);
        let text = std::fs::read_to_string(&path).unwrap();
        // The keys and their order as `serde_json::json!` wrote them before.
        assert_eq!(
            text.lines().collect::<Vec<_>>(),
            [
                r#"{"lr":0.001,"step":1,"train_loss":4.5,"val_loss":null}"#,
                r#"{"held_out_cells":20,"held_out_right":17,"lr":0.0005,"step":2,"train_loss":null,"val_loss":3.25}"#,
            ]
        );
        assert_eq!(LossPoint::read_log(&path).unwrap(), points);
        std::fs::write(&path, "{\"step\": 1}\nnot json\n").unwrap();
        let e = LossPoint::read_log(&path).unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains(LOSS_LOG), "{e}");
    }
}
