//! Output that cannot be forged: file names come from the repository being
//! linted, which may be hostile. Generated names holding line breaks, tabs,
//! `::`, `%`, `,`, `---`/`+++`, leading `-` and spaces, quotes, backslashes,
//! terminal escapes, line separators and bytes that are not UTF-8 are given
//! to the binary as real files, and every format is read back as its
//! consumer reads it: each name must come back as itself (text, JSON,
//! SARIF, GitHub's percent-decoding), no line may be one we did not write,
//! and the `--diff` must patch exactly the right files with GNU patch and
//! `git apply` (or, for a name that is not UTF-8 or holds a backslash, which
//! the walk reports as `/`, be refused).

use serde_json::Value;
use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Command;

const MANIFEST: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: c\n    image: nginx:1.25\n";

/// The pieces each name is made of.
const PARTS: &[&[u8]] = &[
    b"\n",
    b"\r",
    b"\r\n",
    b"\t",
    b"::",
    b"%",
    b"%0A",
    b",",
    b"---",
    b"+++",
    b"-",
    b"  ",
    b"\"",
    b"\x1b[2J",
    "\u{2028}".as_bytes(),
    "\u{85}".as_bytes(),
    b"\xff",
];

/// Relative paths (bytes) of hostile files under `hostile/`: each part as a
/// prefix, before a forged workflow command and a forged report line, and
/// in a directory name before a forged `+++ b/victim.yaml` header.
fn names(with_non_utf8: bool) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for (i, part) in PARTS.iter().enumerate() {
        if !with_non_utf8 && std::str::from_utf8(part).is_err() {
            continue;
        }
        let cat = |pieces: &[&[u8]]| pieces.concat();
        out.push(cat(&[part, format!("a{i}.yaml").as_bytes()]));
        out.push(cat(&[
            format!("b{i}").as_bytes(),
            part,
            b"::error file=victim.yaml,line=1::forged",
            part,
            b"error[forged]: x.yaml",
        ]));
        // A directory: its file is `victim.yaml` (see `tree`).
        out.push(cat(&[format!("d{i}").as_bytes(), part, b"+++ b"]));
    }
    out
}

/// A temporary directory with `victim.yaml` and the hostile files under
/// `hostile/` (directories end at their `/`); returns the names as the
/// binary reports them (`hostile/...`, lossy where not UTF-8).
fn tree(dir: &Path, with_non_utf8: bool) -> BTreeSet<String> {
    std::fs::write(dir.join("victim.yaml"), MANIFEST).unwrap();
    let root = dir.join("hostile");
    std::fs::create_dir(&root).unwrap();
    let mut reported = BTreeSet::new();
    for name in names(with_non_utf8) {
        let path = if name.starts_with(b"d") {
            let sub = root.join(OsStr::from_bytes(&name));
            std::fs::create_dir(&sub).unwrap();
            sub.join("victim.yaml")
        } else {
            root.join(OsStr::from_bytes(&name))
        };
        std::fs::write(&path, MANIFEST).unwrap();
        let relative = path.strip_prefix(dir).unwrap();
        reported.insert(String::from_utf8_lossy(relative.as_os_str().as_bytes()).into_owned());
    }
    reported
}

fn lint(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_image-policy"))
        .arg("lint")
        .arg("hostile")
        .args(args)
        .current_dir(dir)
        .env_remove("IMAGE_POLICY_FILE")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).expect("the output is UTF-8"),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// A name as the text output prints it, read back: as is, or a quoted
/// string with `\n`, `\r`, `\t`, `\"`, `\\` and `\u{..}` escapes.
fn unquote(s: &str) -> String {
    let Some(inner) = s.strip_prefix('"').and_then(|s| s.strip_suffix('"')) else {
        return s.to_owned();
    };
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next().unwrap() {
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            '"' => out.push('"'),
            '\\' => out.push('\\'),
            'u' => {
                let hex: String = chars.by_ref().skip(1).take_while(|&c| c != '}').collect();
                out.push(char::from_u32(u32::from_str_radix(&hex, 16).unwrap()).unwrap());
            }
            other => panic!("unknown escape \\{other} in {s}"),
        }
    }
    out
}

