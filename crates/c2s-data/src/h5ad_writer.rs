//! Writing .h5ad files in anndata's current encoding (CSR X, string columns),
//! so anndata >= 0.8 and scanpy open them.

use std::path::Path;

use hdf5::types::VarLenUnicode;
use hdf5::{Group, Location};
use ndarray::Array1;

use crate::error::Result;
use crate::h5util::h5err;
use crate::output::FileOutput;

/// A sparse cells x genes matrix with text annotations.
pub struct H5adContent<'a> {
    pub obs_names: &'a [String],
    pub obs_columns: &'a [(String, Vec<Option<String>>)],
    pub var_names: &'a [String],
    pub indptr: &'a [u64],
    pub indices: &'a [u32],
    pub data: &'a [f32],
}

pub(crate) fn vlen(s: &str) -> VarLenUnicode {
    // Interior NULs cannot be stored in an HDF5 C string.
    s.replace('\0', "")
        .parse()
        .expect("NUL-free strings always convert")
}

pub(crate) fn attr_str(loc: &Location, name: &str, value: &str) -> hdf5::Result<()> {
    loc.new_attr::<VarLenUnicode>()
        .create(name)?
        .write_scalar(&vlen(value))
}

pub(crate) fn encoding(loc: &Location, ty: &str, version: &str) -> hdf5::Result<()> {
    attr_str(loc, "encoding-type", ty)?;
    attr_str(loc, "encoding-version", version)
}

fn string_array(g: &Group, name: &str, values: &[String]) -> hdf5::Result<()> {
    let v: Array1<VarLenUnicode> = values.iter().map(|s| vlen(s)).collect();
    let ds = g.new_dataset_builder().with_data(&v).create(name)?;
    encoding(&ds, "string-array", "0.2.0")
}

/// A text column as a categorical, which is how anndata stores labels.
pub(crate) fn categorical(g: &Group, name: &str, vals: &[Option<String>]) -> hdf5::Result<()> {
    let mut cats: Vec<String> = vals.iter().flatten().cloned().collect();
    cats.sort();
    cats.dedup();
    let codes: Array1<i32> = vals
        .iter()
        .map(|v| {
            v.as_ref()
                .map_or(-1, |s| cats.binary_search(s).map_or(-1, |i| i as i32))
        })
        .collect();
    let c = g.create_group(name)?;
    encoding(&c, "categorical", "0.2.0")?;
    c.new_attr::<bool>()
        .create("ordered")?
        .write_scalar(&false)?;
    c.new_dataset_builder().with_data(&codes).create("codes")?;
    string_array(&c, "categories", &cats)
}

/// A number column (missing values as NaN).
pub(crate) fn numeric(g: &Group, name: &str, vals: &[f64]) -> hdf5::Result<()> {
    let ds = g.new_dataset_builder().with_data(vals).create(name)?;
    encoding(&ds, "array", "0.2.0")
}

fn frame(
    parent: &Group,
    name: &str,
    index: &[String],
    columns: &[(String, Vec<Option<String>>)],
) -> hdf5::Result<()> {
    let g = parent.create_group(name)?;
    encoding(&g, "dataframe", "0.2.0")?;
    attr_str(&g, "_index", "_index")?;
    let order: Array1<VarLenUnicode> = columns.iter().map(|c| vlen(&c.0)).collect();
    g.new_attr_builder()
        .with_data(&order)
        .create("column-order")?;
    string_array(&g, "_index", index)?;
    for (cname, vals) in columns {
        categorical(&g, cname, vals)?;
    }
    Ok(())
}

/// Writes `content` to `path` through a temporary file in the same directory,
/// so a failure never leaves a half-written file behind.
pub fn write_h5ad(path: &Path, content: &H5adContent) -> Result<()> {
    let tmp = FileOutput::create(path, true)?;
    let tmp_path = tmp.temp_path().to_path_buf();
    let field = "h5ad";
    (|| -> hdf5::Result<()> {
        let f = hdf5::File::create(&tmp_path)?;
        encoding(&f, "anndata", "0.1.0")?;
        let x = f.create_group("X")?;
        encoding(&x, "csr_matrix", "0.1.0")?;
        let shape = Array1::from(vec![
            content.obs_names.len() as i64,
            content.var_names.len() as i64,
        ]);
        x.new_attr_builder().with_data(&shape).create("shape")?;
        x.new_dataset_builder()
            .with_data(content.data)
            .create("data")?;
        let idx: Vec<i32> = content.indices.iter().map(|&i| i as i32).collect();
        x.new_dataset_builder().with_data(&idx).create("indices")?;
        let ptr: Vec<i64> = content.indptr.iter().map(|&i| i as i64).collect();
        x.new_dataset_builder().with_data(&ptr).create("indptr")?;
        frame(&f, "obs", content.obs_names, content.obs_columns)?;
        frame(&f, "var", content.var_names, &[])?;
        for g in ["obsm", "varm", "obsp", "varp", "layers", "uns"] {
            let g = f.create_group(g)?;
            encoding(&g, "dict", "0.1.0")?;
        }
        f.close()
    })()
    .map_err(h5err(&tmp_path, field))?;
    tmp.commit()
}
