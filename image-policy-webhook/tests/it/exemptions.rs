//! Per-image exemptions over HTTPS: an image admitted by an `exempt:` rule
//! is named, with the exemption, its reason and the rule it lifted, in the
//! `exempt-images` audit annotation of `/validate` and `/imagereview`; an
//! image the exemption does not name is still denied; the annotation stays
//! bounded however many images use exemptions.

use crate::support::{Options, Running};
use serde_json::{Value, json};

const POLICY: &str = "\
allow:
  - registry: registry.my.com
tags:
  deny: [latest]
exempt:
  - image: registry.my.com/tools/debug
    from: [tags]
    reason: debug image kept on latest by the tools team
";

fn pod(images: &[&str]) -> Value {
    let containers: Vec<Value> = images
        .iter()
        .enumerate()
        .map(|(i, image)| json!({ "name": format!("c{i}"), "image": image }))
        .collect();
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": { "name": "p", "namespace": "shop" },
        "spec": { "containers": containers }
    })
}

fn admission_review(object: &Value) -> String {
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": { "group": "", "version": "v1", "kind": "Pod" },
            "resource": { "group": "", "version": "v1", "resource": "pods" },
            "namespace": "shop",
            "operation": "CREATE",
            "userInfo": { "username": "admin" },
            "object": object,
            "oldObject": null,
            "dryRun": false
        }
    })
    .to_string()
}

const USED: &str = "registry.my.com/tools/debug (exempt from tags (tags.deny[0]) by exempt[0]: debug image kept on latest by the tools team)";

#[tokio::test]
async fn validate_names_each_exemption_used_in_an_audit_annotation() {
    let server = Running::start(Options {
        policy: POLICY.to_owned(),
        ..Options::default()
    })
    .await;
    let mut conn = server.client().connect(server.addr).await.unwrap();

    let review = admission_review(&pod(&[
        "registry.my.com/tools/debug",
        "registry.my.com/app:1",
    ]));
    let response = conn.post("/validate", review).await.unwrap();
    assert_eq!(response.status, 200, "{}", response.body);
    let answer: Value = serde_json::from_str(&response.body).unwrap();
    assert_eq!(answer["response"]["allowed"], true, "{answer}");
    let annotations = &answer["response"]["auditAnnotations"];
    assert_eq!(annotations["exempt-images"], USED, "{answer}");
    assert!(annotations.get("denied-images").is_none(), "{answer}");

    // Another tag of the same repository is not the exempt image.
    let review = admission_review(&pod(&[
        "registry.my.com/tools/debug",
        "registry.my.com/tools/other:latest",
    ]));
    let response = conn.post("/validate", review).await.unwrap();
    let answer: Value = serde_json::from_str(&response.body).unwrap();
    assert_eq!(answer["response"]["allowed"], false, "{answer}");
    let annotations = &answer["response"]["auditAnnotations"];
    assert_eq!(
        annotations["denied-images"], "registry.my.com/tools/other:latest",
        "{answer}"
    );
    assert_eq!(annotations["exempt-images"], USED, "{answer}");
    let message = answer["response"]["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("1 of 2 images denied") && !message.contains("tools/debug\""),
        "{message}"
    );

    // No exemption used: no annotation.
    let review = admission_review(&pod(&["registry.my.com/app:1"]));
    let response = conn.post("/validate", review).await.unwrap();
    let answer: Value = serde_json::from_str(&response.body).unwrap();
    assert_eq!(answer["response"]["allowed"], true, "{answer}");
    assert!(
        answer["response"].get("auditAnnotations").is_none(),
        "{answer}"
    );
}

#[tokio::test]
async fn imagereview_names_each_exemption_used_and_stays_bounded() {
    let server = Running::start(Options {
        policy: POLICY.to_owned(),
        ..Options::default()
    })
    .await;
    let mut conn = server.client().connect(server.addr).await.unwrap();
    let images = vec![json!({ "image": "registry.my.com/tools/debug" }); 50];
    let body = json!({
        "apiVersion": "imagepolicy.k8s.io/v1alpha1",
        "kind": "ImageReview",
        "spec": { "containers": images, "namespace": "shop" }
    });
    let response = conn.post("/imagereview", body.to_string()).await.unwrap();
    assert_eq!(response.status, 200, "{}", response.body);
    let review: Value = serde_json::from_str(&response.body).unwrap();
    assert_eq!(review["status"]["allowed"], true, "{review}");
    let value = review["status"]["auditAnnotations"]["exempt-images"]
        .as_str()
        .unwrap();
    assert!(value.starts_with(USED), "{value}");
    assert!(value.ends_with(", and 40 more"), "{value}");
    assert_eq!(value.matches(USED).count(), 10, "{value}");
}
