//! `/mutate` on the kubectl-made fixtures of every pod-bearing kind: the
//! patch, applied by the `json-patch` crate (not ours), gives exactly the
//! object whose images are what `image-policy check` rewrites them to
//! (`testdata/k8s/objects/rewrites.jsonl`, made by `testdata/k8s/rewrite.sh`
//! with `testdata/k8s/rewrite-policy.yaml`); the patched object gets no
//! patch; `/validate` allows it and denies the original. Then UPDATE,
//! `kubectl debug`, exempt namespaces, DELETE, and the denial of a rewrite
//! that would not be a valid reference.

use std::collections::HashMap;

use base64::Engine as _;
use image_policy_core::policy::Policy;
use image_policy_webhook::handler::{Endpoint, Outcome};
use serde_json::{Value, json};

use crate::{admission_review, ask, read, read_json};

/// The policy of `testdata/k8s/rewrite-policy.yaml`.
fn rewrite_policy() -> Policy {
    Policy::from_yaml_str(&read("k8s/rewrite-policy.yaml"), "rewrite-policy.yaml")
        .expect("the rewrite policy loads")
        .policy
}

/// Image → what `image-policy check` rewrote it to.
fn cli_rewrites() -> HashMap<String, String> {
    read("k8s/objects/rewrites.jsonl")
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).expect("a JSON line");
            (
                v["image"].as_str().expect("image").to_owned(),
                v["rewritten"].as_str().expect("rewritten").to_owned(),
            )
        })
        .collect()
}

/// `spec.template.spec.containers[0].image` as a JSON pointer (the fixtures'
/// paths are jq's, in this notation).
fn pointer(path: &str) -> String {
    path.split('.')
        .flat_map(|part| match part.split_once('[') {
            Some((field, index)) => vec![field.to_owned(), index.trim_end_matches(']').to_owned()],
            None => vec![part.to_owned()],
        })
        .map(|key| format!("/{}", key.replace('~', "~0").replace('/', "~1")))
        .collect()
}

/// The patch of a `/mutate` answer, decoded; `None` when there is none.
fn patch_of(answer: &Value) -> Option<json_patch::Patch> {
    let response = &answer["response"];
    let patch = response.get("patch")?;
    assert_eq!(response["patchType"], "JSONPatch", "{answer}");
    assert_eq!(response["allowed"], true, "{answer}");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(patch.as_str().expect("a string"))
        .expect("base64");
    Some(serde_json::from_slice(&bytes).expect("a JSON Patch"))
}

/// `/mutate` on `object` (CREATE), the patch applied: `(answer, patched)`.
fn mutate(policy: &Policy, api_version: &str, object: &Value) -> (Value, Value) {
    let (reply, answer) = ask(
        policy,
        Endpoint::Mutate,
        &admission_review(api_version, "CREATE", object, None, None),
    );
    assert_eq!(reply.status, 200, "{answer}");
    assert_eq!(answer["apiVersion"], api_version);
    assert_eq!(answer["kind"], "AdmissionReview");
    let mut patched = object.clone();
    if let Some(patch) = patch_of(&answer) {
        json_patch::patch(&mut patched, &patch).expect("the patch applies");
    }
    (answer, patched)
}

fn validate(policy: &Policy, object: &Value) -> Value {
    let (_, answer) = ask(
        policy,
        Endpoint::AdmissionReview,
        &admission_review("admission.k8s.io/v1", "CREATE", object, None, None),
    );
    answer["response"]["allowed"].clone()
}

