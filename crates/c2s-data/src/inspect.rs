//! What is in a file, for `c2s inspect` and the app's dataset screen.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::anndata::{AnnData, FileFormat};
use crate::error::Result;
use crate::frame::{ColumnData, ColumnSummary, Frame};
use crate::gene_names::{guess_species, looks_like_ensembl};
use crate::matrix::{Storage, ValueKind};

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct MatrixReport {
    pub name: String,
    pub field: String,
    pub storage: Storage,
    pub dtype: String,
    pub cells: usize,
    pub genes: usize,
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub stored_values: Option<u64>,
    pub holds: ValueKind,
    pub description: &'static str,
}

/// What a file holds, for `c2s inspect` and the app's dataset screen.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Inspection {
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub path: PathBuf,
    pub format: FileFormat,
    pub cells: usize,
    pub genes: usize,
    pub matrices: Vec<MatrixReport>,
    /// The matrix `convert` uses unless told otherwise.
    pub default_matrix: String,
    pub obs_columns: Vec<ColumnSummary>,
    pub var_columns: Vec<ColumnSummary>,
    /// `None`: var_names hold the symbols; else the var column that seems to.
    pub gene_symbol_column: Option<String>,
    pub gene_names_look_like_ensembl: bool,
    pub species: String,
    pub example_genes: Vec<String>,
    /// What to know before converting the file, each with the setting that
    /// deals with it, if one does: the app shows them with a button, the
    /// CLI with the option.
    pub notes: Vec<Note>,
}

/// Something about a file to know before converting it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Note {
    pub message: String,
    pub fix: Option<InputFix>,
}

impl Note {
    fn plain(message: String) -> Self {
        Note { message, fix: None }
    }
}

/// A conversion setting (of `InputOptions`) that deals with a note.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct InputFix {
    /// What the setting does, for a button ("Use gene symbols from the
    /// column `gene_symbols`").
    pub label: String,
    /// Take gene names from this var column (`InputOptions::gene_column`).
    pub gene_column: String,
}

impl InputFix {
    /// The `c2s convert` option that applies it.
    pub fn option(&self) -> String {
        format!("--gene-column {}", self.gene_column)
    }
}

pub fn inspect(path: &Path) -> Result<Inspection> {
    let ad = AnnData::open(path)?;
    let mut matrices = Vec::new();
    for id in &ad.matrices {
        let m = ad.matrix(id)?;
        let holds = m.value_kind()?;
        matrices.push(MatrixReport {
            name: id.to_string(),
            field: m.field().to_string(),
            storage: m.storage,
            dtype: m.dtype.clone(),
            cells: m.n_rows,
            genes: m.n_cols,
            stored_values: m.stored_values(),
            holds,
            description: holds.describe(),
        });
    }
    let default_matrix = ad.default_matrix()?;
    let mut notes: Vec<Note> = ad.notes.iter().cloned().map(Note::plain).collect();
    notes.extend(matrix_notes(&matrices, &default_matrix.to_string()));
    let var = ad.var_for(&default_matrix);
    let ensembl = looks_like_ensembl(&var.index);
    let symbol_col = if ensembl {
        guess_symbol_column(var)
    } else {
        None
    };
    if ensembl {
        let message = "Gene names are Ensembl IDs (ENSG...), not gene symbols: sentences would be hard to read and models could not share knowledge across datasets.";
        notes.push(match &symbol_col {
            Some(c) => Note {
                message: message.into(),
                fix: Some(InputFix {
                    label: format!("Use gene symbols from the column `{c}`"),
                    gene_column: c.clone(),
                }),
            },
            None => Note::plain(format!("{message} No gene column seems to hold symbols.")),
        });
    }
    let symbols: Vec<String> = match &symbol_col {
        Some(c) => var
            .column(c)
            .map(|c| c.data.texts().into_iter().flatten().collect())
            .unwrap_or_default(),
        None => var.index.clone(),
    };
    let var_columns = var
        .summaries()
        .into_iter()
        .map(|mut s| {
            s.top_values.truncate(if s.distinct > 100 { 5 } else { 50 });
            s
        })
        .collect();
    Ok(Inspection {
        path: path.to_path_buf(),
        format: ad.format,
        cells: ad.n_obs(),
        genes: var.index.len(),
        matrices,
        default_matrix: default_matrix.to_string(),
        obs_columns: ad.obs.summaries(),
        var_columns,
        gene_symbol_column: symbol_col,
        gene_names_look_like_ensembl: ensembl,
        species: guess_species(&symbols).to_string(),
        example_genes: example_genes(&symbols, 10),
        notes,
    })
}

