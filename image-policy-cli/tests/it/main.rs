//! Integration tests of the `image-policy` binary: each runs the real
//! executable on fixture files, as a user would.

mod cli;
mod lint;
