//! Parallel reading of HDF5 datasets, compressed or not.
//!
//! The HDF5 library serialises every call behind one global lock, so it
//! reads, decompresses and converts on one core however many there are;
//! decompression is most of the cost of reading a compressed .h5ad. For the
//! common layouts (little-endian numbers, stored contiguously, as anndata
//! writes by default, or in 1-D chunks, plain or deflated with or without
//! shuffle) we ask HDF5 once, at open, where the bytes lie, then read,
//! inflate and convert them ourselves on all cores, without HDF5's lock.
//! (Asked per chunk, under the lock, while the conversion's other threads
//! ran, the demo stored in 97-value chunks, 23,000 per dataset, converted in
//! 12.4 s; it takes 0.3 to 0.5 s now.) Anything else (other filters, missing
//! chunks, big-endian data, external or compact storage) keeps the plain
//! HDF5 path.

use std::collections::VecDeque;
use std::mem::MaybeUninit;
use std::path::Path;
use std::sync::{Arc, Mutex};

use hdf5::dataset::Layout;
use hdf5::filters::Filter;
use hdf5::types::TypeDescriptor;
use hdf5::Dataset;
use rayon::prelude::*;

/// Stored element types we decode.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Elem {
    F32,
    F64,
    I32,
    I64,
    U32,
    U64,
    I16,
    U16,
    I8,
    U8,
}

impl Elem {
    fn size(self) -> usize {
        match self {
            Elem::F64 | Elem::I64 | Elem::U64 => 8,
            Elem::F32 | Elem::I32 | Elem::U32 => 4,
            Elem::I16 | Elem::U16 => 2,
            Elem::I8 | Elem::U8 => 1,
        }
    }
}

/// What stored numbers are read as: expression values as f64, gene indices
/// as u32. Converted straight from each stored type, one loop per type, so
/// the type is matched once per chunk and each loop vectorises.
pub(crate) trait Element: Copy + Send {
    /// Converts the little-endian `elem`s in `bytes` into `out` (as many as
    /// `out` holds).
    fn convert(elem: Elem, bytes: &[u8], out: &mut [MaybeUninit<Self>]);
}

fn each<const N: usize, T>(bytes: &[u8], out: &mut [MaybeUninit<T>], f: impl Fn([u8; N]) -> T) {
    for (o, c) in out.iter_mut().zip(bytes.chunks_exact(N)) {
        o.write(f(c.try_into().expect("N bytes")));
    }
}

impl Element for f64 {
    fn convert(elem: Elem, bytes: &[u8], out: &mut [MaybeUninit<f64>]) {
        match elem {
            Elem::F32 => each(bytes, out, |b| f32::from_le_bytes(b) as f64),
            Elem::F64 => each(bytes, out, f64::from_le_bytes),
            Elem::I32 => each(bytes, out, |b| i32::from_le_bytes(b) as f64),
            Elem::I64 => each(bytes, out, |b| i64::from_le_bytes(b) as f64),
            Elem::U32 => each(bytes, out, |b| u32::from_le_bytes(b) as f64),
            Elem::U64 => each(bytes, out, |b| u64::from_le_bytes(b) as f64),
            Elem::I16 => each(bytes, out, |b| i16::from_le_bytes(b) as f64),
            Elem::U16 => each(bytes, out, |b| u16::from_le_bytes(b) as f64),
            Elem::I8 => each(bytes, out, |b: [u8; 1]| b[0] as i8 as f64),
            Elem::U8 => each(bytes, out, |b: [u8; 1]| b[0] as f64),
        }
    }
}

/// Gene indices: a negative or too large one becomes `u32::MAX`, which the
/// reader then reports as out of range.
impl Element for u32 {
    fn convert(elem: Elem, bytes: &[u8], out: &mut [MaybeUninit<u32>]) {
        let float = |v: f64| {
            if v >= 0.0 && v < u32::MAX as f64 {
                v as u32
            } else {
                u32::MAX
            }
        };
        match elem {
            Elem::I32 => each(bytes, out, |b| i32::from_le_bytes(b).max(-1) as u32),
            Elem::I64 => each(bytes, out, |b| {
                i64::from_le_bytes(b).clamp(-1, u32::MAX as i64) as u32
            }),
            Elem::U32 => each(bytes, out, u32::from_le_bytes),
            Elem::U64 => each(bytes, out, |b| {
                u64::from_le_bytes(b).min(u32::MAX as u64) as u32
            }),
            Elem::I16 => each(bytes, out, |b| {
                (i16::from_le_bytes(b) as i32).max(-1) as u32
            }),
            Elem::U16 => each(bytes, out, |b| u16::from_le_bytes(b) as u32),
            Elem::I8 => each(bytes, out, |b: [u8; 1]| (b[0] as i8 as i32).max(-1) as u32),
            Elem::U8 => each(bytes, out, |b: [u8; 1]| b[0] as u32),
            Elem::F32 => each(bytes, out, |b| float(f32::from_le_bytes(b) as f64)),
            Elem::F64 => each(bytes, out, |b| float(f64::from_le_bytes(b))),
        }
    }
}

