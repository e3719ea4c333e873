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

/// Exports `policy` (a file in `dir`) as `format` to `dir/name`; the
/// export's standard error.
fn export_to(dir: &std::path::Path, policy: &std::path::Path, format: &str, name: &str) -> String {
    let out = run(
        &[
            "export",
            "--policy",
            policy.to_str().unwrap(),
            "--format",
            format,
            "--output",
            dir.join(name).to_str().unwrap(),
        ],
        None,
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(code(&out), 0, "{format}: {stderr}");
    stderr
}

/// Debian's skopeo, or `None` (outside CI) when it is not installed.
fn skopeo() -> Option<&'static str> {
    let found = Command::new("skopeo")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "skopeo is required in CI (.ci/run installs it)"
        );
        eprintln!("NOTE: skopeo not found; test not run");
        return None;
    }
    Some("skopeo")
}

/// Issue 22 item 6: the `registries.d` file of `export --format
/// registries-d`, read by Debian's containers/image (skopeo 1.9, offline:
/// every host here refuses connections, and containers/image decides
/// whether to read sigstore attachments when it makes the registry client,
/// before it connects, and says so in its debug log). Every name that the
/// exported `policy.json` requires a signature for (containers-oracle
/// allows it once `sigstoreSigned` is replaced by `insecureAcceptAnything`,
/// not before) has attachments turned on where skopeo pulls it from,
/// after the exported `registries.conf`'s rewrite (a name it blocks is
/// never pulled); a name outside every verify scope has them off unless it
/// is where a signed name is pulled from.
#[test]
fn the_registries_d_file_turns_on_attachments_where_containers_image_needs_them() {
    let Some(oracle) = engine("IMAGE_POLICY_CONTAINERS_ORACLE", "containers-oracle") else {
        return;
    };
    let Some(skopeo) = skopeo() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yaml");
    std::fs::write(
        &policy,
        format!(
            "allow: [{{registry: '127.0.0.1:1'}}, {{registry: '127.0.0.1:2'}}]\ndeny: [{{repository: '127.0.0.1:1/prod/bad/**'}}]\nrewrite: [{{from: '127.0.0.1:2/alias', to: '127.0.0.1:1/mirror'}}, {{from: '127.0.0.1:2/hub', to: '127.0.0.1:1/prod/hub'}}]\nverify:\n  - {{repository: '127.0.0.1:1/prod/**', keys: [\"{KEY}\"]}}\n  - {{repository: '127.0.0.1:2/alias/**', keys: [\"{KEY}\"]}}\n"
        ),
    )
    .unwrap();
    let warned = export_to(dir.path(), &policy, "containers-policy", "policy.json");
    assert!(warned.contains("export --format registries-d"), "{warned}");
    export_to(dir.path(), &policy, "registries-conf", "registries.conf");
    let rd = dir.path().join("registries.d");
    std::fs::create_dir(&rd).unwrap();
    let stderr = export_to(&rd, &policy, "registries-d", "image-policy.yaml");
    assert!(!stderr.contains("export: warning"), "{stderr}");
    let text = std::fs::read_to_string(dir.path().join("policy.json")).unwrap();
    // The same policy.json with every signature requirement accepting
    // anything: what it allows and policy.json does not, needs a signature.
    let unsigned: Value = {
        let mut v: Value = serde_json::from_str(&text).unwrap();
        for reqs in v["transports"]["docker"]
            .as_object_mut()
            .unwrap()
            .values_mut()
        {
            for r in reqs.as_array_mut().unwrap() {
                if r["type"] == "sigstoreSigned" {
                    *r = serde_json::json!({"type": "insecureAcceptAnything"});
                }
            }
        }
        v
    };
    std::fs::write(
        dir.path().join("unsigned.json"),
        serde_json::to_string(&unsigned).unwrap(),
    )
    .unwrap();

    // (name, attachments on where skopeo pulls it from)
    let names: &[(&str, bool)] = &[
        ("127.0.0.1:1/prod/app", true),
        ("127.0.0.1:1/prod", true),
        ("127.0.0.1:1/dev/app", false),
        ("127.0.0.1:2/alias/app", true),
        ("127.0.0.1:2/hub/app", true),
        ("127.0.0.1:2/other/app", false),
        // Where 127.0.0.1:2/alias is pulled from: on, though no signature
        // is required for the name as written there.
        ("127.0.0.1:1/mirror/app", true),
    ];
    let input: String = names.iter().map(|(n, _)| format!("{n}:1\n")).collect();
    let allowed = |file: &str| -> Vec<bool> {
        let mut cmd = Command::new(&oracle);
        cmd.arg("--policy").arg(dir.path().join(file));
        let (ok, stdout, stderr) = run_engine(cmd, &input);
        assert!(ok, "{file}: {stderr}");
        stdout
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap()["allowed"] == true)
            .collect()
    };
    let signed_policy = allowed("policy.json");
    let unsigned_policy = allowed("unsigned.json");
    for (i, (name, on)) in names.iter().enumerate() {
        let requires_signature = unsigned_policy[i] && !signed_policy[i];
        let out = Command::new(skopeo)
            .arg("--debug")
            .arg("--registries-conf")
            .arg(dir.path().join("registries.conf"))
            .arg("--registries.d")
            .arg(&rd)
            .args(["inspect", "--tls-verify=false", "--retry-times=0"])
            .arg(format!("docker://{name}:1"))
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&out.stderr);
        assert!(
            log.contains("connection refused"),
            "{name}: skopeo did not get as far as the registry:\n{log}"
        );
        let attached = log.contains("Sigstore attachments: using");
        assert_eq!(attached, *on, "{name}:\n{log}");
        assert!(
            attached || !requires_signature,
            "{name}: policy.json requires a signature, and skopeo reads no attachment there:\n{log}"
        );
        if *name == "127.0.0.1:1/prod/app" || *name == "127.0.0.1:2/alias/app" {
            assert!(requires_signature, "{name}: {text}");
        }
    }
}

