//! Property tests of the parser's invariants, and of its agreement with
//! `oci-spec`'s parser where both accept.

use image_policy_core::reference::{ImageRef, Reference};
use proptest::prelude::*;
use std::str::FromStr;

/// A registry host: DNS names (any case), IPv4, IPv6, `localhost`, the Docker
/// Hub names, with an optional port; sometimes malformed.
fn domain() -> impl Strategy<Value = String> {
    let host = prop_oneof![
        "[a-zA-Z0-9]{1,6}(-{0,2}[a-zA-Z0-9]{1,4})?(\\.[a-zA-Z0-9]{1,6}){0,3}",
        "(25[0-5]|2[0-4][0-9]|1?[0-9]{1,2})(\\.(25[0-5]|2[0-4][0-9]|1?[0-9]{1,2})){3}",
        "\\[[0-9a-fA-F:]{1,12}\\]",
        Just("localhost".to_owned()),
        Just("docker.io".to_owned()),
        Just("index.docker.io".to_owned()),
        Just("registry.my.com".to_owned()),
        "[a-z_.:-]{1,8}",
    ];
    (host, proptest::option::of("[0-9]{1,5}")).prop_map(|(h, p)| match p {
        Some(p) => format!("{h}:{p}"),
        None => h,
    })
}

/// A repository path of 1 to 4 components, mostly valid.
fn path() -> impl Strategy<Value = String> {
    let component = prop_oneof![
        8 => "[a-z0-9]{1,8}(([._]|__|-{1,3})[a-z0-9]{1,6}){0,2}",
        1 => "[a-zA-Z0-9._-]{1,8}",
    ];
    proptest::collection::vec(component, 1..=4).prop_map(|c| c.join("/"))
}

/// A tag, mostly valid.
fn tag() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => "[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}",
        1 => "[A-Za-z0-9_.:@-]{0,10}",
    ]
}

/// A digest of a supported or unsupported algorithm, of the right length or not.
fn digest() -> impl Strategy<Value = String> {
    let algorithm = prop_oneof![
        4 => Just("sha256"),
        1 => Just("sha384"),
        1 => Just("sha512"),
        1 => Just("md5"),
        1 => Just("SHA256"),
    ];
    let len = prop_oneof![Just(64usize), Just(96), Just(128), 0usize..130];
    (algorithm, len, "[0-9a-fA-F]{130}")
        .prop_map(|(alg, len, hex)| format!("{alg}:{}", &hex[..len]))
}

/// A reference assembled from parts, sometimes with a domain, tag and digest.
fn reference() -> impl Strategy<Value = String> {
    (
        proptest::option::of(domain()),
        path(),
        proptest::option::of(tag()),
        proptest::option::of(digest()),
    )
        .prop_map(|(d, p, t, g)| {
            let mut s = d.map(|d| format!("{d}/")).unwrap_or_default();
            s += &p;
            if let Some(t) = t {
                s += &format!(":{t}");
            }
            if let Some(g) = g {
                s += &format!("@{g}");
            }
            s
        })
}

