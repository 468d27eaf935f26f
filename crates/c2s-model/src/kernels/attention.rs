//! Causal attention (`causal`), which every model family calls: for a
//! prompt's inference on the CPU, fused per block of queries; otherwise its
//! separate steps, the scores q · kᵀ, the masked softmax and the mix of
//! values att · v over the (batch, head) pairs. A prompt's products (more
//! than 64 queries, f32 on the CPU) run on AMX tiles where the CPU has them
//! (kernels::amx, within 2^-15 of the sizes of the products summed), else
//! on gemm's f32 kernels. On a Pythia-410m prompt of 800 tokens gemm's f32
//! scores and mixes were 14 % of the time once its other products ran on the
//! tiles. What the causal mask hides is not computed: scores of keys past a
//! query's last seen one are left 0 (the mask makes them −∞), and the mix
//! does not read the weights of those keys (the softmax made them 0).

use std::sync::Arc;

use candle_core::{CpuStorage, CustomOp2, CustomOp3, DType, Layout, Shape, Tensor};

use rayon::prelude::*;

use super::fused;
use super::mask::{Host, Mask};

/// Queries per (batch, head) from which the tiles are used: as for the
/// weights' products (kernels::half_weights), fewer rows (decoding, a short
/// prompt) are not worth packing for them.
const MIN_ROWS: usize = 64;

/// Queries a block of the fused attention takes at once: their scores
/// (64 x 800 f32 at 800 keys, 200 KB) stay in the core's L2 cache through
/// the softmax and the mix.
const BLOCK: usize = 64;

/// Causal attention softmax(cap(scale · q kᵀ) + mask) v: q `[b, h, t, d]`,
/// k and v `[b, kv, s, dv]` (`h = kv · group`, a group's heads adjacent, as
/// transformers' `repeat_kv` lays them out): `[b, h, t, dv]`. `cap`, where
/// given (Gemma-2's soft-capping), is c · tanh(x / c).
///
/// For a prompt (more than MIN_ROWS queries a head) on the CPU, when nothing
/// is to be differentiated, each block of BLOCK queries goes through its
/// scores, softmax and mix while they are in the core's cache, and only
/// against the keys the block sees: the t × s weights are never written out
/// (at 800 tokens, 41 MB a layer of Pythia-410m, written and read back three
/// times by the separate steps), and the hidden half is not computed. On
/// AMX tiles its values are those of `scores`, `fused::scaled_masked_softmax`
/// and `mix` in turn, bit for bit (but for a soft cap, whose tanh is
/// `fused::tanh`, within 1e-7 of candle's); with gemm's f32 products, within
/// their rounding. Otherwise (training, decoding, other devices) it is those
/// three. The fused result is written as `[b, t, h, dv]` and returned as its
/// transposed view, so that the callers' transpose back to the output
/// projection's layout copies nothing.
pub(crate) fn causal(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: Option<&Mask>,
    scale: f64,
    cap: Option<f64>,
) -> candle_core::Result<Tensor> {
    let cap = cap.filter(|&c| c > 0.0);
    let (b, h, t, d) = q.dims4()?;
    let (kv, s, dv) = (k.dim(1)?, k.dim(2)?, v.dim(3)?);
    if kv == 0 || !h.is_multiple_of(kv) {
        candle_core::bail!("attention: {h} query heads do not share {kv} key heads evenly");
    }
    // Grouped heads stack their queries: `[b, kv, group · t, d]`.
    let q = q.reshape((b, kv, h / kv * t, d))?;
    let host = mask.map(|m| m.host().filter(|_| whole_rows(m, b, t, s)));
    let fuse = h / kv * t > MIN_ROWS
        && [&q, k, v]
            .iter()
            .all(|x| x.dtype() == DType::F32 && x.device().is_cpu() && !x.track_op())
        && host.is_none_or(|h| h.is_some())
        && d > 0
        && dv > 0
        && s > 0;
    if fuse {
        let tiles = on_tiles(&q);
        let op = Attend {
            mask: host.flatten().cloned(),
            scale: scale as f32,
            cap: cap.map(|c| c as f32),
            queries: t,
            tiles,
        };
        // Written as `[b, t, h, dv]`, the layout the output projection
        // reads: the callers' transpose back is then no copy.
        let y = q
            .contiguous()?
            .apply_op3(&k.contiguous()?, &v.contiguous()?, op)?;
        return y.transpose(1, 2);
    }
    let sc = scores(&q, k, mask)?.reshape((b, h, t, s))?;
    let (sc, scale) = match cap {
        Some(c) => ((((sc * scale)? / c)?.tanh()? * c)?, 1.0),
        None => (sc, scale),
    };
    let att = fused::scaled_masked_softmax(&sc, scale, mask)?.to_dtype(v.dtype())?;
    mix(&att.reshape((b, kv, h / kv * t, s))?, v, mask)?.reshape((b, h, t, dv))
}

