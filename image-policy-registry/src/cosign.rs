//! cosign's key-based signatures: finding them (the `sha256-<hex>.sig`
//! tag), reading them (the signature manifest, the payload), checking them
//! (ring), and a [`Verifier`] that does all three for a digest with a cache
//! of successes.
//!
//! What verifies an image pinned to `sha256:<hex>` with keys `K`:
//!
//! 1. The manifest tagged `sha256-<hex>.sig` in the image's repository, or
//!    in the rule's signature repository (cosign's `COSIGN_REPOSITORY`), is
//!    fetched; it must be an image manifest (OCI or Docker schema 2), at
//!    most [`Limits::max_layers`] layers.
//! 2. Every layer is a candidate: its media type must be cosign's
//!    [`SIMPLE_SIGNING`], its size at most [`Limits::max_payload`], its
//!    annotation [`SIGNATURE_ANNOTATION`] (at most
//!    [`Limits::max_annotation`] bytes) standard base64.
//! 3. The layer's blob (the payload) is fetched by its digest and checked
//!    against it, then the signature is checked over those bytes, exactly as
//!    stored (never re-serialized), with each key of `K`.
//! 4. Only then is the payload read: `critical.type` must be
//!    [`SIGNATURE_TYPE`], `critical.image.docker-manifest-digest` the digest
//!    being admitted, and `critical.identity.docker-reference` the image's
//!    repository.
//!
//! One candidate passing all of it verifies the image. Otherwise the
//! [`VerifyError`] names the most telling failure among the candidates
//! ([`VerifyErrorKind`]), and lists each candidate's.
//!
//! ## Choices
//!
//! - **Repository names compare normalized**: both the image's and the
//!   payload's `docker-reference` are parsed as the runtime parses names
//!   (`ParseNormalizedNamed`), so `nginx`, `docker.io/library/nginx` and
//!   `index.docker.io/library/nginx` are one repository, and a registry's
//!   letter case does not matter; a tag or digest written in the payload's
//!   reference is ignored (containers/image's `matchRepository` compares
//!   repositories alone). The image compared is the one the runtime pulls
//!   (the rewritten image, when a rewrite rule applies).
//! - **Key types**: ECDSA P-256 with SHA-256 (cosign's default), P-384
//!   with SHA-384 or SHA-256, RSA 2048-8192 with PKCS#1 v1.5 or PSS and
//!   SHA-256, Ed25519 (what ring verifies); P-521 is refused when the policy
//!   loads. Signatures by a key the policy does not list and signatures over
//!   other bytes are the same failure to a verifier: the signature does not
//!   verify with any listed key ([`VerifyErrorKind::NoSignatureByKey`]).
//! - **cosign v3's bundles** (OCI referrers, or the fallback tag
//!   `sha256-<hex>` holding an index of sigstore bundles) are not read: an
//!   image with no `.sig` tag but such a bundle fails with
//!   [`VerifyErrorKind::BundleFormatNotSupported`], saying so.
//! - Not supported: keyless signing (Fulcio certificates, Rekor, TUF),
//!   notation, attestations, KMS key URIs.

use crate::client::Client;
use crate::error::{ErrorKind, RegistryError};
use crate::manifest::{self, Kind};
use crate::metrics::VerifyMetrics;
use base64::Engine as _;
use image_policy_core::policy::verify::{KeyAlgorithm, PublicKey};
use image_policy_core::reference::{ImageRef, Reference};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

/// The layer annotation holding the base64 signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The media type of a signature layer (the payload).
pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The payload's `critical.type`.
pub const SIGNATURE_TYPE: &str = "cosign container image signature";
/// The media type prefix of sigstore bundles (cosign v3).
const BUNDLE_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle";

/// Bounds on what a registry may make the verifier read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// The most layers (signatures) a signature manifest may have: 100.
    pub max_layers: usize,
    /// The largest payload fetched: 64 KiB (cosign's are under 1 KiB).
    pub max_payload: u64,
    /// The largest signature annotation: 8 KiB (an RSA 8192 signature is
    /// 1,368 base64 bytes).
    pub max_annotation: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_layers: 100,
            max_payload: 64 * 1024,
            max_annotation: 8 * 1024,
        }
    }
}

