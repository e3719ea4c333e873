//! Hostile review bodies, each just under the body limit: the shapes that
//! once made one request cost many times its size (issue 18). Used by the
//! handler's tests (answers bounded, objects past the bounds denied), by the
//! server's test under a memory bound, and by `benches/src/bin/hostile.rs`
//! (peak memory and CPU time per shape), which include this file with
//! `#[path]`: it needs nothing but the standard library.

/// One hostile body.
pub struct Shape {
    /// What it is, for reports: `tiny-containers`, `annotations`, ...
    pub name: &'static str,
    /// The endpoint it is sent to: `/validate`, `/mutate` or `/imagereview`.
    pub path: &'static str,
    /// The body.
    pub body: String,
    /// Whether the object is past the bounds (so it must be denied, never
    /// judged in part).
    pub past_bounds: bool,
}

/// The registry path the rewrite policy of the hostile runs sends Docker Hub
/// to: long, so that each rewritten image is long (a name of about 240 of
/// the 255 bytes a reference may have).
pub const LONG_REWRITE_TO: &str = "registry.my.com/mirror/a-very-long-path-for-each-rewritten-image/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

/// The most images an object may have to be judged (the core's
/// `k8s::MAX_IMAGES`, restated: this file depends on nothing).
const MAX_IMAGES: usize = 1024;

/// An AdmissionReview of `operation` around `object` (and `old`).
fn admission_review(operation: &str, object: &str, old: Option<&str>) -> String {
    let old = old.map_or(String::new(), |old| format!(r#","oldObject":{old}"#));
    format!(
        r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{{"uid":"0f5c7a2e-8d41-4b0a-9c3e-6a1b2c3d4e5f","kind":{{"group":"","version":"v1","kind":"Pod"}},"resource":{{"group":"","version":"v1","resource":"pods"}},"namespace":"shop","operation":"{operation}","object":{object}{old}}}}}"#
    )
}

/// A Pod whose `spec` holds `spec` (after `"containers":[...]` is written by
/// the caller) and whose metadata has `annotations`.
fn pod(containers: &str, annotations: &str, extra: &str) -> String {
    format!(
        r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"p","namespace":"shop","annotations":{{{annotations}}}}},"spec":{{"containers":[{containers}]{extra}}}}}"#
    )
}

/// Repeats `item(i)`, comma-separated, at most `max` times and while the
/// text stays under `budget` bytes; returns the text and how many.
fn fill(budget: usize, max: usize, mut item: impl FnMut(usize) -> String) -> (String, usize) {
    let mut out = String::new();
    let mut n = 0;
    loop {
        if n == max {
            return (out, n);
        }
        let next = item(n);
        if out.len() + next.len() + 1 > budget {
            return (out, n);
        }
        if n > 0 {
            out.push(',');
        }
        out.push_str(&next);
        n += 1;
    }
}

