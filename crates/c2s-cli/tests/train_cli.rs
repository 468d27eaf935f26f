//! `c2s train` killed with SIGKILL mid-run resumes from its last checkpoint
//! and continues its loss curve; `c2s predict` answers with known types.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

mod common;
use common::{one_of_two_wins, TINY_MODEL};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(name)
}

fn c2s() -> Command {
    Command::new(env!("CARGO_BIN_EXE_c2s"))
}

/// The 200-cell T-cell dataset converted into `dir/ds`, labelled by cluster.
fn convert_wu2020(dir: &Path) -> PathBuf {
    let ds = dir.join("ds");
    let o = c2s()
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
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    ds
}

/// `c2s predict` with CellTypist's refinements: answers limited to two
/// types, Unassigned under a confidence, majority voting in over-clusters,
/// and the annotated .h5ad; bad settings are refused with nothing written.
fn annotation_as_celltypist(dir: &Path, model: &Path, ds: &Path, labels: &[&str]) {
    let preds = dir.join("voted.jsonl");
    let table = dir.join("voted.csv");
    let h5ad = dir.join("voted.h5ad");
    let only = format!("{},{}", labels[0], labels[1]);
    let args = |extra: &[&str]| {
        let mut v: Vec<String> = [
            "predict",
            model.to_str().unwrap(),
            ds.to_str().unwrap(),
            "--split",
            "all",
            "-o",
            preds.to_str().unwrap(),
            "--h5ad",
            h5ad.to_str().unwrap(),
        ]
        .map(String::from)
        .to_vec();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    for (bad, says) in [
        (
            vec!["--unassigned-below", "1.5"],
            "not a share between 0 and 1",
        ),
        (vec!["--min-share", "0.5"], "only with majority voting"),
        (vec!["--only", "neuron"], "\"neuron\""),
    ] {
        let o = c2s().args(args(&bad)).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains(says), "{bad:?}: {err}");
        assert!(!preds.exists() && !h5ad.exists(), "{bad:?} wrote output");
    }
    // A threshold between the confidences, so that both kinds of answer occur.
    // By the model alone on request; by default weighed with the training
    // cells' vote, and said so.
    let weighed = "answers weighed with the types of the 5 training cells";
    let o = c2s()
        .args(args(&["--only", &only, "--model-only"]))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success() && !err.contains(weighed), "{err}");
    let alone = std::fs::read_to_string(&preds).unwrap();
    let o = c2s()
        .args(args(&["--only", &only, "--force"]))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success() && err.contains(weighed), "{err}");
    assert_ne!(std::fs::read_to_string(&preds).unwrap(), alone);
    let mut conf: Vec<f64> = std::fs::read_to_string(&preds)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["confidence"]
                .as_f64()
                .unwrap()
        })
        .collect();
    conf.sort_by(f64::total_cmp);
    let threshold = conf[conf.len() / 2];
    assert!(threshold > conf[0], "every confidence is {threshold}");
    let o = c2s()
        .args(args(&[
            "--force",
            "--only",
            &only,
            "--unassigned-below",
            &threshold.to_string(),
            "--majority-voting",
            "--min-share",
            "0.6",
            "--table",
            table.to_str().unwrap(),
        ]))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The per-cell table: a header and a row a cell, the final answer second.
    let rows: Vec<String> = std::fs::read_to_string(&table)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(rows.len(), 201);
    assert!(
        rows[0].starts_with("cell_name,c2s_cell_type,c2s_predicted_cell_type,"),
        "{}",
        rows[0]
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("Unassigned") && out.contains("over-clusters voted"),
        "{out}"
    );
    let records: Vec<serde_json::Value> = std::fs::read_to_string(&preds)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 200);
    let mut by_cluster: std::collections::BTreeMap<u64, Vec<&str>> = Default::default();
    for r in &records {
        let p = r["predicted"].as_str().unwrap();
        assert!(p == labels[0] || p == labels[1], "{p}");
        let c = r["confidence"].as_f64().unwrap();
        let a = r["assigned"].as_str().unwrap();
        assert_eq!(a, if c < threshold { "Unassigned" } else { p });
        by_cluster
            .entry(r["over_cluster"].as_u64().unwrap())
            .or_default()
            .push(a);
    }
    assert!(by_cluster.len() > 1, "one over-cluster");
    let unassigned = records
        .iter()
        .filter(|r| r["assigned"] == "Unassigned")
        .count();
    assert!(
        unassigned > 0 && unassigned < 200,
        "{unassigned} Unassigned"
    );
    // Each cluster's vote is its commonest answer, or Heterogeneous under 60 %.
    for r in &records {
        let answers = &by_cluster[&r["over_cluster"].as_u64().unwrap()];
        let count = |x: &str| answers.iter().filter(|&&a| a == x).count();
        let best = answers.iter().map(|a| count(a)).max().unwrap();
        let vote = r["majority_vote"].as_str().unwrap();
        if vote == "Heterogeneous" {
            assert!((best as f64) < 0.6 * answers.len() as f64);
        } else {
            assert_eq!(count(vote), best, "{vote} in {answers:?}");
            assert!(best as f64 >= 0.6 * answers.len() as f64);
        }
    }
    // The .h5ad holds the same answers, joined by cell name.
    let ad = c2s_data::AnnData::open(&h5ad).unwrap();
    let col = |name: &str| ad.obs.column(name).unwrap().data.texts();
    let (assigned, clusters, votes) = (
        col("c2s_assigned_cell_type"),
        col("c2s_over_clustering"),
        col("c2s_majority_voting"),
    );
    let row: std::collections::HashMap<&str, usize> = ad
        .obs
        .index
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    for r in &records {
        let i = row[r["cell_name"].as_str().unwrap()];
        assert_eq!(assigned[i].as_deref(), r["assigned"].as_str());
        assert_eq!(votes[i].as_deref(), r["majority_vote"].as_str());
        assert_eq!(clusters[i], Some(r["over_cluster"].to_string()));
    }
    // `c2s eval --answer` scores the refined answers, Unassigned and
    // Heterogeneous counting as wrong; a file without them is refused.
    for answer in ["assigned", "majority_vote"] {
        let report = dir.join(format!("report-{answer}"));
        let o = c2s()
            .args([
                "eval",
                ds.to_str().unwrap(),
                "--predictions",
                preds.to_str().unwrap(),
                "--split",
                "all",
                "--answer",
                answer,
                "-o",
                report.to_str().unwrap(),
                "--json",
            ])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let m: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let right = records.iter().filter(|r| r[answer] == r["true"]).count();
        let acc = m["prediction"]["model"]["accuracy"].as_f64().unwrap();
        assert!(
            (acc - right as f64 / 200.0).abs() < 1e-9,
            "{answer}: {acc} against {right} of 200"
        );
        let notes = m["notes"].to_string();
        assert!(
            notes.contains(&format!("scored the `{answer}` answers")),
            "{notes}"
        );
    }
    let plain = dir.join("preds.jsonl");
    let o = c2s()
        .args([
            "eval",
            ds.to_str().unwrap(),
            "--predictions",
            plain.to_str().unwrap(),
            "--answer",
            "assigned",
            "-o",
            dir.join("report-plain").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success()
            && err.contains("no `assigned` answer")
            && err.contains("--unassigned-below"),
        "{err}"
    );
}

