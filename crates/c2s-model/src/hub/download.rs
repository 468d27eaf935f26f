//! Downloads of Hub models into the Hugging Face cache: the model's files and
//! their SHA-256 from the Hub's API, each file through `blobs/X.part` (kept on
//! an interruption or a cancel, resumed with a byte range), checked, then
//! linked into the snapshot as huggingface_hub does.
//!
//! hf-hub gives the cache layout and the user's token, but its download can be
//! neither cancelled nor checked against the file's hash, so the transfer is
//! written here, over ureq (the HTTP client hf-hub itself uses).

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::store::{ModelStore, REQUIRED};
use crate::error::{ModelError, Result};
use crate::models::weights;

/// The branch downloaded.
const REVISION: &str = "main";
/// Small files worth having when the model has them (the README holds the
/// model card, and so the licence, for reading offline).
const OPTIONAL: [&str; 4] = [
    "generation_config.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "README.md",
];

/// How far a download is, over all its files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DownloadProgress {
    /// The file being fetched.
    pub file: String,
    pub done_bytes: u64,
    pub total_bytes: u64,
}

impl ModelStore {
    /// Downloads a model into the cache and returns its folder. Files already
    /// there are kept; an interrupted file resumes where it stopped; `cancel`
    /// stops between chunks and keeps what arrived for the next try. The
    /// folder appears only when every file arrived whole and weights match
    /// their SHA-256.
    pub fn download(
        &self,
        id: &str,
        progress: &mut dyn FnMut(&DownloadProgress),
        cancel: &AtomicBool,
    ) -> Result<PathBuf> {
        let id = Self::canonical(id);
        self.require_licence(&id)?;
        let agent = self.agent();
        let info = self.repo_info(&agent, &id)?;
        let files = choose_files(&id, &info)?;
        let total_bytes = files.iter().map(|f| f.size).sum();
        let repo_dir = self.repo_dir(&id);
        let blobs = repo_dir.join("blobs");
        std::fs::create_dir_all(&blobs).map_err(|source| ModelError::Io {
            path: blobs.clone(),
            source,
        })?;
        let mut at = Transfer {
            done_before: 0,
            total_bytes,
            progress,
            cancel,
        };
        for f in &files {
            let blob = blobs.join(&f.blob);
            let whole = std::fs::metadata(&blob).is_ok_and(|m| m.len() == f.size);
            if !whole {
                let url = format!(
                    "{}/{id}/resolve/{}/{}",
                    self.endpoint, info.sha, f.rfilename
                );
                at.fetch(self.get(&agent, &url), &url, f, &blob)?;
            }
            at.done_before += f.size;
            (at.progress)(&DownloadProgress {
                file: f.rfilename.clone(),
                done_bytes: at.done_before,
                total_bytes,
            });
        }
        let snapshot = repo_dir.join("snapshots").join(&info.sha);
        for f in &files {
            link_blob(&blobs.join(&f.blob), &snapshot.join(&f.rfilename))?;
        }
        self.cache
            .model(id.clone())
            .create_ref(&info.sha)
            .map_err(|source| ModelError::Io {
                path: repo_dir.join("refs"),
                source,
            })?;
        Ok(snapshot)
    }

    fn agent(&self) -> ureq::Agent {
        ureq::AgentBuilder::new()
            .try_proxy_from_env(true)
            .timeout_connect(Duration::from_secs(15))
            .timeout_read(Duration::from_secs(60))
            .user_agent(concat!("c2s-studio/", env!("CARGO_PKG_VERSION")))
            .build()
    }

    fn get(&self, agent: &ureq::Agent, url: &str) -> ureq::Request {
        let request = agent.get(url);
        match self.cache.token() {
            Some(token) => request.set("Authorization", &format!("Bearer {token}")),
            None => request,
        }
    }

    fn repo_info(&self, agent: &ureq::Agent, id: &str) -> Result<RepoInfo> {
        let url = format!(
            "{}/api/models/{id}/revision/{REVISION}?blobs=true",
            self.endpoint
        );
        let response = self
            .get(agent, &url)
            .call()
            .map_err(|e| self.http_error(id, e))?;
        response.into_json().map_err(|e| {
            ModelError::Input(
                format!("the Hub's description of {id} is not readable: {e}"),
                "try again later; a proxy may have changed the answer".into(),
            )
        })
    }

