//! The shipped `deploy/` after the replacement deploy/README.md documents
//! (pinning the image built by `deploy/build-image.sh` by its digest) passes
//! `image-policy lint` under the shipped policy, as files and as kustomize
//! renders them; before it, the rendered placeholder is refused.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        // Made by gen-certs.sh, not part of the repository.
        if path.file_name().is_some_and(|n| n == "local") {
            continue;
        }
        if path.is_dir() {
            copy_dir(&path, &to.join(entry.file_name()));
        } else {
            std::fs::copy(&path, to.join(entry.file_name())).unwrap();
        }
    }
}

/// The `sed -i ... deploy/base/kustomization.yaml` line of the README's
/// "Building and mirroring the image", which uses `$ref`.
fn documented_replacement() -> String {
    let readme = std::fs::read_to_string(root().join("deploy/README.md")).unwrap();
    let lines: Vec<&str> = readme
        .lines()
        .filter(|l| l.starts_with("sed -i ") && l.contains("deploy/base/kustomization.yaml"))
        .collect();
    assert_eq!(lines.len(), 1, "one documented replacement: {lines:?}");
    lines[0].to_owned()
}

fn have(tool: &str) -> bool {
    let found = Command::new(tool).arg("version").output().is_ok();
    if !found {
        // CI machines have it: there, a missing tool is a failure, not a skip.
        assert!(std::env::var_os("CI").is_none(), "{tool} is required in CI");
        eprintln!("NOTE: {tool} not found; the rendered manifests are not linted");
    }
    found
}

/// `image-policy ARGS` in `dir`, with `stdin`: the exit code and the output.
fn image_policy(dir: &Path, args: &[&str], stdin: &[u8]) -> (i32, String) {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_image-policy"))
        .args(args)
        .current_dir(dir)
        .env_remove("IMAGE_POLICY_FILE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap(), text)
}

fn kustomize(dir: &Path) -> Vec<u8> {
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn deploy_lints_clean_under_its_policy_after_the_documented_replacement() {
    let work = tempfile::tempdir().unwrap();
    copy_dir(&root().join("deploy"), &work.path().join("deploy"));
    let lint_dir = ["lint", "deploy/", "--policy", "deploy/base/policy.yaml"];
    let lint_rendered = ["lint", "-", "--policy", "deploy/base/policy.yaml"];
    let kubectl = have("kubectl");

    // Before: the placeholder digest does not parse, and lint says so.
    if kubectl {
        let rendered = kustomize(&work.path().join("deploy"));
        let (code, text) = image_policy(work.path(), &lint_rendered, &rendered);
        assert_eq!(code, 1, "{text}");
        assert!(text.contains("sha256:REPLACE-ME"), "{text}");
    }

    // The README's replacement, with what build-image.sh --push prints.
    let digest = format!("sha256:{}", "3f".repeat(32));
    let pinned = format!("registry.my.com/image-policy@{digest}");
    let status = Command::new("bash")
        .args(["-euc", &documented_replacement()])
        .current_dir(work.path())
        .env("ref", &pinned)
        .status()
        .unwrap();
    assert!(status.success());

    let (code, text) = image_policy(work.path(), &lint_dir, b"");
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("0 violations"), "{text}");
    if kubectl {
        let rendered = kustomize(&work.path().join("deploy"));
        assert!(
            String::from_utf8_lossy(&rendered).contains(&format!("image: {pinned}\n")),
            "the rendered Deployment runs the pinned image"
        );
        let (code, text) = image_policy(work.path(), &lint_rendered, &rendered);
        assert_eq!(code, 0, "{text}");
        assert!(text.contains("1 image: 0 violations"), "{text}");
        // And every overlay (components/rewrite's MutatingWebhookConfiguration
        // included) renders the same one image.
        for overlay in ["cert-manager", "rewrite", "validating-admission-policy"] {
            let rendered = kustomize(&work.path().join("deploy/overlays").join(overlay));
            let (code, text) = image_policy(work.path(), &lint_rendered, &rendered);
            assert_eq!(code, 0, "{overlay}: {text}");
            assert!(text.contains("1 image: 0 violations"), "{overlay}: {text}");
        }
    }
}
