//! `--from policy-json`: the old decisions against containers/image itself
//! (`containers-oracle`, built by `.ci/reference-tools` into
//! `target/reference-tools/`, or `IMAGE_POLICY_CONTAINERS_ORACLE`; under
//! `CI` a missing oracle fails), and the imported policy never wider than
//! what containers/image admitted (in some spelling).

use super::{images, imported, loaded};
use image_policy_core::policy::Context;
use image_policy_import::ImportFormat;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Policies in the shapes of `containers-policy.json(5)`.
const POLICIES: &[&str] = &[
    r#"{"default": [{"type": "reject"}], "transports": {"docker": {"registry.my.com": [{"type": "insecureAcceptAnything"}], "docker.io/library": [{"type": "insecureAcceptAnything"}]}}}"#,
    r#"{"default": [{"type": "insecureAcceptAnything"}], "transports": {"docker": {"evil.io": [{"type": "reject"}], "docker.io/bad": [{"type": "reject"}], "*.evil.org": [{"type": "reject"}]}}}"#,
    r#"{"default": [{"type": "reject"}], "transports": {"docker": {"registry.my.com": [{"type": "insecureAcceptAnything"}], "registry.my.com/team": [{"type": "reject"}], "registry.my.com/team/ok": [{"type": "insecureAcceptAnything"}], "*.my.org": [{"type": "insecureAcceptAnything"}]}}}"#,
    r#"{"default": [{"type": "insecureAcceptAnything"}], "transports": {"docker": {"": [{"type": "reject"}], "localhost:5000": [{"type": "insecureAcceptAnything"}], "quay.io/prometheus/x:1": [{"type": "insecureAcceptAnything"}]}, "docker-daemon": {"": [{"type": "insecureAcceptAnything"}]}}}"#,
];

pub fn oracle() -> Option<PathBuf> {
    let path = std::env::var_os("IMAGE_POLICY_CONTAINERS_ORACLE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../target/reference-tools/containers-oracle")
        });
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "containers-oracle is required in CI (.ci/reference-tools)"
    );
    eprintln!("skipped: no {}", path.display());
    None
}

pub fn corpus() -> Vec<String> {
    let mut all = images();
    for extra in [
        "a.my.org/x:1",
        "a.b.my.org/x:1",
        "a.my.org:5000/x:1",
        "my.org/x:1",
        "x.evil.org/y",
        "registry.my.com/team/app:1",
        "registry.my.com/team/ok/app:1",
        "registry.my.com/team/ok:1",
        "registry.my.com/teamx/app:1",
        "quay.io/prometheus/x:1",
        "quay.io/prometheus/x:2",
        "localhost:5000/app",
        "evil.io/x",
        "EVIL.io/x",
    ] {
        all.push(extra.to_owned());
    }
    all.retain(|i| image_policy_core::reference::ImageRef::parse(i).is_ok());
    all
}

#[test]
fn old_decisions_are_containers_images() {
    let images = corpus();
    let mut compared = 0;
    for text in POLICIES {
        let i = imported(ImportFormat::PolicyJson, text);
        let Some(lines) = oracle_answers(&["--policy"], text, &images) else {
            return;
        };
        assert_eq!(lines.len(), images.len());
        for (image, v) in images.iter().zip(&lines) {
            let allowed = v["allowed"].as_bool() == Some(true);
            assert_eq!(
                !i.old.judge(image, None).violates(),
                allowed,
                "{text}: {image:?}: {v}"
            );
            compared += 1;
        }
    }
    assert!(compared > 300, "{compared}");
}

#[test]
fn imported_policy_json_is_never_wider() {
    for text in POLICIES {
        let i = imported(ImportFormat::PolicyJson, text);
        let policy = loaded(&i);
        for image in corpus() {
            if !policy.evaluate(&image, &Context::new()).violates() {
                let r = image_policy_core::reference::ImageRef::parse(&image).unwrap();
                let spellings = [
                    image.clone(),
                    r.to_string(),
                    r.to_string().to_ascii_lowercase(),
                ];
                assert!(
                    spellings.iter().any(|s| !i.old.judge(s, None).violates()),
                    "{text}: {image:?} admitted now, never before\n{}",
                    i.text
                );
            }
        }
    }
}

/// containers-oracle's answer per image, given `text` as the file of
/// `flag` (`--policy` or `--registries`); `None` without the oracle.
pub fn oracle_answers(
    flag: &[&str],
    text: &str,
    images: &[String],
) -> Option<Vec<serde_json::Value>> {
    let oracle = oracle()?;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config");
    std::fs::write(&file, text).unwrap();
    let mut child = Command::new(&oracle)
        .args(flag)
        .arg(&file)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all((images.join("\n") + "\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
    )
}
