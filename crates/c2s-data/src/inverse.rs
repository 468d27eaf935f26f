//! The inverse transform: a linear fit of normalised log expression against
//! log10(1 + rank), and its use to turn (generated) sentences back into expression.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::matrix::RowChunk;
use crate::sentence::rank_genes;

/// Ranks at or beyond this are left out of the fit (x = log10(1 + rank) < 3).
const FIT_MAX_X: f64 = 3.0;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankFit {
    pub slope: f64,
    pub intercept: f64,
    /// Over all non-zero points, predictions against observed values.
    pub r_squared: f64,
    pub pearson_r: f64,
    pub spearman_rho: f64,
    pub n_cells: usize,
    pub n_points: usize,
    pub n_fit_points: usize,
}

impl RankFit {
    /// Expression of the gene at position `p` (from 0), clipped at 0.
    pub fn expression_at(&self, p: usize) -> f64 {
        (self.intercept + self.slope * ((1 + p) as f64).log10()).max(0.0)
    }
}

/// Fits on rows holding normalised log expression. Ranks follow the same tie
/// rule as sentences.
pub fn fit_rank_expression(
    rows: &RowChunk,
    cell_keys: &[u64],
    gene_keys: &[u64],
) -> Option<RankFit> {
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    let mut order = Vec::new();
    for (i, &key) in cell_keys.iter().enumerate().take(rows.n_rows()) {
        let (idx, val) = rows.row(i);
        rank_genes(idx, val, key, gene_keys, &mut order);
        let value: HashMap<u32, f64> = idx.iter().copied().zip(val.iter().copied()).collect();
        for (rank, j) in order.iter().enumerate() {
            xs.push(((1 + rank) as f64).log10());
            ys.push(value[j]);
        }
    }
    let fit_pts: Vec<(f64, f64)> = xs
        .iter()
        .zip(&ys)
        .filter(|(x, _)| **x < FIT_MAX_X)
        .map(|(&x, &y)| (x, y))
        .collect();
    let (slope, intercept) = ols(&fit_pts)?;
    let pred: Vec<f64> = xs.iter().map(|x| intercept + slope * x).collect();
    Some(RankFit {
        slope,
        intercept,
        r_squared: r2_score(&ys, &pred),
        pearson_r: pearson(&ys, &pred),
        spearman_rho: pearson(&average_ranks(&ys), &average_ranks(&pred)),
        n_cells: rows.n_rows(),
        n_points: xs.len(),
        n_fit_points: fit_pts.len(),
    })
}

fn ols(pts: &[(f64, f64)]) -> Option<(f64, f64)> {
    let n = pts.len() as f64;
    if pts.len() < 2 {
        return None;
    }
    let mx = pts.iter().map(|p| p.0).sum::<f64>() / n;
    let my = pts.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    if sxx == 0.0 {
        return None;
    }
    let slope = sxy / sxx;
    Some((slope, my - slope * mx))
}

/// scikit-learn's r2_score(y_true, y_pred).
pub fn r2_score(y: &[f64], pred: &[f64]) -> f64 {
    let m = y.iter().sum::<f64>() / y.len() as f64;
    let ss_res: f64 = y.iter().zip(pred).map(|(a, b)| (a - b).powi(2)).sum();
    let ss_tot: f64 = y.iter().map(|a| (a - m).powi(2)).sum();
    1.0 - ss_res / ss_tot
}

pub fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let ma = a.iter().sum::<f64>() / n;
    let mb = b.iter().sum::<f64>() / n;
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma).powi(2);
        sbb += (y - mb).powi(2);
    }
    sab / (saa * sbb).sqrt()
}

/// Ranks from 1 with ties given their average rank (scipy's rankdata).
pub fn average_ranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_unstable_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for k in i..=j {
            r[idx[k]] = avg;
        }
        i = j + 1;
    }
    r
}

/// A sentence turned back into genes and positions.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ParsedSentence {
    /// (gene column in the vocabulary, position from 0), one entry per gene.
    pub genes: Vec<(u32, usize)>,
    /// Words that are not genes of the vocabulary (they keep their rank).
    pub unknown_words: usize,
    /// Genes named more than once (collapsed to their mean position).
    pub repeated_genes: usize,
    pub n_words: usize,
}

