//! Tag to digest, once per name: a [`Resolver`] wraps a [`Client`] with a
//! bounded cache of successes and single-flight requests.

use crate::client::{Client, Fetched};
use crate::error::RegistryError;
use crate::manifest::Kind;
use crate::metrics::Metrics;
use image_policy_core::reference::{Digest, Reference};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

/// The cache's key of `reference`: the reference the runtime pulls
/// (`docker_ref`), which is its canonical text when it has a tag or a
/// digest but not both (the canonical form always writes the registry and
/// the path in full), written out otherwise.
fn cache_key(reference: &Reference) -> Cow<'_, str> {
    if reference.tag().is_some() != reference.digest().is_some() {
        Cow::Borrowed(reference.as_str())
    } else {
        Cow::Owned(reference.docker_ref().to_string())
    }
}

/// An image pinned to the digest of its manifest (or index).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Pinned {
    /// The reference resolved, normalized (`docker.io/library/nginx:1.27`).
    pub image: Reference,
    /// The same name and tag with the digest (`docker.io/library/nginx:1.27@sha256:…`;
    /// `:latest` written when the tag was implied). The tag is kept for
    /// people; the runtime pulls by the digest alone. A reference that had a
    /// digest is its own pin.
    pub pinned: Reference,
    /// `sha256:…` of the manifest's bytes as the registry served them.
    pub digest: String,
    /// The manifest's media type.
    pub media_type: String,
    /// Index (multi-platform: pinned at the index, never at a platform) or
    /// manifest.
    pub kind: Kind,
    /// The manifest's size in bytes.
    pub size: u64,
}

/// How the resolver caches.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct CacheOptions {
    /// How long a success is reused; zero turns the cache off (concurrent
    /// resolutions of one name still share one request).
    pub ttl: Duration,
    /// The most names kept; the oldest entry goes first when full.
    pub max_entries: usize,
}

/// The default time a resolution is reused: 30 s.
pub const DEFAULT_TTL: Duration = Duration::from_secs(30);

impl Default for CacheOptions {
    fn default() -> Self {
        CacheOptions {
            ttl: DEFAULT_TTL,
            max_entries: 4096,
        }
    }
}

impl CacheOptions {
    /// The default options with this TTL (zero: no cache).
    pub fn with_ttl(ttl: Duration) -> Self {
        CacheOptions {
            ttl,
            ..CacheOptions::default()
        }
    }
}

type Flight = Arc<OnceCell<Result<Pinned, RegistryError>>>;

/// Resolves references to [`Pinned`] digests through a [`Client`]:
///
/// - each distinct name (the reference the runtime pulls,
///   `docker.io/library/nginx:latest` for `nginx`) goes to the registry at
///   most once per TTL;
/// - concurrent resolutions of one name share one request (single flight):
///   the first caller's request, and its answer, success or failure;
/// - only successes are cached, in at most `max_entries` entries;
/// - a reference with a digest is fetched by that digest and checked
///   against it (the registry must have it).
///
/// Each request is bounded by the client's timeout; a caller that needs one
/// deadline for a whole resolution (an admission review) wraps
/// [`Resolver::resolve`] in `tokio::time::timeout`. Dropping a resolution
/// is safe: a request shared with other callers goes on for them (one of
/// them takes it over), and nothing is cached from it.
///
/// Share it behind an `Arc`; every method takes `&self`.
#[derive(Debug)]
pub struct Resolver {
    client: Client,
    cache: CacheOptions,
    entries: Mutex<HashMap<String, (Pinned, Instant)>>,
    flights: Mutex<HashMap<String, Flight>>,
}

impl Resolver {
    /// A resolver over `client` with these cache options.
    pub fn new(client: Client, cache: CacheOptions) -> Self {
        Resolver {
            client,
            cache,
            entries: Mutex::new(HashMap::new()),
            flights: Mutex::new(HashMap::new()),
        }
    }

    /// The client underneath (for blobs, or a manifest's bytes).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The counters: resolutions by result, latency, cache hits.
    pub fn metrics(&self) -> &Arc<Metrics> {
        self.client.metrics()
    }

