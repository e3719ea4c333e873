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
//! A run has three steps:
//!
//! 1. [`walk`]: which files, in which (sorted, deterministic) order, as
//!    `kubectl apply -R` walks a directory; the name gives a first guess of
//!    the kind ([`SourceKind`]); `-` is standard input.
//! 2. Extraction ([`extract`]), one reader per kind, each giving an
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
//! 3. Judgement ([`lint`]): each site goes through
//!    [`Policy::evaluate_rewritten`] with the object's namespace and
//!    annotations as context (with rewrite rules, a Kubernetes object's
//!    image is judged rewritten, as the webhook judges it after `/mutate`;
//!    a Dockerfile's or compose file's image is judged as written, since no
//!    `/mutate` reaches `docker build` or `docker compose pull`
//!    ([`report::SiteVerdict::as_written`]); the verdict says to what a rule
//!    rewrites it, and, from the same plan [`fix`] runs, whether `--fix`
//!    can write that ([`report::SiteVerdict::unfixable`]); a rewrite that makes
//!    no valid reference is a denial naming the rule), and becomes a [`report::Finding`] whose [`report::SiteVerdict`]
//!    carries the core's typed [`Mode`](image_policy_core::policy::Mode) and
//!    [`DecisionCode`](image_policy_core::policy::DecisionCode); [`render`]
//!    prints the [`report::Report`] as text, JSON, SARIF or GitHub
//!    annotations.
//! 4. Fixing ([`fix`], the CLI's `--fix` and `--diff`): the images a rewrite
//!    rule changes are written into the texts, only their bytes changing
//!    (a pure plan of edits from the text and its sites, checked by reading
//!    the fixed text again); the caller writes the files or prints the
//!    diffs.
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
//! [`Report::exit_code`]: 0 when every image is allowed and every input was
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
//! are cores; a YAML
//! document is deserialized only into the fields that can carry images
//! (everything else is skipped without being stored). A file is parsed once,
//! or, when the fast path stops at something outside its subset, a second
//! time by serde-saphyr.
//! Most manifests are read by the fast path (the private `fast_yaml`
//! module), a lean span-keeping deserializer over granit-parser's events
//! (the parser under serde-saphyr, with the same options): about 290 instructions per byte, of which the
//! parser itself takes about 230. Files outside its subset (anchors,
//! aliases, tags, merge keys, duplicate keys, anything unusual) are read by
//! serde-saphyr, as before, at about 550. On the bench corpus, `lint` reads
//! 79 MB/s on two cores. See `benches/benches/lint.rs`, which measures both
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

mod compose;
mod dockerfile;
mod fast_yaml;
pub mod fix;
mod judge;
mod kubectl;
mod kustomization;
mod lines;
mod manifests;
pub mod render;
pub mod report;
mod vars;
pub mod walk;
mod yaml;

use image_policy_core::policy::Policy;
use report::{Extracted, FileReport, Finding, ImageSite, Report, SiteVerdict};
pub use walk::{Source, SourceKind};

/// The README's example, run by `cargo test --doc`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExample;

/// The readers' internals, for the fuzz targets, the benches and the
/// differential tests (`--features fuzzing`). Not an API: it changes with
/// the readers.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::{check_fix, check_readers};

    /// The manifest reader's two paths (see the crate's `# Performance`).
    pub mod manifests {
        pub use crate::fast_yaml::NotInSubset;
        pub use crate::manifests::{
            extract, extract_fast, extract_serde_saphyr, extract_without_fast_path,
        };
    }

    /// kubectl's document splitter and the checks of what go-yaml v2 reads
    /// differently.
    pub mod kubectl {
        pub use crate::kubectl::{
            BadSeparator, Chunk, Difference, differences, documents, json_stream_difference,
        };
    }
}

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

/// Reads one source into image sites, objects, suppressions and problems,
/// without judging them (what [`lint`] does before the policy).
pub fn extract(source: &Source, options: &Options) -> Extracted {
    let text = match &source.text {
        Ok(text) => text,
        Err(problem) => {
            return Extracted {
                problems: vec![problem.clone()],
                ..Extracted::default()
            };
        }
    };
    match source.kind {
        SourceKind::Manifests | SourceKind::Compose => yaml_by_content(text, source.kind, options),
        SourceKind::Dockerfile => dockerfile::extract(text, &options.vars),
        SourceKind::Kustomization => kustomization_by_content(text),
    }
}

