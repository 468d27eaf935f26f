//! Opening single-cell files: .h5ad in the current anndata encodings (0.7 to
//! 0.12), the pre-0.7 layout, and Cell Ranger v3 `filtered_feature_bc_matrix.h5`.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{DataError, Result};
use crate::frame::{Column, ColumnData, Frame};
use crate::h5util::{attr_string, h5err, read_strings};
use crate::matrix::{MatrixSource, RowChunk, ValueKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum FileFormat {
    /// anndata >= 0.7 (groups with encoding attributes).
    H5ad,
    /// The pre-0.7 layout: obs and var as compound datasets.
    H5adLegacy,
    /// Cell Ranger v3 feature-barcode matrix.
    CellRangerH5,
}

/// Which expression matrix to use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum MatrixId {
    X,
    Raw,
    Layer(String),
}

impl fmt::Display for MatrixId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MatrixId::X => write!(f, "X"),
            MatrixId::Raw => write!(f, "raw"),
            MatrixId::Layer(n) => write!(f, "layer:{n}"),
        }
    }
}

impl std::str::FromStr for MatrixId {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "X" | "x" => Ok(MatrixId::X),
            "raw" | "raw/X" | "raw.X" => Ok(MatrixId::Raw),
            _ => s
                .strip_prefix("layer:")
                .or_else(|| s.strip_prefix("layers/"))
                .map(|n| MatrixId::Layer(n.to_string()))
                .ok_or_else(|| format!("`{s}` is not a matrix name: use X, raw or layer:NAME")),
        }
    }
}

/// Which obs and var columns to read when opening a file; `None` reads all.
/// The indexes (cell and gene names) are always read. Converting needs only
/// the label and gene-name columns, and real files can hold dozens of others
/// (QC metrics, cluster labels of past analyses), each a pass over every cell.
#[derive(Debug, Clone, Default)]
pub struct ColumnSelection {
    pub obs: Option<Vec<String>>,
    pub var: Option<Vec<String>>,
}

impl ColumnSelection {
    pub fn all() -> Self {
        ColumnSelection::default()
    }

    pub fn only(obs: &[String], var: &[String]) -> Self {
        ColumnSelection {
            obs: Some(obs.to_vec()),
            var: Some(var.to_vec()),
        }
    }
}

/// An opened file with its cell and gene tables loaded (matrices stay on disk).
pub struct AnnData {
    pub path: PathBuf,
    file: hdf5::File,
    pub format: FileFormat,
    pub obs: Frame,
    pub var: Frame,
    raw_var: Option<Frame>,
    pub matrices: Vec<MatrixId>,
    /// Things the user should know about the file (made-unique names, ...).
    pub notes: Vec<String>,
}

const HDF5_MAGIC: &[u8; 8] = b"\x89HDF\r\n\x1a\n";

/// HDF5 puts its signature at 0, 512, 1024, 2048, ... (after a user block).
fn has_hdf5_signature(path: &Path) -> Result<bool> {
    // (A folder opens on Linux; reading it is what fails.)
    if path.is_dir() {
        return Err(DataError::bad(
            path,
            "file",
            "this is a folder, not a file",
            "give the .h5ad file itself",
        ));
    }
    let mut f = std::fs::File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => DataError::bad(
            path,
            "file",
            "there is no such file",
            "check the path and the file name",
        ),
        std::io::ErrorKind::PermissionDenied => DataError::bad(
            path,
            "file",
            "you may not read this file",
            "check its permissions, or copy it somewhere you can read",
        ),
        std::io::ErrorKind::IsADirectory => DataError::bad(
            path,
            "file",
            "this is a folder, not a file",
            "give the .h5ad file itself",
        ),
        _ => DataError::io(path, e),
    })?;
    let mut buf = vec![0u8; 1 << 16];
    let mut n = 0;
    while n < buf.len() {
        let k = f.read(&mut buf[n..]).map_err(|e| DataError::io(path, e))?;
        if k == 0 {
            break;
        }
        n += k;
    }
    let mut off = 0usize;
    while off + 8 <= n {
        if &buf[off..off + 8] == HDF5_MAGIC {
            return Ok(true);
        }
        off = if off == 0 { 512 } else { off * 2 };
    }
    Ok(false)
}

