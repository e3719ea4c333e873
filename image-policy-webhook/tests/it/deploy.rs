//! The manifests of `deploy/` as a contract. Every YAML file parses; the
//! webhook configuration covers every kind; and every install deploy/README.md
//! names (overlays/cert-manager, as shipped and as a user edits it, and the
//! kustomization gen-certs.sh writes), with every set of components in both
//! orders, in the default namespace and another, is rendered with
//! `kubectl kustomize` and checked: what the pods mount is installed or made
//! by cert-manager, every webhook reaches an installed Service with a CA set
//! or injected, no `Fail` webhook judges its own server's namespace or one a
//! component leaves out, the webhooks and the ValidatingAdmissionPolicy divide
//! the namespaces, every object is labelled, every Deployment runs the image
//! the docs build, and every object validates against the Kubernetes OpenAPI
//! schemas (kubernetes-validate, offline) of each supported version.

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
            // Made by gen-certs.sh (deploy/local*), not part of the repository.
            if path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("local"))
            {
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

/// The docs build and push `registry.my.com/image-policy:VERSION` and pin its
/// digest in the base's `images:` entry; every Deployment of every install
/// runs exactly that name, by the (placeholder) digest of that entry, and the
/// manifest the base rewrites names the same image.
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

    if !have("kubectl") || !have("openssl") {
        return;
    }
    let expected = format!("{name}@{digest}");
    let (installs, docs) = rendered();
    for (install, docs) in installs.iter().zip(docs) {
        let deployments: Vec<&Value> = docs.iter().filter(|d| d["kind"] == "Deployment").collect();
        assert_eq!(deployments.len(), 1, "{}", install.label);
        for deployment in deployments {
            let spec = &deployment["spec"]["template"]["spec"];
            for list in ["initContainers", "containers", "ephemeralContainers"] {
                for container in spec[list].as_array().into_iter().flatten() {
                    assert_eq!(
                        container["image"].as_str(),
                        Some(expected.as_str()),
                        "{}: {list} {}",
                        install.label,
                        container["name"]
                    );
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The installs: every way deploy/README.md tells a user to install, in every
// combination of components, in the default namespace and another one.

/// The components an install may add (deploy/components/NAME).
const COMPONENTS: [&str; 2] = ["rewrite", "validating-admission-policy"];
/// The default namespace, and one that is not.
const NAMESPACES: [&str; 2] = ["image-policy-system", "webhooks"];
/// The namespaces components/validating-admission-policy promises to take
/// out of the webhooks (beside the webhook's own).
const VAP_LEAVES_OUT: [&str; 1] = ["kube-system"];

#[derive(Clone, Copy, PartialEq, Debug)]
enum Certs {
    /// overlays/cert-manager: cert-manager makes the certificate.
    CertManager,
    /// The kustomization deploy/gen-certs.sh writes.
    GenCerts,
}

#[derive(Debug)]
struct Install {
    label: String,
    dir: PathBuf,
    namespace: String,
    components: Vec<&'static str>,
    certs: Certs,
}

/// `to` as a path relative to `from` (both absolute): kustomize loads
/// components only by a relative path.
fn relative(from: &Path, to: &Path) -> PathBuf {
    let from = from.canonicalize().unwrap();
    let to = to.canonicalize().unwrap();
    let common = from
        .components()
        .zip(to.components())
        .take_while(|(a, b)| a == b)
        .count();
    let mut out = PathBuf::new();
    for _ in from.components().skip(common) {
        out.push("..");
    }
    for part in to.components().skip(common) {
        out.push(part);
    }
    out
}

/// Every subset of COMPONENTS, and the full set in the other order.
fn component_choices() -> Vec<Vec<&'static str>> {
    let mut out = Vec::new();
    for mask in 0..(1u32 << COMPONENTS.len()) {
        out.push(
            COMPONENTS
                .iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, c)| *c)
                .collect(),
        );
    }
    let mut reversed = COMPONENTS.to_vec();
    reversed.reverse();
    out.push(reversed);
    // components/pin is rewrite's webhook and pinning: in place of rewrite.
    let with_pin: Vec<Vec<&'static str>> = out
        .iter()
        .filter(|c| c.contains(&"rewrite"))
        .map(|c| {
            c.iter()
                .map(|x| if *x == "rewrite" { "pin" } else { x })
                .collect()
        })
        .collect();
    out.extend(with_pin);
    out
}

/// overlays/cert-manager as a user edits it (its namespace line, and its
/// commented component lines uncommented), written in `dir`. `late_cert`
/// moves the cert-manager component after the others.
fn cert_manager_variant(dir: &Path, namespace: &str, components: &[&str], late_cert: bool) {
    let shipped =
        std::fs::read_to_string(deploy_dir().join("overlays/cert-manager/kustomization.yaml"))
            .unwrap();
    let default = format!("\nnamespace: {}\n", NAMESPACES[0]);
    assert_eq!(shipped.matches(&default).count(), 1, "{shipped}");
    let mut text = shipped.replace(&default, &format!("\nnamespace: {namespace}\n"));
    let mut lines: Vec<String> = Vec::new();
    for c in components {
        let commented = format!("  # - ../../components/{c}\n");
        assert_eq!(text.matches(&commented).count(), 1, "{c}: {shipped}");
        text = text.replace(&commented, "");
        lines.push(format!("  - ../../components/{c}\n"));
    }
    let cert = "  - ../../components/cert-manager\n";
    assert_eq!(text.matches(cert).count(), 1, "{shipped}");
    let mut block = String::new();
    if late_cert {
        block.extend(lines);
        block.push_str(cert);
    } else {
        block.push_str(cert);
        block.extend(lines);
    }
    text = text.replace(cert, &block);
    std::fs::create_dir_all(dir).unwrap();
    let deploy = relative(dir, &deploy_dir());
    let text = text.replace("../../", &format!("{}/", deploy.display()));
    std::fs::write(dir.join("kustomization.yaml"), text).unwrap();
}

/// components/pin: the server gets the registry flags, its credentials
/// Secret exists (under its generated name) and is mounted, the CA
/// ConfigMap is optional, and the pin deadline is below the mutating
/// webhook's timeoutSeconds, by at least a second for the network.
fn pin_contract(docs: &[Value], ns: &str, fail: &mut dyn FnMut(String)) {
    let Some(deployment) = find(docs, "Deployment", ns, "image-policy-webhook") else {
        return fail("no Deployment image-policy-webhook".to_owned());
    };
    let spec = &deployment["spec"]["template"]["spec"];
    let args: Vec<&str> = spec["containers"][0]["args"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let flag = |name: &str| {
        args.iter()
            .find_map(|a| a.strip_prefix(name)?.strip_prefix('='))
    };
    let deadline = flag("--pin-deadline").and_then(|d| d.strip_suffix('s')?.parse::<u64>().ok());
    let timeouts: Vec<u64> = docs
        .iter()
        .filter(|d| d["kind"] == "MutatingWebhookConfiguration")
        .flat_map(|d| d["webhooks"].as_array().cloned().unwrap_or_default())
        .filter_map(|w| w["timeoutSeconds"].as_u64())
        .collect();
    match (deadline, timeouts.as_slice()) {
        (Some(d), [t]) if d < *t => {}
        other => fail(format!(
            "--pin-deadline (seconds) and the mutating webhook's timeoutSeconds: {other:?}"
        )),
    }
    for name in ["--registry-auth", "--registry-ca", "--pin-cache-ttl"] {
        if flag(name).is_none() {
            fail(format!("the server has no {name}"));
        }
    }
    let volumes = spec["volumes"].as_array().cloned().unwrap_or_default();
    let secret = volumes.iter().find_map(|v| {
        v["secret"]["secretName"]
            .as_str()
            .filter(|n| n.starts_with("image-policy-registry-auth"))
    });
    match secret {
        Some(name) if find(docs, "Secret", ns, name).is_some() => {}
        other => fail(format!(
            "the credentials Secret {other:?} is not in the install"
        )),
    }
    if !volumes.iter().any(|v| {
        v["configMap"]["name"] == "image-policy-registry-ca" && v["configMap"]["optional"] == true
    }) {
        fail("the registry CA ConfigMap is not mounted optional".to_owned());
    }
}

/// `deploy/gen-certs.sh DIR` with NAMESPACE and COMPONENTS set.
fn gen_certs(dir: &Path, namespace: Option<&str>, components: &[&str]) -> std::process::Output {
    let mut command = Command::new("bash");
    command.arg(deploy_dir().join("gen-certs.sh")).arg(dir);
    command.env_remove("NAMESPACE").env_remove("COMPONENTS");
    if let Some(namespace) = namespace {
        command.env("NAMESPACE", namespace);
    }
    if !components.is_empty() {
        command.env("COMPONENTS", components.join(","));
    }
    command.output().unwrap()
}

/// Every documented install and combination, made in `work`: the shipped
/// overlays/cert-manager as it is, its edited variants, and gen-certs.sh's
/// installs.
fn installs(work: &Path) -> Vec<Install> {
    let mut out = vec![Install {
        label: "overlays/cert-manager as shipped".into(),
        dir: deploy_dir().join("overlays/cert-manager"),
        namespace: NAMESPACES[0].into(),
        components: Vec::new(),
        certs: Certs::CertManager,
    }];
    for namespace in NAMESPACES {
        for components in component_choices() {
            let name = format!("{namespace}-{}", components.join("+"));
            for late_cert in [false, true] {
                if late_cert && components.is_empty() {
                    continue;
                }
                let dir = work.join(format!("cert-manager-{name}-{late_cert}"));
                cert_manager_variant(&dir, namespace, &components, late_cert);
                out.push(Install {
                    label: format!(
                        "overlays/cert-manager, namespace {namespace}, components {components:?}{}",
                        if late_cert { ", cert-manager last" } else { "" }
                    ),
                    dir,
                    namespace: namespace.into(),
                    components: components.clone(),
                    certs: Certs::CertManager,
                });
            }
            let dir = work.join(format!("gen-certs-{name}"));
            out.push(Install {
                label: format!(
                    "gen-certs.sh, NAMESPACE={namespace} COMPONENTS={}",
                    components.join(",")
                ),
                dir,
                namespace: namespace.into(),
                components,
                certs: Certs::GenCerts,
            });
        }
    }
    // gen-certs.sh, in parallel (openssl).
    std::thread::scope(|scope| {
        for install in out.iter().filter(|i| i.certs == Certs::GenCerts) {
            scope.spawn(|| {
                let namespace = (install.namespace != NAMESPACES[0]).then_some(&*install.namespace);
                let run = gen_certs(&install.dir, namespace, &install.components);
                assert!(
                    run.status.success(),
                    "{}: {}",
                    install.label,
                    String::from_utf8_lossy(&run.stderr)
                );
            });
        }
    });
    out
}

/// Renders every install with `kubectl kustomize`, in parallel.
fn render_all(installs: &[Install]) -> Vec<Vec<Value>> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = installs
            .iter()
            .map(|install| scope.spawn(|| render(&install.dir)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// Kinds that are not namespaced, among those deploy/ renders.
const CLUSTER_SCOPED: [&str; 5] = [
    "Namespace",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
];

fn find<'a>(docs: &'a [Value], kind: &str, namespace: &str, name: &str) -> Option<&'a Value> {
    docs.iter().find(|d| {
        d["kind"] == kind
            && d["metadata"]["name"] == name
            && (CLUSTER_SCOPED.contains(&kind) || d["metadata"]["namespace"] == namespace)
    })
}

/// Whether a label selector (matchLabels, matchExpressions) selects an
/// object with these labels; an absent selector selects everything.
fn selects(selector: &Value, labels: &[(&str, &str)]) -> bool {
    let get = |key: &str| labels.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
    if let Some(map) = selector["matchLabels"].as_object() {
        for (key, value) in map {
            if get(key) != value.as_str() {
                return false;
            }
        }
    }
    for expression in selector["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let key = expression["key"].as_str().unwrap();
        let values: Vec<&str> = expression["values"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| v.as_str().unwrap())
            .collect();
        let ok = match expression["operator"].as_str().unwrap() {
            "In" => get(key).is_some_and(|v| values.contains(&v)),
            "NotIn" => !get(key).is_some_and(|v| values.contains(&v)),
            "Exists" => get(key).is_some(),
            "DoesNotExist" => get(key).is_none(),
            other => panic!("operator {other}"),
        };
        if !ok {
            return false;
        }
    }
    true
}

/// Whether a webhook is called for objects in `namespace` (the API server
/// gives every namespace the label kubernetes.io/metadata.name).
fn judges(webhook: &Value, namespace: &str) -> bool {
    selects(
        &webhook["namespaceSelector"],
        &[("kubernetes.io/metadata.name", namespace)],
    )
}

/// The names of the Secrets and ConfigMaps a pod spec needs (volumes,
/// projected volumes, env and envFrom), each with its kind; optional
/// references left out.
fn mounted(spec: &Value) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let mut push = |kind: &'static str, reference: &Value, key: &str| {
        if reference["optional"] != true
            && let Some(name) = reference[key].as_str()
        {
            out.push((kind, name.to_owned()));
        }
    };
    for volume in spec["volumes"].as_array().into_iter().flatten() {
        push("Secret", &volume["secret"], "secretName");
        push("ConfigMap", &volume["configMap"], "name");
        for source in volume["projected"]["sources"]
            .as_array()
            .into_iter()
            .flatten()
        {
            push("Secret", &source["secret"], "name");
            push("ConfigMap", &source["configMap"], "name");
        }
    }
    for list in ["initContainers", "containers"] {
        for container in spec[list].as_array().into_iter().flatten() {
            for from in container["envFrom"].as_array().into_iter().flatten() {
                push("Secret", &from["secretRef"], "name");
                push("ConfigMap", &from["configMapRef"], "name");
            }
            for env in container["env"].as_array().into_iter().flatten() {
                push("Secret", &env["valueFrom"]["secretKeyRef"], "name");
                push("ConfigMap", &env["valueFrom"]["configMapKeyRef"], "name");
            }
        }
    }
    out
}

/// What every install must be, its failures as sentences.
fn contract(install: &Install, docs: &[Value]) -> Vec<String> {
    let mut failures = Vec::new();
    let mut fail = |what: String| failures.push(format!("{}: {what}", install.label));
    let ns = install.namespace.as_str();

    if find(docs, "Namespace", ns, ns).is_none() {
        fail(format!("no Namespace {ns}"));
    }
    for doc in docs {
        let kind = doc["kind"].as_str().unwrap_or_default();
        let name = doc["metadata"]["name"].as_str().unwrap_or_default();
        // Every object, and the pods a Deployment makes.
        let mut labelled = vec![("", &doc["metadata"]["labels"])];
        if kind == "Deployment" {
            labelled.push(("'s pods", &doc["spec"]["template"]["metadata"]["labels"]));
        }
        for (whose, labels) in labelled {
            if labels["app.kubernetes.io/name"] != "image-policy-webhook"
                || labels["app.kubernetes.io/part-of"] != "image-policy"
            {
                fail(format!(
                    "{kind} {name}{whose} lack the app.kubernetes.io labels: {labels}"
                ));
            }
        }
        let namespace = &doc["metadata"]["namespace"];
        if CLUSTER_SCOPED.contains(&kind) {
            if !namespace.is_null() {
                fail(format!(
                    "{kind} {name} is cluster-scoped, has namespace {namespace}"
                ));
            }
        } else if namespace != ns {
            fail(format!(
                "{kind} {name} is in namespace {namespace}, not {ns}"
            ));
        }
    }

    // Every pod can start: what it mounts is installed, or made by cert-manager.
    let certificates: Vec<&Value> = docs.iter().filter(|d| d["kind"] == "Certificate").collect();
    let deployments: Vec<&Value> = docs.iter().filter(|d| d["kind"] == "Deployment").collect();
    if deployments.len() != 1 {
        fail(format!("{} Deployments", deployments.len()));
    }
    for deployment in &deployments {
        let pod = &deployment["spec"]["template"];
        for (kind, name) in mounted(&pod["spec"]) {
            let made = kind == "Secret"
                && certificates
                    .iter()
                    .any(|c| c["metadata"]["namespace"] == ns && c["spec"]["secretName"] == name);
            if find(docs, kind, ns, &name).is_none() && !made {
                fail(format!(
                    "the pods mount {kind} {name}, which nothing installs or makes"
                ));
            }
        }
        let account = pod["spec"]["serviceAccountName"]
            .as_str()
            .unwrap_or("default");
        if find(docs, "ServiceAccount", ns, account).is_none() {
            fail(format!("no ServiceAccount {account}"));
        }
        // A webhook whose outage blocks the cluster is scheduled first, and
        // admitted where a quota must cover its class.
        let class = pod["spec"]["priorityClassName"]
            .as_str()
            .unwrap_or_default();
        if class != "system-cluster-critical" {
            fail(format!("priorityClassName {class:?}"));
        }
        let covered = docs.iter().any(|d| {
            d["kind"] == "ResourceQuota"
                && d["metadata"]["namespace"] == ns
                && d["spec"]["scopeSelector"]["matchExpressions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|e| {
                        e["scopeName"] == "PriorityClass"
                            && e["operator"] == "In"
                            && e["values"].as_array().unwrap().iter().any(|v| v == class)
                    })
        });
        if !covered {
            fail(format!(
                "no ResourceQuota in {ns} covers priority class {class}"
            ));
        }
    }
    // cert-manager's objects: each Certificate's issuer is installed beside it.
    for certificate in &certificates {
        let issuer = &certificate["spec"]["issuerRef"];
        if issuer["kind"] != "Issuer"
            || find(
                docs,
                "Issuer",
                ns,
                issuer["name"].as_str().unwrap_or_default(),
            )
            .is_none()
        {
            fail(format!(
                "Certificate {} has no installed issuer: {issuer}",
                certificate["metadata"]["name"]
            ));
        }
    }

    // gen-certs.sh's serving certificate names the Service in this namespace.
    if install.certs == Certs::GenCerts {
        let sans = Command::new("openssl")
            .args(["x509", "-noout", "-ext", "subjectAltName", "-in"])
            .arg(install.dir.join("tls.crt"))
            .output()
            .unwrap();
        let sans = String::from_utf8_lossy(&sans.stdout);
        for name in [
            format!("DNS:image-policy-webhook.{ns}.svc,"),
            format!("DNS:image-policy-webhook.{ns}.svc.cluster.local"),
        ] {
            if !sans.contains(&name) {
                fail(format!("tls.crt does not name {name}: {sans}"));
            }
        }
    }

    // Every webhook: its Service exists, serves the port from a pod, its CA
    // is set or injected, and it never judges what must stay unjudged.
    let webhook_configurations: Vec<&Value> = docs
        .iter()
        .filter(|d| {
            d["kind"] == "ValidatingWebhookConfiguration"
                || d["kind"] == "MutatingWebhookConfiguration"
        })
        .collect();
    let mutating = install.components.contains(&"rewrite") || install.components.contains(&"pin");
    let expected = 1 + usize::from(mutating);
    if webhook_configurations.len() != expected {
        fail(format!(
            "{} webhook configurations, expected {expected}",
            webhook_configurations.len()
        ));
    }
    if install.components.contains(&"pin") {
        pin_contract(docs, ns, &mut fail);
    }
    let server_namespaces: Vec<String> = docs
        .iter()
        .filter(|d| d["kind"] == "Service")
        .map(|d| {
            d["metadata"]["namespace"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    let mut left_out: Vec<&str> = vec![ns];
    if install.components.contains(&"validating-admission-policy") {
        left_out.extend(VAP_LEAVES_OUT);
    }
    for configuration in &webhook_configurations {
        let kind = configuration["kind"].as_str().unwrap();
        for webhook in configuration["webhooks"].as_array().unwrap() {
            let who = format!("{kind} webhook {}", webhook["name"]);
            let service = &webhook["clientConfig"]["service"];
            let (name, namespace) = (service["name"].as_str(), service["namespace"].as_str());
            let port = service["port"].as_i64().unwrap_or(443);
            match find(
                docs,
                "Service",
                namespace.unwrap_or_default(),
                name.unwrap_or_default(),
            ) {
                None => fail(format!(
                    "{who} calls Service {service}, which is not installed"
                )),
                Some(svc) => {
                    let target = svc["spec"]["ports"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .find(|p| p["port"] == port)
                        .map(|p| p["targetPort"].clone());
                    let served = target.is_some_and(|target| {
                        deployments.iter().any(|d| {
                            let pod = &d["spec"]["template"];
                            let labels: Vec<(&str, &str)> = pod["metadata"]["labels"]
                                .as_object()
                                .into_iter()
                                .flatten()
                                .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or_default()))
                                .collect();
                            selects(
                                &serde_json::json!({"matchLabels": svc["spec"]["selector"]}),
                                &labels,
                            ) && pod["spec"]["containers"]
                                .as_array()
                                .unwrap()
                                .iter()
                                .any(|c| {
                                    c["ports"].as_array().into_iter().flatten().any(|p| {
                                        p["name"] == target || p["containerPort"] == target
                                    })
                                })
                        })
                    });
                    if !served {
                        fail(format!("{who}: no pod serves port {port} of its Service"));
                    }
                }
            }
            let bundle = webhook["clientConfig"]["caBundle"]
                .as_str()
                .unwrap_or_default();
            let annotation =
                configuration["metadata"]["annotations"]["cert-manager.io/inject-ca-from"].as_str();
            match install.certs {
                Certs::GenCerts => {
                    use base64::Engine as _;
                    let pem = base64::engine::general_purpose::STANDARD
                        .decode(bundle)
                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                        .unwrap_or_default();
                    let ca = std::fs::read_to_string(install.dir.join("ca.crt")).unwrap();
                    if pem != ca {
                        fail(format!("{who}: its caBundle is not gen-certs.sh's ca.crt"));
                    }
                    if annotation.is_some() {
                        fail(format!(
                            "{who}: a cert-manager annotation without cert-manager"
                        ));
                    }
                }
                Certs::CertManager => {
                    let injected = annotation
                        .and_then(|a| a.split_once('/'))
                        .and_then(|(n, c)| find(docs, "Certificate", n, c));
                    match injected {
                        None => fail(format!(
                            "{who}: its CA is injected from {annotation:?}, no such Certificate"
                        )),
                        Some(certificate) => {
                            let dns = format!(
                                "{}.{}.svc",
                                name.unwrap_or_default(),
                                namespace.unwrap_or_default()
                            );
                            if !certificate["spec"]["dnsNames"]
                                .as_array()
                                .unwrap()
                                .iter()
                                .any(|d| *d == *dns)
                            {
                                fail(format!("{who}: the Certificate does not name {dns}"));
                            }
                        }
                    }
                }
            }
            // failurePolicy defaults to Fail in admissionregistration/v1.
            if webhook["failurePolicy"] != "Ignore" {
                for namespace in server_namespaces
                    .iter()
                    .map(String::as_str)
                    .chain(left_out.iter().copied())
                {
                    if judges(webhook, namespace) {
                        fail(format!(
                            "{who} (failurePolicy Fail) judges namespace {namespace}"
                        ));
                    }
                }
            }
        }
    }
    // The mutating webhook leaves out what the validating one does, and the
    // ValidatingAdmissionPolicy judges exactly what the webhooks leave out.
    let validating = docs
        .iter()
        .find(|d| d["kind"] == "ValidatingWebhookConfiguration");
    let binding = docs
        .iter()
        .find(|d| d["kind"] == "ValidatingAdmissionPolicyBinding");
    let probes = [NAMESPACES[0], NAMESPACES[1], "kube-system", "default", ns];
    for probe in probes {
        let judged = validating.is_some_and(|v| judges(&v["webhooks"][0], probe));
        for configuration in &webhook_configurations {
            if judges(&configuration["webhooks"][0], probe) != judged {
                fail(format!("the webhooks disagree on namespace {probe}"));
            }
        }
        if let Some(binding) = binding
            && selects(
                &binding["spec"]["matchResources"]["namespaceSelector"],
                &[("kubernetes.io/metadata.name", probe)],
            ) == judged
        {
            fail(format!(
                "namespace {probe}: judged by the webhook {judged}, and by the ValidatingAdmissionPolicy too or by neither"
            ));
        }
    }
    if let Some(binding) = binding {
        let policy = binding["spec"]["policyName"].as_str().unwrap_or_default();
        if find(docs, "ValidatingAdmissionPolicy", ns, policy).is_none() {
            fail(format!(
                "the binding names ValidatingAdmissionPolicy {policy:?}, not installed"
            ));
        }
    }
    if install.components.contains(&"validating-admission-policy") != binding.is_some() {
        fail("a ValidatingAdmissionPolicyBinding without its component, or the reverse".into());
    }
    failures
}

/// The installs and their renders, made once for the tests that read them
/// (under target/tmp, made again on each run).
fn rendered() -> &'static (Vec<Install>, Vec<Vec<Value>>) {
    static RENDERED: std::sync::OnceLock<(Vec<Install>, Vec<Vec<Value>>)> =
        std::sync::OnceLock::new();
    RENDERED.get_or_init(|| {
        let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("deploy-installs");
        let _ = std::fs::remove_dir_all(&work);
        std::fs::create_dir_all(&work).unwrap();
        let installs = installs(&work);
        let docs = render_all(&installs);
        (installs, docs)
    })
}

#[test]
fn every_documented_install_keeps_the_deployment_contract() {
    if !have("kubectl") || !have("openssl") {
        return;
    }
    let (installs, docs) = rendered();
    // 1 shipped + per namespace: 8 choices (5, and the 3 with rewrite as
    // pin) x (cert-manager, cert-manager last when there are components,
    // gen-certs.sh).
    assert_eq!(installs.len(), 1 + NAMESPACES.len() * (8 + 7 + 8));
    let mut failures = Vec::new();
    for (install, docs) in installs.iter().zip(docs) {
        failures.extend(contract(install, docs));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The contract itself catches what issue 18 found: each breakage below,
/// made on a good install, is reported.
#[test]
fn the_contract_catches_each_broken_install() {
    if !have("kubectl") || !have("openssl") {
        return;
    }
    let (installs, docs) = rendered();
    let index = installs
        .iter()
        .position(|i| {
            i.certs == Certs::CertManager
                && i.namespace == NAMESPACES[1]
                && i.components == COMPONENTS
        })
        .unwrap();
    let (install, good) = (&installs[index], &docs[index]);
    assert!(contract(install, good).is_empty());
    type Break = fn(&mut Vec<Value>);
    let breaks: [(&str, Break); 9] = [
        ("no TLS Secret maker", |d| {
            d.retain(|o| o["kind"] != "Certificate")
        }),
        ("empty caBundle, no injection", |d| {
            for o in d
                .iter_mut()
                .filter(|o| o["kind"] == "MutatingWebhookConfiguration")
            {
                o["metadata"]["annotations"] = Value::Null;
            }
        }),
        ("the webhook judges its own namespace", |d| {
            for o in d
                .iter_mut()
                .filter(|o| o["kind"] == "ValidatingWebhookConfiguration")
            {
                o["webhooks"][0]["namespaceSelector"]["matchExpressions"][0]["values"][0] =
                    Value::from("image-policy-system");
            }
        }),
        ("kube-system sent to /mutate", |d| {
            for o in d
                .iter_mut()
                .filter(|o| o["kind"] == "MutatingWebhookConfiguration")
            {
                o["webhooks"][0]["namespaceSelector"]["matchExpressions"][0]["values"] =
                    serde_json::json!(["webhooks"]);
            }
        }),
        ("no Service", |d| d.retain(|o| o["kind"] != "Service")),
        ("no labels on the mutating configuration", |d| {
            for o in d
                .iter_mut()
                .filter(|o| o["kind"] == "MutatingWebhookConfiguration")
            {
                o["metadata"]["labels"] = Value::Null;
            }
        }),
        ("no priority class", |d| {
            for o in d.iter_mut().filter(|o| o["kind"] == "Deployment") {
                o["spec"]["template"]["spec"]["priorityClassName"] = Value::Null;
            }
        }),
        ("the certificate names the old namespace", |d| {
            for o in d.iter_mut().filter(|o| o["kind"] == "Certificate") {
                o["spec"]["dnsNames"] =
                    serde_json::json!(["image-policy-webhook.image-policy-system.svc"]);
            }
        }),
        ("no policy ConfigMap", |d| {
            d.retain(|o| o["kind"] != "ConfigMap")
        }),
    ];
    for (what, make) in breaks {
        let mut broken = good.clone();
        make(&mut broken);
        assert!(!contract(install, &broken).is_empty(), "not caught: {what}");
    }
}

/// The Kubernetes versions the installs are validated against (the OpenAPI
/// schemas kubernetes-validate ships): 1.30, the first with
/// ValidatingAdmissionPolicy v1, to the newest. deploy/README.md names them.
const KUBERNETES_VERSIONS: [&str; 8] = [
    "1.30.0", "1.31.0", "1.32.0", "1.33.0", "1.34.0", "1.35.0", "1.36.0", "1.37.0",
];
/// API groups whose objects have no schema in the Kubernetes OpenAPI set
/// (custom resources): checked by the contract instead.
const NO_SCHEMA: [&str; 1] = ["cert-manager.io/v1"];

/// Each object (a JSON line {"id", "object"}) against each version given,
/// strictly (unknown fields refused): one JSON line {"id", "version",
/// "result"} each, where result is "ok", "no-schema" or the error.
const VALIDATE_PY: &str = r#"
import functools, json, sys
import kubernetes_validate as kv
# Each schema file read once, not once per object (ten times faster).
kv.utils.schema_contents = functools.lru_cache(maxsize=None)(kv.utils.schema_contents)
versions = sys.argv[1:]
for line in sys.stdin:
    item = json.loads(line)
    for version in versions:
        try:
            kv.validate(item["object"], version, strict=True)
            result = "ok"
        except kv.SchemaNotFoundError:
            result = "no-schema"
        except kv.ValidationError as e:
            where = getattr(e.__context__, "json_path", "")
            result = "%s: %s" % (where, str(e).splitlines()[0])
        print(json.dumps({"id": item["id"], "version": version, "result": result}))
"#;

fn kubernetes_validate() -> Option<PathBuf> {
    let python = std::env::var_os("IMAGE_POLICY_VAP_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| deploy_dir().join("../target/reference-tools/venv/bin/python"));
    let found = python.exists()
        && Command::new(&python)
            .args(["-c", "import kubernetes_validate"])
            .output()
            .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{} with kubernetes-validate is required in CI (.ci/reference-tools)",
            python.display()
        );
        eprintln!("NOTE: no kubernetes-validate; the schemas are not checked");
    }
    found.then_some(python)
}

/// Validates `objects` against every supported version: (index, version,
/// result) for each, result as VALIDATE_PY writes it.
fn validate(python: &Path, objects: &[&Value]) -> Vec<(usize, String, String)> {
    use std::io::Write;
    let mut child = Command::new(python)
        .arg("-c")
        .arg(VALIDATE_PY)
        .args(KUBERNETES_VERSIONS)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = String::new();
    for (id, object) in objects.iter().enumerate() {
        input.push_str(&serde_json::json!({"id": id, "object": object}).to_string());
        input.push('\n');
    }
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()).unwrap());
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(output.status.success());
    let mut results = Vec::new();
    for line in String::from_utf8(output.stdout).unwrap().lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        results.push((
            v["id"].as_u64().unwrap() as usize,
            v["version"].as_str().unwrap().to_owned(),
            v["result"].as_str().unwrap().to_owned(),
        ));
    }
    assert_eq!(results.len(), objects.len() * KUBERNETES_VERSIONS.len());
    results
}

