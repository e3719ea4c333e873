//! The webhook handler's benchmark participants, shared by the criterion bench
//! (`benches/handler.rs`) and the instruction counter
//! (`instructions handler`, run by `callgrind-handler.sh` and `gate.sh`), so both measure
//! the same code on the same bytes:
//!
//! - image-policy: `image_policy_webhook::handler::handle` with [`policy`]
//!   (only [`REGISTRY`]); and its `/mutate` with [`rewrite_policy`];
//! - [`Rego`]: the Gatekeeper library's `k8sallowedrepos` Rego in regorus
//!   (`data/handler/k8sallowedrepos.rego`, repos `registry.my.com/`),
//!   including the JSON input conversion (body parsed into a Rego value,
//!   Gatekeeper's expansion of the Deployment into its Pod, the `input`
//!   document built) and the encoding of the AdmissionReview response;
//! - [`ExportedRego`]: the same policy exported by `image-policy export
//!   --format gatekeeper` (exact: the reference grammar, normalization, every
//!   container list and image volume of every kind), in regorus with the
//!   constraint's parameters, the review given as Gatekeeper gives it (no
//!   expansion: the Rego reads the Deployment's template), including the
//!   same conversions and encoding as [`Rego`];
//! - [`Cel`]: a ValidatingAdmissionPolicy-style expression
//!   (`data/handler/allowed-repos.cel`) in cel-interpreter, including the
//!   context conversion (body parsed, `object` and `params` turned into CEL
//!   values) and the encoding of the response.
//!
//! The reviews ([`reviews`]): `allowed` (the committed
//! `testdata/webhook/admissionreview-deployment.json`) and `denied` (the same
//! with one container's image replaced by `prometheus:2.6.1`).

#[cfg(feature = "peers")]
use cel_interpreter::{Context, Program};
use image_policy_core::policy::Policy;
#[cfg(feature = "peers")]
use serde_json::json;

/// The one registry the policy allows.
pub const REGISTRY: &str = "registry.my.com";

const ALLOWED_REVIEW: &str = include_str!("../../testdata/webhook/admissionreview-deployment.json");
#[cfg(feature = "peers")]
const REGO: &str = include_str!("../data/handler/k8sallowedrepos.rego");
#[cfg(feature = "peers")]
const CEL: &str = include_str!("../data/handler/allowed-repos.cel");

