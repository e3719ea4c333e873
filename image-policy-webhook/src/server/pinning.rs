//! The resolution phase of `/mutate`: the references a
//! [`PendingMutation`](crate::handler::PendingMutation) lists, resolved
//! through one shared [`Resolver`] within one deadline per review.
//!
//! The resolver is built the first time a review needs it (a policy without
//! pin rules never builds one, and a reload that adds pin rules needs no
//! restart); its options (CA certificates, credentials) were read once, at
//! startup.

use super::ActivePolicy;
use crate::handler::{PendingMutation, PendingValidation, Resolution};
use image_policy_core::policy::Policy;
use image_policy_core::reference::{Digest, Reference};
use image_policy_registry::cosign::{Limits, VerifyCacheOptions};
use image_policy_registry::{CacheOptions, Client, Metrics, Options, Resolver, Verifier};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::time::Instant;

/// The default deadline of one review's resolutions: 3 s, well below the
/// API server's default webhook `timeoutSeconds` of 10 s (and the 5 s of
/// `deploy/components/rewrite`).
pub const DEFAULT_PIN_DEADLINE: Duration = Duration::from_secs(3);

/// The API server's largest `timeoutSeconds` for a webhook: a deadline must
/// be below it (and below the configuration's own `timeoutSeconds`, which
/// the server cannot see).
pub const MAX_WEBHOOK_TIMEOUT: Duration = Duration::from_secs(30);

/// Registry requests one review has in flight at once.
const CONCURRENCY: usize = 16;

/// How `/mutate` resolves tags to digests for `pin:` rules.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PinConfig {
    /// The registry client's options: CA certificates, credentials, plain
    /// HTTP hosts, the timeout of each request.
    pub registry: Options,
    /// The resolver's cache of successes (TTL zero: off).
    pub cache: CacheOptions,
    /// The signature verifier's cache of successes (`verify:` rules; TTL
    /// zero: off): `image-policy serve --verify-cache-ttl` (default 5 min,
    /// at most 60 min) and `--verify-cache-size` (default 4096 entries, at
    /// most 65536).
    pub verify_cache: VerifyCacheOptions,
    /// Every resolution of one review ends by then: one still running is a
    /// failure. Must be below the `MutatingWebhookConfiguration`'s
    /// `timeoutSeconds`. Default [`DEFAULT_PIN_DEADLINE`].
    pub deadline: Duration,
}

impl Default for PinConfig {
    fn default() -> Self {
        PinConfig {
            registry: Options::default(),
            cache: CacheOptions::default(),
            verify_cache: VerifyCacheOptions::default(),
            deadline: DEFAULT_PIN_DEADLINE,
        }
    }
}

/// The server's resolver, built on first use.
pub(crate) struct Pinning {
    config: PinConfig,
    resolver: OnceLock<Result<Arc<Resolver>, String>>,
    verifier: OnceLock<Result<Arc<Verifier>, String>>,
    /// Verifications cut by a review's deadline.
    deadlines: AtomicU64,
}

impl Pinning {
    pub(crate) fn new(config: PinConfig) -> Self {
        Pinning {
            config,
            resolver: OnceLock::new(),
            verifier: OnceLock::new(),
            deadlines: AtomicU64::new(0),
        }
    }

    fn resolver(&self) -> Result<&Arc<Resolver>, &str> {
        self.resolver
            .get_or_init(|| {
                Client::new(self.config.registry.clone())
                    .map(|client| Arc::new(Resolver::new(client, self.config.cache)))
                    .map_err(|e| format!("no registry client: {e}"))
            })
            .as_ref()
            .map_err(String::as_str)
    }

    /// The signature verifier (a client of its own, with the same options).
    fn verifier(&self) -> Result<&Arc<Verifier>, &str> {
        self.verifier
            .get_or_init(|| {
                Client::new(self.config.registry.clone())
                    .map(|client| {
                        Arc::new(Verifier::new(
                            Arc::new(client),
                            Limits::default(),
                            self.config.verify_cache,
                        ))
                    })
                    .map_err(|e| format!("no registry client: {e}"))
            })
            .as_ref()
            .map_err(String::as_str)
    }

