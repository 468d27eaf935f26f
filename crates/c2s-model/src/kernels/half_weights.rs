//! Products of f32 activations with f16 weight matrices, for inference on
//! the CPU, where the model keeps its matrices in f16 only.
//!
//! Generating a token at batch 1 reads every weight once, so its speed is the
//! memory's: GPT-2 small moves 494 MB of f32 weights a token, and a 2-core
//! machine streams about 22 GB/s, 45 tokens/s at best. Stored as f16 the
//! weights take half the bytes, and the model half the memory (a Gemma-2 2B
//! in 5 GB instead of 10). candle's CPU f16 product (gemm's) makes the
//! activations f16 too (Gemma's overflow there), and no crate multiplies f32
//! rows by f16 weights, so the kernel is here. Up to 64 rows (decoding, a
//! short prompt, a batch of labels to score): the weights are widened to
//! f32 as they stream through (AVX-512 or F16C) and accumulated in f32,
//! one row by a prefetching dot product, more rows in 4 x 4 tiles. More
//! rows (a long prompt): on AMX tiles where the CPU has them (kernels::amx,
//! within about 2^-16 of f32's products), else a block of weight rows at a
//! time is widened into a buffer that stays in the cache and multiplied by
//! gemm's blocked f32 product (AVX-512 where the CPU has it). Norms,
//! softmax, the KV cache and the logits stay f32; the only rounding is the
//! weights' (relative 2^-11; none for weights stored in bf16 within f16's
//! range), and AMX's.

use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor};
use half::f16;
use half::slice::HalfFloatSliceExt;
use rayon::prelude::*;

use super::fused::{BiasGelu, GeluForm};

/// At most this many activation rows go through the streaming kernels
/// (decoding, a short prompt, a batch of labels to score). More rows (a
/// long prompt) reuse each weight often enough that gemm's blocked f32
/// product wins. Measured on every matrix of a Pythia-410m, 2 cores with
/// AVX-512, streamed against blocked: 37 against 102 ms at 1 row, 119
/// against 263 at 16, 361 against 366 at 64, 790 against 506 at 128.
const MAX_STREAMED_ROWS: usize = 64;

/// Weight rows widened per gemm call above MAX_STREAMED_ROWS: 256 rows of
/// 1024 are 1 MB of f32, which stays in the cache while gemm reads it.
const ROWS_PER_BLOCK: usize = 256;

/// Weight rows per parallel task: about 96 KB of f16 at GPT-2's width.
const ROWS_PER_TASK: usize = 64;

/// f16 rows for `matmul` from a weight `[out, in]` (any dtype or layout).
pub(crate) fn rows_of(w: &Tensor) -> candle_core::Result<Tensor> {
    w.to_dtype(candle_core::DType::F16)?.contiguous()
}

/// Whether `rows` are f16 weights on the CPU, which `matmul` multiplies.
pub(crate) fn is_half(rows: &Tensor) -> bool {
    rows.device().is_cpu() && rows.dtype() == candle_core::DType::F16
}

/// `x` `[.., k]` (f32, CPU) times `rows` `[n, k]` (f16) transposed: `[.., n]`
/// in f32, as `x.matmul(rows.t())` with the weights rounded to f16.
pub(crate) fn matmul(x: &Tensor, rows: &Tensor) -> candle_core::Result<Tensor> {
    linear(x, rows, None, None)
}

/// A linear layer with these weights: `matmul`, plus `bias`, then `gelu`
/// when given, the bias and the GELU applied to each block of the output
/// as the product writes it (fused::BiasGelu).
pub(crate) fn linear(
    x: &Tensor,
    rows: &Tensor,
    bias: Option<&Tensor>,
    gelu: Option<GeluForm>,
) -> candle_core::Result<Tensor> {
    let bias = match bias {
        Some(b) => Some(
            b.to_dtype(candle_core::DType::F32)?
                .flatten_all()?
                .to_vec1::<f32>()?,
        ),
        None => None,
    };
    let (n, k) = rows.dims2()?;
    if let Some(b) = bias.as_ref().filter(|b| b.len() != n) {
        candle_core::bail!("half_weights::linear: {} biases for {n} outputs", b.len());
    }
    let then = BiasGelu { bias, gelu };
    let dims = x.dims();
    let (&last, lead) = dims
        .split_last()
        .ok_or_else(|| candle_core::Error::Msg("half_weights::matmul: a scalar input".into()))?;
    if last != k {
        candle_core::bail!("half_weights::matmul: {last} inputs for weights of width {k}");
    }
    let m: usize = lead.iter().product();
    let mut out_dims = lead.to_vec();
    out_dims.push(n);
    x.contiguous()?
        .reshape((m, k))?
        .apply_op2_no_bwd(&rows.contiguous()?, &HalfProduct(then))?
        .reshape(out_dims)
}

