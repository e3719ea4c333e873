//! The admission module's unit tests: deciding and wording together.

use super::wording::{object_label, push_count, write_quoted};
use super::*;
use crate::k8s::Object;
use crate::policy::Policy;
use proptest::prelude::*;

#[test]
fn objects_are_labelled_by_kind_namespace_and_name() {
    let cases = [
        (
            Some("Deployment"),
            Some("shop"),
            Some("web"),
            "Deployment shop/web",
        ),
        (Some("Namespace"), None, Some("shop"), "Namespace shop"),
        (Some("Pod"), Some("shop"), None, "Pod in namespace shop"),
        (None, None, None, "object"),
        (None, Some("shop"), Some("web"), "object shop/web"),
    ];
    for (kind, namespace, name, want) in cases {
        assert_eq!(object_label(kind, namespace, name), want);
    }
}

#[test]
fn counts_are_written_as_display_writes_them() {
    for n in [0, 1, 9, 10, 99, 100, 12_345, usize::MAX] {
        let mut out = String::from("x");
        push_count(&mut out, n);
        assert_eq!(out, format!("x{n}"));
    }
}

#[test]
fn operations_read_as_the_api_server_writes_them() {
    for op in [
        Operation::Create,
        Operation::Update,
        Operation::Delete,
        Operation::Connect,
    ] {
        assert_eq!(Operation::parse(op.as_str()), op);
    }
    assert_eq!(Operation::parse("create"), Operation::Unknown("create"));
    assert_eq!(Operation::parse(""), Operation::Unknown(""));
}

/// An UPDATE that adds a denied container to a Pod that already runs
/// a denied image: only the new one blocks; the verdict serializes with
/// its codes and paths as strings.
#[test]
fn only_new_images_block_an_update() {
    let policy = Policy::builder()
        .allow_registry("registry.my.com")
        .exempt_existing_images_on_update(true)
        .build()
        .expect("a policy")
        .policy;
    let old: Object<crate::k8s::CowStr<'_>> = serde_json::from_str(
        r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"shop"},
            "spec":{"containers":[{"name":"a","image":"prometheus:2.6.1"}]}}"#,
    )
    .expect("an object");
    let new: Object<crate::k8s::CowStr<'_>> = serde_json::from_str(
        r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"shop"},
            "spec":{"containers":[{"name":"a","image":"prometheus:2.6.1"}],
                    "ephemeralContainers":[{"name":"debug","image":"busybox"}]}}"#,
    )
    .expect("an object");
    let request = Request::new(Operation::Update, Some(&new)).old_object(Some(&old));
    let verdict = decide(&policy, &request);
    assert_eq!(verdict.status, Status::Forbidden);
    let denied: Vec<&str> = verdict.denied_images().map(|j| j.image).collect();
    assert_eq!(denied, ["busybox"]);
    assert!(verdict.images[0].existing && !verdict.images[0].allowed);
    assert_eq!(
        verdict
            .audit_annotations
            .get("existing-images")
            .map(String::as_str),
        Some("prometheus:2.6.1")
    );
    assert_eq!(verdict.warnings.len(), 1, "{:?}", verdict.warnings);
    assert!(verdict.message.starts_with(
        "Pod shop/p: 1 of 2 images denied by image policy: ephemeralContainer \"debug\" \
         (spec.ephemeralContainers[0].image) image \"busybox\": "
    ));
    let json = serde_json::to_value(&verdict).expect("serializable");
    assert_eq!(json["status"], "forbidden");
    assert_eq!(json["images"][1]["code"], "registry-not-allowed");
    assert_eq!(
        json["images"][1]["place"]["container"]["json_path"],
        "spec.ephemeralContainers[0].image"
    );
    assert_eq!(
        json["images"][1]["place"]["container"]["list"],
        "ephemeralContainers"
    );

    // The same on CREATE: both block; DELETE is allowed unjudged.
    let verdict = decide(&policy, &Request::new(Operation::Create, Some(&new)));
    assert_eq!(verdict.denied_images().count(), 2);
    let verdict = decide(
        &policy,
        &Request::new(Operation::Delete, None::<&Object<&str>>),
    );
    assert!(verdict.allowed() && verdict.images.is_empty());
    assert_eq!(verdict.message, "DELETE of object: no image is admitted");
}

