//! Cells as expression profiles: sentences turned back into expression with
//! the dataset's rank-expression fit, laid out over a shared gene panel.

use std::collections::HashMap;

use c2s_data::inverse::{parse_sentence, reconstruct, RankFit};
use ndarray::Array2;
use serde::Serialize;

/// One cell's expression as sorted (vocabulary column, value) pairs.
pub type SparseCell = Vec<(u32, f64)>;

/// Word-level quality of a set of sentences.
#[derive(Debug, Clone, Copy, Default, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct GeneShares {
    pub words: usize,
    /// Words that are genes of the vocabulary.
    pub valid_share: f64,
    /// Distinct genes per cell over valid words.
    pub unique_share: f64,
}

/// Sentences to expression: the first `top_k` words of each (all when None).
pub struct SentenceSpace<'a> {
    lookup: HashMap<String, u32>,
    fit: &'a RankFit,
    delimiter: String,
    pub top_k: Option<usize>,
}

impl<'a> SentenceSpace<'a> {
    pub fn new(genes: &[String], fit: &'a RankFit, delimiter: &str, top_k: Option<usize>) -> Self {
        let lookup = genes
            .iter()
            .enumerate()
            .map(|(i, g)| (g.to_uppercase(), i as u32))
            .collect();
        SentenceSpace {
            lookup,
            fit,
            delimiter: delimiter.to_string(),
            top_k,
        }
    }

    pub(crate) fn n_genes(&self) -> usize {
        self.lookup.len()
    }

    /// The words of a sentence, split as the dataset writes them.
    pub fn words<'s>(&self, s: &'s str) -> Vec<&'s str> {
        if self.delimiter.trim().is_empty() {
            s.split_whitespace().collect()
        } else {
            s.split(self.delimiter.as_str())
                .map(str::trim)
                .filter(|w| !w.is_empty())
                .collect()
        }
    }

    pub(crate) fn delimiter(&self) -> &str {
        &self.delimiter
    }

    fn truncate<'s>(&self, s: &'s str) -> std::borrow::Cow<'s, str> {
        match self.top_k {
            None => s.into(),
            Some(k) => {
                let mut words = self.words(s);
                words.truncate(k);
                words.join(&self.delimiter).into()
            }
        }
    }

    /// Expression of each sentence and the word-level shares of the set.
    pub fn cells<S: AsRef<str>>(&self, sentences: &[S]) -> (Vec<SparseCell>, GeneShares) {
        let (mut words, mut valid, mut distinct) = (0usize, 0usize, 0usize);
        let cells = sentences
            .iter()
            .map(|s| {
                let p = parse_sentence(&self.truncate(s.as_ref()), &self.lookup, &self.delimiter);
                words += p.n_words;
                valid += p.n_words - p.unknown_words;
                distinct += p.genes.len();
                reconstruct(&p, self.fit)
            })
            .collect();
        let share = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        (
            cells,
            GeneShares {
                words,
                valid_share: share(valid, words),
                unique_share: share(distinct, valid),
            },
        )
    }
}

/// Per-gene mean over cells (dense over `n_genes`).
pub fn mean_expression(cells: &[&SparseCell], n_genes: usize) -> Vec<f64> {
    let mut m = vec![0.0; n_genes];
    for c in cells {
        for &(g, v) in c.iter() {
            m[g as usize] += v;
        }
    }
    let n = cells.len().max(1) as f64;
    m.iter_mut().for_each(|x| *x /= n);
    m
}

/// The `max` genes of highest variance across `cells` (highly variable
/// genes), sorted by column.
pub(crate) fn variable_genes(cells: &[SparseCell], n_genes: usize, max: usize) -> Vec<u32> {
    let n = cells.len().max(1) as f64;
    let (mut s1, mut s2) = (vec![0.0; n_genes], vec![0.0; n_genes]);
    for c in cells {
        for &(g, v) in c {
            s1[g as usize] += v;
            s2[g as usize] += v * v;
        }
    }
    let mut order: Vec<(f64, u32)> = (0..n_genes)
        .filter(|&g| s1[g] > 0.0)
        .map(|g| (s2[g] / n - (s1[g] / n).powi(2), g as u32))
        .collect();
    order.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut panel: Vec<u32> = order.into_iter().take(max).map(|x| x.1).collect();
    panel.sort_unstable();
    panel
}

/// Dense cells x panel matrix.
pub(crate) fn dense(cells: &[&SparseCell], panel: &[u32]) -> Array2<f64> {
    let col: HashMap<u32, usize> = panel.iter().enumerate().map(|(i, &g)| (g, i)).collect();
    let mut x = Array2::zeros((cells.len(), panel.len()));
    for (i, c) in cells.iter().enumerate() {
        for (g, v) in c.iter() {
            if let Some(&j) = col.get(g) {
                x[[i, j]] = *v;
            }
        }
    }
    x
}
