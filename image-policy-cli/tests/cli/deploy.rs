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
        // Made by gen-certs.sh (deploy/local*), not part of the repository.
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("local"))
        {
            continue;
        }
        if path.is_dir() {
            copy_dir(&path, &to.join(entry.file_name()));
        } else {
            std::fs::copy(&path, to.join(entry.file_name())).unwrap();
        }
    }
}

/// A copy of deploy/ in a new directory, its overlays/cert-manager edited as
/// its comments tell a user to: the `components` lines uncommented. The
/// install is `DIR/deploy/overlays/cert-manager`.
pub fn cert_manager_install(components: &[&str]) -> tempfile::TempDir {
    let work = tempfile::tempdir().unwrap();
    copy_dir(&root().join("deploy"), &work.path().join("deploy"));
    let file = work
        .path()
        .join("deploy/overlays/cert-manager/kustomization.yaml");
    let mut text = std::fs::read_to_string(&file).unwrap();
    for component in components {
        let line = format!("  # - ../../components/{component}\n");
        assert_eq!(text.matches(&line).count(), 1, "{component}: {text}");
        text = text.replace(&line, &line.replacen("# ", "", 1));
    }
    std::fs::write(&file, text).unwrap();
    work
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

    let install = work.path().join("deploy/overlays/cert-manager");
    // Before: the placeholder digest does not parse, and lint says so.
    if kubectl {
        let rendered = kustomize(&install);
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
        let rendered = kustomize(&install);
        assert!(
            String::from_utf8_lossy(&rendered).contains(&format!("image: {pinned}\n")),
            "the rendered Deployment runs the pinned image"
        );
        let (code, text) = image_policy(work.path(), &lint_rendered, &rendered);
        assert_eq!(code, 0, "{text}");
        assert!(text.contains("1 image: 0 violations"), "{text}");
        // And with every component (components/rewrite's
        // MutatingWebhookConfiguration included; then pin, which includes
        // it, in its place), the same one image.
        let file = install.join("kustomization.yaml");
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.contains("  # - ../../components/"), "{text}");
        let every = text.replace("  # - ../../components/", "  - ../../components/");
        let without = |drop: &str| {
            every.replace(
                &format!("  - ../../components/{drop}\n"),
                &format!("  # - ../../components/{drop}\n"),
            )
        };
        for (keep, drop) in [("rewrite", "pin"), ("pin", "rewrite")] {
            std::fs::write(&file, without(drop)).unwrap();
            let rendered = kustomize(&install);
            assert!(
                String::from_utf8_lossy(&rendered).contains("kind: MutatingWebhookConfiguration\n"),
                "{keep}"
            );
            let (code, text) = image_policy(work.path(), &lint_rendered, &rendered);
            assert_eq!(code, 0, "{keep}: {text}");
            assert!(text.contains("1 image: 0 violations"), "{keep}: {text}");
        }
    }
}

/// The commands of deploy/README.md's `sh` blocks, each block's lines with
/// their `\` continuations joined, comments and blank lines left out.
fn readme_sh_blocks() -> Vec<Vec<String>> {
    let readme = std::fs::read_to_string(root().join("deploy/README.md")).unwrap();
    let mut blocks = Vec::new();
    let mut block: Option<Vec<String>> = None;
    let mut pending = String::new();
    for line in readme.lines() {
        match (&mut block, line.trim_end()) {
            (None, "```sh") => block = Some(Vec::new()),
            (Some(_), "```") => blocks.push(block.take().unwrap()),
            (Some(commands), line) => {
                pending.push_str(line.strip_suffix('\\').unwrap_or(line));
                if !line.ends_with('\\') {
                    let command = std::mem::take(&mut pending);
                    if !command.trim().is_empty() && !command.trim_start().starts_with('#') {
                        commands.push(command);
                    }
                }
            }
            (None, _) => {}
        }
    }
    assert!(block.is_none(), "an unclosed sh block");
    blocks
}

/// What needs more than this machine offline: a build, the registry, a
/// running server.
fn needs_more(command: &str) -> bool {
    [
        "cargo ",
        "build-image.sh",
        "curl ",
        " serve ",
        "review",
        "$ref",
    ]
    .iter()
    .any(|word| command.contains(word))
}

/// Every `sh` block of deploy/README.md that runs offline runs as written,
/// in a copy of deploy/, with `image-policy` the binary under test and
/// `kubectl` the real one for `kustomize`, and for `apply` a stand-in that
/// renders (`-k DIR`) or reads (`-f -`) what it is given instead of calling
/// a cluster. Of the other blocks (a build, a push, a running server), every
/// `image-policy`, `kubectl kustomize` and `gen-certs.sh` command runs alone.
/// Each exits 0.
#[test]
fn every_offline_command_of_deploy_readme_runs() {
    if !have("kubectl") || !have("openssl") {
        return;
    }
    let real_kubectl = String::from_utf8(
        Command::new("bash")
            .args(["-c", "command -v kubectl"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_owned();
    let work = tempfile::tempdir().unwrap();
    copy_dir(&root().join("deploy"), &work.path().join("deploy"));
    let bin = work.path().join("bin");
    let applied = work.path().join("applied");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(&applied).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_image-policy"), bin.join("image-policy"))
        .unwrap();
    let stub = format!(
        r#"#!/usr/bin/env bash
# kubectl without a cluster: kustomize is kubectl's; apply keeps what it was given.
set -euo pipefail
out="{applied}/$RANDOM$RANDOM.yaml"
case "$*" in
  kustomize\ *) exec "{real_kubectl}" "$@" ;;
  "apply -k "*) "{real_kubectl}" kustomize "$3" > "$out" ;;
  "apply -f -") cat > "$out" ;;
  *) echo "kubectl stand-in: not offline: $*" >&2; exit 3 ;;
esac
"#,
        applied = applied.display()
    );
    std::fs::write(bin.join("kubectl"), stub).unwrap();
    std::fs::set_permissions(
        bin.join("kubectl"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = |script: &str| {
        let out = Command::new("bash")
            .args(["-euo", "pipefail", "-c", script])
            .current_dir(work.path())
            .env("PATH", &path)
            .env_remove("IMAGE_POLICY_FILE")
            .env_remove("NAMESPACE")
            .env_remove("COMPONENTS")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "deploy/README.md's\n{script}\nfailed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let mut ran = Vec::new();
    for block in readme_sh_blocks() {
        if block.iter().any(|c| needs_more(c)) {
            for command in block.iter().filter(|c| {
                c.starts_with("image-policy ")
                    || c.starts_with("kubectl kustomize ")
                    || c.contains("deploy/gen-certs.sh ")
            }) {
                run(command);
                ran.push(command.clone());
            }
        } else {
            run(&block.join("\n"));
            ran.extend(block);
        }
    }
    // Every image-policy and kubectl command of the blocks ran.
    for block in readme_sh_blocks() {
        for command in block {
            if command.contains("image-policy ") && !needs_more(&command)
                || command.contains("kubectl ")
            {
                assert!(ran.contains(&command), "not run: {command}");
            }
        }
    }
    assert!(ran.len() >= 8, "{ran:#?}");
    eprintln!("ran {} commands of deploy/README.md: {ran:#?}", ran.len());
    // What `kubectl apply` was given is Kubernetes objects.
    let mut applies = 0;
    for entry in std::fs::read_dir(&applied).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&text).unwrap();
        assert!(!docs.is_empty());
        assert!(
            docs.iter()
                .all(|d| d["kind"].is_string() && d["apiVersion"].is_string())
        );
        applies += 1;
    }
    assert!(applies >= 4, "{applies} applies");
}
