//! Conversion of an expression file into a dataset directory of cell sentences:
//! streaming over blocks of cells (bounded memory), parallel within a block,
//! reading the next block while the current one is ranked.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};

use bytes::Bytes;
use rayon::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::anndata::{AnnData, ColumnSelection, FileFormat, MatrixId};
use crate::dataset::{
    self, EncodedBlock, JsonlSentence, ParquetCompression, ParquetSentences, PlainExports,
    SentenceBlock,
};
use crate::error::{DataError, Result};
use crate::gene_names::looks_like_ensembl;
use crate::inverse::RankFit;
use crate::manifest::{self, DatasetFiles, FitFile, Manifest, SourceFile};
use crate::matrix::{MatrixSource, RowChunk, ValueKind};
use crate::output::{self, TempFolder, Written};
use crate::preprocess::{median_total, Preprocess};
use crate::sentence::ValueRuns;
use crate::sentence::{first_invalid, gene_words, stable_hash, GeneWords, Ranker, WordTable};
use crate::split::{make_splits, Split, Splits};
use crate::vocabulary::Vocabulary;

mod blocks;
mod filter;
mod fit;
mod preview;

use blocks::{pieces, recv_from_pool, send_from_pool, stream_blocks};
use filter::scan_filters;
use fit::fit_sample;

pub use crate::conversion::{ConvertOptions, ConvertSummary, InputOptions, DEFAULT_BLOCK_VALUES};
pub use fit::{fit_file, sample_rows, FitSummary};
pub use preview::{preview_sentences, PreviewCell};

/// What a long job reports.
#[derive(Debug, Clone, Serialize)]
pub struct Progress {
    pub stage: &'static str,
    pub done: u64,
    pub total: u64,
}

/// Progress reporting and cancellation for a long job.
pub struct Job<'a> {
    pub progress: &'a (dyn Fn(Progress) + Sync),
    pub cancel: &'a AtomicBool,
}

impl Job<'_> {
    fn check(&self) -> Result<()> {
        if self.cancel.load(Ordering::Relaxed) {
            Err(DataError::Cancelled)
        } else {
            Ok(())
        }
    }
}

/// An opened input with everything needed to rank its cells.
pub struct Prepared {
    pub ad: AnnData,
    pub matrix_id: MatrixId,
    pub src: MatrixSource,
    pub kind: ValueKind,
    pub genes: GeneWords,
    pub gene_keys: Vec<u64>,
    pub cell_keys: Vec<u64>,
    pub notes: Vec<String>,
    /// The rows the kind was judged on, read already: a conversion takes
    /// them as its first block.
    pub sample: Option<RowChunk>,
}