    fn http_error(&self, id: &str, e: ureq::Error) -> ModelError {
        match e {
            ureq::Error::Status(401 | 403, _) => ModelError::Input(
                format!("the Hub refused to give {id} (a private or gated model)"),
                "accept its terms on its Hub page, then log in with `huggingface-cli login` (a token in HF_HOME/token)".into(),
            ),
            ureq::Error::Status(404, _) => ModelError::Input(
                format!("the Hub has no model {id}"),
                "check the id (owner/name), or give a model folder".into(),
            ),
            ureq::Error::Status(code, r) => ModelError::Input(
                format!("the Hub answered {code} {} for {id}", r.status_text()),
                "try again later".into(),
            ),
            ureq::Error::Transport(t) => ModelError::Offline {
                endpoint: self.endpoint.clone(),
                message: t.to_string(),
            },
        }
    }
}

/// The Hub's description of a model (`/api/models/{id}?blobs=true`).
#[derive(Debug, Deserialize)]
struct RepoInfo {
    sha: String,
    siblings: Vec<Sibling>,
}

#[derive(Debug, Deserialize)]
struct Sibling {
    rfilename: String,
    size: Option<u64>,
    #[serde(rename = "blobId")]
    blob_id: Option<String>,
    lfs: Option<Lfs>,
}

#[derive(Debug, Deserialize)]
struct Lfs {
    sha256: String,
    size: u64,
}

/// One file to fetch: its name, size, the cache's blob name (the Hub's ETag)
/// and, for weights (stored with Git LFS), the SHA-256 it must have.
struct RemoteFile {
    rfilename: String,
    size: u64,
    blob: String,
    sha256: Option<String>,
}

/// The files of a model C2S Studio reads: config, tokenizer, safetensors
/// weights (one file or an index and its shards) and the small extras.
fn choose_files(id: &str, info: &RepoInfo) -> Result<Vec<RemoteFile>> {
    let has = |name: &str| info.siblings.iter().any(|s| s.rfilename == name);
    let sharded = has(weights::WEIGHTS_INDEX);
    if !sharded && !has(weights::WEIGHTS) {
        return Err(ModelError::Input(
            format!("{id} has no safetensors weights on the Hub"),
            "C2S Studio reads model.safetensors (PyTorch .bin files are not read); save the model with transformers' save_pretrained and give its folder".into(),
        ));
    }
    for f in REQUIRED {
        if !has(f) {
            return Err(ModelError::Input(
                format!("{id} has no {f} on the Hub"),
                "it is not a complete transformers model; give a model folder instead".into(),
            ));
        }
    }
    let wanted = |name: &str| {
        REQUIRED.contains(&name)
            || OPTIONAL.contains(&name)
            || if sharded {
                name == weights::WEIGHTS_INDEX
                    || (name.ends_with(".safetensors") && !name.contains('/'))
            } else {
                name == weights::WEIGHTS
            }
    };
    info.siblings
        .iter()
        .filter(|s| wanted(&s.rfilename))
        .map(|s| {
            let bad = || {
                ModelError::Input(
                    format!(
                        "the Hub's description of {id} lacks the size of {}",
                        s.rfilename
                    ),
                    "try again later".into(),
                )
            };
            let (size, sha256) = match &s.lfs {
                Some(lfs) => (lfs.size, Some(lfs.sha256.to_ascii_lowercase())),
                None => (s.size.ok_or_else(bad)?, None),
            };
            let blob = sha256
                .clone()
                .or_else(|| s.blob_id.clone())
                .filter(|b| !b.is_empty() && b.chars().all(|c| c.is_ascii_alphanumeric()))
                .ok_or_else(bad)?;
            Ok(RemoteFile {
                rfilename: s.rfilename.clone(),
                size,
                blob,
                sha256,
            })
        })
        .collect()
}

/// Progress over the whole download.
struct Transfer<'a> {
    done_before: u64,
    total_bytes: u64,
    progress: &'a mut dyn FnMut(&DownloadProgress),
    cancel: &'a AtomicBool,
}

