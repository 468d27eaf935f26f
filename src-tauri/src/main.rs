// No console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

/// The engine's allocator (see `c2s_model::allocator`), which reuses the
/// tensors each step frees. The app stays open for hours, so unlike the
/// `c2s` command it gives freed memory back to the system (after 10 ms).
#[global_allocator]
static ALLOCATOR: c2s_model::allocator::Allocator = c2s_model::allocator::Allocator;

fn main() {
    c2s_studio::run();
}
