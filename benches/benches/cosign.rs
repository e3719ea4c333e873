//! cosign verification's CPU part (issue 22): the ECDSA P-256/SHA-256
//! check of one signature alone (ring, through the registry crate's
//! `signature_verifies`), a payload's check, a signature manifest's read.
//! The network part (a cold verification against a registry) is measured
//! by the registry crate's real-registry test with
//! `IMAGE_POLICY_COSIGN_ROUNDS` (see BENCHMARKS.md).

use criterion::{Criterion, criterion_group, criterion_main};
use image_policy_core::policy::verify::PublicKey;
use image_policy_registry::cosign::{
    Limits, check_payload, read_signature_manifest, signature_verifies,
};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
use std::hint::black_box;

/// The DER prefix of a P-256 `SubjectPublicKeyInfo` (id-ecPublicKey,
/// prime256v1, a 66-byte bit string), before the uncompressed point.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

const DIGEST: &str = "sha256:f20c43161d73848408ef247f0ec7111b19fe58ffebc0cbcaa0d2c8bda4967268";

fn bench(c: &mut Criterion) {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let mut spki = P256_SPKI_PREFIX.to_vec();
    spki.extend_from_slice(pair.public_key().as_ref());
    let key = PublicKey::from_der(&spki).unwrap();
    let payload = format!(
        r#"{{"critical":{{"identity":{{"docker-reference":"registry.my.com/team/app"}},"image":{{"docker-manifest-digest":"{DIGEST}"}},"type":"cosign container image signature"}},"optional":null}}"#
    );
    let signature = pair.sign(&rng, payload.as_bytes()).unwrap();
    assert!(signature_verifies(
        &key,
        payload.as_bytes(),
        signature.as_ref()
    ));
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{DIGEST}","size":2}},"layers":[{{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","digest":"{DIGEST}","size":243,"annotations":{{"dev.cosignproject.cosign/signature":"MEUCIQDxFBCLqyJ2/ZEAwJjZHS1cw+HyIWuQyJ4WAgLPFhu0UQIgY9smN1zcbD4R1qVeWzwoPtxq5RT9wHOdVFvuVEA0F1M="}}}}]}}"#
    );
    let mut group = c.benchmark_group("cosign");
    group.bench_function("ecdsa_p256_verify", |b| {
        b.iter(|| {
            signature_verifies(
                black_box(&key),
                black_box(payload.as_bytes()),
                black_box(signature.as_ref()),
            )
        })
    });
    group.bench_function("check_payload", |b| {
        b.iter(|| {
            check_payload(
                black_box(payload.as_bytes()),
                DIGEST,
                "registry.my.com/team/app",
            )
        })
    });
    let limits = Limits::default();
    group.bench_function("read_signature_manifest", |b| {
        b.iter(|| read_signature_manifest(black_box(manifest.as_bytes()), &limits))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
