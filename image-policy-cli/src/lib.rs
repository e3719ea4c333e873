//! The library half of the `image-policy` command: the parts other code (the
//! benchmarks, integration tests) calls without going through the binary.
//!
//! - [`lint`]: find every image in manifests, Dockerfiles and compose files,
//!   judge each with an [`image_policy_core::policy::Policy`] and report where
//!   each one stands (text, JSON, SARIF, GitHub annotations).
//!
//! The binary (`src/main.rs`) parses arguments and calls into this; the
//! decisions themselves are `image-policy-core`'s.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod lint;