/// Reads a (possibly generated) sentence as the reference post-processes it:
/// upper-case, split on the delimiter (whitespace when it is a space), unknown
/// words keep their position and are dropped, a repeated gene is collapsed to
/// the integer part of its mean position.
pub fn parse_sentence(
    text: &str,
    lookup: &HashMap<String, u32>,
    delimiter: &str,
) -> ParsedSentence {
    let text = text.trim().trim_end_matches('.');
    let words: Vec<String> = if delimiter.trim().is_empty() {
        text.split_whitespace().map(|w| w.to_uppercase()).collect()
    } else {
        text.split(delimiter)
            .map(|w| w.trim().to_uppercase())
            .filter(|w| !w.is_empty())
            .collect()
    };
    let mut positions: HashMap<u32, Vec<usize>> = HashMap::new();
    let mut first_seen = Vec::new();
    let mut out = ParsedSentence {
        n_words: words.len(),
        ..Default::default()
    };
    for (p, w) in words.iter().enumerate() {
        match lookup.get(w) {
            Some(&g) => {
                let e = positions.entry(g).or_default();
                if e.is_empty() {
                    first_seen.push(g);
                }
                e.push(p);
            }
            None => out.unknown_words += 1,
        }
    }
    for g in first_seen {
        let ps = &positions[&g];
        if ps.len() > 1 {
            out.repeated_genes += 1;
        }
        let mean = ps.iter().sum::<usize>() as f64 / ps.len() as f64;
        out.genes.push((g, mean as usize));
    }
    out
}

/// Expression of a parsed sentence as sorted (gene column, value) pairs,
/// zeros left out.
pub fn reconstruct(parsed: &ParsedSentence, fit: &RankFit) -> Vec<(u32, f64)> {
    let mut v: Vec<(u32, f64)> = parsed
        .genes
        .iter()
        .map(|&(g, p)| (g, fit.expression_at(p)))
        .filter(|&(_, x)| x > 0.0)
        .collect();
    v.sort_unstable_by_key(|x| x.0);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_like_scipy() {
        assert_eq!(
            average_ranks(&[10.0, 20.0, 10.0, 30.0]),
            vec![1.5, 3.0, 1.5, 4.0]
        );
    }

    #[test]
    fn parse_handles_unknown_and_repeats() {
        let lookup: HashMap<String, u32> = [("A", 0), ("B", 1), ("C", 2)]
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect();
        let p = parse_sentence("a XYZ b a c.", &lookup, " ");
        // A at 0 and 3 -> mean 1.5 -> 1; XYZ at 1 is dropped; B at 2; C at 4.
        assert_eq!(p.genes, vec![(0, 1), (1, 2), (2, 4)]);
        assert_eq!((p.unknown_words, p.repeated_genes, p.n_words), (1, 1, 5));
    }

    #[test]
    fn reconstruction_is_clipped_at_zero() {
        let fit = RankFit {
            slope: -1.0,
            intercept: 1.0,
            r_squared: 0.0,
            pearson_r: 0.0,
            spearman_rho: 0.0,
            n_cells: 0,
            n_points: 0,
            n_fit_points: 0,
        };
        assert_eq!(fit.expression_at(0), 1.0);
        assert_eq!(fit.expression_at(20), 0.0);
        let p = ParsedSentence {
            genes: vec![(3, 0), (1, 50)],
            ..Default::default()
        };
        assert_eq!(reconstruct(&p, &fit), vec![(3, 1.0)]);
    }

    #[test]
    fn fit_recovers_a_known_line() {
        // One cell whose value at rank r is 2 - 0.5 * log10(1 + r).
        let n = 50;
        let rows = RowChunk {
            start: 0,
            indptr: vec![0, n],
            indices: (0..n as u32).collect(),
            data: (0..n)
                .map(|r| 2.0 - 0.5 * ((1 + r) as f64).log10())
                .collect(),
        };
        let keys: Vec<u64> = (0..n as u64).collect();
        let f = fit_rank_expression(&rows, &[1], &keys).unwrap();
        assert!((f.slope + 0.5).abs() < 1e-9 && (f.intercept - 2.0).abs() < 1e-9);
        assert!((f.r_squared - 1.0).abs() < 1e-9 && (f.pearson_r - 1.0).abs() < 1e-9);
    }
}
