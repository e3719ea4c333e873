//! Image discovery on real objects: every fixture of `testdata/k8s/objects`
//! (made by `testdata/k8s/generate.sh` with kubectl) against the answers jq
//! found in the same files, the spanned YAML reader, and a table of objects
//! whose images cannot be found.

use std::borrow::Cow;
use std::collections::BTreeSet;

use image_policy_core::k8s::{ContainerList, CowStr, Object, PodBearingKind, Text, find_images};
use serde_json::Value;

use crate::testdata;

fn read(rel: &str) -> String {
    let path = testdata(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `(path, container, image)` of every image, sorted by path.
type Found = Vec<(String, String, String)>;

fn found_in(object: &Object<CowStr<'_>>) -> Found {
    let mut found: Found = find_images(object)
        .expect("images found")
        .into_iter()
        .map(|f| {
            (
                f.json_path.to_string(),
                f.container.to_owned(),
                f.image.as_str().to_owned(),
            )
        })
        .collect();
    found.sort();
    found
}

#[test]
fn every_fixture_matches_the_images_jq_found() {
    let answers: serde_json::Map<String, Value> =
        serde_json::from_str(&read("k8s/objects/images.json")).unwrap();
    assert!(answers.len() >= 10, "too few fixtures: {}", answers.len());
    let mut covered = BTreeSet::new();
    for (file, want) in &answers {
        let text = read(&format!("k8s/objects/{file}"));
        let object: Object<CowStr<'_>> =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        let mut want: Found = want
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                let s = |k: &str| a[k].as_str().unwrap().to_owned();
                (s("path"), s("container"), s("image"))
            })
            .collect();
        want.sort();
        assert_eq!(found_in(&object), want, "{file}");

        // Every string leaf that had no escape borrows from the input.
        for image in find_images(&object).unwrap() {
            assert!(
                matches!(image.image.0, Cow::Borrowed(_)),
                "{file}: {} was copied",
                image.json_path
            );
        }
        let kind = object.pod_bearing_kind().unwrap();
        for f in find_images(&object).unwrap() {
            covered.insert((kind.as_str(), f.list.as_str()));
        }
    }
    // The fixtures cover every kind with every list but ephemeral containers,
    // which only Pods (and the one Deployment that has them anyway) carry:
    // containers, init containers and image volumes.
    for kind in PodBearingKind::ALL {
        for list in [
            ContainerList::Containers,
            ContainerList::InitContainers,
            ContainerList::Volumes,
        ] {
            assert!(
                covered.contains(&(kind.as_str(), list.as_str())),
                "no fixture has {kind} {list}"
            );
        }
    }
    assert!(covered.contains(&("Pod", "ephemeralContainers")));
    assert!(covered.contains(&("Deployment", "ephemeralContainers")));
}

/// An image volume is found with its path, its volume's name and its place
/// after the containers; volumes of other sources are passed over.
#[test]
fn image_volumes_are_found_after_the_containers() {
    let text = read("k8s/objects/cronjob-image-volume.json");
    let object: Object<CowStr<'_>> = serde_json::from_str(&text).unwrap();
    let found = find_images(&object).unwrap();
    let last = found.last().unwrap();
    assert_eq!(last.list, ContainerList::Volumes);
    assert_eq!(last.index, 1);
    assert_eq!(last.container, "assets");
    assert_eq!(last.image.as_str(), "registry.my.com/shop/assets:1.4.2");
    assert_eq!(
        last.json_path.to_string(),
        "spec.jobTemplate.spec.template.spec.volumes[1].image.reference"
    );
    assert_eq!(
        last.json_path.container_field("name"),
        "spec.jobTemplate.spec.template.spec.volumes[1].name"
    );
    assert_eq!(found.len(), 3, "two containers and the image volume");
}

#[test]
fn an_escaped_image_is_unescaped_and_owned() {
    let json = r#"{"apiVersion":"v1","kind":"Pod","spec":{"containers":[
        {"name":"a","image":"registry.my.com\/app:1"}]}}"#;
    let object: Object<CowStr<'_>> = serde_json::from_str(json).unwrap();
    let found = find_images(&object).unwrap();
    assert_eq!(found[0].image.as_str(), "registry.my.com/app:1");
    assert!(matches!(found[0].image.0, Cow::Owned(_)));
}

