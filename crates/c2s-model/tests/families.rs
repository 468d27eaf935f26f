//! GPT-NeoX (Pythia, C2S-Pythia) and Gemma-2 (C2S-Scale) against outputs of
//! Hugging Face transformers on tiny models (../shared/fixtures/tiny-gpt-neox,
//! tiny-gemma2) in both config spellings, and the loader's errors.

use std::path::{Path, PathBuf};

use c2s_model::generate::greedy;
use c2s_model::{load_causal_lm, load_model, save_model, CausalLm, Family, KvCache};
use candle_core::{DType, Tensor};

mod common;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures")
        .join(name)
}

fn expected(model: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixture(model).join("expected.json")).unwrap())
        .unwrap()
}

fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

fn floats(v: &serde_json::Value) -> Vec<f32> {
    match v {
        serde_json::Value::Array(a) => a.iter().flat_map(floats).collect(),
        x => vec![x.as_f64().unwrap() as f32],
    }
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// A copy of a fixture model folder with `config` as its config.json.
fn folder_with_config(model: &str, config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for f in ["model.safetensors", "generation_config.json"] {
        std::fs::copy(fixture(model).join(f), dir.path().join(f)).unwrap();
    }
    std::fs::copy(fixture(model).join(config), dir.path().join("config.json")).unwrap();
    dir
}

/// Logits of both sequences, the mean last hidden state of the first, and
/// the greedy continuation with the KV cache, against transformers'.
fn check_against_transformers(m: &CausalLm, model: &str) {
    let e = expected(model);
    let dev = common::device();
    let rows: Vec<Vec<u32>> = e["input_ids"].as_array().unwrap().iter().map(ids).collect();
    let input = Tensor::new(rows, &dev).unwrap();
    let hidden = m.hidden_states(&input, None, None).unwrap();
    let logits = m.logits(&hidden).unwrap();
    let got: Vec<f32> = logits.flatten_all().unwrap().to_vec1().unwrap();
    let d = max_abs_diff(&got, &floats(&e["logits"]));
    assert!(d < 1e-4, "{model}: logits differ by {d}");
    let mean: Vec<f32> = hidden
        .get(0)
        .unwrap()
        .to_dtype(DType::F32)
        .unwrap()
        .mean(0)
        .unwrap()
        .to_vec1()
        .unwrap();
    let d = max_abs_diff(&mean, &floats(&e["last_hidden_state_mean"]));
    assert!(d < 1e-4, "{model}: mean last hidden state differs by {d}");
    let cont = greedy(m, &ids(&e["greedy_prompt"]), 12, None).unwrap();
    assert_eq!(
        cont,
        ids(&e["greedy_continuation"]),
        "{model}: greedy continuation"
    );
}

#[test]
fn gpt_neox_matches_transformers_in_both_config_spellings() {
    for config in ["config.json", "config-transformers4.json"] {
        let dir = folder_with_config("tiny-gpt-neox", config);
        let m = load_model(dir.path(), &common::device()).unwrap().model;
        assert_eq!(m.family(), Family::GptNeox);
        check_against_transformers(&m, "tiny-gpt-neox");
    }
}

#[test]
fn gemma2_matches_transformers_in_both_config_spellings() {
    for config in ["config.json", "config-transformers4.json"] {
        let dir = folder_with_config("tiny-gemma2", config);
        let m = load_model(dir.path(), &common::device()).unwrap().model;
        assert_eq!(m.family(), Family::Gemma2);
        check_against_transformers(&m, "tiny-gemma2");
    }
}

/// On the CPU, f16 is f16 matrices computed with in f32, read straight
/// from the file: a prompt (the blocked product) and tokens fed one at a
/// time (the streamed one) give logits within 0.2 % of f32's scale, and
/// the greedy continuation is transformers', for every family.
#[test]
fn cpu_f16_weights_stay_close_to_f32_and_keep_the_greedy_continuation() {
    use candle_core::Device;
    for model in ["tiny-gpt2", "tiny-gpt-neox", "tiny-gemma2"] {
        let e = expected(model);
        let full = load_causal_lm(&fixture(model), &Device::Cpu, DType::F32).unwrap();
        let half = load_causal_lm(&fixture(model), &Device::Cpu, DType::F16).unwrap();
        assert!(half.has_half_rows() && !full.has_half_rows(), "{model}");
        assert_eq!(half.dtype(), DType::F32, "{model}: computes in f32");
        let p = ids(&e["greedy_prompt"]);
        let row = |ids: &[u32]| {
            Tensor::new(ids, &Device::Cpu)
                .unwrap()
                .unsqueeze(0)
                .unwrap()
        };
        let values = |t: Tensor| -> Vec<f32> { t.flatten_all().unwrap().to_vec1().unwrap() };
        let close = |a: &[f32], b: &[f32], what: &str| {
            let scale = a.iter().fold(0f32, |m, x| m.max(x.abs()));
            let d = max_abs_diff(a, b);
            assert!(d > 0.0, "{model}, {what}: the f16 weights were used");
            assert!(
                d < 2e-3 * scale,
                "{model}, {what}: logits differ by {d} (scale {scale})"
            );
        };
        // 40 positions: past the streamed kernel's rows, so the blocked one.
        let long: Vec<u32> = p.iter().cycle().take(40).copied().collect();
        close(
            &values(full.forward(&row(&long), None).unwrap()),
            &values(half.forward(&row(&long), None).unwrap()),
            "a prompt",
        );
        let (mut cf, mut ch) = (KvCache::new(full.n_layer()), KvCache::new(half.n_layer()));
        for &t in &p {
            close(
                &values(full.forward(&row(&[t]), Some(&mut cf)).unwrap()),
                &values(half.forward(&row(&[t]), Some(&mut ch)).unwrap()),
                "decoding",
            );
        }
        assert_eq!(
            greedy(&half, &p, 12, None).unwrap(),
            ids(&e["greedy_continuation"]),
            "{model}: greedy continuation"
        );
    }
}

/// The greedy continuation runs past Gemma-2's window of 8: the cache must
/// hide keys the window has left behind, token by token and in chunks.
#[test]
fn the_sliding_window_cache_gives_the_uncached_answer() {
    let m = load_causal_lm(&fixture("tiny-gemma2"), &common::device(), DType::F32).unwrap();
    let dev = common::device();
    let e = expected("tiny-gemma2");
    let seq = ids(&e["input_ids"][0]);
    // Without a cache: all 17 positions at once.
    let full = m
        .forward(
            &Tensor::new(seq.as_slice(), &dev)
                .unwrap()
                .unsqueeze(0)
                .unwrap(),
            None,
        )
        .unwrap()
        .squeeze(0)
        .unwrap();
    // With a cache: 5 tokens, then one at a time to 12, then a chunk of 5.
    let mut cache = KvCache::new(m.n_layer());
    let mut parts = Vec::new();
    for range in [0..5, 5..6, 6..7, 7..8, 8..9, 9..10, 10..11, 11..12, 12..17] {
        let chunk = Tensor::new(&seq[range], &dev)
            .unwrap()
            .unsqueeze(0)
            .unwrap();
        parts.push(
            m.forward(&chunk, Some(&mut cache))
                .unwrap()
                .squeeze(0)
                .unwrap(),
        );
    }
    assert_eq!(cache.len(), 17);
    let cached = Tensor::cat(&parts, 0).unwrap();
    let d = max_abs_diff(
        &full.flatten_all().unwrap().to_vec1().unwrap(),
        &cached.flatten_all().unwrap().to_vec1().unwrap(),
    );
    assert!(d < 1e-4, "cached logits differ by {d}");
}

/// Left-padded batches (as batched generation builds them) give each row
/// the logits it has alone.
#[test]
fn padded_batches_give_each_row_its_own_logits() {
    for model in ["tiny-gpt-neox", "tiny-gemma2"] {
        let m = load_causal_lm(&fixture(model), &common::device(), DType::F32).unwrap();
        let dev = common::device();
        let long: Vec<u32> = ids(&expected(model)["input_ids"][1]);
        let short: Vec<u32> = long[..11].to_vec();
        let alone = m
            .forward(
                &Tensor::new(short.as_slice(), &dev)
                    .unwrap()
                    .unsqueeze(0)
                    .unwrap(),
                None,
            )
            .unwrap()
            .squeeze(0)
            .unwrap();
        let pad = long.len() - short.len();
        let row: Vec<u32> = std::iter::repeat_n(0, pad).chain(short.clone()).collect();
        let ids = Tensor::new(vec![long.clone(), row], &dev).unwrap();
        let keep: Vec<f32> = std::iter::repeat_n(1.0, long.len())
            .chain(std::iter::repeat_n(0.0, pad))
            .chain(std::iter::repeat_n(1.0, short.len()))
            .collect();
        let keep = Tensor::from_vec(keep, (2, long.len()), &dev).unwrap();
        let pos: Vec<u32> = (0..long.len() as u32)
            .chain(std::iter::repeat_n(0, pad))
            .chain(0..short.len() as u32)
            .collect();
        let pos = Tensor::from_vec(pos, (2, long.len()), &dev).unwrap();
        let h = m
            .hidden_states_at(&ids, None, Some(&keep), Some(&pos))
            .unwrap();
        let batched = m
            .logits(&h.get(1).unwrap().narrow(0, pad, short.len()).unwrap())
            .unwrap();
        let d = max_abs_diff(
            &alone.flatten_all().unwrap().to_vec1().unwrap(),
            &batched.flatten_all().unwrap().to_vec1().unwrap(),
        );
        assert!(d < 1e-4, "{model}: padded row differs by {d}");
    }
}

/// Sharded checkpoints (model.safetensors.index.json), with the buffers
/// older transformers saved, load to the same model.
#[test]
fn sharded_checkpoints_with_buffers_load() {
    let src = fixture("tiny-gpt-neox");
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        src.join("config-transformers4.json"),
        dir.path().join("config.json"),
    )
    .unwrap();
    let tensors =
        candle_core::safetensors::load(src.join("model.safetensors"), &candle_core::Device::Cpu)
            .unwrap();
    let mut names: Vec<&String> = tensors.keys().collect();
    names.sort();
    let (a, b) = names.split_at(names.len() / 2);
    let mut map = serde_json::Map::new();
    for (shard, part) in [
        ("model-00001-of-00002.safetensors", a),
        ("model-00002-of-00002.safetensors", b),
    ] {
        let mut chosen: Vec<(String, Tensor)> = part
            .iter()
            .map(|n| ((*n).clone(), tensors[*n].clone()))
            .collect();
        if shard.starts_with("model-00002") {
            // transformers 4.2x kept these buffers in GPT-NeoX checkpoints.
            let dev = candle_core::Device::Cpu;
            chosen.push((
                "gpt_neox.layers.0.attention.bias".into(),
                Tensor::ones((1, 1, 4, 4), DType::U8, &dev).unwrap(),
            ));
            chosen.push((
                "gpt_neox.layers.0.attention.rotary_emb.inv_freq".into(),
                Tensor::ones(2, DType::F32, &dev).unwrap(),
            ));
        }
        for (n, _) in &chosen {
            map.insert(n.clone(), shard.into());
        }
        candle_core::safetensors::save(&chosen.into_iter().collect(), dir.path().join(shard))
            .unwrap();
    }
    std::fs::write(
        dir.path().join("model.safetensors.index.json"),
        serde_json::json!({"metadata": {}, "weight_map": map}).to_string(),
    )
    .unwrap();
    let m = load_causal_lm(dir.path(), &common::device(), DType::F32).unwrap();
    check_against_transformers(&m, "tiny-gpt-neox");
    // A missing shard is named.
    std::fs::remove_file(dir.path().join("model-00002-of-00002.safetensors")).unwrap();
    let err = load_causal_lm(dir.path(), &common::device(), DType::F32)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("model-00002-of-00002.safetensors") && err.contains("missing"),
        "{err}"
    );
}