#[test]
fn every_kind_is_rewritten_as_the_cli_rewrites_and_validated() {
    let policy = rewrite_policy();
    let rewrites = cli_rewrites();
    let answers = read_json("k8s/objects/images.json");
    let mut kinds = std::collections::BTreeSet::new();
    for (file, images) in answers.as_object().expect("a map") {
        let object = read_json(&format!("k8s/objects/{file}"));
        kinds.insert(object["kind"].as_str().expect("a kind").to_owned());
        let mut expected = object.clone();
        for image in images.as_array().expect("a list") {
            let (path, image) = (
                image["path"].as_str().unwrap(),
                image["image"].as_str().unwrap(),
            );
            *expected.pointer_mut(&pointer(path)).expect(path) =
                Value::from(rewrites[image].as_str());
        }
        assert_ne!(expected, object, "{file}: nothing to rewrite");
        for api_version in ["admission.k8s.io/v1", "admission.k8s.io/v1beta1"] {
            let case = format!("{file} {api_version}");
            let (answer, patched) = mutate(&policy, api_version, &object);
            let ops = patch_of(&answer).expect("a patch").0;
            assert_eq!(ops.len(), images.as_array().unwrap().len(), "{case}");
            assert!(
                ops.iter()
                    .all(|op| matches!(op, json_patch::PatchOperation::Replace(_))),
                "{case}: {ops:?}"
            );
            assert_eq!(patched, expected, "{case}");
            // The audit annotation names each rewrite, in the patch's order.
            let named: Vec<String> = images
                .as_array()
                .unwrap()
                .iter()
                .map(|i| {
                    let image = i["image"].as_str().unwrap();
                    format!("{image} -> {}", rewrites[image])
                })
                .collect();
            assert_eq!(
                answer["response"]["auditAnnotations"]["rewritten-images"],
                named.join(", "),
                "{case}"
            );
            // Reinvocation: the patched object gets no patch.
            let (again, unchanged) = mutate(&policy, api_version, &patched);
            assert!(again["response"].get("patch").is_none(), "{case}: {again}");
            assert!(again["response"].get("patchType").is_none(), "{case}");
            assert!(
                again["response"].get("auditAnnotations").is_none(),
                "{case}"
            );
            assert_eq!(again["response"]["allowed"], true, "{case}");
            assert_eq!(unchanged, patched, "{case}");
        }
        // /validate with a policy that allows only the mirror.
        assert_eq!(validate(&policy, &expected), true, "{file}");
        assert_eq!(validate(&policy, &object), false, "{file}");
    }
    let want: std::collections::BTreeSet<String> = image_policy_core::k8s::POD_BEARING_KINDS
        .iter()
        .map(|k| (*k).to_owned())
        .collect();
    assert_eq!(kinds, want, "a pod-bearing kind without a fixture");
}

