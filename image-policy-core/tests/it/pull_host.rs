//! The pull host (`ImageRef::pull_host`): the text before the first `/` of the
//! normalized reference, which containerd contacts. Checked against
//! upstream's recorded answers, as properties over generated near-hosts, and
//! through the policy: a deny rule on a registry denies every image pulled
//! from it, whatever the name's domain says.

use image_policy_core::policy::{Context, DecisionCode, Policy};
use image_policy_core::reference::{ImageRef, Reference};
use proptest::prelude::*;
use serde_json::Value;

use crate::testdata;

/// What containerd computes from the normalized string: the text before its
/// first `/` (`reference.Parse`, then `Spec.Hostname`).
fn containerd_host(normalized: &str) -> &str {
    normalized
        .split_once('/')
        .map_or(normalized, |(host, _)| host)
}

/// The name of a normalized reference: without `@digest`, then without a
/// `:tag` after the last `/`.
fn name_of(normalized: &str) -> &str {
    let name = normalized.split('@').next().unwrap_or_default();
    match name.rsplit_once(':') {
        Some((before, tag)) if !tag.contains('/') => before,
        _ => name,
    }
}

/// Every reference upstream accepted in the recorded sample: the pull host is
/// the host containerd takes from upstream's normalized string; it is the
/// domain whenever upstream found one; where upstream found none, the pull
/// host is the first component, which has a `.` and an `_`.
#[test]
fn pull_host_is_what_containerd_takes_from_upstreams_answers() {
    let text = std::fs::read_to_string(testdata("reference/reference-sample.jsonl")).unwrap();
    let (mut checked, mut without_domain) = (0, 0);
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let case: Value = serde_json::from_str(line).unwrap();
        if case["ok"] != true {
            continue;
        }
        let input = case["input"].as_str().unwrap();
        let normalized = case["normalized"].as_str().unwrap();
        let domain = case["domain"].as_str().unwrap();
        let r = ImageRef::parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        assert_eq!(r.pull_host(), containerd_host(normalized), "{input:?}");
        assert_eq!(
            format!("{}/{}", r.pull_host(), r.pull_path()),
            name_of(normalized),
            "{input:?}"
        );
        if domain.is_empty() {
            without_domain += 1;
            assert!(r.is_pull_host_from_path(), "{input:?}");
            let host = r.pull_host();
            assert!(host.contains('.') && host.contains('_'), "{input:?}");
        } else {
            assert_eq!(r.pull_host(), domain, "{input:?}");
            assert!(!r.is_pull_host_from_path(), "{input:?}");
        }
        let owned = Reference::parse(input).unwrap();
        assert_eq!(owned.pull_host(), r.pull_host(), "{input:?}");
        checked += 1;
    }
    assert!(checked > 100, "{checked}");
    assert!(
        without_domain >= 3,
        "the sample has {without_domain} names without a domain"
    );
}

/// A first component near a host: DNS-ish labels with the characters a host
/// may not have (`_`, uppercase, empty labels, leading or trailing `-`, bad
/// ports, brackets), sometimes `localhost`.
fn near_host() -> impl Strategy<Value = String> {
    let label = prop_oneof![
        4 => "[a-z0-9]{1,4}",
        2 => "[a-z0-9]{1,3}(_|__|___)[a-z0-9]{1,3}",
        1 => "[a-zA-Z0-9_-]{0,5}",
        1 => "[-_][a-z0-9]{1,3}|[a-z0-9]{1,3}[-_]",
    ];
    let host = prop_oneof![
        8 => proptest::collection::vec(label, 1..4).prop_map(|l| l.join(".")),
        1 => "\\[[0-9a-fA-F:_x]{0,8}\\]?",
        1 => Just("localhost".to_owned()),
        1 => "[a-z._:-]{1,8}",
    ];
    let port = prop_oneof![
        6 => Just(String::new()),
        1 => "[0-9]{1,5}".prop_map(|p| format!(":{p}")),
        1 => "[0-9a-z_-]{0,3}".prop_map(|p| format!(":{p}")),
    ];
    (host, port).prop_map(|(h, p)| h + &p)
}

