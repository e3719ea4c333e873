//! The policy engine: which images may run, decided on parsed references.
//!
//! # Overview
//!
//! A policy is written as a file (YAML or JSON, the format below) or built in
//! code ([`PolicyBuilder`]), then *compiled* into a [`Policy`]: every pattern is
//! checked up front, every problem reported at once with its
//! `file:line:column` ([`PolicyError`]), likely mistakes reported as warnings
//! ([`LoadedPolicy::warnings`]). A compiled policy answers
//! [`Policy::evaluate`] with a [`Decision`] that explains itself: allowed or
//! not, the mode, the canonical reference, the rule that decided (its path in
//! the file and its location), a machine-readable [`DecisionCode`] and a
//! one-line reason.
//!
//! Every rule matches on the parts of the reference *as the container runtime
//! parses it* ([`crate::reference`]), never on the string: `nginx`,
//! `docker.io/library/nginx` and `index.docker.io/library/nginx` are one image;
//! `registry.my.com:5000/app` has a port, not a tag; `registry.my.com.evil.io`
//! is not `registry.my.com`.
//!
//! ```
//! # #[cfg(feature = "yaml")] {
//! use image_policy_core::policy::{Context, DecisionCode, Policy};
//!
//! let policy = Policy::from_yaml_str(
//!     "allow:\n  - registry: registry.my.com\n",
//!     "policy.yaml",
//! )?
//! .policy;
//! let ctx = Context::new().namespace("default");
//!
//! let d = policy.evaluate("registry.my.com/prometheus:2.6.1", &ctx);
//! assert!(d.allowed());
//! assert_eq!(d.rule().unwrap().location.unwrap().to_string(), "policy.yaml:2:15");
//!
//! let d = policy.evaluate("prometheus:2.6.1", &ctx);
//! assert!(!d.allowed());
//! assert_eq!(d.code(), DecisionCode::RegistryNotAllowed);
//! assert_eq!(
//!     d.to_string(),
//!     "docker.io/library/prometheus:2.6.1: registry docker.io is not in the allowed registries (registry.my.com)"
//! );
//! # }
//! # Ok::<(), image_policy_core::policy::PolicyError>(())
//! ```
//!
//! # The policy file
//!
//! ```yaml
//! mode: enforce                  # enforce (default) | warn | audit
//! exemptExistingImagesOnUpdate: true   # default true
//! allow:                         # if any allow rule exists, an image must match one
//!   - registry: registry.my.com                    # exact host, any path
//!   - registry: registry.my.com:5000               # that port only
//!   - registry: "*.dkr.ecr.us-east-1.amazonaws.com" # one more leading label
//!   - repository: quay.io/prometheus/*             # one segment
//!   - repository: registry.my.com/platform/**      # one or more segments
//!   - regex: 'ghcr\.io/my-org/[a-z-]+'             # whole domain/path, anchored
//! deny:                          # any match denies, whatever the allow rules say
//!   - repository: registry.my.com/legacy/**
//! pin:                           # a match must have a digest (pin-required)
//!   - registry: registry.my.com                    # the forms of allow rules
//! verify:                        # a match must be pinned and cosign-signed
//!   - repository: registry.my.com/team/**          # one scope, as allow rules
//!     keyFile: cosign.pub                          # and/or keys: [PEM, ...]
//!     signatureRepository: registry.my.com/sigs    # optional (COSIGN_REPOSITORY)
//! exempt:                        # per-image exemptions from some rule kinds
//!   - image: registry.my.com/tools/debug:1.2       # exactly this image
//!     from: [tags, digest]                         # tags, digest, deny, pin, verify
//!     reason: debug image kept on a tag            # required, recorded
//!   - repository: registry.my.com/legacy/*         # or registry, regex
//!     from: [deny]
//!     reason: kept until the migration ends
//! tags:
//!   deny: [latest]               # latest also denies "no tag, no digest"
//!   requireTagOrDigest: false
//!   requireDigest: false
//!   allowMatching: []            # regexes; the tag must match one when set
//! exemptNamespaces: [kube-system]
//! namespaces:
//!   - names: [team-a]
//!     combine: add               # add (default) to the rules above, or replace them
//!     mode: warn                 # optional, default: the policy's
//!     allow:
//!       - repository: quay.io/team-a/**
//!     pin:                       # joined with the cluster's (add) or alone (replace)
//!       - repository: quay.io/team-a/**
//! breakGlass:
//!   enabled: false               # off by default
//!   value: break-glass           # the annotation value
//!   annotations: []              # keys; empty: any PREFIX.image-policy.k8s.io/NAME
//! rewrite:                       # first match wins; the rewritten image is judged
//!   - from: docker.io/library    # a registry (required), then a path prefix
//!     to: registry.my.com        # a registry, then an optional path
//! ```
//!
//! Unknown keys are errors (with a "did you mean"), as are wrong types,
//! duplicate keys, rules with zero or two kinds, and any pattern that does not
//! compile. `image-policy policy schema` prints the JSON Schema ([`schema`]).
//!
//! ## Rules
//!
//! | rule | matches | never matches |
//! |---|---|---|
//! | `registry: registry.my.com` | `registry.my.com/x`, `REGISTRY.MY.COM/a/b` | `registry.my.com:5000/x`, `registry.my.com.evil.io/x`, `evil.io/registry.my.com/x` |
//! | `registry: registry.my.com:5000` | `registry.my.com:5000/x` | `registry.my.com/x`, `registry.my.com:50000/x` |
//! | `registry: "*.example.com"` | `a.example.com/x` | `example.com/x`, `a.b.example.com/x`, `a.example.com:443/x` |
//! | `registry: docker.io` | `nginx`, `bitnami/redis`, `index.docker.io/library/nginx`, `registry-1.docker.io/library/nginx` | `docker.io.evil.io/x` |
//! | `repository: quay.io/prometheus/*` | `quay.io/prometheus/node-exporter` | `quay.io/prometheusevil/x`, `quay.io/prometheus/a/b`, `quay.io/prometheus` |
//! | `repository: quay.io/team/**` | `quay.io/team/a`, `quay.io/team/a/b` | `quay.io/team`, `quay.io/teams/a` |
//! | `repository: registry.my.com/team-*/app` | `registry.my.com/team-a/app` | `registry.my.com/team-a/b/app` |
//! | `repository: "*/library/busybox"` | `busybox`, `mirror.io:5000/library/busybox` | `mirror.io/x/library/busybox` |
//! | `repository: nginx` | `nginx`, `docker.io/library/nginx:1.27` | `quay.io/library/nginx` |
//! | `regex: 'registry\.my\.com/team/.+'` | `registry.my.com/team/app` | `registryXmy.com/team/app`, `evil.io/registry.my.com/team/app` |
//!
//! - **Registries** are compared case-insensitively, with the port as part of
//!   the registry. A leading `*.` stands for exactly one DNS label. Docker
//!   Hub's other names (`index.docker.io` in any case, `registry-1.docker.io`)
//!   are `docker.io`.
//!   An IPv6 host is compared in its canonical form (`[0:0::1]` is `[::1]`).
//! - **Repository patterns** are normalized like a reference (`nginx` is
//!   `docker.io/library/nginx`, `bitnami/*` is `docker.io/bitnami/*`) and
//!   matched segment by segment against `domain/path`: a `*` segment matches
//!   one segment, `*` inside a segment (`team-*`) any run of characters within
//!   it, `**` one or more whole segments (at most one `**` per pattern), a
//!   first segment `*` any registry. Nothing matches a part of a segment.
//! - **Regexes** (Rust `regex` syntax: no backtracking, linear time) match
//!   the whole of `domain/path` with the domain in lowercase, as if written
//!   `^(?:REGEX)$`. They never see the tag or digest: use tag rules.
//! - **The pull host.** Rules judge the registry the runtime will contact
//!   ([`ImageRef::pull_host`](crate::reference::ImageRef::pull_host)), not
//!   only the name's domain. They differ in one case: a first component that
//!   looks like a host but is not a valid one (`x_y.evil.com/app`: the `_`)
//!   leaves the name with no domain and the path `x_y.evil.com/app`, and
//!   containerd still pulls from `x_y.evil.com`. Then **deny** rules
//!   (registry, repository, regex) match when they match either view, the
//!   name's (no domain, then every path segment; a regex sees
//!   `/x_y.evil.com/app`) or the pull host's (`x_y.evil.com` with the path
//!   `app`; a regex sees `x_y.evil.com/app`), so `registry: "*.evil.com"`
//!   denies it; **allow** rules must match the pull host's view, so an image
//!   is admitted only when what will be pulled is allowed. A decision shows
//!   the pull host when it differs from the domain
//!   ([`Decision::pull_host`]). Every other near-host (uppercase with `_`,
//!   empty labels, a leading `-`, a bad port, a broken IPv6 bracket) does
//!   not parse, and is denied.
//! - **Tag rules** do not apply to a reference with a digest: it is pinned,
//!   and the runtime ignores its tag (`nginx:latest@sha256:…` is not a
//!   `latest` image). Tags are compared exactly (`LATEST` is not `latest`).
//!
//! ## Precedence
//!
//! The rules apply in this order; the first row that applies decides. An
//! image exempt from a row's rule (rows 3, 5 to 9: see [Exempt](#exempt))
//! passes that row, and the next rows still apply.
//!
//! | # | condition | code | allowed (enforce) |
//! |---|---|---|---|
//! | 1 | the image does not parse | `unparseable` | no, in every mode, whatever the namespace or break-glass |
//! | 2 | the namespace is in `exemptNamespaces` | `namespace-exempt` | yes, not judged |
//! | 3 | a deny rule matches (registry, repository or regex) | `denied-by-rule` | no |
//! | 4 | allow rules exist and none matches | `registry-not-allowed` | no |
//! | 5 | unpinned, a `pin` rule matches | `pin-required` | no |
//! | 5b | unpinned, a `verify` rule matches | `verify-requires-digest` | no |
//! | 6 | unpinned, `requireDigest` | `digest-required` | no |
//! | 7 | no tag and no digest, `requireTagOrDigest` | `tag-required` | no |
//! | 8 | unpinned, the tag (written, or the implied `latest`) is in `tags.deny` | `latest-tag` / `tag-denied` | no |
//! | 9 | unpinned, `allowMatching` is set and the tag matches none | `tag-not-allowed` | no |
//! | 10 | otherwise | `allowed` | yes |
//!
//! With rewrite rules, [`Policy::evaluate_rewritten`] applies every row to
//! the *rewritten* image, the one the object will carry; an image that does
//! not parse is not rewritten (row 1), and a rewrite that would not parse is
//! a [`RewriteError`](rewrite::RewriteError) (deny the image). [`Policy::evaluate`] never rewrites,
//! and stays allocation-free.
//!
//! Then the **mode** applies to a violation (rows 3 to 9): `enforce` denies,
//! `warn` allows with a warning, `audit` allows and only records; in every
//! mode [`Decision::violates`] is true. In enforce mode, a **break-glass**
//! annotation admits the violating image when the policy enables it
//! (code `break-glass`, [`Decision::violation`] keeps the broken rule); when
//! the policy does not enable it, the request is recorded in the reason and
//! ignored.
//!
//! A namespace listed in `namespaces[]` uses that entry's rules: with
//! `combine: add`, the cluster's allow, deny and pin lists joined with its own,
//! the tag rules of both; with `combine: replace`, its own only. A namespace
//! may be in one entry only.
//!
//! ## Pin
//!
//! `pin:` rules put images in *pin scope*: an image they match must name a
//! digest (`name@sha256:…` or `name:tag@sha256:…`; the runtime pulls the
//! digest, the tag is decorative), or it is denied with `pin-required`,
//! naming the pin rule. They have the forms, checks and matchers of allow
//! rules (registry, repository, regex) and are matched as deny rules are:
//! on the name's view and on the pull host's when they differ, since
//! requiring a digest of more images is the safe side. They allow nothing:
//! an image must still pass the allow and deny rules, and a denial by those
//! comes first (rows 3 and 4); pin applies to images otherwise allowed, and
//! before the tag rules (a pinned image has no tag to judge). An exempt
//! namespace is not judged, so not pinned. Under `warn` and `audit` an
//! unpinned image is a violation like any other. With rewrite rules the
//! rewritten image is the one in or out of pin scope. The policy only
//! *requires* the digest: resolving tags to digests is the registry
//! client's job (`image-policy-registry`, `image-policy resolve`). Pin
//! rules are listed by [`Policy::rules`] with the kind [`RuleKind::Pin`]
//! and their normalized [`Pattern`].
//!
//! ## Exempt
//!
//! `exempt:` rules (top level, and in `namespaces[]` entries, joined with
//! the cluster's under `combine: add`, alone under `replace`) lift some rule
//! kinds for some images. Each names its images by exactly one of:
//!
//! - `image:` one image, exactly: parsed and normalized as the runtime does
//!   (`debug:1.2` is `docker.io/library/debug:1.2`, Docker Hub's other names
//!   are `docker.io`, the registry is compared lowercase, a port is part of
//!   it). It matches an image with the same normalized name, the same tag
//!   (an image or exemption with neither tag nor digest is `:latest`, as the
//!   runtime pulls it) and the same digest: a digest in the exemption must
//!   be the image's, and an exemption without a digest matches only images
//!   without one (a digest names content the tag may never have had). A
//!   name without a valid registry domain (`x_y.evil.com/app`) must also be
//!   pulled from the same host;
//! - `registry:`, `repository:` or `regex:`, the forms and normalization of
//!   allow rules; such an exemption must match both the name and, when it
//!   differs, what is pulled (it widens, so it must hold for every view).
//!
//! `from` lists the kinds it lifts, `reason` says why (both required, not
//! empty):
//!
//! | kind | lifts | codes no longer given |
//! |---|---|---|
//! | `deny` | the `deny:` rules | `denied-by-rule` |
//! | `pin` | the `pin:` rules | `pin-required` |
//! | `digest` | `tags.requireDigest` | `digest-required` |
//! | `tags` | `tags.deny` (and the implied `latest`), `tags.requireTagOrDigest`, `tags.allowMatching` | `latest-tag`, `tag-denied`, `tag-required`, `tag-not-allowed` |
//! | `verify` | the `verify:` rules | `verify-requires-digest` (and the signature check: see [`Policy::verify_requirements`]) |
//!
//! There is no `allow`: an exemption from the allow list is an `allow:`
//! rule, and `from: [allow]` is an error saying so. An exemption never
//! allows: an image exempt from `deny` must still match the allow list
//! (row 4). The rows apply in their order; a row whose rule the image is
//! exempt from is passed, and the next rows still apply. Every exemption
//! used is recorded ([`Decision::exemptions`]: the exemption, its reason,
//! the kind and the rule it lifted) and said in the reason (`; exempt from
//! tags (tags.deny[0]) by exempt[0]: REASON`). Exemptions are listed by
//! [`Policy::exemptions`] ([`ExemptionInfo`]) and by [`Policy::rules`]
//! with the kind [`RuleKind::Exempt`]. A policy without exemptions pays
//! nothing for them; a decision that used some stores only their count,
//! and [`Decision::exemptions`] judges the image again to list them.
//!
//! ## Verify
//!
//! `verify:` rules put images in *verify scope*: each is one scope in the
//! forms of an allow rule (`registry`, `repository` or `regex`), the PEM
//! public keys a cosign signature must be made with (`keys:` inline,
//! `keyFile:` relative to the policy file, read by the loader through
//! [`PolicyBuilder::read_key_files`]; any one key verifies), and optionally
//! the `signatureRepository:` the signatures are kept in. Keys are checked
//! when the policy loads ([`verify`]: PEM, `PUBLIC KEY`, ECDSA P-256 or
//! P-384, RSA 2048-8192, Ed25519), each error (`bad-key`) at its line and
//! column. Offline — here, in `check`, in `/validate`'s policy step — a
//! verify rule only requires the digest: an unpinned image it matches is
//! denied with `verify-requires-digest` (row 5b: after pin, before the tag
//! rules; matched on either view, as pin rules). The signature is checked
//! by the registry crate (`image-policy-registry`'s `cosign::Verifier`,
//! `image-policy verify`), which reads [`Policy::verify_requirements`]:
//! every verify rule matching the image, all of which must be satisfied.
//! Verify rules allow nothing by themselves; with `combine: add` a
//! namespace's are joined to the cluster's, with `replace` they replace
//! them.
//!
//! ## Rewrite
//!
//! `rewrite:` rules send images to another registry before they are judged:
//! with `{from: docker.io/library, to: registry.my.com}`, `prometheus:2.6.1`
//! becomes `registry.my.com/prometheus:2.6.1`; with `{from: docker.io, to:
//! registry.my.com/dockerhub}`, `grafana/grafana:10@sha256:…` becomes
//! `registry.my.com/dockerhub/grafana/grafana:10@sha256:…`. `from` is matched
//! on the normalized name at `/` boundaries and must start with a registry
//! (a bare `nginx` is an error). [`Policy::rewrite`] makes the new
//! reference; [`Policy::evaluate_rewritten`] judges it, and the decision
//! shows both ([`Decision::rewritten`]); [`Policy::evaluate`] alone never
//! rewrites. Rules given as flags (`--rewrite FROM=TO`) come after the
//! file's. The rules, their checks (`bad-rewrite`, `rewrite-loop`,
//! `rewrite-target-denied`, `rewrite-not-needed`, `rewrite-collision`) and the failures at
//! rewrite time ([`RewriteError`](rewrite::RewriteError)) are described in full in [`rewrite`]; in
//! short: a rewrite never produces a
//! reference that does not parse, rewriting twice is rewriting once, and a
//! rule whose `to` the cluster's rules deny is an error.
//!
//! ## The rule layer
//!
//! A compiled [`Policy`] is readable, not only runnable: it keeps every rule
//! it was compiled from ([`Policy::rules`], [`Policy::rule`]) with its
//! identity ([`RuleInfo`]: index, [`RuleKind`], path, pattern as written,
//! location) and, for allow, deny and pin rules, the [`Pattern`] the matchers
//! were built from: registries lowercase with Docker Hub's other names
//! folded into `docker.io` and IPv6 hosts in canonical form, repository
//! patterns normalized like a reference (`nginx` is
//! `docker.io/library/nginx`) and split into [`Segment`]s. This is what a
//! decision names, and what other tools read to translate a policy into
//! another engine's configuration (`image-policy-export`), as
//! regex-automata builds on regex-syntax's HIR: from the rules as the policy
//! reads them, never by parsing or compiling the file a second time.
//! Rewrite rules are listed too (kind [`RuleKind::Rewrite`], pattern
//! `FROM=TO`); their normalized form is a [`RewritePattern`](rewrite::RewritePattern)
//! ([`Policy::rewrite_rules`]). The compiler's own structures (the matchers,
//! the trie of segments, the regex sets) stay private.
//!
//! ```
//! use image_policy_core::policy::{Pattern, Policy, RuleKind, Segment};
//!
//! let policy = Policy::builder()
//!     .allow_registry("Index.Docker.IO")
//!     .allow_repository("quay.io/team/**")
//!     .build()?
//!     .policy;
//! let rules: Vec<_> = policy.rules().collect();
//! assert_eq!(rules[0].path, "allow[0]");
//! assert_eq!(rules[0].kind, RuleKind::Registry);
//! assert_eq!(rules[0].normalized, Some(&Pattern::Registry("docker.io".into())));
//! let Some(Pattern::Repository(segments)) = rules[1].normalized else { panic!() };
//! assert_eq!(segments[2], Segment::AnyDepth);
//! assert_eq!(policy.rule("allow[1]").unwrap().pattern, "quay.io/team/**");
//! # Ok::<(), image_policy_core::policy::PolicyError>(())
//! ```
//!
//! ## Diagnostics
//!
//! Loading reports every problem it finds, each a [`Diagnostic`] with a
//! [`Severity`], a message naming the offending text, its location, and a
//! [`DiagnosticCode`]: errors reject the policy ([`PolicyError`] holds them
//! all), warnings ([`LoadedPolicy::warnings`]) let it load but point at a
//! rule that probably does not do what its author meant. The documentation
//! of [`DiagnosticCode`] is the list of codes: each variant gives its string
//! (`unknown-key`, `bad-registry`, `regex-unescaped-dot`, ...), the severity
//! it comes with, what it means and what to do
//! ([`DiagnosticCode::description`], the same sentence).
//!
//! # Performance
//!
//! Evaluation costs the same with one rule or ten thousand: exact registries
//! are one hash lookup, `*.` registries one more (the domain without its first
//! label), repository patterns one walk down a trie of segments (a hash lookup
//! per segment), regexes one pass of a single `RegexSet`. A decision allocates
//! nothing (except for an unparseable image, whose error keeps its input when
//! displayed); the reason is formatted by `Display` only when asked for.
//! `BENCHMARKS.md` has figures next to Gatekeeper's Rego (`regorus`) and a
//! CEL expression (`cel-interpreter`).
//!
//! # Untrusted input
//!
//! Images come from attackers; policy files from operators. Any image string
//! is handled in time linear in its length without panicking, and anything
//! the runtime would not parse is denied. Regexes cannot backtrack
//! catastrophically (the `regex` crate), and their compiled size is bounded.
//! An allow list is exact; a deny list is only as good as its coverage: a
//! registry reached by another name (its IP address, another DNS alias, an
//! explicit default port such as `:443`) is another registry to it. Prefer
//! allow lists.

