//! Properties of the policy engine over random images and rules.

use image_policy_core::policy::rewrite::RewriteErrorKind;
use image_policy_core::policy::{Context, DecisionCode, Policy};
use image_policy_core::reference::ImageRef;
use proptest::prelude::*;

/// A DNS-ish host: one to four labels, sometimes with uppercase letters.
fn host() -> impl Strategy<Value = String> {
    prop::collection::vec("[a-zA-Z0-9]([a-zA-Z0-9-]{0,6}[a-zA-Z0-9])?", 1..4)
        .prop_map(|labels| labels.join("."))
}

fn domain() -> impl Strategy<Value = String> {
    (host(), prop::option::of(1u32..70000)).prop_map(|(h, port)| match port {
        Some(p) => format!("{h}:{p}"),
        None => h,
    })
}

fn path() -> impl Strategy<Value = String> {
    prop::collection::vec("[a-z0-9]{1,5}([._-][a-z0-9]{1,3})?", 1..4).prop_map(|c| c.join("/"))
}

/// An image whose registry is related to `rule`'s: the same, another case,
/// with a port added or removed, a label added before or after, or unrelated.
fn image_near(rule: String) -> impl Strategy<Value = String> {
    let variants = prop_oneof![
        Just(rule.clone()),
        Just(rule.to_ascii_uppercase()),
        Just(format!("{rule}:5000")),
        Just(rule.split(':').next().unwrap_or_default().to_owned()),
        Just(format!("x.{rule}")),
        Just(format!(
            "{}.evil.io",
            rule.split(':').next().unwrap_or_default()
        )),
        domain(),
        Just(String::new()),
    ];
    (
        variants,
        path(),
        prop::option::of("[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,8}"),
    )
        .prop_map(|(domain, path, tag)| {
            let mut image = if domain.is_empty() {
                path
            } else {
                format!("{domain}/{path}")
            };
            if let Some(tag) = tag {
                image = format!("{image}:{tag}");
            }
            image
        })
}

