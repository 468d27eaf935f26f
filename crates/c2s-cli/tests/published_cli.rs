//! `c2s annotate`, `describe`, `generate` and `embed` with a model in the
//! published C2S-Pythia layout: a tiny random GPT-NeoX with the real
//! GPT-NeoX tokenizer, saved as transformers saves one.

use std::path::{Path, PathBuf};
use std::process::Command;

fn shared(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared")
        .join(path)
}

fn c2s() -> Command {
    Command::new(env!("CARGO_BIN_EXE_c2s"))
}

fn run(args: &[&str]) -> (String, String) {
    let o = c2s().args(args).output().unwrap();
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout).to_string(),
        String::from_utf8_lossy(&o.stderr).to_string(),
    );
    assert!(o.status.success(), "c2s {args:?} failed:\n{err}");
    (out, err)
}

/// A tiny GPT-NeoX in Pythia's layout (50,304 embedding rows for the
/// tokenizer's 50,277 tokens), as a published C2S-Pythia folder holds it.
fn tiny_pythia(dir: &Path) {
    let cfg = c2s_model::GptNeoxConfig::new(50304, 2048, 32, 1, 2);
    let m = c2s_model::init_any(&cfg.into(), &candle_core::Device::Cpu, 3).unwrap();
    c2s_model::save_model(dir, m.model.config(), &m.vars).unwrap();
    std::fs::copy(
        shared("fixtures/gpt-neox-tokenizer/tokenizer.json"),
        dir.join("tokenizer.json"),
    )
    .unwrap();
}

#[test]
fn published_models_annotate_describe_generate_and_embed() {
    let t = tempfile::tempdir().unwrap();
    let p = |n: &str| t.path().join(n).to_str().unwrap().to_string();
    let model = t.path().join("pythia");
    tiny_pythia(&model);
    run(&[
        "convert",
        shared("data/wu2020-tcells-200.h5ad").to_str().unwrap(),
        "-o",
        &p("ds"),
        "--labels",
        "cluster_orig",
    ]);
    let labels: std::collections::BTreeSet<String> =
        c2s_data::dataset::read_sentences(&t.path().join("ds"))
            .unwrap()
            .iter()
            .filter_map(|r| r.label("cluster_orig").map(str::to_string))
            .collect();

    // Scored: every answer is a candidate, with a confidence; accuracy is
    // measured against the column the candidates came from.
    let (out, err) = run(&[
        "annotate",
        &p("pythia"),
        &p("ds"),
        "--candidates-from",
        "cluster_orig",
        "--limit",
        "4",
        "--genes",
        "30",
        "-o",
        &p("preds.jsonl"),
        "--json",
    ]);
    assert!(err.contains("GPT-NeoX"), "{err}");
    let summary: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(summary["cells"], 4);
    assert_eq!(summary["with_labels"], 4);
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(t.path().join("preds.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    for l in &lines {
        assert!(labels.contains(l["predicted"].as_str().unwrap()), "{l}");
        let c = l["confidence"].as_f64().unwrap();
        assert!(c > 0.0 && c <= 1.0);
    }
    // Free answers map to the nearest of a typed list.
    run(&[
        "annotate",
        &p("pythia"),
        &p("ds"),
        "--candidates",
        "B cell,T cell",
        "--limit",
        "1",
        "--genes",
        "10",
        "--free",
        "-o",
        &p("free.jsonl"),
    ]);
    let free: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(t.path().join("free.jsonl"))
            .unwrap()
            .trim(),
    )
    .unwrap();
    assert!(
        ["B cell", "T cell"].contains(&free["predicted"].as_str().unwrap()),
        "{free}"
    );
    assert!(free["answer"].is_string());

    // By a vote within clusters: every cell of a cluster gets its answer.
    run(&[
        "annotate",
        &p("pythia"),
        &p("ds"),
        "--candidates",
        "B cell,T cell,NK cell",
        "--vote-by",
        "cluster_orig",
        "--per-group",
        "2",
        "--limit",
        "30",
        "--genes",
        "10",
        "-o",
        &p("votes.jsonl"),
    ]);
    let records = c2s_data::dataset::read_sentences(&t.path().join("ds")).unwrap();
    let mut by_cluster: std::collections::HashMap<String, String> = Default::default();
    let votes = std::fs::read_to_string(t.path().join("votes.jsonl")).unwrap();
    assert_eq!(votes.lines().count(), 30);
    for l in votes.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        let r = records
            .iter()
            .find(|r| r.cell_name == v["cell_name"])
            .unwrap();
        let cluster = r.label("cluster_orig").unwrap().to_string();
        let predicted = v["predicted"].as_str().unwrap().to_string();
        assert_eq!(
            by_cluster.entry(cluster).or_insert(predicted.clone()),
            &predicted
        );
        let share = v["confidence"].as_f64().unwrap();
        assert!(share > 0.0 && share <= 1.0, "{v}");
    }

    // The tissue of a group of cells.
    let (out, _) = run(&[
        "describe",
        &p("pythia"),
        &p("ds"),
        "--task",
        "tissue",
        "--cells",
        "3",
        "--genes",
        "10",
        "--max-tokens",
        "4",
        "--json",
    ]);
    let answer: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(answer["cells"], 3);
    assert_eq!(answer["task"], "tissue_prediction");

    // Generated cells of a type, with shares against the dataset's genes.
    let (out, _) = run(&[
        "generate",
        &p("pythia"),
        "--cell-type",
        "B cell",
        "-n",
        "2",
        "--genes",
        "5",
        "--dataset",
        &p("ds"),
        "-o",
        &p("cells.jsonl"),
    ]);
    assert!(out.contains("Wrote 2 cells"), "{out}");
    let cells = std::fs::read_to_string(t.path().join("cells.jsonl")).unwrap();
    assert_eq!(cells.lines().count(), 2);
    for l in cells.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        assert_eq!(v["cell_type"], "B cell");
        let s = v["cell_sentence"].as_str().unwrap();
        assert_eq!(s, s.to_uppercase());
    }
    // Groups of cells of a tissue (a random model writes no "Cell i:"
    // markers, so the file may hold no cells; the run and its file must).
    let (out, _) = run(&[
        "generate",
        &p("pythia"),
        "--tissue",
        "lung",
        "-n",
        "1",
        "--group-cells",
        "2",
        "--genes",
        "4",
        "-o",
        &p("groups.jsonl"),
    ]);
    assert!(out.contains("Wrote"), "{out}");
    assert!(t.path().join("groups.jsonl").is_file());
    let o = c2s()
        .args([
            "generate",
            &p("pythia"),
            "--tissue",
            "lung",
            "--cell-type",
            "B cell",
            "-o",
            &p("x.jsonl"),
        ])
        .output()
        .unwrap();
    assert!(
        !o.status.success(),
        "--tissue and --cell-type together are refused"
    );
    // Guidance needs cells of no given type, which the published prompts lack.
    let o = c2s()
        .args([
            "generate",
            &p("pythia"),
            "--cell-type",
            "B cell",
            "--guidance",
            "2",
        ])
        .args(["-o", &p("guided.jsonl")])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--guidance needs a model trained here"));

    // Embeddings of the test split, as wide as the model.
    run(&[
        "embed",
        &p("pythia"),
        &p("ds"),
        "--split",
        "test",
        "--genes",
        "10",
        "-o",
        &p("emb.safetensors"),
    ]);
    let e =
        candle_core::safetensors::load(t.path().join("emb.safetensors"), &candle_core::Device::Cpu)
            .unwrap();
    assert_eq!(e["embeddings"].dims()[1], 32);
}

