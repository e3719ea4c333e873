//! `image-policy lint`: check the images of manifests, Dockerfiles and compose
//! files against a policy before they reach the cluster. The work is done by
//! the `image-policy-lint` library; this module reads the flags and prints.

use crate::error::CliError;
use crate::policy_args::{PolicyArgs, PolicyLoadError};
use image_policy_lint::render::escape::{message, name as shown};
use image_policy_lint::{fix, render, walk};
use std::fs;
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod pin;
mod write;

/// Check every image in manifests, Dockerfiles, compose files and kustomizations against the policy.
///
/// Reads Kubernetes YAML/JSON (every document, `List`s, every kind that runs
/// containers), Dockerfiles (every image BuildKit pulls: `# syntax=`, `FROM`,
/// `COPY`/`ADD --from`, `RUN --mount=...,from=`, `ONBUILD`), compose files
/// (`services.*.image`) and kustomizations (the images `images:` overrides
/// write). YAML is read by content: `apiVersion` and `kind` make a manifest,
/// a top-level `services:` a compose file, whatever the name. Directories are
/// walked as `kubectl apply -R` walks them, in sorted order; what is not read
/// is counted on standard error (--verbose lists it). Files that are not
/// manifests (a Helm values.yaml, a workflow) are skipped and counted; a
/// file kubectl cannot read (a template: `replicas: {{replicas}}`) is an
/// error. A Helm chart (a directory with Chart.yaml) is not read as
/// manifests: its Chart.yaml is an error and its templates/ are listed as not
/// read; lint its output (helm template CHART | image-policy lint -). A path
/// with nothing to lint (an empty folder, a folder of docs) is an error
/// unless --allow-empty is given. An object annotated
/// `image-policy.dev/ignore: "reason"` is not judged, and is listed as
/// suppressed.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Files or directories to check; `-` reads manifests from standard input.
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,

    #[command(flatten)]
    policy: PolicyArgs,

    /// Output format.
    #[arg(long, value_enum, default_value_t = FormatArg::Text)]
    format: FormatArg,

    /// Write the report to FILE instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,

    /// Colour in text output: auto (on a terminal, unless NO_COLOR is set), always, never.
    #[arg(long, value_enum, default_value_t = ColorArg::Auto)]
    color: ColorArg,

    /// Report violations but exit 0 (read errors still exit 2).
    #[arg(long)]
    warn_only: bool,

    /// Also list the images that are allowed (text format; JSON always lists them).
    #[arg(long)]
    show_allowed: bool,

    /// List on standard error every file and directory the walk did not read
    /// (without it: a line per symbolic link not followed, a count of the rest).
    #[arg(long, short = 'v')]
    verbose: bool,

    /// Rewrite the images in the files with the policy's rewrite rules
    /// (rewrite: in the policy, --rewrite FROM=TO): only the bytes of each
    /// image change (quotes, comments, CRLF, other documents are kept), a
    /// Dockerfile `FROM $BASE` changes the default of `ARG BASE`; each file is
    /// written atomically with its owner, group, mode and byte-order mark, once
    /// however many names reach it (a symbolic link is fixed through when its
    /// target is inside the paths given; a file with hard links is not
    /// written), and a file that cannot be read completely is not touched.
    /// What cannot be fixed is listed on standard error and exits 2. The report
    /// and exit status are those of the fixed files. Not with `-` (standard
    /// input): use --diff.
    ///
    /// With pin: rules, each image in pin scope without a digest is pinned:
    /// `name:tag@sha256:...` (after rewriting; the digest the registry serves
    /// now, an index for a multi-platform image), a kustomization entry gets a
    /// `digest:` line. Each distinct image is resolved once, with the
    /// --registry-* flags, before anything is written; if any cannot be
    /// resolved, each is named with the registry's error, nothing is written
    /// and the run exits 2.
    #[arg(long)]
    fix: bool,

    /// Print what --fix would change as a unified diff (`patch -p1` and `git
    /// apply` apply it) instead of the report, and write nothing (with or
    /// without --fix). File names are quoted as git quotes unusual paths; a
    /// file whose name is not UTF-8 or holds a backslash is left out of the
    /// diff (exit status 2).
    /// The exit status is that of the fixed files; -o FILE still writes the
    /// report.
    #[arg(long)]
    diff: bool,

    /// Exit 0 when a path holds nothing to lint (no manifest, Dockerfile,
    /// compose file or kustomization: an empty folder, a folder of docs).
    /// Without it that is an error (exit 2) naming the path, so that a
    /// mistyped path does not pass.
    #[arg(long)]
    allow_empty: bool,

    /// A value for a Dockerfile ARG or a compose ${VAR}, as `docker build
    /// --build-arg` would pass it (repeatable).
    #[arg(long = "var", alias = "build-arg", value_name = "NAME=VALUE", value_parser = parse_var)]
    vars: Vec<(String, String)>,

    /// Where --fix and --diff resolve the images that pin: rules put in pin
    /// scope (nothing reaches a registry without pin rules, or without
    /// --fix and --diff).
    #[command(flatten)]
    registry: crate::cmd::resolve::RegistryArgs,

    /// Judge Dockerfiles and compose files as rewritten, like Kubernetes
    /// objects: only when the hosts that build and pull them apply this
    /// policy's rewrite rules through the registries.conf that `export --format
    /// registries-conf` writes (podman, buildah; Docker does not read it).
    /// Without it they are judged as written: no /mutate reaches docker build
    /// or docker compose pull.
    #[arg(long)]
    builds_use_registries_conf: bool,
}