/// Notes on the matrices: one stored by gene, one that cannot be ranked.
/// (`convert` reads one that can wherever the file holds one.)
fn matrix_notes(matrices: &[MatrixReport], default_matrix: &str) -> Vec<Note> {
    let mut notes = Vec::new();
    for m in matrices {
        if m.storage == Storage::Csc {
            notes.push(Note::plain(format!(
                "The matrix {} is stored by gene (CSC): converting it loads it whole into memory.",
                m.name
            )));
        }
        if matches!(m.holds, ValueKind::Scaled | ValueKind::NonFinite) {
            notes.push(Note::plain(if m.name == default_matrix {
                format!(
                    "The matrix {} holds {}: it cannot be ranked into cell sentences, and the file holds no matrix that can.",
                    m.name, m.description
                )
            } else {
                format!(
                    "The matrix {} holds {} and cannot be ranked; the conversion reads {default_matrix}.",
                    m.name, m.description
                )
            }));
        }
    }
    notes
}

/// Genes a biologist knows at a glance (human, and mouse in its own case),
/// shown as examples where the file holds them: a file's first genes are
/// often unfamiliar ones (AL627309.1, AP006222.2 in the demo).
const FAMILIAR_GENES: [&str; 20] = [
    "ACTB", "GAPDH", "MALAT1", "B2M", "PTPRC", "CD3D", "CD4", "CD8A", "MS4A1", "CD14", "LYZ",
    "NKG7", "GNLY", "HBB", "ALB", "EPCAM", "COL1A1", "VIM", "MKI67", "SOX2",
];

/// Up to `n` example genes of `symbols` (as the file spells them): the
/// familiar ones it holds first, then its first genes.
fn example_genes(symbols: &[String], n: usize) -> Vec<String> {
    let by_upper: std::collections::HashMap<String, &String> =
        symbols.iter().map(|s| (s.to_uppercase(), s)).collect();
    let mut out: Vec<String> = FAMILIAR_GENES
        .iter()
        .filter_map(|g| by_upper.get(*g).map(|s| s.to_string()))
        .take(n)
        .collect();
    for s in symbols {
        if out.len() >= n {
            break;
        }
        if !out.contains(s) {
            out.push(s.clone());
        }
    }
    out
}

fn guess_symbol_column(var: &Frame) -> Option<String> {
    const PREFERRED: [&str; 7] = [
        "gene_symbols",
        "feature_name",
        "gene_name",
        "gene_names",
        "symbol",
        "gene_symbol",
        "name",
    ];
    let ok = |name: &str| {
        var.column(name).is_some_and(|c| {
            matches!(c.data, ColumnData::Str(_) | ColumnData::Categorical { .. })
                && !looks_like_ensembl(
                    &c.data
                        .texts()
                        .into_iter()
                        .take(1000)
                        .flatten()
                        .collect::<Vec<_>>(),
                )
        })
    };
    PREFERRED
        .iter()
        .find(|n| ok(n))
        .map(|s| s.to_string())
        .or_else(|| {
            var.columns
                .iter()
                .filter(|c| ok(&c.name))
                .find(|c| c.data.value_counts().len() * 10 >= c.data.len() * 9)
                .map(|c| c.name.clone())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples_are_familiar_genes_in_the_files_spelling_then_its_first() {
        let genes: Vec<String> = ["AL627309.1", "Gm123", "Malat1", "Actb", "Xkr4"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            example_genes(&genes, 4),
            ["Actb", "Malat1", "AL627309.1", "Gm123"]
        );
        assert_eq!(example_genes(&genes, 1), ["Actb"]);
        assert_eq!(example_genes(&genes[..2], 10), ["AL627309.1", "Gm123"]);
    }
}
