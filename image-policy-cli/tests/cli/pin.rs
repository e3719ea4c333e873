//! `lint --fix` pinning against Debian's real `docker-registry` on
//! 127.0.0.1 (TLS with a CA made here, htpasswd basic auth; the registry
//! crate's fixture, `tests/fixture/registry.rs`): every file kind fixed
//! byte-exact from one table, kubectl reading the fixed manifest back and
//! `kubectl kustomize` rendering the digest, the index digest of a
//! multi-platform image, `--diff`, a second run that changes nothing, and
//! the registry's failures (404, 401, down): exit 2 and nothing written.
//!
//! Skipped, with the reason printed, when `docker-registry` or `skopeo` is
//! missing; under `CI=true` their absence is a failure.

use crate::registry_fixture::{Layout, Registry, TestCa, have, sha256};
use crate::{code, run};
use std::path::Path;

/// (file, as written, as fixed): `{R}` is the registry's address, `{D}`
/// the digest of `prod/api:1.4`, `{M}` that of the index `prod/multi:1`.
/// `mirror.example/prod` is rewritten to the registry.
const CASES: &[(&str, &str, &str)] = &[
    (
        "pod.yaml",
        "apiVersion: v1\r\nkind: Pod\r\nmetadata: {name: p, namespace: shop}\r\nspec:\r\n  initContainers:\r\n  - name: init\r\n    image: \"{R}/prod/api:1.4\"   # quoted\r\n  containers:\r\n  - {name: a, image: mirror.example/prod/api:1.4}\r\n  - name: m\r\n    image: '{R}/prod/multi:1'\r\n  - name: pinned\r\n    image: {R}/prod/api:1.4@{D}\r\n  - name: other\r\n    image: docker.io/library/busybox:1\r\n  volumes:\r\n  - name: data\r\n    image: {reference: {R}/prod/api:1.4, pullPolicy: IfNotPresent}\r\n",
        "apiVersion: v1\r\nkind: Pod\r\nmetadata: {name: p, namespace: shop}\r\nspec:\r\n  initContainers:\r\n  - name: init\r\n    image: \"{R}/prod/api:1.4@{D}\"   # quoted\r\n  containers:\r\n  - {name: a, image: {R}/prod/api:1.4@{D}}\r\n  - name: m\r\n    image: '{R}/prod/multi:1@{M}'\r\n  - name: pinned\r\n    image: {R}/prod/api:1.4@{D}\r\n  - name: other\r\n    image: docker.io/library/busybox:1\r\n  volumes:\r\n  - name: data\r\n    image: {reference: {R}/prod/api:1.4@{D}, pullPolicy: IfNotPresent}\r\n",
    ),
    (
        "Dockerfile",
        "# syntax=docker/dockerfile:1\nARG BASE={R}/prod/api:1.4\nFROM $BASE AS build\nCOPY --from={R}/prod/multi:1 /a /a\nRUN --mount=type=cache,from=mirror.example/prod/api:1.4,target=/c true\nFROM \"{R}/prod/api:1.4\"\nONBUILD COPY --from={R}/prod/api:1.4 /b /b\n",
        "# syntax=docker/dockerfile:1\nARG BASE={R}/prod/api:1.4@{D}\nFROM $BASE AS build\nCOPY --from={R}/prod/multi:1@{M} /a /a\nRUN --mount=type=cache,from={R}/prod/api:1.4@{D},target=/c true\nFROM \"{R}/prod/api:1.4@{D}\"\nONBUILD COPY --from={R}/prod/api:1.4@{D} /b /b\n",
    ),
    (
        "compose.yaml",
        "services:\n  web:\n    image: {R}/prod/api:1.4 # web\n  cache:\n    image: \"mirror.example/prod/multi:1\"\n",
        "services:\n  web:\n    image: {R}/prod/api:1.4@{D} # web\n  cache:\n    image: \"{R}/prod/multi:1@{M}\"\n",
    ),
    (
        "k/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [app.yaml]\nimages:\n- name: app\n  newName: mirror.example/prod/api # the api\n  newTag: \"1.4\"\n- name: cache\n  newName: {R}/prod/multi\n  newTag: \"1\"\n",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [app.yaml]\nimages:\n- name: app\n  newName: {R}/prod/api # the api\n  digest: {D}\n  newTag: \"1.4\"\n- name: cache\n  newName: {R}/prod/multi\n  digest: {M}\n  newTag: \"1\"\n",
    ),
    (
        "k/app.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: app}\nspec:\n  selector: {matchLabels: {app: a}}\n  template:\n    metadata: {labels: {app: a}}\n    spec:\n      containers:\n      - {name: a, image: app}\n      - {name: c, image: cache}\n",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: app}\nspec:\n  selector: {matchLabels: {app: a}}\n  template:\n    metadata: {labels: {app: a}}\n    spec:\n      containers:\n      - {name: a, image: app}\n      - {name: c, image: cache}\n",
    ),
];

