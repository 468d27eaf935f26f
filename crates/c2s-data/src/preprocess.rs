//! Preprocessing with scanpy's semantics: filter_cells(min_genes),
//! filter_genes(min_cells), normalize_total, log1p.

use serde::{Deserialize, Serialize};

use crate::matrix::{RowChunk, ValueKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogBase {
    /// log10(1 + x), the reference's choice.
    Ten,
    /// ln(1 + x), scanpy's default.
    E,
}

impl std::fmt::Display for LogBase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}

impl std::str::FromStr for LogBase {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        LogBase::ALL
            .into_iter()
            .find(|b| b.id() == s)
            .ok_or_else(|| format!("no logarithm base `{s}`; choose 10 or e"))
    }
}

impl LogBase {
    /// Every base, as the CLI and the app offer them.
    pub const ALL: [LogBase; 2] = [LogBase::Ten, LogBase::E];

    /// The base's name in options and saved parameters: "10" or "e".
    pub fn id(self) -> &'static str {
        match self {
            LogBase::Ten => "10",
            LogBase::E => "e",
        }
    }

    pub(crate) fn log1p(self, x: f64) -> f64 {
        match self {
            LogBase::Ten => x.ln_1p() / std::f64::consts::LN_10,
            LogBase::E => x.ln_1p(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Preprocess {
    /// Drop cells expressing fewer genes (scanpy filter_cells(min_genes)).
    pub min_genes: usize,
    /// Drop genes expressed in fewer cells, counted after cell filtering
    /// (scanpy filter_genes(min_cells)).
    pub min_cells: usize,
    /// Total each cell is scaled to; `None`: the median of cell totals.
    pub target_sum: Option<f64>,
    pub log_base: LogBase,
}

impl Default for Preprocess {
    fn default() -> Self {
        // The reference converts without filtering; its tutorials use 200 / 3.
        Preprocess {
            min_genes: 0,
            min_cells: 0,
            target_sum: None,
            log_base: LogBase::Ten,
        }
    }
}

/// scanpy's default target: the median of the non-zero cell totals.
pub fn median_total(totals: &[f64]) -> f64 {
    let mut t: Vec<f64> = totals.iter().copied().filter(|&x| x > 0.0).collect();
    if t.is_empty() {
        return 1.0;
    }
    t.sort_unstable_by(f64::total_cmp);
    let n = t.len();
    if n % 2 == 1 {
        t[n / 2]
    } else {
        0.5 * (t[n / 2 - 1] + t[n / 2])
    }
}

/// One stored value as normalised log expression (see `normalize_log`).
#[inline]
pub(crate) fn normalize_value(
    v: f64,
    total: f64,
    target: f64,
    base: LogBase,
    kind: ValueKind,
) -> f64 {
    match kind {
        ValueKind::LogNormalized => v,
        ValueKind::RawCounts if total > 0.0 => base.log1p(v * target / total),
        _ => base.log1p(v),
    }
}

/// Turns stored values into normalised log expression, in place. `totals`
/// holds each row's total; `kind` says what the matrix holds: counts are
/// normalised and logged, normalised data only logged, log data kept.
pub fn normalize_log(
    rows: &mut RowChunk,
    totals: &[f64],
    target: f64,
    base: LogBase,
    kind: ValueKind,
) {
    for (i, &total) in totals.iter().enumerate().take(rows.n_rows()) {
        let (a, b) = (rows.indptr[i], rows.indptr[i + 1]);
        let scale = match kind {
            ValueKind::RawCounts if total > 0.0 => target / total,
            _ => 1.0,
        };
        for v in &mut rows.data[a..b] {
            *v = match kind {
                ValueKind::LogNormalized => *v,
                _ => base.log1p(*v * scale),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_normalisation_match_scanpy() {
        assert_eq!(median_total(&[0.0, 3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median_total(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        let mut c = RowChunk {
            start: 0,
            indptr: vec![0, 2],
            indices: vec![0, 1],
            data: vec![1.0, 3.0],
        };
        normalize_log(&mut c, &[4.0], 8.0, LogBase::Ten, ValueKind::RawCounts);
        assert!((c.data[0] - 3f64.log10()).abs() < 1e-12);
        assert!((c.data[1] - 7f64.log10()).abs() < 1e-12);
    }
}
