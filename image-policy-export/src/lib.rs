//! One policy, every enforcement point: a [`Policy`] exported as the
//! configuration of another engine that judges images.
//!
//! # Overview
//!
//! | [`ExportFormat`] | what it writes | who reads it |
//! |---|---|---|
//! | `containers-policy` | `/etc/containers/policy.json`: default `reject`, allowed scopes `insecureAcceptAnything`, denied scopes `reject`, verify scopes `sigstoreSigned` | CRI-O, podman, buildah, skopeo (containers/image) |
//! | `registries-conf` | `/etc/containers/registries.conf` (v2): every denied scope `blocked = true`, `unqualified-search-registries = ["docker.io"]`, every rewrite rule a `prefix`/`location` entry; the companion of `containers-policy`, never enough alone | the same |
//! | `registries-d` | `/etc/containers/registries.d/image-policy.yaml`: `use-sigstore-attachments: true` for every scope where `containers-policy` requires a signature, and where those images are pulled from; the companion of `containers-policy` for verify rules | the same |
//! | `docker-sysconfig` | `/etc/sysconfig/docker`: `ADD_REGISTRY` and `BLOCK_REGISTRY` | RHEL/CentOS 7 docker (the projectatomic fork) |
//! | `openshift` | `config.openshift.io/v1` `Image` `cluster`: `spec.registrySources.allowedRegistries` (or `blockedRegistries` for a policy without allow rules), never an empty list where the policy restricts | OpenShift 4 (the Machine Config Operator writes the nodes' `policy.json` from it) |
//! | `validating-admission-policy` | `ValidatingAdmissionPolicy` and `ValidatingAdmissionPolicyBinding` (`admissionregistration.k8s.io/v1`) | the Kubernetes API server, 1.30+ |
//! | `gatekeeper` | a `ConstraintTemplate` (Rego) and its `Constraint`s, deciding as the VAP does | OPA Gatekeeper |
//! | `kyverno` | `ClusterPolicy` rules validating with the VAP's CEL (`validate.cel`) | Kyverno 1.11+ |
//!
//! [`export`] is pure: it returns the text and its notes as data
//! ([`Exported`], [`ExportError`]); the caller writes files and prints. It
//! reads the policy through the core's public rule layer only
//! ([`Policy::rules`], [`Policy::rewrite_rules`], [`Policy::document`]): the
//! rules as the policy compiled them, never compiled a second time.
//!
//! ```
//! use image_policy_core::policy::Policy;
//! use image_policy_export::{ExportFormat, ExportOptions, export};
//!
//! let policy = Policy::builder()
//!     .allow_registry("registry.my.com")
//!     .allow_registry("*.my.org")
//!     .build()?
//!     .policy;
//! let exported = export(&policy, ExportFormat::ContainersPolicy, &ExportOptions::default())?;
//! assert!(exported.text.contains(r#""registry.my.com""#));
//! // `*.my.org` would match any depth and port there: narrowed (dropped).
//! assert_eq!(exported.warnings.len(), 1);
//! assert!(exported.warnings[0].rule.starts_with("allow[1] (registry *.my.org)"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The promise: never wider
//!
//! An export never admits an image the policy denies: for every image
//! name, what the engine reading the export admits, after that engine's own
//! rewriting, is admitted by `check` (which rewrites the name first and
//! judges the name the rule makes). Where a target cannot express a rule
//! exactly:
//!
//! - an allow rule is *narrowed*: dropped (or replaced by something
//!   stricter), with a warning naming it ([`Exported::warnings`]);
//! - a rule whose loss would widen the export (a deny rule, a tag, digest or
//!   pin rule, a namespace scope that cannot be scoped) is an [`ExportError`]
//!   naming every such rule, unless [`ExportOptions::lossy`] is set;
//! - [`ExportOptions::lossy`] never drops such a rule: it *narrows* it, rejecting
//!   in its place the whole scope the rule could touch, in a form the target
//!   can express, each a warning `narrowed (lossy): ...; rejected in its
//!   place: ...` naming the rule and that scope (the output is the same with
//!   or without `lossy`; without it, it is refused):
//!   - a regex deny rule: the scope its literal prefix fixes (rules match
//!     the whole name, so every name it matches starts with the literals its
//!     top-level sequence starts with). On the node formats, the registry
//!     or the longest repository prefix ending at a `/` of it
//!     (`r\.io/team/x.*` rejects `r.io/team`, `r\.io/[a-z]+` all of
//!     `r.io`); in the ValidatingAdmissionPolicy, every name starting with
//!     the prefix (`r\.io/ev(?x) il` denies `^r\.io/evil.*`). Without a
//!     prefix (a group, an alternation, a class or a case-insensitive letter
//!     first), every image;
//!   - a namespace's allow rules where the cluster has none: applied to
//!     every pod (with several such namespaces, what all of them allow);
//!   - on the node formats, a tag or digest rule (it can deny an image of
//!     any repository) and a deny rule without an allow list (only
//!     rejecting everything covers every spelling of a host): every image;
//!   - on the node formats, a pin rule (they cannot require a digest): its
//!     scope, pinned or not, rejected as a deny rule's is (and so as above
//!     for a regex pin rule or a policy without an allow list). The
//!     ValidatingAdmissionPolicy says pin rules exactly: an image in pin
//!     scope without a digest is denied;
//!   - verify rules are pin rules here (their offline part: the digest is
//!     required, as `check` requires it): the ValidatingAdmissionPolicy,
//!     Gatekeeper and Kyverno exports deny an unpinned image in verify
//!     scope, with a warning that the signature itself is checked by the
//!     image-policy webhook only; `docker-sysconfig` and `openshift`
//!     refuse them (with `lossy`, their scope is denied as a deny rule's).
//!     `containers-policy` says them as containers/image's own check where
//!     it can (see its section below), with a warning each: the node
//!     checks the signature of the digest it pulls, and cannot require the
//!     name to carry a digest. What it cannot say is refused (with
//!     `lossy`, the scope denied): a regex scope, a `signatureRepository`,
//!     a key given only as `keyFile`, a policy without allow rules; a rule
//!     with several keys is refused (`keyDatas` needs containers/image
//!     5.33), and `lossy` requires its first key. `registries-d` only turns
//!     on signature lookups: it admits nothing and refuses nothing;
//! - an exemption (`exempt:` rule) is said exactly by the
//!   ValidatingAdmissionPolicy and Kyverno (the same CEL): the deny, pin,
//!   `requireDigest` and tag checks are skipped for the images it names
//!   (an exact image: the normalized name, the tag, `latest` when none is
//!   written, and no digest; a pattern: the RE2 of an allow rule). Where
//!   it cannot be said exactly (an `image:` with a digest, which the CEL's
//!   parse keeps only as a flag; an IPv6 registry; a regex outside RE2),
//!   and in the formats that do not say exemptions (the node formats,
//!   whose scopes are registries and repositories, never tags; Gatekeeper,
//!   whose Rego does not yet), leaving it out makes the export *narrower*
//!   (the rules it lifts apply to its images), but the images it exempts
//!   would be denied where the webhook admits them: an [`ExportError`]
//!   unless [`ExportOptions::lossy`] is set, which drops it (`narrowed
//!   (lossy): ...; rejected in its place: the images it exempts, by the
//!   rules it lifts`);
//! - where the output admits no image once narrowed for `lossy` (and where
//!   nothing can be written without admitting more: an OpenShift allow list
//!   with no registry left), the export is refused even with
//!   [`ExportOptions::lossy`] ([`ExportError::lossy_exports`] is `false`): an
//!   export that rejects everything is no export of the policy.
//!
//! # Per format: what the engine does with the output, and why it is never wider
//!
//! ## `containers-policy` and `registries-conf`
//!
//! containers/image (CRI-O, podman, buildah, skopeo, and OpenShift's nodes)
//! judges the name *as written* against `policy.json` (the logical
//! reference), refuses it when the `registries.conf` entry for that name is
//! `blocked`, and pulls the name the entry's `prefix`/`location` makes.
//! `policy.json` rejects by default and accepts only the registries the
//! policy allows as a whole (the scopes that match exactly what a rule
//! matches); deny rules are `reject` scopes at least as wide as the rule.
//! Under each rewrite rule's `from`, `policy.json` carries a copy of the
//! scopes at and under its `to`: the name as written is judged as the
//! policy judges the rewritten one (exactly, with both files installed;
//! with `policy.json` alone the image is pulled as named but still judged
//! as the rewritten name, as `check` judges it). The scopes the policy's
//! rules would give names under `from` as written go: `check` never judges
//! those names as written. `registries.conf` alone cannot express an allow
//! list: it is the companion of `policy.json`, never enough alone.
//!
//! A verify rule whose scope is a registry or a repository pattern with a
//! literal prefix (`r.io/prod/**` is the scope `r.io/prod`, which also
//! covers `r.io/prod` itself: narrower, with a warning) becomes the scope's
//! requirement `{"type": "sigstoreSigned", "keyData": <base64 of the PEM>,
//! "signedIdentity": {"type": "matchRepository"}}` where the name is
//! accepted so far: a signature never admits what is denied or not allowed
//! (those scopes stay `reject`). `policy.json` reads only the most specific
//! scope, so a verify scope inside another carries both keys (a list of
//! requirements must all hold, as every verify rule that matches must).
//! Several keys in one rule (any one of them) are `keyDatas` to
//! containers/image 5.33 (and 5.32.2) and newer; the 5.23 that Debian ships
//! (skopeo 1.9, and the checker the tests run) refuses the whole file on
//! that key (`Unknown key "keyDatas"`), and a list of `keyData`
//! requirements must all hold: refused, naming the version, and `lossy`
//! requires the first key (narrower). Under a
//! rewrite rule's `from`, the copied scope requires the signature too, and
//! `matchRepository` compares the signature's identity with the name as
//! written: an image signed under its rewritten name only is refused there
//! (narrower; `remapIdentity` would say it exactly, not written yet).
//! `signatureRepository` cannot be said (sigstore attachments are read from
//! the image's own repository): refused. `registries.conf` leaves verify
//! rules to `policy.json`. Debian's containers/image is built without
//! sigstore verification: the tests check that the file parses there, not
//! a verification.
//!
//! ## `registries-d`
//!
//! containers/image reads sigstore attachments (the `sha256-<digest>.sig`
//! tag cosign pushes) only where a `registries.d` file says
//! `use-sigstore-attachments: true`; without it a `sigstoreSigned` scope
//! finds no signature and rejects every image. `registries-d` writes that
//! file (one format of its own, so that it is never skipped silently: the
//! `containers-policy` warning for each verify rule names it). Its `docker:`
//! keys are `policy.json`'s scopes, read the same way (the name, each parent
//! path, the host; a port-less host is no parent of the host with a port),
//! but looked up by the name containers/image *pulls*, after
//! `registries.conf`'s `prefix`/`location` rewrite, while `policy.json`
//! judges the name as written. So it turns on every scope that the
//! `containers-policy` export of the same policy says `sigstoreSigned`, and,
//! for each one at or under a rewrite's `prefix`, the name it is pulled
//! from (the longest prefix's `location` with the rest of the scope, as
//! `registries.conf` picks it), with a comment saying which. The file admits
//! nothing: a scope it lacks finds no signature (rejected, narrower), one
//! too many costs a lookup; so it is written wherever `containers-policy`
//! reads a verify rule, `lossy` or not, and refuses nothing (what
//! `containers-policy` refuses or narrows, it says itself). Where no scope
//! requires a signature it writes `docker: {}` with a warning. What it
//! cannot change: another file in `registries.d` naming one of its scopes
//! makes containers/image refuse the directory (every pull fails); a more
//! specific scope with `use-sigstore-attachments: false` turns the lookup
//! off there (rejected); a mirror added to `registries.conf` by hand is
//! pulled from without attachments (rejected): add its scope. Debian's
//! containers/image is built without sigstore verification: `.ci/export-e2e.sh`
//! checks with Debian's skopeo that the file is read and the signature of
//! an image in verify scope is fetched and handed to the check (which
//! Debian's build then refuses), and that without the file none is found.
//!
//! ## `docker-sysconfig`
//!
//! RHEL/CentOS 7 docker (the projectatomic fork) reads `ADD_REGISTRY` and
//! `BLOCK_REGISTRY` (whole hosts, as written) and cannot rewrite: the image
//! runs from the registry it names, so a registry under a rewrite rule's
//! `from` is not allowed there (blocked, without allow rules), with a
//! warning. Only whole registries are written; anything narrower is
//! dropped from the allow side or widened on the deny side.
//!
//! ## `openshift`
//!
//! OpenShift 4's Machine Config Operator writes the nodes' `policy.json`
//! from the `Image` `cluster`'s `registrySources`, whole registries only,
//! and cannot rewrite (as RHEL docker); pods whose names `/mutate` rewrote
//! are judged by their new registry. It reads an empty or absent
//! `allowedRegistries` as no restriction at all: where the policy restricts
//! and no entry is left, the export is refused.
//!
//! ## `validating-admission-policy`
//!
//! The API server evaluates the CEL on every pod-bearing object it admits:
//! it sees the names the pod carries (rewritten ones when `/mutate` ran
//! first). It admits an image under a `from` only when both its name as
//! written (as `/validate` judges it) and its rewritten name (as `check`
//! judges it) are allowed, and denies it where the policy's rewrite fails.
//! Rules become RE2 on the normalized name; a regex outside the subset that
//! RE2 and Rust's `regex` read alike is dropped from an allow list and
//! narrowed to its literal prefix on a deny list.
//!
//! The traps this module knows about, each checked by tests against the real
//! engine:
//!
//! - a `policy.json` scope `*.my.org` matches any depth of subdomain and any
//!   port, while our `*.` matches one label and no port: a wildcard allow
//!   rule is dropped (a wildcard deny rule is exported as is: wider is
//!   stricter there);
//! - a scope `registry.my.com/team` matches the repository
//!   `registry.my.com/team` itself and everything below it, while
//!   `registry.my.com/team/**` does not match `registry.my.com/team` and a
//!   literal repository rule matches nothing below it: repository allow rules
//!   are dropped, except `host/**`, which is the registry;
//! - the most specific scope wins in `policy.json`: an allowed host that a
//!   deny rule covers as a whole (a deny registry rule, a `*.` rule that
//!   matches it, a repository pattern on any registry) is dropped, since its
//!   scope would override the denial;
//! - scopes are compared case-sensitively and `registry-1.docker.io` is not
//!   `docker.io` to containers/image: with an allow list the default
//!   `reject` covers every other spelling, but a policy without allow rules
//!   (default accept) cannot deny `EVIL.COM/x` with a scope `evil.com`, so
//!   each of its deny rules is an error;
//! - the nodes judge every pod alike: exempt namespaces, modes other than
//!   `enforce`, break-glass and namespace-specific allow rules are narrowed
//!   (the nodes enforce the cluster rules everywhere), namespace deny rules
//!   are applied everywhere, and tag rules cannot be expressed;
//! - rewrite rules: registries.conf's `prefix`/`location` is the same
//!   substitution (matched at a `/`, `:` or `@`), but containers/image takes
//!   the *longest* matching prefix where the policy takes the first rule: a
//!   rule that an earlier one always beats never applies, and is left out.
//!   A `prefix` that is a bare host also matches that host with a port
//!   (`quay.io:5000/x`, at the `:`), which the policy does not rewrite: each
//!   such host that `policy.json` names gets an entry of its own, so that it
//!   is pulled as named;
//! - OpenShift reads an empty or absent `allowedRegistries` (and
//!   `blockedRegistries`) as no restriction at all, and only one of the two
//!   may be set: where the policy restricts and no entry is left (a
//!   registry allow rule with a repository deny on it, repository or `*.`
//!   allow rules only), the export is refused.
//!
//! The `validating-admission-policy` format decides as the webhook does; see
//! its own notes in the `vap` submodule documentation (`cargo doc
//! --document-private-items`) and in `deploy/README.md`. The `gatekeeper`
//! and `kyverno` formats decide as it does (the same parse, the same rules
//! as RE2, so they narrow and refuse what it narrows and refuses): see the
//! `gatekeeper` and `kyverno` submodules.
//!
//! # Untrusted input
//!
//! The input is a compiled policy (operators' input, already checked). Every
//! string written into a target is escaped for that target's syntax (JSON,
//! TOML basic strings, shell single quotes, YAML, RE2 and CEL string
//! literals); a string that a target cannot carry (a quote in a shell word)
//! is refused rather than written.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod gatekeeper;
mod kyverno;
mod node;
mod vap;
mod yaml;