/// A file named like a kustomization: its `images:` overrides, and, since
/// `kubectl apply -R` reads it as a manifest, the images of any pod-bearing
/// object in it.
fn kustomization_by_content(text: &str) -> Extracted {
    let mut out = kustomization::extract(text);
    if !out.problems.is_empty() {
        return out;
    }
    let manifest = manifests::extract(text);
    if !manifest.sites.is_empty() || !manifest.problems.is_empty() {
        out.objects = out.objects.max(manifest.objects);
        out.sites.extend(manifest.sites);
        out.sites.sort_by_key(|s| s.position);
        out.suppressed.extend(manifest.suppressed);
        out.problems.extend(manifest.problems);
    }
    out
}

/// Whether a YAML/JSON text has a top-level `services` key, as a compose
/// file has: a `services:` line at column 0, or `"services"` in a JSON text.
fn has_top_level_services(text: &str) -> bool {
    text.starts_with("services:")
        || text.contains("\nservices:")
        || (text.trim_start().starts_with('{') && text.contains("\"services\""))
}

/// A YAML or JSON file read by what it holds, not by its name: a document
/// with `apiVersion` and `kind` is a Kubernetes manifest, a top-level
/// `services:` makes it a compose file. A file that holds both is read both
/// ways (every image of either reading is judged), and when a top-level
/// `services:` beside manifests does not read as compose, its error is
/// reported; a file that holds neither is read as its name says (`hint`).
fn yaml_by_content(text: &str, hint: SourceKind, options: &Options) -> Extracted {
    let services = has_top_level_services(text);
    if !services && hint == SourceKind::Manifests {
        return manifests::extract(text);
    }
    let manifest = manifests::extract(text);
    let compose = compose::extract(text, &options.vars);
    let is_manifest = manifest.skipped.is_none() && manifest.objects > 0;
    let is_compose = services && compose.objects > 0;
    match (is_manifest, is_compose) {
        (true, true) => {
            let mut both = manifest;
            both.objects += compose.objects;
            both.sites.extend(compose.sites);
            both.sites.sort_by_key(|s| s.position);
            both.suppressed.extend(compose.suppressed);
            both.problems.extend(compose.problems);
            both
        }
        (true, false) => {
            let mut manifest = manifest;
            if services {
                // A top-level `services:` that does not read as compose
                // (with manifests in the same file): say so rather than
                // guess.
                manifest.problems.extend(compose.problems);
            }
            manifest
        }
        (false, true) => compose,
        // Neither reading found anything: as the name says (a Helm
        // values file with a `services:` list stays a skipped non-manifest).
        (false, false) if hint == SourceKind::Compose => compose,
        (false, false) => manifest,
    }
}

/// The invariants every reader keeps on any text, for the `lint_readers`
/// fuzz target and the property test: reading a text as each kind (YAML by
/// content, Dockerfile, kustomization) returns, never panics, and every site
/// and problem it reports points inside the text (a line that exists, a
/// column within that line or just after its end). Lines end at `\n` only,
/// for every reader: the linter's own lines, which every report and fix
/// uses (a YAML parser also ends a line at a lone `\r`; the readers place
/// its locations in the linter's lines). `Err` says which broke.
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub fn check_readers(text: &str) -> Result<(), String> {
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    for kind in [
        SourceKind::Manifests,
        SourceKind::Compose,
        SourceKind::Dockerfile,
        SourceKind::Kustomization,
    ] {
        let source = Source {
            name: "fuzz".to_owned(),
            kind,
            text: Ok(text.to_owned()),
        };
        let inside = |p: report::Position| {
            p.line >= 1
                && lines
                    .get(p.line - 1)
                    .is_some_and(|l| p.column >= 1 && p.column <= l.chars().count() + 1)
        };
        let got = extract(&source, &Options::default());
        if let Some(site) = got.sites.iter().find(|s| !inside(s.position)) {
            return Err(format!("{kind:?}: site outside the text: {site:?}"));
        }
        if let Some(problem) = got
            .problems
            .iter()
            .find(|p| p.position.is_some_and(|at| !inside(at)))
        {
            return Err(format!("{kind:?}: problem outside the text: {problem:?}"));
        }
    }
    Ok(())
}

