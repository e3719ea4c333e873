//! From a [`PolicyDocument`] to a [`Policy`]: validate every pattern, report
//! every problem at once, build the matchers.

use super::diagnostic::{Diagnostic, DiagnosticCode};
use super::domain::{StackStr, canonical_ipv6_domain, fold_docker_hub};
use super::hash::{FastMap, FastSet};
use super::matchers::{Matchers, PathParts, anchored};
use super::model::{Combine, Rule, TagRules, VerifyRule};
use super::rule::{Pattern, Segment};
use super::verify::{CompiledVerify, PublicKey};
use super::{
    LoadedPolicy, Location, Mode, Policy, PolicyDocument, PolicyError, RuleId, RuleKind, RuleMeta,
    RuleSet, Severity, TagMatchers,
};
use crate::reference::{DEFAULT_DOMAIN, grammar};
use std::collections::HashMap;

mod exempt;
mod rewrite;

/// Where the parts of a document came from: locations by path (`allow[0]`),
/// and the origin of parts without a location.
#[derive(Clone, Debug, Default)]
pub(crate) struct SourceMap {
    pub locations: HashMap<String, Location>,
    /// The origin of parts added in code, by path.
    pub origins: HashMap<String, String>,
    pub default_origin: String,
    /// The contents of verify rules' `keyFile:`s, by the rule's path
    /// (`verify[0]`), as the loader read them (`Err`: why it could not).
    pub key_files: HashMap<String, Result<String, String>>,
}

impl SourceMap {
    fn at(&self, path: &str) -> Option<Location> {
        if self.origins.contains_key(path) {
            // Added in code: no position, even inside a list from a file.
            return None;
        }
        self.locations.get(path).cloned().or_else(|| {
            // A part without its own position: the nearest enclosing one.
            let mut p = path;
            while let Some(cut) = p.rfind(['.', '[']) {
                p = &p[..cut];
                if let Some(l) = self.locations.get(p) {
                    return Some(l.clone());
                }
            }
            None
        })
    }

    fn origin(&self, path: &str) -> String {
        match (self.locations.get(path), self.origins.get(path)) {
            (_, Some(origin)) => origin.clone(),
            (Some(l), None) => l.origin.clone(),
            (None, None) => self.default_origin.clone(),
        }
    }
}

/// The compiled size limit of one regex (as the `regex` crate's default).
const REGEX_SIZE_LIMIT: usize = 10 << 20;

struct Compiler<'d> {
    doc: &'d PolicyDocument,
    sources: &'d SourceMap,
    diagnostics: Vec<Diagnostic>,
    rules: Vec<RuleMeta>,
    compiled: Vec<Option<Pattern>>,
    exemptions: Vec<super::exempt::ExemptionMeta>,
    verify: FastMap<RuleId, CompiledVerify>,
}

