//! Rotary position embeddings (Su et al. 2021) as GPT-NeoX and Gemma apply
//! them: the first `dim` features of each head, in two halves (transformers'
//! `rotate_half`, not interleaved pairs). Built from plain tensor ops so that
//! training backpropagates through them (candle-nn's fused rope does not).

use candle_core::{DType, Device, Tensor, D};

use crate::error::Result;
use crate::kernels::heads::{Heads, RopeRows};

#[derive(Debug, Clone)]
pub(crate) struct Rotary {
    /// `[max_positions, dim]`, f32.
    cos: Tensor,
    sin: Tensor,
    dim: usize,
}

impl Rotary {
    /// Tables for positions `0..max_positions`; angles in f64, then f32.
    pub fn new(dim: usize, base: f64, max_positions: usize, dev: &Device) -> Result<Self> {
        let half = dim / 2;
        let inv_freq: Vec<f64> = (0..half)
            .map(|i| 1.0 / base.powf(2.0 * i as f64 / dim as f64))
            .collect();
        let (mut cos, mut sin) = (
            Vec::with_capacity(max_positions * dim),
            Vec::with_capacity(max_positions * dim),
        );
        for p in 0..max_positions {
            // The two halves use the same frequencies.
            for _ in 0..2 {
                for f in &inv_freq {
                    let a = p as f64 * f;
                    cos.push(a.cos() as f32);
                    sin.push(a.sin() as f32);
                }
            }
        }
        Ok(Rotary {
            cos: Tensor::from_vec(cos, (max_positions, dim), dev)?,
            sin: Tensor::from_vec(sin, (max_positions, dim), dev)?,
            dim,
        })
    }

    /// cos and sin `[b or 1, 1, t, dim]` in `dtype` for the positions
    /// `past..past + t`, or for explicit `positions` `[b, t]`.
    pub fn tables(
        &self,
        t: usize,
        past: usize,
        positions: Option<&Tensor>,
        dtype: DType,
    ) -> Result<(Tensor, Tensor)> {
        let pick = |table: &Tensor| -> Result<Tensor> {
            let rows = match positions {
                None => table.narrow(0, past, t)?.unsqueeze(0)?,
                Some(p) => {
                    let (b, t) = p.dims2()?;
                    table
                        .index_select(&p.flatten_all()?, 0)?
                        .reshape((b, t, self.dim))?
                }
            };
            Ok(rows.unsqueeze(1)?.to_dtype(dtype)?)
        };
        Ok((pick(&self.cos)?, pick(&self.sin)?))
    }

    /// Heads `[b, n, t, d]` from a projection's output `x` `[b, t, n, w]`:
    /// features `from..from + d` of each head, the first `dim` rotated by
    /// `rope` (`tables`' cos and sin) when given. For inference on the CPU
    /// in one pass (kernels::heads), else composed of candle's ops, which
    /// training differentiates; the same values.
    pub fn heads(
        &self,
        x: &Tensor,
        from: usize,
        d: usize,
        rope: Option<&(Tensor, Tensor)>,
    ) -> Result<Tensor> {
        if !Heads::takes(x) || rope.is_some_and(|r| !Heads::takes(&r.0) || !Heads::takes(&r.1)) {
            return self.heads_composed(x, from, d, rope);
        }
        let rope = match rope {
            Some((cos, sin)) => Some(RopeRows {
                cos: cos.flatten_all()?.to_vec1()?,
                sin: sin.flatten_all()?.to_vec1()?,
                dim: self.dim,
            }),
            None => None,
        };
        let op = Heads {
            first: 0,
            count: x.dim(2)?,
            from,
            d,
            rope,
        };
        Ok(op.of(x)?)
    }

    /// `heads` of candle's ops.
    fn heads_composed(
        &self,
        x: &Tensor,
        from: usize,
        d: usize,
        rope: Option<&(Tensor, Tensor)>,
    ) -> Result<Tensor> {
        let part = x
            .narrow(D::Minus1, from, d)?
            .transpose(1, 2)?
            .contiguous()?;
        match rope {
            Some((cos, sin)) => self.apply(&part, cos, sin),
            None => Ok(part),
        }
    }

