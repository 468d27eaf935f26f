//! Seeded train / validation / test splits (80 / 10 / 10 by default),
//! optionally stratified so each label keeps its share in every split.

use std::collections::BTreeMap;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Val,
    Test,
}

impl Split {
    pub const fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "val",
            Split::Test => "test",
        }
    }
}

/// Which cells a job reads: one split's, or all of them. Parsed from what a
/// user types ("validation" too), so a misspelt split is an error rather
/// than a job over no cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitChoice {
    One(Split),
    All,
}

impl SplitChoice {
    pub const fn as_str(self) -> &'static str {
        match self {
            SplitChoice::One(s) => s.as_str(),
            SplitChoice::All => "all",
        }
    }

    /// Whether a cell of `split` (its `split` label) is chosen.
    pub fn holds(self, split: Option<&str>) -> bool {
        match self {
            SplitChoice::One(s) => split == Some(s.as_str()),
            SplitChoice::All => true,
        }
    }
}

impl std::fmt::Display for SplitChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A split name that is none of train, val (validation), test and all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a split: choose train, val (or validation), test or all")]
pub struct UnknownSplit(pub String);

impl std::str::FromStr for SplitChoice {
    type Err = UnknownSplit;

    fn from_str(s: &str) -> std::result::Result<Self, UnknownSplit> {
        Ok(match s {
            "train" => SplitChoice::One(Split::Train),
            "val" | "validation" => SplitChoice::One(Split::Val),
            "test" => SplitChoice::One(Split::Test),
            "all" => SplitChoice::All,
            other => return Err(UnknownSplit(other.to_string())),
        })
    }
}

/// Indices (into the dataset's cells) of each split, sorted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Splits {
    pub seed: u64,
    pub fractions: [f64; 3],
    pub stratified_by: Option<String>,
    pub train: Vec<usize>,
    pub val: Vec<usize>,
    pub test: Vec<usize>,
}

impl Splits {
    /// The split of each of `n` cells.
    pub(crate) fn assignment(&self, n: usize) -> Vec<Split> {
        let mut a = vec![Split::Train; n];
        self.val.iter().for_each(|&i| a[i] = Split::Val);
        self.test.iter().for_each(|&i| a[i] = Split::Test);
        a
    }
}

/// Splits `n` cells. With `strata` (one label per cell), each label is split
/// on its own, so rare types reach validation and test when they can.
pub(crate) fn make_splits(
    n: usize,
    fractions: [f64; 3],
    seed: u64,
    strata: Option<(&str, &[Option<String>])>,
) -> Splits {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut groups: BTreeMap<Option<&str>, Vec<usize>> = BTreeMap::new();
    match strata {
        Some((_, labels)) => {
            (0..n).for_each(|i| groups.entry(labels[i].as_deref()).or_default().push(i))
        }
        None => {
            groups.insert(None, (0..n).collect());
        }
    }
    let mut s = Splits {
        seed,
        fractions,
        stratified_by: strata.map(|(c, _)| c.to_string()),
        ..Default::default()
    };
    let total: f64 = fractions.iter().sum();
    for (_, mut idx) in groups {
        idx.shuffle(&mut rng);
        let m = idx.len();
        let n_val = ((fractions[1] / total) * m as f64).round() as usize;
        let n_test = (((fractions[2] / total) * m as f64).round() as usize).min(m - n_val.min(m));
        let n_val = n_val.min(m);
        s.val.extend_from_slice(&idx[..n_val]);
        s.test.extend_from_slice(&idx[n_val..n_val + n_test]);
        s.train.extend_from_slice(&idx[n_val + n_test..]);
    }
    s.train.sort_unstable();
    s.val.sort_unstable();
    s.test.sort_unstable();
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_determinism() {
        let a = make_splits(1000, [0.8, 0.1, 0.1], 7, None);
        assert_eq!((a.train.len(), a.val.len(), a.test.len()), (800, 100, 100));
        assert_eq!(a, make_splits(1000, [0.8, 0.1, 0.1], 7, None));
        assert_ne!(a.val, make_splits(1000, [0.8, 0.1, 0.1], 8, None).val);
        let mut all: Vec<usize> = a
            .train
            .iter()
            .chain(&a.val)
            .chain(&a.test)
            .copied()
            .collect();
        all.sort_unstable();
        assert_eq!(all, (0..1000).collect::<Vec<_>>());
    }

    #[test]
    fn split_choices_parse_and_choose() {
        let val: SplitChoice = "validation".parse().unwrap();
        assert_eq!(val, "val".parse().unwrap());
        assert!(val.holds(Some("val")) && !val.holds(Some("test")) && !val.holds(None));
        let all: SplitChoice = "all".parse().unwrap();
        assert!(all.holds(None) && all.holds(Some("train")));
        for name in ["train", "val", "test", "all"] {
            assert_eq!(name.parse::<SplitChoice>().unwrap().as_str(), name);
        }
        let e = "valid".parse::<SplitChoice>().unwrap_err();
        assert!(e.to_string().contains("`valid` is not a split"), "{e}");
        assert!("Test".parse::<SplitChoice>().is_err());
    }

    #[test]
    fn stratified_keeps_shares() {
        let labels: Vec<Option<String>> = (0..1000)
            .map(|i| Some(if i % 10 == 0 { "rare" } else { "common" }.into()))
            .collect();
        let s = make_splits(1000, [0.8, 0.1, 0.1], 1, Some(("t", &labels)));
        let rare_test = s.test.iter().filter(|&&i| i % 10 == 0).count();
        assert_eq!(rare_test, 10);
        assert_eq!(s.stratified_by.as_deref(), Some("t"));
    }
}