pub(crate) fn compile(
    doc: PolicyDocument,
    sources: &SourceMap,
    mut diagnostics: Vec<Diagnostic>,
) -> Result<LoadedPolicy, PolicyError> {
    let mut c = Compiler {
        doc: &doc,
        sources,
        diagnostics: Vec::new(),
        rules: Vec::new(),
        compiled: Vec::new(),
        exemptions: Vec::new(),
        verify: FastMap::default(),
    };
    let cluster_allow = c.declare_list(&doc.allow, "allow");
    let cluster_deny = c.declare_list(&doc.deny, "deny");
    let cluster_pin = c.declare_pins(&doc.pin, "pin");
    let cluster_verify = c.declare_verify(&doc.verify, "verify");
    let cluster_tags = c.declare_tags(&doc.tags, "tags");
    let cluster_exempt = c.declare_exemptions(&doc.exempt, "exempt");
    let mut scopes = Vec::new();
    for (i, scope) in doc.namespaces.iter().enumerate() {
        let prefix = format!("namespaces[{i}]");
        let allow = c.declare_list(&scope.allow, &format!("{prefix}.allow"));
        let deny = c.declare_list(&scope.deny, &format!("{prefix}.deny"));
        let pin = c.declare_pins(&scope.pin, &format!("{prefix}.pin"));
        let verify = c.declare_verify(&scope.verify, &format!("{prefix}.verify"));
        let tags = c.declare_tags(&scope.tags, &format!("{prefix}.tags"));
        let exempt = c.declare_exemptions(&scope.exempt, &format!("{prefix}.exempt"));
        scopes.push(ScopeIds {
            allow,
            deny,
            pin,
            verify,
            tags,
            exempt,
        });
    }

    let cluster = ScopeIds {
        allow: cluster_allow,
        deny: cluster_deny,
        pin: cluster_pin,
        verify: cluster_verify,
        tags: cluster_tags,
        exempt: cluster_exempt,
    };
    let mut rule_sets = vec![c.rule_set(doc.mode, &cluster, "")];
    let mut namespace_rules: FastMap<Box<str>, usize> = FastMap::default();
    let exempt: FastSet<Box<str>> = doc
        .exempt_namespaces
        .iter()
        .map(|s| s.as_str().into())
        .collect();
    for (i, name) in doc.exempt_namespaces.iter().enumerate() {
        c.check_namespace_name(name, &format!("exemptNamespaces[{i}]"));
    }
    for (i, (scope, own)) in doc.namespaces.iter().zip(&scopes).enumerate() {
        let prefix = format!("namespaces[{i}]");
        if scope.names.is_empty() && sources.locations.contains_key(&format!("{prefix}.names")) {
            c.error(
                DiagnosticCode::EmptyNamespaces,
                format!("{prefix}.names is empty: these rules would apply nowhere"),
                &format!("{prefix}.names"),
            );
        }
        let ids = match scope.combine {
            Combine::Replace => own.clone(),
            Combine::Add => ScopeIds {
                allow: [cluster.allow.clone(), own.allow.clone()].concat(),
                deny: [cluster.deny.clone(), own.deny.clone()].concat(),
                pin: [cluster.pin.clone(), own.pin.clone()].concat(),
                verify: [cluster.verify.clone(), own.verify.clone()].concat(),
                tags: cluster.tags.merged(&own.tags),
                exempt: [cluster.exempt.clone(), own.exempt.clone()].concat(),
            },
        };
        let set = c.rule_set(scope.mode.unwrap_or(doc.mode), &ids, &prefix);
        rule_sets.push(set);
        let index = rule_sets.len() - 1;
        for (j, name) in scope.names.iter().enumerate() {
            let path = format!("{prefix}.names[{j}]");
            c.check_namespace_name(name, &path);
            if exempt.contains(name.as_str()) {
                c.warning(
                    DiagnosticCode::NeverMatches,
                    format!("namespace {name:?} is exempt, so these rules never apply to it"),
                    &path,
                );
            }
            if let Some(&earlier) = namespace_rules.get(name.as_str()) {
                c.error(
                    DiagnosticCode::ConflictingRules,
                    format!(
                        "namespace {name:?} already has rules in namespaces[{}]",
                        earlier - 1
                    ),
                    &path,
                );
            } else {
                namespace_rules.insert(name.as_str().into(), index);
            }
        }
    }
    c.check_break_glass();
    let rewrites = c.rewrites(&doc.rewrite, &rule_sets);

    diagnostics.append(&mut c.diagnostics);
    let mut verify = std::mem::take(&mut c.verify);
    let mut rules = std::mem::take(&mut c.rules);
    for (meta, normalized) in rules.iter_mut().zip(std::mem::take(&mut c.compiled)) {
        meta.normalized = normalized;
    }
    if diagnostics.iter().any(|d| d.severity == Severity::Error) {
        return Err(PolicyError::new(diagnostics));
    }
    super::diagnostic::sort(&mut diagnostics);
    Ok(LoadedPolicy {
        policy: Policy {
            rule_sets,
            namespace_rules,
            exempt_namespaces: exempt,
            rules,
            break_glass: doc.break_glass.clone(),
            exempt_existing_images_on_update: doc.exempt_existing_images_on_update,
            rewrites,
            exemptions: std::mem::take(&mut c.exemptions),
            verify: std::mem::take(&mut verify),
            document: doc,
        },
        warnings: diagnostics,
    })
}

/// The ids of one scope's rules (the cluster's, or a `namespaces[]` entry's).
#[derive(Clone, Debug, Default)]
struct ScopeIds {
    allow: Vec<RuleId>,
    deny: Vec<RuleId>,
    pin: Vec<RuleId>,
    verify: Vec<RuleId>,
    tags: TagIds,
    exempt: Vec<RuleId>,
}

/// The ids of a scope's tag rules.
#[derive(Clone, Debug, Default)]
struct TagIds {
    deny: Vec<(String, RuleId)>,
    require_tag_or_digest: Option<RuleId>,
    require_digest: Option<RuleId>,
    allow_matching: Option<(Vec<String>, RuleId)>,
}

