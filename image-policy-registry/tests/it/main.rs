//! The registry client against a stub HTTPS registry written here (every
//! failure a registry can answer) and against Debian's real
//! `docker-registry` (TLS with a CA made by the test, htpasswd basic auth,
//! images pushed with skopeo, a tag pushed over, the registry stopped).

mod cosign;
#[path = "../fixture/registry.rs"]
mod fixture;
mod fuzz_regressions;
mod keyring;
mod proptests;
mod real;
#[path = "../fixture/signing.rs"]
mod signing;
mod stub;
mod support;
