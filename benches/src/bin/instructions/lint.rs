//! `instructions lint HOW [BYTES]`: reads the manifest corpus
//! ([`image_policy_benches::manifests`]) once, one way. The work happens in
//! `read_corpus`; generating the corpus is left out of the count. With
//! `BYTES`, the corpus is its first files up to that size
//! ([`manifests::generate_bytes`]) instead of the whole 4 MiB.
//!
//! - `yaml-ignored`: serde-saphyr parsing every document into `IgnoredAny`,
//!   the parser's own floor;
//! - `extract`: `image_policy_lint::extract`, what the linter does with
//!   a file before judging its images (one thread): the fast path over
//!   granit-parser's events (`lint::fast_yaml`);
//! - `saphyr-extract`: the same with serde-saphyr alone
//!   (`manifests::extract_serde_saphyr`, the path before the fast one);
//! - `granit`, `saphyr-parser`, `yaml-rust2`: events only, nothing built
//!   ([`image_policy_benches::yaml_events`]);
//! - `lint`: `image_policy_lint::lint` of the whole corpus (reading and
//!   judging, on every CPU it may use: the scripts give it one, so that
//!   every file is read on one thread);
//! - `fix-whole`: `lint --fix --diff` but printing, as the `lint/fix-whole`
//!   bench: `fix::fix` with the bench's rewrite rules and every diff.

use std::hint::black_box;
use std::process::ExitCode;

use image_policy_benches::manifests;
#[cfg(feature = "peers")]
use image_policy_benches::yaml_events;
use image_policy_core::policy::Policy;
use image_policy_lint as lint;

/// A way of reading the whole corpus; returns what it counted.
type Read = Box<dyn Fn(&[lint::Source]) -> usize>;

/// Reads the files with `read`; returns what `read` counted.
#[inline(never)]
fn read_corpus(files: &[lint::Source], read: &dyn Fn(&[lint::Source]) -> usize) -> usize {
    read(black_box(files))
}

/// `read` of each file, summed.
fn each(read: impl Fn(&lint::Source) -> usize + 'static) -> Read {
    Box::new(move |files| files.iter().map(|s| read(black_box(s))).sum())
}

pub fn main(args: &[String]) -> ExitCode {
    let options = lint::Options::default();
    let usage = super::usage;
    let size = match args.get(1).map(|b| b.parse()) {
        None => manifests::CORPUS_BYTES,
        Some(Ok(bytes)) => bytes,
        Some(Err(_)) => return usage(),
    };
    let read: Read = match args.first().map(String::as_str) {
        Some("yaml-ignored") => each(|s| {
            let text = s.text.as_ref().expect("generated text");
            let docs: Vec<serde::de::IgnoredAny> =
                serde_saphyr::from_multiple(text).expect("the corpus parses");
            docs.len()
        }),
        Some("extract") => each(move |s| lint::extract(s, &options).objects),
        Some("saphyr-extract") => each(|s| {
            lint::fuzzing::manifests::extract_serde_saphyr(s.text.as_ref().expect("text")).objects
        }),
        #[cfg(feature = "peers")]
        Some("granit") => each(|s| yaml_events::granit(s.text.as_ref().expect("text"))),
        #[cfg(feature = "peers")]
        Some("saphyr-parser") => each(|s| yaml_events::saphyr(s.text.as_ref().expect("text"))),
        #[cfg(feature = "peers")]
        Some("yaml-rust2") => each(|s| yaml_events::yaml_rust2(s.text.as_ref().expect("text"))),
        Some("lint") => {
            let policy = Policy::builder()
                .allow_registry("registry.my.com")
                .build()
                .expect("the policy builds")
                .policy;
            Box::new(move |files| {
                lint::lint(files.iter().cloned(), &options, &policy)
                    .summary()
                    .images
            })
        }
        Some("fix-whole") => {
            let policy = manifests::rewrite_policy();
            Box::new(move |files| {
                let fixed = lint::fix::fix(files.to_vec(), &options, &policy);
                fixed
                    .files
                    .iter()
                    .filter_map(|f| Some(f.change.as_ref()?.diff(&f.name).len()))
                    .sum()
            })
        }
        _ => return usage(),
    };
    let corpus = manifests::generate_bytes(size);
    let bytes = corpus.bytes();
    let files = corpus.into_sources();
    let counted = read_corpus(&files, &*read);
    println!("{bytes} bytes in {} files, {counted} counted", files.len());
    ExitCode::SUCCESS
}
