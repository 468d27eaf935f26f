//! Keys and values of earlier positions, per layer, for fast generation, and
//! the attention masks over them.

use candle_core::{DType, Device, Tensor};

use crate::error::Result;
use crate::kernels::mask::Mask;

/// One layer's cached keys and values, `[b, kv_heads, capacity, head_dim]`
/// buffers of which the first `len` positions are filled. Each step writes
/// its keys in place: joining the old keys and the new (`Tensor::cat`)
/// copied the whole cache every token, 200 MB a token for a Pythia-410m at
/// 1,000 positions, more time than the attention itself.
#[derive(Debug)]
pub(crate) struct LayerKv {
    k: Tensor,
    v: Tensor,
    len: usize,
}

/// A layer's place in the cache: empty until its first keys arrive.
pub(crate) type LayerSlot = Option<LayerKv>;

impl LayerKv {
    /// Positions held.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The filled positions of a buffer: a view on the CPU, whose matrix
    /// product reads strided batches; a contiguous copy on other devices.
    fn filled(&self, buf: &Tensor) -> Result<Tensor> {
        let t = buf.narrow(2, 0, self.len)?;
        Ok(if t.device().is_cpu() {
            t
        } else {
            t.contiguous()?
        })
    }

    /// New buffers of `capacity` positions holding `k` and `v` `[b, h, t, d]`.
    fn with_capacity(k: &Tensor, v: &Tensor, capacity: usize) -> Result<LayerKv> {
        let buffer = |x: &Tensor| -> Result<Tensor> {
            let (b, h, _, d) = x.dims4()?;
            let buf = Tensor::zeros((b, h, capacity, d), x.dtype(), x.device())?;
            buf.slice_set(&x.contiguous()?, 2, 0)?;
            Ok(buf)
        };
        Ok(LayerKv {
            k: buffer(k)?,
            v: buffer(v)?,
            len: k.dim(2)?,
        })
    }
}

/// Keys and values of the positions already seen, for every layer. A layer
/// with a sliding window keeps only the keys its next queries can see. Not
/// `Clone`: its buffers are written in place, so two caches must never share
/// them (`repeat_rows` copies one).
#[derive(Debug, Default)]
pub struct KvCache {
    layers: Vec<LayerSlot>,
    /// Positions seen so far (a sliding layer may hold fewer).
    seen: usize,
}

