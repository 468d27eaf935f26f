//! Cell embeddings: the mean of the model's last hidden states over a cell's
//! real tokens. Padding is masked out of both attention and the mean (the
//! reference averages padding too, so a cell's embedding depends on its batch).

use std::path::Path;

use candle_core::{DType, Device, Tensor};

use crate::error::{ModelError, Result};
use crate::models::causal_lm::CausalLm;

/// Cells embedded at once unless asked otherwise.
pub const DEFAULT_BATCH_SIZE: usize = 16;

/// Writes embeddings as safetensors: tensor `embeddings` [cells, width] (f32)
/// and the cell names, as JSON, in the metadata key `cell_names`
/// (`safetensors.numpy.load_file` and `safe_open(...).metadata()` read
/// them). Written whole or not at all; an existing file is kept unless
/// `force`.
pub fn write_embeddings(
    path: &Path,
    names: &[&str],
    embeddings: Vec<Vec<f32>>,
    force: bool,
) -> Result<()> {
    let width = embeddings.first().map_or(0, Vec::len);
    if names.len() != embeddings.len() || embeddings.iter().any(|e| e.len() != width) {
        return Err(ModelError::Input(
            format!(
                "{} cell names for {} embeddings of unequal or mismatched widths",
                names.len(),
                embeddings.len()
            ),
            "this is a bug: please report it".into(),
        ));
    }
    let flat: Vec<f32> = embeddings.into_iter().flatten().collect();
    let t = Tensor::from_vec(flat, (names.len(), width), &Device::Cpu)?;
    // A list of strings always encodes as JSON.
    let names = serde_json::to_string(names).unwrap_or_default();
    let meta = std::collections::HashMap::from([("cell_names".to_string(), names)]);
    let bytes = safetensors::serialize([("embeddings", &t)], Some(meta)).map_err(|e| {
        ModelError::Input(
            format!("cannot encode the embeddings: {e}"),
            "this is a bug: please report it".into(),
        )
    })?;
    c2s_data::output::write_file(path, &bytes, force)?;
    Ok(())
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embeddings_are_written_whole_and_a_mismatch_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("emb.safetensors");
        write_embeddings(
            &path,
            &["a", "b"],
            vec![vec![1.0, 2.0], vec![3.0, 4.0]],
            false,
        )
        .unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
        let names = &meta.metadata().as_ref().unwrap()["cell_names"];
        assert_eq!(names, r#"["a","b"]"#);
        // An existing file is kept without force; a mismatch writes nothing.
        assert!(write_embeddings(&path, &["a", "b"], vec![vec![0.0], vec![0.0]], false).is_err());
        let other = dir.path().join("other.safetensors");
        let e = write_embeddings(&other, &["a"], vec![vec![1.0], vec![2.0]], false).unwrap_err();
        assert!(
            e.to_string().contains("1 cell names for 2 embeddings"),
            "{e}"
        );
        assert!(!other.exists());
        let ragged = write_embeddings(&other, &["a", "b"], vec![vec![1.0], vec![2.0, 3.0]], false);
        assert!(ragged.is_err() && !other.exists());
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
    }
}
