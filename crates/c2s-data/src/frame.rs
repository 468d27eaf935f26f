//! obs and var data frames as AnnData stores them: an index plus typed columns,
//! in every on-disk encoding from anndata 0.7 to 0.12 and the pre-0.7 compound layout.

use std::collections::BTreeMap;
use std::path::Path;

use hdf5::types::TypeDescriptor;
use hdf5::{Dataset, Group};
use serde::Serialize;

use crate::error::{DataError, Result};
use crate::h5util::{
    attr_string, attr_strings, descriptor, h5err, read_f64, read_i64, read_raw_bytes, read_strings,
    split_fixed,
};

/// One column's values. Missing values: `None`, or NaN for floats.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnData {
    Str(Vec<Option<String>>),
    Float(Vec<f64>),
    Int(Vec<Option<i64>>),
    Bool(Vec<Option<bool>>),
    Categorical {
        codes: Vec<i32>,
        categories: Vec<String>,
    },
}

impl ColumnData {
    pub fn len(&self) -> usize {
        match self {
            ColumnData::Str(v) => v.len(),
            ColumnData::Float(v) => v.len(),
            ColumnData::Int(v) => v.len(),
            ColumnData::Bool(v) => v.len(),
            ColumnData::Categorical { codes, .. } => codes.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn kind(&self) -> &'static str {
        match self {
            ColumnData::Str(_) => "text",
            ColumnData::Float(_) => "number",
            ColumnData::Int(_) => "integer",
            ColumnData::Bool(_) => "boolean",
            ColumnData::Categorical { .. } => "categorical",
        }
    }

    /// The value of row `i` as text (`None` when missing), as pandas prints it.
    pub fn text(&self, i: usize) -> Option<String> {
        match self {
            ColumnData::Str(v) => v[i].clone(),
            ColumnData::Float(v) => (!v[i].is_nan()).then(|| format_float(v[i])),
            ColumnData::Int(v) => v[i].map(|x| x.to_string()),
            ColumnData::Bool(v) => v[i].map(|b| if b { "True" } else { "False" }.to_string()),
            ColumnData::Categorical { codes, categories } => {
                let c = codes[i];
                (c >= 0)
                    .then(|| categories.get(c as usize).cloned())
                    .flatten()
            }
        }
    }

    /// Every row as text.
    pub fn texts(&self) -> Vec<Option<String>> {
        (0..self.len()).map(|i| self.text(i)).collect()
    }

    /// Counts of each distinct value, most frequent first (ties by name).
    pub(crate) fn value_counts(&self) -> Vec<(String, usize)> {
        count_values((0..self.len()).filter_map(|i| self.text(i)))
    }
}

/// Counts of each distinct value, most frequent first (ties by name).
pub fn count_values<S: Into<String>>(values: impl IntoIterator<Item = S>) -> Vec<(String, usize)> {
    let mut m: BTreeMap<String, usize> = BTreeMap::new();
    for t in values {
        *m.entry(t.into()).or_default() += 1;
    }
    let mut v: Vec<_> = m.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v
}

fn format_float(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.1}")
    } else {
        x.to_string()
    }
}

#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub data: ColumnData,
}

/// A data frame: row names plus columns, in stored order.
#[derive(Debug, Clone, Default)]
pub struct Frame {
    pub index: Vec<String>,
    pub columns: Vec<Column>,
    /// Columns the file holds that were not asked for, so not read.
    pub unread: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ColumnSummary {
    pub name: String,
    pub kind: &'static str,
    pub distinct: usize,
    pub missing: usize,
    /// Up to 50 most frequent values with their counts (for label-like columns).
    pub top_values: Vec<(String, usize)>,
}

impl Frame {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// Every column's name, read or not (for messages that list them).
    pub fn column_names(&self) -> Vec<&str> {
        self.columns
            .iter()
            .map(|c| c.name.as_str())
            .chain(self.unread.iter().map(String::as_str))
            .collect()
    }

    pub fn summaries(&self) -> Vec<ColumnSummary> {
        self.columns
            .iter()
            .map(|c| {
                let counts = c.data.value_counts();
                let present: usize = counts.iter().map(|x| x.1).sum();
                ColumnSummary {
                    name: c.name.clone(),
                    kind: c.data.kind(),
                    distinct: counts.len(),
                    missing: c.data.len() - present,
                    top_values: counts.into_iter().take(50).collect(),
                }
            })
            .collect()
    }

