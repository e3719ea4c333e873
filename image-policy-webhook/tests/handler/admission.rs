//! AdmissionReview requests about every fixture object: every kind, every
//! container list, UPDATE with existing images, `kubectl debug`, v1beta1,
//! modes and break-glass.

use image_policy_core::policy::{Mode, Policy};
use image_policy_webhook::handler::{Endpoint, Outcome};
use serde_json::Value;

use crate::{DENIED_IMAGE, admission_review, ask, read_json, seed_policy};

/// Every image of every fixture, as jq found it: `(file, path, container, image)`.
fn fixture_images() -> Vec<(String, String, String, String)> {
    let answers = read_json("k8s/objects/images.json");
    let mut out = Vec::new();
    for (file, images) in answers.as_object().unwrap() {
        for image in images.as_array().unwrap() {
            let s = |k: &str| image[k].as_str().unwrap().to_owned();
            out.push((file.clone(), s("path"), s("container"), s("image")));
        }
    }
    assert!(out.len() >= 30, "too few images: {}", out.len());
    out
}

/// `spec.template.spec.containers[0].image` as a JSON pointer.
fn pointer(path: &str) -> String {
    let mut out = String::new();
    for part in path.split('.') {
        match part.split_once('[') {
            Some((field, index)) => {
                out.push('/');
                out.push_str(field);
                out.push('/');
                out.push_str(index.trim_end_matches(']'));
            }
            None => {
                out.push('/');
                out.push_str(part);
            }
        }
    }
    out
}

/// The label the messages use for a container in the list of `path`.
fn list_label(path: &str) -> &'static str {
    if path.contains("initContainers[") {
        "initContainer"
    } else if path.contains("ephemeralContainers[") {
        "ephemeralContainer"
    } else if path.contains("volumes[") {
        "volume"
    } else {
        "container"
    }
}

fn object_label(object: &Value) -> String {
    let meta = &object["metadata"];
    let name = meta["name"]
        .as_str()
        .or(meta["generateName"].as_str())
        .unwrap();
    format!(
        "{} {}/{}",
        object["kind"].as_str().unwrap(),
        meta["namespace"].as_str().unwrap(),
        name
    )
}

#[test]
fn every_fixture_is_allowed_under_the_seed_policy() {
    let policy = seed_policy(Mode::Enforce);
    let answers = read_json("k8s/objects/images.json");
    for (file, images) in answers.as_object().unwrap() {
        let object = read_json(&format!("k8s/objects/{file}"));
        let (reply, answer) = ask(
            &policy,
            Endpoint::AdmissionReview,
            &admission_review("admission.k8s.io/v1", "CREATE", &object, None, None),
        );
        assert_eq!(reply.status, 200, "{file}");
        let response = &answer["response"];
        assert_eq!(response["allowed"], true, "{file}: {answer}");
        assert_eq!(response["uid"], "b9c7b1f4-3b5e-4c1e-9d8f-2f1e5a6b7c8d");
        assert_eq!(reply.summary.outcome, Outcome::Allowed, "{file}");
        assert_eq!(
            reply.summary.images,
            images.as_array().unwrap().len(),
            "{file}"
        );
        assert_eq!(reply.summary.kind.as_deref(), object["kind"].as_str());
    }
}

/// For every image of every fixture (every kind × every container list), the
/// same object with that one image replaced by a denied one is denied, and
/// the message names the object, the container, its path, the image and why.
#[test]
fn each_denied_image_of_each_kind_and_list_is_named() {
    let policy = seed_policy(Mode::Enforce);
    for (file, path, container, _) in fixture_images() {
        let mut object = read_json(&format!("k8s/objects/{file}"));
        *object.pointer_mut(&pointer(&path)).expect(&path) = Value::from(DENIED_IMAGE);
        let (reply, answer) = ask(
            &policy,
            Endpoint::AdmissionReview,
            &admission_review("admission.k8s.io/v1", "CREATE", &object, None, None),
        );
        let case = format!("{file} {path}");
        let response = &answer["response"];
        assert_eq!(reply.status, 200, "{case}");
        assert_eq!(response["allowed"], false, "{case}");
        assert_eq!(response["status"]["code"], 403, "{case}");
        let message = response["status"]["message"].as_str().unwrap();
        for part in [
            object_label(&object),
            format!("{} {container:?} ({path})", list_label(&path)),
            format!("image {DENIED_IMAGE:?}"),
            "registry docker.io is not in the allowed registries".to_owned(),
        ] {
            assert!(
                message.contains(&part),
                "{case}: {part:?} not in {message:?}"
            );
        }
        assert_eq!(
            response["auditAnnotations"]["denied-images"], DENIED_IMAGE,
            "{case}"
        );
        assert_eq!(reply.summary.outcome, Outcome::Denied, "{case}");
        assert_eq!(reply.summary.denied, 1, "{case}");
    }
}

