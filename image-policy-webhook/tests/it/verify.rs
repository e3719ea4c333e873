//! `verify:` rules through the real server on loopback TLS, against
//! Debian's `docker-registry` (the registry crate's fixture) with images
//! signed by `openssl` and pushed as cosign pushes them (the registry
//! crate's `signing` helpers): a signed image is pinned by `/mutate` and the
//! patched object admitted by `/validate`; an unsigned one denied by
//! `/mutate` in enforce mode and admitted with a warning and no patch in
//! warn mode; an object submitted already pinned to an unsigned digest
//! denied by `/validate`; the registry stopped: denied.
//!
//! Skipped, with the reason printed, when `docker-registry` or `openssl`
//! is missing (under `CI=true` a missing `openssl` is a failure).

use crate::registry::fixture::have;
use crate::registry::signing::have_openssl;
use crate::registry_setup::{SignedRegistry, ask, message, patched};
use crate::reviews::admission_review;
use crate::support::{Options, Running, metric};
use image_policy_webhook::server::PinConfig;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// A policy allowing `registry` whose images must be signed by `key`.
fn verify_policy(registry: &str, mode: &str, key: &str) -> String {
    let key: String = key.lines().map(|l| format!("          {l}\n")).collect();
    format!(
        "mode: {mode}\nallow:\n  - registry: \"{registry}\"\nverify:\n  - registry: \"{registry}\"\n    keys:\n      - |\n{key}"
    )
}

fn pod(image: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "namespace": "shop"},
        "spec": {"containers": [{"name": "web", "image": image}]}})
}

fn image_of(object: &Value) -> &str {
    object["spec"]["containers"][0]["image"].as_str().unwrap()
}

#[tokio::test]
async fn verify_signed_pinned_unsigned_denied_or_warned_and_registry_stopped() {
    if !have("docker-registry") || !have_openssl() {
        return;
    }
    let reg = SignedRegistry::start().await;
    let addr = reg.addr.clone();
    let (key_a, signed, unsigned, other) = (&reg.key_a, &reg.signed, &reg.unsigned, &reg.other);

    let enforce = Running::start(Options {
        policy: verify_policy(&addr, "enforce", key_a),
        pin: Some(reg.config()),
        ..Options::default()
    })
    .await;
    let warn = Running::start(Options {
        policy: verify_policy(&addr, "warn", key_a),
        pin: Some(reg.config()),
        ..Options::default()
    })
    .await;

    // Signed: /mutate pins the verified digest; /validate admits the patch
    // (verifying again: the server's verifier) and denies the unpinned one.
    let object = pod(&format!("{addr}/team/signed:1"));
    let answer = ask(&enforce, "/mutate", &object).await;
    let pinned = patched(&object, &answer);
    assert_eq!(image_of(&pinned), format!("{addr}/team/signed:1@{signed}"));
    let answer = ask(&enforce, "/validate", &pinned).await;
    assert_eq!(answer["allowed"], true, "{answer}");
    assert_eq!(ask(&enforce, "/validate", &object).await["allowed"], false);

    // Unsigned, and signed by another key: /mutate denies in enforce mode,
    // naming the image and the reason code, with no patch.
    for (repo, digest, reason) in [
        ("team/unsigned", &unsigned, "no_signature"),
        ("team/other", &other, "no_signature_by_key"),
    ] {
        let image = format!("{addr}/{repo}:1");
        let answer = ask(&enforce, "/mutate", &pod(&image)).await;
        assert_eq!(answer["allowed"], false, "{answer}");
        assert!(answer.get("patch").is_none(), "{answer}");
        let text = message(&answer);
        assert!(
            text.contains(&format!(
                "image {image}: {digest} is not verified ({reason})"
            )),
            "{text}"
        );
        // Warn mode: admitted, a warning naming the image, no patch.
        let answer = ask(&warn, "/mutate", &pod(&image)).await;
        assert_eq!(answer["allowed"], true, "{answer}");
        assert!(answer.get("patch").is_none(), "{answer}");
        let warnings = answer["warnings"].to_string();
        assert!(
            warnings.contains(&image) && warnings.contains(reason),
            "{warnings}"
        );
        // Already pinned to that digest: /validate denies (enforce) or
        // warns (warn): /mutate is not the only way in.
        let pinned = pod(&format!("{addr}/{repo}@{digest}"));
        let answer = ask(&enforce, "/validate", &pinned).await;
        assert_eq!(answer["allowed"], false, "{answer}");
        let text = message(&answer);
        assert!(
            text.contains("not verified") && text.contains(reason),
            "{text}"
        );
        let answer = ask(&warn, "/validate", &pinned).await;
        assert_eq!(answer["allowed"], true, "{answer}");
        assert!(answer["warnings"].to_string().contains(reason), "{answer}");
    }

    // The registry stopped: both endpoints deny (fail closed), naming the
    // registry error. The server's verifier caches successes, so the
    // signed image is asked of a server that never verified it.
    let fresh = Running::start(Options {
        policy: verify_policy(&addr, "enforce", key_a),
        pin: Some(reg.config()),
        ..Options::default()
    })
    .await;
    drop(reg.registry);
    let answer = ask(&fresh, "/validate", &pinned).await;
    assert_eq!(answer["allowed"], false, "{answer}");
    assert!(message(&answer).contains("(registry)"), "{answer}");
    let answer = ask(&fresh, "/mutate", &object).await;
    assert_eq!(answer["allowed"], false, "{answer}");
    assert!(answer.get("patch").is_none(), "{answer}");
    // The server that verified it answers from its cache of successes.
    let answer = ask(&enforce, "/validate", &pinned).await;
    assert_eq!(answer["allowed"], true, "{answer}");
}

