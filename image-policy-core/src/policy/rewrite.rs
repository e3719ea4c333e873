//! Rewrite rules: send images to another registry (a mirror, a pull-through
//! cache, your own registry), then judge the image that will really run.
//!
//! # Matching
//!
//! A rule `{from: PREFIX, to: PREFIX}` matches on the parsed, normalized
//! reference, never on the string: `nginx`, `docker.io/nginx` and
//! `index.docker.io/library/nginx` are all `docker.io/library/nginx`, so
//! `from: docker.io/library` matches each of them. The registry of `from` is
//! compared as registry rules compare it (lowercase, the port part of it,
//! Docker Hub's other names folded into `docker.io`, IPv6 in canonical form);
//! its path, when written, must be a prefix of the image's path **at `/`
//! boundaries** (`docker.io/lib` does not match `docker.io/library/nginx`).
//! The first matching rule, in file order, then flags (`--rewrite`) order,
//! applies.
//!
//! `from` must start with a registry: a first component with a `.` or a `:`,
//! or `localhost` (as in a reference). A bare `nginx` or `library` is an
//! error that says what to write, not a guess: as a prefix it could mean the
//! official image `docker.io/library/nginx` or the namespace
//! `docker.io/nginx/…`. Likewise `from: docker.io/nginx` is taken literally
//! (the namespace), with a `docker-hub-library` warning.
//!
//! # The result
//!
//! The rewritten reference is `to`, then `/` and the part of the path below
//! `from` (when there is one), then the tag and the digest as written:
//! with `{from: docker.io, to: registry.my.com/dockerhub}`,
//! `grafana/grafana:10@sha256:…` becomes
//! `registry.my.com/dockerhub/grafana/grafana:10@sha256:…`. It is always in
//! the fully qualified form (it starts with `to`), so it reads the same to
//! every runtime. `to` is written with its registry in lowercase.
//!
//! The rewritten string is parsed again with the reference grammar; a
//! result that does not parse (a path over 255 bytes, or nothing left to
//! name a repository) is a [`RewriteError`], never a silent pass-through:
//! the webhook denies the image then.
//!
//! A reference whose [pull host](crate::reference::ImageRef::pull_host)
//! is not its domain (`x_y.evil.com/app`: no valid registry domain, and
//! containerd pulls from `x_y.evil.com`) is never rewritten: the name and
//! the pull disagree, so there is no one registry to rewrite. It is judged
//! as written (and an allow list denies it).
//!
//! # Idempotence
//!
//! A rule whose `to` could itself be matched by a `from` (the same registry,
//! and one path a prefix of the other) is an error (`rewrite-loop`): with
//! it, a mutating webhook invoked twice would rewrite twice. So rewriting a
//! rewritten reference changes nothing.
//!
//! # Checks at load
//!
//! With the cluster's rules (not a namespace's), for each rule, the probe
//! image `TO/x@sha256:0…` (pinned, so tag rules do not apply) is judged:
//! denied by a deny rule, or by an allow list of registry rules only, is an
//! error (`rewrite-target-denied`): every rewritten image would be denied;
//! not allowed by an allow list with repository or regex rules is a warning
//! (`rewrite-target-denied`), since some names under `to` may still be
//! allowed. The probe `FROM/x@sha256:0…` allowed by the cluster's rules and
//! by every namespace's is a warning (`rewrite-not-needed`): the policy does
//! not deny that image anywhere, so the rule changes where images are pulled
//! from but no decision (deeper names under `from` that a repository rule
//! denies are not probed). A rule that an earlier one always beats is a
//! warning (`never-matches`). Two rules whose targets meet (the same `to`,
//! or one under the other) for different sources, such as
//! `docker.io/prometheus/x` and `quay.io/prometheus/x` both to
//! `registry.my.com/mirror/prometheus/x`, are a warning on the later one
//! (`rewrite-collision`): two different images would run under one name.
//! A `to` that is a whole registry (RHEL docker's `--add-registry` layout,
//! `examples/rewrite.yaml`) meets every other `to` on that registry:
//! `docker.io/library/quay/x` and `quay.io/x` both become
//! `registry.my.com/quay/x`, and the warning says so.
//! A `from` or `to` written with a scheme (`https://`) gets the same hint
//! as the `--rewrite` flag ([`scheme_hint`](super::scheme_hint)).
//!
//! Rewrite rules are cluster-wide: namespaces cannot add or replace them.

