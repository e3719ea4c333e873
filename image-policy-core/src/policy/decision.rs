//! What the engine answers: a [`Decision`], which explains itself, and the
//! [`Context`] a question is asked in.

use super::exempt::{ExemptionUse, OwnedExemptionUse, Used};
use super::{Mode, Policy, Rewritten, RuleId, RuleIdentity, RuleInfo, RuleSet};
use crate::reference::{ImageRef, ParseError, ParseErrorKind, Reference};
use std::fmt;

/// Where an image is to run: the namespace, and the annotations that may carry
/// a break-glass request. Borrowed, `Copy`, free to build.
#[derive(Clone, Copy, Debug, Default)]
pub struct Context<'a> {
    namespace: Option<&'a str>,
    annotations: &'a [(&'a str, &'a str)],
}

impl<'a> Context<'a> {
    /// No namespace, no annotations.
    pub fn new() -> Self {
        Self::default()
    }

    /// The namespace of the object (for exempt namespaces and namespace rules).
    pub fn namespace(self, namespace: &'a str) -> Self {
        Self {
            namespace: Some(namespace),
            ..self
        }
    }

    /// The annotations of the object or the ImageReview, as `(key, value)`
    /// pairs (for break-glass).
    pub fn annotations(self, annotations: &'a [(&'a str, &'a str)]) -> Self {
        Self {
            annotations,
            ..self
        }
    }

    /// The namespace, if set.
    pub fn get_namespace(&self) -> Option<&'a str> {
        self.namespace
    }

    /// The annotations.
    pub fn get_annotations(&self) -> &'a [(&'a str, &'a str)] {
        self.annotations
    }
}

/// What decided, as a stable machine-readable code ([`DecisionCode::as_str`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DecisionCode {
    /// No rule was broken.
    Allowed,
    /// The namespace is exempt: the image was not judged.
    NamespaceExempt,
    /// A rule was broken, and the break-glass annotation admitted the image
    /// anyway ([`Decision::violation`] says which rule).
    BreakGlass,
    /// The image reference does not parse as the runtime would parse it.
    Unparseable,
    /// A deny rule matched.
    DeniedByRule,
    /// There are allow rules and none matched.
    RegistryNotAllowed,
    /// The tag is `latest`, written or implied, and `latest` is denied.
    LatestTag,
    /// The tag is denied.
    TagDenied,
    /// Neither tag nor digest is written, and one is required.
    TagRequired,
    /// No digest is written, and one is required.
    DigestRequired,
    /// The tag matches none of the allowed tag patterns.
    TagNotAllowed,
    /// A pin rule matches the image and no digest is written.
    PinRequired,
    /// A verify rule matches the image and no digest is written: only a
    /// digest can be verified.
    VerifyRequiresDigest,
}

