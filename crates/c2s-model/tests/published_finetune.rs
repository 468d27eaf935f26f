//! A published-layout GPT-NeoX (the real GPT-NeoX tokenizer, Pythia's padded
//! vocabulary) fine-tuned here on the demo dataset's cell types, through the
//! same entry the CLI and the app use, then asked for the held-out cells'
//! types in the published models' prompt: scoring the labels with the
//! prompt's KV cache shared gives every cell the answer and the accuracy of
//! scoring each label alone, and the model beats always naming the commonest
//! type on the same cells.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use c2s_data::{convert, ConvertOptions, Job};
use c2s_model::predict::Predictor;
use c2s_model::prompts::{PromptStyle, Task, Templates};
use c2s_model::train_dataset::{prepare_training, Preset, TrainRequest};
use c2s_model::TrainedModel;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

fn demo_dataset(dir: &Path) -> PathBuf {
    let out = dir.join("demo");
    let never = AtomicBool::new(false);
    let opts = ConvertOptions {
        labels: vec!["cell_type".into()],
        ..Default::default()
    };
    let job = Job {
        progress: &|_| {},
        cancel: &never,
    };
    convert(&repo("assets/pbmc3k-10x.h5ad"), &out, &opts, &job).unwrap();
    out
}

/// A tiny random GPT-NeoX in the published C2S-Pythia layout.
fn tiny_pythia(dir: &Path) {
    let cfg = c2s_model::GptNeoxConfig::new(50304, 2048, 64, 2, 4);
    let m = c2s_model::init_any(&cfg.into(), &candle_core::Device::Cpu, 11).unwrap();
    c2s_model::save_model(dir, m.model.config(), &m.vars).unwrap();
    std::fs::copy(
        repo("../shared/fixtures/gpt-neox-tokenizer/tokenizer.json"),
        dir.join("tokenizer.json"),
    )
    .unwrap();
}

#[test]
fn annotation_with_a_shared_cache_answers_as_scoring_each_label_alone() {
    let t = tempfile::tempdir().unwrap();
    let ds = demo_dataset(t.path());
    let base = t.path().join("base");
    tiny_pythia(&base);

    let run = t.path().join("run");
    let mut req = TrainRequest::new(&ds, &run, Preset::Quick);
    req.base = Some(base.to_str().unwrap().to_string());
    req.tasks = Some(vec![Task::CellTypePrediction]);
    req.top_k = Some(12);
    req.max_steps = Some(150);
    req.batch_size = Some(16);
    // A random base learns nothing at a pretrained model's rate in a test's steps.
    req.lr = Some(3e-3);
    let prepared = prepare_training(&req).unwrap();
    let t0 = std::time::Instant::now();
    assert_eq!(prepared.options.prompt_style, PromptStyle::Published);
    let summary = prepared.run(&|_| {}, &AtomicBool::new(false)).unwrap();

    eprintln!(
        "trained {} steps in {:.1} s",
        summary.steps,
        t0.elapsed().as_secs_f64()
    );
    let t0 = std::time::Instant::now();
    let m = TrainedModel::load(&summary.model_dir).unwrap();
    assert_eq!(m.card.prompt_style, PromptStyle::Published);
    // In f32 throughout: on the CPU, inference models keep f16 weights, and
    // one-token steps (streamed) would differ from whole-prompt passes
    // (blocked) by rounding alone.
    let model = c2s_model::load_causal_lm(
        &summary.model_dir,
        &candle_core::Device::Cpu,
        candle_core::DType::F32,
    )
    .unwrap();
    let templates = Templates::default_set();
    let predictor = Predictor::new(
        &model,
        &m.tok,
        &templates,
        m.card.labels.clone(),
        &m.card.organism,
        m.card.top_k,
        m.eos,
    )
    .unwrap()
    .with_style(m.card.prompt_style)
    .unwrap();

    // Held-out cells only.
    let test: Vec<_> = c2s_data::dataset::read_sentences(&ds)
        .unwrap()
        .into_iter()
        .filter(|r| r.label("split") == Some("test"))
        .take(100)
        .collect();
    assert!(test.len() >= 100, "{} test cells", test.len());
    let (mut shared_right, mut alone_right) = (0, 0);
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for r in &test {
        let truth = r.label("cell_type").unwrap();
        *counts.entry(truth).or_default() += 1;
        let genes: Vec<&str> = r.sentence.split(' ').take(m.card.top_k).collect();
        let shared = predictor.predict(&genes).unwrap();
        let alone = predictor.predict_alone(&genes).unwrap();
        assert_eq!(shared.label, alone.label, "cell {}", r.cell_name);
        for (a, b) in shared.log_likelihoods.iter().zip(&alone.log_likelihoods) {
            assert!(
                (a - b).abs() < 1e-3,
                "cell {}: {a} against {b}",
                r.cell_name
            );
        }
        shared_right += usize::from(shared.label == truth);
        alone_right += usize::from(alone.label == truth);
    }
    assert_eq!(shared_right, alone_right);
    eprintln!("scored in {:.1} s", t0.elapsed().as_secs_f64());
    let commonest = counts.values().max().copied().unwrap();
    eprintln!(
        "accuracy on {} held-out cells: {:.3} (shared cache) = {:.3} (each label alone); commonest type: {:.3}",
        test.len(),
        shared_right as f64 / test.len() as f64,
        alone_right as f64 / test.len() as f64,
        commonest as f64 / test.len() as f64,
    );
    assert!(
        shared_right > commonest,
        "the fine-tuned model names {shared_right} of {} right, always naming the commonest type {commonest}",
        test.len()
    );
}
