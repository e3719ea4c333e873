//! The fuzz targets' committed inputs (`tests/fuzz/testdata/<target>/`),
//! replayed with the targets' own checks (`fuzzing`).

use image_policy_registry::fuzzing::{
    check_cosign, check_manifest, check_www_authenticate, split_manifest_input,
};
use std::path::Path;

fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz/testdata")
        .join(target);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            (path.display().to_string(), std::fs::read(&path).unwrap())
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no inputs in {}", dir.display());
    out
}

#[test]
fn www_authenticate() {
    for (name, bytes) in inputs("www_authenticate") {
        let text = String::from_utf8_lossy(&bytes);
        assert_eq!(check_www_authenticate(&text), Ok(()), "{name}");
    }
}

#[test]
fn manifest_read() {
    let mut accepted = 0;
    for (name, bytes) in inputs("manifest_read") {
        let (content_type, digest, body) = split_manifest_input(&bytes);
        assert_eq!(
            check_manifest(body, content_type.as_deref(), digest.as_deref()),
            Ok(()),
            "{name}"
        );
        let read = image_policy_registry::manifest::read(
            body,
            content_type.as_deref(),
            digest.as_deref(),
            None,
        );
        // The names say which inputs a reader must accept.
        let should_accept = [
            "with-its-digest",
            "without-media-types",
            "docker-list",
            "sha512-header",
        ]
        .iter()
        .any(|s| name.contains(s));
        assert_eq!(read.is_ok(), should_accept, "{name}: {read:?}");
        accepted += usize::from(read.is_ok());
    }
    assert_eq!(accepted, 4);
}

#[test]
fn cosign_read() {
    use image_policy_registry::cosign::{self, Limits};
    let digest = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    for (name, bytes) in inputs("cosign_read") {
        assert_eq!(check_cosign(&bytes), Ok(()), "{name}");
        // The names say what each reader makes of the input.
        let payload = cosign::check_payload(&bytes, digest, "docker.io/library/x");
        assert_eq!(
            payload.is_ok(),
            name.contains("payload-accepted"),
            "{name}: {payload:?}"
        );
        if name.contains("manifest") {
            let read = cosign::read_signature_manifest(&bytes, &Limits::default()).unwrap();
            let usable = read.iter().filter(|c| c.signature.is_ok()).count();
            assert_eq!(
                usable,
                usize::from(name.contains("signature-manifest")),
                "{name}"
            );
        }
    }
}
