//! Entropic Gromov-Wasserstein distance (Peyré, Cuturi and Solomon 2016) with
//! the square loss, as POT's `entropic_gromov_wasserstein2`: projected
//! gradient steps, each an entropic OT problem solved by Sinkhorn.
//!
//! Written here because no maintained Rust crate implements GW; it is tested
//! against POT on fixed inputs (tests/eval_reference).

use std::sync::atomic::{AtomicBool, Ordering};

use ndarray::{Array1, Array2, ArrayView2, Axis, Zip};
use serde::Serialize;

use crate::error::{EvalError, Result};

#[derive(Debug, Clone, Serialize)]
pub struct GwOptions {
    pub epsilon: f64,
    pub max_iter: usize,
    pub tol: f64,
    pub sinkhorn_max_iter: usize,
    pub sinkhorn_tol: f64,
}

impl Default for GwOptions {
    /// POT's defaults, except epsilon, which suits distances scaled to a
    /// mean of about 1.
    fn default() -> Self {
        GwOptions {
            epsilon: 0.01,
            max_iter: 1000,
            tol: 1e-9,
            sinkhorn_max_iter: 1000,
            sinkhorn_tol: 1e-9,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct GwResult {
    pub distance: f64,
    pub iterations: usize,
    #[serde(skip)]
    pub plan: Array2<f64>,
}

/// Dual potentials of an entropic OT problem, kept between the GW steps so
/// that each Sinkhorn solve starts from the last one's answer.
#[derive(Debug, Clone)]
pub struct Potentials {
    f: Array1<f64>,
    g: Array1<f64>,
}

impl Potentials {
    pub fn new(n: usize, m: usize) -> Self {
        Potentials {
            f: Array1::zeros(n),
            g: Array1::zeros(m),
        }
    }

    /// The plan exp((f_i + g_j - m_ij) / eps).
    fn kernel(&self, m: &Array2<f64>, eps: f64) -> Array2<f64> {
        let mut k = m.clone();
        Zip::indexed(&mut k).for_each(|(i, j), x| *x = ((self.f[i] + self.g[j] - *x) / eps).exp());
        k
    }

    /// c-transforms: every row and column of the kernel gets an entry of 1,
    /// so nothing underflows to an all-zero row however small eps is.
    fn normalise(&mut self, m: &Array2<f64>) {
        for (i, row) in m.rows().into_iter().enumerate() {
            self.f[i] = row
                .iter()
                .zip(&self.g)
                .map(|(x, g)| x - g)
                .fold(f64::INFINITY, f64::min);
        }
        for (j, col) in m.columns().into_iter().enumerate() {
            self.g[j] = col
                .iter()
                .zip(&self.f)
                .map(|(x, f)| x - f)
                .fold(f64::INFINITY, f64::min);
        }
    }
}

/// Entropic OT plan between `a` and `b` for cost `m`: Sinkhorn's scaling
/// iterations (POT's sinkhorn_knopp, same stopping rule) on a kernel with the
/// potentials absorbed (Schmitzer 2019), which stays in floating-point range
/// for any epsilon and lets `pot` warm-start the solve.
pub(crate) fn sinkhorn_with(
    a: &[f64],
    b: &[f64],
    m: &Array2<f64>,
    eps: f64,
    max_iter: usize,
    tol: f64,
    pot: &mut Potentials,
) -> Array2<f64> {
    const BIG: f64 = 1e100;
    pot.normalise(m);
    let a = Array1::from(a.to_vec());
    let b = Array1::from(b.to_vec());
    let (n, mm) = m.dim();
    let mut k = pot.kernel(m, eps);
    // kᵀ laid out by rows: ndarray's product of a transposed view with a
    // vector reads it column by column, most of an evaluation's time.
    let mut kt = k.t().as_standard_layout().into_owned();
    let mut u = Array1::<f64>::ones(n);
    let mut v = Array1::<f64>::ones(mm);
    for it in 0..max_iter {
        v = &b / &kt.dot(&u);
        u = &a / &k.dot(&v);
        let out_of_range = u
            .iter()
            .chain(v.iter())
            .any(|x| !(x.is_finite() && *x < BIG && *x > 1.0 / BIG));
        if out_of_range {
            // Fold the scalings into the potentials and start afresh.
            pot.f.zip_mut_with(&u, |f, x| *f += eps * x.ln());
            pot.g.zip_mut_with(&v, |g, x| *g += eps * x.ln());
            pot.normalise(m);
            k = pot.kernel(m, eps);
            kt = k.t().as_standard_layout().into_owned();
            u.fill(1.0);
            v.fill(1.0);
            continue;
        }
        if it % 10 == 0 {
            let col = kt.dot(&u) * &v;
            let err = (&col - &b).mapv(|x| x * x).sum().sqrt();
            if err < tol {
                break;
            }
        }
    }
    pot.f.zip_mut_with(&u, |f, x| *f += eps * x.ln());
    pot.g.zip_mut_with(&v, |g, x| *g += eps * x.ln());
    pot.kernel(m, eps)
}

/// A cold-started [`sinkhorn_with`] (the tests' check against POT).
#[cfg(test)]
pub(crate) fn sinkhorn(
    a: &[f64],
    b: &[f64],
    m: &Array2<f64>,
    eps: f64,
    max_iter: usize,
    tol: f64,
) -> Array2<f64> {
    sinkhorn_with(
        a,
        b,
        m,
        eps,
        max_iter,
        tol,
        &mut Potentials::new(a.len(), b.len()),
    )
}

/// Entropic GW between metric spaces (`c1`, `p`) and (`c2`, `q`).
pub fn entropic_gw(
    c1: ArrayView2<f64>,
    c2: ArrayView2<f64>,
    p: &[f64],
    q: &[f64],
    opts: &GwOptions,
) -> Result<GwResult> {
    entropic_gw_cancellable(c1, c2, p, q, opts, &AtomicBool::new(false))
}

/// `entropic_gw`, stopping with `EvalError::Cancelled` within an outer
/// iteration (a Sinkhorn solve, tens of milliseconds) once `cancel` is set:
/// a whole solve takes seconds on a few hundred cells.
pub fn entropic_gw_cancellable(
    c1: ArrayView2<f64>,
    c2: ArrayView2<f64>,
    p: &[f64],
    q: &[f64],
    opts: &GwOptions,
    cancel: &AtomicBool,
) -> Result<GwResult> {
    let (n, m) = (c1.nrows(), c2.nrows());
    if c1.ncols() != n || c2.ncols() != m || p.len() != n || q.len() != m || n == 0 || m == 0 {
        return Err(EvalError::bad(
            "Gromov-Wasserstein",
            "cost matrices must be square and match their weights",
            "pass pairwise distance matrices of the two point clouds",
        ));
    }
    if !(opts.epsilon.is_finite() && opts.epsilon > 0.0) {
        return Err(EvalError::bad(
            "Gromov-Wasserstein",
            format!("epsilon {} is not a number above 0", opts.epsilon),
            "use e.g. 0.01",
        ));
    }
    let pv = Array1::from(p.to_vec());
    let qv = Array1::from(q.to_vec());
    // Square loss: L(a, b) = a^2 + b^2 - 2ab, split as in POT's init_matrix.
    let c1sq = c1.mapv(|x| x * x).dot(&pv);
    let c2sq = c2.mapv(|x| x * x).dot(&qv);
    let const_c = Array2::from_shape_fn((n, m), |(i, j)| c1sq[i] + c2sq[j]);
    let h_c2 = c2.mapv(|x| 2.0 * x);
    let tensor = |t: &Array2<f64>| &const_c - &c1.dot(t).dot(&h_c2.t());
    let mut t = Array2::from_shape_fn((n, m), |(i, j)| p[i] * q[j]);
    let mut iterations = 0;
    let mut err = 1.0;
    let mut pot = Potentials::new(n, m);
    while err > opts.tol && iterations < opts.max_iter {
        if cancel.load(Ordering::Relaxed) {
            return Err(EvalError::Cancelled);
        }
        let grad = tensor(&t) * 2.0;
        let next = sinkhorn_with(
            p,
            q,
            &grad,
            opts.epsilon,
            opts.sinkhorn_max_iter,
            opts.sinkhorn_tol,
            &mut pot,
        );
        if next.iter().any(|x| !x.is_finite()) {
            return Err(EvalError::Numeric(format!(
                "Gromov-Wasserstein did not converge at epsilon {}; try a larger epsilon",
                opts.epsilon
            )));
        }
        if iterations % 10 == 0 {
            err = (&next - &t).mapv(|x| x * x).sum().sqrt();
        }
        t = next;
        iterations += 1;
    }
    let distance = (tensor(&t) * &t).sum();
    Ok(GwResult {
        distance,
        iterations,
        plan: t,
    })
}

/// Pairwise Euclidean distances between the rows of `x`.
pub(crate) fn pairwise_distances(x: ArrayView2<f64>) -> Array2<f64> {
    let norms: Array1<f64> = x.map_axis(Axis(1), |r| r.dot(&r));
    let g = x.dot(&x.t());
    let n = x.nrows();
    Array2::from_shape_fn((n, n), |(i, j)| {
        if i == j {
            0.0
        } else {
            (norms[i] + norms[j] - 2.0 * g[[i, j]]).max(0.0).sqrt()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn identical_spaces_are_close_and_plans_keep_marginals() {
        let x = array![[0.0, 0.0], [1.0, 0.0], [0.0, 3.0], [2.0, 2.0]];
        let c = pairwise_distances(x.view());
        let w = [0.25; 4];
        let same = entropic_gw(c.view(), c.view(), &w, &w, &GwOptions::default()).unwrap();
        let y = array![[0.0, 0.0], [4.0, 0.0], [0.0, 0.5], [9.0, 9.0]];
        let c2 = pairwise_distances(y.view());
        let other = entropic_gw(c.view(), c2.view(), &w, &w, &GwOptions::default()).unwrap();
        // Cancelled, it stops with that error, not a distance.
        let stop = AtomicBool::new(true);
        let opts = GwOptions::default();
        let cancelled = entropic_gw_cancellable(c.view(), c2.view(), &w, &w, &opts, &stop);
        assert!(matches!(cancelled, Err(EvalError::Cancelled)));
        assert!(
            same.distance < other.distance,
            "{} vs {}",
            same.distance,
            other.distance
        );
        for row in other.plan.rows() {
            assert!((row.sum() - 0.25).abs() < 1e-6);
        }
    }

    /// POT's sinkhorn_knopp as written, for comparison.
    fn plain(a: &[f64], b: &[f64], m: &Array2<f64>, eps: f64, iters: usize) -> Array2<f64> {
        let k = m.mapv(|x| (-x / eps).exp());
        let (a, b) = (Array1::from(a.to_vec()), Array1::from(b.to_vec()));
        let mut u = Array1::from_elem(a.len(), 1.0 / a.len() as f64);
        let mut v = Array1::from_elem(b.len(), 1.0 / b.len() as f64);
        for _ in 0..iters {
            v = &b / &k.t().dot(&u);
            u = &a / &k.dot(&v);
        }
        Array2::from_shape_fn(k.dim(), |(i, j)| u[i] * k[[i, j]] * v[j])
    }

    #[test]
    fn stabilised_matches_plain_sinkhorn_and_survives_tiny_epsilon() {
        let m = array![[0.0, 1.0, 2.0], [1.0, 0.5, 0.2], [3.0, 0.1, 1.0]];
        let a = [0.2, 0.3, 0.5];
        let b = [0.4, 0.4, 0.2];
        let ours = sinkhorn(&a, &b, &m, 0.1, 5000, 1e-13);
        let pot = plain(&a, &b, &m, 0.1, 5000);
        for (x, y) in ours.iter().zip(pot.iter()) {
            assert!((x - y).abs() < 1e-9, "{x} vs {y}");
        }
        // exp(-3000 / 0.01) underflows in the plain form; still a valid plan here.
        let tiny = sinkhorn(&a, &b, &(m.clone() * 1000.0), 0.01, 5000, 1e-9);
        assert!(tiny.iter().all(|x| x.is_finite()));
        for (i, row) in tiny.rows().into_iter().enumerate() {
            assert!((row.sum() - a[i]).abs() < 1e-6);
        }
    }
}