/// `--help` examples.
pub const EXAMPLES: crate::help::Examples = &[
    "image-policy lint deploy/ examples/lint/ --policy examples/seed.yaml",
    "kubectl create deployment x --image=prometheus:2.6.1 --dry-run=client -o yaml | image-policy lint --allow-registry registry.my.com -",
    "helm template my-chart | image-policy lint --policy examples/seed.yaml -",
    "# for GitHub code scanning",
    "image-policy lint . --format sarif -o image-policy.sarif",
    "# annotations in GitHub Actions",
    "image-policy lint . --format github",
    "image-policy lint examples/lint/Dockerfile --var BASE=golang:1.22 --reject-latest",
    "# send Docker Hub images to your mirror, in the files",
    "image-policy lint deploy/ --rewrite docker.io=registry.my.com/dockerhub --diff",
    "image-policy lint deploy/ examples/lint/ --policy examples/rewrite.yaml --fix",
    "# images in pin scope (pin: rules) without a digest, then pinned through their registry",
    "image-policy lint deploy/ --policy examples/pin.yaml",
    "image-policy lint deploy/ --policy examples/pin.yaml --fix --registry-ca ca.pem --registry-auth config.json",
];

/// `--help` after the examples.
pub const EXIT_STATUS: &str = "Exit status: 0 every image allowed, 1 a violation (or an image that cannot be judged: an unresolved ${VAR}, a workload without containers), 2 a usage, policy or read error (a file that cannot be read or parsed, or that kubectl cannot read; a Helm chart; a path with nothing to lint, unless --allow-empty), or with --fix or --diff a fix not made (an image a rewrite rule changes or a pin rule pins that cannot be written into its file, each named on standard error, or a file that could not be written; an image in pin scope whose registry cannot resolve it: then nothing is written). --warn-only turns 1 into 0. With --fix or --diff, the images are judged as fixed. With rewrite rules, Kubernetes objects are judged as /mutate rewrites them, Dockerfiles and compose files as written (no /mutate reaches docker build or docker compose pull).";

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum FormatArg {
    /// rustc-style messages with the offending line
    Text,
    /// one JSON object (schema: docs/lint-json.md)
    Json,
    /// SARIF 2.1.0, for GitHub code scanning
    Sarif,
    /// GitHub Actions annotations (::error file=...)
    Github,
}

impl From<FormatArg> for render::Format {
    fn from(format: FormatArg) -> Self {
        match format {
            FormatArg::Text => render::Format::Text,
            FormatArg::Json => render::Format::Json,
            FormatArg::Sarif => render::Format::Sarif,
            FormatArg::Github => render::Format::Github,
        }
    }
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum ColorArg {
    Auto,
    Always,
    Never,
}

fn parse_var(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err(format!(
            "expected NAME=VALUE, as in --var BASE=golang:1.22 (got {s:?})"
        )),
    }
}

/// Says on standard error what the walk did not read: each entry with
/// `--verbose`; otherwise each symbolic link to a directory (which may hide
/// manifests) and a count of the rest.
fn print_not_read(not_read: &[(String, walk::NotRead)], verbose: bool) {
    let mut counted = 0;
    let mut templates = 0;
    for (name, why) in not_read {
        if verbose || *why == walk::NotRead::SymlinkToDirectory {
            eprintln!(
                "image-policy lint: not read: {}: {}",
                shown(name),
                why.as_str()
            );
        } else if *why == walk::NotRead::HelmTemplate {
            templates += 1;
        } else {
            counted += 1;
        }
    }
    if templates > 0 {
        eprintln!(
            "image-policy lint: not read: {templates} Helm chart template{} ({}); --verbose lists them",
            if templates == 1 { "" } else { "s" },
            walk::NotRead::HelmTemplate.as_str()
        );
    }
    if counted > 0 {
        let entries = if counted == 1 { "entry" } else { "entries" };
        eprintln!(
            "image-policy lint: not read: {counted} {entries} (files not named .yaml, .yml, .json, \
             Dockerfile, compose or kustomization, which kubectl does not read either, and \
             version-control directories); \
            --verbose lists them"
        );
    }
}

