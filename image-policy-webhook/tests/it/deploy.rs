//! The manifests of `deploy/`: every YAML file parses, the webhook
//! configuration covers every kind, and kustomize builds every entry point
//! (with kubectl, which builds offline).

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

/// `kubectl kustomize DIR`, the kinds it produced.
fn kustomize(dir: &Path) -> Vec<String> {
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
    serde_saphyr::from_multiple::<Value>(&text)
        .unwrap()
        .iter()
        .map(|doc| doc["kind"].as_str().unwrap().to_owned())
        .collect()
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
}
