//! The importers' readers (`image-policy policy import`): the first byte
//! picks the format, the rest is the file. See
//! `image_policy_import::fuzzing::import_readers`: no panic, and an import
//! that succeeds writes a policy that loads.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    image_policy_import::fuzzing::import_readers(data);
});