impl DecisionCode {
    /// The code as a string: `allowed`, `namespace-exempt`, `break-glass`,
    /// `unparseable`, `denied-by-rule`, `registry-not-allowed`, `latest-tag`,
    /// `tag-denied`, `tag-required`, `digest-required`, `tag-not-allowed`,
    /// `pin-required`, `verify-requires-digest`.
    pub fn as_str(self) -> &'static str {
        match self {
            DecisionCode::Allowed => "allowed",
            DecisionCode::NamespaceExempt => "namespace-exempt",
            DecisionCode::BreakGlass => "break-glass",
            DecisionCode::Unparseable => "unparseable",
            DecisionCode::DeniedByRule => "denied-by-rule",
            DecisionCode::RegistryNotAllowed => "registry-not-allowed",
            DecisionCode::LatestTag => "latest-tag",
            DecisionCode::TagDenied => "tag-denied",
            DecisionCode::TagRequired => "tag-required",
            DecisionCode::DigestRequired => "digest-required",
            DecisionCode::TagNotAllowed => "tag-not-allowed",
            DecisionCode::PinRequired => "pin-required",
            DecisionCode::VerifyRequiresDigest => "verify-requires-digest",
        }
    }

    /// Every code, in the order of [`DecisionCode::as_str`]'s list.
    pub const ALL: [DecisionCode; 13] = [
        DecisionCode::Allowed,
        DecisionCode::NamespaceExempt,
        DecisionCode::BreakGlass,
        DecisionCode::Unparseable,
        DecisionCode::DeniedByRule,
        DecisionCode::RegistryNotAllowed,
        DecisionCode::LatestTag,
        DecisionCode::TagDenied,
        DecisionCode::TagRequired,
        DecisionCode::DigestRequired,
        DecisionCode::TagNotAllowed,
        DecisionCode::PinRequired,
        DecisionCode::VerifyRequiresDigest,
    ];

    /// One sentence saying what the code means, for people: the one place the
    /// reports (SARIF's rule table, the linter's text legend) read it from.
    pub fn description(self) -> &'static str {
        match self {
            DecisionCode::Allowed => "The image breaks no rule of the policy.",
            DecisionCode::NamespaceExempt => {
                "The image runs in a namespace the policy exempts, so it was not judged."
            }
            DecisionCode::BreakGlass => {
                "The image broke a rule and was admitted by a break-glass annotation."
            }
            DecisionCode::Unparseable => {
                "The image reference does not parse as the container runtime would parse it."
            }
            DecisionCode::DeniedByRule => "The image matches a rule that denies it.",
            DecisionCode::RegistryNotAllowed => {
                "The image's registry is not in the policy's allowed registries."
            }
            DecisionCode::LatestTag => {
                "The image uses the latest tag (written or implied), which the policy rejects."
            }
            DecisionCode::TagDenied => "The image's tag is denied by the policy.",
            DecisionCode::TagRequired => {
                "The image has neither tag nor digest, and the policy requires one."
            }
            DecisionCode::DigestRequired => "The policy requires images to be pinned by digest.",
            DecisionCode::TagNotAllowed => {
                "The image's tag matches none of the policy's allowed tag patterns."
            }
            DecisionCode::PinRequired => {
                "The image is in the scope of a pin rule and has no digest: it must be pinned."
            }
            DecisionCode::VerifyRequiresDigest => {
                "The image is in the scope of a verify rule and has no digest: only a digest's signature can be verified."
            }
        }
    }

    /// Whether this code means a rule was broken.
    pub fn is_violation(self) -> bool {
        !matches!(
            self,
            DecisionCode::Allowed | DecisionCode::NamespaceExempt | DecisionCode::BreakGlass
        )
    }
}

impl fmt::Display for DecisionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How break-glass figured in a decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BreakGlass<'a> {
    /// No break-glass annotation.
    Absent,
    /// The annotation with this key admitted a violating image.
    Used(&'a str),
    /// The annotation with this key was present, but the policy does not enable break-glass.
    NotEnabled(&'a str),
}

/// The answer for one image: allowed or not, why, by which rule, in which mode.
///
/// Made without allocating (except for an unparseable image, which is rare);
/// the one-line reason is produced by `Display`, only when asked for:
/// `docker.io/library/prometheus:2.6.1: registry docker.io is not in the allowed registries (registry.my.com)`.
#[derive(Clone, Copy, Debug)]
pub struct Decision<'a> {
    pub(crate) policy: &'a Policy,
    pub(crate) image: &'a str,
    /// The rewrite applied before judging, if any: then `reference` is its parse.
    pub(crate) rewritten: Option<&'a Rewritten>,
    pub(crate) reference: Result<ImageRef<'a>, (ParseErrorKind, usize)>,
    pub(crate) namespace: Option<&'a str>,
    pub(crate) rule_set: &'a RuleSet,
    /// What the rules said (a violation code, `Allowed` or `NamespaceExempt`).
    pub(crate) outcome: DecisionCode,
    pub(crate) rule: Option<RuleId>,
    pub(crate) break_glass: BreakGlass<'a>,
    /// How many exemptions the rules used ([`Decision::exemptions`] lists them).
    pub(crate) exempted: u8,
}

