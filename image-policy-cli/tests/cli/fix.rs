//! `image-policy lint --fix` and `--diff` on copies of the lint fixtures:
//! the files written are the library's fixed texts, a second run changes
//! nothing, `--diff` writes nothing and its output applies with GNU patch
//! (when the machine has it) to give the same files, permissions are kept,
//! and a read-only or non-UTF-8 file is not touched. The byte-by-byte
//! comparison with the report's spans is the library's test
//! (`image-policy-lint/tests/it/fix.rs`).

use super::lint::root;
use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const RULES: &[&str] = &[
    "--rewrite",
    "docker.io=registry.my.com/dockerhub",
    "--rewrite",
    "quay.io=registry.my.com/quay",
    "--rewrite",
    "gcr.io=registry.my.com/gcr",
    "--allow-registry",
    "registry.my.com",
];

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs the binary in `dir` with `args` and the rewrite rules.
fn lint_in(dir: &Path, args: &[&str], stdin: Option<&[u8]>) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_image-policy"))
        .arg("lint")
        .args(args)
        .args(RULES)
        .current_dir(dir)
        .env_remove("IMAGE_POLICY_FILE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let mut pipe = child.stdin.take().expect("stdin is piped");
    if let Some(input) = stdin {
        // A run that refuses before reading (`--fix -`) may exit before the
        // input is written: its exit status and message are what is tested.
        match pipe.write_all(input) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            written => written.expect("write stdin"),
        }
    }
    drop(pipe);
    let out = child.wait_with_output().expect("the binary finishes");
    Run {
        code: out.status.code().expect("exited"),
        stdout: String::from_utf8(out.stdout).expect("UTF-8"),
        stderr: String::from_utf8(out.stderr).expect("UTF-8"),
    }
}

/// Copies `testdata/lint/{tree,fix}` into a new temporary directory.
fn copy_fixtures() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    for sub in ["tree", "fix"] {
        copy_dir(
            &root().join("testdata/lint").join(sub),
            &dir.path().join(sub),
        );
    }
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

/// Every file under `dir`, by relative path, with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                let rel = path.strip_prefix(base).expect("under base").to_path_buf();
                out.insert(rel, std::fs::read(&path).expect("read"));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

#[test]
fn fix_writes_the_fixed_files_and_a_second_fix_changes_nothing() {
    let dir = copy_fixtures();
    let original = snapshot(dir.path());
    let before = lint_in(dir.path(), &["tree", "fix", "--format", "json"], None);

    let diffed = lint_in(dir.path(), &["tree", "fix", "--diff"], None);
    assert_eq!(snapshot(dir.path()), original, "--diff writes nothing");
    assert!(diffed.stdout.starts_with("--- a/"), "{}", diffed.stdout);

    let fixed = lint_in(
        dir.path(),
        &["tree", "fix", "--fix", "--format", "json"],
        None,
    );
    let after = snapshot(dir.path());
    let changed: Vec<&PathBuf> = after
        .iter()
        .filter(|(p, bytes)| original.get(*p) != Some(bytes))
        .map(|(p, _)| p)
        .collect();
    assert!(changed.len() >= 8, "{changed:?}\n{}", fixed.stderr);
    for path in &changed {
        assert!(
            fixed.stderr.contains(&format!("fixed {}", path.display())),
            "{}",
            fixed.stderr
        );
    }
    assert!(
        fixed
            .stderr
            .contains("not fixable: fix/compose.yaml:7:12: postgres:16")
    );
    // No temporary file is left behind.
    assert_eq!(after.len(), original.len());
    // The exit status is lint's: the same as before fixing (the images were
    // judged as rewritten already), here 2 for tree/broken.yaml.
    assert_eq!(fixed.code, before.code);
    assert_eq!(fixed.code, 2);

    // The report is of the fixed files: no image is rewritten any more but
    // the unfixable ones.
    let report: serde_json::Value = serde_json::from_str(&fixed.stdout).expect("JSON");
    let rewritten = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| !f["rewritten"].is_null())
        .count();
    assert_eq!(rewritten, fixed.stderr.matches("not fixable:").count());

    // Lint of the fixed files, without --fix, says the same.
    let relint = lint_in(dir.path(), &["tree", "fix", "--format", "json"], None);
    assert_eq!(relint.stdout, fixed.stdout);

    let again = lint_in(dir.path(), &["tree", "fix", "--fix"], None);
    assert_eq!(
        snapshot(dir.path()),
        after,
        "a second --fix changes nothing"
    );
    assert!(!again.stderr.contains("fixed "), "{}", again.stderr);
    let diff_again = lint_in(dir.path(), &["tree", "fix", "--diff"], None);
    assert_eq!(diff_again.stdout, "");

    // `patch -p1` applies --diff's output to the originals and gives the
    // files --fix wrote.
    if Command::new("patch").arg("--version").output().is_ok() {
        let copy = copy_fixtures();
        let mut child = Command::new("patch")
            .args(["-p1", "--quiet", "--binary"])
            .current_dir(copy.path())
            .stdin(Stdio::piped())
            .spawn()
            .expect("patch runs");
        child
            .stdin
            .take()
            .expect("piped")
            .write_all(diffed.stdout.as_bytes())
            .expect("write the diff");
        assert!(child.wait().expect("patch finishes").success());
        let patched = snapshot(copy.path());
        assert_eq!(
            patched.keys().collect::<Vec<_>>(),
            after.keys().collect::<Vec<_>>()
        );
        for (path, bytes) in &after {
            assert!(
                patched[path] == *bytes,
                "{} differs after patch",
                path.display()
            );
        }
    } else {
        eprintln!("NOTE: GNU patch not found: --diff was not applied");
    }
}

