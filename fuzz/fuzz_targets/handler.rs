//! The webhook handler on arbitrary bytes, as every endpoint (`/validate`,
//! `/imagereview`, `/mutate`): see `image_policy_webhook::fuzzing` for the
//! checks (the webhook's tests replay the committed inputs with them). A
//! broken invariant is a crash.
#![no_main]

use std::sync::LazyLock;

use image_policy_webhook::fuzzing::{Policies, check};

static POLICIES: LazyLock<Policies> = LazyLock::new(|| {
    Policies::from_yaml(
        include_str!("../../examples/multi-team.yaml"),
        include_str!("../../examples/rewrite.yaml"),
    )
});

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(broken) = check(&POLICIES, data) {
        panic!("{broken}");
    }
});
