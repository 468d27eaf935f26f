//! Over-clustering of cells for majority voting, as CellTypist does it with
//! scanpy: the 2,500 most variable genes scaled to unit variance (clipped at
//! 10), 50 principal components, the 10-neighbour UMAP graph, and Leiden at a
//! resolution that grows with the number of cells (many small clusters, so
//! a vote never merges two types). Leiden is leiden-rs's (modularity with a
//! resolution, which is scanpy's RBConfiguration), run single-threaded so a
//! seed gives the same clusters on every machine.

use ndarray::Array2;

use crate::error::{EvalError, Result};
use crate::pca::Pca;
use crate::profiles::{dense, variable_genes, SparseCell};
use crate::umap::{fuzzy_graph, FuzzyGraph};

/// Neighbours of each cell in the graph, itself included (scanpy's
/// `n_neighbors = 10` in CellTypist).
pub(crate) const NEIGHBOURS: usize = 10;
const VARIABLE_GENES: usize = 2500;
const COMPONENTS: usize = 50;
/// scanpy's `pp.scale(max_value = 10)`.
const MAX_SCALED: f64 = 10.0;

/// CellTypist's Leiden resolution for a dataset of `n` cells.
pub(crate) fn over_clustering_resolution(n: usize) -> f64 {
    match n {
        0..5_000 => 5.0,
        5_000..20_000 => 10.0,
        20_000..40_000 => 15.0,
        40_000..100_000 => 20.0,
        100_000..200_000 => 25.0,
        _ => 30.0,
    }
}

/// Genes scaled to zero mean and unit variance, clipped at `MAX_SCALED`
/// (constant genes stay 0).
fn scale(mut x: Array2<f64>) -> Array2<f64> {
    let n = x.nrows().max(1) as f64;
    for mut col in x.columns_mut() {
        let mean = col.sum() / n;
        let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        let sd = var.sqrt();
        col.mapv_inplace(|v| {
            if sd > 0.0 {
                ((v - mean) / sd).min(MAX_SCALED)
            } else {
                0.0
            }
        });
    }
    x
}

/// Each cell's over-cluster (numbered from 0, largest cluster first, ties by
/// first cell), from its normalised log expression over `n_genes` genes.
/// A handful of cells (no more than `NEIGHBOURS`) is one cluster.
pub fn over_cluster(cells: &[SparseCell], n_genes: usize, seed: u64) -> Result<Vec<u32>> {
    let n = cells.len();
    if n <= NEIGHBOURS {
        return Ok(vec![0; n]);
    }
    let panel = variable_genes(cells, n_genes, VARIABLE_GENES);
    if panel.len() < 2 {
        return Err(EvalError::bad(
            "over-clustering",
            format!("the cells vary in {} gene(s)", panel.len()),
            "cluster cells that express different genes",
        ));
    }
    let refs: Vec<&SparseCell> = cells.iter().collect();
    let x = scale(dense(&refs, &panel));
    let pca = Pca::fit(x.view(), COMPONENTS.min(n - 1).min(panel.len()), seed)?;
    let z = pca.transform(x.view());
    let FuzzyGraph { edges, .. } = fuzzy_graph(z.view(), NEIGHBOURS)?;
    leiden(n, &edges, over_clustering_resolution(n), seed)
}

/// Leiden communities of an undirected weighted graph (edges listed from
/// both ends, as `fuzzy_graph` gives them), renumbered largest first.
pub fn leiden(
    n: usize,
    edges: &[(usize, usize, f32)],
    resolution: f64,
    seed: u64,
) -> Result<Vec<u32>> {
    let fail = |e: leiden_rs::LeidenError| {
        EvalError::bad(
            "over-clustering",
            format!("Leiden failed: {e}"),
            "report this",
        )
    };
    let mut b = leiden_rs::GraphDataBuilder::new(n);
    for &(i, j, w) in edges {
        if i < j && w > 0.0 {
            b.add_edge(i, j, w as f64).map_err(fail)?;
        }
    }
    let graph = b.build().map_err(fail)?;
    let config = leiden_rs::LeidenConfig {
        resolution,
        seed: Some(seed),
        ..Default::default()
    };
    let out = leiden_rs::Leiden::new(config).run(&graph).map_err(fail)?;
    let raw: Vec<usize> = (0..n).map(|i| out.partition.community_of(i)).collect();
    // Renumber: largest first, then by first cell, as scanpy orders clusters.
    let mut sizes: std::collections::HashMap<usize, (usize, usize)> = Default::default();
    for (i, &c) in raw.iter().enumerate() {
        sizes.entry(c).or_insert((0, i)).0 += 1;
    }
    let mut order: Vec<(usize, (usize, usize))> = sizes.into_iter().collect();
    order.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.1 .1.cmp(&b.1 .1)));
    let new: std::collections::HashMap<usize, u32> = order
        .iter()
        .enumerate()
        .map(|(k, (c, _))| (*c, k as u32))
        .collect();
    Ok(raw.iter().map(|c| new[c]).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Cells of `groups` kinds, each kind expressing its own 20 genes.
    fn blobs(groups: usize, per: usize, seed: u64) -> Vec<SparseCell> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        (0..groups * per)
            .map(|i| {
                let g = i % groups;
                let mut c: SparseCell = (0..20)
                    .map(|k| ((g * 20 + k) as u32, 2.0 + rng.random::<f64>()))
                    .collect();
                // Shared noise genes.
                c.extend((0..10).map(|k| ((groups * 20 + k) as u32, rng.random::<f64>())));
                c
            })
            .collect()
    }

    #[test]
    fn resolution_grows_with_the_cells_as_celltypist() {
        assert_eq!(over_clustering_resolution(2_700), 5.0);
        assert_eq!(over_clustering_resolution(5_000), 10.0);
        assert_eq!(over_clustering_resolution(150_000), 25.0);
        assert_eq!(over_clustering_resolution(1_000_000), 30.0);
    }

    #[test]
    fn clusters_never_mix_distinct_kinds_and_are_reproducible_for_a_seed() {
        let cells = blobs(4, 60, 1);
        let n_genes = 4 * 20 + 10;
        let a = over_cluster(&cells, n_genes, 7).unwrap();
        assert_eq!(a, over_cluster(&cells, n_genes, 7).unwrap());
        let k = *a.iter().max().unwrap() as usize + 1;
        assert!(k >= 4, "{k} clusters");
        // Each cluster holds one kind only.
        for c in 0..k as u32 {
            let kinds: std::collections::HashSet<usize> = (0..cells.len())
                .filter(|&i| a[i] == c)
                .map(|i| i % 4)
                .collect();
            assert_eq!(kinds.len(), 1, "cluster {c} mixes kinds {kinds:?}");
        }
        // Numbered largest first.
        let size = |c: u32| a.iter().filter(|&&x| x == c).count();
        assert!((1..k as u32).all(|c| size(c - 1) >= size(c)));
    }

    #[test]
    fn a_few_cells_are_one_cluster() {
        let cells = blobs(2, 4, 1);
        assert_eq!(over_cluster(&cells, 50, 1).unwrap(), vec![0; 8]);
        assert!(over_cluster(&[], 50, 1).unwrap().is_empty());
    }
}
