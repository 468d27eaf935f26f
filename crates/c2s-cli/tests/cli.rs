//! The `c2s` binary end to end: exit codes, JSON output, files written.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::one_of_two_wins;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(name)
}

fn c2s(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_c2s"))
        .args(args)
        .output()
        .expect("c2s runs")
}

fn ok(args: &[&str]) -> String {
    let o = c2s(args);
    assert!(
        o.status.success(),
        "c2s {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// A failing command: exit code 1, an `error:` line naming `needle`, no panic.
fn fails(args: &[&str], needle: &str) {
    let o = c2s(args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "c2s {args:?}: {err}");
    assert!(
        err.starts_with("error: ") && err.contains(needle),
        "c2s {args:?}: {err}"
    );
    assert!(err.contains("hint:"), "no hint in: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn inspect_json_describes_the_demo_dataset() {
    let out = ok(&[
        "inspect",
        data("pbmc3k-10x.h5ad").to_str().unwrap(),
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["cells"], 2638);
    assert_eq!(v["genes"], 13714);
    assert_eq!(v["matrices"][0]["holds"], "raw_counts");
    assert_eq!(v["species"], "human");
    let ct = v["obs_columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "cell_type")
        .unwrap();
    assert_eq!(ct["distinct"], 8);
    assert_eq!(ct["top_values"][0], serde_json::json!(["CD4 T cell", 1140]));
    // The readable form says the same.
    let text = ok(&["inspect", data("pbmc3k-10x.h5ad").to_str().unwrap()]);
    assert!(
        text.contains("2638 cells x 13714 genes") && text.contains("raw counts"),
        "{text}"
    );
}

#[test]
fn convert_fit_and_reconstruct() {
    let t = tempfile::tempdir().unwrap();
    let ds = t.path().join("ds");
    let out = ok(&[
        "convert",
        data("wu2020-tcells-200.h5ad").to_str().unwrap(),
        "-o",
        ds.to_str().unwrap(),
        "--labels",
        "cluster_orig,source",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["cells"], 200);
    assert!(v["fit"]["slope"].as_f64().unwrap() < 0.0);
    // The printout says how long it took; the manifest, which must not
    // change from run to run, does not.
    assert!(v["seconds"].as_f64().unwrap() > 0.0, "{out}");
    let manifest = std::fs::read_to_string(ds.join("manifest.json")).unwrap();
    assert!(!manifest.contains("seconds"), "{manifest}");
    // Converting again into the same folder is refused, with the way out.
    fails(
        &[
            "convert",
            data("wu2020-tcells-200.h5ad").to_str().unwrap(),
            "-o",
            ds.to_str().unwrap(),
        ],
        "--force",
    );

    let cells = t.path().join("cells.txt");
    std::fs::write(&cells, "0\n5\n7\n").unwrap();
    let fit_json = t.path().join("fit.json");
    let out = ok(&[
        "fit",
        data("wu2020-tcells-200.h5ad").to_str().unwrap(),
        "--cells-file",
        cells.to_str().unwrap(),
        "-o",
        fit_json.to_str().unwrap(),
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["cells"], serde_json::json!([0, 5, 7]));
    assert_eq!(v["fit"]["n_cells"], 3);
    assert!(fit_json.is_file());

    let h5ad = t.path().join("rec.h5ad");
    let out = ok(&[
        "reconstruct",
        ds.to_str().unwrap(),
        "-o",
        h5ad.to_str().unwrap(),
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["cells"], 200);
    let info = ok(&["inspect", h5ad.to_str().unwrap(), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&info).unwrap();
    assert_eq!(v["cells"], 200);
    assert!(v["obs_columns"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["name"] == "cluster_orig"));
    // With a fit from `c2s fit` and a sentence file.
    let sent = t.path().join("generated.txt");
    std::fs::write(&sent, "CD3E CD8A NOTAGENE\n").unwrap();
    let out = ok(&[
        "reconstruct",
        sent.to_str().unwrap(),
        "--dataset",
        ds.to_str().unwrap(),
        "--fit",
        fit_json.to_str().unwrap(),
        "-o",
        t.path().join("gen.h5ad").to_str().unwrap(),
    ]);
    assert!(out.contains("66.7 % of words are known genes"), "{out}");
}

#[test]
fn bad_inputs_exit_with_a_clear_error() {
    let t = tempfile::tempdir().unwrap();
    let txt = t.path().join("notes.h5ad");
    std::fs::write(&txt, "not a dataset").unwrap();
    fails(&["inspect", txt.to_str().unwrap()], "not an HDF5 file");
    fails(
        &[
            "convert",
            txt.to_str().unwrap(),
            "-o",
            t.path().join("o").to_str().unwrap(),
        ],
        "not an HDF5 file",
    );
    fails(
        &["inspect", t.path().join("missing.h5ad").to_str().unwrap()],
        "missing.h5ad",
    );
    fails(
        &[
            "convert",
            data("pbmc3k-10x.h5ad").to_str().unwrap(),
            "-o",
            t.path().join("o").to_str().unwrap(),
            "--matrix",
            "raw",
        ],
        "no matrix `raw`",
    );
    assert!(!t.path().join("o").exists());
    // Settings a conversion cannot use (they converted to a fit of NaN).
    for (bad, says) in [
        ("--target-sum=0", "target sum: 0 is not a total"),
        ("--target-sum=-5", "target sum: -5 is not a total"),
        ("--target-sum=NaN", "target sum: NaN is not a total"),
        (
            "--fit-cells=0",
            "fit cells: 0 cells leave no expression fit",
        ),
    ] {
        let pbmc = data("pbmc3k-10x.h5ad");
        let o = t.path().join("o");
        fails(
            &[
                "convert",
                pbmc.to_str().unwrap(),
                "-o",
                o.to_str().unwrap(),
                bad,
            ],
            says,
        );
        assert!(!o.exists(), "{bad} left its folder");
    }
    // A damaged sentences.parquet: said briefly, as a read.
    let broken = t.path().join("broken");
    ok(&[
        "convert",
        data("wu2020-tcells-200.h5ad").to_str().unwrap(),
        "-o",
        broken.to_str().unwrap(),
    ]);
    let pq = broken.join("sentences.parquet");
    let bytes = std::fs::read(&pq).unwrap();
    std::fs::write(&pq, &bytes[..bytes.len() / 2]).unwrap(); // cut short
    let o = c2s(&["predict", "/no/model", broken.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("cannot read this Parquet file") && !err.contains("writing"),
        "{err}"
    );
    assert!(err.len() < 1000, "{} bytes of message", err.len());
    // A file where a dataset folder belongs: said, not "no label column".
    let sentences = t.path().join("sentences.txt");
    std::fs::write(&sentences, "CD3D CD8A\n").unwrap();
    let run = t.path().join("run");
    fails(
        &[
            "train",
            sentences.to_str().unwrap(),
            "-o",
            run.to_str().unwrap(),
        ],
        "this is a file; a dataset folder made by c2s convert is needed",
    );
    assert!(!run.exists(), "a refused run left its folder");
    // Settings a run cannot use: refused before any step, no folder left
    // (a batch of 0 panicked, 0 epochs "trained" a model that learned nothing).
    let ds = wu_dataset(t.path());
    let (ds, run_s) = (ds.to_str().unwrap(), run.to_str().unwrap());
    for (bad, says) in [
        (["--batch-size", "0"], "batch size 0: a run cannot use it"),
        (["--epochs", "0"], "0 epochs: a run cannot use it"),
        (["--lr", "NaN"], "learning rate NaN"),
        (
            ["--heads", "3"],
            "a width of 128 does not split into 3 heads",
        ),
    ] {
        fails(&["train", ds, "-o", run_s, bad[0], bad[1]], says);
        assert!(!run.exists(), "{bad:?} left its run folder");
    }
    fails(
        &["predict", "/no/model", t.path().to_str().unwrap()],
        "not a dataset folder made by c2s convert",
    );
    let o = c2s(&["convert", "--matrix", "nonsense", "x.h5ad", "-o", "y"]);
    assert_eq!(o.status.code(), Some(2)); // usage error from clap
}

#[test]
fn help_speaks_to_biologists() {
    let h = ok(&["convert", "--help"]);
    assert!(
        h.contains("raw counts") && h.contains("--labels") && h.contains("--min-genes"),
        "{h}"
    );
    let h = ok(&["--help"]);
    assert!(h.contains("cell sentence"), "{h}");
}

/// The 200 T cells converted into `dir/ds`, labelled by cluster.
fn wu_dataset(dir: &Path) -> PathBuf {
    let ds = dir.join("ds");
    ok(&[
        "convert",
        data("wu2020-tcells-200.h5ad").to_str().unwrap(),
        "-o",
        ds.to_str().unwrap(),
        "--labels",
        "cluster_orig",
    ]);
    ds
}

#[test]
fn eval_refuses_bad_inputs_with_a_hint() {
    let t = tempfile::tempdir().unwrap();
    let ds = wu_dataset(t.path());
    let ds_s = ds.to_str().unwrap();
    let out = t.path().join("report");
    let out_s = out.to_str().unwrap();
    fails(&["eval", ds_s, "-o", out_s], "nothing to evaluate");
    // Predictions of cells the dataset lacks are not scored (as right).
    let foreign = t.path().join("foreign.jsonl");
    std::fs::write(
        &foreign,
        "{\"cell_name\": \"not-a-cell\", \"predicted\": \"CD8\", \"true\": \"CD8\"}\n",
    )
    .unwrap();
    fails(
        &[
            "eval",
            ds_s,
            "--predictions",
            foreign.to_str().unwrap(),
            "-o",
            out_s,
        ],
        "the cell \"not-a-cell\" is not in the dataset",
    );
    assert!(!out.exists());
    let not_json = t.path().join("preds.jsonl");
    std::fs::write(
        &not_json,
        "{\"cell_name\": \"c1\", \"predicted\": \"CD8\"}\nnot json\n",
    )
    .unwrap();
    fails(
        &[
            "eval",
            ds_s,
            "--predictions",
            not_json.to_str().unwrap(),
            "-o",
            out_s,
        ],
        "line 2",
    );
    fails(
        &[
            "eval",
            t.path().to_str().unwrap(),
            "--predictions",
            not_json.to_str().unwrap(),
            "-o",
            out_s,
        ],
        "not a converted dataset",
    );
    let generated = t.path().join("gen.jsonl");
    std::fs::write(
        &generated,
        "{\"cell_sentence\": \"CD3D CD8A\", \"cell_type\": \"x\"}\n",
    )
    .unwrap();
    fails(
        &[
            "eval",
            ds_s,
            "--generated",
            generated.to_str().unwrap(),
            "--reference-split",
            "everything",
            "-o",
            out_s,
        ],
        "not a split",
    );
    let gen_s = generated.to_str().unwrap();
    for (bad, says) in [
        ("--gw-epsilon=NaN", "epsilon NaN is not a number above 0"),
        ("--top-k=0", "0 genes leave nothing to compare"),
    ] {
        fails(
            &["eval", ds_s, "--generated", gen_s, "-o", out_s, bad],
            says,
        );
    }
    std::fs::write(&generated, "").unwrap();
    fails(
        &[
            "eval",
            ds_s,
            "--generated",
            generated.to_str().unwrap(),
            "-o",
            out_s,
        ],
        "no cells",
    );
    fails(
        &[
            "eval",
            ds_s,
            "--generated",
            generated.to_str().unwrap(),
            "--label",
            "nope",
            "-o",
            out_s,
        ],
        "no label column `nope`",
    );
    assert!(!out.exists(), "no report is left behind by a failed run");

    // A source file that moved: the report is written without the parts that
    // need it, and says so.
    let preds = t.path().join("truth.jsonl");
    let lines: String = std::fs::read_to_string(ds.join("sentences.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["split"] == "test")
        .map(|v| {
            format!(
                "{}\n",
                serde_json::json!({"cell_name": v["cell_name"], "predicted": v["cluster_orig"]})
            )
        })
        .collect();
    std::fs::write(&preds, lines).unwrap();
    let json = ok(&[
        "eval",
        ds_s,
        "--predictions",
        preds.to_str().unwrap(),
        "--source",
        "/nowhere/moved.h5ad",
        "-o",
        out_s,
        "--json",
    ]);
    let m: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(m["prediction"]["model"]["accuracy"], 1.0);
    assert_eq!(
        m["prediction"]["baselines"].as_array().unwrap().len(),
        1,
        "only the majority baseline"
    );
    let notes = m["notes"].to_string();
    assert!(
        notes.contains("baseline on expression skipped")
            && notes.contains("rank-expression plot skipped"),
        "{notes}"
    );
    assert!(m["fit"].is_null() && out.join("report.html").is_file());
}

#[test]
fn eval_puts_a_list_of_real_cells_beside_the_generated_ones() {
    let t = tempfile::tempdir().unwrap();
    let ds = wu_dataset(t.path());
    let records: Vec<serde_json::Value> = std::fs::read_to_string(ds.join("sentences.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let lines = |split: &str, f: &dyn Fn(&serde_json::Value) -> String| -> String {
        records
            .iter()
            .filter(|v| v["split"] == split)
            .map(f)
            .collect()
    };
    // Validation cells stand in for generated ones.
    let generated = t.path().join("gen.jsonl");
    std::fs::write(
        &generated,
        lines("val", &|v| {
            format!(
                "{}\n",
                serde_json::json!({"cell_name": v["cell_name"], "cell_sentence": v["cell_sentence"], "cell_type": v["cluster_orig"]})
            )
        }),
    )
    .unwrap();
    let picked = t.path().join("picked.txt");
    std::fs::write(
        &picked,
        lines("train", &|v| {
            format!("{}\n", v["cell_name"].as_str().unwrap())
        }),
    )
    .unwrap();
    let n_train = records.iter().filter(|v| v["split"] == "train").count();
    let (ds_s, out) = (ds.to_str().unwrap(), t.path().join("report"));
    let json = ok(&[
        "eval",
        ds_s,
        "--generated",
        generated.to_str().unwrap(),
        "--cells",
        picked.to_str().unwrap(),
        "--no-umap",
        "-o",
        out.to_str().unwrap(),
        "--json",
    ]);
    let m: serde_json::Value = serde_json::from_str(&json).unwrap();
    let sets = m["generated"]["sets"].as_array().unwrap();
    let last = sets.last().unwrap();
    assert_eq!(last["name"], "your selection: picked");
    assert_eq!(last["n_cells"], n_train);
    // Selections go beside generated cells only.
    let preds = t.path().join("truth.jsonl");
    std::fs::write(
        &preds,
        lines("test", &|v| {
            format!(
                "{}\n",
                serde_json::json!({"cell_name": v["cell_name"], "predicted": v["cluster_orig"]})
            )
        }),
    )
    .unwrap();
    let out2 = t.path().join("report2");
    fails(
        &[
            "eval",
            ds_s,
            "--predictions",
            preds.to_str().unwrap(),
            "--cells",
            picked.to_str().unwrap(),
            "-o",
            out2.to_str().unwrap(),
        ],
        "beside generated cells",
    );
    assert!(!out2.exists());
}

/// Hidden temporary folders and files left in `dir`.
fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".") && n.contains("c2s"))
        .collect()
}

#[test]
fn force_never_deletes_what_c2s_did_not_write() {
    let t = tempfile::tempdir().unwrap();
    let (dir, s) = (t.path(), |p: &Path| p.to_str().unwrap().to_string());
    // The input inside the folder to replace, beside the user's notes.
    let project = dir.join("project");
    std::fs::create_dir(&project).unwrap();
    let input = project.join("cells.h5ad");
    std::fs::copy(data("wu2020-tcells-200.h5ad"), &input).unwrap();
    std::fs::write(project.join("notes.txt"), "mine").unwrap();
    fails(
        &["convert", &s(&input), "-o", &s(&project), "--force"],
        "holds the input",
    );
    // A folder of someone else's files, without the input.
    let other = dir.join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("notes.txt"), "mine").unwrap();
    fails(
        &["convert", &s(&input), "-o", &s(&other), "--force"],
        "replaces only a dataset folder written by c2s convert",
    );
    fails(
        &[
            "eval",
            &s(&project),
            "--predictions",
            &s(&project.join("notes.txt")),
            "-o",
            &s(&other),
            "--force",
        ],
        "replaces only a report folder",
    );
    // The input itself as the output.
    fails(
        &["convert", &s(&input), "-o", &s(&input), "--force"],
        "not a folder",
    );
    assert_eq!(
        std::fs::read(&input).unwrap(),
        std::fs::read(data("wu2020-tcells-200.h5ad")).unwrap()
    );
    assert!(project.join("notes.txt").is_file() && other.join("notes.txt").is_file());
    assert!(leftovers(&project).is_empty() && leftovers(dir).is_empty());

    // A folder c2s wrote is replaced with --force; a killed conversion's
    // hidden folder (its owner lock released) is cleared by the next run.
    let ds = dir.join("ds");
    ok(&["convert", &s(&input), "-o", &s(&ds)]);
    let dead = dir.join(".c2s-convert-killed");
    std::fs::create_dir(&dead).unwrap();
    std::fs::write(dead.join("sentences.parquet"), "half").unwrap();
    let owner = std::fs::File::create(dead.join(".c2s-owner")).unwrap();
    owner
        .set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(600))
        .unwrap();
    drop(owner);
    ok(&["convert", &s(&input), "-o", &s(&ds), "--force"]);
    assert!(!dead.exists(), "a dead job's temporary folder was kept");
    assert!(leftovers(dir).is_empty(), "{:?}", leftovers(dir));
}

/// `kill -9` in the middle of a conversion: nothing is published, and the
/// next run clears what the dead job left (its temporary folder and lock).
#[cfg(unix)]
#[test]
fn a_conversion_killed_midway_leaves_nothing_after_the_next_run() {
    use std::time::{Duration, Instant};
    let t = tempfile::tempdir().unwrap();
    let (dir, s) = (t.path(), |p: &Path| p.to_str().unwrap().to_string());
    let out = dir.join("ds");
    let input = s(&data("pbmc3k-10x.h5ad"));
    let working = |d: &Path| leftovers(d).iter().any(|n| n.starts_with(".c2s-convert-"));
    // A conversion takes about a second: should one end before it is caught
    // at work, start again.
    let mut killed = false;
    for _ in 0..5 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_c2s"))
            .args(["convert", &input, "-o", &s(&out)])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while !working(dir) && child.try_wait().unwrap().is_none() {
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "no temporary folder"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        // Into its writing: the folder exists, some files may be half done.
        std::thread::sleep(Duration::from_millis(50));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            killed = true;
            break;
        }
        std::fs::remove_dir_all(&out).unwrap();
    }
    assert!(killed, "every conversion ended before it could be killed");
    assert!(!out.exists(), "a killed conversion published its output");
    assert!(working(dir), "nothing to clear: {:?}", leftovers(dir));
    ok(&["convert", &input, "-o", &s(&out)]);
    assert!(out.join("manifest.json").is_file());
    assert!(leftovers(dir).is_empty(), "{:?}", leftovers(dir));
}

#[test]
fn two_conversions_to_one_folder_one_succeeds() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("race");
    one_of_two_wins(&[
        "convert",
        data("pbmc3k-10x.h5ad").to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(out.join("manifest.json").is_file());
    assert!(leftovers(t.path()).is_empty(), "{:?}", leftovers(t.path()));
}

#[test]
fn file_outputs_are_replaced_only_with_force_keeping_their_mode() {
    let t = tempfile::tempdir().unwrap();
    let ds = t.path().join("ds");
    ok(&[
        "convert",
        data("wu2020-tcells-200.h5ad").to_str().unwrap(),
        "-o",
        ds.to_str().unwrap(),
    ]);
    let out = t.path().join("kept.h5ad");
    std::fs::write(&out, "precious").unwrap();
    let (ds_s, out_s) = (ds.to_str().unwrap(), out.to_str().unwrap());
    fails(&["reconstruct", ds_s, "-o", out_s], "already exists");
    // Refused before any model is loaded.
    for cmd in ["predict", "embed"] {
        fails(&[cmd, "/no/model", ds_s, "-o", out_s], "already exists");
    }
    fails(&["generate", "/no/model", "-o", out_s], "already exists");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "precious");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o644)).unwrap();
        ok(&["reconstruct", ds_s, "-o", out_s, "--force"]);
        let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644, "the replaced file's mode changed");
    }
    // Two jobs writing one file at once: exactly one writes it.
    let race = t.path().join("race.h5ad");
    one_of_two_wins(&["reconstruct", ds_s, "-o", race.to_str().unwrap()]);
    assert!(leftovers(t.path()).is_empty(), "{:?}", leftovers(t.path()));
}

#[test]
fn eval_scores_predictions_on_held_out_cells_only() {
    let t = tempfile::tempdir().unwrap();
    let ds = wu_dataset(t.path());
    let ds_s = ds.to_str().unwrap();
    // Right on every training cell, wrong on every test cell: a score over
    // all cells would look good.
    let records = c2s_data::dataset::read_sentences(&ds).unwrap();
    let mut lines = String::new();
    let (mut tests, mut others) = (0, 0);
    for r in &records {
        let truth = r.label("cluster_orig").unwrap();
        let held_out = r.label("split") == Some("test");
        let predicted = if held_out { "not a type" } else { truth };
        (tests, others) = if held_out {
            (tests + 1, others)
        } else {
            (tests, others + 1)
        };
        lines.push_str(&format!(
            "{}\n",
            serde_json::json!({"cell_name": r.cell_name, "predicted": predicted, "true": truth})
        ));
    }
    let preds = t.path().join("preds.jsonl");
    std::fs::write(&preds, &lines).unwrap();
    let eval = |out: &Path, extra: &[&str]| -> serde_json::Value {
        let mut args = vec!["eval", ds_s, "--predictions", preds.to_str().unwrap()];
        args.extend(["-o", out.to_str().unwrap(), "--no-umap", "--json"]);
        args.extend(extra);
        serde_json::from_str(&ok(&args)).unwrap()
    };
    let out = t.path().join("report");
    let v = eval(&out, &[]);
    let p = &v["prediction"];
    assert_eq!(p["split"], "test");
    assert_eq!(p["model"]["n_cells"], tests);
    assert_eq!(p["left_out"], others);
    assert_eq!(p["model"]["accuracy"], 0.0);
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        html.contains(&format!(
            "{tests} held-out cells (the dataset's test split)"
        )),
        "{html}"
    );
    // All cells, when asked, and said to be no held-out figure.
    let v = eval(&t.path().join("report-all"), &["--split", "all"]);
    assert!(v["prediction"]["model"]["accuracy"].as_f64().unwrap() > 0.5);
    assert!(v["notes"].to_string().contains("not a held-out figure"));
    // Training cells are no split to score on; a file of training cells
    // only leaves nothing held out to score.
    let refused = t.path().join("refused");
    let refused_s = refused.to_str().unwrap();
    let preds_s = preds.to_str().unwrap();
    fails(
        &[
            "eval",
            ds_s,
            "--predictions",
            preds_s,
            "-o",
            refused_s,
            "--split",
            "train",
        ],
        "not a split to score predictions on",
    );
    let train_only: String = lines
        .lines()
        .zip(&records)
        .filter(|(_, r)| r.label("split") == Some("train"))
        .map(|(l, _)| format!("{l}\n"))
        .collect();
    std::fs::write(&preds, train_only).unwrap();
    fails(
        &["eval", ds_s, "--predictions", preds_s, "-o", refused_s],
        "no prediction is of a labelled test cell",
    );
    assert!(!refused.exists());
}
