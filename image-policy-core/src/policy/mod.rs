//! The policy engine: which images may run, decided on parsed references.
//!
//! See [`Policy`], [`Decision`] and the [`model`] of the file format.

mod builder;
mod compile;
mod decision;
mod diagnostic;
mod load;
mod matchers;
pub mod model;

pub use builder::PolicyBuilder;
pub use decision::{Context, Decision, DecisionCode, RuleInfo, RuleKind};
pub use diagnostic::{Diagnostic, Location, PolicyError, Severity};
pub use model::{Mode, PolicyDocument, schema};

use crate::reference::ImageRef;
use decision::BreakGlass;
use matchers::Matchers;
use std::collections::{HashMap, HashSet};
use std::fmt;

/// A compiled policy: immutable, `Send + Sync`, cheap to evaluate. Share it
/// with an `Arc`.
pub struct Policy {
    /// Rule sets: `[0]` is the cluster's, then one per `namespaces[]` entry.
    rule_sets: Vec<RuleSet>,
    /// Namespace name → index in `rule_sets`.
    namespace_rules: HashMap<Box<str>, usize>,
    exempt_namespaces: HashSet<Box<str>>,
    /// Every rule, for [`RuleInfo`].
    rules: Vec<RuleMeta>,
    break_glass: model::BreakGlass,
    exempt_existing_images_on_update: bool,
    /// The document compiled, for printing and serialization.
    document: PolicyDocument,
}

/// A policy and the warnings found while loading it.
#[derive(Debug)]
pub struct LoadedPolicy {
    /// The compiled policy.
    pub policy: Policy,
    /// Likely mistakes (the policy loaded anyway), in source order.
    pub warnings: Vec<Diagnostic>,
}

/// The index of a rule in [`Policy::rules`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct RuleId(u32);

/// What the policy knows about one rule, for explanations.
#[derive(Debug)]
pub(crate) struct RuleMeta {
    index: usize,
    kind: RuleKind,
    path: Box<str>,
    pattern: Box<str>,
    location: Option<Location>,
    origin: Box<str>,
}

/// The rules that apply in one scope (the cluster, or some namespaces).
#[derive(Debug)]
pub(crate) struct RuleSet {
    pub(crate) mode: Mode,
    allow: Matchers,
    deny: Matchers,
    tags: TagMatchers,
    /// The allow rules, listed for the reason (a few, then a count).
    pub(crate) allow_summary: Box<str>,
    /// Whether every allow rule is a registry rule (for the wording).
    pub(crate) allow_only_registries: bool,
}

/// Compiled tag rules.
#[derive(Debug, Default)]
struct TagMatchers {
    deny: HashMap<Box<str>, RuleId>,
    require_tag_or_digest: Option<RuleId>,
    require_digest: Option<RuleId>,
    allow_matching: Option<(regex::RegexSet, RuleId)>,
}

impl Policy {
    /// Loads a policy from YAML. `origin` names the source in diagnostics
    /// (usually the file name). Every problem is reported, with its line and
    /// column.
    pub fn from_yaml_str(src: &str, origin: &str) -> Result<LoadedPolicy, PolicyError> {
        PolicyBuilder::from_yaml_str(src, origin)?.build()
    }

    /// Loads a policy from JSON, as [`Policy::from_yaml_str`] does.
    pub fn from_json_str(src: &str, origin: &str) -> Result<LoadedPolicy, PolicyError> {
        PolicyBuilder::from_json_str(src, origin)?.build()
    }

    /// Compiles a policy document built in code (no source locations).
    pub fn from_document(document: PolicyDocument) -> Result<LoadedPolicy, PolicyError> {
        PolicyBuilder::from_document(document).build()
    }

    /// A builder, to write a policy in code or add to a loaded one.
    pub fn builder() -> PolicyBuilder {
        PolicyBuilder::new()
    }

    /// The cluster-wide mode.
    pub fn mode(&self) -> Mode {
        self.rule_sets[0].mode
    }

    /// On an UPDATE, images already present in the old object are not judged
    /// again (default `true`; `exemptExistingImagesOnUpdate` in the file).
    pub fn exempt_existing_images_on_update(&self) -> bool {
        self.exempt_existing_images_on_update
    }

    /// The document this policy was compiled from.
    pub fn document(&self) -> &PolicyDocument {
        &self.document
    }

