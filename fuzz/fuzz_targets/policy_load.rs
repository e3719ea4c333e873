//! Loading a policy from arbitrary YAML (and JSON): see `check_policy_load`
//! for the invariants (no panic, every error has a message, a policy that
//! loads rewrites and judges images). A broken invariant is a crash.
#![no_main]

use image_policy_core::fuzzing as invariants;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(source) = std::str::from_utf8(data)
        && let Err(broken) = invariants::check_policy_load(source)
    {
        panic!("{source:?}: {broken}");
    }
});