/// Decoded chunks kept for reuse, at most this many bytes per dataset. Reads
/// come in row blocks whose edges fall inside chunks, and the matrix's kind is
/// judged from its first rows (at most 200,000 values: 1.6 MB if 8 bytes each)
/// before the conversion reads them again; keeping recent chunks decodes each
/// of those once. More is only memory: at 8 MB it was a fifth of a
/// conversion's page faults, which cost more than the decoding they saved.
const CACHE_BYTES: usize = 2 << 20;

/// How a dataset's chunks are stored.
#[derive(Debug, Clone, Copy)]
enum Coding {
    /// The element bytes as they are.
    Plain,
    /// zlib-deflated, after HDF5's byte shuffle or not.
    Deflate { shuffle: bool },
}

/// A contiguous dataset is read in pieces of this many bytes, as if it were
/// chunked: small enough to spread a row block over every core, large
/// enough that a piece costs one system call of real work.
const PIECE_BYTES: usize = 256 << 10;

/// A 1-D dataset whose chunks (or, if contiguous, pieces) we read ourselves.
pub(crate) struct ChunkedDataset {
    file: std::fs::File,
    chunk_len: usize,
    len: usize,
    elem: Elem,
    coding: Coding,
    /// Where each chunk lies in the file: (address, stored size); size 0
    /// for a chunk HDF5 must read (not allocated, or a filter skipped).
    locations: Vec<(u64, u64)>,
    /// Recently decoded chunks, oldest first.
    cache: Mutex<VecDeque<(usize, Arc<Vec<u8>>)>>,
    /// Buffers of chunks gone from the cache, to decode into.
    spare: Mutex<Vec<Vec<u8>>>,
}

/// At most this many buffers wait for reuse (a few per decoding thread).
const SPARE_BUFFERS: usize = 16;

thread_local! {
    /// Per thread, reused from chunk to chunk: the stored bytes' buffer and
    /// a decompressor. Allocating both per chunk, and zeroing the buffer,
    /// cost a tenth of reading.
    static SCRATCH: std::cell::RefCell<(Vec<u8>, libdeflater::Decompressor)> =
        std::cell::RefCell::new((Vec::new(), libdeflater::Decompressor::new()));
}

