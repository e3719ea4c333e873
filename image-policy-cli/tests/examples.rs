//! The documentation's examples are tests: every `$ image-policy ...`
//! command of a ` ```console ` block in README.md, deploy/README.md and the
//! crate READMEs runs as written, from the repository's root, and must
//! print what the block shows (trycmd: `? N` is the exit status, `...` a
//! run of lines, `[..]` part of a line). And every example of `--help` that
//! is one `image-policy` command (no pipe, no redirection, not `serve`)
//! runs as written without a usage or read error, in a copy of the
//! repository's `deploy/` and `examples/` (the files the examples name;
//! some examples write files, such as `lint --fix`).
//!
//! A test binary of its own: it runs from the repository's root, and the
//! working directory is the process's.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_owned()
}

#[test]
fn readme_examples_print_what_they_show() {
    let root = root();
    std::env::set_current_dir(&root).unwrap();
    let cases = trycmd::TestCases::new();
    cases
        .register_bin(
            "image-policy",
            Path::new(env!("CARGO_BIN_EXE_image-policy")),
        )
        .env("NO_COLOR", "1")
        .env("COLUMNS", "100");
    // IMAGE_POLICY_FILE would change what the examples print.
    cases.env("IMAGE_POLICY_FILE", "");
    for readme in [
        "README.md",
        "deploy/README.md",
        "image-policy-cli/README.md",
        "image-policy-core/README.md",
        "image-policy-lint/README.md",
        "image-policy-webhook/README.md",
    ] {
        cases.case(root.join(readme));
    }
}

/// The examples of `image-policy [COMMAND...] --help`, one per entry.
fn help_examples(command: &[&str]) -> Vec<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_image-policy"))
        .args(command)
        .arg("--help")
        .env("COLUMNS", "1000")
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    help.lines()
        .skip_while(|l| *l != "Examples:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// Copies the directory `from` to `to`, files and directories only.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        } else if kind.is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

#[test]
fn help_examples_run_as_written() {
    let copy = tempfile::tempdir().unwrap();
    for dir in ["deploy", "examples"] {
        copy_tree(&root().join(dir), &copy.path().join(dir));
    }
    let root = copy.path();
    let commands: &[&[&str]] = &[
        &[],
        &["parse"],
        &["check"],
        &["lint"],
        &["serve"],
        &["completions"],
        &["policy"],
        &["policy", "check"],
        &["policy", "schema"],
        &["export"],
    ];
    let mut ran = 0;
    for command in commands {
        for example in help_examples(command) {
            // Pipelines and redirections need a shell and other tools
            // (kubectl, helm); `serve` would not return.
            let words: Vec<&str> = example.split_whitespace().collect();
            if words[0] != "image-policy"
                || words.iter().any(|w| ["|", ">", "<"].contains(w))
                || words.get(1) == Some(&"serve")
            {
                continue;
            }
            let args: Vec<String> = words[1..]
                .iter()
                .map(|w| w.trim_matches(|c| c == '\'' || c == '"').to_owned())
                .collect();
            let out = Command::new(env!("CARGO_BIN_EXE_image-policy"))
                .args(&args)
                .current_dir(root)
                .env_remove("IMAGE_POLICY_FILE")
                .output()
                .unwrap();
            let code = out.status.code().unwrap();
            assert!(
                code == 0 || code == 1,
                "`{example}` exits {code}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            ran += 1;
        }
    }
    assert!(ran >= 8, "only {ran} examples ran");
}