/// Runs the command.
pub fn run(args: Args) -> Result<ExitCode, CliError> {
    if args.paths.is_empty() {
        return Err(CliError::Usage(
            "nothing to check: give files or directories (image-policy lint deploy/), \
             or - to read manifests from standard input (helm template . | image-policy lint -)"
                .to_owned(),
        ));
    }
    let loaded = match args.policy.load() {
        Ok(loaded) => loaded,
        // Without a policy the linter still has a job: every file must read,
        // every object must have its containers, every image must parse.
        Err(PolicyLoadError::Missing) => {
            eprintln!(
                "image-policy lint: no policy given (--policy FILE, IMAGE_POLICY_FILE or rule flags \
                 such as --allow-registry): checking only that every file reads and every image parses"
            );
            image_policy_core::policy::Policy::builder()
                .build()
                .map_err(CliError::EmptyPolicy)?
        }
        Err(e) => return Err(e.into()),
    };
    for warning in &loaded.warnings {
        eprintln!("image-policy lint: {warning}");
    }
    if args.paths.iter().filter(|p| p.as_os_str() == "-").count() > 1 {
        return Err(CliError::Usage(
            "`-` (standard input) can be given only once".to_owned(),
        ));
    }

    if args.fix && !args.diff && args.paths.iter().any(|p| p.as_os_str() == "-") {
        return Err(CliError::Usage(
            "--fix cannot write standard input back: use --diff to print the change, \
             or give the file's path"
                .to_owned(),
        ));
    }

    let walked = walk::walk(&args.paths);
    let mut options = image_policy_lint::Options::with_vars(args.vars);
    options.builds_use_registries_conf = args.builds_use_registries_conf;
    let mut failed_writes = false;
    let report = if args.fix || args.diff {
        let sources: Vec<_> = walked.sources().collect();
        let wanted = fix::wanted(&sources, &options, &loaded.policy);
        if !wanted.is_empty() {
            match pin::resolve(&args.registry, &wanted)? {
                Some(pins) => options.pins = Some(pins),
                // Nothing is written, nothing printed but the failures.
                None => return Ok(ExitCode::from(2)),
            }
        }
        let fixed = fix::fix(sources, &options, &loaded.policy);
        failed_writes = apply_fixes(&args.paths, &walked, &fixed, args.diff)?;
        fixed.report
    } else {
        image_policy_lint::lint(walked.sources(), &options, &loaded.policy)
    };
    print_not_read(&walked.not_read, args.verbose);
    // A path with nothing to lint fails the run (after the report).
    let empty = if args.allow_empty {
        false
    } else {
        let linted: std::collections::HashSet<&str> = report
            .files
            .iter()
            .filter(|f| f.skipped.is_none())
            .map(|f| f.name.as_str())
            .collect();
        let empty = walked.empty_paths(|name| linted.contains(name));
        for path in &empty {
            eprintln!(
                "image-policy lint: nothing to lint in {path}: no Kubernetes manifest, Dockerfile, \
                 compose file or kustomization (a mistyped path?); --allow-empty accepts this"
            );
        }
        !empty.is_empty()
    };
    let exit_2 = failed_writes || empty;
    if args.diff && args.output.is_none() {
        let code = report.exit_code(args.warn_only);
        return Ok(ExitCode::from(if exit_2 { 2 } else { code }));
    }

    let color = match args.color {
        ColorArg::Always => true,
        ColorArg::Never => false,
        ColorArg::Auto => {
            args.output.is_none()
                && io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
        }
    };
    let style = render::Style {
        color,
        show_allowed: args.show_allowed,
    };
    let format = args.format.into();
    let written = match &args.output {
        Some(path) => fs::File::create(path).and_then(|f| {
            let mut out = io::BufWriter::new(f);
            render::render(&report, format, style, &mut out)?;
            out.flush()
        }),
        None => {
            let stdout = io::stdout();
            let mut out = io::BufWriter::new(stdout.lock());
            render::render(&report, format, style, &mut out).and_then(|()| out.flush())
        }
    };
    match written {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
        Err(source) => {
            let target = args
                .output
                .as_ref()
                .map_or_else(|| "standard output".to_owned(), |p| p.display().to_string());
            return Err(CliError::Write { target, source });
        }
    }
    let code = report.exit_code(args.warn_only);
    Ok(ExitCode::from(if exit_2 { 2 } else { code }))
}

