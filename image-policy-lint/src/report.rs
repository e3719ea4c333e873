//! What a lint run found: per-file image sites, findings, problems and the
//! summary. Plain data, shared by every output format.

use image_policy_core::policy::{DecisionCode, ExemptKind, Mode, OwnedDecision, RuleIdentity};
use std::fmt;

/// A position in a source file: 1-based line and 1-based column, counted in
/// characters (what editors and GitHub show).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// The thing that holds an image: a Kubernetes object, a Dockerfile stage or a
/// compose service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    /// `Deployment`, `CronJob`, ... ; `stage` for a Dockerfile stage; `service`
    /// for a compose service.
    pub kind: String,
    /// The Kubernetes namespace, when the object names one.
    pub namespace: Option<String>,
    /// The object's, stage's or service's name (a stage without `AS` is named
    /// by its index, `#0`).
    pub name: Option<String>,
}

impl fmt::Display for Holder {
    /// `Deployment default/web`, `Deployment web`, `stage build`, `service db`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.kind)?;
        match (&self.namespace, &self.name) {
            (Some(ns), Some(name)) => write!(f, " {ns}/{name}"),
            (None, Some(name)) => write!(f, " {name}"),
            (Some(ns), None) => write!(f, " {ns}/(unnamed)"),
            (None, None) => f.write_str(" (unnamed)"),
        }
    }
}

/// One image found in a file, before any policy judged it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageSite {
    /// Where the image value starts (for YAML, the scalar; for a Dockerfile,
    /// the token after `FROM` or `--from=`).
    pub position: Position,
    /// The image as the runtime will see it (variables substituted).
    pub image: String,
    /// The text as written when it differs from `image` (a Dockerfile
    /// `${BASE}`, a compose `${TAG:-1.0}`), so the report can show both.
    pub written: Option<String>,
    /// Width of the value in the source line, in characters (for the caret).
    pub width: usize,
    /// The object, stage or service holding it.
    pub holder: Holder,
    /// The container name, for Kubernetes objects (the volume's name, for an
    /// image volume: see [`ImageSite::entry_label`]).
    pub container: Option<String>,
    /// Where the value sits in the object (`spec.template.spec.containers[0].image`),
    /// for Kubernetes objects.
    pub path: Option<String>,
    /// The object's annotations and its pod template's (the policy reads
    /// break-glass from them).
    pub annotations: Vec<(String, String)>,
    /// The Kubernetes namespace the object will be created in, for the policy's context.
    pub namespace: Option<String>,
}

impl ImageSite {
    /// What holds the image inside its object, for people: `container web`,
    /// or `volume assets` for an image volume (whose path, as the core writes
    /// it, ends in `.image.reference`). `None` outside Kubernetes objects.
    pub fn entry_label(&self) -> Option<String> {
        let name = self.container.as_deref()?;
        let volume = self
            .path
            .as_deref()
            .is_some_and(|p| p.ends_with(".image.reference"));
        Some(format!(
            "{} {name}",
            if volume { "volume" } else { "container" }
        ))
    }
}

/// A problem with the input itself (not a policy violation): a file that could
/// not be read or parsed, an object the core cannot inspect, a variable that
/// cannot be resolved. Never silent: every one is printed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Where, when known.
    pub position: Option<Position>,
    /// Machine-readable code: see [`ProblemCode`].
    pub code: ProblemCode,
    /// One line saying what is wrong and, where it helps, what to do.
    pub message: String,
}

/// Kinds of [`Problem`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum ProblemCode {
    /// The file could not be read (permissions, not UTF-8, a directory loop).
    ReadError,
    /// The file is not valid YAML/JSON, or a document does not have the shape
    /// of its kind.
    ParseError,
    /// The core could not find the images of a pod-bearing object.
    InvalidObject,
    /// A `${VAR}` in an image that has no value: pass `--var NAME=VALUE`.
    UnresolvedVariable,
    /// A mapping key written twice in a manifest: kubectl sends the last
    /// value (which is what is judged), the API server's strict field
    /// validation rejects it.
    DuplicateKey,
    /// A construct kubectl's YAML (go-yaml v2, YAML 1.1) could read
    /// differently from the linter's (a YAML 1.1 line break, a merge key out
    /// of first place): the images cannot be vouched for.
    KubectlDifference,
}

