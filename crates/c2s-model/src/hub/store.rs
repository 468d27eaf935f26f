//! Where models from the Hugging Face Hub live on this computer: the Hugging
//! Face cache (shared with transformers and huggingface_hub, so a model either
//! downloaded is found by the other), what is there of each model, the
//! licences the user accepted, and which folder a task given a folder or an id
//! loads. Downloads are in `download.rs`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::catalogue::{self, CatalogueEntry, Licence};
use crate::error::{ModelError, Result};
use crate::models::weights;

/// Files a model folder needs besides its weights.
pub(super) const REQUIRED: [&str; 2] = ["config.json", "tokenizer.json"];

/// The Hub, unless `HF_ENDPOINT` names a mirror.
pub(crate) const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// What this computer has of a model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LocalStatus {
    /// The complete model folder, when downloaded.
    pub folder: Option<PathBuf>,
    /// Bytes of an unfinished download waiting to be resumed.
    pub partial_bytes: u64,
    pub licence_accepted: bool,
}

/// A published model as the model manager lists it: the catalogue's entry,
/// its sizes, and what this computer has of it.
#[derive(Debug, Clone, Serialize)]
pub struct ModelListing {
    #[serde(flatten)]
    pub entry: CatalogueEntry,
    pub download_bytes: u64,
    /// False when `download_bytes` is an upper bound (stored type unknown).
    pub download_size_known: bool,
    pub memory_bf16_bytes: u64,
    pub memory_f32_bytes: u64,
    #[serde(flatten)]
    pub local: LocalStatus,
}

/// The Hugging Face cache, the Hub it downloads from, and the accepted licences.
#[derive(Debug, Clone)]
pub struct ModelStore {
    pub(super) cache: hf_hub::Cache,
    pub(super) endpoint: String,
    licences: PathBuf,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct AcceptedLicences {
    /// Hub id -> the licence key accepted.
    accepted: BTreeMap<String, String>,
}

impl ModelStore {
    /// The cache of `HF_HOME` (default `~/.cache/huggingface`) and the Hub of
    /// `HF_ENDPOINT`, as transformers uses them.
    pub fn from_env() -> Self {
        let endpoint = std::env::var("HF_ENDPOINT")
            .ok()
            .filter(|e| !e.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
        Self::new(hf_hub::Cache::from_env().path().clone(), endpoint)
    }

    /// A store over the cache folder `cache_dir` (the `hub` folder) and the Hub
    /// at `endpoint`. Accepted licences are kept beside the cache folder.
    pub fn new(cache_dir: PathBuf, endpoint: impl Into<String>) -> Self {
        let licences = cache_dir
            .parent()
            .unwrap_or(&cache_dir)
            .join("c2s-studio")
            .join("accepted-licences.json");
        ModelStore {
            cache: hf_hub::Cache::new(cache_dir),
            endpoint: endpoint.into().trim_end_matches('/').to_string(),
            licences,
        }
    }

    pub fn cache_dir(&self) -> &Path {
        self.cache.path()
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The licence of a Hub model: the catalogue's, or for a model not in
    /// it, its model card.
    pub fn licence_of(id: &str) -> Licence {
        match catalogue::find(id) {
            Some(e) => e.licence.clone(),
            None => Licence {
                id: None,
                url: format!("{DEFAULT_ENDPOINT}/{id}"),
                note: "A model outside C2S Studio's list: read its model card.".into(),
            },
        }
    }

    /// The catalogue's spelling of an id (names without the owner resolve too).
    pub(super) fn canonical(id: &str) -> String {
        catalogue::find(id)
            .map(|e| e.id.clone())
            .unwrap_or_else(|| id.trim().to_string())
    }

    fn read_licences(&self) -> AcceptedLicences {
        std::fs::read_to_string(&self.licences)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }

    pub fn licence_accepted(&self, id: &str) -> bool {
        let id = Self::canonical(id);
        self.read_licences().accepted.get(&id) == Some(&Self::licence_of(&id).key())
    }

    /// Records that the user accepted the model's licence as it is now.
    pub fn accept_licence(&self, id: &str) -> Result<()> {
        let id = Self::canonical(id);
        let mut all = self.read_licences();
        all.accepted.insert(id.clone(), Self::licence_of(&id).key());
        let json = serde_json::to_string_pretty(&all).expect("plain map serialises");
        write_atomically(&self.licences, json.as_bytes())
    }

    /// Ok when the licence was accepted, else the error that shows it.
    pub fn require_licence(&self, id: &str) -> Result<()> {
        if self.licence_accepted(id) {
            return Ok(());
        }
        let licence = Self::licence_of(id);
        Err(ModelError::LicenceNotAccepted {
            id: Self::canonical(id),
            licence: licence.name().to_string(),
            url: licence.url,
        })
    }

    pub(super) fn repo_dir(&self, id: &str) -> PathBuf {
        let repo = hf_hub::Repo::model(Self::canonical(id));
        self.cache.path().join(repo.folder_name())
    }

    /// The model's complete folder in the cache, if it was downloaded (here or
    /// by huggingface_hub).
    pub fn local_folder(&self, id: &str) -> Option<PathBuf> {
        let repo = self.cache.model(Self::canonical(id));
        let dir = repo.get("config.json")?.parent()?.to_path_buf();
        let complete =
            REQUIRED.iter().all(|f| dir.join(f).is_file()) && weights::weight_files(&dir).is_ok();
        complete.then_some(dir)
    }

    /// Every published model with its sizes and what this computer has of it.
    pub fn listings(&self) -> Vec<ModelListing> {
        catalogue::catalogue()
            .iter()
            .map(|e| {
                let (bf16, f32) = e.memory_bytes();
                ModelListing {
                    entry: e.clone(),
                    download_bytes: e.download_bytes(),
                    download_size_known: e.download_size_known(),
                    memory_bf16_bytes: bf16,
                    memory_f32_bytes: f32,
                    local: self.status(&e.id),
                }
            })
            .collect()
    }

    pub fn status(&self, id: &str) -> LocalStatus {
        let partial_bytes = std::fs::read_dir(self.repo_dir(id).join("blobs"))
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "part"))
            .filter_map(|e| e.metadata().ok())
            .map(|m| m.len())
            .sum();
        LocalStatus {
            folder: self.local_folder(id),
            partial_bytes,
            licence_accepted: self.licence_accepted(id),
        }
    }

