//! Layers the model families share: linear layers (with f16 weights for
//! inference on the CPU), embedding lookups, layer norm and Gemma's RMS norm.

use candle_core::{DType, Tensor, D};
use candle_nn::{Init, VarBuilder};

use crate::error::Result;
use crate::kernels::fused::{self, GeluForm};
use crate::kernels::half_weights;
use crate::kernels::heads::Heads;

/// Normal(0, 0.02): the initialiser of GPT-2, GPT-NeoX and Gemma alike.
pub(crate) const INIT: Init = Init::Randn {
    mean: 0.0,
    stdev: 0.02,
};

#[derive(Debug, Clone)]
pub(crate) struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
}

impl LayerNorm {
    pub fn new(vb: VarBuilder, n: usize, eps: f64) -> Result<Self> {
        Ok(LayerNorm {
            weight: vb.get_with_hints(n, "weight", Init::Const(1.0))?,
            bias: vb.get_with_hints(n, "bias", Init::Const(0.0))?,
            eps,
        })
    }

    pub fn cast(&self, dtype: DType) -> Result<Self> {
        Ok(LayerNorm {
            weight: self.weight.to_dtype(dtype)?,
            bias: self.bias.to_dtype(dtype)?,
            eps: self.eps,
        })
    }

    /// As `CausalLm::to_dtype` casts it: in `dtype`, or f32 when the model
    /// keeps f16 matrices on the CPU (norms compute in f32 there).
    pub fn for_inference(&self, dtype: DType, half_rows: bool) -> Result<Self> {
        self.cast(if half_rows { DType::F32 } else { dtype })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(fused::layer_norm(x, &self.weight, &self.bias, self.eps)?)
    }
}

/// Gemma's RMS norm: `x / rms(x) * (1 + weight)`, computed in f32 (as
/// transformers does) and returned in `x`'s dtype.
#[derive(Debug, Clone)]
pub(crate) struct RmsNorm {
    weight: Tensor,
    eps: f64,
}

impl RmsNorm {
    pub fn new(vb: VarBuilder, n: usize, eps: f64) -> Result<Self> {
        Ok(RmsNorm {
            // Stored as an offset from 1: zero is the identity.
            weight: vb.get_with_hints(n, "weight", Init::Const(0.0))?,
            eps,
        })
    }

    pub fn cast(&self, dtype: DType) -> Result<Self> {
        Ok(RmsNorm {
            weight: self.weight.to_dtype(dtype)?,
            eps: self.eps,
        })
    }

    /// As `LayerNorm::for_inference`.
    pub fn for_inference(&self, dtype: DType, half_rows: bool) -> Result<Self> {
        self.cast(if half_rows { DType::F32 } else { dtype })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let dtype = x.dtype();
        let x = x.to_dtype(DType::F32)?;
        let ms = x.sqr()?.mean_keepdim(D::Minus1)?;
        let normed = x.broadcast_div(&(ms + self.eps)?.sqrt()?)?;
        let scale = (self.weight.to_dtype(DType::F32)? + 1.0)?;
        Ok(normed.broadcast_mul(&scale)?.to_dtype(dtype)?)
    }
}

/// A linear layer stored as PyTorch's `nn.Linear`: weight `[out, in]`, in
/// f16 when the model keeps f16 matrices on the CPU (`with_half_rows`).
#[derive(Debug, Clone)]
pub(crate) struct Linear {
    weight: Tensor,
    bias: Option<Tensor>,
}

impl Linear {
    pub fn new(vb: VarBuilder, n_in: usize, n_out: usize, bias: bool) -> Result<Self> {
        Ok(Linear {
            weight: vb.get_with_hints((n_out, n_in), "weight", INIT)?,
            bias: if bias {
                Some(vb.get_with_hints(n_out, "bias", Init::Const(0.0))?)
            } else {
                None
            },
        })
    }

    pub fn cast(&self, dtype: DType) -> Result<Self> {
        Ok(Linear {
            weight: self.weight.to_dtype(dtype)?,
            bias: self.bias.as_ref().map(|b| b.to_dtype(dtype)).transpose()?,
        })
    }

    /// The weight in f16 only (crate::kernels::half_weights multiplies it
    /// with f32 activations), the bias in f32.
    pub fn with_half_rows(&self) -> Result<Self> {
        Ok(Linear {
            weight: half_weights::rows_of(&self.weight)?,
            bias: self
                .bias
                .as_ref()
                .map(|b| b.to_dtype(DType::F32))
                .transpose()?,
        })
    }