#[test]
fn every_denied_container_is_named_in_one_message() {
    let policy = seed_policy(Mode::Enforce);
    let mut object = read_json("k8s/objects/deployment.json");
    let spec = object.pointer_mut("/spec/template/spec").unwrap();
    spec["containers"][0]["image"] = "nginx:1.27".into();
    spec["containers"][2]["image"] = "quay.io/prometheus/node-exporter:v1.8.2".into();
    spec["initContainers"][0]["image"] = "Registry.my.com/Shop/migrate".into();
    let (reply, answer) = ask(
        &policy,
        Endpoint::AdmissionReview,
        &admission_review("admission.k8s.io/v1", "CREATE", &object, None, None),
    );
    let message = answer["response"]["status"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("Deployment shop/web: 3 of 4 images denied"),
        "{message}"
    );
    for part in [
        "container \"web\"",
        "\"nginx:1.27\"",
        "container \"exporter\"",
        "\"quay.io/prometheus/node-exporter:v1.8.2\"",
        "initContainer \"migrate\"",
        // Uppercase in the path: the image does not parse, and is denied.
        "\"Registry.my.com/Shop/migrate\"",
        "repository name must be lowercase",
    ] {
        assert!(message.contains(part), "{part:?} not in {message:?}");
    }
    assert!(!message.contains("envoy"), "{message}");
    assert_eq!(reply.summary.denied, 3);
    assert_eq!(reply.summary.images, 4);
}

#[test]
fn v1beta1_is_answered_in_v1beta1() {
    let policy = seed_policy(Mode::Enforce);
    let object = read_json("k8s/objects/cronjob.json");
    for api_version in ["admission.k8s.io/v1beta1", "admission.k8s.io/v1"] {
        let (_, answer) = ask(
            &policy,
            Endpoint::AdmissionReview,
            &admission_review(api_version, "CREATE", &object, None, None),
        );
        assert_eq!(answer["apiVersion"], api_version);
        assert_eq!(answer["kind"], "AdmissionReview");
        assert_eq!(answer["response"]["allowed"], true);
    }
}

/// The committed requests of testdata/webhook (what the server's tests and
/// the benchmark send).
#[test]
fn committed_requests() {
    let policy = seed_policy(Mode::Enforce);
    let body = std::fs::read(crate::testdata("webhook/admissionreview-deployment.json")).unwrap();
    let (reply, answer) = ask(&policy, Endpoint::AdmissionReview, &body);
    assert_eq!(
        answer["response"]["uid"],
        "705ab4f5-6393-11e8-b7cc-42010a800002"
    );
    assert_eq!(answer["response"]["allowed"], true);
    assert_eq!(reply.summary.images, 4);

    // `kubectl debug`: the ephemeral container's image is judged; the
    // containers the Pod already runs are existing.
    let body = std::fs::read(crate::testdata("webhook/admissionreview-pod-debug.json")).unwrap();
    let strict = Policy::builder()
        .allow_repository("registry.my.com/shop/**")
        .build()
        .unwrap()
        .policy;
    let (reply, answer) = ask(&strict, Endpoint::AdmissionReview, &body);
    let response = &answer["response"];
    assert_eq!(response["allowed"], false, "{answer}");
    let message = response["status"]["message"].as_str().unwrap();
    assert!(
        message.contains(
            "ephemeralContainer \"debugger-x7k2p\" (spec.ephemeralContainers[0].image) image \"registry.my.com/tools/busybox:1.36\""
        ),
        "{message}"
    );
    assert_eq!(reply.summary.denied, 1, "{message}");
    // The envoy and exporter images violate too, but the Pod already runs them.
    assert_eq!(
        response["auditAnnotations"]["existing-images"],
        "registry.my.com/mirror/envoyproxy/envoy:v1.31.0, registry.my.com/observability/exporter:0.9.1"
    );
    assert_eq!(
        response["warnings"].as_array().unwrap().len(),
        2,
        "{answer}"
    );
}

