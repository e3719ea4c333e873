//! Problems found while loading a policy: errors (the policy is rejected) and
//! warnings (it loads, but probably does not say what its author meant).
//!
//! Each problem has a [`DiagnosticCode`]. The codes are declared once, by the
//! `diagnostic_codes!` table below: each row gives the variant, the string
//! ([`DiagnosticCode::as_str`]), the severities it comes with, and the one
//! sentence that is both the variant's documentation and
//! [`DiagnosticCode::description`], so the list people read and the list
//! programs read cannot drift apart.

use std::fmt;

/// Where something is in a policy source, 1-based. `Display` is
/// `origin:line:column`, the form editors and terminals link.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Location {
    /// The file name, or a pseudo-origin such as `<flags>` or `<builder>`.
    pub origin: String,
    /// The line, from 1.
    pub line: usize,
    /// The column (in characters), from 1.
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.origin, self.line, self.column)
    }
}

/// How bad a [`Diagnostic`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Severity {
    /// The policy loads, but a rule probably does not do what was meant.
    Warning,
    /// The policy is rejected.
    Error,
}

impl Severity {
    /// `"warning"` or `"error"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Declares [`DiagnosticCode`] and its tables from one list of
/// `Variant = "code", "severity": "description";` rows.
macro_rules! diagnostic_codes {
    ($($variant:ident = $code:literal, $severity:literal: $description:literal;)*) => {
        /// What kind of problem a [`Diagnostic`] is, as a stable code
        /// ([`DiagnosticCode::as_str`]) that scripts and tests can match on.
        ///
        /// Each variant's documentation is its string, the severity it is
        /// reported with and its [`DiagnosticCode::description`]. Only
        /// `rewrite-target-denied` comes with either severity: an error when
        /// the cluster's rules deny every rewritten image, a warning when they
        /// may deny some; the [`Diagnostic::severity`] says which.
        ///
        /// Serialized as its string.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum DiagnosticCode {
            $(
                #[doc = concat!("`", $code, "` (", $severity, "): ", $description)]
                $variant,
            )*
        }

        impl DiagnosticCode {
            /// Every code: the errors of reading the source, then those of its
            /// rules, then the warnings.
            pub const ALL: [DiagnosticCode; [$($code),*].len()] = [$(DiagnosticCode::$variant),*];

            /// The code as a string, such as `unknown-key`, `bad-registry` or
            /// `regex-unescaped-dot` (each variant's documentation gives its string).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(DiagnosticCode::$variant => $code,)*
                }
            }

            /// One sentence for people: what the problem is and what to do
            /// about it (the same sentence documents the variant).
            pub fn description(self) -> &'static str {
                match self {
                    $(DiagnosticCode::$variant => $description,)*
                }
            }
        }
    };
}