/// The seed's example end to end: `prometheus:2.6.1` in a Deployment becomes
/// `registry.my.com/prometheus:2.6.1`, which the seed policy allows.
#[test]
fn the_seeds_example() {
    let policy = Policy::from_yaml_str(
        &std::fs::read_to_string(crate::testdata("../examples/rewrite.yaml")).expect("example"),
        "rewrite.yaml",
    )
    .expect("loads")
    .policy;
    let mut object = read_json("k8s/objects/deployment.json");
    object["spec"]["template"]["spec"]["containers"][0]["image"] = "prometheus:2.6.1".into();
    let (answer, patched) = mutate(&policy, "admission.k8s.io/v1", &object);
    assert_eq!(
        patched["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.my.com/prometheus:2.6.1"
    );
    assert_eq!(
        answer["response"]["status"]["message"],
        "Deployment shop/web: 1 of 4 images rewritten"
    );
    assert_eq!(validate(&policy, &patched), true);
    assert_eq!(validate(&policy, &object), false);
}

/// `/mutate` on an `operation` of `object` (with `old` as oldObject), as the
/// API server applies it: the object with the patch applied, or as it is.
fn mutated(policy: &Policy, operation: &str, object: &Value, old: Option<&Value>) -> Value {
    let (reply, answer) = ask(
        policy,
        Endpoint::Mutate,
        &admission_review("admission.k8s.io/v1", operation, object, old, None),
    );
    assert_eq!(reply.status, 200, "{answer}");
    assert_eq!(answer["response"]["allowed"], true, "{answer}");
    let mut patched = object.clone();
    if let Some(patch) = patch_of(&answer) {
        json_patch::patch(&mut patched, &patch).expect("the patch applies");
    }
    patched
}

/// UPDATE is rewritten as CREATE: every image a rule matches, those already
/// in oldObject too (rewriting is not a judgement); an object already
/// rewritten gets no patch.
#[test]
fn update_rewrites_every_image_as_create_does() {
    let policy = rewrite_policy();
    let old = read_json("k8s/objects/deployment.json");
    let mut new = old.clone();
    let spec = &mut new["spec"]["template"]["spec"];
    spec["containers"][0]["image"] = "registry.my.com/shop/web:1.5.0".into();
    // An image the old object already runs, in another container.
    spec["initContainers"][0]["image"] = "registry.my.com/observability/exporter:0.9.1".into();
    let updated = mutated(&policy, "UPDATE", &new, Some(&old));
    assert_eq!(updated, mutated(&policy, "CREATE", &new, None));
    let spec = &updated["spec"]["template"]["spec"];
    assert_eq!(
        spec["containers"][0]["image"],
        "mirror.example.com/shop-team/web:1.5.0"
    );
    assert_eq!(
        spec["initContainers"][0]["image"],
        "mirror.example.com/all/observability/exporter:0.9.1"
    );

    // Nothing changed, nothing rewritten yet: the UPDATE is rewritten too.
    assert_eq!(
        mutated(&policy, "UPDATE", &old, Some(&old)),
        mutated(&policy, "CREATE", &old, None)
    );
    // Already rewritten: no patch.
    let (reply, answer) = ask(
        &policy,
        Endpoint::Mutate,
        &admission_review(
            "admission.k8s.io/v1",
            "UPDATE",
            &updated,
            Some(&updated),
            None,
        ),
    );
    assert!(patch_of(&answer).is_none(), "{answer}");
    assert_eq!(reply.summary.outcome, Outcome::Allowed);
}

/// What a workload's controller creates from its (rewritten) template, as
/// the controller writes it: a Deployment's ReplicaSet (the template with
/// the `pod-template-hash` label), a CronJob's Job, and the Pods of a
/// ReplicaSet, StatefulSet, DaemonSet or Job.
fn children(workload: &Value) -> Vec<Value> {
    let namespace = workload["metadata"]["namespace"].clone();
    let name = workload["metadata"]["name"].as_str().expect("a name");
    let pod = |template: &Value, generate_name: String| {
        let mut metadata = template["metadata"].clone();
        metadata["generateName"] = generate_name.into();
        metadata["namespace"] = namespace.clone();
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata,
               "spec": template["spec"], "status": {}})
    };
    match workload["kind"].as_str().expect("a kind") {
        "Deployment" => {
            let mut template = workload["spec"]["template"].clone();
            template["metadata"]["labels"]["pod-template-hash"] = "7d9c5b8f4".into();
            let mut selector = workload["spec"]["selector"].clone();
            selector["matchLabels"]["pod-template-hash"] = "7d9c5b8f4".into();
            let replica_set = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {"name": format!("{name}-7d9c5b8f4"), "namespace": namespace,
                             "labels": template["metadata"]["labels"]},
                "spec": {"replicas": 1, "selector": selector, "template": template}});
            let pods = children(&replica_set);
            [vec![replica_set], pods].concat()
        }
        "CronJob" => {
            let job = json!({"apiVersion": "batch/v1", "kind": "Job",
                "metadata": {"name": format!("{name}-29210940"), "namespace": namespace},
                "spec": workload["spec"]["jobTemplate"]["spec"]});
            let pods = children(&job);
            [vec![job], pods].concat()
        }
        "ReplicaSet" | "StatefulSet" | "DaemonSet" | "Job" => {
            vec![pod(&workload["spec"]["template"], format!("{name}-"))]
        }
        other => panic!("no controller makes objects from a {other}"),
    }
}

/// The pod template of a workload or of what it made: a ReplicaSet's with
/// its `pod-template-hash` label taken out, as the Deployment controller
/// compares them; a Job's; a Pod's metadata and spec.
fn template_of(object: &Value) -> Value {
    let mut template = match object["kind"].as_str() {
        Some("Pod") => json!({"spec": object["spec"]}),
        Some("CronJob") => object["spec"]["jobTemplate"]["spec"]["template"].clone(),
        _ => object["spec"]["template"].clone(),
    };
    if let Some(labels) = template["metadata"]["labels"].as_object_mut() {
        labels.remove("pod-template-hash");
    }
    template
}

