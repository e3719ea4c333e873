//! `ImageReview` (`imagepolicy.k8s.io/v1alpha1`), from the `ImagePolicyWebhook`
//! admission plugin: the images of a Pod being created, its namespace and its
//! annotations that match `*.image-policy.k8s.io/*`.
//!
//! See the [API reference](https://kubernetes.io/docs/reference/config-api/imagepolicy.v1alpha1/).
//!
//! # What the plugin does not send
//!
//! The API server's plugin builds the review from a Pod's `containers` and
//! `initContainers` (or, for the `pods/ephemeralcontainers` subresource, its
//! `ephemeralContainers`) and nothing else: it never sends the image volumes
//! (`volumes[].image.reference`, the ImageVolume feature) that the kubelet
//! pulls too. This endpoint judges every image it is sent, but cannot judge
//! what it is not sent: run the validating webhook (`/validate`, see
//! [`super::admission_review`]), which reads image volumes, beside the plugin,
//! or instead of it.
//!
//! # No rewriting
//!
//! The plugin's answer is allowed or not: it cannot change the pod. So
//! rewrite rules do not apply here; each image is judged as written (a
//! `prometheus:2.6.1` that `/mutate` would send to `registry.my.com` is judged
//! as Docker Hub's). Use `/mutate` and `/validate` to rewrite.
//!
//! # Signatures
//!
//! Under a policy with `verify:` rules, an image in verify scope must carry
//! a digest (the verdict says so) and that digest must verify, as on
//! `/validate`: the same two phases ([`verify`](super::verify)), the same
//! checks, the same message. In warn mode the reasons are in the
//! `unverified-images` audit annotation (an ImageReview has no warnings).

use std::collections::BTreeMap;

use image_policy_core::admission;
use image_policy_core::k8s::{Annotations, CowStr, MAX_ENTRIES, MAX_IMAGES, bounded_list};
use image_policy_core::policy::Policy;
use serde::{Deserialize, Serialize};

use super::reply::{Outcome, Reply, ReplySummary, bad_request, decode, encode};
use super::verify::{self, Form, ValidateStep};

const API_VERSION: &str = "imagepolicy.k8s.io/v1alpha1";
const KIND: &str = "ImageReview";

#[derive(Deserialize)]
#[serde(rename = "ImageReview")]
struct ImageReviewIn<'a> {
    #[serde(rename = "apiVersion", borrow, default)]
    api_version: Option<CowStr<'a>>,
    #[serde(borrow, default)]
    kind: Option<CowStr<'a>>,
    #[serde(borrow, default)]
    spec: Option<SpecIn<'a>>,
}

#[derive(Deserialize)]
#[serde(rename = "ImageReviewSpec")]
struct SpecIn<'a> {
    #[serde(borrow, default, deserialize_with = "bounded_list")]
    containers: Option<Vec<ContainerIn<'a>>>,
    #[serde(borrow, default)]
    annotations: Option<Annotations<CowStr<'a>>>,
    #[serde(borrow, default)]
    namespace: Option<CowStr<'a>>,
}

#[derive(Deserialize)]
#[serde(rename = "ImageReviewContainerSpec")]
struct ContainerIn<'a> {
    #[serde(borrow, default)]
    image: Option<CowStr<'a>>,
}

#[derive(Serialize)]
struct ImageReviewOut<'a> {
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    kind: &'static str,
    status: StatusOut<'a>,
}

#[derive(Serialize)]
struct StatusOut<'a> {
    allowed: bool,
    #[serde(skip_serializing_if = "str::is_empty")]
    reason: &'a str,
    #[serde(
        rename = "auditAnnotations",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    audit_annotations: &'a BTreeMap<&'static str, String>,
}

/// An ImageReview's answer: `status` with `allowed`, the reason (the
/// message) and the audit annotations.
pub(super) fn answer(
    allowed: bool,
    reason: &str,
    audit_annotations: &BTreeMap<&'static str, String>,
) -> Vec<u8> {
    encode(&ImageReviewOut {
        api_version: API_VERSION,
        kind: KIND,
        status: StatusOut {
            allowed,
            reason,
            audit_annotations,
        },
    })
}

