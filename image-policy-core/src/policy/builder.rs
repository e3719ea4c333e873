//! Building a policy in code, or adding to a loaded one.

use super::compile::{SourceMap, compile};
use super::diagnostic::Diagnostic;
#[cfg(feature = "yaml")]
use super::load;
use super::model::{Mode, PolicyDocument, Rule};
use super::{LoadedPolicy, PolicyError};

/// Builds a [`Policy`](super::Policy): start empty ([`PolicyBuilder::new`]),
/// from a file ([`PolicyBuilder::from_yaml_str`]) or from a document, add
/// rules, then [`build`](PolicyBuilder::build), which validates everything
/// and reports every problem at once.
///
/// ```
/// use image_policy_core::policy::{Context, Policy};
///
/// let policy = Policy::builder()
///     .allow_registry("registry.my.com")
///     .deny_tag("latest")
///     .build()?
///     .policy;
/// let ctx = Context::new();
/// assert!(policy.evaluate("registry.my.com/prometheus:2.6.1", &ctx).allowed());
/// let denied = policy.evaluate("prometheus:2.6.1", &ctx);
/// assert!(!denied.allowed());
/// assert_eq!(
///     denied.to_string(),
///     "docker.io/library/prometheus:2.6.1: registry docker.io is not in the allowed registries (registry.my.com)"
/// );
/// # Ok::<(), image_policy_core::policy::PolicyError>(())
/// ```
#[derive(Clone, Debug)]
pub struct PolicyBuilder {
    document: PolicyDocument,
    sources: SourceMap,
    warnings: Vec<Diagnostic>,
}

impl Default for PolicyBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl PolicyBuilder {
    /// An empty policy (allows every image that parses), rules from `<builder>`.
    pub fn new() -> Self {
        Self::from_document(PolicyDocument::default())
    }

    /// Starts from a document built in code.
    pub fn from_document(document: PolicyDocument) -> Self {
        Self {
            document,
            sources: SourceMap {
                default_origin: "<builder>".to_owned(),
                ..SourceMap::default()
            },
            warnings: Vec::new(),
        }
    }

    /// Starts from a YAML policy file; `origin` names it in diagnostics.
    /// Fails with every problem of the file's structure (unknown keys, wrong
    /// types); the patterns are checked by [`PolicyBuilder::build`].
    #[cfg(feature = "yaml")]
    pub fn from_yaml_str(src: &str, origin: &str) -> Result<Self, PolicyError> {
        Self::from_loaded(load::yaml(src, origin))
    }

    /// Starts from a JSON policy file, as [`PolicyBuilder::from_yaml_str`].
    #[cfg(feature = "yaml")]
    pub fn from_json_str(src: &str, origin: &str) -> Result<Self, PolicyError> {
        Self::from_loaded(load::json(src, origin))
    }

    #[cfg(feature = "yaml")]
    fn from_loaded(
        loaded: Result<(PolicyDocument, SourceMap, Vec<Diagnostic>), Vec<Diagnostic>>,
    ) -> Result<Self, PolicyError> {
        let (document, mut sources, warnings) = loaded.map_err(PolicyError::new)?;
        sources.default_origin = "<builder>".to_owned();
        Ok(Self {
            document,
            sources,
            warnings,
        })
    }

    /// Reads the `keyFile:` of every verify rule with `read`, given the path
    /// as written (the caller resolves it, relative to the policy file's
    /// directory for a file). The core does no I/O: a loader that reads
    /// files calls this before [`build`](PolicyBuilder::build); a key file
    /// never read fails the build (`bad-key`), and so does an `Err` from
    /// `read`, with the rule's location.
    pub fn read_key_files(mut self, mut read: impl FnMut(&str) -> Result<String, String>) -> Self {
        let scopes = std::iter::once((String::new(), &self.document.verify)).chain(
            self.document
                .namespaces
                .iter()
                .enumerate()
                .map(|(i, ns)| (format!("namespaces[{i}]."), &ns.verify)),
        );
        for (prefix, rules) in scopes {
            for (i, rule) in rules.iter().enumerate() {
                if let Some(file) = &rule.key_file {
                    self.sources
                        .key_files
                        .insert(format!("{prefix}verify[{i}]"), read(file));
                }
            }
        }
        self
    }

    /// Names the origin of the rules added from now on in diagnostics and
    /// decisions (`<flags>` for command-line flags; `<builder>` by default).
    pub fn origin(mut self, origin: &str) -> Self {
        self.sources.default_origin = origin.to_owned();
        self
    }