/// Image volumes (`volumes[].image.reference`, pulled by the kubelet like a
/// container image): a Pod whose containers are all allowed but whose image
/// volume pulls `evil.io/payload:1` is denied, the volume named by its name
/// and path; on UPDATE, an image volume the old object already has is
/// existing and a new one is judged.
#[test]
fn image_volumes_are_judged() {
    let policy = seed_policy(Mode::Enforce);
    let body = std::fs::read(crate::testdata(
        "webhook/admissionreview-pod-image-volume.json",
    ))
    .unwrap();
    let (reply, answer) = ask(&policy, Endpoint::AdmissionReview, &body);
    let response = &answer["response"];
    assert_eq!(response["allowed"], false, "{answer}");
    assert_eq!(response["status"]["code"], 403);
    let message = response["status"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("Pod shop/web-7d9c5b8f4-x2x9q: 1 of 5 images denied"),
        "{message}"
    );
    assert!(
        message.contains(
            "volume \"assets\" (spec.volumes[1].image.reference) image \"evil.io/payload:1\""
        ),
        "{message}"
    );
    assert_eq!(
        response["auditAnnotations"]["denied-images"],
        "evil.io/payload:1"
    );
    assert_eq!(reply.summary.denied, 1);
    assert_eq!(reply.summary.images, 5);

    // UPDATE: `assets` pulls evil.io/existing:1, already in the old object
    // (existing: a warning, no block); `payload` is new and is denied.
    let body = std::fs::read(crate::testdata(
        "webhook/admissionreview-deployment-image-volume-update.json",
    ))
    .unwrap();
    let (reply, answer) = ask(&policy, Endpoint::AdmissionReview, &body);
    let response = &answer["response"];
    assert_eq!(response["allowed"], false, "{answer}");
    let message = response["status"]["message"].as_str().unwrap();
    assert!(
        message.contains(
            "volume \"payload\" (spec.template.spec.volumes[2].image.reference) image \"evil.io/payload:1\""
        ),
        "{message}"
    );
    assert!(!message.contains("evil.io/existing:1"), "{message}");
    assert_eq!(
        response["auditAnnotations"]["existing-images"],
        "evil.io/existing:1"
    );
    assert_eq!(reply.summary.denied, 1, "{message}");

    // Without the new volume, the UPDATE (a scale) is allowed with a warning.
    let mut review: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let volumes = review
        .pointer_mut("/request/object/spec/template/spec/volumes")
        .unwrap();
    volumes.as_array_mut().unwrap().pop();
    let (reply, answer) = ask(
        &policy,
        Endpoint::AdmissionReview,
        review.to_string().as_bytes(),
    );
    assert_eq!(answer["response"]["allowed"], true, "{answer}");
    let warning = answer["response"]["warnings"][0].as_str().unwrap();
    assert!(warning.contains("volume \"assets\""), "{warning}");
    assert_eq!(reply.summary.outcome, Outcome::Warned);

    // An image volume without a reference cannot be judged: denied, 400.
    let mut object = read_json("k8s/objects/job-image-volume.json");
    object["spec"]["template"]["spec"]["volumes"][1]["image"] =
        serde_json::json!({"pullPolicy": "Always"});
    let (_, answer) = ask(
        &policy,
        Endpoint::AdmissionReview,
        &admission_review("admission.k8s.io/v1", "CREATE", &object, None, None),
    );
    assert_eq!(answer["response"]["allowed"], false, "{answer}");
    assert_eq!(answer["response"]["status"]["code"], 400);
    let message = answer["response"]["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("the Job has no spec.template.spec.volumes[1].image.reference"),
        "{message}"
    );
}

