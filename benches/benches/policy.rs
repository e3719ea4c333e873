//! Policy evaluation: image-policy's compiled policy next to its peers on the
//! same images and the same rules, in the same run.
//!
//! - `image-policy`: parse + evaluate (`Policy::evaluate`) per image.
//! - `regorus`: the Gatekeeper library's `k8sallowedrepos` Rego
//!   (`benches/data/k8sallowedrepos.rego`) on a one-container Pod per image,
//!   with the rules as prefixes (`registry-0.example.com/`, `quay.io/team-1/`).
//! - `cel`: a ValidatingAdmissionPolicy-style CEL expression,
//!   `object.spec.containers.all(c, params.repos.exists(r, c.image.startsWith(r)))`.
//!
//! Policies: 1, 100 and 10,000 registry and repository rules (rule `i` is
//! `registry-{i}.example.com` for even `i`, `quay.io/team-{i}/*` for odd `i`),
//! and 50 regexes. The images are `benches/data/policy/images.txt`; images and
//! policies are in [`image_policy_benches::policy`], shared with the
//! instruction counter (`instructions policy`). The peers'
//! prefixes are looser than our rules (`quay.io/team-1/` also admits
//! `quay.io/team-1/a/b`, `registry-0.example.com` without `/` would admit
//! `registry-0.example.com.evil.io`); they do the same amount of work or less.
//!
//! Run: `cargo bench -p image-policy-benches --bench policy`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use image_policy_benches::policy::{prefixes, regex_policy, regexes, rules};
use image_policy_core::policy::Context;
use std::hint::black_box;
use std::path::Path;

/// The number of images each peer judges per iteration (the slow peers on
/// 10,000 rules take milliseconds per image).
const PEER_IMAGES: usize = 50;

/// A Pod with one container, as Gatekeeper and a ValidatingAdmissionPolicy see it.
fn pod_json(image: &str) -> String {
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "bench", "namespace": "default"},
        "spec": {"containers": [{"name": "app", "image": image}]}
    })
    .to_string()
}

/// The Rego peer: one engine with the policy loaded, the parameters shared.
struct Rego {
    engine: regorus::Engine,
    parameters: regorus::Value,
    pods: Vec<regorus::Value>,
    query: String,
}

impl Rego {
    fn new(file: &str, package: &str, key: &str, params: &[String], images: &[&str]) -> Self {
        let mut engine = regorus::Engine::new();
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("data")
            .join(file);
        engine
            .add_policy_from_file(&path)
            .expect("the Rego policy loads");
        let parameters =
            regorus::Value::from_json_str(&serde_json::json!({ key: params }).to_string())
                .expect("parameters");
        let pods = images
            .iter()
            .map(|i| regorus::Value::from_json_str(&pod_json(i)).expect("pod"))
            .collect();
        Self {
            engine,
            parameters,
            pods,
            query: format!("data.{package}.violation"),
        }
    }

    /// Whether the pod's image is allowed (no violation).
    fn allowed(&mut self, pod: usize) -> bool {
        let mut input = regorus::Value::new_object();
        let map = input.as_object_mut().expect("an object");
        let mut review = regorus::Value::new_object();
        review
            .as_object_mut()
            .expect("an object")
            .insert("object".into(), self.pods[pod].clone());
        map.insert("review".into(), review);
        map.insert("parameters".into(), self.parameters.clone());
        self.engine.set_input(input);
        let violations = self
            .engine
            .eval_rule(self.query.clone())
            .expect("the rule evaluates");
        violations.as_set().map(|s| s.is_empty()).unwrap_or(true)
    }
}

/// The CEL peer: the expression compiled once, the parameters in a parent scope.
struct Cel {
    program: cel_interpreter::Program,
    params: cel_interpreter::Context<'static>,
    pods: Vec<cel_interpreter::Value>,
}

impl Cel {
    fn new(expression: &str, key: &str, params: &[String], images: &[&str]) -> Self {
        let program =
            cel_interpreter::Program::compile(expression).expect("the CEL expression compiles");
        let mut ctx = cel_interpreter::Context::default();
        let mut p = std::collections::HashMap::new();
        p.insert(
            key.to_owned(),
            cel_interpreter::Value::from(params.to_vec()),
        );
        ctx.add_variable_from_value("params", p);
        let pods = images
            .iter()
            .map(|i| {
                let v: serde_json::Value = serde_json::from_str(&pod_json(i)).expect("pod");
                cel_interpreter::to_value(v).expect("a CEL value")
            })
            .collect();
        Self {
            program,
            params: ctx,
            pods,
        }
    }

    fn allowed(&self, pod: usize) -> bool {
        let mut scope = self.params.new_inner_scope();
        scope.add_variable_from_value("object", self.pods[pod].clone());
        matches!(
            self.program.execute(&scope),
            Ok(cel_interpreter::Value::Bool(true))
        )
    }
}

