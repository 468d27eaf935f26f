//! Typed errors of the model engine, naming the file and what to do.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{path}: {problem}\n  hint: {hint}")]
    BadModel {
        path: PathBuf,
        problem: String,
        hint: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("tokenizer {path}: {message}\n  hint: {hint}")]
    Tokenizer {
        path: PathBuf,
        message: String,
        hint: String,
    },
    #[error("{0}\n  hint: {1}")]
    Input(String, String),
    #[error(transparent)]
    Data(#[from] c2s_data::DataError),
    #[error("cancelled")]
    Cancelled,
    /// The Hub cannot be reached: the front ends offer a folder on disk instead.
    #[error("cannot reach {endpoint}: {message}\n  hint: check the network connection; offline, copy the model's folder to this computer (from a computer that has it) and choose that folder")]
    Offline { endpoint: String, message: String },
    /// A published model is used or downloaded before its licence was accepted.
    #[error("the licence of {id} ({licence}) has not been accepted yet\n  hint: read it at {url}, then accept it (`c2s models licence {id} --accept`, or the app's model manager)")]
    LicenceNotAccepted {
        id: String,
        licence: String,
        url: String,
    },
    /// A Hub model named by its id is not in the cache yet.
    #[error("{id} is not downloaded yet\n  hint: download it (`c2s models download {id}`, or the app's model manager), or give the model's folder instead")]
    NotDownloaded { id: String },
    #[error("tensor computation failed: {0}")]
    Candle(#[from] candle_core::Error),
}

pub type Result<T> = std::result::Result<T, ModelError>;

impl ModelError {
    pub fn bad(
        path: impl Into<PathBuf>,
        problem: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        ModelError::BadModel {
            path: path.into(),
            problem: problem.into(),
            hint: hint.into(),
        }
    }
}
