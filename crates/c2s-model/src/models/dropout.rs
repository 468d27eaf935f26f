//! Dropout in training, as transformers applies a config's `*_pdrop`: each
//! element zeroed with probability p, the rest scaled by 1 / (1 - p).
//!
//! The mask is drawn here rather than by `candle_nn::ops::dropout`, which
//! draws from the device's own generator: the CPU's cannot be seeded, and a
//! run must be reproducible for its seed and resume as it would have gone on.
//! On a GPU it is candle's, drawn on the device.

use std::sync::{Arc, Mutex};

use candle_core::Tensor;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::Result;

/// A seeded source of dropout masks, shared by a model's layers for one
/// forward pass.
#[derive(Debug, Clone)]
pub(crate) struct Dropout {
    rng: Arc<Mutex<ChaCha8Rng>>,
}

impl Dropout {
    pub fn seeded(seed: u64) -> Self {
        Dropout {
            rng: Arc::new(Mutex::new(ChaCha8Rng::seed_from_u64(seed))),
        }
    }

    /// `x` with each element dropped with probability `p` (none where `p` is 0).
    pub fn apply(&self, x: &Tensor, p: f64) -> Result<Tensor> {
        if p <= 0.0 {
            return Ok(x.clone());
        }
        if !x.device().is_cpu() {
            // A GPU draws its own mask: copying one from the host would
            // cost more than the step (GPT-2 small's attention weights
            // alone are 300 M values a step at batch 8 x 512), and GPU runs
            // are not reproducible to the bit anyway.
            return Ok(candle_nn::ops::dropout(x, p as f32)?);
        }
        let keep = 1.0 - p.min(1.0);
        let scale = if keep > 0.0 { (1.0 / keep) as f32 } else { 0.0 };
        // Kept where a uniform u32 falls below keep x 2^32.
        let threshold = (keep * 4_294_967_296.0).min(u32::MAX as f64) as u32;
        let mask: Vec<f32> = {
            let mut rng = self
                .rng
                .lock()
                .expect("the dropout generator is not poisoned");
            (0..x.elem_count())
                .map(|_| {
                    if rng.next_u32() < threshold {
                        scale
                    } else {
                        0.0
                    }
                })
                .collect()
        };
        let mask = Tensor::from_vec(mask, x.shape(), x.device())?.to_dtype(x.dtype())?;
        Ok(x.mul(&mask)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn drops_about_p_and_keeps_the_mean() {
        let x = Tensor::ones(100_000, candle_core::DType::F32, &Device::Cpu).unwrap();
        let y: Vec<f32> = Dropout::seeded(1)
            .apply(&x, 0.1)
            .unwrap()
            .to_vec1()
            .unwrap();
        let dropped = y.iter().filter(|&&v| v == 0.0).count() as f64 / y.len() as f64;
        assert!((dropped - 0.1).abs() < 0.01, "dropped {dropped}");
        let mean = y.iter().map(|&v| v as f64).sum::<f64>() / y.len() as f64;
        assert!((mean - 1.0).abs() < 0.01, "mean {mean}");
    }

    #[test]
    fn a_seed_gives_the_same_mask_and_p_zero_changes_nothing() {
        let x = Tensor::arange(0f32, 1000.0, &Device::Cpu).unwrap();
        let a: Vec<f32> = Dropout::seeded(7)
            .apply(&x, 0.5)
            .unwrap()
            .to_vec1()
            .unwrap();
        let b: Vec<f32> = Dropout::seeded(7)
            .apply(&x, 0.5)
            .unwrap()
            .to_vec1()
            .unwrap();
        let c: Vec<f32> = Dropout::seeded(8)
            .apply(&x, 0.5)
            .unwrap()
            .to_vec1()
            .unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        let same: Vec<f32> = Dropout::seeded(7)
            .apply(&x, 0.0)
            .unwrap()
            .to_vec1()
            .unwrap();
        assert_eq!(same, x.to_vec1::<f32>().unwrap());
    }
}