/// The invariants of [`fix::plan`] on any text, for the `lint_readers` fuzz
/// target and the property test: read as each kind, with rewrite rules
/// that match most images, the plan's edits lie inside the text, on
/// character boundaries, inside one line, sorted and never overlapping; when
/// the text reads without an input error (what [`fix::fix`] requires before
/// touching a file), the fixed text reads as the same sites with the
/// expected images ([`fix::verify`]), and a second plan of it is empty.
/// And the local proof is the full one's: [`fix::check_edits`] accepts the
/// fixed text, and [`fix::fix`] (which checks each edit locally and derives
/// the fixed file's report instead of reading it again) gives exactly the
/// report that reading the fixed text gives, and the same text.
/// `Err` says which broke.
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub fn check_fix(text: &str) -> Result<(), String> {
    static POLICY: std::sync::OnceLock<Policy> = std::sync::OnceLock::new();
    let policy = POLICY.get_or_init(|| {
        Policy::builder()
            .rewrite("docker.io", "mirror.example/hub")
            .rewrite("quay.io/app", "mirror.example/quay")
            .rewrite("registry.my.com", "mirror.example/mine")
            .build()
            .expect("the fuzzing rules load")
            .policy
    });
    let options = Options::default();
    for kind in [
        SourceKind::Manifests,
        SourceKind::Compose,
        SourceKind::Dockerfile,
        SourceKind::Kustomization,
    ] {
        let source = Source {
            name: "fuzz".to_owned(),
            kind,
            text: Ok(text.to_owned()),
        };
        let before = lint([source.clone()], &options, policy);
        let file = &before.files[0];
        let sites: Vec<ImageSite> = file.findings.iter().map(|f| f.site.clone()).collect();
        let plan = fix::plan(text, kind, &sites, policy, &options);
        let mut end = 0;
        for edit in &plan.edits {
            let r = &edit.range;
            if r.start < end || r.end < r.start || r.end > text.len() {
                return Err(format!(
                    "{kind:?}: edit {r:?} out of order or outside the text"
                ));
            }
            if !text.is_char_boundary(r.start) || !text.is_char_boundary(r.end) {
                return Err(format!("{kind:?}: edit {r:?} not on character boundaries"));
            }
            if text[r.clone()].contains(['\n', '\r']) {
                return Err(format!("{kind:?}: edit {r:?} spans lines"));
            }
            end = r.end;
        }
        if plan.is_empty() || file.problems.iter().any(|p| p.code.is_input_error()) {
            continue;
        }
        let fixed = plan.apply(text);
        let after = lint(
            [Source {
                text: Ok(fixed.clone()),
                ..source.clone()
            }],
            &options,
            policy,
        );
        fix::verify(file, &plan, &after.files[0])
            .map_err(|e| format!("{kind:?}: fixed text {fixed:?}: {e}"))?;
        fix::check_edits(&fixed, kind, &plan.edits).map_err(|e| {
            format!(
                "{kind:?}: fixed text {fixed:?} reads as planned, but the local check says: {e}"
            )
        })?;
        let whole = fix::fix(vec![source.clone()], &options, policy);
        let change = whole.files[0].change.as_ref();
        if change.map(|c| (c.after.as_str(), &c.edits)) != Some((fixed.as_str(), &plan.edits)) {
            return Err(format!(
                "{kind:?}: fix::fix of {text:?} gives {:?}, not {fixed:?}",
                whole.files[0]
            ));
        }
        if whole.report.files[0] != after.files[0] {
            return Err(format!(
                "{kind:?}: the derived report of {fixed:?} is {:?}, reading it gives {:?}",
                whole.report.files[0], after.files[0]
            ));
        }
        let sites: Vec<ImageSite> = after.files[0]
            .findings
            .iter()
            .map(|f| f.site.clone())
            .collect();
        let again = fix::plan(&fixed, kind, &sites, policy, &options);
        if !again.is_empty() {
            return Err(format!(
                "{kind:?}: a second plan of {fixed:?} edits {:?}",
                again.edits
            ));
        }
    }
    Ok(())
}

/// Reads every source and judges every image in it with `policy` (the
/// same [`Policy::evaluate_rewritten`] the webhook calls, after the same
/// [`Policy::rewrite`], with the object's namespace
/// and annotations as context).
///
/// Files are read and their images judged on as many threads as the
/// machine has cores (each file is independent); the report is in the order
/// of `sources` whatever the threads' timing. Nothing is printed: see
/// [`render`].
pub fn lint(
    sources: impl IntoIterator<Item = Source>,
    options: &Options,
    policy: &Policy,
) -> Report {
    lint_files(sources, |s| fix::lint_file(s, options, policy))
}

/// [`lint`] with any judge (called on the threads that read the files).
#[cfg(test)]
fn lint_with(
    sources: impl IntoIterator<Item = Source>,
    options: &Options,
    judge: impl Fn(&ImageSite) -> SiteVerdict + Sync,
) -> Report {
    lint_files(sources, |s| judged(extract(s, options), &judge))
}

