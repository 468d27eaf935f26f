//! Conversion on real files: every layout, matrix kind and option.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use c2s_data::anndata::{AnnData, MatrixId};
use c2s_data::convert::{InputOptions, Prepared};
use c2s_data::dataset::{
    read_dataset_with_counts, read_sentences, ParquetCompression, SentenceRecord, MANIFEST_JSON,
    SENTENCES_JSONL,
};
use c2s_data::manifest::{FitFile, Manifest, FORMAT, FORMAT_VERSION};
use c2s_data::matrix::ValueKind;
use c2s_data::preprocess::{median_total, normalize_log, LogBase};
use c2s_data::{convert, ConvertOptions};
use common::{data, rewrite_x, with_job, write_chunk, write_csc, write_dense};

fn run(file: &Path, opts: &ConvertOptions) -> (tempfile::TempDir, PathBuf, Vec<SentenceRecord>) {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("ds");
    with_job(|job| convert(file, &dir, opts, job)).unwrap();
    let s = read_sentences(&dir).unwrap();
    (out, dir, s)
}

fn by_name(records: &[SentenceRecord]) -> HashMap<String, String> {
    records
        .iter()
        .map(|r| (r.cell_name.clone(), r.sentence.clone()))
        .collect()
}

/// pbmc3k rewritten through our writer: normalised-log values, or cells in reverse order.
fn rewrite(
    dir: &Path,
    name: &str,
    transform: impl Fn(&mut c2s_data::matrix::RowChunk),
    reverse: bool,
) -> PathBuf {
    let p = Prepared::open(&data("pbmc3k-10x.h5ad"), &InputOptions::default(), &[]).unwrap();
    let mut all = p.src.read_rows(0, p.src.n_rows).unwrap();
    transform(&mut all);
    let mut obs = p.ad.obs.index.clone();
    let var = p.ad.var.index.clone();
    if reverse {
        let mut c = c2s_data::matrix::RowChunk {
            start: 0,
            indptr: vec![0],
            ..Default::default()
        };
        for i in (0..all.n_rows()).rev() {
            let (idx, val) = all.row(i);
            c.indices.extend_from_slice(idx);
            c.data.extend_from_slice(val);
            c.indptr.push(c.data.len());
        }
        all = c;
        obs.reverse();
    }
    let path = dir.join(name);
    write_chunk(&path, &all, &obs, &var, &[]);
    path
}

#[test]
fn raw_counts_and_normalised_log_give_the_same_sentences() {
    let d = tempfile::tempdir().unwrap();
    let log = rewrite(
        d.path(),
        "log.h5ad",
        |c| {
            let totals: Vec<f64> = (0..c.n_rows()).map(|i| c.row(i).1.iter().sum()).collect();
            normalize_log(
                c,
                &totals,
                median_total(&totals),
                LogBase::E,
                ValueKind::RawCounts,
            );
        },
        false,
    );
    assert_eq!(
        AnnData::open(&log)
            .unwrap()
            .matrix(&MatrixId::X)
            .unwrap()
            .value_kind()
            .unwrap(),
        ValueKind::LogNormalized
    );
    let (_a, _, raw) = run(&data("pbmc3k-10x.h5ad"), &ConvertOptions::default());
    let (_b, _, logged) = run(&log, &ConvertOptions::default());
    assert_eq!(raw, logged);
}

#[test]
fn sentences_do_not_depend_on_row_order_threads_or_block_size() {
    let d = tempfile::tempdir().unwrap();
    let reversed = rewrite(d.path(), "rev.h5ad", |_| {}, true);
    let (_a, _, base) = run(&data("pbmc3k-10x.h5ad"), &ConvertOptions::default());
    let (_b, _, rev) = run(&reversed, &ConvertOptions::default());
    assert_eq!(by_name(&base), by_name(&rev));

    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let small_blocks = ConvertOptions {
        input: InputOptions {
            block_values: 5_000,
            ..Default::default()
        },
        ..Default::default()
    };
    let (_c, _, single) = one.install(|| run(&data("pbmc3k-10x.h5ad"), &small_blocks));
    assert_eq!(base, single);
    // A different seed changes only the order inside ties.
    let other_seed = ConvertOptions {
        input: InputOptions {
            seed: 7,
            ..Default::default()
        },
        ..Default::default()
    };
    let (_d, _, seeded) = run(&data("pbmc3k-10x.h5ad"), &other_seed);
    assert_ne!(base, seeded);
}

#[test]
fn cell_ranger_h5_converts_with_symbols_and_keeps_ensembl_ids() {
    let f = data("liao2020-C149-cellranger.h5");
    let info = c2s_data::inspect(&f).unwrap();
    assert_eq!((info.cells, info.genes), (2879, 33539));
    assert!(info.var_columns.iter().any(|c| c.name == "gene_ids"));
    assert_eq!(info.species, "human");
    assert!(!info.gene_names_look_like_ensembl);
    // Examples a biologist recognises, not the file's first genes.
    assert_eq!(info.example_genes[..3], ["ACTB", "GAPDH", "MALAT1"]);
    let ad = AnnData::open(&f).unwrap();
    let ids = ad.var.column("gene_ids").unwrap().data.texts();
    // Every feature is a human gene except the SARS-CoV-2 genome this study added.
    assert_eq!(
        ids.iter()
            .filter(|s| !s.as_deref().unwrap().starts_with("ENSG"))
            .count(),
        1
    );
    let (_t, dir, s) = run(&f, &ConvertOptions::default());
    assert_eq!(s.len(), 2879);
    assert!(s.iter().all(|r| !r.sentence.contains("ENSG")));
    assert!(s[0].sentence.split(' ').any(|g| g == "B2M"));
    let vocab = c2s_data::Vocabulary::read_tsv(&dir.join("vocabulary.tsv")).unwrap();
    assert_eq!(vocab.len(), 33539);
    assert!(vocab.genes.contains(&"RGS5-1".to_string()));
}

