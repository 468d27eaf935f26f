//! What scientists know from CellTypist, applied to any model's answers: a
//! confidence under which a cell is "Unassigned", majority voting within
//! over-clusters (a cluster's answer is its most common one, or
//! "Heterogeneous" when that is too small a share), and answers limited to a
//! chosen subset of types. The over-clustering itself is c2s-eval's.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};

/// The answer of a cell whose confidence is below the threshold (and of a
/// free answer that names no known type), as CellTypist calls it.
pub const UNASSIGNED: &str = "Unassigned";
/// The vote of a cluster whose commonest answer has too small a share.
pub const HETEROGENEOUS: &str = "Heterogeneous";

/// How to refine an annotation. The default changes nothing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AnnotationRules {
    /// Cells whose confidence is below this share (0 to 1) are Unassigned.
    pub unassigned_below: Option<f64>,
    /// Over-cluster the cells and give each cluster its majority answer.
    pub majority_voting: bool,
    /// With majority voting: the share (0 to 1) a cluster's commonest answer
    /// needs, else the cluster is Heterogeneous (CellTypist's `min_prop`, 0).
    pub min_share: f64,
    /// Answer only with these types; empty: every type the model knows.
    pub only: Vec<String>,
    /// Seed of the over-clustering (scanpy's Leiden default: 0).
    pub seed: u64,
}

fn share(setting: &str, v: f64) -> Result<()> {
    if (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(DataError::setting(
            setting,
            format!("{v} is not a share between 0 and 1"),
            "give a share such as 0.5 (50 %)",
        ))
    }
}

impl AnnotationRules {
    /// Refuses shares outside 0..1 (NaN included).
    pub fn check(&self) -> Result<()> {
        if let Some(t) = self.unassigned_below {
            share("unassigned below", t)?;
        }
        share("minimum share", self.min_share)?;
        if self.min_share > 0.0 && !self.majority_voting {
            return Err(DataError::setting(
                "minimum share",
                "applies only with majority voting",
                "turn majority voting on, or leave the minimum share at 0",
            ));
        }
        Ok(())
    }

    /// The types to choose among: `known` limited to `only` (in `known`'s
    /// order). A type in `only` that `known` lacks is an error naming it.
    pub fn restrict(&self, known: &[String]) -> Result<Vec<String>> {
        // Blank entries (a trailing comma) ask for nothing.
        let wanted: HashSet<&str> = self
            .only
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .collect();
        if wanted.is_empty() {
            return Ok(known.to_vec());
        }
        let have: HashSet<&str> = known.iter().map(String::as_str).collect();
        let mut unknown: Vec<&str> = wanted.difference(&have).copied().collect();
        unknown.sort_unstable();
        if let Some(first) = unknown.first() {
            let mut list: Vec<&str> = known.iter().map(String::as_str).collect();
            list.truncate(12);
            return Err(DataError::setting(
                "only these types",
                format!(
                    "{} of the types asked for {} not among the {} this model can answer (first: {first:?})",
                    unknown.len(),
                    if unknown.len() == 1 { "is" } else { "are" },
                    known.len()
                ),
                format!("choose among: {}", list.join(", ")),
            ));
        }
        Ok(known
            .iter()
            .filter(|k| wanted.contains(k.as_str()))
            .cloned()
            .collect())
    }
}

/// A cell's answer under a confidence threshold: Unassigned below it, and
/// for a free answer that names no type. An answer without a confidence
/// (a free one) keeps its type.
pub fn assigned(predicted: Option<&str>, confidence: Option<f64>, below: f64) -> String {
    match (predicted, confidence) {
        (Some(p), Some(c)) if c >= below => p.to_string(),
        (Some(p), None) => p.to_string(),
        _ => UNASSIGNED.to_string(),
    }
}

/// Each cell's cluster vote, as CellTypist's `majority_vote`: the commonest
/// answer of its cluster (a tie goes to the first answer in sorted order,
/// as pandas' crosstab and idxmax give), Heterogeneous where that answer's
/// share is below `min_share`.
pub fn majority_votes<S: AsRef<str>>(
    answers: &[S],
    clusters: &[u32],
    min_share: f64,
) -> Vec<String> {
    let mut counts: BTreeMap<u32, BTreeMap<&str, usize>> = BTreeMap::new();
    for (a, &c) in answers.iter().zip(clusters) {
        *counts.entry(c).or_default().entry(a.as_ref()).or_default() += 1;
    }
    let winners: BTreeMap<u32, String> = counts
        .into_iter()
        .map(|(c, by)| {
            let total: usize = by.values().sum();
            // Sorted answers; `max_by` would keep the last of equal counts.
            let (best, n) = by.iter().fold(
                ("", 0usize),
                |acc, (&a, &n)| if n > acc.1 { (a, n) } else { acc },
            );
            let vote = if (n as f64) < min_share * total as f64 {
                HETEROGENEOUS.to_string()
            } else {
                best.to_string()
            };
            (c, vote)
        })
        .collect();
    clusters.iter().map(|c| winners[c].clone()).collect()
}

/// One predicted cell, as the rules see it.
#[derive(Debug, Clone, Copy)]
pub struct CellCall<'a> {
    pub cell_name: &'a str,
    pub predicted: Option<&'a str>,
    pub confidence: Option<f64>,
}

