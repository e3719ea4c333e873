//! The old Gatekeeper decisions (`OldPolicy::judge`) against Rego written
//! here in the shape of the library's templates (the constraint's
//! parameters as `input.parameters`, the object as `input.review.object`),
//! evaluated by regorus: the same answer on every generated image, for
//! every prefix as a parameter of each of the four kinds.

use super::{PREFIXES, images, imported};
use image_policy_import::ImportFormat;
use serde_json::json;

/// Our own Rego in the library's shape: the three container lists, the
/// exemption library (exact, or `prefix*`), `startswith`/`endswith` on the
/// image as written.
const COMMON: &str = r#"
input_containers[c] { c := input.review.object.spec.containers[_] }
input_containers[c] { c := input.review.object.spec.initContainers[_] }
input_containers[c] { c := input.review.object.spec.ephemeralContainers[_] }
exempt(image) {
    e := object.get(input.parameters, "exemptImages", [])[_]
    not endswith(e, "*")
    e == image
}
exempt(image) {
    e := object.get(input.parameters, "exemptImages", [])[_]
    endswith(e, "*")
    startswith(image, trim_suffix(e, "*"))
}
"#;

fn rego(kind: &str) -> String {
    let body = match kind {
        "K8sAllowedRepos" => {
            r#"violation[{"msg": msg}] {
    c := input_containers[_]
    not exempt(c.image)
    ok := [r | r := input.parameters.repos[_]; startswith(c.image, r)]
    count(ok) == 0
    msg := sprintf("%v not allowed", [c.image])
}"#
        }
        "K8sDisallowedRepos" => {
            r#"violation[{"msg": msg}] {
    c := input_containers[_]
    not exempt(c.image)
    r := input.parameters.repos[_]
    startswith(c.image, r)
    msg := sprintf("%v disallowed by %v", [c.image, r])
}"#
        }
        "K8sDisallowedTags" => {
            r#"violation[{"msg": msg}] {
    c := input_containers[_]
    not exempt(c.image)
    t := input.parameters.tags[_]
    endswith(c.image, concat("", [":", t]))
    msg := sprintf("%v tag", [c.image])
}
violation[{"msg": msg}] {
    c := input_containers[_]
    not exempt(c.image)
    not contains(c.image, ":")
    msg := sprintf("%v no tag", [c.image])
}"#
        }
        _ => {
            r#"violation[{"msg": msg}] {
    c := input_containers[_]
    not exempt(c.image)
    not regex.match("@[a-z0-9]+([+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+", c.image)
    msg := sprintf("%v no digest", [c.image])
}"#
        }
    };
    format!("package t\n{COMMON}\n{body}\n")
}

fn engine_violates(
    engine: &mut regorus::Engine,
    image: &str,
    list: &str,
    parameters: &serde_json::Value,
) -> bool {
    let input = json!({
        "review": {"object": {"kind": "Pod", "spec": {list: [{"name": "c", "image": image}]}}},
        "parameters": parameters,
    });
    engine.set_input(regorus::Value::from_json_str(&input.to_string()).unwrap());
    let v = engine.eval_rule("data.t.violation".to_owned()).unwrap();
    !v.as_set().unwrap().is_empty()
}

fn check(kind: &str, parameters: serde_json::Value) {
    let mut engine = regorus::Engine::new();
    engine.set_rego_v0(true);
    engine.add_policy("t.rego".to_owned(), rego(kind)).unwrap();
    let doc = json!({
        "apiVersion": "constraints.gatekeeper.sh/v1beta1",
        "kind": kind,
        "metadata": {"name": "c"},
        "spec": {"parameters": parameters},
    });
    let imported = match image_policy_import::import(
        ImportFormat::Gatekeeper,
        &[image_policy_import::Source::new("t.json", &doc.to_string())],
    ) {
        Ok(i) => i,
        // A prefix the import refuses (it reaches into a tag) has no old
        // policy to compare.
        Err(_) => return,
    };
    for image in images() {
        for list in ["containers", "initContainers", "ephemeralContainers"] {
            let want = engine_violates(&mut engine, &image, list, &parameters);
            let got = imported.old.judge(&image, None).violates();
            assert_eq!(got, want, "{kind} {parameters}: {image:?} in {list}");
        }
    }
}