/// The line and column that serde-saphyr gives each image point at the image
/// in the YAML text that kubectl wrote.
#[test]
fn spanned_yaml_gives_the_line_and_column_of_each_image() {
    for (file, want) in [
        ("k8s/objects/deployment.yaml", 2),
        ("k8s/objects/cronjob.yaml", 1),
    ] {
        let text = read(file);
        let object: Object<serde_saphyr::Spanned<String>> =
            serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        let found = find_images(&object).unwrap();
        assert_eq!(found.len(), want, "{file}");
        let lines: Vec<&str> = text.lines().collect();
        for f in found {
            let at = f.image.referenced;
            assert!(at.line() >= 1, "{file}: {} has no location", f.json_path);
            let line = lines[at.line() as usize - 1];
            let rest: String = line.chars().skip(at.column() as usize - 1).collect();
            assert_eq!(rest, f.image.value, "{file}:{}:{}", at.line(), at.column());
            assert!(
                line.trim_start()
                    .trim_start_matches("- ")
                    .starts_with("image: ")
            );
        }
    }
}

#[test]
fn annotations_of_the_object_and_of_its_pod_template() {
    let json = r#"{"apiVersion":"apps/v1","kind":"Deployment",
        "metadata":{"name":"web","annotations":{"a":"1"}},
        "spec":{"template":{"metadata":{"annotations":{"b":"2"}},
        "spec":{"containers":[{"name":"a","image":"a"}]}}}}"#;
    let object: Object<CowStr<'_>> = serde_json::from_str(json).unwrap();
    let got: Vec<_> = object.annotations().collect();
    assert_eq!(got, [("a", "1"), ("b", "2")]);
    assert_eq!(object.name(), Some("web"));
    assert_eq!(object.namespace(), None);
}

/// Every case of `testdata/k8s/errors.jsonl`: an object whose images cannot be
/// found, and a fragment of the error.
#[test]
fn objects_whose_images_cannot_be_found() {
    let cases = read("k8s/errors.jsonl");
    let mut failures = Vec::new();
    let mut count = 0;
    for line in cases.lines().filter(|l| !l.trim().is_empty()) {
        count += 1;
        let case: Value = serde_json::from_str(line).unwrap();
        let name = case["case"].as_str().unwrap();
        let want = case["error"].as_str().unwrap();
        let got = match serde_json::from_str::<Object<CowStr<'_>>>(case["object"].as_str().unwrap())
        {
            Err(e) => e.to_string(),
            Ok(object) => match find_images(&object) {
                Err(e) => e.to_string(),
                Ok(found) => format!("found {} images", found.len()),
            },
        };
        if !got.contains(want) {
            failures.push(format!("{name}: want {want:?}, got {got:?}"));
        }
    }
    assert!(count >= 20);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn kinds_are_recognized_by_group() {
    use PodBearingKind as K;
    let cases = [
        ("v1", "Pod", Some(K::Pod)),
        (
            "v1",
            "ReplicationController",
            Some(K::ReplicationController),
        ),
        ("apps/v1", "Deployment", Some(K::Deployment)),
        ("apps/v1beta2", "DaemonSet", Some(K::DaemonSet)),
        ("extensions/v1beta1", "ReplicaSet", Some(K::ReplicaSet)),
        ("extensions/v1beta1", "StatefulSet", None),
        ("batch/v1", "CronJob", Some(K::CronJob)),
        ("batch/v1beta1", "CronJob", Some(K::CronJob)),
        ("apps/v1", "Job", None),
        ("v1", "Deployment", None),
        ("apps/v1", "Pod", None),
    ];
    for (api_version, kind, want) in cases {
        assert_eq!(
            PodBearingKind::from_type(api_version, kind),
            want,
            "{api_version} {kind}"
        );
    }
}
