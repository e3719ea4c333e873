//! The webhook handler (decode, decide, encode) on an AdmissionReview of a
//! Deployment with 3 containers and 1 init container, next to the peers doing
//! the same job on the same bytes in the same run:
//!
//! - `image-policy`: [`handle`] with the seed policy (only `registry.my.com`);
//! - `regorus`: the Gatekeeper library's `k8sallowedrepos` Rego
//!   (`benches/data/handler/k8sallowedrepos.rego`, repos `registry.my.com/`),
//!   including the JSON input conversion (body parsed into a Rego value,
//!   Gatekeeper's expansion of the Deployment into its Pod, the `input`
//!   document built) and the encoding of the AdmissionReview response;
//! - `cel`: a ValidatingAdmissionPolicy-style expression
//!   (`benches/data/handler/allowed-repos.cel`) in cel-interpreter, including
//!   the context conversion (body parsed, `object` and `params` turned into
//!   CEL values) and the encoding of the response.
//!
//! Two reviews: `allowed` (the committed
//! `testdata/webhook/admissionreview-deployment.json`) and `denied` (the same
//! with one container's image replaced by `prometheus:2.6.1`). Every
//! participant's answer is checked against the expected decision before
//! measuring.
//!
//! Run: `cargo bench -p image-policy-benches --bench handler`.

use std::hint::black_box;
use std::path::Path;

use cel_interpreter::{Context, Program};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use image_policy_core::policy::Policy;
use image_policy_webhook::handler::{Endpoint, handle};
use serde_json::json;

const REGISTRY: &str = "registry.my.com";

fn read(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The response both peers encode: what the API server needs.
fn encode_response(uid: &str, violations: &[String]) -> Vec<u8> {
    let response = if violations.is_empty() {
        json!({"uid": uid, "allowed": true})
    } else {
        json!({"uid": uid, "allowed": false,
               "status": {"code": 403, "message": violations.join("; ")}})
    };
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": response,
    }))
    .expect("encodable")
}

/// Gatekeeper's k8sallowedrepos in regorus.
struct Rego {
    engine: regorus::Engine,
    parameters: regorus::Value,
}

impl Rego {
    fn new() -> Self {
        let mut engine = regorus::Engine::new();
        engine.set_rego_v0(true);
        engine
            .add_policy(
                "k8sallowedrepos.rego".to_owned(),
                read("data/handler/k8sallowedrepos.rego"),
            )
            .expect("the Rego compiles");
        let parameters =
            regorus::Value::from_json_str(&format!(r#"{{"repos": ["{REGISTRY}/"]}}"#)).unwrap();
        Rego { engine, parameters }
    }

    fn review(&mut self, body: &[u8]) -> Vec<u8> {
        let text = std::str::from_utf8(body).expect("UTF-8");
        let review = regorus::Value::from_json_str(text).expect("JSON");
        let mut request = review["request"].clone();
        let uid = request["uid"].as_string().expect("uid").to_string();
        // Gatekeeper's expansion: the Pod a workload makes from its template.
        let template = &request["object"]["spec"]["template"];
        let mut pod = regorus::Value::new_object();
        {
            let pod = pod.as_object_mut().unwrap();
            pod.insert("apiVersion".into(), "v1".into());
            pod.insert("kind".into(), "Pod".into());
            pod.insert("metadata".into(), template["metadata"].clone());
            pod.insert("spec".into(), template["spec"].clone());
        }
        request
            .as_object_mut()
            .unwrap()
            .insert("object".into(), pod);
        let mut input = regorus::Value::new_object();
        {
            let input = input.as_object_mut().unwrap();
            input.insert("review".into(), request);
            input.insert("parameters".into(), self.parameters.clone());
        }
        self.engine.set_input(input);
        let violations = self
            .engine
            .eval_rule("data.k8sallowedrepos.violation".to_owned())
            .expect("evaluates");
        let messages: Vec<String> = match violations.as_set() {
            Ok(set) => set
                .iter()
                .map(|v| {
                    v["msg"]
                        .as_string()
                        .map(|s| s.to_string())
                        .unwrap_or_default()
                })
                .collect(),
            Err(_) => Vec::new(),
        };
        encode_response(&uid, &messages)
    }
}

/// A ValidatingAdmissionPolicy-style expression in cel-interpreter.
struct Cel {
    program: Program,
    repos: Vec<String>,
}

impl Cel {
    fn new() -> Self {
        let program = Program::compile(read("data/handler/allowed-repos.cel").trim())
            .expect("the CEL compiles");
        Cel {
            program,
            repos: vec![format!("{REGISTRY}/")],
        }
    }

    fn review(&self, body: &[u8]) -> Vec<u8> {
        let review: serde_json::Value = serde_json::from_slice(body).expect("JSON");
        let request = &review["request"];
        let uid = request["uid"].as_str().expect("uid");
        let mut context = Context::default();
        context
            .add_variable("object", &request["object"])
            .expect("object converts");
        context
            .add_variable("params", json!({"repos": self.repos}))
            .expect("params convert");
        let allowed = matches!(
            self.program.execute(&context),
            Ok(cel_interpreter::Value::Bool(true))
        );
        let violations = if allowed {
            Vec::new()
        } else {
            vec!["image is not from an allowed repository".to_owned()]
        };
        encode_response(uid, &violations)
    }
}

fn allowed_of(response: &[u8]) -> bool {
    let v: serde_json::Value = serde_json::from_slice(response).expect("response is JSON");
    v["response"]["allowed"].as_bool().expect("allowed")
}

fn bench_handler(c: &mut Criterion) {
    let allowed = read("../testdata/webhook/admissionreview-deployment.json").into_bytes();
    let mut review: serde_json::Value = serde_json::from_slice(&allowed).unwrap();
    review["request"]["object"]["spec"]["template"]["spec"]["containers"][1]["image"] =
        "prometheus:2.6.1".into();
    let denied = serde_json::to_vec(&review).unwrap();

    let policy = Policy::builder()
        .allow_registry(REGISTRY)
        .build()
        .expect("policy")
        .policy;
    let mut rego = Rego::new();
    let cel = Cel::new();

    let mut group = c.benchmark_group("handler");
    for (name, body, want) in [("allowed", &allowed, true), ("denied", &denied, false)] {
        // Same answer from everyone before anything is measured.
        let ours = handle(&policy, Endpoint::AdmissionReview, body);
        assert_eq!(allowed_of(&ours.body), want, "image-policy on {name}");
        assert_eq!(allowed_of(&rego.review(body)), want, "regorus on {name}");
        assert_eq!(allowed_of(&cel.review(body)), want, "cel on {name}");
        eprintln!("handler/{name}: review of {} bytes", body.len());

        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(format!("image-policy/{name}"), |b| {
            b.iter(|| handle(&policy, Endpoint::AdmissionReview, black_box(body)))
        });
        group.bench_function(format!("regorus/{name}"), |b| {
            b.iter(|| rego.review(black_box(body)))
        });
        group.bench_function(format!("cel/{name}"), |b| {
            b.iter(|| cel.review(black_box(body)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_handler);
criterion_main!(benches);
