//! Text generation with a key-value cache.

use candle_core::{Tensor, D};

use crate::error::Result;
use crate::gpt2::{Gpt2, KvCache};

/// Greedy decoding: `max_new` tokens after `prompt`, stopping early at `eos`.
pub fn greedy(model: &Gpt2, prompt: &[u32], max_new: usize, eos: Option<u32>) -> Result<Vec<u32>> {
    let dev = model.device();
    let mut cache = KvCache::new(model.config.n_layer);
    let mut out = Vec::with_capacity(max_new);
    let mut input = Tensor::new(prompt, dev)?.unsqueeze(0)?;
    for _ in 0..max_new {
        let logits = model.forward(&input, Some(&mut cache))?;
        let last = logits.squeeze(0)?.get(logits.dim(1)? - 1)?;
        let next = last.argmax(D::Minus1)?.to_scalar::<u32>()?;
        out.push(next);
        if Some(next) == eos {
            break;
        }
        input = Tensor::new(&[next], dev)?.unsqueeze(0)?;
    }
    Ok(out)
}
