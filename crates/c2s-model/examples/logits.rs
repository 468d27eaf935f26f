//! Prints, as JSON, the token ids of TEXT and the model's logits at the last
//! position, for cross-checking a model folder against transformers
//! (tests/interop/check_transformers.py). Runs on the best device this build
//! can use (set `C2S_PRECISION=f32` on a GPU for full-precision products).
//!
//! usage: logits MODEL_DIR TEXT

use c2s_model::load_model;
use c2s_model::tokenizer::{encode, load_tokenizer};
use candle_core::Tensor;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, text] = args.as_slice() else {
        return Err("usage: logits MODEL_DIR TEXT".into());
    };
    let dir = std::path::Path::new(dir);
    let (device, _) = c2s_model::device::best_device();
    let m = load_model(dir, &device)?.model;
    let tok = load_tokenizer(&dir.join("tokenizer.json"))?;
    let ids = encode(&tok, text)?;
    let logits = m.forward(&Tensor::new(ids.as_slice(), &device)?.unsqueeze(0)?, None)?;
    let last: Vec<f32> = logits.squeeze(0)?.get(ids.len() - 1)?.to_vec1()?;
    println!("{}", serde_json::json!({"ids": ids, "logits_last": last}));
    Ok(())
}