impl ProblemCode {
    /// The code as printed and in JSON/SARIF (`read-error`, `parse-error`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemCode::ReadError => "read-error",
            ProblemCode::ParseError => "parse-error",
            ProblemCode::InvalidObject => "invalid-object",
            ProblemCode::UnresolvedVariable => "unresolved-variable",
            ProblemCode::DuplicateKey => "duplicate-key",
            ProblemCode::KubectlDifference => "kubectl-difference",
        }
    }

    /// Whether this problem makes the run fail with exit code 2 (input that
    /// could not be read) rather than count as a violation (exit code 1).
    pub fn is_input_error(self) -> bool {
        matches!(
            self,
            ProblemCode::ReadError | ProblemCode::ParseError | ProblemCode::KubectlDifference
        )
    }

    /// Every code, for the SARIF rule table.
    pub const ALL: [ProblemCode; 6] = [
        ProblemCode::ReadError,
        ProblemCode::ParseError,
        ProblemCode::InvalidObject,
        ProblemCode::UnresolvedVariable,
        ProblemCode::DuplicateKey,
        ProblemCode::KubectlDifference,
    ];

    /// A one-sentence description, for the SARIF rule table.
    pub fn description(self) -> &'static str {
        match self {
            ProblemCode::ReadError => "The file could not be read.",
            ProblemCode::ParseError => {
                "The file is not valid YAML or JSON, or a document does not have the shape of its kind."
            }
            ProblemCode::InvalidObject => {
                "A pod-bearing Kubernetes object whose images cannot be found (missing pod spec or containers)."
            }
            ProblemCode::UnresolvedVariable => {
                "An image reference uses a variable that has no value; pass --var NAME=VALUE."
            }
            ProblemCode::DuplicateKey => {
                "A mapping key is written twice: kubectl sends the last value (judged), the API server's strict field validation rejects the object."
            }
            ProblemCode::KubectlDifference => {
                "kubectl's YAML (go-yaml v2, YAML 1.1) can read this construct differently from the linter: a YAML 1.1 line break (NEL, U+2028, U+2029) or a merge key that is not the first key of its mapping."
            }
        }
    }
}

/// An object skipped on purpose by its `image-policy.dev/ignore` annotation
/// (or a compose service's label of that name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Suppression {
    /// Where the annotation's value is.
    pub position: Position,
    /// The object skipped.
    pub holder: Holder,
    /// The reason written in the annotation.
    pub reason: String,
    /// How many images the object holds (not judged).
    pub images: usize,
}

/// The annotation (or compose label) that skips an object.
pub const IGNORE_ANNOTATION: &str = "image-policy.dev/ignore";

/// Why a file was skipped without being an error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skip {
    /// One line, e.g. `no document has apiVersion and kind (not a Kubernetes manifest)`.
    pub reason: String,
}

/// What reading one file produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Extracted {
    /// Objects (Kubernetes objects, Dockerfile stages, compose services) seen.
    pub objects: usize,
    /// Images to judge.
    pub sites: Vec<ImageSite>,
    /// Objects skipped by annotation.
    pub suppressed: Vec<Suppression>,
    /// Problems with the input.
    pub problems: Vec<Problem>,
    /// Set when the file is not something the linter reads (a Helm values
    /// file, a workflow).
    pub skipped: Option<Skip>,
}