diagnostic_codes! {
    Syntax = "syntax", "error":
        "The source is not well-formed YAML or JSON; fix the text at the position given.";
    UnknownKey = "unknown-key", "error":
        "A key the policy format does not have, often a misspelling; use the key the message suggests, or remove it.";
    DuplicateKey = "duplicate-key", "error":
        "A key appears twice in one map; keep one of them.";
    WrongType = "wrong-type", "error":
        "A value has the wrong type (a string where a list or a map is expected, a number where a boolean is); write it as the message shows.";
    MissingKey = "missing-key", "error":
        "A required key is missing (a namespace entry's `names`, a rewrite rule's `from` or `to`); add it.";
    BadValue = "bad-value", "error":
        "A value is not one of those allowed (a `mode` other than enforce, warn or audit, a `combine` other than add or replace); use one of them.";
    BadRule = "bad-rule", "error":
        "A rule does not have exactly one of `registry`, `repository` or `regex`; write one rule per key.";
    BadRegistry = "bad-registry", "error":
        "A `registry` rule is not a registry `host[:port]`; write the host as image references do, without a scheme or a path.";
    BadRepository = "bad-repository", "error":
        "A `repository` pattern is not a valid pattern (an empty segment, a character a repository cannot have, more than one `**`, a first segment that is not a registry); correct it as the message says.";
    BadKey = "bad-key", "error":
        "A verify rule's public key is not usable (not PEM, not a PUBLIC KEY, a key kind or curve the verifier does not check, a keyFile that cannot be read); write a PEM public key of ECDSA P-256 or P-384, RSA or Ed25519.";
    BadRegex = "bad-regex", "error":
        "A regex does not compile, or the regexes of one list are too big to compile together; correct or simplify it.";
    BadTag = "bad-tag", "error":
        "A denied tag is not a valid tag (`[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`), so no image could have it; correct it.";
    BadNamespace = "bad-namespace", "error":
        "A namespace name is not a DNS-1123 label (lowercase letters, digits and `-`, at most 63 characters); correct it.";
    EmptyNamespaces = "empty-namespaces", "error":
        "A `namespaces[]` entry has an empty `names` list, so its rules would apply nowhere; list its namespaces or remove the entry.";
    BadBreakGlass = "bad-break-glass", "error":
        "The break-glass settings cannot work (an empty `value`, which every annotation would match, or an annotation key that is not one); correct them.";
    ConflictingRules = "conflicting-rules", "error":
        "The same rule is both allowed and denied, or a namespace is in two `namespaces[]` entries; keep one of them.";
    BadRewrite = "bad-rewrite", "error":
        "A rewrite rule's `from` or `to` is not a registry with a valid repository path; write it as `host[:port][/path]`.";
    BadExemption = "bad-exemption", "error":
        "An `exempt:` entry cannot work: not exactly one of `image`, `registry`, `repository` or `regex`, an `image` that does not parse, an empty `from` or `reason`, a kind it cannot lift (`allow`: an exemption from the allow list is an `allow:` rule); correct it as the message says.";
    RewriteLoop = "rewrite-loop", "error":
        "A rewrite rule's `to` is under a rule's `from`, so rewriting an image twice would not be rewriting it once; change the `to` or the `from`.";
    RewriteTargetDenied = "rewrite-target-denied", "error or warning":
        "The cluster's rules deny every image a rewrite rule makes (an error) or may deny some (a warning, with repository or regex allow rules); allow its `to`, or change the rule.";
    RegexUnescapedDot = "regex-unescaped-dot", "warning":
        "A regex has an unescaped `.` between host-like labels, so `registry.my.com` also matches `registryXmy.com`; write `\\.` for a dot.";
    NeverMatches = "never-matches", "warning":
        "A rule can never match or never apply (in an exempt namespace, longer than any repository, a regex looking for a tag, a tag rule beside `requireDigest`, a rewrite an earlier one covers); remove or correct it.";
    DenyShadowsAllow = "deny-shadows-allow", "warning":
        "An allow rule never allows anything, because a deny rule always denies first; remove one of the two.";
    DuplicateRule = "duplicate-rule", "warning":
        "A rule repeats an earlier one of the same list; remove the copy.";
    DockerHubAlias = "docker-hub-alias", "warning":
        "A registry is another name of Docker Hub, which image references call `docker.io`, and the rule is read as `docker.io`; write `docker.io`.";
    DockerHubLibrary = "docker-hub-library", "warning":
        "A Docker Hub path may not mean what it seems (a pattern `docker.io/*` is read as the official images `docker.io/library/*`; a rewrite `from: docker.io/nginx` is not the official nginx); write the path in full, such as `docker.io/library/nginx` or `docker.io/**`.";
    RewriteCollision = "rewrite-collision", "warning":
        "Two rewrite rules send different sources to the same names (`docker.io/prometheus/x` and `quay.io/prometheus/x` both to `registry.my.com/mirror/prometheus/x`), so two images would run under one name; give each source its own `to`.";
    RewriteNotNeeded = "rewrite-not-needed", "warning":
        "The cluster's rules allow the images a rewrite rule's `from` matches in every namespace, so the rule changes where they are pulled from but no decision; keep it only for that.";
}