#[test]
fn describe_refuses_a_larger_tokenizer_and_a_group_of_no_cells() {
    let t = tempfile::tempdir().unwrap();
    let model = t.path().join("m");
    let cfg = c2s_model::GptNeoxConfig::new(512, 128, 16, 1, 2);
    let m = c2s_model::init_any(&cfg.into(), &candle_core::Device::Cpu, 3).unwrap();
    c2s_model::save_model(&model, m.model.config(), &m.vars).unwrap();
    std::fs::copy(
        shared("fixtures/gpt-neox-tokenizer/tokenizer.json"),
        model.join("tokenizer.json"),
    )
    .unwrap();
    let ds = t.path().join("ds");
    let conv = c2s()
        .args([
            "convert",
            shared("data/wu2020-tcells-200.h5ad").to_str().unwrap(),
            "-o",
            ds.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(conv.status.success());
    let o = c2s()
        .args(["describe", model.to_str().unwrap(), ds.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("tokenizer.json") && err.contains("50277") && err.contains("512"),
        "{err}"
    );
    // A group of no cells is refused before the model is read.
    let o = c2s()
        .args([
            "describe",
            model.to_str().unwrap(),
            ds.to_str().unwrap(),
            "--cells",
            "0",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("--cells must be at least 1"), "{err}");
}

/// A published GPT-NeoX fine-tuned on the scientist's labels keeps the
/// published prompts (its card says so) and predicts with them.
#[test]
fn fine_tuning_a_published_model_keeps_its_prompts() {
    let t = tempfile::tempdir().unwrap();
    let p = |n: &str| t.path().join(n).to_str().unwrap().to_string();
    tiny_pythia(&t.path().join("pythia"));
    run(&[
        "convert",
        shared("data/wu2020-tcells-200.h5ad").to_str().unwrap(),
        "-o",
        &p("ds"),
        "--labels",
        "cluster_orig",
    ]);
    run(&[
        "train",
        &p("ds"),
        "-o",
        &p("run"),
        "--base",
        &p("pythia"),
        "--max-steps",
        "2",
        "--top-k",
        "20",
        "--batch-size",
        "4",
    ]);
    let card: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(t.path().join("run/model/c2s.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(card["prompt_style"], "published");
    let config = std::fs::read_to_string(t.path().join("run/model/config.json")).unwrap();
    assert!(config.contains("\"gpt_neox\""), "{config}");
    let (out, _) = run(&[
        "predict",
        &p("run/model"),
        &p("ds"),
        "--limit",
        "3",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["cells"], 3);
    assert_eq!(v["valid_answers"], 3);
}
