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

use crate::registry::fixture::{Registry, have};
use crate::registry::signing::{Keys, Pusher, SIMPLE_SIGNING, have_openssl, payload};
use crate::registry::support::TestCa;
use crate::reviews::admission_review;
use crate::support::{Options, Running};
use base64::Engine as _;
use image_policy_registry::CacheOptions;
use image_policy_webhook::server::PinConfig;
use serde_json::{Value, json};
use std::time::Duration;

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

async fn ask(server: &Running, path: &str, object: &Value) -> Value {
    let mut conn = server.client().connect(server.addr).await.unwrap();
    let response = conn
        .post(
            path,
            admission_review("admission.k8s.io/v1", "u-verify", object),
        )
        .await
        .unwrap();
    assert_eq!(response.status, 200, "{}", response.body);
    let review: Value = serde_json::from_str(&response.body).unwrap();
    review["response"].clone()
}

fn patched(object: &Value, answer: &Value) -> Value {
    assert_eq!(answer["allowed"], true, "{answer}");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(answer["patch"].as_str().expect("a patch"))
        .unwrap();
    let patch: json_patch::Patch = serde_json::from_slice(&bytes).unwrap();
    let mut object = object.clone();
    json_patch::patch(&mut object, &patch).unwrap();
    object
}

fn message(answer: &Value) -> String {
    answer["status"]["message"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

fn image_of(object: &Value) -> &str {
    object["spec"]["containers"][0]["image"].as_str().unwrap()
}

fn config(ca: &TestCa, addr: &str) -> PinConfig {
    let mut pin = PinConfig::default();
    pin.registry = ca.options();
    pin.registry
        .keyring
        .add_file_contents(&format!(
            r#"{{"auths":{{"{addr}":{{"username":"alice","password":"wonderland"}}}}}}"#
        ))
        .unwrap();
    pin.cache = CacheOptions::with_ttl(Duration::ZERO);
    pin.deadline = Duration::from_secs(5);
    pin
}

#[tokio::test]
async fn verify_signed_pinned_unsigned_denied_or_warned_and_registry_stopped() {
    if !have("docker-registry") || !have_openssl() {
        return;
    }
    let ca = TestCa::new();
    let registry = Registry::start(&ca, "alice", "wonderland");
    let addr = registry.addr.clone();
    let push = Pusher::new(&ca, &addr);
    let keys = Keys::new();
    let key_a = std::fs::read_to_string(keys.path("a.pub")).unwrap();

    // team/signed:1 signed by A; team/unsigned:1 not signed; team/other:1
    // signed by B only.
    let signed = push.image("team/signed", "1", 1).await;
    let p = payload(&format!("{addr}/team/signed"), &signed);
    let sig = keys.sign("a", &p);
    push.signatures("team/signed", &signed, &[(p, SIMPLE_SIGNING, sig)])
        .await;
    let unsigned = push.image("team/unsigned", "1", 2).await;
    let other = push.image("team/other", "1", 3).await;
    let p = payload(&format!("{addr}/team/other"), &other);
    let sig = keys.sign("b", &p);
    push.signatures("team/other", &other, &[(p, SIMPLE_SIGNING, sig)])
        .await;

    let enforce = Running::start(Options {
        policy: verify_policy(&addr, "enforce", &key_a),
        pin: Some(config(&ca, &addr)),
        ..Options::default()
    })
    .await;
    let warn = Running::start(Options {
        policy: verify_policy(&addr, "warn", &key_a),
        pin: Some(config(&ca, &addr)),
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
        policy: verify_policy(&addr, "enforce", &key_a),
        pin: Some(config(&ca, &addr)),
        ..Options::default()
    })
    .await;
    drop(registry);
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
