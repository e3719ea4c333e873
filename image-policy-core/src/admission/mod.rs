//! The admission decision on a whole Kubernetes object: the verdict a
//! validating admission webhook gives, as a typed value.
//!
//! # Overview
//!
//! [`decide`] takes a [`Request`] (the operation, the object, the old object
//! on UPDATE, the namespace) and a compiled [`Policy`](crate::policy::Policy), and returns
//! an [`AdmissionVerdict`]: allowed or not, every image with where it is written and why
//! it was judged so ([`JudgedImage`]), the message for the user, the warnings
//! and the audit annotations. It is what `image-policy-webhook` answers on
//! `/validate`, byte for byte: the webhook decodes the AdmissionReview, calls
//! [`decide`] and encodes the verdict. An admission controller built on
//! another stack (kube-rs, a Kubernetes client in another process) calls the
//! same function and gets the same answer.
//!
//! [`mutate`](fn@mutate) is the other half of admission with
//! [rewrite rules](crate::policy::rewrite): what a mutating webhook answers,
//! the images to rewrite at their JSON pointers (a [`Mutation`]); it
//! judges nothing, and [`decide`] judges the object it
//! produces.
//!
//! [`decide_images`] is the same judgement for a pod's images given without
//! the pod, as the `ImagePolicyWebhook` admission plugin sends them.
//! [`judge`] is [`decide`]'s judgement of each image without the verdict's
//! words (message, warnings, audit annotations), for a caller that acts on
//! the judgements (the webhook's `/mutate` picks the images to pin from
//! them): one code path, so the two never disagree.
//!
//! The object is the borrowed [`k8s::Object`](crate::k8s::Object) (any string
//! leaf); `object_from_json` reads one from a `serde_json::Value` (feature
//! `json`), and the `k8s-openapi` feature converts the `k8s_openapi` types
//! (`from_k8s_openapi`).
//!
//! # Decisions
//!
//! - CREATE and UPDATE judge every image of every container list, and of
//!   every image volume ([`k8s::find_images`](crate::k8s::find_images)), with
//!   the request's namespace and the object's annotations (and its pod
//!   template's, for break-glass).
//! - An image is denied when its decision is not allowed (enforce mode). In
//!   warn mode a violation is allowed with a warning; in audit mode it is
//!   allowed and recorded in the audit annotations only.
//! - On UPDATE, when [`Policy::exempt_existing_images_on_update`](crate::policy::Policy::exempt_existing_images_on_update) says so, an
//!   image that is already in the old object (same string, any container or
//!   image volume) is reported as existing, with a warning if it violates,
//!   and does not block: scaling a Deployment still works after the policy
//!   was tightened, and `kubectl debug` (an UPDATE of
//!   `pods/ephemeralcontainers`) is judged on the new container only. The
//!   old object's images are looked up in a hash set when there are many,
//!   so the cost of an UPDATE stays linear in the size of both objects.
//! - DELETE and CONNECT are allowed with a reason; so is an object with no
//!   image at all.
//! - An object whose images cannot be found (a kind that does not run
//!   containers, a missing pod spec, a container without an image), a
//!   CREATE or UPDATE without an object and an unknown operation are denied
//!   with [`Status::Invalid`] (code 400): never an allow.
//!
//! # Limits
//!
//! The message, the warnings and each audit annotation name at most
//! [`NAMED_IMAGES`] images (fewer past [`NAMED_TEXT`] bytes) and count the
//! rest ("and 3 more denied images"), and cut any string they name (an
//! image, a name) at [`NAMED_STRING`] bytes: the answer to an object of any
//! shape stays a few KiB. [`AdmissionVerdict::images`] has every image.
//!
//! An object is judged whole or not at all: one with more than
//! [`k8s::MAX_ENTRIES`](crate::k8s::MAX_ENTRIES) entries in a container list,
//! in `volumes` or in the annotations it is judged with, or more than
//! [`k8s::MAX_IMAGES`](crate::k8s::MAX_IMAGES) images, is
//! [`Status::Invalid`] with the reason (reading it kept only the first
//! entries, so that its memory is bounded by these numbers, not by the size
//! of its text). The same bounds make a [`Mutation`] at most
//! [`k8s::MAX_IMAGES`](crate::k8s::MAX_IMAGES) replacements.
//!
//! # Example
//!
//! ```
//! use image_policy_core::admission::{self, Operation, Request, Status};
//! use image_policy_core::k8s::{CowStr, Object};
//! use image_policy_core::policy::Policy;
//!
//! let policy = Policy::builder().allow_registry("registry.my.com").build()?.policy;
//! let object: Object<CowStr<'_>> = serde_json::from_str(
//!     r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},
//!         "spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx:1.27"}]}}}}"#,
//! )?;
//! let verdict = admission::decide(
//!     &policy,
//!     &Request::new(Operation::Create, Some(&object)).namespace(Some("shop")),
//! );
//! assert!(!verdict.allowed());
//! assert_eq!(verdict.status, Status::Forbidden);
//! let denied = verdict.denied_images().next().expect("one denied image");
//! assert_eq!(denied.image, "nginx:1.27");
//! assert_eq!(denied.json_path().map(|p| p.to_string()).as_deref(),
//!            Some("spec.template.spec.containers[0].image"));
//! assert!(verdict.message.starts_with(
//!     r#"Deployment shop/web: 1 of 1 image denied by image policy: container "web""#));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod decide;
#[cfg(feature = "k8s-openapi")]
#[cfg_attr(docsrs, doc(cfg(feature = "k8s-openapi")))]
pub mod from_k8s_openapi;
mod mutate;
mod request;
mod verdict;
mod wording;

pub use decide::{decide, decide_images, judge};
pub use mutate::{Mutation, PatchOperation, Replacement, RewriteFailure, mutate};
pub use request::{Operation, Request};
pub use verdict::{AdmissionVerdict, JudgedImage, Place, Status};
pub use wording::{NAMED_IMAGES, NAMED_STRING, NAMED_TEXT, object_label};

#[cfg(feature = "json")]
use crate::k8s::Object;

/// Reads an object from a `serde_json::Value` (such as an AdmissionReview's
/// `request.object`), borrowing its strings: the fields on the way to the
/// images are read, the rest ignored; a field of the wrong type is an error.
#[cfg(feature = "json")]
#[cfg_attr(docsrs, doc(cfg(feature = "json")))]
pub fn object_from_json(
    value: &serde_json::Value,
) -> Result<Object<crate::k8s::CowStr<'_>>, serde_json::Error> {
    serde::Deserialize::deserialize(value)
}

#[cfg(test)]
mod tests;
