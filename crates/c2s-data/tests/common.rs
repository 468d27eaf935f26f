#![allow(dead_code)]
//! Shared helpers for the data engine's integration tests.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use c2s_data::{Job, Progress};

/// The shared data folder beside the repository (../shared/data).
pub fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(name)
}

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures")
        .join(name)
}

pub fn with_job<T>(f: impl FnOnce(&Job) -> T) -> T {
    let cancel = AtomicBool::new(false);
    let progress = |_: Progress| {};
    f(&Job {
        progress: &progress,
        cancel: &cancel,
    })
}

/// Writes a small .h5ad (CSR X) from dense rows, through the engine's writer.
pub fn write_dense(path: &Path, rows: &[Vec<f32>], genes: &[&str]) {
    let obs: Vec<String> = (0..rows.len()).map(|i| format!("cell{i}")).collect();
    let var: Vec<String> = genes.iter().map(|s| s.to_string()).collect();
    let mut indptr = vec![0u64];
    let (mut indices, mut data) = (Vec::new(), Vec::new());
    for r in rows {
        for (j, &v) in r.iter().enumerate() {
            if v != 0.0 {
                indices.push(j as u32);
                data.push(v);
            }
        }
        indptr.push(data.len() as u64);
    }
    let labels = vec![(
        "cell_type".to_string(),
        (0..rows.len())
            .map(|i| Some(format!("type{}", i % 2)))
            .collect(),
    )];
    c2s_data::h5ad_writer::write_h5ad(
        path,
        &c2s_data::h5ad_writer::H5adContent {
            obs_names: &obs,
            obs_columns: &labels,
            var_names: &var,
            indptr: &indptr,
            indices: &indices,
            data: &data,
        },
    )
    .unwrap();
}

/// Writes a whole matrix chunk with the given cell names and gene names.
pub fn write_chunk(
    path: &Path,
    chunk: &c2s_data::matrix::RowChunk,
    obs: &[String],
    var: &[String],
    labels: &[(String, Vec<Option<String>>)],
) {
    let indptr: Vec<u64> = chunk.indptr.iter().map(|&p| p as u64).collect();
    let data: Vec<f32> = chunk.data.iter().map(|&v| v as f32).collect();
    c2s_data::h5ad_writer::write_h5ad(
        path,
        &c2s_data::h5ad_writer::H5adContent {
            obs_names: obs,
            obs_columns: labels,
            var_names: var,
            indptr: &indptr,
            indices: &chunk.indices,
            data: &data,
        },
    )
    .unwrap();
}

/// Entries of `dir` (to check that nothing, not even a temporary, was left).
pub fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    v.sort();
    v
}

/// Copies `base` to `f` with X's data and indices stored again through
/// `build` (filters, chunks); `wide` stores them as f64 and i64.
pub fn rewrite_x(
    base: &Path,
    f: &Path,
    all: &c2s_data::matrix::RowChunk,
    build: impl Fn(hdf5::DatasetBuilder) -> hdf5::DatasetBuilder,
    wide: bool,
) {
    std::fs::copy(base, f).unwrap();
    let h = hdf5::File::open_rw(f).unwrap();
    let x = h.group("X").unwrap();
    x.unlink("data").unwrap();
    x.unlink("indices").unwrap();
    fn put<T: hdf5::H5Type>(
        x: &hdf5::Group,
        build: &impl Fn(hdf5::DatasetBuilder) -> hdf5::DatasetBuilder,
        name: &str,
        values: &[T],
    ) {
        build(x.new_dataset_builder())
            .with_data(values)
            .create(name)
            .unwrap();
    }
    if wide {
        let idx: Vec<i64> = all.indices.iter().map(|&i| i as i64).collect();
        put(&x, &build, "data", &all.data);
        put(&x, &build, "indices", &idx);
    } else {
        let vals: Vec<f32> = all.data.iter().map(|&v| v as f32).collect();
        let idx: Vec<i32> = all.indices.iter().map(|&i| i as i32).collect();
        put(&x, &build, "data", &vals);
        put(&x, &build, "indices", &idx);
    }
}

/// Writes an anndata CSC matrix group `name` in `parent`: columns are genes,
/// `indices` the cells.
pub fn write_csc(
    parent: &hdf5::Group,
    name: &str,
    data: &[f32],
    indices: &[i32],
    indptr: &[i64],
    shape: [i64; 2],
) {
    let g = parent.create_group(name).unwrap();
    g.new_dataset_builder()
        .with_data(data)
        .create("data")
        .unwrap();
    g.new_dataset_builder()
        .with_data(indices)
        .create("indices")
        .unwrap();
    g.new_dataset_builder()
        .with_data(indptr)
        .create("indptr")
        .unwrap();
    g.new_attr::<hdf5::types::VarLenUnicode>()
        .create("encoding-type")
        .unwrap()
        .write_scalar(&"csc_matrix".parse::<hdf5::types::VarLenUnicode>().unwrap())
        .unwrap();
    g.new_attr_builder()
        .with_data(&shape)
        .create("shape")
        .unwrap();
}
