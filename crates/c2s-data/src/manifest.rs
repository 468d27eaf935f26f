//! The records a conversion leaves beside the sentences, typed: manifest.json
//! (where the cells came from, the options, what came out) and fit.json (the
//! rank-expression fit and the normalisation it was fitted on). `convert`
//! writes them, and every reader goes through `read`, so a field has one
//! name in one place.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::conversion::{ConvertOptions, ConvertSummary};
use crate::dataset::{
    ParquetCompression, FIT_JSON, MANIFEST_JSON, SENTENCES_JSONL, SENTENCES_PARQUET, SENTENCES_TXT,
    SPLITS_JSON, VOCABULARY_TSV,
};
use crate::error::{DataError, Result};
use crate::inverse::RankFit;
use crate::matrix::ValueKind;
use crate::preprocess::LogBase;

/// `format` of a dataset folder's manifest.
pub const FORMAT: &str = "c2s-dataset";
/// Raised when a reader of an older version could no longer read the folder.
pub const FORMAT_VERSION: u32 = 1;

/// manifest.json.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    /// The version of C2S Studio that wrote the folder.
    pub c2s_version: String,
    pub source: SourceFile,
    pub parameters: ConvertOptions,
    /// What came out (without the folder's own path: the folder travels).
    pub summary: ConvertSummary,
    pub files: DatasetFiles,
    /// Between the genes of a sentence.
    #[serde(default = "space")]
    pub delimiter: String,
    /// How sentences.parquet stores its pages: what `auto` chose.
    #[serde(default)]
    pub parquet_compression: ParquetCompression,
}

fn space() -> String {
    " ".into()
}

/// The file a dataset was converted from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SourceFile {
    /// Where it was, absolute when known.
    pub path: PathBuf,
    pub file_name: Option<String>,
    pub sha256: String,
    pub bytes: Option<u64>,
    /// "h5ad", "h5ad (pre-0.7 layout)" or "10x Cell Ranger h5".
    pub format: String,
}

/// The files of the folder (None: not written).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DatasetFiles {
    pub sentences: String,
    pub jsonl: Option<String>,
    pub text: Option<String>,
    pub vocabulary: String,
    pub splits: String,
    pub fit: String,
}

impl DatasetFiles {
    pub fn written(jsonl: bool, text: bool) -> Self {
        DatasetFiles {
            sentences: SENTENCES_PARQUET.into(),
            jsonl: jsonl.then(|| SENTENCES_JSONL.into()),
            text: text.then(|| SENTENCES_TXT.into()),
            vocabulary: VOCABULARY_TSV.into(),
            splits: SPLITS_JSON.into(),
            fit: FIT_JSON.into(),
        }
    }
}

/// fit.json.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FitFile {
    /// None when no cell had enough expressed genes to fit on.
    pub fit: Option<RankFit>,
    /// The total each cell was scaled to before the log.
    pub target_sum: f64,
    pub log_base: LogBase,
    pub matrix: String,
    pub value_kind: ValueKind,
    /// The file rows of the cells fitted on.
    pub fit_cells: Vec<usize>,
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| {
        DataError::bad(
            path,
            "(file)",
            format!("not a file this version reads: {e}"),
            "convert the dataset again",
        )
    })
}

/// Written with every object's keys sorted, as earlier versions wrote them:
/// the same bytes whether or not another crate in the build turns on
/// serde_json's `preserve_order` (tauri's schemars does).
fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    fn sorted(v: serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(m) => {
                let mut pairs: Vec<_> = m.into_iter().collect();
                pairs.sort_by(|a, b| a.0.cmp(&b.0));
                serde_json::Value::Object(pairs.into_iter().map(|(k, v)| (k, sorted(v))).collect())
            }
            serde_json::Value::Array(a) => a.into_iter().map(sorted).collect(),
            other => other,
        }
    }
    let bytes = serde_json::to_value(value)
        .and_then(|v| serde_json::to_vec_pretty(&sorted(v)))
        .map_err(|e| {
            DataError::bad(
                path,
                "(file)",
                e.to_string(),
                "this is a bug: please report it",
            )
        })?;
    std::fs::write(path, bytes).map_err(|e| DataError::io(path, e))
}

impl Manifest {
    /// The manifest of the dataset folder `dir`.
    pub fn read(dir: &Path) -> Result<Manifest> {
        let path = dir.join(MANIFEST_JSON);
        let m: Manifest = read_json(&path)?;
        if m.format != FORMAT {
            return Err(DataError::bad(
                &path,
                "format",
                format!("`{}`, not a dataset folder's manifest", m.format),
                "give a folder written by c2s convert",
            ));
        }
        Ok(m)
    }

    /// Writes the manifest into the folder `dir`.
    pub fn write(&self, dir: &Path) -> Result<()> {
        write_json(&dir.join(MANIFEST_JSON), self)
    }

    /// Whether `dir` holds a dataset folder's manifest (whatever its version).
    pub fn is_in(dir: &Path) -> bool {
        #[derive(Deserialize)]
        struct Format {
            format: String,
        }
        std::fs::read(dir.join(MANIFEST_JSON))
            .ok()
            .and_then(|b| serde_json::from_slice::<Format>(&b).ok())
            .is_some_and(|m| m.format == FORMAT)
    }
}

impl FitFile {
    /// The fit.json of the dataset folder `dir`.
    pub fn read(dir: &Path) -> Result<FitFile> {
        read_json(&dir.join(FIT_JSON))
    }

    pub fn write(&self, dir: &Path) -> Result<()> {
        write_json(&dir.join(FIT_JSON), self)
    }
}

/// The species a dataset folder's manifest records ("human", "mouse"), if
/// it records one it knows (folders converted before it did record none).
pub fn read_species(dir: &Path) -> Option<String> {
    Some(Manifest::read(dir).ok()?.summary.species).filter(|s| s == "human" || s == "mouse")
}
