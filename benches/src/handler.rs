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
//!   values) and the encoding of the response;
//! - [`ExportedCel`]: the same policy exported by `image-policy export
//!   --format validating-admission-policy` (exact, as [`ExportedRego`]), in
//!   cel-interpreter with Kubernetes' string functions
//!   ([`crate::cel_strings`]), evaluated as the API server evaluates a
//!   ValidatingAdmissionPolicy, including the same conversions and encoding
//!   as [`Cel`].
//!
//! [`Rego`] and [`Cel`] are the loose peers (a prefix of the string as
//! written: `registry.my.com/UPPER` passes them, though no runtime can pull
//! it), [`ExportedRego`] and [`ExportedCel`] the exact ones, which decide as
//! we do (`tests/exact_peers.rs`).
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

/// [`policy`] exported as a ValidatingAdmissionPolicy (`image-policy export
/// --format validating-admission-policy`; the Kyverno export holds the same
/// CEL), run in cel-interpreter as the API server runs it: `object`,
/// `oldObject`, `request` (the request's other fields) and `params` (null:
/// the policy has no `paramKind`) as variables, the policy's `variables` in
/// order, each seeing the ones before it as `variables`, then each
/// validation's `expression` and, when it fails, its `messageExpression`. An
/// evaluation error denies, as `failurePolicy: Fail` does. The string
/// functions the export calls are Kubernetes' ([`crate::cel_strings`]). The
/// API server evaluates `variables` lazily; this evaluates each once, which
/// the export's CEL needs anyway (every variable is used).
#[cfg(feature = "peers")]
pub struct ExportedCel {
    functions: Context<'static>,
    variables: Vec<(String, Program)>,
    validations: Vec<Validation>,
}

/// One of the export's `validations`.
#[cfg(feature = "peers")]
struct Validation {
    expression: Program,
    message: String,
    message_expression: Option<Program>,
}

#[cfg(feature = "peers")]
impl Default for ExportedCel {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(feature = "peers")]
impl ExportedCel {
    /// The export of [`policy`], its expressions compiled.
    pub fn new() -> Self {
        use image_policy_export::{ExportFormat, ExportOptions, export};
        let text = export(
            &policy(),
            ExportFormat::ValidatingAdmissionPolicy,
            &ExportOptions::default(),
        )
        .expect("the policy exports")
        .text;
        let docs: Vec<serde_json::Value> =
            serde_saphyr::from_multiple(&text).expect("the export is YAML");
        let spec = &docs[0]["spec"];
        assert_eq!(docs[0]["kind"], "ValidatingAdmissionPolicy", "{text}");
        let compile = |what: &serde_json::Value| {
            let source = what.as_str().expect("an expression");
            Program::compile(source).unwrap_or_else(|e| panic!("{source}: {e}"))
        };
        let variables = spec["variables"]
            .as_array()
            .expect("variables")
            .iter()
            .map(|v| {
                let name = v["name"].as_str().expect("a name").to_owned();
                (name, compile(&v["expression"]))
            })
            .collect();
        let validations = spec["validations"]
            .as_array()
            .expect("validations")
            .iter()
            .map(|v| Validation {
                expression: compile(&v["expression"]),
                message: v["message"].as_str().unwrap_or_default().to_owned(),
                message_expression: v.get("messageExpression").map(compile),
            })
            .collect();
        let mut functions = Context::default();
        crate::cel_strings::install(&mut functions);
        ExportedCel {
            functions,
            variables,
            validations,
        }
    }

    /// Answers one AdmissionReview.
    pub fn review(&self, body: &[u8]) -> Vec<u8> {
        let review: serde_json::Value = serde_json::from_slice(body).expect("JSON");
        let request = &review["request"];
        let uid = request["uid"].as_str().expect("uid");
        let violations = match self.violations(request) {
            Ok(violations) => violations,
            Err(e) => vec![format!("the policy's CEL failed: {e}")],
        };
        encode_response(uid, &violations)
    }

    /// The messages of the validations that fail on `request`.
    fn violations(
        &self,
        request: &serde_json::Value,
    ) -> Result<Vec<String>, cel_interpreter::ExecutionError> {
        use cel_interpreter::Value;
        use std::collections::HashMap;

        let convert =
            |v: &serde_json::Value| cel_interpreter::to_value(v).expect("JSON converts to CEL");
        let mut scope = self.functions.new_inner_scope();
        let null = serde_json::Value::Null;
        scope.add_variable_from_value("object", convert(request.get("object").unwrap_or(&null)));
        scope.add_variable_from_value(
            "oldObject",
            convert(request.get("oldObject").unwrap_or(&null)),
        );
        let mut attributes = request.as_object().expect("an object").clone();
        attributes.remove("object");
        attributes.remove("oldObject");
        scope.add_variable_from_value("request", convert(&serde_json::Value::Object(attributes)));
        scope.add_variable_from_value("params", Value::Null);

        let mut variables: HashMap<String, Value> = HashMap::new();
        for (name, program) in &self.variables {
            scope.add_variable_from_value("variables", variables.clone());
            let value = program.execute(&scope)?;
            variables.insert(name.clone(), value);
        }
        scope.add_variable_from_value("variables", variables);

        let mut violations = Vec::new();
        for validation in &self.validations {
            match validation.expression.execute(&scope)? {
                Value::Bool(true) => {}
                Value::Bool(false) => {
                    let message = match &validation.message_expression {
                        Some(program) => match program.execute(&scope)? {
                            Value::String(s) => s.to_string(),
                            _ => validation.message.clone(),
                        },
                        None => validation.message.clone(),
                    };
                    violations.push(message);
                }
                other => violations.push(format!("the validation gave {other:?}")),
            }
        }
        Ok(violations)
    }
}
