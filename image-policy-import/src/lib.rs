//! What you run today, read into an image-policy policy: the mirror of
//! `image-policy-export`.
//!
//! # Overview
//!
//! | [`ImportFormat`] | what it reads | how the old engine decides (the dry run's "before") |
//! |---|---|---|
//! | `gatekeeper` | the Gatekeeper library's `K8sAllowedRepos`, `K8sDisallowedRepos`, `K8sDisallowedTags` and `K8sImageDigests` constraints (YAML or JSON, several documents): `spec.parameters`, `spec.match.namespaces` / `excludedNamespaces`, `spec.enforcementAction` | the library's Rego: `startswith` on the image *as written*, `endswith(":" + tag)`, "no `:` at all" is untagged, `exemptImages` exact or `prefix*`; containers, init and ephemeral containers, never image volumes |
//! | `kyverno` | `ClusterPolicy` / `Policy` in the Kyverno policies library's shapes: `validate.pattern` on `spec.containers[].image` (and the init and ephemeral lists), `foreach` + `deny.conditions` on `{{ element.image }}`, `validationFailureAction`, `match` / `exclude` on namespaces | Kyverno's wildcards (`*`, `?`, `a \| b`, `!p`) on the image *as written*, in the lists each rule names |
//! | `registries-conf` | containers/image's `/etc/containers/registries.conf` (v2 `[[registry]]` entries: `blocked`, `prefix`/`location`; the v1 block list) | the entry of the longest prefix matching the normalized name (at a `/`, `:` or `@`) blocks it or not |
//! | `docker-sysconfig` | RHEL/CentOS 7 docker's `/etc/sysconfig/docker`: `ADD_REGISTRY`, `BLOCK_REGISTRY`, `INSECURE_REGISTRY` (and those flags in `OPTIONS`) | the registry of the name as docker normalizes it; an unqualified name is searched in the added registries first |
//! | `policy-json` | containers/image's `/etc/containers/policy.json`: the `docker` transport's scopes, `insecureAcceptAnything` and `reject` (signature requirements read as `reject`) | the most specific scope of the normalized name (the reference with its tag or digest, the repository and each namespace above it, the host, `*.` wildcards, the defaults); every image the node pulls |
//! | `bouncer` | kube-image-bouncer's command line (`--registry-whitelist`, `--reject-latest`) | the registry of the name after Docker's normalization, compared exactly; `latest` also when no tag or digest is written; containers, init and ephemeral containers |
//!
//! [`import`] is pure: the caller reads the files and hands their text in
//! ([`Source`]); it returns the policy as YAML ([`Imported::text`], a
//! comment above each rule naming the file, document and field it came
//! from), the report ([`Imported::notes`]) and the old policy as its engine
//! decides ([`OldPolicy`]), which [`dry_run`] compares with the new one on
//! a list of images.
//!
//! ```
//! use image_policy_import::{ImportFormat, Source, import};
//!
//! let imported = import(
//!     ImportFormat::Bouncer,
//!     &[Source::new("<flags>", "--registry-whitelist localhost:5000,registry.com --reject-latest")],
//! )?;
//! assert!(imported.text.contains(r#"- registry: "registry.com""#));
//! assert!(imported.old.judge("busybox:1.2", None).violates());
//! # Ok::<(), image_policy_import::ImportError>(())
//! ```
//!
//! # The promise: never wider than what the old policy meant
//!
//! The imported policy admits no image that the old policy's *author*
//! meant to deny. Where the old engine admits more than its text says (a
//! `startswith` prefix `registry.my.com` also admits
//! `registry.my.com.evil.io/x` and `registry.my.com-x/y`; a `*` pattern
//! crosses `/` and `.`), the import takes the narrow reading (`registry:
//! registry.my.com`) and a [`Note`] says so, with concrete names the old
//! policy admitted. Where the import cannot say a rule exactly, it is
//! stricter, never looser: a constraint's `excludedNamespaces` that not
//! every constraint shares, a label selector, a `warn` constraint beside a
//! `deny` one are all applied as the strictest of them, each with a note.
//! Deny prefixes become regex rules that deny every name the prefix denied
//! in every spelling of it (Docker Hub's short and long forms, any case).
//!
//! A shape the import cannot read (an unknown parameter, a prefix reaching
//! into a tag, a constraint kind outside the library's four) is an
//! [`ImportError`] naming the file, the document and the field; a rule is
//! never dropped silently.
//!
//! # What is chosen where the peers are silent
//!
//! - One policy has one mode per scope: constraints with different
//!   `enforcementAction`s in one scope take the strictest (`deny` before
//!   `warn` before `dryrun`), with a note.
//! - Several `K8sAllowedRepos` constraints on one scope must all admit an
//!   image (Gatekeeper denies when any constraint does): their prefixes are
//!   intersected before they are read.
//! - Gatekeeper's `exemptImages` become `exempt:` rules (exact images, or a
//!   `prefix*` as a repository glob no wider than the prefix), each with the
//!   constraint named in its `reason`; an exemption that would also lift
//!   another constraint of the same kind in that scope is left out (stricter),
//!   with a note.
//! - This project's own `export --format gatekeeper` and `--format kyverno`
//!   write its own template and CEL, not the libraries' shapes: importing
//!   them is refused (the kind, or `validate.cel`, named). The formats that
//!   round-trip are `policy-json`, `registries-conf` and `docker-sysconfig`.
//! - The dry run compares *violations*: whether the rules flag the image,
//!   whatever the mode (a `warn` constraint's image is "denied" there, as
//!   our `warn` policy's is).
//!
//! # Performance
//!
//! Reading is linear in the files but for Kyverno's wildcard match (the
//! dry run's "before"), which is at worst the pattern's length times the
//! image's; the prefixes of Gatekeeper constraints are intersected pairwise
//! per scope (at worst the product of the constraints' list lengths).
//!
//! # Untrusted input
//!
//! The files are untrusted: every reader is fuzzed (`fuzz/fuzz_targets/
//! import_readers.rs`, whose checks live in the hidden `fuzzing` module:
//! no panic, and a policy that loads). YAML is read by serde-saphyr with its
//! default budgets, TOML by `toml`, JSON by serde_json; every string
//! written into the output is a double-quoted YAML scalar with JSON escapes,
//! and every comment has its control characters replaced, so a file name or
//! value cannot add a line to the policy.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod bouncer;
mod draft;
mod dry_run;
mod gatekeeper;
mod kyverno;
mod old;
mod policy_json;
mod prefix;
mod registries_conf;
mod sysconfig;

