//! The linter's manifest reader as kubectl reads a file, on arbitrary UTF-8:
//! kubectl's document splitter (`lint::kubectl::documents`) cuts the text
//! into whole lines, in order, none of them a separator, with the right
//! first line; the checks (`lint::kubectl::differences`,
//! `json_stream_difference`) and `manifests::extract` never panic; every
//! position is inside the text; and `extract` (fast path per document)
//! equals the same reading with serde-saphyr alone. A difference is a crash.
#![no_main]

use image_policy_lint::fuzzing::kubectl;
use image_policy_lint::fuzzing::manifests::{extract, extract_without_fast_path};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (chunks, bad) = kubectl::documents(text);
    let mut end = 0;
    for chunk in &chunks {
        let start = chunk.text.as_ptr() as usize - text.as_ptr() as usize;
        assert!(start >= end, "{text:?}: chunks overlap or go back");
        assert!(
            start == 0 || text.as_bytes()[start - 1] == b'\n',
            "{text:?}: not whole lines"
        );
        assert_eq!(
            chunk.first_line,
            1 + text[..start].matches('\n').count(),
            "{text:?}: first line"
        );
        // kubectl's reader keeps a separator met with nothing read since
        // the last cut as the next document's first line, and only there.
        assert!(
            chunk
                .text
                .split('\n')
                .skip(1)
                .all(|l| !l.starts_with("---")),
            "{text:?}: a chunk holds a separator line past its first"
        );
        end = start + chunk.text.len();
    }
    if let Some(bad) = &bad {
        assert!(bad.position.line >= 1, "{text:?}");
    }
    let _ = kubectl::differences(text);
    let _ = kubectl::json_stream_difference(text);
    let got = extract(text);
    let lines = text.split('\n').count();
    // A lone carriage return is a line break for the parser (and reported
    // as a difference), not for the line index.
    let lone_cr = text.replace("\r\n", "").contains('\r');
    for site in got.sites.iter().filter(|_| !lone_cr) {
        assert!(
            site.position.line >= 1 && site.position.line <= lines,
            "{text:?}: {site:?}"
        );
    }
    for problem in got.problems.iter().filter(|_| !lone_cr) {
        if let Some(p) = problem.position {
            assert!(p.line >= 1 && p.line <= lines, "{text:?}: {problem:?}");
        }
    }
    assert_eq!(
        got,
        extract_without_fast_path(text),
        "{text:?}: the fast path differs from serde-saphyr on kubectl's documents"
    );
});
