//! The committed inputs of the `handler` fuzz target, replayed with its
//! checks (`image_policy_webhook::fuzzing`, which the target calls).
//!
//! `tests/fuzz/testdata/handler/` holds one file per input: every crash the
//! fuzzer found, once fixed, and a few seeds worth keeping (a `/mutate`
//! review with Docker Hub and quay.io images in every list, a review whose
//! strings are all escapes, a truncated review). Adding a case is adding a
//! file. The replay also checks the scanner's agreement with serde, as the
//! target does.

use std::path::Path;

use image_policy_webhook::fuzzing::{Policies, check};

#[test]
fn handler_inputs_keep_the_invariants() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/testdata/handler");
    let policies = Policies::from_yaml(
        include_str!("../../../examples/multi-team.yaml"),
        include_str!("../../../examples/rewrite.yaml"),
    );
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    files.sort();
    assert!(files.len() >= 3, "too few inputs in {}", dir.display());
    let mut patched = Vec::new();
    for file in &files {
        let data = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        match check(&policies, &data) {
            Ok(true) => patched.push(file.file_name().unwrap_or_default().to_owned()),
            Ok(false) => {}
            Err(broken) => panic!("{}: {broken}", file.display()),
        }
    }
    // The seeds reach the patch checks.
    for seed in [
        "mutate-pod-every-list",
        "mutate-escapes-everywhere",
        "mutate-update-ephemeral",
    ] {
        assert!(
            patched.iter().any(|name| name == seed),
            "{seed}: no patch (patched: {patched:?})"
        );
    }
}
