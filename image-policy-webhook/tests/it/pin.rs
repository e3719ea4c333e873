//! `/mutate` with `pin:` rules through the real server on loopback TLS,
//! resolving through a real registry: Debian's `docker-registry` (TLS with
//! the test's CA, htpasswd; images and an index pushed with skopeo; a tag
//! pushed over; the registry stopped) and the registry crate's stub for
//! the answers a real registry gives only when it is unwell (401, 404, 429,
//! slow). The fixtures are the registry crate's own (`crate::registry`).

use crate::registry::fixture::{Layout, Registry, have};
use crate::registry::support::{self as stub, Stub, TestCa, sha256};
use crate::registry_setup::{UID, ask, message, patched, pin_config, with_credentials};
use crate::reviews::admission_review;
use crate::support::{Options, Running, eventually, metric};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// A policy allowing and pinning `registry`, rewriting `mirror.example` to it.
fn pin_policy(registry: &str, mode: &str) -> String {
    format!(
        "mode: {mode}\nexemptNamespaces: [kube-system]\nallow:\n  - registry: \"{registry}\"\npin:\n  - registry: \"{registry}\"\nrewrite:\n  - from: mirror.example\n    to: \"{registry}\"\n"
    )
}

fn pod(namespace: &str, spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "namespace": namespace}, "spec": spec})
}

fn deployment(image: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": image}]}}}})
}

/// The real registry: a Deployment and a Pod (init, ephemeral, image
/// volume, a rewritten image) pinned, an index at the index's digest, the
/// patched objects allowed by `/validate`; a tag pushed over: the new digest
/// with the cache off, the old one within the TTL; the registry stopped:
/// denied, naming the image and the error.
#[tokio::test]
async fn real_registry_pins_push_over_and_stop() {
    if !have("docker-registry") || !have("skopeo") {
        return;
    }
    let ca = TestCa::new();
    let registry = Registry::start(&ca, "alice", "wonderland");
    let mut layout = Layout::new(registry.path("layout"));
    let v1 = layout.tag_image("v1", 1);
    let v2 = layout.tag_image("v2", 2);
    let index = layout.tag_index("multi");
    registry.push(&layout.dir, "v1", "team/app:1", false);
    registry.push(&layout.dir, "multi", "team/multi:1", true);
    let addr = registry.addr.clone();
    let with_credentials =
        |ttl| with_credentials(pin_config(&ca, ttl, Duration::from_secs(5)), &addr);
    let uncached = Running::start(Options {
        policy: pin_policy(&addr, "enforce"),
        pin: Some(with_credentials(Duration::ZERO)),
        ..Options::default()
    })
    .await;
    let cached = Running::start(Options {
        policy: pin_policy(&addr, "enforce"),
        pin: Some(with_credentials(Duration::from_secs(600))),
        ..Options::default()
    })
    .await;

    let app = format!("{addr}/team/app:1");
    let object = deployment(&app);
    let answer = ask(&uncached, "/mutate", &object).await;
    let pinned = patched(&object, &answer);
    assert_eq!(
        pinned["spec"]["template"]["spec"]["containers"][0]["image"],
        format!("{app}@{}", sha256(&v1))
    );
    assert_eq!(ask(&uncached, "/validate", &pinned).await["allowed"], true);
    // The unpinned original is what /validate denies.
    assert_eq!(ask(&uncached, "/validate", &object).await["allowed"], false);
    let answer = ask(&cached, "/mutate", &object).await;
    assert_eq!(
        patched(&object, &answer)["spec"]["template"]["spec"]["containers"][0]["image"],
        format!("{app}@{}", sha256(&v1))
    );

    let multi = format!("{addr}/team/multi:1");
    let object = pod(
        "shop",
        json!({
            "initContainers": [{"name": "init", "image": app}],
            "containers": [{"name": "web", "image": "mirror.example/team/app:1"}],
            "ephemeralContainers": [{"name": "debug", "image": multi}],
            "volumes": [{"name": "data", "image": {"reference": app}}],
        }),
    );
    let answer = ask(&uncached, "/mutate", &object).await;
    let pinned = patched(&object, &answer);
    let at_v1 = format!("{app}@{}", sha256(&v1));
    assert_eq!(pinned["spec"]["initContainers"][0]["image"], at_v1);
    assert_eq!(pinned["spec"]["containers"][0]["image"], at_v1);
    assert_eq!(pinned["spec"]["volumes"][0]["image"]["reference"], at_v1);
    assert_eq!(
        pinned["spec"]["ephemeralContainers"][0]["image"],
        format!("{multi}@{}", sha256(&index))
    );
    assert_eq!(ask(&uncached, "/validate", &pinned).await["allowed"], true);

    // Pushed over: the new digest without a cache, the old within the TTL.
    registry.push(&layout.dir, "v2", "team/app:1", false);
    let object = deployment(&app);
    let answer = ask(&uncached, "/mutate", &object).await;
    assert_eq!(
        patched(&object, &answer)["spec"]["template"]["spec"]["containers"][0]["image"],
        format!("{app}@{}", sha256(&v2))
    );
    let answer = ask(&cached, "/mutate", &object).await;
    assert_eq!(
        patched(&object, &answer)["spec"]["template"]["spec"]["containers"][0]["image"],
        format!("{app}@{}", sha256(&v1))
    );

    // The registry stopped: denied, naming the image and the error.
    drop(registry);
    let answer = ask(&uncached, "/mutate", &object).await;
    assert_eq!(answer["allowed"], false, "{answer}");
    assert!(answer.get("patch").is_none());
    let text = message(&answer);
    assert!(
        text.contains(&format!(
            "image {app}: {app}: registry {addr}: cannot connect"
        )),
        "{text}"
    );
    let metrics = uncached.metrics().await;
    assert_eq!(
        metric(
            &metrics,
            r#"image_policy_registry_resolutions_total{result="connect"}"#
        ),
        Some(1.0),
        "{metrics}"
    );
}