/// The product, and what its output gets as it is written.
struct HalfProduct(BiasGelu);

impl CustomOp2 for HalfProduct {
    fn name(&self) -> &'static str {
        "c2s-half-weights-matmul"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (CpuStorage::F32(x), CpuStorage::F16(w)) = (s1, s2) else {
            candle_core::bail!("{}: f32 inputs and f16 weights only", self.name())
        };
        let (Some((xa, xb)), Some((wa, wb))) = (l1.contiguous_offsets(), l2.contiguous_offsets())
        else {
            candle_core::bail!("{}: contiguous tensors only", self.name())
        };
        let (x, w) = (&x[xa..xb], &w[wa..wb]);
        let (m, k) = l1.shape().dims2()?;
        let n = l2.shape().dims2()?.0;
        let then = &self.0;
        if m == 0 || n == 0 || k == 0 {
            // Nothing to multiply (and rayon refuses chunks of size 0).
            let mut out = vec![0f32; m * n];
            out.chunks_mut(n.max(1)).for_each(|r| then.apply(r, 0));
            return Ok((CpuStorage::F32(out), Shape::from((m, n))));
        }
        if m > MAX_STREAMED_ROWS {
            return Ok((
                CpuStorage::F32(many_rows(x, w, [m, k, n], then)),
                Shape::from((m, n)),
            ));
        }
        let kernel = block_kernel();
        // Output transposed ([n, m]) so each task writes one block of it;
        // at m = 1 (decoding) that is already the answer.
        let mut out_t = vec![0f32; n * m];
        out_t
            .par_chunks_mut(ROWS_PER_TASK * m)
            .zip(w.par_chunks(ROWS_PER_TASK * k))
            .for_each(|(o, ws)| kernel(ws, x, k, o));
        let mut out = if m == 1 {
            out_t
        } else {
            let mut out = vec![0f32; m * n];
            for (j, col) in out_t.chunks(m).enumerate() {
                for (r, &v) in col.iter().enumerate() {
                    out[r * n + j] = v;
                }
            }
            out
        };
        if !then.is_empty() {
            out.par_chunks_mut(n).for_each(|r| then.apply(r, 0));
        }
        Ok((CpuStorage::F32(out), Shape::from((m, n))))
    }
}

/// `x` `[m, k]` times `w` `[n, k]` transposed, for many rows, then `then`:
/// on AMX tiles where the CPU has them (kernels::amx), else by gemm
/// (`blocked`).
fn many_rows(x: &[f32], w: &[f16], [m, k, n]: [usize; 3], then: &BiasGelu) -> Vec<f32> {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    if super::amx::available() {
        let epilogue = |row: &mut [f32], col0: usize| then.apply(row, col0);
        let epilogue: super::amx::Epilogue = if then.is_empty() {
            None
        } else {
            Some(&epilogue)
        };
        return super::amx::matmul(x, w, [m, k, n], epilogue);
    }
    blocked(x, w, [m, k, n], then)
}