fn fold(domain: &str) -> String {
    let lower = domain.to_ascii_lowercase();
    match lower.as_str() {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".to_owned(),
        _ => lower,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// A random image under a random registry rule is allowed exactly when
    /// its parsed domain equals the rule's (case-insensitively), and an
    /// image that does not parse is denied.
    #[test]
    fn registry_rule_allows_exactly_its_domain((rule, image) in domain().prop_flat_map(|d| (Just(d.clone()), image_near(d)))) {
        let loaded = Policy::builder().allow_registry(&rule).build();
        let Ok(loaded) = loaded else {
            // Only hosts the grammar rejects (such as an all-numeric last
            // label is fine; a too-long port is not) may fail to load.
            prop_assert!(!image_policy_core::reference::grammar::is_domain(&rule));
            return Ok(());
        };
        let d = loaded.policy.evaluate(&image, &Context::new());
        match ImageRef::parse(&image) {
            Ok(r) => {
                let same = fold(r.domain()) == fold(&rule);
                prop_assert_eq!(d.allowed(), same, "{} under {}: {}", image, rule, d);
                if same {
                    prop_assert_eq!(d.rule().map(|r| r.path), Some("allow[0]"));
                } else {
                    prop_assert_eq!(d.code(), DecisionCode::RegistryNotAllowed);
                }
            }
            Err(_) => {
                prop_assert!(!d.allowed());
                prop_assert_eq!(d.code(), DecisionCode::Unparseable);
            }
        }
    }

    /// `domain/seg/*` matches exactly the images with that domain and two
    /// path segments, the first being `seg`; `**` any depth below it. (The
    /// host has a dot, so that both the pattern and the image read it as a
    /// registry.)
    #[test]
    fn repository_wildcards_stay_within_segments(d in host().prop_filter("a registry", |h| h.contains('.')), seg in "[a-z0-9]{1,4}", image_path in path()) {
        let one = format!("{}/{seg}/*", d.to_ascii_lowercase());
        let any = format!("{}/{seg}/**", d.to_ascii_lowercase());
        let policy = Policy::builder().allow_repository(&one).build();
        prop_assume!(policy.is_ok());
        let policy = policy.unwrap().policy;
        let deep = Policy::builder().allow_repository(&any).build().unwrap().policy;
        let image = format!("{d}/{image_path}");
        let Ok(r) = ImageRef::parse(&image) else { return Ok(()) };
        let segments: Vec<&str> = r.path().segments().collect();
        let same_domain = fold(r.domain()) == fold(&d);
        let under = same_domain && segments.len() >= 2 && segments[0] == seg;
        prop_assert_eq!(policy.evaluate(&image, &Context::new()).allowed(), under && segments.len() == 2, "{} vs {}", image, one);
        prop_assert_eq!(deep.evaluate(&image, &Context::new()).allowed(), under, "{} vs {}", image, any);
    }

    /// Any string at all: no panic, and a decision that allows only what parses.
    #[test]
    fn any_input_is_decided(image in "\\PC{0,80}|[a-zA-Z0-9./:@_-]{0,80}") {
        let policy = Policy::builder().allow_registry("registry.my.com").build().unwrap().policy;
        let d = policy.evaluate(&image, &Context::new());
        let _ = d.to_string();
        if d.allowed() {
            let r = ImageRef::parse(&image).unwrap();
            prop_assert_eq!(fold(r.domain()), "registry.my.com");
        }
    }
}

/// Fragments of the policy format, to build random (mostly wrong) policy files.
fn policy_fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("allow:\n".to_owned()),
        Just("deny:\n".to_owned()),
        Just("tags:\n  deny: [latest]\n".to_owned()),
        Just("namespaces:\n  - names: [a]\n    combine: replace\n".to_owned()),
        Just("breakGlass: {enabled: true}\n".to_owned()),
        Just("mode: warn\n".to_owned()),
        "  - (registry|repository|regex): [a-zA-Z0-9.*/:\\[\\]()|\\\\-]{0,20}\n",
        "[ -~]{0,30}\n",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// Any policy text loads or fails with diagnostics; it never panics, and
    /// every error of a YAML source that has a location has a 1-based one.
    #[test]
    fn any_policy_text_loads_or_explains(parts in prop::collection::vec(policy_fragment(), 0..8)) {
        let src = parts.concat();
        match Policy::from_yaml_str(&src, "p.yaml") {
            Ok(loaded) => {
                let _ = loaded.policy.evaluate("registry.my.com/x:1", &Context::new()).to_string();
            }
            Err(e) => {
                prop_assert!(e.errors().count() > 0);
                for d in e.diagnostics() {
                    if let Some(l) = &d.location {
                        prop_assert!(l.line >= 1 && l.column >= 1, "{}", d);
                    }
                }
            }
        }
        let _ = Policy::from_json_str(&src, "p.json");
    }

    /// Any pattern given to the builder compiles or is an error; never a panic.
    #[test]
    fn any_pattern_builds_or_explains(p in "[ -~]{0,40}") {
        for b in [
            Policy::builder().allow_registry(&p),
            Policy::builder().allow_repository(&p),
            Policy::builder().deny_regex(&p),
            Policy::builder().deny_tag(&p),
            Policy::builder().allow_tags_matching(&p),
        ] {
            if let Ok(loaded) = b.build() {
                let _ = loaded.policy.evaluate(&p, &Context::new()).to_string();
            }
        }
    }
}

/// A rewrite prefix: a domain (sometimes Docker Hub under another name),
/// then zero to two path components.
fn prefix() -> impl Strategy<Value = String> {
    (
        prop_oneof![
            Just("docker.io".to_owned()),
            Just("index.docker.io".to_owned()),
            Just("quay.io".to_owned()),
            Just("reg:5000".to_owned()),
            domain(),
        ],
        prop::collection::vec(
            prop_oneof![Just("library".to_owned()), "[a-z0-9]{1,4}"],
            0..3,
        ),
    )
        .prop_map(|(d, p)| std::iter::once(d).chain(p).collect::<Vec<_>>().join("/"))
}

