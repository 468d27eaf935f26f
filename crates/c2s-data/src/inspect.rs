//! What is in a file, for `c2s inspect` and the app's dataset screen.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::anndata::{AnnData, FileFormat};
use crate::error::Result;
use crate::frame::{ColumnData, ColumnSummary, Frame};
use crate::matrix::{Storage, ValueKind};
use crate::sentence::looks_like_ensembl;

#[derive(Debug, Clone, Serialize)]
pub struct MatrixReport {
    pub name: String,
    pub field: String,
    pub storage: Storage,
    pub dtype: String,
    pub cells: usize,
    pub genes: usize,
    pub stored_values: Option<u64>,
    pub holds: ValueKind,
    pub description: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
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
    pub notes: Vec<String>,
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
    let mut notes = ad.notes.clone();
    for m in &matrices {
        if m.storage == Storage::Csc {
            notes.push(format!(
                "matrix {} is stored by gene (CSC); converting it loads it whole into memory",
                m.name
            ));
        }
        if m.holds == ValueKind::Scaled {
            notes.push(format!("matrix {} holds scaled data with negative values and cannot be ranked; convert uses {}", m.name, default_matrix));
        }
    }
    let var = ad.var_for(&default_matrix);
    let ensembl = looks_like_ensembl(&var.index);
    let symbol_col = if ensembl {
        guess_symbol_column(var)
    } else {
        None
    };
    if ensembl {
        notes.push(match &symbol_col {
            Some(c) => format!("var_names are Ensembl IDs; gene symbols seem to be in var column `{c}` (use --gene-column {c})"),
            None => "var_names are Ensembl IDs and no var column seems to hold gene symbols".into(),
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

/// Human symbols are upper case (CD3E), mouse symbols capitalised (Cd3e).
pub fn guess_species(symbols: &[String]) -> &'static str {
    let (mut upper, mut capital) = (0, 0);
    for s in symbols.iter().take(5000) {
        let letters: Vec<char> = s.chars().filter(|c| c.is_alphabetic()).collect();
        if letters.len() < 2 {
            continue;
        }
        if letters.iter().all(|c| c.is_uppercase()) {
            upper += 1;
        } else if letters[0].is_uppercase() && letters[1..].iter().all(|c| c.is_lowercase()) {
            capital += 1;
        }
    }
    if upper + capital < 10 {
        "unknown"
    } else if upper > 4 * capital {
        "human"
    } else if capital > 4 * upper {
        "mouse"
    } else {
        "unknown"
    }
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
