//! Long prompts' products of f32 activations with f16 weights (and
//! attention's with its f32 keys and values) on Intel's AMX tiles (Sapphire
//! Rapids and later, on Linux).
//!
//! A prompt of hundreds of tokens is bound by these products, which gemm's
//! f32 kernels run at about 270 GFLOP/s on 2 AVX-512 cores, the f32 peak. AMX
//! multiplies bf16 tiles (16 x 32 by 32 x 16, f32 sums) many times faster,
//! and no Rust crate drives it (gemm, candle and the stable intrinsics stop
//! at AVX-512), so the kernel is here, in inline assembly. On a 2-core Xeon
//! it took a Pythia-410m prompt of 800 tokens from 282 to about 455 tokens/s
//! and a Gemma-2-2B one from 61 to 105, attention's products included
//! (kernels::attention; bench/published.sh). Precision is kept
//! near f32's by splitting each number in two bf16 (hi = x rounded, lo = the
//! rest rounded, the 3-pass scheme of oneDNN's and cuBLAS' "bf16x3"): a f16
//! weight is exactly hi + lo, an activation within 2^-17 of it, and
//! hi*hi + hi*lo + lo*hi drops only lo*lo, so each product is within about
//! 2^-16 of f32's (sums stay f32): far below the weights' own f16 rounding
//! (2^-11).

use std::arch::asm;
use std::arch::x86_64::*;
use std::sync::OnceLock;

use half::f16;
use rayon::prelude::*;

/// Output columns (weight rows) per task: their packed weights (64 x k x 2
/// x 2 bytes, 512 KB at k = 4,096) stay in the core's L2 while every block
/// of 32 activation rows passes over them.
const COLS_PER_TASK: usize = 64;

/// The tile shape every register is configured to: 16 rows of 64 bytes
/// (16 f32 sums, or 16 pairs of bf16).
const TILE_ROWS: usize = 16;
/// k values per tile step: a row of 64 bytes holds 32 bf16.
const K_STEP: usize = 32;
/// u16 values in one packed tile.
const TILE_U16: usize = TILE_ROWS * K_STEP;

/// Whether long products run here: this CPU and operating system run AMX
/// bf16 tiles (CPUID leaf 7: AMX-TILE, AMX-BF16; AVX-512 for the packing;
/// Linux grants the process the tile state, arch_prctl
/// ARCH_REQ_XCOMP_PERM), and `C2S_AMX=0` does not turn them off (to compare
/// with gemm's f32 product, or to rule the kernel out).
pub(crate) fn available() -> bool {
    static OK: OnceLock<bool> = OnceLock::new();
    *OK.get_or_init(|| {
        if std::env::var("C2S_AMX").is_ok_and(|v| v.trim() == "0")
            || !std::arch::is_x86_feature_detected!("avx512f")
            || !std::arch::is_x86_feature_detected!("avx512bw")
        {
            return false;
        }
        // Safe in this Rust, unsafe in older ones the workspace may build on.
        #[allow(unused_unsafe)]
        // SAFETY: CPUID leaf 7 exists on every CPU with AVX-512.
        let edx = unsafe { __cpuid_count(7, 0) }.edx;
        let (tile, bf16) = (edx & (1 << 24) != 0, edx & (1 << 22) != 0);
        if !(tile && bf16) {
            return false;
        }
        const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
        const XFEATURE_XTILEDATA: libc::c_long = 18;
        // SAFETY: a request for a permission; it changes no memory.
        let granted = unsafe {
            libc::syscall(
                libc::SYS_arch_prctl,
                ARCH_REQ_XCOMP_PERM,
                XFEATURE_XTILEDATA,
            )
        };
        granted == 0
    })
}

/// What the kernel multiplies as weights, widened to f32 32 at a time: a
/// model's f16 matrices, or f32 rows (attention's keys and values).
pub(crate) trait Widen: Copy + Sync {
    /// The value as f32.
    fn widen(self) -> f32;
    /// 32 values from `p`, as two vectors of 16.
    ///
    /// # Safety
    /// 32 values are readable at `p`, and the CPU has AVX-512F.
    unsafe fn widen32(p: *const Self) -> (__m512, __m512);
}

impl Widen for f16 {
    fn widen(self) -> f32 {
        self.to_f32()
    }

    #[inline(always)]
    unsafe fn widen32(p: *const Self) -> (__m512, __m512) {
        let p = p as *const __m256i;
        // SAFETY: the caller's 32 values and AVX-512F.
        unsafe {
            (
                _mm512_cvtph_ps(_mm256_loadu_si256(p)),
                _mm512_cvtph_ps(_mm256_loadu_si256(p.add(1))),
            )
        }
    }
}

impl Widen for f32 {
    fn widen(self) -> f32 {
        self
    }