/// `x` `[m, k]` times `w` `[n, k]` transposed, for many rows: each task
/// widens ROWS_PER_BLOCK weight rows to f32, has gemm write the matching
/// columns of the output, then applies `then` to them.
fn blocked(x: &[f32], w: &[f16], [m, k, n]: [usize; 3], then: &BiasGelu) -> Vec<f32> {
    /// The output, written by tasks at disjoint columns.
    struct Out(*mut f32);
    // SAFETY: each task writes only its own columns of the buffer, which
    // outlives them (the parallel loop ends before it is returned).
    unsafe impl Sync for Out {}
    let mut out = vec![0f32; m * n];
    let dst = Out(out.as_mut_ptr());
    w.par_chunks(ROWS_PER_BLOCK * k)
        .enumerate()
        .for_each(|(b, ws)| {
            let nb = ws.len() / k;
            let mut wf = vec![0f32; ws.len()];
            ws.convert_to_f32_slice(&mut wf);
            let dst = &dst;
            // SAFETY: lhs is x ([m, k], row-major), rhs is the block as
            // [k, nb] (column j = weight row j), dst the block's columns of
            // `out` ([m, n], row-major); all in bounds of their buffers.
            unsafe {
                gemm::gemm(
                    m,
                    nb,
                    k,
                    dst.0.add(b * ROWS_PER_BLOCK),
                    1,
                    n as isize,
                    false,
                    x.as_ptr(),
                    1,
                    k as isize,
                    wf.as_ptr(),
                    k as isize,
                    1,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                )
            };
            if !then.is_empty() {
                for r in 0..m {
                    let c0 = b * ROWS_PER_BLOCK;
                    // SAFETY: row r's columns of this block, which only
                    // this task writes, inside `out`.
                    let row = unsafe { std::slice::from_raw_parts_mut(dst.0.add(r * n + c0), nb) };
                    then.apply(row, c0);
                }
            }
        });
    out
}

/// Weight rows `ws` (`[rows, k]`) times each activation row of `x`
/// (`[m, k]`) into `out` (`[rows, m]`), the fastest way this CPU offers.
type BlockKernel = fn(&[f16], &[f32], usize, &mut [f32]);

fn block_kernel() -> BlockKernel {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        return |ws, x, k, out| {
            // SAFETY: the CPU has the features the function is compiled for.
            unsafe { block_avx512(ws, x, k, out) }
        };
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("fma")
        && std::arch::is_x86_feature_detected!("f16c")
    {
        return |ws, x, k, out| {
            // SAFETY: the CPU has the features the function is compiled for.
            each_pair(ws, x, k, out, |w, xr| unsafe { dot_avx2(w, xr) })
        };
    }
    |ws, x, k, out| each_pair(ws, x, k, out, dot_portable)
}

/// Every weight row of `ws` times every activation row of `x` by `dot`,
/// into `out` (`[rows, m]`): the kernels without tiles.
fn each_pair(
    ws: &[f16],
    x: &[f32],
    k: usize,
    out: &mut [f32],
    dot: impl Fn(&[f16], &[f32]) -> f32,
) {
    for (o, w) in out.chunks_mut(x.len() / k).zip(ws.chunks(k)) {
        for (o, xr) in o.iter_mut().zip(x.chunks(k)) {
            *o = dot(w, xr);
        }
    }
}

/// Any CPU: weights widened a block at a time by `half` (SIMD where the
/// CPU has it), then eight partial sums the compiler can vectorise.
fn dot_portable(w: &[f16], x: &[f32]) -> f32 {
    if w.is_empty() {
        // The SIMD kernels' tails, mostly empty: skip the buffer's setup.
        return 0.0;
    }
    let mut buf = [0f32; 256];
    let mut acc = [0f32; 8];
    let mut tail = 0f32;
    for (wb, xb) in w.chunks(256).zip(x.chunks(256)) {
        let wf = &mut buf[..wb.len()];
        wb.convert_to_f32_slice(wf);
        let whole = wf.len() / 8 * 8;
        for (w, x) in wf[..whole].chunks_exact(8).zip(xb.chunks_exact(8)) {
            for l in 0..8 {
                acc[l] += w[l] * x[l];
            }
        }
        tail += wf[whole..]
            .iter()
            .zip(&xb[whole..])
            .map(|(w, x)| w * x)
            .sum::<f32>();
    }
    acc.iter().sum::<f32>() + tail
}

/// 32 products per step in four AVX registers; F16C converts eight weights
/// at a time.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_avx2(w: &[f16], x: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let k = w.len().min(x.len());
    let (wp, xp) = (w.as_ptr() as *const __m128i, x.as_ptr());
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    while i + 32 <= k {
        for (u, a) in acc.iter_mut().enumerate() {
            // SAFETY: i + 8u + 8 <= k, within both slices; unaligned loads.
            let (wv, xv) = unsafe {
                (
                    _mm256_cvtph_ps(_mm_loadu_si128(wp.add((i + 8 * u) / 8))),
                    _mm256_loadu_ps(xp.add(i + 8 * u)),
                )
            };
            *a = _mm256_fmadd_ps(wv, xv, *a);
        }
        i += 32;
    }
    let s = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    let s = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    _mm_cvtss_f32(s) + dot_portable(&w[i..k], &x[i..k])
}

