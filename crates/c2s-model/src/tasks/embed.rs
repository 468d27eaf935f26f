//! Cell embeddings: the mean of the model's last hidden states over a cell's
//! real tokens. Padding is masked out of both attention and the mean (the
//! reference averages padding too, so a cell's embedding depends on its batch).

use candle_core::{DType, Tensor};

use crate::error::Result;
use crate::models::causal_lm::CausalLm;

/// Embeds token sequences of any lengths, right-padded with `pad` into one batch.
pub fn embed_batch(model: &CausalLm, seqs: &[Vec<u32>], pad: u32) -> Result<Vec<Vec<f32>>> {
    if seqs.is_empty() {
        return Ok(Vec::new());
    }
    let len = seqs.iter().map(Vec::len).max().unwrap_or(1).max(1);
    let dev = model.device();
    let mut ids = Vec::with_capacity(seqs.len() * len);
    let mut mask = Vec::with_capacity(seqs.len() * len);
    for s in seqs {
        for i in 0..len {
            ids.push(*s.get(i).unwrap_or(&pad));
            mask.push(if i < s.len() { 1f32 } else { 0.0 });
        }
    }
    let b = seqs.len();
    let ids = Tensor::from_vec(ids, (b, len), dev)?;
    let mask = Tensor::from_vec(mask, (b, len), dev)?;
    let hidden = model
        .hidden_states(&ids, None, Some(&mask))?
        .to_dtype(DType::F32)?;
    let summed = hidden.broadcast_mul(&mask.unsqueeze(2)?)?.sum(1)?;
    let counts = mask.sum_keepdim(1)?.clamp(1.0, f64::MAX)?;
    Ok(summed.broadcast_div(&counts)?.to_vec2()?)
}
