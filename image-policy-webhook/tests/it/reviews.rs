//! Reviews end to end: the ImageReview seed case and the Kubernetes
//! documentation's example, and AdmissionReviews built from real objects
//! (`testdata/k8s/objects/`, made by `kubectl create ... --dry-run=client`).

use crate::support::{Options, Running, metric};
use serde_json::{Value, json};
use std::path::PathBuf;

fn image_review(images: &[&str]) -> String {
    let containers: Vec<Value> = images.iter().map(|i| json!({ "image": i })).collect();
    json!({
        "apiVersion": "imagepolicy.k8s.io/v1alpha1",
        "kind": "ImageReview",
        "spec": { "containers": containers, "namespace": "default" }
    })
    .to_string()
}

#[tokio::test]
async fn seed_image_review_denies_docker_hub_and_allows_the_registry() {
    // `image-policy serve --allow-registry registry.my.com`, as a policy file.
    let server = Running::start(Options::default()).await;
    let mut conn = server.client().connect(server.addr).await.unwrap();
    for (image, allowed) in [
        ("prometheus:2.6.1", false),
        ("registry.my.com/prometheus:2.6.1", true),
    ] {
        let response = conn
            .post("/imagereview", image_review(&[image]))
            .await
            .unwrap();
        assert_eq!(response.status, 200, "{image}: {}", response.body);
        let review: Value = serde_json::from_str(&response.body).unwrap();
        assert_eq!(review["apiVersion"], "imagepolicy.k8s.io/v1alpha1");
        assert_eq!(review["kind"], "ImageReview");
        assert_eq!(review["status"]["allowed"], allowed, "{image}: {review}");
        if !allowed {
            let reason = review["status"]["reason"].as_str().unwrap();
            assert!(reason.contains("prometheus:2.6.1"), "{reason}");
        }
    }
    let metrics = server.metrics().await;
    for result in ["denied", "allowed"] {
        let series =
            format!(r#"image_policy_decisions_total{{endpoint="imagereview",result="{result}"}}"#);
        assert_eq!(metric(&metrics, &series), Some(1.0), "{series}");
    }
    assert_eq!(
        metric(
            &metrics,
            r#"image_policy_request_duration_seconds_count{endpoint="imagereview"}"#
        ),
        Some(2.0)
    );
}

/// The request of https://kubernetes.io/docs/reference/access-authn-authz/admission-controllers/#imagepolicywebhook
#[tokio::test]
async fn kubernetes_documentation_image_review() {
    let server = Running::start(Options::default()).await;
    let body = json!({
        "apiVersion": "imagepolicy.k8s.io/v1alpha1",
        "kind": "ImageReview",
        "spec": {
            "containers": [{ "image": "myrepo/myimage:v1" }, {
                "image": "myrepo/myimage@sha256:beb6bd6a68f114c1dc2ea4b28db81bdf91de202a9014972bec5e4d9171d90ed"
            }],
            "annotations": { "mycluster.image-policy.k8s.io/ticket-1234": "break-glass" },
            "namespace": "mynamespace"
        }
    });
    let mut conn = server.client().connect(server.addr).await.unwrap();
    let response = conn.post("/imagereview", body.to_string()).await.unwrap();
    assert_eq!(response.status, 200, "{}", response.body);
    let review: Value = serde_json::from_str(&response.body).unwrap();
    assert_eq!(review["status"]["allowed"], false, "{review}");
}

fn objects_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/k8s/objects")
}

/// `(group, version, resource)` of each kind, as the API server puts them in
/// `request.resource`.
fn resource_of(kind: &str) -> (&'static str, &'static str, &'static str) {
    match kind {
        "Pod" => ("", "v1", "pods"),
        "PodTemplate" => ("", "v1", "podtemplates"),
        "ReplicationController" => ("", "v1", "replicationcontrollers"),
        "ReplicaSet" => ("apps", "v1", "replicasets"),
        "Deployment" => ("apps", "v1", "deployments"),
        "StatefulSet" => ("apps", "v1", "statefulsets"),
        "DaemonSet" => ("apps", "v1", "daemonsets"),
        "Job" => ("batch", "v1", "jobs"),
        "CronJob" => ("batch", "v1", "cronjobs"),
        other => panic!("no resource for kind {other}"),
    }
}

/// An AdmissionReview CREATE request for `object`, as the API server sends it.
pub(crate) fn admission_review(api_version: &str, uid: &str, object: &Value) -> String {
    let kind = object["kind"].as_str().unwrap();
    let (group, version, resource) = resource_of(kind);
    json!({
        "apiVersion": api_version,
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": { "group": group, "version": version, "kind": kind },
            "resource": { "group": group, "version": version, "resource": resource },
            "requestKind": { "group": group, "version": version, "kind": kind },
            "requestResource": { "group": group, "version": version, "resource": resource },
            "name": object["metadata"]["name"],
            "namespace": object["metadata"]["namespace"],
            "operation": "CREATE",
            "userInfo": { "username": "kubernetes-admin", "groups": ["system:masters", "system:authenticated"] },
            "object": object,
            "oldObject": null,
            "dryRun": false,
            "options": { "kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1" }
        }
    })
    .to_string()
}

