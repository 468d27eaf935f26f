//! Sentences (real or generated) back to expression, saved as .h5ad.

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;

use crate::dataset::{read_sentences, SentenceRecord};
use crate::error::{DataError, Result};
use crate::h5ad_writer::{write_h5ad, H5adContent};
use crate::inverse::{parse_sentence, reconstruct, RankFit};
use crate::vocabulary::Vocabulary;

#[derive(Debug, Clone, Serialize)]
pub struct ReconstructSummary {
    pub cells: usize,
    pub genes: usize,
    pub words: usize,
    pub unknown_words: usize,
    pub repeated_genes: usize,
    /// Share of words that are genes of the vocabulary.
    pub valid_share: f64,
    /// Share of valid gene mentions that are not repeats.
    pub unique_share: f64,
}

/// Reads a fit from a fit.json written by `convert` or `fit` (or a bare fit object).
pub fn read_fit(path: &Path) -> Result<RankFit> {
    let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        DataError::bad(
            path,
            "file",
            format!("not JSON: {e}"),
            "give the fit.json written by c2s convert or c2s fit",
        )
    })?;
    let f = v.get("fit").cloned().unwrap_or(v);
    serde_json::from_value(f).map_err(|e| {
        DataError::bad(
            path,
            "fit",
            format!("no usable fit: {e}"),
            "give the fit.json written by c2s convert or c2s fit",
        )
    })
}

/// Builds cells x genes expression for `records` and writes them as .h5ad.
pub(crate) fn reconstruct_to_h5ad(
    records: &[SentenceRecord],
    vocab: &Vocabulary,
    fit: &RankFit,
    output: &Path,
) -> Result<ReconstructSummary> {
    let lookup: HashMap<String, u32> = vocab
        .genes
        .iter()
        .enumerate()
        .map(|(i, g)| (g.clone(), i as u32))
        .collect();
    let mut indptr = vec![0u64];
    let (mut indices, mut data) = (Vec::new(), Vec::new());
    let (mut words, mut unknown, mut repeated, mut mentions, mut distinct) = (0, 0, 0, 0, 0);
    for r in records {
        let p = parse_sentence(&r.sentence, &lookup, " ");
        words += p.n_words;
        unknown += p.unknown_words;
        repeated += p.repeated_genes;
        mentions += p.n_words - p.unknown_words;
        distinct += p.genes.len();
        for (g, x) in reconstruct(&p, fit) {
            indices.push(g);
            data.push(x as f32);
        }
        indptr.push(data.len() as u64);
    }
    let names: Vec<String> = records.iter().map(|r| r.cell_name.clone()).collect();
    let mut label_names: Vec<String> = Vec::new();
    for r in records {
        for (k, _) in &r.labels {
            if !label_names.contains(k) {
                label_names.push(k.clone());
            }
        }
    }
    let columns: Vec<(String, Vec<Option<String>>)> = label_names
        .iter()
        .map(|k| {
            (
                k.clone(),
                records
                    .iter()
                    .map(|r| {
                        r.labels
                            .iter()
                            .find(|l| &l.0 == k)
                            .and_then(|l| l.1.clone())
                    })
                    .collect(),
            )
        })
        .collect();
    write_h5ad(
        output,
        &H5adContent {
            obs_names: &names,
            obs_columns: &columns,
            var_names: &vocab.genes,
            indptr: &indptr,
            indices: &indices,
            data: &data,
        },
    )?;
    Ok(ReconstructSummary {
        cells: records.len(),
        genes: vocab.len(),
        words,
        unknown_words: unknown,
        repeated_genes: repeated,
        valid_share: if words > 0 {
            (words - unknown) as f64 / words as f64
        } else {
            0.0
        },
        unique_share: if mentions > 0 {
            distinct as f64 / mentions as f64
        } else {
            0.0
        },
    })
}

/// Reconstructs the sentences in `input` (dataset directory, .parquet, .jsonl or .txt).
pub fn reconstruct_file(
    input: &Path,
    vocab_path: &Path,
    fit_path: &Path,
    output: &Path,
) -> Result<ReconstructSummary> {
    let vocab = Vocabulary::read_tsv(vocab_path)?;
    if vocab.is_empty() {
        return Err(DataError::bad(
            vocab_path,
            "file",
            "the vocabulary is empty",
            "give the vocabulary.tsv of a converted dataset",
        ));
    }
    let fit = read_fit(fit_path)?;
    let records = read_sentences(input)?;
    if records.is_empty() {
        return Err(DataError::bad(
            input,
            "file",
            "there are no sentences in this file",
            "give a file with one sentence per line, a .jsonl or a dataset directory",
        ));
    }
    reconstruct_to_h5ad(&records, &vocab, &fit, output)
}
