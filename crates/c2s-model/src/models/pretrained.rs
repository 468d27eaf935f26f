//! The pretrained model a run fine-tunes: a local Hugging Face folder, or a
//! Hub id (e.g. `gpt2`, `openai-community/gpt2-medium`, a published C2S
//! model) already in the Hugging Face cache. Nothing here downloads: a Hub
//! model not in the cache is `ModelError::NotDownloaded`, and the model
//! store's download fetches it, with progress, cancel, resume and hash
//! checks, the licence asked first (`c2s models download`, the app's model
//! manager, or `c2s train`, which downloads a base it lacks once the dataset
//! is checked).

use std::path::{Path, PathBuf};

use crate::error::{ModelError, Result};
use crate::hub::{catalogue, ModelStore};

/// The files a model folder needs besides its weights (`model.safetensors`,
/// or shards and their index).
const FILES: [&str; 2] = ["config.json", "tokenizer.json"];

/// The model fine-tuned when a run names none.
pub(crate) const DEFAULT_BASE: &str = "gpt2";

const HINT: &str = "give a Hugging Face model folder or a Hub id such as gpt2";

/// A folder holding the pretrained model `base`: `base` itself when it is a
/// folder, else the downloaded Hub model of that id (a published one only
/// once its licence is accepted).
pub fn resolve(store: &ModelStore, base: &str) -> Result<PathBuf> {
    let path = Path::new(base);
    if path.is_dir() {
        check_folder(path)?;
        return Ok(path.to_path_buf());
    }
    if path.exists() {
        return Err(ModelError::bad(path, "not a model folder", HINT));
    }
    if !is_hub_id(base) {
        return Err(ModelError::bad(path, "no such folder", HINT));
    }
    if catalogue::find(base).is_some() {
        return store.model_for_use(base);
    }
    let dir = store
        .local_folder(base)
        .ok_or_else(|| ModelError::NotDownloaded { id: base.into() })?;
    check_folder(&dir)?;
    Ok(dir)
}

/// Hub ids are `name` or `owner/name`; anything else is a path.
fn is_hub_id(base: &str) -> bool {
    !base.is_empty()
        && !base.starts_with(['.', '/', '~'])
        && base.matches('/').count() <= 1
        && !base.contains('\\')
}

fn check_folder(dir: &Path) -> Result<()> {
    for f in FILES {
        if !dir.join(f).is_file() {
            return Err(ModelError::bad(
                dir.join(f),
                "missing",
                "a pretrained model folder needs config.json, tokenizer.json and model.safetensors (save_pretrained writes them)",
            ));
        }
    }
    crate::models::weights::weight_files(dir).map(|_| ())
}
