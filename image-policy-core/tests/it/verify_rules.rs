//! Verify rules through the public API: which rules apply to an image
//! (every matching one, on either view), with their keys and signature
//! repository; key files read through `PolicyBuilder::read_key_files`.

use image_policy_core::policy::verify::{KeyAlgorithm, PublicKey};
use image_policy_core::policy::{Policy, PolicyBuilder, RuleKind};

const P256: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEKHj3WEOey4a7vIj7QP6LfkJQG8Hr
C0PDnq0I6pF0x3cFQubgwgLyRsz7whYjz2+eyziVUZAaAEY4eQQq3PQyzA==
-----END PUBLIC KEY-----
";
const ED25519: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEA1JFNjsocZ+AC0dmLA6ExtC4x81Kd2GqAuOUanF9Rp7k=
-----END PUBLIC KEY-----
";

fn indent(pem: &str) -> String {
    pem.lines().map(|l| format!("          {l}\n")).collect()
}

#[test]
fn every_matching_rule_applies_with_its_keys() {
    let src = format!(
        "verify:\n  - registry: registry.my.com\n    keys:\n      - |\n{}  - repository: registry.my.com/team/**\n    keyFile: team.pub\n    signatureRepository: registry.my.com/signatures\nnamespaces:\n  - names: [sandbox]\n    combine: replace\n",
        indent(P256)
    );
    let mut asked = Vec::new();
    let policy = PolicyBuilder::from_yaml_str(&src, "p.yaml")
        .unwrap()
        .read_key_files(|path| {
            asked.push(path.to_owned());
            Ok(ED25519.to_owned())
        })
        .build()
        .unwrap()
        .policy;
    assert_eq!(asked, ["team.pub"]);
    let reqs = policy.verify_requirements("registry.my.com/team/app:1", None);
    let paths: Vec<&str> = reqs.iter().map(|r| r.rule.path).collect();
    assert_eq!(paths, ["verify[0]", "verify[1]"]);
    assert!(reqs.iter().all(|r| r.rule.kind == RuleKind::Verify));
    assert_eq!(reqs[0].keys[0].algorithm(), KeyAlgorithm::EcdsaP256);
    assert_eq!(reqs[0].signature_repository, None);
    assert_eq!(reqs[1].keys[0].algorithm(), KeyAlgorithm::Ed25519);
    assert_eq!(
        reqs[1].signature_repository,
        Some("registry.my.com/signatures")
    );
    assert_eq!(
        policy
            .verify_requirements("registry.my.com/other", None)
            .len(),
        1
    );
    assert!(policy.verify_requirements("quay.io/x", None).is_empty());
    assert!(
        policy
            .verify_requirements("registry.my.com/x", Some("sandbox"))
            .is_empty()
    );
    assert!(policy.verify_requirements("not an image", None).is_empty());
}

#[test]
fn a_key_file_not_read_or_unreadable_fails_the_build() {
    let src = "verify:\n  - registry: a.io\n    keyFile: k.pub\n";
    let e = Policy::from_yaml_str(src, "p.yaml").unwrap_err();
    assert!(e.to_string().contains("was not read"), "{e}");
    let e = PolicyBuilder::from_yaml_str(src, "p.yaml")
        .unwrap()
        .read_key_files(|_| Err("No such file or directory".to_owned()))
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("3:14"), "{e}");
    assert!(e.to_string().contains("cannot read k.pub"), "{e}");
}

#[test]
fn keys_of_each_kind() {
    assert_eq!(
        PublicKey::from_pem(P256).unwrap().key_bytes().len(),
        65,
        "an uncompressed P-256 point"
    );
    assert_eq!(PublicKey::from_pem(ED25519).unwrap().key_bytes().len(), 32);
    let two = format!("{P256}{ED25519}");
    assert!(PublicKey::from_pem(&two).is_err());
}
