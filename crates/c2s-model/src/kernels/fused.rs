//! Fused CPU kernels with their gradients, for training speed: the
//! cross-entropy of many rows of logits, attention's scaled, masked softmax,
//! layer norm, GPT-2's tanh GELU, and bias (or position embedding) adds.
//!
//! Composed from candle's elementwise ops, each of these is a dozen passes
//! over tensors as large as [tokens, vocabulary], each allocating (a profile
//! of a compact model's training step: a third of the time outside matrix
//! products). Here each is one parallel pass forward and one backward. Other
//! devices keep the composed ops, which their kernels already fuse or speed up.

use std::mem::MaybeUninit;
use std::sync::Arc;

use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, Layout, Shape, Tensor, D};
use rayon::prelude::*;

use super::mask::{Host, Mask};
use crate::error::Result;

pub(super) fn f32_slice<'a>(
    s: &'a CpuStorage,
    l: &Layout,
    what: &str,
) -> candle_core::Result<&'a [f32]> {
    let CpuStorage::F32(v) = s else {
        candle_core::bail!("{what}: f32 tensors only")
    };
    let (a, b) = l
        .contiguous_offsets()
        .ok_or_else(|| candle_core::Error::Msg(format!("{what}: contiguous tensors only")))?;
    Ok(&v[a..b])
}

/// e^x in f32 as Cephes' expf computes it (relative error under 3e-7), in
/// plain arithmetic the compiler vectorises: libm's expf is a scalar call,
/// and the softmaxes and GELU of a training step make tens of millions.
/// Below -87.3 (masked scores, e^x under f32's smallest normal) it is 0; large
/// x saturates near 2e38 instead of overflowing.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding 1.5 * 2^23 rounds to an integer in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    let xc = x.clamp(-87.3, 88.3);
    let t = xc * LOG2E + ROUND;
    let n = t - ROUND;
    let ni = t.to_bits().wrapping_sub(ROUND.to_bits()) as i32;
    let r = xc - n * LN2_HI - n * LN2_LO;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 5e-1;
    let y = p * r * r + r + 1.0;
    let scale = f32::from_bits(((ni + 127) as u32) << 23);
    if x < -87.3 {
        0.0
    } else {
        y * scale
    }
}

/// A vector of `len` f32 whose chunks of `chunk` (the last may be shorter)
/// `fill` writes in parallel, given each chunk's index. No zero fill first:
/// a zeroed allocation is a memset on one thread while the others wait
/// (the attention scores are 41 MB a layer of a Pythia-410m prompt of 800
/// tokens; by a profile, the softmax's, the bias adds' and the products'
/// zero fills took 7 % of its time).
///
/// # Safety
/// `fill` writes every element of the chunk it is given.
pub(super) unsafe fn par_fill(
    len: usize,
    chunk: usize,
    fill: impl Fn(usize, &mut [MaybeUninit<f32>]) + Sync,
) -> Vec<f32> {
    let mut out = Vec::with_capacity(len);
    out.spare_capacity_mut()[..len]
        .par_chunks_mut(chunk.max(1))
        .enumerate()
        .for_each(|(i, o)| fill(i, o));
    // SAFETY: the caller's `fill` wrote all `len` elements.
    unsafe { out.set_len(len) };
    out
}

/// A chunk `par_fill` gave, once every element is written.
///
/// # Safety
/// Every element of `o` is initialised.
unsafe fn written(o: &mut [MaybeUninit<f32>]) -> &mut [f32] {
    // SAFETY: MaybeUninit<f32> has f32's layout; the caller vouches that
    // every element is initialised.
    unsafe { &mut *(o as *mut [MaybeUninit<f32>] as *mut [f32]) }
}

/// `f()` compiled for AVX-512 where the CPU has it: the loops of these
/// kernels are plain arithmetic, which the compiler vectorises only to the
/// build's baseline (SSE2, 4 lanes) unless told the CPU can do more. The
/// results are the same bit for bit (no sums change order; nothing is fused
/// into FMA). By a profile of a Pythia-410m prompt of 800 tokens, its
/// softmaxes and GELUs took 0.25 s instead of 0.37.
#[inline(always)]
pub(super) fn wide<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        use std::sync::OnceLock;
        static AVX512: OnceLock<bool> = OnceLock::new();
        if *AVX512.get_or_init(|| std::arch::is_x86_feature_detected!("avx512f")) {
            #[target_feature(enable = "avx512f")]
            fn avx512<R>(f: impl FnOnce() -> R) -> R {
                f()
            }
            // SAFETY: the CPU has AVX-512F.
            return unsafe { avx512(f) };
        }
    }
    f()
}

/// Independent partial results per row reduction: the compiler keeps
/// floating-point sums in order, so one accumulator would not vectorise.
const LANES: usize = 16;

/// `f` summed over a row, in `LANES` interleaved partial sums.
#[inline(always)]
fn lane_sum(row: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [0f32; LANES];
    let chunks = row.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for i in 0..LANES {
            acc[i] += f(c[i]);
        }
    }
    acc.iter().sum::<f32>() + tail.iter().map(|&x| f(x)).sum::<f32>()
}

/// `f(a_i, b_i)` summed over two rows, as `lane_sum`.
#[inline(always)]
fn lane_sum2(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; LANES];
    let whole = n - n % LANES;
    for (ca, cb) in a[..whole]
        .chunks_exact(LANES)
        .zip(b[..whole].chunks_exact(LANES))
    {
        for i in 0..LANES {
            acc[i] += f(ca[i], cb[i]);
        }
    }
    acc.iter().sum::<f32>()
        + a[whole..]
            .iter()
            .zip(&b[whole..])
            .map(|(&x, &y)| f(x, y))
            .sum::<f32>()
}