/// The tag cosign keeps an image's signatures under: `sha256-<hex>.sig`
/// for `sha256:<hex>`. `None` for a string that is not `algorithm:hex`.
pub fn signature_tag(digest: &str) -> Option<String> {
    let (algorithm, hex) = digest.split_once(':')?;
    let ok = !algorithm.is_empty()
        && algorithm.bytes().all(|b| b.is_ascii_alphanumeric())
        && !hex.is_empty()
        && hex.bytes().all(|b| b.is_ascii_hexdigit());
    ok.then(|| format!("{algorithm}-{hex}.sig"))
}

/// One layer of a signature manifest, read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// The layer's index in the manifest.
    pub index: usize,
    /// The payload's digest (the layer's).
    pub digest: String,
    /// The payload's size as the manifest says.
    pub size: u64,
    /// The signature, decoded from base64; `Err` says why the layer is
    /// not a candidate (a wrong media type, a missing or garbled
    /// signature, a payload too large).
    pub signature: Result<Vec<u8>, CandidateFailure>,
}

#[derive(Deserialize)]
struct RawManifest {
    #[serde(default)]
    layers: Vec<RawLayer>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLayer {
    #[serde(default)]
    media_type: String,
    digest: String,
    size: u64,
    #[serde(default)]
    annotations: HashMap<String, String>,
}

/// Reads a signature manifest's bytes into its candidates (pure: the fuzz
/// target calls it on anything).
pub fn read_signature_manifest(
    body: &[u8],
    limits: &Limits,
) -> Result<Vec<Candidate>, VerifyErrorKind> {
    let raw: RawManifest = serde_json::from_slice(body)
        .map_err(|e| VerifyErrorKind::InvalidSignatureManifest(e.to_string()))?;
    if raw.layers.len() > limits.max_layers {
        return Err(VerifyErrorKind::TooManySignatures {
            layers: raw.layers.len(),
            limit: limits.max_layers,
        });
    }
    Ok(raw
        .layers
        .into_iter()
        .enumerate()
        .map(|(index, layer)| {
            let signature = candidate_signature(&layer, limits);
            Candidate {
                index,
                digest: layer.digest,
                size: layer.size,
                signature,
            }
        })
        .collect())
}

fn candidate_signature(layer: &RawLayer, limits: &Limits) -> Result<Vec<u8>, CandidateFailure> {
    if layer.media_type != SIMPLE_SIGNING {
        return Err(CandidateFailure::MediaType(sanitize(&layer.media_type)));
    }
    if layer.size > limits.max_payload {
        return Err(CandidateFailure::PayloadTooLarge {
            size: layer.size,
            limit: limits.max_payload,
        });
    }
    let Some(text) = layer.annotations.get(SIGNATURE_ANNOTATION) else {
        return Err(CandidateFailure::NoSignatureAnnotation);
    };
    if text.len() > limits.max_annotation {
        return Err(CandidateFailure::GarbledSignature(format!(
            "{} bytes, more than {}",
            text.len(),
            limits.max_annotation
        )));
    }
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| CandidateFailure::GarbledSignature(e.to_string()))
}

/// Whether `signature` is a signature of `payload` by `key` (the
/// algorithms of [`KeyAlgorithm`], as cosign makes them).
pub fn signature_verifies(key: &PublicKey, payload: &[u8], signature: &[u8]) -> bool {
    use ring::signature as s;
    let algorithms: &[&'static dyn s::VerificationAlgorithm] = match key.algorithm() {
        KeyAlgorithm::EcdsaP256 => &[&s::ECDSA_P256_SHA256_ASN1],
        KeyAlgorithm::EcdsaP384 => &[&s::ECDSA_P384_SHA384_ASN1, &s::ECDSA_P384_SHA256_ASN1],
        KeyAlgorithm::Rsa => &[&s::RSA_PKCS1_2048_8192_SHA256, &s::RSA_PSS_2048_8192_SHA256],
        KeyAlgorithm::Ed25519 => &[&s::ED25519],
        _ => &[],
    };
    algorithms.iter().any(|a| {
        s::UnparsedPublicKey::new(*a, key.key_bytes())
            .verify(payload, signature)
            .is_ok()
    })
}

