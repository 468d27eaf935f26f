//! The inverse transform: a linear fit of normalised log expression against
//! log10(1 + rank), and its use to turn (generated) sentences back into expression.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::matrix::RowChunk;
use rayon::prelude::*;

use crate::sentence::{Ranker, ValueRuns};

/// Ranks at or beyond this are left out of the fit (x = log10(1 + rank) < 3).
const FIT_MAX_X: f64 = 3.0;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
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
///
/// Every point's x depends only on its rank, so sums over x, the predictions
/// and their ranks come from per-rank counts; only y needs sorting (Spearman).
pub(crate) fn fit_rank_expression(
    rows: &RowChunk,
    cell_keys: &[u64],
    gene_keys: &[u64],
) -> Option<RankFit> {
    let n_cells = rows.n_rows().min(cell_keys.len());
    // Each cell's values in rank order (as runs), cells ranked in parallel.
    let cells: Vec<ValueRuns> = (0..n_cells)
        .into_par_iter()
        .map_init(Ranker::default, |ranker, i| {
            let (idx, val) = rows.row(i);
            ranker.rank(idx, val, cell_keys[i], gene_keys);
            ranker.value_runs()
        })
        .collect();
    fit_ranked(&cells)
}

/// Fits on cells given as their normalised log values in rank order, each
/// cell as runs of equal values.
pub(crate) fn fit_ranked(cells: &[ValueRuns]) -> Option<RankFit> {
    let n_cells = cells.len();
    let lens: Vec<usize> = cells
        .iter()
        .map(|c| c.iter().map(|&(_, k)| k as usize).sum())
        .collect();
    let max_len = lens.iter().copied().max().unwrap_or(0);
    // count[r]: points at rank r, that is cells longer than r.
    let mut count = vec![0usize; max_len];
    lens.iter()
        .filter(|&&l| l > 0)
        .for_each(|&l| count[l - 1] += 1);
    for r in (1..max_len).rev() {
        count[r - 1] += count[r];
    }
    let x: Vec<f64> = (0..max_len).map(|r| ((1 + r) as f64).log10()).collect();
    let fit_ranks = x.iter().take_while(|&&v| v < FIT_MAX_X).count();
    // Prefix sums of x, so a run's sum of x is one difference.
    let mut sum_x = vec![0.0; max_len + 1];
    for r in 0..max_len {
        sum_x[r + 1] = sum_x[r] + x[r];
    }

    // Ordinary least squares on the points with x < 3. One pass over the
    // runs also takes the sums R² and Pearson need: a prediction depends
    // only on its rank, so its sums come from the per-rank counts.
    let (mut n, mut sx, mut sxx) = (0.0, 0.0, 0.0);
    for r in 0..fit_ranks {
        n += count[r] as f64;
        sx += count[r] as f64 * x[r];
        sxx += count[r] as f64 * x[r] * x[r];
    }
    let [sy, sxy, s_y, s_yy, s_xy] = sum_over_cells(cells, |c| {
        let mut s = [0.0; 5];
        let mut r = 0;
        for &(y, k) in c {
            let j = r + k as usize;
            let (fr, fj) = (r.min(fit_ranks), j.min(fit_ranks));
            let k = k as f64;
            s[0] += y * (fj - fr) as f64;
            s[1] += y * (sum_x[fj] - sum_x[fr]);
            s[2] += y * k;
            s[3] += y * y * k;
            s[4] += y * (sum_x[j] - sum_x[r]);
            r = j;
        }
        s
    });
    let denom = n * sxx - sx * sx;
    if n < 2.0 || denom == 0.0 {
        return None;
    }
    let slope = (n * sxy - sx * sy) / denom;
    let intercept = (sy - slope * sx) / n;
    let pred: Vec<f64> = x.iter().map(|&v| intercept + slope * v).collect();

    // R² and Pearson of (y, prediction).
    let (mut n_pts, mut s_p, mut s_pp) = (0.0, 0.0, 0.0);
    for (r, &p) in pred.iter().enumerate() {
        n_pts += count[r] as f64;
        s_p += count[r] as f64 * p;
        s_pp += count[r] as f64 * p * p;
    }
    let s_yp = intercept * s_y + slope * s_xy;
    let ss_res = s_yy - 2.0 * s_yp + s_pp;
    let ss_tot = s_yy - s_y * s_y / n_pts;
    let pearson_r = (s_yp - s_y * s_p / n_pts) / ((ss_tot * (s_pp - s_p * s_p / n_pts)).sqrt());

    let spearman_rho = spearman_of_runs(cells, &pred, &count);
    Some(RankFit {
        slope,
        intercept,
        r_squared: 1.0 - ss_res / ss_tot,
        pearson_r,
        spearman_rho,
        n_cells,
        n_points: n_pts as usize,
        n_fit_points: n as usize,
    })
}

