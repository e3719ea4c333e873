//! What the commands say, for people: one hint for one mistake wherever it
//! is made (a flag, a policy file), and each thing named once.

use super::{code, run};

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A registry written as a URL gets the same hint from `--allow-registry`,
/// from a policy file's `registry:` and from a rewrite's `to`, in `policy
/// check` and in every command that loads the policy.
#[test]
fn a_scheme_gets_one_hint_from_flags_and_files() {
    let hint = "\"https://registry.my.com\" has a scheme (https://), but a registry is written \
                without one, as in image references: write \"registry.my.com\"";
    let flag = run(
        &[
            "check",
            "--allow-registry",
            "https://registry.my.com",
            "nginx",
        ],
        None,
    );
    assert_eq!(code(&flag), 2);
    assert!(stderr(&flag).contains(hint), "{}", stderr(&flag));

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.yaml");
    std::fs::write(&file, "allow:\n  - registry: https://registry.my.com\n").unwrap();
    let file = file.to_str().unwrap();
    let checked = run(&["policy", "check", file], None);
    assert_eq!(code(&checked), 2);
    assert!(
        stdout(&checked).contains(&format!("policy.yaml:2:15: error[bad-registry]: {hint}")),
        "{}",
        stdout(&checked)
    );
    let loaded = run(&["check", "--policy", file, "nginx"], None);
    assert_eq!(code(&loaded), 2);
    assert!(stderr(&loaded).contains(hint), "{}", stderr(&loaded));

    let rewrite = dir.path().join("rewrite.yaml");
    std::fs::write(
        &rewrite,
        "allow:\n  - registry: registry.my.com\nrewrite:\n  - {from: docker.io, to: 'https://registry.my.com/hub'}\n",
    )
    .unwrap();
    let checked = run(&["policy", "check", rewrite.to_str().unwrap()], None);
    assert!(
        stdout(&checked).contains(
            "error[bad-rewrite]: \"https://registry.my.com/hub\" has a scheme (https://), but a \
             rewrite to is written without one, as in image references: write \"registry.my.com/hub\""
        ),
        "{}",
        stdout(&checked)
    );
}

/// An export that cannot be made names the format once per line, and the
/// lossy export's warnings too.
#[test]
fn an_export_error_names_the_format_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.yaml");
    std::fs::write(
        &file,
        "allow:\n  - registry: registry.my.com\n  - registry: quay.io\ndeny:\n  - regex: 'registry\\.my\\.com/old.*'\n  - regex: 'registry\\.my\\.com/legacy.*'\n",
    )
    .unwrap();
    let file = file.to_str().unwrap();
    let out = run(
        &["export", "--policy", file, "--format", "docker-sysconfig"],
        None,
    );
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("image-policy export: docker-sysconfig cannot express 2 rules without admitting images the policy denies:\n  deny[0] "),
        "{err}"
    );
    assert!(
        err.contains("\nimage-policy export: nothing written; --lossy narrows them"),
        "{err}"
    );
    let lossy = run(
        &[
            "export",
            "--policy",
            file,
            "--format",
            "docker-sysconfig",
            "--lossy",
        ],
        None,
    );
    assert_eq!(code(&lossy), 0, "{}", stderr(&lossy));
    for text in [err, stderr(&lossy)] {
        for line in text.lines() {
            assert!(
                line.matches("docker-sysconfig").count() <= 1,
                "the format is named twice: {line}"
            );
        }
    }
}
