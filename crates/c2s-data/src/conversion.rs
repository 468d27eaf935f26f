//! What a conversion is asked to do (which matrix and gene names to read,
//! the preprocessing, labels, splits, the fit's sample and the exports) and
//! what a finished one reports: the records its manifest keeps, apart from
//! the pipeline (convert/) that reads and writes them.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::anndata::MatrixId;
use crate::dataset::{Exports, ParquetCompression};
use crate::inverse::RankFit;
use crate::matrix::ValueKind;
use crate::preprocess::Preprocess;

/// Stored values per block (a few MB each; several blocks are in flight). Small
/// blocks keep memory low; on the demo data 1M-value blocks were no faster.
pub const DEFAULT_BLOCK_VALUES: usize = 250_000;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct InputOptions {
    /// `None`: the matrix holding raw counts if any, else X.
    pub matrix: Option<MatrixId>,
    /// A var column holding gene symbols; `None`: var_names.
    pub gene_column: Option<String>,
    /// Suffix repeated gene and cell names instead of refusing them.
    pub make_unique: bool,
    pub preprocess: Preprocess,
    /// Seeds tie-breaking, splits and the fit's cell sample.
    pub seed: u64,
    pub block_values: usize,
}

impl InputOptions {
    /// Refuses a scaling no cell can take: a total of 0 zeroed every cell and
    /// a negative one turned the log's input below 1, and either converted
    /// to a fit of NaN without a word.
    pub(crate) fn check(&self) -> crate::error::Result<()> {
        match self.preprocess.target_sum {
            Some(t) if !(t.is_finite() && t > 0.0) => Err(crate::error::DataError::setting(
                "target sum",
                format!("{t} is not a total a cell can be scaled to"),
                "use a number above 0, such as 10000, or leave it out for the median cell total",
            )),
            _ => Ok(()),
        }
    }
}

impl Default for InputOptions {
    fn default() -> Self {
        InputOptions {
            matrix: None,
            gene_column: None,
            make_unique: false,
            preprocess: Preprocess::default(),
            seed: crate::DEFAULT_SEED,
            block_values: DEFAULT_BLOCK_VALUES,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ConvertOptions {
    pub input: InputOptions,
    /// obs columns written beside each sentence.
    pub labels: Vec<String>,
    pub split_fractions: [f64; 3],
    /// Stratify the splits by this obs column.
    pub stratify: Option<String>,
    /// Cells sampled for the rank-expression fit (the reference: 1,024).
    pub fit_cells: usize,
    pub exports: Exports,
    /// How sentences.parquet stores its pages (default: zstd for large
    /// matrices only).
    pub parquet_compression: ParquetCompression,
    /// Replace an existing output directory.
    pub overwrite: bool,
}

impl ConvertOptions {
    /// Refuses settings a conversion cannot use, before anything is read.
    pub(crate) fn check(&self) -> crate::error::Result<()> {
        self.input.check()?;
        if self.fit_cells == 0 {
            return Err(crate::error::DataError::setting(
                "fit cells",
                "0 cells leave no expression fit, which turning sentences back into expression needs",
                format!("use at least 1 (default: {})", ConvertOptions::default().fit_cells),
            ));
        }
        Ok(())
    }

    /// The options with the column the splits are stratified by among the
    /// labels: it is the annotation a scientist balances the splits for, and
    /// a dataset without it had nothing for a run to learn.
    pub(crate) fn with_strata_kept(&self) -> ConvertOptions {
        let mut o = self.clone();
        if let Some(s) = o.stratify.as_ref().filter(|s| !o.labels.contains(s)) {
            o.labels.push(s.clone());
        }
        o
    }
}

impl Default for ConvertOptions {
    fn default() -> Self {
        ConvertOptions {
            input: InputOptions::default(),
            labels: Vec::new(),
            split_fractions: [0.8, 0.1, 0.1],
            stratify: None,
            fit_cells: 1024,
            exports: Exports::default(),
            parquet_compression: ParquetCompression::Auto,
            overwrite: false,
        }
    }
}

/// A finished conversion.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ConvertSummary {
    /// Where the folder is (left out of its manifest: the folder travels).
    #[serde(default, skip_serializing_if = "is_empty_path")]
    pub output: PathBuf,
    pub matrix: String,
    pub value_kind: ValueKind,
    pub gene_names_from: String,
    pub cells_in_file: usize,
    pub genes_in_file: usize,
    pub cells: usize,
    pub genes: usize,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub expressed_values: u64,
    pub mean_genes_per_cell: f64,
    pub splits: [usize; 3],
    pub fit: Option<RankFit>,
    #[serde(default)]
    pub notes: Vec<String>,
    /// "human", "mouse" or "unknown", from the gene names' case: the
    /// organism the published models' prompts name.
    #[serde(default)]
    pub species: String,
}

fn is_empty_path(p: &Path) -> bool {
    p.as_os_str().is_empty()
}