impl<'a> Decision<'a> {
    /// What the API server must be told: `false` when the image does not
    /// parse (in every mode), or when it broke a rule in enforce mode and no
    /// break-glass annotation admitted it.
    pub fn allowed(&self) -> bool {
        if self.outcome == DecisionCode::Unparseable {
            return false;
        }
        !self.outcome.is_violation()
            || self.mode() != Mode::Enforce
            || matches!(self.break_glass, BreakGlass::Used(_))
    }

    /// Whether the image broke a rule, even if it is allowed (warn or audit
    /// mode, break-glass).
    pub fn violates(&self) -> bool {
        self.outcome.is_violation()
    }

    /// The mode that applied (the policy's, or its namespace's).
    pub fn mode(&self) -> Mode {
        self.rule_set.mode
    }

    /// What decided. [`DecisionCode::BreakGlass`] when the break-glass
    /// annotation admitted a violating image (then [`Decision::violation`]
    /// says what was violated); otherwise what the rules said, in any mode.
    pub fn code(&self) -> DecisionCode {
        match self.break_glass {
            BreakGlass::Used(_) => DecisionCode::BreakGlass,
            _ => self.outcome,
        }
    }

    /// The broken rule's code, when a rule was broken.
    pub fn violation(&self) -> Option<DecisionCode> {
        self.outcome.is_violation().then_some(self.outcome)
    }

    /// The rule that decided: the deny or tag rule broken, or the allow rule
    /// matched. `None` when no rule decided: nothing matched an allow list
    /// (the allow list as a whole decided), the image did not parse, the
    /// namespace is exempt, or the policy has no rules.
    pub fn rule(&self) -> Option<RuleInfo<'a>> {
        self.rule.map(|id| self.policy.rule_info(id))
    }

    /// The rewritten reference that was judged, when a rewrite rule applied
    /// ([`Policy::evaluate_rewritten`]); [`Decision::image`] is the original.
    pub fn rewritten(&self) -> Option<&'a Rewritten> {
        self.rewritten
    }

    /// The rewrite rule that applied, if any.
    pub fn rewrite_rule(&self) -> Option<RuleInfo<'a>> {
        self.rewritten.map(|r| self.policy.rewrite_rule(r))
    }

    /// The parsed, normalized reference that was judged (the rewritten one,
    /// when a rewrite applied); `None` when the image does not parse.
    pub fn reference(&self) -> Option<ImageRef<'a>> {
        self.reference.ok()
    }

    /// The host the runtime will contact, when it is not the reference's
    /// domain: the name has no valid registry domain (`x_y.evil.com/app`),
    /// and containerd pulls from the text before its first `/`
    /// ([`ImageRef::pull_host`]). `None` in the normal case, where the pull
    /// host is the domain, and for an image that does not parse.
    pub fn pull_host(&self) -> Option<&'a str> {
        let r = self.reference.ok()?;
        r.is_pull_host_from_path().then(|| r.pull_host())
    }

    /// Why the image does not parse, when it does not.
    pub fn parse_error(&self) -> Option<ParseError> {
        self.reference
            .err()
            .map(|(kind, offset)| ParseError::new(kind, offset, self.judged()))
    }

    /// The string that was judged: the rewritten one, or the input.
    fn judged(&self) -> &'a str {
        self.rewritten.map_or(self.image, Rewritten::as_str)
    }

    /// Whether the break-glass annotation admitted the image.
    pub fn break_glass_used(&self) -> bool {
        matches!(self.break_glass, BreakGlass::Used(_))
    }

    /// The break-glass annotation key present on the object, whether or not
    /// it was used (it is not used when the image broke no rule, or when the
    /// policy does not enable break-glass).
    pub fn break_glass_annotation(&self) -> Option<&'a str> {
        match self.break_glass {
            BreakGlass::Absent => None,
            BreakGlass::Used(key) | BreakGlass::NotEnabled(key) => Some(key),
        }
    }

    /// The input string (before any rewrite).
    pub fn image(&self) -> &'a str {
        self.image
    }

    /// The namespace the image was judged in.
    pub fn namespace(&self) -> Option<&'a str> {
        self.namespace
    }

    /// How many exemptions the rules used for this image (free: the count is
    /// kept, the list is not).
    pub fn exemption_count(&self) -> usize {
        usize::from(self.exempted)
    }

    /// Every exemption the rules used for this image (`exempt:` rules),
    /// in the order the rules they lifted apply: each names the exemption,
    /// its reason and the rule it lifted. Empty for most decisions; when
    /// not, the image is judged again to list them (nothing is kept on the
    /// hot path but their count).
    pub fn exemptions(&self) -> impl Iterator<Item = ExemptionUse<'a>> + 'a {
        let mut used = Used::default();
        if self.exempted > 0
            && let Ok(r) = self.reference
        {
            self.rule_set.judge(r, &mut used);
        }
        self.policy.exemption_uses(used)
    }
}

