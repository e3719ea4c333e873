//! The HTTPS admission server of image-policy: an `ImageReview` backend for the
//! `ImagePolicyWebhook` admission plugin and a `ValidatingAdmissionWebhook`.
//!
//! - [`handler`]: the decision as a pure function, request bytes in and
//!   response bytes out, given a compiled policy of [`image_policy_core`].
//! - [`server`]: the HTTPS server around it (tokio, hyper, axum, rustls):
//!   certificate and policy reload, health, metrics, graceful shutdown.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod handler;
#[cfg(feature = "server")]
pub mod server;
