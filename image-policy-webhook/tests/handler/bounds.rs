//! The hostile bodies of `tests/it/hostile_bodies.rs` through the handler:
//! every answer within [`MAX_REPLY_BYTES`], every object past the bounds
//! denied with the reason (never judged on part of its images), the largest
//! `/mutate` patch made whole.

#[path = "../it/hostile_bodies.rs"]
mod hostile_bodies;

use base64::Engine as _;
use image_policy_core::policy::Policy;
use image_policy_webhook::handler::{DEFAULT_BODY_LIMIT, Endpoint, MAX_REPLY_BYTES};
use serde_json::Value;

use crate::ask;

#[test]
fn hostile_bodies_get_bounded_answers_and_objects_past_the_bounds_are_denied() {
    let judge = Policy::builder()
        .allow_registry("registry.my.com")
        .exempt_existing_images_on_update(true)
        .build()
        .expect("a policy")
        .policy;
    let rewrite = Policy::builder()
        .allow_registry("registry.my.com")
        .rewrite("docker.io", hostile_bodies::LONG_REWRITE_TO)
        .build()
        .expect("a policy")
        .policy;
    for shape in hostile_bodies::shapes(DEFAULT_BODY_LIMIT) {
        let case = format!("{} on {}", shape.name, shape.path);
        assert!(shape.body.len() <= DEFAULT_BODY_LIMIT, "{case}");
        let (endpoint, policy) = match shape.path {
            "/validate" => (Endpoint::AdmissionReview, &judge),
            "/mutate" => (Endpoint::Mutate, &rewrite),
            _ => (Endpoint::ImageReview, &judge),
        };
        let (reply, answer) = ask(policy, endpoint, shape.body.as_bytes());
        assert!(
            reply.body.len() <= MAX_REPLY_BYTES,
            "{case}: {} bytes",
            reply.body.len()
        );
        assert_eq!(reply.status, 200, "{case}: {answer}");
        let (allowed, message) = match endpoint {
            Endpoint::ImageReview => (&answer["status"]["allowed"], &answer["status"]["reason"]),
            _ => (
                &answer["response"]["allowed"],
                &answer["response"]["status"]["message"],
            ),
        };
        let message = message.as_str().unwrap_or_default();
        // `/mutate` does not read annotations: it rewrites the one image.
        let past_bounds =
            shape.past_bounds && !(shape.name == "annotations" && endpoint == Endpoint::Mutate);
        if past_bounds {
            assert_eq!(allowed, false, "{case}: {message}");
            assert!(
                message.contains("more than is judged") || message.contains("more than the 1024"),
                "{case}: {message}"
            );
            assert!(answer["response"].get("patch").is_none(), "{case}");
        }
        if shape.name == "rewritten-images" && endpoint == Endpoint::Mutate {
            let patch = base64::engine::general_purpose::STANDARD
                .decode(answer["response"]["patch"].as_str().expect("a patch"))
                .expect("base64");
            let patch: Value = serde_json::from_slice(&patch).expect("JSON");
            assert_eq!(patch.as_array().map(Vec::len), Some(1024), "{case}");
        }
    }
}