#[test]
fn fix_keeps_permissions_and_leaves_read_only_and_unreadable_files() {
    let dir = copy_fixtures();
    let compose = dir.path().join("fix/compose.yaml");
    let crlf = dir.path().join("fix/crlf-multi.yaml");
    std::fs::set_permissions(&compose, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    std::fs::set_permissions(&crlf, std::fs::Permissions::from_mode(0o444)).expect("chmod");
    let crlf_before = std::fs::read(&crlf).expect("read");
    // Not UTF-8, with an image a rule would rewrite.
    let latin1 = dir.path().join("fix/latin1.yaml");
    let mut bytes = b"apiVersion: v1\nkind: Pod\nmetadata: {name: caf\xe9}\nspec:\n  containers:\n  - {name: a, image: nginx}\n".to_vec();
    std::fs::write(&latin1, &bytes).expect("write");
    // Through a symbolic link: the target is fixed, the link kept.
    let link = dir.path().join("fix/link-compose.yaml");
    std::os::unix::fs::symlink("compose.yaml", &link).expect("symlink");

    let run = lint_in(dir.path(), &["fix", "--fix"], None);
    assert_eq!(
        run.code, 2,
        "a file not written and a file not read: {}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("crlf-multi.yaml: not written: the file is read-only"),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read(&crlf).expect("read"), crlf_before);
    assert_eq!(std::fs::read(&latin1).expect("read"), bytes);
    bytes.clear();

    let mode = std::fs::metadata(&compose)
        .expect("stat")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o640);
    let text = std::fs::read_to_string(&compose).expect("read");
    assert!(text.contains("image: \"registry.my.com/dockerhub/library/nginx:1.27\"   # quoted"));
    assert!(
        std::fs::symlink_metadata(&link)
            .expect("lstat")
            .file_type()
            .is_symlink()
    );
}

#[test]
fn standard_input_is_diffed_never_written() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let manifest = std::fs::read(root().join("testdata/lint/stdin-deployment.yaml")).expect("read");
    let refused = lint_in(dir.path(), &["--fix", "-"], Some(&manifest));
    assert_eq!(refused.code, 2);
    assert!(
        refused.stderr.contains("--fix cannot write standard input"),
        "{}",
        refused.stderr
    );

    let diff = lint_in(dir.path(), &["--diff", "-"], Some(&manifest));
    assert_eq!(diff.code, 0, "{}", diff.stderr);
    assert!(
        diff.stdout
            .contains("+  - image: registry.my.com/dockerhub/library/prometheus:2.6.1")
            || diff
                .stdout
                .contains("+      - image: registry.my.com/dockerhub/library/prometheus:2.6.1"),
        "{}",
        diff.stdout
    );
}

/// Without --fix, an image a rule rewrites is judged as rewritten, and each
/// format says so.
#[test]
fn lint_reports_rewritten_images_in_every_format() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let manifest = std::fs::read(root().join("testdata/lint/stdin-deployment.yaml")).expect("read");
    let text = lint_in(dir.path(), &["-"], Some(&manifest));
    assert_eq!(text.code, 0, "allowed once rewritten: {}", text.stdout);
    assert!(
        text.stdout.contains(
            "rewritten to registry.my.com/dockerhub/library/prometheus:2.6.1 by rewrite[0]"
        ),
        "{}",
        text.stdout
    );
    assert!(text.stdout.contains("fixable with --fix"));
    let json = lint_in(dir.path(), &["--format", "json", "-"], Some(&manifest));
    let v: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(
        v["findings"][0]["rewritten"],
        "registry.my.com/dockerhub/library/prometheus:2.6.1"
    );
    assert_eq!(v["findings"][0]["rewrite_rule"]["path"], "rewrite[0]");
    assert_eq!(v["findings"][0]["allowed"], true);
    for format in ["sarif", "github"] {
        let out = lint_in(dir.path(), &["--format", format, "-"], Some(&manifest));
        assert!(
            out.stdout.contains("fixable with --fix"),
            "{format}: {}",
            out.stdout
        );
    }
}

