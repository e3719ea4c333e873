//! The imported policies admit nothing the old ones did not mean to admit:
//! on every generated image, an allow prefix's import admits an image only
//! when the old engine admitted some spelling of it (as written, canonical
//! or familiar), and a deny prefix's import denies every image the old
//! engine denied. The bouncer's own cases (`testdata/peers/`) judge the
//! same through the import.

use super::{PREFIXES, images, imported, loaded};
use image_policy_core::policy::Context;
use image_policy_core::reference::ImageRef;
use image_policy_import::ImportFormat;
use serde_json::{Value, json};

fn constraint(kind: &str, parameters: Value) -> String {
    json!({
        "apiVersion": "constraints.gatekeeper.sh/v1beta1",
        "kind": kind,
        "metadata": {"name": "c"},
        "spec": {"parameters": parameters},
    })
    .to_string()
}

/// The spellings of one image the old engine could have been shown: as
/// written, canonical, familiar, and with the registry host in lowercase
/// (DNS names ignore case; the policy compares registries so).
fn spellings(image: &str) -> Vec<String> {
    let mut out = vec![image.to_owned()];
    if let Ok(r) = ImageRef::parse(image) {
        let canonical = r.to_string();
        if let Some((host, rest)) = canonical.split_once('/') {
            out.push(format!("{}/{rest}", host.to_ascii_lowercase()));
        }
        if let Some(rest) = canonical.strip_prefix("docker.io/") {
            out.push(format!("index.docker.io/{rest}"));
        }
        out.push(canonical);
        out.push(r.familiar().to_string());
    }
    out
}

#[test]
fn allow_prefixes_are_never_wider() {
    let all = images();
    for p in PREFIXES {
        let i = imported(
            ImportFormat::Gatekeeper,
            &constraint("K8sAllowedRepos", json!({"repos": [p]})),
        );
        let policy = loaded(&i);
        for image in &all {
            let admitted_now = !policy.evaluate(image, &Context::new()).violates();
            if admitted_now {
                let meant = spellings(image)
                    .iter()
                    .any(|s| !i.old.judge(s, None).violates());
                assert!(
                    meant,
                    "prefix {p:?}: {image:?} admitted now, never before in any spelling\n{}",
                    i.text
                );
            }
        }
    }
}

#[test]
fn deny_prefixes_deny_all_the_old_denied() {
    let all = images();
    for p in PREFIXES {
        let i = imported(
            ImportFormat::Gatekeeper,
            &constraint("K8sDisallowedRepos", json!({"repos": [p]})),
        );
        let policy = loaded(&i);
        for image in &all {
            if i.old.judge(image, None).violates() {
                assert!(
                    policy.evaluate(image, &Context::new()).violates(),
                    "prefix {p:?}: {image:?} denied before, admitted now\n{}",
                    i.text
                );
            }
        }
    }
}

#[test]
fn tags_and_digests_are_never_wider() {
    for (kind, parameters) in [
        ("K8sDisallowedTags", json!({"tags": ["latest", "1.2"]})),
        ("K8sImageDigests", json!({})),
    ] {
        let i = imported(ImportFormat::Gatekeeper, &constraint(kind, parameters));
        let policy = loaded(&i);
        for image in images() {
            if i.old.judge(&image, None).violates() {
                assert!(
                    policy.evaluate(&image, &Context::new()).violates(),
                    "{kind}: {image:?} denied before, admitted now\n{}",
                    i.text
                );
            }
        }
    }
}

#[test]
fn the_bouncers_own_cases() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testdata/peers/kube-image-bouncer.yaml"
    ))
    .unwrap();
    let doc: Value = serde_saphyr::from_str(&text).unwrap();
    let mut groups = 0;
    for group in doc["groups"].as_array().unwrap() {
        let flags: Vec<&str> = group["flags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap())
            .collect();
        // Our own flags beside the bouncer's are not the bouncer's line.
        if flags.contains(&"--allow-registry") {
            continue;
        }
        let line = flags.join(" ");
        let i = imported(ImportFormat::Bouncer, &line);
        let policy = loaded(&i);
        for case in group["cases"].as_array().unwrap() {
            let image = case["image"].as_str().unwrap();
            let allowed = case["allowed"].as_bool().unwrap();
            assert_eq!(
                !i.old.judge(image, None).violates(),
                allowed,
                "old: {line}: {image}"
            );
            assert_eq!(
                !policy.evaluate(image, &Context::new()).violates(),
                allowed,
                "new: {line}: {image}"
            );
        }
        groups += 1;
    }
    assert!(groups >= 2);
}

