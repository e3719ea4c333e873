//! The commands' one error type. Every command's `run` returns
//! `Result<ExitCode, CliError>`: `Ok` carries the command's own answer (0,
//! or 1 for something denied or invalid), `Err` a usage, policy, read or
//! write error, which `main` prints once, as `image-policy COMMAND: ERROR`,
//! and maps to exit status 2.

use crate::input::InputError;
use crate::policy_args::PolicyLoadError;
use image_policy_core::policy::PolicyError;
use image_policy_export::ExportFormat;
use std::io;

/// Why a command could not do its job (exit status 2).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Arguments that cannot work together, or nothing to work on.
    #[error("{0}")]
    Usage(String),
    /// The policy (file, flags) could not be loaded.
    #[error(transparent)]
    Policy(#[from] PolicyLoadError),
    /// The built-in empty policy (`lint` without a policy) did not compile.
    #[error(transparent)]
    EmptyPolicy(PolicyError),
    /// The images to judge or parse could not be read.
    #[error(transparent)]
    Input(#[from] InputError),
    /// A file named on the command line could not be read.
    #[error("cannot read {name}: {source}")]
    Read {
        /// The file, as given.
        name: String,
        /// Why.
        source: io::Error,
    },
    /// The output could not be written.
    #[error("cannot write to {target}: {source}")]
    Write {
        /// The file, or `standard output`.
        target: String,
        /// Why.
        source: io::Error,
    },
    /// `export`: the policy loaded, but not for this format.
    #[error("{format}: {source}")]
    ExportPolicy {
        /// The format asked for.
        format: ExportFormat,
        /// Why the policy could not be loaded.
        source: PolicyLoadError,
    },
    /// `export`: the format cannot express some rules (and `--lossy` was not
    /// given, or cannot help).
    #[error("{}", not_expressible(.0))]
    Export(image_policy_export::ExportError),
    /// `policy import`: a file, document or field the import cannot read.
    #[error("--from {format}: {source}")]
    Import {
        /// The format asked for.
        format: image_policy_import::ImportFormat,
        /// What and where.
        source: image_policy_import::ImportError,
    },
    /// `serve`: the async runtime could not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(io::Error),
    /// `serve`: the server stopped with an error (already logged, in the
    /// log's format, where the server's own log lines go).
    #[error("{0}")]
    Server(image_policy_webhook::server::ServerError),
}

/// The export error, the format named once: each rule's note already says
/// what the format cannot do (`deny[0] (regex .*) at policy.yaml:4:12:
/// containers-policy cannot express a regular expression`).
fn not_expressible(e: &image_policy_export::ExportError) -> String {
    let n = e.rules.len();
    let mut text = format!(
        "{} cannot express {n} {} without admitting images the policy denies{}:",
        e.format,
        if n == 1 { "rule" } else { "rules" },
        if e.lossy_exports {
            ""
        } else {
            " (not even a lossy export can)"
        }
    );
    for note in &e.rules {
        text.push_str("\n  ");
        text.push_str(&note.to_string());
    }
    text.push_str("\nimage-policy export: nothing written");
    if e.lossy_exports {
        text.push_str(&format!(
            "; --lossy narrows {} (rejecting, in each rule's place, the scope it could touch, \
             named on standard error)",
            if n == 1 { "it" } else { "them" }
        ));
    }
    text
}

impl CliError {
    /// Prints the error once, on standard error, as `image-policy COMMAND:
    /// ERROR` (a server error goes to the log instead, in its format).
    pub fn print(&self, command: &str) {
        match self {
            CliError::Server(e) => tracing::error!("{e}"),
            e => eprintln!("image-policy {command}: {e}"),
        }
    }

    /// A write to standard output that failed.
    pub fn stdout(source: io::Error) -> Self {
        CliError::Write {
            target: "standard output".to_owned(),
            source,
        }
    }

    /// What a write to (or flush of) standard output means for a command
    /// that prints one line per input: `Ok(true)` go on, `Ok(false)` the
    /// reader has gone (`| head`: stop printing, quietly, and exit as the
    /// lines so far say), an error otherwise.
    pub fn stdout_written(result: io::Result<()>) -> Result<bool, CliError> {
        match result {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(false),
            Err(e) => Err(CliError::stdout(e)),
        }
    }
}
