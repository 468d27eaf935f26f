//! Which device a task runs on (a CUDA or Apple GPU when the build has one,
//! else the CPU) and in which number type its weights are held there.

use candle_core::{DType, Device};

/// The weights' dtype for inference on `device`: bf16 where candle supports
/// it (CUDA, Metal); on the CPU f16, which there is f16 weight matrices
/// computed with in f32 (CausalLm::to_dtype): half the memory, a generated
/// token reads half the bytes (about twice the speed), and logits within
/// about 1e-3 of f32's.
/// `C2S_PRECISION=f32|bf16|f16` overrides it (f32 for exact logits; f16 for
/// GPUs older than NVIDIA Ampere, whose bf16 is slow).
pub fn inference_dtype(device: &Device) -> DType {
    match std::env::var("C2S_PRECISION").ok().as_deref() {
        Some("f32") => DType::F32,
        Some("bf16") => DType::BF16,
        Some("f16") => DType::F16,
        _ if device.supports_bf16() => DType::BF16,
        _ if device.is_cpu() => DType::F16,
        _ => DType::F32,
    }
}

/// The best device this build can use, and its name: a CUDA GPU (built with
/// `--features cuda`), an Apple GPU (`--features metal`), else the CPU.
///
/// On CUDA, f32 matrix products may use TF32 tensor cores (Ampere and
/// later; older GPUs ignore it), as mixed-precision training does for its
/// products: several times faster, and the weights and optimizer state stay
/// f32. `C2S_PRECISION=f32` keeps full f32 products.
pub fn best_device() -> (Device, String) {
    if candle_core::utils::cuda_is_available() {
        if let Ok(d) = Device::new_cuda(0) {
            let tf32 = std::env::var("C2S_PRECISION").ok().as_deref() != Some("f32");
            candle_core::cuda::set_gemm_reduced_precision_f32(tf32);
            let products = if tf32 { "TF32" } else { "f32" };
            return (d, format!("CUDA GPU 0 ({products} matrix products)"));
        }
    }
    if candle_core::utils::metal_is_available() {
        if let Ok(d) = Device::new_metal(0) {
            return (d, "Metal GPU".into());
        }
    }
    (Device::Cpu, format!("CPU ({} threads)", rayon_threads()))
}

fn rayon_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