/// Spearman's rho of the points' values against their predictions:
/// Pearson of average ranks. Predictions tie by rank position, so their
/// ranks come from the counts; y is sorted with each point's rank position
/// packed beside its value.
fn spearman_of_runs(cells: &[ValueRuns], pred: &[f64], count: &[usize]) -> f64 {
    let max_len = pred.len();
    // Prefix sums of twice the ranks and their squares give any run of
    // positions its sums exactly, in one step.
    let twice_rank = twice_prediction_ranks(pred, count);
    let (mut rank_sum, mut rank_sq_sum) = (vec![0u128; max_len + 1], vec![0u128; max_len + 1]);
    for (r, &t) in twice_rank.iter().enumerate() {
        rank_sum[r + 1] = rank_sum[r] + t as u128;
        rank_sq_sum[r + 1] = rank_sq_sum[r] + (t as u128) * (t as u128);
    }
    // Each run becomes one group (value, points, sum and sum of squares of
    // the points' prediction ranks): the sort sees one key per run rather
    // than one per point.
    let mut groups: Vec<(u64, f64, f64)> = Vec::with_capacity(cells.iter().map(Vec::len).sum());
    let mut order: Vec<(u64, u32)> = Vec::with_capacity(groups.capacity());
    for c in cells {
        let mut r = 0;
        for &(y, k) in c {
            let j = r + k as usize;
            let sb = (rank_sum[j] - rank_sum[r]) as f64 / 2.0;
            let sbb = (rank_sq_sum[j] - rank_sq_sum[r]) as f64 / 4.0;
            order.push((ordered_bits(y), groups.len() as u32));
            groups.push((k as u64, sb, sbb));
            r = j;
        }
    }
    // By value, equal values in cell order (the index breaks ties), so sums
    // repeat bit for bit; sorting small keys beside an index is quicker than
    // moving whole groups.
    order.sort_unstable();
    let (mut s_a, mut s_b, mut s_aa, mut s_bb, mut s_ab) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let (mut i, mut before) = (0, 0u64);
    while i < order.len() {
        // One tie group: every point of every cell with this value.
        let (mut n, mut sb, mut sbb) = (0u64, 0.0, 0.0);
        let mut j = i;
        while j < order.len() && order[j].0 == order[i].0 {
            let g = groups[order[j].1 as usize];
            n += g.0;
            sb += g.1;
            sbb += g.2;
            j += 1;
        }
        let a = before as f64 + (n as f64 + 1.0) / 2.0;
        s_a += a * n as f64;
        s_aa += a * a * n as f64;
        s_ab += a * sb;
        s_b += sb;
        s_bb += sbb;
        before += n;
        i = j;
    }
    let m = before as f64;
    (s_ab - s_a * s_b / m) / (((s_aa - s_a * s_a / m) * (s_bb - s_b * s_b / m)).sqrt())
}

/// Twice each rank position's average rank among the predictions, whose
/// points tie by rank position (`count[r]` points at position r): average
/// ranks are whole or halves, so twice them is a whole number.
fn twice_prediction_ranks(pred: &[f64], count: &[usize]) -> Vec<u64> {
    let max_len = pred.len();
    let mut by_pred: Vec<usize> = (0..max_len).collect();
    by_pred.sort_by(|&a, &b| pred[a].total_cmp(&pred[b]));
    let mut twice_rank = vec![0u64; max_len];
    let mut seen = 0u64;
    let mut i = 0;
    while i < by_pred.len() {
        let mut j = i;
        let mut group = count[by_pred[i]] as u64;
        while j + 1 < by_pred.len() && pred[by_pred[j + 1]] == pred[by_pred[i]] {
            j += 1;
            group += count[by_pred[j]] as u64;
        }
        by_pred[i..=j]
            .iter()
            .for_each(|&r| twice_rank[r] = 2 * seen + group + 1);
        seen += group;
        i = j + 1;
    }
    twice_rank
}

/// Per-cell sums added up over all cells, in cell order. (Sequential: with
/// cells as runs this is a fraction of a millisecond, less than waking
/// the pool, which at the end of a conversion is still writing.)
fn sum_over_cells<const K: usize>(
    cells: &[ValueRuns],
    f: impl Fn(&[(f64, u32)]) -> [f64; K],
) -> [f64; K] {
    cells.iter().map(|c| f(c)).fold([0.0; K], |mut a, b| {
        a.iter_mut().zip(b).for_each(|(a, b)| *a += b);
        a
    })
}