/// The ECDSA P-256 key of the core's verify-rule tests.
const P256: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEKHj3WEOey4a7vIj7QP6LfkJQG8Hr
C0PDnq0I6pF0x3cFQubgwgLyRsz7whYjz2+eyziVUZAaAEY4eQQq3PQyzA==
-----END PUBLIC KEY-----
";

/// The two pure calls, without a registry: `/validate` of a pinned image
/// in verify scope lists it and, given no result, denies naming it
/// (`handle` alone does the same: fail closed); given success, it is the
/// pure path's answer; an image out of verify scope, or a policy without
/// verify rules, is answered in one call. `/mutate` of an unpinned image
/// in verify scope lists its reference; `Resolution::Unverified` denies
/// naming the digest and the reason.
#[test]
fn the_pure_phases_list_verify_and_fail_closed() {
    use image_policy_core::policy::Policy;
    use image_policy_webhook::handler::{self, Endpoint, MutateStep, Resolution, ValidateStep};
    let digest = format!("sha256:{}", "a".repeat(64));
    let src = verify_policy("registry.my.com", "enforce", P256)
        .replace("allow:\n", "allow:\n  - registry: other.my.com\n");
    let policy = Policy::from_yaml_str(&src, "p").unwrap().policy;
    let review = |image: &str| admission_review("admission.k8s.io/v1", "u-v", &pod(image));
    let pinned = format!("registry.my.com/team/app@{digest}");

    let body = review(&pinned);
    let ValidateStep::Verify(pending) = handler::validate(&policy, body.as_bytes()) else {
        panic!("a pinned image in verify scope is verified");
    };
    assert_eq!(pending.images().len(), 1);
    assert_eq!(pending.images()[0].as_ref(), pinned);
    assert_eq!(pending.namespace(), Some("shop"));
    let allowed = pending.clone().complete(&[Ok(())]);
    let answer: Value = serde_json::from_slice(&allowed.body).unwrap();
    assert_eq!(answer["response"]["allowed"], true, "{answer}");
    let denied = pending.complete(&[Err("(no_signature) none".to_owned())]);
    let answer: Value = serde_json::from_slice(&denied.body).unwrap();
    assert_eq!(answer["response"]["allowed"], false, "{answer}");
    let text = answer["response"]["status"]["message"].as_str().unwrap();
    assert!(
        text.contains(&format!("image {pinned}: (no_signature) none")),
        "{text}"
    );
    let direct = handler::handle(&policy, Endpoint::AdmissionReview, body.as_bytes());
    let answer: Value = serde_json::from_slice(&direct.body).unwrap();
    assert_eq!(answer["response"]["allowed"], false, "{answer}");

    // Out of verify scope: one call.
    let other = review(&format!("other.my.com/team/app@{digest}"));
    assert!(matches!(
        handler::validate(&policy, other.as_bytes()),
        ValidateStep::Done(reply) if reply.summary.denied == 0
    ));

    // /mutate: the unpinned image's reference, then Unverified denies.
    let body = review("registry.my.com/team/app:1");
    let MutateStep::Resolve(pending) = handler::mutate(&policy, body.as_bytes()) else {
        panic!("an unpinned image in verify scope is resolved");
    };
    assert_eq!(
        pending
            .references()
            .iter()
            .map(|r| r.as_ref().to_owned())
            .collect::<Vec<_>>(),
        ["registry.my.com/team/app:1"]
    );
    let reply = pending.complete(&[Resolution::unverified(
        digest.clone(),
        "no_signature",
        "no signature",
    )]);
    let answer: Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(answer["response"]["allowed"], false, "{answer}");
    assert!(answer["response"].get("patch").is_none());
    let text = answer["response"]["status"]["message"].as_str().unwrap();
    assert!(
        text.contains(&format!(
            "image registry.my.com/team/app:1: {digest} is not verified (no_signature): no signature"
        )),
        "{text}"
    );
}