impl Decision<'_> {
    /// The decision, owned (as [`Reference`] is to [`ImageRef`]): the same
    /// accessors, for reports that outlive the policy and the input. Its
    /// reason (`Display`) is written once, here.
    pub fn into_owned(self) -> OwnedDecision {
        OwnedDecision {
            allowed: self.allowed(),
            violation: self.violation(),
            mode: self.mode(),
            code: self.code(),
            rule: self.rule().map(RuleInfo::into_owned),
            rewritten: self.rewritten().cloned(),
            rewrite_rule: self.rewrite_rule().map(RuleInfo::into_owned),
            reference: self.reference().map(ImageRef::into_owned),
            pull_host: self.pull_host().map(str::to_owned),
            parse_error: self.parse_error(),
            break_glass_used: self.break_glass_used(),
            break_glass_annotation: self.break_glass_annotation().map(str::to_owned),
            image: self.image().to_owned(),
            namespace: self.namespace().map(str::to_owned),
            exemptions: self.exemptions().map(ExemptionUse::into_owned).collect(),
            reason: self.to_string(),
        }
    }
}

impl From<Decision<'_>> for OwnedDecision {
    fn from(decision: Decision<'_>) -> Self {
        decision.into_owned()
    }
}

/// A [`Decision`], owned ([`Decision::into_owned`]): the same accessors,
/// returning owned or borrowed-from-self values; `Display` writes the same
/// reason.
#[derive(Clone, Debug)]
pub struct OwnedDecision {
    allowed: bool,
    violation: Option<DecisionCode>,
    mode: Mode,
    code: DecisionCode,
    rule: Option<RuleIdentity>,
    rewritten: Option<Rewritten>,
    rewrite_rule: Option<RuleIdentity>,
    reference: Option<Reference>,
    pull_host: Option<String>,
    parse_error: Option<ParseError>,
    break_glass_used: bool,
    break_glass_annotation: Option<String>,
    image: String,
    namespace: Option<String>,
    exemptions: Vec<OwnedExemptionUse>,
    reason: String,
}

impl OwnedDecision {
    /// See [`Decision::allowed`].
    pub fn allowed(&self) -> bool {
        self.allowed
    }

    /// See [`Decision::violates`].
    pub fn violates(&self) -> bool {
        self.violation.is_some()
    }

    /// See [`Decision::mode`].
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// See [`Decision::code`].
    pub fn code(&self) -> DecisionCode {
        self.code
    }

    /// See [`Decision::violation`].
    pub fn violation(&self) -> Option<DecisionCode> {
        self.violation
    }

    /// See [`Decision::rule`].
    pub fn rule(&self) -> Option<&RuleIdentity> {
        self.rule.as_ref()
    }

    /// See [`Decision::rewritten`].
    pub fn rewritten(&self) -> Option<&Rewritten> {
        self.rewritten.as_ref()
    }

    /// See [`Decision::rewrite_rule`].
    pub fn rewrite_rule(&self) -> Option<&RuleIdentity> {
        self.rewrite_rule.as_ref()
    }

    /// See [`Decision::reference`].
    pub fn reference(&self) -> Option<&Reference> {
        self.reference.as_ref()
    }

    /// See [`Decision::pull_host`].
    pub fn pull_host(&self) -> Option<&str> {
        self.pull_host.as_deref()
    }

    /// See [`Decision::parse_error`].
    pub fn parse_error(&self) -> Option<&ParseError> {
        self.parse_error.as_ref()
    }