#[test]
fn legacy_layouts_convert() {
    // Pre-0.7: compound obs/var with fixed-length strings; names differing only in case.
    let f = data("legacy-layout-pbmc3k-raw.h5ad");
    let ad = AnnData::open(&f).unwrap();
    assert_eq!(ad.format, c2s_data::FileFormat::H5adLegacy);
    assert_eq!(ad.obs.index[0], "AAACATACAACCAC-1");
    assert!(ad.var.column("gene_ids").is_some());
    let mut opts = ConvertOptions::default();
    opts.input.preprocess.min_genes = 1;
    let out = tempfile::tempdir().unwrap();
    let summary = with_job(|job| convert(&f, &out.path().join("ds"), &opts, job)).unwrap();
    assert_eq!(summary.genes, 32738);
    assert!(
        summary.notes.iter().any(|n| n.contains("only in case")),
        "{:?}",
        summary.notes
    );
    // The same cells as the modern pbmc3k file give the same sentences where genes agree.
    let s = read_sentences(&out.path().join("ds")).unwrap();
    assert_eq!(s.len(), 2700);

    // anndata 0.7 encoding: categoricals kept in __categories, a boolean column, mouse genes.
    let f = data("legacy-encoding-toy-mouse.h5ad");
    let info = c2s_data::inspect(&f).unwrap();
    assert_eq!(info.species, "mouse");
    let ct = info
        .obs_columns
        .iter()
        .find(|c| c.name == "cell_type")
        .unwrap();
    assert_eq!(ct.kind, "categorical");
    assert_eq!(
        ct.top_values,
        vec![
            ("non_causal_cell".to_string(), 20),
            ("causal_cell".to_string(), 10)
        ]
    );
    let label = info.obs_columns.iter().find(|c| c.name == "label").unwrap();
    assert_eq!(label.kind, "boolean");
    assert_eq!(info.matrices[0].holds, ValueKind::LogNormalized);
    let opts = ConvertOptions {
        labels: vec!["cell_type".into()],
        ..Default::default()
    };
    let (_t, _, s) = run(&f, &opts);
    assert_eq!(s.len(), 30);
    assert!(s[0].sentence.split(' ').all(|g| g == g.to_uppercase()));
}

#[test]
fn nullable_and_categorical_columns_of_a_modern_file() {
    let info = c2s_data::inspect(&data("wu2020-tcells-200.h5ad")).unwrap();
    let col = |n: &str| {
        info.obs_columns
            .iter()
            .find(|c| c.name == n)
            .unwrap()
            .clone()
    };
    assert_eq!(col("cluster_orig").distinct, 16);
    assert_eq!(
        col("source").top_values,
        vec![
            ("Tumor".into(), 95),
            ("NAT".into(), 85),
            ("Blood".into(), 20)
        ]
    );
    // A float column that is all NaN has no values, not a crash.
    assert_eq!(col("IR_VJ_2_duplicate_count").missing, 200);
}

/// Builds a file with X log-normalised, layers/counts raw counts, raw/X counts
/// with its own var, plus dense and CSC copies of the counts.
fn multi_matrix_file(dir: &Path) -> PathBuf {
    let counts: Vec<Vec<f32>> = vec![
        vec![0.0, 0.0, 3.0],
        vec![3.0, 0.0, 1.0],
        vec![0.0, 1.0, 0.0],
        vec![1.0, 1.0, 0.0],
        vec![3.0, 2.0, 1.0],
    ];
    let genes = ["g1", "g2", "g3"];
    let counts_file = dir.join("counts.h5ad");
    write_dense(&counts_file, &counts, &genes);
    let path = dir.join("multi.h5ad");
    let logged: Vec<Vec<f32>> = counts
        .iter()
        .map(|r| r.iter().map(|&v| (v as f64).ln_1p() as f32 * 0.7).collect())
        .collect();
    write_dense(&path, &logged, &genes);
    let src = hdf5::File::open(&counts_file).unwrap();
    let h = hdf5::File::open_rw(&path).unwrap();
    let layers = h.group("layers").unwrap();
    src.group("X").unwrap().copy_to(&layers, "counts").unwrap();
    let raw = h.create_group("raw").unwrap();
    src.group("X").unwrap().copy_to(&raw, "X").unwrap();
    src.group("var").unwrap().copy_to(&raw, "var").unwrap();
    // Dense copy.
    let dense = ndarray::Array2::from_shape_fn((5, 3), |(i, j)| counts[i][j]);
    layers
        .new_dataset_builder()
        .with_data(&dense)
        .create("dense")
        .unwrap();
    // CSC copy.
    let (mut data, mut indices, mut indptr) = (vec![], vec![], vec![0i64]);
    for j in 0..3 {
        for (i, row) in counts.iter().enumerate() {
            if row[j] != 0.0 {
                data.push(row[j]);
                indices.push(i as i32);
            }
        }
        indptr.push(data.len() as i64);
    }
    write_csc(&layers, "csc", &data, &indices, &indptr, [5, 3]);
    path
}

#[test]
fn every_matrix_kind_and_the_default_choice() {
    let d = tempfile::tempdir().unwrap();
    let f = multi_matrix_file(d.path());
    let info = c2s_data::inspect(&f).unwrap();
    let names: Vec<&str> = info.matrices.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names,
        vec!["X", "raw", "layer:counts", "layer:csc", "layer:dense"]
    );
    assert_eq!(info.default_matrix, "layer:counts");
    assert_eq!(info.matrices[0].holds, ValueKind::LogNormalized);
    // The unit fixture of REFERENCE.md section 2, through every storage.
    for m in ["X", "raw", "layer:counts", "layer:csc", "layer:dense"] {
        let opts = ConvertOptions {
            input: InputOptions {
                matrix: Some(m.parse().unwrap()),
                ..Default::default()
            },
            ..Default::default()
        };
        let (_t, dir, s) = run(&f, &opts);
        let got: Vec<&str> = s.iter().map(|r| r.sentence.as_str()).collect();
        assert_eq!(got[0], "G3", "{m}");
        assert_eq!(got[1], "G1 G3", "{m}");
        assert_eq!(got[2], "G2", "{m}");
        assert!(got[3] == "G1 G2" || got[3] == "G2 G1", "{m}");
        assert_eq!(got[4], "G1 G2 G3", "{m}");
        let vocab = std::fs::read_to_string(dir.join("vocabulary.tsv")).unwrap();
        assert_eq!(vocab, "G1\t3\nG2\t3\nG3\t3\n", "{m}");
    }
}

