//! Hugging Face model folders: `config.json`, `model.safetensors`,
//! `generation_config.json`, read into trainable variables and written back
//! so that transformers loads them (`GPT2LMHeadModel.from_pretrained`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use candle_core::{DType, Device, Tensor};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{VarBuilder, VarMap};

use crate::error::{ModelError, Result};
use crate::models::causal_lm::CausalLm;
use crate::models::config::ModelConfig;
use crate::models::gpt2_config::Gpt2Config;

pub(crate) const CONFIG_JSON: &str = "config.json";
pub(crate) const WEIGHTS: &str = "model.safetensors";
pub(crate) const WEIGHTS_INDEX: &str = "model.safetensors.index.json";
pub(crate) const GENERATION_CONFIG_JSON: &str = "generation_config.json";

/// A model with its variables (for training and saving).
pub struct LoadedModel {
    pub model: CausalLm,
    pub vars: VarMap,
}

impl std::fmt::Debug for LoadedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedModel")
            .field("config", self.model.config())
            .finish_non_exhaustive()
    }
}

/// A new GPT-2 with its initialisation (as transformers does it), drawn
/// from a seeded generator so that CPU runs repeat exactly (candle's own CPU
/// random numbers cannot be seeded).
pub fn init_model(config: &Gpt2Config, device: &Device, seed: u64) -> Result<LoadedModel> {
    init_any(&ModelConfig::Gpt2(config.clone()), device, seed)
}

