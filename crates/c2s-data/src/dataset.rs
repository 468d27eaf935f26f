//! The dataset directory a conversion writes, and reading its sentences back.
//!
//! ```text
//! sentences.parquet  cell_name, cell_sentence, n_genes, split, label columns
//! sentences.jsonl    the same, one JSON object per line (optional)
//! sentences.txt      one sentence per line, in cell order (optional)
//! vocabulary.tsv     GENE<TAB>cells expressing it, in gene order
//! splits.json        train / val / test cell indices
//! fit.json           the rank-expression fit (inverse transform)
//! manifest.json      source hash, parameters, counts, version
//! ```

use std::fs::File;
use std::io::{BufWriter, IoSlice, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use parquet::basic::{Compression, ConvertedType, Repetition, Type as PhysicalType, ZstdLevel};
use parquet::column::writer::{
    get_column_writer, get_typed_column_writer, ColumnCloseResult, ColumnWriter,
};
use parquet::data_type::{ByteArray, ByteArrayType, Int32Type};
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterPropertiesPtr};
use parquet::file::writer::{SerializedFileWriter, SerializedPageWriter, TrackedWrite};
use parquet::schema::types::{ColumnPath, SchemaDescPtr, SchemaDescriptor, Type};

use crate::error::{DataError, Result};

pub const SENTENCES_PARQUET: &str = "sentences.parquet";
pub const SENTENCES_JSONL: &str = "sentences.jsonl";
pub const SENTENCES_TXT: &str = "sentences.txt";
pub const VOCABULARY_TSV: &str = "vocabulary.tsv";
pub const SPLITS_JSON: &str = "splits.json";
pub const FIT_JSON: &str = "fit.json";
pub const MANIFEST_JSON: &str = "manifest.json";

/// One block of output rows.
#[derive(Debug, Default)]
pub struct SentenceBlock {
    pub cell_names: Vec<String>,
    /// UTF-8 sentences, usually slices of one shared buffer.
    pub sentences: Vec<Bytes>,
    pub n_genes: Vec<i32>,
    pub splits: Vec<&'static str>,
    /// One vector per label column, aligned with `cell_names`.
    pub labels: Vec<Vec<Option<String>>>,
}

/// A JSONL record's sentence: written into the record, or left out so the
/// writer gathers it from the text export's buffer rather than a copy.
pub enum JsonlSentence<'a> {
    /// `plain` says it needs no escaping (known from its words). It comes
    /// as bytes, gene words joined by spaces, so the plain case is a copy
    /// without a UTF-8 check.
    Inline { bytes: &'a [u8], plain: bool },
    /// A plain sentence that goes at the returned offset, between the quotes.
    Gap,
}

/// Renders one JSONL record (`cell_name`, `cell_sentence`, `n_genes`, `split`,
/// labels) into `out`. `label_keys` are the label names, already JSON-quoted.
/// Returns where in `out` the sentence's text starts (for a gap: belongs).
#[allow(clippy::too_many_arguments)]
pub fn render_jsonl(
    out: &mut Vec<u8>,
    cell_name: &str,
    sentence: JsonlSentence,
    n_genes: i32,
    split: &str,
    label_keys: &[String],
    labels: impl Iterator<Item = Option<String>>,
) -> usize {
    let string = |out: &mut Vec<u8>, s: &str| {
        // Sentences seldom need escaping; a plain scan is several times faster
        // than serde_json's byte-by-byte escaper, and writes the same bytes.
        if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
            out.push(b'"');
            out.extend_from_slice(s.as_bytes());
            out.push(b'"');
        } else {
            serde_json::to_writer(&mut *out, s).expect("writing to memory")
        }
    };
    out.extend_from_slice(b"{\"cell_name\":");
    string(out, cell_name);
    out.extend_from_slice(b",\"cell_sentence\":");
    let at = out.len() + 1;
    match sentence {
        JsonlSentence::Inline { bytes, plain: true } => {
            out.push(b'"');
            out.extend_from_slice(bytes);
            out.push(b'"');
        }
        JsonlSentence::Inline {
            bytes,
            plain: false,
        } => {
            string(out, &String::from_utf8_lossy(bytes));
        }
        JsonlSentence::Gap => out.extend_from_slice(b"\"\""),
    }
    // Into a Vec, which cannot fail.
    let _ = write!(out, ",\"n_genes\":{n_genes},\"split\":\"{split}\"");
    for (key, value) in label_keys.iter().zip(labels) {
        out.push(b',');
        out.extend_from_slice(key.as_bytes());
        out.push(b':');
        match value {
            Some(v) => string(out, &v),
            None => out.extend_from_slice(b"null"),
        }
    }
    out.extend_from_slice(b"}\n");
    at
}