    /// `x` `[b, h, t, head_dim]` with its first `dim` features rotated.
    fn apply(&self, x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
        let head_dim = x.dim(D::Minus1)?;
        let rot = x.narrow(D::Minus1, 0, self.dim)?;
        let half = self.dim / 2;
        let x1 = rot.narrow(D::Minus1, 0, half)?;
        let x2 = rot.narrow(D::Minus1, half, half)?;
        let rotated = Tensor::cat(&[&x2.neg()?, &x1], D::Minus1)?;
        let out = (rot.broadcast_mul(cos)? + rotated.broadcast_mul(sin)?)?;
        Ok(if self.dim == head_dim {
            out
        } else {
            Tensor::cat(
                &[&out, &x.narrow(D::Minus1, self.dim, head_dim - self.dim)?],
                D::Minus1,
            )?
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_keeps_norms_and_passes_the_rest_through() {
        let dev = Device::Cpu;
        let r = Rotary::new(4, 10000.0, 16, &dev).unwrap();
        let x = Tensor::arange(0f32, 12.0, &dev)
            .unwrap()
            .reshape((1, 1, 2, 6))
            .unwrap();
        let (cos, sin) = r.tables(2, 3, None, DType::F32).unwrap();
        let y = r.apply(&x, &cos, &sin).unwrap();
        let rows = |t: &Tensor| {
            t.squeeze(0)
                .unwrap()
                .squeeze(0)
                .unwrap()
                .to_vec2::<f32>()
                .unwrap()
        };
        let (xv, yv) = (rows(&x), rows(&y));
        for (a, b) in xv.iter().zip(&yv) {
            // Features past `dim` are untouched.
            assert_eq!(a[4..], b[4..]);
            // Each pair (i, i + dim/2) is rotated: its norm is kept.
            for i in 0..2 {
                let n = |v: &[f32]| (v[i] * v[i] + v[i + 2] * v[i + 2]).sqrt();
                assert!((n(a) - n(b)).abs() < 1e-4);
            }
        }
        // Position 3, first pair: angle 3 radians.
        let (c, s) = (3f32.cos(), 3f32.sin());
        let want = xv[0][0] * c - xv[0][2] * s;
        assert!((yv[0][0] - want).abs() < 1e-5);
    }

    #[test]
    fn heads_in_one_pass_equal_the_composed_ops() {
        let dev = Device::Cpu;
        // 2 batch rows, 5 positions, 3 heads of a fused projection 3 x 6
        // wide; rotation of 4 (partial) and of 6 (whole heads); positions
        // shared, and per batch row (as padded batches give).
        let x = Tensor::randn(0f32, 1.0, (2, 5, 3, 18), &dev).unwrap();
        let bits = |t: &Tensor| -> Vec<u32> {
            let v = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            v.iter().map(|v| v.to_bits()).collect()
        };
        let positions = Tensor::new(&[[0u32, 1, 2, 3, 4], [0, 0, 0, 1, 2]], &dev).unwrap();
        for dim in [4, 6] {
            let r = Rotary::new(dim, 10000.0, 16, &dev).unwrap();
            for rope in [
                r.tables(5, 3, None, DType::F32).unwrap(),
                r.tables(5, 0, Some(&positions), DType::F32).unwrap(),
            ] {
                for (from, rope) in [(0, Some(&rope)), (6, Some(&rope)), (12, None)] {
                    let fast = r.heads(&x, from, 6, rope).unwrap();
                    let composed = r.heads_composed(&x, from, 6, rope).unwrap();
                    assert_eq!(fast.dims(), &[2, 3, 5, 6]);
                    assert_eq!(bits(&fast), bits(&composed), "dim {dim}, from {from}");
                }
            }
        }
        // Rotary tables that fit neither the positions nor the batch: an
        // error, not a panic.
        let op = Heads {
            first: 0,
            count: 3,
            from: 0,
            d: 6,
            rope: Some(RopeRows {
                cos: vec![1.0; 7 * 4],
                sin: vec![0.0; 7 * 4],
                dim: 4,
            }),
        };
        assert!(op.of(&x).is_err());
        // Training's inputs keep the composed, differentiable ops.
        let var = candle_core::Var::from_tensor(&x).unwrap();
        let r = Rotary::new(4, 10000.0, 16, &dev).unwrap();
        let rope = r.tables(5, 0, None, DType::F32).unwrap();
        let y = r.heads(var.as_tensor(), 0, 6, Some(&rope)).unwrap();
        let grads = y.sum_all().unwrap().backward().unwrap();
        assert!(grads.get(var.as_tensor()).is_some());
    }
}
