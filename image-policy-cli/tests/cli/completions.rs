//! The completion scripts, run by the shells they are for: bash (the
//! script sourced, its function called as bash calls it), zsh (an
//! interactive shell on a pseudo-terminal, `complete.zsh`) and fish
//! (`complete -C`). A missing shell skips its test outside CI and fails it
//! under `CI=true` (`.ci/run` installs them).

use std::path::Path;
use std::process::Command;

/// Command lines (a trailing space starts a new word) and candidates each
/// must offer.
const CASES: &[(&str, &[&str])] = &[
    ("image-policy pa", &["parse"]),
    ("image-policy lint --fo", &["--format"]),
    (
        "image-policy lint --format ",
        &["text", "json", "sarif", "github"],
    ),
    ("image-policy policy ", &["check", "schema"]),
    ("image-policy policy check --de", &["--deny-warnings"]),
    (
        "image-policy export --format ",
        &[
            "containers-policy",
            "registries-conf",
            "validating-admission-policy",
        ],
    ),
    ("image-policy check --format ", &["text", "json"]),
    ("image-policy serve --log-", &["--log-format"]),
];

/// Whether `shell` can run here; a missing shell fails under CI.
fn available(shell: &str) -> bool {
    let found = Command::new(shell)
        .args(["-c", "exit 0"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{shell} is missing: CI must install it (.ci/run)"
        );
        eprintln!("skipped: {shell} is not installed");
    }
    found
}

/// Writes `image-policy completions SHELL` to `dir/name`.
fn script(shell: &str, dir: &Path, name: &str) -> std::path::PathBuf {
    let out = super::run(&["completions", shell], None);
    assert_eq!(
        super::code(&out),
        0,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = dir.join(name);
    std::fs::write(&path, &out.stdout).unwrap();
    path
}

/// Checks that the candidates of each case include the expected ones.
fn check(shell: &str, complete: impl Fn(&str) -> Vec<String>) {
    for (line, expected) in CASES {
        let offered = complete(line);
        for want in *expected {
            assert!(
                offered.iter().any(|c| c == want),
                "{shell}: `{line}<TAB>` offers {offered:?}, not {want}"
            );
        }
    }
}

fn output(command: &mut Command) -> String {
    let out = command.output().expect("the shell runs");
    assert!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn bash_completes_past_the_first_word() {
    if !available("bash") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = script("bash", dir.path(), "image-policy.bash");
    // As bash calls a `complete -F` function: COMP_WORDS, COMP_CWORD, and
    // the command, the word under the cursor and the one before it.
    let driver = r#"
source "$1"
read -ra COMP_WORDS <<< "$2"
[[ "$2" == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
COMP_LINE="$2"; COMP_POINT=${#COMP_LINE}
spec=$(complete -p image-policy) || exit 9
function=${spec#*-F }; function=${function%% *}
"$function" image-policy "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"
"#;
    check("bash", |line| {
        output(
            Command::new("bash")
                .args(["-c", driver, "bash"])
                .arg(&path)
                .arg(line),
        )
        .lines()
        .map(str::to_owned)
        .collect()
    });
}

#[test]
fn zsh_completes_past_the_first_word() {
    if !available("zsh") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    script("zsh", dir.path(), "_image-policy");
    let driver = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cli/complete.zsh");
    check("zsh", |line| {
        let found = dir.path().join("candidates");
        let _ = std::fs::remove_file(&found);
        output(
            Command::new("zsh")
                .arg("-f")
                .arg(&driver)
                .arg(dir.path())
                .arg(&found)
                .arg(line),
        );
        std::fs::read_to_string(&found)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    });
}

#[test]
fn fish_completes_past_the_first_word() {
    if !available("fish") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = script("fish", dir.path(), "image-policy.fish");
    check("fish", |line| {
        // `complete -C` prints each candidate, a tab and its description.
        output(
            Command::new("fish")
                .args(["--no-config", "-c", "source $argv[1]; complete -C $argv[2]"])
                .arg(&path)
                .arg(line),
        )
        .lines()
        .map(|l| l.split('\t').next().unwrap_or("").to_owned())
        .collect()
    });
}