    /// The digest `reference` resolves to now (or within the TTL).
    pub async fn resolve(&self, reference: &Reference) -> Result<Pinned, RegistryError> {
        let key = cache_key(reference);
        if let Some(hit) = self.cached(&key) {
            self.metrics().record_cache_hit();
            return Ok(hit);
        }
        let (flight, first) = {
            let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
            match flights.get(&*key) {
                Some(f) => (Arc::clone(f), false),
                None => {
                    let f: Flight = Arc::new(OnceCell::new());
                    flights.insert(key.clone().into_owned(), Arc::clone(&f));
                    (f, true)
                }
            }
        };
        if !first {
            self.metrics().record_shared();
        }
        // Whoever runs the initializer is the one request; if that caller is
        // cancelled, a waiting caller runs it instead (OnceCell's rule).
        let result = flight
            .get_or_init(|| async {
                let started = Instant::now();
                let result = self.fetch(reference).await;
                self.metrics().record_resolution(
                    match &result {
                        Ok(_) => "ok",
                        Err(e) => e.kind_name(),
                    },
                    started.elapsed(),
                );
                if let Ok(p) = &result {
                    self.store(&key, p.clone());
                }
                result
            })
            .await
            .clone();
        {
            let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
            if flights.get(&*key).is_some_and(|f| Arc::ptr_eq(f, &flight)) {
                flights.remove(&*key);
            }
        }
        result
    }

    /// The digest of `reference` from the cache alone (`sha256:…`), without
    /// a request or an `await`: a success cached within the TTL, counted as
    /// a cache hit as [`Resolver::resolve`] counts one; `None` otherwise
    /// (then [`Resolver::resolve`] it). The same cache as `resolve`, looked
    /// up on the name the runtime pulls, without writing it out when the
    /// reference is already that (a tag or a digest, not both): the warm
    /// path of a webhook review, one hash look-up under a lock and the
    /// digest's copy per reference.
    pub fn cached_digest(&self, reference: &Reference) -> Option<String> {
        if self.cache.ttl.is_zero() {
            return None;
        }
        let key = cache_key(reference);
        let digest = {
            let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            entries
                .get(&*key)
                .filter(|(_, at)| at.elapsed() < self.cache.ttl)
                .map(|(p, _)| p.digest.clone())
        }?;
        self.metrics().record_cache_hit();
        Some(digest)
    }

    async fn fetch(&self, reference: &Reference) -> Result<Pinned, RegistryError> {
        let Fetched { manifest, .. } = self.client.fetch_manifest(reference).await?;
        let digest = Digest::parse(&manifest.digest)
            .expect("a digest this crate computed is a valid reference digest");
        // `nginx` pins as `docker.io/library/nginx:latest@sha256:…`: the tag
        // the runtime would have pulled stays, for people.
        let pinned = match reference.digest() {
            Some(_) => reference.clone(),
            None => Reference::parse(&reference.docker_ref().to_string())
                .map_or_else(|_| reference.with_digest(digest), |r| r.with_digest(digest)),
        };
        Ok(Pinned {
            image: reference.clone(),
            pinned,
            digest: manifest.digest,
            media_type: manifest.media_type,
            kind: manifest.kind,
            size: manifest.size,
        })
    }

    fn cached(&self, key: &str) -> Option<Pinned> {
        if self.cache.ttl.is_zero() {
            return None;
        }
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(key)
            .filter(|(_, at)| at.elapsed() < self.cache.ttl)
            .map(|(p, _)| p.clone())
    }

    fn store(&self, key: &str, pinned: Pinned) {
        if self.cache.ttl.is_zero() || self.cache.max_entries == 0 {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.cache.max_entries && !entries.contains_key(key) {
            let ttl = self.cache.ttl;
            entries.retain(|_, (_, at)| at.elapsed() < ttl);
            if entries.len() >= self.cache.max_entries
                && let Some(oldest) = entries
                    .iter()
                    .min_by_key(|(_, (_, at))| *at)
                    .map(|(k, _)| k.clone())
            {
                entries.remove(&oldest);
            }
        }
        entries.insert(key.to_owned(), (pinned, Instant::now()));
    }

    /// How many names the cache holds (expired ones included until evicted).
    pub fn cached_len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}
