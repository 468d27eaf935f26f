//! Products of f32 activations with f16 weight matrices, for inference on
//! the CPU, where the model keeps its matrices in f16 only.
//!
//! Generating a token at batch 1 reads every weight once, so its speed is the
//! memory's: GPT-2 small moves 494 MB of f32 weights a token, and a 2-core
//! machine streams about 22 GB/s, 45 tokens/s at best. Stored as f16 the
//! weights take half the bytes, and the model half the memory (a Gemma-2 2B
//! in 5 GB instead of 10). candle's CPU f16 product (gemm's) makes the
//! activations f16 too (Gemma's overflow there), and no crate multiplies f32
//! rows by f16 weights, so the kernel is here. Few rows (decoding): each
//! weight row is converted to f32 as it streams through (F16C on x86-64)
//! and accumulated in f32. Many rows (a prompt, a batch of labels to score):
//! a block of weight rows at a time is widened into a buffer that stays in
//! the cache and multiplied by gemm's blocked f32 product (AVX-512 where
//! the CPU has it). Norms, softmax, the KV cache and the logits stay f32;
//! the only rounding is the weights' (relative 2^-11; none for weights
//! stored in bf16 within f16's range).

use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor};
use half::f16;
use half::slice::HalfFloatSliceExt;
use rayon::prelude::*;

/// At most this many activation rows go through the streaming kernel
/// (decoding: one per sequence of the batch). More rows (a prompt, a batch
/// of cells to score) reuse each weight often enough that gemm's blocked f32
/// product wins: measured on a 3072 x 768 matrix, 2 cores, 0.10 ms against
/// 0.21 at 1 row, 0.58 against 1.21 at 8, even at about 16, 4.6 against 2.5
/// at 64.
const MAX_STREAMED_ROWS: usize = 8;

/// Weight rows widened per gemm call above MAX_STREAMED_ROWS: 256 rows of
/// 1024 are 1 MB of f32, which stays in the cache while gemm reads it.
const ROWS_PER_BLOCK: usize = 256;

/// Weight rows per parallel task: about 96 KB of f16 at GPT-2's width.
const ROWS_PER_TASK: usize = 64;

/// f16 rows for `matmul` from a weight `[out, in]` (any dtype or layout).
pub fn rows_of(w: &Tensor) -> candle_core::Result<Tensor> {
    w.to_dtype(candle_core::DType::F16)?.contiguous()
}

/// Whether `rows` are f16 weights on the CPU, which `matmul` multiplies.
pub fn is_half(rows: &Tensor) -> bool {
    rows.device().is_cpu() && rows.dtype() == candle_core::DType::F16
}

/// `x` `[.., k]` (f32, CPU) times `rows` `[n, k]` (f16) transposed: `[.., n]`
/// in f32, as `x.matmul(rows.t())` with the weights rounded to f16.
pub fn matmul(x: &Tensor, rows: &Tensor) -> candle_core::Result<Tensor> {
    let (n, k) = rows.dims2()?;
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
        .apply_op2_no_bwd(&rows.contiguous()?, &HalfProduct)?
        .reshape(out_dims)
}

struct HalfProduct;

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
        if m == 0 || n == 0 || k == 0 {
            // Nothing to multiply (and rayon refuses chunks of size 0).
            return Ok((CpuStorage::F32(vec![0f32; m * n]), Shape::from((m, n))));
        }
        if m > MAX_STREAMED_ROWS {
            return Ok((CpuStorage::F32(blocked(x, w, m, k, n)), Shape::from((m, n))));
        }
        let dot = dot_kernel();
        // Output transposed ([n, m]) so each task writes one block of it;
        // at m = 1 (decoding) that is already the answer.
        let mut out_t = vec![0f32; n * m];
        out_t
            .par_chunks_mut(ROWS_PER_TASK * m)
            .zip(w.par_chunks(ROWS_PER_TASK * k))
            .for_each(|(o, ws)| {
                for (o, wr) in o.chunks_mut(m).zip(ws.chunks(k)) {
                    for (o, xr) in o.iter_mut().zip(x.chunks(k)) {
                        *o = dot(wr, xr);
                    }
                }
            });
        let out = if m == 1 {
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
        Ok((CpuStorage::F32(out), Shape::from((m, n))))
    }
}

/// `x` `[m, k]` times `w` `[n, k]` transposed, for many rows: each task
/// widens ROWS_PER_BLOCK weight rows to f32 and has gemm write the
/// matching columns of the output.
fn blocked(x: &[f32], w: &[f16], m: usize, k: usize, n: usize) -> Vec<f32> {
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
            }
        });
    out
}

/// The dot product of a weight row and an activation row, the fastest this
/// CPU offers.
fn dot_kernel() -> fn(&[f16], &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("fma")
        && std::arch::is_x86_feature_detected!("f16c")
    {
        return |w, x| {
            // SAFETY: the CPU has the features the function is compiled for.
            unsafe { dot_avx2(w, x) }
        };
    }
    dot_portable
}

/// Any CPU: weights widened a block at a time by `half` (SIMD where the
/// CPU has it), then eight partial sums the compiler can vectorise.
fn dot_portable(w: &[f16], x: &[f32]) -> f32 {
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

#[cfg(test)]
mod tests {
    use super::*;
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
        // Widths that leave tails after the 32-wide steps and the 64-row tasks.
        // Past MAX_STREAMED_ROWS and ROWS_PER_BLOCK: the blocked product.
        for (m, k, n) in [
            (1, 768, 2304),
            (3, 77, 130),
            (48, 40, 65),
            (60, 33, 9),
            (9, 64, 600),
        ] {
            let x = Tensor::randn(0f32, 1.0, (m, k), &dev).unwrap();
            let w = Tensor::randn(0f32, 0.1, (n, k), &dev)
                .unwrap()
                .to_dtype(DType::F16)
                .unwrap();
            let ours = matmul(&x, &w).unwrap();
            assert_eq!(ours.dims(), &[m, n]);
            let want = x
                .matmul(&w.to_dtype(DType::F32).unwrap().t().unwrap())
                .unwrap();
            close(
                &ours.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                &want.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                1e-5,
            );
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
        let (fast, portable) = (
            dot_kernel()(&wv[..50], &xv[..50]),
            dot_portable(&wv[..50], &xv[..50]),
        );
        assert!((fast - portable).abs() < 1e-5, "{fast} vs {portable}");
        let wrong = Tensor::zeros((7, 49), DType::F16, &dev).unwrap();
        assert!(matmul(&x, &wrong).is_err());
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
}
