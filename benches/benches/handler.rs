//! The webhook handler (decode, decide, encode) on an AdmissionReview of a
//! Deployment with 3 containers and 1 init container, next to the peers doing
//! the same job on the same bytes in the same run, each including its JSON
//! conversion and response encoding:
//!
//! - loose (a prefix of the image as written, as their users run them):
//!   regorus with Gatekeeper's `k8sallowedrepos` (`regorus/`), cel-interpreter
//!   with a ValidatingAdmissionPolicy-style expression (`cel/`);
//! - exact (deciding as we do, like for like): regorus with the policy
//!   exported by `image-policy export --format gatekeeper`
//!   (`regorus-exported/`), cel-interpreter with the policy exported by
//!   `--format validating-admission-policy`, evaluated as the API server
//!   evaluates it (`cel-exported/`). The export crate makes both when the
//!   bench starts, so they are always the current exports.
//!
//! The participants and the reviews are in [`image_policy_benches::handler`],
//! shared with the instruction counter (`benches/callgrind-handler.sh`).
//! Every participant's answer is checked against the expected decision
//! before measuring (the exact peers also on variants, by
//! `tests/exact_peers.rs`). `image-policy-mutate` is the webhook's `/mutate`
//! on the same review, with the same policy plus rewrite rules that rewrite
//! every image (its patch is checked too), to compare with `/validate`.
//!
//! Run: `cargo bench -p image-policy-benches --bench handler`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use image_policy_benches::handler::{
    Cel, ExportedCel, ExportedRego, Rego, allowed_of, policy, reviews, rewrite_policy,
};
use image_policy_webhook::handler::{Endpoint, handle};

fn bench_handler(c: &mut Criterion) {
    let policy = policy();
    let rewrite = rewrite_policy();
    let mut rego = Rego::new();
    let mut exported = ExportedRego::new();
    let cel = Cel::new();
    let exported_cel = ExportedCel::new();

    let mut group = c.benchmark_group("handler");
    for (name, body, want) in reviews() {
        // Same answer from everyone before anything is measured.
        let ours = handle(&policy, Endpoint::AdmissionReview, &body);
        assert_eq!(allowed_of(&ours.body), want, "image-policy on {name}");
        assert_eq!(allowed_of(&rego.review(&body)), want, "regorus on {name}");
        assert_eq!(allowed_of(&cel.review(&body)), want, "cel on {name}");
        assert_eq!(
            allowed_of(&exported.review(&body)),
            want,
            "exported Rego on {name}"
        );
        assert_eq!(
            allowed_of(&exported_cel.review(&body)),
            want,
            "exported CEL on {name}"
        );
        eprintln!("handler/{name}: review of {} bytes", body.len());

        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(format!("image-policy/{name}"), |b| {
            b.iter(|| handle(&policy, Endpoint::AdmissionReview, black_box(&body)))
        });
        let mutated = handle(&rewrite, Endpoint::Mutate, &body);
        let answer: serde_json::Value = serde_json::from_slice(&mutated.body).expect("JSON");
        assert_eq!(answer["response"]["patchType"], "JSONPatch", "{answer}");
        group.bench_function(format!("image-policy-mutate/{name}"), |b| {
            b.iter(|| handle(&rewrite, Endpoint::Mutate, black_box(&body)))
        });
        group.bench_function(format!("regorus/{name}"), |b| {
            b.iter(|| rego.review(black_box(&body)))
        });
        group.bench_function(format!("regorus-exported/{name}"), |b| {
            b.iter(|| exported.review(black_box(&body)))
        });
        group.bench_function(format!("cel/{name}"), |b| {
            b.iter(|| cel.review(black_box(&body)))
        });
        group.bench_function(format!("cel-exported/{name}"), |b| {
            b.iter(|| exported_cel.review(black_box(&body)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_handler);
criterion_main!(benches);
