//! The `WWW-Authenticate` parser (`image_policy_registry::challenge::parse`)
//! on any UTF-8 string: see `fuzzing::check_www_authenticate`. A broken
//! invariant is a crash.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(input) = std::str::from_utf8(data)
        && let Err(broken) = image_policy_registry::fuzzing::check_www_authenticate(input)
    {
        panic!("{input:?}: {broken}");
    }
});