/// The reviews, by name, with the answer every participant must give:
/// `("allowed", body, true)` and `("denied", body, false)`.
pub fn reviews() -> [(&'static str, Vec<u8>, bool); 2] {
    let allowed = ALLOWED_REVIEW.as_bytes().to_vec();
    let mut review: serde_json::Value =
        serde_json::from_slice(&allowed).expect("the committed review is JSON");
    review["request"]["object"]["spec"]["template"]["spec"]["containers"][1]["image"] =
        "prometheus:2.6.1".into();
    let denied = serde_json::to_vec(&review).expect("encodable");
    [("allowed", allowed, true), ("denied", denied, false)]
}

/// Our policy: only [`REGISTRY`].
pub fn policy() -> Policy {
    Policy::builder()
        .allow_registry(REGISTRY)
        .build()
        .expect("the policy compiles")
        .policy
}

/// [`policy`] with rewrite rules that move every image of the reviews to
/// another path of [`REGISTRY`] (so the rewritten images are allowed too):
/// the policy of `/mutate` in the bench.
pub fn rewrite_policy() -> Policy {
    let mut builder = Policy::builder().allow_registry(REGISTRY);
    for team in ["shop", "mirror", "observability"] {
        builder = builder.rewrite(
            &format!("{REGISTRY}/{team}"),
            &format!("{REGISTRY}/cache/{team}"),
        );
    }
    builder.build().expect("the policy compiles").policy
}

/// `response.allowed` of an AdmissionReview response.
pub fn allowed_of(response: &[u8]) -> bool {
    let v: serde_json::Value = serde_json::from_slice(response).expect("response is JSON");
    v["response"]["allowed"].as_bool().expect("allowed")
}

#[cfg(feature = "peers")]
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
#[cfg(feature = "peers")]
pub struct Rego {
    engine: regorus::Engine,
    parameters: regorus::Value,
}

#[cfg(feature = "peers")]
impl Default for Rego {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(feature = "peers")]
impl Rego {
    /// The policy compiled, with repos `registry.my.com/`.
    pub fn new() -> Self {
        let mut engine = regorus::Engine::new();
        engine.set_rego_v0(true);
        engine
            .add_policy("k8sallowedrepos.rego".to_owned(), REGO.to_owned())
            .expect("the Rego compiles");
        let parameters = regorus::Value::from_json_str(&format!(r#"{{"repos": ["{REGISTRY}/"]}}"#))
            .expect("parameters");
        Rego { engine, parameters }
    }

    /// Answers one AdmissionReview.
    pub fn review(&mut self, body: &[u8]) -> Vec<u8> {
        let text = std::str::from_utf8(body).expect("UTF-8");
        let review = regorus::Value::from_json_str(text).expect("JSON");
        let mut request = review["request"].clone();
        let uid = request["uid"].as_string().expect("uid").to_string();
        // Gatekeeper's expansion: the Pod a workload makes from its template.
        let template = &request["object"]["spec"]["template"];
        let mut pod = regorus::Value::new_object();
        {
            let pod = pod.as_object_mut().expect("an object");
            pod.insert("apiVersion".into(), "v1".into());
            pod.insert("kind".into(), "Pod".into());
            pod.insert("metadata".into(), template["metadata"].clone());
            pod.insert("spec".into(), template["spec"].clone());
        }
        request
            .as_object_mut()
            .expect("an object")
            .insert("object".into(), pod);
        let mut input = regorus::Value::new_object();
        {
            let input = input.as_object_mut().expect("an object");
            input.insert("review".into(), request);
            input.insert("parameters".into(), self.parameters.clone());
        }
        self.engine.set_input(input);
        let violations = self
            .engine
            .eval_rule("data.k8sallowedrepos.violation".to_owned())
            .expect("evaluates");
        encode_response(&uid, &violation_messages(&violations))
    }
}

/// The `msg` of each violation a Gatekeeper-style `violation` rule made.
#[cfg(feature = "peers")]
fn violation_messages(violations: &regorus::Value) -> Vec<String> {
    match violations.as_set() {
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
    }
}

/// [`policy`] exported as a Gatekeeper ConstraintTemplate and constraint,
/// in regorus.
#[cfg(feature = "peers")]
pub struct ExportedRego {
    engine: regorus::Engine,
    parameters: regorus::Value,
    query: String,
}

#[cfg(feature = "peers")]
impl Default for ExportedRego {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(feature = "peers")]
impl ExportedRego {
    /// The export of [`policy`], compiled as Gatekeeper reads it.
    pub fn new() -> Self {
        use image_policy_export::{ExportFormat, ExportOptions, export};
        let text = export(
            &policy(),
            ExportFormat::Gatekeeper,
            &ExportOptions::default(),
        )
        .expect("the policy exports")
        .text;
        let docs: Vec<serde_json::Value> =
            serde_saphyr::from_multiple(&text).expect("the export is YAML");
        let package = docs[0]["metadata"]["name"].as_str().expect("a name");
        let rego = docs[0]["spec"]["targets"][0]["rego"]
            .as_str()
            .expect("the Rego");
        let mut engine = regorus::Engine::new();
        engine.set_rego_v0(true);
        engine
            .add_policy("template.rego".to_owned(), rego.to_owned())
            .expect("the Rego compiles");
        let parameters = regorus::Value::from_json_str(&docs[1]["spec"]["parameters"].to_string())
            .expect("parameters");
        ExportedRego {
            engine,
            parameters,
            query: format!("data.{package}.violation"),
        }
    }

    /// Answers one AdmissionReview.
    pub fn review(&mut self, body: &[u8]) -> Vec<u8> {
        let text = std::str::from_utf8(body).expect("UTF-8");
        let review = regorus::Value::from_json_str(text).expect("JSON");
        let request = review["request"].clone();
        let uid = request["uid"].as_string().expect("uid").to_string();
        let mut input = regorus::Value::new_object();
        {
            let input = input.as_object_mut().expect("an object");
            input.insert("review".into(), request);
            input.insert("parameters".into(), self.parameters.clone());
        }
        self.engine.set_input(input);
        let violations = self
            .engine
            .eval_rule(self.query.clone())
            .expect("evaluates");
        encode_response(&uid, &violation_messages(&violations))
    }
}

/// A ValidatingAdmissionPolicy-style expression in cel-interpreter.
#[cfg(feature = "peers")]
pub struct Cel {
    program: Program,
    repos: Vec<String>,
}

#[cfg(feature = "peers")]
impl Default for Cel {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(feature = "peers")]
impl Cel {
    /// The expression compiled, with repos `registry.my.com/`.
    pub fn new() -> Self {
        let program = Program::compile(CEL.trim()).expect("the CEL compiles");
        Cel {
            program,
            repos: vec![format!("{REGISTRY}/")],
        }
    }

    /// Answers one AdmissionReview.
    pub fn review(&self, body: &[u8]) -> Vec<u8> {
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
