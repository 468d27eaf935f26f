//! Saving a copy of an .h5ad file with new cell annotations (obs columns),
//! such as predicted cell types and their confidence. Everything else in the
//! file is kept as it is.

use std::path::Path;

use hdf5::types::VarLenUnicode;
use ndarray::Array1;

use crate::anndata::{AnnData, FileFormat};
use crate::annotation_rules::CellVotes;
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

/// The obs columns an annotation is saved in. The last three, CellTypist's
/// `predicted_labels` (with Unassigned), `over_clustering` and
/// `majority_voting`, are written only when their rule was applied.
pub(crate) const PREDICTED_COLUMN: &str = "c2s_predicted_cell_type";
pub(crate) const CONFIDENCE_COLUMN: &str = "c2s_confidence";
pub(crate) const ASSIGNED_COLUMN: &str = "c2s_assigned_cell_type";
pub(crate) const OVER_CLUSTERING_COLUMN: &str = "c2s_over_clustering";
pub(crate) const MAJORITY_VOTING_COLUMN: &str = "c2s_majority_voting";

/// One cell's annotation, as it is saved.
#[derive(Debug, Clone, Copy)]
pub struct CellAnnotation<'a> {
    pub cell_name: &'a str,
    pub predicted: Option<&'a str>,
    pub confidence: Option<f64>,
    pub votes: &'a CellVotes,
}

/// Copies `src` to `dst` with `cells`' annotation as obs columns, joined by
/// cell name. Cells of the file without an annotation (left out when
/// converting, or of another split) get missing values; an annotation of a
/// cell the file lacks, or two of one cell, is an error.
pub fn write_cell_annotations(src: &Path, dst: &Path, cells: &[CellAnnotation]) -> Result<()> {
    let ad = AnnData::open(src)?;
    // Names as converting made them: a file with repeated cell names was
    // converted with --make-unique, which renames them as anndata does.
    let names = crate::anndata::make_unique(&ad.obs.index).0;
    let index: std::collections::HashMap<&str, usize> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let n = ad.n_obs();
    let mut row_of = Vec::with_capacity(cells.len());
    let mut seen = vec![false; n];
    for c in cells {
        let Some(&row) = index.get(c.cell_name) else {
            return Err(DataError::bad(
                src,
                "obs index",
                format!("the annotated cell {:?} is not in this file", c.cell_name),
                "save the annotation into the .h5ad the dataset was converted from",
            ));
        };
        if std::mem::replace(&mut seen[row], true) {
            return Err(DataError::bad(
                src,
                "obs index",
                format!("the cell {:?} is annotated twice", c.cell_name),
                "annotate each cell once",
            ));
        }
        row_of.push(row);
    }
    let text = |f: &dyn Fn(&CellAnnotation) -> Option<String>| {
        let mut v: Vec<Option<String>> = vec![None; n];
        for (c, &row) in cells.iter().zip(&row_of) {
            v[row] = f(c);
        }
        ObsValues::Text(v)
    };
    let mut conf = vec![f64::NAN; n];
    for (c, &row) in cells.iter().zip(&row_of) {
        conf[row] = c.confidence.unwrap_or(f64::NAN);
    }
    drop(ad);
    let mut columns = vec![
        (
            PREDICTED_COLUMN.to_string(),
            text(&|c| c.predicted.map(String::from)),
        ),
        (CONFIDENCE_COLUMN.to_string(), ObsValues::Number(conf)),
    ];
    if cells.iter().any(|c| c.votes.assigned.is_some()) {
        columns.push((
            ASSIGNED_COLUMN.to_string(),
            text(&|c| c.votes.assigned.clone()),
        ));
    }
    if cells.iter().any(|c| c.votes.over_cluster.is_some()) {
        // Text, as scanpy stores clusters (a categorical of "0", "1", ...).
        columns.push((
            OVER_CLUSTERING_COLUMN.to_string(),
            text(&|c| c.votes.over_cluster.map(|k| k.to_string())),
        ));
        columns.push((
            MAJORITY_VOTING_COLUMN.to_string(),
            text(&|c| c.votes.majority_vote.clone()),
        ));
    }
    write_annotated_h5ad(src, dst, &columns)
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

    #[test]
    fn cell_annotations_are_joined_by_name_with_the_rules_columns() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/pbmc3k-10x.h5ad");
        let dir = tempfile::tempdir().unwrap();
        let before = AnnData::open(&src).unwrap();
        let names = before.obs.index.clone();
        // Every other cell, in reverse order: the join is by name.
        let votes: Vec<CellVotes> = (0..names.len())
            .map(|i| CellVotes {
                assigned: Some(if i % 3 == 0 { "Unassigned" } else { "B cell" }.into()),
                over_cluster: Some((i % 4) as u32),
                majority_vote: Some("B cell".into()),
            })
            .collect();
        let cells: Vec<CellAnnotation> = (0..names.len())
            .rev()
            .filter(|i| i % 2 == 0)
            .map(|i| CellAnnotation {
                cell_name: &names[i],
                predicted: Some("B cell"),
                confidence: Some(0.25),
                votes: &votes[i],
            })
            .collect();
        let dst = dir.path().join("a.h5ad");
        write_cell_annotations(&src, &dst, &cells).unwrap();
        let after = AnnData::open(&dst).unwrap();
        let assigned = after.obs.column(ASSIGNED_COLUMN).unwrap().data.texts();
        let clusters = after
            .obs
            .column(OVER_CLUSTERING_COLUMN)
            .unwrap()
            .data
            .texts();
        for i in 0..names.len() {
            if i % 2 == 0 {
                assert_eq!(assigned[i].as_deref(), votes[i].assigned.as_deref());
                assert_eq!(clusters[i], Some((i % 4).to_string()));
            } else {
                assert_eq!((assigned[i].as_ref(), clusters[i].as_ref()), (None, None));
            }
        }
        assert!(after.obs.column(MAJORITY_VOTING_COLUMN).is_some());
        // Without rules, only the answer and its confidence are added.
        let plain = CellVotes::default();
        let one = [CellAnnotation {
            cell_name: &names[0],
            predicted: Some("B cell"),
            confidence: None,
            votes: &plain,
        }];
        let dst2 = dir.path().join("b.h5ad");
        write_cell_annotations(&src, &dst2, &one).unwrap();
        let b = AnnData::open(&dst2).unwrap();
        assert_eq!(b.obs.columns.len(), before.obs.columns.len() + 2);
        // A cell the file lacks, or one annotated twice: an error, nothing written.
        let stranger = [CellAnnotation {
            cell_name: "no-such-cell",
            ..one[0]
        }];
        let dst3 = dir.path().join("c.h5ad");
        let e = write_cell_annotations(&src, &dst3, &stranger).unwrap_err();
        assert!(
            e.to_string()
                .contains("\"no-such-cell\" is not in this file"),
            "{e}"
        );
        let e = write_cell_annotations(&src, &dst3, &[one[0], one[0]]).unwrap_err();
        assert!(e.to_string().contains("annotated twice"), "{e}");
        assert!(!dst3.exists());
    }
}
