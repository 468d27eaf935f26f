//! The rank-expression fit (the inverse transform) on a sample of cells:
//! during a conversion, or straight from a file (`c2s fit`).

use std::path::Path;

use rand::seq::index::sample;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::blocks::stream_blocks;
use super::{InputOptions, Job, Prepared, Progress};
use crate::error::{DataError, Result};
use crate::inverse::{fit_rank_expression, fit_ranked, RankFit};
use crate::matrix::{RowChunk, ValueKind};
use crate::preprocess::{median_total, normalize_log, normalize_value, Preprocess};
use crate::sentence::ValueRuns;

/// The rank-expression fit on the sampled cells, whose values come ranked
/// (as runs of equal values) from the main pass: ranks do not depend on
/// normalisation, and one log per run is enough.
pub(super) fn fit_sample(
    mut cells: Vec<(usize, ValueRuns, f64)>,
    target: f64,
    pre: &Preprocess,
    kind: ValueKind,
) -> Option<RankFit> {
    // Sequential: a few tens of thousands of runs, while the pool writes.
    cells.sort_unstable_by_key(|c| c.0);
    let normalised: Vec<ValueRuns> = cells
        .into_iter()
        .map(|(_, mut runs, total)| {
            for (v, _) in runs.iter_mut() {
                *v = normalize_value(*v, total, target, pre.log_base, kind);
            }
            runs
        })
        .collect();
    fit_ranked(&normalised)
}

/// Copies chosen rows out of the blocks streaming past, so a sample needs no
/// second read of the file (random row reads decompress whole HDF5 chunks).
struct RowCollector {
    rows: Vec<usize>,
    next: usize,
    out: RowChunk,
}

impl RowCollector {
    fn new(rows: Vec<usize>) -> Self {
        RowCollector {
            rows,
            next: 0,
            out: RowChunk {
                indptr: vec![0],
                ..Default::default()
            },
        }
    }

    fn take(&mut self, chunk: &RowChunk) {
        let end = chunk.start + chunk.n_rows();
        while self.next < self.rows.len() && self.rows[self.next] < end {
            let r = self.rows[self.next];
            if r >= chunk.start {
                let (idx, val) = chunk.row(r - chunk.start);
                self.out.indices.extend_from_slice(idx);
                self.out.data.extend_from_slice(val);
                self.out.indptr.push(self.out.data.len());
            }
            self.next += 1;
        }
    }

    fn finish(self) -> (Vec<usize>, RowChunk) {
        (self.rows, self.out)
    }
}

/// A seeded sample of `k` of `n` positions, sorted.
pub fn sample_rows(n: usize, k: usize, seed: u64) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x05ee_df17);
    let mut v = sample(&mut rng, n, k.min(n)).into_vec();
    v.sort_unstable();
    v
}

/// Fits the rank-expression line on the given file rows.
fn fit_on(
    p: &Prepared,
    rows: &[usize],
    raw: &RowChunk,
    keep_gene: &[bool],
    target: f64,
    pre: &Preprocess,
) -> Result<Option<RankFit>> {
    let mut chunk = RowChunk {
        start: 0,
        indptr: vec![0],
        ..Default::default()
    };
    let mut totals = Vec::with_capacity(rows.len());
    for i in 0..raw.n_rows() {
        let (idx, val) = raw.row(i);
        let mut t = 0.0;
        for (&j, &v) in idx.iter().zip(val) {
            if keep_gene[j as usize] && v > 0.0 {
                chunk.indices.push(j);
                chunk.data.push(v);
                t += v;
            }
        }
        totals.push(t);
        chunk.indptr.push(chunk.data.len());
    }
    normalize_log(&mut chunk, &totals, target, pre.log_base, p.kind);
    let keys: Vec<u64> = rows.iter().map(|&r| p.cell_keys[r]).collect();
    Ok(fit_rank_expression(&chunk, &keys, &p.gene_keys))
}

#[derive(Debug, Clone, Serialize)]
pub struct FitSummary {
    pub fit: Option<RankFit>,
    pub target_sum: f64,
    pub matrix: String,
    pub value_kind: ValueKind,
    pub cells: Vec<usize>,
}

/// Fits the inverse transform straight from a file: on the given cell rows,
/// or on a seeded sample of `sample` cells. No filtering (as the reference).
pub fn fit_file(
    input: &Path,
    opts: &InputOptions,
    cells: Option<Vec<usize>>,
    sample_size: usize,
    job: &Job,
) -> Result<FitSummary> {
    let p = Prepared::open(input, opts, &[])?;
    let pre = &opts.preprocess;
    let n = p.src.n_rows;
    let mut rows = cells.unwrap_or_else(|| sample_rows(n, sample_size, opts.seed));
    rows.sort_unstable();
    rows.dedup();
    if let Some(&bad) = rows.iter().find(|&&r| r >= n) {
        return Err(DataError::bad(
            input,
            "cells",
            format!("cell index {bad} is out of range ({n} cells)"),
            "list cell positions from 0",
        ));
    }
    let mut sample = RowCollector::new(rows.clone());
    let target = match (pre.target_sum, p.kind) {
        (Some(t), _) => t,
        (None, ValueKind::RawCounts) => {
            let mut totals = vec![0f64; n];
            let blocks = p.src.chunks(opts.block_values);
            let mut done = 0;
            stream_blocks(&p.src, &blocks, None, job, |c| {
                for i in 0..c.n_rows() {
                    totals[c.start + i] = c.row(i).1.iter().sum();
                }
                sample.take(&c);
                done += c.n_rows() as u64;
                (job.progress)(Progress {
                    stage: "cell totals",
                    done,
                    total: n as u64,
                });
                Ok(())
            })?;
            median_total(&totals)
        }
        _ => 1.0, // not used: the data is already normalised
    };
    let (_, mut raw) = sample.finish();
    if raw.n_rows() != rows.len() {
        raw = p.src.read_row_list(&rows)?;
    }
    let keep = vec![true; p.src.n_cols];
    let fit = fit_on(&p, &rows, &raw, &keep, target, pre)?;
    Ok(FitSummary {
        fit,
        target_sum: target,
        matrix: p.matrix_id.to_string(),
        value_kind: p.kind,
        cells: rows,
    })
}
