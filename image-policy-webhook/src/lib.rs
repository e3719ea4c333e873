//! The HTTPS admission server of image-policy: an `ImageReview` backend for the
//! `ImagePolicyWebhook` admission plugin and a `ValidatingAdmissionWebhook`.
//!
//! This crate is a skeleton until its issue lands: the decision logic lives in
//! [`image_policy_core`], and this crate will only decode requests, call it and
//! encode responses.
#![forbid(unsafe_code)]

pub mod server;
