//! Expression matrices read by blocks of rows (cells), so memory stays bounded
//! whatever the file size. CSR and dense matrices stream; a CSC matrix has no
//! contiguous rows and is transposed in memory once (said so in `inspect`).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use hdf5::types::TypeDescriptor;
use hdf5::{Dataset, Group};
use ndarray::s;
use serde::Serialize;

use crate::chunked::ChunkedDataset;
use crate::error::{DataError, Result};
use crate::h5util::{attr_ints, attr_string, descriptor, h5err};

/// A block of consecutive rows in compressed sparse row form.
#[derive(Debug, Clone, Default)]
pub struct RowChunk {
    /// Index of the first row in the whole matrix.
    pub start: usize,
    /// Row offsets into `indices`/`data`, starting at 0; `n_rows + 1` entries.
    pub indptr: Vec<usize>,
    pub indices: Vec<u32>,
    pub data: Vec<f64>,
}

impl RowChunk {
    pub fn n_rows(&self) -> usize {
        self.indptr.len().saturating_sub(1)
    }

    pub fn row(&self, i: usize) -> (&[u32], &[f64]) {
        let (a, b) = (self.indptr[i], self.indptr[i + 1]);
        (&self.indices[a..b], &self.data[a..b])
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum Storage {
    Csr,
    Csc,
    Dense,
}

/// What a matrix holds, judged from a sample of its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum ValueKind {
    /// Non-negative integers: raw counts.
    RawCounts,
    /// Non-negative, not integers, equal cell totals: normalised but not logged.
    Normalized,
    /// Non-negative, not integers, small values: log-normalised.
    LogNormalized,
    /// Holds negative values: scaled or centred data, unusable for ranking.
    Scaled,
    /// Holds NaN or infinite values.
    NonFinite,
    /// No stored values at all.
    Empty,
}

impl ValueKind {
    pub fn describe(self) -> &'static str {
        match self {
            ValueKind::RawCounts => "raw counts",
            ValueKind::Normalized => "normalised (not log-transformed)",
            ValueKind::LogNormalized => "log-normalised",
            ValueKind::Scaled => "scaled (has negative values)",
            ValueKind::NonFinite => "has NaN or infinite values",
            ValueKind::Empty => "empty",
        }
    }
}

enum Inner {
    Csr {
        data: Dataset,
        indices: Dataset,
        indptr: Vec<u64>,
        /// Parallel readers for data and indices, when their layout allows.
        fast: Option<(ChunkedDataset, ChunkedDataset)>,
    },
    Csc {
        data: Dataset,
        indices: Dataset,
        indptr: Vec<u64>,
        cache: OnceLock<RowChunk>,
    },
    Dense {
        ds: Dataset,
        /// The parallel reader, when the matrix is stored contiguously.
        fast: Option<ChunkedDataset>,
    },
}

/// A cells x genes matrix in an HDF5 file.
pub struct MatrixSource {
    file: PathBuf,
    field: String,
    pub n_rows: usize,
    pub n_cols: usize,
    pub storage: Storage,
    pub dtype: String,
    inner: Inner,
}

fn dtype_name(d: &TypeDescriptor) -> String {
    match d {
        TypeDescriptor::Integer(s) => format!("int{}", *s as usize * 8),
        TypeDescriptor::Unsigned(s) => format!("uint{}", *s as usize * 8),
        TypeDescriptor::Float(s) => format!("float{}", *s as usize * 8),
        TypeDescriptor::Boolean => "bool".into(),
        other => format!("{other:?}"),
    }
}

fn check_numeric(file: &Path, field: &str, d: &TypeDescriptor) -> Result<()> {
    match d {
        TypeDescriptor::Integer(_)
        | TypeDescriptor::Unsigned(_)
        | TypeDescriptor::Float(_)
        | TypeDescriptor::Boolean => Ok(()),
        other => Err(DataError::bad(
            file,
            field,
            format!("expression values must be numbers, found {other:?}"),
            "choose another matrix with --matrix",
        )),
    }
}

