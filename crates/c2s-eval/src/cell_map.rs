//! A two-dimensional map of cells (PCA, and UMAP on request) from their
//! expression: the dataset screen's first look at a file.

use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;

use crate::error::{EvalError, Result};
use crate::pca::Pca;
use crate::profiles::{dense, variable_genes, SparseCell};
use crate::umap::umap_2d;

/// Genes and components as in the evaluation's expression space.
const PANEL_GENES: usize = 2000;
const N_PCS: usize = 50;
const UMAP_EPOCHS: usize = 200;

#[derive(Debug, Clone, Serialize)]
pub struct CellMap {
    /// First two principal components per cell.
    pub pca: Vec<[f64; 2]>,
    pub pca_explained_variance_ratio: [f64; 2],
    /// UMAP of the principal components, when asked for.
    pub umap: Option<Vec<[f64; 2]>>,
}

/// PCA (on the most variable genes) and optionally UMAP of `cells`,
/// reproducible for a seed. `cancel` is checked between the two.
pub fn cell_map(
    cells: &[SparseCell],
    n_genes: usize,
    umap: bool,
    seed: u64,
    cancel: &AtomicBool,
) -> Result<CellMap> {
    let panel = variable_genes(cells, n_genes, PANEL_GENES);
    let refs: Vec<&SparseCell> = cells.iter().collect();
    let x = dense(&refs, &panel);
    let k = N_PCS.min(x.nrows().saturating_sub(1)).min(x.ncols()).max(2);
    let pca = Pca::fit(x.view(), k, seed)?;
    let scores = pca.transform(x.view());
    let pts = |a: &ndarray::Array2<f64>| -> Vec<[f64; 2]> {
        a.rows()
            .into_iter()
            .map(|r| [r[0], r.get(1).copied().unwrap_or(0.0)])
            .collect()
    };
    let ratio = &pca.explained_variance_ratio;
    if umap && cancel.load(Ordering::Relaxed) {
        return Err(EvalError::Cancelled);
    }
    Ok(CellMap {
        pca: pts(&scores),
        pca_explained_variance_ratio: [
            ratio.first().copied().unwrap_or(0.0),
            ratio.get(1).copied().unwrap_or(0.0),
        ],
        umap: if umap {
            Some(pts(&umap_2d(scores.view(), UMAP_EPOCHS, seed)?))
        } else {
            None
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separates_two_groups_and_repeats() {
        // Two groups expressing different genes.
        let cells: Vec<SparseCell> = (0..60)
            .map(|i| {
                let base = if i < 30 { 0 } else { 10 };
                (0..10u32)
                    .map(|g| (base + g, 1.0 + ((i * 7 + g as usize) % 5) as f64 * 0.1))
                    .collect()
            })
            .collect();
        let go = AtomicBool::new(false);
        let m = cell_map(&cells, 20, true, 1, &go).unwrap();
        assert_eq!(m.pca.len(), 60);
        let mean = |r: std::ops::Range<usize>| r.clone().map(|i| m.pca[i][0]).sum::<f64>() / 30.0;
        assert!((mean(0..30) - mean(30..60)).abs() > 1.0);
        assert!(m.pca_explained_variance_ratio[0] > 0.5);
        let again = cell_map(&cells, 20, true, 1, &go).unwrap();
        assert_eq!(m.umap, again.umap);
        let stop = AtomicBool::new(true);
        assert!(matches!(
            cell_map(&cells, 20, true, 1, &stop),
            Err(EvalError::Cancelled)
        ));
    }
}