/// The largest value of a row (NaN-free input), in a form that vectorises.
#[inline]
fn row_max(row: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let chunks = row.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for i in 0..LANES {
            acc[i] = if c[i] > acc[i] { c[i] } else { acc[i] };
        }
    }
    acc.iter()
        .chain(tail)
        .fold(f32::NEG_INFINITY, |m, &x| if x > m { x } else { m })
}

/// sum_i w_i * (logsumexp(x_i) - x_i[t_i]) over rows of `logits` [n, v].
/// The forward pass keeps each row's log-sum-exp for the backward one.
struct CrossEntropy {
    targets: Arc<Vec<u32>>,
    weights: Arc<Vec<f32>>,
    lse: std::sync::OnceLock<Arc<Vec<f32>>>,
}

fn row_logsumexp(row: &[f32]) -> f32 {
    let m = row_max(row);
    m + lane_sum(row, |x| exp(x - m)).ln()
}

impl CustomOp1 for CrossEntropy {
    fn name(&self) -> &'static str {
        "c2s-cross-entropy"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = f32_slice(s, l, self.name())?;
        let (_, v) = l.shape().dims2()?;
        let lse: Vec<f32> = x
            .par_chunks(v)
            .zip(self.weights.par_iter())
            .map(|(row, &w)| if w == 0.0 { 0.0 } else { row_logsumexp(row) })
            .collect();
        // Summed in row order: a parallel sum's order, and so its last bits,
        // would depend on thread timing (and early stopping compares losses).
        let loss: f64 = x
            .chunks(v)
            .zip(&lse)
            .zip(self.targets.iter().zip(self.weights.iter()))
            .filter(|(_, (_, &w))| w != 0.0)
            .map(|((row, &lse), (&t, &w))| (w * (lse - row[t as usize])) as f64)
            .sum();
        // Set once: an op belongs to one tensor, so a repeated forward would
        // compute the same values.
        let _ = self.lse.set(Arc::new(lse));
        Ok((CpuStorage::F32(vec![loss as f32]), Shape::from(())))
    }

    fn bwd(
        &self,
        arg: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let scale = grad_res
            .to_dtype(candle_core::DType::F32)?
            .to_scalar::<f32>()?;
        let g = arg.apply_op1_no_bwd(&CrossEntropyGrad {
            targets: self.targets.clone(),
            weights: self.weights.clone(),
            lse: self.lse.get().cloned(),
            scale,
        })?;
        Ok(Some(g))
    }
}

/// d loss / d logits = scale * w_i * (softmax(x_i) - onehot(t_i)).
struct CrossEntropyGrad {
    targets: Arc<Vec<u32>>,
    weights: Arc<Vec<f32>>,
    /// From the forward pass; recomputed when absent.
    lse: Option<Arc<Vec<f32>>>,
    scale: f32,
}

impl CustomOp1 for CrossEntropyGrad {
    fn name(&self) -> &'static str {
        "c2s-cross-entropy-grad"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = f32_slice(s, l, self.name())?;
        let (_, v) = l.shape().dims2()?;
        let mut out = vec![0f32; x.len()];
        out.par_chunks_mut(v)
            .zip(x.par_chunks(v))
            .zip(self.targets.par_iter().zip(self.weights.par_iter()))
            .enumerate()
            .for_each(|(i, ((o, row), (&t, &w)))| {
                if w == 0.0 {
                    return;
                }
                let lse = match &self.lse {
                    Some(l) => l[i],
                    None => row_logsumexp(row),
                };
                let k = self.scale * w;
                for (oi, &xi) in o.iter_mut().zip(row) {
                    *oi = k * exp(xi - lse);
                }
                o[t as usize] -= k;
            });
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }
}

/// Weighted cross-entropy sum of `logits` [n, v] against `targets` (rows
/// with weight 0 cost nothing), differentiable with respect to the logits.
pub fn cross_entropy(logits: &Tensor, targets: Vec<u32>, weights: Vec<f32>) -> Result<Tensor> {
    let (n, v) = logits.dims2()?;
    if targets.len() != n || weights.len() != n || targets.iter().any(|&t| t as usize >= v) {
        return Err(crate::error::ModelError::Input(
            "cross-entropy: one target in range and one weight per row are needed".into(),
            "this is a bug in the caller".into(),
        ));
    }
    if logits.device().is_cpu() && logits.dtype() == candle_core::DType::F32 {
        let logits = logits.contiguous()?;
        return Ok(logits.apply_op1(CrossEntropy {
            targets: Arc::new(targets),
            weights: Arc::new(weights),
            lse: std::sync::OnceLock::new(),
        })?);
    }
    let dev = logits.device();
    let t = Tensor::from_vec(targets, (n, 1), dev)?;
    let w = Tensor::from_vec(weights, n, dev)?.to_dtype(logits.dtype())?;
    let logp = candle_nn::ops::log_softmax(logits, D::Minus1)?;
    Ok((logp.gather(&t, 1)?.squeeze(1)?.mul(&w)?.sum_all()? * -1.0)?)
}

const K0: f32 = 0.797_884_6; // sqrt(2 / pi)
const K1: f32 = 0.044_715;

/// tanh through one exponential (libm's tanhf is several times slower);
/// saturates correctly at both ends.
#[inline]
pub(super) fn tanh(u: f32) -> f32 {
    1.0 - 2.0 / (exp(2.0 * u) + 1.0)
}

fn gelu_value(x: f32) -> f32 {
    0.5 * x * (1.0 + tanh(K0 * (x + K1 * x * x * x)))
}

