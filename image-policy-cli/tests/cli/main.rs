//! Tests of the `image-policy` binary, run as a user runs it.

mod check;
mod completions;
mod deploy;
#[cfg(unix)]
mod escaping;
mod exempt;
mod export;
mod export_cli;
mod export_engines;
mod export_sigstore;
#[cfg(unix)]
mod fix;
mod help;
mod import;
mod lint;
mod messages;
mod parse;
mod peers;
#[cfg(unix)]
mod pin;
#[cfg(unix)]
#[path = "../../../image-policy-registry/tests/fixture/registry.rs"]
mod registry_fixture;
mod resolve;
mod serve;
mod verify;

use std::io::Write;
use std::process::{Command, Output, Stdio};

/// Runs `image-policy` with `args`, feeding `stdin` (when given).
pub fn run(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_image-policy"))
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    if let Some(input) = stdin {
        // A command that fails before reading (a usage error) may exit
        // before the input is written: its output is what is tested.
        match child.stdin.take().expect("stdin is piped").write_all(input) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            written => written.expect("stdin accepts the input"),
        }
    }
    child.wait_with_output().expect("the binary finishes")
}

/// The exit code, which every command documents.
pub fn code(out: &Output) -> i32 {
    out.status.code().expect("exited, not killed")
}
