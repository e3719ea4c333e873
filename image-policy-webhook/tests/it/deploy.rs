//! The manifests of `deploy/`: every YAML file parses, the webhook
//! configuration covers every kind, kustomize builds every entry point
//! (with kubectl, which builds offline), and every rendered Deployment runs
//! the image deploy/README.md tells the user to build.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn deploy_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            // Made by gen-certs.sh, not part of the repository.
            if path.file_name().is_some_and(|n| n == "local") {
                continue;
            }
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
}

fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    serde_saphyr::from_multiple::<Value>(&text)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_manifest_parses_and_names_its_kind() {
    let mut files = Vec::new();
    yaml_files(&deploy_dir(), &mut files);
    assert!(files.len() >= 10, "{files:?}");
    for file in files {
        let docs = documents(&file);
        assert!(!docs.is_empty(), "{}: no document", file.display());
        // The policy is the one file that is not a Kubernetes object.
        if file.ends_with("base/policy.yaml") {
            continue;
        }
        for doc in docs {
            assert!(
                doc["apiVersion"].is_string() && doc["kind"].is_string(),
                "{}: a document without apiVersion and kind",
                file.display()
            );
        }
    }
}

#[test]
fn the_webhook_configuration_covers_every_pod_bearing_kind() {
    let docs = documents(&deploy_dir().join("base/validatingwebhookconfiguration.yaml"));
    let webhook = &docs[0]["webhooks"][0];
    assert_eq!(webhook["failurePolicy"], "Fail");
    assert_eq!(webhook["sideEffects"], "None");
    assert_eq!(webhook["clientConfig"]["service"]["path"], "/validate");
    let excluded = &webhook["namespaceSelector"]["matchExpressions"][0];
    assert_eq!(excluded["key"], "kubernetes.io/metadata.name");
    assert_eq!(excluded["operator"], "NotIn");
    assert_eq!(excluded["values"][0], "image-policy-system");
    let mut covered = Vec::new();
    for rule in webhook["rules"].as_array().unwrap() {
        for group in rule["apiGroups"].as_array().unwrap() {
            for resource in rule["resources"].as_array().unwrap() {
                covered.push(format!(
                    "{}/{}",
                    group.as_str().unwrap(),
                    resource.as_str().unwrap()
                ));
            }
        }
        assert!(
            rule["operations"]
                .as_array()
                .unwrap()
                .iter()
                .any(|o| o == "UPDATE")
        );
    }
    for expected in [
        "/pods",
        "/podtemplates",
        "/replicationcontrollers",
        "/pods/ephemeralcontainers",
        "apps/replicasets",
        "apps/deployments",
        "apps/statefulsets",
        "apps/daemonsets",
        "batch/jobs",
        "batch/cronjobs",
    ] {
        assert!(
            covered.iter().any(|c| c == expected),
            "{expected} not covered: {covered:?}"
        );
    }
}

/// components/rewrite's MutatingWebhookConfiguration calls /mutate for the
/// same kinds and namespaces as the validating one, fails closed, and is
/// reinvoked when a later webhook changes the object.
#[test]
fn the_mutating_webhook_configuration_matches_the_validating_one() {
    let validating = &documents(&deploy_dir().join("base/validatingwebhookconfiguration.yaml"))[0]
        ["webhooks"][0];
    let docs =
        documents(&deploy_dir().join("components/rewrite/mutatingwebhookconfiguration.yaml"));
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0]["kind"], "MutatingWebhookConfiguration");
    let mutating = &docs[0]["webhooks"][0];
    assert_eq!(mutating["clientConfig"]["service"]["path"], "/mutate");
    assert_eq!(mutating["reinvocationPolicy"], "IfNeeded");
    assert_eq!(mutating["sideEffects"], "None");
    for same in [
        "failurePolicy",
        "matchPolicy",
        "admissionReviewVersions",
        "namespaceSelector",
        "rules",
        "timeoutSeconds",
    ] {
        assert_eq!(mutating[same], validating[same], "{same}");
    }
    for field in ["name", "namespace", "port"] {
        assert_eq!(
            mutating["clientConfig"]["service"][field],
            validating["clientConfig"]["service"][field],
            "{field}"
        );
    }
}

