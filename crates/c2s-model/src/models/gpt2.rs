//! GPT-2 (Radford et al. 2019) on candle, weight-compatible with Hugging Face
//! `GPT2LMHeadModel`: the same tensor names, Conv1D layout (`[in, out]`
//! weights) and a language-model head tied to the token embeddings.
//!
//! candle-transformers has no GPT-2 (its bigcode model uses multi-query
//! attention and cannot train), so the blocks are written here. The bias
//! adds, GELU and the masked softmax are the fused kernels of
//! `kernels::fused`, each with its own backward pass, so training uses them
//! too.

use candle_core::{DType, Device, Tensor};
use candle_nn::{Init, VarBuilder};

use crate::error::Result;
use crate::kernels::fused::GeluForm;
use crate::kernels::mask::Mask;
use crate::kernels::{attention, fused, half_weights};
use crate::models::cache::{append, attention_mask, KvCache, LayerSlot};
use crate::models::dropout::Dropout;
use crate::models::gpt2_config::{DropoutRates, Gpt2Config};
use crate::models::layers::{embed, split_heads, LayerNorm, INIT};

/// GPT-2's Conv1D: a linear layer whose weight is stored `[in, out]`.
#[derive(Debug, Clone)]
struct Conv1D {
    /// `[in, out]`; where the model keeps f16 matrices on the CPU, the f16
    /// rows of the transpose (`[out, in]`) that crate::kernels::half_weights
    /// multiplies (Gpt2::to_dtype).
    weight: Tensor,
    bias: Tensor,
}

impl Conv1D {
    fn cast(&self, dtype: DType) -> Result<Self> {
        Ok(Conv1D {
            weight: self.weight.to_dtype(dtype)?,
            bias: self.bias.to_dtype(dtype)?,
        })
    }

    fn with_half_rows(&self) -> Result<Self> {
        Ok(Conv1D {
            weight: half_weights::rows_of(&self.weight.t()?)?,
            bias: self.bias.to_dtype(DType::F32)?,
        })
    }

