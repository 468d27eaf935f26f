//! Keys and values of earlier positions, per layer, for fast generation, and
//! the attention masks over them.

use candle_core::{DType, Device, Tensor};

use crate::error::Result;

/// One layer's cached keys and values `[b, kv_heads, positions, head_dim]`.
pub(crate) type LayerKv = Option<(Tensor, Tensor)>;

/// Keys and values of the positions already seen, for every layer. A layer
/// with a sliding window keeps only the keys its next queries can see.
#[derive(Debug, Clone, Default)]
pub struct KvCache {
    layers: Vec<LayerKv>,
    /// Positions seen so far (a sliding layer may hold fewer).
    seen: usize,
}

impl KvCache {
    pub fn new(n_layer: usize) -> Self {
        KvCache {
            layers: vec![None; n_layer],
            seen: 0,
        }
    }

    /// Positions already cached.
    pub fn len(&self) -> usize {
        self.seen
    }

    pub fn is_empty(&self) -> bool {
        self.seen == 0
    }

    /// The cache of a one-row batch repeated for `n` rows, so `n` different
    /// continuations of one prompt run as one batch.
    pub fn repeat_rows(&self, n: usize) -> Result<KvCache> {
        let layers = self
            .layers
            .iter()
            .map(|l| {
                l.as_ref()
                    .map(|(k, v)| Ok((k.repeat((n, 1, 1, 1))?, v.repeat((n, 1, 1, 1))?)))
                    .transpose()
            })
            .collect::<Result<_>>()?;
        Ok(KvCache {
            layers,
            seen: self.seen,
        })
    }

    /// The layers' slots, made to fit a model of `n_layer` layers (a cache of
    /// another shape starts afresh).
    pub(crate) fn slots(&mut self, n_layer: usize) -> &mut [LayerKv] {
        if self.layers.len() != n_layer {
            *self = KvCache::new(n_layer);
        }
        &mut self.layers
    }

    pub(crate) fn advance(&mut self, t: usize) {
        self.seen += t;
    }
}

/// Appends this step's keys and values `[b, h, t, d]` to a layer's cache and
/// returns all the keys and values to attend over.
pub(crate) fn append(slot: Option<&mut LayerKv>, k: Tensor, v: Tensor) -> Result<(Tensor, Tensor)> {
    let Some(slot) = slot else {
        return Ok((k, v));
    };
    let (k, v) = match slot.as_ref() {
        Some((pk, pv)) => (Tensor::cat(&[pk, &k], 2)?, Tensor::cat(&[pv, &v], 2)?),
        None => (k, v),
    };
    *slot = Some((k.clone(), v.clone()));
    Ok((k, v))
}

/// Keeps the last `n` positions of a layer's cache: a sliding-window layer's
/// next query sees no more than `window - 1` earlier keys.
pub(crate) fn keep_last(slot: Option<&mut LayerKv>, n: usize) -> Result<()> {
    if let Some(Some((k, v))) = slot {
        let len = k.dim(2)?;
        if len > n {
            *k = k.narrow(2, len - n, n)?.contiguous()?;
            *v = v.narrow(2, len - n, n)?.contiguous()?;
        }
    }
    Ok(())
}

/// Additive f32 attention mask for `t` queries at positions `past..past + t`
/// over `keys` keys ending at `past + t` (a trimmed sliding cache holds fewer
/// than `past + t`): `-inf` on future keys and, with `window`, on keys `window`
/// or more positions back; with `padding` (`[b, past + t]`, 1 for real tokens),
/// a large negative value on padded keys. `None` when nothing is masked.
pub(crate) fn attention_mask(
    b: usize,
    t: usize,
    past: usize,
    keys: usize,
    padding: Option<&Tensor>,
    window: Option<usize>,
    dev: &Device,
) -> Result<Option<Tensor>> {
    let total = past + t;
    let first_key = total - keys;
    let mut any = false;
    let causal: Vec<f32> = (0..t)
        .flat_map(|i| (first_key..total).map(move |j| (i, j)))
        .map(|(i, j)| {
            let q = past + i;
            let hidden = j > q || window.is_some_and(|w| q - j >= w);
            any |= hidden;
            if hidden {
                f32::NEG_INFINITY
            } else {
                0.0
            }
        })
        .collect();
    let causal = Tensor::from_vec(causal, (t, keys), dev)?;
    Ok(match padding {
        None if !any => None,
        None => Some(causal),
        Some(p) => {
            // 0 for real tokens, -1e9 for padding, broadcast over heads and queries.
            let keep = p
                .narrow(1, first_key, keys)?
                .to_dtype(DType::F32)?
                .reshape((b, 1, 1, keys))?;
            let pad = ((keep.ones_like()? - keep)? * -1e9)?;
            Some(pad.broadcast_add(&causal.reshape((1, 1, t, keys))?)?)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask(t: usize, past: usize, keys: usize, window: Option<usize>) -> Vec<Vec<bool>> {
        attention_mask(1, t, past, keys, None, window, &Device::Cpu)
            .unwrap()
            .map(|m| {
                m.to_vec2::<f32>()
                    .unwrap()
                    .into_iter()
                    .map(|r| r.into_iter().map(|x| x == 0.0).collect())
                    .collect()
            })
            .unwrap_or_else(|| vec![vec![true; keys]; t])
    }

    #[test]
    fn masks_hide_the_future_and_keys_past_the_window() {
        // Three queries, no cache: lower triangle.
        assert_eq!(
            mask(3, 0, 3, None),
            vec![
                vec![true, false, false],
                vec![true, true, false],
                vec![true, true, true]
            ]
        );
        // Window 2: each query sees itself and one key back.
        assert_eq!(
            mask(3, 0, 3, Some(2)),
            vec![
                vec![true, false, false],
                vec![true, true, false],
                vec![false, true, true]
            ]
        );
        // One query at position 5 over a cache trimmed to the last 2 keys
        // (positions 4 and 5) with window 2: both visible, nothing masked.
        assert!(attention_mask(1, 1, 5, 2, None, Some(2), &Device::Cpu)
            .unwrap()
            .is_none());
        // The same query over an untrimmed cache: keys 0..=3 hidden.
        assert_eq!(
            mask(1, 5, 6, Some(2)),
            vec![vec![false, false, false, false, true, true]]
        );
    }
}
