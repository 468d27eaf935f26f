//! A cancelled evaluation stops at its next stage with `Cancelled`.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use c2s_eval::{evaluate_cancellable, EvalError, EvalInputs, GeneratedOptions};

#[test]
fn cancel_stops_at_the_next_stage() {
    let dir = tempfile::tempdir().unwrap();
    let (ds, generated, _) = common::dataset(dir.path());
    let never = AtomicBool::new(false);
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
