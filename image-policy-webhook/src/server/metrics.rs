//! The server's counters and their Prometheus text exposition.
//!
//! Hand-rolled on atomics: the label sets are small and fixed (three review
//! endpoints, a handful of status codes and outcomes), so every counter is a
//! slot in an array and recording a request is a few relaxed atomic adds, with
//! no lock and no allocation on the request path.
//!
//! Format: <https://prometheus.io/docs/instrumenting/exposition_formats/>.

use crate::handler::{Endpoint, Outcome};
use std::fmt::Write as _;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// The review endpoints, in slot order (labels from [`Endpoint::as_str`]).
const ENDPOINTS: [Endpoint; 3] = Endpoint::ALL;

/// HTTP status labels, in slot order; anything else counts as `other`.
const STATUSES: [&str; 6] = ["200", "400", "408", "413", "500", "other"];

/// Decision outcomes, in slot order (labels from [`Outcome::as_str`]).
const OUTCOMES: [Outcome; 4] = [
    Outcome::Allowed,
    Outcome::Denied,
    Outcome::Warned,
    Outcome::Invalid,
];

/// Upper bounds of the latency histogram's buckets, in microseconds.
const BUCKETS_US: [u64; 14] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 1_000_000,
    5_000_000,
];

fn endpoint_slot(endpoint: Endpoint) -> usize {
    match endpoint {
        Endpoint::ImageReview => 0,
        Endpoint::AdmissionReview => 1,
        Endpoint::Mutate => 2,
    }
}

fn status_slot(status: u16) -> usize {
    match status {
        200 => 0,
        400 => 1,
        408 => 2,
        413 => 3,
        500 => 4,
        _ => 5,
    }
}

fn outcome_slot(outcome: Outcome) -> usize {
    match outcome {
        Outcome::Allowed => 0,
        Outcome::Denied => 1,
        Outcome::Warned => 2,
        Outcome::Invalid => 3,
    }
}

/// A latency histogram with fixed buckets.
#[derive(Default)]
struct Histogram {
    /// Non-cumulative counts per bucket; the last slot is `+Inf`.
    buckets: [AtomicU64; BUCKETS_US.len() + 1],
    sum_us: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    fn observe(&self, elapsed: Duration) {
        let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let slot = BUCKETS_US
            .iter()
            .position(|&bound| us <= bound)
            .unwrap_or(BUCKETS_US.len());
        self.buckets[slot].fetch_add(1, Relaxed);
        self.sum_us.fetch_add(us, Relaxed);
        self.count.fetch_add(1, Relaxed);
    }
}

/// Successes and failures of one kind of reload.
#[derive(Default)]
struct Reloads {
    success: AtomicU64,
    failure: AtomicU64,
}

/// Everything `GET /metrics` reports.
#[derive(Default)]
pub(crate) struct Metrics {
    requests: [[AtomicU64; STATUSES.len()]; ENDPOINTS.len()],
    decisions: [[AtomicU64; OUTCOMES.len()]; ENDPOINTS.len()],
    latency: [Histogram; ENDPOINTS.len()],
    policy_reloads: Reloads,
    certificate_reloads: Reloads,
    /// `sha256:<hex>` of the policy in force.
    policy_hash: RwLock<String>,
}

impl Metrics {
    /// Counts one answered review request.
    pub(crate) fn observe_review(
        &self,
        endpoint: Endpoint,
        status: u16,
        outcome: Outcome,
        elapsed: Duration,
    ) {
        let e = endpoint_slot(endpoint);
        self.requests[e][status_slot(status)].fetch_add(1, Relaxed);
        self.decisions[e][outcome_slot(outcome)].fetch_add(1, Relaxed);
        self.latency[e].observe(elapsed);
    }

    /// Counts a policy (re)load; on success records the hash now in force.
    pub(crate) fn policy_loaded(&self, hash: Option<&str>) {
        match hash {
            Some(hash) => {
                self.policy_reloads.success.fetch_add(1, Relaxed);
                *self.policy_hash.write().unwrap_or_else(|p| p.into_inner()) = hash.to_owned();
            }
            None => {
                self.policy_reloads.failure.fetch_add(1, Relaxed);
            }
        }
    }

