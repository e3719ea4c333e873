//! `instructions parse imageref|reference|oci-spec`: parses the image
//! reference corpus once with one parser. The parsing happens in
//! `parse_corpus`; everything else (reading the corpus, `oci-spec`'s
//! one-time regex compilation, done before by a warm-up parse) is left out of
//! the count.

use std::hint::black_box;
use std::process::ExitCode;
#[cfg(feature = "peers")]
use std::str::FromStr;

use image_policy_core::reference::{ImageRef, Reference};

/// Parses every reference of `corpus` with `parse`; returns how many it accepted.
#[inline(never)]
fn parse_corpus(corpus: &[&str], parse: fn(&str) -> bool) -> usize {
    corpus.iter().filter(|s| parse(black_box(s))).count()
}

pub fn main(args: &[String]) -> ExitCode {
    let parse: fn(&str) -> bool = match args.first().map(String::as_str) {
        Some("imageref") => |s| black_box(ImageRef::parse(s)).is_ok(),
        Some("reference") => |s| black_box(Reference::parse(s)).is_ok(),
        #[cfg(feature = "peers")]
        Some("oci-spec") => |s| black_box(oci_spec::distribution::Reference::from_str(s)).is_ok(),
        _ => return super::usage(),
    };
    let corpus = image_policy_benches::references();
    // Warm-up outside the collected function: lazy statics, first allocations.
    parse(corpus[0]);
    let accepted = parse_corpus(&corpus, parse);
    println!("{} references, {accepted} accepted", corpus.len());
    ExitCode::SUCCESS
}