/// `lint --help` documents --fix and --diff and shows them in its examples,
/// and the --diff example runs as written (in the workspace root).
#[test]
fn help_shows_fix_and_diff() {
    let help = super::lint::image_policy(&["lint", "--help"], None);
    assert_eq!(help.code, 0);
    for needle in [
        "--fix",
        "--diff",
        "patch -p1",
        "lint deploy/ examples/lint/ --policy examples/rewrite.yaml --fix",
    ] {
        assert!(help.stdout.contains(needle), "{needle}: {}", help.stdout);
    }
    let example = "image-policy lint deploy/ --rewrite docker.io=registry.my.com/dockerhub --diff";
    assert!(help.stdout.contains(example));
    let args: Vec<&str> = example.split_whitespace().skip(1).collect();
    let run = super::lint::image_policy(&args, None);
    assert_ne!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stdout.is_empty() || run.stdout.starts_with("--- a/"),
        "{}",
        run.stdout
    );
}

/// A Pod manifest whose image the rules rewrite.
const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: a, image: nginx:1.27}\n";
const POD_FIXED: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: a, image: registry.my.com/dockerhub/library/nginx:1.27}\n";

/// The file's owner, group and mode (with the set-ID bits).
fn owner_and_mode(path: &Path) -> (u32, u32, u32) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).expect("stat");
    (m.uid(), m.gid(), m.mode() & 0o7777)
}

/// The file keeps its owner, group and mode (another user's file, fixed by
/// root as these tests run); a byte-order mark is kept, and the file is
/// fixed on the first run (not "changed since it was read" every time).
#[test]
fn fix_keeps_owner_group_mode_and_byte_order_mark() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let owned = dir.path().join("owned.yaml");
    std::fs::write(&owned, POD).expect("write");
    std::fs::set_permissions(&owned, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let chowned = std::os::unix::fs::chown(&owned, Some(4321), Some(4322)).is_ok();
    let bom = dir.path().join("bom.yaml");
    std::fs::write(&bom, format!("\u{feff}{POD}")).expect("write");
    let before = owner_and_mode(&owned);

    let diff = lint_in(dir.path(), &[".", "--diff"], None);
    assert_eq!(diff.code, 0, "{}", diff.stderr);
    assert_eq!(diff.stdout.matches("+++ b/").count(), 2, "{}", diff.stdout);

    let run = lint_in(dir.path(), &[".", "--fix"], None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(&owned).expect("read"), POD_FIXED);
    assert_eq!(owner_and_mode(&owned), before, "owner, group and mode kept");
    if chowned {
        assert_eq!((before.0, before.1), (4321, 4322));
    } else {
        eprintln!("NOTE: not root: the owner kept is this user");
    }
    assert_eq!(
        std::fs::read(&bom).expect("read"),
        format!("\u{feff}{POD_FIXED}").into_bytes(),
        "the byte-order mark is kept"
    );
    let again = lint_in(dir.path(), &[".", "--fix"], None);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(!again.stderr.contains("fixed"), "{}", again.stderr);
    // No temporary file is left behind.
    assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 2);
}

/// A file and a symbolic link to it, in one run: the file is fixed once
/// (the diff printed once), exit 0. A link to a file outside the paths
/// given is not written through.
#[test]
fn a_file_reached_by_two_names_is_fixed_once_and_links_out_are_not_followed() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let outside = tempfile::tempdir().expect("another directory");
    std::fs::write(dir.path().join("a.yaml"), POD).expect("write");
    std::os::unix::fs::symlink("a.yaml", dir.path().join("b.yaml")).expect("symlink");

    let diff = lint_in(dir.path(), &[".", "--diff"], None);
    assert_eq!(diff.code, 0, "{}", diff.stderr);
    assert_eq!(diff.stdout.matches("+++ b/").count(), 1, "{}", diff.stdout);
    assert!(
        diff.stderr.contains("b.yaml: the same file as a.yaml"),
        "{}",
        diff.stderr
    );

    let run = lint_in(dir.path(), &[".", "--fix"], None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("fixed a.yaml"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("b.yaml: the same file as a.yaml, fixed once"),
        "{}",
        run.stderr
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("a.yaml")).expect("read"),
        POD_FIXED
    );
    assert!(
        std::fs::symlink_metadata(dir.path().join("b.yaml"))
            .expect("lstat")
            .file_type()
            .is_symlink()
    );

    // The link given alone, its target in the directory given: written through.
    std::fs::write(dir.path().join("a.yaml"), POD).expect("write");
    let through = lint_in(dir.path(), &["b.yaml", ".", "--fix"], None);
    assert_eq!(through.code, 0, "{}", through.stderr);
    assert!(
        through.stderr.contains("fixed b.yaml (through the link"),
        "{}",
        through.stderr
    );

    // A link out of the paths given.
    let target = outside.path().join("elsewhere.yaml");
    std::fs::write(&target, POD).expect("write");
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).expect("mkdir");
    std::os::unix::fs::symlink(&target, sub.join("out.yaml")).expect("symlink");
    let out = lint_in(dir.path(), &["sub", "--fix"], None);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("outside the paths given"),
        "{}",
        out.stderr
    );
    assert_eq!(std::fs::read_to_string(&target).expect("read"), POD);
}