/// containers/image reads several keys of one `sigstoreSigned` requirement
/// (any one verifies) as `keyDatas` from 5.33 (and 5.32.2) on. The reader
/// here (Debian's 5.23, as skopeo 1.9) refuses the whole file on that key,
/// so a verify rule with several keys is refused, naming the version; when
/// this test fails because the checker reads `keyDatas`, the export can
/// write it.
#[test]
fn several_keys_are_refused_while_containers_image_refuses_key_datas() {
    let Some(oracle) = engine("IMAGE_POLICY_CONTAINERS_ORACLE", "containers-oracle") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let key_data = "LS0tLS1CRUdJTiBQVUJMSUMgS0VZLS0tLS0K";
    let file = dir.path().join("keydatas.json");
    std::fs::write(
        &file,
        format!(
            r#"{{"default": [{{"type": "reject"}}], "transports": {{"docker": {{"r.io": [{{"type": "sigstoreSigned", "keyDatas": ["{key_data}", "{key_data}"], "signedIdentity": {{"type": "matchRepository"}}}}]}}}}}}"#
        ),
    )
    .unwrap();
    let mut cmd = Command::new(&oracle);
    cmd.arg("--policy").arg(&file);
    let (ok, _, stderr) = run_engine(cmd, "r.io/x:1\n");
    assert!(
        !ok,
        "containers/image reads keyDatas now: write it for several keys"
    );
    assert!(stderr.contains(r#"Unknown key "keyDatas""#), "{stderr}");

    let policy = dir.path().join("policy.yaml");
    std::fs::write(
        &policy,
        "allow: [{registry: r.io}]\nverify: [{registry: r.io, keys: [\"-----BEGIN PUBLIC KEY-----\\nMCowBQYDK2VwAyEA1JFNjsocZ+AC0dmLA6ExtC4x81Kd2GqAuOUanF9Rp7k=\\n-----END PUBLIC KEY-----\\n\", \"-----BEGIN PUBLIC KEY-----\\nMCowBQYDK2VwAyEA2JFNjsocZ+AC0dmLA6ExtC4x81Kd2GqAuOUanF9Rp7k=\\n-----END PUBLIC KEY-----\\n\"]}]\n",
    )
    .unwrap();
    let out = run(
        &[
            "export",
            "--policy",
            policy.to_str().unwrap(),
            "--format",
            "containers-policy",
        ],
        None,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code(&out), 2, "{stderr}");
    assert!(stderr.contains("verify[0]"), "{stderr}");
    assert!(stderr.contains("containers/image 5.33"), "{stderr}");
}