#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;

pub use dry_run::{DryRun, DryRunImage, ImagesError, Site, dry_run, read_images};
pub use old::{OldDecision, OldPolicy};

use std::fmt;

/// The formats [`import`] reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ImportFormat {
    /// Gatekeeper library constraints (`K8sAllowedRepos`, `K8sDisallowedRepos`,
    /// `K8sDisallowedTags`, `K8sImageDigests`).
    Gatekeeper,
    /// RHEL/CentOS 7 docker's `/etc/sysconfig/docker`.
    DockerSysconfig,
    /// kube-image-bouncer's command line.
    Bouncer,
    /// containers/image's `/etc/containers/policy.json`.
    PolicyJson,
    /// Kyverno `ClusterPolicy` / `Policy` validate rules on images.
    Kyverno,
    /// containers/image's `/etc/containers/registries.conf`.
    RegistriesConf,
}

impl ImportFormat {
    /// Every format, in `--help`'s order.
    pub const ALL: [ImportFormat; 6] = [
        Self::Gatekeeper,
        Self::PolicyJson,
        Self::DockerSysconfig,
        Self::Bouncer,
        Self::Kyverno,
        Self::RegistriesConf,
    ];

    /// The name on the command line (`--from NAME`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Gatekeeper => "gatekeeper",
            Self::DockerSysconfig => "docker-sysconfig",
            Self::Bouncer => "bouncer",
            Self::PolicyJson => "policy-json",
            Self::Kyverno => "kyverno",
            Self::RegistriesConf => "registries-conf",
        }
    }

    /// [`ImportFormat::name`]'s inverse.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }

    /// One line for `--help`.
    pub fn description(self) -> &'static str {
        match self {
            Self::Gatekeeper => {
                "Gatekeeper library constraints: K8sAllowedRepos, K8sDisallowedRepos, K8sDisallowedTags, K8sImageDigests"
            }
            Self::DockerSysconfig => {
                "RHEL/CentOS 7 docker's /etc/sysconfig/docker: ADD_REGISTRY, BLOCK_REGISTRY, INSECURE_REGISTRY"
            }
            Self::Bouncer => {
                "kube-image-bouncer's flags as one line: --registry-whitelist, --reject-latest"
            }
            Self::PolicyJson => {
                "containers/image's /etc/containers/policy.json (CRI-O, podman): the docker transport's scopes"
            }
            Self::Kyverno => {
                "Kyverno ClusterPolicy/Policy: validate.pattern on image, foreach + deny on element.image"
            }
            Self::RegistriesConf => {
                "containers/image's /etc/containers/registries.conf: blocked prefixes, prefix/location rewrites"
            }
        }
    }
}

impl fmt::Display for ImportFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One file (or command line) to import, with the name the report and the
/// comments give it.
#[derive(Clone, Copy, Debug)]
pub struct Source<'a> {
    /// The file's name as the user gave it.
    pub name: &'a str,
    /// Its text.
    pub text: &'a str,
}

impl<'a> Source<'a> {
    /// A source.
    pub fn new(name: &'a str, text: &'a str) -> Self {
        Self { name, text }
    }
}

