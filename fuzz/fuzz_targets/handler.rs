//! The webhook handler on arbitrary bytes, as every endpoint (`/validate`,
//! `/imagereview`, `/mutate`): see `invariants.rs` in the webhook's tests for
//! the checks (the same file replays the committed inputs there). A broken
//! invariant is a crash.
#![no_main]

use std::sync::LazyLock;

use image_policy_webhook::handler::scanner_agrees_with_serde;

#[path = "../../image-policy-webhook/tests/handler/invariants.rs"]
#[allow(dead_code)]
mod invariants;

static POLICIES: LazyLock<invariants::Policies> = LazyLock::new(invariants::Policies::load);

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(broken) = invariants::check(&POLICIES, data, Some(scanner_agrees_with_serde)) {
        panic!("{broken}");
    }
});
