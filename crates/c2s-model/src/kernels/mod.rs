//! The lowest layer, as in candle: CPU kernels with their gradients, the
//! half-precision weight product for inference, the optimiser, and the
//! allocator the tensors live in.

pub mod allocator;
pub mod fused;
pub mod half_weights;
pub mod optim;
