//! `/mutate` with `pin:` rules (issue 21): the benchmark review (a
//! Deployment of 3 containers and 1 init container) with its registry moved
//! to a stub registry on loopback (plain HTTP, a small OCI manifest per
//! tag), the policy allowing and pinning that registry.
//!
//! - `validate`: `/validate` of the benchmark review under the plain policy
//!   (the figure `/mutate` is compared with);
//! - `mutate-warm`: both phases of `/mutate`, each reference answered by
//!   the `Resolver`'s cache (`Resolver::cached_digest`, every tag resolved
//!   once before measuring): the server's warm path without the HTTP
//!   exchange (the server answers cache hits without a task);
//! - `mutate-warm-async`: the same through `Resolver::resolve`, awaited in
//!   `block_on` of a multi-threaded runtime (what `mutate-warm` measured
//!   before the synchronous look-up: the runtime's entry and exit per
//!   reference on top);
//! - `mutate-phases`: both phases with the digests given (the handler's CPU
//!   alone, what a cold pin costs beside its round trip);
//! - `resolve-cold`: one resolution with the cache off: one loopback HTTP
//!   round trip to the stub, the manifest read and hashed;
//!
//! and, printed before measuring: 100 concurrent resolutions of one new tag
//! (the stub's request count), and the time to answer every review with the
//! registry down (connection refused).
//!
//! Run: `cargo bench -p image-policy-benches --bench pin`.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use image_policy_benches::handler::{policy, reviews};
use image_policy_benches::pin::stub::{registry as stub, resolver};
use image_policy_benches::pin::{pin_policy, pinned, pinned_review, warm};
use image_policy_core::policy::Policy;
use image_policy_registry::Resolver;
use image_policy_webhook::handler::{Endpoint, MutateStep, Resolution, handle, mutate};

/// The pin policy and the benchmark review, both naming `addr`.
fn pinned_review_of(addr: &str) -> (Policy, Vec<u8>) {
    (pin_policy(addr), pinned_review(addr))
}

/// Both phases, resolving through `resolver`.
fn mutate_with(
    runtime: &tokio::runtime::Runtime,
    policy: &Policy,
    resolver: &Resolver,
    body: &[u8],
) -> Vec<u8> {
    match mutate(policy, body) {
        MutateStep::Done(reply) => reply.body,
        MutateStep::Resolve(pending) => {
            let resolutions: Vec<Resolution> = runtime.block_on(async {
                let mut out = Vec::with_capacity(pending.references().len());
                for r in pending.references() {
                    out.push(match resolver.resolve(r).await {
                        Ok(p) => Resolution::pinned(p.digest),
                        Err(e) => Resolution::failed(e.to_string()),
                    });
                }
                out
            });
            pending.complete(&resolutions).body
        }
    }
}

fn bench_pin(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let (addr, requests) = stub(&runtime, Duration::ZERO);
    let (policy_pin, body) = pinned_review_of(&addr);
    let cache = resolver(&addr, Duration::from_secs(3600));
    let first = mutate_with(&runtime, &policy_pin, &cache, &body);
    assert!(pinned(&first, 4), "not every image pinned: {first:?}");
    let MutateStep::Resolve(pending) = mutate(&policy_pin, &body) else {
        panic!("the review has images to pin");
    };
    let digests: Vec<Resolution> = pending
        .references()
        .iter()
        .map(|_| {
            Resolution::pinned(
                "sha256:1111111111111111111111111111111111111111111111111111111111111111",
            )
        })
        .collect();
    eprintln!(
        "pin: {} distinct references, {} registry requests to warm the cache",
        pending.references().len(),
        requests.load(Ordering::SeqCst)
    );

    // 100 concurrent resolutions of one new tag: one request.
    let (slow_addr, slow_requests) = stub(&runtime, Duration::from_millis(200));
    let shared = resolver(&slow_addr, Duration::from_secs(30));
    let tag: image_policy_core::reference::Reference = format!("{slow_addr}/team/new:1")
        .parse()
        .expect("a reference");
    runtime.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..100 {
            let shared = Arc::clone(&shared);
            let tag = tag.clone();
            tasks.spawn(async move { shared.resolve(&tag).await.map(|p| p.digest) });
        }
        while let Some(r) = tasks.join_next().await {
            r.expect("joined").expect("resolved");
        }
    });
    eprintln!(
        "pin: 100 concurrent resolutions of one new tag: {} registry request(s)",
        slow_requests.load(Ordering::SeqCst)
    );

    // The registry down: a port nobody listens on.
    let down_addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
        l.local_addr().expect("an address").to_string()
    };
    let (policy_down, body_down) = pinned_review_of(&down_addr);
    let down = resolver(&down_addr, Duration::ZERO);
    let started = Instant::now();
    for _ in 0..100 {
        let reply = mutate_with(&runtime, &policy_down, &down, &body_down);
        let v: serde_json::Value = serde_json::from_slice(&reply).expect("JSON");
        assert_eq!(v["response"]["allowed"], false);
    }
    eprintln!(
        "pin: registry down (connection refused): 100 reviews denied in {:?} ({:?} each)",
        started.elapsed(),
        started.elapsed() / 100
    );

    let plain = policy();
    let (_, review, _) = reviews().into_iter().next().expect("the allowed review");
    let mut group = c.benchmark_group("pin");
    group.bench_function("validate", |b| {
        b.iter(|| handle(&plain, Endpoint::AdmissionReview, black_box(&review)))
    });
    group.bench_function("mutate-warm", |b| {
        b.iter(|| {
            warm(&policy_pin, black_box(&body), |r| {
                cache
                    .cached_digest(r)
                    .map_or_else(|| Resolution::failed("not cached"), Resolution::pinned)
            })
        })
    });
    group.bench_function("mutate-warm-async", |b| {
        b.iter(|| mutate_with(&runtime, &policy_pin, &cache, black_box(&body)))
    });
    group.bench_function("mutate-phases", |b| {
        b.iter(|| match mutate(&policy_pin, black_box(&body)) {
            MutateStep::Resolve(p) => p.complete(&digests),
            MutateStep::Done(r) => r,
        })
    });
    let cold = resolver(&addr, Duration::ZERO);
    let one: image_policy_core::reference::Reference =
        format!("{addr}/shop/web:1").parse().expect("a reference");
    group.bench_function("resolve-cold", |b| {
        b.iter(|| runtime.block_on(cold.resolve(black_box(&one))))
    });
    group.finish();
}

criterion_group!(benches, bench_pin);
criterion_main!(benches);