/// A workload created before the rewrite rules, then updated as `kubectl
/// rollout restart` does (an annotation of the pod template): `/mutate`
/// rewrites its template on that UPDATE, so the ReplicaSet, Job or Pods its
/// controller then creates from it get no patch and hold the same pod spec
/// as the template (the Deployment controller finds its own ReplicaSet by
/// comparing them). Before, the UPDATE left the images as they were, the
/// children were rewritten on CREATE, and the Deployment controller kept
/// making ReplicaSets.
#[test]
fn a_workload_and_what_its_controller_makes_agree() {
    let policy = rewrite_policy();
    for file in [
        "deployment",
        "statefulset",
        "daemonset",
        "cronjob",
        "job",
        "replicaset",
    ] {
        let old = read_json(&format!("k8s/objects/{file}.json"));
        let mut restarted = old.clone();
        let template = match old["kind"].as_str() {
            Some("CronJob") => &mut restarted["spec"]["jobTemplate"]["spec"]["template"],
            _ => &mut restarted["spec"]["template"],
        };
        template["metadata"]["annotations"] =
            json!({"kubectl.kubernetes.io/restartedAt": "2026-12-07T14:00:00Z"});
        let workload = mutated(&policy, "UPDATE", &restarted, Some(&old));
        assert_ne!(workload, restarted, "{file}: the UPDATE is not rewritten");
        let made = children(&workload);
        assert!(!made.is_empty());
        for child in made {
            let kind = child["kind"].as_str().unwrap_or_default().to_owned();
            let created = mutated(&policy, "CREATE", &child, None);
            assert_eq!(created, child, "{file}: the {kind} it makes gets a patch");
            let (made, own) = (template_of(&created), template_of(&workload));
            assert_eq!(
                made["spec"], own["spec"],
                "{file}: the {kind} it makes runs another pod spec"
            );
            if kind == "ReplicaSet" && file == "deployment" {
                // The Deployment controller's own comparison.
                assert_eq!(made, own, "{file}: the ReplicaSet is not the Deployment's");
            }
        }
        // The restart of the rewritten workload: nothing more to rewrite.
        assert_eq!(
            mutated(&policy, "UPDATE", &workload, Some(&workload)),
            workload,
            "{file}"
        );
    }
}

/// `kubectl debug`: an UPDATE of `pods/ephemeralcontainers` rewrites the new
/// ephemeral container only (the API server refuses any other change).
#[test]
fn ephemeral_containers_subresource() {
    let policy = rewrite_policy();
    let mut old = read_json("k8s/objects/pod.json");
    old["spec"]["ephemeralContainers"] = json!([]);
    let mut new = old.clone();
    new["spec"]["ephemeralContainers"] =
        json!([{"name": "debugger", "image": "registry.my.com/tools/busybox:1.36"}]);
    for api_version in ["admission.k8s.io/v1", "admission.k8s.io/v1beta1"] {
        let (_, answer) = ask(
            &policy,
            Endpoint::Mutate,
            &admission_review(
                api_version,
                "UPDATE",
                &new,
                Some(&old),
                Some("ephemeralcontainers"),
            ),
        );
        assert_eq!(answer["apiVersion"], api_version);
        let patch = patch_of(&answer).expect("a patch");
        let mut patched = new.clone();
        json_patch::patch(&mut patched, &patch).expect("applies");
        let mut expected = new.clone();
        expected["spec"]["ephemeralContainers"][0]["image"] =
            "mirror.example.com/all/tools/busybox:1.36".into();
        assert_eq!(patched, expected, "{api_version}");
    }
}