#[derive(Deserialize)]
struct Payload {
    critical: Critical,
}

#[derive(Deserialize)]
struct Critical {
    identity: Identity,
    image: PayloadImage,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct Identity {
    #[serde(rename = "docker-reference")]
    docker_reference: String,
}

#[derive(Deserialize)]
struct PayloadImage {
    #[serde(rename = "docker-manifest-digest")]
    docker_manifest_digest: String,
}

/// Checks a payload (whose signature verified) against the digest and the
/// repository admitted (`repository` normalized, as [`ImageRef::name`]
/// writes it). Pure: the fuzz target calls it on anything.
///
/// The payload must be strict JSON throughout, the fields not read
/// included: it is read whole as a JSON value first (serde's typed reading
/// skips unknown fields without checking their escapes, so a lone surrogate
/// `\udc00` there would pass), then as the payload. A payload another reader
/// might take otherwise is refused, never accepted.
pub fn check_payload(
    payload: &[u8],
    digest: &str,
    repository: &str,
) -> Result<(), CandidateFailure> {
    let invalid = |e: serde_json::Error| CandidateFailure::InvalidPayload(e.to_string());
    let value: serde_json::Value = serde_json::from_slice(payload).map_err(invalid)?;
    let p = Payload::deserialize(&value).map_err(invalid)?;
    if p.critical.kind != SIGNATURE_TYPE {
        return Err(CandidateFailure::InvalidPayload(format!(
            "critical.type is {:?}, not {SIGNATURE_TYPE:?}",
            sanitize(&p.critical.kind)
        )));
    }
    if p.critical.image.docker_manifest_digest != digest {
        return Err(CandidateFailure::OtherDigest(sanitize(
            &p.critical.image.docker_manifest_digest,
        )));
    }
    let named = &p.critical.identity.docker_reference;
    match ImageRef::parse(named) {
        Ok(r) if r.name().to_string() == repository => Ok(()),
        _ => Err(CandidateFailure::OtherRepository(sanitize(named))),
    }
}

/// Why one layer of the signature manifest did not verify the image.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CandidateFailure {
    /// The layer's media type is not [`SIMPLE_SIGNING`].
    MediaType(String),
    /// No [`SIGNATURE_ANNOTATION`].
    NoSignatureAnnotation,
    /// The annotation is not standard base64 (or too long).
    GarbledSignature(String),
    /// The layer says its payload is larger than [`Limits::max_payload`].
    PayloadTooLarge {
        /// The size the manifest gives.
        size: u64,
        /// The bound.
        limit: u64,
    },
    /// The payload could not be fetched, or its bytes are not its digest.
    Fetch(RegistryError),
    /// No listed key verifies the signature over the payload's bytes: made
    /// with another key, or over other bytes (a payload changed after
    /// signing): a verifier cannot tell the two apart.
    SignatureMismatch,
    /// The payload verified but is not a cosign image signature.
    InvalidPayload(String),
    /// The payload verified and names another digest (a valid signature of
    /// another image, moved under this digest's tag).
    OtherDigest(String),
    /// The payload verified and names another repository.
    OtherRepository(String),
}

impl fmt::Display for CandidateFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CandidateFailure::MediaType(t) => write!(f, "media type {t:?} is not {SIMPLE_SIGNING}"),
            CandidateFailure::NoSignatureAnnotation => {
                write!(f, "no {SIGNATURE_ANNOTATION} annotation")
            }
            CandidateFailure::GarbledSignature(e) => write!(f, "the signature is not base64: {e}"),
            CandidateFailure::PayloadTooLarge { size, limit } => {
                write!(f, "a payload of {size} bytes, more than {limit}")
            }
            CandidateFailure::Fetch(e) => write!(f, "the payload: {e}"),
            CandidateFailure::SignatureMismatch => {
                f.write_str("the signature does not verify with any listed key")
            }
            CandidateFailure::InvalidPayload(e) => write!(f, "not a cosign signature payload: {e}"),
            CandidateFailure::OtherDigest(d) => write!(f, "a signature of another digest ({d})"),
            CandidateFailure::OtherRepository(r) => {
                write!(f, "a signature naming another repository ({r})")
            }
        }
    }
}