/// The report of `sources`, each file's by `read` (on the reading threads),
/// with its name and text moved in.
fn lint_files(
    sources: impl IntoIterator<Item = Source>,
    read: impl Fn(&Source) -> FileReport + Sync,
) -> Report {
    let sources: Vec<Source> = sources.into_iter().collect();
    let read = map_files(&sources, read);
    let mut report = Report::default();
    for (source, mut file) in sources.into_iter().zip(read) {
        file.name = source.name;
        file.text = source.text.unwrap_or_default();
        report.files.push(file);
    }
    report
}

/// The report of a file read as `extracted`, each site judged by `judge`;
/// its name and text are left empty, for the caller to move in.
fn judged(extracted: Extracted, judge: impl Fn(&ImageSite) -> SiteVerdict) -> FileReport {
    let findings = extracted
        .sites
        .into_iter()
        .map(|site| Finding {
            verdict: judge(&site),
            site,
        })
        .collect();
    FileReport {
        name: String::new(),
        text: String::new(),
        objects: extracted.objects,
        findings,
        suppressed: extracted.suppressed,
        problems: extracted.problems,
        skipped: extracted.skipped,
    }
}

/// `work` on every source, in order, spread over the available cores (each
/// file is independent; the results are in the order of `sources` whatever
/// the threads' timing).
fn map_files<T: Send>(sources: &[Source], work: impl Fn(&Source) -> T + Sync) -> Vec<T> {
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(sources.len());
    if threads <= 1 {
        return sources.iter().map(work).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut done: Vec<(usize, T)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(source) = sources.get(i) else {
                            break mine;
                        };
                        mine.push((i, work(source)));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| match w.join() {
                Ok(done) => done,
                // extract does not panic (see the property test); if it
                // ever did, the panic is the bug to see, not to hide.
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    });
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, e)| e).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Pieces of real inputs, so that random strings reach deep into each
    /// reader rather than failing on the first byte.
    const PIECES: &[&str] = &[
        "apiVersion: apps/v1\n",
        "kind: Deployment\n",
        "kind: List\nitems:\n",
        "- ",
        "---\n",
        "metadata: {name: a, annotations: {image-policy.dev/ignore: x}}\n",
        "spec:\n",
        "  template:\n",
        "    spec:\n",
        "      containers:\n",
        "      - name: c\n",
        "        image: nginx\n",
        "        image: \"quay.io/app/x:1\"\n",
        "image: 'registry.my.com/a@sha256:0000000000000000000000000000000000000000000000000000000000000000'\n",
        "ARG BASE=redis:7\n",
        "FROM $BASE\n",
        "FROM ${BASE}-x\n",
        "\r\n",
        "image: &a \"x\"\n",
        "*a",
        "{",
        "}",
        "[",
        "]",
        ": ",
        "\"",
        "'",
        "#",
        "\n",
        "  ",
        "\t",
        "FROM ",
        "ARG X=1\n",
        "${X}",
        "$",
        "\\\n",
        " AS b\n",
        "COPY --from=",
        "services:\n",
        "  web:\n",
        "    image: ${T:-1}\n",
        "images:\n- name: nginx\n  newTag: ",
        "  newName: ",
        "  digest: ",
        "# syntax=",
        "RUN --mount=from=",
        "ONBUILD ",
        "é",
        "\u{feff}",
    ];

    fn text() -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(PIECES), 0..40).prop_map(|v| v.concat())
    }

    /// Images the fuzzing rules of [`check_fix`] rewrite, or not.
    const IMAGES: &[&str] = &[
        "nginx",
        "nginx:1.27",
        "quay.io/app/x:1",
        "quay.io/other/y",
        "registry.my.com/a/b@sha256:0000000000000000000000000000000000000000000000000000000000000000",
        "docker.io/library/redis:7",
        "grafana/grafana:10",
        "localhost:5000/x",
    ];

    /// A written form of an image as a YAML scalar: plain, single- or
    /// double-quoted.
    fn scalar(image: &str, quote: usize) -> String {
        match quote {
            0 => image.to_owned(),
            1 => format!("'{image}'"),
            _ => format!("\"{image}\""),
        }
    }

    /// Manifests, compose files and Dockerfiles written in the styles a fix
    /// must keep: quoting, flow and block style, comments, CRLF, several
    /// documents, `ARG` defaults.
    fn fixable_text() -> impl Strategy<Value = (String, SourceKind)> {
        let entry = (
            prop::sample::select(IMAGES),
            0..3usize,
            any::<bool>(),
            any::<bool>(),
        );
        (
            prop::collection::vec(entry, 1..5),
            0..3usize,
            any::<bool>(),
        )
            .prop_map(|(entries, kind, crlf)| {
                let mut text = String::new();
                let kind = match kind {
                    0 => {
                        for (i, (image, quote, flow, comment)) in entries.iter().enumerate() {
                            let image = scalar(image, *quote);
                            let comment = if *comment { "  # pinned" } else { "" };
                            text.push_str(&format!(
                                "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: p{i}}}\nspec:\n  containers:\n"
                            ));
                            if *flow {
                                text.push_str(&format!("  - {{name: c, image: {image}}}{comment}\n"));
                            } else {
                                text.push_str(&format!("  - name: c\n    image: {image}{comment}\n"));
                            }
                        }
                        SourceKind::Manifests
                    }
                    1 => {
                        text.push_str("services:\n");
                        for (i, (image, quote, _, comment)) in entries.iter().enumerate() {
                            let comment = if *comment { " # db" } else { "" };
                            text.push_str(&format!("  s{i}:\n    image: {}{comment}\n", scalar(image, *quote)));
                        }
                        SourceKind::Compose
                    }
                    _ => {
                        for (i, (image, quote, via_arg, _)) in entries.iter().enumerate() {
                            if *via_arg {
                                let value = if *quote == 2 { format!("\"{image}\"") } else { (*image).to_owned() };
                                text.push_str(&format!("ARG B{i}={value}\nFROM ${{B{i}}} AS s{i}\n"));
                            } else {
                                text.push_str(&format!("FROM {image} AS s{i}\nCOPY --from={image} /a /b\n"));
                            }
                        }
                        SourceKind::Dockerfile
                    }
                };
                if crlf && kind != SourceKind::Dockerfile {
                    text = text.replace('\n', "\r\n");
                }
                (text, kind)
            })
    }

    proptest! {
        /// Every image of such a text that a rule rewrites is fixed, and the
        /// fix keeps the invariants of [`check_fix`].
        #[test]
        fn styles_are_fixed_and_kept((text, kind) in fixable_text()) {
            prop_assert_eq!(check_fix(&text), Ok(()));
            let policy = Policy::builder().rewrite("docker.io", "mirror.example/hub").build().expect("loads").policy;
            let source = Source { name: "x".to_owned(), kind, text: Ok(text.clone()) };
            let sites = extract(&source, &Options::default()).sites;
            prop_assert!(!sites.is_empty());
            let plan = fix::plan(&text, kind, &sites, &policy, &Options::default());
            prop_assert!(plan.unfixable.is_empty(), "{:?}", plan.unfixable);
            let rewritten = sites.iter().filter(|s| policy.rewrite_str(&s.image).ok().flatten().is_some()).count();
            prop_assert_eq!(plan.expected.iter().zip(&sites).filter(|(e, s)| **e != s.image).count(), rewritten);
        }
    }

    proptest! {
        /// No input makes a reader panic, and every site points inside the text.
        #[test]
        fn readers_never_panic(text in text()) {
            prop_assert_eq!(check_readers(&text), Ok(()));
            prop_assert_eq!(check_fix(&text), Ok(()));
            for kind in [SourceKind::Manifests, SourceKind::Dockerfile, SourceKind::Compose, SourceKind::Kustomization] {
                let source = Source { name: "x".to_owned(), kind, text: Ok(text.clone()) };
                let got = extract(&source, &Options::default());
                let lines = text.lines().count().max(1);
                for site in &got.sites {
                    prop_assert!(site.position.line >= 1 && site.position.line <= lines, "{site:?}");
                }
                let report = lint_with([source], &Options::default(), |_| report::SiteVerdict {
                    violates: true,
                    allowed: false,
                    mode: image_policy_core::policy::Mode::Enforce,
                    code: image_policy_core::policy::DecisionCode::DeniedByRule,
                    reason: "x".to_owned(),
                    canonical: None,
                    rule: None,
                    rewritten: Some("r.io/x".to_owned()),
                    rewrite_rule: None,
                    as_written: false,
                    unfixable: Some("x".to_owned()),
                });
                for format in [render::Format::Text, render::Format::Json, render::Format::Sarif, render::Format::Github] {
                    let style = render::Style { color: true, show_allowed: true };
                    render::render(&report, format, style, &mut Vec::new()).expect("writes to a Vec");
                }
            }
        }
    }
}