/// How far ahead of the weights being multiplied the AVX-512 kernel asks for
/// the next ones: the hardware prefetcher alone kept one core at 9 GB/s of
/// the 12 it can read; 2 KB ahead (measured from 512 B to 8 KB) gives the
/// most, 9.5 to 10.
#[cfg(target_arch = "x86_64")]
const PREFETCH_BYTES: usize = 2048;

/// 64 products per step in four 512-bit registers (16 weights widened per
/// instruction), with the weights 2 KB ahead prefetched.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
// Kept out of line: inlined into its callers it ran 20 % slower (45 against
// 37 ms for every matrix of a Pythia-410m).
#[inline(never)]
unsafe fn dot_avx512(w: &[f16], x: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let k = w.len().min(x.len());
    let (wp, xp) = (w.as_ptr() as *const __m256i, x.as_ptr());
    let mut acc = [_mm512_setzero_ps(); 4];
    let mut i = 0;
    while i + 64 <= k {
        // A prefetch is a hint: an address past the slice does not fault.
        let p = (wp as *const i8).wrapping_add(i * 2 + PREFETCH_BYTES);
        _mm_prefetch::<_MM_HINT_T0>(p);
        _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(64));
        for (u, a) in acc.iter_mut().enumerate() {
            // SAFETY: i + 16u + 16 <= k, within both slices; unaligned loads.
            let (wv, xv) = unsafe {
                (
                    _mm512_cvtph_ps(_mm256_loadu_si256(wp.add((i + 16 * u) / 16))),
                    _mm512_loadu_ps(xp.add(i + 16 * u)),
                )
            };
            *a = _mm512_fmadd_ps(wv, xv, *a);
        }
        i += 64;
    }
    let s = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
    _mm512_reduce_add_ps(s) + dot_portable(&w[i..k], &x[i..k])
}

/// Weight rows `ws` (`[rows, k]`) times every activation row of `x`
/// (`[m, k]`) into `out` (`[rows, m]`). One activation row (decoding) is
/// read at the memory's speed by the prefetching dot product. More rows (a
/// prompt of a few tokens, a batch of cells) go in tiles of 4 weight rows
/// by up to 4 activation rows: each 16 weights are widened once for 4
/// activation rows and each activation load serves 4 weight rows, where one
/// weight row at a time was bound by re-reading the activations (every
/// matrix of a Pythia-410m, 2 cores: 78 GFLOP/s against 67 at 8 rows, 116
/// against 71 at 32).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn block_avx512(ws: &[f16], x: &[f32], k: usize, out: &mut [f32]) {
    let m = x.len() / k;
    // SAFETY: the caller's CPU has AVX-512F.
    let dot = |w: &[f16], xr: &[f32]| unsafe { dot_avx512(w, xr) };
    if m == 1 {
        return each_pair(ws, x, k, out, dot);
    }
    let whole_tiles = ws.len() / k / 4;
    for t in 0..whole_tiles {
        let w = &ws[t * 4 * k..(t + 1) * 4 * k];
        let o = &mut out[t * 4 * m..(t + 1) * 4 * m];
        for x0 in (0..m).step_by(4) {
            let xs = &x[x0 * k..];
            // SAFETY (each arm): the caller's CPU has AVX-512F; `w` holds 4
            // rows of `k`, `xs` at least the arm's count.
            unsafe {
                match (m - x0).min(4) {
                    4 => tile_avx512::<4>(w, xs, k, m, x0, o),
                    3 => tile_avx512::<3>(w, xs, k, m, x0, o),
                    2 => tile_avx512::<2>(w, xs, k, m, x0, o),
                    _ => tile_avx512::<1>(w, xs, k, m, x0, o),
                }
            }
        }
    }
    // Weight rows past the last whole tile, one dot product at a time.
    let done = whole_tiles * 4;
    each_pair(&ws[done * k..], x, k, &mut out[done * m..], dot);
}

