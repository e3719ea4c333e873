//! `image-policy policy import`: another engine's policy as ours, the
//! report of where the meanings differ, and the migration dry run. The
//! reading is `image_policy_import`'s; this reads the files and prints.

use crate::error::CliError;
use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use image_policy_core::policy::PolicyBuilder;
use image_policy_import::{DryRun, ImportFormat, Source};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// Read another engine's policy into ours, never wider than what it meant.
///
/// The policy (YAML, a comment above each rule naming the file, document
/// and field it came from) goes to standard output or --output; the report
/// of every place where the old and the new meanings differ (prefixes that
/// admitted more than they said, with names they admitted, Docker Hub
/// spellings, places the old engine did not look at) to standard error.
///
/// With --images, the migration dry run follows the report on standard
/// error: per image the old engine's decision (as that engine computes it)
/// and the new policy's, then the images whose decision changes, both ways,
/// and a summary line.
#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// The format of the files.
    #[arg(long, value_name = "FORMAT", value_parser = formats())]
    from: ImportFormat,
    /// Write the policy to FILE (atomically: replaced only when the import
    /// succeeds) instead of standard output.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// The dry run's images: the JSON of `kubectl get pods -A -o json`, a
    /// file `lint` reads (manifests `*.yaml`, a Dockerfile, a compose file,
    /// by its name, read as lint reads it), or one image per line (`-`:
    /// standard input, lines or JSON).
    #[arg(long, value_name = "FILE")]
    images: Option<PathBuf>,
    /// The files to import (bouncer: a file holding its command line; `-`:
    /// standard input).
    #[arg(value_name = "FILE", required = true)]
    files: Vec<PathBuf>,
}

/// `--help` examples.
pub const EXAMPLES: crate::help::Examples = &[
    "image-policy policy import --from gatekeeper constraints.yaml > policy.yaml",
    "kubectl get pods -A -o json | image-policy policy import --from gatekeeper constraints.yaml --images - --output policy.yaml",
    "echo '--registry-whitelist registry.my.com --reject-latest' | image-policy policy import --from bouncer -",
];

/// `--help` after the examples.
pub const EXIT_STATUS: &str = "Exit status: 0 imported (whatever the dry run finds), 2 a file, document or field that cannot be read (named), or a read or write error; nothing is written on failure.";

fn formats() -> impl TypedValueParser<Value = ImportFormat> {
    PossibleValuesParser::new(
        ImportFormat::ALL.map(|f| PossibleValue::new(f.name()).help(f.description())),
    )
    .try_map(|name| {
        ImportFormat::from_name(&name).ok_or_else(|| format!("unknown format {name:?}"))
    })
}

fn read(path: &PathBuf, stdin_used: &mut bool) -> Result<(String, String), CliError> {
    if path.as_os_str() == "-" {
        if *stdin_used {
            return Err(CliError::Usage(
                "standard input (-) can be read only once".to_owned(),
            ));
        }
        *stdin_used = true;
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|source| CliError::Read {
                name: "standard input".to_owned(),
                source,
            })?;
        return Ok(("<stdin>".to_owned(), text));
    }
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| CliError::Read {
        name: name.clone(),
        source,
    })?;
    Ok((name, text))
}

/// Runs the command.
pub fn run(args: ImportArgs) -> Result<ExitCode, CliError> {
    let mut stdin_used = false;
    let mut files = Vec::new();
    for path in &args.files {
        files.push(read(path, &mut stdin_used)?);
    }
    let images = match &args.images {
        Some(path) => Some(read(path, &mut stdin_used)?),
        None => None,
    };
    let sources: Vec<Source<'_>> = files.iter().map(|(n, t)| Source::new(n, t)).collect();
    let imported =
        image_policy_import::import(args.from, &sources).map_err(|source| CliError::Import {
            format: args.from,
            source,
        })?;
    // The dry run judges with the policy as `check` would load it.
    let dry = match &images {
        Some((name, text)) => {
            let sites = images_of(name, text)?;
            let loaded = PolicyBuilder::from_yaml_str(&imported.text, "<imported>")
                .and_then(PolicyBuilder::build)
                .map_err(|e| {
                    CliError::Usage(format!(
                        "the imported policy does not load (a fault of the import: please report it): {e}"
                    ))
                })?;
            Some(image_policy_import::dry_run(
                &imported.old,
                &loaded.policy,
                sites,
            ))
        }
        None => None,
    };
    let written = match &args.output {
        Some(path) => super::export::write_atomically(path, imported.text.as_bytes()),
        None => std::io::stdout().lock().write_all(imported.text.as_bytes()),
    };
    written.map_err(|source| CliError::Write {
        target: args
            .output
            .as_deref()
            .map_or("standard output".to_owned(), |p| p.display().to_string()),
        source,
    })?;
    let mut err = std::io::stderr().lock();
    for note in &imported.notes {
        let _ = writeln!(err, "image-policy policy import: {note}");
    }
    if let Some(dry) = &dry {
        let _ = err.write_all(render(dry).as_bytes());
    }
    Ok(ExitCode::SUCCESS)
}

