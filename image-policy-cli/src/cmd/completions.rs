//! `image-policy completions`: shell completion scripts, generated from the
//! same clap definitions that parse the arguments, so they never go stale.
//!
//! bash: clap_complete (4.6) spells the state of its bash script two ways
//! when the binary's name has a hyphen (`image__policy__subcmd__lint` in
//! the loop that reads the words, `image__subcmd__policy__subcmd__lint` in
//! the arms that offer the options), so nothing past the first word was
//! ever completed (clap-rs/clap#6421). The script is therefore generated for
//! a name without a hyphen ([`BASH_NAME`]), whose states agree, and only its
//! `complete -F` lines are then pointed at `image-policy`. The tests run the
//! scripts of bash, zsh and fish on real command lines.

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

/// The command the scripts complete.
const NAME: &str = "image-policy";

/// The name the bash script is generated for: [`NAME`] without its hyphen,
/// so that clap_complete's function and state names agree.
const BASH_NAME: &str = "image_policy";

/// The completion script for `shell`.
pub fn script(shell: Shell) -> String {
    let mut command = crate::Cli::command();
    // Generated in memory: clap_complete panics when its writer fails.
    let mut script = Vec::new();
    let name = if shell == Shell::Bash {
        BASH_NAME
    } else {
        NAME
    };
    clap_complete::generate(shell, &mut command, name, &mut script);
    let script = String::from_utf8_lossy(&script).into_owned();
    if shell != Shell::Bash {
        return script;
    }
    // `complete -F _image_policy ... image_policy` registers the function
    // for the command; every other use of the name is internal.
    let suffix = format!(" {BASH_NAME}");
    script
        .lines()
        .map(|line| match line.strip_suffix(&suffix) {
            Some(head) if line.trim_start().starts_with("complete -F ") => {
                format!("{head} {NAME}\n")
            }
            _ => format!("{line}\n"),
        })
        .collect()
}

/// Runs the command.
pub fn run(args: Args) -> Result<ExitCode, CliError> {
    match io::stdout().lock().write_all(script(args.shell).as_bytes()) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(e) => Err(CliError::stdout(e)),
    }
}
