//! `image-policy lint` on the fixtures of `testdata/lint/`: golden files for
//! every output format, SARIF checked against the SARIF 2.1.0 schema, exit
//! codes, standard input, and every pod-bearing kind checked against the
//! image list of `testdata/k8s/objects/`.
//!
//! `UPDATE_GOLDEN=1 cargo test -p image-policy-cli --test cli lint::` rewrites the
//! golden files from the binary's output; review the diff before committing.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The workspace root: every run happens there, so reported paths are
/// `testdata/lint/...`, as in CI.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate is in the workspace")
        .to_path_buf()
}

/// What a run printed and returned.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the binary in the workspace root with `args`, `stdin` piped in.
pub fn image_policy(args: &[&str], stdin: Option<&[u8]>) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_image-policy"))
        .args(args)
        .current_dir(root())
        .env_remove("NO_COLOR")
        .env_remove("IMAGE_POLICY_FILE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let mut pipe = child.stdin.take().expect("stdin is piped");
    if let Some(input) = stdin {
        pipe.write_all(input).expect("write stdin");
    }
    drop(pipe);
    let out = child.wait_with_output().expect("the binary finishes");
    Run {
        code: out.status.code().expect("exited, not killed"),
        stdout: String::from_utf8(out.stdout).expect("UTF-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("UTF-8 stderr"),
    }
}

/// Compares `actual` with the golden file `name`, or rewrites it when
/// `UPDATE_GOLDEN` is set.
fn golden(name: &str, actual: &str) {
    let path = root().join("testdata/lint/golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run with UPDATE_GOLDEN=1", path.display()));
    assert!(
        expected == actual,
        "{name} differs from its golden file; if the change is intended, rerun with UPDATE_GOLDEN=1.\n--- expected\n{expected}\n--- actual\n{actual}"
    );
}

/// The policy of the golden runs: one allowed registry, no `latest`.
const POLICY: &[&str] = &["--allow-registry", "registry.my.com", "--reject-latest"];

fn lint_tree(format: &str) -> Run {
    let mut args = vec![
        "lint",
        "testdata/lint/tree",
        "--color",
        "never",
        "--format",
        format,
    ];
    args.extend_from_slice(POLICY);
    image_policy(&args, None)
}

/// The tree holds a broken file: every format reports it and exits 2.
const TREE_EXIT: i32 = 2;

#[test]
fn golden_text() {
    let run = lint_tree("text");
    assert_eq!(run.code, TREE_EXIT, "{}", run.stderr);
    golden("tree.txt", &run.stdout);
}

#[test]
fn golden_json() {
    let run = lint_tree("json");
    assert_eq!(run.code, TREE_EXIT, "{}", run.stderr);
    golden("tree.json", &run.stdout);
}

#[test]
fn golden_sarif() {
    let run = lint_tree("sarif");
    assert_eq!(run.code, TREE_EXIT, "{}", run.stderr);
    golden("tree.sarif", &run.stdout);
}

#[test]
fn golden_github() {
    let run = lint_tree("github");
    assert_eq!(run.code, TREE_EXIT, "{}", run.stderr);
    golden("tree.github.txt", &run.stdout);
}

