//! Normalised log expression of a converted dataset's cells, read back from
//! the source file with the preprocessing its manifest records (for the
//! k-NN baseline on expression and the rank-expression plot).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::convert::{InputOptions, Prepared};
use crate::dataset::{MANIFEST_JSON, VOCABULARY_TSV};
use crate::error::{DataError, Result};
use crate::manifest::{FitFile, Manifest};
use crate::matrix::RowChunk;
use crate::preprocess::normalize_log;
use crate::vocabulary::Vocabulary;

/// One cell's expression as sorted (vocabulary column, value) pairs.
pub type ExpressionRow = Vec<(u32, f64)>;

/// Where a dataset's source file is, from its manifest.
pub fn source_path(dataset: &Path) -> Result<PathBuf> {
    Ok(Manifest::read(dataset)?.source.path)
}

/// Normalised log expression (as converted) of the named cells, columns
/// numbered by the dataset vocabulary. `source` overrides the file the
/// manifest names (a dataset moved to another machine).
pub fn log_expression(
    dataset: &Path,
    cell_names: &[&str],
    source: Option<&Path>,
) -> Result<Vec<ExpressionRow>> {
    let m = Manifest::read(dataset)?;
    let fit = FitFile::read(dataset)?;
    let vocab = Vocabulary::read_tsv(&dataset.join(VOCABULARY_TSV))?;
    let source = source.map_or_else(|| m.source.path.clone(), Path::to_path_buf);
    if !source.exists() {
        return Err(DataError::bad(
            &source,
            "(file)",
            "the dataset's source file is not there",
            "pass the .h5ad it was converted from (--source FILE)",
        ));
    }
    let matrix = m.summary.matrix.parse().map_err(|e: String| {
        DataError::bad(
            dataset.join(MANIFEST_JSON),
            "summary.matrix",
            e,
            "convert the dataset again",
        )
    })?;
    // The matrix the conversion used (the options may have left it to it).
    let opts = InputOptions {
        matrix: Some(matrix),
        ..m.parameters.input.clone()
    };
    let (target, base) = (fit.target_sum, fit.log_base);
    let p = Prepared::open(&source, &opts, &[])?;
    let column: HashMap<&str, u32> = vocab
        .genes
        .iter()
        .enumerate()
        .map(|(i, g)| (g.as_str(), i as u32))
        .collect();
    let to_vocab: Vec<Option<u32>> = p
        .genes
        .words
        .iter()
        .map(|w| column.get(w.as_str()).copied())
        .collect();
    let mut row_of: HashMap<&str, usize> = HashMap::new();
    for (r, n) in p.ad.obs.index.iter().enumerate() {
        row_of.entry(n.as_str()).or_insert(r);
    }
    let rows: Vec<usize> = cell_names
        .iter()
        .map(|n| {
            row_of.get(n).copied().ok_or_else(|| {
                DataError::bad(
                    &source,
                    "obs index",
                    format!("cell `{n}` of the dataset is not in this file"),
                    "pass the file the dataset was converted from",
                )
            })
        })
        .collect::<Result<_>>()?;
    let mut sorted = rows.clone();
    sorted.sort_unstable();
    sorted.dedup();
    let raw = p.src.read_row_list(&sorted)?;
    // Keep vocabulary genes only (gene filtering), totals over them.
    let mut chunk = RowChunk {
        start: 0,
        indptr: vec![0],
        ..Default::default()
    };
    let mut totals = Vec::with_capacity(sorted.len());
    for i in 0..raw.n_rows() {
        let (idx, val) = raw.row(i);
        let mut t = 0.0;
        for (&j, &v) in idx.iter().zip(val) {
            if let (Some(c), true) = (to_vocab[j as usize], v > 0.0) {
                chunk.indices.push(c);
                chunk.data.push(v);
                t += v;
            }
        }
        totals.push(t);
        chunk.indptr.push(chunk.data.len());
    }
    normalize_log(&mut chunk, &totals, target, base, p.kind);
    let position: HashMap<usize, usize> = sorted.iter().enumerate().map(|(i, &r)| (r, i)).collect();
    Ok(rows
        .iter()
        .map(|r| {
            let (idx, val) = chunk.row(position[r]);
            let mut v: Vec<(u32, f64)> = idx.iter().copied().zip(val.iter().copied()).collect();
            v.sort_unstable_by_key(|x| x.0);
            v
        })
        .collect())
}

