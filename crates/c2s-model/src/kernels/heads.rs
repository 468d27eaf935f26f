//! Attention's heads cut out of a projection's output for inference on the
//! CPU: features `from..from + d` of heads `first..first + n` of
//! `[b, t, heads, w]` as `[b, n, t, d]`, the first `dim` of them rotated
//! (rotary embeddings, in two halves as transformers' `rotate_half`), in one
//! parallel pass.
//!
//! Composed of candle's ops (models::rotary) the same took, per layer of a
//! GPT-NeoX, three strided copies, two concatenations and a dozen small
//! element-wise passes with their thread-pool hand-offs: about 8 % of a
//! Pythia-410m prompt by a profile. The values are the composed ops' bit
//! for bit: each is `x * cos + (±x') * sin`, rounded as they round it (no
//! FMA).

use std::mem::MaybeUninit;

use candle_core::{CpuStorage, CustomOp1, DType, Layout, Shape, Tensor};

use super::fused::{f32_slice, par_fill, wide};

/// Rotary tables on the host: `[rows, dim]` each, a row per position of
/// the prompt (`rows` = t) or per batch row and position (`rows` = b * t).
pub(crate) struct RopeRows {
    pub cos: Vec<f32>,
    pub sin: Vec<f32>,
    pub dim: usize,
}

/// The op: which heads, which features of each, and the rotation if any.
pub(crate) struct Heads {
    pub first: usize,
    pub count: usize,
    pub from: usize,
    pub d: usize,
    pub rope: Option<RopeRows>,
}

impl Heads {
    /// Whether the op takes `t`: f32 on the CPU, and nothing to
    /// differentiate (training keeps candle's composed ops).
    pub(crate) fn takes(t: &Tensor) -> bool {
        t.device().is_cpu() && t.dtype() == DType::F32 && !t.track_op()
    }

    /// The heads of `x` (`[b, t, heads, w]`): `[b, count, t, d]`.
    pub(crate) fn of(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        x.contiguous()?.apply_op1_no_bwd(self)
    }
}

impl CustomOp1 for Heads {
    fn name(&self) -> &'static str {
        "c2s-heads"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = f32_slice(s, l, self.name())?;
        let (b, t, heads, w) = l.shape().dims4()?;
        let (first, n, from, d) = (self.first, self.count, self.from, self.d);
        if from + d > w || first + n > heads {
            let (f, h) = (from + d, first + n);
            candle_core::bail!(
                "{}: features {from}..{f} of {w}, heads {first}..{h} of {heads}",
                self.name()
            );
        }
        if let Some(r) = &self.rope {
            let rows = r.cos.len() / r.dim.max(1);
            if r.dim > d
                || r.dim % 2 == 1
                || r.sin.len() != r.cos.len()
                || (rows != t && rows != b * t)
            {
                candle_core::bail!(
                    "{}: rotary tables of {rows} x {} for {b} x {t} x {d}",
                    self.name(),
                    r.dim
                );
            }
        }
        // One task per (batch row, head): its t x d values, contiguous.
        let fill = |i: usize, o: &mut [MaybeUninit<f32>]| {
            let (bi, hi) = (i / n, i % n);
            wide(
                #[inline(always)]
                || {
                    for (ti, o) in o.chunks_exact_mut(d).enumerate() {
                        let src = &x[((bi * t + ti) * heads + first + hi) * w + from..][..d];
                        let Some(r) = &self.rope else {
                            for (o, &v) in o.iter_mut().zip(src) {
                                o.write(v);
                            }
                            continue;
                        };
                        let (dim, half) = (r.dim, r.dim / 2);
                        let row = if r.cos.len() == t * dim {
                            ti
                        } else {
                            bi * t + ti
                        };
                        let (c, s) = (&r.cos[row * dim..][..dim], &r.sin[row * dim..][..dim]);
                        let (x1, x2) = (&src[..half], &src[half..dim]);
                        // First half: x1 * cos + (-x2) * sin; second: x2 * cos
                        // + x1 * sin; the rest passes through.
                        for (j, o) in o[..half].iter_mut().enumerate() {
                            o.write(x1[j] * c[j] + -x2[j] * s[j]);
                        }
                        for (j, o) in o[half..dim].iter_mut().enumerate() {
                            o.write(x2[j] * c[half + j] + x1[j] * s[half + j]);
                        }
                        for (o, &v) in o[dim..].iter_mut().zip(&src[dim..]) {
                            o.write(v);
                        }
                    }
                },
            )
        };
        // SAFETY: task i's chunk is head i's t * d values, each written above.
        let out = unsafe { par_fill(b * n * t * d, t * d, fill) };
        Ok((CpuStorage::F32(out), Shape::from((b, n, t, d))))
    }
}