use super::{Policy, RuleId};
use super::{RuleIdentity, RuleInfo};
use crate::reference::{ImageRef, ParseErrorKind, Path};
use std::fmt;

/// A rewrite rule, checked and normalized: the rewrite's part of the rule
/// layer ([`Policy::rewrite_rules`], in order; its identity is
/// [`Policy::rule`]`("rewrite[i]")`).
#[derive(Debug)]
pub struct RewritePattern {
    pub(crate) id: RuleId,
    /// Lowercase, Docker Hub folded, IPv6 canonical.
    pub(crate) from_domain: Box<str>,
    /// The path segments of `from` (possibly none).
    pub(crate) from_path: Vec<Box<str>>,
    /// `to`, with its registry in lowercase.
    pub(crate) to: Box<str>,
    /// Whether `to` has a path after its registry.
    pub(crate) to_has_path: bool,
}

impl RewritePattern {
    /// The registry of `from`, normalized as registry rules are (lowercase,
    /// Docker Hub folded into `docker.io`, IPv6 canonical).
    pub fn from_domain(&self) -> &str {
        &self.from_domain
    }

    /// The path segments of `from` below its registry (possibly none).
    pub fn from_path(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.from_path.iter().map(|s| &**s)
    }

    /// `from`, normalized: `docker.io/library`.
    pub fn source_prefix(&self) -> String {
        let mut s = self.from_domain.to_string();
        for segment in &self.from_path {
            s.push('/');
            s.push_str(segment);
        }
        s
    }

    /// `to`, with its registry in lowercase: what replaces `from`.
    pub fn to(&self) -> &str {
        &self.to
    }

    /// Whether every name `other` matches, this rule matches too (so, when
    /// this one comes first, `other` never applies).
    pub fn covers(&self, other: &RewritePattern) -> bool {
        self.from_domain == other.from_domain
            && self.from_path.len() <= other.from_path.len()
            && self
                .from_path
                .iter()
                .zip(&other.from_path)
                .all(|(a, b)| a == b)
    }

    /// Whether a name (normalized domain, path segments) is under `from`.
    fn matches(&self, domain: &str, path: Path<'_>) -> bool {
        let mut segments = path.segments();
        domain == &*self.from_domain && self.from_path.iter().all(|a| segments.next() == Some(&**a))
    }
}

/// An image rewritten by a rule: the reference the object should carry, and
/// the rule that made it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rewritten {
    reference: String,
    rule: RuleId,
}

impl Rewritten {
    /// The new reference, `to/rest[:tag][@digest]`: the string to write into
    /// the object, and the one [`Policy::evaluate_rewritten`] judges.
    pub fn as_str(&self) -> &str {
        &self.reference
    }

    /// The new reference, owned.
    pub fn into_string(self) -> String {
        self.reference
    }
}

impl fmt::Display for Rewritten {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reference)
    }
}

/// Why a rewrite failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RewriteErrorKind {
    /// The rewritten repository path is longer than 255 bytes.
    NameTooLong,
    /// The image is `from` itself and `to` has no path: nothing would name
    /// a repository (`registry.my.com:1.0`).
    NoRepository,
    /// The rewritten reference does not parse for another reason.
    Invalid(ParseErrorKind),
}

/// A rewrite rule matched, but the reference it makes is not valid. The
/// image must be denied (it cannot be run as written by the policy).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RewriteError {
    /// What is wrong.
    pub kind: RewriteErrorKind,
    /// The image as given.
    pub image: String,
    /// What the rule made of it.
    pub output: String,
    /// The rule, as data (its `Display` is what a decision names:
    /// `rewrite[0] (rewrite a=b) at p.yaml:3:5`); boxed, to keep the
    /// `Result` of a rewrite small.
    pub rule: Box<RuleIdentity>,
}