    #[inline(always)]
    unsafe fn widen32(p: *const Self) -> (__m512, __m512) {
        // SAFETY: the caller's 32 values and AVX-512F.
        unsafe { (_mm512_loadu_ps(p), _mm512_loadu_ps(p.add(16))) }
    }
}

/// Products a causal attention need not compute: row r of the product is
/// query `r % seen.len()`, which sees only its first `seen[query]` keys.
#[derive(Clone, Copy)]
pub(crate) enum Skip<'a> {
    /// Every product is computed.
    Nothing,
    /// The scores: output columns (keys) past every seen one of a 32-row
    /// block are written 0, not computed (the softmax drops them).
    Columns(&'a [usize]),
    /// The mix of values: x's values past every seen key of a 32-row block
    /// are 0 (the softmax's weights of hidden keys) and are not read.
    Depth(&'a [usize]),
}

impl Skip<'_> {
    /// How many leading columns (Columns) or k (Depth) rows `r0..r1` need;
    /// None when every product is computed.
    fn needed(&self, r0: usize, r1: usize) -> Option<usize> {
        let (Skip::Columns(seen) | Skip::Depth(seen)) = *self else {
            return None;
        };
        (r0..r1).map(|r| seen[r % seen.len()]).max()
    }
}

/// What runs on each row segment of a product's output as soon as the tiles
/// wrote it, while it is in the core's cache (a bias and an activation):
/// the segment, and its first column.
pub(crate) type Epilogue<'a> = Option<&'a (dyn Fn(&mut [f32], usize) + Sync)>;

/// `x` `[m, k]` times `w` `[n, k]` transposed: `[m, n]`, each block then
/// given to `epilogue`. The caller checks `available()`.
pub(crate) fn matmul<W: Widen>(
    x: &[f32],
    w: &[W],
    [m, k, n]: [usize; 3],
    epilogue: Epilogue,
) -> Vec<f32> {
    let mut out = Vec::<f32>::with_capacity(m * n);
    // SAFETY: `out` has room for m * n; matmul_into writes all of them.
    unsafe {
        matmul_into(x, w, [m, k, n], out.as_mut_ptr(), Skip::Nothing, epilogue);
        out.set_len(m * n);
    }
    out
}

/// `x` `[m, k]` times `w` `[n, k]` transposed into `out` (`[m, n]`, every
/// element written, whole tiles by the tiles, the edges from `spill`; not
/// read, so it need not be initialised or zeroed first, which is a memset
/// on one thread). `skip` leaves out what a causal attention does not need;
/// `epilogue` runs on each block of `out` once it is written.
///
/// # Safety
/// `out` is valid for writes of m * n f32; the caller checks `available()`.
pub(crate) unsafe fn matmul_into<W: Widen>(
    x: &[f32],
    w: &[W],
    [m, k, n]: [usize; 3],
    out: *mut f32,
    skip: Skip,
    epilogue: Epilogue,
) {
    assert!(available() && x.len() >= m * k && w.len() >= n * k);
    assert!(!matches!(skip, Skip::Columns([]) | Skip::Depth([])));
    let (kp, mp) = (
        k.div_ceil(K_STEP) * K_STEP,
        m.div_ceil(2 * TILE_ROWS) * 2 * TILE_ROWS,
    );
    // The activations as hi and lo bf16, rows padded with zeros to kp and
    // to a whole number of 32-row blocks; tile-contiguous (rows of 16
    // activations, each step's 16 x 32 together), every element written by
    // `split_rows` (no zero fill first: for attention's mixes that was 41 MB
    // a layer), up to the k its 32-row block reads.
    let mut a_hi = Vec::<u16>::with_capacity(mp * kp);
    let mut a_lo = Vec::<u16>::with_capacity(mp * kp);
    struct Split(*mut u16, *mut u16);
    // SAFETY: each group of 16 rows writes only its own part of the buffers,
    // which outlive the parallel loop.
    unsafe impl Sync for Split {}
    let split = Split(a_hi.as_mut_ptr(), a_lo.as_mut_ptr());
    (0..mp / TILE_ROWS).into_par_iter().for_each(|g| {
        let split = &split;
        // SAFETY: the buffers have room for mp * kp; available() checked
        // AVX-512F and BW.
        unsafe { split_group(x, [m, k, kp], g, skip, [split.0, split.1]) };
    });
    // split_rows wrote every group's 16 * kp values but the steps a Depth
    // skip leaves out, which no tile reads: the buffers stay behind raw
    // pointers (their lengths 0), never read as slices.
    let a = Activations {
        hi: a_hi.as_ptr(),
        lo: a_lo.as_ptr(),
        kp,
        mp,
    };
    struct Out(*mut f32);
    // SAFETY: each task writes only its own columns of `out`, which outlives
    // the parallel loop.
    unsafe impl Sync for Out {}
    let dst = Out(out);
    let steps = kp / K_STEP;
    let tasks = n.div_ceil(COLS_PER_TASK);
    (0..tasks).into_par_iter().for_each_init(
        // Not zeroed (a memset of up to 1 MB per task at k = 4,096):
        // pack_weights writes every tile the task's columns read.
        || {
            let len = COLS_PER_TASK / TILE_ROWS * steps * TILE_U16;
            (
                Vec::<u16>::with_capacity(len),
                Vec::<u16>::with_capacity(len),
            )
        },
        |(b_hi, b_lo), t| {
            let n0 = t * COLS_PER_TASK;
            let cols = (n - n0).min(COLS_PER_TASK);
            let b = [b_hi.as_mut_ptr(), b_lo.as_mut_ptr()];
            // SAFETY: available() checked the features; the packed buffers
            // have room for COLS_PER_TASK columns of kp.
            unsafe { pack_weights(&w[n0 * k..(n0 + cols) * k], k, kp, b) };
            let dst = &dst;
            // SAFETY: AMX is available and granted; every tile read is one
            // pack_weights wrote, every store inside `out`'s columns
            // n0..n0 + cols.
            unsafe {
                multiply(
                    &a,
                    b.map(|p| p.cast_const()),
                    [n0, cols],
                    steps,
                    Output {
                        at: dst.0.add(n0),
                        m,
                        ld: n,
                        epilogue,
                    },
                    skip,
                )
            };
        },
    );
}