fn image_review(image: &str) -> String {
    json!({"apiVersion": "imagepolicy.k8s.io/v1alpha1", "kind": "ImageReview",
        "spec": {"containers": [{"image": image}], "namespace": "shop"}})
    .to_string()
}

/// POSTs an ImageReview of `image` and returns its `status`.
async fn ask_image_review(server: &Running, image: &str) -> Value {
    let mut conn = server.client().connect(server.addr).await.unwrap();
    let response = conn
        .post("/imagereview", image_review(image))
        .await
        .unwrap();
    assert_eq!(response.status, 200, "{}", response.body);
    let review: Value = serde_json::from_str(&response.body).unwrap();
    review["status"].clone()
}

/// `/imagereview` verifies as `/validate` does (it used to require the
/// digest only, admitting an image pinned to an unsigned digest): signed
/// and pinned, admitted; unsigned or signed by another key, denied in
/// enforce mode naming the image and the reason, admitted in warn mode with
/// the reason in the `unverified-images` audit annotation; the registry
/// stopped: denied, well before the deadline.
#[tokio::test]
async fn imagereview_verifies_pinned_images() {
    if !have("docker-registry") || !have_openssl() {
        return;
    }
    let reg = SignedRegistry::start().await;
    let addr = reg.addr.clone();
    let (key_a, signed, unsigned, other) = (&reg.key_a, &reg.signed, &reg.unsigned, &reg.other);
    let start = |mode: &'static str| {
        Running::start(Options {
            policy: verify_policy(&addr, mode, key_a),
            pin: Some(reg.config()),
            ..Options::default()
        })
    };
    let enforce = start("enforce").await;
    let warn = start("warn").await;

    let signed_image = format!("{addr}/team/signed@{signed}");
    let status = ask_image_review(&enforce, &signed_image).await;
    assert_eq!(status["allowed"], true, "{status}");
    // Without a digest: denied by the verdict, as before.
    let status = ask_image_review(&enforce, &format!("{addr}/team/signed:1")).await;
    assert_eq!(status["allowed"], false, "{status}");

    for (repo, digest, reason) in [
        ("team/unsigned", &unsigned, "no_signature"),
        ("team/other", &other, "no_signature_by_key"),
    ] {
        let image = format!("{addr}/{repo}@{digest}");
        let status = ask_image_review(&enforce, &image).await;
        assert_eq!(status["allowed"], false, "{status}");
        let text = status["reason"].as_str().unwrap();
        assert!(
            text.starts_with("Pod in namespace shop: 1 of 1 image is not verified: ")
                && text.contains(&format!("container 0 image {image}: ({reason})")),
            "{text}"
        );
        let status = ask_image_review(&warn, &image).await;
        assert_eq!(status["allowed"], true, "{status}");
        let noted = status["auditAnnotations"]["unverified-images"]
            .as_str()
            .unwrap_or_default();
        assert!(
            noted.starts_with(&format!("{image} (({reason})")),
            "{status}"
        );
    }

    // The registry stopped: a server that never verified the signed image
    // denies it (fail closed), long before the 5 s deadline.
    let fresh = start("enforce").await;
    drop(reg.registry);
    let asked = Instant::now();
    let status = ask_image_review(&fresh, &signed_image).await;
    assert!(
        asked.elapsed() < Duration::from_secs(4),
        "{:?}",
        asked.elapsed()
    );
    assert_eq!(status["allowed"], false, "{status}");
    assert!(
        status["reason"].as_str().unwrap().contains("(registry)"),
        "{status}"
    );
    // The one that verified it answers from its cache of successes.
    let status = ask_image_review(&enforce, &signed_image).await;
    assert_eq!(status["allowed"], true, "{status}");
}