/// The registry, its digests, and the files the flags name.
struct Setup {
    registry: Registry,
    api: String,
    multi: String,
    ca: std::path::PathBuf,
    auth: std::path::PathBuf,
    policy: std::path::PathBuf,
}

fn setup() -> Option<Setup> {
    if !have("docker-registry") || !have("skopeo") {
        return None;
    }
    let ca = TestCa::new();
    let registry = Registry::start(&ca, "alice", "wonderland");
    let mut layout = Layout::new(registry.path("layout"));
    let api = sha256(&layout.tag_image("v1", 1));
    let multi = sha256(&layout.tag_index("multi"));
    registry.push(&layout.dir, "v1", "prod/api:1.4", false);
    registry.push(&layout.dir, "multi", "prod/multi:1", true);
    let r = &registry.addr;
    let ca_path = registry.path("ca.pem");
    std::fs::write(&ca_path, ca.pem()).unwrap();
    let auth = registry.path("config.json");
    // `docker login` writes this: base64("alice:wonderland").
    std::fs::write(
        &auth,
        format!(r#"{{"auths":{{"{r}":{{"auth":"YWxpY2U6d29uZGVybGFuZA=="}}}}}}"#),
    )
    .unwrap();
    let policy = registry.path("policy.yaml");
    std::fs::write(
        &policy,
        format!(
            "allow:\n  - registry: \"{r}\"\n  - registry: docker.io\nrewrite:\n  - from: mirror.example/prod\n    to: \"{r}/prod\"\npin:\n  - repository: \"{r}/prod/**\"\n"
        ),
    )
    .unwrap();
    Some(Setup {
        api,
        multi,
        ca: ca_path,
        auth,
        policy,
        registry,
    })
}

impl Setup {
    fn fill(&self, text: &str) -> String {
        text.replace("{R}", &self.registry.addr)
            .replace("{D}", &self.api)
            .replace("{M}", &self.multi)
    }

    /// A folder holding `files` (name, text).
    fn folder<'a>(&self, files: impl IntoIterator<Item = (&'a str, String)>) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    /// `lint` of `dir` with the policy, the CA, and (`auth`) the credentials.
    fn lint(&self, dir: &Path, auth: bool, extra: &[&str]) -> std::process::Output {
        let dir = dir.to_str().unwrap();
        let mut args = vec![
            "lint",
            dir,
            "--color",
            "never",
            "--policy",
            self.policy.to_str().unwrap(),
            "--registry-ca",
            self.ca.to_str().unwrap(),
        ];
        if auth {
            args.extend(["--registry-auth", self.auth.to_str().unwrap()]);
        }
        args.extend(extra);
        run(&args, None)
    }
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn contents(dir: &Path) -> Vec<(String, String)> {
    CASES
        .iter()
        .map(|(name, _, _)| {
            let text = std::fs::read_to_string(dir.join(name)).unwrap();
            ((*name).to_owned(), text)
        })
        .collect()
}

