//! `config.json`: which family a model folder holds (its `model_type`) and
//! that family's settings, in either spelling transformers has used.

use std::path::Path;

use serde_json::Value;

use crate::error::{ModelError, Result};
use crate::models::config_reader::{ConfigReader, RawConfig};
use crate::models::gemma2::Gemma2Config;
use crate::models::gpt2_config::Gpt2Config;
use crate::models::gpt_neox::GptNeoxConfig;

/// The model families C2S Studio runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    Gpt2,
    GptNeox,
    Gemma2,
}

impl Family {
    /// transformers' `model_type`.
    pub fn model_type(self) -> &'static str {
        match self {
            Family::Gpt2 => "gpt2",
            Family::GptNeox => "gpt_neox",
            Family::Gemma2 => "gemma2",
        }
    }

    /// The name people know it by.
    pub fn name(self) -> &'static str {
        match self {
            Family::Gpt2 => "GPT-2",
            Family::GptNeox => "GPT-NeoX (Pythia)",
            Family::Gemma2 => "Gemma 2",
        }
    }
}

/// A model's config, by family.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelConfig {
    Gpt2(Gpt2Config),
    GptNeox(GptNeoxConfig),
    Gemma2(Gemma2Config),
}

impl From<Gpt2Config> for ModelConfig {
    fn from(c: Gpt2Config) -> Self {
        ModelConfig::Gpt2(c)
    }
}

impl From<GptNeoxConfig> for ModelConfig {
    fn from(c: GptNeoxConfig) -> Self {
        ModelConfig::GptNeox(c)
    }
}

impl From<Gemma2Config> for ModelConfig {
    fn from(c: Gemma2Config) -> Self {
        ModelConfig::Gemma2(c)
    }
}

impl ModelConfig {
    /// Reads `config.json`; `model_type` picks the family (GPT-2 when absent,
    /// as in the oldest GPT-2 folders).
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io {
            path: path.into(),
            source,
        })?;
        let raw: RawConfig = serde_json::from_str(&text).map_err(|e| {
            ModelError::bad(
                path,
                format!("not a JSON object: {e}"),
                "give the config.json that transformers' save_pretrained wrote",
            )
        })?;
        let model_type = raw
            .get("model_type")
            .and_then(Value::as_str)
            .unwrap_or("gpt2")
            .to_string();
        match model_type.as_str() {
            "gpt2" => Ok(ModelConfig::Gpt2(Gpt2Config::parse(path, &text)?)),
            "gpt_neox" => Ok(ModelConfig::GptNeox(GptNeoxConfig::from_json(
                &ConfigReader::new(path.into(), raw),
            )?)),
            "gemma2" => Ok(ModelConfig::Gemma2(Gemma2Config::from_json(
                &ConfigReader::new(path.into(), raw),
            )?)),
            other => Err(ModelError::bad(
                path,
                format!("model_type is `{other}`, a family C2S Studio does not run"),
                "use a GPT-2, GPT-NeoX (Pythia, C2S-Pythia) or Gemma-2 (C2S-Scale) model",
            )),
        }
    }

    pub fn family(&self) -> Family {
        match self {
            ModelConfig::Gpt2(_) => Family::Gpt2,
            ModelConfig::GptNeox(_) => Family::GptNeox,
            ModelConfig::Gemma2(_) => Family::Gemma2,
        }
    }

    pub fn vocab_size(&self) -> usize {
        match self {
            ModelConfig::Gpt2(c) => c.vocab_size,
            ModelConfig::GptNeox(c) => c.vocab_size,
            ModelConfig::Gemma2(c) => c.vocab_size,
        }
    }

    pub fn n_layer(&self) -> usize {
        match self {
            ModelConfig::Gpt2(c) => c.n_layer,
            ModelConfig::GptNeox(c) => c.num_hidden_layers,
            ModelConfig::Gemma2(c) => c.num_hidden_layers,
        }
    }

    /// Width of the hidden states (and of embeddings).
    pub fn hidden_size(&self) -> usize {
        match self {
            ModelConfig::Gpt2(c) => c.n_embd,
            ModelConfig::GptNeox(c) => c.hidden_size,
            ModelConfig::Gemma2(c) => c.hidden_size,
        }
    }

    /// The longest sequence the model takes, in tokens.
    pub fn context_len(&self) -> usize {
        match self {
            ModelConfig::Gpt2(c) => c.n_positions,
            ModelConfig::GptNeox(c) => c.max_position_embeddings,
            ModelConfig::Gemma2(c) => c.max_position_embeddings,
        }
    }

    pub fn bos_token_id(&self) -> Option<u32> {
        match self {
            ModelConfig::Gpt2(c) => c.bos_token_id,
            ModelConfig::GptNeox(c) => c.bos_token_id,
            ModelConfig::Gemma2(c) => c.bos_token_id,
        }
    }

    pub fn eos_token_id(&self) -> Option<u32> {
        match self {
            ModelConfig::Gpt2(c) => c.eos_token_id,
            ModelConfig::GptNeox(c) => c.eos_token_id,
            ModelConfig::Gemma2(c) => c.eos_token_id,
        }
    }

    /// Whether the output head is the token embeddings (no weights of its own).
    pub(crate) fn tied_head(&self) -> bool {
        match self {
            ModelConfig::Gpt2(c) => c.tie_word_embeddings,
            ModelConfig::GptNeox(_) => false,
            ModelConfig::Gemma2(_) => true,
        }
    }

    /// Parameters, counted from the shapes (tied heads once).
    pub fn parameters(&self) -> usize {
        match self {
            ModelConfig::Gpt2(c) => {
                let (e, i) = (c.n_embd, c.inner_dim());
                c.vocab_size * e
                    + c.n_positions * e
                    + c.n_layer * (4 * e + 3 * e * e + 3 * e + e * e + e + e * i + i + i * e + e)
                    + 2 * e
            }
            ModelConfig::GptNeox(c) => {
                let (e, i) = (c.hidden_size, c.intermediate_size);
                let b = c.attention_bias as usize;
                2 * c.vocab_size * e
                    + c.num_hidden_layers
                        * (4 * e + 3 * e * e + 3 * e * b + e * e + e * b + e * i + i + i * e + e)
                    + 2 * e
            }
            ModelConfig::Gemma2(c) => {
                let (e, i, d) = (c.hidden_size, c.intermediate_size, c.head_dim);
                let (h, kv) = (c.num_attention_heads, c.num_key_value_heads);
                c.vocab_size * e
                    + c.num_hidden_layers * (4 * e + 2 * e * h * d + 2 * e * kv * d + 3 * e * i)
                    + e
            }
        }
    }

    /// The file's text, as transformers reads it.
    pub(crate) fn to_json(&self) -> String {
        match self {
            ModelConfig::Gpt2(c) => c.to_json(),
            ModelConfig::GptNeox(c) => {
                serde_json::to_string_pretty(&c.raw).expect("JSON serialises")
            }
            ModelConfig::Gemma2(c) => {
                serde_json::to_string_pretty(&c.raw).expect("JSON serialises")
            }
        }
    }
}