/// One sample of `/metrics` (-1 when absent).
fn sample(body: &str, series: &str) -> f64 {
    metric(body, series).unwrap_or(-1.0)
}

/// A pod of `images`, the first repeated in an init container.
fn pod_of(images: &[String]) -> Value {
    let containers: Vec<Value> = images
        .iter()
        .enumerate()
        .map(|(i, image)| json!({"name": format!("c{i}"), "image": image}))
        .collect();
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "namespace": "shop"},
        "spec": {"containers": containers,
                 "initContainers": [{"name": "init", "image": images[0]}]}})
}

/// `/validate` of a pod of N signed images (one repeated) makes one
/// verification of each digest, concurrently, and `/metrics` says so:
/// verifications by result, their latency, cache hits and misses, the
/// cache's entries; a repeat is N cache hits; an unsigned digest counts as
/// `no_signature`. `--verify-cache-size 2` keeps 2 entries; a TTL of zero
/// keeps none, so a repeat verifies again.
#[tokio::test]
async fn validate_verifies_each_digest_once_and_counts_it() {
    if !have("docker-registry") || !have_openssl() {
        return;
    }
    const N: usize = 4;
    let reg = SignedRegistry::start().await;
    let addr = reg.addr.clone();
    let mut images = Vec::new();
    for i in 0..N as u32 {
        let repo = format!("team/s{i}");
        let digest = reg.push.image(&repo, "1", 10 + i).await;
        reg.sign(&repo, &digest, "a").await;
        images.push(format!("{addr}/{repo}@{digest}"));
    }
    let (key_a, unsigned) = (&reg.key_a, &reg.unsigned);
    let start = |ttl: Duration, size: usize| {
        let mut pin: PinConfig = reg.config();
        pin.verify_cache.ttl = ttl;
        pin.verify_cache.max_entries = size;
        Running::start(Options {
            policy: verify_policy(&addr, "enforce", key_a),
            pin: Some(pin),
            ..Options::default()
        })
    };
    let ok = |body: &str| {
        sample(
            body,
            "image_policy_registry_verifications_total{result=\"ok\"}",
        )
    };
    let hits = |body: &str| sample(body, "image_policy_registry_verify_cache_hits_total");
    let misses = |body: &str| sample(body, "image_policy_registry_verify_cache_misses_total");
    let entries = |body: &str| sample(body, "image_policy_registry_verify_cache_entries");
    let seconds = |body: &str| sample(body, "image_policy_registry_verification_seconds_count");
    let object = pod_of(&images);
    let n = N as f64;

    let server = start(Duration::from_secs(300), 4096).await;
    assert_eq!(ask(&server, "/validate", &object).await["allowed"], true);
    let body = server.metrics().await;
    assert_eq!(
        (ok(&body), misses(&body), hits(&body), seconds(&body)),
        (n, n, 0.0, n),
        "{body}"
    );
    assert_eq!(entries(&body), n, "{body}");
    assert!(body.contains("image_policy_registry_verification_seconds_bucket{le=\"+Inf\"} 4"));
    // The repeat: N look-ups, no registry request.
    assert_eq!(ask(&server, "/validate", &object).await["allowed"], true);
    let body = server.metrics().await;
    assert_eq!((ok(&body), hits(&body)), (n, n), "{body}");
    // Unsigned: counted by its reason.
    let answer = ask(
        &server,
        "/validate",
        &pod(&format!("{addr}/team/unsigned@{unsigned}")),
    )
    .await;
    assert_eq!(answer["allowed"], false, "{answer}");
    let body = server.metrics().await;
    assert_eq!(
        metric(
            &body,
            "image_policy_registry_verifications_total{result=\"no_signature\"}"
        ),
        Some(1.0),
        "{body}"
    );

    // A cache of 2 entries keeps 2; a TTL of zero keeps none.
    let small = start(Duration::from_secs(300), 2).await;
    assert_eq!(ask(&small, "/validate", &object).await["allowed"], true);
    let body = small.metrics().await;
    assert_eq!((ok(&body), entries(&body)), (n, 2.0), "{body}");
    let off = start(Duration::ZERO, 4096).await;
    for _ in 0..2 {
        assert_eq!(ask(&off, "/validate", &object).await["allowed"], true);
    }
    let body = off.metrics().await;
    assert_eq!(
        (ok(&body), hits(&body), entries(&body)),
        (2.0 * n, 0.0, 0.0),
        "{body}"
    );
}