fn gelu_slope(x: f32) -> f32 {
    let t = tanh(K0 * (x + K1 * x * x * x));
    0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * K0 * (1.0 + 3.0 * K1 * x * x)
}

/// Elements per parallel task: large enough to amortise scheduling.
const CHUNK: usize = 1 << 14;

/// erfc(z) for z >= 0, relative error under 1.2e-7 (Numerical Recipes'
/// Chebyshev fit, section 6.2) plus `exp`'s: plain arithmetic the compiler
/// vectorises, where candle's GELU calls libm's scalar erff element by
/// element on one thread (a Pythia-410m prompt of 800 tokens makes 79
/// million).
#[inline(always)]
fn erfc_nonnegative(z: f32) -> f32 {
    let t = 1.0 / (1.0 + 0.5 * z);
    let p = -1.265_512_2
        + t * (1.000_023_7
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_204
                                + t * (1.488_515_9 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    t * exp(-z * z + p)
}

/// The exact GELU, x * Phi(x) = x / 2 * erfc(-x / sqrt 2): written with erfc
/// it keeps its relative precision for negative x too.
#[inline(always)]
fn gelu_erf_value(x: f32) -> f32 {
    let c = erfc_nonnegative(x.abs() * std::f32::consts::FRAC_1_SQRT_2);
    0.5 * x * if x < 0.0 { c } else { 2.0 - c }
}

/// d/dx x * Phi(x) = Phi(x) + x * phi(x).
#[inline(always)]
fn gelu_erf_slope(x: f32) -> f32 {
    const INV_SQRT_2PI: f32 = 0.398_942_3;
    let c = erfc_nonnegative(x.abs() * std::f32::consts::FRAC_1_SQRT_2);
    let phi_cdf = 0.5 * if x < 0.0 { c } else { 2.0 - c };
    phi_cdf + x * INV_SQRT_2PI * exp(-0.5 * x * x)
}

/// Element-wise `f` of `x` into a new vector, in parallel chunks whose
/// loops the compiler vectorises (rayon's per-element `map` does not).
fn par_map(x: &[f32], f: impl Fn(f32) -> f32 + Sync) -> Vec<f32> {
    let fill = |c: usize, o: &mut [MaybeUninit<f32>]| {
        wide(
            #[inline(always)]
            || {
                for (o, &x) in o.iter_mut().zip(&x[c * CHUNK..]) {
                    o.write(f(x));
                }
            },
        )
    };
    // SAFETY: chunk c of the output is as long as x's from c * CHUNK on.
    unsafe { par_fill(x.len(), CHUNK, fill) }
}

/// Element-wise `f` of `x` and `g` into a new vector, as `par_map`.
fn par_map2(x: &[f32], g: &[f32], f: impl Fn(f32, f32) -> f32 + Sync) -> Vec<f32> {
    let fill = |c: usize, o: &mut [MaybeUninit<f32>]| {
        wide(
            #[inline(always)]
            || {
                for ((o, &x), &g) in o.iter_mut().zip(&x[c * CHUNK..]).zip(&g[c * CHUNK..]) {
                    o.write(f(x, g));
                }
            },
        )
    };
    // SAFETY: chunk c of the output is as long as x's (and g's) from
    // c * CHUNK on.
    unsafe { par_fill(x.len().min(g.len()), CHUNK, fill) }
}

/// Which GELU a fused op computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GeluForm {
    /// GPT-2's gelu_new, the tanh approximation.
    Tanh,
    /// The exact x * Phi(x) (transformers' "gelu"): GPT-NeoX's and Gemma's.
    Erf,
}

struct Gelu(GeluForm);

impl CustomOp1 for Gelu {
    fn name(&self) -> &'static str {
        "c2s-gelu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = f32_slice(s, l, self.name())?;
        // One `par_map` per form, so each loop is compiled for its function.
        let out = match self.0 {
            GeluForm::Tanh => par_map(x, gelu_value),
            GeluForm::Erf => par_map(x, gelu_erf_value),
        };
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }

    fn bwd(
        &self,
        arg: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(arg.apply_op2_no_bwd(
            &grad_res.contiguous()?,
            &GeluGrad(self.0),
        )?))
    }
}

struct GeluGrad(GeluForm);

impl CustomOp2 for GeluGrad {
    fn name(&self) -> &'static str {
        "c2s-gelu-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = f32_slice(s1, l1, self.name())?;
        let g = f32_slice(s2, l2, self.name())?;
        let out = match self.0 {
            GeluForm::Tanh => par_map2(x, g, |x, g| g * gelu_slope(x)),
            GeluForm::Erf => par_map2(x, g, |x, g| g * gelu_erf_slope(x)),
        };
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

/// `form`'s GELU, fused and parallel on the CPU in f32; candle's elsewhere.
pub(crate) fn gelu(x: &Tensor, form: GeluForm) -> candle_core::Result<Tensor> {
    if x.device().is_cpu() && x.dtype() == candle_core::DType::F32 {
        x.contiguous()?.apply_op1(Gelu(form))
    } else {
        match form {
            GeluForm::Tanh => x.gelu(),
            GeluForm::Erf => x.gelu_erf(),
        }
    }
}

/// A linear layer's bias and activation for its product's output, given
/// each stretch of a row as the product writes it (kernels::half_weights),
/// while it is in the core's cache: the values of `add_trailing` then
/// `gelu`, bit for bit, without their two passes over the whole output
/// (a Pythia-410m prompt's GELU alone read and wrote 13 MB a layer).
pub(crate) struct BiasGelu {
    pub bias: Option<Vec<f32>>,
    pub gelu: Option<GeluForm>,
}

impl BiasGelu {
    /// Whether there is anything to apply.
    pub(crate) fn is_empty(&self) -> bool {
        self.bias.is_none() && self.gelu.is_none()
    }

