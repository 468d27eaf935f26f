//! GPT-2 against outputs of Hugging Face transformers on a tiny model
//! (../shared/fixtures/tiny-gpt2) and the real GPT-2 tokenizer.

use std::path::{Path, PathBuf};

use c2s_model::generate::greedy;
use c2s_model::tokenizer::{encode, load_tokenizer};
use c2s_model::{load_model, save_model};
use candle_core::Tensor;

mod common;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures")
        .join(name)
}

fn expected() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixture("tiny-gpt2/expected.json")).unwrap())
        .unwrap()
}

fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn check_logits(dir: &Path) {
    let e = expected();
    let m = load_model(dir, &common::device()).unwrap().model;
    let rows: Vec<Vec<u32>> = e["input_ids"].as_array().unwrap().iter().map(ids).collect();
    let input = Tensor::new(rows.clone(), &common::device()).unwrap();
    let hidden = m.hidden_states(&input, None, None).unwrap();
    let logits = m.logits(&hidden).unwrap();
    let got: Vec<f32> = logits.flatten_all().unwrap().to_vec1().unwrap();
    let want: Vec<f32> = e["logits"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| {
            s.as_array().unwrap().iter().flat_map(|t| {
                t.as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_f64().unwrap() as f32)
            })
        })
        .collect();
    let d = max_abs_diff(&got, &want);
    assert!(d < 1e-4, "logits differ by {d}");
    let mean: Vec<f32> = hidden.get(0).unwrap().mean(0).unwrap().to_vec1().unwrap();
    let want_mean: Vec<f32> = e["last_hidden_state_mean"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect();
    let d = max_abs_diff(&mean, &want_mean);
    assert!(d < 1e-4, "mean last hidden state differs by {d}");
    let cont = greedy(&m, &ids(&e["greedy_prompt"]), 12, None).unwrap();
    assert_eq!(cont, ids(&e["greedy_continuation"]));
}

#[test]
fn logits_hidden_states_and_greedy_match_transformers() {
    check_logits(&fixture("tiny-gpt2"));
}

#[test]
fn a_saved_model_loads_back_identically() {
    let loaded = load_model(&fixture("tiny-gpt2"), &common::device()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    save_model(dir.path(), loaded.model.config(), &loaded.vars).unwrap();
    for f in ["config.json", "model.safetensors", "generation_config.json"] {
        assert!(dir.path().join(f).is_file(), "{f}");
    }
    assert!(std::fs::read_dir(dir.path()).unwrap().all(|e| !e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .ends_with(".tmp")));
    check_logits(dir.path());
    // transformers' loader needs the format metadata.
    let bytes = std::fs::read(dir.path().join("model.safetensors")).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    assert_eq!(
        meta.metadata()
            .as_ref()
            .unwrap()
            .get("format")
            .map(String::as_str),
        Some("pt")
    );
}

#[test]
fn bad_model_folders_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let err = load_model(dir.path(), &common::device())
        .unwrap_err()
        .to_string();
    assert!(err.contains("no config.json"), "{err}");
    std::fs::copy(
        fixture("tiny-gpt2/config.json"),
        dir.path().join("config.json"),
    )
    .unwrap();
    let err = load_model(dir.path(), &common::device())
        .unwrap_err()
        .to_string();
    assert!(err.contains("no model.safetensors"), "{err}");
    // Weights of another shape.
    std::fs::copy(
        fixture("tiny-gpt2/model.safetensors"),
        dir.path().join("model.safetensors"),
    )
    .unwrap();
    let cfg = std::fs::read_to_string(fixture("tiny-gpt2/config.json"))
        .unwrap()
        .replace("\"n_embd\": 64", "\"n_embd\": 32");
    std::fs::write(dir.path().join("config.json"), cfg).unwrap();
    let err = load_model(dir.path(), &common::device())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("shape") && err.contains("different models"),
        "{err}"
    );
    // A damaged weights file.
    std::fs::copy(
        fixture("tiny-gpt2/config.json"),
        dir.path().join("config.json"),
    )
    .unwrap();
    std::fs::write(dir.path().join("model.safetensors"), b"garbage").unwrap();
    let err = load_model(dir.path(), &common::device())
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a readable safetensors"), "{err}");
}