    /// The number of rules (allow, deny and tag rules of every scope).
    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// Decides whether `image` may run in `ctx`. Allocates nothing unless the
    /// image does not parse; see the [module documentation](self) for the
    /// order in which rules apply.
    pub fn evaluate<'a>(&'a self, image: &'a str, ctx: &Context<'a>) -> Decision<'a> {
        let namespace = ctx.get_namespace();
        let rule_set = namespace
            .and_then(|ns| self.namespace_rules.get(ns))
            .map_or(&self.rule_sets[0], |&i| &self.rule_sets[i]);
        let mut decision = Decision {
            policy: self,
            image,
            reference: ImageRef::parse(image).map_err(|e| (e.kind(), e.offset())),
            namespace,
            rule_set,
            outcome: DecisionCode::Allowed,
            rule: None,
            break_glass: BreakGlass::Absent,
        };
        if namespace.is_some_and(|ns| self.exempt_namespaces.contains(ns)) {
            decision.outcome = DecisionCode::NamespaceExempt;
            return decision;
        }
        let (outcome, rule) = match decision.reference {
            Ok(r) => rule_set.judge(r),
            Err(_) => (DecisionCode::Unparseable, None),
        };
        decision.outcome = outcome;
        decision.rule = rule;
        if outcome.is_violation() {
            decision.break_glass = self.break_glass(ctx);
        }
        decision
    }

    fn break_glass<'a>(&self, ctx: &Context<'a>) -> BreakGlass<'a> {
        let requested = ctx.get_annotations().iter().find(|(key, value)| {
            *value == self.break_glass.value
                && if self.break_glass.annotations.is_empty() {
                    is_image_policy_annotation(key)
                } else {
                    self.break_glass.annotations.iter().any(|k| k == key)
                }
        });
        match requested {
            None => BreakGlass::Absent,
            Some((key, _)) if self.break_glass.enabled => BreakGlass::Used(key),
            Some((key, _)) => BreakGlass::NotEnabled(key),
        }
    }

    pub(crate) fn rule_info(&self, id: RuleId) -> RuleInfo<'_> {
        let meta = &self.rules[id.0 as usize];
        RuleInfo {
            index: meta.index,
            kind: meta.kind,
            path: &meta.path,
            pattern: &meta.pattern,
            location: meta.location.as_ref(),
            origin: &meta.origin,
        }
    }
}

/// `PREFIX.image-policy.k8s.io/NAME`, the annotation keys the API server
/// passes to an image policy webhook.
fn is_image_policy_annotation(key: &str) -> bool {
    let Some((prefix, name)) = key.split_once('/') else {
        return false;
    };
    !name.is_empty()
        && prefix
            .strip_suffix(".image-policy.k8s.io")
            .is_some_and(|p| !p.is_empty())
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policy")
            .field("mode", &self.mode())
            .field("rules", &self.rules.len())
            .field("namespace_rule_sets", &(self.rule_sets.len() - 1))
            .field("exempt_namespaces", &self.exempt_namespaces.len())
            .field("break_glass", &self.break_glass.enabled)
            .finish()
    }
}

impl RuleSet {
    /// The rules' verdict on a parsed image, in the documented order.
    fn judge(&self, r: ImageRef<'_>) -> (DecisionCode, Option<RuleId>) {
        let mut lower = LowercaseBuf::new();
        let domain = compile::fold_docker_hub(lower.lowercase(r.domain()));
        let path = r.path();
        let with_name = |f: &mut dyn FnMut(&str) -> Option<RuleId>| {
            let mut name = NameBuf::new();
            f(name.write(domain, path))
        };
        if let Some(id) = self.deny.find(domain, path.segments(), with_name) {
            return (DecisionCode::DeniedByRule, Some(id));
        }
        let allowed_by = if self.allow.is_empty() {
            None
        } else {
            match self.allow.find(domain, path.segments(), with_name) {
                Some(id) => Some(id),
                None => return (DecisionCode::RegistryNotAllowed, None),
            }
        };
        if let Some(violation) = self.tags.judge(r) {
            return violation;
        }
        (DecisionCode::Allowed, allowed_by)
    }
}

impl TagMatchers {
    fn judge(&self, r: ImageRef<'_>) -> Option<(DecisionCode, Option<RuleId>)> {
        if r.digest().is_some() {
            // Pinned: the runtime pulls the digest and ignores any tag.
            return None;
        }
        if let Some(id) = self.require_digest {
            return Some((DecisionCode::DigestRequired, Some(id)));
        }
        if let Some(id) = self.require_tag_or_digest.filter(|_| r.is_tag_implied()) {
            return Some((DecisionCode::TagRequired, Some(id)));
        }
        let tag = r.effective_tag()?;
        if let Some(&id) = self.deny.get(tag) {
            let code = if tag == crate::reference::DEFAULT_TAG {
                DecisionCode::LatestTag
            } else {
                DecisionCode::TagDenied
            };
            return Some((code, Some(id)));
        }
        if let Some((set, id)) = &self.allow_matching
            && !set.is_match(tag)
        {
            return Some((DecisionCode::TagNotAllowed, Some(*id)));
        }
        None
    }
}

