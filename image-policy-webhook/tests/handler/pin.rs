//! `/mutate` with `pin:` rules, both pure phases without a registry: which
//! references are listed (rewritten, normalized, each once; never one the
//! policy denies, exempts, audits or admits by break-glass), and what the
//! answer is for each resolution (the patch applied by `json-patch`, then
//! judged by `/validate`; a failure denies in enforce mode, warns in warn
//! mode and for an existing image on UPDATE).

use base64::Engine as _;
use image_policy_core::policy::Policy;
use image_policy_webhook::handler::{
    Endpoint, MutateStep, Outcome, PendingMutation, Reply, Resolution, mutate,
};
use serde_json::{Value, json};

use crate::{admission_review, ask};

const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

fn policy(yaml: &str) -> Policy {
    Policy::from_yaml_str(yaml, "pin.yaml")
        .expect("the policy loads")
        .policy
}

const POLICY: &str = "\
allow:
  - registry: registry.my.com
  - registry: docker.io
deny:
  - repository: registry.my.com/banned/**
pin:
  - registry: registry.my.com
  - repository: docker.io/library/*
rewrite:
  - from: mirror.my.com
    to: registry.my.com
";

fn pod(namespace: &str, annotations: Value, spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "namespace": namespace, "annotations": annotations},
        "spec": spec})
}

fn pending(policy: &Policy, body: &[u8]) -> PendingMutation {
    match mutate(policy, body) {
        MutateStep::Resolve(p) => p,
        MutateStep::Done(r) => panic!(
            "expected references to resolve, got {}",
            String::from_utf8_lossy(&r.body)
        ),
    }
}

fn decoded(reply: &Reply) -> Value {
    serde_json::from_slice(&reply.body).expect("JSON")
}

fn patch(answer: &Value) -> Option<json_patch::Patch> {
    let p = answer["response"].get("patch")?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(p.as_str().unwrap())
        .unwrap();
    Some(serde_json::from_slice(&bytes).unwrap())
}

/// The references are the rewritten, normalized names, each once, in the
/// order of the object; the patch pins every place (a rewritten image in one
/// `replace`), and the patched object passes `/validate` and lists nothing
/// more to resolve.
#[test]
fn pins_every_place_once_per_name_after_rewriting() {
    let policy = policy(POLICY);
    let object = pod(
        "shop",
        json!({}),
        json!({
            "initContainers": [{"name": "init", "image": "registry.my.com/app:1"}],
            "containers": [
                {"name": "web", "image": "nginx"},
                {"name": "mirrored", "image": "mirror.my.com/app:1"},
                {"name": "pinned", "image": format!("registry.my.com/app:1@{D2}")},
                {"name": "banned", "image": "registry.my.com/banned/x:1"},
            ],
            "ephemeralContainers": [{"name": "debug", "image": "registry.my.com/tools:2"}],
            "volumes": [{"name": "data", "image": {"reference": "nginx:latest"}}],
        }),
    );
    let body = admission_review("admission.k8s.io/v1", "CREATE", &object, None, None);
    let p = pending(&policy, &body);
    let names: Vec<String> = p.references().iter().map(ToString::to_string).collect();
    assert_eq!(
        names,
        [
            "docker.io/library/nginx:latest",
            "registry.my.com/app:1",
            "registry.my.com/tools:2"
        ]
    );
    let reply = p.complete(&[
        Resolution::pinned(D2),
        Resolution::pinned(D1),
        Resolution::pinned(D1),
    ]);
    assert_eq!(reply.summary.outcome, Outcome::Allowed);
    let answer = decoded(&reply);
    assert_eq!(answer["response"]["allowed"], true, "{answer}");
    let ops = patch(&answer).expect("a patch");
    let mut patched = object.clone();
    json_patch::patch(&mut patched, &ops).unwrap();
    let spec = &patched["spec"];
    assert_eq!(
        spec["initContainers"][0]["image"],
        format!("registry.my.com/app:1@{D1}")
    );
    assert_eq!(
        spec["containers"][0]["image"],
        format!("docker.io/library/nginx:latest@{D2}")
    );
    assert_eq!(
        spec["containers"][1]["image"],
        format!("registry.my.com/app:1@{D1}")
    );
    assert_eq!(
        spec["containers"][2]["image"],
        format!("registry.my.com/app:1@{D2}")
    );
    assert_eq!(spec["containers"][3]["image"], "registry.my.com/banned/x:1");
    assert_eq!(
        spec["ephemeralContainers"][0]["image"],
        format!("registry.my.com/tools:2@{D1}")
    );
    assert_eq!(
        spec["volumes"][0]["image"]["reference"],
        format!("docker.io/library/nginx:latest@{D2}")
    );
    // Five pins, one of them of the rewritten image: one replace each.
    assert_eq!(ops.0.len(), 5, "{ops:?}");
    let annotations = &answer["response"]["auditAnnotations"];
    assert!(
        annotations["pinned-images"]
            .as_str()
            .unwrap()
            .starts_with(&format!("nginx -> docker.io/library/nginx:latest@{D2}")),
        "{annotations}"
    );
    assert!(
        annotations["rewritten-images"]
            .as_str()
            .unwrap()
            .contains("mirror.my.com/app:1 -> registry.my.com/app:1")
    );

    // The patched object (without the banned container): /validate allows
    // it, /mutate has nothing left to do.
    patched["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .remove(3);
    let body = admission_review("admission.k8s.io/v1", "CREATE", &patched, None, None);
    let (_, v) = ask(&policy, Endpoint::AdmissionReview, &body);
    assert_eq!(v["response"]["allowed"], true, "{v}");
    match mutate(&policy, &body) {
        MutateStep::Done(r) => assert!(decoded(&r)["response"].get("patch").is_none()),
        MutateStep::Resolve(p) => panic!("resolves again: {:?}", p.references()),
    }
}

/// A failure denies in enforce mode: 403, no patch at all, each image named
/// with the registry's error; at most NAMED_IMAGES named, then counted.
#[test]
fn failures_deny_in_enforce_mode_naming_each_image() {
    let policy = policy(POLICY);
    let containers: Vec<Value> = (0..13)
        .map(|i| json!({"name": format!("c{i}"), "image": format!("registry.my.com/app{i}:1")}))
        .chain([json!({"name": "ok", "image": "mirror.my.com/fine:1"})])
        .collect();
    let object = pod("shop", json!({}), json!({"containers": containers}));
    let body = admission_review("admission.k8s.io/v1", "CREATE", &object, None, None);
    let p = pending(&policy, &body);
    assert_eq!(p.references().len(), 14);
    let mut resolutions: Vec<Resolution> = (0..13)
        .map(|i| {
            Resolution::failed(format!(
                "registry.my.com/app{i}:1: registry registry.my.com: not found (404)"
            ))
        })
        .collect();
    resolutions.push(Resolution::pinned(D1));
    let reply = p.complete(&resolutions);
    assert_eq!(reply.summary.outcome, Outcome::Denied);
    assert_eq!(reply.summary.denied, 13);
    let answer = decoded(&reply);
    let r = &answer["response"];
    assert_eq!(r["allowed"], false);
    assert_eq!(r["status"]["code"], 403);
    assert!(r.get("patch").is_none(), "{answer}");
    let message = r["status"]["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "Pod shop/p: 13 of 14 images cannot be pinned to a digest: container \"c0\" \
             (spec.containers[0].image) image registry.my.com/app0:1: registry.my.com/app0:1: \
             registry registry.my.com: not found (404); "
        ),
        "{message}"
    );
    assert!(message.ends_with("; and 3 more"), "{message}");

    // A missing resolution, or a digest that is not one, is a failure too.
    let reply = pending(&policy, &body).complete(&[Resolution::pinned("sha256:nope")]);
    let message = decoded(&reply)["response"]["status"]["message"].clone();
    assert!(
        message
            .as_str()
            .unwrap()
            .contains("the registry's digest is not valid"),
        "{message}"
    );
    assert!(message.as_str().unwrap().contains("not resolved"));
}

/// Warn mode: allowed, a warning per image not pinned, no pin for it; the
/// images that resolved are pinned and the rewrite still goes out.
#[test]
fn failures_warn_in_warn_mode_and_rewrites_still_go_out() {
    let policy = policy(&format!("mode: warn\n{POLICY}"));
    let object = pod(
        "shop",
        json!({}),
        json!({"containers": [
            {"name": "a", "image": "mirror.my.com/app:1"},
            {"name": "b", "image": "registry.my.com/other:1"},
        ]}),
    );
    let body = admission_review("admission.k8s.io/v1", "CREATE", &object, None, None);
    let reply = pending(&policy, &body).complete(&[
        Resolution::failed("registry.my.com/app:1: registry registry.my.com: rate limited (429)"),
        Resolution::pinned(D1),
    ]);
    assert_eq!(reply.summary.outcome, Outcome::Warned);
    let answer = decoded(&reply);
    assert_eq!(answer["response"]["allowed"], true);
    let warnings = answer["response"]["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{answer}");
    assert!(
        warnings[0]
            .as_str()
            .unwrap()
            .contains("image mirror.my.com/app:1 is not pinned to a digest: registry.my.com/app:1: registry registry.my.com: rate limited (429)"),
        "{answer}"
    );
    let mut patched = object.clone();
    json_patch::patch(&mut patched, &patch(&answer).unwrap()).unwrap();
    assert_eq!(
        patched["spec"]["containers"][0]["image"],
        "registry.my.com/app:1"
    );
    assert_eq!(
        patched["spec"]["containers"][1]["image"],
        format!("registry.my.com/other:1@{D1}")
    );

    // One image, not resolved: allowed with its warning, and no patch.
    let object = pod(
        "shop",
        json!({}),
        json!({"containers": [{"name": "b", "image": "registry.my.com/other:1"}]}),
    );
    let body = admission_review("admission.k8s.io/v1", "CREATE", &object, None, None);
    let reply = pending(&policy, &body).complete(&[Resolution::failed("down")]);
    let answer = decoded(&reply);
    assert_eq!(answer["response"]["allowed"], true);
    assert!(answer["response"].get("patch").is_none(), "{answer}");
    assert_eq!(answer["response"]["warnings"].as_array().unwrap().len(), 1);
}

/// UPDATE is pinned as CREATE; an image of `oldObject` that fails warns
/// (`/validate` would not block it either) while a new one denies.
#[test]
fn updates_pin_as_creates_and_existing_images_only_warn() {
    let policy = policy(POLICY);
    let old = pod(
        "shop",
        json!({}),
        json!({"containers": [{"name": "a", "image": "registry.my.com/app:1"}]}),
    );
    let new = pod(
        "shop",
        json!({}),
        json!({"containers": [
            {"name": "a", "image": "registry.my.com/app:1"},
            {"name": "b", "image": "registry.my.com/new:1"},
        ]}),
    );
    let body = admission_review("admission.k8s.io/v1", "UPDATE", &new, Some(&old), None);
    let reply =
        pending(&policy, &body).complete(&[Resolution::failed("down"), Resolution::pinned(D1)]);
    let answer = decoded(&reply);
    assert_eq!(answer["response"]["allowed"], true, "{answer}");
    assert_eq!(answer["response"]["warnings"].as_array().unwrap().len(), 1);
    let reply =
        pending(&policy, &body).complete(&[Resolution::pinned(D1), Resolution::failed("down")]);
    assert_eq!(decoded(&reply)["response"]["allowed"], false);

    // `kubectl debug`: only the ephemeral containers.
    let mut debug = old.clone();
    debug["spec"]["ephemeralContainers"] =
        json!([{"name": "dbg", "image": "registry.my.com/tools:1"}]);
    let body = admission_review(
        "admission.k8s.io/v1",
        "UPDATE",
        &debug,
        Some(&old),
        Some("ephemeralcontainers"),
    );
    let names: Vec<String> = pending(&policy, &body)
        .references()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(names, ["registry.my.com/tools:1"]);
}

/// Nothing to resolve: an exempt namespace, audit mode, break-glass, an
/// image the policy denies, a policy without pin rules (whose answer is
/// the rewrite-only one of `handle`, byte for byte).
#[test]
fn nothing_is_resolved_where_nothing_is_pinned() {
    let spec = json!({"containers": [{"name": "a", "image": "registry.my.com/app:1"}]});
    let done = |policy: &Policy, object: &Value| match mutate(
        policy,
        &admission_review("admission.k8s.io/v1", "CREATE", object, None, None),
    ) {
        MutateStep::Done(reply) => decoded(&reply),
        MutateStep::Resolve(p) => panic!("resolves {:?}", p.references()),
    };
    let exempt = policy(&format!("exemptNamespaces: [kube-system]\n{POLICY}"));
    let answer = done(&exempt, &pod("kube-system", json!({}), spec.clone()));
    assert_eq!(answer["response"]["allowed"], true);
    let audit = policy(&format!("mode: audit\n{POLICY}"));
    done(&audit, &pod("shop", json!({}), spec.clone()));
    let glass = policy(&format!("breakGlass:\n  enabled: true\n{POLICY}"));
    done(
        &glass,
        &pod(
            "shop",
            json!({"mycluster.image-policy.k8s.io/ticket-1": "break-glass"}),
            spec.clone(),
        ),
    );
    let denied = json!({"containers": [{"name": "a", "image": "registry.my.com/banned/x:1"}]});
    done(&policy(POLICY), &pod("shop", json!({}), denied));

    let rewrite_only = policy("rewrite:\n  - from: mirror.my.com\n    to: registry.my.com\n");
    let object = pod(
        "shop",
        json!({}),
        json!({"containers": [{"name": "a", "image": "mirror.my.com/app:1"}]}),
    );
    let body = admission_review("admission.k8s.io/v1", "CREATE", &object, None, None);
    let MutateStep::Done(reply) = mutate(&rewrite_only, &body) else {
        panic!("a policy without pin rules resolves nothing");
    };
    let (direct, _) = ask(&rewrite_only, Endpoint::Mutate, &body);
    assert_eq!(reply.body, direct.body);
}

/// `handle` alone (no registry): every pin fails, loudly, never skipped.
#[test]
fn handle_without_a_registry_denies_in_enforce_mode() {
    let policy = policy(POLICY);
    let object = pod(
        "shop",
        json!({}),
        json!({"containers": [{"name": "a", "image": "registry.my.com/app:1"}]}),
    );
    let body = admission_review("admission.k8s.io/v1", "CREATE", &object, None, None);
    let (_, v) = ask(&policy, Endpoint::Mutate, &body);
    assert_eq!(v["response"]["allowed"], false);
    assert!(
        v["response"]["status"]["message"]
            .as_str()
            .unwrap()
            .contains("not resolved"),
        "{v}"
    );
}

/// The most images an object may have, each a distinct tag to pin: listed
/// once each, pinned in one patch within the reply's bound, in linear time.
#[test]
fn the_most_images_pin_within_the_bounds() {
    use image_policy_core::k8s::MAX_IMAGES;
    use image_policy_webhook::handler::MAX_REPLY_BYTES;
    let policy = policy(POLICY);
    let containers: Vec<Value> = (0..MAX_IMAGES)
        .map(|i| {
            json!({"name": format!("c{i}"), "image": format!("registry.my.com/team-{i:04}/application-with-a-long-name:{i}")})
        })
        .collect();
    let object = pod("shop", json!({}), json!({"containers": containers}));
    let body = admission_review("admission.k8s.io/v1", "CREATE", &object, None, None);
    let started = std::time::Instant::now();
    let p = pending(&policy, &body);
    assert_eq!(p.references().len(), MAX_IMAGES);
    let digests = vec![Resolution::pinned(D1); MAX_IMAGES];
    let reply = p.complete(&digests);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(reply.body.len() <= MAX_REPLY_BYTES, "{}", reply.body.len());
    let answer = decoded(&reply);
    assert_eq!(patch(&answer).expect("a patch").0.len(), MAX_IMAGES);
    let failed = vec![Resolution::failed("x".repeat(300)); MAX_IMAGES];
    let reply = pending(&policy, &body).complete(&failed);
    assert!(reply.body.len() < 16 * 1024, "{}", reply.body.len());
}

/// The denial's headline says what failed: "not verified" when every
/// blocking image resolved to a digest whose signature does not verify,
/// "cannot be pinned to a digest" when none did, "cannot be pinned to a
/// verified digest" for a mix (the denial builder `/validate` shares).
#[test]
fn denial_headline_says_not_verified_for_signature_failures() {
    let policy = policy(POLICY);
    let unverified = || Resolution::unverified(D1, "no_signature", "no signature");
    let failed = || Resolution::failed("registry.my.com: not found (404)");
    for (images, resolutions, headline) in [
        (1, vec![unverified()], "1 of 1 image is not verified: "),
        (
            2,
            vec![unverified(), unverified()],
            "2 of 2 images are not verified: ",
        ),
        (
            2,
            vec![unverified(), failed()],
            "2 of 2 images cannot be pinned to a verified digest: ",
        ),
        (
            2,
            vec![failed(), failed()],
            "2 of 2 images cannot be pinned to a digest: ",
        ),
        (
            2,
            vec![unverified(), Resolution::pinned(D1)],
            "1 of 2 images are not verified: ",
        ),
    ] {
        let containers: Vec<Value> = (0..images)
            .map(|i| json!({"name": format!("c{i}"), "image": format!("registry.my.com/app{i}:1")}))
            .collect();
        let object = pod("shop", json!({}), json!({"containers": containers}));
        let body = admission_review("admission.k8s.io/v1", "CREATE", &object, None, None);
        let reply = pending(&policy, &body).complete(&resolutions);
        let answer = decoded(&reply);
        let message = answer["response"]["status"]["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("Pod shop/p: {headline}")),
            "{headline}: {message}"
        );
    }
}

/// Past the few references compared one by one, a name met again is still
/// resolved once: 40 images of 20 names (the second 20 repeat the first,
/// some written as the runtime pulls them), 20 references in the order
/// first met, and every place pinned with its name's digest.
#[test]
fn names_met_again_resolve_once_however_many() {
    let policy = policy(POLICY);
    let name = |i: usize| match i % 20 {
        n if n % 2 == 0 => format!("registry.my.com/app{n}:1"),
        n => format!("docker.io/library/tool{n}"),
    };
    let containers: Vec<Value> = (0..40)
        .map(|i| {
            let image = match (i, i % 20 % 2) {
                (20.., 1) => format!("tool{}:latest", i % 20),
                _ => name(i),
            };
            json!({"name": format!("c{i}"), "image": image})
        })
        .collect();
    let object = pod("shop", json!({}), json!({"containers": containers}));
    let body = admission_review("admission.k8s.io/v1", "CREATE", &object, None, None);
    let p = pending(&policy, &body);
    let names: Vec<String> = p.references().iter().map(ToString::to_string).collect();
    let want: Vec<String> = (0..20)
        .map(|i| match i % 2 {
            0 => name(i),
            _ => format!("{}:latest", name(i)),
        })
        .collect();
    assert_eq!(names, want);
    let digests: Vec<Resolution> = (0..20)
        .map(|i| Resolution::pinned(format!("sha256:{i:064}")))
        .collect();
    let answer = decoded(&p.complete(&digests));
    let mut patched = object.clone();
    json_patch::patch(&mut patched, &patch(&answer).expect("a patch")).unwrap();
    for i in 0..40 {
        assert_eq!(
            patched["spec"]["containers"][i]["image"],
            format!("{}@sha256:{:064}", want[i % 20], i % 20),
            "{i}"
        );
    }
}
