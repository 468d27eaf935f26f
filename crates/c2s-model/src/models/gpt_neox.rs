//! GPT-NeoX (Black et al. 2022), the Pythia models' architecture and so the
//! published C2S-Pythia models', weight-compatible with transformers'
//! `GPTNeoXForCausalLM`: fused per-head query_key_value, rotary embeddings
//! on part of each head, parallel (or sequential) residual, untied head.
//! candle-transformers has no GPT-NeoX, so it is written here.

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use serde_json::{Map, Value};

use crate::error::Result;
use crate::kernels::attention;
use crate::kernels::fused::GeluForm;
use crate::kernels::mask::Mask;
use crate::models::cache::{append, attention_mask, KvCache, LayerSlot};
use crate::models::config_reader::{ConfigReader, RawConfig};
use crate::models::layers::{embed, LayerNorm, Linear, INIT};
use crate::models::rotary::Rotary;

/// `config.json` of a GPT-NeoX model, in transformers 4's spelling (the
/// published folders': `rotary_pct`, `rotary_emb_base`) or 5's
/// (`rope_parameters`).
#[derive(Debug, Clone, PartialEq)]
pub struct GptNeoxConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    pub layer_norm_eps: f64,
    pub hidden_act: String,
    pub use_parallel_residual: bool,
    pub rotary_pct: f64,
    pub rope_theta: f64,
    pub attention_bias: bool,
    pub bos_token_id: Option<u32>,
    pub eos_token_id: Option<u32>,
    /// The file as read, written back unchanged when the model is saved.
    pub raw: RawConfig,
}

impl GptNeoxConfig {
    pub(crate) fn from_json(r: &ConfigReader) -> Result<Self> {
        let rope = r.rope()?;
        let cfg = GptNeoxConfig {
            vocab_size: r.usize("vocab_size")?,
            hidden_size: r.usize("hidden_size")?,
            num_hidden_layers: r.usize("num_hidden_layers")?,
            num_attention_heads: r.usize("num_attention_heads")?,
            intermediate_size: r.usize("intermediate_size")?,
            max_position_embeddings: r.usize_or("max_position_embeddings", 2048)?,
            layer_norm_eps: r.f64_or("layer_norm_eps", 1e-5)?,
            hidden_act: r.string_or("hidden_act", "gelu")?,
            use_parallel_residual: r.bool_or("use_parallel_residual", true)?,
            rotary_pct: rope
                .partial_rotary_factor
                .or(r.opt_f64("rotary_pct")?)
                .unwrap_or(0.25),
            rope_theta: rope
                .theta
                .or(r.opt_f64("rotary_emb_base")?)
                .unwrap_or(10000.0),
            attention_bias: r.bool_or("attention_bias", true)?,
            bos_token_id: r.first_id("bos_token_id")?,
            eos_token_id: r.first_id("eos_token_id")?,
            raw: r.raw().clone(),
        };
        r.check(
            cfg.num_attention_heads > 0 && cfg.hidden_size.is_multiple_of(cfg.num_attention_heads),
            "num_attention_heads",
            format!(
                "hidden_size {} is not divisible by num_attention_heads {}",
                cfg.hidden_size, cfg.num_attention_heads
            ),
        )?;
        r.check(
            cfg.rotary_dim().is_multiple_of(2) && cfg.rotary_pct > 0.0 && cfg.rotary_pct <= 1.0,
            "rotary_pct",
            format!(
                "rotary embeddings on {} of a head of {} features: needs an even number",
                cfg.rotary_dim(),
                cfg.head_dim()
            ),
        )?;
        r.check(
            matches!(
                cfg.hidden_act.as_str(),
                "gelu" | "gelu_new" | "gelu_fast" | "gelu_pytorch_tanh" | "relu"
            ),
            "hidden_act",
            format!("the activation `{}` is not supported", cfg.hidden_act),
        )?;
        Ok(cfg)
    }