/// What the rules added to one cell's answer (each `None` when not asked).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CellVotes {
    /// The answer, or Unassigned below the confidence threshold.
    pub assigned: Option<String>,
    /// The cell's over-cluster (numbered from 0, largest first).
    pub over_cluster: Option<u32>,
    /// Its over-cluster's majority answer, or Heterogeneous.
    pub majority_vote: Option<String>,
}

/// What the rules did to a set of cells, for a summary line.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct VoteSummary {
    /// Cells Unassigned (when a threshold was applied).
    pub unassigned: Option<usize>,
    /// Over-clusters that voted (with majority voting).
    pub over_clusters: Option<u32>,
    /// Cells in Heterogeneous clusters (with majority voting).
    pub heterogeneous: Option<usize>,
}

impl VoteSummary {
    pub fn of<'a>(votes: impl IntoIterator<Item = &'a CellVotes>) -> Self {
        let mut s = VoteSummary::default();
        for v in votes {
            if let Some(a) = &v.assigned {
                *s.unassigned.get_or_insert(0) += usize::from(a == UNASSIGNED);
            }
            if let Some(c) = v.over_cluster {
                let k = s.over_clusters.get_or_insert(0);
                *k = (*k).max(c + 1);
            }
            if let Some(m) = &v.majority_vote {
                *s.heterogeneous.get_or_insert(0) += usize::from(m == HETEROGENEOUS);
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unassigned_below_the_threshold_and_for_answers_naming_no_type() {
        assert_eq!(assigned(Some("B cell"), Some(0.7), 0.5), "B cell");
        assert_eq!(assigned(Some("B cell"), Some(0.5), 0.5), "B cell");
        assert_eq!(assigned(Some("B cell"), Some(0.49), 0.5), UNASSIGNED);
        assert_eq!(assigned(None, None, 0.5), UNASSIGNED);
        assert_eq!(assigned(Some("NK cell"), None, 0.5), "NK cell");
    }

    #[test]
    fn majority_votes_as_celltypist() {
        let answers = ["B", "B", "T", "T", "NK", "T", "NK", "B", "B"];
        let clusters = [0, 0, 0, 1, 1, 1, 2, 2, 3];
        let v = majority_votes(&answers, &clusters, 0.0);
        assert_eq!(v, ["B", "B", "B", "T", "T", "T", "B", "B", "B"]);
        // Cluster 2 ties B and NK: B, first in sorted order.
        // A share of 2/3 passes 0.6; cluster 2's 1/2 does not.
        let v = majority_votes(&answers, &clusters, 0.6);
        assert_eq!(v[0], "B");
        assert_eq!(v[3], "T");
        assert_eq!(v[6], HETEROGENEOUS);
        assert_eq!(v[8], "B");
    }

    #[test]
    fn summary_counts_what_the_rules_did() {
        let v = |a: &str, c: Option<u32>, m: Option<&str>| CellVotes {
            assigned: Some(a.into()),
            over_cluster: c,
            majority_vote: m.map(String::from),
        };
        let votes = [
            v(UNASSIGNED, Some(0), Some("B")),
            v("B", Some(2), Some(HETEROGENEOUS)),
            v("B", Some(1), Some(HETEROGENEOUS)),
        ];
        assert_eq!(
            VoteSummary::of(&votes),
            VoteSummary {
                unassigned: Some(1),
                over_clusters: Some(3),
                heterogeneous: Some(2),
            }
        );
        assert_eq!(
            VoteSummary::of(&[CellVotes::default()]),
            VoteSummary::default()
        );
    }

    #[test]
    fn shares_outside_zero_to_one_are_refused() {
        for bad in [-0.1, 1.5, f64::NAN] {
            let r = AnnotationRules {
                unassigned_below: Some(bad),
                ..Default::default()
            };
            let e = r.check().unwrap_err().to_string();
            assert!(e.contains("not a share between 0 and 1"), "{e}");
            let r = AnnotationRules {
                majority_voting: true,
                min_share: bad,
                ..Default::default()
            };
            assert!(r.check().is_err());
        }
        let r = AnnotationRules {
            min_share: 0.3,
            ..Default::default()
        };
        assert!(r
            .check()
            .unwrap_err()
            .to_string()
            .contains("only with majority voting"));
        AnnotationRules {
            unassigned_below: Some(0.5),
            majority_voting: true,
            min_share: 1.0,
            ..Default::default()
        }
        .check()
        .unwrap();
    }

    #[test]
    fn only_restricts_and_names_unknown_types() {
        let known: Vec<String> = ["B cell", "NK cell", "T cell"].map(String::from).to_vec();
        let r = AnnotationRules {
            only: vec!["T cell".into(), " B cell".into()],
            ..Default::default()
        };
        assert_eq!(r.restrict(&known).unwrap(), ["B cell", "T cell"]);
        let r = AnnotationRules {
            only: vec!["T cell".into(), "neuron".into()],
            ..Default::default()
        };
        let e = r.restrict(&known).unwrap_err().to_string();
        assert!(
            e.contains("\"neuron\"") && e.contains("choose among: B cell, NK cell, T cell"),
            "{e}"
        );
        assert_eq!(AnnotationRules::default().restrict(&known).unwrap(), known);
        let blank = AnnotationRules {
            only: vec!["NK cell".into(), "".into()],
            ..Default::default()
        };
        assert_eq!(blank.restrict(&known).unwrap(), ["NK cell"]);
    }
}