/// A file with hard links is not written (a rename would split it), and
/// the refusal names its other name.
#[test]
fn a_hard_linked_file_is_refused_naming_its_other_names() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(dir.path().join("a.yaml"), POD).expect("write");
    std::fs::hard_link(dir.path().join("a.yaml"), dir.path().join("b.yaml")).expect("link");
    let run = lint_in(dir.path(), &[".", "--fix"], None);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("a.yaml: not written: it has 2 names (hard links; the others: b.yaml)"),
        "{}",
        run.stderr
    );
    for name in ["a.yaml", "b.yaml"] {
        assert_eq!(
            std::fs::read_to_string(dir.path().join(name)).expect("read"),
            POD
        );
    }
    let one = lint_in(dir.path(), &["a.yaml", "--fix"], None);
    assert_eq!(one.code, 2);
    assert!(
        one.stderr.contains("the others: 1 outside the paths given"),
        "{}",
        one.stderr
    );
}

/// Every Dockerfile place is fixed; where a fix is not made (text mixed
/// with variables), `lint --fix` exits 2 naming the file and position, and
/// the report says "not fixable" of it only.
#[test]
fn a_fix_not_made_fails_the_run_naming_file_and_position() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let dockerfile = dir.path().join("Dockerfile");
    std::fs::write(
        &dockerfile,
        "FROM python:3-slim\nRUN --mount=type=cache,from=busybox,target=/b true\n",
    )
    .expect("write");
    let lint = lint_in(dir.path(), &["Dockerfile"], None);
    assert_eq!(lint.code, 1, "judged as written: {}", lint.stdout);
    assert_eq!(
        lint.stdout.matches("; fixable with --fix").count(),
        2,
        "{}",
        lint.stdout
    );
    let fixed = lint_in(dir.path(), &["Dockerfile", "--fix"], None);
    assert_eq!(fixed.code, 0, "{}\n{}", fixed.stdout, fixed.stderr);
    assert_eq!(
        std::fs::read_to_string(&dockerfile).expect("read"),
        "FROM registry.my.com/dockerhub/library/python:3-slim\nRUN --mount=type=cache,from=registry.my.com/dockerhub/library/busybox,target=/b true\n"
    );

    std::fs::write(&dockerfile, "ARG TAG=3\nFROM python:${TAG}\n").expect("write");
    let lint = lint_in(dir.path(), &["Dockerfile"], None);
    assert!(
        lint.stdout.contains("not fixable with --fix"),
        "{}",
        lint.stdout
    );
    let run = lint_in(dir.path(), &["Dockerfile", "--fix"], None);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("not fixable: Dockerfile:2:6: python:3"),
        "{}",
        run.stderr
    );
    let diff = lint_in(dir.path(), &["Dockerfile", "--diff"], None);
    assert_eq!(diff.code, 2, "{}", diff.stderr);
}

/// With --builds-use-registries-conf (build hosts that apply the exported
/// registries.conf), a Dockerfile is judged as rewritten, as a Kubernetes
/// object is; without it, as written.
#[test]
fn builds_using_registries_conf_are_judged_as_rewritten() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(dir.path().join("Dockerfile"), "FROM python:3-slim\n").expect("write");
    let as_written = lint_in(dir.path(), &["Dockerfile"], None);
    assert_eq!(as_written.code, 1, "{}", as_written.stdout);
    assert!(
        as_written.stdout.contains("judged as written"),
        "{}",
        as_written.stdout
    );
    let rewritten = lint_in(
        dir.path(),
        &["Dockerfile", "--builds-use-registries-conf"],
        None,
    );
    assert_eq!(rewritten.code, 0, "{}", rewritten.stdout);
}
