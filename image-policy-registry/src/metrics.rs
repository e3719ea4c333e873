//! Counters as plain data: the webhook (or anything else) reads a
//! [`Snapshot`] and exports it in its own format. Lock-free atomics; reading
//! never blocks a request.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The upper bounds (seconds) of the latency histogram's buckets, as
/// Prometheus's default buckets; the last bucket is everything above.
pub const LATENCY_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The results resolutions are counted by: `ok`, then every
/// [`ErrorKind::name`](crate::ErrorKind::name).
pub const RESULTS: [&str; 21] = [
    "ok",
    "no_registry",
    "timeout",
    "connect",
    "tls",
    "http",
    "unauthorized",
    "denied",
    "not_found",
    "rate_limited",
    "status",
    "challenge",
    "token",
    "manifest_too_large",
    "schema_v1",
    "unsupported_media_type",
    "invalid_manifest",
    "digest_mismatch",
    "redirect",
    "insecure_redirect",
    "unsupported_digest",
];

/// The counters of one client and its resolver.
#[derive(Debug, Default)]
pub struct Metrics {
    resolutions: [AtomicU64; RESULTS.len()],
    /// Resolutions answered from the cache.
    cache_hits: AtomicU64,
    /// Resolutions that waited for a request another caller had started.
    shared: AtomicU64,
    /// HTTP requests sent (each redirect and token request counts).
    http_requests: AtomicU64,
    /// HTTP requests that got no answer (connect, TLS, timeout).
    http_failures: AtomicU64,
    latency_buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    latency_micros_sum: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Snapshot {
    /// Resolutions that went to the registry, by result (`ok`, `not_found`,
    /// … as in [`RESULTS`]), only those not zero.
    pub resolutions: Vec<(&'static str, u64)>,
    /// Resolutions answered from the cache.
    pub cache_hits: u64,
    /// Resolutions that shared another caller's request (single flight).
    pub shared: u64,
    /// HTTP requests sent.
    pub http_requests: u64,
    /// HTTP requests with no answer.
    pub http_failures: u64,
    /// Resolution latency: the count in each bucket of [`LATENCY_BUCKETS`]
    /// (not cumulative; one more for above the last bound).
    pub latency_buckets: Vec<u64>,
    /// The sum of the resolution latencies, in microseconds.
    pub latency_micros_sum: u64,
}

impl Snapshot {
    /// The count of resolutions with this result.
    pub fn resolutions(&self, result: &str) -> u64 {
        self.resolutions
            .iter()
            .find(|(r, _)| *r == result)
            .map_or(0, |(_, n)| *n)
    }

    /// All the resolutions that went to the registry.
    pub fn total_resolutions(&self) -> u64 {
        self.resolutions.iter().map(|(_, n)| n).sum()
    }
}

impl Metrics {
    /// Counts one resolution that went to the registry.
    pub(crate) fn record_resolution(&self, result: &str, latency: Duration) {
        let i = RESULTS.iter().position(|r| *r == result).unwrap_or(0);
        self.resolutions[i].fetch_add(1, Ordering::Relaxed);
        record_latency(&self.latency_buckets, &self.latency_micros_sum, latency);
    }

    pub(crate) fn record_cache_hit(&self) {
        self.cache_hits.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_shared(&self) {
        self.shared.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one HTTP request (`status` 0: no answer).
    pub(crate) fn record_http(&self, status: u16, _latency: Duration) {
        self.http_requests.fetch_add(1, Ordering::Relaxed);
        if status == 0 {
            self.http_failures.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The counters now.
    pub fn snapshot(&self) -> Snapshot {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Snapshot {
            resolutions: RESULTS
                .iter()
                .zip(&self.resolutions)
                .map(|(r, n)| (*r, load(n)))
                .filter(|(_, n)| *n > 0)
                .collect(),
            cache_hits: load(&self.cache_hits),
            shared: load(&self.shared),
            http_requests: load(&self.http_requests),
            http_failures: load(&self.http_failures),
            latency_buckets: self.latency_buckets.iter().map(load).collect(),
            latency_micros_sum: load(&self.latency_micros_sum),
        }
    }
}

/// The results verifications are counted by: `ok`, then every
/// [`VerifyErrorKind::name`](crate::VerifyErrorKind::name).
pub const VERIFY_RESULTS: [&str; 11] = [
    "ok",
    "not_pinned",
    "no_signature",
    "no_signature_by_key",
    "other_digest",
    "other_repository",
    "invalid_payload",
    "invalid_signature_manifest",
    "too_many_signatures",
    "bundle_not_supported",
    "registry",
];

/// The counters of one [`Verifier`](crate::Verifier).
#[derive(Debug, Default)]
pub struct VerifyMetrics {
    verifications: [AtomicU64; VERIFY_RESULTS.len()],
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
    shared: AtomicU64,
    latency_buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    latency_micros_sum: AtomicU64,
}

/// A copy of a verifier's counters at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifySnapshot {
    /// Verifications that went to the registry, by result (`ok`,
    /// `no_signature`, … as in [`VERIFY_RESULTS`]), only those not zero.
    pub verifications: Vec<(&'static str, u64)>,
    /// Verifications answered from the cache of successes.
    pub cache_hits: u64,
    /// Verifications not in the cache (each went to the registry, or
    /// shared a request another caller had started).
    pub cache_misses: u64,
    /// Verifications that shared another caller's request (single flight).
    pub shared: u64,
    /// Verification latency: the count in each bucket of
    /// [`LATENCY_BUCKETS`] (not cumulative; one more for above the last
    /// bound).
    pub latency_buckets: Vec<u64>,
    /// The sum of the verification latencies, in microseconds.
    pub latency_micros_sum: u64,
}

impl VerifySnapshot {
    /// The count of verifications with this result.
    pub fn verifications(&self, result: &str) -> u64 {
        self.verifications
            .iter()
            .find(|(r, _)| *r == result)
            .map_or(0, |(_, n)| *n)
    }

    /// All the verifications that went to the registry.
    pub fn total_verifications(&self) -> u64 {
        self.verifications.iter().map(|(_, n)| n).sum()
    }
}

impl VerifyMetrics {
    /// Counts one verification that went to the registry.
    pub(crate) fn record_verification(&self, result: &str, latency: Duration) {
        let i = VERIFY_RESULTS
            .iter()
            .position(|r| *r == result)
            .unwrap_or(VERIFY_RESULTS.len() - 1);
        self.verifications[i].fetch_add(1, Ordering::Relaxed);
        record_latency(&self.latency_buckets, &self.latency_micros_sum, latency);
    }

    pub(crate) fn record_cache_hit(&self) {
        self.cache_hits.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_cache_miss(&self) {
        self.cache_misses.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_shared(&self) {
        self.shared.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn snapshot(&self) -> VerifySnapshot {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        VerifySnapshot {
            verifications: VERIFY_RESULTS
                .iter()
                .zip(&self.verifications)
                .map(|(r, n)| (*r, load(n)))
                .filter(|(_, n)| *n > 0)
                .collect(),
            cache_hits: load(&self.cache_hits),
            cache_misses: load(&self.cache_misses),
            shared: load(&self.shared),
            latency_buckets: self.latency_buckets.iter().map(load).collect(),
            latency_micros_sum: load(&self.latency_micros_sum),
        }
    }
}

/// Counts `latency` in its bucket of [`LATENCY_BUCKETS`] (the last: past
/// them all) and adds it to the sum in microseconds.
fn record_latency(buckets: &[AtomicU64], micros_sum: &AtomicU64, latency: Duration) {
    let secs = latency.as_secs_f64();
    let bucket = LATENCY_BUCKETS
        .iter()
        .position(|b| secs <= *b)
        .unwrap_or(LATENCY_BUCKETS.len());
    buckets[bucket].fetch_add(1, Ordering::Relaxed);
    micros_sum.fetch_add(
        u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
        Ordering::Relaxed,
    );
}
