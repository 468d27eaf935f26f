//! Attention's two products over its (batch, head) pairs: the scores
//! q · kᵀ and the mix of values att · v. A prompt's (more than 64 queries,
//! f32 on the CPU) run on AMX tiles where the CPU has them (kernels::amx,
//! within 2^-15 of the sizes of the products summed); everything else is
//! candle's matmul. On a Pythia-410m prompt of 800 tokens gemm's f32 scores
//! and mixes were 14 % of the time once its other products ran on the tiles.

use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor};

/// Queries per (batch, head) from which the tiles are used: as for the
/// weights' products (kernels::half_weights), fewer rows (decoding, a short
/// prompt) are not worth packing for them.
const MIN_ROWS: usize = 64;

/// q `[.., t, d]` · k `[.., s, d]`ᵀ: `[.., t, s]`.
pub(crate) fn scores(q: &Tensor, k: &Tensor) -> candle_core::Result<Tensor> {
    if on_tiles(q) {
        q.contiguous()?.apply_op2(&k.contiguous()?, ProductT)
    } else if k.device().is_cpu() {
        // The CPU's matrix product reads the transposed keys in place.
        q.matmul(&k.t()?)
    } else {
        q.matmul(&k.t()?.contiguous()?)
    }
}

/// att `[.., t, s]` · v `[.., s, d]`: `[.., t, d]`.
pub(crate) fn mix(att: &Tensor, v: &Tensor) -> candle_core::Result<Tensor> {
    if on_tiles(att) {
        // The tiles take the second factor by rows: vᵀ, `[.., d, s]`.
        att.contiguous()?.apply_op2(&v.t()?.contiguous()?, ProductT)
    } else {
        att.matmul(v)
    }
}

/// Whether `a`'s product goes to the tiles: f32 on a CPU with AMX, more
/// than MIN_ROWS rows per (batch, head).
fn on_tiles(a: &Tensor) -> bool {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    {
        let rows = a.dims().iter().rev().nth(1).copied().unwrap_or(0);
        a.device().is_cpu()
            && a.dtype() == candle_core::DType::F32
            && a.rank() >= 2
            && rows > MIN_ROWS
            && super::amx::available()
    }
    #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
    {
        let _ = (a, MIN_ROWS);
        false
    }
}

/// a `[.., m, k]` · b `[.., n, k]`ᵀ over the leading dimensions (equal in
/// both), on the tiles.
struct ProductT;

impl CustomOp2 for ProductT {
    fn name(&self) -> &'static str {
        "c2s-tile-product-t"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let a = super::fused::f32_slice(s1, l1, self.name())?;
        let b = super::fused::f32_slice(s2, l2, self.name())?;
        let (da, db) = (l1.dims(), l2.dims());
        let (r, rb) = (da.len(), db.len());
        if r < 2 || r != rb || da[..r - 2] != db[..r - 2] || da[r - 1] != db[r - 1] {
            candle_core::bail!("{}: shapes {da:?} and {db:?} do not multiply", self.name());
        }
        let (m, k, n) = (da[r - 2], da[r - 1], db[r - 2]);
        let batches: usize = da[..r - 2].iter().product();
        let mut dims = da[..r - 2].to_vec();
        dims.extend([m, n]);
        let out = products(a, b, batches, [m, k, n]);
        Ok((CpuStorage::F32(out), Shape::from(dims)))
    }

    fn bwd(
        &self,
        a: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        // d(a bᵀ)/da = g b, /db = gᵀ a (candle's products: gradients are
        // not where the time goes, and stay f32).
        let ga = grad.matmul(b)?;
        let gb = grad.t()?.matmul(a)?;
        Ok((Some(ga), Some(gb)))
    }
}