    /// A new GPT-NeoX's config, as transformers 5 writes one.
    pub fn new(
        vocab_size: usize,
        context: usize,
        hidden: usize,
        layers: usize,
        heads: usize,
    ) -> Self {
        let raw: Map<String, Value> = serde_json::from_value(serde_json::json!({
            "architectures": ["GPTNeoXForCausalLM"],
            "model_type": "gpt_neox",
            "vocab_size": vocab_size,
            "hidden_size": hidden,
            "num_hidden_layers": layers,
            "num_attention_heads": heads,
            "intermediate_size": 4 * hidden,
            "max_position_embeddings": context,
            "layer_norm_eps": 1e-5,
            "hidden_act": "gelu",
            "use_parallel_residual": true,
            "rotary_pct": 0.25,
            "rotary_emb_base": 10000,
            "attention_bias": true,
            "tie_word_embeddings": false,
            "initializer_range": 0.02,
            "bos_token_id": 0,
            "eos_token_id": 0,
        }))
        .expect("an object");
        GptNeoxConfig::from_json(&ConfigReader::new("new config".into(), raw))
            .expect("a valid config")
    }

    pub(crate) fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    pub(crate) fn rotary_dim(&self) -> usize {
        (self.head_dim() as f64 * self.rotary_pct) as usize
    }
}

#[derive(Debug, Clone)]
struct Attention {
    query_key_value: Linear,
    dense: Linear,
    n_head: usize,
    head_dim: usize,
}

impl Attention {
    fn forward(
        &self,
        x: &Tensor,
        rotary: &Rotary,
        rope: &(Tensor, Tensor),
        mask: Option<&Mask>,
        cache: Option<&mut LayerSlot>,
    ) -> Result<Tensor> {
        let (b, t, e) = x.dims3()?;
        let d = self.head_dim;
        // Per head: query, key, value, each `head_dim` wide.
        let qkv = self
            .query_key_value
            .forward(x)?
            .reshape((b, t, self.n_head, 3 * d))?;
        let q = rotary.heads(&qkv, 0, d, Some(rope))?;
        let k = rotary.heads(&qkv, d, d, Some(rope))?;
        let v = rotary.heads(&qkv, 2 * d, d, None)?;
        let (k, v) = append(cache, k, v)?;
        let scale = 1.0 / (d as f64).sqrt();
        let y = attention::causal(&q, &k, &v, mask, scale, None)?
            .transpose(1, 2)?
            .reshape((b, t, e))?;
        self.dense.forward(&y)
    }
}

#[derive(Debug, Clone)]
struct Layer {
    input_layernorm: LayerNorm,
    post_attention_layernorm: LayerNorm,
    attention: Attention,
    dense_h_to_4h: Linear,
    dense_4h_to_h: Linear,
}

#[derive(Debug, Clone)]
pub struct GptNeox {
    pub config: GptNeoxConfig,
    embed_in: Tensor,
    layers: Vec<Layer>,
    final_layer_norm: LayerNorm,
    embed_out: Linear,
    rotary: Rotary,
}