/// Bits of a float that sort like the float (negative values included).
fn ordered_bits(x: f64) -> u64 {
    let b = x.to_bits();
    if b >> 63 == 1 {
        !b
    } else {
        b | (1 << 63)
    }
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

    /// Spearman's rho as textbooks compute it: Pearson of average ranks.
    fn spearman_naive(y: &[f64], p: &[f64]) -> f64 {
        fn avg_ranks(v: &[f64]) -> Vec<f64> {
            let mut idx: Vec<usize> = (0..v.len()).collect();
            idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
            let mut r = vec![0.0; v.len()];
            let mut i = 0;
            while i < idx.len() {
                let mut j = i;
                while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
                    j += 1;
                }
                for &k in &idx[i..=j] {
                    r[k] = (i + j) as f64 / 2.0 + 1.0;
                }
                i = j + 1;
            }
            r
        }
        let (a, b) = (avg_ranks(y), avg_ranks(p));
        let n = a.len() as f64;
        let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
        let cov: f64 = a.iter().zip(&b).map(|(x, y)| (x - ma) * (y - mb)).sum();
        let va: f64 = a.iter().map(|x| (x - ma) * (x - ma)).sum();
        let vb: f64 = b.iter().map(|y| (y - mb) * (y - mb)).sum();
        cov / (va * vb).sqrt()
    }

    #[test]
    fn fit_equals_the_textbook_one_with_ties() {
        // Counts-like values: many ties within and across cells. Cells of
        // different lengths, two past rank 999 where the line's points stop.
        let mut state = 7u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as f64 / (1u64 << 31) as f64
        };
        let cells: Vec<Vec<f64>> = (0..42)
            .map(|i| {
                let len = if i < 2 {
                    1100 + 50 * i
                } else {
                    5 + (next() * 60.0) as usize
                };
                let mut v: Vec<f64> = (0..len)
                    .map(|_| (1.0 + (next() * 6.0).floor()).ln())
                    .collect();
                v.sort_by(|a, b| b.total_cmp(a));
                v
            })
            .collect();
        let runs: Vec<ValueRuns> = cells
            .iter()
            .map(|c| crate::sentence::value_runs(c.iter().copied()))
            .collect();
        let fit = fit_ranked(&runs).expect("a fit");
        let (mut y, mut xs) = (Vec::new(), Vec::new());
        for c in &cells {
            for (r, &v) in c.iter().enumerate() {
                y.push(v);
                xs.push(((1 + r) as f64).log10());
            }
        }
        // Least squares on the points with x < 3, the textbook way.
        let line: Vec<(f64, f64)> = xs
            .iter()
            .zip(&y)
            .filter(|p| *p.0 < 3.0)
            .map(|(&a, &b)| (a, b))
            .collect();
        let m = line.len() as f64;
        let (mx, my) = (
            line.iter().map(|p| p.0).sum::<f64>() / m,
            line.iter().map(|p| p.1).sum::<f64>() / m,
        );
        let slope = line.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum::<f64>()
            / line.iter().map(|p| (p.0 - mx).powi(2)).sum::<f64>();
        let intercept = my - slope * mx;
        assert_eq!((fit.n_points, fit.n_fit_points), (y.len(), line.len()));
        assert!(line.len() < y.len());
        assert!((fit.slope - slope).abs() < 1e-9 && (fit.intercept - intercept).abs() < 1e-9);
        // R² and Pearson over all points.
        let pred: Vec<f64> = xs.iter().map(|&x| fit.intercept + fit.slope * x).collect();
        let n = y.len() as f64;
        let (ym, pm) = (y.iter().sum::<f64>() / n, pred.iter().sum::<f64>() / n);
        let ss_res: f64 = y.iter().zip(&pred).map(|(a, b)| (a - b).powi(2)).sum();
        let ss_tot: f64 = y.iter().map(|a| (a - ym).powi(2)).sum();
        let cov: f64 = y.iter().zip(&pred).map(|(a, b)| (a - ym) * (b - pm)).sum();
        let ss_pred: f64 = pred.iter().map(|b| (b - pm).powi(2)).sum();
        assert!((fit.r_squared - (1.0 - ss_res / ss_tot)).abs() < 1e-9);
        assert!((fit.pearson_r - cov / (ss_tot * ss_pred).sqrt()).abs() < 1e-9);
        let naive = spearman_naive(&y, &pred);
        assert!(
            (fit.spearman_rho - naive).abs() < 1e-9,
            "{} vs {naive}",
            fit.spearman_rho
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