    /// `row`, the output's columns from `col0`, in place.
    pub(crate) fn apply(&self, row: &mut [f32], col0: usize) {
        let bias = self.bias.as_deref().map(|b| &b[col0..col0 + row.len()]);
        // One loop per case, each compiled for its function.
        wide(
            #[inline(always)]
            || match (bias, self.gelu) {
                (None, None) => {}
                (Some(b), None) => row.iter_mut().zip(b).for_each(|(x, &b)| *x += b),
                (Some(b), Some(GeluForm::Erf)) => {
                    for (x, &b) in row.iter_mut().zip(b) {
                        *x = gelu_erf_value(*x + b);
                    }
                }
                (Some(b), Some(GeluForm::Tanh)) => {
                    for (x, &b) in row.iter_mut().zip(b) {
                        *x = gelu_value(*x + b);
                    }
                }
                (None, Some(GeluForm::Erf)) => row.iter_mut().for_each(|x| *x = gelu_erf_value(*x)),
                (None, Some(GeluForm::Tanh)) => row.iter_mut().for_each(|x| *x = gelu_value(*x)),
            },
        )
    }
}

/// softmax(scale * x + mask) over the last dimension. The mask (additive,
/// no gradient) covers x's trailing dimensions: row r of x takes mask row
/// r mod (mask rows), as a causal mask `[t, t]` on scores `[b, h, t, t]`.
struct Softmax {
    scale: f32,
    /// The mask's values, and per row of them how many leading keys are not
    /// −∞: past them a row's weights are 0, written without exp.
    mask: Option<Host>,
}

impl CustomOp1 for Softmax {
    fn name(&self) -> &'static str {
        "c2s-softmax"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = f32_slice(s, l, self.name())?;
        let v = l.shape().dims().last().copied().unwrap_or(1).max(1);
        let mask_rows = self
            .mask
            .as_ref()
            .map_or(1, |m| (m.values.len() / v).max(1));
        let end = |r: usize| match &self.mask {
            Some(m) => softmax_end(m.row_seen[r % mask_rows], v),
            None => v,
        };
        let fill = |r: usize, o: &mut [MaybeUninit<f32>]| {
            wide(
                #[inline(always)]
                || {
                    let (o, hidden) = o.split_at_mut(end(r));
                    for h in hidden {
                        h.write(0.0);
                    }
                    let row = &x[r * v..][..o.len()];
                    match &self.mask {
                        Some(m) => {
                            let m = &m.values[(r % mask_rows) * v..][..o.len()];
                            for ((o, &x), &m) in o.iter_mut().zip(row).zip(m) {
                                o.write(self.scale * x + m);
                            }
                        }
                        None => {
                            for (o, &x) in o.iter_mut().zip(row) {
                                o.write(self.scale * x);
                            }
                        }
                    }
                    // SAFETY: every element of the row was written just above.
                    softmax_in_place(unsafe { written(o) });
                },
            )
        };
        // SAFETY: `fill` writes every element of its row.
        let out = unsafe { par_fill(x.len(), v, fill) };
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }

    fn bwd(
        &self,
        _arg: &Tensor,
        res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(res.apply_op2_no_bwd(
            &grad_res.contiguous()?,
            &SoftmaxGrad { scale: self.scale },
        )?))
    }
}

/// Where the softmax of a row of `v` whose first `seen` values are not −∞
/// may stop (the rest are 0): past `seen`, at a whole group of LANES. The
/// sums over those groups are the full row's, which adds only zeros after
/// them, so the weights are the same bit for bit.
pub(super) fn softmax_end(seen: usize, v: usize) -> usize {
    if seen <= v - v % LANES {
        seen.div_ceil(LANES) * LANES
    } else {
        v
    }
}

/// The softmax of a row in place, its values already scaled and masked.
#[inline(always)]
pub(super) fn softmax_in_place(o: &mut [f32]) {
    let m = row_max(o);
    for o in o.iter_mut() {
        *o = exp(*o - m);
    }
    let r = 1.0 / lane_sum(o, |y| y);
    o.iter_mut().for_each(|o| *o *= r);
}

/// dx = scale * y * (g - sum(g * y)) per row.
struct SoftmaxGrad {
    scale: f32,
}