/// A model saved after loading (as fine-tuning saves it) reloads to the
/// same logits, with the config written back as read.
#[test]
fn saved_models_reload_the_same() {
    for model in ["tiny-gpt-neox", "tiny-gemma2"] {
        let loaded = load_model(&fixture(model), &common::device()).unwrap();
        let out = tempfile::tempdir().unwrap();
        save_model(out.path(), loaded.model.config(), &loaded.vars).unwrap();
        let again = load_causal_lm(out.path(), &common::device(), DType::F32).unwrap();
        check_against_transformers(&again, model);
        let written: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.path().join("config.json")).unwrap())
                .unwrap();
        let read: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(fixture(model).join("config.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(written, read);
    }
}

fn load_err(dir: &Path) -> String {
    load_causal_lm(dir, &candle_core::Device::Cpu, DType::F32)
        .unwrap_err()
        .to_string()
}

#[test]
fn unknown_families_and_mismatched_weights_are_named() {
    // An unknown family.
    let dir = folder_with_config("tiny-gpt-neox", "config.json");
    let cfg = dir.path().join("config.json");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, text.replace("\"gpt_neox\"", "\"llama\"")).unwrap();
    let err = load_err(dir.path());
    assert!(
        err.contains("llama") && err.contains("config.json"),
        "{err}"
    );
    // A config wider than its weights: the tensor is named, with both shapes.
    std::fs::write(
        &cfg,
        text.replace("\"intermediate_size\": 256", "\"intermediate_size\": 512"),
    )
    .unwrap();
    let err = load_err(dir.path());
    assert!(
        err.contains("gpt_neox.layers.0.mlp.dense_h_to_4h.weight") && err.contains("[256, 64]"),
        "{err}"
    );
    // More layers than the weights hold: the first missing weight is named.
    std::fs::write(
        &cfg,
        text.replace("\"num_hidden_layers\": 2", "\"num_hidden_layers\": 3"),
    )
    .unwrap();
    let err = load_err(dir.path());
    assert!(
        err.contains("gpt_neox.layers.2.") && err.contains("missing"),
        "{err}"
    );
    // Fewer layers: the weights left over are named.
    std::fs::write(
        &cfg,
        text.replace("\"num_hidden_layers\": 2", "\"num_hidden_layers\": 1"),
    )
    .unwrap();
    let err = load_err(dir.path());
    assert!(
        err.contains("gpt_neox.layers.1.") && err.contains("not part of"),
        "{err}"
    );
    // A field of the wrong kind names the field.
    std::fs::write(
        &cfg,
        text.replace(
            "\"num_attention_heads\": 4",
            "\"num_attention_heads\": \"four\"",
        ),
    )
    .unwrap();
    let err = load_err(dir.path());
    assert!(err.contains("num_attention_heads"), "{err}");
    // A scaled rotary embedding is refused rather than run wrongly.
    let gemma = folder_with_config("tiny-gemma2", "config.json");
    let gcfg = gemma.path().join("config.json");
    let g = std::fs::read_to_string(&gcfg).unwrap();
    std::fs::write(
        &gcfg,
        g.replace("\"rope_type\": \"default\"", "\"rope_type\": \"yarn\""),
    )
    .unwrap();
    let err = load_err(gemma.path());
    assert!(err.contains("yarn"), "{err}");
    // An untied Gemma-2 head would be silently wrong: refused.
    std::fs::write(
        &gcfg,
        g.replace(
            "\"tie_word_embeddings\": true",
            "\"tie_word_embeddings\": false",
        ),
    )
    .unwrap();
    let err = load_err(gemma.path());
    assert!(err.contains("tie_word_embeddings"), "{err}");
    // A truncated weights file.
    let bytes = std::fs::read(dir.path().join("model.safetensors")).unwrap();
    std::fs::write(&cfg, &text).unwrap();
    std::fs::write(
        dir.path().join("model.safetensors"),
        &bytes[..bytes.len() / 2],
    )
    .unwrap();
    let err = load_err(dir.path());
    assert!(err.contains("model.safetensors"), "{err}");
}

