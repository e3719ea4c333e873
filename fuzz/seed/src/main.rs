//! Writes the seed corpora of the fuzz targets, one file per input, named by a
//! hash of its bytes (so re-running adds nothing twice):
//!
//! - `corpus/parse_reference/`: the `input` of every case of
//!   `testdata/reference/*.json{,l}`, every committed regression input of
//!   `image-policy-core/tests/fuzz/testdata/parse_reference/`, and every line
//!   of the benchmark corpus `benches/data/references.txt`;
//! - `corpus/parse_digest/`: the digest (after `@`) of each of those
//!   references, and the committed inputs of `.../testdata/parse_digest/`;
//! - `corpus/fast_yaml/`: every YAML and JSON file under `testdata/`,
//!   `deploy/` and `examples/` (manifests, lint fixtures, policies), and the
//!   committed inputs of `image-policy-lint/tests/fuzz/testdata/fast_yaml/`;
//! - `corpus/lint_readers/`: the `fast_yaml` seeds, every file under
//!   `testdata/lint/` (Dockerfiles, kustomizations, compose files), and the
//!   committed inputs of `image-policy-lint/tests/fuzz/testdata/lint_readers/`;
//! - `corpus/kubectl_reader/`: the same, and the committed inputs of
//!   `image-policy-lint/tests/fuzz/testdata/kubectl_reader/` (kubectl's
//!   separators, YAML 1.1 line breaks, merge and duplicate keys, JSON
//!   streams);
//! - `corpus/handler/`: the reviews of `testdata/webhook/*.json`, the body of
//!   every case of `testdata/webhook/bad-requests.jsonl`, and each object of
//!   `testdata/k8s/objects/*.json` in an AdmissionReview (CREATE and UPDATE),
//!   and the committed inputs of `image-policy-webhook/tests/fuzz/testdata/handler/`;
//! - `corpus/www_authenticate/` and `corpus/manifest_read/`: the committed
//!   inputs of `image-policy-registry/tests/fuzz/testdata/<target>/`;
//! - `corpus/cosign_read/`: the committed inputs of
//!   `image-policy-registry/tests/fuzz/testdata/cosign_read/`;
//! - `corpus/import_readers/`: the committed inputs of
//!   `image-policy-import/tests/fuzz/testdata/import_readers/`;
//! - `corpus/policy_load/`: the policies of `examples/`, the policy test
//!   tables of `testdata/policy/`, the policies of `deploy/` and the committed
//!   inputs of `image-policy-core/tests/fuzz/testdata/policy_load/`.
//!
//! Usage: `seed [CORPUS_DIR]` (default `fuzz/corpus`), normally through
//! `fuzz/seed.sh`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let corpus = std::env::args_os()
        .nth(1)
        .map_or_else(|| root.join("fuzz/corpus"), PathBuf::from);
    if let Err(e) = run(&root, &corpus) {
        eprintln!("seed: {e}");
        std::process::exit(1);
    }
}

fn run(root: &Path, corpus: &Path) -> Result<(), String> {
    let mut references = BTreeSet::new();
    vector_inputs(&root.join("testdata/reference"), &mut references)?;
    let committed = root.join("image-policy-core/tests/fuzz/testdata");
    files_in(&committed.join("parse_reference"), &mut references)?;
    let bench_corpus = root.join("benches/data/references.txt");
    if bench_corpus.exists() {
        for line in read(&bench_corpus)?.lines() {
            references.insert(line.as_bytes().to_vec());
        }
    }

    let mut digests: BTreeSet<Vec<u8>> = references
        .iter()
        .filter_map(|r| {
            let at = r.iter().position(|&b| b == b'@')?;
            Some(r[at + 1..].to_vec())
        })
        .collect();
    files_in(&committed.join("parse_digest"), &mut digests)?;

    let mut yaml = BTreeSet::new();
    for dir in ["testdata", "deploy", "examples"] {
        yaml_files(&root.join(dir), &mut yaml)?;
    }
    let committed_yaml = root.join("image-policy-lint/tests/fuzz/testdata/fast_yaml");
    if committed_yaml.exists() {
        files_in(&committed_yaml, &mut yaml)?;
    }

    let mut lint_files = yaml.clone();
    all_files(&root.join("testdata/lint"), &mut lint_files)?;
    let committed_lint = root.join("image-policy-lint/tests/fuzz/testdata/lint_readers");
    if committed_lint.exists() {
        files_in(&committed_lint, &mut lint_files)?;
    }

    let mut kubectl_yaml = yaml.clone();
    let committed_kubectl = root.join("image-policy-lint/tests/fuzz/testdata/kubectl_reader");
    if committed_kubectl.exists() {
        files_in(&committed_kubectl, &mut kubectl_yaml)?;
    }

    let mut reviews = BTreeSet::new();
    for path in sorted_files(&root.join("testdata/webhook"))? {
        let name = path.display().to_string();
        if name.ends_with(".json") {
            reviews.insert(read(&path)?.into_bytes());
        } else if name.ends_with(".jsonl") {
            for (i, line) in read(&path)?.lines().enumerate() {
                let case: serde_json::Value =
                    serde_json::from_str(line).map_err(|e| format!("{name}:{}: {e}", i + 1))?;
                if let Some(body) = case.get("body").and_then(serde_json::Value::as_str) {
                    reviews.insert(body.as_bytes().to_vec());
                }
            }
        }
    }
    for path in sorted_files(&root.join("testdata/k8s/objects"))? {
        if path.extension().is_some_and(|e| e == "json") {
            let object = read(&path)?;
            for (operation, old) in [("CREATE", "null"), ("UPDATE", object.as_str())] {
                reviews.insert(
                    format!(
                        r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{{"uid":"u","operation":"{operation}","namespace":"shop","object":{object},"oldObject":{old}}}}}"#
                    )
                    .into_bytes(),
                );
            }
        }
    }

    files_in(
        &root.join("image-policy-webhook/tests/fuzz/testdata/handler"),
        &mut reviews,
    )?;

    let mut policies = BTreeSet::new();
    for dir in ["examples", "testdata/policy", "deploy"] {
        yaml_files(&root.join(dir), &mut policies)?;
    }
    files_in(&committed.join("policy_load"), &mut policies)?;

    let registry = root.join("image-policy-registry/tests/fuzz/testdata");
    let mut challenges = BTreeSet::new();
    files_in(&registry.join("www_authenticate"), &mut challenges)?;
    let mut manifests = BTreeSet::new();
    files_in(&registry.join("manifest_read"), &mut manifests)?;
    let mut signatures = BTreeSet::new();
    files_in(&registry.join("cosign_read"), &mut signatures)?;
    let mut imports = BTreeSet::new();
    files_in(
        &root.join("image-policy-import/tests/fuzz/testdata/import_readers"),
        &mut imports,
    )?;

    for (target, inputs) in [
        ("www_authenticate", &challenges),
        ("manifest_read", &manifests),
        ("cosign_read", &signatures),
        ("parse_reference", &references),
        ("parse_digest", &digests),
        ("fast_yaml", &yaml),
        ("lint_readers", &lint_files),
        ("kubectl_reader", &kubectl_yaml),
        ("handler", &reviews),
        ("policy_load", &policies),
        ("import_readers", &imports),
    ] {
        let dir = corpus.join(target);
        std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        for input in inputs {
            let path = dir.join(format!("seed-{:016x}", fnv1a(input)));
            std::fs::write(&path, input).map_err(|e| format!("write {}: {e}", path.display()))?;
        }
        println!("{}: {} seed inputs", dir.display(), inputs.len());
    }
    Ok(())
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("read {}: {e}", path.display()))
}

