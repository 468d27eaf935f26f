//! Gemma 2 (Gemma Team 2024), the C2S-Scale models' architecture,
//! weight-compatible with transformers' `Gemma2ForCausalLM`: RMS norms scaled
//! by (1 + weight) before and after attention and the MLP, GeGLU, grouped-query
//! attention with queries scaled by `query_pre_attn_scalar`^-0.5, soft-capped
//! attention scores and logits, sliding-window layers alternating with global
//! ones, embeddings scaled by sqrt(hidden_size), head tied to the embeddings.
//!
//! candle-transformers' gemma2.rs scales queries by head_dim^-0.5 (wrong for
//! the 27B model), slides the window on every layer and returns only the last
//! position's logits, so the model is written here.

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use serde_json::{Map, Value};

use crate::error::Result;
use crate::kernels::fused::GeluForm;
use crate::kernels::mask::Mask;
use crate::kernels::{attention, half_weights};
use crate::models::cache::{append, attention_mask, keep_last, KvCache, LayerSlot};
use crate::models::config_reader::{ConfigReader, RawConfig};
use crate::models::layers::{embed, Linear, RmsNorm, INIT};
use crate::models::rotary::Rotary;

/// `config.json` of a Gemma-2 model, in transformers 4's spelling (the
/// published folders': top-level `rope_theta`, no `layer_types`) or 5's.
#[derive(Debug, Clone, PartialEq)]
pub struct Gemma2Config {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: usize,
    pub head_dim: usize,
    pub max_position_embeddings: usize,
    pub rms_norm_eps: f64,
    pub rope_theta: f64,
    pub query_pre_attn_scalar: f64,
    pub attn_logit_softcapping: Option<f64>,
    pub final_logit_softcapping: Option<f64>,
    pub sliding_window: usize,
    /// Per layer: whether it attends over the sliding window only.
    pub sliding: Vec<bool>,
    pub hidden_activation: String,
    pub bos_token_id: Option<u32>,
    pub eos_token_id: Option<u32>,
    /// The file as read, written back unchanged when the model is saved.
    pub raw: RawConfig,
}

impl Gemma2Config {
    pub(crate) fn from_json(r: &ConfigReader) -> Result<Self> {
        let rope = r.rope()?;
        let layers = r.usize("num_hidden_layers")?;
        let sliding = match r.opt_strings("layer_types")? {
            Some(types) => {
                r.check(
                    types.len() == layers,
                    "layer_types",
                    format!("{} entries for {layers} layers", types.len()),
                )?;
                types
                    .iter()
                    .map(|t| match t.as_str() {
                        "sliding_attention" => Ok(true),
                        "full_attention" => Ok(false),
                        other => {
                            Err(r.error("layer_types", format!("unknown layer type `{other}`")))
                        }
                    })
                    .collect::<Result<_>>()?
            }
            // transformers 4: even layers slide, odd layers see everything.
            None => (0..layers).map(|i| i % 2 == 0).collect(),
        };
        let heads = r.usize("num_attention_heads")?;
        let head_dim = r.usize_or("head_dim", 256)?;
        let cfg = Gemma2Config {
            vocab_size: r.usize("vocab_size")?,
            hidden_size: r.usize("hidden_size")?,
            intermediate_size: r.usize("intermediate_size")?,
            num_hidden_layers: layers,
            num_attention_heads: heads,
            num_key_value_heads: r.usize_or("num_key_value_heads", heads)?,
            head_dim,
            max_position_embeddings: r.usize_or("max_position_embeddings", 8192)?,
            rms_norm_eps: r.f64_or("rms_norm_eps", 1e-6)?,
            rope_theta: rope.theta.or(r.opt_f64("rope_theta")?).unwrap_or(10000.0),
            query_pre_attn_scalar: r.f64_or("query_pre_attn_scalar", head_dim as f64)?,
            attn_logit_softcapping: r.opt_f64_or("attn_logit_softcapping", Some(50.0))?,
            final_logit_softcapping: r.opt_f64_or("final_logit_softcapping", Some(30.0))?,
            sliding_window: r.usize_or("sliding_window", 4096)?,
            sliding,
            hidden_activation: match r.opt_string("hidden_activation")? {
                Some(a) => a,
                None => r.string_or("hidden_act", "gelu_pytorch_tanh")?,
            },
            bos_token_id: r.first_id("bos_token_id")?,
            eos_token_id: r.first_id("eos_token_id")?,
            raw: r.raw().clone(),
        };
        r.check(
            cfg.num_key_value_heads > 0 && heads.is_multiple_of(cfg.num_key_value_heads),
            "num_key_value_heads",
            format!(
                "{heads} attention heads cannot share {} key/value heads",
                cfg.num_key_value_heads
            ),
        )?;
        r.check(
            cfg.head_dim.is_multiple_of(2),
            "head_dim",
            "rotary embeddings need an even head_dim".into(),
        )?;
        r.check(
            r.bool_or("tie_word_embeddings", true)?,
            "tie_word_embeddings",
            "Gemma-2 with an output head of its own is not supported (every released Gemma-2 ties it to the embeddings)".into(),
        )?;
        r.check(
            cfg.sliding_window > 0,
            "sliding_window",
            "the window must hold at least one position".into(),
        )?;
        r.check(
            matches!(
                cfg.hidden_activation.as_str(),
                "gelu_pytorch_tanh" | "gelu_new" | "gelu"
            ),
            "hidden_activation",
            format!(
                "the activation `{}` is not supported",
                cfg.hidden_activation
            ),
        )?;
        Ok(cfg)
    }