/// Every object of every install is valid for every supported Kubernetes
/// version (each distinct object validated once); only cert-manager's have no
/// schema.
#[test]
fn every_installed_object_is_valid_for_every_supported_kubernetes() {
    if !have("kubectl") || !have("openssl") {
        return;
    }
    let Some(python) = kubernetes_validate() else {
        return;
    };
    let (installs, docs) = rendered();
    let mut distinct: Vec<&Value> = Vec::new();
    let mut owner: Vec<&str> = Vec::new();
    for (install, docs) in installs.iter().zip(docs) {
        for doc in docs {
            if !distinct.contains(&doc) {
                distinct.push(doc);
                owner.push(&install.label);
            }
        }
    }
    let mut failures = Vec::new();
    let mut unchecked = std::collections::BTreeSet::new();
    for (id, version, result) in validate(&python, &distinct) {
        let doc = distinct[id];
        let what = format!(
            "{} {} ({})",
            doc["kind"], doc["metadata"]["name"], owner[id]
        );
        match result.as_str() {
            "ok" => {}
            "no-schema" if NO_SCHEMA.iter().any(|g| doc["apiVersion"] == *g) => {
                unchecked.insert(format!(
                    "{}/{}",
                    doc["apiVersion"].as_str().unwrap(),
                    doc["kind"].as_str().unwrap()
                ));
            }
            _ => failures.push(format!("{what}, Kubernetes {version}: {result}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The docs name the versions checked.
    let readme = std::fs::read_to_string(deploy_dir().join("README.md")).unwrap();
    let minor = |v: &str| v.rsplit_once('.').unwrap().0.to_owned();
    let named = format!(
        "Kubernetes {} to {}",
        minor(KUBERNETES_VERSIONS[0]),
        minor(KUBERNETES_VERSIONS[KUBERNETES_VERSIONS.len() - 1])
    );
    assert!(
        readme.contains(&named),
        "deploy/README.md does not say {named:?}"
    );
    eprintln!(
        "{} distinct objects valid for Kubernetes {}; no schema (checked by the contract): {unchecked:?}",
        distinct.len(),
        KUBERNETES_VERSIONS.join(", ")
    );
}

/// No folder a user could apply without certificates is an install: every
/// kustomization of deploy/ is a Component, the transformers, or an install
/// the contract checks; the base and components/rewrite rendered alone carry
/// a webhook configuration the API server refuses (no Service namespace).
#[test]
fn no_incomplete_folder_is_an_install() {
    let mut files = Vec::new();
    yaml_files(&deploy_dir(), &mut files);
    let mut installs = Vec::new();
    for file in files.iter().filter(|f| f.ends_with("kustomization.yaml")) {
        let dir = file.parent().unwrap();
        let kind = documents(file)[0]["kind"].as_str().unwrap().to_owned();
        let relative = dir.strip_prefix(deploy_dir()).unwrap().to_owned();
        match kind.as_str() {
            "Component" => {}
            "Kustomization" if relative == Path::new("transformers") => {}
            "Kustomization" => installs.push(relative),
            other => panic!("{}: kind {other}", file.display()),
        }
    }
    assert_eq!(
        installs,
        [PathBuf::from("overlays/cert-manager")],
        "the one install folder; the contract test renders it"
    );
    if !have("kubectl") {
        return;
    }
    assert!(
        render(&deploy_dir().join("transformers"))
            .iter()
            .all(|d| d["apiVersion"] == "builtin")
    );
    let python = kubernetes_validate();
    for component in ["base", "components/rewrite"] {
        let docs = render(&deploy_dir().join(component));
        let webhooks: Vec<&Value> = docs
            .iter()
            .filter(|d| {
                d["kind"]
                    .as_str()
                    .unwrap()
                    .ends_with("WebhookConfiguration")
            })
            .collect();
        assert_eq!(webhooks.len(), 1, "{component}");
        assert!(webhooks[0]["webhooks"][0]["clientConfig"]["service"]["namespace"].is_null());
        if let Some(python) = &python {
            let results = validate(python, &webhooks);
            assert!(
                results
                    .iter()
                    .all(|(_, _, r)| r.contains("'namespace' is a required property")),
                "{component}: {results:?}"
            );
        }
    }
}

/// gen-certs.sh's renewal keeps the user's choices: the kustomization is
/// theirs after the first run; a run renews the serving certificate with
/// the same CA, for the namespace the kustomization names; a setting that
/// contradicts it is refused (exit 2), as is an unknown component.
#[test]
fn gen_certs_renewal_keeps_the_users_choices() {
    if !have("openssl") {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("local");
    let stderr = |o: &std::process::Output| String::from_utf8_lossy(&o.stderr).into_owned();
    let bad = gen_certs(&dir, None, &["rewrite", "sidecar"]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    assert!(stderr(&bad).contains("unknown component 'sidecar'"));
    assert!(!dir.join("kustomization.yaml").exists());

    let first = gen_certs(&dir, Some("webhooks"), &["rewrite"]);
    assert!(first.status.success(), "{}", stderr(&first));
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    let sans = |dir: &Path| {
        let o = Command::new("openssl")
            .args(["x509", "-noout", "-ext", "subjectAltName", "-in"])
            .arg(dir.join("tls.crt"))
            .output()
            .unwrap();
        String::from_utf8(o.stdout).unwrap()
    };
    assert!(
        sans(&dir).contains("DNS:image-policy-webhook.webhooks.svc,"),
        "{}",
        sans(&dir)
    );
    // The user's edit: the other component added by hand, and a comment.
    let written = read("kustomization.yaml");
    let rewrite = written
        .lines()
        .find(|l| l.ends_with("/components/rewrite"))
        .unwrap()
        .to_owned();
    let edited = written.replace(
        &format!("{rewrite}\n"),
        &format!(
            "{rewrite}\n  # mine:\n{}\n",
            rewrite.replace("/rewrite", "/validating-admission-policy")
        ),
    );
    assert_ne!(edited, written);
    std::fs::write(dir.join("kustomization.yaml"), &edited).unwrap();
    let (ca, tls) = (read("ca.crt"), read("tls.crt"));

    let renewed = gen_certs(&dir, None, &[]);
    assert!(renewed.status.success(), "{}", stderr(&renewed));
    assert_eq!(
        read("kustomization.yaml"),
        edited,
        "the user's kustomization is kept"
    );
    if have("kubectl") {
        let kinds: Vec<Value> = render(&dir).iter().map(|d| d["kind"].clone()).collect();
        for kind in [
            "MutatingWebhookConfiguration",
            "ValidatingAdmissionPolicyBinding",
            "Secret",
        ] {
            assert!(
                kinds.iter().any(|k| k == kind),
                "{kind} after renewal: {kinds:?}"
            );
        }
    }
    assert_eq!(read("ca.crt"), ca, "the CA is kept");
    assert_ne!(read("tls.crt"), tls, "the serving certificate is renewed");
    let verify = Command::new("openssl")
        .args(["verify", "-CAfile"])
        .arg(dir.join("ca.crt"))
        .arg(dir.join("tls.crt"))
        .output()
        .unwrap();
    assert!(verify.status.success());
    assert!(sans(&dir).contains("DNS:image-policy-webhook.webhooks.svc,"));

    let other = gen_certs(&dir, Some("elsewhere"), &[]);
    assert_eq!(other.status.code(), Some(2), "{}", stderr(&other));
    assert!(
        stderr(&other).contains("installs into webhooks"),
        "{}",
        stderr(&other)
    );
    let components = gen_certs(&dir, None, &["validating-admission-policy"]);
    assert_eq!(components.status.code(), Some(2), "{}", stderr(&components));
    assert_eq!(read("kustomization.yaml"), edited);

    // The namespace changed where it lives (quoted, as YAML allows): the
    // certificate follows.
    std::fs::write(
        dir.join("kustomization.yaml"),
        edited.replace("\nnamespace: webhooks\n", "\nnamespace: \"team-a\"\n"),
    )
    .unwrap();
    let moved = gen_certs(&dir, None, &[]);
    assert!(moved.status.success(), "{}", stderr(&moved));
    assert!(
        sans(&dir).contains("DNS:image-policy-webhook.team-a.svc,"),
        "{}",
        sans(&dir)
    );
    assert_eq!(read("ca.crt"), ca);

    // A kustomization of the layout before this one (the base as a
    // resource, no transformers) is refused, not renewed into a broken install.
    let old_layout = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n\
                      resources:\n  - ../base\nnamespace: image-policy-system\n";
    std::fs::write(dir.join("kustomization.yaml"), old_layout).unwrap();
    let old = gen_certs(&dir, None, &[]);
    assert_eq!(old.status.code(), Some(2), "{}", stderr(&old));
    assert!(
        stderr(&old).contains("does not run deploy/transformers"),
        "{}",
        stderr(&old)
    );
}
