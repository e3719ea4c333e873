//! The fast path of decoding an AdmissionReview: the envelope's few fields
//! read by the core's JSON scanner ([`image_policy_core::k8s::scan`], which
//! reads the objects themselves), into the same borrowed structs that serde
//! would build (`request`).
//!
//! As the core scanner does, it gives up (`None`) on anything it does not
//! read exactly as serde_json and the derived decoders would (a syntax error,
//! a field of another type or written twice, an escape in a field that is
//! read, trailing characters); the caller then decodes with serde. A test
//! compares both decoders on every fixture and on crafted edge cases, and so
//! does the `handler` fuzz target.

use image_policy_core::k8s::scan::{Scanner, first};

use super::request::{AdmissionReviewIn, GroupVersionKindIn, GroupVersionResourceIn, RequestIn};

/// `None`: let serde decide.
type Scan<T> = Option<T>;

/// Decodes an AdmissionReview, or `None` when serde must (see the module docs).
pub(super) fn admission_review(text: &str) -> Scan<AdmissionReviewIn<'_>> {
    let mut s = Scanner::new(text);
    let review = review(&mut s)?;
    s.finish()?;
    Some(review)
}

/// Whether the scanner reads `body` itself (`Ok(true)`), leaves it to serde
/// (`Ok(false)`), or reads something serde would not (`Err`, with what
/// differs): the check of the tests and of the `handler` fuzz target.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn agrees_with_serde(body: &str) -> Result<bool, String> {
    let Some(fast) = admission_review(body) else {
        return Ok(false);
    };
    let serde: AdmissionReviewIn<'_> = serde_json::from_str(body)
        .map_err(|e| format!("the scanner read what serde rejects ({e})"))?;
    let (fast, serde) = (format!("{fast:?}"), format!("{serde:?}"));
    if fast == serde {
        Ok(true)
    } else {
        Err(format!("the scanner read {fast}, serde {serde}"))
    }
}

fn review<'a>(scanner: &mut Scanner<'a>) -> Scan<AdmissionReviewIn<'a>> {
    let (mut api_version, mut kind, mut request_in) = (None, None, None);
    let mut seen = 0;
    scanner.object(|s, key| {
        match key {
            "apiVersion" => {
                first(&mut seen, 1)?;
                api_version = s.opt_cow()?;
            }
            "kind" => {
                first(&mut seen, 2)?;
                kind = s.opt_cow()?;
            }
            "request" => {
                first(&mut seen, 4)?;
                request_in = s.opt(request)?;
            }
            _ => s.skip_value()?,
        }
        Some(())
    })?;
    Some(AdmissionReviewIn {
        api_version,
        kind,
        request: request_in,
    })
}