/// The policy's answer for one image site, owned so the report outlives the
/// policy: derived from the core's [`OwnedDecision`]
/// ([`SiteVerdict::from_decision`]), plus what the site adds (judged as
/// written, why `--fix` cannot fix it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiteVerdict {
    /// The image broke a rule (also in warn/audit mode, or when break-glass
    /// admitted it).
    pub violates: bool,
    /// What the API server would be told: `false` only for a violation in
    /// `enforce` mode that no break-glass annotation admitted.
    pub allowed: bool,
    /// The policy mode (printed as `enforce`, `warn` or `audit`).
    pub mode: Mode,
    /// The decision code (printed as `allowed`, `registry-not-allowed`, ...).
    pub code: DecisionCode,
    /// The one-line reason.
    pub reason: String,
    /// The canonical reference, when the image parsed.
    pub canonical: Option<String>,
    /// The rule that decided, when one did.
    pub rule: Option<RuleRef>,
    /// The reference a rewrite rule made of the image, when one applied: the
    /// image judged (what runs once the webhook or `lint --fix` rewrites it),
    /// unless [`SiteVerdict::as_written`].
    pub rewritten: Option<String>,
    /// The rewrite rule that applied, with [`SiteVerdict::rewritten`].
    pub rewrite_rule: Option<RuleRef>,
    /// The image was judged as written, not as rewritten: it is pulled by
    /// `docker build` (a Dockerfile) or `docker compose` (a compose file),
    /// which no `/mutate` reaches. [`SiteVerdict::rewritten`] is then what a
    /// rewrite rule makes of it, and what `lint --fix` writes into the file,
    /// not what was judged.
    pub as_written: bool,
    /// Why `lint --fix` cannot write [`SiteVerdict::rewritten`] into the file
    /// (the plan's reason, or why the whole file is not touched), when it
    /// cannot. `None` when there is nothing to write or it can be written.
    pub unfixable: Option<String>,
    /// The exemptions (`exempt:` rules) the decision used, in order.
    pub exemptions: Vec<ExemptionRef>,
}

/// An exemption a decision used: the exemption, its reason, and the rule it
/// lifted for this image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExemptionRef {
    /// The kind lifted (printed as `tags`, `digest`, `deny`, `pin`, `verify`).
    pub kind: ExemptKind,
    /// The code the image would have been given without the exemption.
    pub code: DecisionCode,
    /// Why, as the policy says.
    pub reason: String,
    /// The exemption (`exempt[0]`).
    pub exemption: RuleRef,
    /// The rule it lifted (`tags.deny[0]`).
    pub exempted: RuleRef,
    /// `exempt from tags (tags.deny[0]) by exempt[0]: REASON`.
    pub text: String,
}

/// The rule behind a decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleRef {
    /// Index of the rule in its list.
    pub index: usize,
    /// Where it is in the policy, as a path: `allow[2]`, `tags.requireDigest`.
    pub path: String,
    /// What it says: `allow registry.my.com`, `deny-tag latest`.
    pub description: String,
    /// Where the rule is written (`policy.yaml:12:5`, `<flags>:1:1`), when known.
    pub location: Option<String>,
}

/// How serious a finding or problem is, as every format shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Allowed: nothing to report.
    None,
    /// A violation the policy only warns or audits about.
    Warning,
    /// A violation the policy enforces, or a problem with the input.
    Error,
}

impl Level {
    /// `none`, `warning`, `error` (also the SARIF level names).
    pub fn as_str(self) -> &'static str {
        match self {
            Level::None => "none",
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }
}

impl SiteVerdict {
    /// The verdict of a decision: its code, mode, reason, canonical
    /// reference, rule and rewrite, as the decision has them.
    pub fn from_decision(d: &OwnedDecision) -> Self {
        SiteVerdict {
            violates: d.violates(),
            allowed: d.allowed(),
            mode: d.mode(),
            code: d.code(),
            reason: d.to_string(),
            canonical: d.reference().map(ToString::to_string),
            rule: d.rule().map(RuleRef::from),
            rewritten: d.rewritten().map(|r| r.as_str().to_owned()),
            rewrite_rule: d.rewrite_rule().map(RuleRef::from),
            as_written: false,
            unfixable: None,
            exemptions: d
                .exemptions()
                .iter()
                .map(|u| ExemptionRef {
                    kind: u.kind,
                    code: u.code,
                    reason: u.reason.clone(),
                    exemption: RuleRef::from(&u.exemption),
                    exempted: RuleRef::from(&u.exempted),
                    text: u.to_string(),
                })
                .collect(),
        }
    }
}

impl From<&RuleIdentity> for RuleRef {
    fn from(r: &RuleIdentity) -> Self {
        RuleRef {
            index: r.index,
            path: r.path.clone(),
            description: if r.pattern.is_empty() {
                r.kind.to_string()
            } else {
                format!("{} {}", r.kind, r.pattern)
            },
            location: Some(r.source()),
        }
    }
}

