//! Hugging Face model folders: `config.json`, `model.safetensors`,
//! `generation_config.json`, read into trainable variables and written back
//! so that transformers loads them (`GPT2LMHeadModel.from_pretrained`).

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};

use crate::config::Gpt2Config;
use crate::error::{ModelError, Result};
use crate::gpt2::Gpt2;

pub const CONFIG_JSON: &str = "config.json";
pub const WEIGHTS: &str = "model.safetensors";
pub const GENERATION_CONFIG_JSON: &str = "generation_config.json";

/// A model with its variables (for training and saving).
pub struct LoadedModel {
    pub model: Gpt2,
    pub vars: VarMap,
}

impl std::fmt::Debug for LoadedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedModel")
            .field("config", &self.model.config)
            .finish_non_exhaustive()
    }
}

/// A new model with GPT-2's initialisation (as transformers does it), drawn
/// from a seeded generator so that CPU runs repeat exactly (candle's own CPU
/// random numbers cannot be seeded).
pub fn init_model(config: &Gpt2Config, device: &Device, seed: u64) -> Result<LoadedModel> {
    use rand::SeedableRng;
    use rand_distr::{Distribution, Normal};
    let vars = VarMap::new();
    let vb = VarBuilder::from_varmap(&vars, DType::F32, device);
    let model = Gpt2::new(vb, config)?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let data = vars.data().lock().expect("not poisoned");
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    for name in names {
        let var = &data[name];
        let n = var.elem_count();
        let values: Vec<f32> = if name.ends_with(".bias") {
            vec![0.0; n]
        } else if name.contains("ln_") {
            vec![1.0; n]
        } else {
            let std = if name.contains("wpe") {
                0.01
            } else if name.ends_with("c_proj.weight") {
                0.02 / (2.0 * config.n_layer as f64).sqrt()
            } else {
                0.02
            };
            let normal = Normal::new(0.0, std).expect("a valid deviation");
            (0..n).map(|_| normal.sample(&mut rng) as f32).collect()
        };
        var.set(&Tensor::from_vec(values, var.shape(), device)?)?;
    }
    drop(data);
    Ok(LoadedModel { model, vars })
}

/// transformers' names for a tensor in a GPT-2 checkpoint, or `None` for
/// tensors that carry no weights of ours (the tied head, old attention buffers).
fn canonical_name(name: &str) -> Option<String> {
    if name == "lm_head.weight"
        || name.ends_with(".attn.bias") && !name.contains("c_attn")
        || name.ends_with(".attn.masked_bias")
    {
        return None;
    }
    // Checkpoints of GPT2Model (the Hub's "gpt2") have no "transformer." prefix.
    Some(if name.starts_with("transformer.") {
        name.to_string()
    } else {
        format!("transformer.{name}")
    })
}

/// Loads a model folder onto `device`, checking that every weight is there
/// with the shape the config asks for.
pub fn load_model(dir: &Path, device: &Device) -> Result<LoadedModel> {
    let config_path = dir.join(CONFIG_JSON);
    if !config_path.is_file() {
        return Err(ModelError::bad(
            dir,
            "no config.json in this model folder",
            "give a folder written by C2S Studio or by transformers' save_pretrained",
        ));
    }
    let config = Gpt2Config::read(&config_path)?;
    let weights_path = dir.join(WEIGHTS);
    if !weights_path.is_file() {
        return Err(ModelError::bad(
            dir,
            "no model.safetensors in this model folder",
            "save the model with safetensors (transformers does by default); PyTorch .bin files are not read",
        ));
    }
    let tensors = candle_core::safetensors::load(&weights_path, device).map_err(|e| {
        ModelError::bad(
            &weights_path,
            format!("not a readable safetensors file: {e}"),
            "the file is damaged; save the model again",
        )
    })?;
    let mut by_name: HashMap<String, Tensor> = HashMap::new();
    for (name, t) in tensors {
        if let Some(n) = canonical_name(&name) {
            by_name.insert(n, t.to_dtype(DType::F32)?);
        }
    }
    // Every variable is overwritten below, so candle's quick unseeded
    // initialisation is enough here.
    let vars = VarMap::new();
    let model = Gpt2::new(VarBuilder::from_varmap(&vars, DType::F32, device), &config)?;
    let loaded = LoadedModel { model, vars };
    let vars = loaded.vars.data().lock().expect("not poisoned");
    let mut names: Vec<&String> = vars.keys().collect();
    names.sort();
    for name in names {
        let var = &vars[name];
        let t = by_name.remove(name).ok_or_else(|| {
            ModelError::bad(
                &weights_path,
                format!("the weight `{name}` is missing"),
                "the weights do not belong to this config.json, or the file is incomplete",
            )
        })?;
        if t.dims() != var.dims() {
            return Err(ModelError::bad(
                &weights_path,
                format!(
                    "the weight `{name}` has shape {:?} but config.json implies {:?}",
                    t.dims(),
                    var.dims()
                ),
                "the weights and config.json come from different models",
            ));
        }
        var.set(&t)?;
    }
    drop(vars);
    if let Some(extra) = by_name.keys().next() {
        return Err(ModelError::bad(
            &weights_path,
            format!("the weight `{extra}` is not part of a GPT-2 with this config"),
            "the weights and config.json come from different models",
        ));
    }
    Ok(loaded)
}

/// Writes the model folder. Each file goes to a temporary name first and is
/// renamed into place, so an interrupted save never leaves a broken file.
pub fn save_model(dir: &Path, config: &Gpt2Config, vars: &VarMap) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| ModelError::Io {
        path: dir.into(),
        source,
    })?;
    let data = vars.data().lock().expect("not poisoned");
    let mut tensors: Vec<(String, Tensor)> = data
        .iter()
        .map(|(k, v)| Ok((k.clone(), v.as_tensor().contiguous()?)))
        .collect::<Result<_>>()?;
    drop(data);
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    // transformers refuses safetensors files without format metadata.
    let meta = HashMap::from([("format".to_string(), "pt".to_string())]);
    let weights_tmp = dir.join(format!("{WEIGHTS}.tmp"));
    safetensors::serialize_to_file(
        tensors.iter().map(|(k, t)| (k.as_str(), t)),
        Some(meta),
        &weights_tmp,
    )
    .map_err(|e| {
        ModelError::bad(
            &weights_tmp,
            format!("cannot write weights: {e}"),
            "check free disk space and permissions",
        )
    })?;
    let write = |name: &str, text: String| -> Result<()> {
        let tmp = dir.join(format!("{name}.tmp"));
        std::fs::write(&tmp, text).map_err(|source| ModelError::Io {
            path: tmp.clone(),
            source,
        })?;
        std::fs::rename(&tmp, dir.join(name)).map_err(|source| ModelError::Io {
            path: dir.join(name),
            source,
        })
    };
    let mut gen = serde_json::Map::new();
    if let Some(b) = config.bos_token_id {
        gen.insert("bos_token_id".into(), b.into());
    }
    if let Some(e) = config.eos_token_id {
        gen.insert("eos_token_id".into(), e.into());
    }
    std::fs::rename(&weights_tmp, dir.join(WEIGHTS)).map_err(|source| ModelError::Io {
        path: dir.join(WEIGHTS),
        source,
    })?;
    write(CONFIG_JSON, config.to_json())?;
    write(
        GENERATION_CONFIG_JSON,
        serde_json::to_string_pretty(&gen).expect("json"),
    )?;
    Ok(())
}
