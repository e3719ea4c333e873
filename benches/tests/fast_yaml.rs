//! The bench corpus through the manifest reader's fast path: it takes every
//! file (or the `lint/extract` figure would not measure it), and what it
//! extracts equals what serde-saphyr's path extracts.

use image_policy_benches::manifests;
use image_policy_lint::fuzzing::check_block_recognizer;
use image_policy_lint::fuzzing::manifests::{extract_fast, extract_serde_saphyr};

#[test]
fn the_fast_path_takes_the_corpus_and_agrees() {
    let corpus = manifests::generate();
    let mut objects = 0;
    for (name, text) in &corpus.files {
        // The block recognizer reads every file (or the figures would
        // measure granit-parser's events), and its events are granit-parser's.
        assert_eq!(check_block_recognizer(text), Ok(true), "{name}");
        let fast = extract_fast(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(fast, extract_serde_saphyr(text), "{name}");
        assert!(fast.problems.is_empty(), "{name}: {:?}", fast.problems);
        objects += fast.objects;
    }
    assert_eq!(objects, corpus.objects);
}