    /// The folder of a downloaded model whose licence was accepted: what the
    /// tasks load. Never downloads.
    pub fn model_for_use(&self, id: &str) -> Result<PathBuf> {
        self.require_licence(id)?;
        self.local_folder(id)
            .ok_or_else(|| ModelError::NotDownloaded {
                id: Self::canonical(id),
            })
    }

    /// A model named by a folder or by a Hub id (`owner/name`, or a published
    /// model's name without the owner): the folder, or the downloaded model of
    /// that id once its licence is accepted. Never downloads.
    pub fn resolve(&self, spec: &Path) -> Result<PathBuf> {
        if spec.is_dir() {
            return Ok(spec.to_path_buf());
        }
        let text = spec.to_string_lossy();
        // A published model's id, or the id of another model downloaded into
        // the cache; anything else is a folder that is not there (a typo in a
        // path must not read as a licence question).
        let owner_name = text.matches('/').count() == 1
            && !text.starts_with(['.', '/', '~'])
            && !text.contains('\\');
        if !spec.exists()
            && (catalogue::find(&text).is_some()
                || (owner_name && self.local_folder(&text).is_some()))
        {
            return self.model_for_use(&text);
        }
        Err(ModelError::bad(
            spec,
            if spec.exists() {
                "not a model folder"
            } else {
                "no such model folder (nor a published model's id)"
            },
            "give a model folder, or a published model's Hub id (`c2s models` lists them)",
        ))
    }
}

/// Writes through a temporary file and a rename, so a crash leaves the old
/// file or the new one, never half of one.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, bytes).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}
