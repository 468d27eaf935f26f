//! The lowest layer, as in candle: CPU kernels with their gradients, the
//! half-precision weight product for inference, attention's heads cut out
//! and rotated in one pass, causal attention (fused per block of queries for
//! a prompt) with the mask as its kernels read it, the
//! AMX tiles these use where the CPU has them, the optimiser, and the
//! allocator the tensors live in.

pub mod allocator;
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod amx;
pub(crate) mod attention;
pub mod fused;
pub mod half_weights;
pub(crate) mod heads;
pub(crate) mod mask;
pub mod optim;