/// Any string: references, references with a character changed, and noise.
fn any_input() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => reference(),
        2 => (reference(), any::<prop::sample::Index>(), any::<char>()).prop_map(|(s, i, c)| {
            let mut chars: Vec<char> = s.chars().collect();
            let at = i.index(chars.len().max(1)).min(chars.len());
            chars.insert(at, c);
            chars.into_iter().collect()
        }),
        1 => ".*",
        1 => "[a-f0-9]{64}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    /// Parsing never panics, and an error points inside the input.
    #[test]
    fn parsing_never_panics(s in any_input()) {
        match ImageRef::parse(&s) {
            Ok(_) => {}
            Err(e) => {
                prop_assert!(e.offset() <= s.len());
                prop_assert!(!e.to_string().is_empty());
            }
        }
        let _ = ImageRef::parse_verbatim(&s);
    }

    /// The canonical and familiar forms parse back to the same reference, and
    /// normalization is idempotent.
    #[test]
    fn canonical_and_familiar_round_trip(s in reference()) {
        if let Ok(r) = ImageRef::parse(&s) {
            let canonical = r.to_string();
            let again = ImageRef::parse(&canonical).expect("canonical form parses");
            prop_assert_eq!(again, r);
            prop_assert_eq!(again.to_string(), canonical.clone());
            let familiar = r.familiar().to_string();
            let from_familiar = ImageRef::parse(&familiar).expect("familiar form parses");
            // Upstream's familiar form is ambiguous for a Docker Hub path whose
            // first component looks like a host (`docker.io/a.b/c` -> `a.b/c`);
            // we print what upstream prints, so that case reads back elsewhere.
            let first = familiar.split('/').next().unwrap_or_default();
            let ambiguous = r.domain() == "docker.io"
                && familiar.contains('/')
                && (first.contains(['.', ':']) || first == "localhost");
            if ambiguous {
                prop_assert_ne!(from_familiar.domain(), "docker.io");
            } else {
                prop_assert_eq!(from_familiar.to_string(), canonical.clone());
            }
            let docker_ref = r.docker_ref().to_string();
            prop_assert!(ImageRef::parse(&docker_ref).is_ok());
            // The owned form agrees with the borrowed one.
            let owned = Reference::parse(&s).expect("owned parse agrees");
            prop_assert_eq!(owned.as_str(), canonical.as_str());
            prop_assert_eq!(owned.domain(), r.domain());
            prop_assert_eq!(owned.path(), r.path().to_string());
            prop_assert_eq!(owned.tag(), r.tag());
            prop_assert_eq!(owned.digest(), r.digest());
            prop_assert_eq!(owned.as_image_ref(), r);
            // Spans slice the input to exactly the parts.
            if let Some(span) = r.tag_span() {
                prop_assert_eq!(Some(span.slice(&s)), r.tag());
            }
            if let Some(span) = r.digest_span() {
                prop_assert_eq!(span.slice(&s), r.digest().unwrap().to_string());
            }
            prop_assert_eq!(r.path_span().slice(&s), r.path().as_written());
        }
    }

    /// Where `oci-spec`'s parser and ours both accept, they agree on every
    /// part, but for the known differences, which are asserted, not skipped:
    ///
    /// 1. `oci-spec` fills in the tag `latest` when neither tag nor digest is
    ///    written; we report no tag (and [`ImageRef::effective_tag`] is `latest`).
    /// 2. A first component with uppercase letters but no `.` or `:` (`Foo/bar`)
    ///    is a registry host to the runtime (`splitDockerDomain` lowercases to
    ///    compare); `oci-spec` puts it on Docker Hub as part of the path.
    /// 3. A first component with `_` and `.` (`a_b.c/d`) is not a valid host, so
    ///    the runtime reads the whole name as a path with no domain; `oci-spec`
    ///    splits it off as the registry.
    ///
    /// Inputs only one side accepts are other known differences: `oci-spec`
    /// rejects IPv6 hosts, and accepts uppercase hex in digests and a 64-hex
    /// repository name, which the runtime rejects.
    #[test]
    fn agrees_with_oci_spec_where_both_accept(s in reference()) {
        let (Ok(ours), Ok(theirs)) = (ImageRef::parse(&s), oci_spec::distribution::Reference::from_str(&s)) else {
            return Ok(());
        };
        let first = s.split_once('/').map(|(first, _)| first);
        let uppercase_host = first.is_some_and(|f| {
            !f.contains(['.', ':']) && f.bytes().any(|b| b.is_ascii_uppercase())
        });
        let underscore_host = ours.domain().is_empty();
        if uppercase_host {
            prop_assert_eq!(theirs.registry(), "docker.io");
            prop_assert_eq!(ours.domain(), first.unwrap());
        } else if underscore_host {
            prop_assert_eq!(Some(theirs.registry()), first);
            prop_assert_eq!(ours.path().to_string(), s.split([':', '@']).next().unwrap());
        } else {
            prop_assert_eq!(theirs.registry(), ours.domain());
            prop_assert_eq!(theirs.repository(), ours.path().to_string());
        }
        match (ours.tag(), ours.digest()) {
            (None, None) => prop_assert_eq!(theirs.tag(), Some("latest")),
            (tag, _) => prop_assert_eq!(theirs.tag(), tag),
        }
        prop_assert_eq!(theirs.digest().map(str::to_owned), ours.digest().map(|d| d.to_string()));
    }
}

/// The known differences named above, pinned with one example each.
#[test]
fn known_differences_from_oci_spec() {
    let oci = |s: &str| oci_spec::distribution::Reference::from_str(s);
    // IPv6 hosts: the runtime accepts them, oci-spec does not.
    assert!(ImageRef::parse("[::1]:5000/app").is_ok());
    assert!(oci("[::1]:5000/app").is_err());
    // Uppercase hex digits in a digest: the runtime rejects them.
    let upper = format!("app@sha256:{}", "A".repeat(64));
    assert!(ImageRef::parse(&upper).is_err());
    assert!(oci(&upper).is_ok());
    // A 64-hex repository name would be taken for an image ID.
    let id = "a".repeat(64);
    assert!(ImageRef::parse(&id).is_err());
    assert!(oci(&id).is_ok());
    // An uppercase first component is a registry host.
    assert_eq!(ImageRef::parse("Foo/bar").unwrap().domain(), "Foo");
    assert_eq!(oci("Foo/bar").unwrap().registry(), "docker.io");
}