    /// Reads a frame stored as a group (anndata >= 0.7): the index and the
    /// columns in `wanted` (all when `None`).
    pub(crate) fn read_group(
        file: &Path,
        field: &str,
        g: &Group,
        wanted: Option<&[String]>,
    ) -> Result<Frame> {
        let index_name = attr_string(g, "_index").ok_or_else(|| {
            DataError::bad(
                file,
                format!("{field}/_index"),
                format!("the {field} table has no index (no `_index` attribute), so its names are missing"),
                "re-save the file with anndata (adata.write_h5ad) so that obs_names and var_names are stored",
            )
        })?;
        let index_field = format!("{field}/{index_name}");
        let ds = g.dataset(&index_name).map_err(|_| {
            DataError::bad(
                file,
                &index_field,
                format!("the {field} names (`{index_name}`) are missing"),
                "re-save the file with anndata so that obs_names and var_names are stored",
            )
        })?;
        let index = read_strings(file, &index_field, &ds)?;
        let order = attr_strings(g, "column-order").unwrap_or_default();
        let mut names: Vec<String> = order;
        // Columns not listed in column-order (older writers) still count, in
        // name order (as h5py lists them, whatever order the HDF5 library uses).
        let mut members = g.member_names().map_err(h5err(file, field))?;
        members.sort_unstable();
        for m in members {
            if m != index_name && m != "__categories" && !names.contains(&m) {
                names.push(m);
            }
        }
        let mut columns = Vec::new();
        let mut unread = Vec::new();
        for name in names {
            if wanted.is_some_and(|w| !w.contains(&name)) {
                unread.push(name);
                continue;
            }
            let cfield = format!("{field}/{name}");
            if let Some(data) = read_column(file, &cfield, g, &name)? {
                if data.len() == index.len() {
                    columns.push(Column { name, data });
                }
            }
        }
        Ok(Frame {
            index,
            columns,
            unread,
        })
    }

