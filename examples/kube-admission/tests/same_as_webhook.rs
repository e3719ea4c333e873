//! The example answers every committed AdmissionReview as the webhook's
//! handler does: same `allowed`, status, message, warnings and audit
//! annotations, for several policies.

use std::path::{Path, PathBuf};

use image_policy_core::policy::{Mode, Policy};
use image_policy_webhook::handler::{Endpoint, handle};
use kube_core::DynamicObject;
use kube_core::admission::{AdmissionRequest, AdmissionReview};
use serde_json::{Value, json};

fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(rel)
}

fn policies() -> Vec<(String, Policy)> {
    let mut policies = Vec::new();
    for mode in [Mode::Enforce, Mode::Warn, Mode::Audit] {
        let policy = Policy::builder()
            .allow_registry("registry.my.com")
            .mode(mode)
            .build()
            .expect("the seed policy")
            .policy;
        policies.push((format!("seed, {mode:?}"), policy));
        // Denies every committed object's images; exempts them on UPDATE
        // when they were already there.
        let policy = Policy::builder()
            .allow_registry("registry.my.com")
            .require_digest()
            .exempt_existing_images_on_update(true)
            .break_glass(true)
            .mode(mode)
            .build()
            .expect("a digest policy")
            .policy;
        policies.push((format!("digests, {mode:?}"), policy));
    }
    let policy = Policy::builder()
        .allow_registry("registry.my.com")
        .deny_regex("/shop/")
        .build()
        .expect("a deny policy")
        .policy;
    policies.push(("deny shop".to_owned(), policy));
    for file in ["../examples/seed.yaml", "../examples/multi-team.yaml"] {
        let text = std::fs::read_to_string(testdata(file)).expect("a policy file");
        let policy = Policy::from_yaml_str(&text, file)
            .expect("a valid policy")
            .policy;
        policies.push((file.to_owned(), policy));
    }
    policies
}

/// The committed reviews, and each kubectl-made object in a CREATE, in an
/// UPDATE from a Pod running `prometheus:2.6.1`, and in an UPDATE from
/// itself.
fn reviews() -> Vec<(String, String)> {
    let mut reviews = Vec::new();
    for entry in std::fs::read_dir(testdata("webhook")).expect("testdata/webhook") {
        let path = entry.expect("an entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with("admissionreview-") && name.ends_with(".json") {
            let body = std::fs::read_to_string(&path).expect("a review");
            reviews.push((name.to_owned(), body));
        }
    }
    for entry in std::fs::read_dir(testdata("k8s/objects")).expect("testdata/k8s/objects") {
        let path = entry.expect("an entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if !name.ends_with(".json") || name == "images.json" {
            continue;
        }
        let object: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("an object"))
                .expect("JSON");
        let old = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "old"},
            "spec": {"containers": [{"name": "a", "image": "prometheus:2.6.1"}]}});
        for (operation, old_object) in [
            ("CREATE", Value::Null),
            ("UPDATE", old),
            ("UPDATE", object.clone()),
        ] {
            let review = json!({
                "apiVersion": "admission.k8s.io/v1",
                "kind": "AdmissionReview",
                "request": {
                    "uid": "b9c7b1f4-3b5e-4c1e-9d8f-2f1e5a6b7c8d",
                    "kind": {"group": "", "version": "v1", "kind": object["kind"]},
                    "resource": {"group": "", "version": "v1", "resource": "things"},
                    "name": object["metadata"]["name"].as_str().unwrap_or(""),
                    "namespace": object["metadata"]["namespace"],
                    "operation": operation,
                    "userInfo": {"username": "kubernetes-admin"},
                    "object": object,
                    "oldObject": old_object,
                }
            });
            reviews.push((format!("{name} ({operation})"), review.to_string()));
        }
    }
    assert!(reviews.len() >= 40, "only {} reviews", reviews.len());
    reviews
}

#[test]
fn the_example_answers_as_the_webhook() {
    let reviews = reviews();
    let (mut denied, mut warned, mut existing) = (0, 0, 0);
    for (policy_name, policy) in policies() {
        for (name, body) in &reviews {
            let reply = handle(&policy, Endpoint::AdmissionReview, body.as_bytes());
            assert_eq!(reply.status, 200, "{name}");
            let webhook: Value = serde_json::from_slice(&reply.body).expect("JSON");

            let review: AdmissionReview<DynamicObject> =
                serde_json::from_str(body).expect("kube-rs reads the review");
            let request: AdmissionRequest<DynamicObject> = review.try_into().expect("a request");
            let response = kube_admission_example::review(&policy, &request);
            let example = serde_json::to_value(response.into_review()).expect("JSON");

            assert_eq!(
                example["response"], webhook["response"],
                "{name}, {policy_name}"
            );
            let answer = &webhook["response"];
            denied += usize::from(answer["allowed"] == false);
            warned += usize::from(answer["warnings"].is_array());
            existing += usize::from(answer["auditAnnotations"]["existing-images"].is_string());
        }
    }
    // Denials, warnings and the UPDATE rule are all exercised.
    assert!(denied > 40, "only {denied} denials");
    assert!(warned > 40, "only {warned} answers with warnings");
    assert!(
        existing > 20,
        "only {existing} answers with existing images"
    );
}