impl AnnData {
    /// Opens a file with every obs and var column read.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, &ColumnSelection::all())
    }

    /// Opens a file reading only the selected obs and var columns (the
    /// legacy and 10x layouts store few and are read whole).
    pub fn open_with(path: impl AsRef<Path>, columns: &ColumnSelection) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        if !has_hdf5_signature(&path)? {
            return Err(DataError::bad(
                &path,
                "file",
                "this is not an HDF5 file, so it is neither an .h5ad nor a 10x .h5 file",
                "choose an .h5ad file (from scanpy: adata.write_h5ad) or a Cell Ranger filtered_feature_bc_matrix.h5",
            ));
        }
        let file = hdf5::File::open(&path).map_err(|source| {
            DataError::hdf5(
                &path,
                "file",
                source,
                "the file is damaged or was cut short (an interrupted copy or download?); copy it again",
            )
        })?;
        if file.link_exists("matrix") && !file.link_exists("X") {
            return Self::open_tenx(path, file);
        }
        if !(file.link_exists("X") && file.link_exists("obs") && file.link_exists("var")) {
            return Err(DataError::bad(
                &path,
                "X, obs, var",
                "this HDF5 file is not AnnData: it lacks the X matrix or the obs/var tables",
                "choose an .h5ad file written by anndata or scanpy, or a Cell Ranger .h5 file",
            ));
        }
        let p = path.as_path();
        let (obs, legacy) = read_frame(p, &file, "obs", columns.obs.as_deref())?;
        let (var, _) = read_frame(p, &file, "var", columns.var.as_deref())?;
        let raw_var = if file.link_exists("raw/X") && file.link_exists("raw/var") {
            Some(read_frame(p, &file, "raw/var", columns.var.as_deref())?.0)
        } else if legacy && file.link_exists(LEGACY_RAW_X) && file.link_exists("raw.var") {
            // The pre-0.7 layout names raw's members with a dot at the top level.
            Some(read_frame(p, &file, "raw.var", columns.var.as_deref())?.0)
        } else {
            None
        };
        let mut matrices = vec![MatrixId::X];
        if raw_var.is_some() {
            matrices.push(MatrixId::Raw);
        }
        if let Ok(layers) = file.group("layers") {
            // In name order, as anndata lists them, whatever the HDF5 library's order.
            let mut names = layers.member_names().map_err(h5err(p, "layers"))?;
            names.sort_unstable();
            matrices.extend(names.into_iter().map(MatrixId::Layer));
        }
        let ad = AnnData {
            path,
            file,
            format: if legacy {
                FileFormat::H5adLegacy
            } else {
                FileFormat::H5ad
            },
            obs,
            var,
            raw_var,
            matrices,
            notes: Vec::new(),
        };
        ad.check_sizes()?;
        Ok(ad)
    }

    fn open_tenx(path: PathBuf, file: hdf5::File) -> Result<Self> {
        let p = path.as_path();
        let feat = |name: &str| -> Result<Vec<String>> {
            let field = format!("matrix/features/{name}");
            let ds = file.dataset(&field).map_err(|_| {
                DataError::bad(
                    p,
                    &field,
                    "this 10x file has no feature table (Cell Ranger v2 layout?)",
                    "use the filtered_feature_bc_matrix.h5 of Cell Ranger 3 or later, or convert the file to .h5ad with scanpy",
                )
            })?;
            read_strings(p, &field, &ds)
        };
        let names = feat("name")?;
        let ids = feat("id")?;
        let mut columns = vec![Column {
            name: "gene_ids".into(),
            data: ColumnData::Str(ids.into_iter().map(Some).collect()),
        }];
        for extra in ["feature_type", "genome"] {
            if let Ok(v) = feat(extra) {
                let name = if extra == "feature_type" {
                    "feature_types"
                } else {
                    extra
                };
                columns.push(Column {
                    name: name.into(),
                    data: ColumnData::Str(v.into_iter().map(Some).collect()),
                });
            }
        }
        let (index, renamed) = make_unique(&names);
        let mut notes = Vec::new();
        if !renamed.is_empty() {
            notes.push(format!(
                "{} gene symbols occur more than once in the feature table; later copies got a suffix as scanpy's var_names_make_unique does (e.g. {})",
                renamed.len(),
                renamed.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        let bc_ds = file
            .dataset("matrix/barcodes")
            .map_err(h5err(p, "matrix/barcodes"))?;
        let barcodes = read_strings(p, "matrix/barcodes", &bc_ds)?;
        let ad = AnnData {
            file,
            format: FileFormat::CellRangerH5,
            obs: Frame {
                index: barcodes,
                ..Default::default()
            },
            var: Frame {
                index,
                columns,
                unread: Vec::new(),
            },
            raw_var: None,
            matrices: vec![MatrixId::X],
            notes,
            path,
        };
        ad.check_sizes()?;
        Ok(ad)
    }

    fn check_sizes(&self) -> Result<()> {
        let m = self.matrix(&MatrixId::X)?;
        if m.n_cols == 0 || self.var.index.is_empty() {
            return Err(DataError::bad(
                &self.path,
                "var",
                "the file has no genes",
                "choose a file that holds an expression matrix with genes",
            ));
        }
        if m.n_rows != self.obs.index.len() {
            return Err(DataError::bad(
                &self.path,
                "obs",
                format!(
                    "the matrix has {} cells but obs lists {}",
                    m.n_rows,
                    self.obs.index.len()
                ),
                "the file is inconsistent; re-save it with anndata",
            ));
        }
        if m.n_cols != self.var.index.len() {
            return Err(DataError::bad(
                &self.path,
                "var",
                format!(
                    "the matrix has {} genes but var lists {}",
                    m.n_cols,
                    self.var.index.len()
                ),
                "the file is inconsistent; re-save it with anndata",
            ));
        }
        Ok(())
    }

    pub(crate) fn n_obs(&self) -> usize {
        self.obs.index.len()
    }

    /// The gene table that goes with a matrix (raw has its own).
    pub(crate) fn var_for(&self, id: &MatrixId) -> &Frame {
        match id {
            MatrixId::Raw => self.raw_var.as_ref().unwrap_or(&self.var),
            _ => &self.var,
        }
    }

    pub fn matrix(&self, id: &MatrixId) -> Result<MatrixSource> {
        let p = self.path.as_path();
        if self.format == FileFormat::CellRangerH5 {
            if *id != MatrixId::X {
                return Err(self.no_matrix(id));
            }
            let g = self.file.group("matrix").map_err(h5err(p, "matrix"))?;
            return MatrixSource::open_sparse(p, "matrix", &g, true);
        }
        let field = match id {
            MatrixId::X => "X".to_string(),
            MatrixId::Raw
                if self.format == FileFormat::H5adLegacy && self.file.link_exists(LEGACY_RAW_X) =>
            {
                LEGACY_RAW_X.to_string()
            }
            MatrixId::Raw => "raw/X".to_string(),
            MatrixId::Layer(n) => format!("layers/{n}"),
        };
        if !self.file.link_exists(&field) {
            return Err(self.no_matrix(id));
        }
        let m = if let Ok(g) = self.file.group(&field) {
            MatrixSource::open_sparse(p, &field, &g, false)?
        } else {
            let ds = self.file.dataset(&field).map_err(h5err(p, &field))?;
            MatrixSource::open_dense(p, &field, ds)?
        };
        let var = self.var_for(id);
        if m.n_rows != self.n_obs() || m.n_cols != var.index.len() {
            return Err(DataError::bad(
                p,
                &field,
                format!(
                    "the matrix is {} x {} but the file has {} cells and {} genes",
                    m.n_rows,
                    m.n_cols,
                    self.n_obs(),
                    var.index.len()
                ),
                "the file is inconsistent; re-save it with anndata",
            ));
        }
        Ok(m)
    }

    fn no_matrix(&self, id: &MatrixId) -> DataError {
        DataError::bad(
            &self.path,
            id.to_string(),
            format!("there is no matrix `{id}` in this file"),
            format!(
                "choose one of: {}",
                self.matrices
                    .iter()
                    .map(|m| m.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    }

    /// The matrix to use when the user does not say: one holding raw counts
    /// (X first, then layers, then raw), else X.
    pub fn default_matrix(&self) -> Result<MatrixId> {
        Ok(self.open_default_matrix()?.0)
    }

    /// The default matrix, opened, with what it holds.
    pub(crate) fn open_default_matrix(&self) -> Result<(MatrixId, MatrixSource, ValueKind)> {
        self.open_default_matrix_judged()
            .map(|(id, m, kind, _)| (id, m, kind))
    }

    /// [`AnnData::open_default_matrix`], with the rows its kind was judged
    /// on ([`MatrixSource::judge`]).
    pub(crate) fn open_default_matrix_judged(
        &self,
    ) -> Result<(MatrixId, MatrixSource, ValueKind, RowChunk)> {
        let mut order: Vec<&MatrixId> = self
            .matrices
            .iter()
            .filter(|m| matches!(m, MatrixId::X))
            .collect();
        order.extend(
            self.matrices
                .iter()
                .filter(|m| matches!(m, MatrixId::Layer(_))),
        );
        order.extend(self.matrices.iter().filter(|m| matches!(m, MatrixId::Raw)));
        let usable = |k: ValueKind| matches!(k, ValueKind::Normalized | ValueKind::LogNormalized);
        let (mut x, mut other) = (None, None);
        for id in order {
            if let Ok(m) = self.matrix(id) {
                let (kind, rows) = m.judge()?;
                if kind == ValueKind::RawCounts {
                    return Ok((id.clone(), m, kind, rows));
                }
                if *id == MatrixId::X {
                    x = Some((m, kind, rows));
                } else if other.is_none() && usable(kind) {
                    other = Some((id.clone(), m, kind, rows));
                }
            }
        }
        match x {
            Some((m, kind, rows)) if usable(kind) || other.is_none() => {
                Ok((MatrixId::X, m, kind, rows))
            }
            // X scaled (or empty, or not finite) but, say, raw log-normalised:
            // ranks come from the matrix that still has them.
            Some(_) => Ok(other.expect("checked above")),
            None => {
                let m = self.matrix(&MatrixId::X)?;
                let (kind, rows) = m.judge()?;
                Ok((MatrixId::X, m, kind, rows))
            }
        }
    }
}

/// Renames later copies of a name as `NAME-1`, `NAME-2`, ... (anndata's rule).
/// Returns the new names and the renamed ones.
pub fn make_unique(names: &[String]) -> (Vec<String>, Vec<String>) {
    use std::collections::{HashMap, HashSet};
    let mut seen: HashSet<String> = names.iter().cloned().collect();
    let mut counts: HashMap<&str, usize> = HashMap::new();
    let mut first: HashSet<&str> = HashSet::new();
    let mut renamed = Vec::new();
    let out = names
        .iter()
        .map(|n| {
            if first.insert(n.as_str()) {
                return n.clone();
            }
            let c = counts.entry(n.as_str()).or_insert(0);
            loop {
                *c += 1;
                let cand = format!("{n}-{c}");
                if seen.insert(cand.clone()) {
                    renamed.push(cand.clone());
                    return cand;
                }
            }
        })
        .collect();
    (out, renamed)
}

/// raw.X of the pre-0.7 layout.
const LEGACY_RAW_X: &str = "raw.X";

fn read_frame(
    p: &Path,
    file: &hdf5::File,
    field: &str,
    wanted: Option<&[String]>,
) -> Result<(Frame, bool)> {
    if let Ok(g) = file.group(field) {
        return Ok((Frame::read_group(p, field, &g, wanted)?, false));
    }
    let ds = file.dataset(field).map_err(h5err(p, field))?;
    // The pre-0.7 layout stores no encoding attribute on the compound dataset.
    let _ = attr_string(&ds, "encoding-type");
    let mut frame = Frame::read_compound(p, field, &ds)?;
    legacy_categories(p, file, field, &mut frame)?;
    Ok((frame, true))
}

/// The pre-0.7 layout stores a categorical column as integer codes in the
/// compound table and its categories as `uns/<column>_categories`, which
/// anndata joins back on reading: so do we, or a model would learn the
/// code numbers ("9", "5") as cell types.
fn legacy_categories(p: &Path, file: &hdf5::File, field: &str, frame: &mut Frame) -> Result<()> {
    for col in &mut frame.columns {
        let key = format!("uns/{}_categories", col.name);
        let Ok(ds) = file.dataset(&key) else {
            continue;
        };
        let ColumnData::Int(values) = &col.data else {
            continue;
        };
        let categories = read_strings(p, &key, &ds)?;
        let codes = values.iter().map(|v| v.unwrap_or(-1)).collect();
        col.data =
            crate::frame::categorical(p, &format!("{field}/{}", col.name), codes, categories)?;
    }
    Ok(())
}
