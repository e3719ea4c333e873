//! The linter's manifest reader on arbitrary UTF-8: the fast path
//! (`lint::fast_yaml`) never panics, and whenever it accepts a file, what it
//! extracts equals what serde-saphyr's path extracts (sites, positions,
//! widths, problems, skips, suppressions, counts). A difference is a crash.
#![no_main]

use image_policy_lint::fuzzing::manifests::{extract_fast, extract_serde_saphyr};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(fast) = extract_fast(text)
    {
        let slow = extract_serde_saphyr(text);
        assert_eq!(
            fast, slow,
            "{text:?}: the fast path differs from serde-saphyr"
        );
    }
});