impl MatrixSource {
    /// Opens a sparse matrix group (anndata CSR/CSC, the pre-0.7 h5sparse layout,
    /// or a 10x `matrix` group with `transposed` = true, whose CSC over features
    /// is CSR over cells).
    pub(crate) fn open_sparse(file: &Path, field: &str, g: &Group, tenx: bool) -> Result<Self> {
        // Absent is an incomplete file; present but unopenable (a filter this
        // build lacks, damage) is what HDF5 says.
        let member = |what: &str| {
            if !g.link_exists(what) {
                return Err(missing_member(file, field, what));
            }
            g.dataset(what)
                .map_err(h5err(file, &format!("{field}/{what}")))
        };
        let data = member("data")?;
        let indices = member("indices")?;
        let indptr_ds = member("indptr")?;
        let indptr: Vec<u64> = indptr_ds
            .read_raw::<u64>()
            .map_err(h5err(file, &format!("{field}/indptr")))?;
        let (shape, storage) = sparse_shape(file, field, g, tenx)?;
        if shape.len() != 2 || shape.iter().any(|&x| x < 0) {
            return Err(DataError::bad(
                file,
                field,
                format!("bad matrix shape {shape:?}"),
                "re-export the file",
            ));
        }
        // 10x stores features x barcodes; we want cells x genes.
        let (n_rows, n_cols) = if tenx {
            (shape[1] as usize, shape[0] as usize)
        } else {
            (shape[0] as usize, shape[1] as usize)
        };
        let major = if storage == Storage::Csc {
            n_cols
        } else {
            n_rows
        };
        let nnz = data.size() as u64;
        if indptr.len() != major + 1
            || indices.size() as u64 != nnz
            || indptr.last().copied() != Some(nnz)
            || indptr.windows(2).any(|w| w[0] > w[1])
        {
            return Err(DataError::bad(
                file,
                format!("{field}/indptr"),
                "the sparse matrix is inconsistent (indptr does not match data and indices)",
                "the file is damaged or truncated; re-export it",
            ));
        }
        let d = descriptor(file, &format!("{field}/data"), &data)?;
        check_numeric(file, &format!("{field}/data"), &d)?;
        let inner = if storage == Storage::Csc {
            Inner::Csc {
                data,
                indices,
                indptr,
                cache: OnceLock::new(),
            }
        } else {
            let fast = ChunkedDataset::open(file, &data).zip(ChunkedDataset::open(file, &indices));
            Inner::Csr {
                data,
                indices,
                indptr,
                fast,
            }
        };
        Ok(MatrixSource {
            file: file.to_path_buf(),
            field: field.to_string(),
            n_rows,
            n_cols,
            storage,
            dtype: dtype_name(&d),
            inner,
        })
    }

    pub(crate) fn open_dense(file: &Path, field: &str, ds: Dataset) -> Result<Self> {
        let shape = ds.shape();
        if shape.len() != 2 {
            return Err(DataError::bad(
                file,
                field,
                format!("expected a 2-D matrix, found {} dimensions", shape.len()),
                "choose another matrix with --matrix",
            ));
        }
        let d = descriptor(file, field, &ds)?;
        check_numeric(file, field, &d)?;
        Ok(MatrixSource {
            file: file.to_path_buf(),
            field: field.to_string(),
            n_rows: shape[0],
            n_cols: shape[1],
            storage: Storage::Dense,
            dtype: dtype_name(&d),
            inner: Inner::Dense {
                fast: ChunkedDataset::open(file, &ds),
                ds,
            },
        })
    }

    /// Whether every value is exactly an f32, known from the stored type
    /// (as `dtype_name` names it): float32, and integers of at most 16 bits.
    pub fn values_fit_f32(&self) -> bool {
        matches!(
            self.dtype.as_str(),
            "float32" | "int8" | "int16" | "uint8" | "uint16" | "bool"
        )
    }

    /// Whether this matrix is read (and decompressed) on all cores rather
    /// than through HDF5.
    pub fn parallel_reading(&self) -> bool {
        matches!(
            &self.inner,
            Inner::Csr { fast: Some(_), .. } | Inner::Dense { fast: Some(_), .. }
        )
    }

    pub fn field(&self) -> &str {
        &self.field
    }

    pub fn file(&self) -> &Path {
        &self.file
    }

    /// Stored values (non-zeros) in the whole matrix, when known without reading it.
    pub(crate) fn stored_values(&self) -> Option<u64> {
        match &self.inner {
            Inner::Csr { indptr, .. } | Inner::Csc { indptr, .. } => indptr.last().copied(),
            Inner::Dense { .. } => None,
        }
    }

    /// Splits the rows into blocks of about `target_values` stored values each.
    pub fn chunks(&self, target_values: usize) -> Vec<(usize, usize)> {
        self.chunks_from(0, target_values)
    }