/// What GitHub's runner makes of a percent-encoded value.
fn percent_decoded(s: &str) -> String {
    s.replace("%3A", ":")
        .replace("%2C", ",")
        .replace("%0D", "\r")
        .replace("%0A", "\n")
        .replace("%25", "%")
}

const POLICY: &[&str] = &["--allow-registry", "registry.my.com"];

#[test]
fn text_names_come_back_and_no_line_is_forged() {
    let dir = tempfile::tempdir().unwrap();
    let names = tree(dir.path(), true);
    let (code, out, err) = lint(dir.path(), &[POLICY, &["--format", "text"]].concat());
    assert_eq!(code, 1, "{err}");
    let mut seen = BTreeSet::new();
    for line in out.lines() {
        let report_line = line.is_empty()
            || line.starts_with("error[registry-not-allowed]: docker.io/library/nginx:1.25: ")
            || line.starts_with("lint: ")
            || line.starts_with(" --> ")
            || line.starts_with("  |")
            || line.starts_with("8 |")
            || line.starts_with("  = ");
        assert!(report_line, "a line the report does not write: {line:?}");
        if let Some(at) = line.strip_prefix(" --> ") {
            let name = at.strip_suffix(":8:12").expect("name:line:column");
            seen.insert(unquote(name));
        }
    }
    assert_eq!(seen, names);
    assert_eq!(out.matches("\nerror[").count() + 1, names.len(), "{out}");
}

#[test]
fn json_and_sarif_names_come_back() {
    let dir = tempfile::tempdir().unwrap();
    let names = tree(dir.path(), true);
    let (code, out, err) = lint(dir.path(), &[POLICY, &["--format", "json"]].concat());
    assert_eq!(code, 1, "{err}");
    let json: Value = serde_json::from_str(&out).unwrap();
    let files: BTreeSet<String> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["file"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(files, names);

    let (code, out, err) = lint(dir.path(), &[POLICY, &["--format", "sarif"]].concat());
    assert_eq!(code, 1, "{err}");
    let sarif: Value = serde_json::from_str(&out).unwrap();
    let uris: BTreeSet<String> = sarif["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let uri = r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                .as_str()
                .unwrap();
            // Every byte outside the unreserved set is percent-encoded.
            assert!(
                uri.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~/%".contains(&b)),
                "{uri}"
            );
            let mut bytes = Vec::new();
            let mut rest = uri.as_bytes();
            while let Some((&b, tail)) = rest.split_first() {
                if b == b'%' {
                    let hex = std::str::from_utf8(&tail[..2]).unwrap();
                    bytes.push(u8::from_str_radix(hex, 16).unwrap());
                    rest = &tail[2..];
                } else {
                    bytes.push(b);
                    rest = tail;
                }
            }
            String::from_utf8(bytes).unwrap()
        })
        .collect();
    assert_eq!(uris, names);
}

#[test]
fn github_commands_cannot_be_forged() {
    let dir = tempfile::tempdir().unwrap();
    let names = tree(dir.path(), true);
    // A skipped file too: its plain log line carries the name.
    let skipped = dir
        .path()
        .join("hostile")
        .join("s\n::error file=victim.yaml::forged.yaml");
    std::fs::write(&skipped, "replicas: 3\n").unwrap();
    let (code, out, err) = lint(dir.path(), &[POLICY, &["--format", "github"]].concat());
    assert_eq!(code, 1, "{err}");
    let mut files = BTreeSet::new();
    let mut skipped_lines = 0;
    for line in out.lines() {
        if let Some(rest) = line.strip_prefix("::error file=") {
            // file=...,line=8,col=12,endColumn=..,title=...::message
            let (props, message) = rest.split_once("::").expect("properties::message");
            let file = props.split(',').next().unwrap();
            files.insert(percent_decoded(file));
            assert!(!message.contains('\n') && !message.contains('\r'));
        } else if line.starts_with("skipped: ") {
            skipped_lines += 1;
            assert!(
                line.contains("s%0A::error file=victim.yaml::forged.yaml"),
                "{line}"
            );
        } else {
            assert!(
                line.starts_with("lint: "),
                "a line the report does not write: {line:?}"
            );
        }
    }
    assert_eq!(files, names);
    assert_eq!(skipped_lines, 1, "{out}");
}

