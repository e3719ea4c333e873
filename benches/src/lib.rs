//! Shared helpers for the benchmarks: the corpora they read, and the naming
//! convention that `bench-report` relies on.
//!
//! # Corpora
//!
//! - [`REFERENCES`] (`data/references.txt`): 10,000 image references as they
//!   appear in pod specs, about 10% of them invalid; written by
//!   [`corpus::generate`] (`cargo run -p image-policy-benches --bin gen-corpus`)
//!   and committed, so every run and every machine parses the same bytes.
//! - [`manifests`]: 4 MiB of Kubernetes manifests as `helm template` prints
//!   them, generated on each run (deterministic), for the `lint` bench; the
//!   span-keeping YAML parsers it is compared with are in [`yaml_events`].
//!
//! # Crate features
//!
//! - `peers` (default): the peers the benchmarks compare with (regorus,
//!   cel-interpreter, oci-spec, the event-level YAML parsers); every
//!   criterion bench needs it.
//! - `load` (default): the HTTPS load generators (`loadgen`, `hostile`).
//!
//! Without them (`--no-default-features`) the crate builds only our code:
//! the instruction counters (`*-instructions`) for our participants, which
//! is what `benches/gate.sh` builds and counts in CI.
//!
//! # Naming benchmarks
//!
//! `bench-report` prints every benchmark of every group and, for each group,
//! how many times faster each of ours is than each peer's on the same case. A
//! function id is `implementation[/case]` (or a `BenchmarkId` with the case as
//! its parameter). The implementation is ours when it starts with `ours: ` or
//! `image-policy`, a peer's when it starts with `peer: `, `oci-spec`,
//! `regorus` or `cel`. Other names, such as a baseline, are listed without a
//! ratio. For example: `parse/ours: ImageRef::parse` and
//! `parse/peer: oci-spec Reference::from_str`, or `policy/image-policy/100-rules`
//! and `policy/regorus-k8sallowedrepos/100-rules`. Set
//! [`criterion::Throughput::Elements`](https://docs.rs/criterion) to the number
//! of items one iteration handles, so that the report gives the time per item.

#[cfg(feature = "peers")]
pub mod cel_strings;
pub mod corpus;
pub mod handler;
#[cfg(feature = "load")]
pub mod https;
pub mod manifests;
pub mod pin;
pub mod policy;
#[cfg(feature = "peers")]
pub mod yaml_events;

/// The image reference corpus, one reference per line; see [`corpus`].
pub const REFERENCES: &str = include_str!("../data/references.txt");

/// The references of [`REFERENCES`], in order.
pub fn references() -> Vec<&'static str> {
    REFERENCES.lines().collect()
}
