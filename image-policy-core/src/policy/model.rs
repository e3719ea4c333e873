//! The policy as written: plain serde types, one per part of the file format,
//! with their JSON Schema ([`schema`]). [`super::Policy`] is compiled from a
//! [`PolicyDocument`]; see the [module documentation](super) for the format.

use serde::{Deserialize, Serialize};
use std::fmt;

/// What to do with an image that breaks a rule.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Deny it (the default).
    #[default]
    Enforce,
    /// Allow it, with a warning shown to the user who created the object.
    Warn,
    /// Allow it silently; the decision is only recorded (logs, metrics).
    Audit,
}

impl Mode {
    /// `"enforce"`, `"warn"` or `"audit"`, as in the policy file.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Warn => "warn",
            Mode::Audit => "audit",
        }
    }

    /// Parses [`Mode::as_str`]'s output.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "enforce" => Some(Mode::Enforce),
            "warn" => Some(Mode::Warn),
            "audit" => Some(Mode::Audit),
            _ => None,
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A whole policy file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyDocument {
    /// What to do with an image that breaks a rule: `enforce` (default), `warn`, `audit`.
    #[serde(default)]
    pub mode: Mode,
    /// On an UPDATE, images that the old object already had are not judged
    /// again, so that a policy change does not block scaling or relabelling
    /// running workloads (default `true`).
    #[serde(default = "default_true")]
    pub exempt_existing_images_on_update: bool,
    /// Allow rules: when there is at least one, an image must match one of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<Rule>,
    /// Deny rules: an image that matches any of them is denied, whatever the allow rules say.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<Rule>,
    /// Pin rules, in the forms of allow rules: an image that matches one and
    /// has no digest is denied (`pin-required`). An image they match must be
    /// pinned to a digest; they allow nothing by themselves.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pin: Vec<Rule>,
    /// Verify rules: an image one matches must be pinned to a digest
    /// (`verify-requires-digest`) whose cosign signature verifies with one
    /// of the rule's keys (checked by the registry client, not offline).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verify: Vec<VerifyRule>,
    /// Rules on tags and digests.
    #[serde(default, skip_serializing_if = "TagRules::is_empty")]
    pub tags: TagRules,
    /// Per-image exemptions: images (exactly, or by the patterns of allow
    /// rules) exempt from the rule kinds each lists, with a reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exempt: Vec<super::Exemption>,
    /// Namespaces whose images are not judged at all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exempt_namespaces: Vec<String>,
    /// Rules for some namespaces, added to or replacing the rules above.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<NamespaceRules>,
    /// The break-glass annotation: an emergency override, off by default.
    #[serde(default, skip_serializing_if = "BreakGlass::is_default")]
    pub break_glass: BreakGlass,
    /// Rewrite rules: an image under `from` is sent to `to` instead, and the
    /// rewritten image is the one judged. The first matching rule applies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rewrite: Vec<RewriteRule>,
}

fn default_true() -> bool {
    true
}

impl Default for PolicyDocument {
    fn default() -> Self {
        Self {
            mode: Mode::Enforce,
            exempt_existing_images_on_update: true,
            allow: Vec::new(),
            deny: Vec::new(),
            pin: Vec::new(),
            verify: Vec::new(),
            tags: TagRules::default(),
            exempt: Vec::new(),
            exempt_namespaces: Vec::new(),
            namespaces: Vec::new(),
            break_glass: BreakGlass::default(),
            rewrite: Vec::new(),
        }
    }
}

/// A rewrite rule: images whose normalized name is under `from` are pulled
/// from `to` instead (`{from: docker.io/library, to: registry.my.com}` makes
/// `prometheus:2.6.1` into `registry.my.com/prometheus:2.6.1`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RewriteRule {
    /// A registry (`host` or `host:port`, required), optionally followed by
    /// a repository path prefix: `docker.io`, `docker.io/library`,
    /// `quay.io/prometheus`. Matched on the normalized name at `/`
    /// boundaries; Docker Hub's other names are `docker.io`.
    pub from: String,
    /// A registry with an optional path: the part of the name below `from`
    /// is appended to it; the tag and digest are kept.
    pub to: String,
}

/// One allow, deny or pin rule: a map with exactly one key. New kinds come in
/// minor releases: match with a wildcard arm.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
#[non_exhaustive]
pub enum Rule {
    /// A registry: `host` or `host:port`, compared case-insensitively; a rule
    /// without a port matches no port. A leading `*.` matches exactly one
    /// more DNS label (`*.dkr.ecr.us-east-1.amazonaws.com`).
    Registry(String),
    /// A repository pattern on the normalized name `domain/path`, matched
    /// segment by segment: `*` matches one whole segment (or, inside a
    /// segment, any run of characters of that segment), `**` any number of
    /// whole segments; never a substring across `/`.
    Repository(String),
    /// A regular expression (Rust `regex` syntax) matched against the whole
    /// normalized name `domain/path`, as if anchored at both ends.
    Regex(String),
}