impl GptNeox {
    /// Builds the model from `vb`, whose names follow transformers'
    /// (`gpt_neox.embed_in.weight`, ..., `embed_out.weight`).
    pub fn new(vb: VarBuilder, cfg: &GptNeoxConfig) -> Result<Self> {
        let g = vb.pp("gpt_neox");
        let (e, bias) = (cfg.hidden_size, cfg.attention_bias);
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| {
                let l = g.pp("layers").pp(i);
                Ok(Layer {
                    input_layernorm: LayerNorm::new(
                        l.pp("input_layernorm"),
                        e,
                        cfg.layer_norm_eps,
                    )?,
                    post_attention_layernorm: LayerNorm::new(
                        l.pp("post_attention_layernorm"),
                        e,
                        cfg.layer_norm_eps,
                    )?,
                    attention: Attention {
                        query_key_value: Linear::new(
                            l.pp("attention").pp("query_key_value"),
                            e,
                            3 * e,
                            bias,
                        )?,
                        dense: Linear::new(l.pp("attention").pp("dense"), e, e, bias)?,
                        n_head: cfg.num_attention_heads,
                        head_dim: cfg.head_dim(),
                    },
                    dense_h_to_4h: Linear::new(
                        l.pp("mlp").pp("dense_h_to_4h"),
                        e,
                        cfg.intermediate_size,
                        true,
                    )?,
                    dense_4h_to_h: Linear::new(
                        l.pp("mlp").pp("dense_4h_to_h"),
                        cfg.intermediate_size,
                        e,
                        true,
                    )?,
                })
            })
            .collect::<Result<_>>()?;
        Ok(GptNeox {
            config: cfg.clone(),
            embed_in: g
                .pp("embed_in")
                .get_with_hints((cfg.vocab_size, e), "weight", INIT)?,
            layers,
            final_layer_norm: LayerNorm::new(g.pp("final_layer_norm"), e, cfg.layer_norm_eps)?,
            embed_out: Linear::new(vb.pp("embed_out"), e, cfg.vocab_size, false)?,
            rotary: Rotary::new(
                cfg.rotary_dim(),
                cfg.rope_theta,
                cfg.max_position_embeddings,
                vb.device(),
            )?,
        })
    }

    pub fn device(&self) -> &Device {
        self.embed_in.device()
    }

    /// The dtype the model computes in (f32 where its matrices are f16 on
    /// the CPU).
    pub fn dtype(&self) -> DType {
        if crate::kernels::half_weights::is_half(&self.embed_in) {
            DType::F32
        } else {
            self.embed_in.dtype()
        }
    }

    /// The same model with its weights in `dtype`, or on the CPU with f16
    /// copies for decoding (see `CausalLm::to_dtype`).
    pub fn to_dtype(&self, dtype: DType, half_rows: bool) -> Result<GptNeox> {
        let lin = |l: &Linear| l.for_inference(dtype, half_rows);
        let norm = |n: &LayerNorm| n.for_inference(dtype, half_rows);
        Ok(GptNeox {
            config: self.config.clone(),
            embed_in: if half_rows {
                crate::kernels::half_weights::rows_of(&self.embed_in)?
            } else {
                self.embed_in.to_dtype(dtype)?
            },
            layers: self
                .layers
                .iter()
                .map(|l| {
                    Ok(Layer {
                        input_layernorm: norm(&l.input_layernorm)?,
                        post_attention_layernorm: norm(&l.post_attention_layernorm)?,
                        attention: Attention {
                            query_key_value: lin(&l.attention.query_key_value)?,
                            dense: lin(&l.attention.dense)?,
                            ..l.attention.clone()
                        },
                        dense_h_to_4h: lin(&l.dense_h_to_4h)?,
                        dense_4h_to_h: lin(&l.dense_4h_to_h)?,
                    })
                })
                .collect::<Result<_>>()?,
            final_layer_norm: norm(&self.final_layer_norm)?,
            embed_out: lin(&self.embed_out)?,
            rotary: self.rotary.clone(),
        })
    }

    /// The feed-forward block's first product and its activation.
    fn widen(&self, layer: &Layer, h: &Tensor) -> Result<Tensor> {
        let up = &layer.dense_h_to_4h;
        match self.config.hidden_act.as_str() {
            "gelu" => up.forward_then(h, Some(GeluForm::Erf)),
            "relu" => Ok(up.forward(h)?.relu()?),
            _ => up.forward_then(h, Some(GeluForm::Tanh)),
        }
    }

    /// Final hidden states `[b, t, hidden]` (see `CausalLm::hidden_states_at`).
    pub fn hidden_states_at(
        &self,
        ids: &Tensor,
        mut cache: Option<&mut KvCache>,
        padding: Option<&Tensor>,
        positions: Option<&Tensor>,
    ) -> Result<Tensor> {
        let (b, t) = ids.dims2()?;
        let past = cache.as_ref().map_or(0, |c| c.len());
        let mut x = embed(&self.embed_in, ids)?;
        let rope = self.rotary.tables(t, past, positions, x.dtype())?;
        let mask = attention_mask(b, t, past, past + t, padding, None, ids.device())?;
        let mut slots = cache
            .as_mut()
            .map(|c| c.slots(self.layers.len()).iter_mut());
        for layer in &self.layers {
            let slot = slots.as_mut().and_then(|s| s.next());
            let attn = layer.attention.forward(
                &layer.input_layernorm.forward(&x)?,
                &self.rotary,
                &rope,
                mask.as_ref(),
                slot,
            )?;
            let mlp = |h: &Tensor| -> Result<Tensor> {
                layer.dense_4h_to_h.forward(&self.widen(layer, h)?)
            };
            x = if self.config.use_parallel_residual {
                let m = mlp(&layer.post_attention_layernorm.forward(&x)?)?;
                ((&x + attn)? + m)?
            } else {
                let x = (&x + attn)?;
                let m = mlp(&layer.post_attention_layernorm.forward(&x)?)?;
                (x + m)?
            };
        }
        self.final_layer_norm.forward(&x)
    }

    pub fn logits(&self, hidden: &Tensor) -> Result<Tensor> {
        let logits = self.embed_out.forward(&hidden.contiguous()?)?;
        Ok(logits.to_dtype(DType::F32)?)
    }
}
