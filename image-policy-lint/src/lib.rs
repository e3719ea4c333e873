//! `image-policy-lint`: every image in a repository's Kubernetes manifests,
//! Dockerfiles, compose files and kustomizations, judged by an
//! [`image_policy_core::policy::Policy`] (the same policy and the same core
//! code as the admission webhook), and reported where it is written. The
//! `image-policy lint` command is argument parsing and printing over this
//! crate; a CI tool or another project calls it the same way.
//!
//! # Usage
//!
//! ```
//! use image_policy_core::policy::Policy;
//! use image_policy_lint::{Options, Source, SourceKind, lint, render};
//!
//! let policy = Policy::builder().allow_registry("registry.my.com").build()?.policy;
//! let manifest = "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\n\
//!                 spec:\n  containers:\n  - name: web\n    image: nginx:1.27\n";
//! let source = Source {
//!     name: "pod.yaml".to_owned(),
//!     kind: SourceKind::Manifests,
//!     text: Ok(manifest.to_owned()),
//! };
//! let report = lint([source], &Options::default(), &policy);
//!
//! let finding = &report.files[0].findings[0];
//! assert_eq!(finding.site.image, "nginx:1.27");
//! assert_eq!((finding.site.position.line, finding.site.position.column), (7, 12));
//! assert!(!finding.verdict.allowed);
//! assert_eq!(report.exit_code(false), 1);
//!
//! let mut json = Vec::new();
//! render::json::render(&report, &mut json)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Files and directories are found and read as `kubectl apply -R` finds them
//! with [`walk::walk`] and [`walk::Walk::sources`].
//!
//! # Design
//!
//! A run has four steps, each in its own module:
//!
//! 1. [`walk`]: which files, in which (sorted, deterministic) order, as
//!    `kubectl apply -R` walks a directory; the name gives a first guess of
//!    the kind ([`SourceKind`]); `-` is standard input.
//! 2. Extraction ([`extract`], the private `read` module), one reader per
//!    kind, each giving an
//!    [`report::Extracted`] (image sites with line and column, objects,
//!    suppressions, problems): Kubernetes YAML/JSON, read as kubectl reads
//!    them (its document splitter and go-yaml v2's rules, or the difference
//!    reported, see below; the images are found by
//!    `image_policy_core::k8s::find_images`, the webhook's own code: every
//!    container list and every image volume, reported as `container NAME` or
//!    `volume NAME`), Dockerfiles (`# syntax=`, `FROM`, `COPY`/`ADD --from`,
//!    `RUN --mount from=`, `ONBUILD`), compose files (`services.*.image`) and
//!    kustomizations (the images `images:` overrides write). YAML and JSON
//!    are read by content, not name: a document with `apiVersion` and `kind`
//!    is a Kubernetes manifest, a top-level `services:` makes a compose file
//!    (so a Deployment named `docker-compose.yml` is judged as the Deployment
//!    kubectl would apply); a file that holds both is read both ways, and one
//!    that holds neither is read as its name says. A file named like a
//!    kustomization is also read as a manifest, since `kubectl apply -R`
//!    would send it.
//! 3. Judgement ([`lint`], on [`Options::threads`] threads: the private
//!    `pipeline` and `judge` modules): each site goes through
//!    [`Policy::evaluate_rewritten`](image_policy_core::policy::Policy::evaluate_rewritten)
//!    with the object's namespace and annotations as context (with rewrite rules, a Kubernetes object's
//!    image is judged rewritten, as the webhook judges it after `/mutate`;
//!    a Dockerfile's or compose file's image is judged as written, since no
//!    `/mutate` reaches `docker build` or `docker compose pull`
//!    ([`report::SiteVerdict::as_written`]); the verdict says to what a rule
//!    rewrites it, and, from the same plan [`fix`] runs, whether `--fix`
//!    can write that ([`report::SiteVerdict::unfixable`]); a rewrite that makes
//!    no valid reference is a denial naming the rule), and becomes a
//!    [`report::Finding`] whose [`report::SiteVerdict`] carries the core's typed
//!    [`Mode`](image_policy_core::policy::Mode) and
//!    [`DecisionCode`](image_policy_core::policy::DecisionCode).
//! 4. Fixing ([`fix`], the CLI's `--fix` and `--diff`): the images a rewrite
//!    rule changes are written into the texts, and those `pin:` rules put in
//!    pin scope are pinned with the digests the caller resolved
//!    ([`Options::pins`], [`fix::Pins`]; the crate does no network I/O),
//!    only their bytes changing (a
//!    pure plan of edits from the text and its sites, each edit proven in
//!    the fixed text, see [`fix`]'s *Verification*); the caller writes the
//!    files or prints the diffs.
//!
//! [`render`] then prints the [`report::Report`] as text, JSON, SARIF or
//! GitHub annotations.
//!
//! The modules call downward only: [`fix::fix`] runs on the pipeline's
//! threads; the pipeline calls the readers, the judge and `fix`'s planning
//! and proof, none of which calls the pipeline or a run. The fuzz checks
//! and the readers' internals the fuzz targets, benches and differential
//! tests need are in one hidden module, `fuzzing` (`--features fuzzing`,
//! not an API).
//!
//! # Reading files as kubectl reads them
//!
//! A manifest is judged as kubectl will send it, not as a YAML 1.2 parser
//! reads it (the private `kubectl` module has the details); in short:
//!
//! - exactly as kubectl: the document split (a line starting with `---`
//!   whose rest, trimmed of Unicode white space as Go trims it, is empty or a
//!   comment; any other `---` line stops kubectl and is a `parse-error`),
//!   and duplicate keys (the last value wins and is judged; the duplicate is a
//!   `duplicate-key` problem, as the API server's strict field validation
//!   rejects it);
//! - reported as `kubectl-difference` (exit code 2, even with
//!   `--warn-only`): YAML 1.1 line breaks (NEL, U+2028, U+2029) and lone
//!   carriage returns, which go-yaml v2 reads as line ends and YAML 1.2 does
//!   not; a merge key `<<` that is not the first key of its mapping (go-yaml
//!   v2 applies it in order, overriding the keys before it); a JSON stream
//!   (first character `{`) holding more than one JSON value.
//!
//! Everything else (a merge key in first place, anchors, aliases, flow
//! style, tabs, byte-order marks, CRLF) is read by serde-saphyr; where
//! go-yaml v2 refuses what it accepts, the linter judges more than kubectl
//! sends, never less.
//! The differential test `image-policy-lint/tests/it/kubectl_reading.rs`
//! checks this against kubectl itself (`kubectl label --local -f -`, run by
//! `target/reference-tools/kyaml`, built by `.ci/reference-tools`) over
//! hundreds of generated files (more on demand): for every file, the linter
//! reports a problem or judges every image kubectl sends. Where kubectl and
//! a YAML library disagree, kubectl is right: lists are kubectl's (any object
//! with `items`), and what kubectl refuses (a document without `kind`, a key
//! such as `{{replicas}}`) is a problem. Only the nine pod-bearing kinds are
//! read as pod specs; a Helm chart is not read (see [`walk`]).
//!
//! Nothing is silent: a file the walk does not read is listed in
//! [`walk::Walk::not_read`] (the CLI counts them on standard error, and
//! lists them with `--verbose`), a file that is not a manifest is counted
//! as skipped, an object skipped by its `image-policy.dev/ignore` annotation is listed with
//! its reason, and a file that cannot be read or parsed is reported with its
//! location while the run goes on.
//!
//! # Exit codes
//!
//! [`Report::exit_code`](report::Report::exit_code): 0 when every image is allowed and every input was
//! read; 1 when an image violates the policy (or cannot be judged: an
//! unresolved variable, a pod-bearing object without containers); 2 when an
//! input could not be read or parsed (this wins over 1). `warn_only` (the
//! CLI's `--warn-only`) turns 1 into 0.
//!
//! # JSON output
//!
//! [`render::json`] writes one JSON object (the CLI's `--format json`); its
//! schema is documented there and in `docs/lint-json.md`.
//!
//! # Performance
//!
//! Files are read whole and their images judged on as many threads as there
//! are cores ([`Options::threads`] sets another count); a YAML
//! document is deserialized only into the fields that can carry images
//! (everything else is skipped without being stored). A file is parsed once,
//! or, when the fast path stops at something outside its subset, a second
//! time by serde-saphyr.
//! Most manifests are read by the fast path (the private `fast_yaml`
//! module), a lean span-keeping deserializer over the events of a
//! hand-written recognizer of the common block-YAML subset (the private
//! `block_yaml` module: printable ASCII, block mappings and sequences,
//! one-line scalars without escapes, one-line flow collections of scalars),
//! which yields exactly granit-parser's events (the parser under
//! serde-saphyr, with the same options) and gives up to them on anything
//! else: the whole of `lint` costs about 111 instructions per byte on the
//! bench corpus (about 302 over granit-parser's events, whose parser took
//! about 230 of them), of which kubectl's document splitter and checks take
//! about 2 (one pass over the line index the reader builds anyway, and
//! `memchr` searches for the bytes that can start a difference) and
//! judging about 14. Files outside the fast path's subset (anchors,
//! aliases, tags, merge keys, duplicate keys, anything unusual) are read by
//! serde-saphyr, as before, at about 550. On the bench corpus, `lint` read
//! 52.8 to 58 MB/s on two cores at its last timing (BENCHMARKS.md). See `benches/benches/lint.rs`, which measures both
//! readers and three span-keeping event parsers next to the linter, and
//! `benches/results/lint.md`.
//!
//! # Untrusted input
//!
//! Manifests from a pull request are untrusted, and may be written to be read
//! one way by the linter and another by kubectl: see the section above. The
//! kubectl document splitter and checks are linear in the input and never
//! panic (the `kubectl_reader` fuzz target). The fast path stops at
//! serde-saphyr's limits and hands anything unusual to serde-saphyr, whose
//! budget bounds events, nesting and alias expansion (a "billion laughs"
//! file is a parse error, not a hang); files over [`walk::MAX_FILE_BYTES`]
//! are refused; symbolic links to directories are not followed, so a link
//! loop cannot hang the walk. Nothing panics on any input.
//!
//! File names, object names and the messages that quote them come from the
//! linted repository too, and may hold line breaks, terminal escapes or
//! text made to look like a report line, a GitHub workflow command or a
//! diff header. Every output escapes them as its reader requires
//! ([`render::escape`]): no name can add a line, a command or a hunk.

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod block_yaml;
mod compose;
mod dockerfile;
mod fast_yaml;
pub mod fix;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
mod judge;
mod kubectl;
mod kustomization;
mod lines;
mod manifests;
mod pipeline;
mod read;
pub mod render;
pub mod report;
mod source;
mod vars;
pub mod walk;
mod yaml;

