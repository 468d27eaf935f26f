//! How real generated cells look (REFERENCE.md section 6): k-NN accuracy
//! against the requested cell type, Gromov-Wasserstein distance to real
//! cells, valid and unique gene shares, per-type mean-expression correlation;
//! the same for a ceiling (other real cells) and two floors (random genes,
//! real cells with shuffled labels).
//!
//! Real and generated cells go through the same path (first `top_k` words of
//! the sentence -> rank-expression fit), so a perfect generator scores like
//! the ceiling and truncation does not count against it.

use ndarray::{concatenate, s, Array2, Axis};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use c2s_data::convert::sample_rows;

use crate::correlation::{pearson, spearman};
use crate::error::{EvalError, Result, Stages};
use crate::gw::{entropic_gw_cancellable, pairwise_distances, GwOptions};
use crate::knn::KnnClassifier;
use crate::pca::Pca;
use crate::profiles::{
    dense, mean_expression, variable_genes, GeneShares, SentenceSpace, SparseCell,
};
use crate::umap::umap_2d;

/// Where the user's selections start among the evaluated sets (after the
/// generated cells, the ceiling and the two floors).
const SELECTIONS_FROM: usize = 4;

/// Cells given as sentences, each with the cell type it has (real) or was
/// asked for (generated; `None`: unconditional).
#[derive(Debug, Clone, Default)]
pub struct CellSet {
    pub sentences: Vec<String>,
    pub labels: Vec<Option<String>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GeneratedOptions {
    pub ks: Vec<usize>,
    pub n_pcs: usize,
    /// Highly variable genes kept for PCA.
    pub panel_genes: usize,
    /// Cells drawn from each cloud for Gromov-Wasserstein.
    pub gw_cells: usize,
    pub gw: GwOptions,
    /// Top genes per type in the mean-expression plot data.
    pub plot_genes: usize,
    pub umap: bool,
    pub umap_epochs: usize,
    pub seed: u64,
}

impl Default for GeneratedOptions {
    fn default() -> Self {
        GeneratedOptions {
            ks: vec![3, 5, 10, 25],
            n_pcs: 50,
            panel_genes: 2000,
            gw_cells: 500,
            gw: GwOptions::default(),
            plot_genes: 50,
            umap: true,
            umap_epochs: 500,
            seed: c2s_data::DEFAULT_SEED,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TypeCorrelation {
    pub cell_type: String,
    pub n_real: usize,
    pub n_set: usize,
    pub pearson: Option<f64>,
    pub spearman: Option<f64>,
}

/// The metrics of one set of cells against the real reference.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SetMetrics {
    pub name: String,
    pub n_cells: usize,
    /// Cells with a requested type in the reference, the ones k-NN scores.
    pub n_scored: usize,
    /// (k, accuracy).
    pub knn_accuracy: Vec<(usize, f64)>,
    /// (k, the mean over the requested types of each type's accuracy): each
    /// type counts once, so a set with a few cells of each type (generated
    /// cells) compares fairly with one whose types are as common as in the
    /// tissue (held-out real cells), where the common types dominate.
    pub balanced_knn_accuracy: Vec<(usize, f64)>,
    /// Each requested type's k-NN accuracy.
    pub knn_by_type: Vec<TypeKnn>,
    pub gw_distance: Option<f64>,
    pub gene_shares: GeneShares,
    pub type_correlation: Vec<TypeCorrelation>,
    pub mean_pearson: Option<f64>,
    pub mean_spearman: Option<f64>,
}

/// The k-NN accuracy of the cells of one requested type.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TypeKnn {
    pub cell_type: String,
    pub n_scored: usize,
    /// (k, accuracy).
    pub knn_accuracy: Vec<(usize, f64)>,
}

/// Per-type and balanced k-NN accuracy of the `scored` cells of `labels`,
/// given each k's predictions (in `scored` order).
fn accuracy_by_type(
    labels: &[Option<String>],
    scored: &[usize],
    ks: &[usize],
    preds: &[Vec<String>],
) -> (Vec<TypeKnn>, Vec<(usize, f64)>) {
    let mut by_type: std::collections::BTreeMap<&str, Vec<usize>> = Default::default();
    for (pos, &i) in scored.iter().enumerate() {
        if let Some(l) = labels[i].as_deref() {
            by_type.entry(l).or_default().push(pos);
        }
    }
    let types: Vec<TypeKnn> = by_type
        .iter()
        .map(|(t, positions)| TypeKnn {
            cell_type: t.to_string(),
            n_scored: positions.len(),
            knn_accuracy: ks
                .iter()
                .zip(preds)
                .map(|(&k, p)| {
                    let right = positions.iter().filter(|&&pos| p[pos] == *t).count();
                    (k, right as f64 / positions.len() as f64)
                })
                .collect(),
        })
        .collect();
    let balanced = ks
        .iter()
        .enumerate()
        .map(|(j, &k)| {
            let sum: f64 = types.iter().map(|t| t.knn_accuracy[j].1).sum();
            (k, sum / types.len().max(1) as f64)
        })
        .collect();
    (types, balanced)
}

/// A point of the PCA / UMAP plots.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PlotPoint {
    pub x: f64,
    pub y: f64,
    pub label: String,
    /// "real", "generated" or "selected" (real cells the user chose).
    pub source: &'static str,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct GeneMean {
    pub gene: String,
    pub real: f64,
    pub generated: f64,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TypeMeans {
    pub cell_type: String,
    pub genes: Vec<GeneMean>,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct GeneratedReport {
    pub top_k: Option<usize>,
    pub n_reference: usize,
    pub panel_genes: usize,
    pub pca_explained_variance_ratio: Vec<f64>,
    pub gw_cells: usize,
    pub gw_epsilon: f64,
    /// generated, then the ceiling, the two floors and the user's selections.
    pub sets: Vec<SetMetrics>,
    pub pca: Vec<PlotPoint>,
    pub umap: Option<Vec<PlotPoint>>,
    pub mean_expression: Vec<TypeMeans>,
}

/// Evaluates `generated` against the `reference` real cells (the k-NN
/// classifier's training set; held-out cells), with `ceiling` other real
/// held-out cells. `selections` (name, real cells chosen by the user, none
/// of the reference's) are scored as the generated cells are, beside them.
/// `genes` are the dataset vocabulary.
#[allow(clippy::too_many_arguments)]
pub(crate) fn evaluate_generated(
    reference: &CellSet,
    ceiling: &CellSet,
    generated: &CellSet,
    selections: &[(String, CellSet)],
    space: &SentenceSpace,
    genes: &[String],
    opts: &GeneratedOptions,
    stages: &Stages,
) -> Result<GeneratedReport> {
    // k-NN needs more reference cells than neighbours; larger k are left out.
    let ks: Vec<usize> = opts
        .ks
        .iter()
        .copied()
        .filter(|&k| k >= 1 && k < reference.sentences.len())
        .collect();
    if ks.is_empty() {
        return Err(EvalError::bad(
            "real cells",
            format!(
                "{} reference cells are too few for k-NN",
                reference.sentences.len()
            ),
            "evaluate against a larger split (--reference-split all)",
        ));
    }
    if generated.sentences.is_empty() {
        return Err(EvalError::bad(
            "generated cells",
            "the file holds no cells",
            "generate cells first with `c2s generate`",
        ));
    }
    stages.stage("reconstructing expression")?;
    let (random, shuffled) = floors(generated, ceiling, space, genes, opts.seed);
    // The last set is the ceiling's cloud again (labels aside): its GW is the ceiling's.
    let mut sets: Vec<(&str, &CellSet)> = vec![
        ("generated", generated),
        ("real held-out cells (ceiling)", ceiling),
        ("random genes (floor)", &random),
        ("real cells, shuffled labels (floor)", &shuffled),
    ];
    sets.extend(selections.iter().map(|(name, set)| (name.as_str(), set)));
    let ref_labels: Vec<String> = reference
        .labels
        .iter()
        .map(|l| l.clone().unwrap_or_default())
        .collect();
    let r = ReferenceSpace::fit(reference, &ref_labels, space, opts, stages)?;
    let knn = KnnClassifier::fit(r.z_ref.view(), r.labels)?;
    let mut out_sets: Vec<SetMetrics> = Vec::new();
    let mut z_generated = None;
    let mut z_selected = Vec::new();
    for (set_index, (name, set)) in sets.iter().enumerate() {
        stages.stage(name)?;
        // The shuffled floor's cloud is the ceiling's.
        let same_gw = (set_index == 3).then(|| out_sets[1].gw_distance);
        let (metrics, z, cells) = r.score(
            name, set, set_index, same_gw, &knn, &ks, space, opts, stages,
        )?;
        out_sets.push(metrics);
        if z_generated.is_none() {
            z_generated = Some((z, cells));
        } else if set_index >= SELECTIONS_FROM {
            z_selected.push(z);
        }
    }
    let (z_gen, gen_cells) = z_generated.expect("generated set evaluated first");
    let mut zs = vec![r.z_ref.view(), z_gen.view()];
    zs.extend(z_selected.iter().map(|z| z.view()));
    let labels = plot_labels(r.labels, generated, selections);
    let (pca, umap) = plot_points(&zs, &labels, opts, stages)?;
    let mean_expression = top_gene_means(
        &r.cells,
        r.labels,
        &gen_cells,
        &generated.labels,
        genes,
        opts.plot_genes,
    );
    Ok(GeneratedReport {
        top_k: space.top_k,
        n_reference: r.cells.len(),
        panel_genes: r.panel.len(),
        pca_explained_variance_ratio: r.pca.explained_variance_ratio.clone(),
        gw_cells: opts.gw_cells,
        gw_epsilon: opts.gw.epsilon,
        sets: out_sets,
        pca,
        umap,
        mean_expression,
    })
}

/// The floors: random genes with the generated cells' lengths and requests,
/// and the ceiling's cells with their labels shuffled.
fn floors(
    generated: &CellSet,
    ceiling: &CellSet,
    space: &SentenceSpace,
    genes: &[String],
    seed: u64,
) -> (CellSet, CellSet) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n_genes = space.n_genes();
    let random = CellSet {
        sentences: generated
            .sentences
            .iter()
            .map(|s| {
                let len = space.words(s).len().min(n_genes);
                let idx = rand::seq::index::sample(&mut rng, n_genes, len);
                idx.iter()
                    .map(|i| genes[i].as_str())
                    .collect::<Vec<_>>()
                    .join(space.delimiter())
            })
            .collect(),
        labels: generated.labels.clone(),
    };
    let mut shuffled_labels = ceiling.labels.clone();
    shuffled_labels.shuffle(&mut rng);
    let shuffled = CellSet {
        sentences: ceiling.sentences.clone(),
        labels: shuffled_labels,
    };
    (random, shuffled)
}

/// The real reference cells, reconstructed and projected: the space every
/// set is scored in (PCA of their most variable genes, their distances for
/// Gromov-Wasserstein).
struct ReferenceSpace<'a> {
    cells: Vec<SparseCell>,
    labels: &'a [String],
    panel: Vec<u32>,
    pca: Pca,
    z_ref: Array2<f64>,
    /// The reference's sampled cells' distances, divided by `scale`.
    c_ref: Array2<f64>,
    /// The reference's mean pairwise distance.
    scale: f64,
}

impl<'a> ReferenceSpace<'a> {
    /// `labels`: the reference cells' types ("" for none).
    fn fit(
        reference: &CellSet,
        labels: &'a [String],
        space: &SentenceSpace,
        opts: &GeneratedOptions,
        stages: &Stages,
    ) -> Result<Self> {
        let (cells, _) = space.cells(&reference.sentences);
        let panel = variable_genes(&cells, space.n_genes(), opts.panel_genes);
        if panel.len() < 2 {
            return Err(EvalError::bad(
                "real cells",
                "fewer than 2 genes vary across the reference cells",
                "evaluate more cells",
            ));
        }
        let refs: Vec<&SparseCell> = cells.iter().collect();
        let x_ref = dense(&refs, &panel);
        stages.stage("PCA")?;
        let pca = Pca::fit(x_ref.view(), opts.n_pcs, opts.seed)?;
        let z_ref = pca.transform(x_ref.view());
        let gw_rows = sample_rows(z_ref.nrows(), opts.gw_cells, opts.seed);
        let c_ref = pairwise_distances(z_ref.select(Axis(0), &gw_rows).view());
        let n_pairs = (c_ref.nrows() * c_ref.nrows().saturating_sub(1)).max(1) as f64;
        let scale = c_ref.sum() / n_pairs;
        let scale = if scale > 0.0 { scale } else { 1.0 };
        Ok(ReferenceSpace {
            cells,
            labels,
            panel,
            pca,
            z_ref,
            c_ref: c_ref / scale,
            scale,
        })
    }