use image_policy_core::policy::{Pattern, Policy, RuleInfo};
use image_policy_core::policy::{PolicyDocument, Rule};
use std::collections::HashMap;
use std::fmt;

pub use yaml::to_yaml;

/// An export format. New formats come in minor releases: match with a
/// wildcard arm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ExportFormat {
    /// `policy.json` (containers-policy.json(5)).
    ContainersPolicy,
    /// `registries.conf` v2 (containers-registries.conf(5)).
    RegistriesConf,
    /// A `registries.d` file (containers-registries.d(5)) turning on
    /// `use-sigstore-attachments` where `policy.json` requires a signature.
    RegistriesD,
    /// `/etc/sysconfig/docker` for RHEL/CentOS 7 docker.
    DockerSysconfig,
    /// OpenShift 4's cluster `Image` configuration.
    Openshift,
    /// A `ValidatingAdmissionPolicy` and its binding.
    ValidatingAdmissionPolicy,
    /// An OPA Gatekeeper `ConstraintTemplate` and its `Constraint`s.
    Gatekeeper,
    /// A Kyverno `ClusterPolicy` validating with CEL.
    Kyverno,
}

impl ExportFormat {
    /// Every format, in the order of the documentation.
    pub const ALL: [ExportFormat; 8] = [
        ExportFormat::ContainersPolicy,
        ExportFormat::RegistriesConf,
        ExportFormat::RegistriesD,
        ExportFormat::DockerSysconfig,
        ExportFormat::Openshift,
        ExportFormat::ValidatingAdmissionPolicy,
        ExportFormat::Gatekeeper,
        ExportFormat::Kyverno,
    ];

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ExportFormat::ContainersPolicy => "containers-policy",
            ExportFormat::RegistriesConf => "registries-conf",
            ExportFormat::RegistriesD => "registries-d",
            ExportFormat::DockerSysconfig => "docker-sysconfig",
            ExportFormat::Openshift => "openshift",
            ExportFormat::ValidatingAdmissionPolicy => "validating-admission-policy",
            ExportFormat::Gatekeeper => "gatekeeper",
            ExportFormat::Kyverno => "kyverno",
        }
    }

    /// One line on what the format is and who reads it.
    pub fn description(self) -> &'static str {
        match self {
            ExportFormat::ContainersPolicy => {
                "/etc/containers/policy.json for CRI-O, podman, buildah and skopeo"
            }
            ExportFormat::RegistriesConf => {
                "/etc/containers/registries.conf (v2) blocking denied registries; use with containers-policy"
            }
            ExportFormat::RegistriesD => {
                "/etc/containers/registries.d/image-policy.yaml turning on sigstore attachments where containers-policy requires a signature"
            }
            ExportFormat::DockerSysconfig => {
                "/etc/sysconfig/docker ADD_REGISTRY and BLOCK_REGISTRY for RHEL/CentOS 7 docker"
            }
            ExportFormat::Openshift => {
                "OpenShift 4 Image config (config.openshift.io/v1, name cluster) with registrySources"
            }
            ExportFormat::ValidatingAdmissionPolicy => {
                "a ValidatingAdmissionPolicy and its binding deciding as the webhook does (Kubernetes 1.30+)"
            }
            ExportFormat::Gatekeeper => {
                "an OPA Gatekeeper ConstraintTemplate (Rego) and its constraints deciding as the webhook does"
            }
            ExportFormat::Kyverno => {
                "a Kyverno ClusterPolicy validating with CEL, deciding as the webhook does (Kyverno 1.11+)"
            }
        }
    }

    /// Parses [`ExportFormat::name`].
    pub fn from_name(name: &str) -> Option<ExportFormat> {
        ExportFormat::ALL.into_iter().find(|f| f.name() == name)
    }
}