#[test]
fn raw_takes_its_own_gene_names() {
    // X holds log values of genes G1..G3; raw holds counts of genes R1..R3.
    let d = tempfile::tempdir().unwrap();
    let counts: Vec<Vec<f32>> = vec![vec![0.0, 2.0, 5.0], vec![4.0, 1.0, 0.0]];
    let counts_file = d.path().join("counts.h5ad");
    write_dense(&counts_file, &counts, &["R1", "R2", "R3"]);
    let path = d.path().join("f.h5ad");
    let logged: Vec<Vec<f32>> = counts
        .iter()
        .map(|r| r.iter().map(|&v| (v as f64).ln_1p() as f32).collect())
        .collect();
    write_dense(&path, &logged, &["G1", "G2", "G3"]);
    let src = hdf5::File::open(&counts_file).unwrap();
    let h = hdf5::File::open_rw(&path).unwrap();
    let raw = h.create_group("raw").unwrap();
    src.group("X").unwrap().copy_to(&raw, "X").unwrap();
    src.group("var").unwrap().copy_to(&raw, "var").unwrap();
    drop((src, h));
    // The default is raw, the matrix of counts, with raw/var's names.
    let (_t, dir, s) = run(&path, &ConvertOptions::default());
    let got: Vec<&str> = s.iter().map(|r| r.sentence.as_str()).collect();
    assert_eq!(got, ["R3 R2", "R1 R2"]);
    let vocab = std::fs::read_to_string(dir.join("vocabulary.tsv")).unwrap();
    assert_eq!(vocab, "R1\t1\nR2\t2\nR3\t1\n");
    // X keeps var's.
    let opts = ConvertOptions {
        input: InputOptions {
            matrix: Some("X".parse().unwrap()),
            ..Default::default()
        },
        ..Default::default()
    };
    let (_t, _, s) = run(&path, &opts);
    let got: Vec<&str> = s.iter().map(|r| r.sentence.as_str()).collect();
    assert_eq!(got, ["G3 G2", "G1 G2"]);
}

#[test]
fn filtering_follows_scanpy() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("f.h5ad");
    // Cell 2 has 1 gene; gene D is expressed in cell 2 only.
    write_dense(
        &f,
        &[
            vec![1.0, 2.0, 3.0, 0.0],
            vec![5.0, 0.0, 1.0, 0.0],
            vec![0.0, 0.0, 0.0, 4.0],
            vec![2.0, 2.0, 0.0, 0.0],
        ],
        &["A", "B", "C", "D"],
    );
    let mut opts = ConvertOptions::default();
    opts.input.preprocess.min_genes = 2;
    opts.input.preprocess.min_cells = 2;
    let (_t, dir, s) = run(&f, &opts);
    let names: Vec<&str> = s.iter().map(|r| r.cell_name.as_str()).collect();
    assert_eq!(names, vec!["cell0", "cell1", "cell3"]);
    let vocab = std::fs::read_to_string(dir.join("vocabulary.tsv")).unwrap();
    assert_eq!(vocab, "A\t3\nB\t2\nC\t2\n");
    assert_eq!(s[1].sentence, "A C");
}

#[test]
fn raw_counts_are_kept_beside_each_sentence() {
    let d = tempfile::tempdir().unwrap();
    // Filtering drops cell 2 and gene D; cell 3's genes tie.
    let rows = [
        vec![1.0, 2.0, 3.0, 0.0],
        vec![5.0, 0.0, 1.0, 0.0],
        vec![0.0, 0.0, 0.0, 4.0],
        vec![2.0, 2.0, 0.0, 0.0],
    ];
    let f = d.path().join("f.h5ad");
    write_dense(&f, &rows, &["A", "B", "C", "D"]);
    let mut opts = ConvertOptions::default();
    opts.input.preprocess.min_genes = 2;
    opts.input.preprocess.min_cells = 2;
    let (_t, dir, _) = run(&f, &opts);
    let s = read_dataset_with_counts(&dir).unwrap();
    let counts: Vec<Option<Vec<u32>>> = s.iter().map(|r| r.counts.clone()).collect();
    assert_eq!(
        counts,
        [Some(vec![3, 2, 1]), Some(vec![5, 1]), Some(vec![2, 2])]
    );
    assert_eq!(
        read_sentences(&dir).unwrap()[0].counts,
        None,
        "asked for only"
    );
    // Normalised values are no reads: no counts.
    let g = d.path().join("g.h5ad");
    let halves: Vec<Vec<f32>> = rows
        .iter()
        .map(|r| r.iter().map(|v| v * 0.5).collect())
        .collect();
    write_dense(&g, &halves, &["A", "B", "C", "D"]);
    let (_u, dir, _) = run(&g, &opts);
    let s = read_dataset_with_counts(&dir).unwrap();
    assert!(s.iter().all(|r| r.counts.is_none()));

    // A real file, in several blocks: each gene's count is its value in
    // the matrix, in the sentence's order.
    let pbmc = data("pbmc3k-10x.h5ad");
    let mut opts = ConvertOptions::default();
    opts.input.block_values = 300_000;
    let (_v, dir, _) = run(&pbmc, &opts);
    let s = read_dataset_with_counts(&dir).unwrap();
    let p = Prepared::open(&pbmc, &InputOptions::default(), &[]).unwrap();
    let all = p.src.read_rows(0, p.src.n_rows).unwrap();
    let row: HashMap<&str, usize> =
        p.ad.obs
            .index
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i))
            .collect();
    assert_eq!(s.len(), p.src.n_rows);
    for r in &s {
        let (idx, val) = all.row(row[r.cell_name.as_str()]);
        let value: HashMap<&str, u32> = idx
            .iter()
            .zip(val)
            .map(|(&j, &v)| (p.genes.words[j as usize].as_str(), v as u32))
            .collect();
        let want: Vec<u32> = r.sentence.split(' ').map(|g| value[g]).collect();
        assert_eq!(r.counts.as_ref(), Some(&want), "{}", r.cell_name);
    }
}