    /// In `dtype`, or with f16 weights for f32 arithmetic on the CPU.
    pub fn for_inference(&self, dtype: DType, half_rows: bool) -> Result<Self> {
        if half_rows {
            self.with_half_rows()
        } else {
            self.cast(dtype)
        }
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_then(x, None)
    }

    /// `forward`, then `gelu` when given. With f16 weights (inference on
    /// the CPU) the bias and the GELU are applied as the product writes
    /// each block of its output (fused::BiasGelu), the same values.
    pub fn forward_then(&self, x: &Tensor, gelu: Option<GeluForm>) -> Result<Tensor> {
        if half_weights::is_half(&self.weight) && x.dtype() == DType::F32 {
            let bias = self.bias.as_ref();
            return Ok(half_weights::linear(x, &self.weight, bias, gelu)?);
        }
        let product = {
            // As one 2-D product: the CPU's reads the transposed weight in place.
            let dims = x.dims();
            let (&n_in, lead) = dims.split_last().expect("inputs have a feature axis");
            let m: usize = lead.iter().product();
            let mut out_dims = lead.to_vec();
            out_dims.push(self.weight.dim(0)?);
            x.contiguous()?
                .reshape((m, n_in))?
                .matmul(&self.weight.t()?)?
                .reshape(out_dims)?
        };
        let y = match &self.bias {
            Some(b) => fused::add_trailing(&product, b)?,
            None => product,
        };
        Ok(match gelu {
            Some(form) => fused::gelu(&y, form)?,
            None => y,
        })
    }
}

/// Heads `first..first + count` of `x` `[b, t, heads, d]` as
/// `[b, count, t, d]`: GPT-2's query, key and value heads from its fused
/// projection. One pass on the CPU for inference (kernels::heads), else
/// candle's strided copy, which training differentiates.
pub(crate) fn split_heads(x: &Tensor, first: usize, count: usize) -> Result<Tensor> {
    if Heads::takes(x) {
        let op = Heads {
            first,
            count,
            from: 0,
            d: x.dim(3)?,
            rope: None,
        };
        return Ok(op.of(x)?);
    }
    Ok(x.narrow(2, first, count)?.transpose(1, 2)?.contiguous()?)
}

/// Rows `ids` (any shape) of an embedding `table` `[n, d]`: `[ids.., d]`,
/// in f32 where the table is kept in f16 on the CPU.
pub(crate) fn embed(table: &Tensor, ids: &Tensor) -> Result<Tensor> {
    let mut dims = ids.dims().to_vec();
    dims.push(table.dim(1)?);
    let rows = table.index_select(&ids.flatten_all()?, 0)?.reshape(dims)?;
    Ok(if half_weights::is_half(table) {
        rows.to_dtype(DType::F32)?
    } else {
        rows
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn heads_split_in_one_pass_equal_candles_copy() {
        // GPT-2's fused projection: 2 batch rows, 5 tokens, 3 x 4 heads of 6.
        let x = Tensor::randn(0f32, 1.0, (2, 5, 12, 6), &Device::Cpu).unwrap();
        let bits = |t: &Tensor| -> Vec<u32> {
            let v = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            v.iter().map(|v| v.to_bits()).collect()
        };
        for first in [0, 4, 8] {
            let fast = split_heads(&x, first, 4).unwrap();
            let copy = x
                .narrow(2, first, 4)
                .unwrap()
                .transpose(1, 2)
                .unwrap()
                .contiguous()
                .unwrap();
            assert_eq!(fast.dims(), &[2, 4, 5, 6]);
            assert_eq!(bits(&fast), bits(&copy), "heads from {first}");
        }
        // Past the heads there are: an error, not a panic.
        let op = Heads {
            first: 10,
            count: 4,
            from: 0,
            d: 6,
            rope: None,
        };
        assert!(op.of(&x).is_err());
        // Training's inputs keep candle's differentiable copy.
        let var = candle_core::Var::from_tensor(&x).unwrap();
        let y = split_heads(var.as_tensor(), 4, 4).unwrap();
        let grads = y.sum_all().unwrap().backward().unwrap();
        assert!(grads.get(var.as_tensor()).is_some());
    }
}