#[test]
fn prompts_longer_than_the_context_are_refused() {
    let m = load_model(&fixture("tiny-gpt2"), &common::device())
        .unwrap()
        .model;
    let long = Tensor::new(vec![vec![1u32; 129]], &common::device()).unwrap();
    let err = m.forward(&long, None).unwrap_err().to_string();
    assert!(err.contains("context of 128"), "{err}");
}

#[test]
fn gpt2_tokenizer_gives_the_reference_ids() {
    let e: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("gpt2-tokenizer/expected.json")).unwrap(),
    )
    .unwrap();
    let tok = load_tokenizer(&fixture("gpt2-tokenizer/tokenizer.json")).unwrap();
    assert_eq!(
        encode(&tok, e["text"].as_str().unwrap()).unwrap(),
        ids(&e["ids"])
    );
    assert_eq!(tok.get_vocab_size(true), 50257);
}

#[test]
fn cached_generation_matches_a_full_forward_pass() {
    let m = load_model(&fixture("tiny-gpt2"), &common::device())
        .unwrap()
        .model;
    let seq: Vec<u32> = vec![5, 17, 300, 42, 7, 99];
    let full = m
        .forward(
            &Tensor::new(vec![seq.clone()], &common::device()).unwrap(),
            None,
        )
        .unwrap();
    let mut cache = c2s_model::KvCache::new(m.n_layer());
    let first = m
        .forward(
            &Tensor::new(vec![seq[..3].to_vec()], &common::device()).unwrap(),
            Some(&mut cache),
        )
        .unwrap();
    let mut steps = vec![first];
    for &t in &seq[3..] {
        steps.push(
            m.forward(
                &Tensor::new(vec![vec![t]], &common::device()).unwrap(),
                Some(&mut cache),
            )
            .unwrap(),
        );
    }
    let cached = Tensor::cat(&steps, 1).unwrap();
    let d = (full - cached)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!(d < 1e-5, "cached logits differ by {d}");
}

#[test]
fn every_weight_receives_a_gradient() {
    // candle's fused layer norm and softmax do not backpropagate; the model
    // must not use them, or training silently leaves weights untouched.
    let loaded = load_model(&fixture("tiny-gpt2"), &common::device()).unwrap();
    let input = Tensor::new(vec![vec![1u32, 2, 3, 4, 5, 6]], &common::device()).unwrap();
    let target = Tensor::new(&[2u32, 3, 4, 5, 6, 7], &common::device()).unwrap();
    let logits = loaded
        .model
        .forward(&input, None)
        .unwrap()
        .squeeze(0)
        .unwrap();
    let loss = candle_nn::loss::cross_entropy(&logits, &target).unwrap();
    let grads = loss.backward().unwrap();
    for var in loaded.vars.all_vars() {
        let g = grads
            .get(var.as_tensor())
            .expect("a gradient for every weight");
        let norm = g
            .sqr()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(
            norm > 0.0,
            "zero gradient for a weight of shape {:?}",
            var.dims()
        );
    }
}

