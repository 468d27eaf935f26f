//! `config.json`: which family a model folder holds (its `model_type`) and
//! that family's settings, in either spelling transformers has used.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::error::{ModelError, Result};
use crate::models::gemma2::Gemma2Config;
use crate::models::gpt2_config::Gpt2Config;
use crate::models::gpt_neox::GptNeoxConfig;

/// A config file's fields as read.
pub type RawConfig = Map<String, Value>;

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
    pub fn tied_head(&self) -> bool {
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
    pub fn to_json(&self) -> String {
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

/// Rotary settings, from transformers 5's `rope_parameters` (or `rope_scaling`
/// of 4, which must name no scaling).
pub(crate) struct Rope {
    pub theta: Option<f64>,
    pub partial_rotary_factor: Option<f64>,
}

/// Reads fields of a config file with errors that name the file and field.
pub(crate) struct ConfigReader {
    path: PathBuf,
    raw: RawConfig,
}

impl ConfigReader {
    pub fn new(path: PathBuf, raw: RawConfig) -> Self {
        ConfigReader { path, raw }
    }

    pub fn raw(&self) -> &RawConfig {
        &self.raw
    }

    pub fn error(&self, field: &str, problem: String) -> ModelError {
        ModelError::bad(
            &self.path,
            format!("{field}: {problem}"),
            "give the config.json that came with the model's weights",
        )
    }

    pub fn check(&self, ok: bool, field: &str, problem: String) -> Result<()> {
        if ok {
            Ok(())
        } else {
            Err(self.error(field, problem))
        }
    }

    fn present(&self, key: &str) -> Option<&Value> {
        self.raw.get(key).filter(|v| !v.is_null())
    }

    pub fn usize(&self, key: &str) -> Result<usize> {
        match self.present(key) {
            None => Err(self.error(key, "missing".into())),
            Some(v) => v
                .as_u64()
                .filter(|&n| n > 0)
                .map(|n| n as usize)
                .ok_or_else(|| self.error(key, format!("`{v}` is not a positive whole number"))),
        }
    }

    pub fn usize_or(&self, key: &str, default: usize) -> Result<usize> {
        match self.present(key) {
            None => Ok(default),
            Some(_) => self.usize(key),
        }
    }

    pub fn opt_f64(&self, key: &str) -> Result<Option<f64>> {
        self.present(key)
            .map(|v| {
                v.as_f64()
                    .ok_or_else(|| self.error(key, format!("`{v}` is not a number")))
            })
            .transpose()
    }

    pub fn f64_or(&self, key: &str, default: f64) -> Result<f64> {
        Ok(self.opt_f64(key)?.unwrap_or(default))
    }

    /// A number that may be switched off with `null`; `default` when absent.
    pub fn opt_f64_or(&self, key: &str, default: Option<f64>) -> Result<Option<f64>> {
        match self.raw.get(key) {
            None => Ok(default),
            Some(Value::Null) => Ok(None),
            Some(_) => self.opt_f64(key),
        }
    }

    pub fn bool_or(&self, key: &str, default: bool) -> Result<bool> {
        match self.present(key) {
            None => Ok(default),
            Some(v) => v
                .as_bool()
                .ok_or_else(|| self.error(key, format!("`{v}` is not true or false"))),
        }
    }

    pub fn opt_string(&self, key: &str) -> Result<Option<String>> {
        self.present(key)
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| self.error(key, format!("`{v}` is not text")))
            })
            .transpose()
    }

    pub fn string_or(&self, key: &str, default: &str) -> Result<String> {
        Ok(self.opt_string(key)?.unwrap_or_else(|| default.into()))
    }

    pub fn opt_strings(&self, key: &str) -> Result<Option<Vec<String>>> {
        self.present(key)
            .map(|v| {
                v.as_array()
                    .and_then(|a| {
                        a.iter()
                            .map(|x| x.as_str().map(str::to_string))
                            .collect::<Option<Vec<_>>>()
                    })
                    .ok_or_else(|| self.error(key, format!("`{v}` is not a list of texts")))
            })
            .transpose()
    }

    /// A token id, or the first of a list of them (Gemma lists several ends).
    pub fn first_id(&self, key: &str) -> Result<Option<u32>> {
        let v = match self.present(key) {
            None => return Ok(None),
            Some(Value::Array(a)) => match a.first() {
                None => return Ok(None),
                Some(v) => v,
            },
            Some(v) => v,
        };
        v.as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| self.error(key, format!("`{v}` is not a token id")))
    }

    pub fn rope(&self) -> Result<Rope> {
        let params = self
            .present("rope_parameters")
            .or_else(|| self.present("rope_scaling"));
        let mut rope = Rope {
            theta: None,
            partial_rotary_factor: self.opt_f64("partial_rotary_factor")?,
        };
        if let Some(p) = params {
            let field = |k: &str| p.get(k).filter(|v| !v.is_null());
            let kind = field("rope_type")
                .or_else(|| field("type"))
                .and_then(Value::as_str)
                .unwrap_or("default");
            self.check(
                kind == "default",
                "rope_parameters",
                format!("rotary scaling `{kind}` is not supported"),
            )?;
            let num = |k: &str| -> Result<Option<f64>> {
                field(k)
                    .map(|v| {
                        v.as_f64().ok_or_else(|| {
                            self.error("rope_parameters", format!("{k} `{v}` is not a number"))
                        })
                    })
                    .transpose()
            };
            rope.theta = num("rope_theta")?;
            if let Some(f) = num("partial_rotary_factor")? {
                rope.partial_rotary_factor = Some(f);
            }
        }
        Ok(rope)
    }
}