/// A new model of any family with transformers' initialisation for it
/// (normal 0.02; biases 0; layer norms 1; Gemma's RMS norms, stored as an
/// offset from 1, 0), seeded as `init_model`.
pub fn init_any(config: &ModelConfig, device: &Device, seed: u64) -> Result<LoadedModel> {
    use rand::SeedableRng;
    use rand_distr::{Distribution, Normal};
    let vars = VarMap::new();
    let vb = VarBuilder::from_varmap(&vars, DType::F32, device);
    let model = CausalLm::new(vb, config)?;
    let n_layer = config.n_layer();
    let gemma = config.family() == crate::models::config::Family::Gemma2;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let data = vars.data().lock().expect("not poisoned");
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    for name in names {
        let var = &data[name];
        let n = var.elem_count();
        let norm = name.contains("ln_") || name.contains("norm");
        let values: Vec<f32> = if name.ends_with(".bias") || (gemma && norm) {
            vec![0.0; n]
        } else if norm {
            vec![1.0; n]
        } else {
            let std = if name.contains("wpe") {
                0.01
            } else if name.ends_with("c_proj.weight") {
                0.02 / (2.0 * n_layer as f64).sqrt()
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

/// transformers' name for a checkpoint's tensor in our model, or `None` for
/// tensors that carry no weights of ours: a tied head, attention-mask and
/// rotary buffers that older transformers saved.
fn canonical_name(config: &ModelConfig, name: &str) -> Option<String> {
    let buffer = name.ends_with(".attn.bias") && !name.contains("c_attn")
        || name.ends_with(".attn.masked_bias")
        || name.ends_with(".attention.bias")
        || name.ends_with(".attention.masked_bias")
        || name.ends_with("rotary_emb.inv_freq");
    if buffer || (name == "lm_head.weight" && config.tied_head()) {
        return None;
    }
    // Checkpoints of GPT2Model (the Hub's "gpt2") have no "transformer." prefix.
    Some(match config {
        ModelConfig::Gpt2(_) if !name.starts_with("transformer.") => format!("transformer.{name}"),
        _ => name.to_string(),
    })
}

/// The weight files of a folder: `model.safetensors`, or the shards that
/// `model.safetensors.index.json` lists.
pub(crate) fn weight_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let single = dir.join(WEIGHTS);
    if single.is_file() {
        return Ok(vec![single]);
    }
    let index = dir.join(WEIGHTS_INDEX);
    if !index.is_file() {
        return Err(ModelError::bad(
            dir,
            "no model.safetensors (nor model.safetensors.index.json) in this model folder",
            "save the model with safetensors (transformers does by default); PyTorch .bin files are not read",
        ));
    }
    let text = std::fs::read_to_string(&index).map_err(|source| ModelError::Io {
        path: index.clone(),
        source,
    })?;
    let bad = |problem: String| {
        ModelError::bad(
            &index,
            problem,
            "the index does not belong to these shards; download the model again",
        )
    };
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| bad(format!("not JSON: {e}")))?;
    let map = json
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| bad("no weight_map".into()))?;
    let mut files: Vec<PathBuf> = Vec::new();
    for (name, file) in map {
        let file = file
            .as_str()
            .filter(|f| !f.contains('/') && !f.contains('\\') && !f.starts_with('.'))
            .ok_or_else(|| bad(format!("the shard of `{name}` is not a file name")))?;
        let path = dir.join(file);
        if !files.contains(&path) {
            if !path.is_file() {
                return Err(ModelError::bad(
                    &path,
                    format!("the shard holding `{name}` is missing"),
                    "the download is incomplete; download the model again",
                ));
            }
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// A model folder's config and tensors (indexed, not yet read).
struct Checkpoint {
    config: ModelConfig,
    files: Vec<PathBuf>,
    tensors: StoredTensors,
}

fn open_checkpoint(dir: &Path) -> Result<Checkpoint> {
    let config_path = dir.join(CONFIG_JSON);
    if !config_path.is_file() {
        return Err(ModelError::bad(
            dir,
            "no config.json in this model folder",
            "give a folder written by C2S Studio or by transformers' save_pretrained",
        ));
    }
    let config = ModelConfig::read(&config_path)?;
    let files = weight_files(dir)?;
    let tensors = StoredTensors::open(&files)?;
    Ok(Checkpoint {
        config,
        files,
        tensors,
    })
}

/// The tensors of safetensors files, each read when asked for with one
/// positioned read. Not memory-mapped (as candle's `MmapedSafetensors`
/// is): a mapping's pages count toward the process's memory until it is
/// unmapped, so reading an f32 checkpoint into f16 weights through one
/// peaks at 1.5 times the file; read this way, loading holds the weights
/// plus one tensor.
struct StoredTensors {
    files: Vec<(PathBuf, Mutex<std::fs::File>)>,
    /// Name -> its file, its dtype, shape and offsets, and where that
    /// file's data section starts.
    index: HashMap<String, (usize, safetensors::tensor::TensorInfo, u64)>,
}

impl StoredTensors {
    fn open(paths: &[PathBuf]) -> Result<Self> {
        use std::io::Read;
        let mut files = Vec::with_capacity(paths.len());
        let mut index = HashMap::new();
        for (i, path) in paths.iter().enumerate() {
            let bad = |problem: String| {
                ModelError::bad(
                    path,
                    format!("not a readable safetensors file: {problem}"),
                    "the file is damaged or incomplete; save or download the model again",
                )
            };
            let io = |source| ModelError::Io {
                path: path.clone(),
                source,
            };
            let mut file = std::fs::File::open(path).map_err(io)?;
            let file_len = file.metadata().map_err(io)?.len();
            let mut n = [0u8; 8];
            file.read_exact(&mut n)
                .map_err(|_| bad("shorter than its header".into()))?;
            let n = u64::from_le_bytes(n);
            // safetensors' own limit on headers.
            if n > 100_000_000 || 8 + n > file_len {
                return Err(bad(format!("a header of {n} bytes")));
            }
            let mut header = vec![0u8; n as usize];
            file.read_exact(&mut header).map_err(io)?;
            // Deserialising checks that the offsets tile the data section
            // and fit each tensor's shape and dtype.
            let meta: safetensors::tensor::Metadata =
                serde_json::from_slice(&header).map_err(|e| bad(e.to_string()))?;
            let data_start = 8 + n;
            for (name, info) in meta.tensors() {
                if data_start + info.data_offsets.1 as u64 > file_len {
                    return Err(bad(format!("`{name}` ends past the end of the file")));
                }
                index.insert(name, (i, info.clone(), data_start));
            }
            files.push((path.clone(), Mutex::new(file)));
        }
        Ok(StoredTensors { files, index })
    }

    /// Every tensor's name and shape.
    fn shapes(&self) -> impl Iterator<Item = (&String, &[usize])> {
        self.index
            .iter()
            .map(|(name, (_, info, _))| (name, info.shape.as_slice()))
    }

    fn load(&self, name: &str, dev: &Device) -> candle_core::Result<Tensor> {
        use candle_core::safetensors::Load;
        use std::io::{Read, Seek, SeekFrom};
        let (file, info, data_start) = self
            .index
            .get(name)
            .ok_or_else(|| candle_core::Error::Msg(format!("no tensor `{name}`")))?;
        let (start, end) = info.data_offsets;
        let mut bytes = vec![0u8; end - start];
        let (path, f) = &self.files[*file];
        let mut f = f.lock().expect("not poisoned");
        f.seek(SeekFrom::Start(data_start + start as u64))
            .and_then(|_| f.read_exact(&mut bytes))
            .map_err(|e| candle_core::Error::Msg(format!("{}: {e}", path.display())))?;
        drop(f);
        safetensors::tensor::TensorView::new(info.dtype, info.shape.clone(), &bytes)
            .map_err(|e| candle_core::Error::Msg(format!("`{name}`: {e}")))?
            .load(dev)
    }
}

/// Hands the checkpoint's tensors to the model as it asks for them, checking
/// each name and shape, so that a config and weights that disagree are an
/// error naming the tensor. With `vars`, each becomes a trainable variable.
struct CheckedTensors(Arc<CheckState>);

struct CheckState {
    /// The checkpoint: each tensor is read when the model asks for it, so
    /// loading holds the weights once.
    stored: StoredTensors,
    /// Our name -> the checkpoint's name and shape, of tensors not yet taken.
    by_name: Mutex<HashMap<String, (String, Vec<usize>)>>,
    problem: Mutex<Option<String>>,
    vars: Option<VarMap>,
    /// The dtype of matrices (rank 2 and more), when it differs from the
    /// one the model asks for: f16 matrices of an f32 model on the CPU,
    /// converted a tensor at a time so that no f32 copy of the whole model
    /// is ever held.
    matrices: Option<DType>,
}

impl CheckState {
    fn fail(&self, problem: String) -> candle_core::Error {
        let mut p = self.problem.lock().expect("not poisoned");
        if p.is_none() {
            *p = Some(problem.clone());
        }
        candle_core::Error::Msg(problem)
    }

    fn take(
        &self,
        shape: Option<&candle_core::Shape>,
        name: &str,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        let (stored_name, dims) = self
            .by_name
            .lock()
            .expect("not poisoned")
            .remove(name)
            .ok_or_else(|| self.fail(format!("the weight `{name}` is missing")))?;
        if let Some(s) = shape {
            if dims != s.dims() {
                return Err(self.fail(format!(
                    "the weight `{name}` has shape {dims:?} but config.json implies {:?}",
                    s.dims()
                )));
            }
        }
        let dtype = match self.matrices {
            Some(m) if dims.len() >= 2 => m,
            _ => dtype,
        };
        let t = self
            .stored
            .load(&stored_name, dev)
            .map_err(|e| self.fail(format!("cannot read the weight `{stored_name}`: {e}")))?
            .to_dtype(dtype)?;
        Ok(match &self.vars {
            Some(vars) => {
                let var = candle_core::Var::from_tensor(&t)?;
                let out = var.as_tensor().clone();
                vars.data()
                    .lock()
                    .expect("not poisoned")
                    .insert(name.to_string(), var);
                out
            }
            None => t,
        })
    }
}

impl SimpleBackend for CheckedTensors {
    fn get(
        &self,
        s: candle_core::Shape,
        name: &str,
        _: candle_nn::Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        self.0.take(Some(&s), name, dtype, dev)
    }

    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        self.0.take(None, name, dtype, dev)
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.0
            .by_name
            .lock()
            .expect("not poisoned")
            .contains_key(name)
    }
}

/// Builds the model of a folder with its weights in `dtype` on `device`
/// (its matrices in `matrices` if given); with `vars`, as trainable
/// variables held there too.
fn build(
    dir: &Path,
    device: &Device,
    dtype: DType,
    matrices: Option<DType>,
    vars: Option<VarMap>,
) -> Result<CausalLm> {
    let ckpt = open_checkpoint(dir)?;
    let shown = if ckpt.files.len() == 1 {
        ckpt.files[0].clone()
    } else {
        dir.join(WEIGHTS_INDEX)
    };
    let by_name: HashMap<String, (String, Vec<usize>)> = ckpt
        .tensors
        .shapes()
        .filter_map(|(name, shape)| {
            canonical_name(&ckpt.config, name).map(|n| (n, (name.clone(), shape.to_vec())))
        })
        .collect();
    let backend = Arc::new(CheckState {
        stored: ckpt.tensors,
        by_name: Mutex::new(by_name),
        problem: Mutex::new(None),
        vars,
        matrices,
    });
    let vb = VarBuilder::from_backend(
        Box::new(CheckedTensors(backend.clone())),
        dtype,
        device.clone(),
    );
    let built = CausalLm::new(vb, &ckpt.config);
    let problem = backend.problem.lock().expect("not poisoned").take();
    let model =
        match (built, problem) {
            (Ok(m), None) => m,
            (_, Some(p)) => return Err(ModelError::bad(
                &shown,
                p,
                "the weights and config.json come from different models, or the file is incomplete",
            )),
            (Err(e), None) => return Err(e),
        };
    let left = backend.by_name.lock().expect("not poisoned");
    let mut extra: Vec<&String> = left.keys().collect();
    extra.sort();
    if let Some(name) = extra.first() {
        return Err(ModelError::bad(
            &shown,
            format!(
                "the weight `{name}` is not part of a {} with this config",
                ckpt.config.family().name()
            ),
            "the weights and config.json come from different models",
        ));
    }
    Ok(model)
}

/// Loads a model folder onto `device` as trainable f32 variables, checking
/// that every weight is there with the shape the config asks for.
pub fn load_model(dir: &Path, device: &Device) -> Result<LoadedModel> {
    let vars = VarMap::new();
    let model = build(dir, device, DType::F32, None, Some(vars.clone()))?;
    Ok(LoadedModel { model, vars })
}

/// Loads a model folder for inference, its weights in `dtype` on `device`
/// (no trainable copies: about the weights' size in memory). f16 on the CPU
/// is f16 matrices computed with in f32 (`CausalLm::to_dtype`), read
/// straight into f16: about half the f32 model's size.
pub fn load_causal_lm(dir: &Path, device: &Device, dtype: DType) -> Result<CausalLm> {
    if device.is_cpu() && dtype == DType::F16 {
        return build(dir, device, DType::F32, Some(DType::F16), None)?.to_dtype(DType::F16);
    }
    build(dir, device, dtype, None, None)
}

/// Writes the model folder. Each file goes to a temporary name first and is
/// renamed into place, so an interrupted save never leaves a broken file.
pub fn save_model(dir: &Path, config: &ModelConfig, vars: &VarMap) -> Result<()> {
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
    if let Some(b) = config.bos_token_id() {
        gen.insert("bos_token_id".into(), b.into());
    }
    if let Some(e) = config.eos_token_id() {
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
