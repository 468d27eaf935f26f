//! Training on real cells (the demo dataset's reference sentences): the loss
//! falls, and a run cancelled mid-way resumes to exactly the same model.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use c2s_model::prompts::{Task, Templates};
use c2s_model::tokenizer::gene_tokenizer;
use c2s_model::train::{train, CellRecord, TrainOptions};
use c2s_model::{init_model, load_model, Gpt2Config};
use candle_core::Tensor;

mod common;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures")
        .join(name)
}

fn cells(n: usize) -> Vec<CellRecord> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(
        std::fs::File::open(fixture("pbmc3k-10x/sentences.jsonl.gz")).unwrap(),
    )
    .read_to_string(&mut text)
    .unwrap();
    text.lines()
        .take(n)
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            CellRecord {
                genes: v["cell_sentence"]
                    .as_str()
                    .unwrap()
                    .split(' ')
                    .take(30)
                    .map(String::from)
                    .collect(),
                expressed: v["cell_sentence"].as_str().unwrap().split(' ').count(),
                label: v["cell_type"].as_str().map(String::from),
                counts: None,
            }
        })
        .collect()
}

fn setup() -> (
    tokenizers::Tokenizer,
    Templates,
    Vec<CellRecord>,
    Gpt2Config,
) {
    let cells = cells(96);
    let templates = Templates::default_set();
    let mut genes: Vec<String> = cells.iter().flat_map(|c| c.genes.clone()).collect();
    genes.sort();
    genes.dedup();
    let labels: Vec<String> = cells.iter().filter_map(|c| c.label.clone()).collect();
    let tok = gene_tokenizer(&genes, &[templates.texts(), labels].concat()).unwrap();
    let mut cfg = Gpt2Config::new(tok.get_vocab_size(true), 96, 32, 1, 2);
    cfg.eos_token_id = Some(0);
    cfg.bos_token_id = Some(0);
    (tok, templates, cells, cfg)
}

fn opts() -> TrainOptions {
    TrainOptions {
        batch_size: 4,
        top_k: 20,
        eval_every: 5,
        checkpoint_every: 5,
        max_steps: Some(10),
        epochs: 10.0,
        patience: None,
        lr: 3e-3,
        max_val_examples: 8,
        tasks: vec![Task::CellTypePrediction, Task::CellTypeGeneration],
        ..TrainOptions::quick()
    }
}

fn logits_of(dir: &Path) -> Vec<f32> {
    let m = load_model(dir, &common::device()).unwrap().model;
    let ids = Tensor::new(vec![vec![0u32, 5, 9, 13, 20]], &common::device()).unwrap();
    m.forward(&ids, None)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

/// `cfg` with GPT-2's dropout (0.1 everywhere), as the pretrained `gpt2` has it.
fn with_dropout(mut cfg: Gpt2Config, p: f64) -> Gpt2Config {
    for k in ["attn_pdrop", "embd_pdrop", "resid_pdrop"] {
        cfg.extra.insert(k.into(), p.into());
    }
    cfg
}

fn train_steps(cfg: &Gpt2Config, steps: usize) -> Vec<f32> {
    let (tok, templates, cells, _) = setup();
    let (tr, val) = cells.split_at(80);
    let dir = tempfile::tempdir().unwrap();
    let opts = TrainOptions {
        max_steps: Some(steps),
        ..opts()
    };
    train(
        dir.path(),
        init_model(cfg, &common::device(), 7).unwrap(),
        &tok,
        &templates,
        tr,
        val,
        &opts,
        false,
        &|_| {},
        &AtomicBool::new(false),
    )
    .unwrap();
    logits_of(&dir.path().join("model"))
}

#[test]
fn dropout_is_trained_with_as_the_config_sets_it() {
    let (_, _, _, cfg) = setup();
    // Models made here say they train without dropout.
    let rates = cfg.dropout_rates();
    assert_eq!((rates.embd, rates.attn, rates.resid), (0.0, 0.0, 0.0));
    let plain = train_steps(&cfg, 3);
    let dropped = train_steps(&with_dropout(cfg.clone(), 0.1), 3);
    assert_eq!(plain, train_steps(&cfg, 3), "a seeded run is reproducible");
    assert_eq!(dropped, train_steps(&with_dropout(cfg, 0.1), 3));
    assert_ne!(plain, dropped, "dropout 0.1 changed nothing");
}

#[test]
fn a_cancelled_run_resumes_to_the_same_model() {
    let (tok, templates, cells, cfg) = setup();
    // With dropout: a resumed run draws the masks it would have drawn.
    let cfg = with_dropout(cfg, 0.1);
    let (tr, val) = cells.split_at(80);
    let never = AtomicBool::new(false);
    let straight = tempfile::tempdir().unwrap();
    let s = train(
        straight.path(),
        init_model(&cfg, &common::device(), 7).unwrap(),
        &tok,
        &templates,
        tr,
        val,
        &opts(),
        false,
        &|_| {},
        &never,
    )
    .unwrap();
    assert_eq!(s.steps, 10);
    let log = std::fs::read_to_string(straight.path().join("loss_log.jsonl")).unwrap();
    let losses: Vec<f64> = log
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["train_loss"]
                .as_f64()
                .unwrap()
        })
        .collect();
    assert!(losses[9] < losses[0], "loss did not fall: {losses:?}");

    // Same seed and data: cancel after step 7 (a cancel is a pause: it
    // checkpoints step 7, between the every-5-steps checkpoints), resume.
    let broken = tempfile::tempdir().unwrap();
    let cancel = AtomicBool::new(false);
    let stop_at_7 = |p: &c2s_model::train::TrainProgress| {
        if p.step == 7 {
            cancel.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    };
    let s = train(
        broken.path(),
        init_model(&cfg, &common::device(), 7).unwrap(),
        &tok,
        &templates,
        tr,
        val,
        &opts(),
        false,
        &stop_at_7,
        &cancel,
    )
    .unwrap();
    assert!(s.cancelled && s.steps == 7);
    assert!(!broken.path().join("model").exists());
    let s = train(
        broken.path(),
        init_model(&cfg, &common::device(), 7).unwrap(),
        &tok,
        &templates,
        tr,
        val,
        &opts(),
        true,
        &|_| {},
        &never,
    )
    .unwrap();
    assert_eq!((s.resumed_from_step, s.steps), (7, 10));
    let a = logits_of(&straight.path().join("model"));
    let b = logits_of(&broken.path().join("model"));
    let d = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    assert_eq!(d, 0.0, "resumed model differs by {d}");
    assert!(broken.path().join("model/tokenizer.json").is_file());
}

#[test]
fn an_empty_dataset_or_a_tokenizer_too_big_for_the_model_is_refused() {
    let (tok, templates, cells, mut cfg) = setup();
    let never = AtomicBool::new(false);
    let run = tempfile::tempdir().unwrap();
    let model = || init_model(&cfg, &common::device(), 1).unwrap();
    let err = train(
        run.path(),
        model(),
        &tok,
        &templates,
        &[],
        &cells,
        &opts(),
        false,
        &|_| {},
        &never,
    )
    .unwrap_err();
    assert!(err.to_string().contains("training set is empty"), "{err}");
    cfg.vocab_size = tok.get_vocab_size(true) - 1;
    let small = init_model(&cfg, &common::device(), 1).unwrap();
    let err = train(
        run.path(),
        small,
        &tok,
        &templates,
        &cells,
        &[],
        &opts(),
        false,
        &|_| {},
        &never,
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("tokenizer has")
            && err
                .to_string()
                .contains("tokenizer that came with the model"),
        "{err}"
    );
}