impl fmt::Display for ExportFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Export options.
#[derive(Clone, Debug)]
pub struct ExportOptions {
    /// Export even when rules cannot be expressed without widening: each
    /// is narrowed (what is rejected in its place is a warning), never
    /// dropped; refused anyway when nothing would be admitted.
    pub lossy: bool,
    /// The name of the ValidatingAdmissionPolicy, the Kyverno
    /// `ClusterPolicy` and the Gatekeeper constraint (and the prefix of the
    /// names of the others, when modes differ; the Gatekeeper constraint's
    /// kind is this name in CamelCase): `image-policy` by default.
    pub name: String,
    /// Namespaces the binding (the Kyverno rule's and the Gatekeeper
    /// constraint's `match`) selects (`In`) instead of excluding the
    /// policy's exempt namespaces (`NotIn`): for a VAP that covers the
    /// namespaces the webhook does not judge. Empty: every namespace the
    /// policy does not exempt.
    pub only_namespaces: Vec<String>,
}

impl Default for ExportOptions {
    fn default() -> Self {
        Self {
            lossy: false,
            name: "image-policy".to_owned(),
            only_namespaces: Vec::new(),
        }
    }
}

/// A rule (or a part of the policy) and what happened to it in an export.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// The rule: its path in the policy (`allow[0]`), kind, pattern and
    /// where it was written (`allow[0] (registry *.my.org) at policy.yaml:3:15`).
    pub rule: String,
    /// What the export did with it and why.
    pub message: String,
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.rule, self.message)
    }
}

/// A successful export.
#[derive(Clone, Debug)]
pub struct Exported {
    /// The format.
    pub format: ExportFormat,
    /// The file's content.
    pub text: String,
    /// Rules narrowed (with [`ExportOptions::lossy`], `narrowed (lossy): ...`), and anything
    /// else the reader must know (such as registries a cluster needs).
    pub warnings: Vec<Note>,
}

/// An export that would admit images the policy denies.
#[derive(Clone, Debug)]
pub struct ExportError {
    /// The format.
    pub format: ExportFormat,
    /// One note per rule that cannot be expressed without widening.
    pub rules: Vec<Note>,
    /// Whether [`ExportOptions::lossy`] would export anyway (narrowing `rules`).
    /// `false` when narrowed the output would admit no image, or when the
    /// only output left would admit more than the policy (an OpenShift
    /// allow list with no entry left).
    pub lossy_exports: bool,
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let them = if self.rules.len() == 1 { "it" } else { "them" };
        write!(
            f,
            "{} cannot express {} without admitting images the policy denies ({}):",
            self.format,
            plural(self.rules.len(), "rule", "rules"),
            if self.lossy_exports {
                format!("--lossy narrows {them}")
            } else {
                "not even a lossy export can".to_owned()
            }
        )?;
        for n in &self.rules {
            write!(f, "\n  {}: {n}", self.format)?;
        }
        Ok(())
    }
}

impl std::error::Error for ExportError {}

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// Exports `policy` as `format`.
pub fn export(
    policy: &Policy,
    format: ExportFormat,
    options: &ExportOptions,
) -> Result<Exported, ExportError> {
    let mut notes = Notes::new(policy);
    let text = match format {
        ExportFormat::ContainersPolicy
        | ExportFormat::RegistriesConf
        | ExportFormat::RegistriesD
        | ExportFormat::DockerSysconfig
        | ExportFormat::Openshift => node::export(policy, format, &mut notes),
        ExportFormat::ValidatingAdmissionPolicy => vap::export(policy, options, &mut notes),
        ExportFormat::Gatekeeper => gatekeeper::export(policy, options, &mut notes),
        ExportFormat::Kyverno => kyverno::export(policy, options, &mut notes),
    };
    // registries-d only turns on signature lookups: it admits nothing, so
    // nothing left out of it can widen (see `node::registries_d`).
    if !matches!(
        format,
        ExportFormat::ValidatingAdmissionPolicy | ExportFormat::Kyverno | ExportFormat::RegistriesD
    ) {
        exemptions_dropped(policy, format, &mut notes);
    }
    let lost: Vec<Note> = notes
        .lost
        .into_iter()
        .map(|(note, instead)| {
            if notes.admits_nothing {
                Note {
                    message: format!(
                        "{}; narrowed, {format} would reject {instead} in its place, and then nothing would be admitted",
                        note.message
                    ),
                    ..note
                }
            } else if options.lossy {
                Note {
                    message: format!(
                        "narrowed (lossy): {}; rejected in its place: {instead}",
                        note.message
                    ),
                    ..note
                }
            } else {
                Note {
                    message: format!("{} (--lossy rejects {instead} in its place)", note.message),
                    ..note
                }
            }
        })
        .collect();
    let refused = !notes.refused.is_empty() || (notes.admits_nothing && !lost.is_empty());
    if refused {
        let mut rules = notes.refused;
        rules.extend(lost);
        return Err(ExportError {
            format,
            rules,
            lossy_exports: false,
        });
    }
    if !lost.is_empty() && !options.lossy {
        return Err(ExportError {
            format,
            rules: lost,
            lossy_exports: true,
        });
    }
    let mut warnings = notes.narrowed;
    warnings.extend(lost);
    Ok(Exported {
        format,
        text,
        warnings,
    })
}

/// Every exemption (`exempt:` rule) of the policy, for the formats that do
/// not say exemptions (all but the CEL ones): left out, the export applies
/// the rules it lifts to its images, so it is narrower, never wider; but
/// the images it exempts are then denied where the webhook admits them, so
/// it is refused without `lossy`.
fn exemptions_dropped(policy: &Policy, format: ExportFormat, notes: &mut Notes<'_>) {
    for e in policy.exemptions() {
        let form = match (e.image, e.rule.normalized) {
            (Some(_), _) => "image",
            (None, Some(Pattern::Registry(_) | Pattern::WildcardRegistry(_))) => "registry",
            (None, Some(Pattern::Repository(_))) => "repository",
            _ => "regex",
        };
        let kinds: Vec<&str> = e.from.iter().map(|k| k.as_str()).collect();
        let kinds = kinds.join(", ");
        notes.lose(
            e.rule.path,
            &format!("{form} {}", e.rule.pattern),
            format!("{format} does not carry exemptions: the images it names ({}) are judged by the rules it lifts ({kinds}), as if it were not there", e.reason),
            format!("the images it exempts, by the rules it lifts ({kinds})"),
        );
    }
}