impl fmt::Display for RewriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let why = match self.kind {
            RewriteErrorKind::NameTooLong => {
                "its repository path is longer than 255 bytes".to_owned()
            }
            RewriteErrorKind::NoRepository => {
                "it names no repository (the image is the rule's from, and its to has no path)"
                    .to_owned()
            }
            RewriteErrorKind::Invalid(kind) => kind.description().to_owned(),
        };
        write!(
            f,
            "{}: {} would rewrite it to {:?}, which is not a valid reference: {why}",
            self.image, self.rule, self.output
        )
    }
}

impl std::error::Error for RewriteError {}

/// Does a rewrite's `from` or `to` start with a registry, as a policy
/// requires: a first component (before any `/`) that contains `.` or `:`, is
/// `localhost`, or is a bracketed IPv6 address, and is a valid `host[:port]`.
/// (`splitDockerDomain` also reads a first component with an uppercase letter
/// as a host; a rewrite does not accept it, so that `Mirror/x` is not
/// mistaken for a Docker Hub path by a reader.) For tools that write rewrite
/// rules.
pub fn starts_with_registry(prefix: &str) -> bool {
    let first = prefix.split_once('/').map_or(prefix, |(first, _)| first);
    looks_like_registry(first) && crate::reference::grammar::is_domain(first)
}

/// The first test of [`starts_with_registry`], without the grammar.
pub(crate) fn looks_like_registry(first: &str) -> bool {
    first.contains(['.', ':']) || first == "localhost" || first.starts_with('[')
}

impl Policy {
    /// Whether the policy has rewrite rules.
    pub fn has_rewrites(&self) -> bool {
        !self.rewrites.is_empty()
    }

    /// Rewrites a parsed image by the first matching rule: `Ok(None)` when no
    /// rule matches (or the name's pull host is not its domain, see the
    /// [rewrite module](crate::policy::rewrite)); an error when the rule's result is not
    /// a valid reference. Nothing is allocated for a policy without rewrite
    /// rules; with some, the normalized domain and the path's segments are
    /// (rules are tried in order, one comparison of segments each).
    ///
    /// ```
    /// use image_policy_core::policy::Policy;
    /// use image_policy_core::reference::ImageRef;
    ///
    /// let policy = Policy::builder()
    ///     .rewrite("docker.io", "registry.my.com/dockerhub")
    ///     .build()?
    ///     .policy;
    /// let digest = format!("sha256:{}", "a".repeat(64));
    /// let image = format!("grafana/grafana:10@{digest}");
    /// let r = policy.rewrite(&ImageRef::parse(&image).unwrap()).unwrap().unwrap();
    /// assert_eq!(r.as_str(), format!("registry.my.com/dockerhub/grafana/grafana:10@{digest}"));
    /// assert_eq!(policy.rewrite_rule(&r).path, "rewrite[0]");
    /// // Not under docker.io: unchanged.
    /// assert!(policy.rewrite(&ImageRef::parse("quay.io/a/b").unwrap()).unwrap().is_none());
    /// # Ok::<(), image_policy_core::policy::PolicyError>(())
    /// ```
    pub fn rewrite(&self, image: &ImageRef<'_>) -> Result<Option<Rewritten>, RewriteError> {
        if self.rewrites.is_empty() || image.is_pull_host_from_path() {
            return Ok(None);
        }
        let path = image.path();
        let Some(rule) = super::domain::with_normalized_domain(image.domain(), |domain| {
            self.rewrites.iter().find(|rule| rule.matches(domain, path))
        }) else {
            return Ok(None);
        };
        let mut out = String::with_capacity(image.input().len() + rule.to.len());
        out.push_str(&rule.to);
        let mut rest = path.segments().skip(rule.from_path.len()).peekable();
        let rest_is_empty = rest.peek().is_none();
        for segment in rest {
            out.push('/');
            out.push_str(segment);
        }
        if let Some(tag) = image.tag() {
            out.push(':');
            out.push_str(tag);
        }
        if let Some(digest) = image.digest() {
            use std::fmt::Write;
            let _ = write!(out, "@{digest}");
        }
        let error = |kind| RewriteError {
            kind,
            image: image.input().to_owned(),
            output: out.clone(),
            rule: Box::new(self.rule_info(rule.id).into_owned()),
        };
        if rest_is_empty && !rule.to_has_path {
            return Err(error(RewriteErrorKind::NoRepository));
        }
        if let Err(e) = ImageRef::parse(&out) {
            return Err(error(match e.kind() {
                ParseErrorKind::NameTooLong => RewriteErrorKind::NameTooLong,
                kind => RewriteErrorKind::Invalid(kind),
            }));
        }
        Ok(Some(Rewritten {
            reference: out,
            rule: rule.id,
        }))
    }