impl SiteVerdict {
    /// [`Level::Error`] for a violation the cluster would deny,
    /// [`Level::Warning`] for one it would admit (warn/audit mode,
    /// break-glass), [`Level::None`] when no rule was broken.
    pub fn level(&self) -> Level {
        match (self.violates, self.allowed) {
            (false, _) => Level::None,
            (true, false) => Level::Error,
            (true, true) => Level::Warning,
        }
    }
}

/// One judged image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Where and what.
    pub site: ImageSite,
    /// The decision.
    pub verdict: SiteVerdict,
}

/// Everything about one input file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileReport {
    /// The path as given or found (`-` is shown as `<stdin>`).
    pub name: String,
    /// The file's text, for snippets (empty when it could not be read).
    pub text: String,
    /// Objects seen.
    pub objects: usize,
    /// Every image judged, in file order.
    pub findings: Vec<Finding>,
    /// Objects skipped by annotation.
    pub suppressed: Vec<Suppression>,
    /// Problems with the input.
    pub problems: Vec<Problem>,
    /// Set when the file was skipped (not a manifest).
    pub skipped: Option<Skip>,
}

/// The counts printed in the summary line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Files read (skipped ones included).
    pub files: usize,
    /// Objects seen (Kubernetes objects, Dockerfile stages, compose services).
    pub objects: usize,
    /// Images judged.
    pub images: usize,
    /// Images that broke a rule.
    pub violations: usize,
    /// Violations of an enforcing policy (the rest are warnings).
    pub errors: usize,
    /// Files skipped as not being manifests.
    pub skipped: usize,
    /// Objects skipped by annotation.
    pub suppressed: usize,
    /// Problems found (unreadable files, parse errors, unresolved variables...).
    pub problems: usize,
    /// Problems that are input errors (exit code 2).
    pub input_errors: usize,
}

impl fmt::Display for Summary {
    /// `3 files, 5 objects, 7 images: 2 violations, 1 skipped, 1 suppressed, 0 problems`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = |n: usize, one: &'static str, many: &'static str| {
            if n == 1 { one } else { many }
        };
        write!(
            f,
            "{} {}, {} {}, {} {}: {} {}, {} skipped, {} suppressed, {} {}",
            self.files,
            plural(self.files, "file", "files"),
            self.objects,
            plural(self.objects, "object", "objects"),
            self.images,
            plural(self.images, "image", "images"),
            self.violations,
            plural(self.violations, "violation", "violations"),
            self.skipped,
            self.suppressed,
            self.problems,
            plural(self.problems, "problem", "problems"),
        )
    }
}

/// The whole run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// One entry per file, in the order read (sorted walk).
    pub files: Vec<FileReport>,
}

impl Report {
    /// The exit code of a run that produced this report: 2 for unreadable
    /// input, else 1 for an enforced violation or an image that could not
    /// be judged (unless `warn_only`), else 0. A violation of a policy in
    /// `warn` or `audit` mode is reported as a warning and does not fail the
    /// run, as it would not fail a deployment.
    pub fn exit_code(&self, warn_only: bool) -> u8 {
        let s = self.summary();
        if s.input_errors > 0 {
            2
        } else if !warn_only && (s.errors > 0 || s.problems > 0) {
            1
        } else {
            0
        }
    }

    /// Adds up the counts.
    pub fn summary(&self) -> Summary {
        let mut s = Summary {
            files: self.files.len(),
            ..Summary::default()
        };
        for f in &self.files {
            s.objects += f.objects;
            s.images += f.findings.len();
            s.violations += f.findings.iter().filter(|x| x.verdict.violates).count();
            s.errors += f
                .findings
                .iter()
                .filter(|x| x.verdict.level() == Level::Error)
                .count();
            s.skipped += usize::from(f.skipped.is_some());
            s.suppressed += f.suppressed.len();
            s.problems += f.problems.len();
            s.input_errors += f
                .problems
                .iter()
                .filter(|p| p.code.is_input_error())
                .count();
        }
        s
    }
}
