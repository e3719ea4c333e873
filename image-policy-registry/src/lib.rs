//! A small client of the OCI distribution API that resolves image tags to
//! the digests of their manifests, for image-policy's pinning (`resolve`,
//! and `/mutate`, `/validate`, `lint --fix` as they come).
//!
//! It is the only crate of the project that talks to registries:
//! `image-policy-core` parses references and decides, without I/O.
//!
//! # Overview
//!
//! - [`Client`] fetches a manifest by tag or digest
//!   ([`Client::fetch_manifest`]) and a blob by digest
//!   ([`Client::fetch_blob`]): `GET /v2/<repository>/manifests/<tag|digest>`
//!   with the [`Accept`](manifest::ACCEPT) list of the OCI index and
//!   manifest and Docker's manifest list and schema 2. The digest is the
//!   sha256 of the body's bytes (never the `Docker-Content-Digest` header
//!   alone: a header that differs is an [error](ErrorKind::DigestMismatch)).
//!   Docker schema 1 is [refused](ErrorKind::SchemaV1).
//! - The host contacted is the runtime's: the core's
//!   [`pull_host`](image_policy_core::reference::ImageRef::pull_host), with
//!   containerd's one mapping of `docker.io` to `registry-1.docker.io`
//!   ([`endpoint`]).
//! - Authentication: anonymous first; on a 401, the `WWW-Authenticate`
//!   challenge ([`challenge`]) is answered, a bearer token fetched from the
//!   realm (with the credentials as basic auth when there are some; the
//!   token's `token` or `access_token`) or basic credentials sent. Tokens
//!   are reused per repository until they expire. Credentials come from a
//!   docker `config.json` or a Kubernetes `.dockerconfigjson` Secret,
//!   matched to the image as the kubelet matches them ([`keyring`]).
//! - TLS: rustls (with ring, the provider the webhook's server uses) trusting
//!   the system's roots (`rustls-native-certs`, which honours
//!   `SSL_CERT_FILE` and `SSL_CERT_DIR`) and the certificates of
//!   [`Options::add_ca_pem`] (`--registry-ca`). Verification is never
//!   skipped. Plain HTTP is spoken only to registries named in
//!   [`Options::plain_http`], and a redirect or token realm from HTTPS to
//!   plain HTTP elsewhere is [refused](ErrorKind::InsecureRedirect).
//! - An index is pinned at the index's digest; no platform is ever picked.
//! - [`Verifier`] ([`cosign`]) verifies cosign's key-based signatures of a
//!   pinned image: the `sha256-<hex>.sig` tag in the image's repository
//!   (or the policy's `signatureRepository`), each layer's base64 signature
//!   checked with ring over the payload blob's bytes as stored (ECDSA
//!   P-256/P-384, RSA PKCS#1 v1.5 and PSS, Ed25519), then the payload's
//!   type, digest and repository; failures are typed
//!   ([`VerifyErrorKind`]: no signature, none by a listed key, another
//!   digest, another repository, a cosign v3 bundle only, a registry
//!   error); successes are cached (bounded, TTL 5 min) per repository,
//!   digest, signature repository and key set, and concurrent
//!   verifications of one such key share one set of requests (single
//!   flight); [`VerifyMetrics`] counts verifications by result, their
//!   latency, cache hits, misses and shared ones. The keys come from the
//!   core's verify rules
//!   ([`Policy::verify_requirements`](image_policy_core::policy::Policy::verify_requirements)),
//!   which parse them (structure only); the crypto is here. Not supported:
//!   keyless signing (Fulcio, Rekor, TUF), cosign v3's bundle format in
//!   OCI referrers (refused, saying so), notation, attestations, KMS keys.
//! - [`Resolver`] adds a cache of successes (TTL 30 s by default, zero turns
//!   it off, bounded in entries) and single flight: concurrent resolutions of
//!   one name share one request; [`Resolver::cached_digest`] reads the
//!   cache alone, without an `await` (a webhook's warm path: a hash look-up
//!   that writes no key). [`Metrics`] counts resolutions by result,
//!   their latency, cache hits and shared requests, as plain data.
//!
//! Errors are data: [`RegistryError`] has a [kind](ErrorKind), the image,
//! the registry host, the HTTP status and the registry's own error message;
//! its `Display` is one line naming the image and the registry.
//!
//! # Usage
//!
//! ```no_run
//! use image_policy_registry::{CacheOptions, Client, Options, Resolver};
//! use image_policy_core::reference::Reference;
//!
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! let mut options = Options::default();
//! options.add_ca_pem(&std::fs::read("registry-ca.pem")?)?;
//! options.keyring.add_file_contents(&std::fs::read_to_string("config.json")?)?;
//! let resolver = Resolver::new(Client::new(options)?, CacheOptions::default());
//! let image: Reference = "registry.my.com/team/app:1.0".parse()?;
//! let pinned = resolver.resolve(&image).await?;
//! println!("{} -> {}", image, pinned.pinned); // …app:1.0@sha256:…
//! # Ok(()) }
//! ```
//!
//! # Why not `oci-client`
//!
//! `oci-client` (the OCI distribution client of the Rust ecosystem) is built
//! on reqwest: its 0.15 release has 143 crates in its normal dependency tree
//! (`cargo tree -e normal --prefix none | sort -u`, with its default
//! `native-tls`, which links the system's OpenSSL, and the same count with
//! `rustls-tls`, which brings reqwest's hyper-rustls and webpki-roots), a
//! second HTTP client stack beside hyper for the one call this crate makes.
//! This crate is about 3,000 lines (docs and unit tests included) on what
//! the workspace already builds for
//! the webhook's server (hyper 1, hyper-util, rustls with ring, tokio,
//! `oci-spec`): 101 crates in its tree, `image-policy-core` included, of
//! which only `rustls-native-certs` and `openssl-probe` (the system's roots)
//! are new to the workspace. It speaks HTTP/1.1 and opens one connection
//! per request (a resolution is one to three requests; the [`Resolver`]'s
//! cache keeps them rare).
//!
//! System roots rather than `webpki-roots`: the trust a registry's
//! certificate needs is the machine's (as containerd's, which uses the
//! system pool), a private CA installed there works without a flag, and
//! no root list is frozen into the binary. An image without a CA bundle
//! gets its roots from `--registry-ca` or `SSL_CERT_FILE`.
//!
//! # Untrusted input
//!
//! Everything a registry or token server sends is hostile:
//!
//! - every request (connect, TLS, headers and body) ends within
//!   [`Options::request_timeout`] (10 s by default);
//! - a manifest is at most [`Options::max_manifest`] bytes (4 MiB): a larger
//!   `Content-Length` is refused before reading, and reading stops at the
//!   first byte past the bound (a chunked body cannot grow memory past it);
//!   error and token answers are read up to 64 KiB;
//! - at most [`Options::max_redirects`] redirects (5), the credentials dropped
//!   when the host changes;
//! - the `WWW-Authenticate` parser is hand-written, bounded (16 KiB, 16
//!   challenges, 32 parameters) and fuzzed (`fuzz/fuzz_targets/www_authenticate.rs`);
//!   the manifest reader is fuzzed too (`manifest_read`);
//! - a registry's message lands in errors with its control characters
//!   replaced and at most 300 characters;
//! - the cache holds successes only, at most [`CacheOptions::max_entries`]
//!   names; the token cache at most 1,024 tokens.
//!
//! A registry can still make a resolution fail or be slow (up to the
//! timeout), and can serve any manifest it likes for a tag: the digest
//! says which bytes, not whether they are good: a [`Verifier`] says whether
//! a listed key signed them. A signature manifest is bounded (100 layers, a
//! 64 KiB payload, an 8 KiB signature annotation) and its parsers are
//! fuzzed (`fuzz/fuzz_targets/cosign_read.rs`, both readers); a payload is read only
//! after its signature verified.
//! The credentials matched for a registry go to that registry (basic) or
//! to the token realm it names, on any host, as docker and containerd send
//! them: a registry can learn its own credentials, never another's. A
//! bearer token goes only to the registry's own host (a redirect to another
//! host drops it).
//!
//! Choices where the specifications are silent: a `GET`, never a `HEAD`
//! (the digest is computed from the body); the token request asks for the
//! `scope` the challenge names (else `repository:<path>:pull`); a token is
//! reused for its `expires_in` (default 60 s) less 5 s, at most an hour;
//! the first credentials of a key are used (the kubelet would try the
//! others after a failure).
//!
//! # Performance
//!
//! A cold resolution costs one TCP and TLS handshake per request: one GET
//! for a registry that allows anonymous pulls, three (401, token, GET) for a
//! bearer registry without a cached token, two with one. The CPU cost is the
//! TLS handshake and the manifest's JSON (read twice: a head to learn the
//! kind, then `oci-spec`'s type) and its sha256, well under a millisecond
//! for typical manifests. A warm resolution is a hash-map look-up under a
//! mutex. Loading the system's roots happens once per [`Client`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod challenge;
mod client;
pub mod cosign;
mod error;
pub mod keyring;
pub mod manifest;
mod metrics;
mod resolver;

