//! Exact nearest neighbours by brute force, and scikit-learn's k-NN classifier
//! (uniform votes, a tie going to the first class in sorted order).
//!
//! Written here because the points are PCA coordinates (tens of dimensions),
//! where k-d trees (kiddo) lose to brute force, and brute force is one matrix
//! product (what scikit-learn's "brute" algorithm does).

use ndarray::{s, Array1, Array2, ArrayView2, Axis};
use rayon::prelude::*;

use crate::error::{EvalError, Result};

/// (squared distance, reference row) of one query's nearest rows.
type Neighbours = Vec<(f64, usize)>;

/// Query rows per block: bounds the distance matrix held at once.
const BLOCK: usize = 512;

/// The `k` nearest rows of `reference` for each row of `query` (indices and
/// Euclidean distances, nearest first; equal distances by index). With
/// `skip_self`, query row i is not its own neighbour (query == reference).
pub fn nearest(
    query: ArrayView2<f64>,
    reference: ArrayView2<f64>,
    k: usize,
    skip_self: bool,
) -> Result<(Array2<usize>, Array2<f64>)> {
    let available = reference.nrows() - usize::from(skip_self && reference.nrows() > 0);
    if k == 0 || k > available {
        return Err(EvalError::bad(
            "k-NN",
            format!("asked for {k} neighbours among {available} cells"),
            "use fewer neighbours or more reference cells",
        ));
    }
    if query.ncols() != reference.ncols() {
        return Err(EvalError::bad(
            "k-NN",
            "query and reference have different dimensions",
            "project both with the same PCA",
        ));
    }
    let ref_norms: Array1<f64> = reference.map_axis(Axis(1), |r| r.dot(&r));
    let n = query.nrows();
    let mut idx = Array2::<usize>::zeros((n, k));
    let mut dist = Array2::<f64>::zeros((n, k));
    let starts: Vec<usize> = (0..n).step_by(BLOCK).collect();
    let blocks: Vec<(usize, Vec<Neighbours>)> = starts
        .par_iter()
        .map(|&start| {
            let end = (start + BLOCK).min(n);
            let q = query.slice(s![start..end, ..]);
            let cross = q.dot(&reference.t());
            let rows = (0..end - start)
                .map(|i| {
                    let qn = q.row(i).dot(&q.row(i));
                    let mut d: Vec<(f64, usize)> = cross
                        .row(i)
                        .iter()
                        .enumerate()
                        .filter(|&(j, _)| !(skip_self && j == start + i))
                        .map(|(j, &c)| ((qn + ref_norms[j] - 2.0 * c).max(0.0), j))
                        .collect();
                    let by = |a: &(f64, usize), b: &(f64, usize)| {
                        a.0.total_cmp(&b.0).then(a.1.cmp(&b.1))
                    };
                    d.select_nth_unstable_by(k - 1, by);
                    // A fresh vector: a truncated one would keep its full capacity.
                    let mut top = d[..k].to_vec();
                    top.sort_unstable_by(by);
                    top
                })
                .collect();
            (start, rows)
        })
        .collect();
    for (start, rows) in blocks {
        for (i, row) in rows.into_iter().enumerate() {
            for (j, (d2, r)) in row.into_iter().enumerate() {
                idx[[start + i, j]] = r;
                dist[[start + i, j]] = d2.sqrt();
            }
        }
    }
    Ok((idx, dist))
}

/// A k-NN classifier over labelled reference points.
pub struct KnnClassifier<'a> {
    points: ArrayView2<'a, f64>,
    /// Index into `classes` for each point.
    codes: Vec<usize>,
    pub classes: Vec<String>,
}

impl<'a> KnnClassifier<'a> {
    pub fn fit<S: AsRef<str>>(points: ArrayView2<'a, f64>, labels: &[S]) -> Result<Self> {
        if points.nrows() != labels.len() || labels.is_empty() {
            return Err(EvalError::bad(
                "k-NN",
                format!("{} points but {} labels", points.nrows(), labels.len()),
                "give one label per reference cell",
            ));
        }
        let mut classes: Vec<String> = labels.iter().map(|l| l.as_ref().to_string()).collect();
        classes.sort();
        classes.dedup();
        let codes = labels
            .iter()
            .map(|l| {
                classes
                    .binary_search_by(|c| c.as_str().cmp(l.as_ref()))
                    .expect("listed")
            })
            .collect();
        Ok(KnnClassifier {
            points,
            codes,
            classes,
        })
    }

    /// Predicted labels for each `k` (one vector per k), from one search.
    pub(crate) fn predict_many(
        &self,
        query: ArrayView2<f64>,
        ks: &[usize],
    ) -> Result<Vec<Vec<String>>> {
        let kmax = ks.iter().copied().max().unwrap_or(1);
        let (idx, _) = nearest(query, self.points, kmax, false)?;
        Ok(ks
            .iter()
            .map(|&k| {
                idx.rows()
                    .into_iter()
                    .map(|row| {
                        let mut votes = vec![0usize; self.classes.len()];
                        for &j in row.iter().take(k) {
                            votes[self.codes[j]] += 1;
                        }
                        let best = *votes.iter().max().expect("classes present");
                        let c = votes.iter().position(|&v| v == best).expect("max present");
                        self.classes[c].clone()
                    })
                    .collect()
            })
            .collect())
    }

    pub fn predict(&self, query: ArrayView2<f64>, k: usize) -> Result<Vec<String>> {
        Ok(self.predict_many(query, &[k])?.remove(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn neighbours_and_votes() {
        let r = array![[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [5.0, 5.0], [5.0, 6.0]];
        let (i, d) = nearest(r.view(), r.view(), 2, true).unwrap();
        assert_eq!(i.row(0).to_vec(), [1, 2]);
        assert!((d[[0, 1]] - 2.0).abs() < 1e-12);
        assert_eq!(i.row(3).to_vec(), [4, 2]);
        let labels = ["b", "b", "a", "c", "c"];
        let knn = KnnClassifier::fit(r.view(), &labels).unwrap();
        let q = array![[0.1, 0.1], [5.0, 5.4], [0.0, 1.9]];
        assert_eq!(knn.predict(q.view(), 1).unwrap(), ["b", "c", "a"]);
        // k = 2 at (0, 1.9): a and b tie, the first sorted class wins.
        assert_eq!(knn.predict(q.view(), 2).unwrap()[2], "a");
        assert!(nearest(q.view(), r.view(), 6, false).is_err());
    }
}
