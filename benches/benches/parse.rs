//! Parsing the image reference corpus (`benches/data/references.txt`, 10,000
//! references, about 10% invalid) with this project's parser and with
//! `oci-spec`'s, in the same run.
//!
//! One iteration parses the whole corpus; the throughput is set to the number
//! of references, so criterion prints references per second, and
//! `bench-report` prints nanoseconds per reference.
//!
//! - `ours: ImageRef::parse`: the borrowed, allocation-free view (an invalid
//!   reference allocates its error).
//! - `ours: Reference::parse`: the owned form (one allocation for the canonical
//!   string).
//! - `peer: oci-spec Reference::from_str`: `oci_spec::distribution::Reference`,
//!   a regular expression and owned strings.
//!
//! Run: `cargo bench -p image-policy-benches --bench parse`

use std::hint::black_box;
use std::str::FromStr;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use image_policy_core::reference::{ImageRef, Reference};

fn parse(c: &mut Criterion) {
    let corpus = image_policy_benches::references();
    let accepted = |parse: &dyn Fn(&str) -> bool| corpus.iter().filter(|s| parse(s)).count();
    eprintln!(
        "corpus: {} references; accepted by ImageRef::parse {}, by oci-spec {}",
        corpus.len(),
        accepted(&|s| ImageRef::parse(s).is_ok()),
        accepted(&|s| oci_spec::distribution::Reference::from_str(s).is_ok()),
    );

    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Elements(corpus.len() as u64));
    group.bench_function("ours: ImageRef::parse", |b| {
        b.iter(|| {
            for s in &corpus {
                let _ = black_box(ImageRef::parse(black_box(s)));
            }
        })
    });
    group.bench_function("ours: Reference::parse", |b| {
        b.iter(|| {
            for s in &corpus {
                let _ = black_box(Reference::parse(black_box(s)));
            }
        })
    });
    group.bench_function("peer: oci-spec Reference::from_str", |b| {
        b.iter(|| {
            for s in &corpus {
                let _ = black_box(oci_spec::distribution::Reference::from_str(black_box(s)));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