/// Applies `diff` in a copy of the tree with `patch -p1` or `git apply`.
fn apply(dir: &Path, diff: &str, tool: &[&str]) -> bool {
    use std::io::Write;
    let mut child = Command::new(tool[0])
        .args(&tool[1..])
        .current_dir(dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(diff.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{tool:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    true
}

#[test]
fn diff_patches_the_named_files_and_nothing_else() {
    let rewrite = [
        POLICY,
        &["--rewrite", "docker.io=registry.my.com/dockerhub", "--diff"],
    ]
    .concat();
    for tool in [&["patch", "-p1", "--batch"][..], &["git", "apply"]] {
        if Command::new(tool[0]).arg("--version").output().is_err() {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{} is missing",
                tool[0]
            );
            continue;
        }
        let dir = tempfile::tempdir().unwrap();
        let names = tree(dir.path(), false);
        let (code, diff, err) = lint(dir.path(), &rewrite);
        assert_eq!(code, 0, "{err}");
        apply(dir.path(), &diff, tool);
        let fixed = MANIFEST.replace("nginx:1.25", "registry.my.com/dockerhub/library/nginx:1.25");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("victim.yaml")).unwrap(),
            MANIFEST,
            "{tool:?} patched victim.yaml"
        );
        for name in &names {
            assert_eq!(
                std::fs::read_to_string(dir.path().join(name)).unwrap(),
                fixed,
                "{tool:?}: {name:?}"
            );
        }
    }
    // A name that is not UTF-8 has no name in the report, nor a name with
    // a backslash (the walk reports it as a `/`, so `d\+++ b/victim.yaml`
    // would name `d/+++ b/victim.yaml`): left out of the diff, said so,
    // exit 2; the other files are still in it.
    let dir = tempfile::tempdir().unwrap();
    tree(dir.path(), true);
    let backslash = dir.path().join("hostile").join("d\\+++ b");
    std::fs::create_dir(&backslash).unwrap();
    std::fs::write(backslash.join("victim.yaml"), MANIFEST).unwrap();
    let (code, diff, err) = lint(dir.path(), &rewrite);
    assert_eq!(code, 2, "{err}");
    // The three names with 0xff, and the backslash.
    let refused = "not in the diff: the file's name is not UTF-8 or holds a backslash";
    assert_eq!(err.matches(refused).count(), 4, "{err}");
    assert!(!diff.contains("d/+++ b"), "{diff}");
    assert!(diff.contains("\n+++ \"b/hostile/\\na0.yaml\"\n"), "{diff}");
}

/// Names and images inside a manifest (an object's name, a container's, an
/// image that does not parse) reach the messages: they cannot add a line
/// to the text report or a command to GitHub's.
#[test]
fn names_inside_manifests_cannot_add_lines() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("hostile")).unwrap();
    let forged = "\\n::error file=victim.yaml::forged\\r\\nerror[forged]: x\\u001b[2J\\u2028 --> victim.yaml:1:1";
    let manifest = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: \"p{forged}\"\n  namespace: \"n{forged}\"\nspec:\n  containers:\n  - name: \"c{forged}\"\n    image: nginx:1.25\n  - name: d\n    image: \"nginx{forged}\"\n"
    );
    std::fs::write(dir.path().join("hostile/m.yaml"), manifest).unwrap();
    let (code, out, err) = lint(dir.path(), &[POLICY, &["--format", "text"]].concat());
    assert_eq!(code, 1, "{err}");
    for line in out.lines() {
        assert!(
            !line.starts_with("error[forged]")
                && !line.starts_with("::")
                && !line.starts_with(" --> victim")
                && !line.contains('\u{1b}')
                && !line.contains('\r')
                && !line.contains('\u{2028}'),
            "a line the report does not write: {line:?}"
        );
    }
    assert_eq!(out.matches("\nerror[").count() + 1, 2, "{out}");
    let (code, out, err) = lint(dir.path(), &[POLICY, &["--format", "github"]].concat());
    assert_eq!(code, 1, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines[..2]
            .iter()
            .all(|l| l.starts_with("::error file=hostile/m.yaml,")),
        "{out}"
    );
    assert!(lines[2].starts_with("lint: "), "{out}");
}
