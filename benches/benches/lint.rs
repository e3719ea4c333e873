//! `image-policy lint` throughput on a generated tree of manifests: MB/s of
//! YAML and objects/s.
//!
//! The corpus is made here, deterministically: files of `---`-separated
//! documents as `helm template` prints them (a Service, a ConfigMap and a
//! Deployment per release, with comments and labels), 4 MiB of YAML in all.
//! The linter is called through its library (`image_policy_cli::lint`), the
//! code the binary runs, without process start or file I/O.
//!
//! - `lint/yaml-ignored`: serde-saphyr parsing every document into
//!   `IgnoredAny`: the parser's own floor on the same bytes (the peer);
//! - `lint/extract`: reading the documents into spanned objects and finding
//!   the images (`lint::extract`);
//! - `lint/lint`: the same plus judging every image with the policy
//!   (`lint::lint`);
//! - `lint-objects/lint`: the last, counted in objects.
//!
//! `cargo bench -p image-policy-benches --bench lint -- --warm-up-time 1 --measurement-time 2`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use image_policy_cli::lint::{self, judge, walk};
use image_policy_core::policy::Policy;
use std::fmt::Write;
use std::hint::black_box;

/// Bytes of YAML in the corpus.
const CORPUS_BYTES: usize = 4 << 20;
/// Releases per file.
const RELEASES_PER_FILE: usize = 40;

fn release(out: &mut String, n: usize) {
    let registry = if n.is_multiple_of(3) {
        "docker.io/library"
    } else {
        "registry.my.com/shop"
    };
    write!(
        out,
        "---
# Source: app-{n}/templates/service.yaml
apiVersion: v1
kind: Service
metadata:
  name: app-{n}
  labels:
    app.kubernetes.io/name: app-{n}
    app.kubernetes.io/instance: release-{n}
    helm.sh/chart: app-1.2.{n}
spec:
  type: ClusterIP
  ports:
    - port: 80
      targetPort: http
      protocol: TCP
      name: http
  selector:
    app.kubernetes.io/name: app-{n}
---
# Source: app-{n}/templates/configmap.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: app-{n}-config
data:
  LOG_LEVEL: info
  FEATURE_FLAGS: \"a,b,c\"
---
# Source: app-{n}/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-{n}
  namespace: team-{team}
  labels:
    app.kubernetes.io/name: app-{n}
  annotations:
    deployment.kubernetes.io/revision: \"3\"
spec:
  replicas: 2
  selector:
    matchLabels:
      app.kubernetes.io/name: app-{n}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: app-{n}
    spec:
      serviceAccountName: app-{n}
      securityContext:
        runAsNonRoot: true
      initContainers:
        - name: migrate
          image: \"{registry}/migrate:1.{n}.0\"
          args: [\"--wait\", \"--timeout=60s\"]
      containers:
        - name: app
          image: \"{registry}/app-{n}:2.{n}.1\"
          imagePullPolicy: IfNotPresent
          ports:
            - name: http
              containerPort: 8080
              protocol: TCP
          env:
            - name: DATABASE_URL
              valueFrom:
                secretKeyRef: {{name: db, key: url}}
          livenessProbe:
            httpGet: {{path: /healthz, port: http}}
          resources:
            limits: {{cpu: 500m, memory: 256Mi}}
            requests: {{cpu: 100m, memory: 128Mi}}
        - name: sidecar
          image: registry.my.com/mirror/envoyproxy/envoy:v1.31.0
",
        team = n % 7,
    )
    .expect("writing to a String");
}

/// The corpus: files of `RELEASES_PER_FILE` releases, until `CORPUS_BYTES`.
fn corpus() -> (Vec<walk::Source>, usize) {
    let mut sources = Vec::new();
    let mut total = 0;
    let mut n = 0;
    while total < CORPUS_BYTES {
        let mut text = String::new();
        for _ in 0..RELEASES_PER_FILE {
            release(&mut text, n);
            n += 1;
        }
        total += text.len();
        sources.push(walk::Source {
            name: format!("release-{}.yaml", sources.len()),
            kind: walk::SourceKind::Manifests,
            text: Ok(text),
        });
    }
    // Three objects per release.
    (sources, n * 3)
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
    let check = lint::lint(sources.clone(), &options, |s| {
        judge::with_policy(&policy, s)
    });
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
    g.bench_function("extract", |b| {
        b.iter(|| {
            for s in &sources {
                black_box(lint::extract(black_box(s), &options));
            }
        })
    });
    g.bench_function("lint", |b| {
        b.iter(|| {
            black_box(lint::lint(sources.iter().cloned(), &options, |s| {
                judge::with_policy(&policy, s)
            }))
        })
    });
    g.finish();

    let mut g = c.benchmark_group("lint-objects");
    g.throughput(Throughput::Elements(objects as u64));
    g.bench_function("lint", |b| {
        b.iter(|| {
            black_box(lint::lint(sources.iter().cloned(), &options, |s| {
                judge::with_policy(&policy, s)
            }))
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