/// Where a rule, a note or an error comes from: the file, the document in
/// it (1-based; 0 for a file that is not made of documents) and the field.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Origin {
    /// The [`Source::name`].
    pub file: String,
    /// The document, 1-based (0: the whole file).
    pub document: usize,
    /// What the document is (`K8sAllowedRepos "prod-repos"`), or empty.
    pub object: String,
    /// The field (`spec.parameters.repos[0]`), or empty.
    pub field: String,
}

impl Origin {
    fn new(
        file: &str,
        document: usize,
        object: impl Into<String>,
        field: impl Into<String>,
    ) -> Self {
        Self {
            file: file.to_owned(),
            document,
            object: object.into(),
            field: field.into(),
        }
    }

    fn field(&self, field: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            ..self.clone()
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if self.document > 0 {
            write!(f, " document {}", self.document)?;
        }
        if !self.object.is_empty() {
            write!(f, " ({})", self.object)?;
        }
        if !self.field.is_empty() {
            write!(f, ", {}", self.field)?;
        }
        Ok(())
    }
}

/// What kind of difference a [`Note`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NoteKind {
    /// The old rule admitted more than its text says (a prefix ending
    /// inside a host name or a path component): read narrowly.
    Narrowed,
    /// The old engine compared the name as written; the import compares
    /// parsed, normalized names (Docker Hub's spellings, case, ports).
    Spelling,
    /// Places the old engine did not look at (init or ephemeral containers,
    /// image volumes) that the imported policy judges.
    Unchecked,
    /// A scope the policy cannot say exactly (excluded namespaces, label
    /// selectors, kinds, modes), applied as its strictest reading.
    Stricter,
    /// Part of the file that has no meaning for a policy (TLS settings,
    /// server flags), read and left out.
    Ignored,
}

impl NoteKind {
    /// The word the report starts the note with.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Narrowed => "narrowed",
            Self::Spelling => "spelling",
            Self::Unchecked => "unchecked before",
            Self::Stricter => "stricter",
            Self::Ignored => "ignored",
        }
    }
}

/// One place where the old and the new meanings differ.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// What kind of difference.
    pub kind: NoteKind,
    /// Where in the old policy.
    pub origin: Origin,
    /// What differs.
    pub message: String,
    /// Concrete image names the old policy admitted that the new one
    /// denies (or the other way round, as the message says).
    pub examples: Vec<String>,
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}: {}",
            self.kind.as_str(),
            self.origin,
            self.message
        )?;
        if !self.examples.is_empty() {
            write!(f, " (e.g. {})", self.examples.join(", "))?;
        }
        Ok(())
    }
}

/// Why a file cannot be imported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ImportErrorKind {
    /// The file is not YAML/JSON (or not the format's syntax).
    Syntax,
    /// A document or field of a shape the import does not read.
    Unsupported,
    /// A value that cannot be read as an image name, registry or tag.
    InvalidValue,
    /// Nothing to import.
    Empty,
}

/// A file, document or field the import cannot read: never a rule dropped
/// silently.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportError {
    /// What went wrong.
    pub kind: ImportErrorKind,
    /// Where.
    pub origin: Origin,
    /// Why, in words.
    pub message: String,
}

impl ImportError {
    fn new(kind: ImportErrorKind, origin: Origin, message: impl Into<String>) -> Self {
        Self {
            kind,
            origin,
            message: message.into(),
        }
    }
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.origin, self.message)
    }
}

impl std::error::Error for ImportError {}

/// The result of [`import`].
#[derive(Clone, Debug)]
pub struct Imported {
    /// The policy, YAML, a comment above each rule naming where it came from.
    pub text: String,
    /// Every difference between the old meaning and the new one.
    pub notes: Vec<Note>,
    /// The old policy, deciding as its engine does (the dry run's "before").
    pub old: OldPolicy,
    /// Whether the policy has `exempt:` rules.
    pub has_exemptions: bool,
}

/// Reads `sources` (all in `format`) into one policy.
pub fn import(format: ImportFormat, sources: &[Source<'_>]) -> Result<Imported, ImportError> {
    let mut notes = Vec::new();
    let (draft, old) = match format {
        ImportFormat::Gatekeeper => gatekeeper::read(sources, &mut notes)?,
        ImportFormat::DockerSysconfig => sysconfig::read(sources, &mut notes)?,
        ImportFormat::Bouncer => bouncer::read(sources, &mut notes)?,
        ImportFormat::PolicyJson => policy_json::read(sources, &mut notes)?,
        ImportFormat::Kyverno => kyverno::read(sources, &mut notes)?,
        ImportFormat::RegistriesConf => registries_conf::read(sources, &mut notes)?,
    };
    let header: Vec<&str> = sources.iter().map(|s| s.name).collect();
    let text = draft.to_yaml(format, &header);
    Ok(Imported {
        text,
        notes,
        old,
        has_exemptions: draft.has_exemptions(),
    })
}
