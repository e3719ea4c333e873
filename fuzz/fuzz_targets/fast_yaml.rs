//! The linter's manifest reader on arbitrary UTF-8: the fast path
//! (`lint::fast_yaml`) never panics, and whenever it accepts a file, what it
//! extracts equals what serde-saphyr's path extracts (sites, positions,
//! widths, problems, skips, suppressions, counts):
//! `image_policy_lint::fuzzing::check_fast_path`; and wherever the block
//! recognizer (the fast path's first source) reads a text, its events are
//! granit-parser's: `image_policy_lint::fuzzing::check_block_recognizer`.
//! A difference is a crash.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Err(broken) = image_policy_lint::fuzzing::check_fast_path(text)
    {
        panic!("{text:?}: {broken}");
    }
    if let Ok(text) = std::str::from_utf8(data)
        && let Err(broken) = image_policy_lint::fuzzing::check_block_recognizer(text)
    {
        panic!("{text:?}: {broken}");
    }
});