/// A Deployment scaled under a tightened policy: its images are already in
/// `oldObject`, so the UPDATE is allowed (with warnings) unless the policy
/// says otherwise; a new image is judged.
#[test]
fn update_with_existing_images() {
    let mut old = read_json("k8s/objects/deployment.json");
    old["spec"]["template"]["spec"]["containers"][1]["image"] = DENIED_IMAGE.into();
    let mut scaled = old.clone();
    scaled["spec"]["replicas"] = 5.into();

    let exempting = seed_policy(Mode::Enforce);
    assert!(exempting.exempt_existing_images_on_update());
    let request = admission_review("admission.k8s.io/v1", "UPDATE", &scaled, Some(&old), None);
    let (reply, answer) = ask(&exempting, Endpoint::AdmissionReview, &request);
    let response = &answer["response"];
    assert_eq!(response["allowed"], true, "{answer}");
    assert_eq!(
        response["auditAnnotations"]["existing-images"],
        DENIED_IMAGE
    );
    let warning = response["warnings"][0].as_str().unwrap();
    assert!(warning.contains("container \"envoy\""), "{warning}");
    assert!(warning.contains("already in the object"), "{warning}");
    assert_eq!(reply.summary.outcome, Outcome::Warned);

    // The same UPDATE when the policy re-judges existing images.
    let rejudging = Policy::builder()
        .allow_registry("registry.my.com")
        .exempt_existing_images_on_update(false)
        .build()
        .unwrap()
        .policy;
    let (_, answer) = ask(&rejudging, Endpoint::AdmissionReview, &request);
    assert_eq!(answer["response"]["allowed"], false, "{answer}");

    // A new denied image in the UPDATE is judged.
    let mut changed = scaled.clone();
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.27".into();
    let request = admission_review("admission.k8s.io/v1", "UPDATE", &changed, Some(&old), None);
    let (reply, answer) = ask(&exempting, Endpoint::AdmissionReview, &request);
    let message = answer["response"]["status"]["message"].as_str().unwrap();
    assert_eq!(answer["response"]["allowed"], false);
    assert!(message.contains("\"nginx:1.27\""), "{message}");
    assert!(!message.contains(DENIED_IMAGE), "{message}");
    assert_eq!(reply.summary.denied, 1);

    // On CREATE, an oldObject (which the API server never sends) exempts nothing.
    let request = admission_review("admission.k8s.io/v1", "CREATE", &scaled, Some(&old), None);
    let (_, answer) = ask(&exempting, Endpoint::AdmissionReview, &request);
    assert_eq!(answer["response"]["allowed"], false);
}