impl Prepared {
    /// Opens `path` for ranking, reading of the obs columns only `obs_columns`
    /// (and of var only the gene-name column, if one is chosen).
    pub fn open(path: &Path, opts: &InputOptions, obs_columns: &[String]) -> Result<Self> {
        opts.check()?;
        let columns = ColumnSelection::only(obs_columns, opts.gene_column.as_slice());
        let mut ad = AnnData::open_with(path, &columns)?;
        unique_cell_names(path, &mut ad, opts.make_unique)?;
        let seed = opts.seed;
        let words_of = |matrix: &MatrixId| {
            gene_words(&ad, matrix, opts.gene_column.as_deref(), opts.make_unique).map(|g| {
                let keys = g.keys(seed);
                (g, keys)
            })
        };
        // The words of var (every matrix's genes but raw's) and the cells'
        // keys are made while the matrix is judged: that decompresses on the
        // pool, and this is a millisecond or two of one core's work.
        let (judged, (var_words, cell_keys)) = rayon::join(
            || match &opts.matrix {
                Some(m) => {
                    let src = ad.matrix(m)?;
                    let (kind, sample) = src.judge()?;
                    Ok((m.clone(), src, kind, sample))
                }
                None => ad.open_default_matrix_judged(),
            },
            || {
                let cell_keys: Vec<u64> = ad
                    .obs
                    .index
                    .iter()
                    .map(|n| stable_hash(seed, n.as_bytes()))
                    .collect();
                (words_of(&MatrixId::X), cell_keys)
            },
        );
        let (matrix_id, src, kind, sample) = judged?;
        let counts_alternative = || {
            ad.matrices
                .iter()
                .filter(|m| **m != matrix_id)
                .find(|m| ad.matrix(m).and_then(|s| s.value_kind()).ok() == Some(ValueKind::RawCounts))
                .map(|m| format!("use --matrix {m}, which holds raw counts"))
                .unwrap_or_else(|| "use the raw counts or the log-normalised matrix of this dataset (before scaling)".into())
        };
        match kind {
            ValueKind::Scaled => {
                return Err(DataError::bad(
                    path,
                    src.field(),
                    format!("matrix `{matrix_id}` holds negative values: it is scaled or centred data, whose ranks are meaningless"),
                    counts_alternative(),
                ))
            }
            ValueKind::NonFinite => {
                return Err(DataError::bad(
                    path,
                    src.field(),
                    format!("matrix `{matrix_id}` holds NaN or infinite values"),
                    counts_alternative(),
                ))
            }
            _ => {}
        }
        let (genes, gene_keys) = if matrix_id == MatrixId::Raw {
            words_of(&matrix_id)?
        } else {
            var_words?
        };
        let mut notes = ad.notes.clone();
        if !genes.case_collisions.is_empty() {
            notes.push(format!(
                "{} gene names differ from another only in case; they are kept apart with a suffix ({})",
                genes.case_collisions.len(),
                genes.case_collisions.iter().take(4).cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        if looks_like_ensembl(&genes.words) {
            notes.push("gene names look like Ensembl IDs, not symbols; choose a symbol column with --gene-column if there is one".into());
        }
        Ok(Prepared {
            ad,
            matrix_id,
            src,
            kind,
            genes,
            gene_keys,
            cell_keys,
            notes,
            sample: Some(sample),
        })
    }

    fn bad_value(&self, row: usize, gene: u32, v: f64) -> DataError {
        DataError::bad(
            &self.ad.path,
            self.src.field(),
            format!(
                "cell `{}` (row {row}) has the value {v} for gene `{}`",
                self.ad.obs.index[row], self.genes.words[gene as usize]
            ),
            if v.is_finite() {
                "negative values mean scaled data: choose the raw counts or log-normalised matrix with --matrix".to_string()
            } else {
                "NaN or infinite values are not expression: fix the matrix or choose another with --matrix".to_string()
            },
        )
    }
}

/// The SHA-256 of a file, read on its own thread. Dropped unfinished (the
/// conversion failed or was cancelled), it stops after the read in progress:
/// input files can be tens of gigabytes, and the app lives on after a failed job.
struct FileHash {
    stop: std::sync::Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<std::io::Result<String>>>,
}

impl FileHash {
    fn start(path: &Path) -> Self {
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let (path, flag) = (path.to_path_buf(), stop.clone());
        let thread = std::thread::spawn(move || {
            use std::io::Read;
            let mut f = std::fs::File::open(&path)?;
            let mut h = Sha256::new();
            let mut buf = vec![0u8; 1 << 20];
            while !flag.load(Ordering::Relaxed) {
                match f.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => h.update(&buf[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(format!("{:x}", h.finalize()))
        });
        FileHash {
            stop,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> std::io::Result<String> {
        let thread = self.thread.take().expect("finished once");
        thread.join().expect("hash thread does not panic")
    }
}

impl Drop for FileHash {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One worker's share of a block of cells, ranked and written out.
struct Piece {
    // (file row, genes, total over kept genes)
    rows: Vec<(usize, i32, f64)>,
    // The sentences in Parquet's PLAIN layout (each behind its length):
    // Parquet pages as they are, and the other exports gathered from it.
    text: Vec<u8>,
    // Where each sentence ends in `text`.
    ends: Vec<usize>,
    // Fit sample: (dataset position, values in rank order as runs, total)
    fit: Vec<(usize, ValueRuns, f64)>,
    // Cells of this piece expressing each gene (a piece has far fewer than
    // 2^32 cells; half the size of u64 to zero and add up, per piece).
    counts: Vec<u32>,
    // Each sentence gene's raw count, cell after cell (raw counts only).
    reads: Vec<i32>,
    // The JSONL records; with plain sentences, each has a gap where its
    // sentence goes (`gaps`), filled from `text` when written.
    jsonl: Vec<u8>,
    gaps: Vec<usize>,
}

/// A piece's share of the JSONL and text exports, for the writer thread.
struct PlainPart {
    jsonl: Vec<u8>,
    gaps: Vec<usize>,
    text: Bytes,
    ends: Vec<usize>,
}

/// What turning a range of rows into sentences needs, shared by the workers.
struct Sentencer<'a> {
    p: &'a Prepared,
    keep_cell: &'a [bool],
    keep_gene: &'a [bool],
    // No gene filtered out: rows are ranked as read.
    all_genes: bool,
    filtering: bool,
    word_table: &'a WordTable,
    // Dataset position of each kept file row.
    position: &'a [usize],
    in_fit: &'a [bool],
    jsonl: bool,
    // Each sentence gene's count is kept (a matrix of raw counts).
    reads: bool,
    assignment: &'a [Split],
    label_keys: &'a [String],
    label_cols: &'a [Vec<Option<String>>],
}

impl<'a> Sentencer<'a> {
    fn new(
        p: &'a Prepared,
        opts: &ConvertOptions,
        kept: &'a Kept,
        layout: &'a Layout,
        word_table: &'a WordTable,
    ) -> Self {
        Sentencer {
            p,
            keep_cell: &kept.keep_cell,
            keep_gene: &kept.keep_gene,
            all_genes: kept.genes.len() == p.src.n_cols,
            filtering: kept.filtering,
            word_table,
            position: &kept.position,
            in_fit: &layout.in_fit,
            jsonl: opts.exports.jsonl,
            reads: keeps_counts(p.kind),
            assignment: &layout.assignment,
            label_keys: &layout.label_keys,
            label_cols: &layout.label_cols,
        }
    }

    /// A piece for rows `a..b` of `chunk`, its buffers sized so they are not
    /// regrown as they fill.
    fn empty_piece(&self, chunk: &RowChunk, a: usize, b: usize) -> Piece {
        let text_guess = (chunk.indptr[b] - chunk.indptr[a]) * 8 + 64;
        Piece {
            rows: Vec::with_capacity(b - a),
            text: Vec::with_capacity(text_guess),
            ends: Vec::with_capacity(b - a),
            fit: Vec::new(),
            counts: vec![0u32; self.p.genes.words.len()],
            reads: if self.reads {
                Vec::with_capacity(chunk.indptr[b] - chunk.indptr[a])
            } else {
                Vec::new()
            },
            // Each record's name, split and labels (and its sentence, if
            // not plain): sized so the buffer is not regrown as it fills.
            jsonl: if self.jsonl {
                let sentences = if self.word_table.json_plain() {
                    0
                } else {
                    text_guess
                };
                Vec::with_capacity(sentences + (b - a) * 160)
            } else {
                Vec::new()
            },
            gaps: Vec::new(),
        }
    }

    /// Appends cell (file row) `r`'s JSON lines record to the piece: its
    /// sentence, of `n` genes, starts at `from` in the piece's text.
    fn write_record(&self, piece: &mut Piece, r: usize, n: i32, from: usize) {
        let k = self.position[r];
        // Plain sentences are gathered from `text` as the file is
        // written; the others are escaped into the record.
        let plain = self.word_table.json_plain();
        let sentence = if plain {
            JsonlSentence::Gap
        } else {
            JsonlSentence::Inline {
                bytes: &piece.text[from..],
                plain,
            }
        };
        let gap = dataset::render_jsonl(
            &mut piece.jsonl,
            &self.p.ad.obs.index[r],
            sentence,
            n,
            self.assignment[k].as_str(),
            self.label_keys,
            self.label_cols.iter().map(|c| c[k].clone()),
        );
        if plain {
            piece.gaps.push(gap);
        }
    }

    /// Ranks rows `a..b` of `chunk` and writes their sentences and records.
    fn piece(&self, chunk: &RowChunk, a: usize, b: usize) -> Result<Piece> {
        let mut piece = self.empty_piece(chunk, a, b);
        let (mut fi, mut fv) = (Vec::new(), Vec::new());
        let mut ranker = Ranker::for_storage(self.p.src.values_fit_f32());
        for i in a..b {
            let r = chunk.start + i;
            if !self.keep_cell[r] {
                continue;
            }
            let (idx, val) = chunk.row(i);
            let (cell_key, gene_keys) = (self.p.cell_keys[r], &self.p.gene_keys);
            // Every value is checked, also those of genes filtered out.
            let (n, total) = if self.all_genes {
                let n = ranker
                    .rank_valid(idx, val, cell_key, gene_keys)
                    .map_err(|(j, v)| self.p.bad_value(r, j, v))?;
                (n, ranker.total())
            } else {
                if let Some((j, v)) = first_invalid(idx, val) {
                    return Err(self.p.bad_value(r, j, v));
                }
                let mut total = 0.0;
                fi.clear();
                fv.clear();
                for (&j, &v) in idx.iter().zip(val) {
                    if self.keep_gene[j as usize] {
                        fi.push(j);
                        fv.push(v);
                        total += v;
                    }
                }
                (ranker.rank(&fi, &fv, cell_key, gene_keys), total)
            };
            if n == 0 {
                return Err(DataError::bad(
                    &self.p.ad.path,
                    self.p.src.field(),
                    format!(
                        "cell `{}` (row {r}) expresses no gene{}",
                        self.p.ad.obs.index[r],
                        if self.filtering { " after gene filtering" } else { "" }
                    ),
                    "drop such cells with --min-genes 1 (the reference tutorials use --min-genes 200)",
                ));
            }
            let from = dataset::start_plain_value(&mut piece.text);
            let counts = &mut piece.counts;
            let genes = ranker.genes().inspect(|&j| counts[j as usize] += 1);
            self.word_table.write(genes, &mut piece.text);
            dataset::finish_plain_value(&mut piece.text, from);
            piece.ends.push(piece.text.len());
            let k = self.position[r];
            let n = n as i32;
            let runs = (self.reads || self.in_fit[r]).then(|| ranker.value_runs());
            if self.reads {
                for &(v, m) in runs.iter().flatten() {
                    // Judged raw counts from a sample: a stray fraction is
                    // rounded rather than refused, to at least one read (the
                    // gene is expressed).
                    let c = v.round().clamp(1.0, i32::MAX as f64) as i32;
                    piece.reads.extend(std::iter::repeat_n(c, m as usize));
                }
            }
            if let Some(runs) = runs.filter(|_| self.in_fit[r]) {
                piece.fit.push((k, runs, total));
            }
            if self.jsonl {
                self.write_record(&mut piece, r, n, from);
            }
            piece.rows.push((r, n, total));
        }
        Ok(piece)
    }
}

/// Whether sentences.parquet keeps each sentence gene's count: for raw
/// counts, which training thins as a shallower library would (normalised
/// values are no reads).
fn keeps_counts(kind: ValueKind) -> bool {
    kind == ValueKind::RawCounts
}

/// Predictions, annotations and evaluations join cells by name, so names
/// must be unique: repeated ones are an error, or with `make_unique` renamed
/// as anndata's obs_names_make_unique does.
fn unique_cell_names(path: &Path, ad: &mut AnnData, make_unique: bool) -> Result<()> {
    let mut seen = std::collections::HashSet::with_capacity(ad.obs.index.len());
    let first = ad
        .obs
        .index
        .iter()
        .find(|n| !seen.insert(n.as_str()))
        .cloned();
    let Some(name) = first else {
        return Ok(());
    };
    if !make_unique {
        return Err(DataError::bad(
            path,
            "obs/_index",
            format!("cell names occur more than once (e.g. {name:?}); results are joined to cells by name"),
            "add --make-unique to suffix repeated names as anndata's obs_names_make_unique does",
        ));
    }
    ad.obs.index = crate::anndata::make_unique(&ad.obs.index).0;
    Ok(())
}

/// Converts `input` into the dataset directory `output`. Everything is written
/// into a temporary directory beside `output` and renamed at the end, so an
/// error or a cancel leaves no partial output.
pub fn convert(
    input: &Path,
    output: &Path,
    opts: &ConvertOptions,
    job: &Job,
) -> Result<ConvertSummary> {
    opts.check()?;
    let opts = &opts.with_strata_kept();
    let _claim = output::claim(output)?;
    output::check_folder(output, Written::Dataset, opts.overwrite, &[input])?;
    // The manifest's hash is read on its own thread while the file is opened
    // (reading obs and var holds HDF5's lock: one core would sit idle).
    let hasher = FileHash::start(input);
    let mut p = Prepared::open(input, &opts.input, &opts.labels)?;
    for l in &opts.labels {
        if p.ad.obs.column(l).is_none() {
            return Err(DataError::bad(
                input,
                format!("obs/{l}"),
                format!("there is no cell column `{l}`"),
                format!("choose among: {}", p.ad.obs.column_names().join(", ")),
            ));
        }
    }
    let tmp = TempFolder::new_in(output::parent_of(output), ".c2s-convert-")?;
    // The rows the matrix was judged on are the first block, read once.
    let sample = p.sample.take().filter(|s| s.start == 0 && s.n_rows() > 0);
    let bv = opts.input.block_values;
    let blocks: Vec<(usize, usize)> = match &sample {
        Some(s) => std::iter::once((0, s.n_rows()))
            .chain(p.src.chunks_from(s.n_rows(), bv))
            .collect(),
        None => p.src.chunks(bv),
    };
    let kept = Kept::select(input, &p, &opts.input.preprocess, &blocks, job)?;
    let layout = Layout::new(&p, opts, &kept);
    let stored = p
        .src
        .stored_values()
        .unwrap_or((p.src.n_rows as u64).saturating_mul(p.src.n_cols as u64));
    let zstd = opts.parquet_compression.zstd_for(stored);
    let sink = SentenceSink::new(&p, &kept, &layout);
    let streamed = write_sentences(
        &p,
        opts,
        &kept,
        &layout,
        sink,
        tmp.path(),
        zstd,
        sample,
        &blocks,
        job,
    )?;
    job.check()?;
    let (target, fit) = (streamed.target_sum, streamed.fit);
    let pre = &opts.input.preprocess;
    FitFile {
        fit: fit.clone(),
        target_sum: target,
        log_base: pre.log_base,
        matrix: p.matrix_id.to_string(),
        value_kind: p.kind,
        fit_cells: layout.fit_positions.clone(),
    }
    .write(tmp.path())?;
    (job.progress)(Progress {
        stage: "fit",
        done: 1,
        total: 1,
    });
    let sha = hasher.finish().map_err(|e| DataError::io(input, e))?;
    let summary = ConvertSummary {
        output: output.to_path_buf(),
        matrix: p.matrix_id.to_string(),
        value_kind: p.kind,
        gene_names_from: p.genes.source.clone(),
        cells_in_file: p.src.n_rows,
        genes_in_file: p.src.n_cols,
        cells: kept.rows.len(),
        genes: kept.genes.len(),
        expressed_values: streamed.expressed,
        mean_genes_per_cell: streamed.expressed as f64 / kept.rows.len() as f64,
        splits: [
            layout.splits.train.len(),
            layout.splits.val.len(),
            layout.splits.test.len(),
        ],
        fit,
        notes: p.notes.clone(),
        species: p.genes.species.clone(),
    };
    manifest_of(input, &p, opts, &summary, sha, zstd).write(tmp.path())?;
    // Publish: replace an old output only now that the new one is complete
    // (checked again: the folder may have changed while we worked).
    output::check_folder(output, Written::Dataset, opts.overwrite, &[input])?;
    tmp.publish(output)?;
    Ok(summary)
}

/// The cells and genes a conversion keeps, after the filters.
struct Kept {
    keep_cell: Vec<bool>,
    keep_gene: Vec<bool>,
    /// The kept file rows and gene columns.
    rows: Vec<usize>,
    genes: Vec<usize>,
    /// Dataset position of each kept file row.
    position: Vec<usize>,
    filtering: bool,
}

impl Kept {
    fn select(
        input: &Path,
        p: &Prepared,
        pre: &Preprocess,
        blocks: &[(usize, usize)],
        job: &Job,
    ) -> Result<Self> {
        let filtering = pre.min_genes > 0 || pre.min_cells > 0;
        let (keep_cell, keep_gene) = if filtering {
            scan_filters(p, pre, blocks, job)?
        } else {
            (vec![true; p.src.n_rows], vec![true; p.src.n_cols])
        };
        let rows: Vec<usize> = (0..p.src.n_rows).filter(|&r| keep_cell[r]).collect();
        let genes: Vec<usize> = (0..p.src.n_cols).filter(|&g| keep_gene[g]).collect();
        if rows.is_empty() {
            return Err(DataError::bad(
                input,
                "obs",
                "no cell is left after filtering",
                "lower --min-genes",
            ));
        }
        if genes.is_empty() {
            return Err(DataError::bad(
                input,
                "var",
                "no gene is left after filtering",
                "lower --min-cells",
            ));
        }
        let mut position = vec![usize::MAX; p.src.n_rows];
        rows.iter().enumerate().for_each(|(k, &r)| position[r] = k);
        Ok(Kept {
            keep_cell,
            keep_gene,
            rows,
            genes,
            position,
            filtering,
        })
    }
}

/// Where the kept cells go: their labels, splits, and which of them the
/// rank-expression fit samples.
struct Layout {
    /// One column per label, by dataset position.
    label_cols: Vec<Vec<Option<String>>>,
    /// The labels' names as JSON keys.
    label_keys: Vec<String>,
    splits: Splits,
    assignment: Vec<Split>,
    fit_positions: Vec<usize>,
    /// By file row: whether the fit samples it.
    in_fit: Vec<bool>,
}

impl Layout {
    fn new(p: &Prepared, opts: &ConvertOptions, kept: &Kept) -> Self {
        let obs = &p.ad.obs;
        let column = |l: &str| -> Vec<Option<String>> {
            let c = &obs.column(l).expect("checked").data;
            kept.rows.iter().map(|&r| c.text(r)).collect()
        };
        let label_cols = opts.labels.iter().map(|l| column(l)).collect();
        let strata: Option<Vec<Option<String>>> = opts.stratify.as_deref().map(column);
        let n = kept.rows.len();
        let splits = make_splits(
            n,
            opts.split_fractions,
            opts.input.seed,
            opts.stratify.as_deref().zip(strata.as_deref()),
        );
        let assignment = splits.assignment(n);
        let fit_positions = sample_rows(n, opts.fit_cells, opts.input.seed);
        // The fit's cells keep their ranked values from the main pass: ranks
        // do not depend on normalisation, so no second read or sort is needed.
        let mut in_fit = vec![false; p.src.n_rows];
        fit_positions
            .iter()
            .for_each(|&k| in_fit[kept.rows[k]] = true);
        Layout {
            label_cols,
            label_keys: opts
                .labels
                .iter()
                .map(|l| serde_json::to_string(l).expect("a string"))
                .collect(),
            splits,
            assignment,
            fit_positions,
            in_fit,
        }
    }
}

/// What the sentences' pass gathers beside the files it writes.
struct SentenceSink<'a> {
    p: &'a Prepared,
    kept: &'a Kept,
    layout: &'a Layout,
    /// Cells expressing each gene (by file column).
    vocab_counts: Vec<u64>,
    /// Each kept cell's total expression.
    totals: Vec<f64>,
    expressed: u64,
    /// The fit's cells: file row, ranked values, total.
    fit_cells: Vec<(usize, ValueRuns, f64)>,
    /// Rows done.
    done: u64,
}

impl<'a> SentenceSink<'a> {
    fn new(p: &'a Prepared, kept: &'a Kept, layout: &'a Layout) -> Self {
        SentenceSink {
            p,
            kept,
            layout,
            vocab_counts: vec![0u64; p.src.n_cols],
            totals: vec![0f64; kept.rows.len()],
            expressed: 0,
            fit_cells: Vec::with_capacity(layout.fit_positions.len()),
            done: 0,
        }
    }

    /// Takes a block's ranked pieces, in order: their counts, and their
    /// rows as a Parquet block and text parts.
    fn gather(&mut self, parts: Vec<Result<Piece>>) -> Result<(SentenceBlock, Vec<PlainPart>)> {
        let layout = self.layout;
        let mut block = SentenceBlock {
            labels: vec![Vec::new(); layout.label_cols.len()],
            ..Default::default()
        };
        let mut plain_parts = Vec::with_capacity(parts.len());
        for part in parts {
            let piece = part?;
            self.vocab_counts
                .iter_mut()
                .zip(piece.counts)
                .for_each(|(a, b)| *a += b as u64);
            let text = Bytes::from(piece.text);
            self.fit_cells.extend(piece.fit);
            block.counts.extend(piece.reads);
            for (r, n, total) in piece.rows {
                let k = self.kept.position[r];
                self.totals[k] = total;
                self.expressed += n as u64;
                block.cell_names.push(self.p.ad.obs.index[r].clone());
                block.n_genes.push(n);
                block.splits.push(layout.assignment[k].as_str());
                for (dst, src) in block.labels.iter_mut().zip(&layout.label_cols) {
                    dst.push(src[k].clone());
                }
            }
            block.sentences.push(text.clone());
            plain_parts.push(PlainPart {
                jsonl: piece.jsonl,
                gaps: piece.gaps,
                text,
                ends: piece.ends,
            });
        }
        Ok((block, plain_parts))
    }

    /// The vocabulary of the kept genes, as TSV.
    fn vocabulary_tsv(&self) -> Vec<u8> {
        let words = &self.p.genes.words;
        let vocab = Vocabulary {
            genes: self.kept.genes.iter().map(|&g| words[g].clone()).collect(),
            cells_expressing: self
                .kept
                .genes
                .iter()
                .map(|&g| self.vocab_counts[g])
                .collect(),
        };
        let mut tsv = Vec::new();
        vocab.write_tsv(&mut tsv).expect("writing to memory");
        tsv
    }
}

/// What the sentences' pass leaves for the summary.
struct Streamed {
    expressed: u64,
    target_sum: f64,
    fit: Option<RankFit>,
}

/// Ranks every kept cell and writes the sentences (Parquet and the text
/// exports), the vocabulary and the splits into `dir`; fits expression
/// against rank on the fit's cells meanwhile.
#[allow(clippy::too_many_arguments)]
fn write_sentences(
    p: &Prepared,
    opts: &ConvertOptions,
    kept: &Kept,
    layout: &Layout,
    mut sink: SentenceSink,
    dir: &Path,
    zstd: bool,
    sample: Option<RowChunk>,
    blocks: &[(usize, usize)],
    job: &Job,
) -> Result<Streamed> {
    let pre = &opts.input.preprocess;
    let parquet = ParquetSentences::create(dir, &opts.labels, zstd, keeps_counts(p.kind))?;
    let encoder = parquet.encoder();
    let plain = PlainExports::create(dir, opts.exports)?;
    let word_table = WordTable::new(&p.genes.words);
    let sentencer = Sentencer::new(p, opts, kept, layout, &word_table);
    let mut fitted = None;
    // The stages overlap: the pool reads the next block while it ranks and
    // encodes this one, one thread appends Parquet row groups, one writes
    // the text exports.
    std::thread::scope(|s| -> Result<()> {
        // Blocks are encoded (and compressed, if asked) on the pool as they
        // come and appended in order; a few may be in flight.
        let (wtx, wrx) =
            sync_channel::<Receiver<Result<EncodedBlock>>>(rayon::current_num_threads().max(1));
        // The workers' JSONL and text pieces, in order, written as they are.
        let (ptx, prx) = sync_channel::<Vec<PlainPart>>(1);
        let parquet_thread = s.spawn(move || -> Result<()> {
            let mut parquet = parquet;
            for encoded in wrx {
                // A sender gone without a result means its task never ran.
                parquet.append(encoded.recv().map_err(|_| DataError::Cancelled)??)?;
            }
            parquet.finish()
        });
        let plain_thread = s.spawn(move || -> Result<()> {
            let mut plain = plain;
            for pieces in prx {
                for part in pieces {
                    plain.write(&part.jsonl, &part.gaps, &part.text, &part.ends)?;
                }
            }
            plain.finish()
        });
        // The scope ends once every block's encoding has: the writer
        // thread can then be joined even from a pool thread.
        let streamed = rayon::in_place_scope(|pool| {
            let streamed = stream_blocks(&p.src, blocks, sample, job, |chunk| {
                let parts: Vec<Result<Piece>> = pieces(chunk.n_rows())
                    .par_iter()
                    .map(|&(a, b)| sentencer.piece(&chunk, a, b))
                    .collect();
                let (block, plain_parts) = sink.gather(parts)?;
                sink.done += chunk.n_rows() as u64;
                // A closed channel means a writer failed; its error is reported below.
                let (etx, erx) = sync_channel(1);
                let encoder = &encoder;
                pool.spawn(move |_| {
                    let _ = etx.send(encoder.encode(block));
                });
                if ptx.send(plain_parts).is_err() || send_from_pool(&wtx, erx).is_err() {
                    return Err(DataError::Cancelled);
                }
                (job.progress)(Progress {
                    stage: "sentences",
                    done: sink.done,
                    total: p.src.n_rows as u64,
                });
                Ok(())
            });
            // The fit runs while the last blocks are encoded and written.
            if streamed.is_ok() {
                (job.progress)(Progress {
                    stage: "fit",
                    done: 0,
                    total: 1,
                });
                fitted = Some(fit_and_write_tables(
                    pool, &mut sink, layout, dir, pre, p.kind,
                )?);
            }
            streamed
        });
        drop(wtx);
        drop(ptx);
        let parquet_written = parquet_thread
            .join()
            .expect("the Parquet writer does not panic");
        let plain_written = plain_thread.join().expect("the text writer does not panic");
        parquet_written.and(plain_written).and(streamed)
    })?;
    let (target_sum, fit) = fitted.expect("set when streaming succeeded");
    Ok(Streamed {
        expressed: sink.expressed,
        target_sum,
        fit,
    })
}

/// Once every block is ranked: the rank-expression fit on the sampled
/// cells, while the pool writes the vocabulary and the splits. Returns the
/// normalisation's target sum and the fit.
fn fit_and_write_tables<'s>(
    pool: &rayon::Scope<'s>,
    sink: &mut SentenceSink,
    layout: &'s Layout,
    dir: &'s Path,
    pre: &Preprocess,
    kind: ValueKind,
) -> Result<(f64, Option<RankFit>)> {
    let (vtx, vrx) = sync_channel(1);
    let (tsv, splits) = (sink.vocabulary_tsv(), &layout.splits);
    pool.spawn(move |_| {
        let json = serde_json::to_vec(splits).expect("serialisable");
        let _ = vtx.send(
            write_in(dir, dataset::VOCABULARY_TSV, &tsv)
                .and_then(|_| write_in(dir, dataset::SPLITS_JSON, &json)),
        );
    });
    let target = pre.target_sum.unwrap_or_else(|| median_total(&sink.totals));
    let cells = std::mem::take(&mut sink.fit_cells);
    let fit = fit_sample(cells, target, pre, kind);
    // A sender gone without a result means its task never ran.
    recv_from_pool(&vrx).unwrap_or(Err(DataError::Cancelled))?;
    Ok((target, fit))
}

/// The dataset's manifest: where it came from, how it was made, what it
/// holds. It travels with the folder, so it does not record where that is.
fn manifest_of(
    input: &Path,
    p: &Prepared,
    opts: &ConvertOptions,
    summary: &ConvertSummary,
    sha256: String,
    zstd: bool,
) -> Manifest {
    Manifest {
        format: manifest::FORMAT.into(),
        format_version: manifest::FORMAT_VERSION,
        c2s_version: env!("CARGO_PKG_VERSION").into(),
        source: SourceFile {
            path: input.canonicalize().unwrap_or_else(|_| input.to_path_buf()),
            file_name: input.file_name().map(|s| s.to_string_lossy().to_string()),
            sha256,
            bytes: std::fs::metadata(input).map(|m| m.len()).ok(),
            format: match p.ad.format {
                FileFormat::H5ad => "h5ad",
                FileFormat::H5adLegacy => "h5ad (pre-0.7 layout)",
                FileFormat::CellRangerH5 => "10x Cell Ranger h5",
            }
            .into(),
        },
        parameters: opts.clone(),
        summary: ConvertSummary {
            output: PathBuf::new(),
            ..summary.clone()
        },
        files: DatasetFiles::written(opts.exports.jsonl, opts.exports.text),
        delimiter: " ".into(),
        parquet_compression: if zstd {
            ParquetCompression::Zstd
        } else {
            ParquetCompression::None
        },
    }
}

/// Writes `bytes` to the file `name` in `dir`.
fn write_in(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let path = dir.join(name);
    std::fs::write(&path, bytes).map_err(|e| DataError::io(&path, e))
}
