//! Reading a config.json's fields with errors that name the file and the
//! field, in either spelling transformers has used: shared by every
//! family's config.

use std::path::PathBuf;

use serde_json::{Map, Value};

use crate::error::{ModelError, Result};

/// A config file's fields as read.
pub type RawConfig = Map<String, Value>;

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