/// Every fixture object with the images `images.json` lists for it.
fn fixtures() -> Vec<(String, Value, Vec<Value>)> {
    let dir = objects_dir();
    let images: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("images.json")).unwrap()).unwrap();
    let mut out = Vec::new();
    for (file, found) in images.as_object().unwrap() {
        // Ephemeral containers in a template are rejected by the API server;
        // that fixture is for image discovery only.
        if file == "deployment-ephemeral.json" {
            continue;
        }
        let object: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join(file)).unwrap()).unwrap();
        out.push((file.clone(), object, found.as_array().unwrap().clone()));
    }
    assert!(out.len() >= 9, "a fixture per pod-bearing kind");
    out
}

#[tokio::test]
async fn admission_reviews_of_every_kind_are_allowed_by_a_matching_policy() {
    let server = Running::start(Options::default()).await;
    let mut conn = server.client().connect(server.addr).await.unwrap();
    for (version, (file, object, _)) in ["admission.k8s.io/v1", "admission.k8s.io/v1beta1"]
        .into_iter()
        .flat_map(|v| fixtures().into_iter().map(move |f| (v, f)))
    {
        let uid = format!("uid-{file}");
        let response = conn
            .post("/validate", admission_review(version, &uid, &object))
            .await
            .unwrap();
        assert_eq!(response.status, 200, "{file}: {}", response.body);
        let review: Value = serde_json::from_str(&response.body).unwrap();
        assert_eq!(review["apiVersion"], version, "{file}");
        assert_eq!(review["response"]["uid"], uid.as_str(), "{file}");
        assert_eq!(review["response"]["allowed"], true, "{file}: {review}");
    }
}

#[tokio::test]
async fn admission_reviews_of_every_kind_name_every_denied_container() {
    let server = Running::start(Options {
        policy: "allow:\n  - registry: other.example.com\n".to_owned(),
        ..Options::default()
    })
    .await;
    let mut conn = server.client().connect(server.addr).await.unwrap();
    for (file, object, found) in fixtures() {
        let response = conn
            .post(
                "/validate",
                admission_review("admission.k8s.io/v1", "u-1", &object),
            )
            .await
            .unwrap();
        assert_eq!(response.status, 200, "{file}: {}", response.body);
        let review: Value = serde_json::from_str(&response.body).unwrap();
        assert_eq!(review["response"]["uid"], "u-1");
        assert_eq!(review["response"]["allowed"], false, "{file}: {review}");
        assert_eq!(review["response"]["status"]["code"], 403, "{file}");
        let message = review["response"]["status"]["message"].as_str().unwrap();
        for image in &found {
            let container = image["container"].as_str().unwrap();
            let reference = image["image"].as_str().unwrap();
            assert!(
                message.contains(container) && message.contains(reference),
                "{file}: {container} ({reference}) not named in {message}"
            );
        }
    }
}

/// `kubectl debug`: an UPDATE of `pods/ephemeralcontainers` carrying the whole
/// pod. The pod's own images were already admitted (they are in `oldObject`);
/// the debug container's image is judged.
#[tokio::test]
async fn kubectl_debug_is_judged_on_its_ephemeral_container() {
    let server = Running::start(Options::default()).await;
    let pod: Value =
        serde_json::from_str(&std::fs::read_to_string(objects_dir().join("pod.json")).unwrap())
            .unwrap();
    let mut old = pod.clone();
    old["spec"]
        .as_object_mut()
        .unwrap()
        .remove("ephemeralContainers");
    let debug_with = |image: &str| {
        let mut new = pod.clone();
        new["spec"]["ephemeralContainers"][0]["image"] = json!(image);
        json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": "debug-1",
                "kind": { "group": "", "version": "v1", "kind": "Pod" },
                "resource": { "group": "", "version": "v1", "resource": "pods" },
                "subResource": "ephemeralcontainers",
                "name": pod["metadata"]["name"],
                "namespace": pod["metadata"]["namespace"],
                "operation": "UPDATE",
                "userInfo": { "username": "kubernetes-admin" },
                "object": new,
                "oldObject": old,
                "dryRun": false
            }
        })
        .to_string()
    };
    let mut conn = server.client().connect(server.addr).await.unwrap();
    let response = conn
        .post("/validate", debug_with("busybox:1.36"))
        .await
        .unwrap();
    let review: Value = serde_json::from_str(&response.body).unwrap();
    assert_eq!(review["response"]["allowed"], false, "{review}");
    let message = review["response"]["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("debugger-x7k2p") && message.contains("busybox:1.36"),
        "{message}"
    );

    let response = conn
        .post(
            "/validate",
            debug_with("registry.my.com/tools/busybox:1.36"),
        )
        .await
        .unwrap();
    let review: Value = serde_json::from_str(&response.body).unwrap();
    assert_eq!(review["response"]["allowed"], true, "{review}");
}