/// The GPT-NeoX tokenizer (Pythia's, and the published C2S models') gives
/// the ids transformers gives.
#[test]
fn gpt_neox_tokenizer_ids_match() {
    let dir = fixture("gpt-neox-tokenizer");
    let tok = c2s_model::tokenizer::load_tokenizer(&dir.join("tokenizer.json")).unwrap();
    let e: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    for (text, want) in e["texts"]
        .as_array()
        .unwrap()
        .iter()
        .zip(e["ids"].as_array().unwrap())
    {
        let got = c2s_model::tokenizer::encode(&tok, text.as_str().unwrap()).unwrap();
        assert_eq!(got, ids(want), "{text}");
    }
    assert_eq!(
        tok.get_vocab_size(true),
        e["vocab_size"].as_u64().unwrap() as usize
    );
}

/// Label scoring with the prompt's cache shared across candidates gives each
/// candidate the log-likelihood of scoring its whole sequence alone
/// (the prompt is longer than Gemma-2's window, so the trimmed cache is shared).
#[test]
fn shared_cache_scores_equal_scoring_each_candidate_alone() {
    use c2s_model::predict::score_continuations;
    for model in ["tiny-gpt-neox", "tiny-gemma2"] {
        let m = load_causal_lm(&fixture(model), &common::device(), DType::F32).unwrap();
        let dev = common::device();
        let prompt: Vec<u32> = ids(&expected(model)["input_ids"][0])[..12].to_vec();
        let candidates: Vec<Vec<u32>> = vec![
            vec![7],
            vec![300, 12, 0],
            vec![45, 46, 47, 48, 0],
            vec![300, 13, 0],
        ];
        let shared = score_continuations(&m, &prompt, &candidates).unwrap();
        for (c, got) in candidates.iter().zip(&shared) {
            let seq: Vec<u32> = prompt.iter().chain(c).copied().collect();
            let logits = m
                .forward(
                    &Tensor::new(seq.as_slice(), &dev)
                        .unwrap()
                        .unsqueeze(0)
                        .unwrap(),
                    None,
                )
                .unwrap()
                .squeeze(0)
                .unwrap();
            let lp: Vec<Vec<f32>> = candle_nn::ops::log_softmax(&logits, 1)
                .unwrap()
                .to_vec2()
                .unwrap();
            let alone: f64 = c
                .iter()
                .enumerate()
                .map(|(j, &t)| lp[prompt.len() - 1 + j][t as usize] as f64)
                .sum();
            assert!((got - alone).abs() < 1e-4, "{model}: {got} against {alone}");
        }
    }
}

