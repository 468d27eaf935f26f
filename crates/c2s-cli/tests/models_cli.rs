//! `c2s models` against a stand-in Hub on 127.0.0.1 (HF_ENDPOINT), with the
//! Hugging Face cache in a temporary HF_HOME: the list, the licence asked
//! before a download, the download, and a task run on the model by its Hub id.

#[path = "../../c2s-model/tests/common/hub_server.rs"]
mod hub_server;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use hub_server::HubServer;

const ID: &str = "test-lab/tiny-c2s-pythia";

fn shared(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared")
        .join(path)
}

fn c2s(home: &Path, endpoint: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_c2s"))
        .args(args)
        .env("HF_HOME", home)
        .env("HF_ENDPOINT", endpoint)
        .env_remove("HF_TOKEN")
        .output()
        .unwrap()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).to_string(),
        String::from_utf8_lossy(&o.stderr).to_string(),
    )
}

/// A tiny random GPT-NeoX with the real GPT-NeoX tokenizer, as the Hub holds one.
fn tiny_pythia_files() -> Vec<(String, Vec<u8>)> {
    let dir = tempfile::tempdir().unwrap();
    let cfg = c2s_model::GptNeoxConfig::new(50304, 2048, 32, 1, 2);
    let m = c2s_model::init_any(&cfg.into(), &candle_core::Device::Cpu, 3).unwrap();
    c2s_model::save_model(dir.path(), m.model.config(), &m.vars).unwrap();
    let read = |p: PathBuf| std::fs::read(p).unwrap();
    vec![
        ("config.json".into(), read(dir.path().join("config.json"))),
        (
            "model.safetensors".into(),
            read(dir.path().join("model.safetensors")),
        ),
        (
            "tokenizer.json".into(),
            read(shared("fixtures/gpt-neox-tokenizer/tokenizer.json")),
        ),
    ]
}

