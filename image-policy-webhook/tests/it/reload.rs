//! Policy reload: a Kubernetes ConfigMap update (symlink swap) puts the new
//! policy in force; a broken one is counted and the previous stays.

use crate::support::{Options, Running, eventually, metric};
use serde_json::{Value, json};

fn allowed(body: &str) -> bool {
    let review: Value = serde_json::from_str(body).unwrap();
    review["status"]["allowed"].as_bool().unwrap()
}

fn review_of(image: &str) -> String {
    json!({
        "apiVersion": "imagepolicy.k8s.io/v1alpha1",
        "kind": "ImageReview",
        "spec": { "containers": [{ "image": image }], "namespace": "default" }
    })
    .to_string()
}

#[tokio::test]
async fn a_broken_policy_is_counted_and_the_previous_one_stays() {
    let server = Running::start(Options::default()).await;
    let hash_series = |metrics: &str| {
        metrics
            .lines()
            .find(|l| l.starts_with("image_policy_policy_info{"))
            .unwrap()
            .to_owned()
    };
    let first_hash = hash_series(&server.metrics().await);
    let mut conn = server.client().connect(server.addr).await.unwrap();
    let quay = review_of("quay.io/prometheus/prometheus:v2.6.1");
    assert!(!allowed(
        &conn.post("/imagereview", quay.clone()).await.unwrap().body
    ));

    server
        .policy
        .update(&[("policy.yaml", "allow: !broken [registry: \n")]);
    let metrics = eventually(|| async {
        let metrics = server.metrics().await;
        (metric(
            &metrics,
            r#"image_policy_policy_reloads_total{result="failure"}"#,
        ) == Some(1.0))
        .then_some(metrics)
    })
    .await;
    assert_eq!(hash_series(&metrics), first_hash);
    assert!(!allowed(
        &conn.post("/imagereview", quay.clone()).await.unwrap().body
    ));
    let registry = review_of("registry.my.com/prometheus:2.6.1");
    assert!(allowed(
        &conn.post("/imagereview", registry).await.unwrap().body
    ));

    server.policy.update(&[(
        "policy.yaml",
        "allow:\n  - registry: registry.my.com\n  - registry: quay.io\n",
    )]);
    let metrics = eventually(|| async {
        let metrics = server.metrics().await;
        (metric(
            &metrics,
            r#"image_policy_policy_reloads_total{result="success"}"#,
        ) == Some(2.0))
        .then_some(metrics)
    })
    .await;
    assert_ne!(hash_series(&metrics), first_hash);
    assert!(allowed(
        &conn.post("/imagereview", quay).await.unwrap().body
    ));
}