impl CustomOp2 for SoftmaxGrad {
    fn name(&self) -> &'static str {
        "c2s-softmax-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let y = f32_slice(s1, l1, self.name())?;
        let g = f32_slice(s2, l2, self.name())?;
        let v = l1.shape().dims().last().copied().unwrap_or(1).max(1);
        let mut out = vec![0f32; y.len()];
        out.par_chunks_mut(v)
            .zip(y.par_chunks(v).zip(g.par_chunks(v)))
            .for_each(|(o, (y, g))| {
                let dot = lane_sum2(y, g, |a, b| a * b);
                for ((o, &y), &g) in o.iter_mut().zip(y).zip(g) {
                    *o = self.scale * y * (g - dot);
                }
            });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

/// softmax(scale * x + mask) over the last dimension, in f32 whatever x's
/// dtype: attention's scores. One fused pass on the CPU when the mask covers
/// x's trailing dimensions (a causal mask); composed ops otherwise.
pub(crate) fn scaled_masked_softmax(
    x: &Tensor,
    scale: f64,
    mask: Option<&Mask>,
) -> candle_core::Result<Tensor> {
    use candle_core::DType::F32;
    let host = mask.and_then(|m| m.host().filter(|_| x.dims().ends_with(m.tensor().dims())));
    if x.device().is_cpu() && x.dtype() == F32 && mask.is_none_or(|_| host.is_some()) {
        return x.contiguous()?.apply_op1(Softmax {
            scale: scale as f32,
            mask: host.cloned(),
        });
    }
    let mask = mask.map(Mask::tensor);
    let mut x = x.to_dtype(F32)?;
    if scale != 1.0 {
        x = (x * scale)?;
    }
    if let Some(m) = mask {
        x = x.broadcast_add(m)?;
    }
    if x.device().is_cpu() {
        x.contiguous()?.apply_op1(Softmax {
            scale: 1.0,
            mask: None,
        })
    } else {
        candle_nn::ops::softmax(&x, D::Minus1)
    }
}

/// x + b, where b's shape is x's trailing dimensions: a bias `[out]` on
/// `[.., out]`, position embeddings `[t, e]` on `[b, t, e]`. Its backward
/// sums the gradient over the leading rows in one parallel pass (candle
/// reduces a broadcast on one thread, strided: 7 % of a compact model's
/// training step in a profile).
struct AddTrailing;

impl CustomOp2 for AddTrailing {
    fn name(&self) -> &'static str {
        "c2s-add-trailing"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = f32_slice(s1, l1, self.name())?;
        let b = f32_slice(s2, l2, self.name())?;
        let n = b.len().max(1);
        if !x.len().is_multiple_of(n) {
            candle_core::bail!("{}: {} values are not rows of {n}", self.name(), x.len());
        }
        let task = n * (CHUNK / n).max(1);
        let fill = |t: usize, o: &mut [MaybeUninit<f32>]| {
            let xs = &x[t * task..][..o.len()];
            for (o, xs) in o.chunks_mut(n).zip(xs.chunks(n)) {
                for ((o, &x), &b) in o.iter_mut().zip(xs).zip(b) {
                    o.write(x + b);
                }
            }
        };
        // SAFETY: x holds whole rows of n, so `fill` writes every element.
        let out = unsafe { par_fill(x.len(), task, fill) };
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        _x: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let gb = grad
            .contiguous()?
            .apply_op1_no_bwd(&SumRows { n: b.elem_count() })?
            .reshape(b.shape())?;
        Ok((Some(grad.clone()), Some(gb)))
    }
}

/// Sums a contiguous tensor's consecutive rows of `n` values into one row.
struct SumRows {
    n: usize,
}

impl CustomOp1 for SumRows {
    fn name(&self) -> &'static str {
        "c2s-sum-rows"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = f32_slice(s, l, self.name())?;
        let n = self.n.max(1);
        let rows_per_task = (CHUNK / n).max(1);
        let partials: Vec<Vec<f32>> = g
            .par_chunks(n * rows_per_task)
            .map(|gs| {
                let mut acc = vec![0f32; n];
                for row in gs.chunks(n) {
                    acc.iter_mut().zip(row).for_each(|(a, &g)| *a += g);
                }
                acc
            })
            .collect();
        Ok((CpuStorage::F32(sum_in_order(partials, n)), Shape::from(n)))
    }
}

/// The sum of per-task partial sums, taken in task order. Rayon's `reduce`
/// joins partials in an order that depends on which thread stole which
/// task, and float addition is not associative: gradients would differ in
/// their last bits from run to run, and a seeded training run, being
/// chaotic, would end with a different model (on the demo, 0.890 or 0.909
/// of validation cells named right by the same quick run).
fn sum_in_order(partials: Vec<Vec<f32>>, n: usize) -> Vec<f32> {
    let mut sums = vec![0f32; n];
    for p in partials {
        sums.iter_mut().zip(&p).for_each(|(s, p)| *s += p);
    }
    sums
}

/// `x + b` with `b` broadcast over `x`'s leading dimensions; fused on the CPU.
pub(crate) fn add_trailing(x: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
    use candle_core::DType::F32;
    let fused = x.device().is_cpu()
        && x.dtype() == F32
        && b.dtype() == F32
        && b.rank() > 0
        && x.dims().ends_with(b.dims());
    if fused {
        x.contiguous()?.apply_op2(&b.contiguous()?, AddTrailing)
    } else {
        x.broadcast_add(b)
    }
}

/// Rows of `x` with their mean and 1 / standard deviation.
fn row_stats(row: &[f32], eps: f32) -> (f32, f32) {
    let n = row.len() as f32;
    let mean = lane_sum(row, |x| x) / n;
    let var = lane_sum(row, |x| (x - mean) * (x - mean)) / n;
    (mean, 1.0 / (var + eps).sqrt())
}

/// Layer norm over the last dimension, with weight and bias.
struct LayerNorm {
    eps: f32,
}

impl CustomOp3 for LayerNorm {
    fn name(&self) -> &'static str {
        "c2s-layer-norm"
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
        let x = f32_slice(s1, l1, self.name())?;
        let w = f32_slice(s2, l2, self.name())?;
        let b = f32_slice(s3, l3, self.name())?;
        let e = w.len();
        let mut out = vec![0f32; x.len()];
        out.par_chunks_mut(e)
            .zip(x.par_chunks(e))
            .for_each(|(o, row)| {
                let (mean, rstd) = row_stats(row, self.eps);
                for i in 0..e {
                    o[i] = (row[i] - mean) * rstd * w[i] + b[i];
                }
            });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let gx = x.apply_op3_no_bwd(w, &grad, &LayerNormGradX { eps: self.eps })?;
        let gwb = x.apply_op2_no_bwd(&grad, &LayerNormGradWB { eps: self.eps })?;
        Ok((Some(gx), Some(gwb.get(0)?), Some(gwb.get(1)?)))
    }
}

