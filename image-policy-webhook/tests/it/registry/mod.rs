//! The registry crate's test helpers, included rather than copied: its test
//! CA and stub registry (`support`), and the docker-registry fixture
//! (`fixture`).

#[path = "../../../../image-policy-registry/tests/it/support.rs"]
pub mod support;

#[path = "../../../../image-policy-registry/tests/fixture/registry.rs"]
pub mod fixture;

#[path = "../../../../image-policy-registry/tests/fixture/signing.rs"]
pub mod signing;
