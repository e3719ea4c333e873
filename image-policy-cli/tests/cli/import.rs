//! `image-policy policy import`: the policy on standard output (or
//! `--output`), the report and the dry run on standard error, exit 2 with
//! the file, document and field named for a shape it cannot read. The
//! inputs are `testdata/import/` (see its README).

use super::lint::image_policy;

#[test]
fn gatekeeper_import_loads_and_reports_the_bypass() {
    let out = image_policy(
        &[
            "policy",
            "import",
            "--from",
            "gatekeeper",
            "testdata/import/gatekeeper.yaml",
        ],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains(r#"- registry: "registry.my.com""#),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("# from testdata/import/gatekeeper.yaml document 1"),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr.contains("registry.my.com.evil.io/x"),
        "{}",
        out.stderr
    );
    // The policy loads as `check` loads it.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.yaml");
    std::fs::write(&file, &out.stdout).unwrap();
    let checked = image_policy(&["policy", "check", file.to_str().unwrap()], None);
    assert_eq!(checked.code, 0, "{}{}", checked.stdout, out.stdout);
}

#[test]
fn dry_run_on_kubectls_json_both_ways() {
    let pods = std::fs::read(super::lint::root().join("testdata/import/pods.json")).unwrap();
    let out = image_policy(
        &[
            "policy",
            "import",
            "--from",
            "gatekeeper",
            "testdata/import/gatekeeper.yaml",
            "--images",
            "-",
        ],
        Some(&pods),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let after = |title: &str| -> String {
        out.stderr
            .split(&format!("{title}:\n"))
            .nth(1)
            .unwrap_or_else(|| panic!("no {title:?} section: {}", out.stderr))
            .lines()
            .take_while(|l| l.starts_with("  "))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let tighter = after("admitted before, denied now");
    // The host-prefix bypass in an init container, and an image volume.
    assert!(
        tighter.contains("registry.my.com.evil.io/setup:1"),
        "{tighter}"
    );
    assert!(
        tighter.contains("spec.volumes[0].image.reference"),
        "{tighter}"
    );
    // A Docker Hub spelling the prefix did not start with.
    let looser = after("denied before, admitted now");
    assert!(
        looser.contains("docker.io/openpolicyagent/opa:0.9"),
        "{looser}"
    );
    assert!(
        out.stderr.contains("5 images: 2 admitted before and denied now, 1 denied before and admitted now, 2 unchanged"),
        "{}",
        out.stderr
    );
}

#[test]
fn every_format_imports_its_testdata() {
    let dir = tempfile::tempdir().unwrap();
    for (format, file) in [
        ("gatekeeper", "gatekeeper.yaml"),
        ("kyverno", "kyverno.yaml"),
        ("policy-json", "policy.json"),
        ("registries-conf", "registries.conf"),
        ("docker-sysconfig", "sysconfig-docker"),
        ("bouncer", "bouncer.args"),
    ] {
        let output = dir.path().join(format!("{format}.yaml"));
        let out = image_policy(
            &[
                "policy",
                "import",
                "--from",
                format,
                &format!("testdata/import/{file}"),
                "--output",
                output.to_str().unwrap(),
                "--images",
                "testdata/import/pods.json",
            ],
            None,
        );
        assert_eq!(out.code, 0, "{format}: {}", out.stderr);
        assert!(
            out.stdout.is_empty(),
            "{format}: the policy went to --output"
        );
        assert!(out.stderr.contains("5 images:"), "{format}: {}", out.stderr);
        let checked = image_policy(&["policy", "check", output.to_str().unwrap()], None);
        assert_eq!(checked.code, 0, "{format}: {}", checked.stdout);
    }
}

#[test]
fn unreadable_shapes_exit_2_naming_file_document_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.yaml");
    std::fs::write(
        &file,
        "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: K8sAllowedRepos\nmetadata: {name: a}\nspec: {parameters: {repos: [a.io/]}}\n---\napiVersion: constraints.gatekeeper.sh/v1beta1\nkind: K8sAllowedRepos\nmetadata: {name: b}\nspec: {parameters: {repos: [a.io/], exemptImages: [x]}}\n",
    )
    .unwrap();
    let name = file.to_str().unwrap();
    let out = image_policy(&["policy", "import", "--from", "gatekeeper", name], None);
    assert_eq!(out.code, 2);
    assert!(out.stdout.is_empty());
    assert!(
        out.stderr.contains(&format!(
            "{name} document 2 (K8sAllowedRepos \"b\"), spec.parameters.exemptImages"
        )),
        "{}",
        out.stderr
    );
    let bad = image_policy(
        &["policy", "import", "--from", "bouncer", "-"],
        Some(b"--registry-whitelist registry.com --unknown\n"),
    );
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr
            .contains("<stdin> (kube-image-bouncer), argument 3 (--unknown)"),
        "{}",
        bad.stderr
    );
}

#[test]
fn dry_run_on_files_as_lint_reads_them() {
    let out = image_policy(
        &[
            "policy",
            "import",
            "--from",
            "gatekeeper",
            "testdata/import/gatekeeper.yaml",
            "--images",
            "examples/lint/web.yaml",
        ],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("examples/lint/web.yaml:17:16 spec.template.spec.containers[0].image"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("1 image: "), "{}", out.stderr);
}

/// The test objects of `testdata/import/objects/cases.yaml`, judged through
/// `lint` with each imported policy.
#[test]
fn test_objects_through_lint_with_the_imported_policy() {
    let root = super::lint::root();
    let text = std::fs::read_to_string(root.join("testdata/import/objects/cases.yaml")).unwrap();
    let doc: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cases = doc["cases"].as_array().unwrap();
    for case in cases {
        let (from, file, object) = (
            case["from"].as_str().unwrap(),
            case["file"].as_str().unwrap(),
            case["object"].as_str().unwrap(),
        );
        let policy = dir.path().join(format!("{from}.yaml"));
        let imported = image_policy(
            &[
                "policy",
                "import",
                "--from",
                from,
                &format!("testdata/import/{file}"),
                "--output",
                policy.to_str().unwrap(),
            ],
            None,
        );
        assert_eq!(imported.code, 0, "{from}: {}", imported.stderr);
        let linted = image_policy(
            &[
                "lint",
                "--policy",
                policy.to_str().unwrap(),
                &format!("testdata/import/objects/{object}"),
            ],
            None,
        );
        let want = if case["denied"].as_bool().unwrap() {
            1
        } else {
            0
        };
        assert_eq!(
            linted.code, want,
            "{from} {object}: {}{}",
            linted.stdout, linted.stderr
        );
    }
    assert!(cases.len() >= 10);
}
