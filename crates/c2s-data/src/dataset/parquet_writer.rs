//! sentences.parquet: blocks of sentences encoded apart from the file, on
//! any thread, and appended as row groups.

use std::io::{BufWriter, IoSlice, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use parquet::basic::{
    ColumnOrder, Compression, ConvertedType, Encoding, LogicalType, Repetition,
    Type as PhysicalType, ZstdLevel,
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

use super::output_file::{write_all_slices, OutputFile};
use super::{COUNTS_COLUMN, SENTENCES_PARQUET, SENTENCE_COLUMN};
use crate::error::{DataError, Result};

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
    /// Each sentence gene's raw count, the sentences one after another
    /// (`n_genes` each), for a file with a counts column; else empty.
    pub counts: Vec<i32>,
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

/// Streams sentence blocks into sentences.parquet, one row group per block.
///
/// Blocks are encoded (and compressed, if asked) apart from the file
/// ([`ParquetEncoder`], on any thread) and appended here in order. The file
/// is assembled by hand around the crate's pieces: the crate encodes the
/// small columns and writes the footer, while the sentence column, nearly
/// all of the bytes, goes from the workers' buffers to the file in one
/// gathering write. (Through the crate's writer each sentence was copied
/// six times on its way: encoder, page, buffered sinks, `append_column`'s
/// copy loop; its lower-level page API is private.) Kept because it wins:
/// benches/parquet_writer.rs, 20,000 cells on 2 cores, against the crate's
/// `SerializedFileWriter` with the same schema and pages: 1.9x as fast with
/// plain pages, level with zstd on one thread, 1.7 to 1.9x with zstd when
/// blocks are encoded on all cores as the conversion does (the crate's
/// writer compresses a row group at a time on its own thread).
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
    /// `compress`: zstd pages (see [`ParquetCompression`]); `counts`: a
    /// counts column after the labels (a list of integers per cell).
    pub fn create(
        dir: &Path,
        label_names: &[String],
        compress: bool,
        counts: bool,
    ) -> Result<Self> {
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
        if counts {
            fields.push(counts_col().map_err(pq_err)?);
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
            .set_column_dictionary_enabled(counts_path(), false)
            .set_column_encoding(counts_path(), Encoding::DELTA_BINARY_PACKED)
            .set_column_statistics_enabled(counts_path(), EnabledStatistics::None)
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
        let start = self.file.written();
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

fn counts_path() -> ColumnPath {
    ColumnPath::new(vec![COUNTS_COLUMN.into(), "list".into(), "element".into()])
}

/// The counts column: `required group counts (LIST) { repeated group list
/// { required int32 element } }`, the layout pyarrow and pandas read as a
/// list of integers.
fn counts_col() -> parquet::errors::Result<Arc<Type>> {
    let element = Type::primitive_type_builder("element", PhysicalType::INT32)
        .with_repetition(Repetition::REQUIRED)
        .build()?;
    let list = Type::group_type_builder("list")
        .with_repetition(Repetition::REPEATED)
        .with_fields(vec![Arc::new(element)])
        .build()?;
    Type::group_type_builder(COUNTS_COLUMN)
        .with_repetition(Repetition::REQUIRED)
        .with_logical_type(Some(LogicalType::List))
        .with_converted_type(ConvertedType::LIST)
        .with_fields(vec![Arc::new(list)])
        .build()
        .map(Arc::new)
}

/// Each cell's `n_genes` counts as one list: repetition level 0 starts a
/// cell's list and 1 goes on with it; an empty list is a definition level
/// of 0 without a value.
fn write_counts(
    writer: ColumnWriter<'_>,
    counts: &[i32],
    n_genes: &[i32],
) -> parquet::errors::Result<ColumnCloseResult> {
    let total: usize = n_genes.iter().map(|&n| n.max(0) as usize).sum();
    if total != counts.len() {
        return Err(parquet::errors::ParquetError::General(format!(
            "{} counts for sentences of {total} genes",
            counts.len()
        )));
    }
    let levels = total + n_genes.iter().filter(|&&n| n <= 0).count();
    let (mut defs, mut reps) = (Vec::with_capacity(levels), Vec::with_capacity(levels));
    for &n in n_genes {
        if n <= 0 {
            defs.push(0);
            reps.push(0);
            continue;
        }
        defs.resize(defs.len() + n as usize, 1);
        reps.push(0);
        reps.resize(reps.len() + n as usize - 1, 1);
    }
    let mut w = get_typed_column_writer::<Int32Type>(writer);
    w.write_batch(counts, Some(&defs), Some(&reps))?;
    w.close()
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
                    _ if k == 4 + b.labels.len() => write_counts(writer, &b.counts, &b.n_genes),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::read_sentences;
    use crate::dataset::records::read_parquet;
    use std::fs::File;

    #[test]
    fn counts_that_do_not_match_their_sentence_are_refused_when_read() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = ParquetSentences::create(dir.path(), &[], false, true).unwrap();
        let encoder = file.encoder();
        let mut text = Vec::new();
        let start = start_plain_value(&mut text);
        text.extend_from_slice(b"CD3D IL7R LTB");
        finish_plain_value(&mut text, start);
        // Two counts, as `n_genes` says, for a sentence of three genes.
        let block = SentenceBlock {
            cell_names: vec!["c0".into()],
            sentences: vec![Bytes::from(text)],
            n_genes: vec![2],
            splits: vec!["train"],
            labels: vec![],
            counts: vec![9, 4],
        };
        file.append(encoder.encode(block).unwrap()).unwrap();
        file.finish().unwrap();
        let path = dir.path().join(SENTENCES_PARQUET);
        assert_eq!(read_sentences(&path).unwrap().len(), 1, "counts not read");
        let e = read_parquet(&path, true).unwrap_err().to_string();
        assert!(
            e.contains("cell c0: 2 counts for a sentence of 3 genes"),
            "{e}"
        );
        assert!(e.contains("c2s convert"), "{e}");
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
            let mut file =
                ParquetSentences::create(dir.path(), &["cell_type".into()], compress, true)
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
                    counts: (at..at + size)
                        .flat_map(|i| (0..i % 7).map(move |g| (i * 10 + g) as i32))
                        .collect(),
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
                assert_eq!(r.counts, None, "counts are read only when asked");
            }
            let with_counts = read_parquet(&path, true).expect("read back");
            for (i, r) in with_counts.iter().enumerate() {
                let want: Vec<u32> = (0..i % 7).map(|g| (i * 10 + g) as u32).collect();
                assert_eq!(r.counts.as_deref(), Some(&want[..]), "cell {i}");
                assert_eq!(r.labels.len(), 2, "the counts are no label");
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
}