/// The 32-step count (of `steps`) the 32-row block from `mb` reads: all, but
/// for a Depth skip.
fn block_steps(skip: Skip, mb: usize, m: usize, steps: usize) -> usize {
    match skip {
        Skip::Depth(_) => skip
            .needed(mb, (mb + 2 * TILE_ROWS).min(m))
            .map_or(steps, |k| k.div_ceil(K_STEP).min(steps)),
        _ => steps,
    }
}

/// Weights `[n, k]` packed for the tiles once, for many products: attention's
/// keys and values, which every block of queries multiplies.
pub(crate) struct Packed {
    hi: Vec<u16>,
    lo: Vec<u16>,
    n: usize,
    k: usize,
}

impl Packed {
    /// `w` (`[n, k]`) packed, on this thread. The caller checks
    /// `available()`.
    pub(crate) fn new<W: Widen>(w: &[W], n: usize, k: usize) -> Self {
        assert!(w.len() >= n * k);
        // SAFETY: the buffers have room for every group of 16 rows for kp
        // (and `with_packing` checks available()).
        Self::with_packing(n, k, |kp, bufs| unsafe {
            pack_weights(&w[..n * k], k, kp, bufs)
        })
    }

    /// The weights `[n, k]` from their transpose `wt` (`[k, n]`: attention's
    /// values, which the mix multiplies as vᵀ), packed as `new` packs them,
    /// without writing the transpose out first.
    pub(crate) fn from_transpose(wt: &[f32], n: usize, k: usize) -> Self {
        assert!(wt.len() >= n * k);
        // SAFETY: as in `new`.
        Self::with_packing(n, k, |kp, bufs| unsafe {
            pack_transpose(&wt[..n * k], n, k, kp, bufs)
        })
    }

    /// Buffers for `[n, k]` packed, written by `pack` (given kp).
    fn with_packing(n: usize, k: usize, pack: impl FnOnce(usize, [*mut u16; 2])) -> Self {
        assert!(available() && k > 0);
        let kp = k.div_ceil(K_STEP) * K_STEP;
        let len = n.div_ceil(TILE_ROWS) * (kp / K_STEP) * TILE_U16;
        // Written by the packing, read only by the tiles (behind raw
        // pointers, as the activations).
        let (mut hi, mut lo) = (
            Vec::<u16>::with_capacity(len),
            Vec::<u16>::with_capacity(len),
        );
        pack(kp, [hi.as_mut_ptr(), lo.as_mut_ptr()]);
        Self { hi, lo, n, k }
    }

    /// Rows of the weights (the product's columns).
    pub(crate) fn rows(&self) -> usize {
        self.n
    }

    /// `x` `[m, k]` times these weights transposed into `out` (m rows of n,
    /// `ld` apart, every element written), on this thread: for work already
    /// shared among threads. `skip` as for `matmul_into`.
    ///
    /// # Safety
    /// `out` is valid for writes of m rows of n f32, `ld` >= n apart.
    pub(crate) unsafe fn multiply(
        &self,
        x: &[f32],
        m: usize,
        out: *mut f32,
        ld: usize,
        skip: Skip,
    ) {
        let (k, n) = (self.k, self.n);
        assert!(x.len() >= m * k && ld >= n);
        assert!(!matches!(skip, Skip::Columns([]) | Skip::Depth([])));
        let (kp, mp) = (
            k.div_ceil(K_STEP) * K_STEP,
            m.div_ceil(2 * TILE_ROWS) * 2 * TILE_ROWS,
        );
        let (mut hi, mut lo) = (
            Vec::<u16>::with_capacity(mp * kp),
            Vec::<u16>::with_capacity(mp * kp),
        );
        let buffers = [hi.as_mut_ptr(), lo.as_mut_ptr()];
        for g in 0..mp / TILE_ROWS {
            // SAFETY: the buffers have room for mp * kp; the features were
            // checked in new().
            unsafe { split_group(x, [m, k, kp], g, skip, buffers) };
        }
        // As in matmul_into: read only by the tiles, behind raw pointers.
        let a = Activations {
            hi: hi.as_ptr(),
            lo: lo.as_ptr(),
            kp,
            mp,
        };
        // SAFETY: the caller's `out` holds m rows of n; the packed tiles
        // cover every group of 16 columns for kp.
        let b = [self.hi.as_ptr(), self.lo.as_ptr()];
        let dst = Output {
            at: out,
            m,
            ld,
            epilogue: None,
        };
        unsafe { multiply(&a, b, [0, n], kp / K_STEP, dst, skip) };
    }
}

