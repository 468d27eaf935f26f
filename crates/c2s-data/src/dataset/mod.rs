//! The dataset directory a conversion writes, and reading its sentences back.
//!
//! ```text
//! sentences.parquet  cell_name, cell_sentence, n_genes, split, label columns,
//!                    counts (raw counts only)
//! sentences.jsonl    the same, one JSON object per line (optional)
//! sentences.txt      one sentence per line, in cell order (optional)
//! vocabulary.tsv     GENE<TAB>cells expressing it, in gene order
//! splits.json        train / val / test cell indices
//! fit.json           the rank-expression fit (inverse transform)
//! manifest.json      source hash, parameters, counts, version
//! ```
//!
//! Writing: `parquet_writer` (sentences.parquet, assembled around the
//! parquet crate's pieces), `text_exports` (the JSON lines and plain-text
//! copies) over `output_file`; reading: `records`.

mod output_file;
mod parquet_writer;
mod records;
mod text_exports;

pub use parquet_writer::ParquetCompression;
pub(crate) use parquet_writer::{
    finish_plain_value, start_plain_value, EncodedBlock, ParquetSentences, SentenceBlock,
};
pub(crate) use records::read_json_lines;
pub use records::{
    default_label_column, label_values, read_dataset, read_dataset_with_counts, read_sentences,
    SentenceRecord,
};
pub use text_exports::Exports;
pub(crate) use text_exports::{render_jsonl, JsonlSentence, PlainExports};

/// The Parquet writer's pieces, for benches/parquet_writer.rs, which weighs
/// it against the parquet crate's own writer.
#[cfg(feature = "bench")]
pub mod bench_api {
    pub use super::parquet_writer::{
        finish_plain_value, start_plain_value, ParquetSentences, SentenceBlock,
    };
}

pub const SENTENCES_PARQUET: &str = "sentences.parquet";
pub const SENTENCES_JSONL: &str = "sentences.jsonl";
pub const SENTENCES_TXT: &str = "sentences.txt";
pub const VOCABULARY_TSV: &str = "vocabulary.tsv";
pub const SPLITS_JSON: &str = "splits.json";
pub const FIT_JSON: &str = "fit.json";
pub const MANIFEST_JSON: &str = "manifest.json";

/// The sentence column of sentences.parquet.
pub const SENTENCE_COLUMN: &str = "cell_sentence";

/// The column of sentences.parquet with each sentence gene's raw count, in
/// sentence order (a matrix of raw counts only).
pub(crate) const COUNTS_COLUMN: &str = "counts";
