//! `c2s train` killed with SIGKILL mid-run resumes from its last checkpoint
//! and continues its loss curve; `c2s predict` answers with known types.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(name)
}

fn c2s() -> Command {
    Command::new(env!("CARGO_BIN_EXE_c2s"))
}

fn steps_logged(run: &Path) -> Vec<u64> {
    std::fs::read_to_string(run.join("loss_log.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| v["step"].as_u64().unwrap())
        .collect()
}

#[cfg(unix)]
#[test]
fn training_killed_mid_run_resumes_from_its_checkpoint() {
    let t = tempfile::tempdir().unwrap();
    let ds = t.path().join("ds");
    let st = c2s()
        .args([
            "convert",
            data("wu2020-tcells-200.h5ad").to_str().unwrap(),
            "-o",
            ds.to_str().unwrap(),
            "--labels",
            "cluster_orig",
        ])
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let run = t.path().join("run");
    let tiny = [
        "--layers",
        "1",
        "--width",
        "32",
        "--heads",
        "2",
        "--context",
        "128",
        "--top-k",
        "40",
        "--batch-size",
        "2",
    ];
    let args = |extra: &[&str]| {
        let mut v: Vec<String> = [
            "train",
            ds.to_str().unwrap(),
            "-o",
            run.to_str().unwrap(),
            "--max-steps",
            "40",
            "--checkpoint-every",
            "5",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.extend(tiny.iter().map(|s| s.to_string()));
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let mut child = c2s().args(args(&[])).spawn().unwrap();
    // Kill it once a checkpoint exists and training went on past it.
    let start = Instant::now();
    loop {
        let steps = steps_logged(&run);
        if run.join("checkpoint").is_dir() && steps.len() >= 7 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "training made no progress"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "training ended before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let before = steps_logged(&run);
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(run.join("checkpoint/trainer_state.json")).unwrap(),
    )
    .unwrap();
    let checkpoint_step = state["step"].as_u64().unwrap();
    assert!(checkpoint_step >= 5 && checkpoint_step % 5 == 0);
    assert!(!run.join("model").exists());

    // Without --resume the run folder is protected.
    let o = c2s().args(args(&[])).output().unwrap();
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("--resume"));

    let o = c2s().args(args(&["--resume", "--json"])).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        summary["resumed_from_step"].as_u64().unwrap(),
        checkpoint_step
    );
    assert_eq!(summary["steps"], 40);
    // The loss curve continues: the new entries start right after the checkpoint.
    let after = steps_logged(&run);
    let new = &after[before.len()..];
    assert_eq!(new.first().copied(), Some(checkpoint_step + 1));
    assert_eq!(new.last().copied(), Some(40));
    assert!(run.join("model/c2s.json").is_file());

    // Predictions are always one of the learned types.
    let preds = t.path().join("preds.jsonl");
    let o = c2s()
        .args([
            "predict",
            run.join("model").to_str().unwrap(),
            ds.to_str().unwrap(),
            "--split",
            "test",
            "-o",
            preds.to_str().unwrap(),
            "--json",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let card: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("model/c2s.json")).unwrap())
            .unwrap();
    let labels: Vec<&str> = card["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let lines = std::fs::read_to_string(&preds).unwrap();
    assert_eq!(lines.lines().count(), 20);
    for l in lines.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        assert!(labels.contains(&v["predicted"].as_str().unwrap()));
        let c = v["confidence"].as_f64().unwrap();
        assert!(c > 0.0 && c <= 1.0);
    }

    // Generated cells name only known genes, each once, and reconstruct.
    let cells = t.path().join("generated.jsonl");
    let ty = labels[0];
    let o = c2s()
        .args([
            "generate",
            run.join("model").to_str().unwrap(),
            "--cell-type",
            ty,
            "-n",
            "3",
            "-o",
            cells.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout)
        .contains("100.0 % of words are known genes, 100.0 % of those are unique"));
    let text = std::fs::read_to_string(&cells).unwrap();
    assert_eq!(text.lines().count(), 3);
    for l in text.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        assert_eq!(v["cell_type"], ty);
    }
    let o = c2s()
        .args([
            "reconstruct",
            cells.to_str().unwrap(),
            "--dataset",
            ds.to_str().unwrap(),
            "-o",
            t.path().join("gen.h5ad").to_str().unwrap(),
            "--json",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (v["valid_share"].as_f64(), v["unique_share"].as_f64()),
        (Some(1.0), Some(1.0))
    );
    // Embeddings: one row per cell of the split, with the cell names.
    let emb = t.path().join("emb.safetensors");
    let o = c2s()
        .args([
            "embed",
            run.join("model").to_str().unwrap(),
            ds.to_str().unwrap(),
            "--split",
            "test",
            "-o",
            emb.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let bytes = std::fs::read(&emb).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(st.tensor("embeddings").unwrap().shape(), &[20, 32]);
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let names: Vec<String> =
        serde_json::from_str(meta.metadata().as_ref().unwrap()["cell_names"].as_str()).unwrap();
    assert_eq!(names.len(), 20);

    // An unknown type is refused with the list of known ones.
    let o = c2s()
        .args([
            "generate",
            run.join("model").to_str().unwrap(),
            "--cell-type",
            "Unicorn",
            "-o",
            cells.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("it knows"));
}
