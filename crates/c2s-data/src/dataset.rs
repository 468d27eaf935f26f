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

use parquet::basic::{
    ColumnOrder, Compression, ConvertedType, Encoding, Repetition, Type as PhysicalType, ZstdLevel,
};
use parquet::column::writer::{
    get_column_writer, get_typed_column_writer, ColumnCloseResult, ColumnWriter,
};
use parquet::data_type::{ByteArray, ByteArrayType, Int32Type};
use parquet::file::metadata::{
    ColumnChunkMetaData, FileMetaData, ParquetMetaData, ParquetMetaDataWriter, RowGroupMetaData,
};
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterPropertiesPtr};
use parquet::file::writer::{SerializedPageWriter, TrackedWrite};
use parquet::schema::types::{ColumnDescPtr, ColumnPath, SchemaDescPtr, SchemaDescriptor, Type};

use crate::error::{DataError, Result};

pub const SENTENCES_PARQUET: &str = "sentences.parquet";
pub const SENTENCES_JSONL: &str = "sentences.jsonl";
pub const SENTENCES_TXT: &str = "sentences.txt";
pub const VOCABULARY_TSV: &str = "vocabulary.tsv";
pub const SPLITS_JSON: &str = "splits.json";
pub const FIT_JSON: &str = "fit.json";
pub const MANIFEST_JSON: &str = "manifest.json";

/// The sentence column of sentences.parquet.
pub const SENTENCE_COLUMN: &str = "cell_sentence";

/// Parquet files start and end with these bytes.
const PARQUET_MAGIC: [u8; 4] = *b"PAR1";

/// One block of output rows.
#[derive(Debug, Default)]
pub struct SentenceBlock {
    pub cell_names: Vec<String>,
    /// The UTF-8 sentences, in order, as buffers in Parquet's PLAIN layout
    /// ([`start_plain_value`]): the workers' buffers, written as they are.
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

/// An output file written front to back. On ext4 its space is reserved
/// ahead in large steps, beyond its end (the rest is let go by `finish`):
/// measured on ext4, writing 43 MB took a fifth less time so, and a
/// conversion's system time fell from 37 to 30 ms. Without it ext4 reserves
/// space page by page as data comes. (On tmpfs reserving made writing
/// slower, as it zeroes the pages first; elsewhere it is not done.)
struct OutputFile {
    file: File,
    written: u64,
    // Reserved up to here; `None` where not reserving.
    reserved: Option<u64>,
}

/// Space is reserved this far ahead: 1 MB steps gave most of the gain.
const RESERVE_STEP: u64 = 4 << 20;

impl OutputFile {
    fn create(path: &Path) -> Result<Self> {
        let file = File::create(path).map_err(|e| DataError::io(path, e))?;
        let reserved = reserves_ahead(&file).then_some(0);
        Ok(OutputFile {
            file,
            written: 0,
            reserved,
        })
    }

    /// Reserves space for `bytes` more bytes, a step at a time.
    fn reserve(&mut self, bytes: usize) {
        let Some(reserved) = self.reserved else {
            return;
        };
        let end = self.written + bytes as u64;
        if end > reserved {
            let step = (end - reserved).max(RESERVE_STEP);
            self.reserved = reserve_space(&self.file, reserved, step).then_some(reserved + step);
        }
    }

