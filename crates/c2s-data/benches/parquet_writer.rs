//! sentences.parquet written two ways, in the same run, on the same blocks:
//! C2S Studio's writer (`dataset::ParquetSentences`: the sentence column's
//! pages are slices of the workers' buffers behind hand-written page
//! headers, sent to the file in one gathering write) and the parquet crate's
//! own `SerializedFileWriter`, given the same schema, compression, page size
//! and the sentences as zero-copy `ByteArray` slices of the same buffers.
//! Prints the best of several runs of each and the ratio; the hand-written
//! writer is kept only while it wins.
//!
//! cargo bench -p c2s-data --features bench --bench parquet_writer [-- CELLS GENES]
//! (default 20,000 cells of 1,000 genes: about 160 MB of sentences)

use std::fs::File;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use c2s_data::dataset::bench_api::{
    finish_plain_value, start_plain_value, ParquetSentences, SentenceBlock,
};
use c2s_data::dataset::{read_sentences, SENTENCES_PARQUET};
use parquet::basic::{Compression, ZstdLevel};
use parquet::data_type::{ByteArray, ByteArrayType, Int32Type};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::writer::{SerializedFileWriter, SerializedRowGroupWriter};
use parquet::schema::parser::parse_message_type;
use parquet::schema::types::ColumnPath;
use rand::SeedableRng;
use rayon::prelude::*;

/// Rows a block (row group) holds, as a conversion of this size makes them.
const BLOCK_CELLS: usize = 4096;
const REPEATS: usize = 5;

/// One block's columns, kept to build a `SentenceBlock` for each run.
struct Block {
    names: Vec<String>,
    /// Sentences in Parquet's PLAIN layout, in two buffers (two workers).
    buffers: Vec<Bytes>,
    n_genes: Vec<i32>,
    labels: Vec<Option<String>>,
}

fn blocks(cells: usize, genes: usize) -> Vec<Block> {
    // A seeded stand-in for gene symbols: 3 to 9 characters, as real ones.
    let symbols: Vec<String> = (0..20_000u64)
        .map(|g| {
            let h = g.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            let len = 3 + (h % 7) as usize;
            (0..len)
                .map(|i| (b'A' + ((h >> (5 * i)) % 26) as u8) as char)
                .collect()
        })
        .collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut out = Vec::new();
    for first in (0..cells).step_by(BLOCK_CELLS) {
        let rows = BLOCK_CELLS.min(cells - first);
        let mut buffers = vec![Vec::new(), Vec::new()];
        let mut n_genes = Vec::with_capacity(rows);
        for r in 0..rows {
            let cell = first + r;
            let n = genes / 2 + cell * 7919 % genes;
            let b = &mut buffers[r * 2 / rows];
            let start = start_plain_value(b);
            // Distinct genes in a seeded random order, as a cell's ranking.
            for (k, g) in rand::seq::index::sample(&mut rng, symbols.len(), n)
                .into_iter()
                .enumerate()
            {
                if k > 0 {
                    b.push(b' ');
                }
                b.extend_from_slice(symbols[g].as_bytes());
            }
            finish_plain_value(b, start);
            n_genes.push(n as i32);
        }
        out.push(Block {
            names: (first..first + rows).map(|c| format!("cell_{c}")).collect(),
            buffers: buffers.into_iter().map(Bytes::from).collect(),
            n_genes,
            labels: (first..first + rows)
                .map(|c| (c % 10 != 0).then(|| format!("type {}", c % 8)))
                .collect(),
        });
    }
    out
}

/// Our writer; with `parallel`, blocks are encoded (and compressed) on all
/// cores and appended in order, as the conversion does.
fn ours(dir: &Path, blocks: &[Block], compress: bool, parallel: bool) -> f64 {
    let t = Instant::now();
    // No counts column: the crate's writer below writes the same schema.
    let mut file = ParquetSentences::create(dir, &["cell_type".into()], compress, false).unwrap();
    let encoder = file.encoder();
    let encode = |b: &Block| {
        let block = SentenceBlock {
            cell_names: b.names.clone(),
            sentences: b.buffers.clone(),
            n_genes: b.n_genes.clone(),
            splits: vec!["train"; b.names.len()],
            labels: vec![b.labels.clone()],
            counts: Vec::new(),
        };
        encoder.encode(block).unwrap()
    };
    if parallel {
        let encoded: Vec<_> = blocks.par_iter().map(encode).collect();
        for e in encoded {
            file.append(e).unwrap();
        }
    } else {
        for b in blocks {
            file.append(encode(b)).unwrap();
        }
    }
    file.finish().unwrap();
    t.elapsed().as_secs_f64()
}