pub use pipeline::lint;
pub use read::extract;
pub use source::{Source, SourceKind};

/// The README's example, run by `cargo test --doc`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExample;

/// Settings that change what is read (not how it is printed).
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Options {
    /// Values for Dockerfile `ARG`s and compose interpolation (the CLI's
    /// `--var NAME=VALUE`, as `docker build --build-arg` passes them); a
    /// value given here wins over the file's default.
    pub vars: std::collections::HashMap<String, String>,
    /// Judge Dockerfiles' and compose files' images as rewritten, as
    /// Kubernetes objects' are: only for build hosts whose image tools apply
    /// the policy's rewrite rules themselves, through the `registries.conf`
    /// that `image-policy export --format registries-conf` writes (podman,
    /// buildah, skopeo: containers/image). Docker does not read that file.
    /// Off by default: a Dockerfile's or compose file's image is judged as
    /// written, since no `/mutate` reaches what builds pull.
    pub builds_use_registries_conf: bool,
    /// How many threads read and judge the files (and plan and check their
    /// fixes): `None`, the default, for as many as the machine has cores
    /// ([`std::thread::available_parallelism`], one where it cannot be
    /// known); never more than there are files; one reads on the calling
    /// thread. The report is the same whatever the count, in the order of
    /// the sources.
    pub threads: Option<std::num::NonZeroUsize>,
    /// The digests `lint --fix` pins images in pin scope with (`pin:`
    /// rules), resolved by the caller (the library does no network I/O):
    /// `None`, the default, when they are not known, so that [`lint`] says
    /// only whether a pin could be written ("fixable with --fix") and
    /// [`fix::fix`] pins nothing (each such image is then not fixable). See
    /// [`fix::Pins`] and [`fix::wanted`], which lists the images to resolve.
    pub pins: Option<fix::Pins>,
}

impl Options {
    /// Options with these variable values (see [`Options::vars`]).
    pub fn with_vars(vars: impl IntoIterator<Item = (String, String)>) -> Self {
        Options {
            vars: vars.into_iter().collect(),
            ..Options::default()
        }
    }
}