#[test]
fn the_column_splits_are_stratified_by_is_kept_as_a_label() {
    let f = data("wu2020-tcells-200.h5ad");
    let opts = ConvertOptions {
        stratify: Some("cluster_orig".into()),
        ..Default::default()
    };
    let (_t, dir, s) = run(&f, &opts);
    assert!(s.iter().all(|r| r.label("cluster_orig").is_some()));
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(
        manifest["parameters"]["labels"],
        serde_json::json!(["cluster_orig"])
    );
    // Named in both, it is kept once.
    let both = ConvertOptions {
        labels: vec!["cluster_orig".into()],
        ..opts
    };
    let (_t, _, s) = run(&f, &both);
    assert_eq!(
        s[0].labels.iter().filter(|l| l.0 == "cluster_orig").count(),
        1
    );
}

#[test]
fn dataset_folder_is_complete_and_consistent() {
    let f = data("pbmc3k-10x.h5ad");
    let opts = ConvertOptions {
        labels: vec!["cell_type".into()],
        stratify: Some("cell_type".into()),
        ..Default::default()
    };
    let (_t, dir, s) = run(&f, &opts);
    for name in [
        "sentences.parquet",
        "sentences.jsonl",
        "sentences.txt",
        "vocabulary.tsv",
        "splits.json",
        "fit.json",
        "manifest.json",
    ] {
        assert!(dir.join(name).is_file(), "{name}");
    }
    let splits: c2s_data::split::Splits =
        serde_json::from_slice(&std::fs::read(dir.join("splits.json")).unwrap()).unwrap();
    assert_eq!(
        splits.train.len() + splits.val.len() + splits.test.len(),
        2638
    );
    assert_eq!(splits.stratified_by.as_deref(), Some("cell_type"));
    let jsonl = read_sentences(&dir.join("sentences.jsonl")).unwrap();
    assert_eq!(jsonl.len(), s.len());
    let split_of = |r: &SentenceRecord| {
        r.labels
            .iter()
            .find(|l| l.0 == "split")
            .unwrap()
            .1
            .clone()
            .unwrap()
    };
    for &i in &splits.test {
        assert_eq!(split_of(&s[i]), "test");
    }
    // Every JSONL record (written around its sentence) is the Parquet row.
    for (a, b) in s.iter().zip(&jsonl) {
        let (mut a, mut b) = (a.clone(), b.clone());
        a.labels.sort();
        b.labels.sort();
        assert_eq!(a, b);
    }
    // Stratification: the rare Megakaryocytes (13) reach validation and test.
    let label = |i: usize| {
        s[i].labels
            .iter()
            .find(|l| l.0 == "cell_type")
            .unwrap()
            .1
            .clone()
            .unwrap()
    };
    assert!(splits.test.iter().any(|&i| label(i) == "Megakaryocyte"));
    assert!(splits.val.iter().any(|&i| label(i) == "Megakaryocyte"));
    let text = std::fs::read_to_string(dir.join("sentences.txt")).unwrap();
    assert_eq!(text.lines().next().unwrap(), s[0].sentence);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    use sha2::Digest;
    let sha = format!("{:x}", sha2::Sha256::digest(std::fs::read(&f).unwrap()));
    assert_eq!(manifest["source"]["sha256"], sha);
    assert_eq!(manifest["parameters"]["input"]["seed"], 42);
    assert_eq!(manifest["summary"]["cells"], 2638);
    // The species, from the gene names' case before upper-casing.
    assert_eq!(manifest["summary"]["species"], "human");
    assert_eq!(
        c2s_data::manifest::read_species(&dir).as_deref(),
        Some("human")
    );
    // Same inputs, same outputs, byte for byte.
    let (_t2, dir2, _) = run(&f, &opts);
    for name in [
        "sentences.parquet",
        "sentences.jsonl",
        "vocabulary.tsv",
        "splits.json",
        "fit.json",
        "manifest.json",
    ] {
        let same =
            std::fs::read(dir.join(name)).unwrap() == std::fs::read(dir2.join(name)).unwrap();
        assert!(same, "{name} differs between two identical runs");
    }
}

#[test]
fn gene_names_that_need_escaping_make_valid_jsonl() {
    let t = tempfile::tempdir().unwrap();
    let f = t.path().join("quoted.h5ad");
    write_dense(
        &f,
        &[vec![3.0, 1.0, 2.0], vec![0.0, 5.0, 1.0]],
        &["CD3D", "A\"B", "C\\D"],
    );
    let (_t, dir, s) = run(&f, &ConvertOptions::default());
    assert_eq!(s[0].sentence, "CD3D C\\D A\"B");
    let jsonl = read_sentences(&dir.join("sentences.jsonl")).unwrap();
    let text = std::fs::read_to_string(dir.join("sentences.txt")).unwrap();
    assert_eq!(jsonl.len(), 2);
    for ((a, b), line) in s.iter().zip(&jsonl).zip(text.lines()) {
        assert_eq!(a.sentence, b.sentence);
        assert_eq!(a.sentence, line);
    }
}