/// 4 weight rows (`w`, `[4, k]`) times activation rows `x0..x0 + R` (the
/// first `R` rows of `xs`) into `out` (`[4, m]`), 16 accumulators at most.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn tile_avx512<const R: usize>(
    w: &[f16],
    xs: &[f32],
    k: usize,
    m: usize,
    x0: usize,
    out: &mut [f32],
) {
    use std::arch::x86_64::*;
    assert!(w.len() >= 4 * k && xs.len() >= R * k && out.len() >= 4 * m);
    let (wp, xp) = (w.as_ptr(), xs.as_ptr());
    // acc[r][j]: activation row r times weight row j.
    let mut acc = [[_mm512_setzero_ps(); 4]; R];
    let whole = k / 16 * 16;
    let mut i = 0;
    while i < whole {
        // SAFETY: i + 16 <= k, so every load is inside its row of `w`
        // (4 rows) or `xs` (R rows).
        unsafe {
            let wv: [__m512; 4] = std::array::from_fn(|j| {
                _mm512_cvtph_ps(_mm256_loadu_si256(wp.add(j * k + i) as *const __m256i))
            });
            for (r, row) in acc.iter_mut().enumerate() {
                let xv = _mm512_loadu_ps(xp.add(r * k + i));
                for (a, w) in row.iter_mut().zip(&wv) {
                    *a = _mm512_fmadd_ps(*w, xv, *a);
                }
            }
        }
        i += 16;
    }
    for (r, row) in acc.iter().enumerate() {
        for (j, a) in row.iter().enumerate() {
            out[j * m + x0 + r] = _mm512_reduce_add_ps(*a)
                + dot_portable(
                    &w[j * k + whole..(j + 1) * k],
                    &xs[r * k + whole..(r + 1) * k],
                );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::fused;
    use candle_core::{DType, Device};

    fn close(a: &[f32], b: &[f32], tol: f32) {
        assert_eq!(a.len(), b.len());
        for (i, (a, b)) in a.iter().zip(b).enumerate() {
            assert!((a - b).abs() <= tol * (1.0 + b.abs()), "at {i}: {a} vs {b}");
        }
    }

    #[test]
    fn product_equals_f32_matmul_of_the_rounded_weights() {
        let dev = Device::Cpu;
        // Widths that leave tails after the 16- and 64-wide steps, the
        // 4 x 4 tiles and the 64-row tasks; past MAX_STREAMED_ROWS and
        // ROWS_PER_BLOCK, the blocked product.
        for (m, k, n) in [
            (1, 768, 2304),
            (3, 77, 130),
            (48, 40, 65),
            (60, 33, 9),
            (9, 64, 600),
            (70, 40, 300),
            (130, 19, 7),
        ] {
            let x = Tensor::randn(0f32, 1.0, (m, k), &dev).unwrap();
            let w = Tensor::randn(0f32, 0.1, (n, k), &dev)
                .unwrap()
                .to_dtype(DType::F16)
                .unwrap();
            let ours = matmul(&x, &w).unwrap();
            assert_eq!(ours.dims(), &[m, n]);
            let wf = w.to_dtype(DType::F32).unwrap();
            let want = x.matmul(&wf.t().unwrap()).unwrap();
            let ours = ours.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let want = want.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            if m <= MAX_STREAMED_ROWS {
                close(&ours, &want, 1e-5);
            } else {
                // AMX's bf16x3 products where the CPU has them: within 2^-15
                // of the sizes of the products summed.
                let size = x
                    .abs()
                    .unwrap()
                    .matmul(&wf.abs().unwrap().t().unwrap())
                    .unwrap();
                let size = size.flatten_all().unwrap().to_vec1::<f32>().unwrap();
                for ((o, w), s) in ours.iter().zip(&want).zip(&size) {
                    assert!((o - w).abs() <= s / 32768.0 + 1e-5, "{o} vs {w}");
                }
            }
        }
    }

    #[test]
    fn leading_dimensions_are_kept_and_kernels_agree() {
        let dev = Device::Cpu;
        let x = Tensor::randn(0f32, 1.0, (2, 3, 50), &dev).unwrap();
        let w = Tensor::randn(0f32, 0.1, (7, 50), &dev)
            .unwrap()
            .to_dtype(DType::F16)
            .unwrap();
        assert_eq!(matmul(&x, &w).unwrap().dims(), &[2, 3, 7]);
        let wv: Vec<f16> = w.flatten_all().unwrap().to_vec1().unwrap();
        let xv: Vec<f32> = x.flatten_all().unwrap().to_vec1().unwrap();
        // Against the portable dot product: 7 weight rows (a tile of 4, then
        // 3 alone) by 1 and 6 activation rows (tiles of 4 and 2), each with
        // a tail of 2 weights past 48.
        for rows in [1, 6] {
            let mut fast = vec![0f32; 7 * rows];
            block_kernel()(&wv[..7 * 50], &xv[..rows * 50], 50, &mut fast);
            for (i, f) in fast.iter().enumerate() {
                let (j, r) = (i / rows, i % rows);
                let portable = dot_portable(&wv[j * 50..(j + 1) * 50], &xv[r * 50..(r + 1) * 50]);
                assert!((f - portable).abs() < 1e-5, "{j}, {r}: {f} vs {portable}");
            }
        }
        let wrong = Tensor::zeros((7, 49), DType::F16, &dev).unwrap();
        assert!(matmul(&x, &wrong).is_err());
        let short_bias = Tensor::zeros(6, DType::F32, &dev).unwrap();
        assert!(linear(&x, &w, Some(&short_bias), None).is_err());
        // Empty inputs or weights give an empty or zero product, no panic.
        let none = Tensor::zeros((0, 50), DType::F32, &dev).unwrap();
        assert_eq!(matmul(&none, &w).unwrap().dims(), &[0, 7]);
        let flat = Tensor::zeros((2, 0), DType::F32, &dev).unwrap();
        let no_k = Tensor::zeros((3, 0), DType::F16, &dev).unwrap();
        let z = matmul(&flat, &no_k).unwrap();
        assert_eq!(
            z.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            vec![0.0; 6]
        );
    }

    #[test]
    fn bias_and_gelu_as_written_equal_the_separate_ops() {
        let dev = Device::Cpu;
        // Streamed (m <= 64, one and several rows), and past that the tiles
        // where the CPU has them, with partial tiles and an odd last group
        // of 16 columns; then gemm's blocked product, called directly.
        for (m, k, n) in [(1, 40, 300), (9, 33, 70), (100, 70, 300), (67, 64, 49)] {
            let x = Tensor::randn(0f32, 1.0, (m, k), &dev).unwrap();
            let w = Tensor::randn(0f32, 0.2, (n, k), &dev)
                .unwrap()
                .to_dtype(DType::F16)
                .unwrap();
            let b = Tensor::randn(0f32, 1.0, n, &dev).unwrap();
            let product = matmul(&x, &w).unwrap();
            let plus = fused::add_trailing(&product, &b).unwrap();
            let bits = |t: &Tensor| -> Vec<u32> {
                let v = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
                v.iter().map(|v| v.to_bits()).collect()
            };
            for gelu in [None, Some(GeluForm::Erf), Some(GeluForm::Tanh)] {
                let want = match gelu {
                    Some(form) => fused::gelu(&plus, form).unwrap(),
                    None => plus.clone(),
                };
                let got = linear(&x, &w, Some(&b), gelu).unwrap();
                assert_eq!(bits(&got), bits(&want), "{m}x{k}x{n}, {gelu:?}");
                if let Some(form) = gelu {
                    let alone = linear(&x, &w, None, gelu).unwrap();
                    let want = fused::gelu(&product, form).unwrap();
                    assert_eq!(bits(&alone), bits(&want), "{m}x{k}x{n}, no bias");
                }
                let xv = x.flatten_all().unwrap().to_vec1::<f32>().unwrap();
                let wv = w.flatten_all().unwrap().to_vec1::<f16>().unwrap();
                let then = BiasGelu {
                    bias: Some(b.to_vec1().unwrap()),
                    gelu,
                };
                let blocked_then = blocked(&xv, &wv, [m, k, n], &then);
                let none = BiasGelu {
                    bias: None,
                    gelu: None,
                };
                let plain = Tensor::from_vec(blocked(&xv, &wv, [m, k, n], &none), (m, n), &dev);
                let plus = fused::add_trailing(&plain.unwrap(), &b).unwrap();
                let want = match gelu {
                    Some(form) => fused::gelu(&plus, form).unwrap(),
                    None => plus,
                };
                let got: Vec<u32> = blocked_then.iter().map(|v| v.to_bits()).collect();
                assert_eq!(got, bits(&want), "blocked {m}x{k}x{n}, {gelu:?}");
            }
        }
    }
}
