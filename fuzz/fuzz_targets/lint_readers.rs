//! The linter's readers on arbitrary UTF-8 (`image_policy_lint::fuzzing::check_readers`):
//! YAML read by content (manifests, compose, both), Dockerfiles (parser
//! directives, `FROM`, `COPY`/`ADD --from`, `RUN --mount`, `ONBUILD`, `ARG`/`ENV`
//! substitution) and kustomizations (`images:` overrides) never panic, and
//! every site and problem points inside the text; and `lint --fix`'s plan
//! (`image_policy_lint::fuzzing::check_fix`, with rewrite rules): edits inside
//! the text, on character boundaries, in order and never overlapping; the
//! fixed text reads as the rewritten images; a second plan is empty; the
//! local check of the edits (`fix::check_edits`) accepts it, and `fix::fix`'s
//! derived report is exactly the report of reading the fixed text. A broken
//! invariant is a crash.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Err(broken) = image_policy_lint::fuzzing::check_readers(text) {
            panic!("{text:?}: {broken}");
        }
        if let Err(broken) = image_policy_lint::fuzzing::check_fix(text) {
            panic!("{text:?}: {broken}");
        }
    }
});
