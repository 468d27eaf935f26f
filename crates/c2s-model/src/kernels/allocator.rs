//! The heap the engine's tensors live in. Inference and training allocate
//! and free tensors of megabytes every step. glibc hands such blocks back to
//! the kernel at once and faults them in again on the next step: a quarter
//! of a Pythia-410m prompt's time went to the kernel zeroing pages, and
//! training spent 21 s of 40 in it. mimalloc reuses freed blocks, and can
//! keep them for good. Measured on a Pythia-410m, 2 cores, prompt of 800 /
//! generation tokens/s: glibc 219 / 23, mimalloc 218 / 26, mimalloc keeping
//! freed memory 262 / 28.
//!
//! Each program declares the allocator (a library may not choose it for
//! its users) and says how long it runs:
//! ```ignore
//! #[global_allocator]
//! static ALLOCATOR: c2s_model::allocator::Allocator = c2s_model::allocator::Allocator;
//! ```

pub use mimalloc::MiMalloc as Allocator;

/// mimalloc.h's `mi_option_purge_delay`, which libmimalloc-sys does not
/// name (the same index in mimalloc 2 and 3).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// For a program that runs one job and exits (the `c2s` command, the
/// benchmarks): freed memory stays with the process for the next step
/// instead of going back to the system 10 ms later (mimalloc's default,
/// right for the desktop app, which stays open for hours between jobs).
pub fn keep_freed_memory() {
    // SAFETY: sets one of mimalloc's options; any thread may call it.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) }
}