    /// Lets go of space reserved past the end.
    fn finish(self) -> std::io::Result<()> {
        if self.reserved.is_some_and(|r| r > self.written) {
            self.file.set_len(self.written)?;
        }
        Ok(())
    }
}

impl Write for OutputFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.reserve(buf.len());
        let n = self.file.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> std::io::Result<usize> {
        self.reserve(bufs.iter().map(|b| b.len()).sum());
        let n = self.file.write_vectored(bufs)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// Whether reserving ahead pays on the file's file system: ext4 only.
#[cfg(target_os = "linux")]
fn reserves_ahead(file: &File) -> bool {
    use std::os::fd::AsRawFd;
    const EXT4_SUPER_MAGIC: i64 = 0xEF53;
    let mut st = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: fstatfs fills `st` for an open descriptor, or fails.
    if unsafe { libc::fstatfs(file.as_raw_fd(), st.as_mut_ptr()) } != 0 {
        return false;
    }
    // SAFETY: filled, as the call succeeded. `f_type`'s integer type
    // differs between targets.
    #[allow(clippy::unnecessary_cast)]
    let fs = unsafe { st.assume_init() }.f_type as i64;
    fs == EXT4_SUPER_MAGIC
}

#[cfg(not(target_os = "linux"))]
fn reserves_ahead(_file: &File) -> bool {
    false
}

/// Reserves `len` bytes from `offset` without changing the file's size.
#[cfg(target_os = "linux")]
fn reserve_space(file: &File, offset: u64, len: u64) -> bool {
    use std::os::fd::AsRawFd;
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return false;
    };
    // SAFETY: a plain system call on an open descriptor.
    unsafe { libc::fallocate(file.as_raw_fd(), libc::FALLOC_FL_KEEP_SIZE, offset, len) == 0 }
}

#[cfg(not(target_os = "linux"))]
fn reserve_space(_file: &File, _offset: u64, _len: u64) -> bool {
    false
}

/// Streams sentence blocks into sentences.parquet, one row group per block.
///
/// Blocks are encoded (and compressed, if asked) apart from the file
/// ([`ParquetEncoder`], on any thread) and appended here in order. The file
/// is assembled by hand around the crate's pieces: the crate encodes the
/// small columns and writes the footer, while the sentence column, nearly
/// all of the bytes, goes from the workers' buffers to the file in one
/// gathering write. (Through the crate's writer each sentence was copied
/// six times on its way: encoder, page, buffered sinks, `append_column`'s
/// copy loop; its lower-level page API is private.)
pub struct ParquetSentences {
    path: PathBuf,
    // Its `written` count is where the next column chunk starts.
    file: OutputFile,
    encoder: ParquetEncoder,
    row_groups: Vec<RowGroupMetaData>,
}

/// Encodes sentence blocks into Parquet column chunks.
#[derive(Clone)]
pub struct ParquetEncoder {
    path: PathBuf,
    schema: SchemaDescPtr,
    props: WriterPropertiesPtr,
    compressed: bool,
    /// Sentence data pages hold about this many bytes (whole values; a
    /// longer value gets a page of its own).
    page_bytes: usize,
}

/// One column chunk, encoded: its bytes in pieces, and its metadata with
/// offsets counted from the chunk's start.
struct EncodedChunk {
    parts: Vec<Bytes>,
    metadata: ColumnChunkMetaData,
}

/// One block's column chunks, encoded and compressed, in schema order.
pub struct EncodedBlock {
    rows: usize,
    columns: Vec<EncodedChunk>,
}

/// Starts a text value in Parquet's PLAIN layout (a 4-byte little-endian
/// length, then the bytes): leaves room for the length and returns where
/// the bytes start. The sentences are built in this layout, so their pages
/// are slices of the workers' buffers.
pub fn start_plain_value(buf: &mut Vec<u8>) -> usize {
    buf.extend_from_slice(&[0; 4]);
    buf.len()
}

/// Ends the value started at `start` by writing its length in front.
pub fn finish_plain_value(buf: &mut [u8], start: usize) {
    // A sentence is a few hundred kilobytes at most, far below 4 GiB.
    let len = u32::try_from(buf.len() - start).expect("a value below 4 GiB");
    buf[start - 4..start].copy_from_slice(&len.to_le_bytes());
}

/// The values of a buffer in PLAIN layout, as (start, end) of their bytes.
fn plain_values(buf: &[u8]) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        let len = u32::from_le_bytes(buf.get(at..at + 4)?.try_into().ok()?) as usize;
        let start = at + 4;
        at = start + len;
        Some((start, at))
    })
}