    /// Splits rows `start..` into blocks of about `target_values` stored
    /// values each.
    pub(crate) fn chunks_from(&self, start: usize, target_values: usize) -> Vec<(usize, usize)> {
        let target = target_values.max(1) as u64;
        let mut out = Vec::new();
        match &self.inner {
            Inner::Csr { indptr, .. } => {
                let mut a = start;
                while a < self.n_rows {
                    let mut b = a + 1;
                    // Galloping would be faster; a linear walk over indptr is cheap enough.
                    while b < self.n_rows && indptr[b + 1] - indptr[a] <= target {
                        b += 1;
                    }
                    out.push((a, b));
                    a = b;
                }
            }
            _ => {
                let per = (target as usize / self.n_cols.max(1)).max(1);
                let per = if matches!(self.inner, Inner::Csc { .. }) {
                    per.max(4096)
                } else {
                    per
                };
                let mut a = start;
                while a < self.n_rows {
                    let b = (a + per).min(self.n_rows);
                    out.push((a, b));
                    a = b;
                }
            }
        }
        out
    }

    fn err(&self, what: &str) -> impl FnOnce(hdf5::Error) -> DataError + '_ {
        let field = format!("{}/{what}", self.field);
        move |source| {
            DataError::hdf5(
                &self.file,
                field,
                source,
                "the file may be damaged or truncated; re-export it",
            )
        }
    }

    /// A dataset the parallel reader could not read or decompress.
    fn unreadable(&self, what: &str, e: std::io::Error) -> DataError {
        DataError::bad(
            &self.file,
            format!("{}/{what}", self.field),
            format!("cannot read or decompress it: {e}"),
            "the file is damaged or truncated; re-export it",
        )
    }

    /// Reads rows `start..end`.
    pub fn read_rows(&self, start: usize, end: usize) -> Result<RowChunk> {
        let end = end.min(self.n_rows);
        match &self.inner {
            Inner::Csr {
                data,
                indices,
                indptr,
                fast,
            } => {
                let (a, b) = (indptr[start] as usize, indptr[end] as usize);
                let (vals, idx) = if a == b {
                    (Vec::new(), Vec::new())
                } else if let Some(r) = fast
                    .as_ref()
                    .and_then(|(fd, fi)| self.read_fast(fd, fi, a, b).transpose())
                {
                    r?
                } else {
                    let vals = data
                        .read_slice_1d::<f64, _>(s![a..b])
                        .map_err(self.err("data"))?;
                    // Read signed: HDF5's conversion to u32 would make a
                    // negative index 0, a real gene, rather than out of range.
                    let idx = indices
                        .read_slice_1d::<i64, _>(s![a..b])
                        .map_err(self.err("indices"))?;
                    (
                        vals.into_raw_vec_and_offset().0,
                        idx.iter()
                            .map(|&j| j.clamp(-1, u32::MAX as i64) as u32)
                            .collect(),
                    )
                };
                // Counted first: a count vectorises, a search that stops does not.
                let out_of_range = idx.iter().filter(|&&j| j as usize >= self.n_cols).count();
                if let Some(&bad) = (out_of_range > 0)
                    .then(|| idx.iter().find(|&&j| j as usize >= self.n_cols))
                    .flatten()
                {
                    return Err(DataError::bad(
                        &self.file,
                        format!("{}/indices", self.field),
                        format!("gene index {bad} is out of range ({} genes)", self.n_cols),
                        "the file is damaged; re-export it",
                    ));
                }
                Ok(RowChunk {
                    start,
                    indptr: indptr[start..=end]
                        .iter()
                        .map(|&p| (p - indptr[start]) as usize)
                        .collect(),
                    indices: idx,
                    data: vals,
                })
            }
            Inner::Dense { ds, fast } => {
                let (a, b) = (start * self.n_cols, end * self.n_cols);
                let flat = match fast.as_ref().map(|f| f.read::<f64>(a, b)) {
                    Some(Ok(v)) => v,
                    Some(Err(e)) if e.kind() != std::io::ErrorKind::Unsupported => {
                        return Err(self.unreadable("data", e))
                    }
                    _ => {
                        ds.read_slice_2d::<f64, _>(s![start..end, ..])
                            .map_err(self.err("data"))?
                            .into_raw_vec_and_offset()
                            .0
                    }
                };
                let mut chunk = RowChunk {
                    start,
                    indptr: vec![0],
                    ..Default::default()
                };
                for i in 0..end - start {
                    let row = &flat[i * self.n_cols..(i + 1) * self.n_cols];
                    for (j, &v) in row.iter().enumerate() {
                        if v != 0.0 {
                            chunk.indices.push(j as u32);
                            chunk.data.push(v);
                        }
                    }
                    chunk.indptr.push(chunk.data.len());
                }
                Ok(chunk)
            }
            Inner::Csc { .. } => {
                let all = self.csc_as_csr()?;
                let (a, b) = (all.indptr[start], all.indptr[end]);
                Ok(RowChunk {
                    start,
                    indptr: all.indptr[start..=end].iter().map(|&p| p - a).collect(),
                    indices: all.indices[a..b].to_vec(),
                    data: all.data[a..b].to_vec(),
                })
            }
        }
    }

    /// Values and indices `a..b` through the parallel reader; `None`
    /// when a chunk needs HDF5 itself (unallocated or partly filtered).
    fn read_fast(
        &self,
        fd: &ChunkedDataset,
        fi: &ChunkedDataset,
        a: usize,
        b: usize,
    ) -> Result<Option<(Vec<f64>, Vec<u32>)>> {
        let vals = match fd.read::<f64>(a, b) {
            Ok(v) => v,
            Err(e) if e.kind() == std::io::ErrorKind::Unsupported => return Ok(None),
            Err(e) => return Err(self.unreadable("data", e)),
        };
        // Negative or huge indices become out of range, caught by the caller.
        let idx = match fi.read::<u32>(a, b) {
            Ok(v) => v,
            Err(e) if e.kind() == std::io::ErrorKind::Unsupported => return Ok(None),
            Err(e) => return Err(self.unreadable("indices", e)),
        };
        Ok(Some((vals, idx)))
    }

    /// Reads the given rows (sorted, distinct) into one chunk in that order.
    pub(crate) fn read_row_list(&self, rows: &[usize]) -> Result<RowChunk> {
        let mut out = RowChunk {
            start: 0,
            indptr: vec![0],
            ..Default::default()
        };
        for &r in rows {
            let c = self.read_rows(r, r + 1)?;
            out.indices.extend_from_slice(&c.indices);
            out.data.extend_from_slice(&c.data);
            out.indptr.push(out.data.len());
        }
        Ok(out)
    }

    fn csc_as_csr(&self) -> Result<&RowChunk> {
        let Inner::Csc {
            data,
            indices,
            indptr,
            cache,
        } = &self.inner
        else {
            unreachable!()
        };
        if let Some(c) = cache.get() {
            return Ok(c);
        }
        let vals = data.read_raw::<f64>().map_err(self.err("data"))?;
        // Signed, as for CSR rows: a negative index is out of range, not 0.
        let idx: Vec<i64> = indices.read_raw::<i64>().map_err(self.err("indices"))?;
        let mut counts = vec![0usize; self.n_rows + 1];
        for &r in &idx {
            if r < 0 || r as usize >= self.n_rows {
                return Err(DataError::bad(
                    &self.file,
                    format!("{}/indices", self.field),
                    format!("cell index {r} is out of range"),
                    "the file is damaged; re-export it",
                ));
            }
            counts[r as usize + 1] += 1;
        }
        for i in 0..self.n_rows {
            counts[i + 1] += counts[i];
        }
        let mut pos = counts.clone();
        let mut out_idx = vec![0u32; idx.len()];
        let mut out_val = vec![0f64; idx.len()];
        for col in 0..self.n_cols {
            for k in indptr[col] as usize..indptr[col + 1] as usize {
                let r = idx[k] as usize;
                out_idx[pos[r]] = col as u32;
                out_val[pos[r]] = vals[k];
                pos[r] += 1;
            }
        }
        let _ = cache.set(RowChunk {
            start: 0,
            indptr: counts,
            indices: out_idx,
            data: out_val,
        });
        Ok(cache.get().expect("just set"))
    }

    /// Judges what the matrix holds from its first rows (up to ~200,000 values).
    pub fn value_kind(&self) -> Result<ValueKind> {
        Ok(self.judge()?.0)
    }

    /// [`MatrixSource::value_kind`], with the rows it was judged on: read
    /// once, they can be converted too.
    pub fn judge(&self) -> Result<(ValueKind, RowChunk)> {
        let (a, b) = self.chunks(200_000).first().copied().unwrap_or((0, 0));
        // A few blocks give a fairer sample of cell totals.
        let mut rows = self.read_rows(a, b.min(a + 500).max(a))?;
        if rows.data.is_empty() && self.n_rows > b {
            rows = self.read_rows(b, (b + 500).min(self.n_rows))?;
        }
        Ok((classify(&rows), rows))
    }
}

