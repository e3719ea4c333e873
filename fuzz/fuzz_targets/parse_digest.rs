//! `Digest::parse` on arbitrary UTF-8: see `check_digest` for the invariants.
//! A broken invariant is a crash.
#![no_main]

use image_policy_core::fuzzing as invariants;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(input) = std::str::from_utf8(data)
        && let Err(broken) = invariants::check_digest(input)
    {
        panic!("{input:?}: {broken}");
    }
});