const CEL_PREFIXES: &str =
    "object.spec.containers.all(c, params.repos.exists(r, c.image.startsWith(r)))";
const CEL_REGEXES: &str =
    "object.spec.containers.all(c, params.patterns.exists(p, c.image.matches(p)))";

fn bench_policies(c: &mut Criterion) {
    let images = image_policy_benches::policy::images();
    let peer_images = &images[..PEER_IMAGES];
    let ctx = Context::new().namespace("default");

    let mut group = c.benchmark_group("policy");
    // The baseline: parsing alone, which every evaluation includes.
    group.throughput(Throughput::Elements(images.len() as u64));
    group.bench_with_input(
        BenchmarkId::new("parse-only", "corpus"),
        &images,
        |b, images| {
            b.iter(|| {
                images
                    .iter()
                    .filter(|i| image_policy_core::reference::ImageRef::parse(black_box(i)).is_ok())
                    .count()
            })
        },
    );
    for n in [1usize, 100, 10_000] {
        let policy = rules(n);
        let allowed = images
            .iter()
            .filter(|i| policy.evaluate(i, &ctx).allowed())
            .count();
        eprintln!(
            "policy/{n} rules: {allowed} of {} images allowed",
            images.len()
        );

        group.throughput(Throughput::Elements(images.len() as u64));
        group.bench_with_input(
            BenchmarkId::new("image-policy", format!("{n}-rules")),
            &images,
            |b, images| {
                b.iter(|| {
                    let mut allowed = 0usize;
                    for image in images {
                        allowed += usize::from(policy.evaluate(black_box(image), &ctx).allowed());
                    }
                    allowed
                })
            },
        );

        let params = prefixes(n);
        let mut rego = Rego::new(
            "k8sallowedrepos.rego",
            "k8sallowedrepos",
            "repos",
            &params,
            peer_images,
        );
        let cel = Cel::new(CEL_PREFIXES, "repos", &params, peer_images);
        group.throughput(Throughput::Elements(PEER_IMAGES as u64));
        group.bench_function(
            BenchmarkId::new("regorus-k8sallowedrepos", format!("{n}-rules")),
            |b| b.iter(|| (0..PEER_IMAGES).filter(|&i| rego.allowed(i)).count()),
        );
        group.bench_function(BenchmarkId::new("cel-vap", format!("{n}-rules")), |b| {
            b.iter(|| (0..PEER_IMAGES).filter(|&i| cel.allowed(i)).count())
        });
    }

    let peers_re = regexes().1;
    let policy = regex_policy();
    group.throughput(Throughput::Elements(images.len() as u64));
    group.bench_with_input(
        BenchmarkId::new("image-policy", "50-regexes"),
        &images,
        |b, images| {
            b.iter(|| {
                let mut allowed = 0usize;
                for image in images {
                    allowed += usize::from(policy.evaluate(black_box(image), &ctx).allowed());
                }
                allowed
            })
        },
    );
    let mut rego = Rego::new(
        "k8sallowedrepos-regex.rego",
        "k8sallowedreposregex",
        "patterns",
        &peers_re,
        peer_images,
    );
    let cel = Cel::new(CEL_REGEXES, "patterns", &peers_re, peer_images);
    group.throughput(Throughput::Elements(PEER_IMAGES as u64));
    group.bench_function(
        BenchmarkId::new("regorus-k8sallowedrepos", "50-regexes"),
        |b| b.iter(|| (0..PEER_IMAGES).filter(|&i| rego.allowed(i)).count()),
    );
    group.bench_function(BenchmarkId::new("cel-vap", "50-regexes"), |b| {
        b.iter(|| (0..PEER_IMAGES).filter(|&i| cel.allowed(i)).count())
    });
    group.finish();
}

/// The peers agree with us where their semantics coincide: on the corpus,
/// every image we allow, they allow (their prefixes are looser).
fn check_agreement() {
    let images = image_policy_benches::policy::images();
    let peer_images = &images[..PEER_IMAGES];
    let ctx = Context::new();
    let policy = rules(100);
    let params = prefixes(100);
    let mut rego = Rego::new(
        "k8sallowedrepos.rego",
        "k8sallowedrepos",
        "repos",
        &params,
        peer_images,
    );
    let cel = Cel::new(CEL_PREFIXES, "repos", &params, peer_images);
    for (i, image) in peer_images.iter().enumerate() {
        if policy.evaluate(image, &ctx).allowed() {
            assert!(rego.allowed(i), "regorus denies {image}, which we allow");
            assert!(cel.allowed(i), "CEL denies {image}, which we allow");
        }
    }
}

fn benches(c: &mut Criterion) {
    check_agreement();
    bench_policies(c);
}

criterion_group!(policy_benches, benches);
criterion_main!(policy_benches);