/// Exempt namespaces, DELETE and a policy without rewrite rules: allowed
/// with no patch.
#[test]
fn nothing_to_rewrite() {
    let exempt = Policy::builder()
        .allow_registry("mirror.example.com")
        .rewrite("registry.my.com", "mirror.example.com/all")
        .exempt_namespace("shop")
        .build()
        .expect("a policy")
        .policy;
    let plain = crate::seed_policy(image_policy_core::policy::Mode::Enforce);
    let object = read_json("k8s/objects/statefulset.json");
    for (policy, operation, why) in [
        (&exempt, "CREATE", "namespace shop is exempt"),
        (
            &rewrite_policy(),
            "DELETE",
            "DELETE of StatefulSet shop/web",
        ),
        (&plain, "CREATE", "the policy has no rewrite rules"),
    ] {
        let (reply, answer) = ask(
            policy,
            Endpoint::Mutate,
            &admission_review("admission.k8s.io/v1", operation, &object, None, None),
        );
        assert_eq!(reply.status, 200);
        assert_eq!(answer["response"]["allowed"], true, "{answer}");
        assert!(patch_of(&answer).is_none(), "{answer}");
        let message = answer["response"]["status"]["message"].as_str().unwrap();
        assert!(message.contains(why), "{why:?} not in {message:?}");
    }
}

/// A rewrite whose name passes the 255-byte limit is denied, with no patch
/// at all (not even for the images that rewrite well); an image that does
/// not parse is left for /validate.
#[test]
fn invalid_rewrites_are_denied_never_patched() {
    let policy = Policy::builder()
        .rewrite("docker.io", "registry.my.com/mirrors/docker-hub")
        .build()
        .expect("a policy")
        .policy;
    let long = format!("team/{}:1", "a".repeat(240));
    let mut object = read_json("k8s/objects/job.json");
    let spec = &mut object["spec"]["template"]["spec"];
    spec["containers"][0]["image"] = "nginx:1.27".into();
    spec["initContainers"][0]["image"] = long.clone().into();
    let (reply, answer) = ask(
        &policy,
        Endpoint::Mutate,
        &admission_review("admission.k8s.io/v1", "CREATE", &object, None, None),
    );
    let response = &answer["response"];
    assert_eq!(response["allowed"], false, "{answer}");
    assert_eq!(response["status"]["code"], 403);
    assert_eq!(response["status"]["reason"], "Forbidden");
    assert!(response.get("patch").is_none() && response.get("patchType").is_none());
    let message = response["status"]["message"].as_str().unwrap();
    for part in [
        "Job shop/db-migrate: 1 of 2 images cannot be rewritten to a valid reference",
        "initContainer \"migrate\" (spec.template.spec.initContainers[0].image)",
        "rewrite[0]",
        "longer than 255 bytes",
    ] {
        assert!(message.contains(part), "{part:?} not in {message:?}");
    }
    assert_eq!(reply.summary.outcome, Outcome::Denied);
    assert_eq!(reply.summary.denied, 1);

    // An image that does not parse: not rewritten, no denial here.
    spec_image(&mut object, "Not A Reference");
    let (_, answer) = ask(
        &policy,
        Endpoint::Mutate,
        &admission_review("admission.k8s.io/v1", "CREATE", &object, None, None),
    );
    assert_eq!(answer["response"]["allowed"], true, "{answer}");
    let patch = patch_of(&answer).expect("nginx is rewritten");
    assert_eq!(patch.0.len(), 1);
}

fn spec_image(object: &mut Value, image: &str) {
    object["spec"]["template"]["spec"]["initContainers"][0]["image"] = image.into();
}

/// A review whose strings are written with escapes (read by serde, not the
/// scanner) is patched at the same pointers.
#[test]
fn escaped_strings() {
    let policy = rewrite_policy();
    let object = read_json("k8s/objects/pod.json");
    let body = admission_review("admission.k8s.io/v1", "CREATE", &object, None, None);
    let escaped = String::from_utf8(body.clone())
        .expect("UTF-8")
        .replace("registry.my.com/", "registry.my.com\\/")
        .replace("\"image\"", "\"\\u0069mage\"");
    let (_, plain) = ask(&policy, Endpoint::Mutate, &body);
    let (_, escaped) = ask(&policy, Endpoint::Mutate, escaped.as_bytes());
    assert!(patch_of(&plain).is_some());
    assert_eq!(plain["response"]["patch"], escaped["response"]["patch"]);
}