#[test]
fn sarif_is_valid_sarif_2_1_0() {
    let schema_text = std::fs::read_to_string(root().join("testdata/lint/sarif-2.1.0-rtm.5.json"))
        .expect("the SARIF schema is committed");
    let mut schema: serde_json::Value = serde_json::from_str(&schema_text).expect("schema is JSON");
    // The published schema's pattern for `language` (of `run` and
    // `toolComponent`) has a stray `]`, which a validator that checks that
    // patterns are regexes rejects. Put the intended one in its place (we
    // never write `language`); everything else is the file as published.
    for def in ["run", "toolComponent"] {
        let language = &mut schema["definitions"][def]["properties"]["language"]["pattern"];
        assert_eq!(
            language, "^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$",
            "{def}"
        );
        *language = serde_json::json!("^[a-zA-Z]{2}(-[a-zA-Z]{2})?$");
    }
    let validator = jsonschema::draft4::new(&schema).expect("the schema compiles");
    let run = lint_tree("sarif");
    let log: serde_json::Value = serde_json::from_str(&run.stdout).expect("SARIF is JSON");
    let errors: Vec<String> = validator
        .iter_errors(&log)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    // With rewrite rules too (allowed images shown as rewritten, level none).
    let rewriting = image_policy(
        &[
            "lint",
            "testdata/lint/tree",
            "testdata/lint/fix",
            "--format",
            "sarif",
            "--allow-registry",
            "registry.my.com",
            "--rewrite",
            "docker.io=registry.my.com/dockerhub",
        ],
        None,
    );
    assert!(rewriting.stdout.contains("fixable with --fix"));
    let rewritten: serde_json::Value =
        serde_json::from_str(&rewriting.stdout).expect("SARIF is JSON");
    let errors: Vec<String> = validator
        .iter_errors(&rewritten)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    // The validator does reject what is not SARIF.
    let mut broken = log.clone();
    broken["runs"][0]["results"][0]["level"] = serde_json::json!("fatal");
    assert!(!validator.is_valid(&broken));
    // What GitHub code scanning needs besides the schema: a rule for every
    // result, and a location with a line.
    let run0 = &log["runs"][0];
    let rules: Vec<&str> = run0["tool"]["driver"]["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .map(|r| r["id"].as_str().expect("rule id"))
        .collect();
    let results = run0["results"].as_array().expect("results");
    assert!(!results.is_empty());
    for r in results {
        let id = r["ruleId"].as_str().expect("ruleId");
        let index = r["ruleIndex"].as_u64().expect("ruleIndex") as usize;
        assert_eq!(rules[index], id);
        let region = &r["locations"][0]["physicalLocation"]["region"];
        let uri = r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            .as_str()
            .expect("uri");
        assert!(uri.starts_with("testdata/lint/tree/"), "{uri}");
        if r["ruleId"] != "read-error" {
            assert!(region["startLine"].as_u64().is_some(), "{r}");
        }
    }
}

#[test]
fn the_issue_example_from_standard_input() {
    let input = std::fs::read(root().join("testdata/lint/stdin-deployment.yaml")).expect("fixture");
    let run = image_policy(
        &[
            "lint",
            "--allow-registry",
            "registry.my.com",
            "--color",
            "never",
            "-",
        ],
        Some(&input),
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    golden("stdin.txt", &run.stdout);
    // Line 21 is `      - image: prometheus:2.6.1`; the image starts at column 16.
    assert!(run.stdout.contains("--> <stdin>:21:16"), "{}", run.stdout);
}

#[test]
fn exit_codes() {
    let job = "testdata/lint/tree/kubectl/job.yaml";
    let deployment = "testdata/lint/tree/kubectl/deployment.yaml";
    let allow = ["--allow-registry", "registry.my.com"];
    let code = |args: &[&str]| {
        let mut all = vec!["lint"];
        all.extend_from_slice(args);
        image_policy(&all, None).code
    };
    assert_eq!(code(&[&[job][..], &allow].concat()), 0, "clean");
    assert_eq!(code(&[&[deployment][..], &allow].concat()), 1, "violation");
    assert_eq!(
        code(&[&[deployment, "--warn-only"][..], &allow].concat()),
        0,
        "--warn-only"
    );
    assert_eq!(
        code(&[&[deployment, "--mode", "warn"][..], &allow].concat()),
        0,
        "a warn-mode policy warns"
    );
    assert_eq!(
        code(&[&["testdata/lint/no-such-file.yaml"][..], &allow].concat()),
        2,
        "missing file"
    );
    assert_eq!(
        code(&[&["testdata/lint/tree/broken.yaml"][..], &allow].concat()),
        2,
        "parse error"
    );
    assert_eq!(code(&["--no-such-flag", job]), 2, "usage");
    assert_eq!(code(&[]), 2, "no path");
    assert_eq!(
        code(&[&["testdata/lint/tree/docker/worker.Dockerfile"][..], &allow].concat()),
        1,
        "unresolved variable"
    );
    assert_eq!(
        code(
            &[
                &[
                    "testdata/lint/tree/docker/worker.Dockerfile",
                    "--var",
                    "BASE=registry.my.com/base:1"
                ][..],
                &allow
            ]
            .concat()
        ),
        0,
        "--var resolves it"
    );
}

#[test]
fn colour_only_when_asked_or_on_a_terminal() {
    let args = [
        "lint",
        "testdata/lint/tree/kubectl/deployment.yaml",
        "--allow-registry",
        "registry.my.com",
    ];
    let piped = image_policy(&args, None);
    assert!(!piped.stdout.contains('\x1b'), "no colour into a pipe");
    let forced = image_policy(&[&args[..], &["--color", "always"]].concat(), None);
    assert!(
        forced
            .stdout
            .contains("\x1b[1;31merror[registry-not-allowed]"),
        "{}",
        forced.stdout
    );
}

/// Every pod-bearing kind (the core's fixtures, made with kubectl): the
/// images the linter reports are the ones recorded in `images.json`.
#[test]
fn every_pod_bearing_kind_matches_the_recorded_images() {
    let dir = "testdata/k8s/objects";
    let run = image_policy(
        &[
            "lint",
            dir,
            "--format",
            "json",
            "--allow-registry",
            "registry.my.com",
        ],
        None,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    let recorded: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join(dir).join("images.json")).expect("images.json"),
    )
    .expect("images.json is JSON");
    let mut expected: Vec<(String, String, String, String)> = Vec::new();
    for (file, images) in recorded.as_object().expect("a map") {
        for i in images.as_array().expect("a list") {
            expected.push((
                format!("{dir}/{file}"),
                i["path"].as_str().expect("path").to_owned(),
                i["container"].as_str().expect("container").to_owned(),
                i["image"].as_str().expect("image").to_owned(),
            ));
        }
    }
    let mut found: Vec<(String, String, String, String)> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["file"].as_str().is_some_and(|f| f.ends_with(".json")))
        .map(|f| {
            (
                f["file"].as_str().expect("file").to_owned(),
                f["path"].as_str().expect("path").to_owned(),
                f["container"].as_str().expect("container").to_owned(),
                f["image"].as_str().expect("image").to_owned(),
            )
        })
        .collect();
    expected.sort();
    found.sort();
    assert_eq!(found, expected);
    let kinds: std::collections::BTreeSet<&str> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["object"]["kind"].as_str())
        .collect();
    assert_eq!(kinds.len(), 9, "{kinds:?}");
}

