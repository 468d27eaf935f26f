//! The evaluation tests' dataset: the T-cell file converted with its
//! clusters, and its validation cells written as generated ones.
// Each test file uses a part.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use c2s_data::dataset::{read_sentences, SentenceRecord};
use c2s_data::{convert, ConvertOptions, Job};

pub fn field<'a>(r: &'a SentenceRecord, k: &str) -> Option<&'a str> {
    r.labels
        .iter()
        .find(|l| l.0 == k)
        .and_then(|l| l.1.as_deref())
}

/// The T-cell dataset converted with its clusters, and validation cells
/// written as generated ones (they stand in for a model's).
pub fn dataset(dir: &Path) -> (PathBuf, PathBuf, Vec<SentenceRecord>) {
    let src =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/wu2020-tcells-200.h5ad");
    let ds = dir.join("ds");
    let opts = ConvertOptions {
        labels: vec!["cluster_orig".into()],
        ..Default::default()
    };
    let never = AtomicBool::new(false);
    let job = Job {
        progress: &|_| {},
        cancel: &never,
    };
    convert(&src, &ds, &opts, &job).unwrap();
    let records = read_sentences(&ds).unwrap();
    let lines: String = records
        .iter()
        .filter(|r| field(r, "split") == Some("val"))
        .map(|r| {
            format!(
                "{}\n",
                serde_json::json!({"cell_name": r.cell_name, "cell_sentence": r.sentence, "cell_type": field(r, "cluster_orig")})
            )
        })
        .collect();
    let generated = dir.join("generated.jsonl");
    std::fs::write(&generated, lines).unwrap();
    (ds, generated, records)
}
