//! Every kind of bad input gets a clear error naming the file and the field,
//! and leaves no output behind.

mod common;

use std::path::Path;

use c2s_data::convert::InputOptions;
use c2s_data::{convert, ConvertOptions, DataError};
use common::{data, entries, rewrite_x, with_job, write_csc, write_dense};

/// Converts `file` into a fresh folder; returns the error text, checking that
/// the folder holds nothing afterwards.
fn convert_err(file: &Path, opts: &ConvertOptions) -> String {
    let out = tempfile::tempdir().unwrap();
    let err = with_job(|job| convert(file, &out.path().join("ds"), opts, job))
        .expect_err("bad input must fail");
    assert!(
        entries(out.path()).is_empty(),
        "left behind: {:?}",
        entries(out.path())
    );
    let text = err.to_string();
    assert!(
        text.contains(&file.display().to_string()),
        "error must name the file: {text}"
    );
    text
}

fn tmp_file(dir: &tempfile::TempDir, name: &str) -> std::path::PathBuf {
    dir.path().join(name)
}

fn x_of(file: &Path) -> c2s_data::matrix::MatrixSource {
    c2s_data::anndata::AnnData::open(file)
        .unwrap()
        .matrix(&c2s_data::anndata::MatrixId::X)
        .unwrap()
}

/// Every row of `file`'s X, to store again with `rewrite_x`.
fn x_rows(file: &Path) -> c2s_data::matrix::RowChunk {
    let m = x_of(file);
    m.read_rows(0, m.n_rows).unwrap()
}

#[test]
fn not_hdf5() {
    let d = tempfile::tempdir().unwrap();
    let f = tmp_file(&d, "cells.h5ad");
    std::fs::write(&f, "cell,gene\n1,2\n").unwrap();
    let e = convert_err(&f, &ConvertOptions::default());
    assert!(e.contains("not an HDF5 file"), "{e}");
    assert!(c2s_data::inspect(&f).is_err());
}

#[test]
fn hdf5_but_not_anndata() {
    let d = tempfile::tempdir().unwrap();
    let f = tmp_file(&d, "other.h5");
    let h = hdf5::File::create(&f).unwrap();
    h.create_group("images").unwrap();
    drop(h);
    let e = convert_err(&f, &ConvertOptions::default());
    assert!(e.contains("not AnnData"), "{e}");
}

#[test]
fn truncated_file() {
    let d = tempfile::tempdir().unwrap();
    let f = tmp_file(&d, "cut.h5ad");
    let bytes = std::fs::read(data("pbmc3k-10x.h5ad")).unwrap();
    std::fs::write(&f, &bytes[..bytes.len() / 2]).unwrap();
    let e = convert_err(&f, &ConvertOptions::default());
    assert!(e.contains("truncated") || e.contains("damaged"), "{e}");
}

/// A matrix compressed with a filter plugin we do not build in (hdf5plugin's
/// blosc here) is not a damaged file: the hint says how to save it readably.
#[test]
fn compression_filter_we_lack() {
    use hdf5_sys::h5z::{H5Z_class2_t, H5Zregister, H5Zunregister, H5Z_CLASS_T_VERS};
    const BLOSC: hdf5_sys::h5z::H5Z_filter_t = 32001;
    // Stands in for blosc while the file is written, then is taken away.
    unsafe extern "C" fn unchanged(
        _flags: std::ffi::c_uint,
        _n: usize,
        _values: *const std::ffi::c_uint,
        nbytes: usize,
        _size: *mut usize,
        _buf: *mut *mut std::ffi::c_void,
    ) -> usize {
        nbytes
    }
    let class = H5Z_class2_t {
        version: H5Z_CLASS_T_VERS as i32,
        id: BLOSC,
        encoder_present: 1,
        decoder_present: 1,
        name: c"blosc stand-in".as_ptr(),
        can_apply: None,
        set_local: None,
        filter: Some(unchanged),
    };
    // SAFETY: registers a filter whose callback only reports the data unchanged.
    assert!(
        hdf5::sync::sync(|| unsafe { H5Zregister((&class as *const H5Z_class2_t).cast()) }) >= 0
    );
    let d = tempfile::tempdir().unwrap();
    let f = tmp_file(&d, "blosc.h5ad");
    let base = data("pbmc3k-10x.h5ad");
    let all = x_rows(&base);
    rewrite_x(
        &base,
        &f,
        &all,
        |b| b.chunk(65_536).add_filter(BLOSC, &[]),
        false,
    );
    assert!(hdf5::sync::sync(|| unsafe { H5Zunregister(BLOSC) }) >= 0);
    let e = convert_err(&f, &ConvertOptions::default());
    assert!(e.contains("X/"), "names the matrix: {e}");
    assert!(
        e.contains("filter plugin") && e.contains("compression='gzip'"),
        "{e}"
    );
    assert!(!e.contains("damaged"), "{e}");
}