impl Transfer<'_> {
    /// Fetches one file into `blob`, through `blob.part`, resuming a part left
    /// by an earlier try.
    fn fetch(
        &mut self,
        mut request: ureq::Request,
        url: &str,
        f: &RemoteFile,
        blob: &Path,
    ) -> Result<()> {
        let part = blob.with_extension("part");
        let io = |source| ModelError::Io {
            path: part.clone(),
            source,
        };
        let mut have = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
        if have > f.size {
            have = 0;
        }
        let mut hasher = Sha256::new();
        if have > 0 && f.sha256.is_some() {
            let mut old = File::open(&part).map_err(io)?;
            std::io::copy(&mut (&mut old).take(have), &mut hasher).map_err(io)?;
        }
        if have > 0 {
            request = request.set("Range", &format!("bytes={have}-"));
        }
        let response = match request.call() {
            Ok(r) => Some(r),
            // Range past the end: the part is already whole.
            Err(ureq::Error::Status(416, _)) if have == f.size => None,
            Err(ureq::Error::Status(code, r)) => {
                return Err(interrupted(
                    f,
                    have,
                    format!("the server answered {code} {}", r.status_text()),
                ))
            }
            Err(ureq::Error::Transport(t)) => {
                return Err(ModelError::Offline {
                    endpoint: url.split("/resolve/").next().unwrap_or(url).to_string(),
                    message: t.to_string(),
                })
            }
        };
        if let Some(response) = response {
            // A server that ignores the range sends the whole file again.
            if have > 0 && response.status() != 206 {
                have = 0;
                hasher = Sha256::new();
            }
            have = self.receive(response, &part, f, have, &mut hasher)?;
        }
        if have != f.size {
            return Err(interrupted(f, have, "the connection closed early".into()));
        }
        if let Some(expected) = &f.sha256 {
            let got = hex(&hasher.finalize());
            if &got != expected {
                let _ = std::fs::remove_file(&part);
                return Err(corrupt(
                    f,
                    &format!("its SHA-256 is {got}, the Hub's is {expected}"),
                ));
            }
        }
        std::fs::rename(&part, blob).map_err(io)
    }

    /// Appends the response's body to the part file, which holds `have`
    /// bytes already (hashed into `hasher`), reporting progress and seeing a
    /// cancel between reads. Returns the bytes the part holds.
    fn receive(
        &mut self,
        response: ureq::Response,
        part: &Path,
        f: &RemoteFile,
        mut have: u64,
        hasher: &mut Sha256,
    ) -> Result<u64> {
        let io = |source| ModelError::Io {
            path: part.to_path_buf(),
            source,
        };
        let mut out = OpenOptions::new()
            .create(true)
            .append(have > 0)
            .write(true)
            .truncate(have == 0)
            .open(part)
            .map_err(io)?;
        let mut body = response.into_reader();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            if self.cancel.load(Ordering::Relaxed) {
                out.flush().map_err(io)?;
                return Err(ModelError::Cancelled);
            }
            let n = match body.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    out.flush().map_err(io)?;
                    return Err(interrupted(f, have, e.to_string()));
                }
            };
            if have + n as u64 > f.size {
                drop(out);
                let _ = std::fs::remove_file(part);
                return Err(corrupt(f, "the server sent more bytes than the file has"));
            }
            out.write_all(&buf[..n]).map_err(io)?;
            if f.sha256.is_some() {
                hasher.update(&buf[..n]);
            }
            have += n as u64;
            (self.progress)(&DownloadProgress {
                file: f.rfilename.clone(),
                done_bytes: self.done_before + have,
                total_bytes: self.total_bytes,
            });
        }
        out.sync_all().map_err(io)?;
        Ok(have)
    }
}

/// A download that stopped at `got` bytes, to resume.
fn interrupted(f: &RemoteFile, got: u64, why: String) -> ModelError {
    ModelError::Input(
        format!(
            "the download of {} stopped at {got} of {} bytes: {why}",
            f.rfilename, f.size
        ),
        "run the download again: it resumes where it stopped".into(),
    )
}

fn corrupt(f: &RemoteFile, why: &str) -> ModelError {
    ModelError::Input(
        format!("{} arrived corrupt ({why}); it was deleted", f.rfilename),
        "run the download again; if it happens again, a proxy or the disk may be at fault".into(),
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The snapshot's name for a blob, as huggingface_hub lays the cache out: a
/// relative symbolic link, or a copy where links are not allowed (Windows
/// without developer mode).
fn link_blob(blob: &Path, pointer: &Path) -> Result<()> {
    let parent = pointer.parent().expect("pointer inside a snapshot");
    std::fs::create_dir_all(parent).map_err(|source| ModelError::Io {
        path: parent.to_path_buf(),
        source,
    })?;
    if pointer.exists() {
        return Ok(());
    }
    let _ = std::fs::remove_file(pointer); // a dangling link from a removed blob
    #[cfg(unix)]
    {
        let depth = pointer
            .strip_prefix(
                blob.parent()
                    .and_then(Path::parent)
                    .expect("blob in blobs/"),
            )
            .map(|p| p.components().count() - 1)
            .unwrap_or(2);
        let mut target = PathBuf::new();
        for _ in 0..depth {
            target.push("..");
        }
        target.push("blobs");
        target.push(blob.file_name().expect("blob file name"));
        if std::os::unix::fs::symlink(&target, pointer).is_ok() {
            return Ok(());
        }
    }
    std::fs::copy(blob, pointer)
        .map(|_| ())
        .map_err(|source| ModelError::Io {
            path: pointer.to_path_buf(),
            source,
        })
}
