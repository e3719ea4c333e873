//! `--from kyverno`: policies written here in the shapes of the Kyverno
//! policies library, their old decisions on the library's own kind of
//! cases, and the imported policy never wider than what Kyverno admitted
//! (in some spelling of the image) on every generated image.

use super::{images, imported, loaded};
use image_policy_core::policy::Context;
use image_policy_core::reference::ImageRef;
use image_policy_import::ImportFormat;

const RESTRICT_REGISTRIES: &str = r#"
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata:
  name: restrict-image-registries
spec:
  validationFailureAction: Enforce
  rules:
    - name: validate-registries
      match:
        any:
          - resources:
              kinds: [Pod]
      validate:
        message: "Unknown image registry."
        pattern:
          spec:
            =(ephemeralContainers):
              - image: "eu.foo.io/* | bar.io/*"
            =(initContainers):
              - image: "eu.foo.io/* | bar.io/*"
            containers:
              - image: "eu.foo.io/* | bar.io/*"
"#;

const DISALLOW_LATEST: &str = r#"
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata:
  name: disallow-latest-tag
spec:
  validationFailureAction: Audit
  rules:
    - name: require-image-tag
      match:
        any:
          - resources:
              kinds: [Pod]
      validate:
        message: "An image tag is required."
        pattern:
          spec:
            containers:
              - image: "*:*"
    - name: validate-image-tag
      match:
        any:
          - resources:
              kinds: [Pod]
      validate:
        message: "Using a mutable image tag e.g. 'latest' is not allowed."
        pattern:
          spec:
            containers:
              - image: "!*:latest"
"#;

const FOREACH_DENY: &str = r#"
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata:
  name: allowed-registries
spec:
  validationFailureAction: Enforce
  rules:
    - name: prefix
      match:
        any:
          - resources:
              kinds: [Pod]
              namespaces: [prod]
      exclude:
        any:
          - resources:
              namespaces: [kube-system]
      validate:
        foreach:
          - list: "request.object.spec.containers"
            deny:
              conditions:
                all:
                  - key: "{{ element.image }}"
                    operator: AnyNotIn
                    value: ["registry.my.com*", "ghcr.io/my-org/*"]
          - list: "request.object.spec.initContainers"
            deny:
              conditions:
                any:
                  - key: "{{element.image}}"
                    operator: Equals
                    value: "evil.io/*"
"#;

#[test]
fn old_decisions() {
    let cases: &[(&str, &str, Option<&str>, bool)] = &[
        (RESTRICT_REGISTRIES, "eu.foo.io/app:1", None, false),
        (RESTRICT_REGISTRIES, "bar.io/x/y", None, false),
        (RESTRICT_REGISTRIES, "docker.io/nginx", None, true),
        (DISALLOW_LATEST, "nginx", None, true),
        (DISALLOW_LATEST, "nginx:latest", None, true),
        (DISALLOW_LATEST, "nginx:1.2", None, false),
        // A port passes `*:*`.
        (DISALLOW_LATEST, "localhost:5000/app", None, false),
        (
            FOREACH_DENY,
            "registry.my.com.evil.io/x:1",
            Some("prod"),
            false,
        ),
        (FOREACH_DENY, "quay.io/x:1", Some("prod"), true),
        (FOREACH_DENY, "quay.io/x:1", Some("dev"), false),
        (FOREACH_DENY, "quay.io/x:1", Some("kube-system"), false),
    ];
    for (policy, image, ns, denied) in cases {
        let i = imported(ImportFormat::Kyverno, policy);
        assert_eq!(
            i.old.judge(image, *ns).violates(),
            *denied,
            "{image} in {ns:?}"
        );
    }
    let i = imported(ImportFormat::Kyverno, FOREACH_DENY);
    let init = image_policy_core::k8s::ContainerList::InitContainers;
    assert!(i.old.judge_in("evil.io/x", Some("prod"), init).violates());
    assert!(!i.old.judge_in("quay.io/x:1", Some("prod"), init).violates());
}

#[test]
fn imported_kyverno_is_never_wider() {
    for policy in [RESTRICT_REGISTRIES, DISALLOW_LATEST, FOREACH_DENY] {
        let i = imported(ImportFormat::Kyverno, policy);
        let new = loaded(&i);
        for image in images() {
            for ns in [None, Some("prod"), Some("dev"), Some("kube-system")] {
                let ctx = match ns {
                    Some(n) => Context::new().namespace(n),
                    None => Context::new(),
                };
                if new.evaluate(&image, &ctx).violates() {
                    continue;
                }
                let mut spellings = vec![image.clone()];
                if let Ok(r) = ImageRef::parse(&image) {
                    spellings.push(r.to_string());
                    spellings.push(r.to_string().to_ascii_lowercase());
                    spellings.push(r.familiar().to_string());
                }
                assert!(
                    spellings.iter().any(|s| !i.old.judge(s, ns).violates()),
                    "{image:?} in {ns:?}: admitted now, never before\n{}",
                    i.text
                );
            }
        }
    }
}

#[test]
fn restrict_registries_reads_as_registries() {
    let i = imported(ImportFormat::Kyverno, RESTRICT_REGISTRIES);
    assert!(i.text.contains(r#"- registry: "eu.foo.io""#), "{}", i.text);
    assert!(i.text.contains(r#"- registry: "bar.io""#), "{}", i.text);
    assert!(i.text.contains("mode: enforce"), "{}", i.text);
}
