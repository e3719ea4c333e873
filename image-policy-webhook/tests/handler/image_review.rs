//! ImageReview: the example of the Kubernetes documentation and the seed case.

use image_policy_core::policy::{Mode, Policy};
use image_policy_webhook::handler::{Endpoint, Outcome};

use crate::{ask, seed_policy, testdata};

fn body(name: &str) -> Vec<u8> {
    std::fs::read(testdata(&format!("webhook/{name}"))).unwrap()
}

#[test]
fn seed_case() {
    let policy = seed_policy(Mode::Enforce);
    let (reply, answer) = ask(
        &policy,
        Endpoint::ImageReview,
        &body("imagereview-seed-denied.json"),
    );
    assert_eq!(reply.status, 200);
    assert_eq!(answer["apiVersion"], "imagepolicy.k8s.io/v1alpha1");
    assert_eq!(answer["kind"], "ImageReview");
    assert_eq!(answer["status"]["allowed"], false);
    assert_eq!(
        answer["status"]["reason"],
        "pod in namespace monitoring: 1 of 1 image denied: container 0 image \"prometheus:2.6.1\": \
         docker.io/library/prometheus:2.6.1: registry docker.io is not in the allowed registries (registry.my.com)"
    );
    assert_eq!(
        answer["status"]["auditAnnotations"]["denied-images"],
        "prometheus:2.6.1"
    );
    assert_eq!(reply.summary.outcome, Outcome::Denied);
    assert_eq!(reply.summary.namespace.as_deref(), Some("monitoring"));

    let (reply, answer) = ask(
        &policy,
        Endpoint::ImageReview,
        &body("imagereview-seed-allowed.json"),
    );
    assert_eq!(answer["status"]["allowed"], true);
    // "If allowed is not false, reason should be empty."
    assert!(answer["status"].get("reason").is_none(), "{answer}");
    assert!(
        answer["status"].get("auditAnnotations").is_none(),
        "{answer}"
    );
    assert_eq!(reply.summary.outcome, Outcome::Allowed);
}

/// The documentation's example: two images of `myrepo/myimage` (Docker Hub)
/// and a break-glass annotation.
#[test]
fn documentation_example() {
    let example = body("imagereview-docs-example.json");
    let (reply, answer) = ask(&seed_policy(Mode::Enforce), Endpoint::ImageReview, &example);
    assert_eq!(answer["status"]["allowed"], false);
    assert_eq!(reply.summary.denied, 2);
    let reason = answer["status"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("container 0 image \"myrepo/myimage:v1\""),
        "{reason}"
    );
    assert!(
        reason.contains("container 1 image \"myrepo/myimage@sha256:beb6"),
        "{reason}"
    );
    assert!(
        reason.contains("registry docker.io is not in the allowed registries"),
        "{reason}"
    );

    // A policy that honours break-glass admits the first and records it; the
    // second's digest has 63 hex digits, so it does not parse, and nothing
    // admits an image that does not parse.
    let policy = Policy::builder()
        .allow_registry("registry.my.com")
        .break_glass(true)
        .build()
        .unwrap()
        .policy;
    let (reply, answer) = ask(&policy, Endpoint::ImageReview, &example);
    assert_eq!(answer["status"]["allowed"], false, "{answer}");
    assert_eq!(reply.summary.denied, 1);
    let reason = answer["status"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("container 1 image \"myrepo/myimage@sha256:beb6"),
        "{reason}"
    );
    assert!(!reason.contains("container 0"), "{reason}");
    let recorded = answer["status"]["auditAnnotations"]["break-glass"]
        .as_str()
        .unwrap();
    assert_eq!(recorded, "myrepo/myimage:v1", "{answer}");
    assert!(reply.summary.break_glass);

    // Even with a rule that allows the repository and break-glass enabled,
    // the image that does not parse stays denied and nothing is recorded.
    let policy = Policy::builder()
        .allow_repository("docker.io/myrepo/*")
        .break_glass(true)
        .build()
        .unwrap()
        .policy;
    let (reply, answer) = ask(&policy, Endpoint::ImageReview, &example);
    assert_eq!(answer["status"]["allowed"], false, "{answer}");
    assert!(
        answer["status"]["auditAnnotations"]
            .get("break-glass")
            .is_none(),
        "{answer}"
    );
    assert!(!reply.summary.break_glass);
    let policy = Policy::builder()
        .allow_repository("docker.io/myrepo/*")
        .build()
        .unwrap()
        .policy;
    let (_, answer) = ask(&policy, Endpoint::ImageReview, &example);
    let reason = answer["status"]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("pod in namespace mynamespace: 1 of 2 images denied: container 1"),
        "{reason}"
    );
    assert!(reason.contains("digest has the wrong length"), "{reason}");
}

#[test]
fn warn_mode_records_in_audit_annotations() {
    let (reply, answer) = ask(
        &seed_policy(Mode::Warn),
        Endpoint::ImageReview,
        &body("imagereview-seed-denied.json"),
    );
    assert_eq!(answer["status"]["allowed"], true);
    assert_eq!(
        answer["status"]["auditAnnotations"]["warned-images"],
        "prometheus:2.6.1"
    );
    assert_eq!(reply.summary.outcome, Outcome::Warned);
}

#[test]
fn a_container_without_image_is_denied() {
    let body = br#"{"apiVersion":"imagepolicy.k8s.io/v1alpha1","kind":"ImageReview",
        "spec":{"containers":[{"image":"registry.my.com/a:1"},{}]}}"#;
    let (_, answer) = ask(&seed_policy(Mode::Enforce), Endpoint::ImageReview, body);
    assert_eq!(answer["status"]["allowed"], false);
    let reason = answer["status"]["reason"].as_str().unwrap();
    assert!(reason.contains("container 1 image \"\""), "{reason}");
}