/// Why an image did not verify: what a caller matches on.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyErrorKind {
    /// The reference has no digest: only a digest can be verified.
    NotPinned,
    /// No signature: the `.sig` tag does not exist.
    NoSignature,
    /// Signatures exist, and none verifies with a listed key (another key,
    /// a payload changed after signing, or unusable layers: see the
    /// candidates).
    NoSignatureByKey,
    /// A signature by a listed key, of another digest.
    SignatureOfAnotherDigest(String),
    /// A signature by a listed key, naming another repository.
    SignatureNamesAnotherRepository(String),
    /// A signature by a listed key over a payload that is not a cosign
    /// image signature (its `critical.type`, or not its JSON).
    InvalidPayload(String),
    /// The `.sig` tag is not a signature manifest (an index, not JSON).
    InvalidSignatureManifest(String),
    /// More layers than [`Limits::max_layers`].
    TooManySignatures {
        /// The manifest's layers.
        layers: usize,
        /// The bound.
        limit: usize,
    },
    /// Only a cosign v3 sigstore bundle was found: not supported yet.
    BundleFormatNotSupported,
    /// The registry failed (unreachable, timeout, denied, …): never a success.
    Registry(RegistryError),
}

impl VerifyErrorKind {
    /// A short, stable name: `not_pinned`, `no_signature`,
    /// `no_signature_by_key`, `other_digest`, `other_repository`,
    /// `invalid_payload`, `invalid_signature_manifest`,
    /// `too_many_signatures`, `bundle_not_supported`, `registry`.
    pub fn name(&self) -> &'static str {
        match self {
            VerifyErrorKind::NotPinned => "not_pinned",
            VerifyErrorKind::NoSignature => "no_signature",
            VerifyErrorKind::NoSignatureByKey => "no_signature_by_key",
            VerifyErrorKind::SignatureOfAnotherDigest(_) => "other_digest",
            VerifyErrorKind::SignatureNamesAnotherRepository(_) => "other_repository",
            VerifyErrorKind::InvalidPayload(_) => "invalid_payload",
            VerifyErrorKind::InvalidSignatureManifest(_) => "invalid_signature_manifest",
            VerifyErrorKind::TooManySignatures { .. } => "too_many_signatures",
            VerifyErrorKind::BundleFormatNotSupported => "bundle_not_supported",
            VerifyErrorKind::Registry(_) => "registry",
        }
    }
}

impl fmt::Display for VerifyErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyErrorKind::NotPinned => f.write_str("no digest to verify"),
            VerifyErrorKind::NoSignature => f.write_str("no signature"),
            VerifyErrorKind::NoSignatureByKey => f.write_str("no signature by a listed key"),
            VerifyErrorKind::SignatureOfAnotherDigest(d) => {
                write!(f, "the signature is of another digest ({d})")
            }
            VerifyErrorKind::SignatureNamesAnotherRepository(r) => {
                write!(f, "the signature names another repository ({r})")
            }
            VerifyErrorKind::InvalidPayload(e) => write!(f, "the signed payload is not a cosign image signature: {e}"),
            VerifyErrorKind::InvalidSignatureManifest(e) => {
                write!(f, "the signature tag is not a signature manifest: {}", sanitize(e))
            }
            VerifyErrorKind::TooManySignatures { layers, limit } => {
                write!(f, "a signature manifest of {layers} layers, more than {limit}")
            }
            VerifyErrorKind::BundleFormatNotSupported => f.write_str(
                "only a cosign v3 sigstore bundle was found: that format is not supported yet (sign with cosign's .sig tags: --new-bundle-format=false)",
            ),
            VerifyErrorKind::Registry(e) => write!(f, "registry error: {e}"),
        }
    }
}