    /// A new Gemma-2's config, as transformers 5 writes one.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        vocab_size: usize,
        context: usize,
        hidden: usize,
        intermediate: usize,
        layers: usize,
        heads: usize,
        kv_heads: usize,
        head_dim: usize,
    ) -> Self {
        let raw: Map<String, Value> = serde_json::from_value(serde_json::json!({
            "architectures": ["Gemma2ForCausalLM"],
            "model_type": "gemma2",
            "vocab_size": vocab_size,
            "hidden_size": hidden,
            "intermediate_size": intermediate,
            "num_hidden_layers": layers,
            "num_attention_heads": heads,
            "num_key_value_heads": kv_heads,
            "head_dim": head_dim,
            "max_position_embeddings": context,
            "rms_norm_eps": 1e-6,
            "rope_theta": 10000.0,
            "query_pre_attn_scalar": head_dim,
            "attn_logit_softcapping": 50.0,
            "final_logit_softcapping": 30.0,
            "sliding_window": 4096,
            "hidden_activation": "gelu_pytorch_tanh",
            "tie_word_embeddings": true,
            "bos_token_id": 2,
            "eos_token_id": 1,
            "pad_token_id": 0,
        }))
        .expect("an object");
        Gemma2Config::from_json(&ConfigReader::new("new config".into(), raw))
            .expect("a valid config")
    }
}

#[derive(Debug, Clone)]
struct Layer {
    input_layernorm: RmsNorm,
    post_attention_layernorm: RmsNorm,
    pre_feedforward_layernorm: RmsNorm,
    post_feedforward_layernorm: RmsNorm,
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    o_proj: Linear,
    gate_proj: Linear,
    up_proj: Linear,
    down_proj: Linear,
    sliding: bool,
}

#[derive(Debug, Clone)]
pub struct Gemma2 {
    pub config: Gemma2Config,
    /// The embeddings and the tied head (f16 where the model keeps f16
    /// matrices on the CPU).
    embed_tokens: Tensor,
    layers: Vec<Layer>,
    norm: RmsNorm,
    rotary: Rotary,
}

/// `cap * tanh(x / cap)`: Gemma-2's soft limit on scores and logits.
fn soft_cap(x: &Tensor, cap: Option<f64>) -> Result<Tensor> {
    Ok(match cap {
        Some(c) if c > 0.0 => ((x / c)?.tanh()? * c)?,
        _ => x.clone(),
    })
}