#[test]
fn warn_and_audit_modes_allow_and_record() {
    let mut object = read_json("k8s/objects/job.json");
    object["spec"]["template"]["spec"]["initContainers"][0]["image"] = DENIED_IMAGE.into();
    let request = admission_review("admission.k8s.io/v1", "CREATE", &object, None, None);

    let (reply, answer) = ask(
        &seed_policy(Mode::Warn),
        Endpoint::AdmissionReview,
        &request,
    );
    let response = &answer["response"];
    assert_eq!(response["allowed"], true, "{answer}");
    let warnings = response["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1);
    let warning = warnings[0].as_str().unwrap();
    assert!(warning.contains("initContainer \"migrate\""), "{warning}");
    assert!(warning.contains("warn mode"), "{warning}");
    assert_eq!(response["auditAnnotations"]["warned-images"], DENIED_IMAGE);
    assert_eq!(reply.summary.outcome, Outcome::Warned);

    let (reply, answer) = ask(
        &seed_policy(Mode::Audit),
        Endpoint::AdmissionReview,
        &request,
    );
    let response = &answer["response"];
    assert_eq!(response["allowed"], true, "{answer}");
    assert!(response.get("warnings").is_none(), "{answer}");
    assert_eq!(response["auditAnnotations"]["audited-images"], DENIED_IMAGE);
    assert_eq!(reply.summary.outcome, Outcome::Warned);
}

#[test]
fn break_glass_on_the_pod_template_admits_and_is_recorded() {
    let policy = Policy::builder()
        .allow_registry("registry.my.com")
        .break_glass(true)
        .build()
        .unwrap()
        .policy;
    let mut object = read_json("k8s/objects/statefulset.json");
    object["spec"]["template"]["spec"]["containers"][0]["image"] = DENIED_IMAGE.into();
    let request = admission_review("admission.k8s.io/v1", "CREATE", &object, None, None);
    let (_, answer) = ask(&policy, Endpoint::AdmissionReview, &request);
    assert_eq!(answer["response"]["allowed"], false, "no annotation yet");

    object["spec"]["template"]["metadata"]["annotations"] =
        serde_json::json!({"mycluster.image-policy.k8s.io/ticket-1234": "break-glass"});
    let request = admission_review("admission.k8s.io/v1", "CREATE", &object, None, None);
    let (reply, answer) = ask(&policy, Endpoint::AdmissionReview, &request);
    let response = &answer["response"];
    assert_eq!(response["allowed"], true, "{answer}");
    assert_eq!(response["auditAnnotations"]["break-glass"], DENIED_IMAGE);
    assert!(reply.summary.break_glass);
    assert_eq!(reply.summary.outcome, Outcome::Warned);
}

#[test]
fn operations_without_images_are_allowed_with_a_reason() {
    let policy = seed_policy(Mode::Enforce);
    let object = read_json("k8s/objects/pod.json");
    for operation in ["DELETE", "CONNECT"] {
        let request = admission_review("admission.k8s.io/v1", operation, &object, None, None);
        let (reply, answer) = ask(&policy, Endpoint::AdmissionReview, &request);
        assert_eq!(answer["response"]["allowed"], true);
        let message = answer["response"]["status"]["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("{operation} of Pod shop/")),
            "{message}"
        );
        assert_eq!(reply.summary.message, message);
    }
    let mut empty = object.clone();
    empty["spec"] = serde_json::json!({"containers": []});
    let request = admission_review("admission.k8s.io/v1", "CREATE", &empty, None, None);
    let (_, answer) = ask(&policy, Endpoint::AdmissionReview, &request);
    assert_eq!(answer["response"]["allowed"], true);
    assert!(
        answer["response"]["status"]["message"]
            .as_str()
            .unwrap()
            .ends_with("has no images")
    );
}

/// Objects whose images cannot be found are denied with code 400: never an
/// allow. (The cases of image discovery itself are in image-policy-core.)
#[test]
fn objects_whose_images_cannot_be_found_are_denied() {
    let policy = seed_policy(Mode::Enforce);
    let cases = [
        (
            serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "shop"}}),
            "ConfigMap shop/c (configmaps): cannot find its images: kind \"ConfigMap\"",
        ),
        (
            serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "shop"}, "spec": {"template": null}}),
            "the Deployment has no pod spec at spec.template.spec",
        ),
        (
            serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "shop"}, "spec": {"containers": [{"name": "a"}]}}),
            "the Pod has no spec.containers[0].image",
        ),
    ];
    for (object, want) in cases {
        let (reply, answer) = ask(
            &policy,
            Endpoint::AdmissionReview,
            &admission_review("admission.k8s.io/v1", "CREATE", &object, None, None),
        );
        let response = &answer["response"];
        assert_eq!(response["allowed"], false, "{answer}");
        assert_eq!(response["status"]["code"], 400);
        let message = response["status"]["message"].as_str().unwrap();
        assert!(message.contains(want), "{want:?} not in {message:?}");
        assert_eq!(reply.summary.outcome, Outcome::Denied);
    }
}

/// The API server rejects ephemeral containers in pod templates, but an
/// object that has them anyway gets them judged: for every fixture kind, an
/// ephemeral container with a denied image, added at the kind's pod spec (the
/// path where jq found its first container), is named in the denial.
#[test]
fn ephemeral_containers_of_every_kind_are_judged() {
    let policy = seed_policy(Mode::Enforce);
    let mut kinds = std::collections::BTreeSet::new();
    for (file, path, _, _) in fixture_images() {
        let Some(pod_spec) = path.strip_suffix(".containers[0].image") else {
            continue;
        };
        let mut object = read_json(&format!("k8s/objects/{file}"));
        let spec = object.pointer_mut(&pointer(pod_spec)).expect(pod_spec);
        spec["ephemeralContainers"] =
            serde_json::json!([{"name": "debugger", "image": DENIED_IMAGE}]);
        let (_, answer) = ask(
            &policy,
            Endpoint::AdmissionReview,
            &admission_review("admission.k8s.io/v1", "CREATE", &object, None, None),
        );
        let message = answer["response"]["status"]["message"].as_str().unwrap();
        let want = format!(
            "ephemeralContainer \"debugger\" ({pod_spec}.ephemeralContainers[0].image) image {DENIED_IMAGE:?}"
        );
        assert_eq!(answer["response"]["allowed"], false, "{file}");
        assert!(
            message.contains(&want),
            "{file}: {want:?} not in {message:?}"
        );
        kinds.insert(object["kind"].as_str().unwrap().to_owned());
    }
    assert_eq!(kinds.len(), 9, "{kinds:?}");
}
