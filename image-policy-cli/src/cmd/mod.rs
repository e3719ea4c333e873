//! One module per subcommand; each has its `Args` and a `run` returning the exit code.

pub mod check;
pub mod completions;
pub mod export;
pub mod lint;
pub mod parse;
pub mod policy;
pub mod serve;