/// How sentences.parquet stores its pages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParquetCompression {
    /// zstd for large matrices (more than [`ParquetCompression::AUTO_ZSTD_VALUES`]
    /// stored values), plain below. Measured on 2 cores: zstd made a
    /// 2,638-cell conversion about a third slower for 7 MB saved, while at
    /// 1,000,000 cells it took about as long (36 s against 35 s: writing
    /// 8.7 GB plain cost nearly as much as compressing) and left 2.6 GB.
    #[default]
    Auto,
    /// zstd level 1: about half the plain size on real data.
    Zstd,
    /// Plain pages: quickest to write and to read.
    None,
}

impl ParquetCompression {
    /// Where `Auto` turns to zstd: about 50,000 cells, 350 MB of plain sentences.
    pub const AUTO_ZSTD_VALUES: u64 = 50_000_000;

    /// Whether a matrix of `stored_values` values gets zstd pages.
    pub fn zstd_for(self, stored_values: u64) -> bool {
        match self {
            ParquetCompression::Auto => stored_values > Self::AUTO_ZSTD_VALUES,
            ParquetCompression::Zstd => true,
            ParquetCompression::None => false,
        }
    }
}

/// Which plain exports to write beside the Parquet file.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct Exports {
    pub jsonl: bool,
    pub text: bool,
}

impl Default for Exports {
    fn default() -> Self {
        Exports {
            jsonl: true,
            text: true,
        }
    }
}

fn create_file(path: &Path) -> Result<File> {
    File::create(path).map_err(|e| DataError::io(path, e))
}

fn create(path: &Path) -> Result<BufWriter<File>> {
    Ok(BufWriter::with_capacity(1 << 20, create_file(path)?))
}

/// Streams sentence blocks into sentences.parquet, one row group per block.
/// Blocks are encoded and compressed apart from the file ([`ParquetEncoder`],
/// on any thread) and appended in order here, so compression, most of the
/// cost of writing, need not run on one core.
pub struct ParquetSentences {
    path: PathBuf,
    writer: SerializedFileWriter<BufWriter<File>>,
    encoder: ParquetEncoder,
}

/// Encodes sentence blocks into compressed Parquet column chunks.
#[derive(Clone)]
pub struct ParquetEncoder {
    path: PathBuf,
    schema: SchemaDescPtr,
    props: WriterPropertiesPtr,
    compressed: bool,
}

/// One block's column chunks, encoded and compressed, in schema order.
pub struct EncodedBlock {
    columns: Vec<(Bytes, ColumnCloseResult)>,
}

impl ParquetSentences {
    /// `compress`: zstd pages (see [`ParquetCompression`]).
    pub fn create(dir: &Path, label_names: &[String], compress: bool) -> Result<Self> {
        let path = dir.join(SENTENCES_PARQUET);
        let pq_err = |source| DataError::Parquet {
            path: path.clone(),
            source,
        };
        let text_col = |name: &str, rep: Repetition| {
            Type::primitive_type_builder(name, PhysicalType::BYTE_ARRAY)
                .with_converted_type(ConvertedType::UTF8)
                .with_repetition(rep)
                .build()
                .map(Arc::new)
        };
        let mut fields = vec![
            text_col("cell_name", Repetition::REQUIRED).map_err(pq_err)?,
            text_col("cell_sentence", Repetition::REQUIRED).map_err(pq_err)?,
            Arc::new(
                Type::primitive_type_builder("n_genes", PhysicalType::INT32)
                    .with_repetition(Repetition::REQUIRED)
                    .build()
                    .map_err(pq_err)?,
            ),
            text_col("split", Repetition::REQUIRED).map_err(pq_err)?,
        ];
        for l in label_names {
            fields.push(text_col(l, Repetition::OPTIONAL).map_err(pq_err)?);
        }
        let schema = Arc::new(
            Type::group_type_builder("schema")
                .with_fields(fields)
                .build()
                .map_err(pq_err)?,
        );
        // zstd level 1: sentences half their plain size; snappy and LZ4 leave
        // 75 % at about the same speed. Names and sentences are all distinct,
        // so a dictionary or min/max statistics buy nothing.
        let compression = if compress {
            Compression::ZSTD(ZstdLevel::try_new(1).expect("a valid zstd level"))
        } else {
            Compression::UNCOMPRESSED
        };
        // 128 KB pages rather than the crate's 1 MB: the crate copies every
        // value twice on its way into a page, and buffers that small stay in
        // cache (plain: 3 % less time on the demo; zstd: as fast, 2 % smaller).
        let mut props = WriterProperties::builder()
            .set_compression(compression)
            .set_data_page_size_limit(128 << 10);
        for col in ["cell_name", "cell_sentence"] {
            props = props
                .set_column_dictionary_enabled(ColumnPath::from(col), false)
                .set_column_statistics_enabled(ColumnPath::from(col), EnabledStatistics::None);
        }
        let props = Arc::new(props.build());
        let writer = SerializedFileWriter::new(create(&path)?, schema.clone(), props.clone())
            .map_err(pq_err)?;
        let encoder = ParquetEncoder {
            path: path.clone(),
            schema: Arc::new(SchemaDescriptor::new(schema)),
            props,
            compressed: compress,
        };
        Ok(ParquetSentences {
            path,
            writer,
            encoder,
        })
    }