/// An image that is sometimes under `from`: `from` itself, with one or more
/// components below it, or written as Docker Hub's short forms.
fn image_under(from: String) -> impl Strategy<Value = String> {
    let short = from
        .strip_prefix("docker.io/library/")
        .or_else(|| from.strip_prefix("docker.io/"))
        .map(str::to_owned);
    let bases = prop_oneof![
        Just(from.clone()),
        Just(from.to_ascii_uppercase()),
        Just(short.unwrap_or_else(|| from.clone())),
        path(),
        domain().prop_map(|d| format!("{d}/x")),
    ];
    (
        bases,
        prop::collection::vec("[a-z0-9]{1,4}", 0..3),
        prop::option::of("[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,8}"),
        prop::option::of("[0-9a-f]{64}"),
    )
        .prop_map(|(base, below, tag, digest)| {
            let mut image = std::iter::once(base)
                .chain(below)
                .collect::<Vec<_>>()
                .join("/");
            if let Some(tag) = tag {
                image.push(':');
                image.push_str(&tag);
            }
            if let Some(hex) = digest {
                image.push_str("@sha256:");
                image.push_str(&hex);
            }
            image
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// A rewritten reference parses, starts with `to`, keeps the tag and the
    /// digest, is not rewritten again, and names the rule; rewriting never
    /// panics, and an error is only ever a reference that would not parse.
    #[test]
    fn rewrites_parse_keep_tag_and_digest_and_are_idempotent(
        (from, to, image) in (prefix(), prefix()).prop_flat_map(|(from, to)| {
            (Just(from.clone()), Just(to), image_under(from))
        })
    ) {
        let Ok(loaded) = Policy::builder().rewrite(&from, &to).build() else {
            // `to` under `from` (or the other way round): a rewrite-loop
            // error, so idempotence holds for every policy that loads.
            return Ok(());
        };
        let policy = loaded.policy;
        let Ok(original) = ImageRef::parse(&image) else {
            prop_assert_eq!(policy.rewrite_str(&image), Ok(None));
            return Ok(());
        };
        match policy.rewrite(&original) {
            Ok(Some(rewritten)) => {
                let r = ImageRef::parse(rewritten.as_str());
                prop_assert!(r.is_ok(), "{} -> {} does not parse", image, rewritten);
                let r = r.unwrap();
                prop_assert!(rewritten.as_str().starts_with(&to.to_ascii_lowercase()));
                prop_assert_eq!(r.tag(), original.tag());
                prop_assert_eq!(r.digest().map(|d| d.to_string()), original.digest().map(|d| d.to_string()));
                prop_assert_eq!(policy.rewrite(&r), Ok(None), "rewritten twice");
                prop_assert_eq!(policy.rewrite_rule(&rewritten).path, "rewrite[0]");
                // The decision judges the rewritten image and shows both.
                let d = policy.evaluate_rewritten(&image, Some(&rewritten), &Context::new());
                prop_assert_eq!(d.image(), image.as_str());
                prop_assert_eq!(d.reference().unwrap().to_string(), r.to_string());
            }
            Ok(None) => {
                // Not under `from`: the normalized name does not start with
                // it at a `/` boundary.
                let name = original.name().to_string();
                // Two components below, so that no `library/` is implied.
                let from_norm = ImageRef::parse(&format!("{from}/x/y")).unwrap().name().to_string();
                let from_norm = from_norm.strip_suffix("/x/y").unwrap().to_owned();
                prop_assert!(
                    original.is_pull_host_from_path()
                        || !(name == from_norm || name.starts_with(&format!("{from_norm}/"))),
                    "{} is under {} but was not rewritten", image, from
                );
            }
            Err(e) => {
                // Only a result that does not parse, or that names no
                // repository under `to`, is refused.
                prop_assert!(
                    ImageRef::parse(&e.output).is_err() || e.kind == RewriteErrorKind::NoRepository,
                    "{}", e
                );
            }
        }
    }
}
