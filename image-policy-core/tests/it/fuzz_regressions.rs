//! Replays the fuzz targets' inputs under the fuzz targets' own checks.
//!
//! `tests/fuzz/testdata/<target>/` holds one file per input: every crash or
//! invariant violation the fuzzer found (kept after the fix), and hand-picked
//! inputs at the edges of the grammar (length limits, deep paths, long runs of
//! separators, non-ASCII text). Each file's bytes are the input, with no
//! trailing newline. To add a case, add a file.
//!
//! The checks are the library's `fuzzing` module, which the fuzz targets in
//! `fuzz/` call, so a regression input is checked exactly as the fuzzer
//! checked it. The inputs of the vector files are replayed too.

use image_policy_core::fuzzing as invariants;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use serde_json::Value;

/// The committed inputs of one fuzz target, sorted by file name.
fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz/testdata")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let bytes =
                std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
            (path, bytes)
        })
        .collect()
}

/// Runs `check` on every input, a panic counting as a failure; panics at the
/// end with every failure, one per line.
fn replay(cases: &[(String, String)], check: fn(&str) -> Result<(), String>) {
    let mut failures = Vec::new();
    for (name, input) in cases {
        match catch_unwind(AssertUnwindSafe(|| check(input))) {
            Ok(Ok(())) => {}
            Ok(Err(broken)) => failures.push(format!("{name}: {broken}")),
            Err(_) => failures.push(format!("{name}: panicked (message above)")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} inputs break an invariant:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// The committed inputs of `target` as (file name, text). The fuzz targets
/// ignore input that is not UTF-8, so such a file is a mistake, not a case.
fn committed(target: &str) -> Vec<(String, String)> {
    let cases: Vec<(String, String)> = inputs(target)
        .into_iter()
        .map(|(path, bytes)| {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            let text = String::from_utf8(bytes).unwrap_or_else(|_| {
                panic!("{name}: not UTF-8; the fuzz target only reads UTF-8 input")
            });
            (format!("{target}/{name}"), text)
        })
        .collect();
    assert!(!cases.is_empty(), "no committed inputs for {target}");
    cases
}

#[test]
fn parse_reference_committed_inputs() {
    replay(&committed("parse_reference"), invariants::check_reference);
}

#[test]
fn policy_load_committed_inputs() {
    replay(&committed("policy_load"), invariants::check_policy_load);
}

#[test]
fn parse_digest_committed_inputs() {
    replay(&committed("parse_digest"), invariants::check_digest);
}

/// The `input` of every case of the vector files, as (file:case, input).
fn vector_inputs() -> Vec<(String, String)> {
    let mut cases = Vec::new();
    let tables = std::fs::read_to_string(crate::testdata(
        "reference/distribution-reference-tests.json",
    ))
    .expect("read the upstream test tables");
    let tables: Vec<Value> = serde_json::from_str(&tables).expect("upstream tables are JSON");
    for (i, case) in tables.iter().enumerate() {
        let input = case["input"].as_str().expect("input is a string");
        cases.push((
            format!("distribution-reference-tests.json#{i}"),
            input.to_owned(),
        ));
    }
    for file in ["reference-sample.jsonl", "extra.jsonl"] {
        let text = std::fs::read_to_string(crate::testdata(&format!("reference/{file}")))
            .unwrap_or_else(|e| panic!("read {file}: {e}"));
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let case: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{file}:{}: not JSON: {e}", i + 1));
            let input = case["input"].as_str().expect("input is a string");
            cases.push((format!("{file}:{}", i + 1), input.to_owned()));
        }
    }
    cases
}

#[test]
fn vector_inputs_keep_the_invariants() {
    let cases = vector_inputs();
    assert!(cases.len() >= 600, "only {} vector inputs", cases.len());
    replay(&cases, invariants::check_reference);
    let digests: Vec<(String, String)> = cases
        .iter()
        .filter_map(|(name, input)| {
            let (_, digest) = input.split_once('@')?;
            Some((format!("{name} (digest)"), digest.to_owned()))
        })
        .collect();
    replay(&digests, invariants::check_digest);
}
