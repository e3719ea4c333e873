//! `image-policy policy`: validate a policy file, print the format's JSON Schema.

use crate::error::CliError;
use crate::format::TextOrJson;
use image_policy_core::policy::{Diagnostic, DiagnosticCode, PolicyBuilder, schema};
use serde::Serialize;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// Work with policy files.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: PolicyCommand,
}

/// `--help` examples of `policy`.
pub const EXAMPLES: crate::help::Examples = &[
    "image-policy policy check examples/seed.yaml",
    "image-policy policy check --deny-warnings --format json examples/multi-team.yaml",
    "image-policy policy schema > policy.schema.json",
    "image-policy policy import --from gatekeeper constraints.yaml --images images.txt > policy.yaml",
];

/// `--help` examples of `policy check`.
pub const CHECK_EXAMPLES: crate::help::Examples = &[
    "image-policy policy check examples/seed.yaml",
    "image-policy policy check --deny-warnings --format json examples/multi-team.yaml",
];

/// `--help` after the examples of `policy check`.
pub const CHECK_EXIT_STATUS: &str = "Exit status: 0 when the policy is valid (1 with --deny-warnings when it has warnings), 2 when it is invalid or cannot be read.";

/// `--help` examples of `policy schema`.
pub const SCHEMA_EXAMPLES: crate::help::Examples =
    &["image-policy policy schema > policy.schema.json"];

#[derive(clap::Subcommand, Debug)]
enum PolicyCommand {
    Check(CheckArgs),
    Import(super::policy_import::ImportArgs),
    /// Print the JSON Schema of the policy file format.
    Schema,
}

/// Validate a policy file: print every error and warning with its
/// file:line:column.
#[derive(clap::Args, Debug)]
struct CheckArgs {
    /// Treat warnings as failures (exit 1).
    #[arg(long)]
    deny_warnings: bool,
    /// Output format: text, or json for one object per diagnostic per line
    /// (keys: severity, code, message, file, line, column).
    #[arg(long, value_name = "FORMAT", value_enum, default_value_t)]
    format: TextOrJson,
    /// Deprecated spelling of --format (`--output json`), for one release.
    #[arg(
        long,
        value_name = "FORMAT",
        value_enum,
        hide = true,
        conflicts_with = "format"
    )]
    output: Option<TextOrJson>,
    /// The policy file (YAML, or JSON when the name ends in .json).
    #[arg(value_name = "FILE")]
    file: PathBuf,
}

#[derive(Serialize)]
struct JsonDiagnostic<'a> {
    severity: &'a str,
    code: DiagnosticCode,
    message: &'a str,
    file: Option<&'a str>,
    line: Option<usize>,
    column: Option<usize>,
}

impl Args {
    /// The command as errors name it: `policy check`, `policy schema`.
    pub fn command_name(&self) -> &'static str {
        match self.command {
            PolicyCommand::Check(_) => "policy check",
            PolicyCommand::Import(_) => "policy import",
            PolicyCommand::Schema => "policy schema",
        }
    }
}

/// Runs the command.
pub fn run(args: Args) -> Result<ExitCode, CliError> {
    match args.command {
        PolicyCommand::Check(args) => check(args),
        PolicyCommand::Import(args) => super::policy_import::run(args),
        PolicyCommand::Schema => {
            let text = serde_json::to_string_pretty(&schema()).unwrap_or_default();
            let mut out = io::stdout().lock();
            match writeln!(out, "{text}") {
                Ok(()) => Ok(ExitCode::SUCCESS),
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
                Err(e) => Err(CliError::stdout(e)),
            }
        }
    }
}

/// `policy check`: an invalid policy is the command's answer (its
/// diagnostics on standard output, exit status 2), not an error.
fn check(args: CheckArgs) -> Result<ExitCode, CliError> {
    let name = args.file.display().to_string();
    let src = std::fs::read_to_string(&args.file).map_err(|source| CliError::Read {
        name: name.clone(),
        source,
    })?;
    let is_json = args
        .file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let builder = if is_json {
        PolicyBuilder::from_json_str(&src, &name)
    } else {
        PolicyBuilder::from_yaml_str(&src, &name)
    }
    .map(|b| b.read_key_files(crate::policy_args::key_file_reader(&args.file)));
    let (diagnostics, summary, code) = match builder.and_then(PolicyBuilder::build) {
        Ok(loaded) => {
            let summary = format!(
                "{name}: valid ({}, mode {}, {})",
                plural(loaded.policy.rule_count(), "rule", "rules"),
                loaded.policy.mode(),
                plural(loaded.warnings.len(), "warning", "warnings")
            );
            let code = if args.deny_warnings && !loaded.warnings.is_empty() {
                1
            } else {
                0
            };
            (loaded.warnings, summary, code)
        }
        Err(e) => {
            let errors = plural(e.errors().count(), "error", "errors");
            let hint = if is_json && !crate::policy_args::looks_like_json(&src) {
                format!(
                    "\nhint: {name} is read as JSON because its name ends in .json, \
                     but it does not start with `{{`: if it is YAML, name it .yaml"
                )
            } else {
                String::new()
            };
            (
                e.diagnostics().to_vec(),
                format!("{name}: invalid ({errors}){hint}"),
                2,
            )
        }
    };
    let format = crate::format::chosen("policy check", args.format, args.output);
    let written = if format == TextOrJson::Json {
        write_json(&diagnostics)
    } else {
        write_text(&diagnostics, &summary)
    };
    match written {
        Ok(()) => Ok(ExitCode::from(code)),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(ExitCode::from(code)),
        Err(e) => Err(CliError::stdout(e)),
    }
}

/// `1 rule`, `2 rules`.
fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn write_text(diagnostics: &[Diagnostic], summary: &str) -> io::Result<()> {
    let mut out = io::BufWriter::new(io::stdout().lock());
    for d in diagnostics {
        writeln!(out, "{d}")?;
    }
    writeln!(out, "{summary}")?;
    out.flush()
}

fn write_json(diagnostics: &[Diagnostic]) -> io::Result<()> {
    let mut out = io::BufWriter::new(io::stdout().lock());
    for d in diagnostics {
        let line = JsonDiagnostic {
            severity: d.severity.as_str(),
            code: d.code,
            message: &d.message,
            file: d.location.as_ref().map(|l| l.origin.as_str()),
            line: d.location.as_ref().map(|l| l.line),
            column: d.location.as_ref().map(|l| l.column),
        };
        serde_json::to_writer(&mut out, &line)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}