/// Whether `m` is one mask row per query (`[t, s]`) or per batch row and
/// query (`[b, 1, t, s]`), the layouts the fused attention reads.
fn whole_rows(m: &Mask, b: usize, t: usize, s: usize) -> bool {
    let dims = m.tensor().dims();
    dims == [t, s] || dims == [b, 1, t, s]
}

/// The fused attention over q `[b, kv, m, d]`, k `[b, kv, s, d]` and v
/// `[b, kv, s, dv]`, m = group · `queries`: `[b, queries, kv · group, dv]`.
struct Attend {
    mask: Option<Host>,
    scale: f32,
    cap: Option<f32>,
    queries: usize,
    tiles: bool,
}

impl CustomOp3 for Attend {
    fn name(&self) -> &'static str {
        "c2s-causal-attention"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let q = fused::f32_slice(s1, l1, self.name())?;
        let k = fused::f32_slice(s2, l2, self.name())?;
        let v = fused::f32_slice(s3, l3, self.name())?;
        let (&[b, kv, m, d], &[_, _, s, _], &[_, _, _, dv]) = (l1.dims(), l2.dims(), l3.dims())
        else {
            candle_core::bail!("{}: q, k and v must be 4-dimensional", self.name());
        };
        if l2.dims() != [b, kv, s, d] || l3.dims() != [b, kv, s, dv] {
            let dims = (l1.dims(), l2.dims(), l3.dims());
            candle_core::bail!("{}: shapes {dims:?} do not fit", self.name());
        }
        let heads: Vec<HeadKv> = (0..b * kv)
            .into_par_iter()
            .map(|i| {
                HeadKv::new(
                    &k[i * s * d..][..s * d],
                    &v[i * s * dv..][..s * dv],
                    [s, d, dv],
                    self.tiles,
                )
            })
            .collect();
        let (t, group) = (self.queries, m / self.queries.max(1));
        if group * t != m {
            candle_core::bail!("{}: {m} rows are not groups of {t} queries", self.name());
        }
        let out = attend(self, q, &heads, [kv, m, d, s, dv]);
        Ok((CpuStorage::F32(out), Shape::from((b, t, kv * group, dv))))
    }
}

/// A head's keys and values as a block's products read them: packed for the
/// tiles once per head, or as they are for gemm.
enum HeadKv<'a> {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    Tiles(super::amx::Packed, super::amx::Packed),
    Plain {
        k: &'a [f32],
        v: &'a [f32],
        dims: [usize; 3],
    },
}

impl<'a> HeadKv<'a> {
    /// k `[s, d]` and v `[s, dv]`; the tiles multiply vᵀ, packed from v.
    fn new(k: &'a [f32], v: &'a [f32], [s, d, dv]: [usize; 3], tiles: bool) -> Self {
        #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
        if tiles {
            use super::amx::Packed;
            return HeadKv::Tiles(Packed::new(k, s, d), Packed::from_transpose(v, dv, s));
        }
        let _ = tiles;
        HeadKv::Plain {
            k,
            v,
            dims: [s, d, dv],
        }
    }

    /// Scores of `rows` queries `q` (`[rows, d]`) into `buf` (`[rows, s]`):
    /// at least every key a row sees (`seen`); the rest are any finite
    /// values or 0.
    fn scores(&self, q: &[f32], rows: usize, seen: &[usize], buf: &mut [f32]) {
        match self {
            #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
            // SAFETY: buf holds rows x s.
            HeadKv::Tiles(k, _) => unsafe {
                let s = k.rows();
                k.multiply(
                    q,
                    rows,
                    buf.as_mut_ptr(),
                    s,
                    super::amx::Skip::Columns(seen),
                )
            },
            HeadKv::Plain {
                k, dims: [s, d, _], ..
            } => {
                // Up to the softmax's end of the row that sees most.
                let n = fused::softmax_end(seen.iter().copied().max().unwrap_or(0), *s);
                // SAFETY: q is [rows, d]; k's first n rows of d; buf [rows, s].
                unsafe {
                    gemm_f32(
                        [rows, n, *d],
                        [q.as_ptr(), k.as_ptr()],
                        [1, *d as isize, *d as isize, 1],
                        buf.as_mut_ptr(),
                        *s,
                    )
                }
            }
        }
    }