    /// One set's metrics (`same_gw`: its GW distance, when its cloud is one
    /// already measured, measured or not), with its cells and their
    /// coordinates.
    #[allow(clippy::too_many_arguments)]
    fn score(
        &self,
        name: &str,
        set: &CellSet,
        set_index: usize,
        same_gw: Option<Option<f64>>,
        knn: &KnnClassifier,
        ks: &[usize],
        space: &SentenceSpace,
        opts: &GeneratedOptions,
        stages: &Stages,
    ) -> Result<(SetMetrics, Array2<f64>, Vec<SparseCell>)> {
        let (cells, shares) = space.cells(&set.sentences);
        let refs: Vec<&SparseCell> = cells.iter().collect();
        let z = self.pca.transform(dense(&refs, &self.panel).view());
        let known: std::collections::HashSet<&str> =
            self.labels.iter().map(|s| s.as_str()).collect();
        let scored: Vec<usize> = (0..set.labels.len())
            .filter(|&i| set.labels[i].as_deref().is_some_and(|l| known.contains(l)))
            .collect();
        let (knn_accuracy, knn_by_type, balanced_knn_accuracy) = if scored.is_empty() {
            (Vec::new(), Vec::new(), Vec::new())
        } else {
            let zq = z.select(Axis(0), &scored);
            let preds = knn.predict_many(zq.view(), ks)?;
            let overall = ks
                .iter()
                .zip(&preds)
                .map(|(&k, p)| {
                    let right = scored
                        .iter()
                        .zip(p)
                        .filter(|(&i, l)| set.labels[i].as_deref() == Some(l.as_str()))
                        .count();
                    (k, right as f64 / scored.len() as f64)
                })
                .collect();
            let (types, balanced) = accuracy_by_type(&set.labels, &scored, ks, &preds);
            (overall, types, balanced)
        };
        let gw_rows = sample_rows(z.nrows(), opts.gw_cells, opts.seed ^ (set_index as u64 + 1));
        let gw_distance = if let Some(g) = same_gw {
            g
        } else if gw_rows.len() >= 2 {
            let c = pairwise_distances(z.select(Axis(0), &gw_rows).view()) / self.scale;
            let p = vec![1.0 / self.c_ref.nrows() as f64; self.c_ref.nrows()];
            let q = vec![1.0 / c.nrows() as f64; c.nrows()];
            let cancel = stages.cancel;
            Some(
                entropic_gw_cancellable(self.c_ref.view(), c.view(), &p, &q, &opts.gw, cancel)?
                    .distance,
            )
        } else {
            None
        };
        let type_correlation = type_correlations(
            &self.cells,
            self.labels,
            &cells,
            &set.labels,
            space.n_genes(),
        );
        let mean_of = |f: fn(&TypeCorrelation) -> Option<f64>| {
            let v: Vec<f64> = type_correlation.iter().filter_map(f).collect();
            (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
        };
        let metrics = SetMetrics {
            name: name.to_string(),
            n_cells: set.sentences.len(),
            n_scored: scored.len(),
            knn_accuracy,
            balanced_knn_accuracy,
            knn_by_type,
            gw_distance,
            gene_shares: shares,
            mean_pearson: mean_of(|t| t.pearson),
            mean_spearman: mean_of(|t| t.spearman),
            type_correlation,
        };
        Ok((metrics, z, cells))
    }
}

/// Each plotted row's type and where it comes from: the reference, the
/// generated cells, then each selection.
fn plot_labels(
    reference: &[String],
    generated: &CellSet,
    selections: &[(String, CellSet)],
) -> Vec<(String, &'static str)> {
    let gen = generated.labels.iter().map(|l| {
        (
            l.clone().unwrap_or_else(|| "unconditional".into()),
            "generated",
        )
    });
    let selected = selections.iter().flat_map(|(_, set)| {
        set.labels
            .iter()
            .map(|l| (l.clone().unwrap_or_else(|| "no type".into()), "selected"))
    });
    reference
        .iter()
        .map(|l| (l.clone(), "real"))
        .chain(gen)
        .chain(selected)
        .collect()
}

/// The rows of `zs` on the first two components, and (if asked) on a UMAP
/// of all components.
fn plot_points(
    zs: &[ndarray::ArrayView2<f64>],
    labels: &[(String, &'static str)],
    opts: &GeneratedOptions,
    stages: &Stages,
) -> Result<(Vec<PlotPoint>, Option<Vec<PlotPoint>>)> {
    let points = |coords: &Array2<f64>| -> Vec<PlotPoint> {
        (0..coords.nrows())
            .map(|i| PlotPoint {
                x: coords[[i, 0]],
                y: coords[[i, 1]],
                label: labels[i].0.clone(),
                source: labels[i].1,
            })
            .collect()
    };
    let both = concatenate(Axis(0), zs).expect("same width");
    let pca = points(&both.slice(s![.., ..2.min(both.ncols())]).to_owned());
    let umap = if opts.umap && both.ncols() >= 2 && both.nrows() > crate::umap::N_NEIGHBORS {
        stages.stage("UMAP")?;
        Some(points(&umap_2d(both.view(), opts.umap_epochs, opts.seed)?))
    } else {
        None
    };
    Ok((pca, umap))
}

fn by_type<'a>(
    cells: &'a [SparseCell],
    labels: &[Option<String>],
    ty: &str,
) -> Vec<&'a SparseCell> {
    cells
        .iter()
        .zip(labels)
        .filter(|(_, l)| l.as_deref() == Some(ty))
        .map(|(c, _)| c)
        .collect()
}

fn types_of(labels: &[String]) -> Vec<String> {
    let mut t: Vec<String> = labels.to_vec();
    t.sort();
    t.dedup();
    t
}

/// Correlation of per-type mean expression over the genes either side expresses.
fn type_correlations(
    ref_cells: &[SparseCell],
    ref_labels: &[String],
    cells: &[SparseCell],
    labels: &[Option<String>],
    n_genes: usize,
) -> Vec<TypeCorrelation> {
    let ref_opt: Vec<Option<String>> = ref_labels.iter().cloned().map(Some).collect();
    types_of(ref_labels)
        .into_iter()
        .filter_map(|ty| {
            let real = by_type(ref_cells, &ref_opt, &ty);
            let mine = by_type(cells, labels, &ty);
            if mine.is_empty() {
                return None;
            }
            let (a, b) = (
                mean_expression(&real, n_genes),
                mean_expression(&mine, n_genes),
            );
            let keep: Vec<usize> = (0..n_genes).filter(|&g| a[g] > 0.0 || b[g] > 0.0).collect();
            let x: Vec<f64> = keep.iter().map(|&g| a[g]).collect();
            let y: Vec<f64> = keep.iter().map(|&g| b[g]).collect();
            Some(TypeCorrelation {
                cell_type: ty,
                n_real: real.len(),
                n_set: mine.len(),
                pearson: pearson(&x, &y),
                spearman: spearman(&x, &y),
            })
        })
        .collect()
}

fn top_gene_means(
    ref_cells: &[SparseCell],
    ref_labels: &[String],
    gen_cells: &[SparseCell],
    gen_labels: &[Option<String>],
    genes: &[String],
    top: usize,
) -> Vec<TypeMeans> {
    let n_genes = genes.len();
    let ref_opt: Vec<Option<String>> = ref_labels.iter().cloned().map(Some).collect();
    types_of(ref_labels)
        .into_iter()
        .filter_map(|ty| {
            let mine = by_type(gen_cells, gen_labels, &ty);
            if mine.is_empty() {
                return None;
            }
            let real = mean_expression(&by_type(ref_cells, &ref_opt, &ty), n_genes);
            let gen = mean_expression(&mine, n_genes);
            let mut order: Vec<usize> = (0..n_genes)
                .filter(|&g| real[g] > 0.0 || gen[g] > 0.0)
                .collect();
            order.sort_by(|&a, &b| real[b].max(gen[b]).total_cmp(&real[a].max(gen[a])));
            order.truncate(top);
            Some(TypeMeans {
                cell_type: ty,
                genes: order
                    .into_iter()
                    .map(|g| GeneMean {
                        gene: genes[g].clone(),
                        real: real[g],
                        generated: gen[g],
                    })
                    .collect(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_type_counts_once_in_the_balanced_accuracy() {
        // 4 cells of A (3 right at k = 1), 1 of B (wrong), 1 unscored.
        let labels: Vec<Option<String>> = ["A", "A", "A", "A", "B", "C"]
            .iter()
            .map(|s| Some(s.to_string()))
            .collect();
        let scored = [0, 1, 2, 3, 4];
        let preds = vec![
            ["A", "A", "A", "B", "A"].map(String::from).to_vec(),
            ["B", "B", "B", "B", "B"].map(String::from).to_vec(),
        ];
        let (types, balanced) = accuracy_by_type(&labels, &scored, &[1, 3], &preds);
        assert_eq!(types.len(), 2);
        assert_eq!((types[0].cell_type.as_str(), types[0].n_scored), ("A", 4));
        assert_eq!(types[0].knn_accuracy, vec![(1, 0.75), (3, 0.0)]);
        assert_eq!(types[1].knn_accuracy, vec![(1, 0.0), (3, 1.0)]);
        // Overall at k = 1 would be 3 of 5 (0.6); each type once: (0.75 + 0) / 2.
        assert_eq!(balanced, vec![(1, 0.375), (3, 0.5)]);
    }
}