/// Group `g` (16 rows) of the activations `x` (`[m, k]`) split into `hi`
/// and `lo` (`[mp, kp]` in the tiles' layout), up to the k its 32-row block
/// reads.
///
/// # Safety
/// `hi` and `lo` have room for the group's 16 * kp values; the CPU has
/// AVX-512F and BW.
unsafe fn split_group(
    x: &[f32],
    [m, k, kp]: [usize; 3],
    g: usize,
    skip: Skip,
    [hi, lo]: [*mut u16; 2],
) {
    let rows = &x[(g * TILE_ROWS * k).min(m * k)..((g + 1) * TILE_ROWS * k).min(m * k)];
    let steps = block_steps(skip, g / 2 * 2 * TILE_ROWS, m, kp / K_STEP);
    let at = g * TILE_ROWS * kp;
    // SAFETY: the caller's room and features.
    unsafe { split_rows(rows, k, steps, hi.add(at), lo.add(at)) };
}

/// The activations split for the tiles: `[mp, kp]` bf16 each, at these
/// pointers (the tiles read them; steps a Depth skip leaves out are not
/// written).
struct Activations {
    hi: *const u16,
    lo: *const u16,
    kp: usize,
    mp: usize,
}

// SAFETY: the tiles only read the buffers, which outlive every use.
unsafe impl Sync for Activations {}

/// Where a task of a product writes: m rows, `ld` apart, from `at` (the
/// task's first column), and what runs on each block once it is stored.
struct Output<'a> {
    at: *mut f32,
    m: usize,
    ld: usize,
    epilogue: Epilogue<'a>,
}

#[repr(C, align(64))]
struct TileConfig {
    palette: u8,
    start_row: u8,
    reserved: [u8; 14],
    colsb: [u16; 16],
    rows: [u8; 16],
}

/// Round-to-nearest-even f32 -> bf16, as f32 bit patterns with the low half
/// zero (NaN is not expected of activations or weights).
#[target_feature(enable = "avx512f")]
fn round_bf16(bits: __m512i) -> __m512i {
    let odd = _mm512_and_si512(_mm512_srli_epi32::<16>(bits), _mm512_set1_epi32(1));
    let up = _mm512_add_epi32(bits, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), odd));
    _mm512_and_si512(up, _mm512_set1_epi32(0xffff_0000u32 as i32))
}

/// 16 f32 as hi and lo bf16 (f32 bit patterns, low halves zero).
#[target_feature(enable = "avx512f")]
fn split16(v: __m512) -> (__m512i, __m512i) {
    let hi = round_bf16(_mm512_castps_si512(v));
    let rest = _mm512_sub_ps(v, _mm512_castsi512_ps(hi));
    (hi, round_bf16(_mm512_castps_si512(rest)))
}

/// Up to 16 activation rows (`rows`, `[.., k]`) as hi and lo bf16 in the
/// tiles' layout: at `hi` and `lo`, for each of the first `steps` steps of
/// 32 k, 16 rows of 32, k past `k` and rows past the given ones zero. Writes
/// those steps' 16 * 32 values of each.
///
/// # Safety
/// `hi` and `lo` are valid for 16 * 32 * steps writes; the CPU has AVX-512F
/// and BW.
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn split_rows(rows: &[f32], k: usize, steps: usize, hi: *mut u16, lo: *mut u16) {
    let narrow = |v: __m512i| _mm512_cvtepi32_epi16(_mm512_srli_epi32::<16>(v));
    let mut padded = [0f32; K_STEP];
    for r in 0..TILE_ROWS {
        let row = rows.get(r * k..(r + 1) * k).unwrap_or(&[]);
        for s in 0..steps {
            let k0 = s * K_STEP;
            let values = match row.get(k0..k0 + K_STEP) {
                Some(v) => v,
                None => {
                    padded.fill(0.0);
                    let have = row.get(k0..).unwrap_or(&[]);
                    padded[..have.len()].copy_from_slice(have);
                    &padded
                }
            };
            let at = s * TILE_U16 + r * K_STEP;
            // SAFETY: `values` holds 32 f32; at + 32 <= 16 * 32 * steps,
            // within the caller's buffers.
            unsafe {
                for half in 0..2 {
                    let (h, l) = split16(_mm512_loadu_ps(values.as_ptr().add(16 * half)));
                    let o = at + 16 * half;
                    _mm256_storeu_si256(hi.add(o) as *mut __m256i, narrow(h));
                    _mm256_storeu_si256(lo.add(o) as *mut __m256i, narrow(l));
                }
            }
        }
    }
}