    /// An encoder for this file's blocks, to use on other threads.
    pub fn encoder(&self) -> ParquetEncoder {
        self.encoder.clone()
    }

    /// Writes an encoded block as the next row group.
    pub fn append(&mut self, block: EncodedBlock) -> Result<()> {
        if block.columns.is_empty() {
            return Ok(());
        }
        let pq_err = |source| DataError::Parquet {
            path: self.path.clone(),
            source,
        };
        let mut rg = self.writer.next_row_group().map_err(pq_err)?;
        for (bytes, close) in block.columns {
            rg.append_column(&bytes, close).map_err(pq_err)?;
        }
        rg.close().map_err(pq_err)?;
        Ok(())
    }

    pub fn finish(self) -> Result<()> {
        let path = self.path;
        let w = self
            .writer
            .into_inner()
            .map_err(|source| DataError::Parquet {
                path: path.clone(),
                source,
            })?;
        // No fsync: the folder is published by a rename only once complete,
        // which is what keeps users from ever seeing partial output.
        w.into_inner()
            .map_err(|e| DataError::io(&path, e.into_error()))?;
        Ok(())
    }
}

fn write_text(
    writer: ColumnWriter<'_>,
    values: &[ByteArray],
    defs: Option<&[i16]>,
) -> parquet::errors::Result<ColumnCloseResult> {
    let mut w = get_typed_column_writer::<ByteArrayType>(writer);
    w.write_batch(values, defs, None)?;
    w.close()
}

impl ParquetEncoder {
    /// Encodes a block's columns; takes the strings without copying them.
    pub fn encode(&self, b: SentenceBlock) -> Result<EncodedBlock> {
        if b.cell_names.is_empty() {
            return Ok(EncodedBlock {
                columns: Vec::new(),
            });
        }
        let pq_err = |source| DataError::Parquet {
            path: self.path.clone(),
            source,
        };
        let names: Vec<ByteArray> = b
            .cell_names
            .into_iter()
            .map(|s| ByteArray::from(s.into_bytes()))
            .collect();
        let sentence_bytes: usize = b.sentences.iter().map(Bytes::len).sum();
        let sentences: Vec<ByteArray> = b.sentences.into_iter().map(ByteArray::from).collect();
        let splits: Vec<ByteArray> = b.splits.iter().map(|s| ByteArray::from(*s)).collect();
        let mut columns = Vec::with_capacity(self.schema.num_columns());
        for (k, descr) in self.schema.columns().iter().enumerate() {
            // Sized for the sentences (zstd leaves about half their bytes),
            // so the buffer is not regrown as it fills.
            let guess = match (k, self.compressed) {
                (1, true) => sentence_bytes / 2,
                (1, false) => sentence_bytes + 4 * names.len(),
                _ => 0,
            };
            let mut sink = TrackedWrite::new(Vec::with_capacity(guess + 4096));
            let close = {
                let page_writer = Box::new(SerializedPageWriter::new(&mut sink));
                let writer = get_column_writer(descr.clone(), self.props.clone(), page_writer);
                match k {
                    0 => write_text(writer, &names, None),
                    1 => write_text(writer, &sentences, None),
                    2 => {
                        let mut w = get_typed_column_writer::<Int32Type>(writer);
                        w.write_batch(&b.n_genes, None, None)
                            .and_then(|_| w.close())
                    }
                    3 => write_text(writer, &splits, None),
                    _ => {
                        let l = &b.labels[k - 4];
                        let vals: Vec<ByteArray> = l
                            .iter()
                            .flatten()
                            .map(|s| ByteArray::from(s.as_str()))
                            .collect();
                        let defs: Vec<i16> = l.iter().map(|s| s.is_some() as i16).collect();
                        write_text(writer, &vals, Some(&defs))
                    }
                }
                .map_err(pq_err)?
            };
            let bytes = Bytes::from(sink.into_inner().map_err(pq_err)?);
            columns.push((bytes, close));
        }
        Ok(EncodedBlock { columns })
    }
}