mod builder;
pub(crate) mod compile;
mod decision;
mod diagnostic;
mod domain;
mod exempt;
mod hash;
#[cfg(feature = "yaml")]
mod load;
pub(crate) mod matchers;
mod model;
pub mod rewrite;
mod rule;
pub mod verify;

pub use builder::PolicyBuilder;
pub use decision::{Context, Decision, DecisionCode, OwnedDecision};
pub use diagnostic::{Diagnostic, DiagnosticCode, Location, PolicyError, Severity, scheme_hint};
pub use exempt::{
    ExactImage, ExemptKind, Exemption, ExemptionInfo, ExemptionUse, OwnedExemptionUse,
};
#[cfg(feature = "schema")]
pub use model::schema;
pub use model::{
    BreakGlass, Combine, DEFAULT_BREAK_GLASS_VALUE, Mode, NamespaceRules, PolicyDocument,
    RewriteRule, Rule, TagRules, VerifyRule,
};
use rewrite::Rewritten;
pub use rule::{Pattern, RuleIdentity, RuleInfo, RuleKind, Segment};

use crate::reference::ImageRef;
use decision::BreakGlass as BreakGlassUse;
use hash::{FastMap, FastSet};
use matchers::Matchers;
use std::fmt;

/// A compiled policy: immutable, `Send + Sync`, cheap to evaluate. Share it
/// with an `Arc`.
pub struct Policy {
    /// Rule sets: `[0]` is the cluster's, then one per `namespaces[]` entry.
    rule_sets: Vec<RuleSet>,
    /// Namespace name → index in `rule_sets`.
    namespace_rules: FastMap<Box<str>, usize>,
    exempt_namespaces: FastSet<Box<str>>,
    /// Every rule, for [`RuleInfo`].
    rules: Vec<RuleMeta>,
    break_glass: BreakGlass,
    exempt_existing_images_on_update: bool,
    /// The rewrite rules, in order.
    rewrites: Vec<rewrite::RewritePattern>,
    /// The `exempt:` rules' reasons, kinds and exact images, in order.
    exemptions: Vec<exempt::ExemptionMeta>,
    /// The keys and signature repository of each verify rule.
    verify: FastMap<RuleId, verify::CompiledVerify>,
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
    /// The normalized pattern of an allow, deny or pin rule.
    normalized: Option<Pattern>,
}