    fn new(vb: VarBuilder, n_in: usize, n_out: usize) -> Result<Self> {
        Ok(Conv1D {
            weight: vb.get_with_hints((n_in, n_out), "weight", INIT)?,
            bias: vb.get_with_hints(n_out, "bias", Init::Const(0.0))?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_then(x, None)
    }

    /// `forward`, then `gelu` when given (as `layers::Linear::forward_then`).
    fn forward_then(&self, x: &Tensor, gelu: Option<GeluForm>) -> Result<Tensor> {
        if half_weights::is_half(&self.weight) && x.dtype() == DType::F32 {
            return Ok(half_weights::linear(
                x,
                &self.weight,
                Some(&self.bias),
                gelu,
            )?);
        }
        let y = fused::add_trailing(&x.broadcast_matmul(&self.weight)?, &self.bias)?;
        Ok(match gelu {
            Some(form) => fused::gelu(&y, form)?,
            None => y,
        })
    }
}

#[derive(Debug, Clone)]
struct Attention {
    c_attn: Conv1D,
    c_proj: Conv1D,
    n_head: usize,
    head_dim: usize,
    scale: f64,
}

impl Attention {
    fn cast(&self, dtype: DType) -> Result<Self> {
        Ok(Attention {
            c_attn: self.c_attn.cast(dtype)?,
            c_proj: self.c_proj.cast(dtype)?,
            ..self.clone()
        })
    }

    fn with_half_rows(&self) -> Result<Self> {
        Ok(Attention {
            c_attn: self.c_attn.with_half_rows()?,
            c_proj: self.c_proj.with_half_rows()?,
            ..self.clone()
        })
    }

    fn new(vb: VarBuilder, cfg: &Gpt2Config, layer: usize) -> Result<Self> {
        let e = cfg.n_embd;
        let head_dim = cfg.head_dim();
        let mut scale = if cfg.scale_attn_weights {
            1.0 / (head_dim as f64).sqrt()
        } else {
            1.0
        };
        if cfg.scale_attn_by_inverse_layer_idx {
            scale /= (layer + 1) as f64;
        }
        Ok(Attention {
            c_attn: Conv1D::new(vb.pp("c_attn"), e, 3 * e)?,
            c_proj: Conv1D::new(vb.pp("c_proj"), e, e)?,
            n_head: cfg.n_head,
            head_dim,
            scale,
        })
    }

    /// `mask`: additive, `[t, past + t]` (causal) or with padding `[b, 1, t, past + t]`.
    fn forward(
        &self,
        x: &Tensor,
        mask: Option<&Mask>,
        cache: Option<&mut LayerSlot>,
        drop: Option<&Training>,
    ) -> Result<Tensor> {
        let (b, t, e) = x.dims3()?;
        let n = self.n_head;
        // Queries, keys and values side by side: 3 x n heads.
        let qkv = self
            .c_attn
            .forward(x)?
            .reshape((b, t, 3 * n, self.head_dim))?;
        let (q, k, v) = (
            split_heads(&qkv, 0, n)?,
            split_heads(&qkv, n, n)?,
            split_heads(&qkv, 2 * n, n)?,
        );
        let (k, v) = append(cache, k, v)?;
        // Scores, mask and softmax in f32 whatever the weights' dtype.
        let y = match drop {
            None => attention::causal(&q, &k, &v, mask, self.scale, None)?,
            Some(d) => {
                // Dropout between the softmax and the mix: the steps apart.
                let scores = attention::scores(&q, &k, mask)?;
                let att =
                    fused::scaled_masked_softmax(&scores, self.scale, mask)?.to_dtype(v.dtype())?;
                attention::mix(&d.dropout.apply(&att, d.rates.attn)?, &v, mask)?
            }
        };
        let y = y.transpose(1, 2)?.reshape((b, t, e))?;
        self.c_proj.forward(&y)
    }
}

#[derive(Debug, Clone)]
struct Block {
    ln_1: LayerNorm,
    attn: Attention,
    ln_2: LayerNorm,
    c_fc: Conv1D,
    c_proj: Conv1D,
    relu: bool,
}

impl Block {
    fn cast(&self, dtype: DType) -> Result<Self> {
        Ok(Block {
            ln_1: self.ln_1.cast(dtype)?,
            attn: self.attn.cast(dtype)?,
            ln_2: self.ln_2.cast(dtype)?,
            c_fc: self.c_fc.cast(dtype)?,
            c_proj: self.c_proj.cast(dtype)?,
            relu: self.relu,
        })
    }

    fn with_half_rows(&self) -> Result<Self> {
        Ok(Block {
            ln_1: self.ln_1.cast(DType::F32)?,
            ln_2: self.ln_2.cast(DType::F32)?,
            attn: self.attn.with_half_rows()?,
            c_fc: self.c_fc.with_half_rows()?,
            c_proj: self.c_proj.with_half_rows()?,
            ..self.clone()
        })
    }

    fn new(vb: VarBuilder, cfg: &Gpt2Config, layer: usize) -> Result<Self> {
        let e = cfg.n_embd;
        Ok(Block {
            ln_1: LayerNorm::new(vb.pp("ln_1"), e, cfg.layer_norm_epsilon)?,
            attn: Attention::new(vb.pp("attn"), cfg, layer)?,
            ln_2: LayerNorm::new(vb.pp("ln_2"), e, cfg.layer_norm_epsilon)?,
            c_fc: Conv1D::new(vb.pp("mlp").pp("c_fc"), e, cfg.inner_dim())?,
            c_proj: Conv1D::new(vb.pp("mlp").pp("c_proj"), cfg.inner_dim(), e)?,
            relu: cfg.activation_function == "relu",
        })
    }

    fn forward(
        &self,
        x: &Tensor,
        mask: Option<&Mask>,
        cache: Option<&mut LayerSlot>,
        drop: Option<&Training>,
    ) -> Result<Tensor> {
        let resid = |branch: Tensor| -> Result<Tensor> {
            match drop {
                Some(d) => d.dropout.apply(&branch, d.rates.resid),
                None => Ok(branch),
            }
        };
        let attn = self
            .attn
            .forward(&self.ln_1.forward(x)?, mask, cache, drop)?;
        let x = (x + resid(attn)?)?;
        let h = self.ln_2.forward(&x)?;
        // GPT-2's gelu_new is the tanh approximation, candle's `gelu`.
        let h = if self.relu {
            self.c_fc.forward(&h)?.relu()?
        } else {
            self.c_fc.forward_then(&h, Some(GeluForm::Tanh))?
        };
        Ok((&x + resid(self.c_proj.forward(&h)?)?)?)
    }
}

/// Dropout as a training pass applies it (`Gpt2::for_training`).
#[derive(Debug, Clone)]
struct Training {
    dropout: Dropout,
    rates: DropoutRates,
}

/// GPT-2 with its tied language-model head.
#[derive(Debug, Clone)]
pub struct Gpt2 {
    pub config: Gpt2Config,
    /// The token embeddings and the tied head (f16 where the model keeps f16
    /// matrices on the CPU).
    wte: Tensor,
    wpe: Tensor,
    blocks: Vec<Block>,
    ln_f: LayerNorm,
    /// Set on the copy a training step runs (`for_training`).
    training: Option<Training>,
}

impl Gpt2 {
    /// Builds the model from `vb`, whose names follow transformers'
    /// (`transformer.wte.weight`, ...). With a VarMap-backed builder, missing
    /// weights are created with GPT-2's initialisation.
    pub fn new(vb: VarBuilder, config: &Gpt2Config) -> Result<Self> {
        let t = vb.pp("transformer");
        let wte = t
            .pp("wte")
            .get_with_hints((config.vocab_size, config.n_embd), "weight", INIT)?;
        let wpe = t.pp("wpe").get_with_hints(
            (config.n_positions, config.n_embd),
            "weight",
            Init::Randn {
                mean: 0.0,
                stdev: 0.01,
            },
        )?;
        let blocks = (0..config.n_layer)
            .map(|i| Block::new(t.pp("h").pp(i), config, i))
            .collect::<Result<_>>()?;
        let ln_f = LayerNorm::new(t.pp("ln_f"), config.n_embd, config.layer_norm_epsilon)?;
        Ok(Gpt2 {
            config: config.clone(),
            wte,
            wpe,
            blocks,
            ln_f,
            training: None,
        })
    }

    pub fn device(&self) -> &Device {
        self.wte.device()
    }

    /// The same model with its weights in `dtype` (bf16 or f16 for inference
    /// on GPUs; layer norms and softmax still compute in f32, and logits come
    /// out in f32). Training keeps f32.
    ///
    /// On the CPU, f16 keeps the weight matrices (the blocks' and the
    /// embeddings with the tied head) in f16 only and computes in f32
    /// (crate::kernels::half_weights): half the f32 model's memory, and a
    /// generated token, which reads every weight once, at half the bytes.
    pub fn to_dtype(&self, dtype: DType) -> Result<Gpt2> {
        if dtype == DType::F16 && self.device().is_cpu() {
            return Ok(Gpt2 {
                config: self.config.clone(),
                wte: half_weights::rows_of(&self.wte)?,
                wpe: self.wpe.to_dtype(DType::F32)?,
                blocks: self
                    .blocks
                    .iter()
                    .map(Block::with_half_rows)
                    .collect::<Result<_>>()?,
                ln_f: self.ln_f.cast(DType::F32)?,
                training: None,
            });
        }
        Ok(Gpt2 {
            config: self.config.clone(),
            wte: self.wte.to_dtype(dtype)?,
            wpe: self.wpe.to_dtype(dtype)?,
            blocks: self
                .blocks
                .iter()
                .map(|b| b.cast(dtype))
                .collect::<Result<_>>()?,
            ln_f: self.ln_f.cast(dtype)?,
            training: None,
        })
    }

    /// The same weights with dropout as the config sets it, masks drawn
    /// from `seed`: what one training step runs.
    pub(crate) fn for_training(&self, seed: u64) -> Gpt2 {
        Gpt2 {
            training: Some(Training {
                dropout: Dropout::seeded(seed),
                rates: self.config.dropout_rates(),
            }),
            ..self.clone()
        }
    }

    /// The dtype the model computes in (f32 where its matrices are f16 on
    /// the CPU).
    pub fn dtype(&self) -> DType {
        if half_weights::is_half(&self.wte) {
            DType::F32
        } else {
            self.wte.dtype()
        }
    }

    /// Final hidden states `[b, t, n_embd]` (see `CausalLm::hidden_states_at`).
    pub fn hidden_states_at(
        &self,
        ids: &Tensor,
        cache: Option<&mut KvCache>,
        padding: Option<&Tensor>,
        positions: Option<&Tensor>,
    ) -> Result<Tensor> {
        let (b, t) = ids.dims2()?;
        let past = cache.as_ref().map_or(0, |c| c.len());
        let dev = ids.device();
        let tokens = embed(&self.wte, ids)?;
        let x = match positions {
            None => {
                let pos = Tensor::arange(past as u32, (past + t) as u32, dev)?;
                fused::add_trailing(&tokens, &self.wpe.index_select(&pos, 0)?)?
            }
            Some(p) => {
                (tokens
                    + self.wpe.index_select(&p.flatten_all()?, 0)?.reshape((
                        b,
                        t,
                        self.config.n_embd,
                    ))?)?
            }
        };
        let mask = attention_mask(b, t, past, past + t, padding, None, dev)?;
        let drop = self.training.as_ref();
        let mut x = match drop {
            Some(d) => d.dropout.apply(&x, d.rates.embd)?,
            None => x,
        };
        let mut slots = cache.map(|c| c.slots(self.blocks.len()).iter_mut());
        for blk in &self.blocks {
            let slot = slots.as_mut().and_then(|s| s.next());
            x = blk.forward(&x, mask.as_ref(), slot, drop)?;
        }
        self.ln_f.forward(&x)
    }

    /// Next-token logits `[b, t, vocab]`, in f32 whatever the weights' dtype.
    pub fn logits(&self, hidden: &Tensor) -> Result<Tensor> {
        // CUDA's matrix product refuses a strided view (the last position of
        // a batch, say); the CPU's takes it. A contiguous tensor is not copied.
        let logits = if half_weights::is_half(&self.wte) && hidden.dtype() == DType::F32 {
            half_weights::matmul(hidden, &self.wte)?
        } else {
            hidden.contiguous()?.broadcast_matmul(&self.wte.t()?)?
        };
        Ok(if logits.dtype() == DType::F32 {
            logits
        } else {
            logits.to_dtype(DType::F32)?
        })
    }
}