impl ChunkedDataset {
    /// `None` when the dataset is not in a layout this reader handles. A
    /// contiguous 2-D dataset (a dense matrix) is read as the 1-D run of its
    /// rows, which is how HDF5 stores it.
    pub(crate) fn open(path: &Path, ds: &Dataset) -> Option<Self> {
        let flat = ds.ndim() == 1 || (ds.ndim() == 2 && ds.layout() == Layout::Contiguous);
        if !flat {
            return None;
        }
        let coding = match ds.filters().as_slice() {
            [] => Coding::Plain,
            [Filter::Deflate(_)] => Coding::Deflate { shuffle: false },
            [Filter::Shuffle, Filter::Deflate(_)] => Coding::Deflate { shuffle: true },
            _ => return None,
        };
        let dtype = ds.dtype().ok()?;
        if dtype.byte_order() != hdf5::datatype::ByteOrder::LittleEndian && dtype.size() > 1 {
            return None;
        }
        use hdf5::types::{FloatSize, IntSize};
        let elem = match dtype.to_descriptor().ok()? {
            TypeDescriptor::Float(FloatSize::U4) => Elem::F32,
            TypeDescriptor::Float(FloatSize::U8) => Elem::F64,
            TypeDescriptor::Integer(IntSize::U1) => Elem::I8,
            TypeDescriptor::Integer(IntSize::U2) => Elem::I16,
            TypeDescriptor::Integer(IntSize::U4) => Elem::I32,
            TypeDescriptor::Integer(IntSize::U8) => Elem::I64,
            TypeDescriptor::Unsigned(IntSize::U1) => Elem::U8,
            TypeDescriptor::Unsigned(IntSize::U2) => Elem::U16,
            TypeDescriptor::Unsigned(IntSize::U4) => Elem::U32,
            TypeDescriptor::Unsigned(IntSize::U8) => Elem::U64,
            _ => return None,
        };
        let len = ds.size();
        let file = std::fs::File::open(path).ok()?;
        let (chunk_len, locations) = match ds.layout() {
            Layout::Chunked => {
                let chunk_len = *ds.chunk()?.first()?;
                if chunk_len == 0 {
                    return None;
                }
                (chunk_len, chunk_locations(ds, chunk_len, len)?)
            }
            Layout::Contiguous if ds.dcpl().ok()?.external().is_empty() => {
                let piece_len = PIECE_BYTES / elem.size();
                let bytes = (len * elem.size()) as u64;
                let file_len = file.metadata().ok()?.len();
                let addr = contiguous_address(ds, bytes)
                    .filter(|a| a.checked_add(bytes).is_some_and(|end| end <= file_len))?;
                let pieces = (0..len.div_ceil(piece_len))
                    .map(|k| {
                        let n = piece_len.min(len - k * piece_len);
                        (
                            addr + (k * piece_len * elem.size()) as u64,
                            (n * elem.size()) as u64,
                        )
                    })
                    .collect();
                (piece_len, pieces)
            }
            _ => return None, // compact, virtual or external: HDF5 reads it
        };
        Some(ChunkedDataset {
            file,
            chunk_len,
            len,
            elem,
            coding,
            locations,
            cache: Mutex::default(),
            spare: Mutex::default(),
        })
    }

    /// Inflates chunk `k` (and undoes the shuffle) to its raw little-endian
    /// element bytes.
    fn decode(&self, k: usize, shuffle: bool) -> std::io::Result<Vec<u8>> {
        let (addr, size) = self.locations.get(k).copied().unwrap_or((0, 0));
        if size == 0 {
            // Unallocated, or a filter skipped for this chunk: HDF5 reads it.
            return Err(std::io::ErrorKind::Unsupported.into());
        }
        let s = self.elem.size();
        let mut out = self.spare(self.chunk_len * s);
        let n = SCRATCH.with_borrow_mut(|(raw, inflater)| {
            raw.resize(size as usize, 0);
            read_at(&self.file, raw, addr)?;
            // libdeflate inflates about twice as fast as zlib when the output
            // size is known, which it is: a whole chunk.
            inflater.zlib_decompress(raw, &mut out).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("chunk at byte {addr}: {e:?}"),
                )
            })
        })?;
        if n != out.len() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "chunk has the wrong decompressed size",
            ));
        }
        if shuffle && s > 1 {
            // HDF5's shuffle stores byte j of every element together.
            let n = self.chunk_len;
            let mut un = vec![0u8; out.len()];
            for j in 0..s {
                for i in 0..n {
                    un[i * s + j] = out[j * n + i];
                }
            }
            out = un;
        }
        Ok(out)
    }

    /// A buffer of `len` bytes for a decoded chunk: one the cache let go of,
    /// or a new one. Its old contents are overwritten whole.
    fn spare(&self, len: usize) -> Vec<u8> {
        let reused = self.spare.lock().expect("not poisoned").pop();
        reused
            .filter(|b| b.len() == len)
            .unwrap_or_else(|| vec![0u8; len])
    }

    /// Chunk `k` decoded, from the cache when it is there.
    fn chunk(&self, k: usize, shuffle: bool) -> std::io::Result<Arc<Vec<u8>>> {
        let cached = |c: &VecDeque<(usize, Arc<Vec<u8>>)>| {
            c.iter().find(|(i, _)| *i == k).map(|(_, b)| b.clone())
        };
        if let Some(b) = cached(&self.cache.lock().expect("not poisoned")) {
            return Ok(b);
        }
        let bytes = Arc::new(self.decode(k, shuffle)?);
        let keep = (CACHE_BYTES / bytes.len().max(1)).max(2);
        let mut c = self.cache.lock().expect("not poisoned");
        if cached(&c).is_none() {
            c.push_back((k, bytes.clone()));
            while c.len() > keep {
                let old = c.pop_front().map(|(_, b)| b);
                // Unless a reader still holds it, its buffer decodes the next chunk.
                if let Some(buf) = old.and_then(|b| Arc::try_unwrap(b).ok()) {
                    let mut spare = self.spare.lock().expect("not poisoned");
                    if spare.len() < SPARE_BUFFERS {
                        spare.push(buf);
                    }
                }
            }
        }
        Ok(bytes)
    }

    /// Elements `a..b`, chunks decoded in parallel straight into their
    /// place in the output.
    pub(crate) fn read<T: Element>(&self, a: usize, b: usize) -> std::io::Result<Vec<T>> {
        let b = b.min(self.len);
        if a >= b {
            return Ok(Vec::new());
        }
        // Filled in place rather than zeroed first: zeroing was a tenth of
        // the reader's time.
        let mut out = Vec::with_capacity(b - a);
        let mut parts = Vec::new();
        let mut rest = &mut out.spare_capacity_mut()[..b - a];
        for k in a / self.chunk_len..=(b - 1) / self.chunk_len {
            let start = k * self.chunk_len;
            let (lo, hi) = (a.max(start) - start, b.min(start + self.chunk_len) - start);
            let (dst, tail) = rest.split_at_mut(hi - lo);
            parts.push((k, lo, dst));
            rest = tail;
        }
        let s = self.elem.size();
        // A chunk short of its elements would leave some unset.
        let short = || {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "a chunk holds fewer values than the dataset's size says",
            )
        };
        parts.into_par_iter().try_for_each(|(k, lo, dst)| {
            let shuffle = match self.coding {
                Coding::Deflate { shuffle } => shuffle,
                Coding::Plain => {
                    // Only the bytes asked for, read straight from the file
                    // into a reused buffer: no cache, since reading them
                    // again costs no more than keeping them.
                    let (addr, size) = self.locations.get(k).copied().unwrap_or((0, 0));
                    if size == 0 {
                        return Err(std::io::ErrorKind::Unsupported.into());
                    }
                    if size < ((lo + dst.len()) * s) as u64 {
                        return Err(short());
                    }
                    return SCRATCH.with_borrow_mut(|(raw, _)| {
                        raw.resize(dst.len() * s, 0);
                        read_at(&self.file, raw, addr + (lo * s) as u64)?;
                        T::convert(self.elem, raw, dst);
                        Ok(())
                    });
                }
            };
            let bytes = self.chunk(k, shuffle)?;
            if bytes.len() < (lo + dst.len()) * s {
                return Err(short());
            }
            T::convert(self.elem, &bytes[lo * s..], dst);
            Ok::<_, std::io::Error>(())
        })?;
        // SAFETY: the parts cover elements 0..b - a exactly, and each part
        // wrote every one of its elements (its chunk holds them all, checked
        // above); a failed part returned before this point.
        unsafe { out.set_len(b - a) };
        Ok(out)
    }
}

