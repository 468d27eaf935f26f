//! The model store against a stand-in Hub on 127.0.0.1 serving a tiny
//! published-layout GPT-NeoX: progress, resume after an interruption,
//! cancel, a corrupt file refused, the licence asked first, offline said
//! plainly, and the Hugging Face cache layout transformers reads.

#[path = "common/hub_server.rs"]
mod hub_server;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use c2s_model::hub::{DownloadProgress, ModelStore};
use c2s_model::ModelError;
use hub_server::{HubServer, COMMIT};

const ID: &str = "test-lab/tiny-c2s-pythia";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
}

/// A tiny random GPT-NeoX with the real GPT-NeoX tokenizer, in the layout of
/// the published C2S-Pythia folders (made once per test binary).
fn model_files() -> Vec<(String, Vec<u8>)> {
    static FILES: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    FILES
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let tok = fixtures().join("gpt-neox-tokenizer/tokenizer.json");
            let vocab = c2s_model::tokenizer::load_tokenizer(&tok)
                .unwrap()
                .get_vocab_size(true)
                .div_ceil(128)
                * 128;
            let cfg = c2s_model::GptNeoxConfig::new(vocab, 2048, 32, 1, 2);
            let m = c2s_model::init_any(&cfg.into(), &candle_core::Device::Cpu, 5).unwrap();
            c2s_model::save_model(dir.path(), m.model.config(), &m.vars).unwrap();
            let read =
                |p: PathBuf| std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            vec![
                ("config.json".into(), read(dir.path().join("config.json"))),
                (
                    "generation_config.json".into(),
                    read(fixtures().join("tiny-gpt-neox/generation_config.json")),
                ),
                (
                    "model.safetensors".into(),
                    read(dir.path().join("model.safetensors")),
                ),
                ("tokenizer.json".into(), read(tok)),
                // Not read by C2S Studio: must not be downloaded.
                ("pytorch_model.bin".into(), vec![1, 2, 3]),
            ]
        })
        .clone()
}

fn total_bytes() -> u64 {
    model_files()
        .iter()
        .filter(|(n, _)| n != "pytorch_model.bin")
        .map(|(_, b)| b.len() as u64)
        .sum()
}

struct Setup {
    _tmp: tempfile::TempDir,
    cache: PathBuf,
    store: ModelStore,
    server: HubServer,
}

fn setup() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("huggingface/hub");
    let server = HubServer::start(ID, model_files());
    let store = ModelStore::new(cache.clone(), server.endpoint.clone());
    Setup {
        _tmp: tmp,
        cache,
        store,
        server,
    }
}

fn download(
    store: &ModelStore,
    cancel: &AtomicBool,
) -> (Result<PathBuf, ModelError>, Vec<DownloadProgress>) {
    let mut seen = Vec::new();
    let r = store.download(ID, &mut |p| seen.push(p.clone()), cancel);
    (r, seen)
}

fn repo_dir(cache: &Path) -> PathBuf {
    cache.join("models--test-lab--tiny-c2s-pythia")
}

fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path().strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn download_reports_progress_and_lays_out_the_cache_as_transformers_does() {
    let s = setup();
    s.store.accept_licence(ID).unwrap();
    let (folder, seen) = download(&s.store, &AtomicBool::new(false));
    let folder = folder.unwrap();
    assert_eq!(folder, repo_dir(&s.cache).join("snapshots").join(COMMIT));
    // Progress never goes back and ends at the total.
    assert!(seen.len() >= 4, "{seen:?}");
    assert!(seen.windows(2).all(|w| w[0].done_bytes <= w[1].done_bytes));
    let last = seen.last().unwrap();
    assert_eq!(
        (last.done_bytes, last.total_bytes),
        (total_bytes(), total_bytes())
    );
    // Files as served; the .bin not fetched; huggingface_hub's layout.
    for (name, bytes) in model_files() {
        let p = folder.join(&name);
        if name == "pytorch_model.bin" {
            assert!(!p.exists());
        } else {
            assert_eq!(std::fs::read(&p).unwrap(), bytes, "{name}");
        }
    }
    let r = repo_dir(&s.cache);
    assert_eq!(
        std::fs::read_to_string(r.join("refs/main")).unwrap(),
        COMMIT
    );
    #[cfg(unix)]
    assert!(std::fs::read_link(folder.join("model.safetensors"))
        .unwrap()
        .starts_with("../../blobs"));
    assert_eq!(s.store.local_folder(ID), Some(folder.clone()));
    assert_eq!(s.store.model_for_use(ID).unwrap(), folder);
    // Tasks name a model by folder or id: a downloaded id resolves, a typo in
    // a path is said as one, a published id asks for its licence.
    assert_eq!(s.store.resolve(Path::new(ID)).unwrap(), folder);
    assert_eq!(s.store.resolve(&folder).unwrap(), folder);
    let e = s
        .store
        .resolve(Path::new("runs/model"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("no such model folder"), "{e}");
    let e = s
        .store
        .resolve(Path::new("C2S-Pythia-410m-cell-type-prediction"))
        .unwrap_err();
    assert!(matches!(e, ModelError::LicenceNotAccepted { .. }), "{e}");
    // The folder is a model the engine describes and loads.
    let d = c2s_model::hub::describe_folder(&folder).unwrap();
    assert_eq!(d.family, c2s_model::Family::GptNeox);
    assert!(d.published.is_none(), "not a catalogue model");
    assert_eq!(d.tasks.len(), 5);
    assert!(d.parameters > 3_000_000);
    let m = c2s_model::published::PublishedModel::load(&folder).unwrap();
    assert_eq!(m.family(), c2s_model::Family::GptNeox);
    // A second download asks only what the model holds; nothing is fetched again.
    s.server.clear_log();
    let (again, _) = download(&s.store, &AtomicBool::new(false));
    assert_eq!(again.unwrap(), folder);
    assert!(
        s.server.log().iter().all(|l| !l.contains("/resolve/")),
        "{:?}",
        s.server.log()
    );
}

#[test]
fn an_interrupted_download_resumes_where_it_stopped() {
    let s = setup();
    s.store.accept_licence(ID).unwrap();
    // config.json comes first; the cut falls in the weights.
    let weights_len = model_files()[2].1.len() as u64;
    let cut = 300_000usize;
    // Cut only the weights: let the small files through first.
    let mut cut_armed = false;
    let mut seen = Vec::new();
    let err = s
        .store
        .download(
            ID,
            &mut |p| {
                seen.push(p.clone());
                if !cut_armed && p.file == "generation_config.json" {
                    cut_armed = true;
                    s.server.behave(|b| b.cut_after = Some(cut));
                }
            },
            &AtomicBool::new(false),
        )
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("model.safetensors") && text.contains("resumes"),
        "{text}"
    );
    assert!(s.store.local_folder(ID).is_none());
    assert!(!repo_dir(&s.cache).join("refs").exists());
    assert!(!repo_dir(&s.cache).join("snapshots").exists());
    assert_eq!(s.store.status(ID).partial_bytes, cut as u64);
    // The next try asks for the rest only and ends with the whole file.
    s.server.clear_log();
    let (folder, _) = download(&s.store, &AtomicBool::new(false));
    let folder = folder.unwrap();
    let asked = s.server.log();
    assert!(
        asked.iter().any(
            |l| l.contains("model.safetensors") && l.ends_with(&format!("Range: bytes={cut}-"))
        ),
        "{asked:?}"
    );
    assert!(
        asked.iter().all(|l| !l.contains("/config.json")),
        "whole files are not fetched again: {asked:?}"
    );
    assert_eq!(
        std::fs::metadata(folder.join("model.safetensors"))
            .unwrap()
            .len(),
        weights_len
    );
    assert_eq!(s.store.status(ID).partial_bytes, 0);
    c2s_model::published::PublishedModel::load(&folder).unwrap();
}

#[test]
fn cancel_stops_the_download_and_keeps_what_arrived() {
    let s = setup();
    s.store.accept_licence(ID).unwrap();
    s.server.behave(|b| b.trickle = Some(16 * 1024));
    let cancel = AtomicBool::new(false);
    let err = s
        .store
        .download(
            ID,
            &mut |p| {
                if p.file == "model.safetensors" && p.done_bytes > 0 {
                    cancel.store(true, Ordering::Relaxed);
                }
            },
            &cancel,
        )
        .unwrap_err();
    assert!(matches!(err, ModelError::Cancelled), "{err}");
    let partial = s.store.status(ID).partial_bytes;
    assert!(partial > 0, "what arrived is kept");
    assert!(s.store.local_folder(ID).is_none());
    assert!(!repo_dir(&s.cache).join("refs").exists());
    s.server.behave(|b| b.trickle = None);
    let (folder, _) = download(&s.store, &AtomicBool::new(false));
    c2s_model::published::PublishedModel::load(&folder.unwrap()).unwrap();
}

#[test]
fn a_corrupt_file_is_refused_and_nothing_is_kept() {
    let s = setup();
    s.store.accept_licence(ID).unwrap();
    s.server.behave(|b| b.corrupt = true);
    let (r, _) = download(&s.store, &AtomicBool::new(false));
    let text = r.unwrap_err().to_string();
    assert!(
        text.contains("model.safetensors") && text.contains("corrupt") && text.contains("SHA-256"),
        "{text}"
    );
    let left = files_under(&repo_dir(&s.cache));
    assert!(
        left.iter()
            .all(|f| !f.contains(".part") && !f.starts_with("snapshots") && !f.starts_with("refs")),
        "{left:?}"
    );
    assert!(s.store.local_folder(ID).is_none());
    // A good copy afterwards downloads whole.
    s.server.behave(|b| b.corrupt = false);
    let (folder, _) = download(&s.store, &AtomicBool::new(false));
    assert!(folder.is_ok());
}