/// Gene indices outside the matrix, in the layouts read on all cores
/// (contiguous, deflated chunks) and through HDF5 (lzf), whose own
/// conversion to unsigned would make a negative index gene 0.
#[test]
fn gene_index_out_of_range() {
    let d = tempfile::tempdir().unwrap();
    let base = data("pbmc3k-10x.h5ad");
    let all = x_rows(&base);
    let last = all.indices.len() - 10;
    // u32::MAX is stored as -1 in the i32 file; 40,000 is past the 32,738
    // genes. Name, index, stored as i64, chunked and deflated.
    for (name, bad, wide, filter) in [
        ("negative-index.h5ad", u32::MAX, false, ""),
        ("large-index.h5ad", 40_000, true, "deflate"),
        ("negative-index-lzf.h5ad", u32::MAX, false, "lzf"),
    ] {
        let f = tmp_file(&d, name);
        let mut cut = all.clone();
        cut.indices[last] = bad;
        rewrite_x(
            &base,
            &f,
            &cut,
            |b| match filter {
                "deflate" => b.chunk(4096).deflate(4),
                "lzf" => b.chunk(4096).lzf(),
                _ => b,
            },
            wide,
        );
        let m = x_of(&f);
        assert_eq!(m.parallel_reading(), filter != "lzf", "{name}");
        let e = convert_err(&f, &ConvertOptions::default());
        assert!(e.contains("X/indices") && e.contains("out of range"), "{e}");
    }
}

/// A damaged deflate chunk, read by the parallel reader, is reported on
/// the dataset, not decoded into wrong values.
#[test]
fn damaged_compressed_chunk() {
    let d = tempfile::tempdir().unwrap();
    let base = data("pbmc3k-10x.h5ad");
    let all = x_rows(&base);
    let f = tmp_file(&d, "damaged.h5ad");
    rewrite_x(&base, &f, &all, |b| b.chunk(65_536).deflate(4), false);
    // Where X/data's sixth chunk lies; every byte after its zlib header
    // becomes 0xFF (a deflate block of the reserved type).
    let (addr, size) = {
        let h = hdf5::File::open(&f).unwrap();
        let ds = h.dataset("X/data").unwrap();
        let (mut mask, mut addr, mut size) = (0, 0, 0);
        let offset = [5 * 65_536u64];
        let status = hdf5::sync::sync(|| unsafe {
            hdf5_sys::h5d::H5Dget_chunk_info_by_coord(
                ds.id(),
                offset.as_ptr(),
                &mut mask,
                &mut addr,
                &mut size,
            )
        });
        assert!(status >= 0 && size > 2);
        (addr as usize, size as usize)
    };
    let mut bytes = std::fs::read(&f).unwrap();
    bytes[addr + 2..addr + size].fill(0xFF);
    std::fs::write(&f, &bytes).unwrap();
    let e = convert_err(&f, &ConvertOptions::default());
    assert!(
        e.contains("X/data") && e.contains("cannot read or decompress"),
        "{e}"
    );
}