/// Each batch's product on the tiles, in parallel (the tiles' own tasks
/// split each product's columns too), into one buffer.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn products(a: &[f32], b: &[f32], batches: usize, [m, k, n]: [usize; 3]) -> Vec<f32> {
    use rayon::prelude::*;
    struct Out(*mut f32);
    // SAFETY: each batch writes only its own m * n block of the buffer,
    // which outlives the parallel loop.
    unsafe impl Sync for Out {}
    let mut out = Vec::<f32>::with_capacity(batches * m * n);
    let dst = Out(out.as_mut_ptr());
    if m * n > 0 {
        (0..batches).into_par_iter().for_each(|i| {
            let dst = &dst;
            // SAFETY: block i of `out` has room for m * n; the tiles are
            // available (on_tiles); k = 0 gives zeros.
            unsafe {
                let o = dst.0.add(i * m * n);
                if k == 0 {
                    std::ptr::write_bytes(o, 0, m * n);
                } else {
                    super::amx::matmul_into(
                        &a[i * m * k..(i + 1) * m * k],
                        &b[i * n * k..(i + 1) * n * k],
                        m,
                        k,
                        n,
                        o,
                    );
                }
            }
        });
    }
    // SAFETY: every batch's block was written above.
    unsafe { out.set_len(batches * m * n) };
    out
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
fn products(_: &[f32], _: &[f32], _: usize, _: [usize; 3]) -> Vec<f32> {
    unreachable!("on_tiles is false without AMX")
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    /// Scores and mixes as candle's products give them, forward and
    /// backward, at a prompt's length (on the tiles where the CPU has them)
    /// and a decoding step's.
    #[test]
    fn scores_and_mixes_match_candle() {
        let dev = Device::Cpu;
        for t in [1, 70, 130] {
            // Queries at attention's scale (1 / sqrt d): a saturated softmax
            // would turn any rounding into gradients percents apart.
            let q =
                Var::from_tensor(&Tensor::randn(0f32, 0.16, (2, 3, t, 40), &dev).unwrap()).unwrap();
            let k =
                Var::from_tensor(&Tensor::randn(0f32, 1.0, (2, 3, 90, 40), &dev).unwrap()).unwrap();
            let v =
                Var::from_tensor(&Tensor::randn(0f32, 1.0, (2, 3, 90, 24), &dev).unwrap()).unwrap();
            let s = scores(q.as_tensor(), k.as_tensor()).unwrap();
            let want = q.as_tensor().matmul(&k.as_tensor().t().unwrap()).unwrap();
            let size = q
                .as_tensor()
                .abs()
                .unwrap()
                .matmul(&k.as_tensor().abs().unwrap().t().unwrap())
                .unwrap();
            within(&s, &want, &size);
            let att = candle_nn::ops::softmax(&s, candle_core::D::Minus1).unwrap();
            let y = mix(&att, v.as_tensor()).unwrap();
            let want_y = att.matmul(v.as_tensor()).unwrap();
            let size_y = att
                .abs()
                .unwrap()
                .matmul(&v.as_tensor().abs().unwrap())
                .unwrap();
            within(&y, &want_y, &size_y);
            // Gradients reach q, k and v, as candle's products give them.
            let g = (&y * &y).unwrap().sum_all().unwrap().backward().unwrap();
            let s2 = q.as_tensor().matmul(&k.as_tensor().t().unwrap()).unwrap();
            let y2 = candle_nn::ops::softmax(&s2, candle_core::D::Minus1)
                .unwrap()
                .matmul(v.as_tensor())
                .unwrap();
            let g2 = (&y2 * &y2).unwrap().sum_all().unwrap().backward().unwrap();
            for var in [&q, &k, &v] {
                let flat = |g: &candle_core::backprop::GradStore| {
                    g.get(var.as_tensor())
                        .expect("a gradient")
                        .flatten_all()
                        .unwrap()
                        .to_vec1::<f32>()
                        .unwrap()
                };
                for (a, b) in flat(&g).iter().zip(flat(&g2)) {
                    assert!(
                        (a - b).abs() <= 1e-3 * (1.0 + b.abs()),
                        "t = {t}, {:?}: gradient {a} vs {b}",
                        var.as_tensor().dims()
                    );
                }
            }
        }
    }

    fn within(got: &Tensor, want: &Tensor, size: &Tensor) {
        assert_eq!(got.dims(), want.dims());
        let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        for ((g, w), s) in flat(got).iter().zip(flat(want)).zip(flat(size)) {
            assert!((g - w).abs() <= s / 32768.0 + 1e-5, "{g} vs {w}");
        }
    }
}
