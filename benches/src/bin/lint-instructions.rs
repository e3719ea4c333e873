//! Reads the manifest corpus ([`image_policy_benches::manifests`]) once, one
//! way, for counting instructions under callgrind (`benches/callgrind.sh
//! lint`), which is stable on a busy machine where wall time is not.
//!
//! Usage: `lint-instructions yaml-ignored|extract|saphyr-extract|granit|saphyr-parser|yaml-rust2`. The work happens in
//! `read_corpus`, the function that `callgrind.sh` collects; generating the
//! corpus is left out of the count.
//!
//! - `yaml-ignored`: serde-saphyr parsing every document into `IgnoredAny`,
//!   the parser's own floor;
//! - `extract`: `image_policy_lint::extract`, what the linter does with
//!   a file before judging its images (one thread): the fast path over
//!   granit-parser's events (`lint::fast_yaml`);
//! - `saphyr-extract`: the same with serde-saphyr alone
//!   (`manifests::extract_serde_saphyr`, the path before the fast one);
//! - `granit`, `saphyr-parser`, `yaml-rust2`: events only, nothing built
//!   ([`image_policy_benches::yaml_events`]).

use std::hint::black_box;
use std::process::ExitCode;

use image_policy_benches::{manifests, yaml_events};
use image_policy_lint::{self as lint, walk};

/// Reads every file of `files` with `read`; returns what `read` counted.
#[inline(never)]
fn read_corpus(files: &[walk::Source], read: &dyn Fn(&walk::Source) -> usize) -> usize {
    files.iter().map(|s| read(black_box(s))).sum()
}

fn main() -> ExitCode {
    let options = lint::Options::default();
    let read: Box<dyn Fn(&walk::Source) -> usize> = match std::env::args().nth(1).as_deref() {
        Some("yaml-ignored") => Box::new(|s| {
            let text = s.text.as_ref().expect("generated text");
            let docs: Vec<serde::de::IgnoredAny> =
                serde_saphyr::from_multiple(text).expect("the corpus parses");
            docs.len()
        }),
        Some("extract") => Box::new(move |s| lint::extract(s, &options).objects),
        Some("saphyr-extract") => Box::new(|s| {
            lint::fuzzing::manifests::extract_serde_saphyr(s.text.as_ref().expect("text")).objects
        }),
        Some("granit") => Box::new(|s| yaml_events::granit(s.text.as_ref().expect("text"))),
        Some("saphyr-parser") => Box::new(|s| yaml_events::saphyr(s.text.as_ref().expect("text"))),
        Some("yaml-rust2") => Box::new(|s| yaml_events::yaml_rust2(s.text.as_ref().expect("text"))),
        _ => {
            eprintln!(
                "usage: lint-instructions yaml-ignored|extract|saphyr-extract|granit|saphyr-parser|yaml-rust2"
            );
            return ExitCode::from(2);
        }
    };
    let corpus = manifests::generate();
    let bytes = corpus.bytes();
    let files = corpus.into_sources();
    let counted = read_corpus(&files, &*read);
    println!("{bytes} bytes in {} files, {counted} counted", files.len());
    ExitCode::SUCCESS
}