/// An image that did not verify: the [kind](VerifyErrorKind), the image,
/// where its signatures were looked for, and each candidate's failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyError {
    /// Why, for a caller to match on.
    pub kind: VerifyErrorKind,
    /// The image verified (`name@digest`).
    pub image: String,
    /// The signature tag looked up (`repository:sha256-….sig`).
    pub signatures: String,
    /// Each layer's failure, by its index in the signature manifest.
    pub candidates: Vec<(usize, CandidateFailure)>,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.image, self.kind)?;
        if !self.signatures.is_empty() {
            write!(f, " (signatures {})", self.signatures)?;
        }
        for (i, c) in self.candidates.iter().take(3) {
            write!(f, "; layer {i}: {c}")?;
        }
        if self.candidates.len() > 3 {
            write!(f, "; {} more", self.candidates.len() - 3)?;
        }
        Ok(())
    }
}

impl std::error::Error for VerifyError {}

/// A verified image: which layer, which key.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Verified {
    /// The image (`name@digest`).
    pub image: String,
    /// The index of the layer that verified (`None`: from the cache).
    pub layer: Option<usize>,
    /// The index in the keys given of the key that verified (`None`: from
    /// the cache).
    pub key: Option<usize>,
}

/// How the verifier caches successes.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct VerifyCacheOptions {
    /// How long a success is reused (zero: no cache). Default 5 minutes: a
    /// signature removed after that is noticed at the next verification.
    pub ttl: Duration,
    /// The most entries kept; the oldest goes first when full.
    pub max_entries: usize,
}

impl Default for VerifyCacheOptions {
    fn default() -> Self {
        VerifyCacheOptions {
            ttl: Duration::from_secs(300),
            max_entries: 4096,
        }
    }
}

/// The cache key: the repository pulled, the digest, where signatures are
/// kept, and the key set (a sha256 over the keys' DER, in order).
type CacheKey = (String, String, String, [u8; 32]);

/// One verification in flight, shared by its concurrent callers.
type Flight = Arc<OnceCell<Result<Verified, VerifyError>>>;

/// Verifies cosign signatures of pinned images through a [`Client`], with
/// a bounded cache of successes keyed on the repository, the digest, the
/// signature repository and the key set (failures are never cached: a miss
/// verifies again), and single flight: concurrent verifications of one key
/// share one set of registry requests, as the [`Resolver`](crate::Resolver)'s
/// resolutions do. Share it behind an `Arc`; every method takes `&self`.
#[derive(Debug)]
pub struct Verifier {
    client: Arc<Client>,
    limits: Limits,
    cache: VerifyCacheOptions,
    entries: Mutex<HashMap<CacheKey, Instant>>,
    flights: Mutex<HashMap<CacheKey, Flight>>,
    metrics: VerifyMetrics,
}

impl Verifier {
    /// A verifier over `client`, with these bounds and cache options.
    pub fn new(client: Arc<Client>, limits: Limits, cache: VerifyCacheOptions) -> Self {
        Verifier {
            client,
            limits,
            cache,
            entries: Mutex::new(HashMap::new()),
            flights: Mutex::new(HashMap::new()),
            metrics: VerifyMetrics::default(),
        }
    }

    /// The verifier's counters: verifications by result, their latency,
    /// cache hits and misses, shared requests.
    pub fn metrics(&self) -> &VerifyMetrics {
        &self.metrics
    }

