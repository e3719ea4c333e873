//! One module per subcommand; each has its `Args` and a `run` returning the exit code
//! (0, or 1 for a negative answer) or a [`CliError`](crate::error::CliError) (exit code 2).

pub mod check;
pub mod completions;
pub mod export;
pub mod lint;
pub mod parse;
pub mod policy;
pub mod policy_import;
pub mod resolve;
pub mod serve;
pub mod verify;
