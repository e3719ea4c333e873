//! Shared helpers for the benchmarks: the corpora they read, and the naming
//! convention that `bench-report` relies on.
//!
//! # Corpora
//!
//! - [`REFERENCES`] (`data/references.txt`): 10,000 image references as they
//!   appear in pod specs, about 10% of them invalid; written by
//!   [`corpus::generate`] (`cargo run -p image-policy-benches --bin gen-corpus`)
//!   and committed, so every run and every machine parses the same bytes.
//!
//! # Naming benchmarks
//!
//! Within a criterion group, the function id of a benchmark of this project's
//! code starts with `ours: ` and that of a peer's with `peer: ` (for example
//! `parse/ours: ImageRef::parse` and `parse/peer: oci-spec Reference::from_str`).
//! `bench-report` prints every benchmark of every group and, for each group,
//! how many times faster each `ours:` benchmark is than each `peer:` one. Set
//! [`criterion::Throughput::Elements`](https://docs.rs/criterion) to the number
//! of items one iteration handles, so that the report can give the time per item.

pub mod corpus;

/// The image reference corpus, one reference per line; see [`corpus`].
pub const REFERENCES: &str = include_str!("../data/references.txt");

/// The references of [`REFERENCES`], in order.
pub fn references() -> Vec<&'static str> {
    REFERENCES.lines().collect()
}
