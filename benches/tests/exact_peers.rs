//! The exact peers of the handler bench decide as we do, or their figures
//! mean nothing: on the reviews the bench measures, and on the benchmark
//! review with one image replaced by each line of
//! `data/handler/exact-variants.txt` (the decision, then the image), the
//! Gatekeeper export in regorus and the ValidatingAdmissionPolicy export in
//! cel-interpreter answer as the webhook does. The loose peers (the
//! Gatekeeper library's `k8sallowedrepos`, the prefix CEL) are run on the
//! same reviews to show that the variants tell exact from loose.

use image_policy_benches::handler::{
    Cel, ExportedCel, ExportedRego, Rego, allowed_of, policy, reviews,
};
use image_policy_webhook::handler::{Endpoint, handle};

const VARIANTS: &str = include_str!("../data/handler/exact-variants.txt");

/// The benchmark review with the second container's image replaced.
fn review_with(image: &str) -> Vec<u8> {
    let (_, allowed, _) = reviews().into_iter().next().expect("the allowed review");
    let mut review: serde_json::Value = serde_json::from_slice(&allowed).expect("JSON");
    review["request"]["object"]["spec"]["template"]["spec"]["containers"][1]["image"] =
        image.into();
    serde_json::to_vec(&review).expect("encodable")
}

/// `(line, expected, image)` of every case of the data file.
fn variants() -> Vec<(usize, bool, &'static str)> {
    VARIANTS
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
        .map(|(n, l)| {
            let (verdict, image) = l.split_once(' ').expect("`allow|deny IMAGE`");
            let allowed = match verdict {
                "allow" => true,
                "deny" => false,
                other => panic!("line {}: {other} is neither allow nor deny", n + 1),
            };
            (n + 1, allowed, image)
        })
        .collect()
}

#[test]
fn the_exact_peers_decide_as_we_do_on_the_bench_reviews() {
    let policy = policy();
    let mut rego = ExportedRego::new();
    let cel = ExportedCel::new();
    for (name, body, want) in reviews() {
        let ours = handle(&policy, Endpoint::AdmissionReview, &body);
        assert_eq!(allowed_of(&ours.body), want, "ours on {name}");
        assert_eq!(
            allowed_of(&rego.review(&body)),
            want,
            "exported Rego on {name}"
        );
        let answer = cel.review(&body);
        assert_eq!(allowed_of(&answer), want, "exported CEL on {name}");
        if !want {
            // Denied by the policy's own message, not by an evaluation error.
            let text = String::from_utf8(answer).expect("UTF-8");
            assert!(
                text.contains(r#"image \"prometheus:2.6.1\" is from docker.io"#),
                "{text}"
            );
        }
    }
}

#[test]
fn the_exact_peers_decide_as_we_do_on_the_variants() {
    let policy = policy();
    let mut exported_rego = ExportedRego::new();
    let exported_cel = ExportedCel::new();
    let mut rego = Rego::new();
    let cel = Cel::new();
    let cases = variants();
    assert!(cases.len() >= 20, "{} cases", cases.len());
    let (mut loose_rego_differs, mut loose_cel_differs) = (0, 0);
    for (line, want, image) in cases {
        let body = review_with(image);
        let at = format!("line {line}: {image:?}");
        let ours = allowed_of(&handle(&policy, Endpoint::AdmissionReview, &body).body);
        assert_eq!(ours, want, "ours, {at}");
        assert_eq!(
            allowed_of(&exported_rego.review(&body)),
            want,
            "exported Rego, {at}"
        );
        let answer = exported_cel.review(&body);
        assert_eq!(allowed_of(&answer), want, "exported CEL, {at}");
        if !want {
            // By the policy's verdict, not by an evaluation error.
            let text = String::from_utf8(answer).expect("UTF-8");
            assert!(
                text.contains("images denied by image policy"),
                "{at}: {text}"
            );
        }
        loose_rego_differs += usize::from(allowed_of(&rego.review(&body)) != want);
        loose_cel_differs += usize::from(allowed_of(&cel.review(&body)) != want);
    }
    // The variants reach past what a prefix of the string can decide.
    assert!(loose_rego_differs > 0 && loose_cel_differs > 0);
    eprintln!(
        "loose peers wrong on {loose_rego_differs} (Rego) and {loose_cel_differs} (CEL) variants"
    );
}
