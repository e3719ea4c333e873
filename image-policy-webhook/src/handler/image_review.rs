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

use std::collections::BTreeMap;
use std::fmt;

use image_policy_core::k8s::{Annotations, CowStr};
use image_policy_core::policy::{Context, Policy};
use serde::{Deserialize, Serialize};

use super::reply::{
    Judged, Reply, ReplySummary, Verdict, bad_request, decode, encode, images_noun,
};

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
    #[serde(borrow, default)]
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
    audit_annotations: BTreeMap<&'static str, String>,
}

/// An ImageReview names containers only by their index.
struct ContainerIndex(usize);

impl fmt::Display for ContainerIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "container {}", self.0)
    }
}

pub(super) fn handle(policy: &Policy, body: &[u8]) -> Reply {
    let review: ImageReviewIn<'_> = match decode("ImageReview", body) {
        Ok(review) => review,
        Err(message) => return bad_request(message),
    };
    match review.api_version.as_deref() {
        Some(API_VERSION) => {}
        Some(other) => {
            return bad_request(format!(
                "apiVersion {other:?} is not supported on /imagereview: expected {API_VERSION:?}"
            ));
        }
        None => {
            return bad_request(format!(
                "the ImageReview has no apiVersion (expected {API_VERSION:?})"
            ));
        }
    }
    if review.kind.as_deref() != Some(KIND) {
        return bad_request(match review.kind.as_deref() {
            Some(other) => {
                format!("kind {other:?} is not supported on /imagereview: expected {KIND:?}")
            }
            None => format!("the request has no kind (expected {KIND:?})"),
        });
    }
    let Some(spec) = review.spec else {
        return bad_request("the ImageReview has no spec".to_owned());
    };

    let namespace = spec.namespace.as_deref();
    let annotations: Vec<(&str, &str)> = spec
        .annotations
        .iter()
        .flat_map(|a| a.0.iter().map(|(k, v)| (&**k, &**v)))
        .collect();
    let mut ctx = Context::new().annotations(&annotations);
    if let Some(ns) = namespace {
        ctx = ctx.namespace(ns);
    }
    let containers = spec.containers.unwrap_or_default();
    let judged = containers
        .iter()
        .enumerate()
        .map(|(index, c)| Judged {
            label: ContainerIndex(index),
            // A container without an image is judged as the empty image,
            // which does not parse and is denied.
            decision: policy.evaluate(c.image.as_deref().unwrap_or(""), &ctx),
            existing: false,
        })
        .collect();
    let verdict = Verdict { judged };

    let denied = verdict.denied();
    let reason = if denied > 0 {
        let pod = match namespace {
            Some(ns) => format!("pod in namespace {ns}"),
            None => "pod".to_owned(),
        };
        let mut reason = format!(
            "{pod}: {denied} of {} {} denied: ",
            containers.len(),
            images_noun(containers.len())
        );
        verdict.write_denial_reasons(&mut reason);
        reason
    } else {
        String::new()
    };
    let status = StatusOut {
        allowed: denied == 0,
        reason: &reason,
        audit_annotations: verdict.audit_annotations(),
    };
    let body = encode(&ImageReviewOut {
        api_version: API_VERSION,
        kind: KIND,
        status,
    });
    let message = if denied > 0 {
        reason
    } else if containers.is_empty() {
        "allowed: the ImageReview has no containers".to_owned()
    } else {
        let mut m = format!(
            "allowed: {} {}",
            containers.len(),
            images_noun(containers.len())
        );
        for w in verdict.warnings() {
            m.push_str("; ");
            m.push_str(&w);
        }
        m
    };
    Reply {
        status: 200,
        body,
        summary: ReplySummary {
            outcome: verdict.outcome(),
            uid: None,
            kind: Some("Pod".to_owned()),
            namespace: namespace.map(str::to_owned),
            name: None,
            images: containers.len(),
            denied,
            break_glass: verdict.break_glass(),
            message,
        },
    }
}