/// Where a contiguous dataset of `bytes` bytes starts in the file, if HDF5
/// has allocated it.
fn contiguous_address(ds: &Dataset, bytes: u64) -> Option<u64> {
    // HDF5 adds a user block's size to the address, even to the undefined
    // one (all ones) of an unallocated dataset; its stored size is then 0.
    let addr = ds.offset()?;
    (addr != u64::MAX && ds.storage_size() == bytes && bytes > 0).then_some(addr)
}

/// Every chunk's (address, stored size), from one walk of the dataset's
/// chunk index (`H5Dchunk_iter`, HDF5 >= 1.14); a chunk with a filter
/// skipped, or not allocated, gets size 0. `None` if HDF5 cannot say.
fn chunk_locations(ds: &Dataset, chunk_len: usize, len: usize) -> Option<Vec<(u64, u64)>> {
    let mut locations = vec![(0, 0); len.div_ceil(chunk_len)];
    // An offset that is not a chunk's first element: HDF5 before 1.14
    // passed chunk numbers instead, which this does not trust.
    let mut odd = false;
    ds.chunks_visit(|chunk| {
        let first = chunk.offset.first().copied().unwrap_or(0) as usize;
        odd |= !first.is_multiple_of(chunk_len);
        if let Some(slot) = locations.get_mut(first / chunk_len) {
            if chunk.filter_mask == 0 && chunk.addr != u64::MAX {
                *slot = (chunk.addr, chunk.size);
            }
        }
        0
    })
    .ok()?;
    (!odd).then_some(locations)
}

#[cfg(unix)]
fn read_at(f: &std::fs::File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(f, buf, offset)
}