/// Streams the JSONL and plain-text exports (bytes already rendered).
/// Unbuffered: the pieces come a few hundred kilobytes at a time, and a
/// buffer would only copy them once more.
pub struct PlainExports {
    dir: PathBuf,
    jsonl: Option<File>,
    text: Option<File>,
}

impl PlainExports {
    pub fn create(dir: &Path, exports: Exports) -> Result<Self> {
        Ok(PlainExports {
            dir: dir.to_path_buf(),
            jsonl: if exports.jsonl {
                Some(create_file(&dir.join(SENTENCES_JSONL))?)
            } else {
                None
            },
            text: if exports.text {
                Some(create_file(&dir.join(SENTENCES_TXT))?)
            } else {
                None
            },
        })
    }

    /// Appends records and sentences. `text` holds sentences each followed
    /// by a newline, sentence i ending at `ends[i]`. `jsonl` holds whole
    /// records, or, if `gaps` is not empty, records with a gap for sentence i
    /// at `gaps[i]`, filled from `text` as they are written.
    pub fn write(
        &mut self,
        jsonl: &[u8],
        gaps: &[usize],
        text: &[u8],
        ends: &[usize],
    ) -> Result<()> {
        if let Some(w) = &mut self.jsonl {
            let written = if gaps.is_empty() {
                w.write_all(jsonl)
            } else {
                write_gathered(w, jsonl, gaps, text, ends)
            };
            written.map_err(|e| DataError::io(self.dir.join(SENTENCES_JSONL), e))?;
        }
        if let Some(w) = &mut self.text {
            w.write_all(text)
                .map_err(|e| DataError::io(self.dir.join(SENTENCES_TXT), e))?;
        }
        Ok(())
    }
}

/// Writes `frame` with sentence i of `text` put in at `gaps[i]`: one
/// gathering write for many pieces, so the sentences (most of the bytes)
/// are not copied into the records first.
fn write_gathered(
    w: &mut File,
    frame: &[u8],
    gaps: &[usize],
    text: &[u8],
    ends: &[usize],
) -> std::io::Result<()> {
    let mut slices = Vec::with_capacity(2 * gaps.len() + 1);
    let (mut at, mut start) = (0, 0);
    for (&gap, &end) in gaps.iter().zip(ends) {
        slices.push(IoSlice::new(&frame[at..gap]));
        slices.push(IoSlice::new(&text[start..end]));
        (at, start) = (gap, end + 1);
    }
    slices.push(IoSlice::new(&frame[at..]));
    // A writev takes at most IOV_MAX slices (1024 on Linux).
    for mut batch in slices.chunks_mut(1024) {
        while !batch.is_empty() {
            match w.write_vectored(batch) {
                Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                Ok(n) => IoSlice::advance_slices(&mut batch, n),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// A sentence read back with its cell name and labels.
#[derive(Debug, Clone, PartialEq)]
pub struct SentenceRecord {
    pub cell_name: String,
    pub sentence: String,
    pub labels: Vec<(String, Option<String>)>,
}

impl SentenceRecord {
    /// The value of the label column `name` (the split is one: "split").
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|l| l.0 == name)
            .and_then(|l| l.1.as_deref())
    }
}

/// Reads sentences from a dataset directory (its Parquet file), a .parquet,
/// a .jsonl (field `cell_sentence`, other text fields kept as labels) or a
/// text file with one sentence per line.
pub fn read_sentences(path: &Path) -> Result<Vec<SentenceRecord>> {
    let path_buf;
    let path = if path.is_dir() {
        path_buf = path.join(SENTENCES_PARQUET);
        path_buf.as_path()
    } else {
        path
    };
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    match ext {
        "parquet" => read_parquet(path),
        "jsonl" | "json" => read_jsonl(path),
        _ => {
            let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
            Ok(text
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty())
                .map(|(i, l)| SentenceRecord {
                    cell_name: format!("cell_{i}"),
                    sentence: l.to_string(),
                    labels: vec![],
                })
                .collect())
        }
    }
}

fn read_jsonl(path: &Path) -> Result<Vec<SentenceRecord>> {
    let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
    let mut out = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let v: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(line).map_err(|e| {
                DataError::bad(
                    path,
                    format!("line {}", i + 1),
                    format!("not a JSON object: {e}"),
                    "each line must be a JSON object with a `cell_sentence` field",
                )
            })?;
        let sentence = v
            .get("cell_sentence")
            .and_then(|s| s.as_str())
            .ok_or_else(|| {
                DataError::bad(
                    path,
                    format!("line {}: cell_sentence", i + 1),
                    "no `cell_sentence` text field",
                    "each line must hold a `cell_sentence` field",
                )
            })?;
        let cell_name = v
            .get("cell_name")
            .and_then(|s| s.as_str())
            .map_or_else(|| format!("cell_{i}"), str::to_string);
        let labels = v
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "cell_sentence" | "cell_name" | "n_genes"))
            .filter_map(|(k, val)| match val {
                serde_json::Value::String(s) => Some((k.clone(), Some(s.clone()))),
                serde_json::Value::Null => Some((k.clone(), None)),
                _ => None,
            })
            .collect();
        out.push(SentenceRecord {
            cell_name,
            sentence: sentence.to_string(),
            labels,
        });
    }
    Ok(out)
}