    /// See [`Decision::break_glass_used`].
    pub fn break_glass_used(&self) -> bool {
        self.break_glass_used
    }

    /// See [`Decision::break_glass_annotation`].
    pub fn break_glass_annotation(&self) -> Option<&str> {
        self.break_glass_annotation.as_deref()
    }

    /// See [`Decision::image`].
    pub fn image(&self) -> &str {
        &self.image
    }

    /// See [`Decision::namespace`].
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// See [`Decision::exemptions`].
    pub fn exemptions(&self) -> &[OwnedExemptionUse] {
        &self.exemptions
    }
}

impl fmt::Display for OwnedDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl fmt::Display for Decision<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = match self.reference {
            Ok(r) => r,
            Err((kind, offset)) => {
                write!(f, "{}", ParseError::new(kind, offset, self.judged()))?;
                return self.write_mode_suffix(f);
            }
        };
        fmt::Display::fmt(&r, f)?;
        if let Some(rule) = self.rewrite_rule() {
            write!(f, " (rewritten from {} by {rule})", self.image)?;
        }
        f.write_str(": ")?;
        if let Some(host) = self.pull_host() {
            f.write_str("pulled from ")?;
            f.write_str(host)?;
            f.write_str(" (not a valid registry domain, so the name has none); ")?;
        }
        let rule = self.rule();
        match self.outcome {
            DecisionCode::Allowed => match rule {
                Some(rule) => write!(f, "allowed by {rule}")?,
                None => f.write_str("allowed (no rule restricts it)")?,
            },
            DecisionCode::NamespaceExempt => write!(
                f,
                "namespace {} is exempt",
                self.namespace.unwrap_or_default()
            )?,
            DecisionCode::DeniedByRule => match rule {
                Some(rule) => write!(f, "denied by {rule}")?,
                None => f.write_str("denied by a rule")?,
            },
            DecisionCode::RegistryNotAllowed => {
                let summary = &self.rule_set.allow_summary;
                if self.rule_set.allow_only_registries {
                    f.write_str("registry ")?;
                    f.write_str(r.pull_host())?;
                    f.write_str(" is not in the allowed registries (")?;
                    f.write_str(summary)?;
                    f.write_str(")")?;
                } else {
                    write!(f, "{} matches no allow rule ({summary})", r.name())?;
                }
            }
            DecisionCode::LatestTag => {
                if r.is_tag_implied() {
                    f.write_str(
                        "no tag or digest is written, so the runtime pulls latest, which is denied",
                    )?;
                } else {
                    f.write_str("the tag latest is denied")?;
                }
                if let Some(rule) = rule {
                    write!(f, " by {rule}")?;
                }
            }
            DecisionCode::TagDenied => {
                write!(f, "the tag {} is denied", r.tag().unwrap_or_default())?;
                if let Some(rule) = rule {
                    write!(f, " by {rule}")?;
                }
            }
            DecisionCode::TagRequired => {
                f.write_str("a tag or a digest is required (the runtime would pull latest)")?;
                if let Some(rule) = rule {
                    write!(f, ", by {rule}")?;
                }
            }
            DecisionCode::DigestRequired => {
                f.write_str("a digest is required")?;
                if let Some(rule) = rule {
                    write!(f, ", by {rule}")?;
                }
            }
            DecisionCode::VerifyRequiresDigest => {
                f.write_str("a digest is required (the image's signature must be verified)")?;
                if let Some(rule) = rule {
                    write!(f, ", by {rule}")?;
                }
            }
            DecisionCode::PinRequired => {
                f.write_str("a digest is required (the image is in pin scope)")?;
                if let Some(rule) = rule {
                    write!(f, ", by {rule}")?;
                }
            }
            DecisionCode::TagNotAllowed => {
                write!(
                    f,
                    "the tag {} matches none of the allowed tag patterns",
                    r.effective_tag().unwrap_or_default()
                )?;
                if let Some(rule) = rule {
                    write!(f, " ({rule})")?;
                }
            }
            // Not produced by the rules.
            DecisionCode::Unparseable | DecisionCode::BreakGlass => {}
        }
        for used in self.exemptions() {
            write!(f, "; {used}")?;
        }
        self.write_mode_suffix(f)
    }
}

