//! `image-policy export`: the policy as the configuration of another engine
//! (node runtimes, RHEL docker, OpenShift, a ValidatingAdmissionPolicy).
//! The translation is `image_policy_export`'s; this reads
//! the policy, prints the notes and writes the file atomically.

use crate::error::CliError;
use crate::policy_args::PolicyArgs;
use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use image_policy_export::{self as export, ExportFormat, ExportOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Export the policy for another enforcement point, never wider than the policy.
///
/// Rules a format cannot express exactly are narrowed (allow rules dropped,
/// with a warning), or, when dropping them would admit images the policy
/// denies (deny, regex, tag, digest and pin rules, namespace scopes), make the
/// export fail with exit status 2 and one line per rule, unless --lossy.
///
/// --lossy never drops such a rule: it rejects, in its place, the whole
/// scope the rule could touch (the registry or repository prefix that a
/// regex's literal prefix fixes, else every image; a namespace's allow rules
/// for every pod), each named in a "narrowed (lossy)" warning. Where that
/// leaves no image admitted (a tag rule or a policy without allow rules on
/// the node formats), the export fails even with --lossy.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    policy: PolicyArgs,
    /// What to write.
    #[arg(long, value_name = "FORMAT", value_parser = formats())]
    format: ExportFormat,
    /// Export even when rules cannot be expressed, narrowing each (never widening): what is rejected in its place is named on standard error.
    #[arg(long)]
    lossy: bool,
    /// Write to FILE (atomically: replaced only when the export succeeds) instead of standard output.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// validating-admission-policy, gatekeeper, kyverno: the name of the
    /// policy and its binding (the Kyverno ClusterPolicy; the Gatekeeper
    /// constraint, whose kind is the name in CamelCase: ImagePolicy).
    #[arg(long, value_name = "NAME", default_value = "image-policy")]
    name: String,
    /// validating-admission-policy, gatekeeper, kyverno: judge these namespaces only
    /// (repeatable, or a comma-separated list); default: every namespace.
    #[arg(
        long = "bind-namespace",
        value_name = "NAMESPACE",
        value_delimiter = ','
    )]
    bind_namespaces: Vec<String>,
}

/// `--help` examples.
pub const EXAMPLES: crate::help::Examples = &[
    "image-policy export --policy examples/seed.yaml --format containers-policy --output policy.json",
    "image-policy export --policy examples/seed.yaml --format validating-admission-policy | kubectl apply -f -",
];

/// `--help` after the examples.
pub const EXIT_STATUS: &str = "Exit status: 0 exported, 2 a usage, policy or read error, or a rule the format cannot express (without --lossy); nothing is written on failure.";

/// `--format`: the core's formats, by name, each with its description in
/// `--help`.
fn formats() -> impl TypedValueParser<Value = ExportFormat> {
    PossibleValuesParser::new(
        ExportFormat::ALL.map(|f| PossibleValue::new(f.name()).help(f.description())),
    )
    .try_map(|name| {
        // The names come from `ExportFormat::ALL`: every one parses.
        ExportFormat::from_name(&name).ok_or_else(|| format!("unknown format {name:?}"))
    })
}

/// Runs the command.
pub fn run(args: Args) -> Result<ExitCode, CliError> {
    let format = args.format;
    let loaded = args
        .policy
        .load()
        .map_err(|source| CliError::ExportPolicy { format, source })?;
    for warning in &loaded.warnings {
        eprintln!("image-policy export: {warning}");
    }
    let options = ExportOptions {
        lossy: args.lossy,
        name: args.name,
        only_namespaces: args.bind_namespaces,
    };
    let exported = export::export(&loaded.policy, format, &options).map_err(CliError::Export)?;
    for w in &exported.warnings {
        // The note names the format already (`... cannot express ...`).
        eprintln!("image-policy export: warning: {w}");
    }
    let written = match &args.output {
        Some(path) => write_atomically(path, exported.text.as_bytes()),
        None => std::io::stdout().lock().write_all(exported.text.as_bytes()),
    };
    written.map_err(|source| CliError::Write {
        target: args
            .output
            .as_deref()
            .map_or("standard output".to_owned(), |p| p.display().to_string()),
        source,
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Writes a temporary file beside `path`, then renames it over `path`.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map_or("export".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
