//! Per-image exemptions (`exempt:` rules): the document's form, the
//! compiled matchers and what a decision records of the exemptions it used
//! (documented in the policy module, "Exempt").

use super::hash::FastMap;
use super::matchers::{Matchers, PathParts};
use super::rule::{RuleIdentity, RuleInfo};
use super::{DecisionCode, Policy, RuleId, RuleKind};
use crate::reference::{DEFAULT_TAG, ImageRef};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The rule kinds an exemption lifts (`from: [tags, digest]`). There is no
/// `allow`: an exemption from the allow list is an `allow:` rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ExemptKind {
    /// The tag rules other than `requireDigest`: `tags.deny` (and the
    /// implied `latest` it denies), `tags.requireTagOrDigest`,
    /// `tags.allowMatching`.
    Tags,
    /// `tags.requireDigest`.
    Digest,
    /// The `deny:` rules (registry, repository, regex).
    Deny,
    /// The `pin:` rules (`pin-required`).
    Pin,
    /// The `verify:` rules (`verify-requires-digest` offline; the signature
    /// check of the registry crate reads [`Policy::verify_requirements`],
    /// which leaves out the rules an image is exempt from).
    Verify,
}

impl ExemptKind {
    /// Every kind, in the order of [`ExemptKind::as_str`]'s list.
    pub const ALL: [ExemptKind; 5] = [
        ExemptKind::Tags,
        ExemptKind::Digest,
        ExemptKind::Deny,
        ExemptKind::Pin,
        ExemptKind::Verify,
    ];

    /// `tags`, `digest`, `deny`, `pin`, `verify`, as in the policy file.
    pub fn as_str(self) -> &'static str {
        match self {
            ExemptKind::Tags => "tags",
            ExemptKind::Digest => "digest",
            ExemptKind::Deny => "deny",
            ExemptKind::Pin => "pin",
            ExemptKind::Verify => "verify",
        }
    }

    /// Parses [`ExemptKind::as_str`]'s output.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for ExemptKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `exempt:` entry of a policy file: exactly one of `image`,
/// `registry`, `repository` or `regex` (the last three are the forms of
/// allow rules), the kinds it lifts, and why.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Exemption {
    /// One image, exactly: parsed and normalized as the runtime does
    /// (`debug:1.2` is `docker.io/library/debug:1.2`; no tag and no digest
    /// is `:latest`). A digest, if written, must match too; without one,
    /// only images without a digest match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// A registry, as an allow rule's `registry:`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    /// A repository pattern, as an allow rule's `repository:`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// A regular expression on the whole normalized name, as an allow
    /// rule's `regex:`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    /// The rule kinds the matching images are exempt from (not empty).
    pub from: Vec<ExemptKind>,
    /// Why (required, not empty): it is recorded in every decision that
    /// uses the exemption.
    pub reason: String,
}

impl Exemption {
    /// The form written (`image`, `registry`, `repository` or `regex`) and
    /// its value, when exactly one is.
    pub fn target(&self) -> Option<(&'static str, &str)> {
        let forms = [
            ("image", &self.image),
            ("registry", &self.registry),
            ("repository", &self.repository),
            ("regex", &self.regex),
        ];
        let mut written = forms
            .into_iter()
            .filter_map(|(k, v)| v.as_deref().map(|v| (k, v)));
        let first = written.next()?;
        written.next().is_none().then_some(first)
    }
}

/// An `image:` exemption, normalized as the matchers compare it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ExactImage {
    /// The normalized name, `domain/path` (`docker.io/library/debug`).
    pub name: String,
    /// The tag as written, `latest` when neither tag nor digest is written;
    /// `None` for a digest without a tag.
    pub tag: Option<String>,
    /// The digest (`sha256:…`), when written.
    pub digest: Option<String>,
    /// `host/path` as the runtime pulls it, when the name has no valid
    /// registry domain (see [`ImageRef::pull_host`]).
    pub pulled: Option<String>,
}

impl ExactImage {
    /// Whether `r` is this image: the same normalized name (and pull host),
    /// the same tag (with `latest` implied only when neither tag nor digest
    /// is written) and the same digest, or none on both sides.
    fn matches(&self, r: ImageRef<'_>, pulled: Option<&str>) -> bool {
        let tag = r
            .tag()
            .or_else(|| r.is_tag_implied().then_some(DEFAULT_TAG));
        if self.tag.as_deref() != tag || self.pulled.as_deref() != pulled {
            return false;
        }
        match (&self.digest, r.digest()) {
            (None, None) => true,
            (Some(want), Some(d)) => {
                want.len() == d.algorithm().as_str().len() + 1 + d.encoded().len()
                    && want.starts_with(d.algorithm().as_str())
                    && want.ends_with(d.encoded())
                    && want.as_bytes()[d.algorithm().as_str().len()] == b':'
            }
            _ => false,
        }
    }
}

