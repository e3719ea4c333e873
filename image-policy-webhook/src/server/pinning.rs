//! The resolution phase of `/mutate`: the references a
//! [`PendingMutation`](crate::handler::PendingMutation) lists, resolved
//! through one shared [`Resolver`] within one deadline per review.
//!
//! The resolver is built the first time a review needs it (a policy without
//! pin rules never builds one, and a reload that adds pin rules needs no
//! restart); its options (CA certificates, credentials) were read once, at
//! startup.

use crate::handler::Resolution;
use image_policy_core::reference::Reference;
use image_policy_registry::{CacheOptions, Client, Metrics, Options, Resolver};
use std::fmt::Write as _;
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
            deadline: DEFAULT_PIN_DEADLINE,
        }
    }
}

/// The server's resolver, built on first use.
pub(crate) struct Pinning {
    config: PinConfig,
    resolver: OnceLock<Result<Arc<Resolver>, String>>,
}

impl Pinning {
    pub(crate) fn new(config: PinConfig) -> Self {
        Pinning {
            config,
            resolver: OnceLock::new(),
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

    /// The registry counters, once a resolver exists.
    fn metrics(&self) -> Option<&Arc<Metrics>> {
        self.resolver.get()?.as_ref().ok().map(|r| r.metrics())
    }

    /// One resolution per reference, in order, all within the deadline.
    pub(crate) async fn resolve(&self, references: &[Reference]) -> Vec<Resolution> {
        let resolver = match self.resolver() {
            Ok(resolver) => Arc::clone(resolver),
            Err(e) => return references.iter().map(|_| Resolution::failed(e)).collect(),
        };
        let deadline = Instant::now() + self.config.deadline;
        let late = format!(
            "no answer within the pin deadline of {} ms",
            self.config.deadline.as_millis()
        );
        let permits = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
        let mut tasks = tokio::task::JoinSet::new();
        for (i, reference) in references.iter().enumerate() {
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
        let mut out: Vec<Resolution> = references
            .iter()
            .map(|_| Resolution::failed(late.clone()))
            .collect();
        // Each task ends by the deadline; the outer bound is a safety net
        // (dropping the set aborts whatever is left).
        let _ = tokio::time::timeout_at(deadline + Duration::from_millis(50), async {
            while let Some(joined) = tasks.join_next().await {
                if let Ok((i, resolved)) = joined {
                    out[i] = match resolved {
                        Ok(Ok(pinned)) => Resolution::pinned(pinned.digest),
                        Ok(Err(e)) => Resolution::failed(e.to_string()),
                        Err(_) => Resolution::failed(late.clone()),
                    };
                }
            }
        })
        .await;
        out
    }

    /// The registry counters in Prometheus text, appended to `out` (nothing
    /// before the first resolution).
    pub(crate) fn render_metrics(&self, out: &mut String) {
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
        out.push_str(
            "# HELP image_policy_registry_resolution_seconds Latency of the resolutions that went to a registry.\n\
             # TYPE image_policy_registry_resolution_seconds histogram\n",
        );
        let mut cumulative = 0;
        for (bound, n) in image_policy_registry::LATENCY_BUCKETS
            .iter()
            .zip(&s.latency_buckets)
        {
            cumulative += n;
            let _ = writeln!(
                out,
                "image_policy_registry_resolution_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
            );
        }
        let total = s.total_resolutions();
        let _ = writeln!(
            out,
            "image_policy_registry_resolution_seconds_bucket{{le=\"+Inf\"}} {total}\n\
             image_policy_registry_resolution_seconds_sum {}\n\
             image_policy_registry_resolution_seconds_count {total}",
            s.latency_micros_sum as f64 / 1e6
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
}