    /// [`Policy::rewrite`] on a string: an image that does not parse is not
    /// rewritten (`Ok(None)`; [`Policy::evaluate`] denies it).
    pub fn rewrite_str(&self, image: &str) -> Result<Option<Rewritten>, RewriteError> {
        if self.rewrites.is_empty() {
            return Ok(None);
        }
        match ImageRef::parse_lean(image) {
            Ok(r) => self.rewrite(&r),
            Err(_) => Ok(None),
        }
    }

    /// The rewrite rules, normalized, in the order they apply (the first
    /// match wins).
    pub fn rewrite_rules(&self) -> &[RewritePattern] {
        &self.rewrites
    }

    /// The rule that made a rewrite.
    pub fn rewrite_rule(&self, rewritten: &Rewritten) -> RuleInfo<'_> {
        self.rule_info(rewritten.rule)
    }

    /// Decides on an image after rewriting: with `Some(rewritten)` (from
    /// [`Policy::rewrite_str`] on `image`), the rewritten reference is judged
    /// (it is what will run), and the decision shows both
    /// ([`Decision::image`](super::Decision::image) is `image`,
    /// [`Decision::rewritten`](super::Decision::rewritten) the new one); with
    /// `None`, this is [`Policy::evaluate`].
    ///
    /// ```
    /// use image_policy_core::policy::{Context, Policy};
    ///
    /// let policy = Policy::builder()
    ///     .allow_registry("registry.my.com")
    ///     .rewrite("docker.io/library", "registry.my.com")
    ///     .build()?
    ///     .policy;
    /// let image = "prometheus:2.6.1";
    /// let rewritten = policy.rewrite_str(image).expect("a valid result");
    /// let d = policy.evaluate_rewritten(image, rewritten.as_ref(), &Context::new());
    /// assert!(d.allowed());
    /// assert_eq!(d.image(), "prometheus:2.6.1");
    /// assert_eq!(d.rewritten().unwrap().as_str(), "registry.my.com/prometheus:2.6.1");
    /// # Ok::<(), image_policy_core::policy::PolicyError>(())
    /// ```
    pub fn evaluate_rewritten<'a>(
        &'a self,
        image: &'a str,
        rewritten: Option<&'a Rewritten>,
        ctx: &super::Context<'a>,
    ) -> super::Decision<'a> {
        self.decide(image, rewritten, ctx)
    }
}

#[cfg(all(test, feature = "yaml"))]
mod tests {
    use crate::policy::{Policy, RuleKind};

    /// A failed rewrite names its rule as data (index, kind, pattern,
    /// location), and its message is the one a decision would write.
    #[test]
    fn a_rewrite_error_carries_its_rule() {
        let src = "rewrite:\n  - from: ghcr.io\n    to: registry.my.com/g\n  - from: quay.io/team\n    to: registry.my.com\n";
        let policy = Policy::from_yaml_str(src, "p.yaml").unwrap().policy;
        // `from` itself: nothing below it, and `to` has no path.
        let e = policy.rewrite_str("quay.io/team:1.0").unwrap_err();
        assert_eq!(e.rule.index, 1);
        assert_eq!(e.rule.kind, RuleKind::Rewrite);
        assert_eq!(e.rule.path, "rewrite[1]");
        assert_eq!(e.rule.pattern, "quay.io/team=registry.my.com");
        assert_eq!(e.rule.source(), "p.yaml:4:5");
        assert_eq!(*e.rule, policy.rule("rewrite[1]").unwrap().into_owned());
        assert_eq!(
            e.to_string(),
            "quay.io/team:1.0: rewrite[1] (rewrite quay.io/team=registry.my.com) at p.yaml:4:5 would rewrite it to \"registry.my.com:1.0\", which is not a valid reference: it names no repository (the image is the rule's from, and its to has no path)"
        );
    }
}
