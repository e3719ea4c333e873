//! `handle` never panics, on arbitrary bytes and on mutated valid reviews,
//! and a mutated review whose every image is denied is never allowed.

use image_policy_core::policy::Mode;
use image_policy_webhook::handler::{Endpoint, Outcome, handle};
use proptest::prelude::*;

use crate::{DENIED_IMAGE, admission_review, read_json, seed_policy, testdata};

fn endpoint() -> impl Strategy<Value = Endpoint> {
    prop_oneof![
        Just(Endpoint::AdmissionReview),
        Just(Endpoint::ImageReview),
        Just(Endpoint::Mutate)
    ]
}

/// Valid reviews whose every image the seed policy denies: a Deployment with
/// all four images replaced, and the documentation's ImageReview.
fn denied_reviews() -> Vec<(Endpoint, Vec<u8>)> {
    let mut object = read_json("k8s/objects/deployment.json");
    let spec = object.pointer_mut("/spec/template/spec").unwrap();
    for list in ["containers", "initContainers"] {
        for c in spec[list].as_array_mut().unwrap() {
            c["image"] = DENIED_IMAGE.into();
        }
    }
    let docs = std::fs::read(testdata("webhook/imagereview-docs-example.json")).unwrap();
    vec![
        (
            Endpoint::AdmissionReview,
            admission_review("admission.k8s.io/v1", "CREATE", &object, None, None),
        ),
        (Endpoint::ImageReview, docs),
    ]
}

/// A few edits at random places: replace, insert or delete a byte.
fn mutations() -> impl Strategy<Value = Vec<(u8, prop::sample::Index, u8)>> {
    prop::collection::vec((0u8..3, any::<prop::sample::Index>(), any::<u8>()), 1..4)
}

fn mutate(body: &[u8], edits: &[(u8, prop::sample::Index, u8)]) -> Vec<u8> {
    let mut out = body.to_vec();
    for (op, at, byte) in edits {
        let i = at.index(out.len().max(1)).min(out.len());
        match op {
            0 if i < out.len() => out[i] = *byte,
            1 => out.insert(i, *byte),
            _ if i < out.len() => {
                out.remove(i);
            }
            _ => {}
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes(endpoint in endpoint(), body in prop::collection::vec(any::<u8>(), 0..512)) {
        let reply = handle(&seed_policy(Mode::Enforce), endpoint, &body);
        prop_assert!(reply.status == 200 || reply.status == 400);
        prop_assert!(serde_json::from_slice::<serde_json::Value>(&reply.body).is_ok());
    }

    #[test]
    fn mutated_reviews_are_never_allowed(which in 0usize..2, edits in mutations()) {
        let (endpoint, body) = &denied_reviews()[which];
        let body = mutate(body, &edits);
        let reply = handle(&seed_policy(Mode::Enforce), *endpoint, &body);
        let answer: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
        if reply.status == 200 {
            let allowed = match endpoint {
                Endpoint::ImageReview => &answer["status"]["allowed"],
                _ => &answer["response"]["allowed"],
            };
            // Allowed only when nothing was left to judge (a mutated
            // ImageReview that lost its containers).
            prop_assert!(allowed == false || reply.summary.images == 0, "{}", answer);
            prop_assert!(reply.summary.outcome != Outcome::Allowed || reply.summary.images == 0);
        } else {
            prop_assert_eq!(reply.status, 400);
        }
    }
}

/// Deep nesting, in an ignored field and in a read one, is answered without
/// exhausting the stack.
#[test]
fn deep_nesting() {
    let policy = seed_policy(Mode::Enforce);
    for depth in [200, 100_000] {
        let nested = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
        let ignored = format!(
            r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","x":{nested},"request":{{"uid":"u","operation":"DELETE"}}}}"#
        );
        let reply = handle(&policy, Endpoint::AdmissionReview, ignored.as_bytes());
        assert!(reply.status == 200 || reply.status == 400, "{depth}");
        let read = format!(
            r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{{"uid":"u","operation":"CREATE","object":{{"apiVersion":"v1","kind":"Pod","spec":{{"containers":[{{"name":"a","image":{nested}}}]}}}}}}}}"#
        );
        let reply = handle(&policy, Endpoint::AdmissionReview, read.as_bytes());
        assert_eq!(reply.status, 400, "{depth}");
        let message = String::from_utf8_lossy(&reply.body);
        assert!(
            message.contains("not a valid AdmissionReview"),
            "{depth}: {message}"
        );
    }
}
