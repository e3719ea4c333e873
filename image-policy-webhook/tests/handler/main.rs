//! The handler's tests: real objects (the kubectl-made fixtures of
//! `testdata/k8s/objects`) wrapped in AdmissionReview requests, the
//! ImageReview example of the Kubernetes documentation, and tables of bad
//! requests, all through `handle`; `/mutate`'s patches applied by the
//! `json-patch` crate; the `handler` fuzz target's checks (`image_policy_webhook::fuzzing`) on
//! its committed inputs.

mod admission;
mod bad_requests;
mod bounds;
mod fuzz_regressions;
mod image_review;
mod mutate;
mod never_panics;
mod pin;

use image_policy_core::policy::{Mode, Policy};
use image_policy_webhook::handler::{Endpoint, Reply, handle};
use serde_json::{Value, json};

/// The workspace's `testdata/` folder.
pub fn testdata(rel: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata")
        .join(rel)
}

/// A file of `testdata/`.
pub fn read(rel: &str) -> String {
    let path = testdata(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A JSON file of `testdata/`.
pub fn read_json(rel: &str) -> Value {
    serde_json::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The seed policy: only `registry.my.com`, in the given mode.
pub fn seed_policy(mode: Mode) -> Policy {
    Policy::builder()
        .allow_registry("registry.my.com")
        .mode(mode)
        .build()
        .expect("seed policy")
        .policy
}

/// An image the seed policy denies.
pub const DENIED_IMAGE: &str = "prometheus:2.6.1";

/// The plural resource of a kind, as a request's `resource` names it.
pub fn resource_of(kind: &str) -> String {
    format!("{}s", kind.to_lowercase())
}

/// A request of the API server about `object`, wrapped as an AdmissionReview
/// of `api_version` (`admission.k8s.io/v1` or `v1beta1`).
pub fn admission_review(
    api_version: &str,
    operation: &str,
    object: &Value,
    old_object: Option<&Value>,
    sub_resource: Option<&str>,
) -> Vec<u8> {
    let kind = object["kind"].as_str().unwrap_or("Pod");
    let (group, version) = match object["apiVersion"]
        .as_str()
        .unwrap_or("v1")
        .split_once('/')
    {
        Some((g, v)) => (g.to_owned(), v.to_owned()),
        None => (
            String::new(),
            object["apiVersion"].as_str().unwrap_or("v1").to_owned(),
        ),
    };
    let mut request = json!({
        "uid": "b9c7b1f4-3b5e-4c1e-9d8f-2f1e5a6b7c8d",
        "kind": {"group": group, "version": version, "kind": kind},
        "resource": {"group": group, "version": version, "resource": resource_of(kind)},
        "name": object["metadata"]["name"],
        "namespace": object["metadata"]["namespace"],
        "operation": operation,
        "userInfo": {"username": "kubernetes-admin", "groups": ["system:authenticated"]},
        "object": object,
        "oldObject": old_object,
        "dryRun": false,
    });
    if let Some(sub) = sub_resource {
        request["subResource"] = json!(sub);
    }
    serde_json::to_vec(&json!({
        "apiVersion": api_version,
        "kind": "AdmissionReview",
        "request": request,
    }))
    .unwrap()
}

/// Calls the handler and decodes its answer.
pub fn ask(policy: &Policy, endpoint: Endpoint, body: &[u8]) -> (Reply, Value) {
    let reply = handle(policy, endpoint, body);
    let value = serde_json::from_slice(&reply.body).unwrap_or_else(|e| {
        panic!(
            "the reply is not JSON ({e}): {}",
            String::from_utf8_lossy(&reply.body)
        )
    });
    (reply, value)
}
