//! Our sentences, vocabulary and fit against the Python reference's outputs
//! on real datasets (../shared/fixtures).

mod common;

use std::collections::HashMap;
use std::io::Read;

use c2s_data::convert::{InputOptions, Prepared};
use c2s_data::dataset::read_sentences;
use c2s_data::{convert, fit_file, ConvertOptions, Vocabulary};
use common::{data, fixture, with_job};

fn reference_sentences(dataset: &str) -> Vec<(String, String)> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(
        std::fs::File::open(fixture(&format!("{dataset}/sentences.jsonl.gz"))).unwrap(),
    )
    .read_to_string(&mut text)
    .unwrap();
    text.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["cell_name"].as_str().unwrap().to_string(),
                v["cell_sentence"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Every cell's sentence equals the reference's up to the order inside runs of
/// tied values: same genes, and the same value at every rank position.
fn check_dataset(dataset: &str, label: &str) {
    let file = data(&format!("{dataset}.h5ad"));
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("ds");
    let opts = ConvertOptions {
        labels: vec![label.into()],
        ..Default::default()
    };
    let summary = with_job(|job| convert(&file, &dir, &opts, job)).unwrap();
    let ours = read_sentences(&dir).unwrap();
    let theirs = reference_sentences(dataset);
    assert_eq!(ours.len(), theirs.len());
    assert_eq!(summary.cells, theirs.len());

    let p = Prepared::open(&file, &InputOptions::default(), &[]).unwrap();
    let all = p.src.read_rows(0, p.src.n_rows).unwrap();
    let col: HashMap<&str, usize> = p
        .genes
        .words
        .iter()
        .enumerate()
        .map(|(i, w)| (w.as_str(), i))
        .collect();
    let mut tied_cells = 0;
    for (i, (rec, (name, reference))) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(&rec.cell_name, name);
        assert!(rec.labels.iter().any(|(k, v)| k == label && v.is_some()));
        let (idx, val) = all.row(i);
        let value: HashMap<usize, f64> = idx
            .iter()
            .map(|&j| j as usize)
            .zip(val.iter().copied())
            .collect();
        let vals = |s: &str| -> Vec<f64> { s.split(' ').map(|g| value[&col[g]]).collect() };
        let mut a: Vec<&str> = rec.sentence.split(' ').collect();
        let mut b: Vec<&str> = reference.split(' ').collect();
        assert_eq!(
            vals(&rec.sentence),
            vals(reference),
            "cell {name}: values by rank differ"
        );
        if a != b {
            tied_cells += 1;
        }
        a.sort_unstable();
        b.sort_unstable();
        assert_eq!(a, b, "cell {name}: gene sets differ");
    }
    // The reference breaks ties at random, so some orders differ; the values do not.
    eprintln!(
        "{dataset}: {tied_cells} of {} cells differ only inside ties",
        ours.len()
    );

    let vocab = Vocabulary::read_tsv(&dir.join("vocabulary.tsv")).unwrap();
    let expected = Vocabulary::read_tsv(&fixture(&format!("{dataset}/vocabulary.tsv"))).unwrap();
    assert_eq!(vocab, expected);
}

#[test]
fn pbmc3k_matches_reference() {
    check_dataset("pbmc3k-10x", "cell_type");
}

#[test]
fn balf_matches_reference() {
    check_dataset("balf-covid-liao2020", "cell_type");
}

#[test]
fn wu2020_matches_reference() {
    check_dataset("wu2020-tcells-200", "cluster_orig");
}

fn check_fit(dataset: &str) {
    let reference: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture(&format!("{dataset}/reference.json"))).unwrap(),
    )
    .unwrap();
    let cells: Vec<usize> = reference["fit_cells_indices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    let fit = with_job(|job| {
        fit_file(
            &data(&format!("{dataset}.h5ad")),
            &InputOptions::default(),
            Some(cells.clone()),
            0,
            job,
        )
    })
    .unwrap()
    .fit
    .unwrap();
    let r = &reference["fit"];
    let get = |k: &str| {
        r[k].as_f64()
            .unwrap_or_else(|| panic!("reference.json fit has no {k}: {r}"))
    };
    eprintln!("{dataset}: ours {fit:?}; reference {r}");
    assert_eq!(fit.n_cells, cells.len());
    assert!(
        (fit.slope - get("slope")).abs() < 0.02,
        "slope {} vs {}",
        fit.slope,
        get("slope")
    );
    assert!(
        (fit.intercept - get("intercept")).abs() < 0.02,
        "intercept {} vs {}",
        fit.intercept,
        get("intercept")
    );
    for (ours, key) in [
        (fit.r_squared, "r_squared"),
        (fit.pearson_r, "pearson_r_statistic"),
        (fit.spearman_rho, "spearman_r_statistic"),
    ] {
        assert!(
            (ours - get(key)).abs() < 0.02,
            "{key}: {ours} vs {}",
            get(key)
        );
    }
}

#[test]
fn pbmc3k_fit_matches_reference() {
    check_fit("pbmc3k-10x");
}

#[test]
fn balf_fit_matches_reference() {
    check_fit("balf-covid-liao2020");
}
