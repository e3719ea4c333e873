//! `image-policy completions`: shell completion scripts, generated from the
//! same clap definitions that parse the arguments, so they never go stale.

use crate::error::CliError;
use clap::CommandFactory;
use clap_complete::Shell;
use std::io::{self, Write};
use std::process::ExitCode;

/// Print a shell completion script.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The shell to complete for.
    #[arg(value_enum)]
    shell: Shell,
}

/// `--help` examples.
pub const EXAMPLES: crate::help::Examples = &[
    "image-policy completions bash > ~/.local/share/bash-completion/completions/image-policy",
    "image-policy completions zsh > \"${fpath[1]}/_image-policy\"",
    "image-policy completions fish > ~/.config/fish/completions/image-policy.fish",
];

/// Runs the command.
pub fn run(args: Args) -> Result<ExitCode, CliError> {
    let mut command = crate::Cli::command();
    // Generated in memory: clap_complete panics when its writer fails.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "image-policy", &mut script);
    match io::stdout().lock().write_all(&script) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(e) => Err(CliError::stdout(e)),
    }
}