#[test]
fn compressed_parquet_holds_the_same_table() {
    use parquet::basic::Compression;
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let f = data("pbmc3k-10x.h5ad");
    let opts = |parquet_compression| ConvertOptions {
        labels: vec!["cell_type".into()],
        exports: c2s_data::dataset::Exports {
            jsonl: false,
            text: false,
        },
        parquet_compression,
        ..Default::default()
    };
    // Auto: this matrix (2,238,732 values) is below the zstd threshold.
    let (_a, plain_dir, plain) = run(&f, &opts(ParquetCompression::Auto));
    let (_b, zstd_dir, zstd) = run(&f, &opts(ParquetCompression::Zstd));
    assert_eq!(plain, zstd);
    let codecs = |dir: &Path| {
        let file = std::fs::File::open(dir.join("sentences.parquet")).unwrap();
        let meta = SerializedFileReader::new(file).unwrap().metadata().clone();
        let size = std::fs::metadata(dir.join("sentences.parquet"))
            .unwrap()
            .len();
        let codecs: Vec<Compression> = meta
            .row_groups()
            .iter()
            .flat_map(|g| g.columns().iter().map(|c| c.compression()))
            .collect();
        (codecs, size)
    };
    let (plain_codecs, plain_size) = codecs(&plain_dir);
    let (zstd_codecs, zstd_size) = codecs(&zstd_dir);
    assert!(plain_codecs.iter().all(|c| *c == Compression::UNCOMPRESSED));
    assert!(zstd_codecs
        .iter()
        .all(|c| matches!(c, Compression::ZSTD(_))));
    assert!(
        zstd_size * 3 < plain_size * 2,
        "{zstd_size} against {plain_size}"
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(zstd_dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["parameters"]["parquet_compression"], "zstd");
    assert_eq!(manifest["parquet_compression"], "zstd");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(plain_dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["parameters"]["parquet_compression"], "auto");
    assert_eq!(manifest["parquet_compression"], "none");
    let auto = ParquetCompression::Auto;
    assert!(!auto.zstd_for(ParquetCompression::AUTO_ZSTD_VALUES));
    assert!(auto.zstd_for(ParquetCompression::AUTO_ZSTD_VALUES + 1));
    assert!(!ParquetCompression::None.zstd_for(u64::MAX));
}

#[test]
fn reconstruction_round_trip() {
    let f = data("pbmc3k-10x.h5ad");
    let opts = ConvertOptions {
        labels: vec!["cell_type".into()],
        ..Default::default()
    };
    let (t, dir, s) = run(&f, &opts);
    let out = t.path().join("rec.h5ad");
    let summary = c2s_data::reconstruct::reconstruct_file(
        &dir,
        &dir.join("vocabulary.tsv"),
        &dir.join("fit.json"),
        &out,
    )
    .unwrap();
    assert_eq!(summary.cells, 2638);
    assert_eq!(summary.valid_share, 1.0);
    assert_eq!(summary.unique_share, 1.0);
    let fit = c2s_data::reconstruct::read_fit(&dir.join("fit.json")).unwrap();
    let ad = AnnData::open(&out).unwrap();
    assert_eq!(ad.obs.index[0], s[0].cell_name);
    assert_eq!(
        ad.obs.column("cell_type").unwrap().data.text(0),
        s[0].labels.iter().find(|l| l.0 == "cell_type").unwrap().1
    );
    let m = ad.matrix(&MatrixId::X).unwrap();
    let row = m.read_rows(0, 1).unwrap();
    let col: HashMap<&str, usize> = ad
        .var
        .index
        .iter()
        .enumerate()
        .map(|(i, g)| (g.as_str(), i))
        .collect();
    let value: HashMap<u32, f64> = row
        .indices
        .iter()
        .copied()
        .zip(row.data.iter().copied())
        .collect();
    for (p, g) in s[0].sentence.split(' ').enumerate() {
        let expected = fit.expression_at(p);
        let got = value.get(&(col[g] as u32)).copied().unwrap_or(0.0);
        assert!(
            (got - expected).abs() < 1e-5,
            "{g} at {p}: {got} vs {expected}"
        );
    }
    assert!(row.data.iter().all(|&v| v > 0.0));

    // Generated text: unknown words keep their rank, repeats collapse.
    let gen = t.path().join("gen.txt");
    std::fs::write(&gen, "CD3D NOTAGENE CD3D LTB.\nMALAT1 B2M\n").unwrap();
    let out2 = t.path().join("gen.h5ad");
    let s2 = c2s_data::reconstruct::reconstruct_file(
        &gen,
        &dir.join("vocabulary.tsv"),
        &dir.join("fit.json"),
        &out2,
    )
    .unwrap();
    assert_eq!(
        (s2.cells, s2.words, s2.unknown_words, s2.repeated_genes),
        (2, 6, 1, 1)
    );
    let ad = AnnData::open(&out2).unwrap();
    let r = ad.matrix(&MatrixId::X).unwrap().read_rows(0, 1).unwrap();
    let v: HashMap<u32, f64> = r
        .indices
        .iter()
        .copied()
        .zip(r.data.iter().copied())
        .collect();
    let idx = |g: &str| ad.var.index.iter().position(|x| x == g).unwrap() as u32;
    assert!((v[&idx("CD3D")] - fit.expression_at(1)).abs() < 1e-5); // positions 0 and 2 -> 1
    assert!((v[&idx("LTB")] - fit.expression_at(3)).abs() < 1e-5);
}

/// Rewrites X of the demo file with the given filters and types; every layout
/// must read back the same sentences (our parallel reader or HDF5's).
#[test]
fn compressed_layouts_read_the_same() {
    #[derive(PartialEq)]
    enum Codec {
        Deflate,
        Lzf, // anndata's write_h5ad(compression="lzf")
        None,
    }
    // Chunk length 0: contiguous, as anndata writes without compression.
    let d = tempfile::tempdir().unwrap();
    let base = data("pbmc3k-10x.h5ad");
    let (_t, _, expected) = run(&base, &ConvertOptions::default());
    let p = Prepared::open(&base, &InputOptions::default(), &[]).unwrap();
    let all = p.src.read_rows(0, p.src.n_rows).unwrap();
    let variants = [
        // name, codec, shuffle, wide types, chunk length
        (
            "deflate-shuffle-f64-i64.h5ad",
            Codec::Deflate,
            true,
            true,
            10_007,
        ),
        ("deflate-f32-i32.h5ad", Codec::Deflate, false, false, 65_536),
        ("plain-chunked.h5ad", Codec::None, false, false, 4_096),
        ("contiguous-f32-i32.h5ad", Codec::None, false, false, 0),
        ("contiguous-f64-i64.h5ad", Codec::None, false, true, 0),
        ("deflate-tiny-chunks.h5ad", Codec::Deflate, true, false, 97),
        ("lzf-f32-i32.h5ad", Codec::Lzf, false, false, 16_384),
    ];
    for (name, codec, shuffle, wide, chunk) in variants {
        let f = d.path().join(name);
        rewrite_x(
            &base,
            &f,
            &all,
            |b| {
                let mut b = if chunk > 0 { b.chunk(chunk) } else { b };
                if shuffle {
                    b = b.shuffle();
                }
                match codec {
                    Codec::Deflate => b.deflate(4),
                    Codec::Lzf => b.lzf(),
                    Codec::None => b,
                }
            },
            wide,
        );
        let m = AnnData::open(&f).unwrap().matrix(&MatrixId::X).unwrap();
        assert_eq!(m.parallel_reading(), codec != Codec::Lzf, "{name}");
        // f32 data skips a test in ranking; f64 data keeps it.
        assert_eq!(m.values_fit_f32(), !wide, "{name}");
        // Ranges that start and end inside chunks, read again in part (the
        // reader keeps recent chunks), give the stored values.
        for (a, b) in [(0, 7), (5, 300), (299, 301), (0, m.n_rows), (1000, 1001)] {
            let got = m.read_rows(a, b).unwrap();
            let (lo, hi) = (all.indptr[a], all.indptr[b]);
            assert_eq!(got.indices, all.indices[lo..hi], "{name} rows {a}..{b}");
            assert_eq!(got.data, all.data[lo..hi], "{name} rows {a}..{b}");
        }
        let small_blocks = ConvertOptions {
            input: InputOptions {
                block_values: 33_333,
                ..Default::default()
            },
            ..Default::default()
        };
        let (_t2, _, got) = run(&f, &small_blocks);
        assert_eq!(got, expected, "{name}");
    }
}

/// X stored dense: contiguous (read on all cores as one run of rows) and in
/// 2-D chunks (through HDF5) read back the same sentences as the sparse file.
#[test]
fn dense_layouts_read_the_same() {
    let d = tempfile::tempdir().unwrap();
    let base = data("wu2020-tcells-200.h5ad");
    let (_t, _, expected) = run(&base, &ConvertOptions::default());
    let p = Prepared::open(&base, &InputOptions::default(), &[]).unwrap();
    let all = p.src.read_rows(0, p.src.n_rows).unwrap();
    let (n, g) = (p.src.n_rows, p.src.n_cols);
    let mut dense = ndarray::Array2::<f32>::zeros((n, g));
    for i in 0..n {
        let (idx, val) = all.row(i);
        for (&j, &v) in idx.iter().zip(val) {
            dense[[i, j as usize]] = v as f32;
        }
    }
    for (name, chunked) in [("dense.h5ad", false), ("dense-chunked.h5ad", true)] {
        let f = d.path().join(name);
        std::fs::copy(&base, &f).unwrap();
        {
            let h = hdf5::File::open_rw(&f).unwrap();
            h.unlink("X").unwrap();
            let b = h.new_dataset_builder().with_data(&dense);
            let b = if chunked {
                b.chunk((16, 1024)).deflate(1)
            } else {
                b
            };
            b.create("X").unwrap();
        }
        let m = AnnData::open(&f).unwrap().matrix(&MatrixId::X).unwrap();
        assert_eq!(m.parallel_reading(), !chunked, "{name}");
        for (a, b) in [(0, 7), (5, 150), (199, 200)] {
            let got = m.read_rows(a, b).unwrap();
            let (lo, hi) = (all.indptr[a], all.indptr[b]);
            assert_eq!(got.indices, all.indices[lo..hi], "{name} rows {a}..{b}");
            assert_eq!(got.data, all.data[lo..hi], "{name} rows {a}..{b}");
        }
        let (_t2, _, got) = run(&f, &ConvertOptions::default());
        assert_eq!(got, expected, "{name}");
    }
}

#[test]
fn expression_read_back_follows_the_sentences() {
    let mut opts = ConvertOptions::default();
    opts.input.preprocess.min_cells = 3; // genes filtered: totals over kept genes only
    let (_t, out, records) = run(&data("wu2020-tcells-200.h5ad"), &opts);
    let vocab = c2s_data::Vocabulary::read_tsv(&out.join("vocabulary.tsv")).unwrap();
    let names: Vec<&str> = records
        .iter()
        .take(12)
        .map(|r| r.cell_name.as_str())
        .collect();
    let rows = c2s_data::expression::log_expression(&out, &names, None).unwrap();
    let fit: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("fit.json")).unwrap()).unwrap();
    let target = fit["target_sum"].as_f64().unwrap();
    for (r, row) in records.iter().zip(&rows) {
        let words: Vec<&str> = r.sentence.split(' ').collect();
        assert_eq!(words.len(), row.len(), "one value per gene of the sentence");
        let value: HashMap<&str, f64> = row
            .iter()
            .map(|&(g, v)| (vocab.genes[g as usize].as_str(), v))
            .collect();
        // Values fall along the sentence.
        for pair in words.windows(2) {
            assert!(
                value[pair[0]] >= value[pair[1]],
                "{} before {}",
                pair[0],
                pair[1]
            );
        }
        // Normalised to the median total, then log10(1 + x).
        let total: f64 = row.iter().map(|&(_, v)| 10f64.powf(v) - 1.0).sum();
        assert!(
            (total - target).abs() / target < 1e-6,
            "{total} vs {target}"
        );
    }
    // A moved source is named, with what to do.
    let err =
        c2s_data::expression::log_expression(&out, &names, Some(Path::new("/nowhere/x.h5ad")))
            .unwrap_err()
            .to_string();
    assert!(err.contains("--source"), "{err}");
    let err = c2s_data::expression::log_expression(&out, &["no-such-cell"], None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no-such-cell"), "{err}");
}