#[test]
fn the_licence_is_asked_before_anything_is_fetched_or_written() {
    let s = setup();
    assert!(!s.store.licence_accepted(ID));
    let (r, seen) = download(&s.store, &AtomicBool::new(false));
    let err = r.unwrap_err();
    assert!(
        matches!(err, ModelError::LicenceNotAccepted { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("accept"), "{err}");
    assert!(seen.is_empty());
    assert!(s.server.log().is_empty(), "{:?}", s.server.log());
    assert!(!s.cache.exists(), "nothing written");
    let use_err = s.store.model_for_use(ID).unwrap_err();
    assert!(matches!(use_err, ModelError::LicenceNotAccepted { .. }));
    s.store.accept_licence(ID).unwrap();
    assert!(s.store.licence_accepted(ID));
    // Accepted but not downloaded: said so, with the way to download.
    let text = s.store.model_for_use(ID).unwrap_err().to_string();
    assert!(
        text.contains("not downloaded") && text.contains("c2s models download"),
        "{text}"
    );
    // A catalogue model's acceptance is recorded under its full id.
    let published = "vandijklab/C2S-Pythia-410m-cell-type-prediction";
    assert!(!s.store.licence_accepted(published));
    s.store
        .accept_licence("c2s-pythia-410m-cell-type-prediction")
        .unwrap();
    assert!(s.store.licence_accepted(published));
}

#[test]
fn a_base_model_named_by_its_hub_id_is_used_once_downloaded_never_fetched_by_training() {
    use c2s_model::pretrained::resolve;
    let s = setup();
    // Not there yet: said so (the CLI then downloads it), nothing fetched.
    let e = resolve(&s.store, ID).unwrap_err();
    assert!(
        matches!(&e, ModelError::NotDownloaded { id } if id == ID),
        "{e}"
    );
    assert!(
        e.to_string()
            .contains("c2s models download test-lab/tiny-c2s-pythia"),
        "{e}"
    );
    assert!(s.server.log().is_empty(), "{:?}", s.server.log());
    // A path is never taken for an id, nor a published model used without
    // its licence.
    let e = resolve(&s.store, "a/b/c").unwrap_err().to_string();
    assert!(e.contains("no such folder"), "{e}");
    let e = resolve(&s.store, "C2S-Pythia-410m-cell-type-prediction").unwrap_err();
    assert!(matches!(e, ModelError::LicenceNotAccepted { .. }), "{e}");
    // Downloaded through the store: the cached folder.
    s.store.accept_licence(ID).unwrap();
    let (folder, _) = download(&s.store, &AtomicBool::new(false));
    assert_eq!(resolve(&s.store, ID).unwrap(), folder.unwrap());
}

#[test]
fn offline_is_said_with_the_folder_route() {
    let tmp = tempfile::tempdir().unwrap();
    let store = ModelStore::new(tmp.path().join("hub"), HubServer::unreachable());
    store.accept_licence(ID).unwrap();
    let (r, _) = download(&store, &AtomicBool::new(false));
    let err = r.unwrap_err();
    assert!(matches!(err, ModelError::Offline { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("offline") && text.contains("folder"),
        "{text}"
    );
    assert!(!tmp.path().join("hub").exists(), "nothing written");
}

#[test]
fn a_model_without_safetensors_or_on_no_hub_is_refused_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let server = HubServer::start(
        ID,
        vec![
            ("config.json".into(), b"{}".to_vec()),
            ("pytorch_model.bin".into(), vec![0; 8]),
        ],
    );
    let store = ModelStore::new(tmp.path().join("hub"), server.endpoint.clone());
    store.accept_licence(ID).unwrap();
    let text = store
        .download(ID, &mut |_| {}, &AtomicBool::new(false))
        .unwrap_err()
        .to_string();
    assert!(text.contains("no safetensors"), "{text}");
    store.accept_licence("test-lab/other").unwrap();
    let text = store
        .download("test-lab/other", &mut |_| {}, &AtomicBool::new(false))
        .unwrap_err()
        .to_string();
    assert!(text.contains("has no model"), "{text}");
}

#[test]
fn a_folder_is_described_or_refused_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    // A published model's download is recognised from its cache path.
    let snap = tmp
        .path()
        .join("models--vandijklab--C2S-Pythia-410m-cell-type-prediction/snapshots/abc");
    std::fs::create_dir_all(&snap).unwrap();
    for (name, bytes) in model_files() {
        std::fs::write(snap.join(name), bytes).unwrap();
    }
    let d = c2s_model::hub::describe_folder(&snap).unwrap();
    assert_eq!(
        d.published.map(|e| e.id).as_deref(),
        Some("vandijklab/C2S-Pythia-410m-cell-type-prediction")
    );
    assert_eq!(
        d.tasks,
        [c2s_model::published_prompts::PublishedTask::CellTypePrediction]
    );
    // No tokenizer; an unknown family: each named.
    std::fs::remove_file(snap.join("tokenizer.json")).unwrap();
    let e = c2s_model::hub::describe_folder(&snap)
        .unwrap_err()
        .to_string();
    assert!(e.contains("tokenizer.json"), "{e}");
    let cfg = snap.join("config.json");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("gpt_neox", "llama");
    std::fs::write(&cfg, text).unwrap();
    let e = c2s_model::hub::describe_folder(&snap)
        .unwrap_err()
        .to_string();
    assert!(e.contains("llama"), "{e}");
}
