//! cosign signature verification against Debian's `docker-registry` on
//! 127.0.0.1 over TLS: signatures made by `openssl` (a signer independent
//! of the verifier), pushed as cosign pushes them (payload blobs, a
//! signature manifest under `sha256-<hex>.sig`) through the registry API
//! by a small client written here; every forgery of issue 22 refused with
//! its own reason, a signature kept in another repository, an index signed
//! at its digest, each key type, a cosign v3 bundle, the cache, and the
//! registry stopped.
//!
//! Skipped, with the reason printed, when `docker-registry` or `openssl`
//! is missing; under `CI=true` their absence is a failure.

use crate::fixture::{Registry, have};
use crate::real::options;
use crate::signing::{Keys, OCI_MANIFEST, Pusher, SIMPLE_SIGNING, have_openssl, payload};
use crate::support::TestCa;
use image_policy_core::reference::Reference;
use image_policy_registry::cosign::{CandidateFailure, Limits, VerifyCacheOptions};
use image_policy_registry::{Client, Verifier, VerifyErrorKind};
use std::sync::Arc;

fn pinned(addr: &str, repo: &str, digest: &str) -> Reference {
    Reference::parse(&format!("{addr}/{repo}@{digest}")).unwrap()
}

fn no_cache() -> VerifyCacheOptions {
    let mut c = VerifyCacheOptions::default();
    c.ttl = std::time::Duration::ZERO;
    c
}