#[test]
fn runs_are_deterministic() {
    assert_eq!(lint_tree("json").stdout, lint_tree("json").stdout);
}

#[test]
fn policy_file_from_the_environment() {
    let out = Command::new(env!("CARGO_BIN_EXE_image-policy"))
        .args([
            "lint",
            "testdata/lint/stdin-deployment.yaml",
            "--format",
            "json",
        ])
        .current_dir(root())
        .env("IMAGE_POLICY_FILE", "examples/seed.yaml")
        .output()
        .expect("the binary runs");
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["findings"][0]["code"], "registry-not-allowed");
    assert_eq!(report["findings"][0]["line"], 21);
    assert_eq!(report["findings"][0]["column"], 16);
}

/// A tree a careless or hostile pull request could hold: a symbolic link
/// loop, a file that is not UTF-8, a YAML alias bomb. Each is reported, none
/// stops the run or hangs it.
#[cfg(unix)]
#[test]
fn hostile_trees_are_reported_not_fatal() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    std::fs::create_dir(d.join("sub")).expect("mkdir");
    std::os::unix::fs::symlink("..", d.join("sub/loop")).expect("symlink");
    std::fs::write(d.join("sub/latin1.yaml"), b"kind: Pod\nname: caf\xe9\n").expect("write");
    let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 0..12 {
        let prev = if i == 0 {
            "a".to_owned()
        } else {
            format!("b{}", i - 1)
        };
        bomb.push_str(&format!(
            "b{i}: &b{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
        ));
    }
    std::fs::write(d.join("sub/bomb.yaml"), bomb).expect("write");
    std::fs::write(
        d.join("ok.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: c, image: registry.my.com/a:1}]\n",
    )
    .expect("write");
    let path = d.to_str().expect("UTF-8 temp path");
    let run = image_policy(
        &[
            "lint",
            path,
            "--format",
            "json",
            "--allow-registry",
            "registry.my.com",
        ],
        None,
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("symbolic link to a directory, not followed"),
        "{}",
        run.stderr
    );
    let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    let problems: Vec<(String, String)> = report["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .map(|p| {
            (
                p["file"]
                    .as_str()
                    .expect("file")
                    .rsplit('/')
                    .next()
                    .expect("name")
                    .to_owned(),
                p["code"].as_str().expect("code").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        problems,
        vec![
            ("bomb.yaml".to_owned(), "parse-error".to_owned()),
            ("latin1.yaml".to_owned(), "read-error".to_owned()),
        ]
    );
    assert_eq!(report["summary"]["images"], 1);
}

/// The issue's first example: the repository's own manifests and example
/// policies (nothing to lint: allowed with `--allow-empty`), with no policy
/// given. Every file must read and every image must
/// parse, except the one placeholder the deploy docs tell the user to replace
/// (`registry.my.com/image-policy@sha256:REPLACE-ME`, unparseable on purpose
/// so that an unreplaced copy never lints clean); the run says that no policy
/// was given.
#[test]
fn without_a_policy_lint_checks_that_everything_reads_and_parses() {
    // The example policies are not manifests: nothing to lint, which is an
    // error unless allowed.
    let policies = ["examples/seed.yaml", "examples/rewrite.yaml"];
    let run = image_policy(&[&["lint"][..], &policies].concat(), None);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    for policy in policies {
        assert!(
            run.stderr.contains(&format!("nothing to lint in {policy}")),
            "{}",
            run.stderr
        );
    }
    let run = image_policy(&[&["lint", "--allow-empty"][..], &policies].concat(), None);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("no policy given"), "{}", run.stderr);
    assert!(run.stdout.contains("0 violations"), "{}", run.stdout);
    let run = image_policy(&["lint", "--format", "json", "deploy/"], None);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON report");
    assert_eq!(
        report["problems"].as_array().map(Vec::len),
        Some(0),
        "{}",
        run.stdout
    );
    let violations: Vec<&str> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["violation"] == true)
        .map(|f| f["image"].as_str().expect("image"))
        .collect();
    assert_eq!(
        violations,
        ["registry.my.com/image-policy@sha256:REPLACE-ME"]
    );
    // An image that does not parse is still a violation without a policy.
    let manifest = b"apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    image: Registry.my.com/App\n";
    let run = image_policy(&["lint", "-"], Some(manifest));
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("repository name must be lowercase"),
        "{}",
        run.stdout
    );
}