#[test]
fn old_gatekeeper_decisions_are_the_regos() {
    for p in PREFIXES {
        check("K8sAllowedRepos", json!({"repos": [p]}));
        check("K8sDisallowedRepos", json!({"repos": [p]}));
    }
    check(
        "K8sAllowedRepos",
        json!({"repos": ["registry.my.com/", "openpolicyagent/"]}),
    );
    check("K8sDisallowedTags", json!({"tags": ["latest", "1.2"]}));
    check(
        "K8sDisallowedTags",
        json!({"tags": ["latest"], "exemptImages": ["registry.my.com/x:latest", "nginx*"]}),
    );
    check("K8sImageDigests", json!({}));
    check(
        "K8sImageDigests",
        json!({"exemptImages": ["registry.my.com/*"]}),
    );
}

#[test]
fn image_volumes_were_not_looked_at() {
    let i = imported(
        ImportFormat::Gatekeeper,
        "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: K8sAllowedRepos\nmetadata: {name: c}\nspec: {parameters: {repos: [registry.my.com/]}}\n",
    );
    let d = i.old.judge_in(
        "evil.io/x:1",
        None,
        image_policy_core::k8s::ContainerList::Volumes,
    );
    assert!(!d.looked_at && !d.violates());
    assert!(i.old.judge("evil.io/x:1", None).violates());
}

#[test]
fn a_denied_tag_that_is_not_a_tag_is_an_error_naming_its_field() {
    let text = "apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sDisallowedTags
metadata: {name: no-odd-tags}
spec:
  parameters:
    tags: [latest, \"v1 beta\"]
";
    let e = image_policy_import::import(
        ImportFormat::Gatekeeper,
        &[image_policy_import::Source::new("tags.yaml", text)],
    )
    .expect_err("a tag with a space cannot be denied by name");
    assert_eq!(e.kind, image_policy_import::ImportErrorKind::InvalidValue);
    let shown = e.to_string();
    assert!(shown.contains("spec.parameters.tags[1]"), "{shown}");
    assert!(shown.contains("\"v1 beta\" is not a tag"), "{shown}");
}

#[test]
fn namespaces_that_are_not_names_scope_nothing_and_say_so() {
    let text = "apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sAllowedRepos
metadata: {name: prod-repos}
spec:
  match:
    namespaces: [prod, \"pro/\"]
    excludedNamespaces: [\"Kube_System\"]
  parameters:
    repos: [\"registry.my.com/\"]
";
    let i = imported(ImportFormat::Gatekeeper, text);
    let policy = super::loaded(&i);
    assert!(i.text.contains("names: [\"prod\"]"), "{}", i.text);
    assert!(!i.text.contains("names: [\"pro/"), "{}", i.text);
    for bad in [
        "\"pro/\" is not a namespace name",
        "\"Kube_System\" is not a namespace name",
    ] {
        assert!(
            i.notes.iter().any(
                |n| n.kind == image_policy_import::NoteKind::Ignored && n.message.contains(bad)
            ),
            "no note {bad:?}: {:#?}",
            i.notes
        );
    }
    let ctx = image_policy_core::policy::Context::new().namespace("prod");
    assert!(
        policy.evaluate("nginx", &ctx).violates(),
        "prod is still scoped by the constraint"
    );
    assert!(!policy.evaluate("registry.my.com/app", &ctx).violates());
}

/// Prefixes with a character of 1 to 4 bytes put at every position of the
/// Docker Hub hosts' spellings (and past them): every one imports or is an
/// error, never a panic, and what imports loads.
#[test]
fn prefixes_with_wide_characters_anywhere_import_or_fail() {
    for host in ["index.docker.io/", "registry-1.docker.io/", "docker.io/"] {
        let base = format!("{host}bad/");
        for c in ['é', '\u{fffd}', '😀', 'I', '\u{0130}'] {
            for at in 0..=base.len() {
                let mut prefix = base.clone();
                if !prefix.is_char_boundary(at) {
                    continue;
                }
                prefix.insert(at, c);
                let text = format!(
                    "apiVersion: constraints.gatekeeper.sh/v1beta1\nkind: K8sDisallowedRepos\nmetadata: {{name: x}}\nspec:\n  parameters:\n    repos: [{}]\n",
                    serde_json::to_string(&prefix).unwrap()
                );
                if let Ok(i) = image_policy_import::import(
                    ImportFormat::Gatekeeper,
                    &[image_policy_import::Source::new("wide.yaml", &text)],
                ) {
                    super::loaded(&i);
                }
            }
        }
    }
}
