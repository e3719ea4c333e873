//! Generated inputs for the two parsers of registry answers: they never
//! panic and keep their invariants (the same checks the fuzz targets run),
//! and a challenge written from parts reads back as those parts.

use image_policy_registry::challenge;
use image_policy_registry::fuzzing::{check_manifest, check_www_authenticate};
use proptest::prelude::*;

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}"
}

fn quoted_value() -> impl Strategy<Value = String> {
    "[ -~]{0,40}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn www_authenticate_invariants_on_anything(s in "[ -~\t]{0,200}") {
        prop_assert_eq!(check_www_authenticate(&s), Ok(()));
    }

    #[test]
    fn www_authenticate_invariants_on_near_misses(
        parts in proptest::collection::vec(prop_oneof![
            Just("Bearer ".to_owned()), Just("realm=".to_owned()), Just("\"".to_owned()),
            Just(",".to_owned()), Just("\\".to_owned()), Just("=".to_owned()), Just(" ".to_owned()),
            token(),
        ], 0..30)
    ) {
        let s = parts.concat();
        prop_assert_eq!(check_www_authenticate(&s), Ok(()));
    }

    #[test]
    fn written_challenges_read_back(
        challenges in proptest::collection::vec(
            (token(), proptest::collection::btree_map("[a-z]{1,8}", quoted_value(), 1..5)),
            1..4,
        )
    ) {
        let mut text = Vec::new();
        for (scheme, params) in &challenges {
            let params: Vec<String> = params
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
                .collect();
            text.push(format!("{scheme} {}", params.join(", ")));
        }
        let parsed = challenge::parse(&text.join(", ")).unwrap();
        prop_assert_eq!(parsed.len(), challenges.len());
        for (c, (scheme, params)) in parsed.iter().zip(&challenges) {
            prop_assert_eq!(&c.scheme, &scheme.to_ascii_lowercase());
            let want: Vec<(String, String)> = params.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            prop_assert_eq!(&c.params, &want);
        }
    }

    #[test]
    fn manifest_reader_invariants(
        body in prop_oneof![
            "[ -~]{0,200}".prop_map(String::into_bytes),
            proptest::collection::vec(any::<u8>(), 0..200),
            (any::<bool>(), 0u32..3).prop_map(|(index, v)| {
                let media = if index { "application/vnd.oci.image.index.v1+json" } else { "application/vnd.oci.image.manifest.v1+json" };
                format!(r#"{{"schemaVersion":{v},"mediaType":"{media}","manifests":[],"config":{{"mediaType":"a/b","digest":"sha256:{}","size":1}},"layers":[]}}"#, "a".repeat(64)).into_bytes()
            }),
        ],
        content_type in prop_oneof![
            Just(None),
            Just(Some("application/vnd.oci.image.manifest.v1+json".to_owned())),
            Just(Some("application/vnd.oci.image.index.v1+json".to_owned())),
            Just(Some("application/json; charset=utf-8".to_owned())),
            "[ -~]{0,30}".prop_map(Some),
        ],
        header_digest in prop_oneof![Just(None), "sha256:[0-9a-f]{64}".prop_map(Some), "[ -~]{0,20}".prop_map(Some)],
    ) {
        prop_assert_eq!(check_manifest(&body, content_type.as_deref(), header_digest.as_deref()), Ok(()));
    }
}