/// The rules that apply in one scope (the cluster, or some namespaces).
#[derive(Debug)]
pub(crate) struct RuleSet {
    pub(crate) mode: Mode,
    allow: Matchers,
    deny: Matchers,
    /// Pin scope: an image these match must have a digest.
    pin: Matchers,
    /// Verify scope, all rules: an image these match must have a digest.
    verify_any: Matchers,
    /// Each verify rule alone, to list every one that matches.
    verify_each: Vec<(RuleId, Matchers)>,
    tags: TagMatchers,
    /// The exemptions that apply in this scope, by the kind they lift.
    exempt: exempt::ExemptMatchers,
    /// Whether `exempt` has any exemption (the common case has none).
    has_exemptions: bool,
    /// The allow rules, listed for the reason (a few, then a count).
    pub(crate) allow_summary: Box<str>,
    /// Whether every allow rule is a registry rule (for the wording).
    pub(crate) allow_only_registries: bool,
}

/// Compiled tag rules.
#[derive(Debug, Default)]
struct TagMatchers {
    deny: FastMap<Box<str>, RuleId>,
    require_tag_or_digest: Option<RuleId>,
    require_digest: Option<RuleId>,
    allow_matching: Option<(regex::RegexSet, RuleId)>,
}

impl Policy {
    /// Loads a policy from YAML. `origin` names the source in diagnostics
    /// (usually the file name). Every problem is reported, with its line and
    /// column.
    #[cfg(feature = "yaml")]
    pub fn from_yaml_str(src: &str, origin: &str) -> Result<LoadedPolicy, PolicyError> {
        PolicyBuilder::from_yaml_str(src, origin)?.build()
    }