/// The stub's answers: 401, 404, 429 and a slow registry deny, naming each
/// image and the registry's error, within the deadline; counted by result.
#[tokio::test]
async fn registry_failures_deny_naming_image_and_error_within_the_deadline() {
    let ca = TestCa::new();
    let registry = Stub::start(Some(ca.acceptor()), |seen, _| {
        let error = |status, code: &str| {
            stub::Reply::Full(
                status,
                vec![],
                format!(r#"{{"errors":[{{"code":"{code}","message":"{code} here"}}]}}"#)
                    .into_bytes(),
            )
        };
        match seen.path.as_str() {
            p if p.contains("/e401/") => error(401, "UNAUTHORIZED"),
            p if p.contains("/e404/") => error(404, "MANIFEST_UNKNOWN"),
            p if p.contains("/e429/") => error(429, "TOOMANYREQUESTS"),
            _ => stub::Reply::Slow(
                Duration::from_secs(20),
                Box::new(stub::ok_manifest(
                    stub::oci_manifest(1),
                    image_policy_registry::manifest::OCI_MANIFEST,
                )),
            ),
        }
    })
    .await;
    let addr = format!("127.0.0.1:{}", registry.addr.port());
    let deadline = Duration::from_millis(800);
    let server = Running::start(Options {
        policy: pin_policy(&addr, "enforce"),
        pin: Some(pin_config(&ca, Duration::ZERO, deadline)),
        ..Options::default()
    })
    .await;
    let image = |name: &str| format!("{addr}/{name}:1");
    let containers: Vec<Value> = ["e401", "e404", "e429", "slow"]
        .map(|n| json!({"name": n, "image": image(n)}))
        .into();
    let object = pod("shop", json!({ "containers": containers }));
    let started = Instant::now();
    let answer = ask(&server, "/mutate", &object).await;
    let took = started.elapsed();
    assert!(
        took < deadline + Duration::from_secs(2),
        "answered after {took:?}"
    );
    assert_eq!(answer["allowed"], false, "{answer}");
    assert_eq!(answer["status"]["code"], 403);
    assert!(answer.get("patch").is_none());
    let text = message(&answer);
    assert!(
        text.starts_with("Pod shop/p: 4 of 4 images cannot be pinned to a digest: "),
        "{text}"
    );
    for want in [
        format!(
            "image {0}: {0}: registry {addr}: unauthorized (401)",
            image("e401")
        ),
        format!(
            "image {0}: {0}: registry {addr}: not found (404): MANIFEST_UNKNOWN",
            image("e404")
        ),
        format!(
            "image {0}: {0}: registry {addr}: rate limited (429)",
            image("e429")
        ),
        format!(
            "image {}: no answer within the pin deadline of 800 ms",
            image("slow")
        ),
    ] {
        assert!(text.contains(&want), "{want}\nnot in\n{text}");
    }
    let metrics = server.metrics().await;
    for result in ["unauthorized", "not_found", "rate_limited"] {
        let series = format!(r#"image_policy_registry_resolutions_total{{result="{result}"}}"#);
        assert_eq!(metric(&metrics, &series), Some(1.0), "{series}: {metrics}");
    }
}

/// 100 concurrent reviews of one new tag: one manifest request at the
/// registry (single flight, then the cache), every review pinned alike.
#[tokio::test]
async fn concurrent_reviews_of_one_tag_make_one_request() {
    let ca = TestCa::new();
    let manifest = stub::oci_manifest(7);
    let body = manifest.clone();
    let registry = Stub::start(Some(ca.acceptor()), move |_, _| {
        stub::Reply::Slow(
            Duration::from_millis(300),
            Box::new(stub::ok_manifest(
                body.clone(),
                image_policy_registry::manifest::OCI_MANIFEST,
            )),
        )
    })
    .await;
    let addr = format!("127.0.0.1:{}", registry.addr.port());
    let server = std::sync::Arc::new(
        Running::start(Options {
            policy: pin_policy(&addr, "enforce"),
            pin: Some(pin_config(
                &ca,
                Duration::from_secs(30),
                Duration::from_secs(10),
            )),
            ..Options::default()
        })
        .await,
    );
    let object = deployment(&format!("{addr}/team/new:1"));
    let want = format!("{addr}/team/new:1@{}", sha256(&manifest));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..100 {
        let server = std::sync::Arc::clone(&server);
        let object = object.clone();
        tasks.spawn(async move {
            let answer = ask(&server, "/mutate", &object).await;
            patched(&object, &answer)["spec"]["template"]["spec"]["containers"][0]["image"]
                .as_str()
                .unwrap()
                .to_owned()
        });
    }
    while let Some(image) = tasks.join_next().await {
        assert_eq!(image.unwrap(), want);
    }
    assert_eq!(registry.count("/manifests/"), 1);
    let metrics = server.metrics().await;
    let hits = metric(&metrics, "image_policy_registry_cache_hits_total").unwrap();
    let shared = metric(&metrics, "image_policy_registry_shared_total").unwrap();
    assert_eq!(hits + shared, 99.0, "{metrics}");
}

/// Warn mode: allowed with a warning, no pin patch; an exempt namespace is
/// not pinned (no request); a policy without pin rules answers as the pure
/// handler does and builds no resolver; a reload that adds pin rules pins
/// without a restart.
#[tokio::test]
async fn warn_mode_exempt_namespaces_and_a_reload_that_adds_pin_rules() {
    let ca = TestCa::new();
    let manifest = stub::oci_manifest(3);
    let body = manifest.clone();
    let registry = Stub::start(Some(ca.acceptor()), move |seen, _| {
        if seen.path.contains("/missing/") {
            stub::Reply::Full(404, vec![], Vec::new())
        } else {
            stub::ok_manifest(body.clone(), image_policy_registry::manifest::OCI_MANIFEST)
        }
    })
    .await;
    let addr = format!("127.0.0.1:{}", registry.addr.port());
    let rewrite_only = format!(
        "allow:\n  - registry: \"{addr}\"\nrewrite:\n  - from: mirror.example\n    to: \"{addr}\"\n"
    );
    let server = Running::start(Options {
        policy: rewrite_only.clone(),
        pin: Some(pin_config(&ca, Duration::ZERO, Duration::from_secs(5))),
        ..Options::default()
    })
    .await;

    // No pin rules: the pure handler's answer, no registry at all.
    let object = deployment("mirror.example/team/app:1");
    let answer = ask(&server, "/mutate", &object).await;
    let policy = image_policy_core::policy::Policy::from_yaml_str(&rewrite_only, "p")
        .unwrap()
        .policy;
    let body = admission_review("admission.k8s.io/v1", UID, &object);
    let direct = image_policy_webhook::handler::handle(
        &policy,
        image_policy_webhook::handler::Endpoint::Mutate,
        body.as_bytes(),
    );
    let direct: Value = serde_json::from_slice(&direct.body).unwrap();
    assert_eq!(answer, direct["response"]);
    assert!(
        !server
            .metrics()
            .await
            .contains("image_policy_registry_resolutions_total"),
        "a resolver was built"
    );

    // Warn mode, added by a reload: a failure is a warning, and no pin.
    server
        .policy
        .update(&[("policy.yaml", &pin_policy(&addr, "warn"))]);
    let missing = deployment(&format!("{addr}/team/missing:1"));
    let answer = eventually(|| {
        let server = &server;
        let missing = &missing;
        async move {
            let answer = ask(server, "/mutate", missing).await;
            answer.get("warnings").is_some().then_some(answer)
        }
    })
    .await;
    assert_eq!(answer["allowed"], true);
    assert!(answer.get("patch").is_none(), "{answer}");
    let warning = answer["warnings"][0].as_str().unwrap();
    assert!(
        warning.contains(&format!(
            "image {addr}/team/missing:1 is not pinned to a digest: {addr}/team/missing:1: registry {addr}: not found (404)"
        )),
        "{warning}"
    );
    // The same policy pins what resolves, after the rewrite.
    let answer = ask(&server, "/mutate", &object).await;
    assert_eq!(
        patched(&object, &answer)["spec"]["template"]["spec"]["containers"][0]["image"],
        format!("{addr}/team/app:1@{}", sha256(&manifest))
    );

    // An exempt namespace: nothing resolved.
    let before = registry.count("/manifests/");
    let answer = ask(
        &server,
        "/mutate",
        &pod(
            "kube-system",
            json!({"containers": [{"name": "a", "image": format!("{addr}/team/other:1")}]}),
        ),
    )
    .await;
    assert_eq!(answer["allowed"], true);
    assert!(answer.get("patch").is_none());
    assert_eq!(registry.count("/manifests/"), before);
}