/// The notes collected while exporting.
pub(crate) struct Notes<'p> {
    /// The policy's rules by path, read once from its public rule layer.
    rules: HashMap<&'p str, RuleInfo<'p>>,
    narrowed: Vec<Note>,
    /// Each rule whose loss would widen the export, with what the export
    /// rejects in its place.
    lost: Vec<(Note, String)>,
    refused: Vec<Note>,
    /// The export, narrowed, admits no image at all.
    admits_nothing: bool,
}

impl<'p> Notes<'p> {
    fn new(policy: &'p Policy) -> Self {
        Self {
            rules: policy.rules().map(|r| (r.path, r)).collect(),
            narrowed: Vec::new(),
            lost: Vec::new(),
            refused: Vec::new(),
            admits_nothing: false,
        }
    }

    /// `path (kind pattern) at file:line:col`.
    fn describe(&self, path: &str, what: &str) -> String {
        let mut s = path.to_owned();
        if !what.is_empty() {
            s.push_str(&format!(" ({what})"));
        }
        if let Some(rule) = self.rules.get(path) {
            match rule.location {
                Some(l) => s.push_str(&format!(" at {l}")),
                None => s.push_str(&format!(" at {}", rule.origin)),
            }
        }
        s
    }

    /// The normalized pattern of the allow or deny rule at `path`
    /// (`allow[0]`, `namespaces[1].deny[2]`), as the policy compiled it.
    pub(crate) fn normalized(&self, path: &str) -> Option<&'p Pattern> {
        self.rules.get(path)?.normalized
    }

    /// The export is stricter than the policy here.
    pub(crate) fn narrow(&mut self, path: &str, what: &str, message: impl Into<String>) {
        let note = Note {
            rule: self.describe(path, what),
            message: message.into(),
        };
        if !self.narrowed.contains(&note) {
            self.narrowed.push(note);
        }
    }

    /// The export would be wider than the policy without this rule, so
    /// it rejects `instead` (a scope at least as wide as what the rule
    /// could deny) in its place: an error unless `lossy`.
    pub(crate) fn lose(
        &mut self,
        path: &str,
        what: &str,
        message: impl Into<String>,
        instead: impl Into<String>,
    ) {
        let note = Note {
            rule: self.describe(path, what),
            message: message.into(),
        };
        if !self.lost.iter().any(|(n, _)| *n == note) {
            self.lost.push((note, instead.into()));
        }
    }

    /// The export, narrowed, admits no image: if a rule was narrowed for
    /// `lossy`, the export fails even with it.
    pub(crate) fn admits_nothing(&mut self) {
        self.admits_nothing = true;
    }

    /// Nothing can be written without admitting more than the policy, even
    /// with `lossy`: the export fails.
    pub(crate) fn refuse(&mut self, path: &str, what: &str, message: impl Into<String>) {
        let note = Note {
            rule: self.describe(path, what),
            message: message.into(),
        };
        if !self.refused.contains(&note) {
            self.refused.push(note);
        }
    }

    /// The narrowing warning already given for the rule at `path`, if any.
    pub(crate) fn narrowed_message(&self, path: &str) -> Option<&str> {
        self.narrowed
            .iter()
            .find(|n| n.rule.split(' ').next() == Some(path))
            .map(|n| n.message.as_str())
    }
}

/// `registry x`, `repository x`, `regex x`.
pub(crate) fn rule_what(rule: &Rule) -> String {
    format!("{} {}", rule.kind().as_str(), rule.pattern())
}

/// Every deny list of a document with its path prefix, then every pin
/// list (a node format cannot require a digest, so with `lossy` it denies
/// a pin rule's scope, pinned or not: narrower): the cluster's (`deny`,
/// `pin`) and each namespace scope's (`namespaces[0].deny`, ...), with the
/// scope index (`None` for the cluster).
///
/// Verify lists come last, as pin lists (their scope must be pinned, and
/// no node format here checks a cosign signature by a key).
pub(crate) fn deny_lists(doc: &PolicyDocument) -> Vec<(Option<usize>, String, Vec<Rule>)> {
    let mut out = vec![(None, "deny".to_owned(), doc.deny.clone())];
    for (i, ns) in doc.namespaces.iter().enumerate() {
        out.push((Some(i), format!("namespaces[{i}].deny"), ns.deny.clone()));
    }
    out.push((None, "pin".to_owned(), doc.pin.clone()));
    for (i, ns) in doc.namespaces.iter().enumerate() {
        out.push((Some(i), format!("namespaces[{i}].pin"), ns.pin.clone()));
    }
    out.push((None, "verify".to_owned(), verify_scopes(&doc.verify)));
    for (i, ns) in doc.namespaces.iter().enumerate() {
        out.push((
            Some(i),
            format!("namespaces[{i}].verify"),
            verify_scopes(&ns.verify),
        ));
    }
    out
}

/// The scopes of verify rules, as rules (a compiled policy's verify rules
/// all have exactly one).
pub(crate) fn verify_scopes(rules: &[image_policy_core::policy::VerifyRule]) -> Vec<Rule> {
    rules.iter().filter_map(|v| v.scope()).collect()
}

/// A prefix of every name that the regex rule `re` matches (rules match
/// the whole name, `^(?:re)$`): the literals that its top-level sequence
/// starts with, zero-width assertions skipped. Empty when the regex starts
/// with anything else (a class, a group, an alternation, a case-insensitive
/// letter) or does not parse.
pub(crate) fn regex_literal_prefix(re: &str) -> String {
    use regex_syntax::hir::HirKind;
    let Ok(hir) = regex_syntax::Parser::new().parse(re) else {
        return String::new();
    };
    let parts = match hir.kind() {
        HirKind::Concat(parts) => parts.as_slice(),
        _ => std::slice::from_ref(&hir),
    };
    let mut bytes = Vec::new();
    for part in parts {
        match part.kind() {
            HirKind::Literal(l) => bytes.extend_from_slice(&l.0),
            HirKind::Look(_) => {}
            _ => break,
        }
    }
    match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            String::from_utf8_lossy(&e.into_bytes()[..valid]).into_owned()
        }
    }
}