pub use client::{Client, DEFAULT_REQUEST_TIMEOUT, Fetched, Options, SetupError, endpoint};
pub use cosign::{Verified, Verifier, VerifyError, VerifyErrorKind};
pub use error::{ErrorKind, RegistryError};
pub use keyring::{Credential, Keyring, KeyringError};
pub use manifest::{Kind, Manifest};
pub use metrics::{
    LATENCY_BUCKETS, Metrics, RESULTS, Snapshot, VERIFY_RESULTS, VerifyMetrics, VerifySnapshot,
};
pub use resolver::{CacheOptions, DEFAULT_TTL, Pinned, Resolver};

/// The README's example compiles (it is not run: it needs a registry).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExample;

/// The parsers' internals, for the fuzz targets (`--features fuzzing`).
/// Not an API: it changes with the parsers.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::keyring::glob_match;

    /// The invariants of [`crate::challenge::parse`] on any input: it never
    /// panics, an error's offset is within the input, each challenge has a
    /// lower-case scheme, at most the bounded counts, and no parameter is
    /// named twice in one challenge. `Err` names the broken invariant.
    pub fn check_www_authenticate(input: &str) -> Result<(), String> {
        use crate::challenge::{MAX_CHALLENGES, MAX_PARAMS, parse};
        match parse(input) {
            Err(e) => {
                if e.offset > input.len() {
                    return Err(format!("offset {} past the end", e.offset));
                }
            }
            Ok(challenges) => {
                if challenges.is_empty() || challenges.len() > MAX_CHALLENGES {
                    return Err(format!("{} challenges", challenges.len()));
                }
                for c in &challenges {
                    if c.scheme.is_empty() || c.scheme != c.scheme.to_ascii_lowercase() {
                        return Err(format!("scheme {:?}", c.scheme));
                    }
                    if c.params.len() > MAX_PARAMS {
                        return Err(format!("{} params", c.params.len()));
                    }
                    for (i, (n, _)) in c.params.iter().enumerate() {
                        if c.params[..i].iter().any(|(m, _)| m == n) {
                            return Err(format!("parameter {n:?} twice"));
                        }
                    }
                    if c.token68.is_some() && !c.params.is_empty() {
                        return Err("token68 and parameters".to_owned());
                    }
                }
            }
        }
        Ok(())
    }

    /// The invariants of the cosign readers on any bytes: never panic; a
    /// signature manifest read has at most the bounded layers, each
    /// candidate's signature decoded only from a simple-signing layer of a
    /// bounded size; a payload accepted names exactly the digest asked and
    /// is cosign's type.
    pub fn check_cosign(data: &[u8]) -> Result<(), String> {
        use crate::cosign::{self, Limits};
        let limits = Limits::default();
        if let Ok(candidates) = cosign::read_signature_manifest(data, &limits) {
            if candidates.len() > limits.max_layers {
                return Err(format!("{} layers", candidates.len()));
            }
            for c in &candidates {
                if c.signature.is_ok() && c.size > limits.max_payload {
                    return Err(format!("a candidate of {} bytes", c.size));
                }
            }
        }
        let digest = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
        if cosign::check_payload(data, digest, "docker.io/library/x").is_ok() {
            let v: serde_json::Value =
                serde_json::from_slice(data).map_err(|e| format!("accepted non-JSON: {e}"))?;
            if v["critical"]["image"]["docker-manifest-digest"] != digest {
                return Err("accepted another digest".to_owned());
            }
            if v["critical"]["type"] != cosign::SIGNATURE_TYPE {
                return Err("accepted another type".to_owned());
            }
        }
        Ok(())
    }

    /// A fuzz input of the `manifest_read` target as an answer: the first
    /// line is the `Content-Type` (empty: none), the second the
    /// `Docker-Content-Digest` (`-`: none), the rest the body.
    pub fn split_manifest_input(data: &[u8]) -> (Option<String>, Option<String>, &[u8]) {
        let mut parts = data.splitn(3, |b| *b == b'\n');
        let content_type = parts.next().unwrap_or_default();
        let digest = parts.next().unwrap_or_default();
        let body = parts.next().unwrap_or_default();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (
            (!content_type.is_empty()).then(|| text(content_type)),
            (digest != b"-").then(|| text(digest)),
            body,
        )
    }

    /// The invariants of [`crate::manifest::read`] on any body and headers:
    /// never panics; a success's digest is the sha256 (or the expected
    /// algorithm's) of the body, its size the body's, its media type one of
    /// the four, and an index reads as `oci-spec`'s index.
    pub fn check_manifest(
        body: &[u8],
        content_type: Option<&str>,
        header_digest: Option<&str>,
    ) -> Result<(), String> {
        use crate::manifest::{self, Kind};
        let Ok(m) = manifest::read(body, content_type, header_digest, None) else {
            return Ok(());
        };
        let digest = manifest::digest_of("sha256", body).map_err(|e| e.to_string())?;
        if m.digest != digest {
            return Err(format!("digest {} is not the body's {digest}", m.digest));
        }
        if let Some(h) = header_digest {
            let h = h.trim();
            let algorithm = h.split_once(':').map_or("", |(a, _)| a);
            let body_digest = manifest::digest_of(algorithm, body).map_err(|e| e.to_string())?;
            if h != body_digest {
                return Err(format!("accepted a header digest {h:?} that differs"));
            }
        }
        if m.size != body.len() as u64 {
            return Err("size".to_owned());
        }
        let kind = match m.media_type.as_str() {
            manifest::OCI_INDEX | manifest::DOCKER_LIST => Kind::Index,
            manifest::OCI_MANIFEST | manifest::DOCKER_MANIFEST => Kind::Manifest,
            other => return Err(format!("media type {other:?}")),
        };
        if kind != m.kind {
            return Err(format!("{:?} for {}", m.kind, m.media_type));
        }
        Ok(())
    }
}
