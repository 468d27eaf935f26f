//! Prompt processing (prefill) and generation speed, and peak memory, of
//! random weights in the exact shapes of the published C2S models, for
//! bench/published.sh, which runs transformers on the same shapes in the
//! same run; and cells per second of annotation with the prompt's KV cache
//! shared across candidate labels against scoring each label on its own.
//!
//! usage: published_throughput SHAPE PROMPT_TOKENS NEW_TOKENS
//!        published_throughput annotate SHAPE PROMPT_TOKENS LABELS CELLS
//!        published_throughput make SHAPE DIR   (the random weights alone)
//! SHAPE: pythia-410m, gemma2-2b or tiny. Prints one JSON line.

// The allocator the c2s command uses, as it uses it.
#[global_allocator]
static ALLOCATOR: c2s_model::allocator::Allocator = c2s_model::allocator::Allocator;

use std::path::Path;
use std::time::Instant;

use c2s_model::generate::greedy;
use c2s_model::predict::score_continuations;
use c2s_model::{init_any, save_model, CausalLm, Gemma2Config, GptNeoxConfig, ModelConfig};
use candle_core::Tensor;
use rand::{Rng, SeedableRng};

fn shape(name: &str) -> ModelConfig {
    match name {
        // EleutherAI/pythia-410m (C2S-Pythia-410m-*).
        "pythia-410m" => GptNeoxConfig::new(50304, 2048, 1024, 24, 16).into(),
        // google/gemma-2-2b (C2S-Scale-Gemma-2-2B).
        "gemma2-2b" => Gemma2Config::new(256000, 8192, 2304, 9216, 26, 8, 4, 256).into(),
        "tiny" => GptNeoxConfig::new(50304, 2048, 64, 2, 4).into(),
        other => panic!("unknown shape {other}"),
    }
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|k| k.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Random weights of the shape, saved as a Hugging Face folder by another
/// process (so that the peak memory measured is loading's and running's,
/// not making the weights') and loaded back as `c2s` loads a model for
/// inference. The folder lives as long as the returned guard.
fn model(name: &str) -> Result<(CausalLm, tempfile::TempDir), Box<dyn std::error::Error>> {
    let (dev, _) = c2s_model::device::best_device();
    let dir = tempfile::tempdir()?;
    let made = std::process::Command::new(std::env::current_exe()?)
        .args(["make", name])
        .arg(dir.path())
        .status()?;
    if !made.success() {
        return Err("making the random weights failed".into());
    }
    let m = c2s_model::trained::load_for_inference(dir.path(), &dev)?.0;
    Ok((m, dir))
}

/// Timed prompts per run; their median is reported (one was noisy: 310 to
/// 378 tokens/s for transformers in consecutive runs on a 2-core machine).
const PREFILLS: usize = 3;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    c2s_model::allocator::keep_freed_memory();
    let a: Vec<String> = std::env::args().collect();
    let n = |i: usize| -> usize { a[i].parse().expect("see usage in the source") };
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    if a[1] == "make" {
        let m = init_any(&shape(&a[2]), &candle_core::Device::Cpu, 0)?;
        save_model(Path::new(&a[3]), m.model.config(), &m.vars)?;
        return Ok(());
    }
    if a[1] == "annotate" {
        let (m, _dir) = model(&a[2])?;
        let (prompt_len, labels, cells) = (n(3), n(4), n(5));
        let candidates: Vec<Vec<u32>> = (0..labels)
            .map(|_| (0..4).map(|_| rng.random_range(2..50000u32)).collect())
            .collect();
        let prompts: Vec<Vec<u32>> = (0..cells)
            .map(|_| {
                (0..prompt_len)
                    .map(|_| rng.random_range(2..50000u32))
                    .collect()
            })
            .collect();
        let t = Instant::now();
        for p in &prompts {
            score_continuations(&m, p, &candidates)?;
        }
        let shared = cells as f64 / t.elapsed().as_secs_f64();
        let t = Instant::now();
        for p in &prompts {
            for c in &candidates {
                // Each label on its own: the whole prompt again.
                score_continuations(&m, p, std::slice::from_ref(c))?;
            }
        }
        let separate = cells as f64 / t.elapsed().as_secs_f64();
        println!(
            "{}",
            serde_json::json!({"shared_cells_per_s": shared, "separate_cells_per_s": separate})
        );
        return Ok(());
    }
    let (m, _dir) = model(&a[1])?;
    let (prompt_len, new_tokens) = (n(2), n(3));
    let params = m.config().parameters();
    let prompt: Vec<u32> = (0..prompt_len)
        .map(|_| rng.random_range(2..50000u32))
        .collect();
    let dev = m.device().clone();
    // Warm-up, then the prefill (logits of the last position only, as
    // generation needs): the median of PREFILLS timed prompts, as
    // bench/published_torch.py times transformers'.
    let ids = Tensor::new(prompt.as_slice(), &dev)?.unsqueeze(0)?;
    let h = m.hidden_states(&ids.narrow(1, 0, 16)?, None, None)?;
    m.logits(&h.narrow(1, 15, 1)?)?;
    let mut rates: Vec<f64> = (0..PREFILLS)
        .map(|_| {
            let t = Instant::now();
            let h = m.hidden_states(&ids, None, None)?;
            let last = m.logits(&h.narrow(1, prompt_len - 1, 1)?)?;
            last.to_vec3::<f32>()?;
            Ok(prompt_len as f64 / t.elapsed().as_secs_f64())
        })
        .collect::<Result<_, Box<dyn std::error::Error>>>()?;
    rates.sort_by(f64::total_cmp);
    let prefill = rates[PREFILLS / 2];
    // Generation after a short prompt, greedy with the KV cache.
    let t = Instant::now();
    let out = greedy(&m, &prompt[..16], new_tokens, None)?;
    let decode = out.len() as f64 / t.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "parameters": params, "prefill_tokens_per_s": prefill, "decode_tokens_per_s": decode,
            "peak_rss_mb": peak_rss_mb(), "f32_weights_mb": params as f64 * 4.0 / 1048576.0,
        })
    );
    Ok(())
}
