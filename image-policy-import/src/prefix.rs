//! A `startswith` prefix on the image as written (Gatekeeper's
//! `K8sAllowedRepos` / `K8sDisallowedRepos`), read as rules on parsed names.
//!
//! An allow prefix is read narrowly: `registry.my.com` is the registry
//! `registry.my.com` (not `registry.my.com.evil.io`), `registry.my.com/team`
//! the repository and what is under it (not `registry.my.com/team-x`),
//! `nginx` the official image `docker.io/library/nginx`. A deny prefix is
//! read widely: a regex rule denying every name that the prefix denied, in
//! every spelling (Docker Hub's short and long forms, any case).

use crate::draft::Rule;
use crate::{ImportError, ImportErrorKind, Note, NoteKind, Origin};
use image_policy_core::reference::ImageRef;

/// Whether the first component of a name is a registry, as
/// `distribution/reference` splits it: it has a `.` or a `:`, or is
/// `localhost`, or has an uppercase letter.
pub(crate) fn is_host_like(component: &str) -> bool {
    component.contains(['.', ':'])
        || component == "localhost"
        || component.chars().any(|c| c.is_ascii_uppercase())
}

/// The normalized name of `text` (no tag, no digest), when it parses.
fn name_of(text: &str) -> Option<String> {
    let r = ImageRef::parse(text).ok()?;
    if r.tag().is_some() || r.digest().is_some() {
        return None;
    }
    Some(r.name().to_string())
}

/// Whether the prefix reaches into a tag or digest: a `@`, or a `:` after
/// the first `/`, or, without a `/`, a `:` after a name that is not a host.
fn reaches_into_tag(p: &str) -> bool {
    if p.contains('@') {
        return true;
    }
    match p.split_once('/') {
        Some((_, rest)) => rest.contains(':'),
        None => match p.split_once(':') {
            Some((head, _)) => !is_host_like(head),
            None => false,
        },
    }
}

/// Concrete names the prefix admits as written, that `rules` do not: the
/// report's examples. Each one parses.
fn examples(p: &str, host_only: bool) -> Vec<String> {
    let mut candidates = Vec::new();
    if host_only {
        candidates.push(format!("{p}.evil.io/x"));
        candidates.push(format!("{p}-x/y"));
        if !p.contains(':') {
            candidates.push(format!("{p}:5000/x"));
        }
    } else if p.ends_with('/') {
        // Everything under `p` is meant; nothing more is admitted.
        return Vec::new();
    } else {
        candidates.push(format!("{p}-x/y"));
        candidates.push(format!("{p}x"));
    }
    candidates
        .into_iter()
        .filter(|c| ImageRef::parse(c).is_ok())
        .collect()
}

