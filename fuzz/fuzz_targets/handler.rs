//! The webhook handler on arbitrary bytes, as both endpoints: it never panics,
//! always answers 200 with a JSON review or 400 with a JSON `Status`, and the
//! AdmissionReview scanner reads a body only when serde reads it the same way
//! (`scanner_agrees_with_serde`). A broken invariant is a crash.
#![no_main]

use std::sync::LazyLock;

use image_policy_core::policy::Policy;
use image_policy_webhook::handler::{Endpoint, handle, scanner_agrees_with_serde};

/// The multi-team example: allow and deny rules, tags, an exempt namespace,
/// namespace rules, warn mode and break-glass, so that every kind of decision
/// and message is made.
static POLICY: LazyLock<Policy> = LazyLock::new(|| {
    let source = include_str!("../../examples/multi-team.yaml");
    match Policy::from_yaml_str(source, "multi-team.yaml") {
        Ok(loaded) => loaded.policy,
        Err(e) => panic!("the fuzz policy does not load: {e}"),
    }
});

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    for endpoint in [Endpoint::AdmissionReview, Endpoint::ImageReview] {
        let reply = handle(&POLICY, endpoint, data);
        assert!(
            matches!(reply.status, 200 | 400),
            "{endpoint:?}: status {}",
            reply.status
        );
        if let Err(e) = serde_json::from_slice::<serde_json::Value>(&reply.body) {
            panic!("{endpoint:?}: the response is not JSON ({e})");
        }
    }
    if let Ok(text) = std::str::from_utf8(data)
        && let Err(e) = scanner_agrees_with_serde(text)
    {
        panic!("{e}");
    }
});
