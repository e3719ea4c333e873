//! The rule layer: what a compiled policy keeps of each rule (documented
//! in the policy module, "The rule layer").

use super::Location;
use std::fmt;

/// An allow, deny or pin rule's pattern, checked and normalized as the matchers
/// read it (see [the rule layer](super#the-rule-layer)).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Pattern {
    /// `registry: HOST[:PORT]`: the registry, normalized (`docker.io` for
    /// Docker Hub's other names).
    Registry(String),
    /// `registry: "*.SUFFIX"`: the normalized suffix after `*.`; one more
    /// leading DNS label, no other port.
    WildcardRegistry(String),
    /// `repository: PATTERN`: the normalized domain, then the path, as
    /// segments (at least two).
    Repository(Vec<Segment>),
    /// `regex: REGEX`, as written: it matches the whole `domain/path`, the
    /// domain lowercase.
    Regex(String),
}

/// One segment of a normalized repository pattern ([`Pattern::Repository`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Segment {
    /// Matches exactly this segment (lowercase; the first segment is a
    /// normalized domain).
    Literal(String),
    /// `*`: any one segment (as the first segment: any registry).
    Any,
    /// A segment with `*` inside (`app-*`): `*` matches any run of
    /// characters within the segment.
    Glob(String),
    /// `**`: one or more whole segments.
    AnyDepth,
}

/// The kind of a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RuleKind {
    /// `registry: HOST[:PORT]`.
    Registry,
    /// `repository: PATTERN`.
    Repository,
    /// `regex: REGEX`.
    Regex,
    /// `tags.deny[i]`.
    DenyTag,
    /// `tags.requireTagOrDigest`.
    RequireTagOrDigest,
    /// `tags.requireDigest`.
    RequireDigest,
    /// `tags.allowMatching`.
    AllowTagMatching,
    /// `rewrite[i]`: its pattern is `FROM=TO`.
    Rewrite,
    /// `pin[i]` (or `namespaces[n].pin[i]`): a registry, repository or
    /// regex rule whose images must have a digest; its form is its
    /// [`Pattern`] ([`RuleInfo::normalized`]).
    Pin,
    /// `exempt[i]` (or `namespaces[n].exempt[i]`): an exemption; its
    /// pattern is the image or pattern as written, its form, reason and
    /// kinds are in [`ExemptionInfo`](super::ExemptionInfo)
    /// ([`Policy::exemptions`](super::Policy::exemptions)).
    Exempt,
    /// `verify[i]` (or `namespaces[n].verify[i]`): a registry, repository
    /// or regex scope whose images must be pinned and signed by one of its
    /// keys ([`Policy::verify_requirements`](super::Policy::verify_requirements)).
    Verify,
}

impl RuleKind {
    /// `registry`, `repository`, `regex`, `deny-tag`, `require-tag-or-digest`,
    /// `require-digest`, `allow-tag-matching`, `rewrite`, `pin`, `exempt`,
    /// `verify`.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::Registry => "registry",
            RuleKind::Repository => "repository",
            RuleKind::Regex => "regex",
            RuleKind::DenyTag => "deny-tag",
            RuleKind::RequireTagOrDigest => "require-tag-or-digest",
            RuleKind::RequireDigest => "require-digest",
            RuleKind::AllowTagMatching => "allow-tag-matching",
            RuleKind::Rewrite => "rewrite",
            RuleKind::Pin => "pin",
            RuleKind::Exempt => "exempt",
            RuleKind::Verify => "verify",
        }
    }
}

impl fmt::Display for RuleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rule of a compiled policy, read-only: its identity (index, kind,
/// path, pattern as written, source) and, for allow and deny rules, its
/// normalized [`Pattern`]. What a [`Decision`](super::Decision) names,
/// what [`Policy::rules`](super::Policy::rules) lists. `Display` writes
/// `allow[0] (registry registry.my.com) at policy.yaml:2:15`.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct RuleInfo<'p> {
    /// The index of the rule in its list (`allow[2]` has index 2).
    pub index: usize,
    /// What kind of rule it is.
    pub kind: RuleKind,
    /// Where it is in the policy, as a path: `allow[2]`,
    /// `namespaces[0].deny[1]`, `tags.requireDigest`.
    pub path: &'p str,
    /// The pattern as written (`registry.my.com`, `quay.io/prometheus/*`,
    /// `latest`), empty for the boolean tag rules.
    pub pattern: &'p str,
    /// Where it is in the source, when it came from a file.
    pub location: Option<&'p Location>,
    /// The file name or pseudo-origin (`<flags>`, `<builder>`) it came from.
    pub origin: &'p str,
    /// The pattern as the matchers read it, for an allow, deny or pin rule
    /// (registry, repository or regex); `None` for tag and rewrite rules
    /// (a rewrite's normalized form is [`Policy::rewrite_rules`](super::Policy::rewrite_rules)).
    pub normalized: Option<&'p Pattern>,
}

impl<'p> RuleInfo<'p> {
    /// The rule's identity, owned (as [`Reference`](crate::reference::Reference)
    /// is to [`ImageRef`](crate::reference::ImageRef)): for errors and
    /// reports that outlive the policy.
    pub fn into_owned(self) -> RuleIdentity {
        RuleIdentity {
            index: self.index,
            kind: self.kind,
            path: self.path.to_owned(),
            pattern: self.pattern.to_owned(),
            location: self.location.cloned(),
            origin: self.origin.to_owned(),
        }
    }
}

impl fmt::Display for RuleInfo<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_rule(
            f,
            self.path,
            self.kind,
            self.pattern,
            self.location,
            self.origin,
        )
    }
}

impl From<RuleInfo<'_>> for RuleIdentity {
    fn from(rule: RuleInfo<'_>) -> Self {
        rule.into_owned()
    }
}

/// A rule's identity, owned: what [`RuleInfo`] says of a rule but its
/// normalized pattern, for values that outlive the policy (a
/// [`RewriteError`](super::rewrite::RewriteError), an
/// [`OwnedDecision`](super::OwnedDecision)). `Display` writes what
/// [`RuleInfo`]'s does.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct RuleIdentity {
    /// The index of the rule in its list (`allow[2]` has index 2).
    pub index: usize,
    /// What kind of rule it is.
    pub kind: RuleKind,
    /// Where it is in the policy, as a path (`allow[2]`, `rewrite[0]`).
    pub path: String,
    /// The pattern as written, empty for the boolean tag rules.
    pub pattern: String,
    /// Where it is in the source, when it came from a file.
    pub location: Option<Location>,
    /// The file name or pseudo-origin (`<flags>`, `<builder>`) it came from.
    pub origin: String,
}

impl RuleIdentity {
    /// Where the rule was written: its location (`policy.yaml:3:5`), or its
    /// origin (`<flags>`) when it has none.
    pub fn source(&self) -> String {
        match &self.location {
            Some(l) => l.to_string(),
            None => self.origin.clone(),
        }
    }
}

impl fmt::Display for RuleIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_rule(
            f,
            &self.path,
            self.kind,
            &self.pattern,
            self.location.as_ref(),
            &self.origin,
        )
    }
}

/// `path (kind pattern) at location` or `... from origin`.
fn write_rule(
    f: &mut fmt::Formatter<'_>,
    path: &str,
    kind: RuleKind,
    pattern: &str,
    location: Option<&Location>,
    origin: &str,
) -> fmt::Result {
    f.write_str(path)?;
    if !pattern.is_empty() {
        write!(f, " ({kind} {pattern})")?;
    }
    match location {
        Some(location) => write!(f, " at {location}"),
        None => write!(f, " from {origin}"),
    }
}
