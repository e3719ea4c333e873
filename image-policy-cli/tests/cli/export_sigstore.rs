//! Issue 22 item 6: `export --format containers-policy` writes verify rules
//! as `sigstoreSigned` requirements, and the real containers/image reader
//! (`containers-oracle`, Debian's 5.23, built without sigstore
//! verification) parses the file written: the check here is the file's
//! structure. Offline, no signature can be fetched, so an image in verify
//! scope is refused and the other allowed ones are accepted.

use super::export::{engine, run_engine};
use super::{code, run};
use serde_json::Value;
use std::process::Command;

/// A P-256 public key (only its form matters: nothing is verified here).
const KEY: &str = "-----BEGIN PUBLIC KEY-----\\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEKHj3WEOey4a7vIj7QP6LfkJQG8Hr\\nC0PDnq0I6pF0x3cFQubgwgLyRsz7whYjz2+eyziVUZAaAEY4eQQq3PQyzA==\\n-----END PUBLIC KEY-----\\n";

#[test]
fn the_policy_json_written_for_verify_rules_parses_in_containers_image() {
    let Some(oracle) = engine("IMAGE_POLICY_CONTAINERS_ORACLE", "containers-oracle") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yaml");
    std::fs::write(
        &policy,
        format!(
            "allow: [{{registry: r.io}}, {{registry: q.io}}]\ndeny: [{{repository: r.io/prod/bad/**}}]\nverify:\n  - {{repository: r.io/prod/**, keys: [\"{KEY}\"]}}\n  - {{registry: q.io, keys: [\"{KEY}\"]}}\n"
        ),
    )
    .unwrap();
    let out_file = dir.path().join("policy.json");
    let out = run(
        &[
            "export",
            "--policy",
            policy.to_str().unwrap(),
            "--format",
            "containers-policy",
            "--output",
            out_file.to_str().unwrap(),
        ],
        None,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code(&out), 0, "{stderr}");
    // Exported with a warning per verify rule: no digest requirement.
    assert_eq!(
        stderr
            .matches("cannot require the name to carry a digest")
            .count(),
        2,
        "{stderr}"
    );
    let text = std::fs::read_to_string(&out_file).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        v["transports"]["docker"]["r.io/prod"][0]["type"], "sigstoreSigned",
        "{text}"
    );
    let images = [
        ("r.io/prod/app:1", false),
        ("r.io/prod/bad/x:1", false),
        ("r.io/dev/app:1", true),
        (
            "q.io/x@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            false,
        ),
        ("s.io/x:1", false),
    ];
    let input: String = images.iter().map(|(i, _)| format!("{i}\n")).collect();
    let mut cmd = Command::new(&oracle);
    cmd.arg("--policy").arg(&out_file);
    let (ok, stdout, stderr) = run_engine(cmd, &input);
    assert!(
        ok,
        "containers/image refuses the policy.json: {stderr}\n{text}"
    );
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), images.len(), "{stdout}");
    for ((image, allowed), v) in images.iter().zip(&lines) {
        assert_eq!(
            v["allowed"].as_bool(),
            Some(*allowed),
            "{image}: {v}\n{text}"
        );
    }
}
