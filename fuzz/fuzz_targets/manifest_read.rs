//! The manifest reader (`image_policy_registry::manifest::read`) on any
//! answer: the input is the `Content-Type` line, the `Docker-Content-Digest`
//! line (`-`: none), then the body (`fuzzing::split_manifest_input`). See
//! `fuzzing::check_manifest`; a broken invariant is a crash.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (content_type, digest, body) = image_policy_registry::fuzzing::split_manifest_input(data);
    if let Err(broken) =
        image_policy_registry::fuzzing::check_manifest(body, content_type.as_deref(), digest.as_deref())
    {
        panic!("{content_type:?} {digest:?} {:?}: {broken}", String::from_utf8_lossy(body));
    }
});