/// A DATA_PAGE header (Thrift compact protocol) for `values` PLAIN values of
/// a required column: no levels, no statistics. Written by hand as the
/// crate's header type is private; the fields are those of parquet.thrift's
/// PageHeader and DataPageHeader.
fn data_page_header(
    uncompressed: usize,
    compressed: usize,
    values: usize,
) -> parquet::errors::Result<Vec<u8>> {
    fn varint(out: &mut Vec<u8>, v: i64) {
        let mut z = ((v << 1) ^ (v >> 63)) as u64; // zigzag
        while z >= 0x80 {
            out.push((z as u8) | 0x80);
            z >>= 7;
        }
        out.push(z as u8);
    }
    let int = |v: usize| {
        i32::try_from(v).map_err(|_| {
            parquet::errors::ParquetError::General(format!("a page of {v} bytes or values"))
        })
    };
    // Field headers: (field id delta << 4) | type, where 5 is i32, 12 a struct.
    const I32: u8 = 0x15;
    let mut h = Vec::with_capacity(24);
    h.push(I32); // 1: type
    varint(&mut h, 0); // DATA_PAGE
    h.push(I32); // 2: uncompressed_page_size
    varint(&mut h, int(uncompressed)? as i64);
    h.push(I32); // 3: compressed_page_size
    varint(&mut h, int(compressed)? as i64);
    h.push(0x2C); // 5: data_page_header
    h.push(I32); // 1: num_values
    varint(&mut h, int(values)? as i64);
    h.push(I32); // 2: encoding
    varint(&mut h, 0); // PLAIN
    h.push(I32); // 3: definition_level_encoding
    varint(&mut h, 3); // RLE
    h.push(I32); // 4: repetition_level_encoding
    varint(&mut h, 3); // RLE
    h.push(0); // end of DataPageHeader
    h.push(0); // end of PageHeader
    Ok(h)
}