    /// The client underneath.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// How many successes are cached.
    pub fn cached_len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether `image` (which must carry its digest: resolve it first) has
    /// a cosign signature by one of `keys`, kept in `signature_repository`
    /// (a repository name, `None`: the image's own). Each request is
    /// bounded by the client's timeout; wrap the call in
    /// `tokio::time::timeout` for one deadline. A cached success is a
    /// look-up; concurrent calls for one repository, digest, signature
    /// repository and key set share one verification (its result, success
    /// or failure, goes to each; only a success is cached).
    pub async fn verify(
        &self,
        image: &Reference,
        keys: &[PublicKey],
        signature_repository: Option<&str>,
    ) -> Result<Verified, VerifyError> {
        let repository = image.as_image_ref().name().to_string();
        let fail = |kind, signatures: &str, candidates| VerifyError {
            kind,
            image: image.to_string(),
            signatures: signatures.to_owned(),
            candidates,
        };
        let Some(digest) = image.digest().map(|d| d.to_string()) else {
            return Err(fail(VerifyErrorKind::NotPinned, "", Vec::new()));
        };
        let Some(tag) = signature_tag(&digest) else {
            return Err(fail(VerifyErrorKind::NotPinned, "", Vec::new()));
        };
        let store = signature_repository.unwrap_or(&repository);
        let key = cache_key(&repository, &digest, store, keys);
        if self.cached(&key) {
            self.metrics.record_cache_hit();
            return Ok(Verified {
                image: image.to_string(),
                layer: None,
                key: None,
            });
        }
        self.metrics.record_cache_miss();
        let (flight, first) = {
            let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
            match flights.get(&key) {
                Some(f) => (Arc::clone(f), false),
                None => {
                    let f: Flight = Arc::new(OnceCell::new());
                    flights.insert(key.clone(), Arc::clone(&f));
                    (f, true)
                }
            }
        };
        if !first {
            self.metrics.record_shared();
        }
        // Whoever runs the initializer makes the one set of requests; if
        // that caller is cancelled (its deadline), a waiting caller runs it
        // instead (OnceCell's rule).
        let result = flight
            .get_or_init(|| async {
                let started = Instant::now();
                let result = self
                    .verify_uncached(image, keys, &repository, &digest, store, &tag)
                    .await;
                self.metrics.record_verification(
                    match &result {
                        Ok(_) => "ok",
                        Err(e) => e.kind.name(),
                    },
                    started.elapsed(),
                );
                if result.is_ok() {
                    self.store(key.clone());
                }
                result
            })
            .await
            .clone();
        {
            let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
            if flights.get(&key).is_some_and(|f| Arc::ptr_eq(f, &flight)) {
                flights.remove(&key);
            }
        }
        // A shared result names the image as this caller wrote it (another
        // tag of the same digest verifies the same way).
        let written = image.to_string();
        match result {
            Ok(verified) => Ok(Verified {
                image: written,
                ..verified
            }),
            Err(error) => Err(VerifyError {
                image: written,
                ..error
            }),
        }
    }

    /// One verification through the registry (no cache, no flight).
    async fn verify_uncached(
        &self,
        image: &Reference,
        keys: &[PublicKey],
        repository: &str,
        digest: &str,
        store: &str,
        tag: &str,
    ) -> Result<Verified, VerifyError> {
        let fail = |kind, signatures: &str, candidates| VerifyError {
            kind,
            image: image.to_string(),
            signatures: signatures.to_owned(),
            candidates,
        };
        let signatures = format!("{store}:{tag}");
        let Ok(sig_ref) = Reference::parse(&signatures) else {
            return Err(fail(
                VerifyErrorKind::InvalidSignatureManifest("not a repository".to_owned()),
                &signatures,
                Vec::new(),
            ));
        };
        let fetched = match self.client.fetch_manifest(&sig_ref).await {
            Ok(f) => f,
            Err(e) if *e.kind() == ErrorKind::NotFound => {
                let kind = if self.has_bundle(store, digest).await {
                    VerifyErrorKind::BundleFormatNotSupported
                } else {
                    VerifyErrorKind::NoSignature
                };
                return Err(fail(kind, &signatures, Vec::new()));
            }
            Err(e) => return Err(fail(VerifyErrorKind::Registry(e), &signatures, Vec::new())),
        };
        if fetched.manifest.kind != Kind::Manifest {
            return Err(fail(
                VerifyErrorKind::InvalidSignatureManifest(format!(
                    "an index ({})",
                    fetched.manifest.media_type
                )),
                &signatures,
                Vec::new(),
            ));
        }
        let candidates = read_signature_manifest(&fetched.body, &self.limits)
            .map_err(|kind| fail(kind, &signatures, Vec::new()))?;
        let mut failures = Vec::new();
        for candidate in candidates {
            let signature = match candidate.signature {
                Ok(s) => s,
                Err(f) => {
                    failures.push((candidate.index, f));
                    continue;
                }
            };
            let payload = match self
                .client
                .fetch_blob(&sig_ref, &candidate.digest, self.limits.max_payload)
                .await
            {
                Ok(p) => p,
                Err(e) => {
                    failures.push((candidate.index, CandidateFailure::Fetch(e)));
                    continue;
                }
            };
            let Some(key_index) = keys
                .iter()
                .position(|k| signature_verifies(k, &payload, &signature))
            else {
                failures.push((candidate.index, CandidateFailure::SignatureMismatch));
                continue;
            };
            match check_payload(&payload, digest, repository) {
                Ok(()) => {
                    return Ok(Verified {
                        image: image.to_string(),
                        layer: Some(candidate.index),
                        key: Some(key_index),
                    });
                }
                Err(f) => failures.push((candidate.index, f)),
            }
        }
        Err(fail(summarize(&failures), &signatures, failures))
    }