/// A reference whose first component is a near-host, with a path after it.
fn near_host_reference() -> impl Strategy<Value = String> {
    (
        near_host(),
        "[a-z0-9]{1,6}(/[a-z0-9]{1,6}){0,2}",
        proptest::option::of("[A-Za-z0-9_][A-Za-z0-9_.-]{0,8}"),
    )
        .prop_map(|(h, p, t)| match t {
            Some(t) => format!("{h}/{p}:{t}"),
            None => format!("{h}/{p}"),
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    /// For every reference that parses, the pull host is the text before the
    /// first `/` of the canonical form (what containerd computes), and it is
    /// the domain unless the name has none; a name has none only when its
    /// first component has a `.` and an `_` (lowercase, no `:`), and then the
    /// pull path is the rest of the path.
    #[test]
    fn pull_host_is_the_domain_or_the_first_component(s in near_host_reference()) {
        let Ok(r) = ImageRef::parse(&s) else {
            return Ok(());
        };
        let canonical = r.to_string();
        prop_assert_eq!(r.pull_host(), containerd_host(&canonical));
        let first = s.split('/').next().unwrap();
        if r.domain().is_empty() {
            prop_assert!(r.is_pull_host_from_path());
            prop_assert_eq!(r.pull_host(), first);
            prop_assert!(first.contains('.') && first.contains('_'), "{}", s);
            prop_assert!(!first.contains(':'));
            prop_assert!(!first.bytes().any(|b| b.is_ascii_uppercase()));
            prop_assert_eq!(r.pull_path().to_string(), &r.path().to_string()[first.len() + 1..]);
        } else {
            prop_assert!(!r.is_pull_host_from_path());
            prop_assert_eq!(r.pull_host(), r.domain());
            prop_assert_eq!(r.pull_path(), r.path());
        }
        let owned = Reference::parse(&s).unwrap();
        prop_assert_eq!(owned.pull_host(), r.pull_host());
    }

    /// A deny rule on `*.evil.com` never lets through an image pulled from a
    /// host one label under `evil.com`, whatever the label (valid or not).
    #[test]
    fn a_registry_deny_rule_denies_every_pull_from_it(
        label in "[a-zA-Z0-9_-]{1,6}|[a-z0-9]{1,3}_[a-z0-9]{1,3}",
        rest in "[a-z0-9]{1,6}(/[a-z0-9]{1,6}){0,2}",
    ) {
        let policy = Policy::builder().deny_registry("*.evil.com").build().unwrap().policy;
        let image = format!("{label}.evil.com/{rest}");
        let d = policy.evaluate(&image, &Context::new());
        prop_assert!(!d.allowed(), "{} allowed: {}", image, d);
        if let Some(r) = d.reference() {
            prop_assert_eq!(r.pull_host(), format!("{label}.evil.com"));
            prop_assert_eq!(d.code(), DecisionCode::DeniedByRule);
        }
    }

    /// An allow list of registries admits an image only when its pull host
    /// is allowed.
    #[test]
    fn an_allow_list_holds_for_the_pull_host(s in near_host_reference()) {
        let policy = Policy::builder()
            .allow_registry("registry.my.com")
            .allow_repository("*/*/app")
            .build()
            .unwrap()
            .policy;
        let d = policy.evaluate(&s, &Context::new());
        if d.allowed() {
            let r = d.reference().unwrap();
            let host = r.pull_host().to_ascii_lowercase();
            let segments = r.pull_path().segments().count();
            prop_assert!(
                host == "registry.my.com"
                    || (segments == 2 && r.pull_path().segments().last() == Some("app")),
                "{} allowed: {}", s, d
            );
        }
    }
}
