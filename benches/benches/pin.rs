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
//! `verify` (issue 22): `/validate` of the same review pinned to digests,
//! under a policy whose `verify:` rule covers every image, the signatures
//! found in the `Verifier`'s cache of successes (`validate-verify-warm`:
//! the first phase, one verifier look-up per image, the second phase),
//! beside the same review under the policy without the verify rule
//! (`validate-plain`), in the same run.
//!
//! Run: `cargo bench -p image-policy-benches --bench pin`.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use image_policy_benches::handler::{REGISTRY, policy, reviews};
use image_policy_benches::pin::stub::{registry as stub, resolver};
use image_policy_benches::pin::{pin_policy, pinned, pinned_review, warm};
use image_policy_core::policy::Policy;
use image_policy_registry::cosign::{Limits, VerifyCacheOptions};
use image_policy_registry::{Client, Options, Resolver, Verifier};
use image_policy_webhook::handler::{
    Endpoint, MutateStep, Resolution, ValidateStep, handle, mutate, validate,
};

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

/// A plain-HTTP registry on `listener` answering GETs of the paths in
/// `routes` (path, content type, body); 404 for any other.
fn serve_routes(
    runtime: &tokio::runtime::Runtime,
    listener: tokio::net::TcpListener,
    routes: Vec<(String, &'static str, Vec<u8>)>,
) {
    let routes = Arc::new(routes);
    runtime.spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let routes = Arc::clone(&routes);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: hyper::Request<_>| {
                    let found = routes
                        .iter()
                        .find(|(path, _, _)| path == req.uri().path())
                        .map(|(_, kind, body)| (*kind, body.clone()));
                    async move {
                        let (status, kind, body) = match found {
                            Some((kind, body)) => (200, kind, body),
                            None => (404, "text/plain", b"not found".to_vec()),
                        };
                        hyper::Response::builder()
                            .status(status)
                            .header("content-type", kind)
                            .body(http_body_util::Full::new(hyper::body::Bytes::from(body)))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
}

/// Both phases of `/validate` with verify rules, verifying through
/// `verifier` as the server's `Pinning::verify_pending` does: the cache's
/// successes first, without a task (`Verifier::verify_cached`), the rest
/// through `Verifier::verify`.
fn validate_with(
    runtime: &tokio::runtime::Runtime,
    policy: &Policy,
    verifier: &Verifier,
    body: &[u8],
) -> Vec<u8> {
    match validate(policy, body) {
        ValidateStep::Done(reply) => reply.body,
        ValidateStep::Verify(pending) => {
            let mut results = Vec::with_capacity(pending.images().len());
            for image in pending.images() {
                let requirements = policy.verify_requirements(image.as_ref(), pending.namespace());
                let cached = requirements.iter().all(|req| {
                    verifier
                        .verify_cached(image, req.keys, req.signature_repository)
                        .is_some()
                });
                if cached {
                    results.push(Ok(()));
                    continue;
                }
                results.push(runtime.block_on(async {
                    for req in &requirements {
                        verifier
                            .verify(image, req.keys, req.signature_repository)
                            .await
                            .map_err(|e| e.to_string())?;
                    }
                    Ok(())
                }));
            }
            pending.complete(&results).body
        }
    }
}

fn bench_verify(c: &mut Criterion) {
    use base64::Engine as _;
    use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
    let base64 = base64::engine::general_purpose::STANDARD;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).expect("a key");
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng)
        .expect("a key pair");
    // A P-256 SubjectPublicKeyInfo: the fixed DER prefix, then the point.
    let mut spki = vec![
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08,
        0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
    ];
    spki.extend_from_slice(pair.public_key().as_ref());
    // PEM: base64 in lines of 64, indented for the policy's block scalar.
    let encoded = base64.encode(&spki);
    let lines: String = encoded
        .as_bytes()
        .chunks(64)
        .map(|line| format!("          {}\n", String::from_utf8_lossy(line)))
        .collect();
    let pem = format!(
        "          -----BEGIN PUBLIC KEY-----\n{lines}          -----END PUBLIC KEY-----\n"
    );
    let digest = "sha256:4444444444444444444444444444444444444444444444444444444444444444";
    let hex = digest.trim_start_matches("sha256:");
    let (_, review, _) = reviews().into_iter().next().expect("the allowed review");
    let mut object: serde_json::Value = serde_json::from_slice(&review).expect("JSON");
    // The payloads name the registry's address: bind first, serve after.
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("a port");
    let addr = listener.local_addr().expect("an address").to_string();
    let mut repositories = Vec::new();
    for list in ["containers", "initContainers"] {
        let Some(containers) =
            object["request"]["object"]["spec"]["template"]["spec"][list].as_array_mut()
        else {
            continue;
        };
        for container in containers {
            let image = container["image"].as_str().expect("an image").to_owned();
            let name = image.rsplit_once(':').map_or(image.as_str(), |(n, _)| n);
            let repository = name.replacen(REGISTRY, &addr, 1);
            container["image"] = format!("{repository}@{digest}").into();
            repositories.push(repository);
        }
    }
    let body = serde_json::to_vec(&object).expect("JSON");
    let mut routes = Vec::new();
    for repository in &repositories {
        let path = repository.trim_start_matches(&format!("{addr}/"));
        let payload = format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"{repository}"}},"image":{{"docker-manifest-digest":"{digest}"}},"type":"cosign container image signature"}},"optional":null}}"#
        );
        let signature = pair.sign(&rng, payload.as_bytes()).expect("signed");
        let payload_digest = image_policy_registry::cosign::payload_digest(payload.as_bytes());
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{payload_digest}","size":{size}}},"layers":[{{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","digest":"{payload_digest}","size":{size},"annotations":{{"dev.cosignproject.cosign/signature":"{sig}"}}}}]}}"#,
            size = payload.len(),
            sig = base64.encode(signature.as_ref()),
        );
        routes.push((
            format!("/v2/{path}/manifests/sha256-{hex}.sig"),
            image_policy_registry::manifest::OCI_MANIFEST,
            manifest.into_bytes(),
        ));
        routes.push((
            format!("/v2/{path}/blobs/{payload_digest}"),
            "application/octet-stream",
            payload.into_bytes(),
        ));
    }
    serve_routes(&runtime, listener, routes);
    let plain = Policy::from_yaml_str(&format!("allow:\n  - registry: \"{addr}\"\n"), "plain.yaml")
        .expect("the plain policy compiles")
        .policy;
    let verifying = Policy::from_yaml_str(
        &format!(
            "allow:\n  - registry: \"{addr}\"\nverify:\n  - registry: \"{addr}\"\n    keys:\n      - |\n{pem}"
        ),
        "verify.yaml",
    )
    .expect("the verify policy compiles")
    .policy;
    let mut options = Options::default();
    options.system_roots = false;
    options.plain_http = vec![addr.clone()];
    options.request_timeout = Duration::from_secs(5);
    let verifier = Verifier::new(
        Arc::new(Client::new(options).expect("a client")),
        Limits::default(),
        VerifyCacheOptions::default(),
    );
    // Warm: the first review verifies every image through the stub.
    let first = validate_with(&runtime, &verifying, &verifier, &body);
    let answer: serde_json::Value = serde_json::from_slice(&first).expect("JSON");
    assert_eq!(answer["response"]["allowed"], true, "{answer}");
    assert_eq!(verifier.cached_len(), repositories.len());
    let plain_answer = handle(&plain, Endpoint::AdmissionReview, &body);
    let answer: serde_json::Value = serde_json::from_slice(&plain_answer.body).expect("JSON");
    assert_eq!(answer["response"]["allowed"], true, "{answer}");
    eprintln!(
        "verify: {} images, {} verified and cached",
        repositories.len(),
        verifier.cached_len()
    );

    let mut group = c.benchmark_group("verify");
    group.bench_function("validate-plain", |b| {
        b.iter(|| handle(&plain, Endpoint::AdmissionReview, black_box(&body)))
    });
    group.bench_function("validate-verify-warm", |b| {
        b.iter(|| validate_with(&runtime, &verifying, &verifier, black_box(&body)))
    });
    group.finish();
}

criterion_group!(benches, bench_pin, bench_verify);
criterion_main!(benches);