    /// Counts a certificate (re)load.
    pub(crate) fn certificate_loaded(&self, ok: bool) {
        let counter = if ok {
            &self.certificate_reloads.success
        } else {
            &self.certificate_reloads.failure
        };
        counter.fetch_add(1, Relaxed);
    }

    /// The Prometheus text exposition (format version 0.0.4).
    pub(crate) fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        out.push_str(
            "# HELP image_policy_requests_total Review requests answered, by endpoint and HTTP status.\n\
             # TYPE image_policy_requests_total counter\n",
        );
        for (e, endpoint) in ENDPOINTS.iter().map(|e| e.as_str()).enumerate() {
            for (s, status) in STATUSES.iter().enumerate() {
                let n = self.requests[e][s].load(Relaxed);
                let _ = writeln!(
                    out,
                    "image_policy_requests_total{{endpoint=\"{endpoint}\",status=\"{status}\"}} {n}"
                );
            }
        }
        out.push_str(
            "# HELP image_policy_decisions_total Review decisions, by endpoint and result.\n\
             # TYPE image_policy_decisions_total counter\n",
        );
        for (e, endpoint) in ENDPOINTS.iter().map(|e| e.as_str()).enumerate() {
            for (o, result) in OUTCOMES.iter().map(|o| o.as_str()).enumerate() {
                let n = self.decisions[e][o].load(Relaxed);
                let _ = writeln!(
                    out,
                    "image_policy_decisions_total{{endpoint=\"{endpoint}\",result=\"{result}\"}} {n}"
                );
            }
        }
        out.push_str(
            "# HELP image_policy_request_duration_seconds Time from request head to response, by endpoint.\n\
             # TYPE image_policy_request_duration_seconds histogram\n",
        );
        for (e, endpoint) in ENDPOINTS.iter().map(|e| e.as_str()).enumerate() {
            let h = &self.latency[e];
            let mut cumulative = 0;
            for (b, bound) in BUCKETS_US.iter().enumerate() {
                cumulative += h.buckets[b].load(Relaxed);
                let le = *bound as f64 / 1e6;
                let _ = writeln!(
                    out,
                    "image_policy_request_duration_seconds_bucket{{endpoint=\"{endpoint}\",le=\"{le}\"}} {cumulative}"
                );
            }
            cumulative += h.buckets[BUCKETS_US.len()].load(Relaxed);
            let _ = writeln!(
                out,
                "image_policy_request_duration_seconds_bucket{{endpoint=\"{endpoint}\",le=\"+Inf\"}} {cumulative}"
            );
            let sum = h.sum_us.load(Relaxed) as f64 / 1e6;
            let count = h.count.load(Relaxed);
            let _ = writeln!(
                out,
                "image_policy_request_duration_seconds_sum{{endpoint=\"{endpoint}\"}} {sum}\n\
                 image_policy_request_duration_seconds_count{{endpoint=\"{endpoint}\"}} {count}"
            );
        }
        for (name, help, reloads) in [
            (
                "image_policy_policy_reloads_total",
                "Policy loads (the first one included), by result; a failed load leaves the previous policy in force.",
                &self.policy_reloads,
            ),
            (
                "image_policy_certificate_reloads_total",
                "Serving certificate loads (the first one included), by result; a failed load leaves the previous certificate in force.",
                &self.certificate_reloads,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n\
                 {name}{{result=\"success\"}} {}\n{name}{{result=\"failure\"}} {}",
                reloads.success.load(Relaxed),
                reloads.failure.load(Relaxed),
            );
        }
        let hash = self.policy_hash.read().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(
            out,
            "# HELP image_policy_policy_info The policy in force; its hash (sha256 of its files and flags) is a label.\n\
             # TYPE image_policy_policy_info gauge\n\
             image_policy_policy_info{{hash=\"{hash}\"}} 1"
        );
        out
    }
}