#[cfg(windows)]
fn read_at(f: &std::fs::File, mut buf: &mut [u8], mut offset: u64) -> std::io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        let n = f.seek_read(buf, offset)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf = &mut buf[n..];
        offset += n as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_found_and_missing_ones_left_to_hdf5() {
        // 1,000 values in chunks of 100; chunks 3 to 5 never written, so
        // HDF5 allocates no space for them.
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("partial.h5");
        let values: Vec<f32> = (0..1000).map(|i| i as f32).collect();
        {
            let f = hdf5::File::create(&path).unwrap();
            let ds = f
                .new_dataset::<f32>()
                .chunk(100)
                .deflate(4)
                .shape(1000)
                .create("x")
                .unwrap();
            ds.write_slice(&values[..300], ndarray::s![0..300]).unwrap();
            ds.write_slice(&values[600..], ndarray::s![600..1000])
                .unwrap();
        }
        let f = hdf5::File::open(&path).unwrap();
        let ds = f.dataset("x").unwrap();
        let c = ChunkedDataset::open(&path, &ds).expect("a layout this reader reads");
        let sizes: Vec<bool> = c.locations.iter().map(|&(_, size)| size > 0).collect();
        let mut expected = vec![true; 10];
        expected[3..6].fill(false);
        assert_eq!(sizes, expected);
        // Written chunks decode here, across chunk edges; a range that
        // touches an unwritten one is left to HDF5 (which fills it).
        let floats: Vec<f64> = values.iter().map(|&v| v as f64).collect();
        assert_eq!(c.read::<f64>(50, 300).unwrap(), floats[50..300]);
        assert_eq!(c.read::<f64>(600, 1000).unwrap(), floats[600..]);
        for (a, b) in [(250, 1000), (590, 1000), (300, 301)] {
            let err = c.read::<f64>(a, b).unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::Unsupported, "{a}..{b}");
        }
    }

    #[test]
    fn uncompressed_layouts_are_read_where_hdf5_keeps_them() {
        // A user block shifts every address: HDF5 counts it in, so must we.
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("plain.h5");
        let n = 200_003; // over three 256 KB pieces of f32, the last one short
        let floats: Vec<f32> = (0..n).map(|i| i as f32 * 0.5).collect();
        let wide: Vec<i64> = (0..n as i64).map(|i| i * 3 - 7).collect();
        {
            let f = hdf5::File::with_options()
                .with_fcpl(|p| p.userblock(512))
                .create(&path)
                .unwrap();
            f.new_dataset_builder()
                .with_data(&floats)
                .create("contiguous")
                .unwrap();
            f.new_dataset_builder()
                .with_data(&wide)
                .create("contiguous-i64")
                .unwrap();
            f.new_dataset_builder()
                .with_data(&floats)
                .chunk(1000)
                .create("chunked")
                .unwrap();
            // Never written: HDF5 allocates it only when written.
            f.new_dataset::<f32>().shape(100).create("empty").unwrap();
            f.new_dataset_builder()
                .with_data(&floats[..10])
                .layout(hdf5::dataset::Layout::Compact)
                .create("compact")
                .unwrap();
        }
        let f = hdf5::File::open(&path).unwrap();
        assert_eq!(f.userblock(), 512);
        let open = |name: &str| ChunkedDataset::open(&path, &f.dataset(name).unwrap());
        let (c, i, k) = (
            open("contiguous").expect("contiguous f32"),
            open("contiguous-i64").expect("contiguous i64"),
            open("chunked").expect("plain chunks"),
        );
        assert_eq!(c.locations.len(), 4);
        let as_f64: Vec<f64> = floats.iter().map(|&v| v as f64).collect();
        // As indices, the negative ones become u32::MAX (out of range).
        let as_index: Vec<u32> = wide
            .iter()
            .map(|&v| u32::try_from(v).unwrap_or(u32::MAX))
            .collect();
        assert_eq!(as_index[..3], [u32::MAX; 3]);
        for (a, b) in [(0, n), (7, 65_537), (65_535, 65_536), (196_000, n)] {
            assert_eq!(c.read::<f64>(a, b).unwrap(), as_f64[a..b]);
            assert_eq!(k.read::<f64>(a, b).unwrap(), as_f64[a..b]);
            assert_eq!(i.read::<u32>(a, b).unwrap(), as_index[a..b]);
            let wide_f64: Vec<f64> = wide[a..b].iter().map(|&v| v as f64).collect();
            assert_eq!(i.read::<f64>(a, b).unwrap(), wide_f64);
        }
        assert!(open("empty").is_none());
        assert!(open("compact").is_none());
    }
}
