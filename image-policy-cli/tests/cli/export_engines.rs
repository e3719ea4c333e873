//! `export --format gatekeeper` and `export --format kyverno`, tested
//! against the engines: the Rego with regorus (given the AdmissionReview as
//! Gatekeeper gives it: `input.review`, `input.parameters`), the Kyverno
//! rules' CEL with Google's CEL runtime (`vap_eval.py`, which evaluates the
//! variables, preconditions and expressions as the API server's validator
//! does, and Kyverno runs that validator). Never wider than `check` on any
//! input, equal where the export has no warning.
//!
//! The corpus and the requests are the VAP export's (`export.rs`): every
//! policy of `testdata/policy/decisions/` and `testdata/export/policies.yaml`
//! in every pod-bearing kind and image slot, and generated policies with
//! rewrites. Each policy sees a share of the corpus, one image in N:
//! `EXPORT_ENGINES_SHARE` for the Rego (default 100; regorus is built with
//! its `cache` feature, which keeps each `regex.match` pattern compiled as
//! Gatekeeper's OPA does, instead of compiling it on every call: a fifth
//! of the time) and
//! `EXPORT_ENGINES_CEL_SHARE` for the CEL (default 100: the VAP test already
//! runs that runtime on a fifth of it). `EXPORT_ENGINES_GENERATED` is the
//! number of generated policies (default 12), each judged on one generated
//! name in `EXPORT_ENGINES_NAMES_SHARE` (default 16).

use super::export::{
    Case, admission_requests, corpus, engine, env_or, exported, exported_lossy, fixtures,
    generated_policies, policies, root, vap_eval, with_deny_regex,
};
use image_policy_core::policy::Policy;
use image_policy_core::reference::ImageRef;
use image_policy_export::{ExportFormat, ExportOptions};
use serde_json::{Value, json};

/// A Gatekeeper export in regorus: the template's Rego, and each
/// constraint's parameters, action and namespace match.
struct Gatekeeper {
    engine: regorus::Engine,
    query: String,
    constraints: Vec<Constraint>,
}

struct Constraint {
    action: String,
    parameters: regorus::Value,
    namespaces: Option<Vec<String>>,
    excluded: Vec<String>,
}

impl Gatekeeper {
    fn new(text: &str) -> Gatekeeper {
        let docs: Vec<Value> = serde_saphyr::from_multiple(text).unwrap();
        let template = &docs[0];
        assert_eq!(template["kind"], "ConstraintTemplate", "{text}");
        let rego = template["spec"]["targets"][0]["rego"].as_str().unwrap();
        let package = template["metadata"]["name"].as_str().unwrap();
        let kind = template["spec"]["crd"]["spec"]["names"]["kind"]
            .as_str()
            .unwrap();
        assert_eq!(kind.to_ascii_lowercase(), package);
        // Gatekeeper reads `rego:` as Rego v0 (the `import rego.v1` makes it
        // v1 syntax there); it compiles as v1 too.
        let mut v1 = regorus::Engine::new();
        v1.add_policy("template.rego".to_owned(), rego.to_owned())
            .unwrap_or_else(|e| panic!("the Rego compiles as v1: {e}"));
        let mut engine = regorus::Engine::new();
        engine.set_rego_v0(true);
        engine
            .add_policy("template.rego".to_owned(), rego.to_owned())
            .unwrap_or_else(|e| panic!("the Rego compiles as Gatekeeper reads it: {e}"));
        let constraints = docs[1..]
            .iter()
            .map(|c| {
                assert_eq!(c["kind"], kind);
                let names = |key: &str| -> Option<Vec<String>> {
                    c["spec"]["match"].get(key).map(|v| {
                        v.as_array()
                            .unwrap()
                            .iter()
                            .map(|n| n.as_str().unwrap().to_owned())
                            .collect()
                    })
                };
                Constraint {
                    action: c["spec"]["enforcementAction"].as_str().unwrap().to_owned(),
                    parameters: regorus::Value::from_json_str(&c["spec"]["parameters"].to_string())
                        .unwrap(),
                    namespaces: names("namespaces"),
                    excluded: names("excludedNamespaces").unwrap_or_default(),
                }
            })
            .collect();
        Gatekeeper {
            engine,
            query: format!("data.{package}.violation"),
            constraints,
        }
    }