impl Rule {
    /// The kind of the rule.
    pub fn kind(&self) -> super::RuleKind {
        match self {
            Rule::Registry(_) => super::RuleKind::Registry,
            Rule::Repository(_) => super::RuleKind::Repository,
            Rule::Regex(_) => super::RuleKind::Regex,
        }
    }

    /// The pattern as written.
    pub fn pattern(&self) -> &str {
        match self {
            Rule::Registry(s) | Rule::Repository(s) | Rule::Regex(s) => s,
        }
    }
}

/// A verify rule: a scope in one of the forms of an allow rule (exactly one
/// of `registry`, `repository`, `regex`) and the public keys a cosign
/// signature of the image's digest must be made with (any one of them).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VerifyRule {
    /// The scope as a registry rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    /// The scope as a repository rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// The scope as a regex rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    /// PEM public keys (`-----BEGIN PUBLIC KEY-----`), inline.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<String>,
    /// A file holding one PEM public key, relative to the policy file's
    /// directory (read by the loader, see `PolicyBuilder::read_key_files`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<String>,
    /// The repository the signatures are kept in, as cosign's
    /// `COSIGN_REPOSITORY` (default: the image's own repository).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature_repository: Option<String>,
}

impl VerifyRule {
    /// The scope as a [`Rule`], when exactly one of `registry`,
    /// `repository` and `regex` is set.
    pub fn scope(&self) -> Option<Rule> {
        match (&self.registry, &self.repository, &self.regex) {
            (Some(s), None, None) => Some(Rule::Registry(s.clone())),
            (None, Some(s), None) => Some(Rule::Repository(s.clone())),
            (None, None, Some(s)) => Some(Rule::Regex(s.clone())),
            _ => None,
        }
    }
}

/// Rules on tags and digests. A reference with a digest is pinned: the
/// runtime pulls the digest and ignores the tag, so tag rules do not apply to it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TagRules {
    /// Tags that are denied (exact, case-sensitive). `latest` also denies a
    /// reference without tag or digest, which the runtime pulls as `latest`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<String>,
    /// A reference must name a tag or a digest (no implicit `latest`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_tag_or_digest: bool,
    /// A reference must name a digest.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_digest: bool,
    /// When not empty, the tag of an unpinned reference must match one of
    /// these regular expressions (whole tag, anchored at both ends).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_matching: Vec<String>,
}

impl TagRules {
    /// Whether no tag rule is set.
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }
}

/// How the rules of a [`NamespaceRules`] combine with the cluster-wide rules.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Combine {
    /// Cluster rules and these rules together: allow, deny and pin lists are
    /// joined, tag requirements of either apply (the default).
    #[default]
    Add,
    /// Only these rules apply in these namespaces.
    Replace,
}

/// Rules for some namespaces.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NamespaceRules {
    /// The namespaces (exact names) these rules are for.
    pub names: Vec<String>,
    /// `add` (default) or `replace`.
    #[serde(default)]
    pub combine: Combine,
    /// The mode in these namespaces (default: the policy's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// Allow rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<Rule>,
    /// Deny rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<Rule>,
    /// Pin rules (joined with the cluster's under `combine: add`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pin: Vec<Rule>,
    /// Verify rules (joined with the cluster's under `combine: add`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verify: Vec<VerifyRule>,
    /// Tag rules.
    #[serde(default, skip_serializing_if = "TagRules::is_empty")]
    pub tags: TagRules,
    /// Exemptions (joined with the cluster's under `combine: add`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exempt: Vec<super::Exemption>,
}

/// The break-glass annotation, as in the Kubernetes `ImagePolicyWebhook`
/// documentation: an annotation such as
/// `mycluster.image-policy.k8s.io/ticket-1234: break-glass` admits an image
/// that the rules deny, when (and only when) the policy enables it. Its use
/// is always recorded in the decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BreakGlass {
    /// Whether the annotation admits images (default `false`).
    #[serde(default)]
    pub enabled: bool,
    /// The annotation value that breaks the glass (default `break-glass`).
    #[serde(default = "default_break_glass_value")]
    pub value: String,
    /// When not empty, only these annotation keys count; when empty, any key
    /// of the form `PREFIX.image-policy.k8s.io/NAME` does (the keys the API
    /// server passes to an ImagePolicyWebhook).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub annotations: Vec<String>,
}

/// The default break-glass annotation value.
pub const DEFAULT_BREAK_GLASS_VALUE: &str = "break-glass";

fn default_break_glass_value() -> String {
    DEFAULT_BREAK_GLASS_VALUE.to_owned()
}

impl Default for BreakGlass {
    fn default() -> Self {
        Self {
            enabled: false,
            value: default_break_glass_value(),
            annotations: Vec::new(),
        }
    }
}

impl BreakGlass {
    fn is_default(&self) -> bool {
        self == &Self::default()
    }
}

/// The JSON Schema (draft 2020-12) of the policy file format.
#[cfg(feature = "schema")]
pub fn schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(PolicyDocument)).unwrap_or_default()
}