/// A domain, lowercased without allocating when it fits on the stack (and not
/// copied at all when it is lowercase already, the common case).
struct LowercaseBuf {
    small: [u8; 256],
    large: String,
}

impl LowercaseBuf {
    fn new() -> Self {
        Self {
            small: [0; 256],
            large: String::new(),
        }
    }

    fn lowercase<'s>(&'s mut self, s: &'s str) -> &'s str {
        if !s.bytes().any(|b| b.is_ascii_uppercase()) {
            return s;
        }
        if s.len() <= self.small.len() {
            let out = &mut self.small[..s.len()];
            out.copy_from_slice(s.as_bytes());
            out.make_ascii_lowercase();
            // ASCII lowercasing keeps UTF-8 valid.
            std::str::from_utf8(out).unwrap_or_default()
        } else {
            self.large = s.to_ascii_lowercase();
            &self.large
        }
    }
}

/// `domain/path` written into a stack buffer (the path is at most 255 bytes,
/// so this allocates only for absurdly long domains).
struct NameBuf {
    small: [u8; 512],
    large: String,
}

impl NameBuf {
    fn new() -> Self {
        Self {
            small: [0; 512],
            large: String::new(),
        }
    }

    fn write<'s>(&'s mut self, domain: &str, path: crate::reference::Path<'_>) -> &'s str {
        let library: &str = if path.is_library_implied() {
            "library/"
        } else {
            ""
        };
        let parts = [domain, "/", library, path.as_written()];
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if len <= self.small.len() {
            let mut at = 0;
            for p in parts {
                self.small[at..at + p.len()].copy_from_slice(p.as_bytes());
                at += p.len();
            }
            std::str::from_utf8(&self.small[..len]).unwrap_or_default()
        } else {
            self.large = parts.concat();
            &self.large
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Policy>();
    }

    #[test]
    fn image_policy_annotation_keys() {
        for (key, want) in [
            ("mycluster.image-policy.k8s.io/ticket-1234", true),
            ("a.image-policy.k8s.io/x", true),
            (".image-policy.k8s.io/x", false),
            ("image-policy.k8s.io/x", false),
            ("mycluster.image-policy.k8s.io/", false),
            ("mycluster.image-policy.k8s.io.evil/x", false),
            ("x.image-policy.k8s.io", false),
        ] {
            assert_eq!(is_image_policy_annotation(key), want, "{key}");
        }
    }
}

#[cfg(test)]
mod yaml_smoke {
    use super::*;

    #[test]
    fn seed_from_yaml() {
        let src = "allow:\n  - registry: registry.my.com\ntags:\n  deny: [latest]\n";
        let loaded = Policy::from_yaml_str(src, "seed.yaml").unwrap();
        let d = loaded.policy.evaluate("prometheus:2.6.1", &Context::new());
        assert!(!d.allowed());
        assert_eq!(d.code(), DecisionCode::RegistryNotAllowed);
        let d = loaded
            .policy
            .evaluate("registry.my.com/prometheus:2.6.1", &Context::new());
        assert!(d.allowed(), "{d}");
        let rule = d.rule().unwrap();
        assert_eq!(rule.location.unwrap().to_string(), "seed.yaml:2:15");
        assert_eq!(
            d.to_string(),
            "registry.my.com/prometheus:2.6.1: allowed by allow[0] (registry registry.my.com) at seed.yaml:2:15"
        );
    }

    #[test]
    fn every_error_at_once() {
        let src = "alow:\n  - registry: x\nallow:\n  - registri: a\n  - registry: 'bad host/'\ntags:\n  deny: [1.0]\nmode: strict\n";
        let err = Policy::from_yaml_str(src, "p.yaml").unwrap_err();
        let text = err.to_string();
        assert_eq!(err.errors().count(), 5, "{text}");
        assert!(
            text.contains(
                "p.yaml:1:1: error[unknown-key]: unknown key \"alow\" (did you mean \"allow\"?)"
            ),
            "{text}"
        );
    }
}