/// A CSC matrix's cell index below zero is out of range too.
#[test]
fn cell_index_out_of_range_in_csc() {
    let d = tempfile::tempdir().unwrap();
    let f = tmp_file(&d, "csc.h5ad");
    write_dense(&f, &[vec![1.0, 2.0], vec![3.0, 4.0]], &["A", "B"]);
    let h = hdf5::File::open_rw(&f).unwrap();
    h.unlink("X").unwrap();
    write_csc(
        &h,
        "X",
        &[1.0, 3.0, 2.0, 4.0],
        &[0, 1, -1, 1],
        &[0, 2, 4],
        [2, 2],
    );
    drop(h);
    let e = convert_err(&f, &ConvertOptions::default());
    assert!(
        e.contains("X/indices") && e.contains("cell index -1"),
        "{e}"
    );
}

#[test]
fn missing_var_names() {
    let d = tempfile::tempdir().unwrap();
    let f = tmp_file(&d, "noindex.h5ad");
    write_dense(&f, &[vec![1.0, 2.0], vec![3.0, 0.0]], &["A", "B"]);
    let h = hdf5::File::open_rw(&f).unwrap();
    h.group("var").unwrap().delete_attr("_index").unwrap();
    drop(h);
    let e = convert_err(&f, &ConvertOptions::default());
    assert!(
        e.contains("var/_index") && e.contains("names are missing"),
        "{e}"
    );
}

#[test]
fn empty_gene_name() {
    let d = tempfile::tempdir().unwrap();
    let f = tmp_file(&d, "blank.h5ad");
    write_dense(&f, &[vec![1.0, 2.0], vec![3.0, 1.0]], &["A", " "]);
    let e = convert_err(&f, &ConvertOptions::default());
    assert!(e.contains("have no name"), "{e}");
}

#[test]
fn gene_names_with_spaces_tabs_or_newlines() {
    let d = tempfile::tempdir().unwrap();
    for (i, name) in ["HLA DRA", "CD3\tD", "MS4A1\nX"].iter().enumerate() {
        let f = tmp_file(&d, &format!("spaced-{i}.h5ad"));
        write_dense(&f, &[vec![1.0, 2.0], vec![3.0, 1.0]], &["A", name]);
        let e = convert_err(&f, &ConvertOptions::default());
        assert!(
            e.contains("holds a space, tab or line break") && e.contains("position 1"),
            "{e}"
        );
    }
}

#[test]
fn categorical_codes_out_of_range() {
    let d = tempfile::tempdir().unwrap();
    for (i, bad) in [100i8, -5].into_iter().enumerate() {
        let f = tmp_file(&d, &format!("codes-{i}.h5ad"));
        write_dense(&f, &[vec![1.0, 2.0], vec![3.0, 1.0]], &["A", "B"]);
        {
            let h = hdf5::File::open_rw(&f).unwrap();
            let codes = h.dataset("obs/cell_type/codes").unwrap();
            let mut v: Vec<i8> = codes.read_raw().unwrap();
            v[1] = bad;
            codes.write_raw(&v).unwrap();
        }
        let opts = ConvertOptions {
            labels: vec!["cell_type".into()],
            ..ConvertOptions::default()
        };
        let e = convert_err(&f, &opts);
        assert!(
            e.contains("obs/cell_type/codes") && e.contains(&format!("code {bad} of cell 1")),
            "{e}"
        );
    }
}

