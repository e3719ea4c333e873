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
//! - [`admission`]: the verdict on an admission request (operation, object,
//!   old object, namespace) as a typed value: what the webhook answers, for
//!   any admission controller to give.
//!
//! A policy as the configuration of other engines (`policy.json`,
//! `registries.conf`, RHEL docker, OpenShift, a `ValidatingAdmissionPolicy`,
//! an OPA Gatekeeper `ConstraintTemplate`, a Kyverno `ClusterPolicy`)
//! is the crate `image-policy-export`, built on the policy's public rule
//! layer ([`policy::Policy::rules`]).
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
//! The verdict on a whole object, as a validating webhook gives it:
//!
//! ```
//! use image_policy_core::admission::{self, Operation, Request, Status};
//! use image_policy_core::k8s::{CowStr, Object};
//! use image_policy_core::policy::Policy;
//!
//! let policy = Policy::builder().allow_registry("registry.my.com").build()?.policy;
//! let object: Object<CowStr<'_>> = serde_json::from_str(
//!     r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web","namespace":"shop"},
//!         "spec":{"containers":[{"name":"web","image":"registry.my.com/web:1.4"},
//!                               {"name":"sidecar","image":"prometheus:2.6.1"}]}}"#,
//! )?;
//! let verdict = admission::decide(&policy, &Request::new(Operation::Create, Some(&object)));
//! assert_eq!(verdict.status, Status::Forbidden);
//! let denied: Vec<String> = verdict
//!     .denied_images()
//!     .map(|j| format!("{} {}", j.place, j.code))
//!     .collect();
//! assert_eq!(denied, [r#"container "sidecar" (spec.containers[1].image) registry-not-allowed"#]);
//! assert_eq!(verdict.audit_annotations["denied-images"], "prometheus:2.6.1");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Crate features
//!
//! `yaml`, `schema` and `oci-spec` are on by default; without
//! them the crate depends on regex, serde and thiserror only.
//!
//! - `yaml`: policy files ([`policy::Policy::from_yaml_str`],
//!   `from_json_str` and the builder's), read with serde-saphyr (and checked
//!   as JSON with serde_json), every error with its `file:line:column`; and
//!   [`k8s::Text`] for `serde_saphyr::Spanned`, to find images in a YAML
//!   manifest with their lines.
//! - `schema`: `policy::schema()`, the JSON Schema of the policy file
//!   (schemars).
//! - `oci-spec`: `From`/`TryFrom` conversions between
//!   [`reference::Reference`] and `oci_spec::distribution::Reference`, and
//!   between [`reference::Digest`] and `oci_spec::image::Digest`.
//! - `json` (off by default): `admission::object_from_json`, an object from
//!   a `serde_json::Value`, borrowed.
//! - `k8s-openapi` (off by default): `From<&T> for k8s::Object` for the
//!   `k8s_openapi` Pod, PodSpec and workload types
//!   (`admission::from_k8s_openapi`). As k8s-openapi asks of libraries, no
//!   Kubernetes version is chosen here: the final binary enables one of
//!   k8s-openapi's `v1_*` features (or `latest`).
//! - `unstable-scan` (off by default): `k8s::scan`, the one-pass JSON reader
//!   of objects the webhook uses. Not part of the stable API: it may change
//!   in any release, semver does not cover it.
//! - `fuzzing` (off by default, hidden): the fuzz targets' checks, which the
//!   tests replay on committed inputs. Not an API.
//!
//! Policies written in code ([`policy::Policy::builder`],
//! [`policy::Policy::from_document`]), evaluation, reference parsing,
//! [`k8s`] and [`admission`] need no feature.
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
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod admission;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod k8s;
pub mod policy;
pub mod reference;