pub(crate) fn classify(rows: &RowChunk) -> ValueKind {
    let d = &rows.data;
    if d.is_empty() {
        return ValueKind::Empty;
    }
    // Counts rather than any/all, which stop early and so do not vectorise;
    // `fract` is a library call per value where SSE4.1 is not assumed.
    if d.iter().filter(|v| !v.is_finite()).count() > 0 {
        return ValueKind::NonFinite;
    }
    if d.iter().filter(|&&v| v < 0.0).count() > 0 {
        return ValueKind::Scaled;
    }
    // Below 2^52, adding and taking away 2^52 rounds to a whole number;
    // larger floats are all whole.
    const ROUND: f64 = (1u64 << 52) as f64;
    if d.iter()
        .filter(|&&v| !((v >= ROUND) | ((v + ROUND) - ROUND == v)))
        .count()
        == 0
    {
        return ValueKind::RawCounts;
    }
    let totals: Vec<f64> = (0..rows.n_rows())
        .map(|i| rows.row(i).1.iter().sum::<f64>())
        .filter(|&t| t > 0.0)
        .collect();
    let mean = totals.iter().sum::<f64>() / totals.len().max(1) as f64;
    let spread = totals.iter().map(|t| (t - mean).abs()).fold(0.0, f64::max);
    let max = d.iter().copied().fold(0.0, f64::max);
    if totals.len() > 1 && spread <= 1e-3 * mean {
        ValueKind::Normalized
    } else if max < 30.0 {
        ValueKind::LogNormalized
    } else {
        ValueKind::Normalized
    }
}

