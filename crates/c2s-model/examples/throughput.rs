//! Training and generation throughput of a GPT-2 shape on the best device
//! this build can use (the CPU, or a GPU when built with `--features
//! cuda`/`metal`), for bench/model.sh, which runs PyTorch on the same shapes
//! in the same run.
//!
//! usage: throughput train LAYERS WIDTH HEADS CONTEXT VOCAB BATCH SEQ STEPS
//!        throughput generate LAYERS WIDTH HEADS CONTEXT VOCAB NEW_TOKENS
//! Prints tokens per second (training: tokens through forward, backward and
//! an AdamW step; generation: new tokens, greedy, with the KV cache).

use std::collections::HashMap;
use std::time::Instant;

use c2s_model::generate::greedy;
use c2s_model::optim::{AdamW, AdamWParams};
use c2s_model::{init_model, Gpt2Config};
use candle_core::{Tensor, Var};
use rand::{Rng, SeedableRng};

// The allocator the c2s command uses, as it uses it.
#[global_allocator]
static ALLOCATOR: c2s_model::allocator::Allocator = c2s_model::allocator::Allocator;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    c2s_model::allocator::keep_freed_memory();
    let a: Vec<String> = std::env::args().collect();
    let n = |i: usize| -> usize {
        a.get(i)
            .and_then(|s| s.parse().ok())
            .expect("see usage in the source")
    };
    let (layers, width, heads, context, vocab) = (n(2), n(3), n(4), n(5), n(6));
    let cfg = Gpt2Config::new(vocab, context, width, layers, heads);
    let (dev, device_name) = c2s_model::device::best_device();
    eprintln!("device: {device_name}");
    let m = init_model(&cfg, &dev, 0)?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    match a[1].as_str() {
        "train" => {
            let (batch, seq, steps) = (n(7), n(8), n(9));
            let vars: HashMap<String, Var> = m.vars.data().lock().expect("not poisoned").clone();
            let mut opt = AdamW::new(&vars, AdamWParams::default())?;
            let mut step =
                |rng: &mut rand_chacha::ChaCha8Rng| -> Result<(), Box<dyn std::error::Error>> {
                    let ids: Vec<u32> = (0..batch * (seq + 1))
                        .map(|_| rng.random_range(0..vocab as u32))
                        .collect();
                    let ids = Tensor::from_vec(ids, (batch, seq + 1), &dev)?;
                    let input = ids.narrow(1, 0, seq)?.contiguous()?;
                    let target: Vec<u32> = ids.narrow(1, 1, seq)?.flatten_all()?.to_vec1()?;
                    let logits = m
                        .model
                        .forward(&input, None)?
                        .reshape((batch * seq, vocab))?;
                    let w = vec![1.0 / (batch * seq) as f32; batch * seq];
                    let loss = c2s_model::fused::cross_entropy(&logits, target, w)?;
                    let grads = loss.backward()?;
                    let g: Vec<Option<Tensor>> = opt
                        .vars()
                        .map(|v| grads.get(v.as_tensor()).cloned())
                        .collect();
                    opt.step(&g, 1e-4)?;
                    Ok(())
                };
            step(&mut rng)?; // warm-up
            let t = Instant::now();
            for _ in 0..steps {
                step(&mut rng)?;
            }
            dev.synchronize()?;
            println!(
                "{:.1}",
                (batch * seq * steps) as f64 / t.elapsed().as_secs_f64()
            );
        }
        "generate" => {
            let new = n(7);
            // The weights' type a loaded model gets for inference here
            // (C2S_PRECISION overrides), as TrainedModel::load chooses it.
            let dtype = c2s_model::device::inference_dtype(&dev);
            let model = m.model.to_dtype(dtype)?;
            if model.has_half_rows() {
                eprintln!("weights: f16, f32 arithmetic");
            } else {
                eprintln!("weights: {dtype:?}");
            }
            let prompt: Vec<u32> = (0..16).map(|_| rng.random_range(0..vocab as u32)).collect();
            greedy(&model, &prompt, 4, None)?; // warm-up
            let mut best = 0.0f64;
            for _ in 0..3 {
                let t = Instant::now();
                let out = greedy(&model, &prompt, new, None)?;
                best = best.max(out.len() as f64 / t.elapsed().as_secs_f64());
            }
            println!("{best:.1}");
        }
        other => return Err(format!("unknown mode {other}: train or generate").into()),
    }
    Ok(())
}
