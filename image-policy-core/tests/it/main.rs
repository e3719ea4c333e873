//! The integration tests of `image-policy-core`, one binary with a module per area.

mod fuzz_regressions;
mod no_alloc;
mod reference_props;
mod reference_vectors;

/// The workspace's `testdata/` folder.
pub fn testdata(rel: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata")
        .join(rel)
}