/// Conversion reads only the columns it uses; the others are still named.
#[test]
fn only_the_columns_asked_for_are_read() {
    use c2s_data::anndata::ColumnSelection;
    let f = data("pbmc3k-10x.h5ad");
    let all = AnnData::open(&f).unwrap();
    let some = AnnData::open_with(&f, &ColumnSelection::only(&["cell_type".into()], &[])).unwrap();
    assert_eq!(some.obs.columns.len(), 1);
    assert_eq!(
        some.obs.column("cell_type").unwrap().data,
        all.obs.column("cell_type").unwrap().data
    );
    assert!(some.var.columns.is_empty() && !all.var.columns.is_empty());
    assert_eq!(some.obs.index, all.obs.index);
    assert_eq!(some.var.index, all.var.index);
    fn sorted(mut v: Vec<&str>) -> Vec<&str> {
        v.sort();
        v
    }
    assert_eq!(
        sorted(some.obs.column_names()),
        sorted(all.obs.column_names())
    );
    assert_eq!(
        sorted(some.var.column_names()),
        sorted(all.var.column_names())
    );

    // A wrong label or gene column names unread columns too: bad_inputs.rs
    // (unknown_matrix_label_or_gene_column).
}

#[derive(hdf5::H5Type, Clone)]
#[repr(C)]
struct LegacyObs {
    index: hdf5::types::FixedAscii<8>,
    cell_type: i8,
}

