//! An admission controller on kube-rs's types that asks `image-policy-core`
//! which images may run: the example to copy.
//!
//! [`review`] takes the [`AdmissionRequest`] a kube-rs webhook has decoded
//! (`AdmissionReview<DynamicObject>` and `try_into`), gives the object to
//! [`image_policy_core::admission::decide`] and turns the [`AdmissionVerdict`] into
//! the [`AdmissionResponse`]: denied with the message naming every denied
//! image and why, the warnings kubectl shows, the audit annotations. The
//! answer is the one `image-policy-webhook` gives on `/validate` (its tests
//! check it on every committed review).
//!
//! ```
//! use image_policy_core::policy::Policy;
//! use kube_core::DynamicObject;
//! use kube_core::admission::{AdmissionRequest, AdmissionReview};
//!
//! let policy = Policy::builder()
//!     .allow_registry("registry.my.com")
//!     .require_digest()
//!     .build()?
//!     .policy;
//! let body = std::fs::read_to_string("../../testdata/webhook/admissionreview-deployment.json")?;
//! let review: AdmissionReview<DynamicObject> = serde_json::from_str(&body)?;
//! let request: AdmissionRequest<DynamicObject> = review.try_into()?;
//! let response = kube_admission_example::review(&policy, &request);
//! assert!(!response.allowed);
//! assert!(response.result.message.contains("denied by image policy"));
//! let answer = response.into_review(); // serialize it as the HTTP response
//! # let _ = answer;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Serving it (axum, actix, warp, with TLS) is as in kube-rs's
//! `admission_controller` example; only the decision differs.

use image_policy_core::admission::{self, AdmissionVerdict, Operation, Request, Status};
use image_policy_core::k8s::{CowStr, Object};
use image_policy_core::policy::Policy;
use kube_core::DynamicObject;
use kube_core::admission::{AdmissionRequest, AdmissionResponse, Operation as KubeOperation};
use kube_core::response::Status as KubeStatus;

/// The answer to one admission request.
pub fn review(policy: &Policy, request: &AdmissionRequest<DynamicObject>) -> AdmissionResponse {
    // A DynamicObject is the object's JSON (its type and metadata set
    // apart): written back as JSON, the core reads the fields it needs,
    // borrowed.
    let (object, old_object) = match (to_json(&request.object), to_json(&request.old_object)) {
        (Ok(object), Ok(old_object)) => (object, old_object),
        (Err(e), _) | (_, Err(e)) => return invalid(request, &e),
    };
    let (object, old_object) = match (read(&object), read(&old_object)) {
        (Ok(object), Ok(old_object)) => (object, old_object),
        (Err(e), _) | (_, Err(e)) => return invalid(request, &e),
    };

    let operation = match request.operation {
        KubeOperation::Create => Operation::Create,
        KubeOperation::Update => Operation::Update,
        KubeOperation::Delete => Operation::Delete,
        KubeOperation::Connect => Operation::Connect,
    };
    let request_for_policy = Request::new(operation, object.as_ref())
        .old_object(old_object.as_ref())
        .namespace(request.namespace.as_deref())
        .kind(non_empty(&request.kind.kind))
        .name(non_empty(&request.name))
        .resource(
            non_empty(&request.resource.resource),
            request.sub_resource.as_deref(),
        );
    let verdict = admission::decide(policy, &request_for_policy);
    response(request, verdict)
}

fn to_json(object: &Option<DynamicObject>) -> serde_json::Result<Option<serde_json::Value>> {
    object.as_ref().map(serde_json::to_value).transpose()
}

fn read(value: &Option<serde_json::Value>) -> serde_json::Result<Option<Object<CowStr<'_>>>> {
    value.as_ref().map(admission::object_from_json).transpose()
}

/// kube-core writes an absent string as an empty one.
fn non_empty(s: &str) -> Option<&str> {
    Some(s).filter(|s| !s.is_empty())
}

/// The verdict as kube-rs's response.
fn response(
    request: &AdmissionRequest<DynamicObject>,
    verdict: AdmissionVerdict<'_>,
) -> AdmissionResponse {
    let mut response = AdmissionResponse::from(request);
    response.result = match verdict.status {
        Status::Allowed => KubeStatus::success(),
        denied => KubeStatus::failure(&verdict.message, denied.reason()),
    }
    .with_code(verdict.status.code());
    response.result.message = verdict.message;
    response.allowed = verdict.status.allowed();
    response.warnings = (!verdict.warnings.is_empty()).then_some(verdict.warnings);
    response.audit_annotations = verdict
        .audit_annotations
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value))
        .collect();
    response
}

/// A request whose object is not a Kubernetes object of the expected shape
/// (a field of the wrong type): denied, as the webhook denies it.
fn invalid(request: &AdmissionRequest<DynamicObject>, e: &serde_json::Error) -> AdmissionResponse {
    let mut response = AdmissionResponse::from(request);
    response.allowed = false;
    response.result = KubeStatus::failure(&format!("the object cannot be read: {e}"), "BadRequest")
        .with_code(400);
    response
}