    fn add(mut self, allow: bool, rule: Rule) -> Self {
        let list = if allow {
            &mut self.document.allow
        } else {
            &mut self.document.deny
        };
        list.push(rule);
        let path = format!(
            "{}[{}]",
            if allow { "allow" } else { "deny" },
            list.len() - 1
        );
        self.mark(path)
    }

    /// Records the current origin for a path added in code.
    fn mark(mut self, path: String) -> Self {
        self.sources
            .origins
            .insert(path, self.sources.default_origin.clone());
        self
    }

    /// Allows a registry: `host` or `host:port`, or `*.suffix`.
    pub fn allow_registry(self, registry: &str) -> Self {
        self.add(true, Rule::Registry(registry.to_owned()))
    }

    /// Allows a repository pattern (`quay.io/prometheus/*`).
    pub fn allow_repository(self, pattern: &str) -> Self {
        self.add(true, Rule::Repository(pattern.to_owned()))
    }

    /// Allows names matching a regex (whole `domain/path`).
    pub fn allow_regex(self, regex: &str) -> Self {
        self.add(true, Rule::Regex(regex.to_owned()))
    }

    /// Denies a registry.
    pub fn deny_registry(self, registry: &str) -> Self {
        self.add(false, Rule::Registry(registry.to_owned()))
    }

    /// Denies a repository pattern.
    pub fn deny_repository(self, pattern: &str) -> Self {
        self.add(false, Rule::Repository(pattern.to_owned()))
    }

    /// Denies names matching a regex.
    pub fn deny_regex(self, regex: &str) -> Self {
        self.add(false, Rule::Regex(regex.to_owned()))
    }

    /// Puts the images matching `rule` (registry, repository or regex) in
    /// pin scope: without a digest they are denied (`pin-required`).
    pub fn pin(mut self, rule: Rule) -> Self {
        self.document.pin.push(rule);
        let path = format!("pin[{}]", self.document.pin.len() - 1);
        self.mark(path)
    }

    /// Denies a tag (`latest` also denies references without tag or digest).
    pub fn deny_tag(mut self, tag: &str) -> Self {
        if self.document.tags.deny.iter().any(|t| t == tag) {
            return self;
        }
        self.document.tags.deny.push(tag.to_owned());
        let path = format!("tags.deny[{}]", self.document.tags.deny.len() - 1);
        self.mark(path)
    }

    /// Requires a tag or a digest (no implicit `latest`).
    pub fn require_tag_or_digest(mut self) -> Self {
        self.document.tags.require_tag_or_digest = true;
        self.mark("tags.requireTagOrDigest".to_owned())
    }

    /// Requires a digest.
    pub fn require_digest(mut self) -> Self {
        self.document.tags.require_digest = true;
        self.mark("tags.requireDigest".to_owned())
    }

    /// Allows only tags matching one of these regexes (added to any set).
    pub fn allow_tags_matching(mut self, regex: &str) -> Self {
        self.document.tags.allow_matching.push(regex.to_owned());
        let path = format!(
            "tags.allowMatching[{}]",
            self.document.tags.allow_matching.len() - 1
        );
        self.mark(path)
    }

    /// Adds a rewrite rule (after the rules there are): images under `from`
    /// are rewritten to `to` (see [`super::rewrite`]).
    pub fn rewrite(mut self, from: &str, to: &str) -> Self {
        self.document.rewrite.push(super::model::RewriteRule {
            from: from.to_owned(),
            to: to.to_owned(),
        });
        let path = format!("rewrite[{}]", self.document.rewrite.len() - 1);
        self.mark(path)
    }

    /// Sets the mode.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.document.mode = mode;
        self
    }

    /// Exempts a namespace.
    pub fn exempt_namespace(mut self, namespace: &str) -> Self {
        self.document.exempt_namespaces.push(namespace.to_owned());
        self
    }

    /// Enables or disables the break-glass annotation.
    pub fn break_glass(mut self, enabled: bool) -> Self {
        self.document.break_glass.enabled = enabled;
        self
    }

    /// Sets `exemptExistingImagesOnUpdate`.
    pub fn exempt_existing_images_on_update(mut self, exempt: bool) -> Self {
        self.document.exempt_existing_images_on_update = exempt;
        self
    }

    /// The document built so far.
    pub fn document(&self) -> &PolicyDocument {
        &self.document
    }

    /// Validates and compiles: every error at once, or the policy and its warnings.
    pub fn build(self) -> Result<LoadedPolicy, PolicyError> {
        compile(self.document, &self.sources, self.warnings)
    }
}