#[test]
fn repeated_cell_names() {
    let d = tempfile::tempdir().unwrap();
    let f = tmp_file(&d, "cells.h5ad");
    write_dense(
        &f,
        &[vec![1.0, 2.0], vec![3.0, 1.0], vec![2.0, 2.0]],
        &["A", "B"],
    );
    {
        let h = hdf5::File::open_rw(&f).unwrap();
        let names = h.dataset("obs/_index").unwrap();
        let v = ndarray::Array1::from(
            ["c", "c", "d"]
                .iter()
                .map(|s| s.parse::<hdf5::types::VarLenUnicode>().unwrap())
                .collect::<Vec<_>>(),
        );
        names.write(&v).unwrap();
    }
    let e = convert_err(&f, &ConvertOptions::default());
    assert!(
        e.contains("cell names occur more than once") && e.contains("--make-unique"),
        "{e}"
    );
    let out = tempfile::tempdir().unwrap();
    let opts = ConvertOptions {
        input: InputOptions {
            make_unique: true,
            ..Default::default()
        },
        ..Default::default()
    };
    with_job(|job| convert(&f, &out.path().join("ds"), &opts, job)).unwrap();
    let s = c2s_data::dataset::read_sentences(&out.path().join("ds")).unwrap();
    let names: Vec<&str> = s.iter().map(|r| r.cell_name.as_str()).collect();
    assert_eq!(names, ["c", "c-1", "d"]);
    // Annotations of the renamed cells are saved into the file's rows.
    let votes = c2s_data::annotation_rules::CellVotes::default();
    let cells: Vec<c2s_data::annotate::CellAnnotation> = names
        .iter()
        .rev()
        .map(|n| c2s_data::annotate::CellAnnotation {
            cell_name: n,
            predicted: Some(n),
            confidence: None,
            votes: &votes,
        })
        .collect();
    let dst = out.path().join("annotated.h5ad");
    c2s_data::annotate::write_cell_annotations(&f, &dst, &cells).unwrap();
    let a = c2s_data::AnnData::open(&dst).unwrap();
    let saved = a
        .obs
        .column("c2s_predicted_cell_type")
        .unwrap()
        .data
        .texts();
    assert_eq!(
        saved,
        names
            .iter()
            .map(|n| Some(n.to_string()))
            .collect::<Vec<_>>()
    );
}

#[test]
fn nan_and_infinite_values() {
    let d = tempfile::tempdir().unwrap();
    for (name, v) in [("nan.h5ad", f32::NAN), ("inf.h5ad", f32::INFINITY)] {
        let f = tmp_file(&d, name);
        write_dense(&f, &[vec![1.0, 2.0], vec![v, 1.0]], &["A", "B"]);
        let e = convert_err(&f, &ConvertOptions::default());
        assert!(e.contains("NaN or infinite"), "{e}");
    }
}

#[test]
fn negative_values_name_the_matrix_to_use() {
    let d = tempfile::tempdir().unwrap();
    let f = tmp_file(&d, "scaled.h5ad");
    write_dense(&f, &[vec![1.5, -0.5], vec![-1.0, 0.2]], &["A", "B"]);
    let e = convert_err(&f, &ConvertOptions::default());
    assert!(
        e.contains("negative values") && e.contains("X") && e.contains("raw counts"),
        "{e}"
    );
}

#[test]
fn negative_value_far_down_the_file() {
    // Past the rows sampled to judge the matrix, so the full pass must catch it.
    let d = tempfile::tempdir().unwrap();
    let f = tmp_file(&d, "late.h5ad");
    let mut rows: Vec<Vec<f32>> = (0..2000).map(|i| vec![1.0 + (i % 3) as f32, 2.0]).collect();
    rows[1900][1] = -3.0;
    write_dense(&f, &rows, &["A", "B"]);
    let e = convert_err(&f, &ConvertOptions::default());
    assert!(e.contains("cell1900") && e.contains("-3"), "{e}");
}

#[test]
fn cell_without_expressed_genes() {
    let d = tempfile::tempdir().unwrap();
    let f = tmp_file(&d, "empty_cell.h5ad");
    write_dense(
        &f,
        &[vec![1.0, 2.0], vec![0.0, 0.0], vec![0.0, 3.0]],
        &["A", "B"],
    );
    let e = convert_err(&f, &ConvertOptions::default());
    assert!(e.contains("cell1") && e.contains("--min-genes 1"), "{e}");
    // The hint works.
    let out = tempfile::tempdir().unwrap();
    let mut opts = ConvertOptions::default();
    opts.input.preprocess.min_genes = 1;
    let s = with_job(|job| convert(&f, &out.path().join("ds"), &opts, job)).unwrap();
    assert_eq!(s.cells, 2);
}

#[test]
fn no_genes() {
    let d = tempfile::tempdir().unwrap();
    let f = tmp_file(&d, "nogenes.h5ad");
    write_dense(&f, &[vec![], vec![]], &[]);
    let e = convert_err(&f, &ConvertOptions::default());
    assert!(e.contains("no genes"), "{e}");
}