impl TagIds {
    /// Both scopes' requirements: the union of denied tags, either's
    /// requirements, the union of allowed tag patterns.
    fn merged(&self, other: &TagIds) -> TagIds {
        TagIds {
            deny: [self.deny.clone(), other.deny.clone()].concat(),
            require_tag_or_digest: self.require_tag_or_digest.or(other.require_tag_or_digest),
            require_digest: self.require_digest.or(other.require_digest),
            allow_matching: match (&self.allow_matching, &other.allow_matching) {
                (Some((a, id)), Some((b, _))) => Some(([a.clone(), b.clone()].concat(), *id)),
                (a, b) => a.clone().or_else(|| b.clone()),
            },
        }
    }
}

impl Compiler<'_> {
    fn error(&mut self, code: DiagnosticCode, message: String, path: &str) {
        let (location, message) = self.place(path, message);
        self.diagnostics
            .push(Diagnostic::error(code, message, location));
    }

    fn warning(&mut self, code: DiagnosticCode, message: String, path: &str) {
        let (location, message) = self.place(path, message);
        self.diagnostics
            .push(Diagnostic::warning(code, message, location));
    }

    /// The location of `path`; without one, the message names the origin
    /// and the path instead (`<flags>: allow[0]: ...`).
    fn place(&self, path: &str, message: String) -> (Option<Location>, String) {
        match self.sources.at(path) {
            Some(l) => (Some(l), message),
            None => (
                None,
                format!("{}: {path}: {message}", self.sources.origin(path)),
            ),
        }
    }

    fn declare(&mut self, index: usize, kind: RuleKind, path: String, pattern: &str) -> RuleId {
        let id = RuleId(self.rules.len() as u32);
        self.rules.push(RuleMeta {
            index,
            kind,
            location: self.sources.at(&path),
            origin: self.sources.origin(&path).into(),
            path: path.into(),
            pattern: pattern.into(),
            normalized: None,
        });
        self.compiled.push(None);
        id
    }

    /// Declares and checks the rules of one allow or deny list.
    fn declare_list(&mut self, rules: &[Rule], prefix: &str) -> Vec<RuleId> {
        self.declare_rules(rules, prefix, None)
    }

    /// Declares and checks the rules of one pin list: the forms and checks
    /// of allow rules, the kind [`RuleKind::Pin`].
    fn declare_pins(&mut self, rules: &[Rule], prefix: &str) -> Vec<RuleId> {
        self.declare_rules(rules, prefix, Some(RuleKind::Pin))
    }

    /// Declares and checks one list of verify rules: the scope as an allow
    /// rule's, the keys read (inline, and the key file as the loader read
    /// it), the signature repository a repository name.
    fn declare_verify(&mut self, rules: &[VerifyRule], prefix: &str) -> Vec<RuleId> {
        let mut ids = Vec::with_capacity(rules.len());
        for (i, rule) in rules.iter().enumerate() {
            let path = format!("{prefix}[{i}]");
            let Some(scope) = rule.scope() else {
                self.error(
                    DiagnosticCode::BadRule,
                    format!(
                        "{path}: a verify rule has exactly one of registry, repository or regex"
                    ),
                    &path,
                );
                continue;
            };
            let id = self.declare(i, RuleKind::Verify, path.clone(), scope.pattern());
            let compiled = match &scope {
                Rule::Registry(s) => self.registry(s, &path),
                Rule::Repository(s) => self.repository(s, &path),
                Rule::Regex(s) => self.regex(s, &path),
            };
            self.compiled[id.0 as usize] = compiled;
            let mut keys = Vec::new();
            for (j, pem) in rule.keys.iter().enumerate() {
                let key_path = format!("{path}.keys[{j}]");
                match PublicKey::from_pem(pem) {
                    Ok(key) => keys.push(key),
                    Err(e) => self.error(
                        DiagnosticCode::BadKey,
                        format!("{key_path}: {e}"),
                        &key_path,
                    ),
                }
            }
            if let Some(file) = &rule.key_file {
                let key_path = format!("{path}.keyFile");
                match self.sources.key_files.get(&path) {
                    Some(Ok(pem)) => match PublicKey::from_pem(pem) {
                        Ok(key) => keys.push(key),
                        Err(e) => self.error(
                            DiagnosticCode::BadKey,
                            format!("{key_path}: {file}: {e}"),
                            &key_path,
                        ),
                    },
                    Some(Err(e)) => self.error(
                        DiagnosticCode::BadKey,
                        format!("{key_path}: cannot read {file}: {e}"),
                        &key_path,
                    ),
                    None => self.error(
                        DiagnosticCode::BadKey,
                        format!("{key_path}: {file} was not read (the loader must read key files: PolicyBuilder::read_key_files)"),
                        &key_path,
                    ),
                }
            } else if rule.keys.is_empty() {
                self.error(
                    DiagnosticCode::MissingKey,
                    format!("{path}: a verify rule needs keys or a keyFile"),
                    &path,
                );
            }
            let signature_repository = rule.signature_repository.as_ref().and_then(|s| {
                let at = format!("{path}.signatureRepository");
                match crate::reference::ImageRef::parse(s) {
                    Ok(r)
                        if r.tag().is_none() && r.digest().is_none() && !r.domain().is_empty() =>
                    {
                        Some(r.name().to_string())
                    }
                    Ok(_) => {
                        self.error(
                            DiagnosticCode::BadRepository,
                            format!("{at}: {s:?} is a repository, without a tag or digest"),
                            &at,
                        );
                        None
                    }
                    Err(e) => {
                        self.error(DiagnosticCode::BadRepository, format!("{at}: {e}"), &at);
                        None
                    }
                }
            });
            self.verify.insert(
                id,
                CompiledVerify {
                    keys,
                    signature_repository,
                },
            );
            ids.push(id);
        }
        ids
    }

    fn declare_rules(
        &mut self,
        rules: &[Rule],
        prefix: &str,
        kind: Option<RuleKind>,
    ) -> Vec<RuleId> {
        let mut ids = Vec::with_capacity(rules.len());
        for (i, rule) in rules.iter().enumerate() {
            let path = format!("{prefix}[{i}]");
            let kind = kind.unwrap_or_else(|| rule.kind());
            let id = self.declare(i, kind, path.clone(), rule.pattern());
            let compiled = match rule {
                Rule::Registry(s) => self.registry(s, &path),
                Rule::Repository(s) => self.repository(s, &path),
                Rule::Regex(s) => self.regex(s, &path),
            };
            self.compiled[id.0 as usize] = compiled;
            ids.push(id);
        }
        ids
    }

    fn declare_tags(&mut self, tags: &TagRules, prefix: &str) -> TagIds {
        let mut ids = TagIds::default();
        for (i, tag) in tags.deny.iter().enumerate() {
            let path = format!("{prefix}.deny[{i}]");
            let id = self.declare(i, RuleKind::DenyTag, path.clone(), tag);
            if !grammar::is_tag(tag) {
                self.error(
                    DiagnosticCode::BadTag,
                    format!(
                        "{tag:?} is not a valid tag (tags are [A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})"
                    ),
                    &path,
                );
            }
            ids.deny.push((tag.clone(), id));
        }
        if tags.require_tag_or_digest {
            let path = format!("{prefix}.requireTagOrDigest");
            ids.require_tag_or_digest =
                Some(self.declare(0, RuleKind::RequireTagOrDigest, path, ""));
        }
        if tags.require_digest {
            let path = format!("{prefix}.requireDigest");
            ids.require_digest = Some(self.declare(0, RuleKind::RequireDigest, path, ""));
            if !tags.deny.is_empty()
                || !tags.allow_matching.is_empty()
                || tags.require_tag_or_digest
            {
                self.warning(
                    DiagnosticCode::NeverMatches,
                    "requireDigest is set, so the other tag rules never apply: a reference with a digest is pinned, and one without is denied for lack of a digest".to_owned(),
                    &path_or_parent(prefix, "requireDigest"),
                );
            }
        }
        if !tags.allow_matching.is_empty() {
            let path = format!("{prefix}.allowMatching");
            let id = self.declare(
                0,
                RuleKind::AllowTagMatching,
                path,
                &tags.allow_matching.join(" | "),
            );
            for (i, pattern) in tags.allow_matching.iter().enumerate() {
                self.check_regex(pattern, &format!("{prefix}.allowMatching[{i}]"));
            }
            ids.allow_matching = Some((tags.allow_matching.clone(), id));
        }
        ids
    }

    fn registry(&mut self, s: &str, path: &str) -> Option<Pattern> {
        let (wildcard, host) = match s.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        if let Some(message) = super::diagnostic::scheme_hint(s, "registry") {
            self.error(DiagnosticCode::BadRegistry, message, path);
            return None;
        }
        if host.contains('*') || !grammar::is_domain(host) || host.contains('/') {
            let hint = if s.contains('/') {
                " (a registry has no path: use a repository rule for domain/path patterns)"
            } else if s.contains('*') {
                " (only a leading \"*.\" label is allowed)"
            } else if s.ends_with('.') {
                " (no trailing dot)"
            } else {
                ""
            };
            self.error(
                DiagnosticCode::BadRegistry,
                format!("{s:?} is not a registry host[:port]{hint}"),
                path,
            );
            return None;
        }
        let mut lower = host.to_ascii_lowercase();
        if let Some(canonical) = canonical_ipv6_domain(&lower, &mut StackStr::new()) {
            lower = canonical.to_owned();
        }
        if wildcard {
            return Some(Pattern::WildcardRegistry(lower));
        }
        let folded = fold_docker_hub(&lower);
        if folded != lower {
            self.warning(
                DiagnosticCode::DockerHubAlias,
                format!("{s:?} is Docker Hub, which image references name docker.io: this rule is read as docker.io"),
                path,
            );
        }
        Some(Pattern::Registry(folded.to_owned()))
    }

    fn repository(&mut self, s: &str, path: &str) -> Option<Pattern> {
        let parts: Vec<&str> = s.split('/').collect();
        let bad = |why: &str| format!("{s:?} is not a repository pattern: {why}");
        if parts.len() < 2 && parts[0] != "**" {
            // A bare name: normalize as the runtime does (`nginx` is
            // docker.io/library/nginx).
        }
        if parts.iter().any(|p| p.is_empty()) {
            self.error(DiagnosticCode::BadRepository, bad("empty segment"), path);
            return None;
        }
        // Normalize like an image reference: the first segment is a registry
        // when it has `.` or `:`, is `localhost`, or is `*`.
        let first = parts[0];
        let has_domain =
            parts.len() > 1 && (first.contains(['.', ':']) || first == "localhost" || first == "*");
        let mut segments = Vec::with_capacity(parts.len() + 2);
        let path_parts: &[&str] = if has_domain { &parts[1..] } else { &parts[..] };
        let domain = if has_domain {
            if first == "*" {
                Segment::Any
            } else if grammar::is_domain(first) {
                let lower = first.to_ascii_lowercase();
                let mut buf = StackStr::new();
                let domain = canonical_ipv6_domain(&lower, &mut buf).unwrap_or(&lower);
                Segment::Literal(fold_docker_hub(domain).to_owned())
            } else {
                self.error(
                    DiagnosticCode::BadRepository,
                    bad(&format!("{first:?} is not a registry host[:port]")),
                    path,
                );
                return None;
            }
        } else {
            Segment::Literal(DEFAULT_DOMAIN.to_owned())
        };
        let library_implied = domain == Segment::Literal(DEFAULT_DOMAIN.to_owned())
            && path_parts.len() == 1
            && path_parts[0] != "**";
        segments.push(domain);
        if library_implied {
            segments.push(Segment::Literal("library".to_owned()));
            if has_domain && path_parts[0].contains('*') {
                self.warning(
                    DiagnosticCode::DockerHubLibrary,
                    format!("{s:?} is read as docker.io/library/{} (official images), as the runtime reads a one-component Docker Hub name; write docker.io/** for all of Docker Hub", path_parts[0]),
                    path,
                );
            }
        }
        let mut depth_wildcards = 0;
        for part in path_parts {
            let segment = if *part == "**" {
                depth_wildcards += 1;
                Segment::AnyDepth
            } else if *part == "*" {
                Segment::Any
            } else if part.contains('*') {
                if part.contains("**") || !part.bytes().all(|b| b == b'*' || is_component_byte(b)) {
                    self.error(DiagnosticCode::BadRepository, bad(&format!("{part:?} is not a valid segment pattern (lowercase letters, digits, '.', '_', '-' and '*')")), path);
                    return None;
                }
                Segment::Glob((*part).to_owned())
            } else if is_path_component(part) {
                Segment::Literal((*part).to_owned())
            } else {
                let why = if part.bytes().any(|b| b.is_ascii_uppercase()) {
                    format!("{part:?} has uppercase letters, and repository paths are lowercase")
                } else {
                    format!("{part:?} is not a valid path component")
                };
                self.error(DiagnosticCode::BadRepository, bad(&why), path);
                return None;
            };
            segments.push(segment);
        }
        if depth_wildcards > 1 {
            self.error(
                DiagnosticCode::BadRepository,
                bad("at most one \"**\" per pattern"),
                path,
            );
            return None;
        }
        let literal_len: usize = path_parts.iter().map(|p| p.len() + 1).sum::<usize>();
        if literal_len > 256 && !s.contains('*') {
            self.warning(
                DiagnosticCode::NeverMatches,
                format!("{s:?} is longer than the longest repository path (255 bytes), so it never matches"),
                path,
            );
        }
        Some(Pattern::Repository(segments))
    }

    fn regex(&mut self, s: &str, path: &str) -> Option<Pattern> {
        if !self.check_regex(s, path) {
            return None;
        }
        if let Some(at) = unescaped_dot_between_labels(s) {
            self.warning(
                DiagnosticCode::RegexUnescapedDot,
                format!("regex {s:?} has an unescaped '.' at byte {at} between host-like labels: it matches any character (write \\. for a dot)"),
                path,
            );
        }
        if s.contains('@') || s.contains(":latest") {
            self.warning(
                DiagnosticCode::NeverMatches,
                format!("regex {s:?} looks for a tag or digest, but regexes match the name domain/path only (use tag rules)"),
                path,
            );
        }
        Some(Pattern::Regex(s.to_owned()))
    }

    /// Whether `pattern` compiles (anchored, within the size limit); an error otherwise.
    fn check_regex(&mut self, pattern: &str, path: &str) -> bool {
        // The pattern alone first, so that a syntax error points into what
        // the author wrote; then anchored, as it will run.
        let built = regex::RegexBuilder::new(pattern)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
            .and_then(|_| {
                regex::RegexBuilder::new(&anchored(pattern))
                    .size_limit(REGEX_SIZE_LIMIT)
                    .build()
            });
        match built {
            Ok(_) => true,
            Err(e) => {
                let message = match e {
                    regex::Error::Syntax(s) => s
                        .lines()
                        .find_map(|l| l.strip_prefix("error: "))
                        .map(str::to_owned)
                        .unwrap_or(s),
                    regex::Error::CompiledTooBig(limit) => {
                        format!("compiled regex exceeds {limit} bytes")
                    }
                    other => other.to_string(),
                };
                self.error(
                    DiagnosticCode::BadRegex,
                    format!(
                        "regex {pattern:?} does not compile: {}",
                        message.replace('\n', " ")
                    ),
                    path,
                );
                false
            }
        }
    }

    fn check_namespace_name(&mut self, name: &str, path: &str) {
        let ok = crate::k8s::is_namespace_name(name);
        if !ok {
            self.error(
                DiagnosticCode::BadNamespace,
                format!("{name:?} is not a namespace name (a DNS-1123 label: lowercase letters, digits and '-', at most 63)"),
                path,
            );
        }
    }

    fn check_break_glass(&mut self) {
        let bg = &self.doc.break_glass;
        if bg.value.is_empty() {
            self.error(
                DiagnosticCode::BadBreakGlass,
                "breakGlass.value is empty: every annotation would break the glass".to_owned(),
                "breakGlass.value",
            );
        }
        let keys = bg.annotations.clone();
        for (i, key) in keys.iter().enumerate() {
            if key.is_empty() || !key.contains('/') && key.len() > 63 {
                self.error(
                    DiagnosticCode::BadBreakGlass,
                    format!("{key:?} is not an annotation key"),
                    &format!("breakGlass.annotations[{i}]"),
                );
            }
        }
    }

    /// Builds the matchers of one scope, reporting duplicates, conflicts and
    /// shadowed rules.
    fn rule_set(&mut self, mode: Mode, ids: &ScopeIds, scope: &str) -> RuleSet {
        let (allow, deny, tags) = (&ids.allow, &ids.deny, &ids.tags);
        let deny_m = self.matchers(deny, scope, "deny");
        let allow_m = self.matchers(allow, scope, "allow");
        let pin_m = self.matchers(&ids.pin, scope, "pin");
        let verify_any = self.matchers(&ids.verify, scope, "verify");
        // One matcher per verify rule too: every verify rule that matches
        // an image must be satisfied, not only the first.
        let verify_each = ids
            .verify
            .iter()
            .map(|&id| (id, self.matchers(&[id], scope, "verify")))
            .collect();
        // Conflicts and shadowing: probe the deny matchers with each literal allow rule.
        for &id in allow.iter() {
            if !self.owned_by(id, scope) {
                continue;
            }
            let probe = match &self.compiled[id.0 as usize] {
                Some(Pattern::Registry(domain)) => Some((domain.clone(), Vec::new())),
                Some(Pattern::Repository(segs)) => {
                    literal_segments(segs).map(|s| (s[0].clone(), s[1..].to_vec()))
                }
                _ => None,
            };
            let Some((domain, path)) = probe else {
                continue;
            };
            let segs = if path.is_empty() {
                vec!["x".to_owned()]
            } else {
                path
            };
            let written = segs.join("/");
            let path = PathParts {
                library: false,
                written: &written,
            };
            if let Some(deny_id) = deny_m.find(&domain, path, |_| None) {
                let same = self.compiled[deny_id.0 as usize] == self.compiled[id.0 as usize];
                let allow_path = self.rules[id.0 as usize].path.to_string();
                let deny_path = self.rules[deny_id.0 as usize].path.to_string();
                if same {
                    self.error(
                        DiagnosticCode::ConflictingRules,
                        format!(
                            "{allow_path} and {deny_path} are the same rule, allowed and denied"
                        ),
                        &allow_path,
                    );
                } else if self.rules[id.0 as usize].kind == RuleKind::Registry
                    || segs_all_literal(&self.compiled[id.0 as usize])
                {
                    self.warning(
                        DiagnosticCode::DenyShadowsAllow,
                        format!("{allow_path} never allows anything: {deny_path} ({} {}) denies it first", self.rules[deny_id.0 as usize].kind, self.rules[deny_id.0 as usize].pattern),
                        &allow_path,
                    );
                }
            }
        }
        let summary = self.allow_summary(allow);
        let allow_only_registries = allow
            .iter()
            .all(|id| self.rules[id.0 as usize].kind == RuleKind::Registry);
        let tags = self.tag_matchers(tags);
        let exempt = self.exempt_matchers(&ids.exempt, scope);
        RuleSet {
            mode,
            allow: allow_m,
            deny: deny_m,
            pin: pin_m,
            verify_any,
            verify_each,
            tags,
            exempt,
            has_exemptions: !ids.exempt.is_empty(),
            allow_summary: summary.into(),
            allow_only_registries,
        }
    }

    /// Whether rule `id` was declared in `scope` (`""` for cluster rules).
    fn owned_by(&self, id: RuleId, scope: &str) -> bool {
        let path = &self.rules[id.0 as usize].path;
        if scope.is_empty() {
            !path.starts_with("namespaces[")
        } else {
            path.starts_with(scope) && path[scope.len()..].starts_with('.')
        }
    }

    /// The matchers of one `list` (`allow` or `deny`) of a scope.
    fn matchers(&mut self, ids: &[RuleId], scope: &str, list: &str) -> Matchers {
        let mut m = Matchers::default();
        let mut regexes = Vec::new();
        let mut regex_ids = Vec::new();
        for &id in ids {
            let earlier = match self.compiled[id.0 as usize].clone() {
                Some(Pattern::Registry(d)) => m.insert_registry(&d, id),
                Some(Pattern::WildcardRegistry(d)) => m.insert_wildcard_registry(&d, id),
                Some(Pattern::Repository(segs)) => m.insert_repository(&segs, id),
                Some(Pattern::Regex(r)) => {
                    regexes.push(r);
                    regex_ids.push(id);
                    None
                }
                None => None,
            };
            if let Some(earlier) = earlier
                && self.owned_by(id, scope)
            {
                let path = self.rules[id.0 as usize].path.to_string();
                let first = self.rules[earlier.0 as usize].path.to_string();
                self.warning(
                    DiagnosticCode::DuplicateRule,
                    format!("{path} repeats {first}"),
                    &path,
                );
            }
        }
        if let Err(e) = m.set_regexes(&regexes, regex_ids) {
            let path = if scope.is_empty() {
                list.to_owned()
            } else {
                format!("{scope}.{list}")
            };
            self.error(
                DiagnosticCode::BadRegex,
                format!("the regexes of this list do not compile together: {e}"),
                &path,
            );
        }
        m
    }

    fn tag_matchers(&mut self, tags: &TagIds) -> TagMatchers {
        let mut m = TagMatchers {
            require_tag_or_digest: tags.require_tag_or_digest,
            require_digest: tags.require_digest,
            ..TagMatchers::default()
        };
        for (tag, id) in &tags.deny {
            m.deny.entry(tag.as_str().into()).or_insert(*id);
        }
        if let Some((patterns, id)) = &tags.allow_matching
            && let Ok(set) = regex::RegexSet::new(patterns.iter().map(|p| anchored(p)))
        {
            m.allow_matching = Some((set, *id));
        }
        m
    }

    fn allow_summary(&self, allow: &[RuleId]) -> String {
        const SHOWN: usize = 5;
        let mut out = String::new();
        for (i, id) in allow.iter().take(SHOWN).enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(&self.rules[id.0 as usize].pattern);
        }
        if allow.len() > SHOWN {
            out.push_str(&format!(" and {} more", allow.len() - SHOWN));
        }
        out
    }
}

