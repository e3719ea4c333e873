//! `image-policy`: decide which container images a Kubernetes cluster may run.
//!
//! A thin binary over `image-policy-core` (parsing, policy, image discovery) and
//! `image-policy-webhook` (the admission server): it reads arguments, files
//! and standard input, calls the libraries and prints. Exit codes are the same
//! for every command: 0 success (everything allowed / parsed), 1 a negative
//! answer (something denied / invalid), 2 a usage, policy or read error.
#![forbid(unsafe_code)]

mod cmd;
mod error;
mod format;
mod help;
mod input;
mod policy_args;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use std::process::ExitCode;

/// Decide which container images a Kubernetes cluster may run.
///
/// Image references are parsed exactly as containerd parses them
/// (github.com/distribution/reference), so `nginx`, `docker.io/nginx` and
/// `index.docker.io/library/nginx` are one image, and `reg:5000/app` has a port,
/// not a tag.
#[derive(Parser, Debug)]
#[command(name = "image-policy", version = VERSION, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// `--version`: the crate version and the git revision it was built from
/// (`build.rs`: `IMAGE_POLICY_REVISION`, else `git rev-parse HEAD`, else `unknown`).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (revision ",
    env!("IMAGE_POLICY_REVISION"),
    ")"
);

const EXAMPLES: help::Examples = &[
    "image-policy parse prometheus:2.6.1",
    "image-policy lint deploy/ --allow-registry registry.my.com",
    "image-policy completions bash > ~/.local/share/bash-completion/completions/image-policy",
];

const AFTER_EXAMPLES: &str = "\
Environment: IMAGE_POLICY_FILE is the default for --policy (ignored when empty). NO_COLOR turns colour off.
Exit status: 0 success, 1 something denied or invalid, 2 a usage, policy or read error.";

/// The examples and closing notes of every command, by command path.
const HELP: &[(&[&str], help::Examples, &str)] = &[
    (&[], EXAMPLES, AFTER_EXAMPLES),
    (&["parse"], cmd::parse::EXAMPLES, cmd::parse::EXIT_STATUS),
    (&["check"], cmd::check::EXAMPLES, cmd::check::EXIT_STATUS),
    (&["lint"], cmd::lint::EXAMPLES, cmd::lint::EXIT_STATUS),
    (&["serve"], cmd::serve::EXAMPLES, cmd::serve::EXIT_STATUS),
    (&["completions"], cmd::completions::EXAMPLES, ""),
    (&["export"], cmd::export::EXAMPLES, cmd::export::EXIT_STATUS),
    (&["policy"], cmd::policy::EXAMPLES, ""),
    (
        &["policy", "check"],
        cmd::policy::CHECK_EXAMPLES,
        cmd::policy::CHECK_EXIT_STATUS,
    ),
    (&["policy", "schema"], cmd::policy::SCHEMA_EXAMPLES, ""),
    (
        &["policy", "import"],
        cmd::policy_import::EXAMPLES,
        cmd::policy_import::EXIT_STATUS,
    ),
    (
        &["resolve"],
        cmd::resolve::EXAMPLES,
        cmd::resolve::EXIT_STATUS,
    ),
    (&["verify"], cmd::verify::EXAMPLES, cmd::verify::EXIT_STATUS),
];

#[derive(Subcommand, Debug)]
enum Command {
    Parse(cmd::parse::Args),
    Lint(cmd::lint::Args),
    Completions(cmd::completions::Args),
    Check(cmd::check::Args),
    Policy(cmd::policy::Args),
    Serve(cmd::serve::Args),
    Export(cmd::export::Args),
    Resolve(cmd::resolve::Args),
    Verify(cmd::verify::Args),
}

fn main() -> ExitCode {
    let command = help::with_examples(Cli::command(), help::width(), HELP);
    let cli = Cli::from_arg_matches(&command.get_matches()).unwrap_or_else(|e| e.exit());
    let (name, result) = match cli.command {
        Command::Parse(args) => ("parse", cmd::parse::run(args)),
        Command::Lint(args) => ("lint", cmd::lint::run(args)),
        Command::Completions(args) => ("completions", cmd::completions::run(args)),
        Command::Check(args) => ("check", cmd::check::run(args)),
        Command::Policy(args) => (args.command_name(), cmd::policy::run(args)),
        Command::Serve(args) => ("serve", cmd::serve::run(args)),
        Command::Export(args) => ("export", cmd::export::run(args)),
        Command::Resolve(args) => ("resolve", cmd::resolve::run(args)),
        Command::Verify(args) => ("verify", cmd::verify::run(args)),
    };
    // The one exit path: a command's answer, or its error printed once.
    result.unwrap_or_else(|e| {
        e.print(name);
        ExitCode::from(2)
    })
}
