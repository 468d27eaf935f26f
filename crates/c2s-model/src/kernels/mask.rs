//! An attention mask as the CPU kernels read it: besides the tensor
//! (`[.., t, keys]`, 0 where a query sees a key, −∞ or a large negative
//! where it does not), its values on the host once per forward pass, and how
//! many leading keys each query can see before only −∞ follows. A causal
//! mask hides about half of a prompt's scores; the softmax and attention's
//! products skip that half (exp(−∞) is exactly 0, so nothing changes).

use std::sync::Arc;

use candle_core::{DType, Tensor};

/// An attention mask and, on the CPU, what the kernels read of it.
#[derive(Debug, Clone)]
pub(crate) struct Mask {
    tensor: Tensor,
    host: Option<Host>,
}

#[derive(Debug, Clone)]
pub(super) struct Host {
    /// The mask's values, flattened.
    pub(super) values: Arc<Vec<f32>>,
    /// Per row of `values` (`keys` long): the keys up to the last one not −∞.
    pub(super) row_seen: Arc<Vec<usize>>,
    /// Per query (of t): the most keys any of its rows sees, batch included.
    pub(super) query_seen: Arc<Vec<usize>>,
}

impl Mask {
    /// `tensor` (`[.., t, keys]`) with its host values and prefixes when it
    /// is an f32 tensor on the CPU; other devices use the tensor only.
    pub(crate) fn new(tensor: Tensor) -> candle_core::Result<Self> {
        let dims = tensor.dims();
        let host = if tensor.device().is_cpu() && tensor.dtype() == DType::F32 && dims.len() >= 2 {
            let (t, keys) = (dims[dims.len() - 2], dims[dims.len() - 1]);
            let values = tensor.flatten_all()?.to_vec1::<f32>()?;
            let row_seen: Vec<usize> = values
                .chunks(keys.max(1))
                .map(|row| {
                    row.iter()
                        .rposition(|&x| x != f32::NEG_INFINITY)
                        .map_or(0, |j| j + 1)
                })
                .collect();
            let mut query_seen = vec![0; t];
            for (r, &seen) in row_seen.iter().enumerate() {
                let q = &mut query_seen[r % t.max(1)];
                *q = (*q).max(seen);
            }
            Some(Host {
                values: Arc::new(values),
                row_seen: Arc::new(row_seen),
                query_seen: Arc::new(query_seen),
            })
        } else {
            None
        };
        Ok(Self { tensor, host })
    }

    /// The mask as a tensor.
    pub(crate) fn tensor(&self) -> &Tensor {
        &self.tensor
    }

    /// What the CPU kernels read, where the mask is an f32 CPU tensor.
    pub(super) fn host(&self) -> Option<&Host> {
        self.host.as_ref()
    }

    /// Per query, how many leading keys it may see (every later one is −∞
    /// for every row of the batch); `keys` must be the mask's last
    /// dimension.
    pub(super) fn query_seen(&self, keys: usize) -> Option<&Arc<Vec<usize>>> {
        let h = self.host.as_ref()?;
        (self.tensor.dims().last() == Some(&keys)).then_some(&h.query_seen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn prefixes_end_at_the_last_key_not_hidden() {
        let inf = f32::NEG_INFINITY;
        // Two batch rows of 3 queries x 4 keys: causal with one past key,
        // the second row's first key padded (finite, so still "seen").
        let v = vec![
            0., 0., inf, inf, 0., 0., 0., inf, 0., 0., 0., 0., //
            -1e9, 0., inf, inf, -1e9, 0., 0., inf, -1e9, inf, inf, inf,
        ];
        let m = Mask::new(Tensor::from_vec(v, (2, 1, 3, 4), &Device::Cpu).unwrap()).unwrap();
        let h = m.host().unwrap();
        assert_eq!(*h.row_seen, vec![2, 3, 4, 2, 3, 1]);
        assert_eq!(*h.query_seen, vec![2, 3, 4]);
        assert!(m.query_seen(4).is_some() && m.query_seen(5).is_none());
    }
}