#[test]
fn lint_fix_pins_every_file_kind_and_fails_closed() {
    let Some(s) = setup() else { return };
    let written = |dir: &Path| contents(dir);
    let originals: Vec<(String, String)> = CASES
        .iter()
        .map(|(n, before, _)| ((*n).to_owned(), s.fill(before)))
        .collect();
    let fixed: Vec<(String, String)> = CASES
        .iter()
        .map(|(n, _, after)| ((*n).to_owned(), s.fill(after)))
        .collect();

    // lint says each unpinned image is pin-required, fixable with --fix.
    let dir = s.folder(originals.iter().map(|(n, t)| (n.as_str(), t.clone())));
    let out = s.lint(dir.path(), true, &[]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("error[pin-required]"), "{report}");
    assert!(
        report.contains("fixable with --fix (lint --fix pins it"),
        "{report}"
    );
    assert!(!report.contains("not fixable"), "{report}");

    // --diff shows the pin and writes nothing.
    let out = s.lint(dir.path(), true, &["--diff"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let diff = String::from_utf8_lossy(&out.stdout);
    let pinned_line = s.fill("+    image: {R}/prod/api:1.4@{D} # web");
    assert!(diff.contains(&pinned_line), "{diff}");
    assert_eq!(written(dir.path()), originals);

    // --fix writes every file byte-exact as the table says.
    let out = s.lint(dir.path(), true, &["--fix"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    for ((name, got), (_, want)) in written(dir.path()).iter().zip(&fixed) {
        assert_eq!(got, want, "{name}: {}", text(&out));
    }
    // A second run changes nothing and reaches no registry (no credentials).
    let out = s.lint(dir.path(), false, &["--fix"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(written(dir.path()), fixed);

    // kubectl reads the fixed manifest as written; kustomize renders the digest.
    let kyaml = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/reference-tools/kyaml");
    if kyaml.is_file() {
        let out = std::process::Command::new(&kyaml)
            .stdin(std::fs::File::open(dir.path().join("pod.yaml")).unwrap())
            .output()
            .unwrap();
        let images = String::from_utf8_lossy(&out.stdout);
        let want = s.fill(
            "IMG \"{R}/prod/api:1.4@{D}\"\nIMG \"{R}/prod/api:1.4@{D}\"\nIMG \"{R}/prod/multi:1@{M}\"\nIMG \"{R}/prod/api:1.4@{D}\"\nIMG \"docker.io/library/busybox:1\"\nVOLIMG \"{R}/prod/api:1.4@{D}\"\n",
        );
        let mut got: Vec<&str> = images.lines().collect();
        let mut want: Vec<&str> = want.lines().collect();
        got.sort_unstable();
        want.sort_unstable();
        assert_eq!(got, want, "{images}");
    } else {
        assert!(std::env::var_os("CI").is_none(), "kyaml is required in CI");
    }
    let rendered = std::process::Command::new("kubectl")
        .arg("kustomize")
        .arg(dir.path().join("k"))
        .output();
    match rendered {
        Ok(out) if out.status.success() => {
            let yaml = String::from_utf8_lossy(&out.stdout);
            for image in [
                s.fill("image: {R}/prod/api:1.4@{D}"),
                s.fill("image: {R}/prod/multi:1@{M}"),
            ] {
                assert!(yaml.contains(&image), "{image} not in\n{yaml}");
            }
        }
        other => assert!(
            std::env::var_os("CI").is_none(),
            "kubectl kustomize is required in CI: {other:?}"
        ),
    }

    // Failures: exit 2 naming the image and the registry's error; nothing
    // written, not even the files that could be pinned.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let failures = [
        // (extra file, with credentials, expected in stderr)
        (
            s.fill("FROM {R}/prod/missing:1\n"),
            true,
            vec![s.fill("{R}/prod/missing:1"), "404".to_owned()],
        ),
        (String::new(), false, vec!["401".to_owned()]),
        (
            format!("FROM {closed}/prod/api:1\n"),
            true,
            vec![format!("{closed}/prod/api:1")],
        ),
    ];
    for (extra, auth, said) in failures {
        let mut files: Vec<(&str, String)> = originals
            .iter()
            .map(|(n, t)| (n.as_str(), t.clone()))
            .collect();
        if !extra.is_empty() {
            files.push(("extra/Dockerfile", extra.clone()));
        }
        let dir = s.folder(files);
        // The closed port is in pin scope too.
        let policy = dir.path().join("policy.yaml");
        let body = std::fs::read_to_string(&s.policy).unwrap();
        std::fs::write(
            &policy,
            format!("{body}  - repository: \"{closed}/prod/**\"\n").replace(
                "  - registry: docker.io\n",
                &format!("  - registry: docker.io\n  - registry: \"{closed}\"\n"),
            ),
        )
        .unwrap();
        let mut args = vec![
            "lint",
            dir.path().to_str().unwrap(),
            "--fix",
            "--policy",
            policy.to_str().unwrap(),
            "--registry-ca",
            s.ca.to_str().unwrap(),
            "--registry-timeout",
            "3",
        ];
        if auth {
            args.extend(["--registry-auth", s.auth.to_str().unwrap()]);
        }
        let out = run(&args, None);
        assert_eq!(code(&out), 2, "{extra}: {}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("cannot pin"), "{stderr}");
        for part in &said {
            assert!(stderr.contains(part.as_str()), "{part} not in {stderr}");
        }
        assert_eq!(written(dir.path()), originals, "{extra}: {stderr}");
    }
}

#[test]
fn without_pin_rules_no_registry_is_asked() {
    // A registry address nothing listens on: any request would fail.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let dir = tempfile::tempdir().unwrap();
    let text = format!("FROM {closed}/prod/api:1\n");
    std::fs::write(dir.path().join("Dockerfile"), &text).unwrap();
    let allow = format!("--allow-registry={closed}");
    let out = run(
        &["lint", dir.path().to_str().unwrap(), "--fix", &allow],
        None,
    );
    assert_eq!(code(&out), 0, "{}", text_of(&out));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("Dockerfile")).unwrap(),
        text
    );
}

fn text_of(out: &std::process::Output) -> String {
    text(out)
}