/// A seeded sample of a file's cells with their normalised log expression
/// (before any conversion), for a first look at the data.
#[derive(Debug, Clone)]
pub struct FileSample {
    /// File rows (positions in obs) of the sampled cells, sorted.
    pub rows: Vec<usize>,
    /// The sampled cells' names (obs names, made unique if asked), to join
    /// results by.
    pub names: Vec<String>,
    /// Expression per sampled cell, columns numbered as the file's genes.
    pub cells: Vec<ExpressionRow>,
    /// The genes as sentences write them (upper case), numbered as the
    /// columns of `cells`.
    pub genes: Vec<String>,
    pub n_cells_in_file: usize,
    /// The sampled cells' values of the requested obs column, as text.
    pub labels: Option<Vec<String>>,
}

/// Samples up to `max_cells` cells of `path` and normalises them as `convert`
/// would (each cell to the median total of the sample, then the log), with
/// their values of the obs column `label_column` if one is named.
pub fn sample_file_expression(
    path: &Path,
    opts: &InputOptions,
    max_cells: usize,
    label_column: Option<&str>,
) -> Result<FileSample> {
    let wanted: Vec<String> = label_column.map(str::to_string).into_iter().collect();
    let p = Prepared::open(path, opts, &wanted)?;
    let rows = crate::convert::sample_rows(p.ad.n_obs(), max_cells, opts.seed);
    let labels = label_column
        .map(|c| {
            let col = p.ad.obs.column(c).ok_or_else(|| {
                DataError::bad(
                    path,
                    format!("obs/{c}"),
                    format!("there is no cell column `{c}`"),
                    "choose one of the file's cell columns",
                )
            })?;
            Ok(rows
                .iter()
                .map(|&r| col.data.text(r).unwrap_or_else(|| "(missing)".into()))
                .collect())
        })
        .transpose()?;
    let mut chunk = p.src.read_row_list(&rows)?;
    let totals: Vec<f64> = (0..chunk.n_rows())
        .map(|i| chunk.row(i).1.iter().filter(|v| **v > 0.0).sum())
        .collect();
    let target = opts
        .preprocess
        .target_sum
        .unwrap_or_else(|| crate::preprocess::median_total(&totals));
    normalize_log(
        &mut chunk,
        &totals,
        target,
        opts.preprocess.log_base,
        p.kind,
    );
    let cells = (0..chunk.n_rows())
        .map(|i| {
            let (idx, val) = chunk.row(i);
            let mut v: ExpressionRow = idx
                .iter()
                .copied()
                .zip(val.iter().copied())
                .filter(|x| x.1 > 0.0)
                .collect();
            v.sort_unstable_by_key(|x| x.0);
            v
        })
        .collect();
    Ok(FileSample {
        names: rows.iter().map(|&r| p.ad.obs.index[r].clone()).collect(),
        rows,
        cells,
        genes: p.genes.words,
        n_cells_in_file: p.ad.n_obs(),
        labels,
    })
}

impl FileSample {
    /// The normalised log expression of `gene` (any case) in each sampled
    /// cell, 0 where the cell does not express it; `None` for a gene the
    /// file lacks. For maps coloured by a gene, as cellxgene colours them.
    pub fn gene_values(&self, gene: &str) -> Option<Vec<f64>> {
        let wanted = gene.trim().to_uppercase();
        let col = self.genes.iter().position(|g| *g == wanted)? as u32;
        Some(
            self.cells
                .iter()
                .map(|row| {
                    row.binary_search_by_key(&col, |x| x.0)
                        .map_or(0.0, |i| row[i].1)
                })
                .collect(),
        )
    }
}