    /// Whether the `deny` constraints that match the request admit it, and
    /// their messages.
    fn admits(&mut self, request: &Value) -> (bool, Vec<String>) {
        let ns = request["namespace"].as_str().unwrap_or_default();
        let review = regorus::Value::from_json_str(&request.to_string()).unwrap();
        let mut messages = Vec::new();
        for c in &self.constraints {
            let matched = c
                .namespaces
                .as_ref()
                .is_none_or(|n| n.iter().any(|x| x == ns))
                && !c.excluded.iter().any(|x| x == ns);
            if c.action != "deny" || !matched {
                continue;
            }
            let mut input = regorus::Value::new_object();
            {
                let input = input.as_object_mut().unwrap();
                input.insert("review".into(), review.clone());
                input.insert("parameters".into(), c.parameters.clone());
            }
            self.engine.set_input(input);
            let violations = self
                .engine
                .eval_rule(self.query.clone())
                .unwrap_or_else(|e| panic!("the Rego evaluates: {e}"));
            for v in violations.as_set().unwrap().iter() {
                messages.push(v["msg"].as_string().unwrap().to_string());
            }
        }
        (messages.is_empty(), messages)
    }
}

/// The Kyverno export's rules, each as the ValidatingAdmissionPolicy that
/// `vap_eval.py` evaluates (Kyverno hands `variables`, `expressions` and
/// `celPreconditions` to the API server's validator), with its action.
fn kyverno_as_vaps(text: &str) -> Vec<(String, String)> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text).unwrap();
    docs.iter()
        .map(|p| {
            assert_eq!(p["kind"], "ClusterPolicy", "{text}");
            let rules = p["spec"]["rules"].as_array().unwrap();
            assert_eq!(rules.len(), 1);
            let rule = &rules[0];
            let mut spec = json!({
                "variables": rule["validate"]["cel"]["variables"],
                "validations": rule["validate"]["cel"]["expressions"],
            });
            if let Some(c) = rule.get("celPreconditions") {
                spec["matchConditions"] = c.clone();
            }
            let vap = json!({
                "apiVersion": "admissionregistration.k8s.io/v1",
                "kind": "ValidatingAdmissionPolicy",
                "metadata": {"name": p["metadata"]["name"]},
                "spec": spec,
            });
            (
                image_policy_export::to_yaml(&vap),
                p["spec"]["validationFailureAction"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect()
}

/// Whether the engine's verdict must equal `check`'s for this image (the
/// exceptions every CEL/Rego export shares, see the VAP test).
fn comparable(image: &str) -> bool {
    ImageRef::parse(image).is_ok_and(|r| !r.domain().is_empty() && !r.domain().starts_with('['))
        || ImageRef::parse(image).is_err()
}

/// What one engine decided on the requests of one policy, checked.
fn judge(
    format: ExportFormat,
    name: &str,
    text: &str,
    exact: bool,
    expected: &[(&String, String, bool)],
    got: &[(bool, String)],
    counts: &mut (usize, usize),
) {
    for ((image, ns, want), (admitted, answer)) in expected.iter().zip(got) {
        counts.0 += 1;
        assert!(
            !admitted || *want,
            "{name}: {image:?} in {ns}: {format} admits it, check denies\n{text}"
        );
        if exact && comparable(image) {
            counts.1 += 1;
            assert_eq!(
                admitted, want,
                "{name}: {image:?} in {ns}: {format} and check differ: {answer}\n{text}"
            );
        }
    }
}

fn images_for(all: &[String], k: usize, share: usize) -> Vec<&String> {
    all.iter()
        .enumerate()
        .filter(|(n, _)| (n + k).is_multiple_of(share))
        .map(|(_, i)| i)
        .collect()
}

fn gatekeeper_answers(text: &str, requests: &[Value]) -> Vec<(bool, String)> {
    let mut gk = Gatekeeper::new(text);
    requests
        .iter()
        .map(|r| {
            let (ok, messages) = gk.admits(r);
            (ok, messages.join("; "))
        })
        .collect()
}

fn kyverno_answers(text: &str, requests: &[Value]) -> Vec<(bool, String)> {
    let mut out = vec![(true, String::new()); requests.len()];
    for (vap, action) in kyverno_as_vaps(text) {
        // Only Enforce blocks; Audit reports (and warns).
        if action != "Enforce" {
            continue;
        }
        for (o, answer) in out.iter_mut().zip(vap_eval(&vap, requests)) {
            if answer["allowed"] == false {
                *o = (false, answer.to_string());
            }
        }
    }
    out
}

#[test]
fn gatekeeper_decides_as_check_in_every_kind() {
    let share = env_or("EXPORT_ENGINES_SHARE", 100) as usize;
    let fixtures = fixtures();
    let all = corpus();
    let (mut exported_n, mut counts) = (0, (0, 0));
    for (k, case) in policies().into_iter().enumerate() {
        let Some(e) = exported(&case.policy, &case.name, ExportFormat::Gatekeeper) else {
            continue;
        };
        exported_n += 1;
        let images = images_for(&all, k, share);
        let (requests, expected) = admission_requests(&case, &images, &fixtures);
        let got = gatekeeper_answers(&e.text, &requests);
        let exact = e.warnings.is_empty();
        judge(
            ExportFormat::Gatekeeper,
            &case.name,
            &e.text,
            exact,
            &expected,
            &got,
            &mut counts,
        );
    }
    eprintln!(
        "gatekeeper: {exported_n} policies exported, {} decisions compared, {} asserted equal",
        counts.0, counts.1
    );
    assert!(
        exported_n >= 20 && counts.1 > 500,
        "the corpus exercises the export"
    );
}

#[test]
fn kyverno_decides_as_check_in_every_kind() {
    if engine("IMAGE_POLICY_VAP_PYTHON", "venv/bin/python").is_none() {
        return;
    }
    let share = env_or("EXPORT_ENGINES_CEL_SHARE", 100) as usize;
    let fixtures = fixtures();
    // cel-expr-python cuts strings at a NUL (see the VAP test).
    let all: Vec<String> = corpus()
        .into_iter()
        .filter(|i| i.len() < 4096 && !i.contains('\0'))
        .collect();
    let (mut exported_n, mut counts) = (0, (0, 0));
    for (k, case) in policies().into_iter().enumerate() {
        let Some(e) = exported(&case.policy, &case.name, ExportFormat::Kyverno) else {
            continue;
        };
        exported_n += 1;
        let images = images_for(&all, k, share);
        let (requests, expected) = admission_requests(&case, &images, &fixtures);
        let got = kyverno_answers(&e.text, &requests);
        judge(
            ExportFormat::Kyverno,
            &case.name,
            &e.text,
            e.warnings.is_empty(),
            &expected,
            &got,
            &mut counts,
        );
    }
    eprintln!(
        "kyverno: {exported_n} policies exported, {} decisions compared, {} asserted equal",
        counts.0, counts.1
    );
    assert!(
        exported_n >= 20 && counts.1 > 100,
        "the corpus exercises the export"
    );
}

/// Generated policies with rewrites, namespaces and tag rules (and, for
/// `--lossy`, a deny regex no format expresses): never wider than `check`
/// in either engine, on generated names around each policy's hosts.
#[test]
fn generated_policies_are_never_wider_in_gatekeeper_and_kyverno() {
    let n = env_or("EXPORT_ENGINES_GENERATED", 12) as usize;
    let names_share = env_or("EXPORT_ENGINES_NAMES_SHARE", 16) as usize;
    let with_cel = engine("IMAGE_POLICY_VAP_PYTHON", "venv/bin/python").is_some();
    let fixtures = fixtures();
    let names = super::export::generated_names();
    let mut policies: Vec<(String, Policy, bool)> = Vec::new();
    for (k, (name, policy)) in generated_policies(n, 23).into_iter().enumerate() {
        if let Some((lossy_name, lossy)) = with_deny_regex(&name, k) {
            policies.push((lossy_name, lossy, true));
        }
        policies.push((name, policy, false));
    }
    let mut compared = 0;
    for (k, (name, policy, lossy)) in policies.into_iter().enumerate() {
        let images: Vec<&String> = images_for(&names, k, names_share);
        let case = Case {
            name: name.clone(),
            namespaces: vec!["default".to_owned(), "team-a".to_owned()],
            exempt: Vec::new(),
            break_glass: None,
            policy,
        };
        let (requests, expected) = admission_requests(&case, &images, &fixtures);
        for format in [ExportFormat::Gatekeeper, ExportFormat::Kyverno] {
            if format == ExportFormat::Kyverno && !with_cel {
                continue;
            }
            let e = if lossy {
                exported_lossy(&case.policy, &name, format)
            } else {
                exported(&case.policy, &name, format)
            };
            let Some(e) = e else { continue };
            let got = match format {
                ExportFormat::Gatekeeper => gatekeeper_answers(&e.text, &requests),
                _ => kyverno_answers(&e.text, &requests),
            };
            let mut counts = (0, 0);
            judge(format, &name, &e.text, false, &expected, &got, &mut counts);
            compared += counts.0;
        }
    }
    assert!(compared > 100, "the generated policies are judged");
}

/// Every example policy exports in both formats; the Rego compiles, the
/// constraints and rules match the nine pod-bearing kinds.
#[test]
fn every_example_exports_as_gatekeeper_and_kyverno() {
    let mut files: Vec<_> = std::fs::read_dir(root().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "{files:?}");
    let nine = [
        "Pod",
        "PodTemplate",
        "ReplicationController",
        "Deployment",
        "ReplicaSet",
        "StatefulSet",
        "DaemonSet",
        "Job",
        "CronJob",
    ];
    for file in files {
        let path = file.display().to_string();
        for format in ["gatekeeper", "kyverno"] {
            let mut args = vec!["export", "--format", format, "--policy", &path];
            // Gatekeeper does not carry exemptions yet: refused without
            // --lossy, which drops them (narrower).
            if path.ends_with("exempt.yaml") && format == "gatekeeper" {
                args.push("--lossy");
            }
            let out = super::run(&args, None);
            let text = String::from_utf8_lossy(&out.stdout);
            assert_eq!(
                super::code(&out),
                0,
                "{path} {format}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let docs: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap();
            let mut kinds: Vec<String> = Vec::new();
            if format == "gatekeeper" {
                Gatekeeper::new(&text);
                for c in &docs[1..] {
                    kinds = c["spec"]["match"]["kinds"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .flat_map(|g| g["kinds"].as_array().unwrap().clone())
                        .map(|k| k.as_str().unwrap().to_owned())
                        .collect();
                    assert!(
                        ["deny", "warn", "dryrun"]
                            .contains(&c["spec"]["enforcementAction"].as_str().unwrap())
                    );
                }
            } else {
                for p in &docs {
                    let rule = &p["spec"]["rules"][0];
                    kinds = rule["match"]["any"][0]["resources"]["kinds"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|k| k.as_str().unwrap().to_owned())
                        .collect();
                    assert!(kinds.contains(&"Pod/ephemeralcontainers".to_owned()));
                    assert_eq!(p["spec"]["failurePolicy"], "Fail");
                    assert_eq!(
                        p["metadata"]["annotations"]["pod-policies.kyverno.io/autogen-controllers"],
                        "none"
                    );
                }
            }
            for k in nine {
                assert!(kinds.iter().any(|x| x == k), "{path} {format}: {k}");
            }
        }
    }
}

/// Modes: one constraint (one ClusterPolicy) per mode, each matching its
/// namespaces, and the unparseable images denied in every mode.
#[test]
fn modes_map_to_each_engines_actions() {
    let policy = Policy::from_yaml_str(
        &std::fs::read_to_string(root().join("examples/multi-team.yaml")).unwrap(),
        "multi-team.yaml",
    )
    .unwrap()
    .policy;
    let gk =
        image_policy_export::export(&policy, ExportFormat::Gatekeeper, &ExportOptions::default())
            .unwrap();
    let docs: Vec<Value> = serde_saphyr::from_multiple(&gk.text).unwrap();
    let actions: Vec<(&str, &Value)> = docs[1..]
        .iter()
        .map(|c| {
            (
                c["spec"]["enforcementAction"].as_str().unwrap(),
                &c["spec"]["match"],
            )
        })
        .collect();
    assert_eq!(actions.len(), 3, "{}", gk.text);
    assert_eq!(actions[0].0, "deny");
    assert_eq!(actions[0].1["excludedNamespaces"], json!(["sandbox"]));
    assert_eq!(actions[1].0, "warn");
    assert_eq!(actions[1].1["namespaces"], json!(["sandbox"]));
    assert_eq!(actions[2].0, "deny");
    assert_eq!(docs[3]["spec"]["parameters"]["onlyUnparseable"], true);

    let ky = image_policy_export::export(&policy, ExportFormat::Kyverno, &ExportOptions::default())
        .unwrap();
    let docs: Vec<Value> = serde_saphyr::from_multiple(&ky.text).unwrap();
    let actions: Vec<(&str, bool)> = docs
        .iter()
        .map(|p| {
            (
                p["spec"]["validationFailureAction"].as_str().unwrap(),
                p["spec"]["emitWarning"] == true,
            )
        })
        .collect();
    assert_eq!(
        actions,
        [("Enforce", false), ("Audit", true), ("Enforce", false)]
    );

    // The sandbox's images are judged by the warn constraint only; an
    // unparseable one is denied there too.
    let mut gk = Gatekeeper::new(&gk.text);
    let pod = |image: &str, ns: &str| {
        let mut o = fixtures().remove(0);
        o["spec"]["containers"][0]["image"] = json!(image);
        json!({"object": o, "operation": "CREATE", "namespace": ns})
    };
    assert!(gk.admits(&pod("docker.io/evil/x:1", "sandbox")).0);
    assert!(!gk.admits(&pod("docker.io/evil/x:1", "default")).0);
    assert!(!gk.admits(&pod("::bad", "sandbox")).0);
    assert!(gk.admits(&pod("kube-proxy:garbage", "kube-system")).0);
    assert!(!gk.admits(&pod("::bad", "kube-system")).0);
}
