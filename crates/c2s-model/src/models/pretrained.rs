//! Pretrained GPT-2 for fine-tuning: a local Hugging Face folder, or a Hub id
//! (e.g. `gpt2`, `openai-community/gpt2-medium`) fetched once into the
//! Hugging Face cache with hf-hub.

use std::path::{Path, PathBuf};

use crate::error::{ModelError, Result};

/// The files a GPT-2 folder needs.
pub const FILES: [&str; 3] = ["config.json", "model.safetensors", "tokenizer.json"];

/// A folder holding a pretrained model: `base` itself when it is a folder,
/// else the Hub model of that id (downloaded when not cached).
pub fn resolve(base: &str) -> Result<PathBuf> {
    let path = Path::new(base);
    if path.is_dir() {
        check_folder(path)?;
        return Ok(path.to_path_buf());
    }
    if path.exists() {
        return Err(ModelError::bad(
            path,
            "not a model folder",
            "give a Hugging Face model folder or a Hub id such as gpt2",
        ));
    }
    // Hub ids are `name` or `owner/name`; anything else is a folder that is not there.
    if base.starts_with(['.', '/', '~']) || base.matches('/').count() > 1 || base.contains('\\') {
        return Err(ModelError::bad(
            path,
            "no such folder",
            "give a Hugging Face model folder or a Hub id such as gpt2",
        ));
    }
    // Published C2S models come through the model store: licence first.
    if crate::hub::catalogue::find(base).is_some() {
        return crate::hub::ModelStore::from_env().model_for_use(base);
    }
    let api = hf_hub::api::sync::ApiBuilder::from_env()
        .with_progress(true)
        .build()
        .map_err(|e| {
            ModelError::Input(
                format!("cannot use the Hugging Face Hub: {e}"),
                "give a local model folder instead".into(),
            )
        })?;
    let repo = api.model(base.to_string());
    let mut dir = None;
    for f in FILES {
        let p = repo.get(f).map_err(|e| {
            ModelError::Input(
                format!("cannot fetch {f} of `{base}` from the Hugging Face Hub: {e}"),
                "check the id and the network, or give a local model folder (config.json, model.safetensors, tokenizer.json)".into(),
            )
        })?;
        dir = p.parent().map(Path::to_path_buf);
    }
    let dir = dir.expect("at least one file");
    check_folder(&dir)?;
    Ok(dir)
}

fn check_folder(dir: &Path) -> Result<()> {
    for f in FILES {
        if !dir.join(f).is_file() {
            return Err(ModelError::bad(
                dir.join(f),
                "missing",
                "a pretrained model folder needs config.json, model.safetensors and tokenizer.json (save_pretrained writes them)",
            ));
        }
    }
    Ok(())
}