#[tokio::test]
async fn forgeries_refused_each_with_its_reason_on_a_real_registry() {
    if !have("docker-registry") || !have_openssl() {
        return;
    }
    let ca = TestCa::new();
    let registry = Registry::start(&ca, "alice", "wonderland");
    let addr = registry.addr.clone();
    let push = Pusher::new(&ca, &addr);
    let keys = Keys::new();
    let client = Arc::new(Client::new(options(&ca, &registry, true)).unwrap());
    let verifier = Verifier::new(client.clone(), Limits::default(), no_cache());
    let (a, b) = (keys.public("a"), keys.public("b"));
    let name = |repo: &str| format!("{addr}/{repo}");

    // Signed by A: verifies with [A], and with [B, A] (any listed key).
    let digest = push.image("team/signed", "1", 1).await;
    let p = payload(&name("team/signed"), &digest);
    let sig = keys.sign("a", &p);
    push.signatures("team/signed", &digest, &[(p, SIMPLE_SIGNING, sig)])
        .await;
    let image = pinned(&addr, "team/signed", &digest);
    let ok = verifier
        .verify(&image, std::slice::from_ref(&a), None)
        .await
        .unwrap();
    assert_eq!((ok.layer, ok.key), (Some(0), Some(0)));
    let ok = verifier
        .verify(&image, &[b.clone(), a.clone()], None)
        .await
        .unwrap();
    assert_eq!(ok.key, Some(1));

    let kind = |r: Result<_, image_policy_registry::VerifyError>| r.unwrap_err().kind;

    // Another key.
    let e = verifier
        .verify(&image, std::slice::from_ref(&b), None)
        .await
        .unwrap_err();
    assert_eq!(e.kind, VerifyErrorKind::NoSignatureByKey, "{e}");
    assert_eq!(e.candidates, [(0, CandidateFailure::SignatureMismatch)]);

    // Unsigned.
    let unsigned = push.image("team/unsigned", "1", 2).await;
    let e = verifier
        .verify(
            &pinned(&addr, "team/unsigned", &unsigned),
            std::slice::from_ref(&a),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind, VerifyErrorKind::NoSignature, "{e}");
    assert!(e.to_string().contains(".sig"), "{e}");

    // Not pinned.
    let tagged = Reference::parse(&format!("{addr}/team/signed:1")).unwrap();
    assert_eq!(
        kind(
            verifier
                .verify(&tagged, std::slice::from_ref(&a), None)
                .await
        ),
        VerifyErrorKind::NotPinned
    );

    // A valid signature of another digest, moved under this digest's tag.
    let moved = push.image("team/moved", "1", 3).await;
    let p = payload(&name("team/moved"), &digest);
    let sig = keys.sign("a", &p);
    push.signatures("team/moved", &moved, &[(p, SIMPLE_SIGNING, sig)])
        .await;
    let e = verifier
        .verify(
            &pinned(&addr, "team/moved", &moved),
            std::slice::from_ref(&a),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(
        e.kind,
        VerifyErrorKind::SignatureOfAnotherDigest(digest.clone()),
        "{e}"
    );

    // A payload naming another repository.
    let other = push.image("team/other", "1", 4).await;
    let p = payload(&name("team/signed"), &other);
    let sig = keys.sign("a", &p);
    push.signatures("team/other", &other, &[(p, SIMPLE_SIGNING, sig)])
        .await;
    let e = verifier
        .verify(
            &pinned(&addr, "team/other", &other),
            std::slice::from_ref(&a),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(
        e.kind,
        VerifyErrorKind::SignatureNamesAnotherRepository(name("team/signed")),
        "{e}"
    );

    // A payload changed after signing (the manifest names the new bytes).
    let changed = push.image("team/changed", "1", 5).await;
    let p = payload(&name("team/changed"), &changed);
    let sig = keys.sign("a", &p);
    let mut altered = p.clone();
    altered.extend_from_slice(b" ");
    push.signatures("team/changed", &changed, &[(altered, SIMPLE_SIGNING, sig)])
        .await;
    let e = verifier
        .verify(
            &pinned(&addr, "team/changed", &changed),
            std::slice::from_ref(&a),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind, VerifyErrorKind::NoSignatureByKey, "{e}");
    assert_eq!(e.candidates, [(0, CandidateFailure::SignatureMismatch)]);

    // Garbled base64, a wrong media type, an oversized payload: no
    // candidate; then a good one in the same manifest verifies (layer 3).
    let mixed = push.image("team/mixed", "1", 6).await;
    let p = payload(&name("team/mixed"), &mixed);
    let sig = keys.sign("a", &p);
    let big = vec![b' '; 70 * 1024];
    push.signatures(
        "team/mixed",
        &mixed,
        &[
            (p.clone(), SIMPLE_SIGNING, "%%not base64%%".to_owned()),
            (
                p.clone(),
                "application/vnd.oci.image.layer.v1.tar",
                sig.clone(),
            ),
            (big, SIMPLE_SIGNING, sig.clone()),
            (p.clone(), SIMPLE_SIGNING, sig.clone()),
        ],
    )
    .await;
    let mixed_image = pinned(&addr, "team/mixed", &mixed);
    let ok = verifier
        .verify(&mixed_image, std::slice::from_ref(&a), None)
        .await
        .unwrap();
    assert_eq!(ok.layer, Some(3));
    let e = verifier
        .verify(&mixed_image, std::slice::from_ref(&b), None)
        .await
        .unwrap_err();
    assert_eq!(e.kind, VerifyErrorKind::NoSignatureByKey, "{e}");
    assert!(
        matches!(e.candidates[0].1, CandidateFailure::GarbledSignature(_)),
        "{e}"
    );
    assert!(
        matches!(e.candidates[1].1, CandidateFailure::MediaType(_)),
        "{e}"
    );
    assert!(
        matches!(e.candidates[2].1, CandidateFailure::PayloadTooLarge { .. }),
        "{e}"
    );
    assert_eq!(e.candidates[3].1, CandidateFailure::SignatureMismatch);

    // Thousands of layers: refused before any payload is fetched.
    let many = push.image("team/many", "1", 7).await;
    let layers: Vec<_> = (0..3000)
        .map(|_| (p.clone(), SIMPLE_SIGNING, sig.clone()))
        .collect();
    push.signatures("team/many", &many, &layers).await;
    let e = verifier
        .verify(
            &pinned(&addr, "team/many", &many),
            std::slice::from_ref(&a),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(
        e.kind,
        VerifyErrorKind::TooManySignatures {
            layers: 3000,
            limit: 100
        },
        "{e}"
    );

    // Signatures kept in another repository (COSIGN_REPOSITORY): the
    // payload names the image's repository.
    let apart = push.image("team/apart", "1", 8).await;
    let p = payload(&name("team/apart"), &apart);
    let sig = keys.sign("a", &p);
    push.signatures("signatures/store", &apart, &[(p, SIMPLE_SIGNING, sig)])
        .await;
    let apart_image = pinned(&addr, "team/apart", &apart);
    let store = name("signatures/store");
    verifier
        .verify(&apart_image, std::slice::from_ref(&a), Some(&store))
        .await
        .unwrap();
    assert_eq!(
        kind(
            verifier
                .verify(&apart_image, std::slice::from_ref(&a), None)
                .await
        ),
        VerifyErrorKind::NoSignature
    );

    // A multi-platform image signed at its index's digest.
    let (amd, amd_size) = push.sized_image("team/multi", "amd64", 9).await;
    let (arm, arm_size) = push.sized_image("team/multi", "arm64", 10).await;
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{amd}","size":{amd_size},"platform":{{"architecture":"amd64","os":"linux"}}}},{{"mediaType":"{OCI_MANIFEST}","digest":"{arm}","size":{arm_size},"platform":{{"architecture":"arm64","os":"linux"}}}}]}}"#
    );
    let index_digest = push
        .manifest(
            "team/multi",
            "1",
            "application/vnd.oci.image.index.v1+json",
            index.as_bytes(),
        )
        .await;
    let p = payload(&name("team/multi"), &index_digest);
    let sig = keys.sign("a", &p);
    push.signatures("team/multi", &index_digest, &[(p, SIMPLE_SIGNING, sig)])
        .await;
    verifier
        .verify(
            &pinned(&addr, "team/multi", &index_digest),
            std::slice::from_ref(&a),
            None,
        )
        .await
        .unwrap();
    // A platform's manifest is another digest, unsigned.
    assert_eq!(
        kind(
            verifier
                .verify(
                    &pinned(&addr, "team/multi", &amd),
                    std::slice::from_ref(&a),
                    None
                )
                .await
        ),
        VerifyErrorKind::NoSignature
    );

    // The other key types cosign makes: P-384, RSA (PKCS#1 v1.5 and PSS), Ed25519.
    for (key, extra) in [
        ("p384", &[][..]),
        ("rsa", &[][..]),
        (
            "rsa",
            &[
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                "rsa_pss_saltlen:32",
            ][..],
        ),
        ("ed", &[][..]),
    ] {
        let repo = format!("kinds/{key}{}", extra.len());
        let d = push.image(&repo, "1", 11).await;
        let p = payload(&name(&repo), &d);
        let sig = keys.sign_with(key, &p, extra);
        push.signatures(&repo, &d, &[(p, SIMPLE_SIGNING, sig)])
            .await;
        let image = pinned(&addr, &repo, &d);
        verifier
            .verify(&image, &[keys.public(key)], None)
            .await
            .unwrap_or_else(|e| panic!("{key} {extra:?}: {e}"));
        assert_eq!(
            kind(
                verifier
                    .verify(&image, std::slice::from_ref(&a), None)
                    .await
            ),
            VerifyErrorKind::NoSignatureByKey
        );
    }

    // cosign v3: only a sigstore bundle, under the referrers' fallback tag.
    let bundled = push.image("team/bundled", "1", 12).await;
    let empty = push.blob("team/bundled", b"{}").await;
    let bundle = push
        .blob(
            "team/bundled",
            br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}"#,
        )
        .await;
    let bundle_manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","artifactType":"application/vnd.dev.sigstore.bundle.v0.3+json","config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{empty}","size":2}},"layers":[{{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","digest":"{bundle}","size":61}}],"subject":{{"mediaType":"{OCI_MANIFEST}","digest":"{bundled}","size":1}}}}"#
    );
    let bm = push
        .manifest(
            "team/bundled",
            "bundle",
            OCI_MANIFEST,
            bundle_manifest.as_bytes(),
        )
        .await;
    let referrers = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"{OCI_MANIFEST}","artifactType":"application/vnd.dev.sigstore.bundle.v0.3+json","digest":"{bm}","size":{}}}]}}"#,
        bundle_manifest.len()
    );
    push.manifest(
        "team/bundled",
        &bundled.replace(':', "-"),
        "application/vnd.oci.image.index.v1+json",
        referrers.as_bytes(),
    )
    .await;
    let e = verifier
        .verify(
            &pinned(&addr, "team/bundled", &bundled),
            std::slice::from_ref(&a),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind, VerifyErrorKind::BundleFormatNotSupported, "{e}");
    assert!(e.to_string().contains("not supported yet"), "{e}");

    // The cache: a success is kept per (repository, digest, store, keys).
    let cached = Verifier::new(
        client.clone(),
        Limits::default(),
        VerifyCacheOptions::default(),
    );
    let signed = pinned(&addr, "team/signed", &digest);
    let first = cached.verify(&signed, std::slice::from_ref(&a), None).await;
    assert_eq!(first.unwrap().layer, Some(0));
    assert_eq!(
        cached
            .verify(&signed, std::slice::from_ref(&a), None)
            .await
            .unwrap()
            .layer,
        None
    );
    cached
        .verify(&mixed_image, std::slice::from_ref(&a), None)
        .await
        .unwrap();
    assert_eq!(cached.cached_len(), 2);
    // Another key set is another entry: verified again.
    let e = cached
        .verify(&signed, std::slice::from_ref(&b), None)
        .await
        .unwrap_err();
    assert_eq!(e.kind, VerifyErrorKind::NoSignatureByKey);

    // Cold verifications (no cache): the signature manifest and the
    // payload fetched (each a new TCP and TLS connection, and a 401 then
    // the request with basic credentials), then the check. Printed for
    // BENCHMARKS.md; IMAGE_POLICY_COSIGN_ROUNDS sets how many (default 5).
    let rounds: usize = std::env::var("IMAGE_POLICY_COSIGN_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let mut times = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let started = std::time::Instant::now();
        verifier
            .verify(&signed, std::slice::from_ref(&a), None)
            .await
            .unwrap();
        times.push(started.elapsed());
    }
    times.sort();
    if let (Some(min), Some(median)) = (times.first(), times.get(rounds / 2)) {
        eprintln!(
            "cold verification against docker-registry on loopback (TLS, htpasswd): {rounds} rounds, min {:.2} ms, median {:.2} ms",
            min.as_secs_f64() * 1e3,
            median.as_secs_f64() * 1e3
        );
    }

    // The registry stopped: a registry error, never a success; the cached
    // success stays (until its TTL), an uncached key set fails.
    drop(registry);
    let e = verifier
        .verify(&signed, std::slice::from_ref(&a), None)
        .await
        .unwrap_err();
    assert!(matches!(e.kind, VerifyErrorKind::Registry(_)), "{e}");
    assert!(
        cached
            .verify(&signed, std::slice::from_ref(&a), None)
            .await
            .is_ok()
    );
    let e = cached
        .verify(&signed, &[b.clone(), a.clone()], None)
        .await
        .unwrap_err();
    assert!(matches!(e.kind, VerifyErrorKind::Registry(_)), "{e}");
}
