//! A cancelled evaluation stops at its next stage with `Cancelled`.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use c2s_data::{convert, ConvertOptions, Job};
use c2s_eval::{evaluate_cancellable, EvalError, EvalInputs, GeneratedOptions};

#[test]
fn cancel_stops_at_the_next_stage() {
    let src =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/wu2020-tcells-200.h5ad");
    let dir = tempfile::tempdir().unwrap();
    let ds = dir.path().join("ds");
    let never = AtomicBool::new(false);
    let opts = ConvertOptions {
        labels: vec!["cluster_orig".into()],
        ..Default::default()
    };
    let job = Job {
        progress: &|_| {},
        cancel: &never,
    };
    convert(&src, &ds, &opts, &job).unwrap();
    // Real validation cells stand in for generated ones.
    let records = c2s_data::dataset::read_sentences(&ds).unwrap();
    let lines: String = records
        .iter()
        .filter(|r| r.labels.iter().any(|l| l.0 == "split" && l.1.as_deref() == Some("val")))
        .map(|r| {
            let ty = r.labels.iter().find(|l| l.0 == "cluster_orig").unwrap().1.clone();
            format!(
                "{}\n",
                serde_json::json!({"cell_name": r.cell_name, "cell_sentence": r.sentence, "cell_type": ty})
            )
        })
        .collect();
    let generated = dir.path().join("generated.jsonl");
    std::fs::write(&generated, lines).unwrap();
    let inputs = EvalInputs {
        dataset: ds,
        generated: Some(generated),
        ..Default::default()
    };
    let gen_opts = GeneratedOptions {
        gw_cells: 50,
        ..Default::default()
    };

    let stages = Mutex::new(Vec::<String>::new());
    let cancel = AtomicBool::new(false);
    let progress = |s: &str| {
        stages.lock().unwrap().push(s.to_string());
        if s == "PCA" {
            cancel.store(true, Ordering::Relaxed);
        }
    };
    let r = evaluate_cancellable(&inputs, &gen_opts, &progress, &cancel);
    assert!(matches!(r, Err(EvalError::Cancelled)), "{r:?}");
    assert_eq!(stages.lock().unwrap().last().unwrap(), "PCA");

    // Without a cancel the same evaluation runs to the end.
    let all = Mutex::new(Vec::<String>::new());
    let r = evaluate_cancellable(
        &inputs,
        &gen_opts,
        &|s| all.lock().unwrap().push(s.to_string()),
        &never,
    )
    .unwrap();
    assert!(r.generated.is_some());
    assert!(all.lock().unwrap().len() > stages.lock().unwrap().len());
}