    /// Loads a policy from JSON, as [`Policy::from_yaml_str`] does.
    #[cfg(feature = "yaml")]
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

    /// Whether `namespace` is in `exemptNamespaces` (its images are not
    /// judged, and the mutating webhook does not rewrite them).
    pub fn is_exempt_namespace(&self, namespace: &str) -> bool {
        self.exempt_namespaces.contains(namespace)
    }

    /// Whether any scope (the cluster's or a namespace's) has `pin:` rules:
    /// when not, no image is ever in pin scope, and a mutating webhook has
    /// nothing to resolve.
    pub fn has_pin_rules(&self) -> bool {
        self.rule_sets.iter().any(|set| !set.pin.is_empty())
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
    /// Rewrite rules do not apply here: see [`Policy::evaluate_rewritten`].
    pub fn evaluate<'a>(&'a self, image: &'a str, ctx: &Context<'a>) -> Decision<'a> {
        self.decide(image, None, ctx)
    }

    /// Judges `rewritten` when given, else `image`.
    fn decide<'a>(
        &'a self,
        image: &'a str,
        rewritten: Option<&'a Rewritten>,
        ctx: &Context<'a>,
    ) -> Decision<'a> {
        let judged = rewritten.map_or(image, Rewritten::as_str);
        let namespace = ctx.get_namespace();
        let rule_set = namespace
            .and_then(|ns| self.namespace_rules.get(ns))
            .map_or(&self.rule_sets[0], |&i| &self.rule_sets[i]);
        let mut decision = Decision {
            policy: self,
            image,
            rewritten,
            reference: ImageRef::parse_lean(judged),
            namespace,
            rule_set,
            outcome: DecisionCode::Allowed,
            rule: None,
            break_glass: BreakGlassUse::Absent,
            exempted: 0,
        };
        // An image the runtime cannot parse is denied whatever else applies:
        // no exempt namespace, mode or break-glass admits it.
        let Ok(reference) = decision.reference else {
            decision.outcome = DecisionCode::Unparseable;
            return decision;
        };
        if namespace.is_some_and(|ns| self.exempt_namespaces.contains(ns)) {
            decision.outcome = DecisionCode::NamespaceExempt;
            return decision;
        }
        let (outcome, rule) = rule_set.judge(reference, &mut decision.exempted);
        decision.outcome = outcome;
        decision.rule = rule;
        if outcome.is_violation() {
            decision.break_glass = self.break_glass(ctx);
        }
        decision
    }

    fn break_glass<'a>(&self, ctx: &Context<'a>) -> BreakGlassUse<'a> {
        let requested = ctx.get_annotations().iter().find(|(key, value)| {
            *value == self.break_glass.value
                && if self.break_glass.annotations.is_empty() {
                    is_image_policy_annotation(key)
                } else {
                    self.break_glass.annotations.iter().any(|k| k == key)
                }
        });
        match requested {
            None => BreakGlassUse::Absent,
            Some((key, _)) if self.break_glass.enabled => BreakGlassUse::Used(key),
            Some((key, _)) => BreakGlassUse::NotEnabled(key),
        }
    }

    /// Every rule of the policy, read-only, in the order they were declared:
    /// the cluster's `allow`, `deny`, `pin`, `verify` and `tags`, then each
    /// `namespaces[]` entry's, then `rewrite` (see [`RuleInfo`] and the rule layer's
    /// [`Pattern`]).
    pub fn rules(&self) -> impl ExactSizeIterator<Item = RuleInfo<'_>> + '_ {
        (0..self.rules.len()).map(|i| self.rule_info(RuleId(i as u32)))
    }

    /// The rule at `path` (`allow[0]`, `namespaces[1].deny[2]`,
    /// `tags.requireDigest`, `rewrite[0]`), as [`Policy::rules`] lists it.
    /// A linear search: to look up many, collect [`Policy::rules`] once.
    pub fn rule(&self, path: &str) -> Option<RuleInfo<'_>> {
        let i = self.rules.iter().position(|m| &*m.path == path)?;
        Some(self.rule_info(RuleId(i as u32)))
    }

    /// The verify rules that apply to `image` (after rewriting: pass the
    /// image the object will carry) in `namespace`: every one whose scope
    /// matches, each to be satisfied by a signature made with one of its
    /// keys. Empty when the image is in no verify scope, in an exempt
    /// namespace, or does not parse (then [`Policy::evaluate`] denies it).
    /// Matched as pin rules are: on the name and on what is pulled when the
    /// two differ (more verification is the safe side).
    pub fn verify_requirements(
        &self,
        image: &str,
        namespace: Option<&str>,
    ) -> Vec<verify::VerifyRequirement<'_>> {
        let Ok(r) = ImageRef::parse(image) else {
            return Vec::new();
        };
        if namespace.is_some_and(|ns| self.exempt_namespaces.contains(ns)) {
            return Vec::new();
        }
        let rule_set = namespace
            .and_then(|ns| self.namespace_rules.get(ns))
            .map_or(&self.rule_sets[0], |&i| &self.rule_sets[i]);
        if rule_set.has_exemptions && !rule_set.exempt.is_empty(ExemptKind::Verify) {
            // An image exempt from verify rules has no requirement, as
            // judging it gives no verify-requires-digest.
            let lower = r.domain().to_ascii_lowercase();
            let mut ipv6 = domain::StackStr::new();
            let domain = if lower.starts_with('[') {
                domain::canonical_ipv6_domain(&lower, &mut ipv6).unwrap_or(&lower)
            } else {
                domain::fold_docker_hub(&lower)
            };
            let views = exempt::Views {
                reference: r,
                domain,
                pulled: r
                    .is_pull_host_from_path()
                    .then(|| (domain::fold_docker_hub(r.pull_host()), r.pull_path())),
            };
            if rule_set.exempt.find(ExemptKind::Verify, &views).is_some() {
                return Vec::new();
            }
        }
        rule_set
            .verify_each
            .iter()
            .filter(|(_, m)| find_on_either_view(m, r).is_some())
            .filter_map(|(id, _)| {
                let compiled = self.verify.get(id)?;
                Some(verify::VerifyRequirement {
                    rule: self.rule_info(*id),
                    keys: &compiled.keys,
                    signature_repository: compiled.signature_repository.as_deref(),
                })
            })
            .collect()
    }

    /// Whether any verify rule exists (in any scope).
    pub fn has_verify_rules(&self) -> bool {
        !self.verify.is_empty()
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
            normalized: meta.normalized.as_ref(),
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
    /// The rules' verdict on a parsed image, in the documented order; each
    /// exemption used is given to `used`.
    pub(crate) fn judge(
        &self,
        r: ImageRef<'_>,
        used: &mut impl exempt::Record,
    ) -> (DecisionCode, Option<RuleId>) {
        let written = r.domain();
        let mut lower;
        let domain = if written.bytes().any(|b| b.is_ascii_uppercase()) {
            lower = LowercaseBuf::new();
            lower.lowercase(written)
        } else {
            written
        };
        let mut ipv6;
        let domain = if domain.starts_with('[') {
            ipv6 = domain::StackStr::new();
            domain::canonical_ipv6_domain(domain, &mut ipv6).unwrap_or(domain)
        } else {
            domain::fold_docker_hub(domain)
        };
        let path = r.path();
        let with_name = |f: &mut dyn FnMut(&str) -> Option<RuleId>| {
            let mut name = NameBuf::new();
            f(name.write(domain, path))
        };
        // What the runtime contacts, when it is not the domain (the name has
        // no valid registry domain, and containerd takes the text before the
        // first `/`): the pull host and the path on it. The host is a path
        // component, lowercase by the grammar: nothing to fold but Docker
        // Hub's aliases.
        let pulled = r
            .is_pull_host_from_path()
            .then(|| (domain::fold_docker_hub(r.pull_host()), r.pull_path()));
        // An exemption from `kind` for this image, recorded against the
        // rule `id` it lifts (never looked for in a policy without any).
        let mut exempted = |kind: ExemptKind, id: Option<RuleId>| -> bool {
            if !self.has_exemptions || self.exempt.is_empty(kind) {
                return false;
            }
            let views = exempt::Views {
                reference: r,
                domain,
                pulled,
            };
            match (self.exempt.find(kind, &views), id) {
                (Some(exemption), Some(id)) => {
                    used.record(exemption, id, kind);
                    true
                }
                _ => false,
            }
        };
        // Deny rules match on either view: what the name says and what will
        // be pulled (denying wider is safe).
        let mut denied_by = self.deny.find(domain, path.into(), with_name);
        if denied_by.is_none()
            && let Some((host, pull_path)) = pulled
        {
            let with_pull_name = |f: &mut dyn FnMut(&str) -> Option<RuleId>| {
                let mut name = NameBuf::new();
                f(name.write(host, pull_path))
            };
            denied_by = self.deny.find(host, pull_path.into(), with_pull_name);
        }
        if denied_by.is_some() && !exempted(ExemptKind::Deny, denied_by) {
            return (DecisionCode::DeniedByRule, denied_by);
        }
        // Allow rules must hold for what will be pulled: the pull host's view
        // when it differs, never the name's alone.
        let allowed_by = if self.allow.is_empty() {
            None
        } else {
            let found = match pulled {
                Some((host, pull_path)) => {
                    let with_pull_name = |f: &mut dyn FnMut(&str) -> Option<RuleId>| {
                        let mut name = NameBuf::new();
                        f(name.write(host, pull_path))
                    };
                    self.allow.find(host, pull_path.into(), with_pull_name)
                }
                None => self.allow.find(domain, path.into(), with_name),
            };
            match found {
                Some(id) => Some(id),
                None => return (DecisionCode::RegistryNotAllowed, None),
            }
        };
        // Pin scope, on either view as deny rules (requiring a digest of
        // more images is the safe side).
        if r.digest().is_none() && !self.pin.is_empty() {
            let mut pinned_by = self.pin.find(domain, path.into(), with_name);
            if pinned_by.is_none()
                && let Some((host, pull_path)) = pulled
            {
                let with_pull_name = |f: &mut dyn FnMut(&str) -> Option<RuleId>| {
                    let mut name = NameBuf::new();
                    f(name.write(host, pull_path))
                };
                pinned_by = self.pin.find(host, pull_path.into(), with_pull_name);
            }
            if pinned_by.is_some() && !exempted(ExemptKind::Pin, pinned_by) {
                return (DecisionCode::PinRequired, pinned_by);
            }
        }
        if r.digest().is_none() && !self.verify_any.is_empty() {
            let verified_by = find_on_either_view(&self.verify_any, r);
            if verified_by.is_some() && !exempted(ExemptKind::Verify, verified_by) {
                return (DecisionCode::VerifyRequiresDigest, verified_by);
            }
        }
        if let Some(violation) = self.tags.judge(r, &mut exempted) {
            return violation;
        }
        (DecisionCode::Allowed, allowed_by)
    }
}

