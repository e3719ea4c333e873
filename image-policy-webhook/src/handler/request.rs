//! The AdmissionReview request as the handler reads it: only the fields it
//! needs, borrowed from the body, around the core's
//! [`Object`](image_policy_core::k8s::Object) (the one home of the object's
//! shape). Decoded by the scanner ([`super::scan`]) when it can, else by
//! these serde derives; both build the same values.
//!
//! See [the request](https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/#request).

use image_policy_core::k8s::{CowStr, Object};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(rename = "AdmissionReview")]
pub(crate) struct AdmissionReviewIn<'a> {
    #[serde(rename = "apiVersion", borrow, default)]
    pub(crate) api_version: Option<CowStr<'a>>,
    #[serde(borrow, default)]
    pub(crate) kind: Option<CowStr<'a>>,
    #[serde(borrow, default)]
    pub(crate) request: Option<RequestIn<'a>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename = "AdmissionRequest")]
pub(crate) struct RequestIn<'a> {
    #[serde(borrow, default)]
    pub(crate) uid: Option<CowStr<'a>>,
    #[serde(borrow, default)]
    pub(crate) kind: Option<GroupVersionKindIn<'a>>,
    #[serde(borrow, default)]
    pub(crate) resource: Option<GroupVersionResourceIn<'a>>,
    #[serde(rename = "subResource", borrow, default)]
    pub(crate) sub_resource: Option<CowStr<'a>>,
    #[serde(borrow, default)]
    pub(crate) operation: Option<CowStr<'a>>,
    #[serde(borrow, default)]
    pub(crate) namespace: Option<CowStr<'a>>,
    #[serde(borrow, default)]
    pub(crate) name: Option<CowStr<'a>>,
    #[serde(borrow, default)]
    pub(crate) object: Option<Object<CowStr<'a>>>,
    #[serde(rename = "oldObject", borrow, default)]
    pub(crate) old_object: Option<Object<CowStr<'a>>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename = "GroupVersionKind")]
pub(crate) struct GroupVersionKindIn<'a> {
    #[serde(borrow, default)]
    pub(crate) kind: Option<CowStr<'a>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename = "GroupVersionResource")]
pub(crate) struct GroupVersionResourceIn<'a> {
    #[serde(borrow, default)]
    pub(crate) resource: Option<CowStr<'a>>,
}
