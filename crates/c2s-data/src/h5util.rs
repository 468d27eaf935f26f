//! Small helpers over hdf5-metno for what AnnData files hold: strings of every
//! HDF5 flavour, numeric arrays of any width, attributes that may be missing.

use std::path::Path;

use hdf5::types::{TypeDescriptor, VarLenAscii, VarLenUnicode};
use hdf5::{Attribute, Container, Dataset, Datatype, Location};

use crate::error::{DataError, Result};

/// Wraps an HDF5 error with the file and field it concerns.
pub(crate) fn h5err<'a>(
    file: &'a Path,
    field: &'a str,
) -> impl FnOnce(hdf5::Error) -> DataError + 'a {
    move |source| {
        DataError::hdf5(
            file,
            field,
            source,
            "the file may be damaged or truncated; re-export it (for example with anndata's write_h5ad)",
        )
    }
}

/// Reads an object's raw bytes in its own stored type. hdf5-metno only reads
/// fixed-length strings into types whose length is known at compile time, so
/// records of run-time length go through the C API here.
pub(crate) fn read_raw_bytes(
    c: &Container,
    is_attr: bool,
    dtype: &Datatype,
) -> hdf5::Result<Vec<u8>> {
    let n = c.size();
    let mut buf = vec![0u8; n * dtype.size()];
    let status = hdf5::sync::sync(|| unsafe {
        if is_attr {
            hdf5_sys::h5a::H5Aread(c.id(), dtype.id(), buf.as_mut_ptr().cast())
        } else {
            hdf5_sys::h5d::H5Dread(
                c.id(),
                dtype.id(),
                hdf5_sys::h5s::H5S_ALL,
                hdf5_sys::h5s::H5S_ALL,
                hdf5_sys::h5p::H5P_DEFAULT,
                buf.as_mut_ptr().cast(),
            )
        }
    });
    if status < 0 {
        return Err(hdf5::Error::from("H5Dread/H5Aread failed"));
    }
    Ok(buf)
}

/// Splits fixed-length string records, dropping NUL padding.
pub(crate) fn split_fixed(bytes: &[u8], width: usize) -> Vec<String> {
    if width == 0 {
        return Vec::new();
    }
    bytes
        .chunks(width)
        .map(|rec| {
            let end = rec.iter().position(|&b| b == 0).unwrap_or(rec.len());
            String::from_utf8_lossy(&rec[..end]).trim_end().to_string()
        })
        .collect()
}

fn read_strings_container(c: &Container, is_attr: bool) -> hdf5::Result<Option<Vec<String>>> {
    let dtype = c.dtype()?;
    Ok(Some(match dtype.to_descriptor()? {
        TypeDescriptor::VarLenUnicode => c
            .as_reader()
            .read_raw::<VarLenUnicode>()?
            .iter()
            .map(|s| s.as_str().to_string())
            .collect(),
        TypeDescriptor::VarLenAscii => c
            .as_reader()
            .read_raw::<VarLenAscii>()?
            .iter()
            .map(|s| s.as_str().to_string())
            .collect(),
        TypeDescriptor::FixedAscii(w) | TypeDescriptor::FixedUnicode(w) => {
            split_fixed(&read_raw_bytes(c, is_attr, &dtype)?, w)
        }
        _ => return Ok(None),
    }))
}

/// Reads a dataset of strings (variable or fixed length). Numeric datasets are
/// formatted as text, as pandas does for a numeric index.
pub(crate) fn read_strings(file: &Path, field: &str, ds: &Dataset) -> Result<Vec<String>> {
    if let Some(v) = read_strings_container(ds, false).map_err(h5err(file, field))? {
        return Ok(v);
    }
    match ds.dtype().and_then(|d| d.to_descriptor()).map_err(h5err(file, field))? {
        TypeDescriptor::Integer(_) | TypeDescriptor::Unsigned(_) => Ok(read_i64(file, field, ds)?
            .iter()
            .map(|v| v.to_string())
            .collect()),
        TypeDescriptor::Float(_) => Ok(read_f64(file, field, ds)?
            .iter()
            .map(|v| v.to_string())
            .collect()),
        other => Err(DataError::bad(
            file,
            field,
            format!("expected text, found HDF5 type {other:?}"),
            "this field is not in a layout C2S Studio understands; re-save the file with anndata >= 0.8",
        )),
    }
}

pub(crate) fn read_f64(file: &Path, field: &str, ds: &Dataset) -> Result<Vec<f64>> {
    ds.read_raw::<f64>().map_err(h5err(file, field))
}

pub(crate) fn read_i64(file: &Path, field: &str, ds: &Dataset) -> Result<Vec<i64>> {
    ds.read_raw::<i64>().map_err(h5err(file, field))
}

/// An attribute as a list of strings; `None` when absent or not text.
pub(crate) fn attr_strings(loc: &Location, name: &str) -> Option<Vec<String>> {
    let attr: Attribute = loc.attr(name).ok()?;
    read_strings_container(&attr, true).ok().flatten()
}

/// A scalar (or one-element) text attribute.
pub(crate) fn attr_string(loc: &Location, name: &str) -> Option<String> {
    attr_strings(loc, name).and_then(|v| v.into_iter().next())
}

/// An integer array attribute such as `shape`.
pub(crate) fn attr_ints(loc: &Location, name: &str) -> Option<Vec<i64>> {
    let attr = loc.attr(name).ok()?;
    attr.read_raw::<i64>().ok()
}

pub(crate) fn descriptor(file: &Path, field: &str, ds: &Dataset) -> Result<TypeDescriptor> {
    ds.dtype()
        .and_then(|d| d.to_descriptor())
        .map_err(h5err(file, field))
}