#[derive(hdf5::H5Type, Clone)]
#[repr(C)]
struct LegacyVar {
    index: hdf5::types::FixedAscii<8>,
}

/// A CSR matrix as the pre-0.7 layout's h5sparse writer stored it.
fn legacy_csr(f: &hdf5::File, name: &str, rows: &[Vec<f32>]) {
    let g = f.create_group(name).unwrap();
    let (mut data, mut indices, mut indptr) = (vec![], vec![], vec![0i64]);
    for r in rows {
        for (j, &v) in r.iter().enumerate() {
            if v != 0.0 {
                data.push(v);
                indices.push(j as i32);
            }
        }
        indptr.push(data.len() as i64);
    }
    g.new_dataset_builder()
        .with_data(&data)
        .create("data")
        .unwrap();
    g.new_dataset_builder()
        .with_data(&indices)
        .create("indices")
        .unwrap();
    g.new_dataset_builder()
        .with_data(&indptr)
        .create("indptr")
        .unwrap();
    let csr: hdf5::types::VarLenUnicode = "csr".parse().unwrap();
    g.new_attr::<hdf5::types::VarLenUnicode>()
        .create("h5sparse_format")
        .unwrap()
        .write_scalar(&csr)
        .unwrap();
    let shape = [rows.len() as i64, rows[0].len() as i64];
    g.new_attr_builder()
        .with_data(&shape)
        .create("h5sparse_shape")
        .unwrap();
}

fn fixed<const N: usize>(s: &str) -> hdf5::types::FixedAscii<N> {
    hdf5::types::FixedAscii::from_ascii(s).unwrap()
}

#[test]
fn pre_07_categoricals_and_raw_are_read_as_anndata_reads_them() {
    // obs codes with the names in uns/cell_type_categories; X scaled (it
    // holds negative values), raw.X and raw.var the counts of more genes.
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("old.h5ad");
    {
        let f = hdf5::File::create(&path).unwrap();
        let obs: Vec<LegacyObs> = [("c0", 1i8), ("c1", 0), ("c2", 1)]
            .iter()
            .map(|&(n, c)| LegacyObs {
                index: fixed(n),
                cell_type: c,
            })
            .collect();
        f.new_dataset_builder()
            .with_data(&obs)
            .create("obs")
            .unwrap();
        let var: Vec<LegacyVar> = ["CD3D", "MS4A1"]
            .iter()
            .map(|g| LegacyVar { index: fixed(g) })
            .collect();
        f.new_dataset_builder()
            .with_data(&var)
            .create("var")
            .unwrap();
        legacy_csr(
            &f,
            "X",
            &[vec![1.2, -0.4], vec![-0.8, 2.0], vec![0.9, -1.1]],
        );
        let raw_var: Vec<LegacyVar> = ["CD3D", "MS4A1", "LYZ"]
            .iter()
            .map(|g| LegacyVar { index: fixed(g) })
            .collect();
        f.new_dataset_builder()
            .with_data(&raw_var)
            .create("raw.var")
            .unwrap();
        legacy_csr(
            &f,
            "raw.X",
            &[
                vec![5.0, 0.0, 2.0],
                vec![0.0, 7.0, 1.0],
                vec![3.0, 1.0, 9.0],
            ],
        );
        let cats: Vec<hdf5::types::FixedAscii<8>> = vec![fixed("B cell"), fixed("T cell")];
        f.create_group("uns")
            .unwrap()
            .new_dataset_builder()
            .with_data(&cats)
            .create("cell_type_categories")
            .unwrap();
    }
    let ad = AnnData::open(&path).unwrap();
    assert_eq!(ad.format, c2s_data::FileFormat::H5adLegacy);
    let ct = ad.obs.column("cell_type").unwrap();
    assert_eq!(
        ct.data.texts(),
        [
            Some("T cell".into()),
            Some("B cell".into()),
            Some("T cell".into())
        ]
    );
    assert!(ad.matrices.contains(&MatrixId::Raw), "{:?}", ad.matrices);
    drop(ad); // HDF5 opens a file once per process: closed before rewriting.

    // Converted from raw (the counts), labelled by name, not by code.
    let opts = ConvertOptions {
        labels: vec!["cell_type".into()],
        ..Default::default()
    };
    let (_t, _, s) = run(&path, &opts);
    let sentences: Vec<&str> = s.iter().map(|r| r.sentence.as_str()).collect();
    assert_eq!(sentences, ["CD3D LYZ", "MS4A1 LYZ", "LYZ CD3D MS4A1"]);
    let labels: Vec<&str> = s.iter().map(|r| r.label("cell_type").unwrap()).collect();
    assert_eq!(labels, ["T cell", "B cell", "T cell"]);

    // Raw log-normalised rather than counts: still chosen over the scaled X.
    {
        let f = hdf5::File::open_rw(&path).unwrap();
        let d = f.dataset("raw.X/data").unwrap();
        let v: Vec<f32> = d.read_raw().unwrap();
        let logged: Vec<f32> = v.iter().map(|x| (x * 0.37 + 1.0).ln()).collect();
        d.write_raw(&logged).unwrap();
    }
    let (_t, _, s) = run(&path, &opts);
    let again: Vec<&str> = s.iter().map(|r| r.sentence.as_str()).collect();
    assert_eq!(again, sentences);
}

