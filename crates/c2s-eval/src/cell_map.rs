//! A two-dimensional map of cells (PCA, and UMAP on request) from their
//! expression: the dataset screen's first look at a file, and the Annotate
//! screen's map of the answers.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use c2s_data::expression::{sample_file_expression, FileSample};
use c2s_data::InputOptions;
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

/// Cells a map shows unless asked for more: a quick first look.
pub(crate) const MAP_CELLS: usize = 5_000;
/// The most a map shows: bench/plot.sh draws 50,000 points in about half a
/// second and zooms at about 30 frames a second under Xvfb.
pub(crate) const MAP_CELLS_MAX: usize = 50_000;

/// Which map of a file to draw.
#[derive(Debug, Clone, Default)]
pub struct FileMapRequest {
    /// Cells sampled (seeded); `None`: MAP_CELLS. At most MAP_CELLS_MAX.
    pub max_cells: Option<usize>,
    /// UMAP of the principal components, else the first two components.
    pub umap: bool,
    /// An obs column whose values colour the cells.
    pub colour_by: Option<String>,
}

/// Each cell's final answer and its confidence, by cell name (an
/// annotation's records): the map is coloured by them instead of a column.
pub type CellAnswers = HashMap<String, (String, Option<f64>)>;

/// A map of a file's cells as the app draws it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct FileMap {
    pub x: Vec<f64>,
    pub y: Vec<f64>,
    /// Each point's value of the colour column, or its answer.
    pub labels: Option<Vec<String>>,
    /// "PCA" or "UMAP".
    pub method: String,
    pub axis_names: [String; 2],
    pub n_cells_in_file: usize,
    /// The file's genes, sorted, for the colour-by-gene search.
    pub genes: Vec<String>,
    /// Each point's cell name, for the tooltips.
    pub names: Vec<String>,
    /// With answers: each point's confidence in its answer (none for a
    /// cell not annotated or answered freely), to colour the map by.
    pub confidences: Option<Vec<Option<f64>>>,
}

/// Samples a file's cells as `convert` would read them and maps them;
/// returns the sample too, so the map can be coloured by a gene later.
/// `progress` gets (stage, done, total); `cancel` is checked between stages.
pub fn map_file(
    path: &Path,
    opts: &InputOptions,
    req: &FileMapRequest,
    answers: Option<&CellAnswers>,
    progress: &dyn Fn(&str, u64, u64),
    cancel: &AtomicBool,
) -> Result<(FileMap, FileSample)> {
    let stages = if req.umap { 3 } else { 2 };
    progress("reading cells", 0, stages);
    let max_cells = req.max_cells.unwrap_or(MAP_CELLS).clamp(1, MAP_CELLS_MAX);
    let sample = sample_file_expression(path, opts, max_cells, req.colour_by.as_deref())?;
    if cancel.load(Ordering::Relaxed) {
        return Err(EvalError::Cancelled);
    }
    progress(if req.umap { "PCA, then UMAP" } else { "PCA" }, 1, stages);
    let map = cell_map(
        &sample.cells,
        sample.genes.len(),
        req.umap,
        opts.seed,
        cancel,
    )?;
    let (pts, axis_names) = match map.umap {
        Some(u) => (u, ["UMAP 1".to_string(), "UMAP 2".to_string()]),
        None => {
            let r = map.pca_explained_variance_ratio;
            let pc = |k: usize| format!("PC {} ({:.1} %)", k + 1, 100.0 * r[k]);
            (map.pca, [pc(0), pc(1)])
        }
    };
    let mut genes = sample.genes.clone();
    genes.sort_unstable();
    // Cells the annotation left out (another split, a filter) say so.
    let answer = |n: &String| answers.and_then(|a| a.get(n));
    let labels = match answers {
        Some(_) => Some(
            sample
                .names
                .iter()
                .map(|n| answer(n).map_or_else(|| "(not annotated)".into(), |(a, _)| a.clone()))
                .collect(),
        ),
        None => sample.labels.clone(),
    };
    let data = FileMap {
        x: pts.iter().map(|p| p[0]).collect(),
        y: pts.iter().map(|p| p[1]).collect(),
        labels,
        method: if req.umap { "UMAP" } else { "PCA" }.into(),
        axis_names,
        n_cells_in_file: sample.n_cells_in_file,
        genes,
        names: sample.names.clone(),
        confidences: answers.map(|_| {
            sample
                .names
                .iter()
                .map(|n| answer(n).and_then(|(_, c)| *c))
                .collect()
        }),
    };
    Ok((data, sample))
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

    #[test]
    fn maps_a_file_coloured_by_a_column_or_by_answers() {
        let file = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/data/wu2020-tcells-200.h5ad");
        let opts = InputOptions::default();
        let never = AtomicBool::new(false);
        let stages = std::sync::Mutex::new(Vec::new());
        let progress =
            |s: &str, done, total| stages.lock().unwrap().push((s.to_string(), done, total));
        let req = FileMapRequest {
            max_cells: Some(50),
            umap: false,
            colour_by: Some("cluster_orig".into()),
        };
        let (map, sample) = map_file(&file, &opts, &req, None, &progress, &never).unwrap();
        assert_eq!((map.x.len(), map.y.len(), map.names.len()), (50, 50, 50));
        assert_eq!(map.n_cells_in_file, 200);
        assert!(
            map.axis_names[0].starts_with("PC 1 ("),
            "{:?}",
            map.axis_names
        );
        assert_eq!(map.labels.as_ref().unwrap().len(), 50);
        assert!(map.confidences.is_none());
        assert!(map.genes.windows(2).all(|w| w[0] <= w[1]), "genes sorted");
        assert_eq!(sample.names, map.names);
        assert_eq!(stages.lock().unwrap().len(), 2);

        // Coloured by answers: cells the answers leave out say so.
        let answers =
            CellAnswers::from([(map.names[3].clone(), ("T cell".to_string(), Some(0.9)))]);
        let (by_answer, _) =
            map_file(&file, &opts, &req, Some(&answers), &|_, _, _| {}, &never).unwrap();
        let labels = by_answer.labels.unwrap();
        assert_eq!(labels[3], "T cell");
        assert_eq!(
            labels.iter().filter(|l| *l == "(not annotated)").count(),
            49
        );
        let conf = by_answer.confidences.unwrap();
        assert_eq!((conf[3], conf[0]), (Some(0.9), None));
        assert_eq!(by_answer.x, map.x, "the same seeded sample and map");

        let umap = FileMapRequest { umap: true, ..req };
        let (u, _) = map_file(&file, &opts, &umap, None, &|_, _, _| {}, &never).unwrap();
        assert_eq!(
            (u.method.as_str(), u.axis_names[0].as_str()),
            ("UMAP", "UMAP 1")
        );
        let stop = AtomicBool::new(true);
        let err = map_file(&file, &opts, &umap, None, &|_, _, _| {}, &stop).unwrap_err();
        assert!(matches!(err, EvalError::Cancelled));
    }
}