impl KvCache {
    pub fn new(n_layer: usize) -> Self {
        KvCache {
            layers: (0..n_layer).map(|_| None).collect(),
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
    pub(crate) fn repeat_rows(&self, n: usize) -> Result<KvCache> {
        let layers = self
            .layers
            .iter()
            .map(|l| {
                l.as_ref()
                    .map(|l| {
                        Ok(LayerKv {
                            k: l.filled(&l.k)?.repeat((n, 1, 1, 1))?,
                            v: l.filled(&l.v)?.repeat((n, 1, 1, 1))?,
                            len: l.len,
                        })
                    })
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
    pub(crate) fn slots(&mut self, n_layer: usize) -> &mut [LayerSlot] {
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
pub(crate) fn append(
    slot: Option<&mut LayerSlot>,
    k: Tensor,
    v: Tensor,
) -> Result<(Tensor, Tensor)> {
    let Some(slot) = slot else {
        return Ok((k, v));
    };
    let t = k.dim(2)?;
    match slot {
        None => {
            // The prompt: its own tensors are the buffers, full, so a
            // forward pass that never decodes holds nothing extra.
            let (k, v) = (k.contiguous()?, v.contiguous()?);
            *slot = Some(LayerKv {
                k: k.clone(),
                v: v.clone(),
                len: t,
            });
            Ok((k, v))
        }
        Some(l) => {
            let need = l.len + t;
            if need > l.k.dim(2)? {
                // Half again what is needed: a copy every few dozen tokens
                // at most, and at most 1.5x the memory.
                let grown = LayerKv::with_capacity(
                    &l.filled(&l.k)?,
                    &l.filled(&l.v)?,
                    need + (need / 2).max(32),
                )?;
                *l = grown;
            }
            l.k.slice_set(&k.contiguous()?, 2, l.len)?;
            l.v.slice_set(&v.contiguous()?, 2, l.len)?;
            l.len = need;
            Ok((l.filled(&l.k)?, l.filled(&l.v)?))
        }
    }
}

/// Keeps at most the last `n` positions of a layer's cache: a sliding-window
/// layer's next query sees no more than `window - 1` earlier keys. The older
/// keys are dropped only when the buffer is full (the window's mask hides
/// them until then), so the cache is not copied every token.
pub(crate) fn keep_last(slot: Option<&mut LayerSlot>, n: usize) -> Result<()> {
    if let Some(Some(l)) = slot {
        if l.len > n && l.len == l.k.dim(2)? {
            let (k, v) = (l.k.narrow(2, l.len - n, n)?, l.v.narrow(2, l.len - n, n)?);
            *l = LayerKv::with_capacity(&k, &v, l.len)?;
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
) -> Result<Option<Mask>> {
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
    let mask = match padding {
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
    };
    Ok(mask.map(Mask::new).transpose()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask(t: usize, past: usize, keys: usize, window: Option<usize>) -> Vec<Vec<bool>> {
        attention_mask(1, t, past, keys, None, window, &Device::Cpu)
            .unwrap()
            .map(|m| {
                m.tensor()
                    .to_vec2::<f32>()
                    .unwrap()
                    .into_iter()
                    .map(|r| r.into_iter().map(|x| x == 0.0).collect())
                    .collect()
            })
            .unwrap_or_else(|| vec![vec![true; keys]; t])
    }

    fn kv(b: usize, t: usize, start: f32) -> Tensor {
        // [b, 2 heads, t, 3], numbered so every position differs.
        Tensor::arange(start, start + (b * 2 * t * 3) as f32, &Device::Cpu)
            .unwrap()
            .reshape((b, 2, t, 3))
            .unwrap()
    }

    fn values(t: &Tensor) -> Vec<f32> {
        t.flatten_all().unwrap().to_vec1().unwrap()
    }

    #[test]
    fn appending_in_place_equals_joining_and_copies_stay_apart() {
        let mut slot: LayerSlot = None;
        let mut joined: Option<Tensor> = None;
        // A prompt of 5, then 40 single steps: the buffer grows twice.
        for (i, t) in std::iter::once(5)
            .chain(std::iter::repeat_n(1, 40))
            .enumerate()
        {
            let k = kv(2, t, 1000.0 * i as f32);
            let v = (&k * -1.0).unwrap();
            let (ck, cv) = append(Some(&mut slot), k.clone(), v).unwrap();
            let want = match joined {
                Some(j) => Tensor::cat(&[&j, &k], 2).unwrap(),
                None => k,
            };
            assert_eq!(values(&ck), values(&want), "step {i}");
            assert_eq!(values(&cv), values(&(&want * -1.0).unwrap()));
            // The product the attention takes reads the strided view.
            let q = Tensor::ones((2, 2, 1, 3), DType::F32, &Device::Cpu).unwrap();
            assert_eq!(
                values(&q.matmul(&ck.t().unwrap()).unwrap()),
                values(&q.matmul(&want.t().unwrap()).unwrap())
            );
            joined = Some(want);
        }
        let l = slot.as_ref().unwrap();
        assert_eq!(l.len(), 45);
        assert!(l.k.dim(2).unwrap() >= 45);
        // repeat_rows copies the filled positions only, and appending to
        // the copy leaves the original as it was.
        let cache = KvCache {
            layers: vec![slot],
            seen: 45,
        };
        let mut rows = cache.repeat_rows(3).unwrap();
        assert_eq!(rows.layers[0].as_ref().unwrap().k.dims(), &[6, 2, 45, 3]);
        append(Some(&mut rows.layers[0]), kv(6, 1, -5.0), kv(6, 1, -5.0)).unwrap();
        let original = cache.layers[0].as_ref().unwrap();
        assert_eq!(original.len(), 45);
        assert_eq!(
            values(&original.filled(&original.k).unwrap()),
            values(joined.as_ref().unwrap())
        );
    }

    #[test]
    fn a_sliding_layer_keeps_its_last_keys_when_the_buffer_fills() {
        let mut slot: LayerSlot = None;
        let mut all: Vec<Tensor> = Vec::new();
        for i in 0..30 {
            let k = kv(1, 1, i as f32 * 100.0);
            all.push(k.clone());
            let (ck, _) = append(Some(&mut slot), k.clone(), k).unwrap();
            let held = ck.dim(2).unwrap();
            // Never fewer than the window's last 4, and they are the last ones.
            assert!(held >= (i + 1).min(4));
            let want = Tensor::cat(&all[all.len() - held..], 2).unwrap();
            assert_eq!(values(&ck), values(&want), "step {i}");
            keep_last(Some(&mut slot), 4).unwrap();
            let l = slot.as_ref().unwrap();
            // Dropped only when full, so it stays bounded.
            assert!(l.len() <= 4 || l.len() < l.k.dim(2).unwrap());
            assert!(l.k.dim(2).unwrap() <= 64);
        }
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
