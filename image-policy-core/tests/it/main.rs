//! The integration tests of `image-policy-core`, one binary with a module per area.

mod fuzz_regressions;
mod k8s_objects;
mod no_alloc;
mod policy_cases;
mod policy_no_alloc;
mod policy_props;
mod pull_host;
mod reference_props;
mod reference_vectors;
mod verify_rules;

/// The workspace's `testdata/` folder.
pub fn testdata(rel: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata")
        .join(rel)
}
