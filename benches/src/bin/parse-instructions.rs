//! Parses the image reference corpus once with one parser, for counting
//! instructions under callgrind (`benches/callgrind.sh`), which is stable on a
//! busy machine where wall time is not.
//!
//! Usage: `parse-instructions imageref|reference|oci-spec`. The parsing happens
//! in `parse_corpus`, the function that `callgrind.sh` collects; everything
//! else (reading the corpus, `oci-spec`'s one-time regex compilation, done
//! before by a warm-up parse) is left out of the count.

use std::hint::black_box;
use std::process::ExitCode;
use std::str::FromStr;

use image_policy_core::reference::{ImageRef, Reference};

/// Parses every reference of `corpus` with `parse`; returns how many it accepted.
#[inline(never)]
fn parse_corpus(corpus: &[&str], parse: fn(&str) -> bool) -> usize {
    corpus.iter().filter(|s| parse(black_box(s))).count()
}

fn main() -> ExitCode {
    let parse: fn(&str) -> bool = match std::env::args().nth(1).as_deref() {
        Some("imageref") => |s| black_box(ImageRef::parse(s)).is_ok(),
        Some("reference") => |s| black_box(Reference::parse(s)).is_ok(),
        Some("oci-spec") => |s| black_box(oci_spec::distribution::Reference::from_str(s)).is_ok(),
        _ => {
            eprintln!("usage: parse-instructions imageref|reference|oci-spec");
            return ExitCode::from(2);
        }
    };
    let corpus = image_policy_benches::references();
    // Warm-up outside the collected function: lazy statics, first allocations.
    parse(corpus[0]);
    let accepted = parse_corpus(&corpus, parse);
    println!("{} references, {accepted} accepted", corpus.len());
    ExitCode::SUCCESS
}