/// Responses scored in one right-padded batch, each after its own prompt,
/// equal each scored alone.
#[test]
fn batched_responses_score_as_alone() {
    use c2s_model::predict::{score_each_alone, score_responses};
    use c2s_model::prompts::EncodedExample;
    for model in ["tiny-gpt-neox", "tiny-gemma2"] {
        let m = load_causal_lm(&fixture(model), &common::device(), DType::F32).unwrap();
        let seq = ids(&expected(model)["input_ids"][0]);
        let examples = [
            EncodedExample {
                ids: seq.clone(),
                response_start: 10,
            },
            EncodedExample {
                ids: seq[..13].to_vec(),
                response_start: 4,
            },
            EncodedExample {
                ids: seq[3..9].to_vec(),
                response_start: 5,
            },
        ];
        let batched = score_responses(&m, &examples).unwrap();
        for (e, got) in examples.iter().zip(&batched) {
            let (prompt, response) = e.ids.split_at(e.response_start);
            let alone = score_each_alone(&m, prompt, &[response.to_vec()]).unwrap()[0];
            assert!((got - alone).abs() < 1e-4, "{model}: {got} against {alone}");
        }
    }
}

/// Fine-tuning backpropagates into every weight of both families (candle's
/// fused norms and softmax would silently cut the graph), and a step of the
/// training loss moves it down.
#[test]
fn every_weight_of_both_families_gets_a_gradient() {
    use c2s_model::prompts::EncodedExample;
    use c2s_model::train::batch_loss;
    for model in ["tiny-gpt-neox", "tiny-gemma2"] {
        let loaded = load_model(&fixture(model), &common::device()).unwrap();
        let seq = ids(&expected(model)["input_ids"][0]);
        let ex = [
            EncodedExample {
                ids: seq.clone(),
                response_start: 10,
            },
            EncodedExample {
                ids: seq[..13].to_vec(),
                response_start: 4,
            },
        ];
        let refs: Vec<&EncodedExample> = ex.iter().collect();
        let (loss, _) = batch_loss(&loaded.model, &refs, 0).unwrap();
        let grads = loss.backward().unwrap();
        let vars = loaded.vars.all_vars();
        assert!(vars.len() > 10, "{model}: {} variables", vars.len());
        for var in &vars {
            let norm = grads
                .get(var.as_tensor())
                .unwrap_or_else(|| {
                    panic!(
                        "{model}: no gradient for a weight of shape {:?}",
                        var.dims()
                    )
                })
                .sqr()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(
                norm > 0.0,
                "{model}: zero gradient for a weight of shape {:?}",
                var.dims()
            );
        }
        // One plain gradient step lowers the loss.
        let before = loss.to_scalar::<f32>().unwrap();
        for var in &vars {
            let g = grads.get(var.as_tensor()).unwrap();
            var.set(&(var.as_tensor() - (g * 0.05).unwrap()).unwrap())
                .unwrap();
        }
        let (after, _) = batch_loss(&loaded.model, &refs, 0).unwrap();
        let after = after.to_scalar::<f32>().unwrap();
        assert!(after < before, "{model}: loss {before} -> {after}");
    }
}
