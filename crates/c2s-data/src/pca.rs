//! Principal component analysis as scikit-learn's PCA: centred data, exact SVD
//! for small inputs, randomized SVD (Halko et al. 2011) for large ones, and
//! signs fixed so that each component's largest loading is positive.
//!
//! nalgebra supplies the decompositions, ndarray (matrixmultiply, threaded)
//! the large products. The glue is here, not a crate's, for portability
//! rather than speed: the Rust PCA crates with randomized SVD
//! (petal-decomposition 0.9, linfa-reduction through ndarray-linalg) call
//! LAPACK, so they need a system OpenBLAS, MKL or Netlib (their READMEs), which
//! a scientist's laptop and the app's installers do not have.

use nalgebra::DMatrix;
use ndarray::{Array1, Array2, ArrayView2, Axis};
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use serde::Serialize;

use crate::error::{DataError, Result};

#[derive(Debug, Clone, Serialize)]
pub struct Pca {
    #[serde(skip)]
    pub mean: Array1<f64>,
    /// Components as rows (k x features).
    #[serde(skip)]
    pub components: Array2<f64>,
    pub explained_variance: Vec<f64>,
    pub explained_variance_ratio: Vec<f64>,
    /// "exact" or "randomized".
    pub solver: &'static str,
}

fn to_na(a: ArrayView2<f64>) -> DMatrix<f64> {
    DMatrix::from_fn(a.nrows(), a.ncols(), |i, j| a[[i, j]])
}

fn from_na(m: &DMatrix<f64>) -> Array2<f64> {
    Array2::from_shape_fn((m.nrows(), m.ncols()), |(i, j)| m[(i, j)])
}

/// An orthonormal basis of the columns of `a`.
fn orthonormal(a: &Array2<f64>) -> Array2<f64> {
    from_na(&to_na(a.view()).qr().q())
}

impl Pca {
    /// Fits `k` components on the rows of `x` (cells x features).
    pub fn fit(x: ArrayView2<f64>, k: usize, seed: u64) -> Result<Pca> {
        let (n, g) = x.dim();
        if n < 2 || g == 0 {
            return Err(DataError::setting(
                "PCA",
                format!("needs at least 2 cells and 1 gene, got {n} x {g}"),
                "use at least 2 cells",
            ));
        }
        if x.iter().any(|v| !v.is_finite()) {
            return Err(DataError::setting(
                "PCA",
                "the input holds NaN or infinity",
                "check the values read",
            ));
        }
        let k = k.min(n.min(g));
        let mean = x.mean_axis(Axis(0)).expect("rows present");
        let xc = &x - &mean;
        let total_var: f64 = xc.iter().map(|v| v * v).sum::<f64>() / (n - 1) as f64;
        let small = n.max(g) <= 500 || k as f64 >= 0.8 * n.min(g) as f64;
        let (singular, mut components) = if small {
            let svd = to_na(xc.view()).svd(false, true);
            let vt = svd.v_t.expect("requested");
            let mut order: Vec<usize> = (0..svd.singular_values.len()).collect();
            order.sort_by(|&a, &b| svd.singular_values[b].total_cmp(&svd.singular_values[a]));
            let order = &order[..k];
            let s: Vec<f64> = order.iter().map(|&i| svd.singular_values[i]).collect();
            let comps = Array2::from_shape_fn((k, g), |(r, c)| vt[(order[r], c)]);
            (s, comps)
        } else {
            randomized(&xc, k, seed)
        };
        for mut row in components.rows_mut() {
            let big = row
                .iter()
                .copied()
                .max_by(|a, b| a.abs().total_cmp(&b.abs()))
                .unwrap_or(0.0);
            if big < 0.0 {
                row.mapv_inplace(|v| -v);
            }
        }
        let explained_variance: Vec<f64> =
            singular.iter().map(|s| s * s / (n - 1) as f64).collect();
        let explained_variance_ratio = explained_variance
            .iter()
            .map(|v| if total_var > 0.0 { v / total_var } else { 0.0 })
            .collect();
        Ok(Pca {
            mean,
            components,
            explained_variance,
            explained_variance_ratio,
            solver: if small { "exact" } else { "randomized" },
        })
    }

    pub fn n_components(&self) -> usize {
        self.components.nrows()
    }

    /// Coordinates of the rows of `x` on the components.
    pub fn transform(&self, x: ArrayView2<f64>) -> Array2<f64> {
        (&x - &self.mean).dot(&self.components.t())
    }
}

/// Top-k singular values and right singular vectors of `xc`, with
/// scikit-learn's settings: 10 extra columns, 7 power iterations for few
/// components (4 otherwise), re-orthonormalised at each step.
fn randomized(xc: &Array2<f64>, k: usize, seed: u64) -> (Vec<f64>, Array2<f64>) {
    let (n, g) = xc.dim();
    let l = (k + 10).min(n.min(g));
    let iters = if (k as f64) < 0.1 * n.min(g) as f64 {
        7
    } else {
        4
    };
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let omega = Array2::from_shape_simple_fn((g, l), || StandardNormal.sample(&mut rng));
    let mut q = orthonormal(&xc.dot(&omega));
    for _ in 0..iters {
        let z = orthonormal(&xc.t().dot(&q));
        q = orthonormal(&xc.dot(&z));
    }
    let b = q.t().dot(xc);
    let svd = to_na(b.view()).svd(false, true);
    let vt = svd.v_t.expect("requested");
    let mut order: Vec<usize> = (0..svd.singular_values.len()).collect();
    order.sort_by(|&a, &b| svd.singular_values[b].total_cmp(&svd.singular_values[a]));
    let s = order[..k].iter().map(|&i| svd.singular_values[i]).collect();
    let comps = Array2::from_shape_fn((k, g), |(r, c)| vt[(order[r], c)]);
    (s, comps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::s;

    fn data(n: usize, g: usize) -> Array2<f64> {
        // Three latent factors plus a little deterministic noise.
        Array2::from_shape_fn((n, g), |(i, j)| {
            let a = (i as f64 * 0.37).sin() * (j as f64 * 0.11).cos() * 5.0;
            let b = (i % 7) as f64 * ((j % 5) as f64 - 2.0);
            let c = ((i * 31 + j * 17) % 13) as f64 * 0.05;
            a + b + c
        })
    }

    #[test]
    fn randomized_agrees_with_exact() {
        let x = data(700, 300);
        let exact = Pca::fit(x.view(), 300, 1).unwrap();
        assert_eq!(exact.solver, "exact");
        let fast = Pca::fit(x.view(), 5, 1).unwrap();
        assert_eq!(fast.solver, "randomized");
        for i in 0..3 {
            let (a, b) = (exact.explained_variance[i], fast.explained_variance[i]);
            assert!((a - b).abs() / a < 1e-6, "{a} vs {b}");
            let dot: f64 = exact
                .components
                .row(i)
                .iter()
                .zip(fast.components.row(i))
                .map(|(a, b)| a * b)
                .sum();
            assert!(dot > 0.999, "component {i}: {dot}");
        }
        let y = fast.transform(x.view());
        // Scores are centred and their variance is the explained variance.
        let v0 = y.column(0).iter().map(|v| v * v).sum::<f64>() / 699.0;
        assert!((v0 - fast.explained_variance[0]).abs() / v0 < 1e-9);
    }

    #[test]
    fn refuses_nan_and_tiny_inputs() {
        let mut x = data(10, 4);
        assert!(Pca::fit(x.slice(s![..1, ..]), 2, 0).is_err());
        x[[3, 2]] = f64::NAN;
        assert!(Pca::fit(x.view(), 2, 0).is_err());
    }
}