/// Every shape, sized for a body limit of `limit` bytes, on the endpoints
/// where it is hostile.
pub fn shapes(limit: usize) -> Vec<Shape> {
    // Room for the envelope around the hostile part.
    let budget = limit - 4096;
    let mut shapes = Vec::new();
    let mut both = |name: &'static str, body: String, past_bounds: bool| {
        for path in ["/validate", "/mutate"] {
            shapes.push(Shape {
                name,
                path,
                body: body.clone(),
                past_bounds,
            });
        }
    };

    // Hundreds of thousands of tiny containers.
    let (containers, _) = fill(budget, usize::MAX, |_| {
        r#"{"name":"a","image":"a"}"#.to_owned()
    });
    both(
        "tiny-containers",
        admission_review("CREATE", &pod(&containers, "", ""), None),
        true,
    );
    // Tiny annotations, on a Pod of one container.
    let (annotations, _) = fill(budget, usize::MAX, |i| format!(r#""{i:x}":"""#));
    let one = r#"{"name":"web","image":"nginx:1.27"}"#;
    both(
        "annotations",
        admission_review("CREATE", &pod(one, &annotations, ""), None),
        true,
    );
    // Tiny volumes (not image volumes): kept as entries all the same.
    let (volumes, _) = fill(budget, usize::MAX, |_| r#"{"name":"v"}"#.to_owned());
    both(
        "tiny-volumes",
        admission_review(
            "CREATE",
            &pod(one, "", &format!(r#","volumes":[{volumes}]"#)),
            None,
        ),
        true,
    );
    // A few long strings: images and names of megabytes.
    let long = "a".repeat(budget / 5);
    let containers = format!(
        r#"{{"name":"{long}","image":"{long}"}},{{"name":"b","image":"evil.io/{long}:1"}}"#
    );
    both(
        "long-strings",
        admission_review("CREATE", &pod(&containers, "", ""), None),
        false,
    );
    // Escaped strings (copied when read): an image of `\u0061` escapes.
    let escaped = "\\u0061".repeat(budget / 6 / 2);
    let containers =
        format!(r#"{{"name":"a","image":"{escaped}"}},{{"name":"b","image":"{escaped}"}}"#);
    both(
        "escaped-strings",
        admission_review("CREATE", &pod(&containers, "", ""), None),
        false,
    );
    // Deep nesting in a field that is not read (serde_json stops at 128).
    let depth = budget / 2;
    let nested = format!(r#""x":{}{}"#, "[".repeat(depth), "]".repeat(depth));
    both(
        "deep-nesting",
        admission_review("CREATE", &pod(one, "", &format!(",{nested}")), None),
        false,
    );
    // Millions of JSON tokens in a field that is not read.
    let (tokens, _) = fill(budget, usize::MAX, |_| "0".to_owned());
    both(
        "many-tokens",
        admission_review(
            "CREATE",
            &pod(one, "", &format!(r#","x":[{tokens}]"#)),
            None,
        ),
        false,
    );
    // The most images judged, each rewritten to a long name: the largest
    // `/mutate` answer.
    let (containers, _) = fill(budget, MAX_IMAGES, |i| {
        format!(r#"{{"name":"c{i}","image":"app-{i}:1.0"}}"#)
    });
    both(
        "rewritten-images",
        admission_review("CREATE", &pod(&containers, "", ""), None),
        false,
    );
    // UPDATE: distinct images in object and oldObject, at the bound (judged)
    // and far past it (denied).
    let at_bound = |from: usize| {
        fill(budget, MAX_IMAGES, |i| {
            format!(r#"{{"name":"c{i}","image":"evil.io/app-{}:1"}}"#, i + from)
        })
        .0
    };
    both(
        "update-distinct",
        admission_review(
            "UPDATE",
            &pod(&at_bound(0), "", ""),
            Some(&pod(&at_bound(MAX_IMAGES), "", "")),
        ),
        false,
    );
    let many = |from: usize| {
        fill(budget / 2, usize::MAX, |i| {
            format!(r#"{{"name":"a","image":"e.io/{:x}"}}"#, i + from)
        })
        .0
    };
    both(
        "update-past-bound",
        admission_review(
            "UPDATE",
            &pod(&many(0), "", ""),
            Some(&pod(&many(1 << 24), "", "")),
        ),
        true,
    );

    // ImageReview: tiny containers, tiny annotations, long images.
    let image_review = |containers: &str, annotations: &str| {
        format!(
            r#"{{"apiVersion":"imagepolicy.k8s.io/v1alpha1","kind":"ImageReview","spec":{{"containers":[{containers}],"annotations":{{{annotations}}},"namespace":"shop"}}}}"#
        )
    };
    let (containers, _) = fill(budget, usize::MAX, |_| r#"{"image":"a"}"#.to_owned());
    let (annotations, _) = fill(budget, usize::MAX, |i| format!(r#""{i:x}":"""#));
    let long_images = format!(r#"{{"image":"{long}"}},{{"image":"evil.io/{long}:1"}}"#);
    for (name, body, past_bounds) in [
        ("tiny-containers", image_review(&containers, ""), true),
        (
            "annotations",
            image_review(r#"{"image":"nginx:1.27"}"#, &annotations),
            true,
        ),
        ("long-strings", image_review(&long_images, ""), false),
    ] {
        shapes.push(Shape {
            name,
            path: "/imagereview",
            body,
            past_bounds,
        });
    }
    shapes
}