    /// The weights `att` (`[rows, s]`, 0 past each row's `seen` keys) times
    /// the values, into `out` (rows of dv, `ld` apart).
    ///
    /// # Safety
    /// `out` is valid for writes of rows of dv f32, `ld` >= dv apart.
    unsafe fn mix(&self, att: &[f32], rows: usize, seen: &[usize], out: *mut f32, ld: usize) {
        match self {
            #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
            // SAFETY: the caller's `out`.
            HeadKv::Tiles(_, vt) => unsafe {
                vt.multiply(att, rows, out, ld, super::amx::Skip::Depth(seen))
            },
            HeadKv::Plain {
                v,
                dims: [s, _, dv],
                ..
            } => {
                let n = seen.iter().copied().max().unwrap_or(0);
                // SAFETY: att is [rows, s], read to column n; v's first n
                // rows of dv; the caller's `out`.
                unsafe {
                    gemm_f32(
                        [rows, *dv, n],
                        [att.as_ptr(), v.as_ptr()],
                        [1, *s as isize, 1, *dv as isize],
                        out,
                        ld,
                    )
                }
            }
        }
    }
}

/// dst `[m, n]` (rows `ld` apart) = lhs `[m, k]` · rhs `[k, n]`, the operands
/// read with (lhs column, lhs row, rhs column, rhs row) strides, on this
/// thread (the blocks are already shared among threads): gemm's f32 kernels.
///
/// # Safety
/// The operands and `dst` are valid for those shapes and strides.
unsafe fn gemm_f32(
    [m, n, k]: [usize; 3],
    [lhs, rhs]: [*const f32; 2],
    [lcs, lrs, rcs, rrs]: [isize; 4],
    dst: *mut f32,
    ld: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    // SAFETY: the caller's shapes and strides.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            ld as isize,
            false,
            lhs,
            lcs,
            lrs,
            rhs,
            rcs,
            rrs,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

/// The fused attention's work, each (query head, block of queries) on one
/// thread, into `[b, t, h, dv]`.
fn attend(op: &Attend, q: &[f32], heads: &[HeadKv], [kv, m, d, s, dv]: [usize; 5]) -> Vec<f32> {
    struct Out(*mut f32);
    // SAFETY: each (head, block) writes only its own rows of the buffer,
    // which outlives the parallel loop.
    unsafe impl Sync for Out {}
    let mut out = Vec::<f32>::with_capacity(heads.len() * m * dv);
    let dst = Out(out.as_mut_ptr());
    let t = op.queries;
    let (group, blocks) = (m / t, t.div_ceil(BLOCK));
    let h = kv * group;
    (0..heads.len() * group * blocks)
        .into_par_iter()
        .for_each_init(Vec::<f32>::new, |buf, w| {
            let dst = &dst;
            // Key head i (of all batch rows), its query head `member` of the
            // group, and the block's first query.
            let (i, member, t0) = (w / (group * blocks), w / blocks % group, w % blocks * BLOCK);
            let (r0, rows) = (member * t + t0, (t - t0).min(BLOCK));
            // Per row: its mask row (`[t, s]` or `[b, 1, t, s]`), and how
            // many leading keys it sees.
            let mask_row = |r: usize| match &op.mask {
                Some(h) if h.row_seen.len() == t => r % t,
                _ => i / kv * t + r % t,
            };
            let seen: Vec<usize> = (r0..r0 + rows)
                .map(|r| op.mask.as_ref().map_or(s, |h| h.row_seen[mask_row(r)]))
                .collect();
            buf.resize(rows * s, 0.0);
            heads[i].scores(&q[(i * m + r0) * d..][..rows * d], rows, &seen, buf);
            for (j, row) in buf.chunks_mut(s).enumerate() {
                let end = fused::softmax_end(seen[j], s);
                let (row, hidden) = row.split_at_mut(end);
                fused::wide(
                    #[inline(always)]
                    || {
                        match op.cap {
                            Some(c) => row
                                .iter_mut()
                                .for_each(|x| *x = c * fused::tanh(op.scale * *x / c)),
                            None => row.iter_mut().for_each(|x| *x *= op.scale),
                        }
                        if let Some(h) = &op.mask {
                            let mv = &h.values[mask_row(r0 + j) * s..][..end];
                            for (x, &mv) in row.iter_mut().zip(mv) {
                                *x += mv;
                            }
                        }
                        fused::softmax_in_place(row);
                        hidden.fill(0.0);
                    },
                );
            }
            // The block's rows of `[b, t, h, dv]`: query head
            // (i mod kv) · group + member of batch row i / kv.
            let at = ((i / kv * t + t0) * h + i % kv * group + member) * dv;
            // SAFETY: the block's rows, h · dv apart, are inside `out`
            // (b · t · h · dv) and written by no other item.
            unsafe { heads[i].mix(buf, rows, &seen, dst.0.add(at), h * dv) };
        });
    // SAFETY: every (head, block) wrote its rows x dv.
    unsafe { out.set_len(heads.len() * m * dv) };
    out
}

/// q `[.., t, d]` · k `[.., s, d]`ᵀ: `[.., t, s]`, for a softmax under
/// `mask`: scores the mask hides with −∞ may be left 0.
pub(crate) fn scores(q: &Tensor, k: &Tensor, mask: Option<&Mask>) -> candle_core::Result<Tensor> {
    if on_tiles(q) {
        let seen = mask.and_then(|m| m.query_seen(k.dims().iter().rev().nth(1).copied()?));
        let op = ProductT {
            skip: seen.map(|s| (Part::Columns, s.clone())),
        };
        q.contiguous()?.apply_op2(&k.contiguous()?, op)
    } else if k.device().is_cpu() {
        // The CPU's matrix product reads the transposed keys in place.
        q.matmul(&k.t()?)
    } else {
        q.matmul(&k.t()?.contiguous()?)
    }
}

/// att `[.., t, s]` · v `[.., s, d]`: `[.., t, d]`, where att is a softmax
/// under `mask`: its weights of keys the mask hides with −∞ are 0 and may be
/// left unread.
pub(crate) fn mix(att: &Tensor, v: &Tensor, mask: Option<&Mask>) -> candle_core::Result<Tensor> {
    if on_tiles(att) {
        let seen = mask.and_then(|m| m.query_seen(*att.dims().last()?));
        let op = ProductT {
            skip: seen.map(|s| (Part::Depth, s.clone())),
        };
        // The tiles take the second factor by rows: vᵀ, `[.., d, s]`.
        att.contiguous()?.apply_op2(&v.t()?.contiguous()?, op)
    } else {
        att.matmul(v)
    }
}

/// Whether `a`'s product goes to the tiles: f32 on a CPU with AMX, more
/// than MIN_ROWS rows per (batch, head).
fn on_tiles(a: &Tensor) -> bool {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    {
        let rows = a.dims().iter().rev().nth(1).copied().unwrap_or(0);
        a.device().is_cpu()
            && a.dtype() == candle_core::DType::F32
            && a.rank() >= 2
            && rows > MIN_ROWS
            && super::amx::available()
    }
    #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
    {
        let _ = (a, MIN_ROWS);
        false
    }
}

/// a `[.., m, k]` · b `[.., n, k]`ᵀ over the leading dimensions (equal in
/// both), on the tiles; with `skip`, row r is query `r % seen.len()`, which
/// sees its first `seen[query]` keys (output columns, or a's k).
struct ProductT {
    skip: Option<(Part, Arc<Vec<usize>>)>,
}

/// Which dimension of the product the keys are.
#[derive(Clone, Copy)]
enum Part {
    /// The output's columns (the scores).
    Columns,
    /// The depth k (the mix of values).
    Depth,
}

impl CustomOp2 for ProductT {
    fn name(&self) -> &'static str {
        "c2s-tile-product-t"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let a = super::fused::f32_slice(s1, l1, self.name())?;
        let b = super::fused::f32_slice(s2, l2, self.name())?;
        let (da, db) = (l1.dims(), l2.dims());
        let (r, rb) = (da.len(), db.len());
        if r < 2 || r != rb || da[..r - 2] != db[..r - 2] || da[r - 1] != db[r - 1] {
            candle_core::bail!("{}: shapes {da:?} and {db:?} do not multiply", self.name());
        }
        let (m, k, n) = (da[r - 2], da[r - 1], db[r - 2]);
        let batches: usize = da[..r - 2].iter().product();
        let mut dims = da[..r - 2].to_vec();
        dims.extend([m, n]);
        let out = products(a, b, batches, [m, k, n], self.skip(m));
        Ok((CpuStorage::F32(out), Shape::from(dims)))
    }

    fn bwd(
        &self,
        a: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        // d(a bᵀ)/da = g b, /db = gᵀ a (candle's products: gradients are
        // not where the time goes, and stay f32). Skipped scores are hidden
        // by the mask, so the softmax gives them no gradient, and skipped
        // weights were 0: the full products' gradients are the same.
        let ga = grad.matmul(b)?;
        let gb = grad.t()?.matmul(a)?;
        Ok((Some(ga), Some(gb)))
    }
}