#[test]
fn the_deployed_policy_loads_without_warnings() {
    let path = deploy_dir().join("base/policy.yaml");
    let loaded = image_policy_core::policy::Policy::from_yaml_str(
        &std::fs::read_to_string(&path).unwrap(),
        "deploy/base/policy.yaml",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

fn have(tool: &str) -> bool {
    let found = Command::new(tool).arg("version").output().is_ok();
    if !found {
        // CI machines have it: there, a missing tool is a failure, not a skip.
        assert!(std::env::var_os("CI").is_none(), "{tool} is required in CI");
        eprintln!("NOTE: {tool} not found; kustomize builds not checked");
    }
    found
}

/// `kubectl kustomize DIR`, the objects it produced.
fn render(dir: &Path) -> Vec<Value> {
    let output = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "kubectl kustomize {}: {}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    serde_saphyr::from_multiple::<Value>(&text).unwrap()
}

/// `kubectl kustomize DIR`, the kinds it produced.
fn kustomize(dir: &Path) -> Vec<String> {
    render(dir)
        .iter()
        .map(|doc| doc["kind"].as_str().unwrap().to_owned())
        .collect()
}

/// The reference deploy/README.md tells the user to build and push:
/// the REF of its `ref=$(deploy/build-image.sh --push REF)` line.
fn documented_push_reference() -> String {
    let readme = std::fs::read_to_string(deploy_dir().join("README.md")).unwrap();
    let lines: Vec<&str> = readme
        .lines()
        .filter_map(|l| l.trim().strip_prefix("ref=$(deploy/build-image.sh --push "))
        .collect();
    assert_eq!(lines.len(), 1, "one documented push command: {lines:?}");
    let reference = lines[0].split(')').next().unwrap().trim();
    assert!(!reference.is_empty());
    reference.to_owned()
}

/// Every kustomize entry point of deploy/: the default and every overlay.
fn entry_points() -> Vec<PathBuf> {
    let mut dirs = vec![deploy_dir()];
    for entry in std::fs::read_dir(deploy_dir().join("overlays")).unwrap() {
        let path = entry.unwrap().path();
        if path.join("kustomization.yaml").is_file() {
            dirs.push(path);
        }
    }
    dirs
}

/// The docs build and push `registry.my.com/image-policy:VERSION` and pin its
/// digest in the base's `images:` entry; every Deployment of every entry point
/// runs exactly that name, by the (placeholder) digest of that entry, and the
/// manifest the entry rewrites names the same image.
#[test]
fn every_rendered_deployment_runs_the_image_the_docs_build() {
    let pushed = documented_push_reference();
    let (name, tag) = pushed.rsplit_once(':').unwrap();
    assert!(!name.contains('@') && !tag.contains('/'), "{pushed}");
    assert_eq!(
        tag,
        env!("CARGO_PKG_VERSION"),
        "the docs push the current version"
    );
    assert_eq!(name, "registry.my.com/image-policy");

    let kustomization = documents(&deploy_dir().join("base/kustomization.yaml"));
    let images = kustomization[0]["images"].as_array().unwrap();
    assert_eq!(images.len(), 1, "{images:?}");
    let entry = &images[0];
    assert_eq!(entry["name"], name);
    assert_eq!(entry["newName"], name);
    let digest = entry["digest"].as_str().unwrap();
    assert!(
        entry.get("newTag").is_none(),
        "pinned by digest, not by tag"
    );
    // The placeholder, which the README tells the user to replace.
    assert_eq!(digest, "sha256:REPLACE-ME");
    let readme = std::fs::read_to_string(deploy_dir().join("README.md")).unwrap();
    assert!(readme.contains(&format!("`{name}@sha256:...`")));
    assert!(readme.contains(&format!("`{digest}`")));

    let deployment = documents(&deploy_dir().join("base/deployment.yaml"));
    let containers = deployment[0]["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap();
    assert_eq!(containers[0]["image"], format!("{name}:{tag}"));

    if !have("kubectl") {
        return;
    }
    let expected = format!("{name}@{digest}");
    for dir in entry_points() {
        let docs = render(&dir);
        let deployments: Vec<&Value> = docs.iter().filter(|d| d["kind"] == "Deployment").collect();
        assert_eq!(deployments.len(), 1, "{}", dir.display());
        for deployment in deployments {
            let spec = &deployment["spec"]["template"]["spec"];
            for list in ["initContainers", "containers", "ephemeralContainers"] {
                for container in spec[list].as_array().into_iter().flatten() {
                    assert_eq!(
                        container["image"].as_str(),
                        Some(expected.as_str()),
                        "{}: {list} {}",
                        dir.display(),
                        container["name"]
                    );
                }
            }
        }
    }
}

#[test]
fn kustomize_builds_every_entry_point() {
    if !have("kubectl") {
        return;
    }
    let base_kinds = [
        "Namespace",
        "ServiceAccount",
        "ConfigMap",
        "Service",
        "Deployment",
        "PodDisruptionBudget",
        "ValidatingWebhookConfiguration",
    ];
    let kinds = kustomize(&deploy_dir());
    for kind in base_kinds {
        assert!(kinds.iter().any(|k| k == kind), "{kind} missing: {kinds:?}");
    }
    let kinds = kustomize(&deploy_dir().join("overlays/cert-manager"));
    assert_eq!(kinds.iter().filter(|k| *k == "Certificate").count(), 2);
    assert_eq!(kinds.iter().filter(|k| *k == "Issuer").count(), 2);
    let kinds = kustomize(&deploy_dir().join("overlays/rewrite"));
    for kind in [
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
    ] {
        assert_eq!(kinds.iter().filter(|k| *k == kind).count(), 1, "{kinds:?}");
    }

    // gen-certs.sh: a CA, a serving certificate, and an overlay that builds.
    if !have("openssl") {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let status = Command::new("bash")
        .arg(deploy_dir().join("gen-certs.sh"))
        .arg(out.path())
        .status()
        .unwrap();
    assert!(status.success());
    let verify = Command::new("openssl")
        .args(["verify", "-CAfile"])
        .arg(out.path().join("ca.crt"))
        .arg(out.path().join("tls.crt"))
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    let output = Command::new("kubectl")
        .arg("kustomize")
        .arg(out.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let docs =
        serde_saphyr::from_multiple::<Value>(&String::from_utf8(output.stdout).unwrap()).unwrap();
    // Its Deployment runs the base's pinned image too.
    let images = &documents(&deploy_dir().join("base/kustomization.yaml"))[0]["images"][0];
    let deployment = docs.iter().find(|d| d["kind"] == "Deployment").unwrap();
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["image"],
        format!(
            "{}@{}",
            images["newName"].as_str().unwrap(),
            images["digest"].as_str().unwrap()
        )
    );
    let secret = docs.iter().find(|d| d["kind"] == "Secret").unwrap();
    assert_eq!(secret["type"], "kubernetes.io/tls");
    assert_eq!(secret["metadata"]["name"], "image-policy-webhook-tls");
    let webhook = docs
        .iter()
        .find(|d| d["kind"] == "ValidatingWebhookConfiguration")
        .unwrap();
    let ca_bundle = webhook["webhooks"][0]["clientConfig"]["caBundle"]
        .as_str()
        .unwrap();
    assert!(
        ca_bundle.starts_with("LS0tLS1CRUdJTi"),
        "caBundle is the base64 of a PEM CA"
    );

    // With components/rewrite added, the mutating webhook gets the same CA.
    let kustomization = out.path().join("kustomization.yaml");
    let mut text = std::fs::read_to_string(&kustomization).unwrap();
    // Beside the base, which gen-certs.sh names by a relative path (kustomize
    // loads components only by one).
    let base = text
        .lines()
        .skip_while(|l| *l != "resources:")
        .nth(1)
        .and_then(|l| l.strip_prefix("  - "))
        .expect("the base in resources")
        .to_owned();
    text.push_str(&format!("components:\n  - {base}/../components/rewrite\n"));
    std::fs::write(&kustomization, text).unwrap();
    let docs = render(out.path());
    for kind in [
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
    ] {
        let webhook = docs.iter().find(|d| d["kind"] == kind).unwrap();
        assert_eq!(
            webhook["webhooks"][0]["clientConfig"]["caBundle"], ca_bundle,
            "{kind}"
        );
    }
}
