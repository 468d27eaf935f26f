//! A model against a baseline cell by cell, on the same cells: is the
//! difference in accuracy more than chance? On a few hundred held-out cells
//! one cell moves accuracy by a third of a point, so "0.936 against 0.939"
//! says nothing until the cells the two disagree on are counted.

use serde::Serialize;
use statrs::distribution::{Binomial, DiscreteCDF};

/// Below this chance of so uneven a split, the two differ (the usual 5 %).
const SIGNIFICANCE: f64 = 0.05;

/// How the model stands against a baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum Standing {
    Better,
    /// The difference is within chance.
    Level,
    Worse,
}

/// The cells only one of the two names right, and McNemar's exact test of
/// them: were both as good, each of those cells would be either's with
/// even odds.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Paired {
    /// Cells the model names right and the baseline wrong.
    pub model_only: usize,
    /// Cells the baseline names right and the model wrong.
    pub baseline_only: usize,
    /// Two-sided p-value: the chance of a split at least this uneven were
    /// both equally good.
    pub p_value: f64,
    pub standing: Standing,
}

impl Paired {
    /// Compares the model's and the baseline's answers for the same cells
    /// (the three slices in the same cell order).
    pub fn of(truth: &[String], model: &[String], baseline: &[String]) -> Paired {
        let (mut model_only, mut baseline_only) = (0, 0);
        for ((t, m), b) in truth.iter().zip(model).zip(baseline) {
            match (m == t, b == t) {
                (true, false) => model_only += 1,
                (false, true) => baseline_only += 1,
                _ => {}
            }
        }
        let n = (model_only + baseline_only) as u64;
        let p_value = if n == 0 {
            1.0
        } else {
            let fewer = model_only.min(baseline_only) as u64;
            let tail = Binomial::new(0.5, n)
                .expect("0.5 is a probability")
                .cdf(fewer);
            (2.0 * tail).min(1.0)
        };
        let standing = if p_value >= SIGNIFICANCE || model_only == baseline_only {
            Standing::Level
        } else if model_only > baseline_only {
            Standing::Better
        } else {
            Standing::Worse
        };
        Paired {
            model_only,
            baseline_only,
            p_value,
            standing,
        }
    }

    /// The comparison in words, for the CLI and the report.
    pub fn summary(&self) -> String {
        let standing = match self.standing {
            Standing::Better => "better, beyond chance",
            Standing::Level => "level, within chance",
            Standing::Worse => "worse, beyond chance",
        };
        // Two decimals say "0.00" of a p-value of 1e-30.
        let p = match self.p_value {
            p if p < 0.001 => "p < 0.001".to_string(),
            p if p < 0.1 => format!("p = {p:.3}"),
            p => format!("p = {p:.2}"),
        };
        let cells = if self.model_only == 1 {
            "cell"
        } else {
            "cells"
        };
        format!(
            "the model is {standing}: {} {cells} only the model names right, {} only the baseline (McNemar's exact test, {p})",
            self.model_only, self.baseline_only
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answers(s: &str) -> Vec<String> {
        s.chars().map(String::from).collect()
    }

    #[test]
    fn counts_the_cells_only_one_names_right() {
        let truth = answers("aaaabbbb");
        let p = Paired::of(&truth, &answers("aaabbbba"), &answers("abaabbaa"));
        // Cell 1: only the model; cell 3: only the baseline; cell 6: only
        // the model; cell 7: neither.
        assert_eq!((p.model_only, p.baseline_only), (2, 1));
        assert_eq!(p.p_value, 1.0);
        assert_eq!(p.standing, Standing::Level);
        assert_eq!(
            p.summary(),
            "the model is level, within chance: 2 cells only the model names right, 1 only the baseline (McNemar's exact test, p = 1.00)"
        );
    }

    #[test]
    fn p_values_are_mcnemars_exact_test() {
        let p = |m: usize, b: usize| {
            let truth = answers(&"a".repeat(m + b));
            let model = answers(&("a".repeat(m) + &"b".repeat(b)));
            let baseline = answers(&("b".repeat(m) + &"a".repeat(b)));
            Paired::of(&truth, &model, &baseline)
        };
        // 5 to 0: 2 × 0.5^5; 9 to 1: 2 × 11 / 1024.
        assert!((p(5, 0).p_value - 0.0625).abs() < 1e-12);
        assert_eq!(p(5, 0).standing, Standing::Level);
        assert!((p(1, 9).p_value - 22.0 / 1024.0).abs() < 1e-12);
        assert_eq!(p(1, 9).standing, Standing::Worse);
        assert!(p(1, 9).summary().ends_with("1 cell only the model names right, 9 only the baseline (McNemar's exact test, p = 0.021)"));
        assert!(p(0, 40)
            .summary()
            .ends_with("(McNemar's exact test, p < 0.001)"));
        assert_eq!(p(9, 1).standing, Standing::Better);
        // Thousands of cells: no underflow (9,900 to 10,100: p ≈ 0.16).
        let wide = p(9_900, 10_100);
        assert!((wide.p_value - 0.159).abs() < 0.001, "{}", wide.p_value);
        assert_eq!(wide.standing, Standing::Level);
        assert_eq!(p(0, 0).p_value, 1.0);
    }
}
