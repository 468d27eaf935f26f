//! Saving a copy of an .h5ad file with new cell annotations (obs columns),
//! such as predicted cell types and their confidence. Everything else in the
//! file is kept as it is.

use std::path::Path;

use hdf5::types::VarLenUnicode;
use ndarray::Array1;

use crate::anndata::{AnnData, FileFormat};
use crate::error::{DataError, Result};
use crate::h5ad_writer::{categorical, numeric, vlen};
use crate::h5util::h5err;
use crate::output::FileOutput;

/// A new obs column, one value per cell of the file, in file order.
#[derive(Debug, Clone)]
pub enum ObsValues {
    /// Written as a categorical (missing: code -1).
    Text(Vec<Option<String>>),
    /// Written as float64 (missing: NaN).
    Number(Vec<f64>),
}

impl ObsValues {
    fn len(&self) -> usize {
        match self {
            ObsValues::Text(v) => v.len(),
            ObsValues::Number(v) => v.len(),
        }
    }
}

/// Copies `src` to `dst` with `columns` added to obs (a column of the same
/// name is replaced). Written through a temporary file beside `dst`, so a
/// failure leaves nothing behind.
pub fn write_annotated_h5ad(src: &Path, dst: &Path, columns: &[(String, ObsValues)]) -> Result<()> {
    let ad = AnnData::open(src)?;
    if ad.format != FileFormat::H5ad {
        return Err(DataError::bad(
            src,
            "file",
            "annotations can only be added to an .h5ad file",
            "convert the 10x file with scanpy (sc.read_10x_h5(...).write_h5ad(...)) and open that",
        ));
    }
    for (name, values) in columns {
        if values.len() != ad.n_obs() {
            return Err(DataError::bad(
                src,
                format!("obs/{name}"),
                format!("{} values for {} cells", values.len(), ad.n_obs()),
                "give one value per cell of the file",
            ));
        }
    }
    drop(ad);
    let tmp = FileOutput::create(dst, true)?;
    let tmp_path = tmp.temp_path().to_path_buf();
    std::fs::copy(src, &tmp_path).map_err(|e| DataError::io(src, e))?;
    let f = hdf5::File::open_rw(&tmp_path).map_err(h5err(src, "file"))?;
    let obs = f
        .group("obs")
        .ok()
        .filter(|g| g.attr("encoding-type").is_ok())
        .ok_or_else(|| {
            DataError::bad(
                src,
                "obs",
                "this file uses an AnnData layout older than 0.8",
                "open it with anndata and save it again (adata.write_h5ad), then try again",
            )
        })?;
    (|| -> hdf5::Result<()> {
        let mut order: Vec<String> = match obs.attr("column-order") {
            Ok(a) if a.size() > 0 => a
                .read_1d::<VarLenUnicode>()?
                .iter()
                .map(|s| s.as_str().to_string())
                .collect(),
            _ => Vec::new(),
        };
        for (name, values) in columns {
            if obs.link_exists(name) {
                obs.unlink(name)?;
            }
            match values {
                ObsValues::Text(v) => categorical(&obs, name, v)?,
                ObsValues::Number(v) => numeric(&obs, name, v)?,
            }
            if !order.contains(name) {
                order.push(name.clone());
            }
        }
        if obs.attr("column-order").is_ok() {
            obs.delete_attr("column-order")?;
        }
        let order: Array1<VarLenUnicode> = order.iter().map(|s| vlen(s)).collect();
        obs.new_attr_builder()
            .with_data(&order)
            .create("column-order")?;
        Ok(())
    })()
    .map_err(h5err(dst, "obs"))?;
    drop(obs);
    f.close().map_err(h5err(dst, "file"))?;
    tmp.commit()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::ColumnData;

    #[test]
    fn adds_columns_and_keeps_the_rest() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/pbmc3k-10x.h5ad");
        let dir = tempfile::tempdir().unwrap();
        let dst = dir.path().join("annotated.h5ad");
        let before = AnnData::open(&src).unwrap();
        let n = before.n_obs();
        let types: Vec<Option<String>> = (0..n)
            .map(|i| (i % 3 != 0).then(|| format!("type {}", i % 2)))
            .collect();
        let conf: Vec<f64> = (0..n).map(|i| i as f64 / n as f64).collect();
        write_annotated_h5ad(
            &src,
            &dst,
            &[
                ("c2s_prediction".into(), ObsValues::Text(types.clone())),
                ("c2s_confidence".into(), ObsValues::Number(conf.clone())),
            ],
        )
        .unwrap();
        let after = AnnData::open(&dst).unwrap();
        assert_eq!(after.obs.index, before.obs.index);
        assert_eq!(after.obs.columns.len(), before.obs.columns.len() + 2);
        let col = after.obs.column("c2s_prediction").unwrap();
        assert_eq!(col.data.texts(), types);
        match &after.obs.column("c2s_confidence").unwrap().data {
            ColumnData::Float(v) => assert_eq!(v, &conf),
            other => panic!("confidence read as {}", other.kind()),
        }
        // Saving again over an annotated file replaces the columns.
        let again = dir.path().join("again.h5ad");
        write_annotated_h5ad(
            &dst,
            &again,
            &[("c2s_confidence".into(), ObsValues::Number(vec![0.5; n]))],
        )
        .unwrap();
        assert_eq!(
            AnnData::open(&again).unwrap().obs.columns.len(),
            after.obs.columns.len()
        );
    }

    #[test]
    fn wrong_length_is_refused_without_output() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/pbmc3k-10x.h5ad");
        let dir = tempfile::tempdir().unwrap();
        let dst = dir.path().join("annotated.h5ad");
        let err = write_annotated_h5ad(&src, &dst, &[("x".into(), ObsValues::Number(vec![1.0]))])
            .unwrap_err();
        assert!(err.to_string().contains("1 values for"), "{err}");
        assert!(!dst.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