/// The dry run's images of `text`: kubectl's JSON (it starts with `{`), a
/// file `lint` reads by its name, or one image per line.
fn images_of(name: &str, text: &str) -> Result<Vec<image_policy_import::Site>, CliError> {
    use image_policy_core::k8s::ContainerList;
    use image_policy_lint::{Options, Source, SourceKind};
    let json = text
        .trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}')
        .starts_with('{');
    let file_name = std::path::Path::new(name)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let kind = SourceKind::from_file_name(&file_name).filter(|_| !json && name != "<stdin>");
    let Some(kind) = kind else {
        return image_policy_import::read_images(text)
            .map_err(|e| CliError::Usage(format!("--images {name}: {e}")));
    };
    let source = Source {
        name: name.to_owned(),
        kind,
        text: Ok(text.to_owned()),
    };
    let extracted = image_policy_lint::extract(&source, &Options::default());
    if let Some(problem) = extracted.problems.first() {
        let at = problem.position.map_or(String::new(), |p| format!(":{p}"));
        return Err(CliError::Usage(format!(
            "--images {name}{at}: {}",
            problem.message
        )));
    }
    Ok(extracted
        .sites
        .into_iter()
        .map(|site| {
            let path = site.path.clone().unwrap_or_default();
            let list = if path.contains("initContainers[") {
                ContainerList::InitContainers
            } else if path.contains("ephemeralContainers[") {
                ContainerList::EphemeralContainers
            } else if path.contains("volumes[") {
                ContainerList::Volumes
            } else {
                ContainerList::Containers
            };
            image_policy_import::Site {
                place: format!("{name}:{} {path}", site.position)
                    .trim_end()
                    .to_owned(),
                image: site.image,
                namespace: site.namespace,
                list,
            }
        })
        .collect())
}

/// The dry run as text: every image, then the changes both ways, then the
/// summary.
fn render(dry: &DryRun) -> String {
    use std::fmt::Write as _;
    let mut out = String::from("dry run:\n");
    let where_ = |i: &image_policy_import::DryRunImage| match &i.namespace {
        Some(ns) => format!("{} in {ns:?}", i.place),
        None => i.place.clone(),
    };
    for i in &dry.images {
        let before = if !i.old.looked_at {
            "not looked at".to_owned()
        } else if i.old.violates() {
            format!("denied ({})", i.old.violations.join("; "))
        } else {
            "admitted".to_owned()
        };
        let now = match &i.new {
            Some(why) => format!("denied ({why})"),
            None => "admitted".to_owned(),
        };
        let _ = writeln!(
            out,
            "  {:?} ({}): before {before}, now {now}",
            i.image,
            where_(i)
        );
    }
    let mut section = |title: &str, list: Vec<&image_policy_import::DryRunImage>| {
        if list.is_empty() {
            return;
        }
        let _ = writeln!(out, "{title}:");
        for i in list {
            let _ = writeln!(out, "  {:?} ({})", i.image, where_(i));
        }
    };
    section(
        "admitted before, denied now",
        dry.admitted_before_denied_now().collect(),
    );
    section(
        "denied before, admitted now",
        dry.denied_before_admitted_now().collect(),
    );
    let _ = writeln!(out, "{}", dry.summary());
    out
}
