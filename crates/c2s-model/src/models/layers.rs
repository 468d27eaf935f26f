//! Layers the model families share: linear layers (with f16 copies for
//! decoding on the CPU), layer norm and Gemma's RMS norm.

use candle_core::{DType, Tensor, D};
use candle_nn::{Init, VarBuilder};

use crate::error::Result;
use crate::kernels::{fused, half_weights};

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

    /// As `CausalLm::to_dtype` casts it: in `dtype`, or unchanged (f32) when
    /// the model keeps f16 copies for decoding on the CPU.
    pub fn for_inference(&self, dtype: DType, half_rows: bool) -> Result<Self> {
        if half_rows {
            Ok(self.clone())
        } else {
            self.cast(dtype)
        }
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
        if half_rows {
            Ok(self.clone())
        } else {
            self.cast(dtype)
        }
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

/// A linear layer stored as PyTorch's `nn.Linear`: weight `[out, in]`.
#[derive(Debug, Clone)]
pub(crate) struct Linear {
    weight: Tensor,
    bias: Option<Tensor>,
    /// f16 copy of `weight` for decoding on the CPU (crate::kernels::half_weights).
    rows: Option<Tensor>,
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
            rows: None,
        })
    }

    pub fn cast(&self, dtype: DType) -> Result<Self> {
        Ok(Linear {
            weight: self.weight.to_dtype(dtype)?,
            bias: self.bias.as_ref().map(|b| b.to_dtype(dtype)).transpose()?,
            rows: None,
        })
    }

    pub fn with_half_rows(&self) -> Result<Self> {
        Ok(Linear {
            rows: Some(half_weights::rows_of(&self.weight)?),
            ..self.clone()
        })
    }

    /// In `dtype`, or f32 with an f16 copy for decoding on the CPU.
    pub fn for_inference(&self, dtype: DType, half_rows: bool) -> Result<Self> {
        if half_rows {
            self.with_half_rows()
        } else {
            self.cast(dtype)
        }
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let product = match &self.rows {
            Some(rows) if half_weights::streams(x) => half_weights::matmul(x, rows)?,
            _ => {
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
            }
        };
        Ok(match &self.bias {
            Some(b) => fused::add_trailing(&product, b)?,
            None => product,
        })
    }
}

/// Scores of queries `[b, h, t, d]` against keys `[b, kv, T, d]`, with the
/// query heads of a group sharing one key/value head (grouped-query
/// attention, `h = kv * group`, heads of a group adjacent as transformers'
/// `repeat_kv` lays them out): `[b, h, t, T]`, without copying the keys.
pub(crate) fn grouped_scores(q: &Tensor, k: &Tensor) -> Result<Tensor> {
    let (b, h, t, d) = q.dims4()?;
    let kv = k.dim(1)?;
    let total = k.dim(2)?;
    let kt = if k.device().is_cpu() {
        k.t()?
    } else {
        k.t()?.contiguous()?
    };
    if kv == h {
        return Ok(q.matmul(&kt)?);
    }
    let q = q.reshape((b, kv, (h / kv) * t, d))?;
    Ok(q.matmul(&kt)?.reshape((b, h, t, total))?)
}

/// Attention weights `[b, h, t, T]` times values `[b, kv, T, d]`, grouped as
/// in `grouped_scores`: `[b, h, t, d]`.
pub(crate) fn grouped_values(att: &Tensor, v: &Tensor) -> Result<Tensor> {
    let (b, h, t, total) = att.dims4()?;
    let (kv, d) = (v.dim(1)?, v.dim(3)?);
    if kv == h {
        return Ok(att.matmul(v)?);
    }
    let att = att.reshape((b, kv, (h / kv) * t, total))?;
    Ok(att.matmul(v)?.reshape((b, h, t, d))?)
}