/// dx = rstd * (gh - mean(gh) - xhat * mean(gh * xhat)), gh = g * w.
struct LayerNormGradX {
    eps: f32,
}

impl CustomOp3 for LayerNormGradX {
    fn name(&self) -> &'static str {
        "c2s-layer-norm-grad-x"
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
        let x = f32_slice(s1, l1, self.name())?;
        let w = f32_slice(s2, l2, self.name())?;
        let g = f32_slice(s3, l3, self.name())?;
        let e = w.len();
        let mut out = vec![0f32; x.len()];
        out.par_chunks_mut(e)
            .zip(x.par_chunks(e).zip(g.par_chunks(e)))
            .for_each(|(o, (row, g))| {
                let (mean, rstd) = row_stats(row, self.eps);
                let (mut m1, mut m2) = (0.0f32, 0.0f32);
                for i in 0..e {
                    let gh = g[i] * w[i];
                    m1 += gh;
                    m2 += gh * (row[i] - mean) * rstd;
                }
                let (m1, m2) = (m1 / e as f32, m2 / e as f32);
                for i in 0..e {
                    let xhat = (row[i] - mean) * rstd;
                    o[i] = rstd * (g[i] * w[i] - m1 - xhat * m2);
                }
            });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

/// [2, e]: the weight's gradient sum(g * xhat) and the bias's sum(g) over rows.
struct LayerNormGradWB {
    eps: f32,
}

impl CustomOp2 for LayerNormGradWB {
    fn name(&self) -> &'static str {
        "c2s-layer-norm-grad-wb"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = f32_slice(s1, l1, self.name())?;
        let g = f32_slice(s2, l2, self.name())?;
        let e = l1.shape().dims().last().copied().unwrap_or(1).max(1);
        let rows_per_task = (CHUNK / e).max(1);
        let partials: Vec<Vec<f32>> = x
            .par_chunks(e * rows_per_task)
            .zip(g.par_chunks(e * rows_per_task))
            .map(|(xs, gs)| {
                let mut acc = vec![0f32; 2 * e];
                for (row, g) in xs.chunks(e).zip(gs.chunks(e)) {
                    let (mean, rstd) = row_stats(row, self.eps);
                    for i in 0..e {
                        acc[i] += g[i] * (row[i] - mean) * rstd;
                        acc[e + i] += g[i];
                    }
                }
                acc
            })
            .collect();
        let sums = sum_in_order(partials, 2 * e);
        Ok((CpuStorage::F32(sums), Shape::from((2, e))))
    }
}

