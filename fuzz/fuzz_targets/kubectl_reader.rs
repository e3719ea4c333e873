//! The linter's manifest reader as kubectl reads a file, on arbitrary UTF-8:
//! kubectl's document splitter (`lint::kubectl::split`) cuts the text
//! into whole lines, in order, none of them a separator, with the right
//! first line, and says whether YAML cuts it alike as the line-by-line rule
//! does; the checks (`lint::kubectl::differences`,
//! `json_stream_difference`) and `manifests::extract` never panic; every
//! position is inside the text; and `extract` (fast path per document)
//! equals the same reading with serde-saphyr alone:
//! `image_policy_lint::fuzzing::check_kubectl_reader`. A difference is a
//! crash.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Err(broken) = image_policy_lint::fuzzing::check_kubectl_reader(text)
    {
        panic!("{text:?}: {broken}");
    }
});
