//! The HTTPS admission server of image-policy: an `ImageReview` backend for the
//! `ImagePolicyWebhook` admission plugin and a `ValidatingAdmissionWebhook`.
//!
//! - [`handler`]: the decision as a pure function, request bytes in and
//!   response bytes out, given a compiled policy of [`image_policy_core`].
//! - `server`: the HTTPS server around it (tokio, hyper, axum, rustls):
//!   certificate and policy reload, health, metrics, graceful shutdown.
//!
//! # Crate features
//!
//! - `server` (default): the `server` module and its dependencies (tokio,
//!   axum, hyper and hyper-util on the server side only, rustls,
//!   tokio-rustls; `image-policy-core/yaml` for policy files). Without it the
//!   crate is the pure [`handler`] on serde_json and `image-policy-core`, for
//!   an admission controller that brings its own server:
//!   `image-policy-webhook = { version = "0.1", default-features = false }`.
//! - `fuzzing`: the `fuzzing` module (hidden), the `handler` fuzz target's
//!   checks, which the tests replay on the committed inputs; not an API.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod handler;
#[cfg(feature = "server")]
pub mod server;