/// `data` compressed with zstd at level 1, by a compressor kept per thread
/// (a new one per page would set up its context every time).
fn zstd_level_1(data: &[u8]) -> std::io::Result<Vec<u8>> {
    thread_local! {
        static ZSTD: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
            const { std::cell::RefCell::new(None) };
    }
    ZSTD.with_borrow_mut(|z| {
        if z.is_none() {
            *z = Some(zstd::bulk::Compressor::new(1)?);
        }
        z.as_mut().expect("just made").compress(data)
    })
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
            text_col(SENTENCE_COLUMN, Repetition::REQUIRED).map_err(pq_err)?,
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
        // 75 % at about the same speed. Names are all distinct, so a
        // dictionary or min/max statistics buy nothing. No page index: the
        // file is read whole.
        let compression = if compress {
            Compression::ZSTD(ZstdLevel::try_new(1).expect("a valid zstd level"))
        } else {
            Compression::UNCOMPRESSED
        };
        let props = WriterProperties::builder()
            .set_compression(compression)
            .set_statistics_enabled(EnabledStatistics::Chunk)
            .set_offset_index_disabled(true)
            .set_column_dictionary_enabled(ColumnPath::from("cell_name"), false)
            .set_column_statistics_enabled(ColumnPath::from("cell_name"), EnabledStatistics::None)
            .build();
        let mut file = OutputFile::create(&path)?;
        file.write_all(&PARQUET_MAGIC)
            .map_err(|e| DataError::io(&path, e))?;
        let encoder = ParquetEncoder {
            path: path.clone(),
            schema: Arc::new(SchemaDescriptor::new(schema)),
            props: Arc::new(props),
            compressed: compress,
            page_bytes: 1 << 20,
        };
        Ok(ParquetSentences {
            path,
            file,
            encoder,
            row_groups: Vec::new(),
        })
    }

    /// An encoder for this file's blocks, to use on other threads.
    pub fn encoder(&self) -> ParquetEncoder {
        self.encoder.clone()
    }

    /// Writes an encoded block as the next row group.
    pub fn append(&mut self, block: EncodedBlock) -> Result<()> {
        if block.rows == 0 {
            return Ok(());
        }
        let pq_err = |source| DataError::Parquet {
            path: self.path.clone(),
            source,
        };
        let start = self.file.written;
        let mut at = start;
        let mut columns = Vec::with_capacity(block.columns.len());
        let mut total_uncompressed = 0;
        for chunk in &block.columns {
            let m = &chunk.metadata;
            let moved = |x: i64| x + at as i64;
            columns.push(
                m.clone()
                    .into_builder()
                    .set_data_page_offset(moved(m.data_page_offset()))
                    .set_dictionary_page_offset(m.dictionary_page_offset().map(moved))
                    .build()
                    .map_err(pq_err)?,
            );
            total_uncompressed += m.uncompressed_size();
            at += chunk.parts.iter().map(|p| p.len() as u64).sum::<u64>();
        }
        let mut slices: Vec<IoSlice> = block
            .columns
            .iter()
            .flat_map(|c| c.parts.iter().map(|p| IoSlice::new(p)))
            .collect();
        write_all_slices(&mut self.file, &mut slices).map_err(|e| DataError::io(&self.path, e))?;
        let row_group = RowGroupMetaData::builder(self.encoder.schema.clone())
            .set_column_metadata(columns)
            .set_total_byte_size(total_uncompressed)
            .set_num_rows(block.rows as i64)
            .set_ordinal(self.row_groups.len() as i32)
            .set_file_offset(start as i64)
            .build()
            .map_err(pq_err)?;
        self.row_groups.push(row_group);
        Ok(())
    }

    /// Writes the footer.
    pub fn finish(self) -> Result<()> {
        let path = self.path;
        let schema = self.encoder.schema;
        let rows = self.row_groups.iter().map(|g| g.num_rows()).sum();
        let orders = schema
            .columns()
            .iter()
            .map(|c| {
                ColumnOrder::column_order_for_type(
                    c.logical_type_ref(),
                    c.converted_type(),
                    c.physical_type(),
                )
            })
            .collect();
        let file_metadata = FileMetaData::new(
            1,
            rows,
            Some(format!("c2s-studio version {}", env!("CARGO_PKG_VERSION"))),
            None,
            schema,
            Some(orders),
        );
        let metadata = ParquetMetaData::new(file_metadata, self.row_groups);
        let mut out = BufWriter::new(self.file);
        ParquetMetaDataWriter::new(&mut out, &metadata)
            .finish()
            .map_err(|source| DataError::Parquet {
                path: path.clone(),
                source,
            })?;
        // No fsync: the folder is published by a rename only once complete,
        // which is what keeps users from ever seeing partial output.
        out.into_inner()
            .map_err(|e| DataError::io(&path, e.into_error()))?
            .finish()
            .map_err(|e| DataError::io(&path, e))
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
    /// Encodes a block's columns; the sentences' pages are slices of the
    /// block's buffers (or their zstd compression).
    pub fn encode(&self, b: SentenceBlock) -> Result<EncodedBlock> {
        let rows = b.cell_names.len();
        if rows == 0 {
            return Ok(EncodedBlock {
                rows,
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
        let splits: Vec<ByteArray> = b.splits.iter().map(|s| ByteArray::from(*s)).collect();
        let mut columns = Vec::with_capacity(self.schema.num_columns());
        let mut sentences = Some(b.sentences);
        for (k, descr) in self.schema.columns().iter().enumerate() {
            if k == 1 {
                // The sentences (schema order: name, sentence, genes, split, labels).
                let pieces = sentences.take().unwrap_or_default();
                columns.push(self.sentence_chunk(descr.clone(), pieces, rows)?);
                continue;
            }
            let mut sink = TrackedWrite::new(Vec::new());
            let close = {
                let page_writer = Box::new(SerializedPageWriter::new(&mut sink));
                let writer = get_column_writer(descr.clone(), self.props.clone(), page_writer);
                match k {
                    0 => write_text(writer, &names, None),
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
            columns.push(EncodedChunk {
                parts: vec![Bytes::from(sink.into_inner().map_err(pq_err)?)],
                metadata: close.metadata,
            });
        }
        Ok(EncodedBlock { rows, columns })
    }

    /// The sentence column chunk: data pages of whole values cut from the
    /// buffers in PLAIN layout, each behind its header.
    fn sentence_chunk(
        &self,
        descr: ColumnDescPtr,
        pieces: Vec<Bytes>,
        rows: usize,
    ) -> Result<EncodedChunk> {
        let pq_err = |source| DataError::Parquet {
            path: self.path.clone(),
            source,
        };
        let (mut parts, mut values) = (Vec::new(), 0);
        let (mut uncompressed, mut compressed) = (0, 0);
        for piece in pieces {
            let mut page = (0, 0, 0); // (start, end, values)
            let mut ends = plain_values(&piece).map(|(_, end)| end).peekable();
            while let Some(end) = ends.next() {
                page = (page.0, end, page.2 + 1);
                let full = page.1 - page.0 >= self.page_bytes;
                if !(full || ends.peek().is_none()) {
                    continue;
                }
                let raw = piece.slice(page.0..page.1);
                let data = if self.compressed {
                    Bytes::from(zstd_level_1(&raw).map_err(|e| DataError::io(&self.path, e))?)
                } else {
                    raw.clone()
                };
                let header = data_page_header(raw.len(), data.len(), page.2).map_err(pq_err)?;
                uncompressed += header.len() + raw.len();
                compressed += header.len() + data.len();
                values += page.2;
                parts.push(Bytes::from(header));
                parts.push(data);
                page = (end, end, 0);
            }
        }
        if values != rows {
            return Err(pq_err(parquet::errors::ParquetError::General(format!(
                "{values} sentences for {rows} cells"
            ))));
        }
        let metadata = ColumnChunkMetaData::builder(descr)
            .set_compression_codec(
                self.props
                    .compression(&ColumnPath::from(SENTENCE_COLUMN))
                    .into(),
            )
            .set_encodings(vec![Encoding::PLAIN, Encoding::RLE])
            .set_num_values(values as i64)
            .set_total_uncompressed_size(uncompressed as i64)
            .set_total_compressed_size(compressed as i64)
            .set_data_page_offset(0)
            .build()
            .map_err(pq_err)?;
        Ok(EncodedChunk { parts, metadata })
    }
}

/// Streams the JSONL and plain-text exports (bytes already rendered).
/// Unbuffered: the pieces come a few hundred kilobytes at a time, and a
/// buffer would only copy them once more.
pub struct PlainExports {
    dir: PathBuf,
    jsonl: Option<OutputFile>,
    text: Option<OutputFile>,
}

impl PlainExports {
    pub fn create(dir: &Path, exports: Exports) -> Result<Self> {
        Ok(PlainExports {
            dir: dir.to_path_buf(),
            jsonl: if exports.jsonl {
                Some(OutputFile::create(&dir.join(SENTENCES_JSONL))?)
            } else {
                None
            },
            text: if exports.text {
                Some(OutputFile::create(&dir.join(SENTENCES_TXT))?)
            } else {
                None
            },
        })
    }

    /// Appends records and sentences. `values` holds sentences in Parquet's
    /// PLAIN layout ([`start_plain_value`]), sentence i ending at `ends[i]`.
    /// `jsonl` holds whole records, or, if `gaps` is not empty, records with
    /// a gap for sentence i at `gaps[i]`, filled from `values` as they are
    /// written.
    pub fn write(
        &mut self,
        jsonl: &[u8],
        gaps: &[usize],
        values: &[u8],
        ends: &[usize],
    ) -> Result<()> {
        // Sentence i starts 4 bytes (its length) after sentence i - 1 ends.
        let sentences = || {
            let mut start = 4;
            ends.iter().map(move |&end| {
                let s = &values[start..end];
                start = end + 4;
                s
            })
        };
        if let Some(w) = &mut self.jsonl {
            let written = if gaps.is_empty() {
                w.write_all(jsonl)
            } else {
                let mut slices = Vec::with_capacity(2 * gaps.len() + 1);
                let mut at = 0;
                for (&gap, sentence) in gaps.iter().zip(sentences()) {
                    slices.push(IoSlice::new(&jsonl[at..gap]));
                    slices.push(IoSlice::new(sentence));
                    at = gap;
                }
                slices.push(IoSlice::new(&jsonl[at..]));
                write_all_slices(w, &mut slices)
            };
            written.map_err(|e| DataError::io(self.dir.join(SENTENCES_JSONL), e))?;
        }
        if let Some(w) = &mut self.text {
            let mut slices = Vec::with_capacity(2 * ends.len());
            for sentence in sentences() {
                slices.push(IoSlice::new(sentence));
                slices.push(IoSlice::new(b"\n"));
            }
            write_all_slices(w, &mut slices)
                .map_err(|e| DataError::io(self.dir.join(SENTENCES_TXT), e))?;
        }
        Ok(())
    }

    /// Ends both files.
    pub fn finish(self) -> Result<()> {
        for (file, name) in [(self.jsonl, SENTENCES_JSONL), (self.text, SENTENCES_TXT)] {
            if let Some(f) = file {
                f.finish()
                    .map_err(|e| DataError::io(self.dir.join(name), e))?;
            }
        }
        Ok(())
    }
}

/// Writes every slice with gathering writes: many pieces in one call, so
/// the sentences (most of the bytes) are not copied together first.
fn write_all_slices(w: &mut impl Write, slices: &mut [IoSlice]) -> std::io::Result<()> {
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

/// The label column used when none is named: the dataset's first (the
/// split aside), as converted; None when it has no label column.
pub fn default_label_column(records: &[SentenceRecord]) -> Option<String> {
    records
        .first()
        .and_then(|r| {
            r.labels
                .iter()
                .map(|(k, _)| k)
                .find(|k| k.as_str() != "split")
        })
        .cloned()
}

/// Each label column of the records (the split aside) with its values and
/// how many cells have each, commonest first: the groups a screen offers.
pub fn label_values(
    records: &[SentenceRecord],
) -> std::collections::BTreeMap<String, Vec<(String, usize)>> {
    let mut tally: std::collections::BTreeMap<String, std::collections::HashMap<&str, usize>> =
        Default::default();
    for r in records {
        for (column, value) in &r.labels {
            if column == "split" {
                continue;
            }
            let t = tally.entry(column.clone()).or_default();
            if let Some(v) = value {
                *t.entry(v).or_default() += 1;
            }
        }
    }
    tally
        .into_iter()
        .map(|(column, counts)| {
            let mut v: Vec<(String, usize)> = counts
                .into_iter()
                .map(|(k, n)| (k.to_string(), n))
                .collect();
            v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            (column, v)
        })
        .collect()
}

/// Reads sentences from a dataset directory (its Parquet file), a .parquet,
/// a .jsonl (field `cell_sentence`, other text fields kept as labels) or a
/// text file with one sentence per line.
/// The cells of a dataset folder written by `c2s convert`. Unlike
/// [`read_sentences`], a loose sentence file is refused: training and
/// prediction need the folder's splits, labels and vocabulary, and a file
/// read in its place would give "no label column" or "0 cells".
pub fn read_dataset(dir: &Path) -> Result<Vec<SentenceRecord>> {
    if !dir.join(MANIFEST_JSON).is_file() {
        let problem = if dir.is_dir() {
            "not a dataset folder made by c2s convert (no manifest.json)"
        } else if dir.exists() {
            "this is a file; a dataset folder made by c2s convert is needed"
        } else {
            "no such dataset folder"
        };
        return Err(DataError::bad(
            dir,
            "dataset",
            problem,
            "convert the .h5ad file first (c2s convert FILE -o FOLDER) and give that folder",
        ));
    }
    read_sentences(dir)
}

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

/// Each non-blank line of a JSON lines file as a `T`, with its index; a
/// line that is not one is an error naming it as `what` ("a prediction
/// record"), with `hint`. Every JSON lines file c2s reads goes through here.
pub(crate) fn read_json_lines<T: serde::de::DeserializeOwned>(
    path: &Path,
    what: &str,
    hint: &str,
) -> Result<Vec<(usize, T)>> {
    let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let v = serde_json::from_str(l).map_err(|e| {
                DataError::bad(
                    path,
                    format!("line {}", i + 1),
                    format!("not {what}: {e}"),
                    hint,
                )
            })?;
            Ok((i, v))
        })
        .collect()
}

fn read_jsonl(path: &Path) -> Result<Vec<SentenceRecord>> {
    let lines: Vec<(usize, serde_json::Map<String, serde_json::Value>)> = read_json_lines(
        path,
        "a JSON object",
        "each line must be a JSON object with a `cell_sentence` field",
    )?;
    let mut out = Vec::new();
    for (i, v) in lines {
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
    let pq_err = |e| crate::error::parquet_read(path, e);
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

    #[test]
    fn label_values_count_each_column_commonest_first() {
        let rec = |t: Option<&str>, s: &str| SentenceRecord {
            cell_name: "c".into(),
            sentence: "A".into(),
            labels: vec![
                ("cell_type".into(), t.map(str::to_string)),
                ("split".into(), Some(s.into())),
            ],
        };
        let v = label_values(&[
            rec(Some("T"), "train"),
            rec(Some("B"), "test"),
            rec(Some("T"), "train"),
            rec(None, "val"),
        ]);
        assert_eq!(v.len(), 1, "the split is not a group column");
        assert_eq!(v["cell_type"], [("T".to_string(), 2), ("B".to_string(), 1)]);
    }

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
    #[test]
    fn sentence_pages_hold_whole_values_and_read_back() {
        use parquet::file::reader::{FileReader, SerializedFileReader};
        // Sentences of 0 to 6 genes; the empty one is a value of length 0.
        let sentences: Vec<String> = (0..40)
            .map(|i| {
                (0..i % 7)
                    .map(|g| format!("G{g}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        let label = |i: usize| (!i.is_multiple_of(3)).then(|| format!("t{i}"));
        for compress in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let mut file = ParquetSentences::create(dir.path(), &["cell_type".into()], compress)
                .expect("created");
            let mut encoder = file.encoder();
            encoder.page_bytes = 16; // a page every few sentences
            let mut at = 0;
            for size in [15, 25] {
                // Each block's sentences come in two buffers, as from two workers.
                let mut buffers = vec![Vec::new(), Vec::new()];
                for i in at..at + size {
                    let b = &mut buffers[(i - at) * 2 / size];
                    let start = start_plain_value(b);
                    b.extend_from_slice(sentences[i].as_bytes());
                    finish_plain_value(b, start);
                }
                let block = SentenceBlock {
                    cell_names: (at..at + size).map(|i| format!("c{i}")).collect(),
                    sentences: buffers.into_iter().map(Bytes::from).collect(),
                    n_genes: (at..at + size).map(|i| (i % 7) as i32).collect(),
                    splits: vec!["train"; size],
                    labels: vec![(at..at + size).map(label).collect()],
                };
                file.append(encoder.encode(block).expect("encoded"))
                    .expect("appended");
                at += size;
            }
            file.finish().expect("finished");
            let path = dir.path().join(SENTENCES_PARQUET);
            let back = read_sentences(&path).expect("read back");
            assert_eq!(back.len(), sentences.len());
            for (i, r) in back.iter().enumerate() {
                assert_eq!(r.sentence, sentences[i]);
                assert_eq!(r.cell_name, format!("c{i}"));
                assert_eq!(r.label("cell_type"), label(i).as_deref());
            }
            let reader = SerializedFileReader::new(File::open(&path).unwrap()).unwrap();
            assert_eq!(reader.metadata().num_row_groups(), 2);
            let pages = reader
                .get_row_group(1)
                .unwrap()
                .get_column_page_reader(1)
                .unwrap()
                .count();
            assert!(pages > 4, "{pages} pages");
        }
    }
    #[test]
    fn output_files_keep_no_reserved_space() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        let mut f = OutputFile::create(&path).unwrap();
        let piece: Vec<u8> = (0..100_003u32).map(|i| (i % 251) as u8).collect();
        let mut expected = Vec::new();
        for k in 0..50 {
            if k % 2 == 0 {
                f.write_all(&piece).unwrap();
                expected.extend_from_slice(&piece);
            } else {
                write_all_slices(&mut f, &mut [IoSlice::new(&piece), IoSlice::new(b"\n")]).unwrap();
                expected.extend_from_slice(&piece);
                expected.push(b'\n');
            }
        }
        f.finish().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), expected);
        // Space reserved past the end (ext4) is let go.
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let m = std::fs::metadata(&path).unwrap();
            assert!(
                m.blocks() * 512 < m.len() + (64 << 10),
                "{} blocks",
                m.blocks()
            );
        }
    }
}