fn read_parquet(path: &Path) -> Result<Vec<SentenceRecord>> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::Field;
    let pq_err = |source| DataError::Parquet {
        path: path.to_path_buf(),
        source,
    };
    let f = File::open(path).map_err(|e| DataError::io(path, e))?;
    let reader = SerializedFileReader::new(f).map_err(pq_err)?;
    let mut out = Vec::new();
    for row in reader.get_row_iter(None).map_err(pq_err)? {
        let row = row.map_err(pq_err)?;
        let mut rec = SentenceRecord {
            cell_name: String::new(),
            sentence: String::new(),
            labels: vec![],
        };
        for (name, field) in row.get_column_iter() {
            let text = match field {
                Field::Str(s) => Some(s.clone()),
                _ => None,
            };
            match name.as_str() {
                "cell_name" => rec.cell_name = text.unwrap_or_default(),
                "cell_sentence" => rec.sentence = text.unwrap_or_default(),
                "n_genes" => {}
                _ if matches!(field, Field::Str(_) | Field::Null) => {
                    rec.labels.push((name.clone(), text))
                }
                _ => {}
            }
        }
        out.push(rec);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonl_lines_escape_what_json_needs_and_nothing_else() {
        for name in [
            "AAAC-1",
            "cell \"7\"",
            "back\\slash",
            "tab\there",
            "Zellé-ß",
            "\u{1}",
        ] {
            let mut out = Vec::new();
            render_jsonl(
                &mut out,
                name,
                JsonlSentence::Inline {
                    bytes: b"CD3D MT-CO1",
                    plain: true,
                },
                2,
                "train",
                &["\"cell_type\"".to_string()],
                [Some("T \"cell\"".to_string())].into_iter(),
            );
            let v: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
            assert_eq!(v["cell_name"], name);
            assert_eq!(v["cell_sentence"], "CD3D MT-CO1");
            assert_eq!(v["cell_type"], "T \"cell\"");
            // Byte for byte what serde_json writes.
            let expected = serde_json::to_string(name).unwrap();
            let text = String::from_utf8(out).unwrap();
            assert!(
                text.starts_with(&format!("{{\"cell_name\":{expected},")),
                "{text}"
            );
        }
        // A sentence whose words need escaping is escaped when not marked plain.
        let mut out = Vec::new();
        render_jsonl(
            &mut out,
            "c",
            JsonlSentence::Inline {
                bytes: b"A\"B C\\D",
                plain: false,
            },
            2,
            "val",
            &[],
            std::iter::empty(),
        );
        let v: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
        assert_eq!(v["cell_sentence"], "A\"B C\\D");
    }
}