fn committed_review(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/webhook")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Image volumes over HTTPS: a Pod whose image volume pulls
/// `evil.io/payload:1` is denied (its containers are all allowed), and an
/// UPDATE is blocked by a new image volume only, not by one the old object
/// already has.
#[tokio::test]
async fn image_volumes_are_judged_over_https() {
    let server = Running::start(Options::default()).await;
    let mut conn = server.client().connect(server.addr).await.unwrap();
    let response = conn
        .post(
            "/validate",
            committed_review("admissionreview-pod-image-volume.json"),
        )
        .await
        .unwrap();
    assert_eq!(response.status, 200, "{}", response.body);
    let review: Value = serde_json::from_str(&response.body).unwrap();
    assert_eq!(review["response"]["allowed"], false, "{review}");
    let message = review["response"]["status"]["message"].as_str().unwrap();
    assert!(
        message.contains(
            "volume \"assets\" (spec.volumes[1].image.reference) image \"evil.io/payload:1\""
        ),
        "{message}"
    );

    let update = committed_review("admissionreview-deployment-image-volume-update.json");
    let response = conn.post("/validate", update.clone()).await.unwrap();
    let review: Value = serde_json::from_str(&response.body).unwrap();
    assert_eq!(review["response"]["allowed"], false, "{review}");
    let message = review["response"]["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("volume \"payload\"") && !message.contains("evil.io/existing:1"),
        "{message}"
    );

    // The same UPDATE without the new volume: the existing one does not block.
    let mut scaled: Value = serde_json::from_str(&update).unwrap();
    scaled
        .pointer_mut("/request/object/spec/template/spec/volumes")
        .and_then(Value::as_array_mut)
        .unwrap()
        .pop();
    let response = conn.post("/validate", scaled.to_string()).await.unwrap();
    let review: Value = serde_json::from_str(&response.body).unwrap();
    assert_eq!(review["response"]["allowed"], true, "{review}");
    assert_eq!(
        review["response"]["auditAnnotations"]["existing-images"],
        "evil.io/existing:1"
    );
}

/// `/mutate` through the real server, v1 and v1beta1: the rewrite policy of
/// the handler's tests (`testdata/k8s/rewrite-policy.yaml`) patches a
/// Deployment's images at their pointers; `/validate` on the patched object
/// allows it; the decision is counted under `endpoint="mutate"`.
#[tokio::test]
async fn mutate_over_https() {
    let policy = std::fs::read_to_string(objects_dir().join("../rewrite-policy.yaml")).unwrap();
    let server = Running::start(Options {
        policy,
        ..Options::default()
    })
    .await;
    let mut conn = server.client().connect(server.addr).await.unwrap();
    let object: Value = serde_json::from_str(
        &std::fs::read_to_string(objects_dir().join("deployment.json")).unwrap(),
    )
    .unwrap();
    for api_version in ["admission.k8s.io/v1", "admission.k8s.io/v1beta1"] {
        let response = conn
            .post(
                "/mutate",
                admission_review(api_version, "u-mutate", &object),
            )
            .await
            .unwrap();
        assert_eq!(response.status, 200, "{}", response.body);
        let review: Value = serde_json::from_str(&response.body).unwrap();
        assert_eq!(review["apiVersion"], api_version);
        let answer = &review["response"];
        assert_eq!(answer["uid"], "u-mutate");
        assert_eq!(answer["allowed"], true, "{review}");
        assert_eq!(answer["patchType"], "JSONPatch");
        use base64::Engine as _;
        let patch = base64::engine::general_purpose::STANDARD
            .decode(answer["patch"].as_str().unwrap())
            .unwrap();
        let patch: Vec<Value> = serde_json::from_slice(&patch).unwrap();
        assert_eq!(patch.len(), 4, "{patch:?}");
        assert_eq!(
            patch[0],
            json!({"op": "replace", "path": "/spec/template/spec/containers/0/image",
                   "value": "mirror.example.com/shop-team/web:1.4.2"})
        );
        let mut patched = object.clone();
        for op in &patch {
            *patched.pointer_mut(op["path"].as_str().unwrap()).unwrap() = op["value"].clone();
        }
        let response = conn
            .post(
                "/validate",
                admission_review(api_version, "u-validate", &patched),
            )
            .await
            .unwrap();
        let review: Value = serde_json::from_str(&response.body).unwrap();
        assert_eq!(review["response"]["allowed"], true, "{review}");
    }
    let metrics = server.metrics().await;
    let series = r#"image_policy_decisions_total{endpoint="mutate",result="allowed"}"#;
    assert_eq!(metric(&metrics, series), Some(2.0), "{metrics}");
}
