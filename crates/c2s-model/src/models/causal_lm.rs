//! One causal language model interface over the families: what prediction,
//! generation, embeddings, the chat and training use.

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;

use crate::error::{ModelError, Result};
use crate::models::cache::KvCache;
use crate::models::config::{Family, ModelConfig};
use crate::models::gemma2::Gemma2;
use crate::models::gpt2::Gpt2;
use crate::models::gpt_neox::GptNeox;

#[derive(Debug, Clone)]
enum Net {
    Gpt2(Gpt2),
    GptNeox(GptNeox),
    Gemma2(Gemma2),
}

/// A causal language model of any supported family.
#[derive(Debug, Clone)]
pub struct CausalLm {
    config: ModelConfig,
    net: Net,
    /// Whether the matrices are f16 on the CPU, computed with in f32.
    half_rows: bool,
}

impl CausalLm {
    /// Builds the model from `vb`, whose tensor names follow transformers'
    /// for the family. With a VarMap-backed builder, missing weights are
    /// created with the family's initialisation.
    pub fn new(vb: VarBuilder, config: &ModelConfig) -> Result<Self> {
        let net = match config {
            ModelConfig::Gpt2(c) => Net::Gpt2(Gpt2::new(vb, c)?),
            ModelConfig::GptNeox(c) => Net::GptNeox(GptNeox::new(vb, c)?),
            ModelConfig::Gemma2(c) => Net::Gemma2(Gemma2::new(vb, c)?),
        };
        Ok(CausalLm {
            config: config.clone(),
            net,
            half_rows: false,
        })
    }

    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    pub fn family(&self) -> Family {
        self.config.family()
    }

    pub fn n_layer(&self) -> usize {
        self.config.n_layer()
    }

    pub fn vocab_size(&self) -> usize {
        self.config.vocab_size()
    }

    pub fn hidden_size(&self) -> usize {
        self.config.hidden_size()
    }

    pub fn context_len(&self) -> usize {
        self.config.context_len()
    }

    pub fn device(&self) -> &Device {
        match &self.net {
            Net::Gpt2(m) => m.device(),
            Net::GptNeox(m) => m.device(),
            Net::Gemma2(m) => m.device(),
        }
    }

    pub fn dtype(&self) -> DType {
        match &self.net {
            Net::Gpt2(m) => m.dtype(),
            Net::GptNeox(m) => m.dtype(),
            Net::Gemma2(m) => m.dtype(),
        }
    }

    /// The same model with its weights in `dtype` (bf16 or f16 for inference
    /// on GPUs; norms and softmax still compute in f32, and logits come out
    /// in f32). Training keeps f32.
    ///
    /// On the CPU, f16 keeps the weight matrices in f16 only and computes in
    /// f32 (crate::kernels::half_weights): half the f32 model's memory, and
    /// a generated token, which reads every weight once, at half the bytes.
    /// Norms, softmax, the KV cache and logits stay f32.
    ///
    /// Gemma-2 overflows in f16 (its activations pass 65,504), so on a GPU
    /// it runs f16 requests in f32.
    pub fn to_dtype(&self, dtype: DType) -> Result<CausalLm> {
        let half_rows = dtype == DType::F16 && self.device().is_cpu();
        let dtype = match (&self.net, dtype) {
            (Net::Gemma2(_), DType::F16) if !half_rows => DType::F32,
            _ => dtype,
        };
        let net = match &self.net {
            Net::Gpt2(m) => Net::Gpt2(m.to_dtype(dtype)?),
            Net::GptNeox(m) => Net::GptNeox(m.to_dtype(dtype, half_rows)?),
            Net::Gemma2(m) => Net::Gemma2(m.to_dtype(dtype, half_rows)?),
        };
        Ok(CausalLm {
            config: self.config.clone(),
            net,
            half_rows,
        })
    }

    /// The same weights as one training step runs them: with the dropout
    /// the config sets, its masks drawn from `seed`. GPT-2 honours its
    /// `*_pdrop`; GPT-NeoX and Gemma-2 train without dropout, as the
    /// published models' configs set it (0).
    pub(crate) fn for_training(&self, seed: u64) -> CausalLm {
        let net = match &self.net {
            Net::Gpt2(m) => Net::Gpt2(m.for_training(seed)),
            other => other.clone(),
        };
        CausalLm {
            net,
            ..self.clone()
        }
    }

    /// Whether the matrices are f16 on the CPU, computed with in f32
    /// (to_dtype).
    pub fn has_half_rows(&self) -> bool {
        self.half_rows
    }

    /// Final hidden states `[b, t, hidden]` (after the last norm) of `ids`
    /// `[b, t]`, which follow the `cache.len()` positions already cached.
    /// `padding`: `[b, past + t]` with 1 for real tokens and 0 for padding.
    pub fn hidden_states(
        &self,
        ids: &Tensor,
        cache: Option<&mut KvCache>,
        padding: Option<&Tensor>,
    ) -> Result<Tensor> {
        self.hidden_states_at(ids, cache, padding, None)
    }

    /// As `hidden_states`, with explicit position ids `[b, t]` (left-padded
    /// batches: each row's real tokens count from 0); default: past..past + t.
    pub fn hidden_states_at(
        &self,
        ids: &Tensor,
        mut cache: Option<&mut KvCache>,
        padding: Option<&Tensor>,
        positions: Option<&Tensor>,
    ) -> Result<Tensor> {
        let (_, t) = ids.dims2()?;
        let past = cache.as_ref().map_or(0, |c| c.len());
        let context = self.context_len();
        if past + t > context {
            return Err(ModelError::Input(
                format!(
                    "{} tokens do not fit the model's context of {context}",
                    past + t
                ),
                "use shorter prompts, fewer genes per cell, or a model with a longer context"
                    .into(),
            ));
        }
        let h = match &self.net {
            Net::Gpt2(m) => m.hidden_states_at(ids, cache.as_deref_mut(), padding, positions)?,
            Net::GptNeox(m) => m.hidden_states_at(ids, cache.as_deref_mut(), padding, positions)?,
            Net::Gemma2(m) => m.hidden_states_at(ids, cache.as_deref_mut(), padding, positions)?,
        };
        if let Some(c) = cache {
            c.advance(t);
        }
        Ok(h)
    }

    /// Next-token logits `[.., vocab]` of hidden states `[.., hidden]`, in
    /// f32 whatever the weights' dtype.
    pub fn logits(&self, hidden: &Tensor) -> Result<Tensor> {
        match &self.net {
            Net::Gpt2(m) => m.logits(hidden),
            Net::GptNeox(m) => m.logits(hidden),
            Net::Gemma2(m) => m.logits(hidden),
        }
    }

    /// Logits `[b, t, vocab]` of every position.
    pub fn forward(&self, ids: &Tensor, cache: Option<&mut KvCache>) -> Result<Tensor> {
        let h = self.hidden_states(ids, cache, None)?;
        self.logits(&h)
    }
}
