//! Two-dimensional UMAP coordinates: umap-rs builds the fuzzy neighbour graph
//! from our exact neighbours; the layout is optimised here, as umap-learn's
//! `optimize_layout_euclidean`, because umap-rs's optimiser divides the
//! attraction by an extra squared distance (clusters come out as a ring) and
//! draws from an unseeded RNG. Initialisation: the first two PCA coordinates.

use ndarray::{Array2, ArrayView2};
use rand::{Rng, SeedableRng};
use umap_rs::{GraphParams, Umap, UmapConfig};

use crate::error::{EvalError, Result};
use crate::knn::nearest;

pub(crate) const N_NEIGHBORS: usize = 15;

/// UMAP of the rows of `x` (usually PCA coordinates), reproducible for a seed.
pub fn umap_2d(x: ArrayView2<f64>, epochs: usize, seed: u64) -> Result<Array2<f64>> {
    let n = x.nrows();
    if n <= N_NEIGHBORS || x.ncols() < 2 {
        return Err(EvalError::bad(
            "UMAP",
            format!(
                "needs more than {N_NEIGHBORS} cells and 2 dimensions, got {n} x {}",
                x.ncols()
            ),
            "evaluate more cells",
        ));
    }
    let FuzzyGraph { edges, a, b } = fuzzy_graph(x, N_NEIGHBORS)?;
    // Start from the first two coordinates scaled to [-10, 10], umap-learn's range.
    let mut init = Array2::<f32>::zeros((n, 2));
    for c in 0..2 {
        let col = x.column(c);
        let (lo, hi) = col
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        let span = if hi > lo { hi - lo } else { 1.0 };
        for i in 0..n {
            init[[i, c]] = (20.0 * (col[i] - lo) / span - 10.0) as f32;
        }
    }
    Ok(optimize_layout(init, &edges, a, b, epochs.max(1), seed).mapv(|v| v as f64))
}

/// UMAP's fuzzy neighbour graph and the curve parameters of its layout.
pub struct FuzzyGraph {
    /// (row, row, weight); symmetric, so each edge is listed from both ends.
    pub edges: Vec<(usize, usize, f32)>,
    pub a: f32,
    pub b: f32,
}

/// The fuzzy graph of the rows of `x` over `n_neighbors` exact neighbours
/// (each point counted as its own first). Scanpy's `pp.neighbors` gives
/// clustering the same graph ("connectivities").
pub(crate) fn fuzzy_graph(x: ArrayView2<f64>, n_neighbors: usize) -> Result<FuzzyGraph> {
    let n = x.nrows();
    if n <= n_neighbors || n_neighbors < 2 {
        return Err(EvalError::bad(
            "neighbour graph",
            format!("needs more than {n_neighbors} cells, got {n}"),
            "use more cells",
        ));
    }
    // Like umap-learn, each point is its own first neighbour.
    let (idx, dist) = nearest(x, x, n_neighbors - 1, true)?;
    let mut knn_i = Array2::<u32>::zeros((n, n_neighbors));
    let mut knn_d = Array2::<f32>::zeros((n, n_neighbors));
    for i in 0..n {
        knn_i[[i, 0]] = i as u32;
        for j in 0..n_neighbors - 1 {
            knn_i[[i, j + 1]] = idx[[i, j]] as u32;
            knn_d[[i, j + 1]] = dist[[i, j]] as f32;
        }
    }
    let data = x.mapv(|v| v as f32);
    let config = UmapConfig {
        n_components: 2,
        graph: GraphParams {
            n_neighbors,
            ..Default::default()
        },
        ..Default::default()
    };
    let manifold = Umap::new(config).learn_manifold(data.view(), knn_i.view(), knn_d.view());
    let (a, b) = manifold.curve_params();
    let mut edges: Vec<(usize, usize, f32)> = Vec::new();
    for (r, row) in manifold.graph().outer_iterator().enumerate() {
        for (c, &w) in row.iter() {
            edges.push((r, c, w));
        }
    }
    Ok(FuzzyGraph { edges, a, b })
}

fn clip(v: f32) -> f32 {
    v.clamp(-4.0, 4.0)
}