/// An allowed object's message counts its images, and never says
/// "0 of N images allowed"; a denied one counts the denied of all.
#[test]
fn messages_count_what_they_say() {
    let policy = Policy::builder()
        .allow_registry("registry.my.com")
        .build()
        .expect("a policy")
        .policy;
    for (images, want) in [
        (&["registry.my.com/a"][..], "Pod shop/p: 1 image allowed"),
        (
            &["registry.my.com/a", "registry.my.com/b"],
            "Pod shop/p: 2 images allowed",
        ),
        (
            &["registry.my.com/a", "busybox"],
            "Pod shop/p: 1 of 2 images denied by image policy: ",
        ),
    ] {
        let containers: Vec<String> = images
            .iter()
            .enumerate()
            .map(|(i, image)| format!(r#"{{"name":"c{i}","image":"{image}"}}"#))
            .collect();
        let text = format!(
            r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"p","namespace":"shop"}},
                "spec":{{"containers":[{}]}}}}"#,
            containers.join(",")
        );
        let object: Object<crate::k8s::CowStr<'_>> =
            serde_json::from_str(&text).expect("an object");
        let verdict = decide(&policy, &Request::new(Operation::Create, Some(&object)));
        assert!(verdict.message.starts_with(want), "{}", verdict.message);
        assert_eq!(verdict.allowed(), !want.contains("denied"));
    }
}

