//! GPT-2 `config.json`, as Hugging Face transformers reads and writes it.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};

/// GPT-2's dropout probabilities (`Gpt2Config::dropout_rates`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DropoutRates {
    pub embd: f64,
    pub attn: f64,
    pub resid: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gpt2Config {
    pub vocab_size: usize,
    pub n_positions: usize,
    pub n_embd: usize,
    pub n_layer: usize,
    pub n_head: usize,
    #[serde(default)]
    pub n_inner: Option<usize>,
    #[serde(default = "default_eps")]
    pub layer_norm_epsilon: f64,
    #[serde(default = "default_activation")]
    pub activation_function: String,
    #[serde(default)]
    pub bos_token_id: Option<u32>,
    #[serde(default)]
    pub eos_token_id: Option<u32>,
    #[serde(default)]
    pub pad_token_id: Option<u32>,
    #[serde(default = "default_true")]
    pub tie_word_embeddings: bool,
    #[serde(default = "default_true")]
    pub scale_attn_weights: bool,
    #[serde(default)]
    pub scale_attn_by_inverse_layer_idx: bool,
    /// Every other field of the file, kept so a saved model round-trips.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

fn default_eps() -> f64 {
    1e-5
}
fn default_activation() -> String {
    "gelu_new".into()
}
fn default_true() -> bool {
    true
}

impl Gpt2Config {
    /// A new model's config, with the fields transformers expects.
    pub fn new(
        vocab_size: usize,
        n_positions: usize,
        n_embd: usize,
        n_layer: usize,
        n_head: usize,
    ) -> Self {
        let mut extra = serde_json::Map::new();
        extra.insert("model_type".into(), "gpt2".into());
        extra.insert(
            "architectures".into(),
            serde_json::json!(["GPT2LMHeadModel"]),
        );
        // Models trained from scratch here train without dropout, and say so
        // (transformers would apply its default, 0.1): on the demo, 0.1 named
        // held-out cells' types less well after 7 epochs and after 12
        // (README, "what was tried"), and cost 9 % more time (518 s against 476 s).
        for k in ["attn_pdrop", "embd_pdrop", "resid_pdrop"] {
            extra.insert(k.into(), 0.0.into());
        }
        extra.insert("initializer_range".into(), 0.02.into());
        Gpt2Config {
            vocab_size,
            n_positions,
            n_embd,
            n_layer,
            n_head,
            n_inner: None,
            layer_norm_epsilon: 1e-5,
            activation_function: "gelu_new".into(),
            bos_token_id: None,
            eos_token_id: None,
            pad_token_id: None,
            tie_word_embeddings: true,
            scale_attn_weights: true,
            scale_attn_by_inverse_layer_idx: false,
            extra,
        }
    }

    /// The dropout probabilities transformers trains with: of the
    /// embeddings, the attention weights and the residual branches
    /// (`embd_pdrop`, `attn_pdrop`, `resid_pdrop`; 0.1 each where unset,
    /// transformers' default).
    pub fn dropout_rates(&self) -> DropoutRates {
        let rate = |k: &str| self.extra.get(k).and_then(|v| v.as_f64()).unwrap_or(0.1);
        DropoutRates {
            embd: rate("embd_pdrop"),
            attn: rate("attn_pdrop"),
            resid: rate("resid_pdrop"),
        }
    }

    pub(crate) fn inner_dim(&self) -> usize {
        self.n_inner.unwrap_or(4 * self.n_embd)
    }

    pub(crate) fn head_dim(&self) -> usize {
        self.n_embd / self.n_head
    }

    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io {
            path: path.into(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// A config from the text of `path` (already read).
    pub fn parse(path: &Path, text: &str) -> Result<Self> {
        let cfg: Gpt2Config = serde_json::from_str(text).map_err(|e| {
            ModelError::bad(
                path,
                format!("not a GPT-2 config: {e}"),
                "give the config.json of a GPT-2 model (transformers' GPT2LMHeadModel)",
            )
        })?;
        if let Some(t) = cfg.extra.get("model_type").and_then(|v| v.as_str()) {
            if t != "gpt2" {
                return Err(ModelError::bad(
                    path,
                    format!("model_type is `{t}`, not `gpt2`"),
                    "C2S Studio trains and runs GPT-2 models",
                ));
            }
        }
        if cfg.n_head == 0 || !cfg.n_embd.is_multiple_of(cfg.n_head) {
            return Err(ModelError::bad(
                path,
                format!(
                    "n_embd {} is not divisible by n_head {}",
                    cfg.n_embd, cfg.n_head
                ),
                "fix the config",
            ));
        }
        if !matches!(
            cfg.activation_function.as_str(),
            "gelu_new" | "gelu" | "gelu_pytorch_tanh" | "relu"
        ) {
            return Err(ModelError::bad(
                path,
                format!("activation `{}` is not supported", cfg.activation_function),
                "use gelu_new (GPT-2's)",
            ));
        }
        for k in ["embd_pdrop", "attn_pdrop", "resid_pdrop"] {
            if let Some(v) = cfg.extra.get(k) {
                if !v.as_f64().is_some_and(|p| (0.0..1.0).contains(&p)) {
                    return Err(ModelError::bad(
                        path,
                        format!("{k} is {v}, not a dropout probability from 0 to below 1"),
                        "set it to 0 (no dropout) or GPT-2's 0.1",
                    ));
                }
            }
        }
        Ok(cfg)
    }

    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a config serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_with(key: &str, value: serde_json::Value) -> Result<Gpt2Config> {
        let mut cfg = Gpt2Config::new(10, 16, 8, 1, 2);
        cfg.extra.insert(key.into(), value);
        Gpt2Config::parse(Path::new("config.json"), &cfg.to_json())
    }

    #[test]
    fn a_dropout_that_is_not_a_probability_is_refused_naming_it() {
        for bad in [
            serde_json::json!(1.0),
            serde_json::json!(-0.1),
            serde_json::json!("0.1"),
        ] {
            let e = parse_with("attn_pdrop", bad).unwrap_err().to_string();
            assert!(e.contains("attn_pdrop") && e.contains("config.json"), "{e}");
        }
        let rates = parse_with("resid_pdrop", serde_json::json!(0.1))
            .unwrap()
            .dropout_rates();
        assert_eq!((rates.embd, rates.attn, rates.resid), (0.0, 0.0, 0.1));
    }
}