/// The `input` of every case in the `.json` (an array) and `.jsonl` files of `dir`.
fn vector_inputs(dir: &Path, out: &mut BTreeSet<Vec<u8>>) -> Result<(), String> {
    let mut add = |case: &serde_json::Value, place: &dyn Fn() -> String| match case
        .get("input")
        .and_then(serde_json::Value::as_str)
    {
        Some(input) => {
            out.insert(input.as_bytes().to_vec());
            Ok(())
        }
        // deviations.json and the like describe cases; they are not cases.
        None => Err(place()),
    };
    let mut found = 0;
    for path in sorted_files(dir)? {
        let name = path.display().to_string();
        match path.extension().and_then(|e| e.to_str()) {
            Some("jsonl") => {
                for (i, line) in read(&path)?.lines().enumerate() {
                    if line.trim().is_empty() {
                        continue;
                    }
                    let case: serde_json::Value =
                        serde_json::from_str(line).map_err(|e| format!("{name}:{}: {e}", i + 1))?;
                    add(&case, &|| format!("{name}:{}: no input", i + 1))?;
                    found += 1;
                }
            }
            Some("json") => {
                let cases: serde_json::Value =
                    serde_json::from_str(&read(&path)?).map_err(|e| format!("{name}: {e}"))?;
                for case in cases.as_array().into_iter().flatten() {
                    if add(case, &String::new).is_ok() {
                        found += 1;
                    }
                }
            }
            _ => {}
        }
    }
    if found == 0 {
        return Err(format!("no vector inputs under {}", dir.display()));
    }
    Ok(())
}

/// The bytes of every `.yaml`, `.yml` and `.json` file under `dir`, at any depth.
fn yaml_files(dir: &Path, out: &mut BTreeSet<Vec<u8>>) -> Result<(), String> {
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| format!("read {}: {e}", dir.display()))? {
        entries.push(
            entry
                .map_err(|e| format!("read {}: {e}", dir.display()))?
                .path(),
        );
    }
    entries.sort();
    for path in entries {
        if path.is_dir() {
            yaml_files(&path, out)?;
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        ) {
            out.insert(std::fs::read(&path).map_err(|e| format!("read {}: {e}", path.display()))?);
        }
    }
    Ok(())
}

/// The bytes of every file under `dir`, at any depth (the SARIF schema
/// aside: it is large and not an input).
fn all_files(dir: &Path, out: &mut BTreeSet<Vec<u8>>) -> Result<(), String> {
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| format!("read {}: {e}", dir.display()))? {
        entries.push(
            entry
                .map_err(|e| format!("read {}: {e}", dir.display()))?
                .path(),
        );
    }
    entries.sort();
    for path in entries {
        if path.is_dir() {
            all_files(&path, out)?;
        } else if path.is_file() && !path.ends_with("sarif-2.1.0-rtm.5.json") {
            out.insert(std::fs::read(&path).map_err(|e| format!("read {}: {e}", path.display()))?);
        }
    }
    Ok(())
}

/// The bytes of every file in `dir`.
fn files_in(dir: &Path, out: &mut BTreeSet<Vec<u8>>) -> Result<(), String> {
    for path in sorted_files(dir)? {
        out.insert(std::fs::read(&path).map_err(|e| format!("read {}: {e}", path.display()))?);
    }
    Ok(())
}

fn sorted_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| format!("read {}: {e}", dir.display()))? {
        let path = entry
            .map_err(|e| format!("read {}: {e}", dir.display()))?
            .path();
        if path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// 64-bit FNV-1a: a stable file name for an input.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
