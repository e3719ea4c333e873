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

/// containerd's own answer, from `containerd-pull-host` (built by
/// `.ci/reference-tools` from `testdata/reference/containerd-pull-host`): the
/// tool at `IMAGE_POLICY_CONTAINERD_PULL_HOST`, or in
/// `target/reference-tools/`. `None` when it is missing, which fails under
/// `CI=true`.
fn containerd_pull_host_tool() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("IMAGE_POLICY_CONTAINERD_PULL_HOST")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../target/reference-tools/containerd-pull-host")
        });
    if path.is_file() {
        return Some(path);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{} is required in CI (run .ci/reference-tools)",
        path.display()
    );
    eprintln!(
        "skipped: {} is missing (run .ci/reference-tools)",
        path.display()
    );
    None
}

/// The inputs the comparison with containerd reads: every input of the
/// reference vectors and of the pull-host decision cases, and generated
/// near-hosts (a fixed seed, so a failure is reproducible).
fn comparison_inputs() -> Vec<String> {
    let mut inputs = std::collections::BTreeSet::new();
    let sample = std::fs::read_to_string(testdata("reference/reference-sample.jsonl")).unwrap();
    for line in sample.lines().filter(|l| !l.trim().is_empty()) {
        let case: Value = serde_json::from_str(line).unwrap();
        inputs.insert(case["input"].as_str().unwrap().to_owned());
    }
    let tables: Value = serde_json::from_str(
        &std::fs::read_to_string(testdata("reference/distribution-reference-tests.json")).unwrap(),
    )
    .unwrap();
    for case in tables.as_array().unwrap() {
        if let Some(input) = case["input"].as_str() {
            inputs.insert(input.to_owned());
        }
    }
    let cases = std::fs::read_to_string(testdata("policy/decisions/pull-host.yaml")).unwrap();
    for line in cases.lines() {
        if let Some(rest) = line.split("{image: \"").nth(1) {
            inputs.insert(rest.split('"').next().unwrap().to_owned());
        }
    }
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = near_host_reference();
    for _ in 0..4000 {
        let tree = proptest::strategy::Strategy::new_tree(&strategy, &mut runner).unwrap();
        inputs.insert(proptest::strategy::ValueTree::current(&tree));
    }
    // The tool reads lines.
    inputs
        .into_iter()
        .filter(|s| !s.contains(['\n', '\r']))
        .collect()
}

/// Our pull host against containerd's, computed by containerd's own code on
/// thousands of inputs: wherever both parse the reference, the hosts are the
/// same; where containerd pulls and we do not parse, we deny (never the
/// other way round for a name without a domain).
#[test]
fn pull_host_agrees_with_containerd() {
    let Some(tool) = containerd_pull_host_tool() else {
        return;
    };
    let inputs = comparison_inputs();
    let mut child = std::process::Command::new(&tool)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", tool.display()));
    let mut stdin = child.stdin.take().unwrap();
    let feed = inputs.join("\n") + "\n";
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        stdin.write_all(feed.as_bytes()).unwrap();
    });
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(output.status.success(), "{} failed", tool.display());
    let answers: Vec<Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(answers.len(), inputs.len());
    let (mut both, mut quirks, mut only_containerd) = (0, 0, Vec::new());
    let mut failures = Vec::new();
    for (input, answer) in inputs.iter().zip(&answers) {
        assert_eq!(answer["input"].as_str(), Some(input.as_str()));
        let ours = ImageRef::parse(input);
        match (ours, answer["ok"] == true) {
            (Ok(r), true) => {
                both += 1;
                quirks += usize::from(r.is_pull_host_from_path());
                let host = answer["host"].as_str().unwrap();
                if r.pull_host() != host {
                    failures.push(format!(
                        "{input:?}: pull host {:?}, containerd contacts {host:?}",
                        r.pull_host()
                    ));
                }
                if r.docker_ref().to_string() != answer["ref"].as_str().unwrap() {
                    failures.push(format!(
                        "{input:?}: pulls {}, containerd {}",
                        r.docker_ref(),
                        answer["ref"]
                    ));
                }
            }
            (Err(_), true) => only_containerd.push(input.clone()),
            _ => {}
        }
    }
    eprintln!(
        "{} inputs: {both} parsed by both ({quirks} without a domain), {} by containerd only",
        inputs.len(),
        only_containerd.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(both > 1500, "only {both} inputs parsed by both");
    assert!(quirks > 100, "only {quirks} names without a domain");
    assert!(
        only_containerd.is_empty(),
        "containerd pulls what we deny as unparseable: {only_containerd:?}"
    );
}