#[test]
fn objects_whose_images_cannot_be_found_are_invalid() {
    let policy = Policy::builder().build().expect("a policy").policy;
    let object: Object<&str> =
        serde_json::from_str(r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"}}"#)
            .expect("an object");
    let request = Request::new(Operation::Create, Some(&object)).resource(Some("configmaps"), None);
    let verdict = decide(&policy, &request);
    assert_eq!(verdict.status, Status::Invalid);
    assert_eq!(verdict.status.code(), 400);
    assert!(
        verdict
            .message
            .starts_with("ConfigMap c (configmaps): cannot find its images: "),
        "{}",
        verdict.message
    );
    let verdict = decide(
        &policy,
        &Request::new(Operation::parse("PATCH"), Some(&object)),
    );
    assert_eq!(verdict.status, Status::Invalid);
    assert_eq!(verdict.message, r#"ConfigMap c: unknown operation "PATCH""#);
}

/// A Pod of `containers` and `init` containers (`c0`, `c1`, ... with
/// `image(i)`), and these annotations, as JSON text.
fn pod_json(
    containers: usize,
    init: usize,
    annotations: usize,
    image: impl Fn(usize) -> String,
) -> String {
    let list = |from: usize, n: usize| {
        (from..from + n)
            .map(|i| format!(r#"{{"name":"c{i}","image":"{}"}}"#, image(i)))
            .collect::<Vec<_>>()
            .join(",")
    };
    let annotations = (0..annotations)
        .map(|i| format!(r#""a{i}":"""#))
        .collect::<Vec<_>>()
        .join(",");
    format!(
        r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"p","namespace":"shop","annotations":{{{annotations}}}}},"spec":{{"containers":[{}],"initContainers":[{}]}}}}"#,
        list(0, containers),
        list(containers, init)
    )
}

/// Both readers of an object (serde's and the scanner), which must agree.
fn read_both(json: &str) -> [Object<crate::k8s::CowStr<'_>>; 2] {
    let scanned = crate::k8s::scan::object(json).expect("the scanner reads it");
    let serde: Object<crate::k8s::CowStr<'_>> = serde_json::from_str(json).expect("serde reads it");
    [scanned, serde]
}

/// Lists and annotations past [`crate::k8s::MAX_ENTRIES`] are kept to one
/// more entry (a million tiny containers are not built) and the object
/// is invalid, never judged on the entries that were kept; up to the
/// bounds it is judged.
#[test]
fn objects_past_the_bounds_are_invalid_and_not_built() {
    use crate::k8s::{MAX_ENTRIES, MAX_IMAGES};
    let policy = Policy::builder()
        .allow_registry("registry.my.com")
        .build()
        .expect("a policy")
        .policy;
    let ok = |i: usize| format!("registry.my.com/app{i}:1");
    let cases = [
        // (containers, init, annotations, Ok or the message's end)
        (MAX_ENTRIES, 0, MAX_ENTRIES, None),
        (MAX_IMAGES / 2, MAX_IMAGES / 2, 0, None),
        (
            100_000,
            0,
            0,
            Some(format!(
                "has more than {MAX_ENTRIES} entries in spec.containers, more than is judged"
            )),
        ),
        (
            1,
            MAX_ENTRIES + 1,
            0,
            Some(format!(
                "has more than {MAX_ENTRIES} entries in spec.initContainers, more than is judged"
            )),
        ),
        (
            MAX_IMAGES / 2 + 1,
            MAX_IMAGES / 2,
            0,
            Some(format!(
                "has {} images, more than the {MAX_IMAGES} that are judged",
                MAX_IMAGES + 1
            )),
        ),
        (
            1,
            0,
            50_000,
            Some(format!(
                "has more than {MAX_ENTRIES} entries in metadata.annotations, more than is judged"
            )),
        ),
    ];
    for (containers, init, annotations, want) in cases {
        let json = pod_json(containers, init, annotations, ok);
        for object in read_both(&json) {
            let spec = object.spec.as_ref().expect("a spec");
            for list in [&spec.containers, &spec.init_containers]
                .into_iter()
                .flatten()
            {
                assert!(list.len() <= MAX_ENTRIES + 1 && list.capacity() <= MAX_ENTRIES + 1);
            }
            let kept = object
                .metadata
                .as_ref()
                .and_then(|m| m.annotations.as_ref());
            assert!(
                kept.is_none_or(
                    |a| a.0.len() <= MAX_ENTRIES + 1 && a.0.capacity() <= MAX_ENTRIES + 1
                )
            );
            let verdict = decide(&policy, &Request::new(Operation::Create, Some(&object)));
            match &want {
                None => {
                    assert!(verdict.allowed(), "{}", verdict.message);
                    assert_eq!(verdict.images.len(), containers + init);
                }
                Some(end) => {
                    assert_eq!(verdict.status, Status::Invalid, "{}", verdict.message);
                    assert!(verdict.images.is_empty());
                    assert!(
                        verdict
                            .message
                            .starts_with("Pod shop/p: cannot find its images: the Pod ")
                            && verdict.message.ends_with(end.as_str()),
                        "{}",
                        verdict.message
                    );
                }
            }
        }
    }
}

/// One image or name of megabytes: the message, the warnings and the audit
/// annotations name its first bytes and its length.
#[test]
fn long_strings_are_cut_in_the_answer() {
    let policy = Policy::builder()
        .allow_registry("registry.my.com")
        .build()
        .expect("a policy")
        .policy;
    let long = "A".repeat(1 << 20);
    let json = pod_json(3, 0, 0, |i| {
        if i == 1 {
            long.clone()
        } else {
            "evil.io/x:1".into()
        }
    })
    .replace(r#""name":"p""#, &format!(r#""name":"{long}""#));
    for object in read_both(&json) {
        let verdict = decide(&policy, &Request::new(Operation::Create, Some(&object)));
        assert_eq!(verdict.denied_images().count(), 3);
        let answer = serde_json::to_string(&(
            &verdict.message,
            &verdict.warnings,
            &verdict.audit_annotations,
        ))
        .expect("encodable");
        assert!(answer.len() < 8 * 1024, "{} bytes", answer.len());
        assert!(
            verdict.message.contains(&format!(
                r#""{}"… ({} bytes)"#,
                &long[..NAMED_STRING],
                long.len()
            )),
            "{}",
            &verdict.message[..600]
        );
    }
}

/// An UPDATE of many images in both objects (the hash set) and of a few
/// (the scan) finds the same existing images.
#[test]
fn existing_images_are_found_by_set_and_by_scan() {
    let policy = Policy::builder()
        .allow_registry("registry.my.com")
        .exempt_existing_images_on_update(true)
        .build()
        .expect("a policy")
        .policy;
    for n in [3, 40, 1000] {
        // Old: images 0..n; new: images n/2..n/2+n, all denied.
        let old = pod_json(n, 0, 0, |i| format!("evil.io/app{i}:1"));
        let new = pod_json(n, 0, 0, |i| format!("evil.io/app{}:1", i + n / 2));
        let (old, new) = (&read_both(&old)[0], &read_both(&new)[0]);
        let verdict = decide(
            &policy,
            &Request::new(Operation::Update, Some(new)).old_object(Some(old)),
        );
        let existing: Vec<bool> = verdict.images.iter().map(|j| j.existing).collect();
        let want: Vec<bool> = (0..n).map(|i| i + n / 2 < n).collect();
        assert_eq!(existing, want, "{n}");
        assert_eq!(verdict.denied_images().count(), n - (n - n / 2), "{n}");
    }
}

/// `judge` is `decide` without words: the same images, places and
/// decisions for every operation, UPDATE rule and object, and nothing
/// where `decide` judges nothing.
#[test]
fn judge_is_what_decide_judges() {
    #[allow(unused_mut)]
    let mut policies = vec![
        Policy::builder()
            .allow_registry("registry.my.com")
            .exempt_existing_images_on_update(true)
            .build()
            .expect("a policy")
            .policy,
    ];
    // Pin rules and a namespace in warn mode are said in the policy file.
    #[cfg(feature = "yaml")]
    policies.push(
        Policy::from_yaml_str(
            "allow:\n  - registry: registry.my.com\npin:\n  - registry: registry.my.com\n\
             namespaces:\n  - names: [shop]\n    mode: warn\n",
            "pin.yaml",
        )
        .expect("a policy")
        .policy,
    );
    let image = |i: usize| match i % 4 {
        0 => format!("registry.my.com/app{i}:1"),
        1 => format!("evil.io/app{i}"),
        2 => "Not Valid".to_owned(),
        _ => format!("registry.my.com/app{i}@sha256:{}", "a".repeat(64)),
    };
    let objects = [
        pod_json(4, 2, 1, image),
        pod_json(0, 0, 0, image),
        pod_json(3, 0, 0, |i| image(i + 1)),
        // Past the bounds: not judged (an invalid verdict), so nothing.
        pod_json(crate::k8s::MAX_ENTRIES + 1, 0, 0, image),
    ];
    for policy in &policies {
        for json in &objects {
            for object in &read_both(json) {
                let old = read_both(&objects[2]);
                for operation in [
                    Operation::Create,
                    Operation::Update,
                    Operation::Delete,
                    Operation::Unknown("x"),
                ] {
                    let request = Request::new(operation, Some(object))
                        .old_object(Some(&old[0]))
                        .namespace(Some("shop"));
                    assert_eq!(
                        judge(policy, &request),
                        decide(policy, &request).images,
                        "{operation:?} {json}"
                    );
                }
                let none = Request::new(Operation::Create, None::<&Object<crate::k8s::CowStr<'_>>>);
                assert_eq!(judge(policy, &none), Vec::new());
            }
        }
    }
}

proptest! {
    #[test]
    fn any_string_is_quoted_as_debug_quotes_it(s in any::<String>()) {
        let mut out = String::new();
        write_quoted(&mut out, &s).expect("a String does not fail");
        prop_assert_eq!(out, format!("{s:?}"));
    }
}
