//! The cosign readers (`image_policy_registry::cosign`'s signature
//! manifest and payload parsers) on any bytes. See
//! `fuzzing::check_cosign`; a broken invariant is a crash.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(broken) = image_policy_registry::fuzzing::check_cosign(data) {
        panic!("{:?}: {broken}", String::from_utf8_lossy(data));
    }
});