#[test]
fn list_licence_download_and_use_by_hub_id() {
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("hf");
    let server = HubServer::start(ID, tiny_pythia_files());
    let ep = server.endpoint.as_str();

    // The list: every published model with what a user weighs before a download.
    let o = c2s(&home, ep, &["models", "list", "--json"]);
    assert!(o.status.success(), "{}", text(&o).1);
    let rows: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert!(rows.len() >= 7);
    for r in rows {
        assert!(r["id"].as_str().unwrap().starts_with("vandijklab/"));
        assert!(r["download_bytes"].as_u64().unwrap() > 0);
        assert!(
            r["memory_bf16_bytes"].as_u64().unwrap() * 2 == r["memory_f32_bytes"].as_u64().unwrap()
        );
        assert!(r["licence"]["url"]
            .as_str()
            .unwrap()
            .starts_with("https://"));
        assert!(r["folder"].is_null() && r["licence_accepted"] == false);
    }
    let (table, _) = text(&c2s(&home, ep, &["models"]));
    assert!(
        table.contains("C2S-Pythia-410m") && table.contains("CC-BY-NC-ND-4.0"),
        "{table}"
    );

    // Without the licence accepted: the licence shown, nothing fetched or written.
    let o = c2s(&home, ep, &["models", "download", ID]);
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(
        err.contains("has not been accepted")
            && err.contains("c2s models licence test-lab/tiny-c2s-pythia --accept"),
        "{err}"
    );
    assert!(server.log().is_empty() && !home.join("hub").exists());

    // Using it by id before download says how to get it.
    let o = c2s(&home, ep, &["models", "licence", ID, "--accept"]);
    assert!(o.status.success());
    let o = c2s(&home, ep, &["models", "path", ID]);
    assert!(!o.status.success());
    assert!(text(&o).1.contains("not downloaded"), "{}", text(&o).1);

    let o = c2s(&home, ep, &["models", "download", ID]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let folder = PathBuf::from(out.trim());
    assert!(folder.join("model.safetensors").is_file());
    assert!(folder.starts_with(home.join("hub")));
    let (path, _) = text(&c2s(&home, ep, &["models", "path", ID]));
    assert_eq!(PathBuf::from(path.trim()), folder);

    // A task takes the Hub id in place of a folder.
    let ds = t.path().join("ds");
    let o = c2s(
        &home,
        ep,
        &[
            "convert",
            shared("data/wu2020-tcells-200.h5ad").to_str().unwrap(),
            "-o",
            ds.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", text(&o).1);
    let o = c2s(
        &home,
        ep,
        &[
            "annotate",
            ID,
            ds.to_str().unwrap(),
            "--candidates",
            "T cell,B cell",
            "--limit",
            "2",
            "--genes",
            "20",
            "--json",
        ],
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let summary: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(summary["cells"], 2);
}

#[test]
fn train_downloads_a_base_named_by_hub_id_through_the_store_licence_first() {
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("hf");
    let server = HubServer::start(ID, tiny_pythia_files());
    let ep = server.endpoint.as_str();
    let p = |n: &str| t.path().join(n).to_str().unwrap().to_string();
    let convert = |out: &str, labels: &[&str]| {
        let wu = shared("data/wu2020-tcells-200.h5ad");
        let mut args = vec!["convert", wu.to_str().unwrap(), "-o", out];
        args.extend_from_slice(labels);
        let o = c2s(&home, ep, &args);
        assert!(o.status.success(), "{}", text(&o).1);
    };
    let (ds, unlabelled) = (p("ds"), p("unlabelled"));
    convert(&ds, &["--labels", "cluster_orig"]);
    convert(&unlabelled, &[]);
    // A 2-step run on `dataset` into `run`, fine-tuning `base` from `hub`.
    let train_on = |hub: &str, dataset: &str, run: &str, base: &str, extra: &[&str]| {
        let mut args = vec!["train", dataset, "-o", run, "--base", base];
        args.extend_from_slice(&["--max-steps", "2", "--top-k", "20", "--batch-size", "4"]);
        args.extend_from_slice(extra);
        c2s(&home, hub, &args)
    };
    let run = p("run");
    let train = |extra: &[&str]| train_on(ep, &ds, &run, ID, extra);
    // The dataset is checked first: a dataset without labels fetches nothing.
    let o = train_on(ep, &unlabelled, &run, ID, &[]);
    assert!(!o.status.success());
    assert!(text(&o).1.contains("no label column"), "{}", text(&o).1);
    assert!(server.log().is_empty(), "{:?}", server.log());
    // The licence first: shown, nothing fetched, no run started.
    let o = train(&[]);
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(
        err.contains("Licence of test-lab/tiny-c2s-pythia")
            && err.contains("has not been accepted"),
        "{err}"
    );
    assert!(server.log().is_empty(), "{:?}", server.log());
    assert!(!t.path().join("run").exists());
    // Accepted: downloaded into the cache as `c2s models download` does, then trained.
    let o = train(&["--accept-licence"]);
    let (_, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("Downloading test-lab/tiny-c2s-pythia"),
        "{err}"
    );
    let o = c2s(&home, ep, &["models", "path", ID]);
    let folder = PathBuf::from(text(&o).0.trim());
    assert!(folder.starts_with(home.join("hub")), "{folder:?}");
    let config = std::fs::read_to_string(t.path().join("run/model/config.json")).unwrap();
    assert!(config.contains("\"gpt_neox\""), "{config}");
    // A second run finds it in the cache: nothing fetched again.
    server.clear_log();
    std::fs::remove_dir_all(t.path().join("run")).unwrap();
    let o = train(&[]);
    assert!(o.status.success(), "{}", text(&o).1);
    assert!(
        server.log().iter().all(|l| !l.contains("/resolve/")),
        "{:?}",
        server.log()
    );

    // A published model named without its owner: --accept-licence accepts
    // its licence, then it is downloaded and trained.
    let published = "vandijklab/C2S-Pythia-410m-cell-type-prediction";
    let hub = HubServer::start(published, tiny_pythia_files());
    let (run2, name) = (p("run2"), "C2S-Pythia-410m-cell-type-prediction");
    let train2 = |extra: &[&str]| train_on(&hub.endpoint, &ds, &run2, name, extra);
    let o = train2(&[]);
    assert!(!o.status.success());
    assert!(
        text(&o).1.contains("has not been accepted"),
        "{}",
        text(&o).1
    );
    assert!(hub.log().is_empty(), "{:?}", hub.log());
    let o = train2(&["--accept-licence"]);
    let (_, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains(&format!("Downloading {published}")), "{err}");
    assert!(t.path().join("run2/model/config.json").is_file());
}