#[test]
fn docker_sysconfig() {
    let i = imported(
        ImportFormat::DockerSysconfig,
        "# /etc/sysconfig/docker\nOPTIONS='--selinux-enabled --log-driver=journald'\nADD_REGISTRY='--add-registry registry.my.com'\nBLOCK_REGISTRY='--block-registry all'\nINSECURE_REGISTRY='--insecure-registry registry.my.com'\n",
    );
    let policy = loaded(&i);
    for (image, before, now) in [
        ("registry.my.com/app:1", true, true),
        ("docker.io/library/busybox:1", false, false),
        ("quay.io/x:1", false, false),
        // docker searched registry.my.com first: admitted before.
        ("busybox:1", true, false),
    ] {
        assert_eq!(
            !i.old.judge(image, None).violates(),
            before,
            "before: {image}"
        );
        assert_eq!(
            !policy.evaluate(image, &Context::new()).violates(),
            now,
            "now: {image}"
        );
    }
    let blocked = imported(
        ImportFormat::DockerSysconfig,
        "BLOCK_REGISTRY='--block-registry docker.io --block-registry=evil.io'\n",
    );
    let policy = loaded(&blocked);
    for image in ["busybox", "index.docker.io/library/busybox", "evil.io/x"] {
        assert!(blocked.old.judge(image, None).violates(), "{image}");
        assert!(
            policy.evaluate(image, &Context::new()).violates(),
            "{image}"
        );
    }
    assert!(!policy.evaluate("quay.io/x", &Context::new()).violates());
}

#[test]
fn unreadable_shapes_are_errors_naming_the_field() {
    let cases = [
        (
            ImportFormat::Gatekeeper,
            constraint("K8sAllowedRepos", json!({"repos": ["x"], "other": 1})),
            "spec.parameters.other",
        ),
        (
            ImportFormat::Gatekeeper,
            constraint("K8sRequiredLabels", json!({})),
            "kind",
        ),
        (
            ImportFormat::Gatekeeper,
            constraint("K8sAllowedRepos", json!({"repos": ["nginx:1."]})),
            "repos[0]",
        ),
        (
            ImportFormat::Gatekeeper,
            constraint("K8sAllowedRepos", json!({"repos": [1]})),
            "repos[0]",
        ),
        (
            ImportFormat::Bouncer,
            "--registry-whitelist registry.com --allow-all".to_owned(),
            "argument 3",
        ),
        (
            ImportFormat::Bouncer,
            "--registry-whitelist registry.com,,x.io".to_owned(),
            "entry 2",
        ),
        (
            ImportFormat::DockerSysconfig,
            "BLOCK_REGISTRY='--block-registry'\n".to_owned(),
            "line 1",
        ),
    ];
    for (format, text, field) in cases {
        let e =
            image_policy_import::import(format, &[image_policy_import::Source::new("f", &text)])
                .unwrap_err();
        assert!(e.to_string().contains(field), "{format}: {text}: {e}");
        assert!(e.to_string().starts_with("f"), "{e}");
    }
}

#[test]
fn exempt_images_become_exempt_rules() {
    let i = imported(
        ImportFormat::Gatekeeper,
        &constraint(
            "K8sDisallowedTags",
            json!({"tags": ["latest"], "exemptImages": ["registry.my.com/tools/debug:latest", "registry.my.com/tools/*"]}),
        ),
    );
    assert!(i.has_exemptions);
    let policy = loaded(&i);
    for (image, denied) in [
        ("registry.my.com/tools/debug:latest", false),
        ("registry.my.com/tools/other:latest", false),
        ("registry.my.com/app:latest", true),
    ] {
        assert_eq!(
            i.old.judge(image, None).violates(),
            denied,
            "before: {image}"
        );
        assert_eq!(
            policy.evaluate(image, &Context::new()).violates(),
            denied,
            "now: {image}"
        );
    }
}

/// A file name cannot add a line to the policy: comments lose their
/// control characters.
#[test]
fn names_cannot_add_lines() {
    let i = image_policy_import::import(
        ImportFormat::Bouncer,
        &[image_policy_import::Source::new(
            "flags\nmode: audit\r\nallow: [{regex: '.*'}]",
            "--registry-whitelist registry.com",
        )],
    )
    .unwrap();
    assert!(
        !i.text.lines().any(|l| l.starts_with("mode: audit")),
        "{}",
        i.text
    );
    let policy = loaded(&i);
    assert_eq!(policy.mode().as_str(), "enforce");
    assert!(policy.evaluate("quay.io/x:1", &Context::new()).violates());
}