#[test]
fn duplicate_gene_names() {
    let d = tempfile::tempdir().unwrap();
    let f = tmp_file(&d, "dups.h5ad");
    write_dense(
        &f,
        &[vec![1.0, 2.0, 3.0], vec![3.0, 1.0, 1.0]],
        &["A", "B", "A"],
    );
    let e = convert_err(&f, &ConvertOptions::default());
    assert!(
        e.contains("more than once") && e.contains("--make-unique"),
        "{e}"
    );
    let out = tempfile::tempdir().unwrap();
    let opts = ConvertOptions {
        input: InputOptions {
            make_unique: true,
            ..Default::default()
        },
        ..Default::default()
    };
    with_job(|job| convert(&f, &out.path().join("ds"), &opts, job)).unwrap();
    let s = c2s_data::dataset::read_sentences(&out.path().join("ds")).unwrap();
    assert_eq!(s[0].sentence, "A-1 B A");
}

#[test]
fn output_directory_exists() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("ds");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("keep.txt"), "mine").unwrap();
    let err = with_job(|job| {
        convert(
            &data("wu2020-tcells-200.h5ad"),
            &dir,
            &ConvertOptions::default(),
            job,
        )
    })
    .unwrap_err();
    assert!(matches!(err, DataError::Output { .. }));
    assert!(err.to_string().contains("--force"), "{err}");
    assert_eq!(entries(&dir), vec!["keep.txt"]);
    // --force does not delete a folder of the user's files...
    let opts = ConvertOptions {
        overwrite: true,
        ..Default::default()
    };
    let err =
        with_job(|job| convert(&data("wu2020-tcells-200.h5ad"), &dir, &opts, job)).unwrap_err();
    assert!(
        err.to_string().contains("replaces only a dataset folder"),
        "{err}"
    );
    assert_eq!(entries(&dir), vec!["keep.txt"]);
    // ...but replaces a dataset it wrote, with nothing left of the old one.
    std::fs::remove_dir_all(&dir).unwrap();
    with_job(|job| {
        convert(
            &data("wu2020-tcells-200.h5ad"),
            &dir,
            &ConvertOptions::default(),
            job,
        )
    })
    .unwrap();
    std::fs::write(dir.join("stale.txt"), "old").unwrap();
    with_job(|job| convert(&data("wu2020-tcells-200.h5ad"), &dir, &opts, job)).unwrap();
    assert!(!dir.join("stale.txt").exists() && dir.join("manifest.json").exists());
    assert_eq!(entries(d.path()), vec!["ds"]);
}

#[test]
fn unknown_matrix_label_or_gene_column() {
    let f = data("pbmc3k-10x.h5ad");
    let opts = ConvertOptions {
        input: InputOptions {
            matrix: Some("layer:counts".parse().unwrap()),
            ..Default::default()
        },
        ..Default::default()
    };
    assert!(convert_err(&f, &opts).contains("no matrix `layer:counts`"));
    let opts = ConvertOptions {
        labels: vec!["celltype".into()],
        ..Default::default()
    };
    let e = convert_err(&f, &opts);
    assert!(e.contains("obs/celltype") && e.contains("cell_type"), "{e}");
    let opts = ConvertOptions {
        input: InputOptions {
            gene_column: Some("symbol".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let e = convert_err(&f, &opts);
    assert!(
        e.contains("var/symbol") && e.contains("gene_symbols"),
        "{e}"
    );
}

#[test]
fn cancel_leaves_nothing() {
    let out = tempfile::tempdir().unwrap();
    let cancel = std::sync::atomic::AtomicBool::new(true);
    let progress = |_: c2s_data::Progress| {};
    let job = c2s_data::Job {
        progress: &progress,
        cancel: &cancel,
    };
    let err = convert(
        &data("pbmc3k-10x.h5ad"),
        &out.path().join("ds"),
        &ConvertOptions::default(),
        &job,
    )
    .unwrap_err();
    assert!(matches!(err, DataError::Cancelled));
    assert!(entries(out.path()).is_empty());
}
