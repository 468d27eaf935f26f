//! The lowest layer, as in candle: CPU kernels with their gradients, the
//! half-precision weight product for decoding, and the optimiser.

pub mod fused;
pub mod half_weights;
pub mod optim;