/// A sparse group's shape as stored and its storage: 10x's `shape` dataset
/// (CSR of features by barcodes), or the attributes anndata and h5sparse
/// write.
fn sparse_shape(file: &Path, field: &str, g: &Group, tenx: bool) -> Result<(Vec<i64>, Storage)> {
    if tenx {
        let sh: Vec<i64> = g
            .dataset("shape")
            .and_then(|d| d.read_raw::<i64>())
            .map_err(|_| missing_member(file, field, "shape"))?;
        Ok((sh, Storage::Csr))
    } else {
        let enc = attr_string(g, "encoding-type")
            .or_else(|| attr_string(g, "h5sparse_format"))
            .unwrap_or_default();
        let storage = if enc.starts_with("csc") {
            Storage::Csc
        } else if enc.starts_with("csr") {
            Storage::Csr
        } else {
            return Err(DataError::bad(
                file,
                field,
                format!("unknown sparse encoding `{enc}`"),
                "re-save the file with anndata",
            ));
        };
        let sh = attr_ints(g, "shape")
            .or_else(|| attr_ints(g, "h5sparse_shape"))
            .ok_or_else(|| missing_member(file, field, "shape attribute"))?;
        Ok((sh, storage))
    }
}

fn missing_member(file: &Path, field: &str, what: &str) -> DataError {
    DataError::bad(
        file,
        format!("{field}/{what}"),
        format!("the sparse matrix has no `{what}`"),
        "the file is incomplete; re-export it from its source",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(values: &[&[f64]]) -> RowChunk {
        let mut c = RowChunk {
            indptr: vec![0],
            ..Default::default()
        };
        for r in values {
            c.indices.extend((0..r.len() as u32).collect::<Vec<_>>());
            c.data.extend_from_slice(r);
            c.indptr.push(c.data.len());
        }
        c
    }

    #[test]
    fn classify_tells_what_a_matrix_holds() {
        assert_eq!(
            classify(&rows(&[&[1.0, 3.0], &[250.0]])),
            ValueKind::RawCounts
        );
        // Whole however large: floats past 2^52 have no fraction.
        assert_eq!(classify(&rows(&[&[1e17, 2.0]])), ValueKind::RawCounts);
        assert_eq!(
            classify(&rows(&[&[0.5, 2.0], &[1.2]])),
            ValueKind::LogNormalized
        );
        assert_eq!(
            classify(&rows(&[&[4_000.0, 6_000.5], &[10_000.5]])),
            ValueKind::Normalized
        );
        assert_eq!(classify(&rows(&[&[1.0, -0.5]])), ValueKind::Scaled);
        assert_eq!(classify(&rows(&[&[1.0, f64::NAN]])), ValueKind::NonFinite);
        assert_eq!(classify(&rows(&[&[f64::INFINITY]])), ValueKind::NonFinite);
        assert_eq!(classify(&rows(&[])), ValueKind::Empty);
    }
}
