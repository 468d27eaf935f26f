//! What the `c2s` command's test files share.
#![allow(dead_code)] // each test file uses a part

use std::ffi::OsStr;
use std::process::{Command, Stdio};

/// A compact model that trains in well under a second: `c2s train` flags.
pub const TINY_MODEL: [&str; 12] = [
    "--layers",
    "1",
    "--width",
    "32",
    "--heads",
    "2",
    "--context",
    "128",
    "--top-k",
    "40",
    "--batch-size",
    "2",
];

/// Runs `c2s ARGS` twice at once: exactly one may write the output; the
/// other is told another job is writing it, or (if it started after the
/// first ended) that the output exists.
pub fn one_of_two_wins<S: AsRef<OsStr>>(args: &[S]) {
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_c2s"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let results = [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()];
    let shown: Vec<_> = args.iter().map(|a| a.as_ref().to_string_lossy()).collect();
    let won = results.iter().filter(|o| o.status.success()).count();
    assert_eq!(
        won, 1,
        "exactly one of two `c2s {shown:?}` may write the output"
    );
    let lost = results.iter().find(|o| !o.status.success()).unwrap();
    let err = String::from_utf8_lossy(&lost.stderr);
    assert!(
        err.contains("another C2S Studio job is writing here now")
            || err.contains("already exists")
            || err.contains("--resume"),
        "{err}"
    );
}