    /// Reads a frame stored as one compound dataset (the pre-0.7 layout).
    pub(crate) fn read_compound(file: &Path, field: &str, ds: &Dataset) -> Result<Frame> {
        let mut cols = read_compound_columns(file, field, ds)?;
        let pos = cols.iter().position(|(n, _)| n == "index").ok_or_else(|| {
            DataError::bad(
                file,
                format!("{field}/index"),
                format!("the {field} table has no `index` field, so its names are missing"),
                "re-save the file with anndata so that obs_names and var_names are stored",
            )
        })?;
        let (_, idx) = cols.remove(pos);
        let index = idx
            .texts()
            .into_iter()
            .map(|s| s.unwrap_or_default())
            .collect();
        Ok(Frame {
            index,
            columns: cols
                .into_iter()
                .map(|(name, data)| Column { name, data })
                .collect(),
            unread: Vec::new(),
        })
    }
}

fn read_column(file: &Path, field: &str, g: &Group, name: &str) -> Result<Option<ColumnData>> {
    if let Ok(sub) = g.group(name) {
        let enc = attr_string(&sub, "encoding-type").unwrap_or_default();
        return match enc.as_str() {
            "categorical" => {
                let codes = read_i64(
                    file,
                    &format!("{field}/codes"),
                    &sub.dataset("codes").map_err(h5err(file, field))?,
                )?;
                let cats_ds = sub.dataset("categories").map_err(h5err(file, field))?;
                let categories = read_strings(file, &format!("{field}/categories"), &cats_ds)?;
                categorical(file, &format!("{field}/codes"), codes, categories).map(Some)
            }
            "nullable-integer" | "nullable-boolean" | "nullable-string-array" => {
                let values = sub.dataset("values").map_err(h5err(file, field))?;
                let mask: Vec<bool> = sub
                    .dataset("mask")
                    .and_then(|m| m.read_raw::<bool>())
                    .map_err(h5err(file, field))?;
                let mut data = read_plain(file, field, &values)?;
                apply_mask(&mut data, &mask);
                Ok(Some(data))
            }
            _ => Ok(None), // unknown encodings (nested frames, ...) are skipped
        };
    }
    let ds = g.dataset(name).map_err(h5err(file, field))?;
    if ds.ndim() != 1 {
        return Ok(None);
    }
    // anndata 0.7 categoricals: integer codes plus the categories kept in __categories.
    if let Ok(cats) = g.dataset(&format!("__categories/{name}")) {
        let codes = read_i64(file, field, &ds)?;
        let categories = read_strings(file, &format!("{field}/__categories"), &cats)?;
        return categorical(file, field, codes, categories).map(Some);
    }
    read_plain(file, field, &ds).map(Some)
}

/// A categorical column, its codes checked as pandas does: -1 is a missing
/// value, anything else outside the categories is a damaged file (read
/// silently, it would become empty labels).
pub(crate) fn categorical(
    file: &Path,
    field: &str,
    codes: Vec<i64>,
    categories: Vec<String>,
) -> Result<ColumnData> {
    let n = categories.len() as i64;
    if let Some((row, &c)) = codes.iter().enumerate().find(|(_, &c)| c < -1 || c >= n) {
        return Err(DataError::bad(
            file,
            field,
            format!("code {c} of cell {row} names no category (there are {n}; -1 means missing)"),
            "the column is damaged: write it again with anndata, or choose another column",
        ));
    }
    Ok(ColumnData::Categorical {
        codes: codes.into_iter().map(|c| c as i32).collect(),
        categories,
    })
}

fn read_plain(file: &Path, field: &str, ds: &Dataset) -> Result<ColumnData> {
    Ok(match descriptor(file, field, ds)? {
        TypeDescriptor::Boolean => ColumnData::Bool(
            ds.read_raw::<bool>()
                .map_err(h5err(file, field))?
                .into_iter()
                .map(Some)
                .collect(),
        ),
        TypeDescriptor::Enum(_) => ColumnData::Bool(
            ds.read_raw::<i8>()
                .map_err(h5err(file, field))?
                .into_iter()
                .map(|x| Some(x != 0))
                .collect(),
        ),
        TypeDescriptor::Integer(_) | TypeDescriptor::Unsigned(_) => {
            ColumnData::Int(read_i64(file, field, ds)?.into_iter().map(Some).collect())
        }
        TypeDescriptor::Float(_) => ColumnData::Float(read_f64(file, field, ds)?),
        _ => ColumnData::Str(
            read_strings(file, field, ds)?
                .into_iter()
                .map(Some)
                .collect(),
        ),
    })
}

fn apply_mask(data: &mut ColumnData, mask: &[bool]) {
    let hide = |i: usize| mask.get(i).copied().unwrap_or(false);
    match data {
        ColumnData::Str(v) => v.iter_mut().enumerate().for_each(|(i, x)| {
            if hide(i) {
                *x = None
            }
        }),
        ColumnData::Int(v) => v.iter_mut().enumerate().for_each(|(i, x)| {
            if hide(i) {
                *x = None
            }
        }),
        ColumnData::Bool(v) => v.iter_mut().enumerate().for_each(|(i, x)| {
            if hide(i) {
                *x = None
            }
        }),
        ColumnData::Float(v) => v.iter_mut().enumerate().for_each(|(i, x)| {
            if hide(i) {
                *x = f64::NAN
            }
        }),
        ColumnData::Categorical { codes, .. } => codes.iter_mut().enumerate().for_each(|(i, x)| {
            if hide(i) {
                *x = -1
            }
        }),
    }
}

/// The stored records of a compound dataset (the pre-0.7 AnnData layout keeps
/// obs and var this way), one column per field.
fn read_compound_columns(
    file: &Path,
    field: &str,
    ds: &Dataset,
) -> Result<Vec<(String, ColumnData)>> {
    let dtype = ds.dtype().map_err(h5err(file, field))?;
    let TypeDescriptor::Compound(ct) = dtype.to_descriptor().map_err(h5err(file, field))? else {
        return Err(DataError::bad(
            file,
            field,
            "expected a compound dataset",
            "re-save the file with anndata",
        ));
    };
    let bytes = read_raw_bytes(ds, false, &dtype).map_err(h5err(file, field))?;
    let n = ds.size();
    let mut out = Vec::new();
    for f in &ct.fields {
        let rec = |i: usize, w: usize| &bytes[i * ct.size + f.offset..i * ct.size + f.offset + w];
        let col = match &f.ty {
            TypeDescriptor::FixedAscii(w) | TypeDescriptor::FixedUnicode(w) => {
                ColumnData::Str((0..n).map(|i| split_fixed(rec(i, *w), *w).pop()).collect())
            }
            TypeDescriptor::Float(s) => ColumnData::Float(
                (0..n)
                    .map(|i| match *s as usize {
                        4 => f32::from_le_bytes(rec(i, 4).try_into().unwrap()) as f64,
                        _ => f64::from_le_bytes(rec(i, 8).try_into().unwrap()),
                    })
                    .collect(),
            ),
            TypeDescriptor::Integer(s) | TypeDescriptor::Unsigned(s) => {
                let w = *s as usize;
                let signed = matches!(f.ty, TypeDescriptor::Integer(_));
                ColumnData::Int(
                    (0..n)
                        .map(|i| {
                            let b = rec(i, w);
                            let mut buf = [0u8; 8];
                            buf[..w].copy_from_slice(b);
                            if signed && b[w - 1] & 0x80 != 0 {
                                buf[w..].fill(0xff);
                            }
                            Some(i64::from_le_bytes(buf))
                        })
                        .collect(),
                )
            }
            TypeDescriptor::Boolean => {
                ColumnData::Bool((0..n).map(|i| Some(rec(i, 1)[0] != 0)).collect())
            }
            _ => continue, // variable-length fields are not used by that layout's writers
        };
        out.push((f.name.clone(), col));
    }
    Ok(out)
}