impl ProductT {
    /// What the tiles may skip for `m` rows a batch: nothing unless the
    /// queries' count divides them (grouped heads stack their queries).
    fn skip(&self, m: usize) -> Option<(Part, &[usize])> {
        let (part, seen) = self.skip.as_ref()?;
        (!seen.is_empty() && m.is_multiple_of(seen.len())).then_some((*part, seen.as_slice()))
    }
}

/// Each batch's product on the tiles, in parallel (the tiles' own tasks
/// split each product's columns too), into one buffer.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn products(
    a: &[f32],
    b: &[f32],
    batches: usize,
    [m, k, n]: [usize; 3],
    skip: Option<(Part, &[usize])>,
) -> Vec<f32> {
    use super::amx::Skip;
    use rayon::prelude::*;
    struct Out(*mut f32);
    // SAFETY: each batch writes only its own m * n block of the buffer,
    // which outlives the parallel loop.
    unsafe impl Sync for Out {}
    let mut out = Vec::<f32>::with_capacity(batches * m * n);
    let dst = Out(out.as_mut_ptr());
    if m * n > 0 {
        (0..batches).into_par_iter().for_each(|i| {
            let dst = &dst;
            // SAFETY: block i of `out` has room for m * n; the tiles are
            // available (on_tiles); k = 0 gives zeros.
            unsafe {
                let o = dst.0.add(i * m * n);
                if k == 0 {
                    std::ptr::write_bytes(o, 0, m * n);
                } else {
                    super::amx::matmul_into(
                        &a[i * m * k..(i + 1) * m * k],
                        &b[i * n * k..(i + 1) * n * k],
                        [m, k, n],
                        o,
                        match skip {
                            None => Skip::Nothing,
                            Some((Part::Columns, seen)) => Skip::Columns(seen),
                            Some((Part::Depth, seen)) => Skip::Depth(seen),
                        },
                        None,
                    );
                }
            }
        });
    }
    // SAFETY: every batch's block was written above.
    unsafe { out.set_len(batches * m * n) };
    out
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
fn products(
    _: &[f32],
    _: &[f32],
    _: usize,
    _: [usize; 3],
    _: Option<(Part, &[usize])>,
) -> Vec<f32> {
    unreachable!("on_tiles is false without AMX")
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    /// A causal mask `[t, s]` (the queries are the last t of s positions),
    /// and the same for a batch of 2 whose second row has 5 padded keys
    /// (`[2, 1, t, s]`).
    fn causal(t: usize, s: usize, padded: bool) -> Tensor {
        let dev = Device::Cpu;
        let v: Vec<f32> = (0..t)
            .flat_map(|i| (0..s).map(move |j| (i, j)))
            .map(|(i, j)| {
                if j > i + s - t {
                    f32::NEG_INFINITY
                } else {
                    0.0
                }
            })
            .collect();
        let m = Tensor::from_vec(v, (t, s), &dev).unwrap();
        if !padded {
            return m;
        }
        let pad: Vec<f32> = (0..2 * s)
            .map(|j| if j >= s && j < s + 5 { -1e9 } else { 0.0 })
            .collect();
        let pad = Tensor::from_vec(pad, (2, 1, 1, s), &dev).unwrap();
        pad.broadcast_add(&m.reshape((1, 1, t, s)).unwrap())
            .unwrap()
    }

    /// Causal attention with these products (on the tiles where the CPU has
    /// them, skipping what the mask hides) as with candle's full products,
    /// forward and backward: at a prompt's length, with and without padded
    /// keys and with two query heads sharing keys (grouped rows), and at a
    /// decoding step's.
    #[test]
    fn causal_attention_matches_candle() {
        let dev = Device::Cpu;
        for (t, past, group, padded) in [
            (1, 89, 1, false),
            (70, 20, 1, false),
            (130, 0, 1, true),
            (100, 3, 2, false),
        ] {
            let s = t + past;
            let (heads, kv) = (2 * group, 2);
            // Queries at attention's scale (1 / sqrt d): a saturated softmax
            // would turn any rounding into gradients percents apart.
            let var = |dims: (usize, usize, usize, usize), std: f32| {
                Var::from_tensor(&Tensor::randn(0f32, std, dims, &dev).unwrap()).unwrap()
            };
            let (q, k, v) = (
                var((2, heads, t, 40), 0.16),
                var((2, kv, s, 40), 1.0),
                var((2, kv, s, 24), 1.0),
            );
            let mask_t = causal(t, s, padded);
            let mask = Mask::new(mask_t.clone()).unwrap();
            // Grouped heads stack their queries, as causal() does.
            let qg = q.as_tensor().reshape((2, kv, group * t, 40)).unwrap();
            let sc = scores(&qg, k.as_tensor(), Some(&mask)).unwrap();
            let sc = sc.reshape((2, heads, t, s)).unwrap();
            #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
            if t > MIN_ROWS && super::super::amx::available() {
                // The first query's last key: hidden, in a tile past what the
                // first 32 queries see, so not computed.
                let hidden = sc.get(0).unwrap().get(0).unwrap().get(0).unwrap();
                assert_eq!(hidden.get(s - 1).unwrap().to_scalar::<f32>().unwrap(), 0.0);
            }
            let att = super::super::fused::scaled_masked_softmax(&sc, 1.0, Some(&mask)).unwrap();
            let att_g = att.reshape((2, kv, group * t, s)).unwrap();
            let y = mix(&att_g, v.as_tensor(), Some(&mask)).unwrap();

            let want = qg
                .matmul(&k.as_tensor().t().unwrap())
                .unwrap()
                .reshape((2, heads, t, s))
                .unwrap()
                .broadcast_add(&mask_t)
                .unwrap();
            let want_att = candle_nn::ops::softmax(&want, candle_core::D::Minus1).unwrap();
            let want_y = want_att
                .reshape((2, kv, group * t, s))
                .unwrap()
                .matmul(v.as_tensor())
                .unwrap();
            let size_y = want_att
                .reshape((2, kv, group * t, s))
                .unwrap()
                .matmul(&v.as_tensor().abs().unwrap())
                .unwrap();
            within(&y, &want_y, &size_y);
            // Gradients reach q, k and v, as candle's products give them.
            let g = (&y * &y).unwrap().sum_all().unwrap().backward().unwrap();
            let g2 = (&want_y * &want_y)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            for var in [&q, &k, &v] {
                let flat = |g: &candle_core::backprop::GradStore| {
                    g.get(var.as_tensor())
                        .expect("a gradient")
                        .flatten_all()
                        .unwrap()
                        .to_vec1::<f32>()
                        .unwrap()
                };
                for (a, b) in flat(&g).iter().zip(flat(&g2)) {
                    assert!(
                        (a - b).abs() <= 1e-3 * (1.0 + b.abs()),
                        "t = {t}, {:?}: gradient {a} vs {b}",
                        var.as_tensor().dims()
                    );
                }
            }
        }
    }

    /// The fused attention gives the separate steps' values: bit for bit on
    /// the tiles (where the CPU has them) but for a soft cap's tanh, within
    /// f32 rounding of candle's products with gemm's (every CPU); with and
    /// without padded keys, with grouped heads and a soft cap, and at a
    /// decoding step (the separate steps).
    #[test]
    fn fused_attention_gives_the_steps_values() {
        let dev = Device::Cpu;
        for (t, past, group, padded, cap) in [
            (1, 40, 1, false, None),
            (70, 20, 1, false, None),
            (130, 0, 1, true, None),
            (100, 3, 2, true, None),
            (90, 7, 2, false, Some(2.0)),
        ] {
            let s = t + past;
            let q = Tensor::randn(0f32, 0.5, (2, 2 * group, t, 40), &dev).unwrap();
            let k = Tensor::randn(0f32, 1.0, (2, 2, s, 40), &dev).unwrap();
            let v = Tensor::randn(0f32, 1.0, (2, 2, s, 24), &dev).unwrap();
            let mask_t = causal(t, s, padded);
            let mask = Mask::new(mask_t.clone()).unwrap();
            let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let capped = |x: Tensor| match cap {
                Some(c) => ((((x * 0.3).unwrap() / c).unwrap().tanh().unwrap()) * c).unwrap(),
                None => (x * 0.3).unwrap(),
            };
            // The separate steps, as the engine runs them here.
            let qg = q.reshape((2, 2, group * t, 40)).unwrap();
            let sc = scores(&qg, &k, Some(&mask))
                .unwrap()
                .reshape((2, 2 * group, t, s))
                .unwrap();
            let (sc, scale) = match cap {
                Some(_) => (capped(sc), 1.0),
                None => (sc, 0.3),
            };
            let att = fused::scaled_masked_softmax(&sc, scale, Some(&mask))
                .unwrap()
                .reshape((2, 2, group * t, s))
                .unwrap();
            let steps = mix(&att, &v, Some(&mask)).unwrap();
            // Candle's f32 products, for gemm's.
            let full = capped(qg.matmul(&k.t().unwrap()).unwrap())
                .reshape((2, 2 * group, t, s))
                .unwrap()
                .broadcast_add(&mask_t)
                .unwrap();
            let full = candle_nn::ops::softmax(&full, candle_core::D::Minus1)
                .unwrap()
                .reshape((2, 2, group * t, s))
                .unwrap()
                .matmul(&v)
                .unwrap();
            let y_causal = super::causal(&q, &k, &v, Some(&mask), 0.3, cap).unwrap();
            assert_eq!(y_causal.dims(), [2, 2 * group, t, 24]);
            if t <= MIN_ROWS {
                assert_eq!(flat(&y_causal), flat(&steps));
                continue;
            }
            for tiles in [false, on_tiles(&qg)] {
                let op = Attend {
                    mask: mask.host().cloned(),
                    scale: 0.3,
                    cap: cap.map(|c| c as f32),
                    queries: t,
                    tiles,
                };
                let y = qg.apply_op3(&k, &v, op).unwrap();
                // Written as [b, t, h, dv]; compared as [b, h, t, dv].
                assert_eq!(y.dims(), [2, t, 2 * group, 24]);
                let y = y.transpose(1, 2).unwrap().contiguous().unwrap();
                if tiles == on_tiles(&qg) {
                    // What the engine runs on this CPU.
                    assert_eq!(flat(&y_causal), flat(&y));
                }
                let (want, tol) = match (tiles, cap) {
                    (true, None) => (flat(&steps), 0.0),
                    (true, Some(_)) => (flat(&steps), 1e-5),
                    (false, _) => (flat(&full), 1e-5),
                };
                for (a, b) in flat(&y).iter().zip(want) {
                    assert!(
                        (a - b).abs() <= tol,
                        "t = {t}, group {group}, tiles {tiles}: {a} vs {b}"
                    );
                }
            }
        }
    }

    /// Query heads that key heads cannot share evenly are a clear error.
    #[test]
    fn uneven_head_groups_are_an_error() {
        let dev = Device::Cpu;
        let q = Tensor::zeros((1, 3, 4, 8), DType::F32, &dev).unwrap();
        let kv = Tensor::zeros((1, 2, 4, 8), DType::F32, &dev).unwrap();
        let err = super::causal(&q, &kv, &kv, None, 1.0, None).unwrap_err();
        assert!(err.to_string().contains("3 query heads"), "{err}");
    }

    fn within(got: &Tensor, want: &Tensor, size: &Tensor) {
        assert_eq!(got.dims(), want.dims());
        let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        for ((g, w), s) in flat(got).iter().zip(flat(want)).zip(flat(size)) {
            assert!((g - w).abs() <= s / 32768.0 + 1e-5, "{g} vs {w}");
        }
    }
}