/// An exemption of a compiled policy, read-only ([`Policy::exemptions`]):
/// its rule (kind [`RuleKind::Exempt`](super::RuleKind::Exempt); for the
/// registry, repository and regex forms, [`RuleInfo::normalized`] is their
/// [`Pattern`](super::Pattern)), the exact image for the `image:` form, the
/// kinds it lifts and its reason.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct ExemptionInfo<'p> {
    /// The rule's identity (`exempt[0]`, `namespaces[1].exempt[0]`).
    pub rule: RuleInfo<'p>,
    /// The image, for the `image:` form.
    pub image: Option<&'p ExactImage>,
    /// The kinds it lifts, in the order written.
    pub from: &'p [ExemptKind],
    /// Why, as written.
    pub reason: &'p str,
}

/// What the policy keeps of an exemption beyond its rule's identity.
#[derive(Debug)]
pub(crate) struct ExemptionMeta {
    pub(crate) rule: RuleId,
    pub(crate) image: Option<ExactImage>,
    pub(crate) from: Vec<ExemptKind>,
    pub(crate) reason: Box<str>,
}

/// The exemptions of one scope, by the kind they lift.
#[derive(Debug, Default)]
pub(crate) struct ExemptMatchers {
    kinds: [KindMatchers; 5],
}

/// The exemptions from one kind: exact images by normalized name, and the
/// registry, repository and regex forms.
#[derive(Debug, Default)]
struct KindMatchers {
    images: FastMap<Box<str>, Vec<(ExactImage, RuleId)>>,
    patterns: Matchers,
}

/// The views of an image the rules read: the normalized name, and what is
/// pulled when that differs (see [`ImageRef::pull_host`]).
pub(crate) struct Views<'r> {
    pub(crate) reference: ImageRef<'r>,
    pub(crate) domain: &'r str,
    pub(crate) pulled: Option<(&'r str, crate::reference::Path<'r>)>,
}

impl ExemptMatchers {
    pub(crate) fn insert_image(&mut self, kind: ExemptKind, image: &ExactImage, id: RuleId) {
        self.kinds[kind.index()]
            .images
            .entry(image.name.as_str().into())
            .or_default()
            .push((image.clone(), id));
    }

    pub(crate) fn patterns_mut(&mut self, kind: ExemptKind) -> &mut Matchers {
        &mut self.kinds[kind.index()].patterns
    }

    /// Whether no exemption lifts `kind` here.
    pub(crate) fn is_empty(&self, kind: ExemptKind) -> bool {
        let k = &self.kinds[kind.index()];
        k.images.is_empty() && k.patterns.is_empty()
    }

    /// The first exemption from `kind` that matches the image: an exact
    /// image, else a pattern that matches both the name and, when it
    /// differs, what is pulled (an exemption widens: it must hold for
    /// every view).
    pub(crate) fn find(&self, kind: ExemptKind, v: &Views<'_>) -> Option<RuleId> {
        let k = &self.kinds[kind.index()];
        let path = v.reference.path();
        if !k.images.is_empty() {
            let mut name = super::NameBuf::new();
            let mut pulled_name = super::NameBuf::new();
            let pulled = v.pulled.map(|(host, p)| pulled_name.write(host, p));
            if let Some(list) = k.images.get(name.write(v.domain, path))
                && let Some((_, id)) = list.iter().find(|(i, _)| i.matches(v.reference, pulled))
            {
                return Some(*id);
            }
        }
        if k.patterns.is_empty() {
            return None;
        }
        let with_name = |f: &mut dyn FnMut(&str) -> Option<RuleId>| {
            let mut name = super::NameBuf::new();
            f(name.write(v.domain, path))
        };
        let id = k
            .patterns
            .find(v.domain, PathParts::from(path), with_name)?;
        match v.pulled {
            None => Some(id),
            Some((host, pull_path)) => {
                let with_pull_name = |f: &mut dyn FnMut(&str) -> Option<RuleId>| {
                    let mut name = super::NameBuf::new();
                    f(name.write(host, pull_path))
                };
                k.patterns
                    .find(host, PathParts::from(pull_path), with_pull_name)
                    .map(|_| id)
            }
        }
    }
}

/// Where a judgement records the exemptions it uses: a count on the hot
/// path ([`Policy::evaluate`] stores only whether any was used), the list
/// when a caller asks for them ([`Decision::exemptions`](super::Decision::exemptions)
/// judges again).
pub(crate) trait Record {
    fn record(&mut self, exemption: RuleId, exempted: RuleId, kind: ExemptKind);
}

impl Record for u8 {
    fn record(&mut self, _: RuleId, _: RuleId, _: ExemptKind) {
        *self = self.saturating_add(1);
    }
}

/// The exemptions one judgement used: at most one per rule lifted (a deny
/// rule, a pin rule, `requireDigest`, and three tag rules), kept on the
/// stack.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Used {
    list: [(u32, u32, u8); 6],
    len: u8,
}

