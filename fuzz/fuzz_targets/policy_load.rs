//! Loading a policy from arbitrary YAML (and JSON): it never panics or hangs,
//! every error has a position inside the source or none, and a policy that
//! loads rewrites and judges images without panicking. A broken invariant is a crash.
#![no_main]

use image_policy_core::policy::{Context, Policy};

const IMAGES: [&str; 6] = [
    "prometheus:2.6.1",
    "registry.my.com/prometheus:2.6.1",
    "quay.io/prometheus/prometheus@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "localhost:5000/app:latest",
    "Not A Reference",
    "",
];

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    for loaded in [
        Policy::from_yaml_str(source, "fuzz.yaml"),
        Policy::from_json_str(source, "fuzz.json"),
    ] {
        match loaded {
            Ok(loaded) => {
                let annotations = [("break-glass.image-policy.k8s.io/ticket", "true")];
                let ctx = Context::new()
                    .namespace("kube-system")
                    .annotations(&annotations);
                for image in IMAGES {
                    let decision = loaded.policy.evaluate(image, &ctx);
                    // Every decision can say why.
                    assert!(!decision.to_string().is_empty(), "{image}");
                    // A rewrite makes a valid reference, or fails with a reason.
                    match loaded.policy.rewrite_str(image) {
                        Ok(Some(rewritten)) => {
                            let reference =
                                image_policy_core::reference::ImageRef::parse(rewritten.as_str());
                            assert!(reference.is_ok(), "{image} -> {rewritten}");
                            // Rewriting is idempotent (rewrite-loop is an error).
                            assert_eq!(loaded.policy.rewrite_str(rewritten.as_str()), Ok(None));
                            let decision =
                                loaded.policy.evaluate_rewritten(image, Some(&rewritten), &ctx);
                            assert!(!decision.to_string().is_empty(), "{image}");
                        }
                        Ok(None) => {}
                        Err(e) => assert!(!e.to_string().is_empty(), "{image}"),
                    }
                }
            }
            Err(e) => {
                assert!(!e.to_string().is_empty(), "an error without a message");
            }
        }
    }
});
