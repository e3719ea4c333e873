//! Every case of `testdata/webhook/bad-requests.jsonl`: a body, the endpoint
//! it is sent to, and the status and message fragment of the answer.

use image_policy_core::policy::Mode;
use image_policy_webhook::handler::{Endpoint, Outcome};
use serde_json::Value;

use crate::{ask, read, seed_policy};

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn bad_requests() {
    let policy = seed_policy(Mode::Enforce);
    let mut failures = Vec::new();
    let mut count = 0;
    for line in read("webhook/bad-requests.jsonl").lines() {
        count += 1;
        let case: Value = serde_json::from_str(line).unwrap();
        let name = case["case"].as_str().unwrap();
        let endpoint = match case["endpoint"].as_str().unwrap() {
            "validate" => Endpoint::AdmissionReview,
            "imagereview" => Endpoint::ImageReview,
            other => panic!("{name}: endpoint {other}"),
        };
        let body = match (case["body"].as_str(), case["body_hex"].as_str()) {
            (Some(body), _) => body.as_bytes().to_vec(),
            (None, Some(h)) => hex(h),
            _ => panic!("{name}: no body"),
        };
        let want_message = case["message"].as_str().unwrap();
        let (reply, answer) = ask(&policy, endpoint, &body);
        let message = answer["message"].as_str().unwrap_or("");
        let ok = u64::from(reply.status) == case["status"].as_u64().unwrap()
            && message.contains(want_message)
            && answer["kind"] == "Status"
            && answer["code"] == 400
            && reply.summary.outcome == Outcome::Invalid
            && reply.summary.message == message;
        if !ok {
            failures.push(format!(
                "{name}: want {} {want_message:?}, got {} {}",
                case["status"],
                reply.status,
                String::from_utf8_lossy(&reply.body)
            ));
        }
    }
    assert!(count >= 30, "{count} cases");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