fn library(dir: &Path, blocks: &[Block], compress: bool) -> f64 {
    let t = Instant::now();
    let schema = Arc::new(
        parse_message_type(
            "message schema {
                required binary cell_name (UTF8);
                required binary cell_sentence (UTF8);
                required int32 n_genes;
                required binary split (UTF8);
                optional binary cell_type (UTF8);
            }",
        )
        .unwrap(),
    );
    let compression = if compress {
        Compression::ZSTD(ZstdLevel::try_new(1).unwrap())
    } else {
        Compression::UNCOMPRESSED
    };
    let sentence = ColumnPath::from("cell_sentence");
    let props = WriterProperties::builder()
        .set_compression(compression)
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_offset_index_disabled(true)
        .set_column_dictionary_enabled(ColumnPath::from("cell_name"), false)
        .set_column_statistics_enabled(ColumnPath::from("cell_name"), EnabledStatistics::None)
        .set_column_dictionary_enabled(sentence.clone(), false)
        .set_column_statistics_enabled(sentence, EnabledStatistics::None)
        .set_data_page_size_limit(1 << 20)
        .build();
    let out = File::create(dir.join(SENTENCES_PARQUET)).unwrap();
    let mut w = SerializedFileWriter::new(out, schema, Arc::new(props)).unwrap();
    for b in blocks {
        let text = |v: &[String]| -> Vec<ByteArray> {
            v.iter().map(|s| ByteArray::from(s.as_str())).collect()
        };
        // The sentences as slices of the workers' buffers: no copy here.
        let mut sentences = Vec::with_capacity(b.names.len());
        for buf in &b.buffers {
            let mut at = 0;
            while at < buf.len() {
                let len = u32::from_le_bytes(buf[at..at + 4].try_into().unwrap()) as usize;
                sentences.push(ByteArray::from(buf.slice(at + 4..at + 4 + len)));
                at += 4 + len;
            }
        }
        let splits = vec![ByteArray::from("train"); b.names.len()];
        let labels: Vec<ByteArray> = b
            .labels
            .iter()
            .flatten()
            .map(|s| ByteArray::from(s.as_str()))
            .collect();
        let defs: Vec<i16> = b.labels.iter().map(|l| l.is_some() as i16).collect();
        let mut rg = w.next_row_group().unwrap();
        text_column(&mut rg, &text(&b.names), None);
        text_column(&mut rg, &sentences, None);
        let mut col = rg.next_column().unwrap().unwrap();
        col.typed::<Int32Type>()
            .write_batch(&b.n_genes, None, None)
            .unwrap();
        col.close().unwrap();
        text_column(&mut rg, &splits, None);
        text_column(&mut rg, &labels, Some(&defs));
        rg.close().unwrap();
    }
    w.close().unwrap();
    t.elapsed().as_secs_f64()
}

fn text_column(
    rg: &mut SerializedRowGroupWriter<'_, File>,
    values: &[ByteArray],
    defs: Option<&[i16]>,
) {
    let mut col = rg.next_column().unwrap().unwrap();
    col.typed::<ByteArrayType>()
        .write_batch(values, defs, None)
        .unwrap();
    col.close().unwrap();
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let (cells, genes) = (
        args.first().copied().unwrap_or(20_000),
        args.get(1).copied().unwrap_or(1_000),
    );
    let blocks = blocks(cells, genes);
    let bytes: usize = blocks
        .iter()
        .flat_map(|b| &b.buffers)
        .map(|b| b.len())
        .sum();
    println!(
        "sentences.parquet of {cells} cells, {:.0} MB of sentences; best of {REPEATS} (median)",
        bytes as f64 / 1e6
    );
    for (compress, parallel) in [(false, false), (true, false), (true, true)] {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let mut sizes = (0, 0);
        for repeat in 0..REPEATS {
            // Alternated, so a busy machine weighs on both alike.
            let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
            a.push(ours(da.path(), &blocks, compress, parallel));
            b.push(library(db.path(), &blocks, compress));
            let size = |d: &Path| std::fs::metadata(d.join(SENTENCES_PARQUET)).unwrap().len();
            sizes = (size(da.path()), size(db.path()));
            if repeat == 0 {
                // Both files hold the same rows.
                let read = |d: &Path| read_sentences(d).unwrap();
                assert_eq!(read(da.path()), read(db.path()), "the files' rows differ");
            }
        }
        let stats = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            (v[0], v[v.len() / 2])
        };
        let ((a_best, a_med), (b_best, b_med)) = (stats(&mut a), stats(&mut b));
        let how = match (compress, parallel) {
            (false, _) => "plain pages, one thread",
            (true, false) => "zstd pages, one thread",
            (true, true) => "zstd pages, ours encoding on all cores as `c2s convert` does",
        };
        println!(
            "{how}\n  c2s writer {a_best:.3} s ({a_med:.3}) {:.0} MB   parquet crate's writer {b_best:.3} s ({b_med:.3}) {:.0} MB   ratio {:.2}x ({:.2}x)",
            sizes.0 as f64 / 1e6,
            sizes.1 as f64 / 1e6,
            b_best / a_best,
            b_med / a_med,
        );
    }
}