/// The findings of a `lint --format json` run as (image, line, column, holder kind).
fn json_findings(run: &Run) -> Vec<(String, u64, u64, String)> {
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON output");
    json["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["image"].as_str().unwrap_or_default().to_owned(),
                f["line"].as_u64().unwrap_or_default(),
                f["column"].as_u64().unwrap_or_default(),
                f["object"]["kind"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Every image BuildKit pulls for `testdata/lint/buildkit/Dockerfile`: the
/// `# syntax=` frontend (after a shebang line), `RUN --mount` `from=` (stage
/// names excluded), `COPY --link --from`, `ADD --from`, `ONBUILD` triggers;
/// each with its position, and each denied by a policy that allows only
/// registry.my.com.
#[test]
fn dockerfile_images_buildkit_pulls() {
    let run = image_policy(
        &[
            "lint",
            "--allow-registry",
            "registry.my.com",
            "--format",
            "json",
            "testdata/lint/buildkit/Dockerfile",
        ],
        None,
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let want: Vec<(String, u64, u64, String)> = [
        ("evil.example/frontend:1", 2, 12, "syntax"),
        ("registry.my.com/base:1", 6, 6, "stage"),
        ("evil.example/cache:3", 8, 49, "stage"),
        ("evil.example/bind:4", 10, 38, "stage"),
        ("registry.my.com/base:1", 13, 6, "stage"),
        ("evil.example/link:5", 14, 20, "stage"),
        ("evil.example/add:6", 17, 22, "stage"),
        ("evil.example/onbuild-copy:7", 18, 21, "onbuild"),
        ("evil.example/onbuild-mount:8", 19, 26, "onbuild"),
    ]
    .into_iter()
    .map(|(i, l, c, k)| (i.to_owned(), l, c, k.to_owned()))
    .collect();
    assert_eq!(json_findings(&run), want);

    // A `# syntax=` line after an instruction is a comment, not a directive.
    let late = image_policy(
        &[
            "lint",
            "--allow-registry",
            "registry.my.com",
            "testdata/lint/buildkit/Dockerfile.late-directive",
        ],
        None,
    );
    assert_eq!(late.code, 0, "{}{}", late.stdout, late.stderr);
    // ONBUILD FROM is refused by BuildKit: a parse error, exit 2.
    let onbuild_from = image_policy(
        &[
            "lint",
            "--allow-registry",
            "registry.my.com",
            "testdata/lint/buildkit/Dockerfile.onbuild-from",
        ],
        None,
    );
    assert_eq!(onbuild_from.code, 2, "{}", onbuild_from.stdout);
    assert!(
        onbuild_from
            .stdout
            .contains("FROM isn't allowed as an ONBUILD trigger"),
        "{}",
        onbuild_from.stdout
    );
}

/// `containers: []` is rejected by the API server: reported like a missing
/// list, not passed.
#[test]
fn an_empty_containers_list_is_reported() {
    let run = image_policy(
        &[
            "lint",
            "--allow-registry",
            "registry.my.com",
            "--color",
            "never",
            "testdata/lint/cases/empty-containers.yaml",
        ],
        None,
    );
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout.contains(
            "error[invalid-object]: Deployment shop/empty: spec.template.spec.containers is empty"
        ),
        "{}",
        run.stdout
    );
}

/// Whether `kubectl` runs; under CI=true a missing kubectl is a failure
/// (`.ci/install-kubectl` installs it).
fn have_kubectl() -> bool {
    let found = Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "kubectl is required in CI (.ci/install-kubectl)"
        );
        eprintln!("NOTE: kubectl not found; the kustomize comparison was not run");
    }
    found
}

/// The `image:` values of `kubectl kustomize DIR`: what kustomize writes.
fn kustomize_images(dir: &str) -> Vec<String> {
    let out = Command::new("kubectl")
        .args(["kustomize", dir])
        .current_dir(root())
        .output()
        .expect("kubectl runs");
    assert!(
        out.status.success(),
        "kubectl kustomize {dir}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("UTF-8")
        .lines()
        .filter_map(|l| {
            l.trim_start()
                .trim_start_matches("- ")
                .strip_prefix("image: ")
        })
        .map(|i| i.trim_matches('"').to_owned())
        .collect()
}

/// Each `images:` override of `testdata/lint/kustomize/` is judged as the
/// image kustomize writes, checked against `kubectl kustomize` itself: every
/// image the linter reports for a kustomization is in kustomize's output (or,
/// for an override that keeps the resource's tag, is its name), and every
/// image kustomize rewrote was reported.
#[test]
fn kustomization_overrides_are_judged_as_kustomize_writes_them() {
    let run = image_policy(
        &[
            "lint",
            "--allow-registry",
            "registry.my.com",
            "--reject-latest",
            "--format",
            "json",
            "testdata/lint/kustomize",
        ],
        None,
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    let findings = json["findings"].as_array().expect("findings");
    let reported = |file: &str| -> Vec<(String, bool)> {
        findings
            .iter()
            .filter(|f| f["file"] == file)
            .map(|f| {
                (
                    f["image"].as_str().unwrap_or_default().to_owned(),
                    f["allowed"].as_bool().unwrap_or_default(),
                )
            })
            .collect()
    };
    let base = reported("testdata/lint/kustomize/base/kustomization.yaml");
    let overlay = reported("testdata/lint/kustomize/overlay/Kustomization");
    assert_eq!(
        base,
        [
            ("evil.example/web", false),
            ("registry.my.com/mirror/prometheus:v2.53.0", true),
            (
                "busybox@sha256:2f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                false
            ),
            ("quay.io/app/api:4", false),
        ]
        .map(|(i, a)| (i.to_owned(), a))
    );
    // The overlay turns the tag into latest: denied.
    assert_eq!(
        overlay,
        [("registry.my.com/shop/web:latest".to_owned(), false)]
    );
    if !have_kubectl() {
        return;
    }
    // The images each kustomization starts from: the Deployment's for the
    // base, the base's output for the overlay.
    let mut resources: Vec<String> = reported("testdata/lint/kustomize/base/deployment.yaml")
        .into_iter()
        .map(|(i, _)| i)
        .collect();
    for (dir, ours) in [
        ("testdata/lint/kustomize/base", &base),
        ("testdata/lint/kustomize/overlay", &overlay),
    ] {
        let written = kustomize_images(dir);
        for (image, _) in ours {
            assert!(
                written.iter().any(|w| w == image
                    || w.strip_prefix(image.as_str())
                        .is_some_and(|rest| rest.starts_with([':', '@']))),
                "{dir}: we judged {image}, kustomize wrote {written:?}"
            );
        }
        for w in written.iter().filter(|w| !resources.contains(w)) {
            assert!(
                ours.iter().any(|(image, _)| w == image
                    || w.strip_prefix(image.as_str())
                        .is_some_and(|rest| rest.starts_with([':', '@']))),
                "{dir}: kustomize wrote {w}, which was not judged (we judged {ours:?})"
            );
        }
        resources = written;
    }
}

/// Files are read by what they hold: a Kubernetes manifest named
/// `docker-compose.yml` or `app.compose.yaml` is a manifest, a compose file
/// named like a manifest is compose, a Helm values file with a `services:`
/// list is still skipped.
#[test]
fn yaml_files_are_read_by_content_not_name() {
    let run = image_policy(
        &[
            "lint",
            "--allow-registry",
            "registry.my.com",
            "--format",
            "json",
            "testdata/lint/content",
        ],
        None,
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    let found: Vec<(String, String, String)> = json["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["file"].as_str().unwrap_or_default().to_owned(),
                f["image"].as_str().unwrap_or_default().to_owned(),
                f["object"]["kind"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let want: Vec<(String, String, String)> = [
        ("app.compose.yaml", "evil.example/api:2", "Deployment"),
        (
            "compose-in-a-manifest-name.yaml",
            "evil.example/compose-web:1",
            "service",
        ),
        ("docker-compose.yml", "evil.example/payload:1", "Deployment"),
    ]
    .into_iter()
    .map(|(f, i, k)| {
        (
            format!("testdata/lint/content/{f}"),
            i.to_owned(),
            k.to_owned(),
        )
    })
    .collect();
    assert_eq!(found, want);
    assert_eq!(json["summary"]["skipped"], 1, "{}", run.stdout);
}

/// The walk against kubectl's own: `kubectl label --local -R -f DIR -o name`
/// walks a directory as `kubectl apply -R -f DIR` does (cli-runtime's
/// `ExpandPathsToFileVisitors`), offline. Every Deployment kubectl reads is
/// judged by the linter, except under `.git`, which the linter does not enter
/// and says so; everything the linter does not read is listed with
/// `--verbose` and counted without it.
#[test]
fn directories_are_walked_as_kubectl_apply_r_walks_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    if !have_kubectl() {
        return;
    }
    let files = [
        ("sub/a.yaml", "a"),
        (".hidden-dir/b.yaml", "b"),
        (".c.yaml", "c"),
        (".git/d.yaml", "d"),
        ("E.YAML", "e"),
        ("f.json", "f"),
        ("real/g.yml", "g"),
        ("deep/er/h.yaml", "h"),
    ];
    for (path, name) in files {
        let path = d.join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        let format = if path.extension().is_some_and(|e| e == "json") {
            "json"
        } else {
            "yaml"
        };
        let image = format!("--image=registry.my.com/{name}:1");
        let out = Command::new("kubectl")
            .args([
                "create",
                "deployment",
                name,
                &image,
                "--dry-run=client",
                "-o",
                format,
            ])
            .output()
            .expect("kubectl runs");
        assert!(out.status.success());
        std::fs::write(&path, out.stdout).expect("write");
    }
    std::os::unix::fs::symlink("real", d.join("linkdir")).expect("symlink");
    std::os::unix::fs::symlink("real/g.yml", d.join("linkfile.yaml")).expect("symlink");
    std::fs::write(d.join("README.md"), "not a manifest\n").expect("write");
    let path = d.to_str().expect("UTF-8 temp path");

    let kubectl = Command::new("kubectl")
        .args([
            "label",
            "--local",
            "-R",
            "-f",
            path,
            "checked=yes",
            "-o",
            "name",
        ])
        .output()
        .expect("kubectl runs");
    assert!(
        kubectl.status.success(),
        "{}",
        String::from_utf8_lossy(&kubectl.stderr)
    );
    let mut read_by_kubectl: Vec<String> = String::from_utf8(kubectl.stdout)
        .expect("UTF-8")
        .lines()
        .map(|l| l.trim_start_matches("deployment.apps/").to_owned())
        .collect();
    read_by_kubectl.sort();
    read_by_kubectl.dedup();
    // kubectl reads hidden files and directories and .git, follows the link
    // to a file, not the link to a directory, and skips E.YAML.
    assert_eq!(read_by_kubectl, ["a", "b", "c", "d", "f", "g", "h"]);

    let run = image_policy(
        &[
            "lint",
            path,
            "--allow-registry",
            "registry.my.com",
            "--format",
            "json",
            "--verbose",
        ],
        None,
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    let mut read_by_us: Vec<String> = json["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["object"]["name"].as_str().map(str::to_owned))
        .collect();
    read_by_us.sort();
    read_by_us.dedup();
    for name in &read_by_kubectl {
        if name == "d" {
            assert!(
                run.stderr
                    .contains(".git: version-control directory, not entered"),
                "{}",
                run.stderr
            );
        } else {
            assert!(
                read_by_us.contains(name),
                "kubectl reads {name}, the linter did not: {read_by_us:?}"
            );
        }
    }
    // The linter reads more (E.YAML), never less, and names what it did not read.
    assert!(read_by_us.contains(&"e".to_owned()));
    for line in [
        "README.md: not .yaml",
        "linkdir: symbolic link to a directory, not followed",
    ] {
        assert!(
            run.stderr.contains(line),
            "missing {line:?} in {}",
            run.stderr
        );
    }
    // Without --verbose: the link is still named, the rest counted.
    let quiet = image_policy(&["lint", path, "--allow-registry", "registry.my.com"], None);
    assert!(
        quiet.stderr.contains("linkdir: symbolic link"),
        "{}",
        quiet.stderr
    );
    assert!(
        quiet.stderr.contains("not read: 2 entries"),
        "{}",
        quiet.stderr
    );
    assert!(!quiet.stderr.contains("README.md"), "{}", quiet.stderr);
}

/// Runs `lint` on `paths` (in a temporary directory's terms) with one allowed
/// registry and Docker Hub rewritten to it, plus `extra` flags.
fn lint_in(dir: &Path, paths: &[&str], extra: &[&str]) -> Run {
    let paths: Vec<String> = paths
        .iter()
        .map(|p| dir.join(p).to_str().expect("UTF-8 temp path").to_owned())
        .collect();
    let mut args: Vec<&str> = vec!["lint", "--color", "never"];
    args.extend(paths.iter().map(String::as_str));
    args.extend_from_slice(&[
        "--allow-registry",
        "registry.my.com",
        "--rewrite",
        "docker.io=registry.my.com/dockerhub",
    ]);
    args.extend_from_slice(extra);
    image_policy(&args, None)
}

const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.25\n";

/// Issue 19, item 4: only the nine pod-bearing kinds are read as pod specs.
/// Every other kind is read as it is, whatever its `spec` (generated: kinds
/// times shapes that are no pod spec), and a valid file that mixes them is
/// read whole, so `--fix` fixes its workloads; a pod-bearing kind of such a
/// shape is an error naming the kind and where its pod spec is.
#[test]
fn only_pod_bearing_kinds_are_read_as_pod_specs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let shapes = [
        "volumes: ['*']",
        "containers: {}",
        "initContainers: 3",
        "template: [1]",
        "template: {spec: {containers: 5}}",
        "jobTemplate: x",
    ];
    let others = [
        ("policy/v1beta1", "PodSecurityPolicy"),
        ("example.com/v1", "Widget"),
        ("example.com/v1", "Deployment"),
        ("networking.k8s.io/v1", "NetworkPolicy"),
    ];
    for (i, (api_version, kind)) in others.iter().enumerate() {
        for (j, shape) in shapes.iter().enumerate() {
            let name = format!("other-{i}-{j}.yaml");
            let object = format!(
                "apiVersion: {api_version}\nkind: {kind}\nmetadata: {{name: x}}\nspec: {{{shape}}}\n"
            );
            std::fs::write(d.join(&name), format!("{DEPLOYMENT}---\n{object}")).expect("write");
            let run = lint_in(d, &[&name], &["--fix"]);
            assert_eq!(run.code, 0, "{kind} {shape}: {}{}", run.stdout, run.stderr);
            let fixed = std::fs::read_to_string(d.join(&name)).expect("read");
            assert!(
                fixed.contains("image: registry.my.com/dockerhub/library/nginx:1.25"),
                "{kind} {shape}: not fixed:\n{fixed}"
            );
            assert!(fixed.ends_with(&object), "{kind} {shape}: {fixed}");
        }
    }
    // The nine pod-bearing kinds, with a pod spec of the wrong shape.
    let kinds = [
        ("v1", "Pod", "spec"),
        ("v1", "PodTemplate", "template.spec"),
        ("v1", "ReplicationController", "spec.template.spec"),
        ("apps/v1", "ReplicaSet", "spec.template.spec"),
        ("apps/v1", "Deployment", "spec.template.spec"),
        ("apps/v1", "StatefulSet", "spec.template.spec"),
        ("apps/v1", "DaemonSet", "spec.template.spec"),
        ("batch/v1", "Job", "spec.template.spec"),
        ("batch/v1", "CronJob", "spec.jobTemplate.spec.template.spec"),
    ];
    for (api_version, kind, path) in kinds {
        let mut pod_spec = "{containers: {web: nginx}}".to_owned();
        for key in path.rsplit('.').skip(1) {
            pod_spec = format!("{{{key}: {pod_spec}}}");
        }
        let (top, rest) = path.split_once('.').unwrap_or((path, ""));
        let body = if rest.is_empty() {
            format!("{top}: {{containers: {{web: nginx}}}}")
        } else {
            format!("{top}: {pod_spec}")
        };
        let name = format!("bad-{kind}.yaml");
        std::fs::write(
            d.join(&name),
            format!("apiVersion: {api_version}\nkind: {kind}\nmetadata: {{name: x}}\n{body}\n"),
        )
        .expect("write");
        let run = lint_in(d, &[&name], &["--format", "json"]);
        assert_eq!(run.code, 1, "{kind}: {}{}", run.stdout, run.stderr);
        let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
        let problem = &report["problems"][0];
        assert_eq!(problem["code"], "invalid-object", "{kind}: {report}");
        let message = problem["message"].as_str().expect("a message");
        assert!(
            message.starts_with(&format!("{kind} x:")) && message.contains(path),
            "{kind}: {message}"
        );
    }
}

/// Issue 19, item 6: a file kubectl cannot read is an error (exit 2) even
/// when every image it names is allowed, and `--fix` leaves it alone; a
/// Helm chart is not read as manifests, and says how to lint it.
#[test]
fn files_kubectl_cannot_read_are_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let allowed = DEPLOYMENT.replace("nginx:1.25", "registry.my.com/web:1");
    for (i, template) in [
        "  replicas: {{replicas}}\n",
        "  replicas: {{ .Values.replicas }}\n",
        "  selector: {matchLabels: {{ toYaml .Values.labels }}}\n",
        "  x: {~: 1}\n",
        "  x: {[a]: 1}\n",
    ]
    .iter()
    .enumerate()
    {
        let name = format!("template-{i}.yaml");
        let text = allowed.replace(
            "spec:\n  template:",
            &format!("spec:\n{template}  template:"),
        );
        std::fs::write(d.join(&name), &text).expect("write");
        let run = lint_in(d, &[&name], &["--fix"]);
        assert_eq!(run.code, 2, "{template}: {}{}", run.stdout, run.stderr);
        assert!(
            run.stdout.contains("kubectl cannot convert it to JSON"),
            "{template}: {}",
            run.stdout
        );
        assert_eq!(std::fs::read_to_string(d.join(&name)).expect("read"), text);
    }
    // A document that is not an object, after one that is.
    std::fs::write(d.join("values.yaml"), format!("{allowed}---\nimage: x\n")).expect("write");
    let run = lint_in(d, &["values.yaml"], &[]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    // A Helm chart: its Chart.yaml is the error, its templates are not read.
    let chart = d.join("chart");
    std::fs::create_dir_all(chart.join("templates")).expect("mkdir");
    std::fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: web\nversion: 0.1.0\n",
    )
    .expect("write");
    std::fs::write(chart.join("values.yaml"), "image: {repository: nginx}\n").expect("write");
    std::fs::write(
        chart.join("templates/deployment.yaml"),
        allowed.replace("registry.my.com/web:1", "{{ .Values.image.repository }}"),
    )
    .expect("write");
    let run = lint_in(d, &["chart"], &["--format", "json"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    let problems = report["problems"].as_array().expect("problems");
    assert_eq!(problems.len(), 1, "{report}");
    assert!(
        problems[0]["file"]
            .as_str()
            .expect("file")
            .ends_with("chart/Chart.yaml")
    );
    assert!(
        problems[0]["message"]
            .as_str()
            .expect("message")
            .contains("| image-policy lint -"),
        "{report}"
    );
    assert!(
        run.stderr.contains("1 Helm chart template"),
        "{}",
        run.stderr
    );
    // A template named on its own is not read either.
    let run = lint_in(d, &["chart/templates/deployment.yaml"], &[]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("Helm chart"), "{}", run.stdout);
}

/// Issue 19, item 7: a path with nothing to lint is an error naming it,
/// unless `--allow-empty` is given.
#[test]
fn nothing_to_lint_is_an_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    std::fs::create_dir(d.join("empty")).expect("mkdir");
    std::fs::create_dir(d.join("docs")).expect("mkdir");
    std::fs::write(d.join("docs/README.md"), "# docs\n").expect("write");
    std::fs::create_dir(d.join("values")).expect("mkdir");
    std::fs::write(d.join("values/values.yaml"), "replicas: 2\n").expect("write");
    std::fs::create_dir(d.join("deploy")).expect("mkdir");
    std::fs::write(
        d.join("deploy/web.yaml"),
        DEPLOYMENT.replace("nginx:1.25", "registry.my.com/web:1"),
    )
    .expect("write");
    for empty in ["empty", "docs", "values"] {
        let run = lint_in(d, &[empty], &[]);
        assert_eq!(run.code, 2, "{empty}: {}{}", run.stdout, run.stderr);
        let named = d.join(empty);
        assert!(
            run.stderr.contains(&format!(
                "nothing to lint in {}",
                named.to_str().expect("UTF-8")
            )),
            "{empty}: {}",
            run.stderr
        );
        let run = lint_in(d, &[empty], &["--allow-empty"]);
        assert_eq!(run.code, 0, "{empty}: {}{}", run.stdout, run.stderr);
        // With a path that has something: still an error, after the report.
        let run = lint_in(d, &["deploy", empty], &[]);
        assert_eq!(run.code, 2, "{empty}: {}{}", run.stdout, run.stderr);
        assert!(run.stdout.contains("1 image"), "{}", run.stdout);
    }
    let run = lint_in(d, &["deploy"], &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    // Nothing on standard input.
    let run = image_policy(
        &["lint", "-", "--allow-registry", "registry.my.com"],
        Some(b""),
    );
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("nothing to lint in <stdin>"),
        "{}",
        run.stderr
    );
}

/// Issue 21, item 6: an image in pin scope without a digest is a violation
/// named by its code and pin rule in every format, and called fixable with
/// --fix (which pins it: `pin.rs`); a pinned one is not reported.
#[test]
fn unpinned_images_in_pin_scope_are_reported_with_their_rule() {
    let manifest = b"apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n    - {name: a, image: registry.my.com/prod/api:1.4}\n    - {name: b, image: 'registry.my.com/prod/api:1.4@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef'}\n    - {name: c, image: registry.my.com/dev/api:1.4}\n";
    let args = |format: &'static str| {
        [
            "lint",
            "--policy",
            "examples/pin.yaml",
            "--color",
            "never",
            "--format",
            format,
            "-",
        ]
    };
    let text = image_policy(&args("text"), Some(manifest));
    assert_eq!(text.code, 1, "{}", text.stderr);
    assert!(text.stdout.contains("pin-required"), "{}", text.stdout);
    assert!(
        text.stdout
            .contains("pin[0] (pin registry.my.com/prod/**) at examples/pin.yaml:15:17"),
        "{}",
        text.stdout
    );
    let fixable = "fixable with --fix (lint --fix pins it to the digest its registry serves)";
    assert!(text.stdout.contains(fixable), "{}", text.stdout);
    assert!(!text.stdout.contains("not fixable"), "{}", text.stdout);

    let json = image_policy(&args("json"), Some(manifest));
    assert_eq!(json.code, 1, "{}", json.stderr);
    let report: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    let findings = report["findings"].as_array().expect("findings");
    let codes: Vec<&str> = findings.iter().filter_map(|f| f["code"].as_str()).collect();
    assert_eq!(codes, ["pin-required", "allowed", "allowed"], "{report}");
    let unpinned = &findings[0];
    assert_eq!(
        unpinned["image"], "registry.my.com/prod/api:1.4",
        "{report}"
    );
    assert_eq!(
        (&unpinned["line"], &unpinned["column"]),
        (&6.into(), &24.into()),
        "{report}"
    );
    assert_eq!(unpinned["rule"]["path"], "pin[0]", "{report}");
    assert_eq!(unpinned["violation"], true, "{report}");
    assert!(unpinned["rewritten"].is_null(), "{report}");
    assert!(unpinned["unfixable"].is_null(), "{report}");

    let sarif = image_policy(&args("sarif"), Some(manifest));
    assert_eq!(sarif.code, 1, "{}", sarif.stderr);
    let log: serde_json::Value = serde_json::from_str(&sarif.stdout).expect("SARIF is JSON");
    let results = log["runs"][0]["results"].as_array().expect("results");
    assert_eq!(results.len(), 1, "{log}");
    assert_eq!(results[0]["ruleId"], "pin-required", "{log}");
    assert!(
        results[0]["message"]["text"]
            .as_str()
            .is_some_and(|m| m.contains("pin[0]") && m.contains(fixable)),
        "{log}"
    );

    let github = image_policy(&args("github"), Some(manifest));
    assert_eq!(github.code, 1, "{}", github.stderr);
    assert!(
        github.stdout.lines().any(|l| l.starts_with("::error ")
            && l.contains("title=image-policy pin-required::")
            && l.contains(fixable)),
        "{}",
        github.stdout
    );
}

/// The errors of `log` against the SARIF 2.1.0 schema (with the published
/// schema's `language` pattern fixed, as `sarif_is_valid_sarif_2_1_0` does).
pub fn sarif_errors(log: &serde_json::Value) -> Vec<String> {
    let schema_text = std::fs::read_to_string(root().join("testdata/lint/sarif-2.1.0-rtm.5.json"))
        .expect("the SARIF schema is committed");
    let mut schema: serde_json::Value = serde_json::from_str(&schema_text).expect("schema is JSON");
    for def in ["run", "toolComponent"] {
        schema["definitions"][def]["properties"]["language"]["pattern"] =
            serde_json::json!("^[a-zA-Z]{2}(-[a-zA-Z]{2})?$");
    }
    let validator = jsonschema::draft4::new(&schema).expect("the schema compiles");
    validator
        .iter_errors(log)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}