impl fmt::Display for DiagnosticCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for DiagnosticCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// The message for a value written with a URL scheme where a registry
/// (`host[:port]`, perhaps with a path) is expected, such as
/// `https://registry.my.com`: `"https://registry.my.com" has a scheme
/// (https://), but a registry is written without one, as in image
/// references: write "registry.my.com"`; `None` without a scheme. `what`
/// names the value (`registry`, `rewrite to`). The one hint of the policy
/// file's diagnostics and of the command-line flags.
pub fn scheme_hint(value: &str, what: &str) -> Option<String> {
    let (scheme, rest) = value.split_once("://")?;
    Some(format!(
        "{value:?} has a scheme ({scheme}://), but a {what} is written without one, as in image references: write {rest:?}"
    ))
}

/// One problem in a policy: what, how bad, a stable machine-readable code and
/// where. `Display` is `origin:line:column: severity[code]: message`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// What kind of problem it is: a stable code such as `unknown-key`,
    /// `bad-registry`, `regex-unescaped-dot`.
    pub code: DiagnosticCode,
    /// A sentence a person understands, naming the offending text.
    pub message: String,
    /// Where the problem is, when the source had positions.
    pub location: Option<Location>,
}

impl Diagnostic {
    pub(crate) fn error(
        code: DiagnosticCode,
        message: impl Into<String>,
        location: Option<Location>,
    ) -> Self {
        Self {
            severity: Severity::Error,
            code,
            message: message.into(),
            location,
        }
    }

    pub(crate) fn warning(
        code: DiagnosticCode,
        message: impl Into<String>,
        location: Option<Location>,
    ) -> Self {
        Self {
            severity: Severity::Warning,
            code,
            message: message.into(),
            location,
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(location) = &self.location {
            write!(f, "{location}: ")?;
        }
        write!(f, "{}[{}]: {}", self.severity, self.code, self.message)
    }
}

/// A policy that cannot be loaded, with *every* problem found (errors, and the
/// warnings found along the way), sorted by position.
///
/// `Display` prints one diagnostic per line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyError {
    diagnostics: Vec<Diagnostic>,
}

impl PolicyError {
    /// `diagnostics` must hold at least one error.
    pub(crate) fn new(mut diagnostics: Vec<Diagnostic>) -> Self {
        debug_assert!(diagnostics.iter().any(|d| d.severity == Severity::Error));
        sort(&mut diagnostics);
        Self { diagnostics }
    }

    /// Every problem, errors and warnings, in source order.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.diagnostics
    }

    /// Only the errors.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
    }
}

/// Sorts diagnostics by origin, line and column (those without a location last),
/// keeping the order of finding among equals.
pub(crate) fn sort(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by(|a, b| {
        let key = |d: &Diagnostic| {
            d.location
                .as_ref()
                .map(|l| (0, l.origin.clone(), l.line, l.column))
                .unwrap_or((1, String::new(), 0, 0))
        };
        key(a).cmp(&key(b))
    });
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PolicyError {}

#[cfg(test)]
mod tests {
    use super::{Diagnostic, DiagnosticCode, Location};

    #[test]
    fn every_code_is_listed_once_with_a_description() {
        let names: std::collections::BTreeSet<_> =
            DiagnosticCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), DiagnosticCode::ALL.len());
        for code in DiagnosticCode::ALL {
            let name = code.as_str();
            assert!(
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
                "{name:?}"
            );
            let d = code.description();
            assert!(d.ends_with('.') && d.len() > 20, "{code}: {d}");
        }
    }

    #[test]
    fn code_prints_and_serializes_as_its_string() {
        let d = Diagnostic::warning(
            DiagnosticCode::RegexUnescapedDot,
            "regex has an unescaped '.'",
            Some(Location {
                origin: "p.yaml".to_owned(),
                line: 2,
                column: 12,
            }),
        );
        assert_eq!(
            d.to_string(),
            "p.yaml:2:12: warning[regex-unescaped-dot]: regex has an unescaped '.'"
        );
        assert_eq!(
            serde_json::to_string(&DiagnosticCode::ALL).unwrap(),
            format!(
                "[{}]",
                DiagnosticCode::ALL
                    .iter()
                    .map(|c| format!("\"{c}\""))
                    .collect::<Vec<_>>()
                    .join(",")
            )
        );
    }
}