fn path_or_parent(prefix: &str, key: &str) -> String {
    format!("{prefix}.{key}")
}

fn literal_segments(segs: &[Segment]) -> Option<Vec<String>> {
    segs.iter()
        .map(|s| match s {
            Segment::Literal(l) => Some(l.clone()),
            _ => None,
        })
        .collect()
}

fn segs_all_literal(c: &Option<Pattern>) -> bool {
    matches!(c, Some(Pattern::Repository(segs)) if literal_segments(segs).is_some())
}

fn is_component_byte(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`, a path component of the reference grammar.
pub(crate) fn is_path_component(s: &str) -> bool {
    let b = s.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        match b[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if i < b.len() && b[i] == b'_' {
                    i += 1;
                }
            }
            b'-' => {
                while i < b.len() && b[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
        if i == start || i >= b.len() || !alnum(b[i]) {
            return false;
        }
    }
    true
}

/// The byte offset of an unescaped `.` (outside a class) between two
/// alphanumeric characters, as in `registry.my.com`: almost always meant as a
/// literal dot, and a bypass (`registryXmy.com`) when it is not.
pub(crate) fn unescaped_dot_between_labels(re: &str) -> Option<usize> {
    let b = re.as_bytes();
    let mut in_class = false;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => {
                i += 2;
                continue;
            }
            b'[' if !in_class => in_class = true,
            b']' if in_class => in_class = false,
            b'.' if !in_class => {
                let before = i > 0 && b[i - 1].is_ascii_alphanumeric();
                let after = b.get(i + 1).is_some_and(|c| c.is_ascii_alphanumeric());
                if before && after {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_components() {
        for ok in [
            "a",
            "a1",
            "a.b",
            "a_b",
            "a__b",
            "a-b",
            "a---b",
            "node-exporter",
        ] {
            assert!(is_path_component(ok), "{ok}");
        }
        for bad in [
            "", "A", "a.", ".a", "a..b", "a___b", "a_-b", "a/b", "a b", "-a",
        ] {
            assert!(!is_path_component(bad), "{bad}");
        }
    }

    #[test]
    fn unescaped_dots() {
        assert_eq!(unescaped_dot_between_labels(r"registry.my.com/.*"), Some(8));
        assert_eq!(unescaped_dot_between_labels(r"registry\.my\.com/.*"), None);
        assert_eq!(unescaped_dot_between_labels(r"[a.b]+/.*"), None);
        assert_eq!(unescaped_dot_between_labels(r"quay\.io/.+"), None);
    }
}

#[cfg(test)]
mod regex_set_location {
    use crate::policy::Policy;

    /// Issue 12, item 6: regexes that compile alone but not together are
    /// reported at the list they are in (here `deny`), not at `allow`.
    #[test]
    fn a_deny_list_too_big_together_is_reported_at_deny() {
        let mut b = Policy::builder().origin("p").allow_registry("a.io");
        for i in 0..5 {
            b = b.deny_regex(&format!(r"x{i}\w{{200}}"));
        }
        let text = b.build().unwrap_err().to_string();
        assert!(
            text.starts_with(
                "error[bad-regex]: p: deny: the regexes of this list do not compile together"
            ),
            "{text}"
        );

        #[cfg(feature = "yaml")]
        {
            let regexes: String = (0..5)
                .map(|i| format!("      - regex: 'x{i}\\w{{200}}'\n"))
                .collect();
            let src = format!(
                "allow:\n  - registry: a.io\nnamespaces:\n  - names: [a]\n    deny:\n{regexes}"
            );
            let text = Policy::from_yaml_str(&src, "p.yaml")
                .unwrap_err()
                .to_string();
            // `namespaces[0].deny` starts on line 6.
            assert!(text.starts_with("p.yaml:6:"), "{text}");
            assert!(text.contains("do not compile together"), "{text}");
        }
    }
}
