//! What the model's integration tests share.

use candle_core::Device;

/// The device the tests run on: the CPU, or with `C2S_TEST_DEVICE=cuda`
/// (`metal`) and a build with `--features cuda` (`metal`), the GPU, so the
/// same checks against transformers cover the GPU path. Full f32 products:
/// the tolerances are those of f32.
pub fn device() -> Device {
    match std::env::var("C2S_TEST_DEVICE").as_deref() {
        Ok("cuda") => Device::new_cuda(0).expect("C2S_TEST_DEVICE=cuda: no CUDA GPU in this build"),
        Ok("metal") => {
            Device::new_metal(0).expect("C2S_TEST_DEVICE=metal: no Metal GPU in this build")
        }
        _ => Device::Cpu,
    }
}
