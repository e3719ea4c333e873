//! `image-policy-core`: container image references parsed exactly as the
//! container runtime parses them, and the decisions built on them.
//!
//! # Overview
//!
//! - [`reference`](mod@reference): the image reference grammar of `distribution/reference`
//!   (the library containerd uses), written by hand: [`reference::ImageRef`]
//!   borrows, [`reference::Reference`] owns.
//! - [`policy`]: allow and deny rules on the parsed parts (registries,
//!   repository patterns, regexes, tags), modes, namespace scopes and
//!   break-glass, compiled once and evaluated in nanoseconds; every decision
//!   names its rule and explains itself.
//! - [`k8s`]: the images of Kubernetes objects (every kind that runs
//!   containers, every container list), each with its JSON path.
//! - [`export`]: a policy as the configuration of other engines (`policy.json`,
//!   `registries.conf`, RHEL docker, OpenShift, a `ValidatingAdmissionPolicy`),
//!   never wider than the policy; rules it cannot express are data.
//!
//! The crate does no I/O and needs no async runtime or Kubernetes client:
//! adapters (the webhook server, the CLI) feed it strings and bytes.
//!
//! # Usage
//!
//! ```toml
//! [dependencies]
//! image-policy-core = "0.1"
//! ```
//!
//! ```
//! use image_policy_core::reference::ImageRef;
//!
//! let r = ImageRef::parse("prometheus:2.6.1")?;
//! assert_eq!(r.domain(), "docker.io");
//! assert_eq!(r.to_string(), "docker.io/library/prometheus:2.6.1");
//! # Ok::<(), image_policy_core::reference::ParseError>(())
//! ```
//!
//! # Performance
//!
//! Parsing a reference allocates nothing and costs tens of nanoseconds; see
//! `BENCHMARKS.md` in the repository for figures measured next to the peers.
//!
//! # Untrusted input
//!
//! Everything here is built for input from an attacker: image strings from pod
//! specs. Nothing panics on any input, every cost is linear in the input, and
//! anything that does not parse is an error carrying its kind and byte offset.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod export;
pub mod k8s;
pub mod policy;
pub mod reference;