    /// A cached success for `image` (pinned), `keys` and
    /// `signature_repository`, without a request: what [`Verifier::verify`]
    /// would answer from its cache (counted as a cache hit), `None` when it
    /// would go to the registry. Lets a caller skip the asynchronous path
    /// for what it already knows.
    pub fn verify_cached(
        &self,
        image: &Reference,
        keys: &[PublicKey],
        signature_repository: Option<&str>,
    ) -> Option<Verified> {
        let repository = image.as_image_ref().name().to_string();
        let digest = image.digest()?.to_string();
        let store = signature_repository.unwrap_or(&repository);
        if !self.cached(&cache_key(&repository, &digest, store, keys)) {
            return None;
        }
        self.metrics.record_cache_hit();
        Some(Verified {
            image: image.to_string(),
            layer: None,
            key: None,
        })
    }

    /// Whether cosign v3's fallback tag (`sha256-<hex>`, an index of
    /// referrers) lists a sigstore bundle for `digest`.
    async fn has_bundle(&self, store: &str, digest: &str) -> bool {
        let Some(tag) = signature_tag(digest) else {
            return false;
        };
        let tag = tag.trim_end_matches(".sig");
        let Ok(r) = Reference::parse(&format!("{store}:{tag}")) else {
            return false;
        };
        match self.client.fetch_manifest(&r).await {
            Ok(f) if f.manifest.kind == Kind::Index => lists_bundle(&f.body),
            _ => false,
        }
    }

    fn cached(&self, key: &CacheKey) -> bool {
        if self.cache.ttl.is_zero() {
            return false;
        }
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(key)
            .is_some_and(|at| at.elapsed() < self.cache.ttl)
    }