/// The first rule of `m` matching the image's name, or the name of what is
/// pulled when it differs (the views deny and pin rules are matched on),
/// the domain normalized as [`RuleSet::judge`] does.
fn find_on_either_view(m: &Matchers, r: ImageRef<'_>) -> Option<RuleId> {
    let written = r.domain();
    let lower = written.to_ascii_lowercase();
    let mut ipv6 = domain::StackStr::new();
    let domain = if lower.starts_with('[') {
        domain::canonical_ipv6_domain(&lower, &mut ipv6).unwrap_or(&lower)
    } else {
        domain::fold_docker_hub(&lower)
    };
    let path = r.path();
    let with_name = |f: &mut dyn FnMut(&str) -> Option<RuleId>| {
        let mut name = NameBuf::new();
        f(name.write(domain, path))
    };
    if let Some(id) = m.find(domain, path.into(), with_name) {
        return Some(id);
    }
    if r.is_pull_host_from_path() {
        let (host, pull_path) = (domain::fold_docker_hub(r.pull_host()), r.pull_path());
        let with_pull_name = |f: &mut dyn FnMut(&str) -> Option<RuleId>| {
            let mut name = NameBuf::new();
            f(name.write(host, pull_path))
        };
        return m.find(host, pull_path.into(), with_pull_name);
    }
    None
}

