//! The instruction counters: runs one benchmark's work once, with one
//! participant, for counting instructions under callgrind, which is stable on
//! a busy machine where wall time is not. The scripts that count
//! (`benches/callgrind.sh`, `benches/callgrind-handler.sh` and the CI gate
//! `benches/gate.sh`, all through `benches/callgrind-lib.sh`) collect only
//! the function named below, so that setup (reading a corpus, compiling a
//! policy, one warm-up) is left out of the count.
//!
//! Usage:
//!
//! - `instructions parse imageref|reference|oci-spec`: each reference of
//!   the corpus parsed (`parse_corpus`);
//! - `instructions policy N-rules|50-regexes`: each image of the policy
//!   bench decided (`decide_corpus`);
//! - `instructions handler image-policy|image-policy-mutate|regorus|cel
//!   allowed|denied [N]`: one AdmissionReview answered N times
//!   (`review_loop`);
//! - `instructions pin phases|warm|warm-async [N]`: `/mutate` with pin rules on the
//!   benchmark review, N times (`pin_loop`; `warm` and `warm-async` need
//!   the `load` feature);
//! - `instructions lint yaml-ignored|extract|saphyr-extract|granit|saphyr-parser|yaml-rust2|lint|fix-whole [BYTES]`:
//!   the manifest corpus read one way (`read_corpus`).
//!
//! Each prints one line whose first number is how many units it handled
//! (references, images, reviews, bytes). The peers (`oci-spec`, `regorus`,
//! `cel`, `granit`, `saphyr-parser`, `yaml-rust2`) need the crate's `peers`
//! feature (on by default); without it the binary is our code alone, which
//! is what the gate builds. One binary rather than one per area: CI links it
//! (thin LTO of the whole dependency graph) once.

use std::process::ExitCode;

mod handler;
mod lint;
mod parse;
mod pin;
mod policy;

/// The usage line of every counter.
const USAGE: &str = "usage: instructions parse imageref|reference|oci-spec
       instructions policy N-rules|50-regexes
       instructions handler image-policy|image-policy-mutate|regorus|cel allowed|denied [N]
       instructions pin phases|warm|warm-async [N]
       instructions lint yaml-ignored|extract|saphyr-extract|granit|saphyr-parser|yaml-rust2|lint|fix-whole [BYTES]";

/// Prints the usage; the exit code of a usage error.
fn usage() -> ExitCode {
    eprintln!("{USAGE}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((area, rest)) = args.split_first() else {
        return usage();
    };
    match area.as_str() {
        "parse" => parse::main(rest),
        "policy" => policy::main(rest),
        "handler" => handler::main(rest),
        "lint" => lint::main(rest),
        "pin" => pin::main(rest),
        _ => usage(),
    }
}