/// Escapes `s` as a JSON (and TOML basic, and YAML double-quoted) string literal.
pub(crate) fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use image_policy_core::policy::Policy;

    #[test]
    fn formats_round_trip_by_name() {
        for f in ExportFormat::ALL {
            assert_eq!(ExportFormat::from_name(f.name()), Some(f));
            assert!(!f.description().is_empty());
        }
        assert_eq!(ExportFormat::from_name("policy.json"), None);
    }

    fn policy(yaml: &str) -> Policy {
        Policy::from_yaml_str(yaml, "p.yaml").unwrap().policy
    }

    /// (policy, format) → the rule paths refused without `lossy` (empty:
    /// exported), and whether `lossy` exports, narrowing each of them.
    #[test]
    fn what_each_format_refuses() {
        let cases: &[(&str, ExportFormat, &[&str], bool)] = &[
            (
                "allow: [{registry: r.io}]\n",
                ExportFormat::ContainersPolicy,
                &[],
                true,
            ),
            // A tag rule can deny an image anywhere: narrowed, nothing is left.
            (
                "allow: [{registry: r.io}]\ntags: {deny: [latest]}\n",
                ExportFormat::ContainersPolicy,
                &["tags.deny[0]"],
                false,
            ),
            (
                "allow: [{registry: r.io}]\ntags: {deny: [latest]}\n",
                ExportFormat::ValidatingAdmissionPolicy,
                &[],
                true,
            ),
            // Without an allow list, only rejecting everything covers
            // every spelling of a host.
            (
                "deny: [{registry: evil.com}]\n",
                ExportFormat::ContainersPolicy,
                &["deny[0]"],
                false,
            ),
            (
                "deny: [{registry: evil.com}]\n",
                ExportFormat::Openshift,
                &["deny[0]"],
                false,
            ),
            (
                "deny: [{registry: evil.com}]\n",
                ExportFormat::ValidatingAdmissionPolicy,
                &[],
                true,
            ),
            // An exemption is said by the CEL formats (but an image with a
            // digest); the others refuse it, and lossy drops it (narrower:
            // the rules it lifts apply to its images).
            (
                "allow: [{registry: r.io}]\nexempt: [{image: r.io/x:1, from: [deny], reason: r}]\n",
                ExportFormat::ContainersPolicy,
                &["exempt[0]"],
                true,
            ),
            (
                "allow: [{registry: r.io}]\nexempt: [{registry: q.io, from: [tags], reason: r}]\n",
                ExportFormat::Openshift,
                &["exempt[0]"],
                true,
            ),
            (
                "allow: [{registry: r.io}]\ntags: {deny: [latest]}\nexempt: [{repository: r.io/tools/*, from: [tags], reason: r}]\n",
                ExportFormat::ValidatingAdmissionPolicy,
                &[],
                true,
            ),
            (
                "deny: [{registry: r.io}]\nexempt: [{image: 'r.io/x@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08', from: [deny], reason: r}]\n",
                ExportFormat::ValidatingAdmissionPolicy,
                &["exempt[0]"],
                true,
            ),
            (
                "tags: {deny: [latest]}\nnamespaces: [{names: [a], exempt: [{regex: 'r\\.io/.*', from: [tags], reason: r}]}]\n",
                ExportFormat::Gatekeeper,
                &["namespaces[0].exempt[0]"],
                true,
            ),
            (
                "tags: {deny: [latest]}\nexempt: [{image: busybox, from: [tags], reason: r}]\n",
                ExportFormat::Kyverno,
                &[],
                true,
            ),
            // The CEL formats say verify rules as pin rules: an exemption
            // from pin (or from verify) would lift both, so in a scope with
            // verify rules it is refused, and lossy drops it.
            (
                "allow: [{registry: q.io}]\nverify: [{repository: 'q.io/**', keys: [\"-----BEGIN PUBLIC KEY-----\\nMCowBQYDK2VwAyEA1JFNjsocZ+AC0dmLA6ExtC4x81Kd2GqAuOUanF9Rp7k=\\n-----END PUBLIC KEY-----\\n\"]}]\nexempt: [{image: 'q.io/app:latest', from: [pin], reason: r}]\n",
                ExportFormat::ValidatingAdmissionPolicy,
                &["exempt[0]"],
                true,
            ),
            (
                "allow: [{registry: q.io}]\nverify: [{repository: 'q.io/**', keys: [\"-----BEGIN PUBLIC KEY-----\\nMCowBQYDK2VwAyEA1JFNjsocZ+AC0dmLA6ExtC4x81Kd2GqAuOUanF9Rp7k=\\n-----END PUBLIC KEY-----\\n\"]}]\nexempt: [{image: 'q.io/app:latest', from: [verify], reason: r}]\n",
                ExportFormat::Kyverno,
                &["exempt[0]"],
                true,
            ),
            // A regex deny: its registry (or repository prefix) is rejected.
            (
                "allow: [{registry: r.io}, {registry: q.io}]\ndeny: [{regex: 'r\\.io/x.*'}]\n",
                ExportFormat::DockerSysconfig,
                &["deny[0]"],
                true,
            ),
            (
                "allow: [{registry: r.io}]\ndeny: [{regex: 'r\\.io/x.*'}]\n",
                ExportFormat::DockerSysconfig,
                &["deny[0]"],
                false,
            ),
            (
                "allow: [{registry: r.io}]\ndeny: [{regex: 'r\\.io/team/x.*'}]\n",
                ExportFormat::ContainersPolicy,
                &["deny[0]"],
                true,
            ),
            (
                "allow: [{registry: r.io}]\ndeny: [{regex: '(r|q)\\.io/x.*'}]\n",
                ExportFormat::ContainersPolicy,
                &["deny[0]"],
                false,
            ),
            (
                "allow: [{registry: r.io}]\ndeny: [{regex: 'r\\.io/(?x) x'}]\n",
                ExportFormat::ValidatingAdmissionPolicy,
                &["deny[0]"],
                true,
            ),
            (
                "allow: [{registry: r.io}]\ndeny: [{regex: '(?x) (r|q)\\.io/x'}]\n",
                ExportFormat::ValidatingAdmissionPolicy,
                &["deny[0]"],
                false,
            ),
            // Pin scope: the VAP requires the digest; a node format cannot,
            // and with lossy denies the scope as a deny rule would.
            (
                "allow: [{registry: r.io}, {registry: q.io}]\npin: [{repository: r.io/prod/**}]\n",
                ExportFormat::ValidatingAdmissionPolicy,
                &[],
                true,
            ),
            (
                "allow: [{registry: r.io}, {registry: q.io}]\npin: [{repository: r.io/prod/**}]\n",
                ExportFormat::ContainersPolicy,
                &["pin[0]"],
                true,
            ),
            (
                "allow: [{registry: r.io}, {registry: q.io}]\npin: [{registry: q.io}]\n",
                ExportFormat::RegistriesConf,
                &["pin[0]"],
                true,
            ),
            (
                "allow: [{registry: r.io}]\npin: [{registry: r.io}]\n",
                ExportFormat::DockerSysconfig,
                &["pin[0]"],
                false,
            ),
            (
                "pin: [{registry: r.io}]\n",
                ExportFormat::Openshift,
                // It cannot require a digest, and without an allow list.
                &["pin[0]", "pin[0]"],
                false,
            ),
            // Verify scope: policy.json says it as sigstoreSigned (with a
            // warning: no digest requirement); registries.conf leaves it to
            // policy.json; the host-only formats cannot verify.
            (
                "allow: [{registry: r.io}, {registry: q.io}]\nverify: [{repository: r.io/prod/**, keys: [\"-----BEGIN PUBLIC KEY-----\\nMCowBQYDK2VwAyEA1JFNjsocZ+AC0dmLA6ExtC4x81Kd2GqAuOUanF9Rp7k=\\n-----END PUBLIC KEY-----\\n\"]}]\n",
                ExportFormat::ContainersPolicy,
                &[],
                true,
            ),
            (
                "allow: [{registry: r.io}, {registry: q.io}]\nverify: [{registry: q.io, keys: [\"-----BEGIN PUBLIC KEY-----\\nMCowBQYDK2VwAyEA1JFNjsocZ+AC0dmLA6ExtC4x81Kd2GqAuOUanF9Rp7k=\\n-----END PUBLIC KEY-----\\n\"]}]\n",
                ExportFormat::RegistriesConf,
                &[],
                true,
            ),
            (
                "allow: [{registry: r.io}, {registry: q.io}]\nverify: [{registry: q.io, keys: [\"-----BEGIN PUBLIC KEY-----\\nMCowBQYDK2VwAyEA1JFNjsocZ+AC0dmLA6ExtC4x81Kd2GqAuOUanF9Rp7k=\\n-----END PUBLIC KEY-----\\n\"]}]\n",
                ExportFormat::Openshift,
                &["verify[0]"],
                true,
            ),
            // What policy.json cannot say: another repository for the
            // signatures, a regex scope, several keys (one keyData per
            // requirement in containers/image 5.23), no allow list.
            (
                "allow: [{registry: r.io}, {registry: q.io}]\nverify: [{repository: r.io/prod/**, signatureRepository: r.io/sigs, keys: [\"-----BEGIN PUBLIC KEY-----\\nMCowBQYDK2VwAyEA1JFNjsocZ+AC0dmLA6ExtC4x81Kd2GqAuOUanF9Rp7k=\\n-----END PUBLIC KEY-----\\n\"]}]\n",
                ExportFormat::ContainersPolicy,
                &["verify[0]", "verify[0]"],
                true,
            ),
            (
                "allow: [{registry: r.io}, {registry: q.io}]\nverify: [{regex: 'r\\.io/prod/.*', keys: [\"-----BEGIN PUBLIC KEY-----\\nMCowBQYDK2VwAyEA1JFNjsocZ+AC0dmLA6ExtC4x81Kd2GqAuOUanF9Rp7k=\\n-----END PUBLIC KEY-----\\n\"]}]\n",
                ExportFormat::ContainersPolicy,
                &["verify[0]", "verify[0]"],
                true,
            ),
            (
                "allow: [{registry: r.io}, {registry: q.io}]\nverify: [{registry: r.io, keys: [\"-----BEGIN PUBLIC KEY-----\\nMCowBQYDK2VwAyEA1JFNjsocZ+AC0dmLA6ExtC4x81Kd2GqAuOUanF9Rp7k=\\n-----END PUBLIC KEY-----\\n\", \"-----BEGIN PUBLIC KEY-----\\nMCowBQYDK2VwAyEA2JFNjsocZ+AC0dmLA6ExtC4x81Kd2GqAuOUanF9Rp7k=\\n-----END PUBLIC KEY-----\\n\"]}]\n",
                ExportFormat::ContainersPolicy,
                &["verify[0]"],
                true,
            ),
            (
                "verify: [{registry: r.io, keys: [\"-----BEGIN PUBLIC KEY-----\\nMCowBQYDK2VwAyEA1JFNjsocZ+AC0dmLA6ExtC4x81Kd2GqAuOUanF9Rp7k=\\n-----END PUBLIC KEY-----\\n\"]}]\n",
                ExportFormat::ContainersPolicy,
                &["verify[0]", "verify[0]"],
                false,
            ),
            (
                "allow: [{registry: r.io}]\nnamespaces: [{names: [a], combine: replace, allow: [{registry: q.io}]}]\n",
                ExportFormat::ContainersPolicy,
                &[],
                true,
            ),
            // A namespace's allow list applies to every pod.
            (
                "namespaces: [{names: [a], combine: replace, allow: [{registry: q.io}]}]\n",
                ExportFormat::ContainersPolicy,
                &["namespaces[0].allow"],
                true,
            ),
            (
                "namespaces: [{names: [a], combine: add, allow: [{repository: q.io/team/**}]}]\n",
                ExportFormat::ContainersPolicy,
                &["namespaces[0].allow"],
                false,
            ),
        ];
        for (yaml, format, refused, lossy_exports) in cases {
            let p = policy(yaml);
            let paths = |e: &ExportError| -> Vec<String> {
                e.rules
                    .iter()
                    .map(|n| n.rule.split(' ').next().unwrap_or("").to_owned())
                    .collect()
            };
            let got = match export(&p, *format, &ExportOptions::default()) {
                Ok(_) => Vec::new(),
                Err(e) => {
                    assert_eq!(e.lossy_exports, *lossy_exports, "{format}: {yaml}");
                    paths(&e)
                }
            };
            assert_eq!(got, *refused, "{format}: {yaml}");
            let lossy = export(
                &p,
                *format,
                &ExportOptions {
                    lossy: true,
                    ..ExportOptions::default()
                },
            );
            match lossy {
                // Lossy exports, naming each rule and what it rejected instead.
                Ok(e) => {
                    assert!(*lossy_exports, "{format}: {yaml}");
                    for r in *refused {
                        assert!(
                            e.warnings.iter().any(|w| w.rule.starts_with(r)
                                && w.message.starts_with("narrowed (lossy): ")
                                && w.message.contains("rejected in its place: ")),
                            "{format}: {yaml}{:?}",
                            e.warnings
                        );
                    }
                    assert!(
                        !e.warnings
                            .iter()
                            .any(|w| w.message.contains("dropped (lossy)")),
                        "{:?}",
                        e.warnings
                    );
                }
                // Narrowed, nothing would be admitted: refused even so.
                Err(e) => {
                    assert!(!*lossy_exports, "{format}: {yaml}: {e}");
                    assert!(!e.lossy_exports);
                    assert_eq!(paths(&e), *refused, "{format}: {yaml}");
                    assert!(e.to_string().contains("nothing would be admitted"), "{e}");
                }
            }
        }
    }

    /// What `lossy` rejects in place of a rule it cannot express, read
    /// back from the output.
    #[test]
    fn lossy_narrows_to_the_scope_the_rule_could_touch() {
        let lossy = ExportOptions {
            lossy: true,
            ..ExportOptions::default()
        };
        for (re, prefix) in [
            (r"r\.io/team/x.*", "r.io/team/x"),
            (r"^r\.io/a\b/.*", "r.io/a/"),
            (r"r\.io/[a-z]+", "r.io/"),
            (r"(?i)r\.io/x", ""),
            (r"r\.io/x|q\.io/y", ""),
            (r"x?r\.io/.*", ""),
        ] {
            assert_eq!(regex_literal_prefix(re), prefix, "{re}");
        }
        // policy.json: the repository prefix the regex fixes.
        let p = policy(
            "allow: [{registry: r.io}, {registry: q.io}]\ndeny: [{regex: 'r\\.io/team/x.*'}, {regex: 'q\\.io/[a-z]+/.*'}]\n",
        );
        let e = export(&p, ExportFormat::ContainersPolicy, &lossy).unwrap();
        assert_eq!(
            scopes(&e.text),
            [
                ("q.io", "reject"),
                ("r.io", "insecureAcceptAnything"),
                ("r.io/team", "reject")
            ]
            .map(|(a, b)| (a.to_owned(), b.to_owned())),
            "{}",
            e.text
        );
        let w = |path: &str| {
            e.warnings
                .iter()
                .find(|w| w.rule.starts_with(path))
                .unwrap_or_else(|| panic!("{path}: {:?}", e.warnings))
                .message
                .clone()
        };
        assert!(
            w("deny[0]")
                .ends_with("rejected in its place: r.io/team and every repository below it"),
            "{}",
            w("deny[0]")
        );
        assert!(
            w("deny[1]").ends_with("rejected in its place: every repository on q.io"),
            "{}",
            w("deny[1]")
        );
        // A namespace's allow list, lifted: only what it allows, everywhere.
        let p = policy(
            "deny: [{registry: evil.com}]\nnamespaces:\n  - {names: [a], combine: replace, allow: [{registry: q.io}, {registry: r.io}]}\n  - {names: [b], combine: add, allow: [{registry: r.io}]}\n",
        );
        let e = export(&p, ExportFormat::ContainersPolicy, &lossy).unwrap();
        assert_eq!(
            scopes(&e.text),
            [("evil.com", "reject"), ("r.io", "insecureAcceptAnything")]
                .map(|(a, b)| (a.to_owned(), b.to_owned())),
            "{}",
            e.text
        );
        assert!(
            e.text.contains("\"default\": [{\"type\": \"reject\"}]"),
            "{}",
            e.text
        );
        // The VAP: the regex's literal prefix, as an RE2 prefix.
        let p = policy("allow: [{registry: r.io}]\ndeny: [{regex: 'r\\.io/ev(?x) il'}]\n");
        let e = export(&p, ExportFormat::ValidatingAdmissionPolicy, &lossy).unwrap();
        assert!(e.text.contains(r"^r\\.io/evil(?s:.*)$"), "{}", e.text);
        assert!(
            e.warnings.iter().any(|w| w.rule.starts_with("deny[0]")
                && w.message.ends_with(
                    "rejected in its place: every image whose name starts with r.io/evil"
                )),
            "{:?}",
            e.warnings
        );
    }

    #[test]
    fn the_policy_json_traps_are_narrowed_with_warnings() {
        let p = policy(
            "allow:\n  - registry: '*.my.org'\n  - repository: r.io/team/**\n  - repository: q.io/**\n",
        );
        let e = export(
            &p,
            ExportFormat::ContainersPolicy,
            &ExportOptions::default(),
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_str(&e.text).unwrap();
        let scopes = v["transports"]["docker"].as_object().unwrap();
        assert_eq!(scopes.keys().collect::<Vec<_>>(), ["q.io"]);
        let warned: Vec<&str> = e
            .warnings
            .iter()
            .map(|w| w.rule.split(' ').next().unwrap())
            .collect();
        assert_eq!(warned, ["allow[0]", "allow[1]"]);
    }

    /// Verify rules in policy.json: `sigstoreSigned` where the name is
    /// accepted, both keys where verify scopes nest (policy.json reads the
    /// most specific scope only), `reject` left alone where denied.
    #[test]
    fn policy_json_requires_the_signatures_of_verify_scopes() {
        use base64::Engine as _;
        let key = |n: u8| {
            format!(
                "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA{n}JFNjsocZ+AC0dmLA6ExtC4x81Kd2GqAuOUanF9Rp7k=\n-----END PUBLIC KEY-----\n"
            )
        };
        let yaml = format!(
            "allow: [{{registry: r.io}}, {{registry: q.io}}]\ndeny: [{{repository: q.io/bad/**}}]\nverify:\n  - {{repository: r.io/prod/**, keys: [{:?}]}}\n  - {{registry: r.io, keys: [{:?}]}}\n  - {{repository: q.io/bad/x, keys: [{:?}]}}\n  - {{repository: s.io/x, keys: [{:?}]}}\n",
            key(1),
            key(2),
            key(3),
            key(4)
        );
        let e = export(
            &policy(&yaml),
            ExportFormat::ContainersPolicy,
            &ExportOptions::default(),
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_str(&e.text).unwrap();
        let docker = v["transports"]["docker"].as_object().unwrap();
        let keys = |scope: &str| -> Vec<String> {
            docker[scope]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    assert_eq!(r["type"], "sigstoreSigned", "{scope}: {}", e.text);
                    assert_eq!(r["signedIdentity"]["type"], "matchRepository");
                    let pem = base64::engine::general_purpose::STANDARD
                        .decode(r["keyData"].as_str().unwrap())
                        .unwrap();
                    String::from_utf8(pem).unwrap()
                })
                .collect()
        };
        assert_eq!(keys("r.io"), [key(2)], "{}", e.text);
        assert_eq!(keys("r.io/prod"), [key(2), key(1)], "{}", e.text);
        assert_eq!(
            scopes(&e.text)
                .into_iter()
                .filter(|(_, t)| t != "sigstoreSigned")
                .collect::<Vec<_>>(),
            [("q.io", "insecureAcceptAnything"), ("q.io/bad", "reject")]
                .map(|(a, b)| (a.to_owned(), b.to_owned())),
            "{}",
            e.text
        );
        // Every verify rule is warned about (no digest requirement), the
        // one under a denied scope and the one on a registry not allowed
        // too (rejected there, as by the policy).
        for i in 0..4 {
            assert!(
                e.warnings
                    .iter()
                    .any(|w| w.rule.starts_with(&format!("verify[{i}]"))
                        && w.message
                            .contains("cannot require the name to carry a digest")),
                "{:?}",
                e.warnings
            );
        }
        // registries.conf: only the denied scope is blocked.
        let rc = export(
            &policy(&yaml),
            ExportFormat::RegistriesConf,
            &ExportOptions::default(),
        )
        .unwrap();
        assert_eq!(rc.text.matches("blocked = true").count(), 1, "{}", rc.text);
        // The policy verifies an image by the name as written and by the
        // name it is pulled as: under a rewrite's `from`, both.
        for (verify, from, to) in [
            ("{repository: 'q.io/**'", "q.io/prom", "r.io/mirror"),
            ("{repository: 'r.io/mirror/**'", "q.io/prom", "r.io/mirror"),
        ] {
            let yaml = format!(
                "allow: [{{registry: r.io}}, {{registry: q.io}}]\nrewrite: [{{from: '{from}', to: '{to}'}}]\nverify: [{verify}, keys: [{:?}]}}]\n",
                key(1)
            );
            let e = export(
                &policy(&yaml),
                ExportFormat::ContainersPolicy,
                &ExportOptions::default(),
            )
            .unwrap();
            assert!(
                scopes(&e.text).contains(&(from.to_owned(), "sigstoreSigned".to_owned())),
                "{yaml}{}",
                e.text
            );
        }
    }

    /// The scopes of policy.json, with their requirement.
    fn scopes(text: &str) -> Vec<(String, String)> {
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        v["transports"]["docker"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, r)| (k.clone(), r[0]["type"].as_str().unwrap().to_owned()))
            .collect()
    }

    /// Issue 22 item 6: `registries-d` turns on sigstore attachments for
    /// exactly the scopes that `policy.json` says `sigstoreSigned`, and for
    /// the names those are pulled from under a rewrite (containers/image
    /// looks the setting up by the name it pulls). Each case: the policy,
    /// and the scopes only pulled from.
    #[test]
    fn registries_d_turns_on_attachments_where_policy_json_requires_a_signature() {
        let key = |n: u8| {
            format!(
                "\"-----BEGIN PUBLIC KEY-----\\nMCowBQYDK2VwAyEA{n}JFNjsocZ+AC0dmLA6ExtC4x81Kd2GqAuOUanF9Rp7k=\\n-----END PUBLIC KEY-----\\n\""
            )
        };
        let cases: &[(&str, &[&str])] = &[
            (
                "allow: [{registry: r.io}, {registry: q.io}]\nverify: [{repository: 'r.io/prod/**', keys: [KEY_ONE]}]\n",
                &[],
            ),
            // Nested verify scopes, one under a denied scope, one on a
            // registry not allowed (rejected: nothing to look up).
            (
                "allow: [{registry: r.io}, {registry: q.io}]\ndeny: [{repository: 'q.io/bad/**'}]\nverify: [{registry: r.io, keys: [KEY_ONE]}, {repository: 'r.io/prod/**', keys: [KEY_TWO]}, {repository: 'q.io/bad/**', keys: [KEY_ONE]}, {registry: s.io, keys: [KEY_ONE]}]\n",
                &[],
            ),
            // Verify scope over a rewrite's from: pulled from its to.
            (
                "allow: [{registry: r.io}, {registry: q.io}]\nrewrite: [{from: q.io/prom, to: r.io/mirror}]\nverify: [{repository: 'q.io/**', keys: [KEY_ONE]}]\n",
                &["r.io/mirror"],
            ),
            // Verify scope on the to: the copy under from is signed too.
            (
                "allow: [{registry: r.io}, {registry: q.io}]\nrewrite: [{from: q.io/prom, to: r.io/mirror}]\nverify: [{repository: 'r.io/mirror/**', keys: [KEY_ONE]}]\n",
                &[],
            ),
            (
                "allow: [{registry: docker.io}, {registry: r.io}]\nrewrite: [{from: docker.io/library, to: r.io/hub}]\nverify: [{registry: docker.io, keys: [KEY_ONE]}]\n",
                &["r.io/hub"],
            ),
            // Nested rewrites: each name by its longest prefix.
            (
                "allow: [{registry: r.io}, {registry: q.io}]\nrewrite: [{from: q.io/a/b, to: r.io/ab}, {from: q.io/a, to: r.io/a}]\nverify: [{repository: 'q.io/a/**', keys: [KEY_ONE]}]\n",
                &["r.io/a", "r.io/ab"],
            ),
            // Nothing said as sigstoreSigned: nothing turned on.
            ("allow: [{registry: r.io}]\n", &[]),
            (
                "allow: [{registry: r.io}]\nverify: [{repository: 'r.io/prod/**', signatureRepository: r.io/sigs, keys: [KEY_ONE]}]\n",
                &[],
            ),
        ];
        for (yaml, pulled_from) in cases {
            let yaml = yaml.replace("KEY_ONE", &key(1)).replace("KEY_TWO", &key(2));
            let p = policy(&yaml);
            let signed: Vec<String> = match export(
                &p,
                ExportFormat::ContainersPolicy,
                &ExportOptions {
                    lossy: true,
                    ..ExportOptions::default()
                },
            ) {
                Ok(pj) => scopes(&pj.text)
                    .into_iter()
                    .filter(|(_, t)| t == "sigstoreSigned")
                    .map(|(s, _)| s)
                    .collect(),
                Err(e) => panic!("{yaml}: {e}"),
            };
            let rd = export(&p, ExportFormat::RegistriesD, &ExportOptions::default())
                .unwrap_or_else(|e| panic!("{yaml}: {e}"));
            assert!(
                rd.text.contains("/etc/containers/registries.d/"),
                "{}",
                rd.text
            );
            let v: serde_json::Value = serde_saphyr::from_str(&rd.text).unwrap();
            let top = v.as_object().unwrap();
            assert_eq!(top.keys().collect::<Vec<_>>(), ["docker"], "{}", rd.text);
            let docker = top["docker"].as_object().unwrap();
            for (scope, section) in docker {
                assert_eq!(
                    section,
                    &serde_json::json!({"use-sigstore-attachments": true}),
                    "{scope}"
                );
            }
            let mut want: Vec<String> = signed.clone();
            want.extend(pulled_from.iter().map(|s| (*s).to_owned()));
            want.sort();
            want.dedup();
            let got: Vec<String> = docker.keys().cloned().collect();
            assert_eq!(got, want, "{yaml}{}", rd.text);
            // Nothing to turn on is said, once.
            assert_eq!(
                rd.warnings.len(),
                usize::from(want.is_empty()),
                "{yaml}{:?}",
                rd.warnings
            );
        }
    }

    /// registries-d admits nothing, so what containers-policy refuses it
    /// still writes (the same scopes, with or without `lossy`).
    #[test]
    fn registries_d_is_not_refused_where_containers_policy_is() {
        let p = policy(
            "allow: [{registry: r.io}]\ntags: {deny: [latest]}\nexempt: [{image: r.io/x:1, from: [deny], reason: r}]\nverify: [{registry: r.io, keys: [\"-----BEGIN PUBLIC KEY-----\\nMCowBQYDK2VwAyEA1JFNjsocZ+AC0dmLA6ExtC4x81Kd2GqAuOUanF9Rp7k=\\n-----END PUBLIC KEY-----\\n\"]}]\n",
        );
        assert!(
            export(
                &p,
                ExportFormat::ContainersPolicy,
                &ExportOptions::default()
            )
            .is_err()
        );
        let rd = export(&p, ExportFormat::RegistriesD, &ExportOptions::default()).unwrap();
        assert!(
            rd.text
                .contains("\"r.io\":\n    use-sigstore-attachments: true\n"),
            "{}",
            rd.text
        );
        assert!(rd.warnings.is_empty(), "{:?}", rd.warnings);
    }

    /// containers/image reads several keys (any one verifies) as `keyDatas`
    /// from 5.33 (and 5.32.2) on; the 5.23 read here refuses the key: the
    /// rule is refused, naming the version, and `lossy` requires its first
    /// key (narrower).
    #[test]
    fn several_keys_are_refused_naming_the_version_that_reads_key_datas() {
        let p = policy(
            "allow: [{registry: r.io}]\nverify: [{registry: r.io, keys: [\"-----BEGIN PUBLIC KEY-----\\nMCowBQYDK2VwAyEA1JFNjsocZ+AC0dmLA6ExtC4x81Kd2GqAuOUanF9Rp7k=\\n-----END PUBLIC KEY-----\\n\", \"-----BEGIN PUBLIC KEY-----\\nMCowBQYDK2VwAyEA2JFNjsocZ+AC0dmLA6ExtC4x81Kd2GqAuOUanF9Rp7k=\\n-----END PUBLIC KEY-----\\n\"]}]\n",
        );
        let e = export(
            &p,
            ExportFormat::ContainersPolicy,
            &ExportOptions::default(),
        )
        .unwrap_err();
        assert!(e.lossy_exports);
        assert_eq!(e.rules.len(), 1, "{e}");
        assert!(e.rules[0].rule.starts_with("verify[0]"), "{e}");
        assert!(
            e.rules[0]
                .message
                .contains("keyDatas, read by containers/image 5.33"),
            "{e}"
        );
        let lossy = export(
            &p,
            ExportFormat::ContainersPolicy,
            &ExportOptions {
                lossy: true,
                ..ExportOptions::default()
            },
        )
        .unwrap();
        assert!(!lossy.text.contains("keyDatas"), "{}", lossy.text);
        assert_eq!(
            lossy.text.matches("\"keyData\"").count(),
            1,
            "{}",
            lossy.text
        );
    }

    /// Issue 18: containers/image judges a name under a rewrite's `from` as
    /// written and pulls the rewritten one, which the policy judges: the
    /// scopes under `from` are those of `to`, copied.
    #[test]
    fn policy_json_judges_a_rewritten_name_by_the_scopes_of_its_target() {
        let p = policy(
            "allow: [{registry: quay.io}, {registry: registry.my.com}]\ndeny: [{repository: registry.my.com/mirror/evil/**}]\nrewrite: [{from: quay.io, to: registry.my.com/mirror}]\n",
        );
        let e = export(
            &p,
            ExportFormat::ContainersPolicy,
            &ExportOptions::default(),
        )
        .unwrap();
        let got = scopes(&e.text);
        let want = [
            ("quay.io", "insecureAcceptAnything"),
            ("quay.io/evil", "reject"),
            ("registry.my.com", "insecureAcceptAnything"),
            ("registry.my.com/mirror/evil", "reject"),
        ];
        assert_eq!(
            got,
            want.map(|(a, b)| (a.to_owned(), b.to_owned())),
            "{}",
            e.text
        );
        // No rewrite warning: this is what check decides.
        assert!(!e.warnings.iter().any(|w| w.rule.starts_with("rewrite[0]")));
        let conf = export(&p, ExportFormat::RegistriesConf, &ExportOptions::default()).unwrap();
        assert!(
            conf.text
                .contains("[[registry]]\nlocation = \"quay.io/evil\"\nblocked = true\n"),
            "{}",
            conf.text
        );

        // An allow list that does not allow the target: quay.io as written
        // is allowed, but every name the rule makes is denied.
        let p = policy(
            "allow: [{registry: quay.io}, {repository: registry.my.com/mirror/good/**}]\nrewrite: [{from: quay.io, to: registry.my.com/mirror}]\n",
        );
        let e = export(
            &p,
            ExportFormat::ContainersPolicy,
            &ExportOptions::default(),
        )
        .unwrap();
        assert_eq!(
            scopes(&e.text),
            [("quay.io".to_owned(), "reject".to_owned())],
            "{}",
            e.text
        );

        // A longer `from` keeps its own copy; a bare host `from` also
        // rewrites that host with a port in containers/image, so a port
        // the policy allows is pulled from where it is named.
        let p = policy(
            "allow: [{registry: registry.my.com}, {registry: 'quay.io:5000'}]\ndeny: [{repository: registry.my.com/prom/evil/**}]\nrewrite: [{from: quay.io/prometheus, to: registry.my.com/prom}, {from: quay.io, to: registry.my.com}]\n",
        );
        let e = export(
            &p,
            ExportFormat::ContainersPolicy,
            &ExportOptions::default(),
        )
        .unwrap();
        assert_eq!(
            scopes(&e.text),
            [
                ("quay.io", "insecureAcceptAnything"),
                ("quay.io/prom/evil", "reject"),
                ("quay.io/prometheus", "insecureAcceptAnything"),
                ("quay.io/prometheus/evil", "reject"),
                ("quay.io:5000", "insecureAcceptAnything"),
                ("registry.my.com", "insecureAcceptAnything"),
                ("registry.my.com/prom/evil", "reject"),
            ]
            .map(|(a, b)| (a.to_owned(), b.to_owned())),
            "{}",
            e.text
        );
        let conf = export(&p, ExportFormat::RegistriesConf, &ExportOptions::default()).unwrap();
        assert!(
            conf.text
                .ends_with("\n[[registry]]\nlocation = \"quay.io:5000\"\n"),
            "{}",
            conf.text
        );
    }

    /// The formats that cannot rewrite run the image from the registry it
    /// names: a registry under a rewrite's `from` is not allowed there (or
    /// blocked); the VAP judges both names.
    #[test]
    fn formats_that_cannot_rewrite_do_not_admit_the_rewritten_registries() {
        let p = policy(
            "allow: [{registry: registry.my.com}, {registry: docker.io}]\nrewrite:\n  - {from: docker.io/library, to: registry.my.com}\n",
        );
        for format in [ExportFormat::Openshift, ExportFormat::DockerSysconfig] {
            let e = export(&p, format, &ExportOptions::default()).unwrap();
            assert!(!e.text.contains("docker.io"), "{format}: {}", e.text);
            let w = e
                .warnings
                .iter()
                .find(|w| {
                    w.rule
                        .starts_with("rewrite[0] (rewrite docker.io/library=registry.my.com)")
                })
                .unwrap_or_else(|| panic!("{format}: {:?}", e.warnings));
            assert!(
                w.message.contains("registry docker.io is not allowed"),
                "{w}"
            );
            assert!(w.message.contains("deploy /mutate"), "{w}");
        }
        let p = policy("rewrite:\n  - {from: docker.io/library, to: registry.my.com}\n");
        let e = export(&p, ExportFormat::Openshift, &ExportOptions::default()).unwrap();
        assert!(
            e.text
                .contains("blockedRegistries:\n      - \"docker.io\"\n"),
            "{}",
            e.text
        );
        let vap = export(
            &p,
            ExportFormat::ValidatingAdmissionPolicy,
            &ExportOptions::default(),
        )
        .unwrap();
        assert!(vap.warnings[0].message.contains("as /validate judges it"));
        assert!(vap.warnings[0].message.contains("as check judges it"));
        assert!(vap.text.contains("name: rewritten"));
    }

    /// Issue 18: OpenShift reads an empty (or absent) `allowedRegistries`
    /// as no restriction: where no allowed registry is left, the export is
    /// refused, `lossy` or not, naming the allow rules.
    #[test]
    fn openshift_never_writes_an_empty_allow_list() {
        for (yaml, refused) in [
            (
                "allow: [{registry: r.io}]\ndeny: [{repository: r.io/legacy/**}]\n",
                &["allow[0]"][..],
            ),
            ("allow: [{repository: r.io/team/**}]\n", &["allow[0]"]),
            (
                "allow: [{registry: '*.my.org'}, {regex: 'r\\.io/.*'}]\n",
                &["allow[0]", "allow[1]"],
            ),
        ] {
            let p = policy(yaml);
            for lossy in [false, true] {
                let e = export(
                    &p,
                    ExportFormat::Openshift,
                    &ExportOptions {
                        lossy,
                        ..ExportOptions::default()
                    },
                )
                .unwrap_err();
                assert!(!e.lossy_exports, "{yaml}");
                let paths: Vec<&str> = e
                    .rules
                    .iter()
                    .map(|n| n.rule.split(' ').next().unwrap())
                    .collect();
                assert_eq!(paths, refused, "{yaml}");
                let text = e.to_string();
                assert!(text.contains("not even a lossy export can"), "{text}");
                assert!(text.contains("no restriction at all"), "{text}");
            }
        }
        // One registry left: written.
        let p = policy("allow: [{registry: r.io}, {repository: q.io/team/**}]\n");
        let e = export(&p, ExportFormat::Openshift, &ExportOptions::default()).unwrap();
        assert!(
            e.text.contains("allowedRegistries:\n      - \"r.io\"\n"),
            "{}",
            e.text
        );
    }
}