/// An allow prefix as the narrowest rules that admit what it says.
pub(crate) fn allow_rules(
    p: &str,
    origin: &Origin,
    notes: &mut Vec<Note>,
) -> Result<Vec<Rule>, ImportError> {
    let invalid = |why: &str| {
        ImportError::new(
            ImportErrorKind::InvalidValue,
            origin.clone(),
            format!("cannot read the prefix {p:?}: {why}"),
        )
    };
    if p.is_empty() {
        return Err(invalid(
            "an empty prefix admits every image; remove the constraint instead",
        ));
    }
    if reaches_into_tag(p) {
        return Err(invalid("it reaches into a tag or digest"));
    }
    let trimmed = p.strip_suffix('/').unwrap_or(p);
    let (first, rest) = match trimmed.split_once('/') {
        Some((f, r)) => (f, Some(r)),
        None => (trimmed, None),
    };
    if rest.is_none() && is_host_like(first) {
        // A registry (with or without its `/`).
        let probe = format!("{first}/x");
        let r = ImageRef::parse(&probe).map_err(|e| invalid(&e.to_string()))?;
        if r.domain() != first && !first.eq_ignore_ascii_case(r.domain()) {
            return Err(invalid("it is not a registry host[:port]"));
        }
        if !p.ends_with('/') {
            notes.push(Note {
                kind: NoteKind::Narrowed,
                origin: origin.clone(),
                message: format!(
                    "the prefix {p:?} ends inside a host name: read as the registry {first} only; the old policy also admitted every registry whose name starts with it"
                ),
                examples: examples(p, true),
            });
        }
        spelling_note(first, origin, notes);
        return Ok(vec![Rule::new("registry", first, origin)]);
    }
    // Under `p/`: the name of `p/x` without its last component (`openpolicyagent/`
    // is the Docker Hub namespace, not `library/openpolicyagent`).
    let name = if p.ends_with('/') {
        name_of(&format!("{trimmed}/x")).and_then(|n| n.strip_suffix("/x").map(str::to_owned))
    } else {
        name_of(trimmed)
    }
    .ok_or_else(|| invalid("it is not the start of an image name"))?;
    let mut out = Vec::new();
    if rest.is_none() && !p.ends_with('/') {
        // `nginx`: the official image (the old prefix also admitted
        // `nginx-x`, `nginxinc/...`, `nginx/...`).
        notes.push(Note {
            kind: NoteKind::Narrowed,
            origin: origin.clone(),
            message: format!(
                "the prefix {p:?} names no registry: read as the Docker Hub image {name} only; the old policy admitted every name starting with it"
            ),
            examples: examples(p, false),
        });
        out.push(Rule::new("repository", name, origin));
    } else if p.ends_with('/') {
        out.push(Rule::new("repository", format!("{name}/**"), origin));
    } else {
        notes.push(Note {
            kind: NoteKind::Narrowed,
            origin: origin.clone(),
            message: format!(
                "the prefix {p:?} ends inside a path component: read as the repository {name} and what is under it"
            ),
            examples: examples(p, false),
        });
        out.push(Rule::new("repository", name.clone(), origin));
        out.push(Rule::new("repository", format!("{name}/**"), origin));
    }
    spelling_note(first, origin, notes);
    Ok(out)
}

/// The note for Docker Hub's spellings: the old engine compared strings.
fn spelling_note(first: &str, origin: &Origin, notes: &mut Vec<Note>) {
    let hub = !is_host_like(first)
        || ["docker.io", "index.docker.io", "registry-1.docker.io"]
            .iter()
            .any(|h| first.eq_ignore_ascii_case(h));
    if !hub {
        return;
    }
    let message = "Docker Hub names are compared parsed: every spelling (`nginx`, `library/nginx`, `docker.io/library/nginx`, `index.docker.io/...`) is the same image now; the old prefix admitted only the spelling it starts with".to_owned();
    notes.push(Note {
        kind: NoteKind::Spelling,
        origin: origin.clone(),
        message,
        examples: Vec::new(),
    });
}

/// A deny prefix as a regex rule on the normalized name that denies every
/// name the prefix denied as written, in any spelling: Docker Hub's
/// prefixes (`docker.io/`, `docker.io/library/`) are optional, `index.docker.io`
/// is folded, the match ignores case.
pub(crate) fn deny_rule(p: &str, origin: &Origin) -> Result<Rule, ImportError> {
    let invalid = |why: &str| {
        ImportError::new(
            ImportErrorKind::InvalidValue,
            origin.clone(),
            format!("cannot read the prefix {p:?}: {why}"),
        )
    };
    if p.is_empty() {
        return Err(invalid(
            "an empty prefix denies every image; say so with a deny rule instead",
        ));
    }
    if p.contains('@')
        || p.split_once('/')
            .is_some_and(|(_, rest)| rest.contains(':'))
    {
        return Err(invalid("it reaches into a tag or digest"));
    }
    // Without a `/`, a `:` is a port or a tag: the part before it is also
    // denied as a Docker Hub name (stricter than the tag).
    let mut literals = vec![p.to_owned()];
    if let Some((head, _)) = p.split_once(':').filter(|_| !p.contains('/')) {
        literals.push(head.to_owned());
    }
    for hub in ["index.docker.io/", "registry-1.docker.io/"] {
        // Compared as bytes: `p` may have a multi-byte character where the
        // host would end.
        if p.len() >= hub.len() && p.as_bytes()[..hub.len()].eq_ignore_ascii_case(hub.as_bytes()) {
            literals.push(format!("docker.io/{}", &p[hub.len()..]));
        }
    }
    let alternatives: Vec<String> = literals.iter().map(|l| regex_syntax::escape(l)).collect();
    let pattern = format!(
        "(?i)(?:docker\\.io/(?:library/)?)?(?:{}).*",
        alternatives.join("|")
    );
    Ok(Rule::new("regex", pattern, origin))
}