/// Layer norm over the last dimension, fused on the CPU.
pub(crate) fn layer_norm(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    eps: f64,
) -> candle_core::Result<Tensor> {
    if x.device().is_cpu() && x.dtype() == candle_core::DType::F32 {
        return x.contiguous()?.apply_op3(
            &weight.contiguous()?,
            &bias.contiguous()?,
            LayerNorm { eps: eps as f32 },
        );
    }
    // Statistics in f32: half precision loses too much in the variance.
    let dtype = x.dtype();
    let x = x.to_dtype(candle_core::DType::F32)?;
    let mean = x.mean_keepdim(D::Minus1)?;
    let centred = x.broadcast_sub(&mean)?;
    let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
    let normed = centred
        .broadcast_div(&(var + eps)?.sqrt()?)?
        .to_dtype(dtype)?;
    normed.broadcast_mul(weight)?.broadcast_add(bias)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn close(a: &Tensor, b: &Tensor, tol: f32) {
        let d = (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(d < tol, "max difference {d}");
    }

    /// Asserts that the gradients of sum(a * up) and sum(b * up) agree for `vars`.
    fn same_gradients(a: &Tensor, b: &Tensor, up: &Tensor, vars: &[&Var], tol: f32) {
        let ga = a.mul(up).unwrap().sum_all().unwrap().backward().unwrap();
        let gb = b.mul(up).unwrap().sum_all().unwrap().backward().unwrap();
        for v in vars {
            close(
                ga.get(v.as_tensor()).unwrap(),
                gb.get(v.as_tensor()).unwrap(),
                tol,
            );
        }
    }

    /// A row with no weight (padding, the prompt) adds nothing even when its
    /// target's logit is -inf, where 0 x inf would make the loss NaN.
    #[test]
    fn unweighted_rows_with_infinite_loss_add_nothing() {
        let dev = Device::Cpu;
        let rows = vec![0.5f32, -1.0, 2.0, f32::NEG_INFINITY, 1.0, 0.0];
        let x = Var::from_tensor(&Tensor::from_vec(rows, (2, 3), &dev).unwrap()).unwrap();
        let loss = cross_entropy(x.as_tensor(), vec![2, 0], vec![1.0, 0.0]).unwrap();
        let first = Tensor::new(&[[0.5f32, -1.0, 2.0]], &dev).unwrap();
        let alone = cross_entropy(&first, vec![2], vec![1.0]).unwrap();
        close(&loss, &alone, 1e-6);
        let g = loss.backward().unwrap();
        let g = g.get(x.as_tensor()).unwrap().to_vec2::<f32>().unwrap();
        assert!(g.iter().flatten().all(|v| v.is_finite()), "{g:?}");
        assert_eq!(g[1], vec![0.0; 3]);
    }

    #[test]
    fn cross_entropy_and_its_gradient_match_composed_ops() {
        let dev = Device::Cpu;
        let x = Var::from_tensor(&(Tensor::randn(0f32, 3.0, (7, 11), &dev).unwrap())).unwrap();
        let targets = vec![0u32, 3, 10, 5, 5, 1, 2];
        let weights = vec![0.5f32, 0.0, 1.0, 0.25, 2.0, 0.0, 1.0];
        let fused = cross_entropy(x.as_tensor(), targets.clone(), weights.clone()).unwrap();
        let t = Tensor::from_vec(targets, (7, 1), &dev).unwrap();
        let w = Tensor::from_vec(weights, 7, &dev).unwrap();
        let logp = candle_nn::ops::log_softmax(x.as_tensor(), D::Minus1).unwrap();
        let composed = (logp
            .gather(&t, 1)
            .unwrap()
            .squeeze(1)
            .unwrap()
            .mul(&w)
            .unwrap()
            .sum_all()
            .unwrap()
            * -1.0)
            .unwrap();
        close(&fused, &composed, 1e-5);
        let (gf, gc) = (
            (fused * 3.0).unwrap().backward().unwrap(),
            (composed * 3.0).unwrap().backward().unwrap(),
        );
        close(
            gf.get(x.as_tensor()).unwrap(),
            gc.get(x.as_tensor()).unwrap(),
            1e-5,
        );
    }

    #[test]
    fn layer_norm_and_its_gradients_match_composed_ops() {
        let dev = Device::Cpu;
        let x = Var::from_tensor(&(Tensor::randn(1f32, 3.0, (4, 6, 32), &dev).unwrap())).unwrap();
        let w = Var::from_tensor(&(Tensor::randn(1f32, 0.5, 32, &dev).unwrap())).unwrap();
        let b = Var::from_tensor(&(Tensor::randn(0f32, 0.5, 32, &dev).unwrap())).unwrap();
        let up = Tensor::randn(0f32, 1.0, (4, 6, 32), &dev).unwrap();
        let fused = layer_norm(x.as_tensor(), w.as_tensor(), b.as_tensor(), 1e-5).unwrap();
        // The composed path (what other devices run).
        let mean = x.as_tensor().mean_keepdim(D::Minus1).unwrap();
        let c = x.as_tensor().broadcast_sub(&mean).unwrap();
        let var = c.sqr().unwrap().mean_keepdim(D::Minus1).unwrap();
        let n = c
            .broadcast_div(&(var + 1e-5).unwrap().sqrt().unwrap())
            .unwrap();
        let composed = n
            .broadcast_mul(w.as_tensor())
            .unwrap()
            .broadcast_add(b.as_tensor())
            .unwrap();
        close(&fused, &composed, 1e-5);
        same_gradients(&fused, &composed, &up, &[&x, &w, &b], 1e-4);
    }

    #[test]
    fn softmax_and_its_gradient_match_candle() {
        let dev = Device::Cpu;
        let x = Var::from_tensor(&(Tensor::randn(0f32, 3.0, (2, 3, 5, 9), &dev).unwrap())).unwrap();
        let mask = Tensor::from_vec(
            vec![
                0f32,
                0.,
                0.,
                f32::NEG_INFINITY,
                0.,
                0.,
                0.,
                0.,
                f32::NEG_INFINITY,
            ],
            9,
            &dev,
        )
        .unwrap();
        let xm = x.as_tensor().broadcast_add(&mask).unwrap();
        let w = Tensor::randn(0f32, 1.0, (2, 3, 5, 9), &dev).unwrap();
        let fused = scaled_masked_softmax(&xm, 1.0, None).unwrap();
        let reference = candle_nn::ops::softmax(&xm, D::Minus1).unwrap();
        close(&fused, &reference, 1e-6);
        same_gradients(&fused, &reference, &w, &[&x], 1e-5);
    }

    /// One row's terms of a sum over rows, from the row of x and of g.
    type RowTerms<'a> = dyn Fn(&[f32], &[f32]) -> Vec<f32> + 'a;

    /// Sums over rows (a bias's gradient, a layer norm's weight and bias
    /// gradients) come out the same bits whatever the threads do: each
    /// block of rows is summed, then the blocks in order. A seeded training
    /// run depends on it.
    #[test]
    fn sums_over_rows_add_their_blocks_in_order() {
        let dev = Device::Cpu;
        let (rows, n) = (4096, 48);
        let x = Tensor::randn(0f32, 1.0, (rows, n), &dev).unwrap();
        let g = Tensor::randn(0f32, 1.0, (rows, n), &dev).unwrap();
        let (xs, gs): (Vec<f32>, Vec<f32>) = (
            x.flatten_all().unwrap().to_vec1().unwrap(),
            g.flatten_all().unwrap().to_vec1().unwrap(),
        );
        let block = n * (CHUNK / n).max(1);
        assert!(xs.len() / block >= 8, "enough blocks for threads to share");
        let in_order = |width: usize, row_terms: &RowTerms<'_>| {
            let mut sums = vec![0f32; width];
            for (xb, gb) in xs.chunks(block).zip(gs.chunks(block)) {
                let mut acc = vec![0f32; width];
                for (xr, gr) in xb.chunks(n).zip(gb.chunks(n)) {
                    acc.iter_mut()
                        .zip(row_terms(xr, gr))
                        .for_each(|(a, t)| *a += t);
                }
                sums.iter_mut().zip(&acc).for_each(|(s, a)| *s += a);
            }
            sums
        };
        let bias = in_order(n, &|_, g| g.to_vec());
        let eps = 1e-5f32;
        let weight_and_bias = in_order(2 * n, &|x, g| {
            let (mean, rstd) = row_stats(x, eps);
            let mut t: Vec<f32> = (0..n).map(|i| g[i] * (x[i] - mean) * rstd).collect();
            t.extend_from_slice(g);
            t
        });
        for _ in 0..10 {
            let got: Vec<f32> = g
                .apply_op1_no_bwd(&SumRows { n })
                .unwrap()
                .to_vec1()
                .unwrap();
            assert_eq!(got, bias);
            let got: Vec<f32> = x
                .apply_op2_no_bwd(&g, &LayerNormGradWB { eps })
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            assert_eq!(got, weight_and_bias);
        }
    }

    #[test]
    fn add_trailing_and_its_gradients_match_broadcast_add() {
        let dev = Device::Cpu;
        let x = Var::from_tensor(&(Tensor::randn(0f32, 1.0, (3, 70, 40), &dev).unwrap())).unwrap();
        let up = Tensor::randn(0f32, 1.0, (3, 70, 40), &dev).unwrap();
        // A bias on the last dimension, and position embeddings on the last two.
        for shape in [vec![40usize], vec![70, 40]] {
            let b = Var::from_tensor(&(Tensor::randn(0f32, 1.0, shape, &dev).unwrap())).unwrap();
            let fused = add_trailing(x.as_tensor(), b.as_tensor()).unwrap();
            let reference = x.as_tensor().broadcast_add(b.as_tensor()).unwrap();
            close(&fused, &reference, 1e-6);
            same_gradients(&fused, &reference, &up, &[&x, &b], 1e-4);
        }
    }

    #[test]
    fn exp_matches_libm_and_zeroes_masked_scores() {
        let mut worst = 0f32;
        let mut x = -87.0f32;
        while x < 88.0 {
            let (ours, libm) = (exp(x), x.exp());
            worst = worst.max(((ours - libm) / libm).abs());
            x += 0.000_37;
        }
        assert!(worst < 3e-7, "largest relative error {worst}");
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp(-1000.0), 0.0);
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(1000.0).is_finite() && exp(1000.0) > 1e38);
        assert!(exp(f32::NAN).is_nan());
    }

    #[test]
    fn scaled_masked_softmax_and_its_gradient_match_composed_ops() {
        let dev = Device::Cpu;
        let x = Var::from_tensor(&(Tensor::randn(0f32, 3.0, (2, 3, 5, 5), &dev).unwrap())).unwrap();
        let causal: Vec<f32> = (0..5)
            .flat_map(|i| (0..5).map(move |j| if j > i { f32::NEG_INFINITY } else { 0.0 }))
            .collect();
        let w = Tensor::randn(0f32, 1.0, (2, 3, 5, 5), &dev).unwrap();
        // A causal mask (fused); a padded batch's [b, 1, t, t] and a scalar
        // mask take the composed path.
        let masks = [
            Tensor::from_vec(causal, (5, 5), &dev).unwrap(),
            Tensor::randn(0f32, 1.0, (2, 1, 5, 5), &dev).unwrap(),
            Tensor::new(-0.5f32, &dev).unwrap(),
        ];
        for mask in &masks {
            let m = Mask::new(mask.clone()).unwrap();
            let fused = scaled_masked_softmax(x.as_tensor(), 0.125, Some(&m)).unwrap();
            let composed = candle_nn::ops::softmax(
                &(x.as_tensor() * 0.125)
                    .unwrap()
                    .broadcast_add(mask)
                    .unwrap(),
                D::Minus1,
            )
            .unwrap();
            close(&fused, &composed, 1e-6);
            same_gradients(&fused, &composed, &w, &[&x], 1e-6);
        }
    }

    #[test]
    fn exact_gelu_and_its_gradient_match_candle() {
        let dev = Device::Cpu;
        // Past +-5, where erfc's tail and 2 - erfc meet, and near 0.
        let x = Tensor::randn(0f32, 3.0, (3, 40000), &dev).unwrap();
        let x = Var::from_tensor(&x).unwrap();
        let w = Tensor::randn(0f32, 1.0, (3, 40000), &dev).unwrap();
        let fused = gelu(x.as_tensor(), GeluForm::Erf).unwrap();
        let reference = x.as_tensor().gelu_erf().unwrap();
        close(&fused, &reference, 1e-6);
        same_gradients(&fused, &reference, &w, &[&x], 1e-5);
        // Relative precision where GELU is tiny (candle's 1 + erf rounds
        // to 0 there): x / 2 * erfc(-x / sqrt 2) in f64 (Python's math.erfc).
        // At -9 the f32 argument of exp (-42.6) alone is 2e-6 off.
        let exact = [
            (-9f32, -1.015729565358458e-18f64),
            (-6.0, -5.919525870226207e-09),
            (-3.0, -0.004049694094890287),
            (-1e-3, -0.000499601057786089),
            (0.0, 0.0),
            (1e-3, 0.000500398942213911),
            (3.0, 2.99595030590511),
            (9.0, 9.0),
        ];
        for (x, want) in exact {
            let got = gelu_erf_value(x) as f64;
            assert!(
                (got - want).abs() <= 1e-5 * want.abs(),
                "gelu({x}) = {got}, not {want}"
            );
        }
    }

    #[test]
    fn gelu_and_its_gradient_match_candle() {
        let dev = Device::Cpu;
        let x = Var::from_tensor(&(Tensor::randn(0f32, 2.0, (3, 40000), &dev).unwrap())).unwrap();
        let w = Tensor::randn(0f32, 1.0, (3, 40000), &dev).unwrap();
        let fused = gelu(x.as_tensor(), GeluForm::Tanh).unwrap();
        let reference = x.as_tensor().gelu().unwrap();
        close(&fused, &reference, 1e-5);
        same_gradients(&fused, &reference, &w, &[&x], 1e-4);
    }
}
