//! A few cells' sentences as a conversion would write them, before it runs.

use std::path::Path;

use serde::Serialize;

use super::{InputOptions, Prepared};
use crate::error::Result;
use crate::sentence::Ranker;

/// One cell's sentence as a conversion would write it, for a preview.
#[derive(Debug, Clone, Serialize)]
pub struct PreviewCell {
    pub cell_name: String,
    /// The first `max_words` genes, highest expression first.
    pub words: Vec<String>,
    /// Expressed genes in all.
    pub expressed: usize,
}

/// Sentences of the first `n` cells with the same ranking and tie order as
/// `convert` (before the gene filter `min_cells`, which needs every cell).
pub fn preview_sentences(
    path: &Path,
    opts: &InputOptions,
    n: usize,
    max_words: usize,
) -> Result<Vec<PreviewCell>> {
    let p = Prepared::open(path, opts, &[])?;
    let rows: Vec<usize> = (0..p.ad.n_obs().min(n)).collect();
    let raw = p.src.read_row_list(&rows)?;
    let mut ranker = Ranker::default();
    Ok(rows
        .iter()
        .enumerate()
        .map(|(i, &r)| {
            let (idx, val) = raw.row(i);
            let expressed = ranker.rank(idx, val, p.cell_keys[r], &p.gene_keys);
            PreviewCell {
                cell_name: p.ad.obs.index[r].clone(),
                words: ranker
                    .genes()
                    .take(max_words)
                    .map(|g| p.genes.words[g as usize].clone())
                    .collect(),
                expressed,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use super::*;
    use crate::convert::{convert, ConvertOptions, Job};
    use crate::dataset;

    #[test]
    fn preview_matches_the_converted_sentences() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/pbmc3k-10x.h5ad");
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("ds");
        let never = AtomicBool::new(false);
        let job = Job {
            progress: &|_| {},
            cancel: &never,
        };
        convert(&src, &out, &ConvertOptions::default(), &job).unwrap();
        let converted = dataset::read_sentences(&out).unwrap();
        let preview = preview_sentences(&src, &InputOptions::default(), 3, 40).unwrap();
        assert_eq!(preview.len(), 3);
        for (p, c) in preview.iter().zip(&converted) {
            assert_eq!(p.cell_name, c.cell_name);
            let words: Vec<&str> = c.sentence.split(' ').take(40).collect();
            assert_eq!(p.words, words);
            assert_eq!(p.expressed, c.sentence.split(' ').count());
        }
    }
}