    /// `/mutate`'s registry phase: resolve the references of `pending`,
    /// then verify each digest against every verify rule of `policy` that
    /// matches it, all within one deadline. A digest that does not verify
    /// (a registry error and the deadline included) becomes
    /// [`Resolution::Unverified`]: fail closed.
    pub(crate) async fn resolve_and_verify(
        self: &Arc<Self>,
        policy: &Arc<ActivePolicy>,
        pending: &PendingMutation,
    ) -> Vec<Resolution> {
        let deadline = Instant::now() + self.config.deadline;
        let mut out = self.resolve_until(pending.references(), deadline).await;
        if !policy.policy.has_verify_rules() {
            return out;
        }
        // The distinct pinned references (two tags of one digest are one
        // verification), verified concurrently.
        let mut pinned: Vec<Reference> = Vec::new();
        let mut of_reference = Vec::with_capacity(out.len());
        for (reference, resolution) in pending.references().iter().zip(&out) {
            let at = match resolution {
                Resolution::Pinned { digest } => Digest::parse(digest).ok().map(|d| {
                    let p = reference.with_digest(d);
                    pinned.iter().position(|q| *q == p).unwrap_or_else(|| {
                        pinned.push(p);
                        pinned.len() - 1
                    })
                }),
                _ => None,
            };
            of_reference.push(at);
        }
        let namespace = pending.namespace().map(str::to_owned);
        let verified = self.verify_all(policy, &pinned, namespace, deadline).await;
        for (resolution, at) in out.iter_mut().zip(of_reference) {
            let (Some(at), Resolution::Pinned { digest }) = (at, &*resolution) else {
                continue;
            };
            if let Err((reason, error)) = &verified[at] {
                *resolution = Resolution::unverified(digest.clone(), *reason, error.clone());
            }
        }
        out
    }

    /// Whether the verifier's cache holds a success for every verify rule
    /// of `policy` matching `pinned` in `namespace` (no rule: true).
    fn cached(&self, policy: &Policy, pinned: &Reference, namespace: Option<&str>) -> bool {
        let requirements = policy.verify_requirements(pinned.as_ref(), namespace);
        if requirements.is_empty() {
            return true;
        }
        let Ok(verifier) = self.verifier() else {
            return false;
        };
        requirements.iter().all(|req| {
            verifier
                .verify_cached(pinned, req.keys, req.signature_repository)
                .is_some()
        })
    }