/// umap-learn's SGD: each edge pulls its ends together as often as its weight
/// says, with 5 random points pushed away per pull; the step shrinks linearly.
fn optimize_layout(
    mut y: Array2<f32>,
    edges: &[(usize, usize, f32)],
    a: f32,
    b: f32,
    epochs: usize,
    seed: u64,
) -> Array2<f32> {
    let n = y.nrows();
    let wmax = edges.iter().map(|e| e.2).fold(0.0f32, f32::max);
    // Edges too weak to be sampled once are dropped, as umap-learn does.
    let edges: Vec<&(usize, usize, f32)> = edges
        .iter()
        .filter(|e| e.2 >= wmax / epochs as f32 && e.2 > 0.0)
        .collect();
    let per_sample: Vec<f64> = edges.iter().map(|e| wmax as f64 / e.2 as f64).collect();
    const NEGATIVE_RATE: f64 = 5.0;
    let per_negative: Vec<f64> = per_sample.iter().map(|p| p / NEGATIVE_RATE).collect();
    let mut next_sample = per_sample.clone();
    let mut next_negative = per_negative.clone();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    for epoch in 0..epochs {
        let alpha = 1.0 - epoch as f32 / epochs as f32;
        let now = epoch as f64;
        for (i, e) in edges.iter().enumerate() {
            if next_sample[i] > now {
                continue;
            }
            let (j, k) = (e.0, e.1);
            let d = [y[[j, 0]] - y[[k, 0]], y[[j, 1]] - y[[k, 1]]];
            let d2 = d[0] * d[0] + d[1] * d[1];
            if d2 > 0.0 {
                let gc = -2.0 * a * b * d2.powf(b - 1.0) / (a * d2.powf(b) + 1.0);
                for c in 0..2 {
                    let g = clip(gc * d[c]) * alpha;
                    y[[j, c]] += g;
                    y[[k, c]] -= g;
                }
            }
            next_sample[i] += per_sample[i];
            let n_neg = ((now - next_negative[i]) / per_negative[i]).max(0.0) as usize;
            for _ in 0..n_neg {
                let k = rng.random_range(0..n);
                if k == j {
                    continue;
                }
                let d = [y[[j, 0]] - y[[k, 0]], y[[j, 1]] - y[[k, 1]]];
                let d2 = d[0] * d[0] + d[1] * d[1];
                for c in 0..2 {
                    let g = if d2 > 0.0 {
                        clip(2.0 * b * d[c] / ((0.001 + d2) * (a * d2.powf(b) + 1.0)))
                    } else {
                        4.0
                    };
                    y[[j, c]] += g * alpha;
                }
            }
            next_negative[i] += n_neg as f64 * per_negative[i];
        }
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separates_clusters_and_repeats_for_a_seed() {
        // Two well-separated blobs in 5 dimensions.
        let x = Array2::from_shape_fn((120, 5), |(i, j)| {
            let centre = if i < 60 { 0.0 } else { 20.0 };
            centre + ((i * 7 + j * 3) % 11) as f64 * 0.1
        });
        let y = umap_2d(x.view(), 200, 3).unwrap();
        assert_eq!(y, umap_2d(x.view(), 200, 3).unwrap());
        let mean = |r: std::ops::Range<usize>| {
            let n = r.len() as f64;
            r.fold([0.0, 0.0], |m, i| {
                [m[0] + y[[i, 0]] / n, m[1] + y[[i, 1]] / n]
            })
        };
        let spread = |r: std::ops::Range<usize>, m: [f64; 2]| {
            r.map(|i| ((y[[i, 0]] - m[0]).powi(2) + (y[[i, 1]] - m[1]).powi(2)).sqrt())
                .fold(0.0, f64::max)
        };
        let (m1, m2) = (mean(0..60), mean(60..120));
        let gap = ((m1[0] - m2[0]).powi(2) + (m1[1] - m2[1]).powi(2)).sqrt();
        assert!(
            gap > spread(0..60, m1) && gap > spread(60..120, m2),
            "clusters overlap"
        );
        assert!(umap_2d(x.view().slice(ndarray::s![..10, ..]), 10, 0).is_err());
    }
}