/// One call, without a registry: an image to verify fails (closed).
pub(super) fn handle(policy: &Policy, body: &[u8]) -> Reply {
    match handle_step(policy, body) {
        ValidateStep::Done(reply) => reply,
        ValidateStep::Verify(pending) => pending.complete(&[]),
    }
}

/// The first phase: the answer, or (verify rules) the pinned images to
/// verify. An ImageReview names containers only by their index.
pub(super) fn handle_step(policy: &Policy, body: &[u8]) -> ValidateStep {
    let review: ImageReviewIn<'_> = match decode("ImageReview", body) {
        Ok(review) => review,
        Err(message) => return ValidateStep::Done(bad_request(message)),
    };
    match review.api_version.as_deref() {
        Some(API_VERSION) => {}
        Some(other) => {
            return ValidateStep::Done(bad_request(format!(
                "apiVersion {other:?} is not supported on /imagereview: expected {API_VERSION:?}"
            )));
        }
        None => {
            return ValidateStep::Done(bad_request(format!(
                "the ImageReview has no apiVersion (expected {API_VERSION:?})"
            )));
        }
    }
    if review.kind.as_deref() != Some(KIND) {
        return ValidateStep::Done(bad_request(match review.kind.as_deref() {
            Some(other) => {
                format!("kind {other:?} is not supported on /imagereview: expected {KIND:?}")
            }
            None => format!("the request has no kind (expected {KIND:?})"),
        }));
    }
    let Some(spec) = review.spec else {
        return ValidateStep::Done(bad_request("the ImageReview has no spec".to_owned()));
    };

    let namespace = spec.namespace.as_deref();
    let annotations: Vec<(&str, &str)> = spec
        .annotations
        .iter()
        .flat_map(|a| a.0.iter().map(|(k, v)| (&**k, &**v)))
        .collect();
    let containers = spec.containers.unwrap_or_default();
    // Only the first entries past the bounds were kept: refuse to judge.
    let beyond = if containers.len() > MAX_IMAGES {
        Some(format!(
            "the ImageReview has more than {MAX_IMAGES} containers, more than is judged"
        ))
    } else if annotations.len() > MAX_ENTRIES {
        Some(format!(
            "the ImageReview has more than {MAX_ENTRIES} annotations, more than is judged"
        ))
    } else {
        None
    };
    if let Some(reason) = beyond {
        let body = answer(false, &reason, &BTreeMap::new());
        let mut summary = ReplySummary::new(Outcome::Denied, reason);
        summary.kind = Some("Pod".to_owned());
        return ValidateStep::Done(Reply {
            status: 200,
            body,
            summary,
        });
    }
    let verdict = admission::decide_images(
        policy,
        containers.iter().map(|c| c.image.as_deref().unwrap_or("")),
        namespace,
        &annotations,
    );
    let denied = verdict.denied_images().count();
    let images = containers.len();
    let outcome = if !verdict.allowed() {
        Outcome::Denied
    } else if verdict.warned() {
        Outcome::Warned
    } else {
        Outcome::Allowed
    };
    let mut summary = ReplySummary {
        outcome,
        uid: None,
        kind: Some("Pod".to_owned()),
        namespace: namespace.map(str::to_owned),
        name: None,
        images,
        denied,
        break_glass: verdict.break_glass(),
        message: String::new(),
    };
    // Only a policy with verify rules pays for the signature check.
    if policy.has_verify_rules() {
        let label = admission::object_label(Some("Pod"), namespace, None);
        if let Some(pending) = verify::plan(
            policy,
            Form::ImageReview,
            label,
            namespace,
            &verdict,
            &summary,
        ) {
            return ValidateStep::Verify(pending);
        }
    }
    let body = answer(
        verdict.allowed(),
        &verdict.message,
        &verdict.audit_annotations,
    );
    summary.message = if denied > 0 {
        verdict.message
    } else if images == 0 {
        "allowed: the ImageReview has no containers".to_owned()
    } else {
        let mut m = format!(
            "allowed: {images} {}",
            if images == 1 { "image" } else { "images" }
        );
        for w in &verdict.warnings {
            m.push_str("; ");
            m.push_str(w);
        }
        m
    };
    ValidateStep::Done(Reply {
        status: 200,
        body,
        summary,
    })
}
