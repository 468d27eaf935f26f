//! Typed errors of the data engine. Every variant names the file and the field at
//! fault and says what the user can do about it.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The input is readable but its content is unusable as asked.
    #[error("{file}: {field}: {problem}\n  hint: {hint}")]
    BadInput {
        file: PathBuf,
        field: String,
        problem: String,
        hint: String,
    },
    /// The HDF5 library refused an operation.
    #[error("{file}: {field}: HDF5 error: {source}\n  hint: {hint}")]
    Hdf5 {
        file: PathBuf,
        field: String,
        #[source]
        source: hdf5::Error,
        hint: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: cannot read this Parquet file: {message}\n  hint: it is damaged or not written by c2s convert; convert the dataset again")]
    ParquetRead { path: PathBuf, message: String },
    #[error("{path}: writing Parquet failed: {source}")]
    Parquet {
        path: PathBuf,
        #[source]
        source: parquet::errors::ParquetError,
    },
    #[error("{path}: {problem}\n  hint: {hint}")]
    Output {
        path: PathBuf,
        problem: String,
        hint: String,
    },
    /// A setting of a job (not a file) is out of range or names something unknown.
    #[error("{setting}: {problem}\n  hint: {hint}")]
    Setting {
        setting: String,
        problem: String,
        hint: String,
    },
    #[error("the job was cancelled; no output was written")]
    Cancelled,
}

pub type Result<T> = std::result::Result<T, DataError>;

/// A reader's error, cut to its first line and 200 characters: the Parquet
/// crate can describe a damaged file in over 100 KB.
pub(crate) fn parquet_read(path: &std::path::Path, e: parquet::errors::ParquetError) -> DataError {
    let text = e.to_string();
    let line = text.lines().next().unwrap_or("");
    let mut message: String = line.chars().take(200).collect();
    if message.len() < text.len() {
        message.push_str(" …");
    }
    DataError::ParquetRead {
        path: path.to_path_buf(),
        message,
    }
}

impl DataError {
    pub(crate) fn setting(
        setting: impl Into<String>,
        problem: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        DataError::Setting {
            setting: setting.into(),
            problem: problem.into(),
            hint: hint.into(),
        }
    }

    pub fn bad(
        file: impl Into<PathBuf>,
        field: impl Into<String>,
        problem: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        DataError::BadInput {
            file: file.into(),
            field: field.into(),
            problem: problem.into(),
            hint: hint.into(),
        }
    }

    /// An HDF5 failure on `field`. `hint` applies unless the failure is a
    /// compression filter this build lacks (blosc, bitshuffle, zfp... from
    /// hdf5plugin): then the file is fine and saving it with gzip is the remedy.
    pub fn hdf5(
        file: impl Into<PathBuf>,
        field: impl Into<String>,
        source: hdf5::Error,
        hint: impl Into<String>,
    ) -> Self {
        let text = source.to_string();
        let hint = if text.contains("plugin") || text.contains("not registered") {
            "the data is compressed with an HDF5 filter plugin that C2S Studio does not include \
(it reads gzip and lzf); save the file again with gzip, for example \
adata.write_h5ad(path, compression='gzip') in Python"
                .to_string()
        } else {
            hint.into()
        };
        DataError::Hdf5 {
            file: file.into(),
            field: field.into(),
            source,
            hint,
        }
    }

    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            source,
        }
    }
}