fn steps_logged(run: &Path) -> Vec<u64> {
    std::fs::read_to_string(run.join("loss_log.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| v["step"].as_u64().unwrap())
        .collect()
}

/// Ctrl-C (SIGINT) stops predict, generate, embed and eval within a few
/// seconds: "Cancelled; nothing was written.", exit status 130, and no
/// output file, whole or partial, nor a temporary one beside it.
#[cfg(unix)]
#[test]
fn ctrl_c_stops_long_commands_and_writes_nothing() {
    use std::io::Read;
    use std::process::Stdio;
    let t = tempfile::tempdir().unwrap();
    // The demo's 2,638 cells: enough work to outlast the signal's delay.
    let ds = t.path().join("ds");
    let o = c2s()
        .args(["convert", data("pbmc3k-10x.h5ad").to_str().unwrap(), "-o"])
        .arg(&ds)
        .args(["--labels", "cell_type"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let run = t.path().join("run");
    let o = c2s()
        .arg("train")
        .arg(&ds)
        .arg("-o")
        .arg(&run)
        .args(["--max-steps", "2"])
        .args(TINY_MODEL)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let model = run.join("model");
    let preds = t.path().join("all.jsonl");
    let o = c2s()
        .arg("predict")
        .arg(&model)
        .arg(&ds)
        .args(["--split", "all", "-o"])
        .arg(&preds)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Generated cells too: eval then measures them for seconds.
    let generated = t.path().join("generated.jsonl");
    let o = c2s()
        .arg("generate")
        .arg(&model)
        .args(["-n", "200", "-o"])
        .arg(&generated)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = t.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let p = |x: &Path| x.to_str().unwrap().to_string();
    let jobs: Vec<(&str, Vec<String>, PathBuf)> = vec![
        (
            "predict",
            vec![
                "predict".into(),
                p(&model),
                p(&ds),
                "--split".into(),
                "all".into(),
                "-o".into(),
                p(&out.join("p.jsonl")),
            ],
            out.join("p.jsonl"),
        ),
        (
            "generate",
            vec![
                "generate".into(),
                p(&model),
                "-n".into(),
                "2000".into(),
                "-o".into(),
                p(&out.join("g.jsonl")),
            ],
            out.join("g.jsonl"),
        ),
        (
            "embed",
            vec![
                "embed".into(),
                p(&model),
                p(&ds),
                "--split".into(),
                "all".into(),
                "--batch-size".into(),
                "1".into(),
                "-o".into(),
                p(&out.join("e.safetensors")),
            ],
            out.join("e.safetensors"),
        ),
        (
            "eval",
            vec![
                "eval".into(),
                p(&ds),
                "--predictions".into(),
                p(&preds),
                "--generated".into(),
                p(&generated),
                "--split".into(),
                "all".into(),
                "-o".into(),
                p(&out.join("report")),
            ],
            out.join("report"),
        ),
    ];
    for (name, args, output) in jobs {
        let mut child = c2s()
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(800));
        assert!(
            child.try_wait().unwrap().is_none(),
            "{name} ended before the Ctrl-C; the test needs more work for it"
        );
        let sent = Instant::now();
        let kill = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            // Alone each stops within 0.5 s (eval, between two stages; the
            // others within 50 ms); the other tests of this file share the
            // 2 cores, hence the margin.
            assert!(
                sent.elapsed() < Duration::from_secs(2),
                "{name} still runs 2 s after Ctrl-C"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        assert_eq!(status.code(), Some(130), "{name}: {err}");
        assert!(
            err.contains("Cancelled; nothing was written."),
            "{name}: {err}"
        );
        let left: Vec<_> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert!(left.is_empty() && !output.exists(), "{name} left {left:?}");
    }
}

#[test]
fn markers_of_each_type_from_the_sentences() {
    let t = tempfile::tempdir().unwrap();
    let ds = convert_wu2020(t.path());
    let o = c2s()
        .args(["markers", ds.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let m: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    // One entry per cluster, each marker held by at least half its cells and
    // by 25 points fewer of the others, best first.
    let m = m.as_object().unwrap();
    assert_eq!(m.len(), 16);
    let mut any = 0;
    for genes in m.values() {
        let leads: Vec<f64> = genes
            .as_array()
            .unwrap()
            .iter()
            .map(|g| {
                let (i, o) = (
                    g["share_in"].as_f64().unwrap(),
                    g["share_out"].as_f64().unwrap(),
                );
                assert!(i >= 0.5 && i - o >= 0.25 - 1e-12, "{g}");
                i - o
            })
            .collect();
        assert!(leads.windows(2).all(|w| w[0] >= w[1]), "{leads:?}");
        any += leads.len();
    }
    assert!(any > 0, "no cluster has a marker");
    let o = c2s()
        .args(["markers", ds.to_str().unwrap(), "--label", "tissue"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("no cell has a `tissue` label"),
        "{err}"
    );
    // A folder that is not a converted dataset says so.
    let o = c2s()
        .args(["markers", t.path().to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("not a dataset folder made by c2s convert"),
        "{err}"
    );
}

#[test]
fn two_trainings_or_annotations_into_one_place_one_succeeds() {
    let t = tempfile::tempdir().unwrap();
    let ds = convert_wu2020(t.path());
    let run = t.path().join("run");
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let train: Vec<String> = ["train", &s(&ds), "-o", &s(&run), "--max-steps", "6"]
        .iter()
        .chain(&TINY_MODEL)
        .map(|s| s.to_string())
        .collect();
    one_of_two_wins(&train);
    // One run's loss curve, not two interleaved.
    assert_eq!(steps_logged(&run), (1..=6).collect::<Vec<u64>>());

    let preds = t.path().join("predictions.jsonl");
    let predict: Vec<String> = [
        "predict",
        &s(&run.join("model")),
        &s(&ds),
        "--split",
        "all",
        "-o",
        &s(&preds),
    ]
    .map(String::from)
    .to_vec();
    one_of_two_wins(&predict);
    // One job's records: each cell once.
    let names: Vec<String> = std::fs::read_to_string(&preds)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["cell_name"].to_string())
        .collect();
    let unique: std::collections::HashSet<&String> = names.iter().collect();
    assert_eq!(names.len(), 200);
    assert_eq!(unique.len(), 200);
    let hidden: Vec<_> = std::fs::read_dir(t.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(hidden.is_empty(), "left behind: {hidden:?}");

    // A misspelt split is refused, naming the choices, and writes nothing
    // (it used to answer for no cells: "accuracy NaN").
    let predict_to = |out: &Path, args: &[&str]| {
        c2s()
            .args(["predict", &s(&run.join("model")), &s(&ds), "-o", &s(out)])
            .args(args)
            .output()
            .unwrap()
    };
    let misspelt = t.path().join("misspelt.jsonl");
    for (bad, says) in [
        (["--split", "validaton"], "`validaton` is not a split"),
        (["--limit", "0"], "invalid value '0' for '--limit"),
    ] {
        let out = predict_to(&misspelt, &bad);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{bad:?} was taken");
        assert!(err.contains(says), "{err}");
        assert!(!misspelt.exists());
    }
    // "validation" is the validation split.
    let val = t.path().join("val.jsonl");
    let out = predict_to(&val, &["--split", "validation"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = std::fs::read_to_string(&val).unwrap();
    assert!(lines.lines().count() > 0);
    assert!(
        lines.lines().all(|l| l.contains(r#""split":"val""#)),
        "{lines}"
    );
}

#[cfg(unix)]
#[test]
fn training_killed_mid_run_resumes_from_its_checkpoint() {
    let t = tempfile::tempdir().unwrap();
    let ds = convert_wu2020(t.path());
    let run = t.path().join("run");
    let tiny = TINY_MODEL;
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
            // Thinned cells, drawn from the seed and epoch, resume too.
            "--thinning",
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
    // While it trains, a resume of the same run is refused: the two would
    // interleave checkpoints and loss logs.
    let second = c2s().args(args(&["--resume"])).output().unwrap();
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(
        !second.status.success(),
        "a second job ran on one run folder"
    );
    assert!(
        err.contains("another C2S Studio job is writing here now"),
        "{err}"
    );
    assert!(child.try_wait().unwrap().is_none(), "the first job stopped");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let before = steps_logged(&run);
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(run.join("checkpoint/trainer_state.json")).unwrap(),
    )
    .unwrap();
    let checkpoint_step = state["step"].as_u64().unwrap();
    assert!(checkpoint_step >= 5 && checkpoint_step.is_multiple_of(5));
    assert!(!run.join("model").exists());

    let request: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("run_request.json")).unwrap())
            .unwrap();
    assert_eq!(request["thinning"], true, "{request}");

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
    // The estimate from one timed step comes with the summary; resuming, it
    // is of the steps left.
    assert!(
        summary["estimated_seconds"].as_f64().unwrap() > 0.0,
        "{summary}"
    );
    let left = format!("{} of 40 steps left", 40 - checkpoint_step);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(&left),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
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
        // The one record format of the CLI and the app, every field present.
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys.len(), 9, "{keys:?}");
        for k in [
            "cell_name",
            "predicted",
            "confidence",
            "answer",
            "true",
            "split",
            "assigned",
            "over_cluster",
            "majority_vote",
        ] {
            assert!(keys.contains(&k), "{k} missing from {l}");
        }
        assert_eq!(v["split"], "test");
    }

    annotation_as_celltypist(t.path(), &run.join("model"), &ds, &labels);

    // Generated cells name only known genes, each once, and reconstruct.
    let cells = t.path().join("generated.jsonl");
    let ty = labels[0];
    // Cells of type `ty` into `out`, with `extra` settings.
    let generate_type = |out: &Path, extra: &[&str]| {
        c2s()
            .args([
                "generate",
                run.join("model").to_str().unwrap(),
                "--cell-type",
                ty,
                "-o",
                out.to_str().unwrap(),
            ])
            .args(extra)
            .output()
            .unwrap()
    };
    let o = generate_type(&cells, &["-n", "3"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout)
        .contains("100.0 % of words are known genes, 100.0 % of those are unique"));
    let text = std::fs::read_to_string(&cells).unwrap();
    assert_eq!(text.lines().count(), 3);
    for l in text.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        assert_eq!(v["cell_type"], ty);
    }
    // Cells written in a batch are the cells written one at a time.
    let one_by_one = t.path().join("generated-1.jsonl");
    let o = generate_type(&one_by_one, &["-n", "3", "--batch-size", "1"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read_to_string(&one_by_one).unwrap(), text);
    // As many cells of each type as the test cells hold (the mix `c2s eval`
    // compares them with), every name once.
    let as_test = t.path().join("as-test.jsonl");
    let o = c2s()
        .args([
            "generate",
            run.join("model").to_str().unwrap(),
            "--as-in",
            "test",
        ])
        .args([
            "--dataset",
            ds.to_str().unwrap(),
            "-o",
            as_test.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut wanted: HashMap<String, usize> = HashMap::new();
    for r in c2s_data::dataset::read_sentences(&ds).unwrap() {
        if r.label("split") == Some("test") {
            let ty = r.label("cluster_orig").unwrap().to_string();
            if labels.contains(&ty.as_str()) {
                *wanted.entry(ty).or_default() += 1;
            }
        }
    }
    let (mut got, mut names): (HashMap<String, usize>, HashSet<String>) = Default::default();
    for l in std::fs::read_to_string(&as_test).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        *got.entry(v["cell_type"].as_str().unwrap().to_string())
            .or_default() += 1;
        assert!(
            names.insert(v["cell_name"].as_str().unwrap().to_string()),
            "{l}"
        );
    }
    assert!(!got.is_empty());
    assert_eq!(got, wanted);
    let o = c2s()
        .args([
            "generate",
            run.join("model").to_str().unwrap(),
            "--as-in",
            "test",
        ])
        .args(["-o", as_test.to_str().unwrap(), "--force"])
        .output()
        .unwrap();
    assert!(!o.status.success(), "--as-in without --dataset");
    // Guided cells (classifier-free guidance) keep to known genes; a weight
    // that is negative or not a number is refused before anything is written.
    let guided = t.path().join("guided.jsonl");
    let generate_guided = |w: &str| generate_type(&guided, &["-n", "3", "--guidance", w]);
    for bad in ["-1", "nan", "inf"] {
        let o = generate_guided(bad);
        assert!(!o.status.success(), "--guidance {bad} was taken");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("guidance weight"), "{err}");
        assert!(!guided.exists());
    }
    let o = generate_guided("2.5");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout)
        .contains("100.0 % of words are known genes, 100.0 % of those are unique"));
    assert_eq!(std::fs::read_to_string(&guided).unwrap().lines().count(), 3);
    // So are sampling settings the sampler cannot honour, and no cells at all.
    let refused = t.path().join("refused.jsonl");
    let settings: [(&[&str], &str); 4] = [
        (&["--top-p", "1.5"], "top-p 1.5 is not a share"),
        (&["--top-k", "0"], "top-k 0 keeps no word"),
        (&["--temperature=-1"], "temperature -1 is not a number"),
        (&["-n", "0"], "no cells asked for"),
    ];
    for (bad, says) in settings {
        let o = generate_type(&refused, bad);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{bad:?} was taken");
        assert!(err.contains(says), "{bad:?}: {err}");
        assert!(!refused.exists());
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
    // Evaluation: predictions, generated cells and the loss log in one report.
    let report = t.path().join("report");
    let o = c2s()
        .args([
            "eval",
            ds.to_str().unwrap(),
            "--predictions",
            preds.to_str().unwrap(),
            "--generated",
            cells.to_str().unwrap(),
            "--run",
            run.to_str().unwrap(),
            "-o",
            report.to_str().unwrap(),
            "--gw-cells",
            "20",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let m: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(m["prediction"]["model"]["n_cells"], 20);
    let baselines = m["prediction"]["baselines"].as_array().unwrap();
    assert_eq!(
        baselines.len(),
        2,
        "majority and k-NN on expression: {baselines:?}"
    );
    // Each baseline is compared with the model on the same 20 cells: the
    // cells only one names right make up the gap in accuracy.
    let model_acc = m["prediction"]["model"]["accuracy"].as_f64().unwrap();
    for b in baselines {
        let p = &b["paired"];
        let gap = p["model_only"].as_i64().unwrap() - p["baseline_only"].as_i64().unwrap();
        let acc = b["accuracy"].as_f64().unwrap();
        assert!(((model_acc - acc) * 20.0 - gap as f64).abs() < 1e-9, "{b}");
        let pv = p["p_value"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&pv), "{b}");
    }
    let sets = m["generated"]["sets"].as_array().unwrap();
    assert_eq!(sets.len(), 4);
    assert_eq!(sets[0]["n_cells"], 3);
    // 20 test cells: k = 3, 5 and 10 are scored, 25 is left out.
    let ks: Vec<u64> = sets[1]["knn_accuracy"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[0].as_u64().unwrap())
        .collect();
    assert_eq!(ks, [3, 5, 10]);
    assert!(sets
        .iter()
        .all(|s| s["gene_shares"]["valid_share"].as_f64().unwrap() > 0.99));
    let ceiling_gw = sets[1]["gw_distance"].as_f64().unwrap();
    let random_gw = sets[2]["gw_distance"].as_f64().unwrap();
    assert!(
        ceiling_gw < random_gw,
        "real cells are closer to real cells than random genes are: {ceiling_gw} vs {random_gw}"
    );
    let html = std::fs::read_to_string(report.join("report.html")).unwrap();
    for needle in [
        "Cell type prediction",
        "Generated cells",
        "Training",
        "<svg",
    ] {
        assert!(html.contains(needle), "report lacks {needle}");
    }
    for plot in [
        "confusion_matrix",
        "pca",
        "umap",
        "knn_accuracy",
        "mean_expression",
        "loss_curve",
        "rank_expression_fit",
    ] {
        let png = std::fs::read(report.join(format!("plots/{plot}.png"))).unwrap();
        assert_eq!(&png[..4], b"\x89PNG", "{plot}.png");
        assert!(
            std::fs::read_to_string(report.join(format!("plots/{plot}.svg")))
                .unwrap()
                .contains("<svg")
        );
    }
    // The report is not overwritten by accident.
    let o = c2s()
        .args([
            "eval",
            ds.to_str().unwrap(),
            "--run",
            run.to_str().unwrap(),
            "-o",
            report.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("--force"));

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
            t.path().join("unicorn.jsonl").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("it knows"));

    // A damaged model folder is refused when the model loads, not a panic:
    // a card without labels, another model's tokenizer (GPT-2's 50,257).
    let broken = t.path().join("broken");
    let refused = |edit: &dyn Fn(&Path)| {
        std::fs::create_dir_all(&broken).unwrap();
        for e in std::fs::read_dir(run.join("model")).unwrap().flatten() {
            std::fs::copy(e.path(), broken.join(e.file_name())).unwrap();
        }
        edit(&broken);
        let o = c2s()
            .args(["predict", broken.to_str().unwrap(), ds.to_str().unwrap()])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(o.status.code(), Some(1), "{err}");
        err
    };
    let err = refused(&|dir| {
        let path = dir.join("c2s.json");
        let mut card: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        card["labels"] = serde_json::json!([]);
        std::fs::write(&path, card.to_string()).unwrap();
    });
    assert!(
        err.contains("c2s.json") && err.contains("lists no cell types"),
        "{err}"
    );
    let err = refused(&|dir| {
        let gpt2 = data("../fixtures/gpt2-tokenizer/tokenizer.json");
        std::fs::copy(gpt2, dir.join("tokenizer.json")).unwrap();
    });
    assert!(
        err.contains("tokenizer.json") && err.contains("50257 tokens"),
        "{err}"
    );
}

/// A pretrained GPT-2 folder as transformers' save_pretrained writes it: a
/// tiny random model with the real GPT-2 tokenizer (50,257 byte-level BPE tokens).
fn tiny_pretrained_gpt2(dir: &Path) {
    use c2s_model::tokenizer::load_tokenizer;
    let tok_src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/gpt2-tokenizer/tokenizer.json");
    let tok = load_tokenizer(&tok_src).unwrap();
    let mut cfg = c2s_model::Gpt2Config::new(tok.get_vocab_size(true), 512, 32, 1, 2);
    cfg.eos_token_id = tok.token_to_id("<|endoftext|>");
    cfg.bos_token_id = cfg.eos_token_id;
    let m = c2s_model::init_model(&cfg, &candle_core::Device::Cpu, 1).unwrap();
    c2s_model::save_model(dir, &cfg.into(), &m.vars).unwrap();
    std::fs::copy(&tok_src, dir.join("tokenizer.json")).unwrap();
}

#[test]
fn fine_tunes_a_pretrained_gpt2_folder() {
    let t = tempfile::tempdir().unwrap();
    let ds = convert_wu2020(t.path());
    let base = t.path().join("gpt2-tiny");
    tiny_pretrained_gpt2(&base);
    let run = t.path().join("run");
    let train = |extra: &[&str]| {
        let mut args = vec![
            "train",
            ds.to_str().unwrap(),
            "-o",
            run.to_str().unwrap(),
            "--base",
            base.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        c2s().args(args).output().unwrap()
    };
    // The shape is the pretrained model's.
    let o = train(&["--width", "64"]);
    assert!(
        !o.status.success()
            && String::from_utf8_lossy(&o.stderr).contains("come from the pretrained model")
    );
    let o = train(&[
        "--max-steps",
        "6",
        "--batch-size",
        "2",
        "--top-k",
        "20",
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(summary["steps"], 6);
    // The fine-tuned model keeps GPT-2's tokenizer and shape.
    let model = run.join("model");
    let tok = c2s_model::tokenizer::load_tokenizer(&model.join("tokenizer.json")).unwrap();
    assert_eq!(tok.get_vocab_size(true), 50257);
    assert!(!c2s_model::tokenizer::is_word_level(&tok));
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(model.join("config.json")).unwrap()).unwrap();
    assert_eq!(
        (cfg["n_embd"].as_u64(), cfg["vocab_size"].as_u64()),
        (Some(32), Some(50257))
    );
    // Predictions are valid labels; generation runs free, and says so.
    let preds = t.path().join("preds.jsonl");
    let o = c2s()
        .args([
            "predict",
            model.to_str().unwrap(),
            ds.to_str().unwrap(),
            "--limit",
            "3",
            "-o",
            preds.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read_to_string(&preds).unwrap().lines().count(), 3);
    let cells = t.path().join("gen.jsonl");
    let o = c2s()
        .args([
            "generate",
            model.to_str().unwrap(),
            "-n",
            "1",
            "-o",
            cells.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("generating freely"));
    assert_eq!(std::fs::read_to_string(&cells).unwrap().lines().count(), 1);
    // A folder without weights is refused with what it needs.
    std::fs::remove_file(base.join("model.safetensors")).unwrap();
    let o = c2s()
        .args([
            "train",
            ds.to_str().unwrap(),
            "-o",
            t.path().join("run2").to_str().unwrap(),
            "--base",
            base.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        !o.status.success() && String::from_utf8_lossy(&o.stderr).contains("model.safetensors")
    );
}