#[test]
fn gene_tokenizer_has_one_token_per_gene_and_round_trips() {
    use c2s_model::tokenizer::{decode_words, gene_tokenizer, save_tokenizer};
    let genes: Vec<String> = ["MALAT1", "MT-ATP6", "RP11-34P13.7", "HLA-DRA", "CD14"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let texts = vec![
        "The cell type corresponding to these genes is: {cell_type}.".to_string(),
        "CD14+ Monocyte".to_string(),
    ];
    let tok = gene_tokenizer(&genes, &texts).unwrap();
    let text = "The cell type corresponding to these genes is: CD14+ Monocyte. MALAT1 RP11-34P13.7 HLA-DRA.<|endoftext|>";
    let ids = encode(&tok, text).unwrap();
    let words: Vec<String> = ids.iter().map(|&i| tok.id_to_token(i).unwrap()).collect();
    assert_eq!(
        words,
        [
            "The",
            "cell",
            "type",
            "corresponding",
            "to",
            "these",
            "genes",
            "is",
            ":",
            "CD14+",
            "Monocyte",
            ".",
            "MALAT1",
            "RP11-34P13.7",
            "HLA-DRA",
            ".",
            "<|endoftext|>"
        ]
    );
    assert_eq!(ids[ids.len() - 1], 0);
    assert_eq!(decode_words(&tok, &ids), "The cell type corresponding to these genes is: CD14+ Monocyte. MALAT1 RP11-34P13.7 HLA-DRA.");
    // Saved and read back, it tokenizes the same.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokenizer.json");
    save_tokenizer(&tok, &path).unwrap();
    assert_eq!(encode(&load_tokenizer(&path).unwrap(), text).unwrap(), ids);
    // Unknown words map to <unk>.
    assert_eq!(encode(&tok, "NOTAGENE").unwrap(), vec![1]);
}

#[test]
fn embeddings_ignore_padding() {
    use c2s_model::embed::embed_batch;
    let m = load_model(&fixture("tiny-gpt2"), &common::device())
        .unwrap()
        .model;
    let short = vec![5u32, 17, 300];
    let long = vec![1u32, 2, 3, 4, 5, 6, 7, 8, 9];
    let alone = embed_batch(&m, std::slice::from_ref(&short), 0).unwrap();
    let batched = embed_batch(&m, &[short.clone(), long], 0).unwrap();
    let d = alone[0]
        .iter()
        .zip(&batched[0])
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(d < 1e-5, "padding changed the embedding by {d}");
    // The same as the mean of the hidden states of the sequence alone.
    let h = m
        .hidden_states(
            &Tensor::new(vec![short], &common::device()).unwrap(),
            None,
            None,
        )
        .unwrap();
    let mean: Vec<f32> = h.get(0).unwrap().mean(0).unwrap().to_vec1().unwrap();
    let d = mean
        .iter()
        .zip(&alone[0])
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(d < 1e-5);
}

#[test]
fn sampling_at_temperature_zero_is_greedy_and_stops_at_stop_sequences() {
    use c2s_model::generate::{sample, Sampling};
    let e = expected();
    let m = load_model(&fixture("tiny-gpt2"), &common::device())
        .unwrap()
        .model;
    let prompt = ids(&e["greedy_prompt"]);
    let want = ids(&e["greedy_continuation"]);
    let eos = u32::MAX; // never produced: run to max_new
    let greedy = Sampling {
        temperature: 0.0,
        max_new: want.len(),
        ..Default::default()
    };
    let mut streamed = Vec::new();
    let got = sample(&m, &prompt, eos, &greedy, None, &mut |t| streamed.push(t)).unwrap();
    assert_eq!(got, want);
    assert_eq!(streamed, want, "every token is streamed as it comes");
    // A stop sequence cuts the output before its first occurrence.
    let seq = want[3..5].to_vec();
    let first = want.windows(2).position(|w| w == seq.as_slice()).unwrap();
    let stop = Sampling {
        stop: vec![seq],
        ..greedy.clone()
    };
    assert_eq!(
        sample(&m, &prompt, eos, &stop, None, &mut |_| {}).unwrap(),
        want[..first]
    );
    // A cancel (the callback says stop) keeps the tokens so far.
    let mut n = 0;
    let cut = c2s_model::generate::sample_while(&m, &prompt, eos, &greedy, None, &mut |_| {
        n += 1;
        n < 3
    })
    .unwrap();
    assert_eq!(cut, want[..3]);
}

#[test]
fn batched_generation_continues_each_prompt_as_alone() {
    use c2s_model::generate::{sample, sample_batch, Sampling};
    let e = expected();
    let m = load_model(&fixture("tiny-gpt2"), &common::device())
        .unwrap()
        .model;
    let p = ids(&e["greedy_prompt"]);
    // Different lengths: left padding and per-row positions must not matter.
    let prompts = vec![p.clone(), p[2..].to_vec(), p[..p.len() - 1].to_vec()];
    let eos = u32::MAX;
    for s in [
        Sampling {
            temperature: 0.0,
            max_new: 10,
            ..Default::default()
        },
        Sampling {
            temperature: 1.0,
            top_k: None,
            top_p: None,
            max_new: 10,
            ..Default::default()
        },
    ] {
        let seeds = [7u64, 8, 9];
        let mut streamed = [0usize; 3];
        let batch = sample_batch(&m, &prompts, eos, &s, &seeds, None, &mut |r, _| {
            streamed[r] += 1
        })
        .unwrap();
        for (r, prompt) in prompts.iter().enumerate() {
            let alone = sample(
                &m,
                prompt,
                eos,
                &Sampling {
                    seed: seeds[r],
                    ..s.clone()
                },
                None,
                &mut |_| {},
            )
            .unwrap();
            assert_eq!(batch[r], alone, "row {r} at temperature {}", s.temperature);
            assert_eq!(streamed[r], alone.len());
        }
    }
    assert_eq!(batch_first(&m, &p), greedy_first(&m, &p));
}

/// Classifier-free guidance: weight 1 draws exactly what plain sampling of
/// the conditional prompts draws, weight 0 what plain sampling of the
/// unconditional ones draws (same seeds, same tokens), though each guided
/// row shares the batch with its unconditional twin; other weights give
/// other cells; bad weights are refused.
#[test]
fn guidance_weights_zero_and_one_are_unconditional_and_conditional_sampling() {
    use c2s_model::generate::{sample_batch, sample_batch_guided, Guidance, Sampling};
    let e = expected();
    let m = load_model(&fixture("tiny-gpt2"), &common::device())
        .unwrap()
        .model;
    let p = ids(&e["greedy_prompt"]);
    let cond = vec![p.clone(), p[1..].to_vec(), p[..4].to_vec()];
    let uncond_prompts = vec![p[3..].to_vec(), p[..2].to_vec()];
    // The last row is not guided: it is sampled as it is at any weight.
    let uncond = vec![
        Some(uncond_prompts[0].clone()),
        Some(uncond_prompts[1].clone()),
        None,
    ];
    let s = Sampling {
        temperature: 1.0,
        top_k: None,
        top_p: None,
        max_new: 12,
        ..Default::default()
    };
    let seeds = [3u64, 4, 5];
    let eos = u32::MAX;
    let guided = |w: f64| {
        let g = Guidance {
            weight: w,
            unconditional: &uncond,
        };
        sample_batch_guided(&m, &cond, &g, eos, &s, &seeds, None, &mut |_, _| {})
    };
    let plain = |prompts: &[Vec<u32>], seeds: &[u64]| {
        sample_batch(&m, prompts, eos, &s, seeds, None, &mut |_, _| {}).unwrap()
    };
    let conditional = plain(&cond, &seeds);
    let unconditional = plain(&uncond_prompts, &seeds[..2]);
    assert_eq!(guided(1.0).unwrap(), conditional);
    let at_zero = guided(0.0).unwrap();
    assert_eq!(at_zero[..2], unconditional[..]);
    assert_eq!(at_zero[2], conditional[2]);
    let at_three = guided(3.0).unwrap();
    assert_eq!(
        at_three,
        guided(3.0).unwrap(),
        "the same seed, the same cells"
    );
    assert_ne!(at_three[..2], conditional[..2]);
    assert_ne!(at_three[..2], unconditional[..]);
    assert_eq!(at_three[2], conditional[2]);
    for bad in [-0.5, f64::NAN, f64::INFINITY] {
        let err = guided(bad).unwrap_err().to_string();
        assert!(err.contains("guidance weight"), "{err}");
    }
}

fn batch_first(m: &c2s_model::CausalLm, p: &[u32]) -> Vec<u32> {
    let s = c2s_model::generate::Sampling {
        temperature: 0.0,
        max_new: 3,
        ..Default::default()
    };
    c2s_model::generate::sample_batch(m, &[p.to_vec()], u32::MAX, &s, &[0], None, &mut |_, _| {})
        .unwrap()
        .remove(0)
}

fn greedy_first(m: &c2s_model::CausalLm, p: &[u32]) -> Vec<u32> {
    greedy(m, p, 3, None).unwrap()
}

#[test]
fn pretrained_folders_and_hub_ids_are_checked() {
    let cache = tempfile::tempdir().unwrap();
    let store = c2s_model::hub::ModelStore::new(cache.path().join("hub"), "http://127.0.0.1:9");
    let resolve = |base: &str| c2s_model::pretrained::resolve(&store, base);
    // A folder missing a file is named; complete, it resolves to itself.
    let dir = tempfile::tempdir().unwrap();
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(fixture("tiny-gpt2").join(f), dir.path().join(f)).unwrap();
    }
    let err = resolve(dir.path().to_str().unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("tokenizer.json") && err.contains("hint"),
        "{err}"
    );
    std::fs::copy(
        fixture("gpt2-tokenizer/tokenizer.json"),
        dir.path().join("tokenizer.json"),
    )
    .unwrap();
    assert_eq!(resolve(dir.path().to_str().unwrap()).unwrap(), dir.path());
    // A path that is not there is not mistaken for a Hub id.
    let err = resolve("./no/such/folder").unwrap_err().to_string();
    assert!(err.contains("no such folder"), "{err}");
    // (Hub ids: tests/model_store.rs, against a stand-in Hub.)
}