/// 32 bf16 (f32 bit patterns: `v0` k 0..16, `v1` k 16..32) as 16 u32
/// pairs, k = 2q in the low half of pair q: the tiles' pair layout. The
/// bf16 of value t is u16 2t + 1 of the two vectors side by side.
#[target_feature(enable = "avx512f,avx512bw")]
fn pairs(v0: __m512i, v1: __m512i) -> __m512i {
    let odd = _mm512_set_epi16(
        63, 61, 59, 57, 55, 53, 51, 49, 47, 45, 43, 41, 39, 37, 35, 33, 31, 29, 27, 25, 23, 21, 19,
        17, 15, 13, 11, 9, 7, 5, 3, 1,
    );
    _mm512_permutex2var_epi16(v0, odd, v1)
}

/// The 16 x 16 u32 matrix `r` (row j in `r[j]`) transposed in place: 4
/// rounds of in-register shuffles, where element-wise stores would take
/// 256 (packing weights was 6 % of a Pythia-410m prompt that way).
#[target_feature(enable = "avx512f")]
fn transpose16(r: &mut [__m512i; 16]) {
    let mut t = [_mm512_setzero_si512(); 16];
    // Rows 2i, 2i + 1 interleaved by u32, then rows 4i..4i + 4 by u64:
    // r[4i + c]'s 128-bit lane l holds column 4l + c of those 4 rows.
    for i in 0..8 {
        t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    for i in 0..4 {
        r[4 * i] = _mm512_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
        r[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
        r[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
        r[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
    }
    // Then the 128-bit lanes: even lanes (0x88) and odd ones (0xdd) of two
    // vectors, twice, gather each column's 4 groups of 4 rows in order.
    for i in 0..2 {
        for j in 0..4 {
            let (a, b) = (r[8 * i + j], r[8 * i + j + 4]);
            t[8 * i + j] = _mm512_shuffle_i32x4::<0x88>(a, b);
            t[8 * i + j + 4] = _mm512_shuffle_i32x4::<0xdd>(a, b);
        }
    }
    for j in 0..8 {
        r[j] = _mm512_shuffle_i32x4::<0x88>(t[j], t[j + 8]);
        r[j + 8] = _mm512_shuffle_i32x4::<0xdd>(t[j], t[j + 8]);
    }
}

/// Weight rows `w` (`[cols, k]`, f16) into tiles of pairs: for each group of
/// 16 rows and each step of 32 k, a 16 x 16 tile whose row q holds, for
/// each weight row j, the pair (k = 2q, 2q + 1) as hi and lo bf16. Rows
/// past `cols` and k past `k` are zero. Writes every value of those tiles.
///
/// # Safety
/// `hi` and `lo` have room for cols.div_ceil(16) * kp / 32 tiles; the CPU
/// has AVX-512F and BW.
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn pack_weights<W: Widen>(w: &[W], k: usize, kp: usize, [hi, lo]: [*mut u16; 2]) {
    let cols = w.len() / k;
    let steps = kp / K_STEP;
    let groups = cols.div_ceil(TILE_ROWS);
    let (hi, lo) = (hi as *mut __m512i, lo as *mut __m512i);
    let mut wide = [0f32; K_STEP];
    let mut ph = [_mm512_setzero_si512(); TILE_ROWS];
    let mut pl = [_mm512_setzero_si512(); TILE_ROWS];
    for g in 0..groups {
        for s in 0..steps {
            let k0 = s * K_STEP;
            for j in 0..TILE_ROWS {
                let row = g * TILE_ROWS + j;
                let take = if row < cols {
                    k.saturating_sub(k0).min(K_STEP)
                } else {
                    0
                };
                let (v0, v1) = if take == K_STEP {
                    // SAFETY: 32 values from k0 are inside row `row` of `w`.
                    unsafe { W::widen32(w.as_ptr().add(row * k + k0)) }
                } else {
                    wide.fill(0.0);
                    for (d, v) in wide
                        .iter_mut()
                        .zip(&w[(row * k + k0).min(w.len())..][..take])
                    {
                        *d = v.widen();
                    }
                    // SAFETY: `wide` holds 32 f32.
                    unsafe {
                        let p = wide.as_ptr();
                        (_mm512_loadu_ps(p), _mm512_loadu_ps(p.add(16)))
                    }
                };
                let ((h0, l0), (h1, l1)) = (split16(v0), split16(v1));
                ph[j] = pairs(h0, h1);
                pl[j] = pairs(l0, l1);
            }
            transpose16(&mut ph);
            transpose16(&mut pl);
            // Each tile is 16 rows of 64 bytes, one vector a row.
            let tile = (g * steps + s) * TILE_ROWS;
            for q in 0..TILE_ROWS {
                // SAFETY: the tile is inside the buffers' room.
                unsafe {
                    _mm512_storeu_si512(hi.add(tile + q), ph[q]);
                    _mm512_storeu_si512(lo.add(tile + q), pl[q]);
                }
            }
        }
    }
}

/// `wt` (`[k, n]`), the transpose of weights `[n, k]`, into the tiles of
/// pairs `pack_weights` writes for those weights: row q of a tile is two
/// rows of `wt` (k = 2q, 2q + 1) side by side, already in the tiles'
/// order, so no transpose is needed. Columns past `n` and k past `k` are
/// zero.
///
/// # Safety
/// `hi` and `lo` have room for n.div_ceil(16) * kp / 32 tiles; the CPU has
/// AVX-512F and BW.
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn pack_transpose(wt: &[f32], n: usize, k: usize, kp: usize, [hi, lo]: [*mut u16; 2]) {
    let steps = kp / K_STEP;
    let (hi, lo) = (hi as *mut __m512i, lo as *mut __m512i);
    // The high halves of `a`'s lanes low, `b`'s high: bf16 pairs (k even
    // low, as `pairs` lays them).
    let pair = |a: __m512i, b: __m512i| {
        _mm512_or_si512(
            _mm512_srli_epi32::<16>(a),
            _mm512_and_si512(b, _mm512_set1_epi32(0xffff_0000u32 as i32)),
        )
    };
    for g in 0..n.div_ceil(TILE_ROWS) {
        let c0 = g * TILE_ROWS;
        let lanes: __mmask16 = if n - c0 >= TILE_ROWS {
            0xffff
        } else {
            (1u16 << (n - c0)) - 1
        };
        // Row r of `wt`'s 16 columns of this group, zero past k.
        let row = |r: usize| {
            if r < k {
                // SAFETY: columns c0.. of row r, those past n masked off.
                unsafe { _mm512_maskz_loadu_ps(lanes, wt.as_ptr().add(r * n + c0)) }
            } else {
                _mm512_setzero_ps()
            }
        };
        for s in 0..steps {
            let tile = (g * steps + s) * TILE_ROWS;
            for q in 0..TILE_ROWS {
                let r = s * K_STEP + 2 * q;
                let ((h0, l0), (h1, l1)) = (split16(row(r)), split16(row(r + 1)));
                // SAFETY: the tile is inside the buffers' room.
                unsafe {
                    _mm512_storeu_si512(hi.add(tile + q), pair(h0, h1));
                    _mm512_storeu_si512(lo.add(tile + q), pair(l0, l1));
                }
            }
        }
    }
}

/// Every 32-row block of the activations times the packed weights (`cols`
/// columns from column `n0`), 32 x 32 of the output at a time in four
/// accumulator tiles, into `dst`. A block's tiles past what `skip` says it
/// needs are zero.
unsafe fn multiply(
    a: &Activations,
    [b_hi, b_lo]: [*const u16; 2],
    [n0, cols]: [usize; 2],
    steps: usize,
    dst: Output,
    skip: Skip,
) {
    let Output {
        at: out,
        m,
        ld,
        epilogue,
    } = dst;
    let mut cfg = TileConfig {
        palette: 1,
        start_row: 0,
        reserved: [0; 14],
        colsb: [0; 16],
        rows: [0; 16],
    };
    for t in 0..8 {
        cfg.colsb[t] = 64;
        cfg.rows[t] = TILE_ROWS as u8;
    }
    // SAFETY: the configuration is valid for palette 1.
    unsafe { asm!("ldtilecfg [{}]", in(reg) &cfg, options(nostack, readonly)) };
    let groups = cols.div_ceil(TILE_ROWS);
    for mb in (0..a.mp).step_by(2 * TILE_ROWS) {
        let depth = block_steps(skip, mb, m, steps);
        let cols_needed = match skip {
            Skip::Columns(_) => skip.needed(mb, (mb + 2 * TILE_ROWS).min(m)),
            _ => None,
        };
        for g in (0..groups).step_by(2) {
            let depth = match cols_needed {
                Some(c) if n0 + g * TILE_ROWS >= c => 0,
                _ => depth,
            };
            // An odd last group multiplies itself twice; its copy is dropped.
            let g1 = if g + 1 < groups { g + 1 } else { g };
            // SAFETY: zeroing registers.
            unsafe {
                asm!(
                    "tilezero tmm0",
                    "tilezero tmm1",
                    "tilezero tmm2",
                    "tilezero tmm3",
                    options(nostack, nomem)
                )
            };
            for s in 0..depth {
                let a0 = mb * a.kp + s * TILE_U16;
                let a1 = a0 + TILE_ROWS * a.kp;
                let (b0, b1) = ((g * steps + s) * TILE_U16, (g1 * steps + s) * TILE_U16);
                // SAFETY: rows mb..mb + 32 <= mp and this step's k are inside
                // the activations; b0 and b1 are packed tiles.
                unsafe { step(a, b_hi, b_lo, [a0, a1, b0, b1]) };
            }
            // SAFETY: the caller's `out` holds rows 0..m of this task's
            // columns 0..cols, n apart.
            unsafe { store_block(out, m, ld, cols, mb, [g, g1]) };
            if let Some(f) = epilogue {
                let c0 = g * TILE_ROWS;
                let c1 = ((g1 + 1) * TILE_ROWS).min(cols);
                for r in mb..(mb + 2 * TILE_ROWS).min(m) {
                    // SAFETY: row r's columns c0..c1 of this task's columns,
                    // just stored; only this task touches them.
                    let row =
                        unsafe { std::slice::from_raw_parts_mut(out.add(r * ld + c0), c1 - c0) };
                    f(row, n0 + c0);
                }
            }
        }
    }
    // SAFETY: releasing the tile state this function configured.
    unsafe { asm!("tilerelease", options(nostack, nomem)) };
}

/// One step of 32 k: the activations' two 16-row tiles at `a0`, `a1` (u16
/// offsets) times the packed weights' tiles at `b0`, `b1`, hi x hi, hi x lo
/// and lo x hi, into the four accumulators.
///
/// # Safety
/// Each offset starts a whole tile (16 rows of 64 bytes) inside its buffer,
/// and the tiles are configured.
unsafe fn step(a: &Activations, b_hi: *const u16, b_lo: *const u16, at: [usize; 4]) {
    let [a0, a1, b0, b1] = at;
    // SAFETY: the caller's offsets are whole tiles inside the buffers.
    unsafe {
        asm!(
            "tileloadd tmm4, [{a0h} + {s}*1]",
            "tileloadd tmm5, [{a1h} + {s}*1]",
            "tileloadd tmm6, [{b0h} + {s}*1]",
            "tileloadd tmm7, [{b1h} + {s}*1]",
            "tdpbf16ps tmm0, tmm4, tmm6",
            "tdpbf16ps tmm1, tmm4, tmm7",
            "tdpbf16ps tmm2, tmm5, tmm6",
            "tdpbf16ps tmm3, tmm5, tmm7",
            "tileloadd tmm6, [{b0l} + {s}*1]",
            "tileloadd tmm7, [{b1l} + {s}*1]",
            "tdpbf16ps tmm0, tmm4, tmm6",
            "tdpbf16ps tmm1, tmm4, tmm7",
            "tdpbf16ps tmm2, tmm5, tmm6",
            "tdpbf16ps tmm3, tmm5, tmm7",
            "tileloadd tmm4, [{a0l} + {s}*1]",
            "tileloadd tmm5, [{a1l} + {s}*1]",
            "tileloadd tmm6, [{b0h} + {s}*1]",
            "tileloadd tmm7, [{b1h} + {s}*1]",
            "tdpbf16ps tmm0, tmm4, tmm6",
            "tdpbf16ps tmm1, tmm4, tmm7",
            "tdpbf16ps tmm2, tmm5, tmm6",
            "tdpbf16ps tmm3, tmm5, tmm7",
            a0h = in(reg) a.hi.add(a0),
            a1h = in(reg) a.hi.add(a1),
            a0l = in(reg) a.lo.add(a0),
            a1l = in(reg) a.lo.add(a1),
            b0h = in(reg) b_hi.add(b0),
            b1h = in(reg) b_hi.add(b1),
            b0l = in(reg) b_lo.add(b0),
            b1l = in(reg) b_lo.add(b1),
            // Every tile is stored as 16 rows of 64 bytes, one after another.
            s = in(reg) 64usize,
            options(nostack, readonly),
        );
    }
}

/// The four accumulators (rows mb..mb + 32, column groups `g` = [g, g1])
/// into `out`: whole tiles straight in, tiles past row m or column `cols`
/// through a buffer, only their rows and columns inside copied; an odd last
/// group's copy (g1 == g) is dropped.
///
/// # Safety
/// `out` holds rows 0..m of columns 0..cols, rows `ld` apart.
unsafe fn store_block(out: *mut f32, m: usize, ld: usize, cols: usize, mb: usize, g: [usize; 2]) {
    let mut spill = [0f32; TILE_ROWS * TILE_ROWS];
    for (acc, mi, gi) in [(0, 0, g[0]), (1, 0, g[1]), (2, 1, g[0]), (3, 1, g[1])] {
        let (r0, c0) = (mb + mi * TILE_ROWS, gi * TILE_ROWS);
        if (acc % 2 == 1 && g[1] == g[0]) || r0 >= m {
            continue;
        }
        let whole = r0 + TILE_ROWS <= m && c0 + TILE_ROWS <= cols;
        // SAFETY: a whole tile lies inside `out` (rows r0..r0 + 16 <= m,
        // columns c0..c0 + 16 <= cols); a partial one goes to `spill`, and
        // only its rows and columns inside are copied.
        unsafe {
            if whole {
                store(acc, out.add(r0 * ld + c0), ld * 4);
            } else {
                store(acc, spill.as_mut_ptr(), 64);
                for r in 0..(m - r0).min(TILE_ROWS) {
                    for c in 0..(cols - c0).min(TILE_ROWS) {
                        *out.add((r0 + r) * ld + c0 + c) = spill[r * TILE_ROWS + c];
                    }
                }
            }
        }
    }
}

/// Stores accumulator tile `acc` (0 to 3) at `p`, rows `stride` bytes apart.
unsafe fn store(acc: usize, p: *mut f32, stride: usize) {
    // SAFETY: the caller gives 16 rows of 64 bytes at p, stride apart.
    unsafe {
        match acc {
            0 => {
                asm!("tilestored [{p} + {s}*1], tmm0", p = in(reg) p, s = in(reg) stride, options(nostack))
            }
            1 => {
                asm!("tilestored [{p} + {s}*1], tmm1", p = in(reg) p, s = in(reg) stride, options(nostack))
            }
            2 => {
                asm!("tilestored [{p} + {s}*1], tmm2", p = in(reg) p, s = in(reg) stride, options(nostack))
            }
            _ => {
                asm!("tilestored [{p} + {s}*1], tmm3", p = in(reg) p, s = in(reg) stride, options(nostack))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Products within bf16x3's error of exact ones (f64), at shapes that
    /// leave partial tiles in every direction: rows past a 32-row block,
    /// columns past a 16-column group and a 64-column task, k past a
    /// 32-step and a 16-wide vector.
    #[test]
    fn products_are_f32_close_at_every_edge() {
        if !available() {
            eprintln!("no AMX here: the kernel is not run (gemm's product is used)");
            return;
        }
        let mut seed = 7u64;
        let mut next = move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) as f32 / (1u64 << 31) as f32) * 2.0 - 1.0
        };
        for (m, k, n) in [
            (65, 40, 300),
            (130, 19, 7),
            (96, 1024, 128),
            (33, 100, 81),
            (1, 33, 17),
        ] {
            let x: Vec<f32> = (0..m * k).map(|_| next() * 3.0).collect();
            let w: Vec<f16> = (0..n * k).map(|_| f16::from_f32(next() * 0.2)).collect();
            let out = matmul(&x, &w, [m, k, n], None);
            let wf: Vec<f32> = w.iter().map(|v| v.to_f32()).collect();
            assert_eq!(
                matmul(&x, &wf, [m, k, n], None),
                out,
                "f32 rows of the same values"
            );
            for r in 0..m {
                for c in 0..n {
                    let (mut exact, mut size) = (0f64, 0f64);
                    for i in 0..k {
                        let p = x[r * k + i] as f64 * w[c * k + i].to_f64();
                        exact += p;
                        size += p.abs();
                    }
                    let got = out[r * n + c] as f64;
                    // 2^-15 of the products' sizes: bf16x3's 2^-16 and f32 sums.
                    assert!(
                        (got - exact).abs() <= size / 32768.0 + 1e-6,
                        "{m}x{k}x{n} at ({r}, {c}): {got} against {exact}"
                    );
                }
            }
        }
    }

    /// Weights packed from their transpose are the weights packed, tile for
    /// tile, with partial groups of columns and partial steps of k.
    #[test]
    fn packing_from_the_transpose_packs_the_same_tiles() {
        if !available() {
            eprintln!("no AMX here: the kernel is not run");
            return;
        }
        for (n, k) in [(24, 70), (16, 32), (7, 5), (33, 64)] {
            let w: Vec<f32> = (0..n * k)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0)
                .collect();
            let mut wt = vec![0f32; n * k];
            for j in 0..n {
                for i in 0..k {
                    wt[i * n + j] = w[j * k + i];
                }
            }
            let (a, b) = (Packed::new(&w, n, k), Packed::from_transpose(&wt, n, k));
            let len = n.div_ceil(TILE_ROWS) * k.div_ceil(K_STEP) * TILE_U16;
            // SAFETY: both were written for `len` values each.
            let read =
                |p: &Vec<u16>| unsafe { std::slice::from_raw_parts(p.as_ptr(), len) }.to_vec();
            assert_eq!(read(&a.hi), read(&b.hi), "hi, {n} x {k}");
            assert_eq!(read(&a.lo), read(&b.lo), "lo, {n} x {k}");
        }
    }
}