/// A map's sample of a file names its cells as the conversion does, so
/// results (predictions) join to the sampled cells by name.
#[test]
fn a_files_sample_names_its_cells_as_the_conversion_does() {
    let file = data("wu2020-tcells-200.h5ad");
    let (_t, _, records) = run(&file, &ConvertOptions::default());
    let s = c2s_data::expression::sample_file_expression(
        &file,
        &InputOptions::default(),
        50,
        Some("cluster_orig"),
    )
    .unwrap();
    assert_eq!((s.names.len(), s.rows.len(), s.cells.len()), (50, 50, 50));
    let converted: HashMap<String, String> = by_name(&records);
    for n in &s.names {
        assert!(converted.contains_key(n), "{n} is not a converted cell");
    }
    let unique: std::collections::HashSet<&String> = s.names.iter().collect();
    assert_eq!(unique.len(), 50);
}

/// A gene's values in a map's sample are the sampled cells' normalised log
/// expression of that column, found in any case; 0 where not expressed.
#[test]
fn a_genes_values_in_a_sample_are_its_column_in_any_case() {
    let file = data("wu2020-tcells-200.h5ad");
    let s = c2s_data::expression::sample_file_expression(&file, &InputOptions::default(), 80, None)
        .unwrap();
    assert!(!s.genes.is_empty());
    // The most often expressed gene of the sample.
    let mut counts = vec![0usize; s.genes.len()];
    for row in &s.cells {
        for &(j, _) in row {
            counts[j as usize] += 1;
        }
    }
    let (col, &n) = counts.iter().enumerate().max_by_key(|x| x.1).unwrap();
    let gene = &s.genes[col];
    let values = s.gene_values(&gene.to_lowercase()).unwrap();
    assert_eq!(values.len(), 80);
    assert_eq!(values.iter().filter(|v| **v > 0.0).count(), n);
    for (row, v) in s.cells.iter().zip(&values) {
        let want = row
            .iter()
            .find(|x| x.0 as usize == col)
            .map_or(0.0, |x| x.1);
        assert_eq!(*v, want);
    }
    assert!(s.gene_values("NO-SUCH-GENE").is_none());
}

#[test]
fn a_conversion_writes_its_manifest_and_fit_that_read_back_typed() {
    let src = data("wu2020-tcells-200.h5ad");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ds");
    let opts = ConvertOptions {
        labels: vec!["cluster_orig".into()],
        ..Default::default()
    };
    let summary = with_job(|job| convert(&src, &out, &opts, job)).unwrap();
    let m = Manifest::read(&out).unwrap();
    assert!(Manifest::is_in(&out));
    assert_eq!(
        (m.format.as_str(), m.format_version),
        (FORMAT, FORMAT_VERSION)
    );
    assert_eq!(m.source.path, src.canonicalize().unwrap());
    assert_eq!(m.source.sha256.len(), 64);
    assert_eq!(m.parameters.labels, ["cluster_orig"]);
    assert_eq!(m.parameters.input.seed, c2s_data::DEFAULT_SEED);
    assert_eq!(m.summary.cells, summary.cells);
    assert_eq!(
        m.summary.output,
        PathBuf::new(),
        "the folder's own path is left out"
    );
    assert_eq!(m.files.jsonl.as_deref(), Some(SENTENCES_JSONL));
    assert_eq!(m.delimiter, " ");
    let text = std::fs::read_to_string(out.join(MANIFEST_JSON)).unwrap();
    assert!(!text.contains("\"output\""));
    let fit = FitFile::read(&out).unwrap();
    // (JSON keeps 17 digits; the last may differ.)
    let (read, made) = (fit.fit.unwrap(), summary.fit.unwrap());
    assert_eq!((read.n_cells, read.n_points), (made.n_cells, made.n_points));
    assert!((read.pearson_r - made.pearson_r).abs() < 1e-12);
    assert_eq!(fit.log_base, LogBase::Ten);
    assert!(fit.target_sum > 0.0 && !fit.fit_cells.is_empty());
    // Keys sorted in every build (the bytes earlier versions wrote).
    let keys: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("  \"") && !l.starts_with("   "))
        .map(|l| l.trim().split('"').nth(1).unwrap())
        .collect();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    assert_eq!(keys, sorted);

    // Anything else is refused, naming the file and the field.
    std::fs::write(out.join(MANIFEST_JSON), r#"{"format": "other"}"#).unwrap();
    assert!(!Manifest::is_in(&out));
    let e = Manifest::read(&out).unwrap_err().to_string();
    assert!(
        e.contains("manifest.json") && e.contains("not a file this version reads"),
        "{e}"
    );
}

#[test]
fn inspection_notes_a_matrix_that_cannot_be_ranked() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("scaled.h5ad");
    // z-scores: negative values, no matrix with counts beside them.
    write_dense(
        &f,
        &[
            vec![1.2, -0.4, 0.3],
            vec![-0.8, 0.9, -1.1],
            vec![0.5, -0.2, 0.7],
        ],
        &["CD3D", "CD8A", "GZMB"],
    );
    let info = c2s_data::inspect(&f).unwrap();
    assert_eq!(info.matrices[0].holds, ValueKind::Scaled);
    let note = info
        .notes
        .iter()
        .find(|n| n.message.contains("cannot be ranked into cell sentences"))
        .unwrap_or_else(|| panic!("{:?}", info.notes));
    assert!(
        note.message.starts_with("The matrix X holds"),
        "{}",
        note.message
    );
    assert!(note.fix.is_none());
    // A folder is not read as a file.
    let e = c2s_data::inspect(d.path()).unwrap_err().to_string();
    assert!(e.contains("this is a folder, not a file"), "{e}");
}