impl Gemma2 {
    /// Builds the model from `vb`, whose names follow transformers'
    /// (`model.embed_tokens.weight`, `model.layers.0.self_attn.q_proj.weight`, ...).
    pub fn new(vb: VarBuilder, cfg: &Gemma2Config) -> Result<Self> {
        let m = vb.pp("model");
        let (e, d) = (cfg.hidden_size, cfg.head_dim);
        let (h, kv) = (cfg.num_attention_heads, cfg.num_key_value_heads);
        let eps = cfg.rms_norm_eps;
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| {
                let l = m.pp("layers").pp(i);
                let a = l.pp("self_attn");
                let f = l.pp("mlp");
                Ok(Layer {
                    input_layernorm: RmsNorm::new(l.pp("input_layernorm"), e, eps)?,
                    post_attention_layernorm: RmsNorm::new(
                        l.pp("post_attention_layernorm"),
                        e,
                        eps,
                    )?,
                    pre_feedforward_layernorm: RmsNorm::new(
                        l.pp("pre_feedforward_layernorm"),
                        e,
                        eps,
                    )?,
                    post_feedforward_layernorm: RmsNorm::new(
                        l.pp("post_feedforward_layernorm"),
                        e,
                        eps,
                    )?,
                    q_proj: Linear::new(a.pp("q_proj"), e, h * d, false)?,
                    k_proj: Linear::new(a.pp("k_proj"), e, kv * d, false)?,
                    v_proj: Linear::new(a.pp("v_proj"), e, kv * d, false)?,
                    o_proj: Linear::new(a.pp("o_proj"), h * d, e, false)?,
                    gate_proj: Linear::new(f.pp("gate_proj"), e, cfg.intermediate_size, false)?,
                    up_proj: Linear::new(f.pp("up_proj"), e, cfg.intermediate_size, false)?,
                    down_proj: Linear::new(f.pp("down_proj"), cfg.intermediate_size, e, false)?,
                    sliding: cfg.sliding[i],
                })
            })
            .collect::<Result<_>>()?;
        Ok(Gemma2 {
            config: cfg.clone(),
            embed_tokens: m.pp("embed_tokens").get_with_hints(
                (cfg.vocab_size, e),
                "weight",
                INIT,
            )?,
            layers,
            norm: RmsNorm::new(m.pp("norm"), e, eps)?,
            rotary: Rotary::new(d, cfg.rope_theta, cfg.max_position_embeddings, vb.device())?,
        })
    }

    pub fn device(&self) -> &Device {
        self.embed_tokens.device()
    }

    /// The dtype the model computes in (f32 where its matrices are f16 on
    /// the CPU).
    pub fn dtype(&self) -> DType {
        if half_weights::is_half(&self.embed_tokens) {
            DType::F32
        } else {
            self.embed_tokens.dtype()
        }
    }

    /// The same model with its weights in `dtype`, or on the CPU with f16
    /// copies for decoding (see `CausalLm::to_dtype`).
    pub fn to_dtype(&self, dtype: DType, half_rows: bool) -> Result<Gemma2> {
        let lin = |l: &Linear| l.for_inference(dtype, half_rows);
        let norm = |n: &RmsNorm| n.for_inference(dtype, half_rows);
        Ok(Gemma2 {
            config: self.config.clone(),
            embed_tokens: if half_rows {
                half_weights::rows_of(&self.embed_tokens)?
            } else {
                self.embed_tokens.to_dtype(dtype)?
            },
            layers: self
                .layers
                .iter()
                .map(|l| {
                    Ok(Layer {
                        input_layernorm: norm(&l.input_layernorm)?,
                        post_attention_layernorm: norm(&l.post_attention_layernorm)?,
                        pre_feedforward_layernorm: norm(&l.pre_feedforward_layernorm)?,
                        post_feedforward_layernorm: norm(&l.post_feedforward_layernorm)?,
                        q_proj: lin(&l.q_proj)?,
                        k_proj: lin(&l.k_proj)?,
                        v_proj: lin(&l.v_proj)?,
                        o_proj: lin(&l.o_proj)?,
                        gate_proj: lin(&l.gate_proj)?,
                        up_proj: lin(&l.up_proj)?,
                        down_proj: lin(&l.down_proj)?,
                        sliding: l.sliding,
                    })
                })
                .collect::<Result<_>>()?,
            norm: norm(&self.norm)?,
            rotary: self.rotary.clone(),
        })
    }

    fn attention(
        &self,
        l: &Layer,
        x: &Tensor,
        rope: &(Tensor, Tensor),
        mask: Option<&Mask>,
        mut cache: Option<&mut LayerSlot>,
    ) -> Result<Tensor> {
        let (b, t, _) = x.dims3()?;
        let c = &self.config;
        let (h, kv, d) = (c.num_attention_heads, c.num_key_value_heads, c.head_dim);
        let heads = |p: &Linear, n: usize, rope: Option<&(Tensor, Tensor)>| -> Result<Tensor> {
            self.rotary
                .heads(&p.forward(x)?.reshape((b, t, n, d))?, 0, d, rope)
        };
        let q = heads(&l.q_proj, h, Some(rope))?;
        let k = heads(&l.k_proj, kv, Some(rope))?;
        let v = heads(&l.v_proj, kv, None)?;
        let (k, v) = append(cache.as_deref_mut(), k, v)?;
        let q = (q * c.query_pre_attn_scalar.powf(-0.5))?;
        let y = attention::causal(&q, &k, &v, mask, 1.0, c.attn_logit_softcapping)?
            .transpose(1, 2)?
            .reshape((b, t, h * d))?;
        if l.sliding {
            keep_last(cache, c.sliding_window - 1)?;
        }
        l.o_proj.forward(&y)
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
        let c = &self.config;
        let past = cache.as_ref().map_or(0, |c| c.len());
        let dev = ids.device();
        let emb = embed(&self.embed_tokens, ids)?;
        // transformers rounds the scale to the weights' dtype first.
        let scale = Tensor::new(&[(c.hidden_size as f64).sqrt() as f32], dev)?
            .to_dtype(emb.dtype())?
            .to_dtype(DType::F32)?
            .to_vec1::<f32>()?[0];
        let mut x = (emb * scale as f64)?;
        let rope = self.rotary.tables(t, past, positions, x.dtype())?;
        let n_layers = self.layers.len();
        let mut slots = cache.as_mut().map(|c| c.slots(n_layers).iter_mut());
        // Keys each layer holds after this step's are added: all positions
        // for global layers, at most window - 1 earlier ones for sliding ones.
        let (mut full_mask, mut sliding_mask) = (None, None);
        for l in &self.layers {
            let slot = slots.as_mut().and_then(|s| s.next());
            let cached = slot
                .as_ref()
                .and_then(|s| s.as_ref())
                .map_or(0, |l| l.len());
            let keys = cached + t;
            let mask = if l.sliding {
                sliding_mask.get_or_insert(attention_mask(
                    b,
                    t,
                    past,
                    keys,
                    padding,
                    Some(c.sliding_window),
                    dev,
                )?)
            } else {
                full_mask.get_or_insert(attention_mask(b, t, past, keys, padding, None, dev)?)
            };
            let residual = x.clone();
            let a = self.attention(
                l,
                &l.input_layernorm.forward(&x)?,
                &rope,
                mask.as_ref(),
                slot,
            )?;
            x = (residual + l.post_attention_layernorm.forward(&a)?)?;
            let hdn = l.pre_feedforward_layernorm.forward(&x)?;
            let form = if c.hidden_activation == "gelu" {
                GeluForm::Erf
            } else {
                GeluForm::Tanh
            };
            let gate = l.gate_proj.forward_then(&hdn, Some(form))?;
            let f = l.down_proj.forward(&(gate * l.up_proj.forward(&hdn)?)?)?;
            x = (&x + l.post_feedforward_layernorm.forward(&f)?)?;
        }
        self.norm.forward(&x)
    }

    /// Logits through the tied head, soft-capped, in f32.
    pub fn logits(&self, hidden: &Tensor) -> Result<Tensor> {
        let logits = match &self.embed_tokens {
            rows if half_weights::is_half(rows) && hidden.dtype() == DType::F32 => {
                half_weights::matmul(hidden, rows)?
            }
            _ => {
                let dims = hidden.dims();
                let e = self.config.hidden_size;
                let m = hidden.elem_count() / e;
                let mut out = dims[..dims.len() - 1].to_vec();
                out.push(self.config.vocab_size);
                hidden
                    .contiguous()?
                    .reshape((m, e))?
                    .matmul(&self.embed_tokens.t()?)?
                    .reshape(out)?
            }
        };
        soft_cap(
            &logits.to_dtype(DType::F32)?,
            self.config.final_logit_softcapping,
        )
    }
}