impl TagMatchers {
    /// The first tag rule the image breaks and is not `exempted` from.
    fn judge(
        &self,
        r: ImageRef<'_>,
        exempted: &mut impl FnMut(ExemptKind, Option<RuleId>) -> bool,
    ) -> Option<(DecisionCode, Option<RuleId>)> {
        if r.digest().is_some() {
            // Pinned: the runtime pulls the digest and ignores any tag.
            return None;
        }
        if let Some(id) = self.require_digest
            && !exempted(ExemptKind::Digest, Some(id))
        {
            return Some((DecisionCode::DigestRequired, Some(id)));
        }
        if let Some(id) = self.require_tag_or_digest.filter(|_| r.is_tag_implied())
            && !exempted(ExemptKind::Tags, Some(id))
        {
            return Some((DecisionCode::TagRequired, Some(id)));
        }
        let tag = r.effective_tag()?;
        if let Some(&id) = self.deny.get(tag)
            && !exempted(ExemptKind::Tags, Some(id))
        {
            let code = if tag == crate::reference::DEFAULT_TAG {
                DecisionCode::LatestTag
            } else {
                DecisionCode::TagDenied
            };
            return Some((code, Some(id)));
        }
        if let Some((set, id)) = &self.allow_matching
            && !set.is_match(tag)
            && !exempted(ExemptKind::Tags, Some(*id))
        {
            return Some((DecisionCode::TagNotAllowed, Some(*id)));
        }
        None
    }
}

/// A domain with uppercase letters, lowercased without allocating when it
/// fits on the stack. (A lowercase domain, the common case, is not copied.)
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

    fn lowercase<'s>(&'s mut self, s: &str) -> &'s str {
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

#[cfg(all(test, feature = "yaml"))]
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
