//! `image-policy lint` throughput on a generated tree of manifests: MB/s of
//! YAML and objects/s.
//!
//! The corpus is [`image_policy_benches::manifests`], made deterministically:
//! files of `---`-separated documents as `helm template` prints them (a
//! Service, a ConfigMap and a Deployment per release, with comments and
//! labels), 4 MiB of YAML in all. The linter is called through its library
//! (`image_policy_lint`), the code the binary runs, without process
//! start or printing.
//!
//! - `lint/yaml-ignored`: serde-saphyr parsing every document into
//!   `IgnoredAny`: the parser's own floor on the same bytes (the peer);
//! - `lint/peer: granit-parser events`, `lint/peer: saphyr-parser events`,
//!   `lint/peer: yaml-rust2 events`: span-keeping parsers at the event level,
//!   nothing built ([`image_policy_benches::yaml_events`]): how fast a reader
//!   on each could at best be;
//! - `lint/extract`: reading the documents into spanned objects and finding
//!   the images (`lint::extract`: the fast path over granit-parser's events,
//!   `lint::fast_yaml`, which takes every file of the corpus);
//! - `lint/saphyr-extract`: the same with serde-saphyr alone
//!   (`manifests::extract_serde_saphyr`, the path before the fast one and
//!   the fallback for files outside its subset);
//! - `lint/lint`: the same plus judging every image with the policy
//!   (`lint::lint`), files on every core;
//! - `lint/files`: `lint/lint` from files in a temporary directory, found
//!   and read as the command does (`walk::walk`, `walk::read`): the whole
//!   reading path, with the file system's cache warm;
//! - `lint/fix-diff`: `lint --fix --diff` without the reading: with the
//!   rewrite rules `registry.my.com=mirror.my.com/cache` and
//!   `docker.io=mirror.my.com/dockerhub` (every image of the corpus matches
//!   one), planning the fix of every file from its sites (read once,
//!   beforehand), applying it and rendering the unified diff in memory
//!   (`fix::plan`, `Fix::apply`, `fix::unified_diff`, which writes the
//!   hunks from the edits);
//! - `lint/fix-whole`: the whole of `lint --fix --diff` but printing:
//!   `fix::fix` (read, plan, check each edit in the fixed text, derive the
//!   fixed file's sites and judge them; files on every core) and every
//!   diff;
//! - `lint-objects/lint`: `lint/lint`, counted in objects.
//!
//! `cargo bench -p image-policy-benches --bench lint -- --warm-up-time 1 --measurement-time 2`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use image_policy_benches::{manifests, yaml_events};
use image_policy_core::policy::Policy;
use image_policy_lint::fuzzing::manifests::extract_serde_saphyr;
use image_policy_lint::{self as lint, walk};
use std::hint::black_box;

/// A parser driven over a file's events, nothing built
/// ([`image_policy_benches::yaml_events`]).
type EventsOnly = fn(&str) -> usize;

/// The corpus as the linter's sources.
fn corpus() -> (Vec<lint::Source>, usize) {
    let corpus = manifests::generate();
    let objects = corpus.objects;
    (corpus.into_sources(), objects)
}

fn bench(c: &mut Criterion) {
    let (sources, objects) = corpus();
    let bytes: usize = sources
        .iter()
        .map(|s| s.text.as_ref().map_or(0, String::len))
        .sum();
    let policy = Policy::builder()
        .allow_registry("registry.my.com")
        .build()
        .expect("the policy builds")
        .policy;
    let options = lint::Options::default();
    // The corpus is what it says: every object read, no problem.
    let check = lint::lint(sources.clone(), &options, &policy);
    let summary = check.summary();
    assert_eq!(summary.objects, objects);
    assert_eq!(summary.problems, 0);

    let mut g = c.benchmark_group("lint");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("yaml-ignored", |b| {
        b.iter(|| {
            for s in &sources {
                let text = s.text.as_ref().expect("text");
                let docs: Vec<serde::de::IgnoredAny> =
                    serde_saphyr::from_multiple(black_box(text)).expect("parses");
                black_box(docs);
            }
        })
    });
    let peers: [(&str, EventsOnly); 3] = [
        ("peer: granit-parser events", yaml_events::granit),
        ("peer: saphyr-parser events", yaml_events::saphyr),
        ("peer: yaml-rust2 events", yaml_events::yaml_rust2),
    ];
    for (name, events) in peers {
        g.bench_function(name, |b| {
            b.iter(|| {
                for s in &sources {
                    black_box(events(black_box(s.text.as_ref().expect("text"))));
                }
            })
        });
    }
    g.bench_function("extract", |b| {
        b.iter(|| {
            for s in &sources {
                black_box(lint::extract(black_box(s), &options));
            }
        })
    });
    g.bench_function("saphyr-extract", |b| {
        b.iter(|| {
            for s in &sources {
                let text = s.text.as_ref().expect("text");
                black_box(extract_serde_saphyr(black_box(text)));
            }
        })
    });
    g.bench_function("lint", |b| {
        b.iter(|| black_box(lint::lint(sources.iter().cloned(), &options, &policy)))
    });
    let dir = tempfile::tempdir().expect("a temporary directory");
    for s in &sources {
        let text = s.text.as_ref().expect("text");
        std::fs::write(dir.path().join(&s.name), text).expect("writing the corpus");
    }
    let paths = [dir.path().to_path_buf()];
    assert_eq!(walk::walk(&paths).files.len(), sources.len());
    g.bench_function("files", |b| {
        b.iter(|| {
            let walked = walk::walk(black_box(&paths));
            black_box(lint::lint(
                walked.files.iter().map(walk::read),
                &options,
                &policy,
            ))
        })
    });
    let rewriting = manifests::rewrite_policy();
    let sites: Vec<Vec<lint::report::ImageSite>> = sources
        .iter()
        .map(|s| lint::extract(s, &options).sites)
        .collect();
    // Every image is rewritten, none refused.
    let planned: usize = sources
        .iter()
        .zip(&sites)
        .map(|(s, sites)| {
            let text = s.text.as_ref().expect("text");
            let fix = lint::fix::plan(text, s.kind, sites, &rewriting, &options);
            assert!(fix.unfixable.is_empty(), "{:?}", fix.unfixable);
            fix.edits.len()
        })
        .sum();
    assert_eq!(planned, summary.images);
    g.bench_function("fix-diff", |b| {
        b.iter(|| {
            for (s, sites) in sources.iter().zip(&sites) {
                let text = s.text.as_ref().expect("text");
                let fix = lint::fix::plan(black_box(text), s.kind, sites, &rewriting, &options);
                black_box(fix.apply(text));
                black_box(lint::fix::unified_diff(&s.name, text, &fix.edits));
            }
        })
    });
    g.bench_function("fix-whole", |b| {
        b.iter(|| {
            let fixed = lint::fix::fix(sources.clone(), &options, &rewriting);
            for f in &fixed.files {
                if let Some(change) = &f.change {
                    black_box(change.diff(&f.name));
                }
            }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("lint-objects");
    g.throughput(Throughput::Elements(objects as u64));
    g.bench_function("lint", |b| {
        b.iter(|| black_box(lint::lint(sources.iter().cloned(), &options, &policy)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