/// Whether `image` (as written) starts with `p`: the old engine's test.
pub(crate) fn admits(p: &str, image: &str) -> bool {
    image.starts_with(p)
}

/// The intersection of two sets of prefixes: the prefixes whose images
/// both admit (for each pair, the longer one when one extends the other).
pub(crate) fn intersect(a: &[String], b: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for x in a {
        for y in b {
            let keep = if y.starts_with(x.as_str()) {
                y
            } else if x.starts_with(y.as_str()) {
                x
            } else {
                continue;
            };
            if !out.contains(keep) {
                out.push(keep.clone());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Origin {
        Origin::new("c.yaml", 1, "", "repos[0]")
    }

    #[test]
    fn allow_prefixes_are_read_narrowly() {
        let cases = [
            ("registry.my.com", vec!["registry registry.my.com"]),
            ("registry.my.com/", vec!["registry registry.my.com"]),
            ("localhost:5000/", vec!["registry localhost:5000"]),
            (
                "openpolicyagent/",
                vec!["repository docker.io/openpolicyagent/**"],
            ),
            ("nginx", vec!["repository docker.io/library/nginx"]),
            (
                "registry.my.com/team",
                vec![
                    "repository registry.my.com/team",
                    "repository registry.my.com/team/**",
                ],
            ),
            (
                "docker.io/library/",
                vec!["repository docker.io/library/**"],
            ),
        ];
        for (p, want) in cases {
            let mut notes = Vec::new();
            let got: Vec<String> = allow_rules(p, &origin(), &mut notes)
                .unwrap()
                .iter()
                .map(|r| format!("{} {}", r.kind, r.pattern))
                .collect();
            assert_eq!(got, want, "{p}");
        }
    }

    #[test]
    fn host_prefix_examples_are_admitted_before() {
        let mut notes = Vec::new();
        allow_rules("registry.my.com", &origin(), &mut notes).unwrap();
        let narrowed = notes.iter().find(|n| n.kind == NoteKind::Narrowed).unwrap();
        assert!(
            narrowed
                .examples
                .contains(&"registry.my.com.evil.io/x".to_owned())
        );
        assert!(
            narrowed
                .examples
                .contains(&"registry.my.com-x/y".to_owned())
        );
        for e in &narrowed.examples {
            assert!(admits("registry.my.com", e));
        }
    }

    #[test]
    fn prefixes_into_tags_are_errors() {
        for p in ["", "nginx:1.2", "registry.my.com/app:1", "x@sha256"] {
            assert!(allow_rules(p, &origin(), &mut Vec::new()).is_err(), "{p}");
        }
    }

    #[test]
    fn intersection_keeps_the_longer_prefix() {
        let a = vec!["registry.my.com/".to_owned(), "quay.io/".to_owned()];
        let b = vec!["registry.my.com/team/".to_owned()];
        assert_eq!(intersect(&a, &b), vec!["registry.my.com/team/".to_owned()]);
        assert!(intersect(&a, &["ghcr.io/".to_owned()]).is_empty());
    }
}