#[test]
fn half_precision_weights_give_close_logits_and_valid_generation() {
    use c2s_model::generate::{sample_batch, Sampling};
    use candle_core::DType;
    let e = expected();
    let m = load_model(&fixture("tiny-gpt2"), &common::device())
        .unwrap()
        .model;
    let p = ids(&e["greedy_prompt"]);
    let input = Tensor::new(p.as_slice(), &common::device())
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    let full: Vec<f32> = m
        .forward(&input, None)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let scale = full.iter().fold(0f32, |a, x| a.max(x.abs()));
    for (dtype, tol) in [(DType::BF16, 0.05), (DType::F16, 0.01)] {
        let h = m.to_dtype(dtype).unwrap();
        let logits = h.forward(&input, None).unwrap();
        assert_eq!(logits.dtype(), DType::F32, "logits come out in f32");
        let half: Vec<f32> = logits.flatten_all().unwrap().to_vec1().unwrap();
        let d = max_abs_diff(&full, &half);
        assert!(
            d < tol * scale,
            "{dtype:?}: logits differ by {d} (scale {scale})"
        );
        // Left padding in half precision: no NaN leaks from masked positions.
        let s = Sampling {
            temperature: 0.0,
            max_new: 4,
            ..Default::default()
        };
        let prompts = vec![p.clone(), p[3..].to_vec()];
        let out = sample_batch(&h, &prompts, u32::MAX, &s, &[0, 1], None, &mut |_, _| {}).unwrap();
        let alone =
            c2s_model::generate::sample(&h, &prompts[1], u32::MAX, &s, None, &mut |_| {}).unwrap();
        assert_eq!(
            out[1], alone,
            "{dtype:?}: the padded row continues as it does alone"
        );
        let logits = h.forward(&input, None).unwrap();
        let finite = logits
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
            .iter()
            .all(|x| x.is_finite());
        assert!(finite);
    }
}