    fn store(&self, key: CacheKey) {
        if self.cache.ttl.is_zero() || self.cache.max_entries == 0 {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.cache.max_entries && !entries.contains_key(&key) {
            let ttl = self.cache.ttl;
            entries.retain(|_, at| at.elapsed() < ttl);
            if entries.len() >= self.cache.max_entries
                && let Some(oldest) = entries
                    .iter()
                    .min_by_key(|(_, at)| **at)
                    .map(|(k, _)| k.clone())
            {
                entries.remove(&oldest);
            }
        }
        entries.insert(key, Instant::now());
    }
}

/// Whether an index lists a manifest of a sigstore bundle (`artifactType`
/// or media type).
fn lists_bundle(body: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Index {
        #[serde(default)]
        manifests: Vec<Entry>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Entry {
        #[serde(default)]
        artifact_type: String,
        #[serde(default)]
        media_type: String,
    }
    serde_json::from_slice::<Index>(body).is_ok_and(|i| {
        i.manifests.iter().any(|m| {
            m.artifact_type.starts_with(BUNDLE_MEDIA_TYPE)
                || m.media_type.starts_with(BUNDLE_MEDIA_TYPE)
        })
    })
}

/// The most telling failure among the candidates': a signature by a listed
/// key that names the wrong thing says more than one that does not verify.
fn summarize(failures: &[(usize, CandidateFailure)]) -> VerifyErrorKind {
    let find = |f: &dyn Fn(&CandidateFailure) -> Option<VerifyErrorKind>| {
        failures.iter().find_map(|(_, c)| f(c))
    };
    find(&|c| match c {
        CandidateFailure::OtherDigest(d) => {
            Some(VerifyErrorKind::SignatureOfAnotherDigest(d.clone()))
        }
        _ => None,
    })
    .or_else(|| {
        find(&|c| match c {
            CandidateFailure::OtherRepository(r) => {
                Some(VerifyErrorKind::SignatureNamesAnotherRepository(r.clone()))
            }
            _ => None,
        })
    })
    .or_else(|| {
        find(&|c| match c {
            CandidateFailure::InvalidPayload(e) => Some(VerifyErrorKind::InvalidPayload(e.clone())),
            _ => None,
        })
    })
    .or_else(|| {
        // Every candidate failed at the registry: a registry error, never
        // "no signature by a listed key".
        let all_fetch = !failures.is_empty()
            && failures
                .iter()
                .all(|(_, c)| matches!(c, CandidateFailure::Fetch(_)));
        all_fetch.then(|| match &failures[0].1 {
            CandidateFailure::Fetch(e) => VerifyErrorKind::Registry(e.clone()),
            _ => VerifyErrorKind::NoSignatureByKey,
        })
    })
    .unwrap_or(if failures.is_empty() {
        VerifyErrorKind::NoSignature
    } else {
        VerifyErrorKind::NoSignatureByKey
    })
}

/// The cache (and flight) key of one verification.
fn cache_key(repository: &str, digest: &str, store: &str, keys: &[PublicKey]) -> CacheKey {
    (
        repository.to_owned(),
        digest.to_owned(),
        store.to_owned(),
        key_set_id(keys),
    )
}

/// A digest of a key set, for the cache key.
fn key_set_id(keys: &[PublicKey]) -> [u8; 32] {
    let mut h = Sha256::new();
    for k in keys {
        h.update((k.spki_der().len() as u64).to_be_bytes());
        h.update(k.spki_der());
    }
    h.finalize().into()
}

/// A registry's text, without control characters, at most 200 characters.
fn sanitize(s: &str) -> String {
    s.chars()
        .take(200)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// The digest of a payload as a registry names blobs (`sha256:<hex>`).
pub fn payload_digest(payload: &[u8]) -> String {
    manifest::digest_of("sha256", payload).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_tags() {
        assert_eq!(
            signature_tag("sha256:abc0").as_deref(),
            Some("sha256-abc0.sig")
        );
        assert_eq!(signature_tag("sha256:"), None);
        assert_eq!(signature_tag("sha256:../x"), None);
        assert_eq!(signature_tag("nope"), None);
    }

    #[test]
    fn payloads() {
        let d = "sha256:aa";
        let ok = br#"{"critical":{"identity":{"docker-reference":"index.docker.io/library/nginx"},"image":{"docker-manifest-digest":"sha256:aa"},"type":"cosign container image signature"},"optional":null}"#;
        assert_eq!(check_payload(ok, d, "docker.io/library/nginx"), Ok(()));
        assert!(matches!(
            check_payload(ok, "sha256:bb", "docker.io/library/nginx"),
            Err(CandidateFailure::OtherDigest(_))
        ));
        assert!(matches!(
            check_payload(ok, d, "docker.io/library/redis"),
            Err(CandidateFailure::OtherRepository(_))
        ));
        assert!(matches!(
            check_payload(b"{}", d, "x"),
            Err(CandidateFailure::InvalidPayload(_))
        ));
    }
}