impl Record for Used {
    fn record(&mut self, exemption: RuleId, exempted: RuleId, kind: ExemptKind) {
        if let Some(slot) = self.list.get_mut(self.len as usize) {
            *slot = (exemption.0, exempted.0, kind.index() as u8);
            self.len += 1;
        }
    }
}

/// One exemption a decision used: the exemption, why, and the rule it
/// lifted for this image. `Display` writes `exempt from tags
/// (tags.deny[0]) by exempt[0]: REASON`.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct ExemptionUse<'p> {
    /// The exemption (`exempt[0]`, kind [`RuleKind::Exempt`](super::RuleKind::Exempt)).
    pub exemption: RuleInfo<'p>,
    /// Its reason, as written.
    pub reason: &'p str,
    /// The kind it lifted here.
    pub kind: ExemptKind,
    /// The rule the image broke and was exempted from (`deny[2]`,
    /// `tags.deny[0]`, `pin[0]`, `tags.requireDigest`).
    pub exempted: RuleInfo<'p>,
    /// The code the image would have been given without the exemption
    /// (`denied-by-rule`, `latest-tag`, `pin-required`, ...).
    pub code: DecisionCode,
}

impl ExemptionUse<'_> {
    /// The same, owned.
    pub fn into_owned(self) -> OwnedExemptionUse {
        OwnedExemptionUse {
            exemption: self.exemption.into_owned(),
            reason: self.reason.to_owned(),
            kind: self.kind,
            exempted: self.exempted.into_owned(),
            code: self.code,
        }
    }
}

impl fmt::Display for ExemptionUse<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_use(
            f,
            self.kind,
            self.exempted.path,
            self.exemption.path,
            self.reason,
        )
    }
}

/// An [`ExemptionUse`], owned (for an [`OwnedDecision`](super::OwnedDecision)).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct OwnedExemptionUse {
    /// See [`ExemptionUse::exemption`].
    pub exemption: RuleIdentity,
    /// See [`ExemptionUse::reason`].
    pub reason: String,
    /// See [`ExemptionUse::kind`].
    pub kind: ExemptKind,
    /// See [`ExemptionUse::exempted`].
    pub exempted: RuleIdentity,
    /// See [`ExemptionUse::code`].
    pub code: DecisionCode,
}

impl fmt::Display for OwnedExemptionUse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_use(
            f,
            self.kind,
            &self.exempted.path,
            &self.exemption.path,
            &self.reason,
        )
    }
}

fn write_use(
    f: &mut fmt::Formatter<'_>,
    kind: ExemptKind,
    exempted: &str,
    exemption: &str,
    reason: &str,
) -> fmt::Result {
    write!(
        f,
        "exempt from {kind} ({exempted}) by {exemption}: {reason}"
    )
}

impl Policy {
    /// Every exemption of the policy (`exempt:` at the top level, then each
    /// `namespaces[]` entry's), in the order declared.
    pub fn exemptions(&self) -> impl ExactSizeIterator<Item = ExemptionInfo<'_>> + '_ {
        self.exemptions.iter().map(|e| self.exemption_info(e))
    }

    fn exemption_info<'p>(&'p self, e: &'p ExemptionMeta) -> ExemptionInfo<'p> {
        ExemptionInfo {
            rule: self.rule_info(e.rule),
            image: e.image.as_ref(),
            from: &e.from,
            reason: &e.reason,
        }
    }

    pub(crate) fn exemption_uses<'p>(
        &'p self,
        used: Used,
    ) -> impl Iterator<Item = ExemptionUse<'p>> + 'p {
        (0..used.len as usize).map(move |i| {
            let (exemption, exempted, kind) = used.list[i];
            let exemption = RuleId(exemption);
            let reason = self
                .exemptions
                .iter()
                .find(|e| e.rule == exemption)
                .map_or("", |e| &e.reason);
            let exempted = self.rule_info(RuleId(exempted));
            ExemptionUse {
                exemption: self.rule_info(exemption),
                reason,
                kind: ExemptKind::ALL[kind as usize],
                code: code_of(exempted),
                exempted,
            }
        })
    }
}

/// The code a rule gives an image that breaks it.
fn code_of(rule: RuleInfo<'_>) -> DecisionCode {
    match rule.kind {
        RuleKind::Pin => DecisionCode::PinRequired,
        RuleKind::Verify => DecisionCode::VerifyRequiresDigest,
        RuleKind::RequireDigest => DecisionCode::DigestRequired,
        RuleKind::RequireTagOrDigest => DecisionCode::TagRequired,
        RuleKind::DenyTag if rule.pattern == DEFAULT_TAG => DecisionCode::LatestTag,
        RuleKind::DenyTag => DecisionCode::TagDenied,
        RuleKind::AllowTagMatching => DecisionCode::TagNotAllowed,
        _ => DecisionCode::DeniedByRule,
    }
}
