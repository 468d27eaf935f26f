//! The first pass of a conversion with filters: which cells and genes
//! survive the minimum counts of expressed genes and of cells.

use rayon::prelude::*;

use super::blocks::{pieces, stream_blocks};
use super::{Job, Prepared, Progress};
use crate::error::Result;
use crate::preprocess::Preprocess;
use crate::sentence::first_invalid;

/// Which cells and genes survive filter_cells(min_genes) then filter_genes(min_cells).
pub(super) fn scan_filters(
    p: &Prepared,
    pre: &Preprocess,
    blocks: &[(usize, usize)],
    job: &Job,
) -> Result<(Vec<bool>, Vec<bool>)> {
    let n_genes_total = p.src.n_cols;
    let mut keep_cell = vec![false; p.src.n_rows];
    let mut gene_cells = vec![0u64; n_genes_total];
    let mut done = 0u64;
    stream_blocks(&p.src, blocks, None, job, |chunk| {
        let parts: Vec<Result<(Vec<bool>, Vec<u64>)>> = pieces(chunk.n_rows())
            .par_iter()
            .map(|&(a, b)| {
                let mut keep = Vec::with_capacity(b - a);
                let mut counts = vec![0u64; n_genes_total];
                for i in a..b {
                    let (idx, val) = chunk.row(i);
                    if let Some((j, v)) = first_invalid(idx, val) {
                        return Err(p.bad_value(chunk.start + i, j, v));
                    }
                    let n = val.iter().filter(|&&v| v > 0.0).count();
                    let k = n >= pre.min_genes;
                    if k {
                        idx.iter()
                            .zip(val)
                            .filter(|(_, &v)| v > 0.0)
                            .for_each(|(&j, _)| counts[j as usize] += 1);
                    }
                    keep.push(k);
                }
                Ok((keep, counts))
            })
            .collect();
        let mut row = chunk.start;
        for part in parts {
            let (keep, counts) = part?;
            for k in keep {
                keep_cell[row] = k;
                row += 1;
            }
            gene_cells.iter_mut().zip(counts).for_each(|(a, b)| *a += b);
        }
        done += chunk.n_rows() as u64;
        (job.progress)(Progress {
            stage: "filtering",
            done,
            total: p.src.n_rows as u64,
        });
        Ok(())
    })?;
    let keep_gene = gene_cells
        .iter()
        .map(|&c| c as usize >= pre.min_cells)
        .collect();
    Ok((keep_cell, keep_gene))
}