/// Writes each fixed file (or, with `diff`, prints its diff on standard
/// output and writes nothing), and says on standard error what was fixed,
/// what was not and why. Returns whether a fix was not made: an image a
/// rule rewrites that cannot be fixed, a file not touched or not written.
fn apply_fixes(
    given: &[PathBuf],
    walked: &walk::Walk,
    fixed: &fix::Fixed,
    diff: bool,
) -> Result<bool, CliError> {
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let mut failed = false;
    let paths: std::collections::HashMap<&str, &Path> = walked
        .files
        .iter()
        .filter_map(|f| Some((f.name.as_str(), f.path.as_deref()?)))
        .collect();
    let mut writer = write::Writer::new(given, paths.iter().map(|(n, p)| (*n, *p)));
    for file in &fixed.files {
        // A fix not made fails the run: the file still names what the
        // rules rewrite.
        for u in &file.unfixable {
            failed = true;
            eprintln!(
                "image-policy lint: not fixable: {}:{}: {}: {}",
                shown(&file.name),
                u.position,
                message(&u.image),
                message(&u.reason)
            );
        }
        if let Some(why) = &file.not_touched {
            failed = true;
            eprintln!(
                "image-policy lint: {}: {}",
                shown(&file.name),
                message(&why.to_string())
            );
        }
        let Some(change) = &file.change else {
            continue;
        };
        let path = paths.get(file.name.as_str());
        if diff && path.is_some_and(|p| !names_itself(&file.name, p)) {
            // Its name in the report is not its path (bytes that are not
            // UTF-8 are U+FFFD there, a `\\` is a `/`), so a diff header
            // would name another file, possibly one that exists.
            failed = true;
            eprintln!(
                "image-policy lint: {}: not in the diff: the file's name is not UTF-8 or holds \
                 a backslash, so no diff header can name it; rename it, or use --fix",
                shown(&file.name)
            );
            continue;
        }
        if diff {
            // A file reached by several names is diffed once.
            let first = path.map(|p| writer.diff_once(&file.name, p, &change.after));
            match first {
                Some(Ok(Some(first))) => {
                    eprintln!(
                        "image-policy lint: {}: the same file as {}",
                        shown(&file.name),
                        shown(&first)
                    );
                    continue;
                }
                Some(Err(e)) => {
                    failed = true;
                    eprintln!("image-policy lint: {}: not fixed: {e}", shown(&file.name));
                    continue;
                }
                Some(Ok(None)) | None => {}
            }
            match out.write_all(change.diff(&file.name).as_bytes()) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(failed),
                Err(e) => return Err(CliError::stdout(e)),
            }
            continue;
        }
        let Some(path) = path else {
            // Standard input (refused with --fix before reading).
            continue;
        };
        match writer.write(&file.name, path, &change.before, &change.after) {
            Ok(write::WriteOutcome::Written { through: None }) => {
                eprintln!("image-policy lint: fixed {}", shown(&file.name));
            }
            Ok(write::WriteOutcome::Written {
                through: Some(target),
            }) => eprintln!(
                "image-policy lint: fixed {} (through the link, in {})",
                shown(&file.name),
                shown(&target.display().to_string())
            ),
            Ok(write::WriteOutcome::SameFileAs(first)) => {
                eprintln!(
                    "image-policy lint: {}: the same file as {}, fixed once",
                    shown(&file.name),
                    shown(&first)
                );
            }
            Err(e) => {
                failed = true;
                eprintln!("image-policy lint: {}: not written: {e}", shown(&file.name));
            }
        }
    }
    match out.flush() {
        Ok(()) => Ok(failed),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(failed),
        Err(e) => Err(CliError::stdout(e)),
    }
}

/// Whether `name`, as the walk reports a file, is its path (without a
/// leading `./`), so that a diff header with it patches this file.
fn names_itself(name: &str, path: &Path) -> bool {
    let Some(text) = path.to_str() else {
        return false;
    };
    #[cfg(windows)]
    let text = &text.replace('\\', "/");
    let text = match text.strip_prefix("./") {
        Some(rest) if !rest.is_empty() => rest,
        _ => text,
    };
    text == name
}
