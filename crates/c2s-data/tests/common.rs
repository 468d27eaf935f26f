#![allow(dead_code)]
//! Shared helpers for the data engine's integration tests.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use c2s_data::{Job, Progress};

/// The shared data folder beside the repository (../shared/data).
pub fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data").join(name)
}

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures").join(name)
}

pub fn with_job<T>(f: impl FnOnce(&Job) -> T) -> T {
    let cancel = AtomicBool::new(false);
    let progress = |_: Progress| {};
    f(&Job { progress: &progress, cancel: &cancel })
}