    /// Whether `pinned` satisfies every verify rule of `policy` matching it
    /// in `namespace`, by `deadline`: `Err((reason code, message))` if not.
    /// Verified one rule after another (a cached success is a look-up).
    pub(crate) async fn verify_until(
        &self,
        policy: &Policy,
        pinned: &Reference,
        namespace: Option<&str>,
        deadline: Instant,
    ) -> Result<(), (&'static str, String)> {
        let requirements = policy.verify_requirements(pinned.as_ref(), namespace);
        if requirements.is_empty() {
            return Ok(());
        }
        let verifier = match self.verifier() {
            Ok(verifier) => verifier,
            Err(e) => return Err(("registry", e.to_owned())),
        };
        for req in &requirements {
            match tokio::time::timeout_at(
                deadline,
                verifier.verify(pinned, req.keys, req.signature_repository),
            )
            .await
            {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    return Err((e.kind.name(), format!("{e} (rule {})", req.rule.path)));
                }
                Err(_) => {
                    self.deadlines.fetch_add(1, Ordering::Relaxed);
                    return Err((
                        "registry",
                        format!(
                            "{pinned}: no answer within the deadline of {} ms",
                            self.config.deadline.as_millis()
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The second phase of `/validate` and `/imagereview`: one result per
    /// image of `pending`, in order, all within one deadline (`Err`: the
    /// reason code in parentheses, then why).
    pub(crate) async fn verify_pending(
        self: &Arc<Self>,
        policy: &Arc<ActivePolicy>,
        pending: &PendingValidation,
    ) -> Vec<Result<(), String>> {
        let deadline = Instant::now() + self.config.deadline;
        let namespace = pending.namespace().map(str::to_owned);
        self.verify_all(policy, pending.images(), namespace, deadline)
            .await
            .into_iter()
            .map(|r| r.map_err(|(reason, error)| format!("({reason}) {error}")))
            .collect()
    }

    /// Verifies each of `images` (distinct pinned references) concurrently,
    /// at most [`CONCURRENCY`] at once, all by `deadline`: one result per
    /// image, in order. Those the verifier's cache holds are answered first,
    /// without a task; concurrent reviews of one digest share its registry
    /// requests (the verifier's single flight).
    async fn verify_all(
        self: &Arc<Self>,
        policy: &Arc<ActivePolicy>,
        images: &[Reference],
        namespace: Option<String>,
        deadline: Instant,
    ) -> Vec<Result<(), (&'static str, String)>> {
        let late = || {
            Err((
                "registry",
                format!(
                    "no answer within the deadline of {} ms",
                    self.config.deadline.as_millis()
                ),
            ))
        };
        // What the verifier's cache answers needs no task: a warm review
        // is look-ups only.
        let mut out: Vec<_> = images.iter().map(|_| late()).collect();
        let mut misses = Vec::new();
        for (i, image) in images.iter().enumerate() {
            if self.cached(&policy.policy, image, namespace.as_deref()) {
                out[i] = Ok(());
            } else {
                misses.push(i);
            }
        }
        if misses.is_empty() {
            return out;
        }
        if let [i] = misses[..] {
            // One image to verify (the common case): no task.
            out[i] = self
                .verify_until(&policy.policy, &images[i], namespace.as_deref(), deadline)
                .await;
            return out;
        }
        let permits = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
        let mut tasks = tokio::task::JoinSet::new();
        for i in misses {
            let image = &images[i];
            let this = Arc::clone(self);
            let policy = Arc::clone(policy);
            let permits = Arc::clone(&permits);
            let image = image.clone();
            let namespace = namespace.clone();
            tasks.spawn(async move {
                let _permit = permits.acquire().await;
                let verified = this
                    .verify_until(&policy.policy, &image, namespace.as_deref(), deadline)
                    .await;
                (i, verified)
            });
        }
        // Each task ends by the deadline (`verify_until`'s own bound); the
        // outer bound is a safety net (dropping the set aborts the rest).
        let _ = tokio::time::timeout_at(deadline + Duration::from_millis(50), async {
            while let Some(joined) = tasks.join_next().await {
                if let Ok((i, verified)) = joined {
                    out[i] = verified;
                }
            }
        })
        .await;
        out
    }

    /// The registry counters, once a resolver exists.
    fn metrics(&self) -> Option<&Arc<Metrics>> {
        self.resolver.get()?.as_ref().ok().map(|r| r.metrics())
    }

    /// One resolution per reference, in order, all by `deadline`. The
    /// references the resolver's cache holds are answered from it first,
    /// without a task (the warm path: a look-up each); only the others go
    /// to the registry, concurrently.
    async fn resolve_until(&self, references: &[Reference], deadline: Instant) -> Vec<Resolution> {
        let resolver = match self.resolver() {
            Ok(resolver) => Arc::clone(resolver),
            Err(e) => return references.iter().map(|_| Resolution::failed(e)).collect(),
        };
        let mut out: Vec<Option<Resolution>> = references
            .iter()
            .map(|r| resolver.cached_digest(r).map(Resolution::pinned))
            .collect();
        if out.iter().all(Option::is_some) {
            return out.into_iter().flatten().collect();
        }
        let late = format!(
            "no answer within the pin deadline of {} ms",
            self.config.deadline.as_millis()
        );
        let permits = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
        let mut tasks = tokio::task::JoinSet::new();
        for (i, reference) in references.iter().enumerate() {
            if out[i].is_some() {
                continue;
            }
            let resolver = Arc::clone(&resolver);
            let permits = Arc::clone(&permits);
            let reference = reference.clone();
            tasks.spawn(async move {
                let resolved = tokio::time::timeout_at(deadline, async {
                    let _permit = permits.acquire().await;
                    resolver.resolve(&reference).await
                })
                .await;
                (i, resolved)
            });
        }
        // Each task ends by the deadline; the outer bound is a safety net
        // (dropping the set aborts whatever is left).
        let _ = tokio::time::timeout_at(deadline + Duration::from_millis(50), async {
            while let Some(joined) = tasks.join_next().await {
                if let Ok((i, resolved)) = joined {
                    out[i] = Some(match resolved {
                        Ok(Ok(pinned)) => Resolution::pinned(pinned.digest),
                        Ok(Err(e)) => Resolution::failed(e.to_string()),
                        Err(_) => Resolution::failed(late.clone()),
                    });
                }
            }
        })
        .await;
        out.into_iter()
            .map(|r| r.unwrap_or_else(|| Resolution::failed(late.clone())))
            .collect()
    }

    /// The registry counters in Prometheus text, appended to `out` (nothing
    /// before the first resolution).
    pub(crate) fn render_metrics(&self, out: &mut String) {
        self.render_verify_metrics(out);
        let Some(metrics) = self.metrics() else {
            return;
        };
        let s = metrics.snapshot();
        out.push_str(
            "# HELP image_policy_registry_resolutions_total Tag resolutions that went to a registry, by result.\n\
             # TYPE image_policy_registry_resolutions_total counter\n",
        );
        for result in image_policy_registry::RESULTS {
            let _ = writeln!(
                out,
                "image_policy_registry_resolutions_total{{result=\"{result}\"}} {}",
                s.resolutions(result)
            );
        }
        write_latency_histogram(
            out,
            "image_policy_registry_resolution_seconds",
            "Latency of the resolutions that went to a registry.",
            &s.latency_buckets,
            s.latency_micros_sum,
            s.total_resolutions(),
        );
        let _ = write!(
            out,
            "# HELP image_policy_registry_cache_hits_total Resolutions answered from the cache.\n\
             # TYPE image_policy_registry_cache_hits_total counter\n\
             image_policy_registry_cache_hits_total {}\n\
             # HELP image_policy_registry_shared_total Resolutions that waited for a request another review had started (single flight).\n\
             # TYPE image_policy_registry_shared_total counter\n\
             image_policy_registry_shared_total {}\n\
             # HELP image_policy_registry_http_requests_total HTTP requests sent to registries and token servers.\n\
             # TYPE image_policy_registry_http_requests_total counter\n\
             image_policy_registry_http_requests_total {}\n\
             # HELP image_policy_registry_http_failures_total HTTP requests that got no answer (connect, TLS, timeout).\n\
             # TYPE image_policy_registry_http_failures_total counter\n\
             image_policy_registry_http_failures_total {}\n",
            s.cache_hits, s.shared, s.http_requests, s.http_failures
        );
    }

    /// The verifier's counters in Prometheus text, appended to `out`
    /// (nothing before the first verification).
    fn render_verify_metrics(&self, out: &mut String) {
        let Some(Ok(verifier)) = self.verifier.get() else {
            return;
        };
        let s = verifier.metrics().snapshot();
        let deadlines = self.deadlines.load(Ordering::Relaxed);
        out.push_str(
            "# HELP image_policy_registry_verifications_total Signature verifications that went to a registry, by result; deadline: cut by the review's deadline.\n\
             # TYPE image_policy_registry_verifications_total counter\n",
        );
        for result in image_policy_registry::VERIFY_RESULTS {
            let _ = writeln!(
                out,
                "image_policy_registry_verifications_total{{result=\"{result}\"}} {}",
                s.verifications(result)
            );
        }
        let _ = writeln!(
            out,
            "image_policy_registry_verifications_total{{result=\"deadline\"}} {deadlines}"
        );
        write_latency_histogram(
            out,
            "image_policy_registry_verification_seconds",
            "Latency of the signature verifications that went to a registry.",
            &s.latency_buckets,
            s.latency_micros_sum,
            s.total_verifications(),
        );
        let _ = write!(
            out,
            "# HELP image_policy_registry_verify_cache_hits_total Signature verifications answered from the cache of successes.\n\
             # TYPE image_policy_registry_verify_cache_hits_total counter\n\
             image_policy_registry_verify_cache_hits_total {}\n\
             # HELP image_policy_registry_verify_cache_misses_total Signature verifications not in the cache (to the registry, or shared).\n\
             # TYPE image_policy_registry_verify_cache_misses_total counter\n\
             image_policy_registry_verify_cache_misses_total {}\n\
             # HELP image_policy_registry_verify_shared_total Signature verifications that waited for one another review had started (single flight).\n\
             # TYPE image_policy_registry_verify_shared_total counter\n\
             image_policy_registry_verify_shared_total {}\n\
             # HELP image_policy_registry_verify_cache_entries Successes held in the verifier's cache.\n\
             # TYPE image_policy_registry_verify_cache_entries gauge\n\
             image_policy_registry_verify_cache_entries {}\n",
            s.cache_hits,
            s.cache_misses,
            s.shared,
            verifier.cached_len(),
        );
    }
}

/// A histogram of latencies in Prometheus text: `name`'s HELP and TYPE,
/// one cumulative bucket per bound of [`image_policy_registry::LATENCY_BUCKETS`]
/// (`buckets` holds one count more, past the last bound), `+Inf`, the sum in
/// seconds and the count.
fn write_latency_histogram(
    out: &mut String,
    name: &str,
    help: &str,
    buckets: &[u64],
    micros_sum: u64,
    total: u64,
) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
    let mut cumulative = 0;
    for (bound, n) in image_policy_registry::LATENCY_BUCKETS.iter().zip(buckets) {
        cumulative += n;
        let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
    }
    let _ = writeln!(
        out,
        "{name}_bucket{{le=\"+Inf\"}} {total}\n{name}_sum {}\n{name}_count {total}",
        micros_sum as f64 / 1e6
    );
}