fn request<'a>(scanner: &mut Scanner<'a>) -> Scan<RequestIn<'a>> {
    let mut r = RequestIn {
        uid: None,
        kind: None,
        resource: None,
        sub_resource: None,
        operation: None,
        namespace: None,
        name: None,
        object: None,
        old_object: None,
    };
    let mut seen = 0;
    scanner.object(|s, key| {
        match key {
            "uid" => {
                first(&mut seen, 1)?;
                r.uid = s.opt_cow()?;
            }
            "kind" => {
                first(&mut seen, 2)?;
                r.kind = s.opt(|s| {
                    let mut kind = None;
                    s.struct_of_one("kind", &mut kind)?;
                    Some(GroupVersionKindIn { kind })
                })?;
            }
            "resource" => {
                first(&mut seen, 4)?;
                r.resource = s.opt(|s| {
                    let mut resource = None;
                    s.struct_of_one("resource", &mut resource)?;
                    Some(GroupVersionResourceIn { resource })
                })?;
            }
            "subResource" => {
                first(&mut seen, 8)?;
                r.sub_resource = s.opt_cow()?;
            }
            "operation" => {
                first(&mut seen, 16)?;
                r.operation = s.opt_cow()?;
            }
            "namespace" => {
                first(&mut seen, 32)?;
                r.namespace = s.opt_cow()?;
            }
            "name" => {
                first(&mut seen, 64)?;
                r.name = s.opt_cow()?;
            }
            "object" => {
                first(&mut seen, 128)?;
                s.opt_k8s_object(&mut r.object)?;
            }
            "oldObject" => {
                first(&mut seen, 256)?;
                s.opt_k8s_object(&mut r.old_object)?;
            }
            _ => s.skip_value()?,
        }
        Some(())
    })?;
    Some(r)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn testdata(rel: &str) -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../testdata")
            .join(rel);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// The scanner's answer, when it gives one, is serde's; returns whether
    /// it gave one.
    fn agrees(body: &str) -> bool {
        agrees_with_serde(body).unwrap_or_else(|e| panic!("{e}: {body}"))
    }

    fn review_of(object: &str, old_object: &str) -> String {
        format!(
            r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{{"uid":"u","kind":{{"group":"apps","version":"v1","kind":"X"}},"resource":{{"group":"","version":"v1","resource":"xs"}},"subResource":"","operation":"UPDATE","namespace":"ns","name":"n","object":{object},"oldObject":{old_object}}}}}"#
        )
    }

    #[test]
    fn reads_every_fixture_as_serde_does() {
        for review in [
            "webhook/admissionreview-deployment.json",
            "webhook/admissionreview-pod-debug.json",
            "webhook/admissionreview-pod-image-volume.json",
            "webhook/admissionreview-deployment-image-volume-update.json",
        ] {
            assert!(agrees(&testdata(review)), "{review} left to serde");
        }
        let objects = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/k8s/objects");
        let mut read = 0;
        for entry in std::fs::read_dir(objects).expect("the objects") {
            let path = entry.expect("an entry").path();
            if path.extension().is_some_and(|e| e == "json") {
                let object = std::fs::read_to_string(&path).expect("readable");
                // Pretty-printed, as kubectl writes them: whitespace everywhere.
                assert!(
                    agrees(&review_of(&object, &object)),
                    "{} left to serde",
                    path.display()
                );
                read += 1;
            }
        }
        assert!(read >= 10, "only {read} objects");
    }

    /// Bad requests and objects whose images cannot be found: the scanner
    /// either agrees with serde or leaves the body to it.
    #[test]
    fn agrees_or_leaves_the_error_cases_to_serde() {
        for line in testdata("webhook/bad-requests.jsonl").lines() {
            let case: serde_json::Value = serde_json::from_str(line).expect("a case");
            // Bodies that are not UTF-8 (`body_hex`) never reach the scanner.
            if let Some(body) = case["body"].as_str() {
                agrees(body);
            }
        }
        for line in testdata("k8s/errors.jsonl").lines() {
            let case: serde_json::Value = serde_json::from_str(line).expect("a case");
            let object = case["object"].as_str().expect("an object");
            agrees(&review_of(object, "null"));
        }
    }

    /// Every one-byte deletion or replacement of the committed reviews (a
    /// Deployment, and a Pod with an image volume; about 20,000 bodies each,
    /// valid or not): the scanner agrees with serde or leaves the body to it,
    /// and it still reads most of them itself.
    #[test]
    fn agrees_on_every_one_byte_mutation() {
        for name in [
            "webhook/admissionreview-deployment.json",
            "webhook/admissionreview-pod-image-volume.json",
        ] {
            let review = testdata(name);
            let bytes = review.as_bytes();
            let (mut bodies, mut read) = (0, 0);
            let mut check = |body: Vec<u8>| {
                if let Ok(body) = String::from_utf8(body) {
                    bodies += 1;
                    read += usize::from(agrees(&body));
                }
            };
            for i in 0..bytes.len() {
                let mut deleted = bytes.to_vec();
                deleted.remove(i);
                check(deleted);
                for b in *b"\"\\{}[],:0-1.enu \x01\t" {
                    let mut replaced = bytes.to_vec();
                    replaced[i] = b;
                    check(replaced);
                }
            }
            assert!(bodies > 20_000, "{name}: {bodies} bodies");
            assert!(
                read > bodies / 4,
                "{name}: the scanner read only {read} of {bodies}"
            );
        }
    }

    #[test]
    fn edge_cases() {
        let deep = format!("{}1{}", "[".repeat(120), "]".repeat(120));
        // (object, whether the scanner reads it itself)
        let cases: &[(&str, bool)] = &[
            (
                r#"{"kind":"Pod","apiVersion":"v1","spec":{"containers":[{"name":"a","image":"b"}]}}"#,
                true,
            ),
            (
                r#"{"kind":"Pod","apiVersion":"v1","spec":{"containers":null,"initContainers":[]}}"#,
                true,
            ),
            (
                r#"{"kind":"Pod","metadata":{"annotations":{"a":"1","a":"2","b":""}}}"#,
                true,
            ),
            (
                r#"{"kind":"Pod","x":[1,-2.5e+3,0,0.0,-0,1E9,true,false,null,"\"\\\/\b\f\n\r\t\u00e9",{},[]]}"#,
                true,
            ),
            (
                r#"{"kind":null,"metadata":null,"spec":null,"template":null}"#,
                true,
            ),
            (
                r#"{"kind":"Pod","metadata":{"name":"é-ü","namespace":"日本"}}"#,
                true,
            ),
            (" { \"kind\" : \"Pod\" , \"spec\" : { } } ", true),
            (
                r#"{"kind":"Pod","spec":{"volumes":[{"name":"v","image":{"reference":"evil.io/p:1","pullPolicy":"Always"}},{"name":"c","configMap":{"name":"x"}},{"name":"n","image":null},{"image":{}}]}}"#,
                true,
            ),
            (
                r#"{"kind":"Deployment","spec":{"template":{"spec":{"volumes":null}}}}"#,
                true,
            ),
            // Left to serde: an escape in a field that is read or in a key, a
            // duplicate, a struct as an array, a wrong type, bad JSON.
            (r#"{"kind":"P\u006fd"}"#, false),
            (r#"{"k\u0069nd":"Pod"}"#, false),
            (r#"{"kind":"Pod","kind":"Job"}"#, false),
            (r#"{"spec":{"volumes":[],"volumes":[]}}"#, false),
            (
                r#"{"spec":{"template":{"spec":{"volumes":[{"image":null,"image":{}}]}}}}"#,
                false,
            ),
            (
                r#"{"spec":{"volumes":[{"image":{"reference":"a","reference":"b"}}]}}"#,
                false,
            ),
            (
                r#"{"spec":{"volumes":[{"image":{"reference":"\u0061"}}]}}"#,
                false,
            ),
            (r#"{"spec":{"volumes":[{"image":"evil.io/p:1"}]}}"#, false),
            (r#"{"spec":{"volumes":{"name":"v"}}}"#, false),
            (r#"{"kind":null,"kind":"Job"}"#, false),
            (r#"{"spec":{"containers":[["a","b"]]}}"#, false),
            (r#"{"spec":{"containers":{"name":"a"}}}"#, false),
            (r#"{"kind":1}"#, false),
            (r#"{"metadata":{"annotations":{"a":null}}}"#, false),
            (r#"{"x":01}"#, false),
            (r#"{"x":1.}"#, false),
            (r#"{"x":-}"#, false),
            (r#"{"x":"\x"}"#, false),
            (r#"{"x":"\u12"}"#, false),
            ("{\"x\":\"a\tb\"}", false),
            (r#"{"x":tru}"#, false),
            (r#"{"x":[1,]}"#, false),
            (r#"{"x":1,}"#, false),
            (r#"{"x":1"#, false),
            (&deep, false),
        ];
        for (object, fast) in cases {
            let review = review_of(object, "null");
            assert_eq!(agrees(&review), *fast, "{object}");
        }
        assert!(!agrees(r#"{"apiVersion":"admission.k8s.io/v1"} x"#));
        assert!(!agrees(r#"["admission.k8s.io/v1"]"#));
        assert!(agrees(r#"{"apiVersion":"admission.k8s.io/v1"}"#));
        assert!(agrees("{}\n"));
    }
}
