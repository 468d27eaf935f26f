//! A model folder described before it is used: its family, size and what it
//! can be asked, without loading its weights.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::catalogue::{self, CatalogueEntry};
use crate::error::{ModelError, Result};
use crate::models::config::{Family, ModelConfig};
use crate::models::weights;
use crate::tasks::published_prompts::PublishedTask;

/// A model folder described before it is used: what it is and can be asked.
#[derive(Debug, Clone, Serialize)]
pub struct FolderModel {
    pub folder: PathBuf,
    pub family: Family,
    pub parameters: u64,
    /// The catalogue's entry when the folder is a published model's download.
    pub published: Option<CatalogueEntry>,
    /// What it can be asked (every published task for a folder from elsewhere).
    pub tasks: Vec<PublishedTask>,
}

/// Describes a model folder without loading its weights: its family (an
/// unknown one is refused with the families C2S Studio runs), its size, and
/// whether the tokenizer is there.
pub fn describe_folder(dir: &Path) -> Result<FolderModel> {
    let config = ModelConfig::read(&dir.join(weights::CONFIG_JSON))?;
    if !dir.join("tokenizer.json").is_file() {
        return Err(ModelError::bad(
            dir.join("tokenizer.json"),
            "missing",
            "a model folder needs the tokenizer.json published with its weights",
        ));
    }
    weights::weight_files(dir)?;
    // A download in the Hugging Face cache: models--OWNER--NAME/snapshots/COMMIT.
    let published = dir
        .ancestors()
        .filter_map(|a| a.file_name()?.to_str()?.strip_prefix("models--"))
        .next()
        .and_then(|repo| catalogue::find(&repo.replacen("--", "/", 1)))
        .cloned();
    let tasks = published
        .as_ref()
        .map(|e| e.tasks.clone())
        .unwrap_or_else(|| PublishedTask::ALL.to_vec());
    Ok(FolderModel {
        folder: dir.to_path_buf(),
        family: config.family(),
        parameters: config.parameters() as u64,
        published,
        tasks,
    })
}