impl Decision<'_> {
    fn write_mode_suffix(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.outcome.is_violation() {
            match (self.mode(), self.break_glass) {
                (Mode::Enforce, BreakGlass::Used(key)) => {
                    write!(f, "; admitted by the break-glass annotation {key}")?
                }
                (Mode::Enforce, BreakGlass::NotEnabled(key)) => write!(
                    f,
                    "; break-glass annotation {key} ignored: this policy does not enable break-glass"
                )?,
                (Mode::Enforce, BreakGlass::Absent) => {}
                (Mode::Warn, _) => f.write_str(" (warn mode: allowed with a warning)")?,
                (Mode::Audit, _) => f.write_str(" (audit mode: allowed, recorded)")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::DecisionCode;
    use crate::policy::{Context, Mode, Policy};

    /// The owned decision answers every accessor as the borrowed one, for
    /// each outcome (allowed, each violation, exempt, unparseable, rewritten,
    /// break-glass, a pull host that is not the domain).
    #[test]
    fn an_owned_decision_answers_as_the_borrowed_one() {
        let policy = Policy::builder()
            .origin("<test>")
            .allow_registry("registry.my.com")
            .deny_registry("evil.io")
            .deny_tag("latest")
            .rewrite("docker.io/library", "registry.my.com/hub")
            .mode(Mode::Enforce)
            .break_glass(true)
            .build()
            .unwrap()
            .policy;
        let annotations = [("a.image-policy.k8s.io/ticket", "break-glass")];
        let contexts = [
            Context::new(),
            Context::new().namespace("shop"),
            Context::new().annotations(&annotations),
        ];
        let images = [
            "registry.my.com/app:1",
            "registry.my.com/app",
            "evil.io/x:1",
            "quay.io/x:1",
            "nginx:1.27",
            "Not A Reference",
            "x_y.evil.com/app:1",
        ];
        for image in images {
            let rewritten = policy.rewrite_str(image).unwrap();
            for ctx in &contexts {
                let d = policy.evaluate_rewritten(image, rewritten.as_ref(), ctx);
                let o = d.into_owned();
                let what = format!("{image} in {ctx:?}");
                assert_eq!(o.allowed(), d.allowed(), "{what}");
                assert_eq!(o.violates(), d.violates(), "{what}");
                assert_eq!(o.violation(), d.violation(), "{what}");
                assert_eq!(o.mode(), d.mode(), "{what}");
                assert_eq!(o.code(), d.code(), "{what}");
                assert_eq!(
                    o.rule(),
                    d.rule().map(|r| r.into_owned()).as_ref(),
                    "{what}"
                );
                assert_eq!(o.rewritten(), d.rewritten(), "{what}");
                assert_eq!(
                    o.rewrite_rule(),
                    d.rewrite_rule().map(|r| r.into_owned()).as_ref(),
                    "{what}"
                );
                assert_eq!(
                    o.reference().map(|r| r.to_string()),
                    d.reference().map(|r| r.to_string()),
                    "{what}"
                );
                assert_eq!(o.pull_host(), d.pull_host(), "{what}");
                assert_eq!(o.parse_error(), d.parse_error().as_ref(), "{what}");
                assert_eq!(o.break_glass_used(), d.break_glass_used(), "{what}");
                assert_eq!(
                    o.break_glass_annotation(),
                    d.break_glass_annotation(),
                    "{what}"
                );
                assert_eq!(o.image(), d.image(), "{what}");
                assert_eq!(o.namespace(), d.namespace(), "{what}");
                assert_eq!(o.to_string(), d.to_string(), "{what}");
            }
        }
    }

    #[test]
    fn every_code_is_listed_once_with_a_description() {
        let names: std::collections::BTreeSet<_> =
            DecisionCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), DecisionCode::ALL.len());
        for code in DecisionCode::ALL {
            let d = code.description();
            assert!(d.ends_with('.') && d.len() > 20, "{code}: {d}");
        }
    }
}
