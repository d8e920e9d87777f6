//! Helpers shared by the CLI's test suites: running the binary, and the one
//! `error:` line of a run that must fail.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// Runs the `losslab` binary in `dir`.
pub fn losslab(dir: &Path, args: &[&str]) -> Output {
    // Without LANG: the lab speaks English unless a test asks for Chinese.
    Command::new(env!("CARGO_BIN_EXE_losslab")).current_dir(dir).env_remove("LANG").args(args).output().expect("the binary runs")
}

/// Runs a command that must fail; its stderr, one `error:` line, nothing on stdout.
pub fn err_in(dir: &Path, args: &[&str]) -> String {
    let out = losslab(dir, args);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(!out.status.success(), "{args:?} succeeded: {}", String::from_utf8_lossy(&out.stdout));
    assert!(out.stdout.is_empty(), "{args:?} printed: {}", String::from_utf8_lossy(&out.stdout));
    assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    stderr
}
