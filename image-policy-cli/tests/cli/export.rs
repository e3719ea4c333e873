//! `image-policy export`, tested against the engines that read each format:
//! containers/image 5.23 (`containers-oracle`) for `policy.json` and
//! `registries.conf`, Google's CEL runtime (`vap_eval.py`) for the
//! ValidatingAdmissionPolicy, golden files and parses for the others.
//!
//! The corpus: every policy of `testdata/policy/decisions/*.yaml` and
//! `testdata/export/policies.yaml` (the traps), against every image of those
//! cases, the reference vectors of `testdata/reference/` and generated
//! references. The engines find at `target/reference-tools/` (or
//! `IMAGE_POLICY_CONTAINERS_ORACLE`, `IMAGE_POLICY_VAP_PYTHON`); under CI=true a
//! missing engine fails the test.

use image_policy_core::policy::{Context, Policy};
use image_policy_core::reference::ImageRef;
use image_policy_export::{self as export, ExportFormat, ExportOptions};
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub(super) const DIGEST: &str =
    "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

pub(super) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// An engine from `target/reference-tools/` or its environment variable.
pub(super) fn engine(var: &str, rel: &str) -> Option<PathBuf> {
    let path = std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/reference-tools").join(rel));
    if path.exists() {
        return Some(path);
    }
    // CI machines have it (.ci/reference-tools): there, missing is a failure.
    assert!(
        std::env::var_os("CI").is_none(),
        "{} is required in CI (run .ci/reference-tools)",
        path.display()
    );
    eprintln!("NOTE: {} not found; test not run", path.display());
    None
}

/// A policy of the corpus, with the namespaces worth judging in.
pub(super) struct Case {
    pub(super) name: String,
    pub(super) policy: Policy,
    pub(super) namespaces: Vec<String>,
    pub(super) exempt: Vec<String>,
    pub(super) break_glass: Option<String>,
}

pub(super) fn policies() -> Vec<Case> {
    let mut groups: Vec<Value> = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("testdata/policy/decisions"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.push(root().join("testdata/export/policies.yaml"));
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let list: Vec<Value> = serde_saphyr::from_str(&text).unwrap();
        groups.extend(list);
    }
    groups
        .into_iter()
        .map(|g| {
            let name = g["name"].as_str().unwrap().to_owned();
            let policy = match g.get("policy_file").and_then(Value::as_str) {
                Some(file) => Policy::from_yaml_str(
                    &std::fs::read_to_string(root().join(file)).unwrap(),
                    file,
                ),
                None => Policy::from_json_str(&g["policy"].to_string(), &name),
            }
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .policy;
            let doc = policy.document();
            let mut namespaces = vec!["default".to_owned()];
            for ns in &doc.namespaces {
                namespaces.extend(ns.names.iter().cloned());
            }
            Case {
                name,
                namespaces,
                exempt: doc.exempt_namespaces.clone(),
                break_glass: doc
                    .break_glass
                    .enabled
                    .then(|| doc.break_glass.value.clone()),
                policy,
            }
        })
        .collect()
}

/// Every image of the decision cases, the reference vectors and generated references.
pub(super) fn corpus() -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("testdata/policy/decisions"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.push(root().join("testdata/export/policies.yaml"));
    for f in files {
        let groups: Vec<Value> =
            serde_saphyr::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
        for g in groups {
            for c in g["cases"].as_array().into_iter().flatten() {
                if let Some(i) = c.get("image").and_then(Value::as_str) {
                    out.push(i.replace("${DIGEST}", DIGEST));
                }
            }
        }
    }
    for f in ["reference-sample.jsonl", "extra.jsonl"] {
        let text = std::fs::read_to_string(root().join("testdata/reference").join(f)).unwrap();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let v: Value = serde_json::from_str(line).unwrap();
            out.push(v["input"].as_str().unwrap().to_owned());
        }
    }
    let vectors: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(
            root().join("testdata/reference/distribution-reference-tests.json"),
        )
        .unwrap(),
    )
    .unwrap();
    out.extend(
        vectors
            .iter()
            .filter_map(|v| v["input"].as_str().map(str::to_owned)),
    );
    out.extend(generated_names());
    out.sort();
    out.dedup();
    out
}

/// Generated references: every host (spellings, ports, rewrite sources and
/// targets) with every path and every tag form.
pub(super) fn generated_names() -> Vec<String> {
    let hosts = [
        "",
        "registry.my.com/",
        "REGISTRY.my.com/",
        "registry.my.com:5000/",
        "registry.my.com/mirror/",
        "registry.my.com/dockerhub/",
        "a.my.org/",
        "a.b.my.org/",
        "a.my.org:443/",
        "my.org/",
        "quay.io/",
        "quay.io:5000/",
        "QUAY.io/",
        "docker.io/",
        "index.docker.io/",
        "registry-1.docker.io/",
        "x_y.evil.com/",
        "evil.com/",
        "a.evil.com/",
        "EVIL.com/",
        "localhost:5000/",
        "localhost/",
        "[::1]:5000/",
        "[0:0::1]:5000/",
        "ghcr.io/",
        "mirror.io:5000/",
        "mirror.io:5000/quay/",
        "reg:5000/",
    ];
    let paths = [
        "x",
        "team",
        "team/a",
        "team/a/b",
        "library/nginx",
        "legacy/x",
        "legacy",
        "nginx",
        "prometheus/node-exporter",
        "team-a/app",
        "my-org/app",
        "library/busybox",
        "evil/x",
        "mirror/evil/x",
        "app",
        "app/b",
    ];
    let at_digest = format!("@{DIGEST}");
    let tags = ["", ":1.0", ":latest", at_digest.as_str()];
    let mut out = Vec::new();
    for h in hosts {
        for p in paths {
            for t in tags {
                out.push(format!("{h}{p}{t}"));
            }
        }
    }
    out
}

/// What `check` decides on an image in a namespace (with break-glass
/// annotations when `glass` names the value): it rewrites the image first
/// (a rewrite that makes no valid reference is denied) and judges the name
/// the rule makes. `(passes, allowed)`: `passes` when no rule is broken or
/// break-glass admits it (what a Deny action sees), `allowed` with the mode
/// and exemptions applied.
pub(super) fn check(policy: &Policy, image: &str, ns: &str, glass: Option<&str>) -> (bool, bool) {
    let annotations: Vec<(&str, &str)> = glass
        .map(|v| vec![("ops.image-policy.k8s.io/ticket", v)])
        .unwrap_or_default();
    let Ok(rewritten) = policy.rewrite_str(image) else {
        return (false, false);
    };
    let d = policy.evaluate_rewritten(
        image,
        rewritten.as_ref(),
        &Context::new().namespace(ns).annotations(&annotations),
    );
    (!d.violates() || d.break_glass_used(), d.allowed())
}

/// Whether `check` passes the image (see [`check`]).
pub(super) fn passes(policy: &Policy, image: &str, ns: &str, glass: Option<&str>) -> bool {
    check(policy, image, ns, glass).0
}

/// Whether `check` admits the image (the mode, break-glass and exemptions
/// applied): what the Deny bindings must agree with.
pub(super) fn allowed(policy: &Policy, image: &str, ns: &str, glass: Option<&str>) -> bool {
    check(policy, image, ns, glass).1
}

/// References that every engine reads alike (valid, lowercase host, one of
/// a tag and a digest, not IPv6, a grammar domain, a name of at most 255
/// bytes): where "equal" is asserted for the node formats.
fn plain(image: &str) -> bool {
    let Ok(r) = ImageRef::parse(image) else {
        return false;
    };
    let d = r.domain();
    !d.is_empty()
        && !d.bytes().any(|b| b.is_ascii_uppercase())
        && !d.starts_with('[')
        && d != "registry-1.docker.io"
        && (r.tag().is_none() || r.digest().is_none())
        // containers/image 5.23 limits the whole name (domain/path) to 255.
        && r.name().to_string().len() <= 255
}

pub(super) fn run_engine(mut cmd: Command, input: &str) -> (bool, String, String) {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_owned();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn export_or_none(case: &Case, format: ExportFormat) -> Option<export::Exported> {
    exported(&case.policy, &case.name, format)
}

pub(super) fn exported(
    policy: &Policy,
    name: &str,
    format: ExportFormat,
) -> Option<export::Exported> {
    match export::export(policy, format, &ExportOptions::default()) {
        Ok(e) => Some(e),
        Err(e) => {
            // Refused: every line names a rule and the format.
            assert!(!e.rules.is_empty(), "{name}: {e}");
            let text = e.to_string();
            assert!(text.contains(format.name()), "{text}");
            None
        }
    }
}

/// The export with `--lossy`, only where the strict export is refused (the
/// others are the same text): refused again only when narrowing leaves no
/// image admitted (`lossy_exports` false), and every rule the strict
/// export named is narrowed, never dropped.
pub(super) fn exported_lossy(
    policy: &Policy,
    name: &str,
    format: ExportFormat,
) -> Option<export::Exported> {
    let strict = export::export(policy, format, &ExportOptions::default()).err()?;
    let lossy = ExportOptions {
        lossy: true,
        ..ExportOptions::default()
    };
    match export::export(policy, format, &lossy) {
        Ok(e) => {
            assert!(strict.lossy_exports, "{name}{format}: {strict}");
            for n in &strict.rules {
                assert!(
                    e.warnings
                        .iter()
                        .any(|w| w.rule == n.rule && w.message.starts_with("narrowed (lossy): ")),
                    "{name}{format}: {n} is not narrowed: {:?}",
                    e.warnings
                );
            }
            Some(e)
        }
        Err(e) => {
            assert!(!e.lossy_exports, "{name}{format}: {e}");
            assert!(!strict.lossy_exports || e.to_string().contains("nothing would be admitted"));
            None
        }
    }
}

#[test]
fn containers_policy_and_registries_conf_are_never_wider_than_check() {
    let Some(oracle) = engine("IMAGE_POLICY_CONTAINERS_ORACLE", "containers-oracle") else {
        return;
    };
    let images: Vec<String> = corpus()
        .into_iter()
        .filter(|i| !i.contains(['\n', '\r']) && i.len() < 4096)
        .collect();
    let input = images.join("\n") + "\n";
    let dir = tempfile::tempdir().unwrap();
    let (mut compared, mut exported, mut equal) = (0, 0, 0);
    for case in policies() {
        let Some(policy_json) = export_or_none(&case, ExportFormat::ContainersPolicy) else {
            continue;
        };
        let registries = export_or_none(&case, ExportFormat::RegistriesConf)
            .expect("registries-conf refuses exactly what containers-policy refuses");
        exported += 1;
        let pj = dir.path().join("policy.json");
        let rc = dir.path().join("registries.conf");
        std::fs::write(&pj, &policy_json.text).unwrap();
        std::fs::write(&rc, &registries.text).unwrap();
        let mut cmd = Command::new(&oracle);
        cmd.arg("--policy").arg(&pj).arg("--registries").arg(&rc);
        let (ok, stdout, stderr) = run_engine(cmd, &input);
        assert!(
            ok,
            "{}: the oracle refuses the export: {stderr}\n{}\n{}",
            case.name, policy_json.text, registries.text
        );
        let lines: Vec<Value> = stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), images.len(), "{}", case.name);
        let exact = policy_json.warnings.is_empty();
        for (image, v) in images.iter().zip(&lines) {
            assert_eq!(v["input"].as_str(), Some(image.as_str()));
            let allowed = v["allowed"].as_bool() == Some(true);
            let blocked = v["blocked"].as_bool() == Some(true);
            let node = allowed && !blocked;
            for ns in case.namespaces.iter().filter(|n| !case.exempt.contains(n)) {
                let check = passes(&case.policy, image, ns, None);
                compared += 1;
                assert!(
                    !node || check,
                    "{}: {image:?} in {ns}: containers/image admits it, check denies\n{}\n{}",
                    case.name,
                    policy_json.text,
                    registries.text
                );
            }
            if exact && plain(image) {
                equal += 1;
                assert_eq!(
                    allowed,
                    passes(&case.policy, image, "default", None),
                    "{}: {image:?}: policy.json and check differ on an expressible policy\n{}",
                    case.name,
                    policy_json.text
                );
            }
        }
    }
    eprintln!(
        "containers-oracle: {exported} policies exported, {compared} decisions compared, {equal} asserted equal"
    );
    assert!(
        exported >= 10 && equal > 1000,
        "the corpus exercises the export"
    );
}

/// Every pod-bearing kind, from the kubectl-made fixtures.
pub(super) fn fixtures() -> Vec<Value> {
    [
        "pod",
        "podtemplate",
        "replicationcontroller",
        "replicaset",
        "deployment",
        "statefulset",
        "daemonset",
        "job",
        "cronjob",
    ]
    .iter()
    .map(|k| {
        serde_json::from_str(
            &std::fs::read_to_string(root().join(format!("testdata/k8s/objects/{k}.json")))
                .unwrap(),
        )
        .unwrap()
    })
    .collect()
}

/// The pod spec of a fixture.
pub(super) fn pod_spec(o: &mut Value) -> &mut Value {
    match o["kind"].as_str().unwrap() {
        "Pod" => &mut o["spec"],
        "PodTemplate" => &mut o["template"]["spec"],
        "CronJob" => &mut o["spec"]["jobTemplate"]["spec"]["template"]["spec"],
        _ => &mut o["spec"]["template"]["spec"],
    }
}

/// `object` with `image` put in one place chosen by `slot` (containers,
/// init containers, ephemeral containers, an image volume), every other
/// image replaced by `fill` (one the policy allows, so that the verdict is
/// the one on `image`).
pub(super) fn with_image(object: &Value, image: &str, slot: usize, fill: &str) -> Value {
    let mut o = object.clone();
    let spec = pod_spec(&mut o);
    for list in ["containers", "initContainers", "ephemeralContainers"] {
        if let Some(cs) = spec.get_mut(list).and_then(Value::as_array_mut) {
            for c in cs {
                c["image"] = json!(fill);
            }
        }
    }
    match slot % 4 {
        0 => spec["containers"][0]["image"] = json!(image),
        1 => spec["initContainers"] = json!([{"name": "init", "image": image}]),
        2 => spec["ephemeralContainers"] = json!([{"name": "debug", "image": image}]),
        _ => {
            spec["volumes"] =
                json!([{"name": "v", "image": {"reference": image, "pullPolicy": "IfNotPresent"}}])
        }
    }
    o
}

/// An image the policy allows in `ns`, to fill the other containers.
pub(super) fn fill_for(policy: &Policy, ns: &str, glass: Option<&str>) -> Option<&'static str> {
    const CANDIDATES: [&str; 6] = [
        "registry.my.com/fill:1.0",
        "registry.my.com/fill@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "docker.io/library/nginx:1.0",
        "docker.io/library/nginx@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "quay.io/prometheus/node-exporter:v1.0",
        "ghcr.io/my-org/app:1.0",
    ];
    CANDIDATES
        .into_iter()
        .find(|c| passes(policy, c, ns, glass))
}

pub(super) fn vap_eval(vap: &str, requests: &[Value]) -> Vec<Value> {
    let python = engine("IMAGE_POLICY_VAP_PYTHON", "venv/bin/python").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("vap.yaml");
    std::fs::write(&file, vap).unwrap();
    let mut cmd = Command::new(python);
    cmd.arg(root().join("target/reference-tools/vap_eval.py"))
        .arg(&file);
    let input: String = requests.iter().map(|r| r.to_string() + "\n").collect();
    let (ok, stdout, stderr) = run_engine(cmd, &input);
    // cel-expr-python (on Python 3.11) releases None once too often per
    // evaluation, and after some thousands of requests the interpreter
    // aborts while finalizing, after every answer is written: that exit
    // status is not a verdict (every line is still checked below).
    let finalizing = stderr.contains("none_dealloc") && stderr.contains("finalizing");
    assert!(ok || finalizing, "vap_eval: {stderr}\n{vap}");
    let out: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(out.len(), requests.len(), "{stderr}");
    out
}

/// AdmissionRequests (`object`, `oldObject`, `operation`, `namespace`) for
/// `images`, each in one of the fixtures' kinds, slots and the case's
/// namespaces (with break-glass on a third of them, and UPDATEs), with what
/// `check` decides on each: `(image, namespace, allowed)`.
pub(super) fn admission_requests<'i>(
    case: &Case,
    images: &[&'i String],
    fixtures: &[Value],
) -> (Vec<Value>, Vec<(&'i String, String, bool)>) {
    let mut all_ns: Vec<String> = case.namespaces.clone();
    all_ns.extend(case.exempt.iter().cloned());
    let mut requests = Vec::new();
    let mut expected = Vec::new();
    for (n, &image) in images.iter().enumerate() {
        let ns = &all_ns[n % all_ns.len()];
        let glass = case.break_glass.as_deref().filter(|_| n % 3 == 0);
        let fill = fill_for(&case.policy, ns, glass).unwrap_or(image.as_str());
        let mut object = with_image(
            &fixtures[n % fixtures.len()],
            image,
            n / fixtures.len(),
            fill,
        );
        if let Some(v) = glass {
            object["metadata"]["annotations"] = json!({"ops.image-policy.k8s.io/ticket": v});
        }
        requests.push(json!({"object": object, "operation": "CREATE", "namespace": ns}));
        expected.push((image, ns.clone(), allowed(&case.policy, image, ns, glass)));
        if std::env::var_os("EXPORT_DEBUG").is_some_and(|v| v == image.as_str()) {
            eprintln!("REQUEST {}", requests.last().unwrap());
        }
    }
    // UPDATE: an image the old object already has never blocks (the
    // webhook's exemptExistingImagesOnUpdate); a new one is judged.
    for (n, &image) in images.iter().enumerate().step_by(7) {
        let fill = fill_for(&case.policy, "default", None).unwrap_or(image.as_str());
        let object = with_image(&fixtures[n % fixtures.len()], image, n, fill);
        let old = if n % 2 == 0 {
            object.clone()
        } else {
            with_image(&fixtures[n % fixtures.len()], fill, 0, fill)
        };
        requests.push(json!({"object": object, "oldObject": old, "operation": "UPDATE", "namespace": "default"}));
        let in_old = n % 2 == 0 || fill == image.as_str();
        let existing = in_old && case.policy.exempt_existing_images_on_update();
        expected.push((
            image,
            "default".to_owned(),
            existing || allowed(&case.policy, image, "default", None),
        ));
    }
    (requests, expected)
}

#[test]
fn the_validating_admission_policy_decides_as_check_in_every_kind() {
    if engine("IMAGE_POLICY_VAP_PYTHON", "venv/bin/python").is_none() {
        return;
    }
    let fixtures = fixtures();
    // cel-expr-python passes input strings to cel-cpp as C strings, cut at
    // the first NUL (`size(s)` of "ab\0cd" is 2 there, 5 in a CEL literal and
    // in cel-go): images with a NUL are the binding's problem, not the CEL's.
    let all: Vec<String> = corpus()
        .into_iter()
        .filter(|i| i.len() < 4096 && !i.contains('\0'))
        .collect();
    let (mut exported, mut compared, mut equal) = (0, 0, 0);
    for (k, case) in policies().into_iter().enumerate() {
        let Some(vap) = export_or_none(&case, ExportFormat::ValidatingAdmissionPolicy) else {
            continue;
        };
        // The CEL runtime is slow on a shared machine: each policy sees a
        // different fifth of the corpus (the parse, which is the same for
        // every policy, still sees all of it).
        let images: Vec<&String> = all
            .iter()
            .enumerate()
            .filter(|(n, _)| (n + k) % 5 == 0)
            .map(|(_, i)| i)
            .collect();
        exported += 1;
        let docs: Vec<Value> = serde_saphyr::from_multiple(&vap.text).unwrap();
        let (requests, expected) = admission_requests(&case, &images, &fixtures);
        if std::env::var_os("EXPORT_DUMP").is_some_and(|v| v == case.name.as_str()) {
            let text: String = requests.iter().map(|r| r.to_string() + "\n").collect();
            std::fs::write(std::env::temp_dir().join("export-dump.jsonl"), text).unwrap();
        }
        let mut verdicts = vec![true; requests.len()];
        let mut answers = vec![Value::Null; requests.len()];
        for doc in docs
            .iter()
            .filter(|d| d["kind"] == "ValidatingAdmissionPolicy")
        {
            // Only a Deny binding blocks; Warn and Audit report.
            let binding = docs
                .iter()
                .find(|b| {
                    b["kind"] == "ValidatingAdmissionPolicyBinding"
                        && b["spec"]["policyName"] == doc["metadata"]["name"]
                })
                .expect("every policy has its binding");
            if binding["spec"]["validationActions"] != json!(["Deny"]) {
                continue;
            }
            let one = to_yaml_doc(doc);
            let conditions = doc["spec"]["matchConditions"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            assert!(conditions.len() <= 1);
            for ((v, a), out) in verdicts
                .iter_mut()
                .zip(answers.iter_mut())
                .zip(vap_eval(&one, &requests))
            {
                *v &= out["allowed"].as_bool().unwrap();
                if out["allowed"] == false {
                    *a = out;
                }
            }
        }
        let exact = vap.warnings.is_empty();
        for (((image, ns, want), got), answer) in expected.iter().zip(&verdicts).zip(&answers) {
            compared += 1;
            assert!(
                !got || *want,
                "{}: {image:?} in {ns}: the VAP admits it, check denies\n{}",
                case.name,
                vap.text
            );
            let domain_absent = ImageRef::parse(image).is_ok_and(|r| r.domain().is_empty());
            let ipv6 = ImageRef::parse(image).is_ok_and(|r| r.domain().starts_with('['));
            if exact && !domain_absent && !ipv6 {
                equal += 1;
                assert_eq!(
                    got, want,
                    "{}: {image:?} in {ns}: the VAP and check differ: {answer}\n{}",
                    case.name, vap.text
                );
            }
        }
    }
    eprintln!(
        "vap_eval: {exported} policies exported, {compared} decisions compared, {equal} asserted equal"
    );
    assert!(
        exported >= 20 && equal > 5000,
        "the corpus exercises the export"
    );
}

pub(super) fn to_yaml_doc(v: &Value) -> String {
    export::to_yaml(v)
}

#[test]
fn a_pod_with_100_containers_is_judged() {
    let Some(_) = engine("IMAGE_POLICY_VAP_PYTHON", "venv/bin/python") else {
        return;
    };
    let policy = Policy::from_yaml_str(
        &std::fs::read_to_string(root().join("deploy/base/policy.yaml")).unwrap(),
        "policy.yaml",
    )
    .unwrap()
    .policy;
    let vap = export::export(
        &policy,
        ExportFormat::ValidatingAdmissionPolicy,
        &ExportOptions::default(),
    )
    .unwrap();
    let mut pod = fixtures().remove(0);
    let containers: Vec<Value> = (0..100)
        .map(|i| json!({"name": format!("c{i}"), "image": format!("registry.my.com/team-{i}/app-with-a-longer-name:v1.{i}.0")}))
        .collect();
    pod["spec"]["containers"] = json!(containers);
    let mut denied = pod.clone();
    denied["spec"]["containers"][99]["image"] = json!("docker.io/library/nginx:1.27");
    let out = vap_eval(
        &vap.text,
        &[
            json!({"object": pod, "operation": "CREATE", "namespace": "default"}),
            json!({"object": denied, "operation": "CREATE", "namespace": "default"}),
        ],
    );
    assert_eq!(out[0]["allowed"], json!(true), "{out:?}");
    assert_eq!(out[1]["allowed"], json!(false), "{out:?}");
}

#[test]
fn the_binding_and_match_constraints_cover_every_pod_bearing_kind() {
    let policy = Policy::from_yaml_str(
        "mode: warn\nallow: [{registry: registry.my.com}]\nexemptNamespaces: [kube-system]\nnamespaces:\n  - names: [prod]\n    mode: enforce\n",
        "p.yaml",
    )
    .unwrap()
    .policy;
    let options = ExportOptions {
        only_namespaces: vec!["image-policy-system".into()],
        ..ExportOptions::default()
    };
    let vap = export::export(&policy, ExportFormat::ValidatingAdmissionPolicy, &options).unwrap();
    let docs: Vec<Value> = serde_saphyr::from_multiple(&vap.text).unwrap();
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "ValidatingAdmissionPolicy",
            "ValidatingAdmissionPolicyBinding",
            "ValidatingAdmissionPolicy",
            "ValidatingAdmissionPolicyBinding",
            "ValidatingAdmissionPolicy",
            "ValidatingAdmissionPolicyBinding"
        ]
    );
    // Unparseable images are denied in every mode, as the webhook does.
    assert_eq!(docs[4]["metadata"]["name"], "image-policy-unparseable");
    assert_eq!(docs[5]["spec"]["validationActions"], json!(["Deny"]));
    assert!(docs[4]["spec"].get("matchConditions").is_none());
    for d in &docs {
        assert_eq!(d["apiVersion"], "admissionregistration.k8s.io/v1");
    }
    let mut resources: Vec<String> = Vec::new();
    for rule in docs[0]["spec"]["matchConstraints"]["resourceRules"]
        .as_array()
        .unwrap()
    {
        assert_eq!(rule["operations"], json!(["CREATE", "UPDATE"]));
        let group = rule["apiGroups"][0].as_str().unwrap().to_owned();
        for r in rule["resources"].as_array().unwrap() {
            resources.push(format!("{group}/{}", r.as_str().unwrap()));
        }
    }
    resources.sort();
    assert_eq!(
        resources,
        [
            "/pods",
            "/pods/ephemeralcontainers",
            "/podtemplates",
            "/replicationcontrollers",
            "apps/daemonsets",
            "apps/deployments",
            "apps/replicasets",
            "apps/statefulsets",
            "batch/cronjobs",
            "batch/jobs",
        ]
    );
    assert_eq!(docs[0]["spec"]["failurePolicy"], "Fail");
    // warn for the cluster, enforce (Deny) in prod, each with its condition.
    assert_eq!(docs[1]["spec"]["validationActions"], json!(["Warn"]));
    assert_eq!(docs[3]["spec"]["validationActions"], json!(["Deny"]));
    assert_eq!(
        docs[0]["spec"]["matchConditions"][0]["expression"],
        "!(request.namespace in ['prod'])"
    );
    assert_eq!(
        docs[2]["spec"]["matchConditions"][0]["expression"],
        "request.namespace in ['prod']"
    );
    assert_eq!(docs[1]["spec"]["policyName"], docs[0]["metadata"]["name"]);
    assert_eq!(
        docs[1]["spec"]["matchResources"]["namespaceSelector"]["matchExpressions"][0],
        json!({"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["image-policy-system"]})
    );
}

/// Issue 13: each rewrite rule becomes a registries.conf `prefix`/`location`
/// entry, and containers/image's first pull candidate is the reference the
/// policy's rewrite makes (with `:latest` added where no tag or digest is
/// written, as containers/image names it), or the image itself where no
/// rule applies.
#[test]
fn registries_conf_rewrites_pull_what_the_policy_rewrites() {
    let Some(oracle) = engine("IMAGE_POLICY_CONTAINERS_ORACLE", "containers-oracle") else {
        return;
    };
    let policy = Policy::builder()
        .allow_registry("registry.my.com")
        .allow_registry("mirror.io:5000")
        .rewrite("docker.io/library", "registry.my.com")
        .rewrite("docker.io", "registry.my.com/dockerhub")
        .rewrite("quay.io/prometheus", "mirror.io:5000/prom")
        .rewrite("quay.io", "mirror.io:5000/quay")
        .rewrite("reg:5000/app", "registry.my.com/app")
        // Never applies (rewrite[1] is first): left out of the export.
        .rewrite("docker.io/bitnami", "registry.my.com/bitnami")
        .build()
        .unwrap()
        .policy;
    let conf = export::export(
        &policy,
        ExportFormat::RegistriesConf,
        &ExportOptions::default(),
    )
    .unwrap();
    assert!(
        conf.text.contains(
            "[[registry]]\nprefix = \"docker.io/library\"\nlocation = \"registry.my.com\"\n"
        ),
        "{}",
        conf.text
    );
    assert!(!conf.text.contains("bitnami"), "{}", conf.text);
    let mut images: Vec<String> = [
        "prometheus:2.6.1",
        "nginx",
        "library/nginx:1.27",
        "docker.io/nginx",
        "index.docker.io/library/nginx:1",
        "docker.io/library/a/b:c",
        "grafana/grafana:10",
        "bitnami/redis:7",
        "docker.io/libraryx/a",
        "quay.io/prometheus/node-exporter:v1.8",
        "quay.io/prometheusx/a",
        "quay.io/prometheus-operator/x:1",
        "quay.io/a/b/c",
        "reg:5000/app/x:1",
        "reg:5000/app:1",
        "reg:5000/apps/x",
        "reg:5001/app/x",
        "ghcr.io/a/b:1",
        "registry.my.com/nginx:1",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let pinned: Vec<String> = images
        .iter()
        .map(|i| {
            format!(
                "{}@{DIGEST}",
                i.split(':')
                    .next()
                    .filter(|_| !i.starts_with("reg:"))
                    .unwrap_or(i)
            )
        })
        .collect();
    images.extend(pinned);
    let dir = tempfile::tempdir().unwrap();
    let rc = dir.path().join("registries.conf");
    let pj = dir.path().join("policy.json");
    std::fs::write(&rc, &conf.text).unwrap();
    std::fs::write(&pj, r#"{"default":[{"type":"insecureAcceptAnything"}]}"#).unwrap();
    let mut cmd = Command::new(&oracle);
    cmd.arg("--policy").arg(&pj).arg("--registries").arg(&rc);
    let (ok, stdout, stderr) = run_engine(cmd, &(images.join("\n") + "\n"));
    assert!(ok, "{stderr}\n{}", conf.text);
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), images.len());
    let mut rewritten = 0;
    for (image, v) in images.iter().zip(&lines) {
        assert_eq!(v["ok"], true, "{image}: {v}");
        let first = v["pulls"][0]
            .as_str()
            .unwrap_or_else(|| panic!("{image}: {v}"));
        let ours = match policy.rewrite_str(image).unwrap() {
            Some(r) => {
                rewritten += 1;
                r.into_string()
            }
            None => ImageRef::parse(image).unwrap().to_string(),
        };
        let r = ImageRef::parse(&ours).unwrap();
        let want = if r.is_tag_implied() {
            format!("{ours}:latest")
        } else {
            ours.clone()
        };
        // containers/image writes the canonical name; ours starts with `to`.
        let want = ImageRef::parse(&want).unwrap().to_string();
        assert_eq!(
            first, want,
            "{image}: containers/image pulls {first}, the policy rewrites to {ours}\n{}",
            conf.text
        );
    }
    assert!(rewritten >= 20, "{rewritten} images rewritten");
}

/// A P-256 public key for the generated verify rules (only its form
/// matters offline), with YAML's double-quoted escapes.
const VERIFY_KEY: &str = "-----BEGIN PUBLIC KEY-----\\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEKHj3WEOey4a7vIj7QP6LfkJQG8Hr\\nC0PDnq0I6pF0x3cFQubgwgLyRsz7whYjz2+eyziVUZAaAEY4eQQq3PQyzA==\\n-----END PUBLIC KEY-----\\n";

/// A seeded generator of policies that combine rewrite rules with allow,
/// deny, pin, namespace and tag rules (those the compiler refuses, such as a
/// rewrite loop or a denied rewrite target, are skipped).
pub(super) fn generated_policies(n: usize, seed: u64) -> Vec<(String, Policy)> {
    use rand::seq::IndexedRandom;
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    const HOSTS: &[&str] = &[
        "registry.my.com",
        "quay.io",
        "docker.io",
        "ghcr.io",
        "mirror.io:5000",
        "registry.my.com:5000",
        "localhost:5000",
        "reg:5000",
    ];
    const FROM: &[&str] = &[
        "docker.io/library",
        "docker.io",
        "quay.io",
        "quay.io/prometheus",
        "ghcr.io/my-org",
        "reg:5000/app",
        "reg:5000",
    ];
    const TO: &[&str] = &[
        "registry.my.com",
        "registry.my.com/mirror",
        "registry.my.com/dockerhub",
        "mirror.io:5000/quay",
        "mirror.io:5000",
    ];
    let allow_rule = |rng: &mut rand_chacha::ChaCha8Rng| {
        let h = HOSTS.choose(rng).unwrap();
        match rng.random_range(0..5) {
            0 | 1 => format!("{{registry: '{h}'}}"),
            2 => format!("{{repository: '{h}/**'}}"),
            3 => format!("{{repository: '{h}/team/**'}}"),
            _ => "{registry: '*.my.org'}".to_owned(),
        }
    };
    let deny_rule = |rng: &mut rand_chacha::ChaCha8Rng| {
        let h = HOSTS.choose(rng).unwrap();
        match rng.random_range(0..6) {
            0 => format!("{{registry: '{h}'}}"),
            1 => format!("{{repository: '{h}/evil/**'}}"),
            2 => "{repository: 'registry.my.com/mirror/evil/**'}".to_owned(),
            3 => "{repository: '*/library/busybox'}".to_owned(),
            4 => format!("{{repository: '{h}/team-*/app'}}"),
            _ => format!("{{repository: '{h}/app'}}"),
        }
    };
    let mut out = Vec::new();
    let mut tries = 0;
    while out.len() < n && tries < n * 50 {
        tries += 1;
        let mut yaml = String::new();
        let pairs: Vec<(&str, &str)> = (0..rng.random_range(1..=2))
            .map(|_| {
                (
                    *FROM.choose(&mut rng).unwrap(),
                    *TO.choose(&mut rng).unwrap(),
                )
            })
            .collect();
        if rng.random_bool(0.85) {
            let mut rules: Vec<String> = (0..rng.random_range(1..=3))
                .map(|_| allow_rule(&mut rng))
                .collect();
            // Most policies allow where they rewrite to (or the images
            // rewritten would all be denied).
            for (_, to) in &pairs {
                if rng.random_bool(0.7) {
                    let host = to.split('/').next().unwrap();
                    rules.push(format!("{{registry: '{host}'}}"));
                }
            }
            yaml.push_str(&format!("allow: [{}]\n", rules.join(", ")));
        }
        let denies = rng.random_range(0..=2);
        if denies > 0 {
            let rules: Vec<String> = (0..denies).map(|_| deny_rule(&mut rng)).collect();
            yaml.push_str(&format!("deny: [{}]\n", rules.join(", ")));
        }
        let rewrites: Vec<String> = pairs
            .iter()
            .map(|(from, to)| format!("{{from: '{from}', to: '{to}'}}"))
            .collect();
        yaml.push_str(&format!("rewrite: [{}]\n", rewrites.join(", ")));
        if rng.random_bool(0.3) {
            let combine = *["add", "replace"].choose(&mut rng).unwrap();
            let (list, rule) = if rng.random_bool(0.5) {
                ("allow", allow_rule(&mut rng))
            } else {
                ("deny", deny_rule(&mut rng))
            };
            yaml.push_str(&format!(
                "namespaces: [{{names: [team-a], combine: {combine}, {list}: [{rule}]}}]\n"
            ));
        }
        if rng.random_bool(0.15) {
            yaml.push_str("tags: {deny: [latest]}\n");
        }
        // Pin scope (issue 21), drawn last so that the rules above are
        // those of the seeds before it.
        if rng.random_bool(0.25) {
            yaml.push_str(&format!("pin: [{}]\n", allow_rule(&mut rng)));
        }
        // Exemptions (issue 26), drawn after pin for the same reason: the
        // CEL formats say them, the others refuse them and --lossy drops
        // them; both must stay never wider.
        if rng.random_bool(0.2) {
            let what = if rng.random_bool(0.5) {
                deny_rule(&mut rng)
            } else {
                format!(
                    "{{image: '{}/app:latest'}}",
                    HOSTS.choose(&mut rng).unwrap()
                )
            };
            let what = what.trim_start_matches('{').trim_end_matches('}');
            yaml.push_str(&format!(
                "exempt: [{{{what}, from: [deny, tags, pin], reason: generated}}]\n"
            ));
        }
        // Verify scope (issue 22): offline, a digest requirement as pin's.
        if rng.random_bool(0.2) {
            yaml.push_str(&format!(
                "verify: [{{{}, keys: [\"{VERIFY_KEY}\"]}}]\n",
                allow_rule(&mut rng).trim_matches(['{', '}'])
            ));
        }
        let name = format!("generated #{} (seed {seed})", out.len());
        if let Ok(loaded) = Policy::from_yaml_str(&yaml, &name) {
            out.push((format!("{name}:\n{yaml}"), loaded.policy));
        }
    }
    assert_eq!(out.len(), n, "the generator makes valid policies");
    out
}

/// The generated policy `name` (its yaml after the first line) with one
/// more deny regex that no format expresses exactly (`(?x)`, outside RE2),
/// by `k`: one that fixes a repository prefix, one that fixes a registry,
/// one that fixes nothing (narrowed, nothing is left). `None` where the
/// compiler refuses it (a regex that denies a rewrite target).
pub(super) fn with_deny_regex(name: &str, k: usize) -> Option<(String, Policy)> {
    let (title, yaml) = name.split_once(":\n").unwrap();
    let hosts = ["registry.my.com", "quay.io", "mirror.io:5000", "docker.io"];
    let h = hosts[k % hosts.len()].replace('.', "\\.");
    let re = match k % 3 {
        0 => format!("{h}/mirror/ev(?x) il/.*"),
        1 => format!("{h}/(?x) [a-z]+ /x"),
        _ => "(?x) (quay|ghcr) \\.io/.*".to_owned(),
    };
    let rule = format!("{{regex: '{re}'}}");
    let yaml = match yaml.split_once("deny: [") {
        Some((a, b)) if a.is_empty() || a.ends_with('\n') => format!("{a}deny: [{rule}, {b}"),
        _ => format!("{yaml}deny: [{rule}]\n"),
    };
    let title = format!("{title} with a deny regex");
    let policy = Policy::from_yaml_str(&yaml, &title).ok()?.policy;
    Some((format!("{title}:\n{yaml}"), policy))
}

/// A number from the environment, or `default`.
pub(super) fn env_or(var: &str, default: u64) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// An oracle line as the node runs it: allowed by policy.json, not blocked,
/// and a pull that can be made (containers/image fails a pull whose
/// rewritten reference is not valid). The reference pulled, if admitted.
/// Issue 22: the `registries.d` file (`--format registries-d`) turns on
/// sigstore attachments for every scope that `policy.json` says
/// `sigstoreSigned`, and, for every name whose most specific `policy.json`
/// scope is one (the name as written, as containers/image judges it), at
/// the name containers/image pulls (`pulls`, after registries.conf's
/// rewrite, where it looks the setting up).
fn attachments_cover(policy_json: &str, registries_d: &str, lines: &[Value], name: &str) {
    let pj: Value = serde_json::from_str(policy_json).unwrap();
    let scopes = pj["transports"]["docker"].as_object().unwrap();
    let rd: Value = serde_saphyr::from_str(registries_d).unwrap();
    let on: Vec<&String> = rd["docker"]
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    let signed = |reqs: &Value| reqs[0]["type"] == "sigstoreSigned";
    for (scope, reqs) in scopes {
        assert!(
            !signed(reqs) || on.contains(&scope),
            "{name}registries.d does not turn on {scope}\n{policy_json}\n{registries_d}"
        );
    }
    // `host/path:tag` or `host/path@digest` to `host/path`.
    let repo = |n: &str| -> String {
        let n = n.split('@').next().unwrap_or(n);
        match n.rfind(':') {
            Some(i) if !n[i..].contains('/') => n[..i].to_owned(),
            _ => n.to_owned(),
        }
    };
    let at_or_under = |n: &str, s: &str| {
        n.strip_prefix(s)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    };
    for v in lines {
        let (Some(written), Some(pulled)) = (v["normalized"].as_str(), v["pulls"][0].as_str())
        else {
            continue;
        };
        let mut n = repo(written);
        let decides = loop {
            if let Some(reqs) = scopes.get(&n) {
                break Some(reqs);
            }
            match n.rfind('/') {
                Some(i) => n.truncate(i),
                None => break None,
            }
        };
        if decides.is_some_and(signed) {
            let pulled = repo(pulled);
            assert!(
                on.iter().any(|s| at_or_under(&pulled, s)),
                "{name}{written}: policy.json requires a signature, and registries.d does not turn on attachments at {pulled}, where it is pulled\n{policy_json}\n{registries_d}"
            );
        }
    }
}

fn node_pull(v: &Value) -> Option<&str> {
    let ok = v["allowed"] == true && v["blocked"] != true && v["error"].is_null();
    if !ok {
        return None;
    }
    // Without a registries.conf the image is pulled as named.
    v["pulls"][0].as_str().or(v["normalized"].as_str())
}

fn oracle_lines(
    oracle: &Path,
    policy_json: &str,
    registries: Option<&str>,
    input: &str,
) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let pj = dir.path().join("policy.json");
    std::fs::write(&pj, policy_json).unwrap();
    let mut cmd = Command::new(oracle);
    cmd.arg("--policy").arg(&pj);
    if let Some(text) = registries {
        let rc = dir.path().join("registries.conf");
        std::fs::write(&rc, text).unwrap();
        cmd.arg("--registries").arg(&rc);
    }
    let (ok, stdout, stderr) = run_engine(cmd, input);
    assert!(
        ok,
        "the oracle refuses the export: {stderr}\n{policy_json}\n{registries:?}"
    );
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The registries of `--add-registry` and `--block-registry` in a
/// sysconfig file, as the shell reads its variables.
fn sysconfig_lists(text: &str) -> (Vec<String>, Vec<String>) {
    let (add, block) = crate::export_cli::source(text);
    let list = |line: &str, flag: &str| -> Vec<String> {
        let words: Vec<&str> = line.split_whitespace().collect();
        words
            .chunks(2)
            .map(|w| {
                assert_eq!(w[0], flag, "{line}");
                w[1].to_owned()
            })
            .collect()
    };
    (
        list(&add, "--add-registry"),
        list(&block, "--block-registry"),
    )
}

/// OpenShift's `Image` as the Machine Config Operator writes it into the
/// nodes' policy.json: `allowedRegistries` as accepted scopes under a
/// default reject, but only when the list has an entry (an empty or absent
/// list restricts nothing); `blockedRegistries` as rejected scopes.
fn openshift_policy_json(image_config: &str) -> String {
    let v: Value = serde_saphyr::from_str(image_config).unwrap();
    let sources = &v["spec"]["registrySources"];
    let list = |key: &str| -> Vec<String> {
        sources[key]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| e.as_str().unwrap().to_owned())
            .collect()
    };
    let (allowed, blocked) = (list("allowedRegistries"), list("blockedRegistries"));
    assert!(
        allowed.is_empty() || blocked.is_empty(),
        "only one may be set"
    );
    let mut scopes = serde_json::Map::new();
    let default = if allowed.is_empty() {
        for b in blocked {
            scopes.insert(b, json!([{"type": "reject"}]));
        }
        "insecureAcceptAnything"
    } else {
        for a in allowed {
            scopes.insert(a, json!([{"type": "insecureAcceptAnything"}]));
        }
        "reject"
    };
    json!({"default": [{"type": default}], "transports": {"docker": scopes}}).to_string()
}

/// Issue 18: with rewrite rules, what each exported configuration admits,
/// after its engine's own rewriting, is admitted by `check` (which judges
/// the rewritten name) in every namespace: policy.json + registries.conf
/// under containers/image (and the image it really pulls is admitted too),
/// OpenShift's `Image` read as the Machine Config Operator writes it, RHEL
/// docker's sysconfig for fully qualified names, and the
/// ValidatingAdmissionPolicy under Google's CEL. Policies and images
/// are generated (`EXPORT_GENERATED` policies, 12 by default, from
/// `EXPORT_SEED`); each engine judges all of one policy's images in one
/// call.
#[test]
fn generated_policies_with_rewrites_are_never_wider_than_check() {
    let Some(oracle) = engine("IMAGE_POLICY_CONTAINERS_ORACLE", "containers-oracle") else {
        return;
    };
    let vap = engine("IMAGE_POLICY_VAP_PYTHON", "venv/bin/python").is_some();
    let n = env_or("EXPORT_GENERATED", 12) as usize;
    let seed = env_or("EXPORT_SEED", 18);
    let names = generated_names();
    let input = names.join("\n") + "\n";
    let namespaces = ["default", "team-a"];
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for (k, (name, policy)) in generated_policies(n, seed).into_iter().enumerate() {
        // The strict export, then --lossy (run only where the strict one is
        // refused) of the policy with one more deny regex: both never wider.
        for lossy in [false, true] {
            let variant;
            let (name, policy) = if lossy {
                let Some(v) = with_deny_regex(&name, k) else {
                    continue;
                };
                variant = v;
                (&variant.0, &variant.1)
            } else {
                (&name, &policy)
            };
            let passes_everywhere =
                |image: &str| namespaces.iter().all(|ns| passes(policy, image, ns, None));
            let exported = |policy: &Policy, name: &str, format: ExportFormat| {
                if lossy {
                    exported_lossy(policy, name, format)
                } else {
                    exported(policy, name, format)
                }
            };
            let mut count = |key: &str| {
                let key = if lossy {
                    format!("lossy {key}")
                } else {
                    key.to_owned()
                };
                *counts.entry(key).or_default() += 1;
            };
            // containers/image: policy.json with registries.conf.
            if let (Some(pj), Some(rc)) = (
                exported(policy, name, ExportFormat::ContainersPolicy),
                exported(policy, name, ExportFormat::RegistriesConf),
            ) {
                count("containers exported");
                if pj.text.contains("\"sigstoreSigned\"") {
                    // Issue 22: a verify scope said as a signature check
                    // (offline, containers/image can fetch none: refused).
                    count("containers verify as sigstoreSigned");
                }
                let lines = oracle_lines(&oracle, &pj.text, Some(&rc.text), &input);
                assert_eq!(lines.len(), names.len());
                if pj.text.contains("\"sigstoreSigned\"") {
                    let rd = export::export(
                        policy,
                        ExportFormat::RegistriesD,
                        &ExportOptions::default(),
                    )
                    .unwrap_or_else(|e| panic!("{name}registries-d: {e}"));
                    attachments_cover(&pj.text, &rd.text, &lines, name);
                    count("containers verify, registries.d checked");
                }
                for (image, v) in names.iter().zip(&lines) {
                    let Some(pulled) = node_pull(v) else { continue };
                    count("containers admitted");
                    if policy.rewrite_str(image).is_ok_and(|r| r.is_some()) {
                        count("containers admitted, rewritten");
                    }
                    assert!(
                        passes_everywhere(image) && passes_everywhere(pulled),
                        "{name}{image:?} (lossy: {lossy}): containers/image admits it (pulling {pulled}), check denies it or what is pulled\n{}\n{}",
                        pj.text,
                        rc.text
                    );
                }
            }
            // OpenShift, read as the Machine Config Operator does.
            if let Some(os) = exported(policy, name, ExportFormat::Openshift) {
                count("openshift exported");
                let lines = oracle_lines(&oracle, &openshift_policy_json(&os.text), None, &input);
                for (image, v) in names.iter().zip(&lines) {
                    if v["allowed"] == true {
                        count("openshift admitted");
                        assert!(
                            passes_everywhere(image),
                            "{name}{image:?} (lossy: {lossy}): OpenShift admits it, check denies it\n{}",
                            os.text
                        );
                    }
                }
            }
            // RHEL docker: the variables as the shell reads them; a fully
            // qualified name is pulled from its registry, refused when that is
            // blocked (all of them but the added ones, for `all`). Short names
            // are searched on the added registries first, a rewrite of its own
            // that this does not model.
            if let Some(sc) = exported(policy, name, ExportFormat::DockerSysconfig) {
                count("sysconfig exported");
                let (add, block) = sysconfig_lists(&sc.text);
                let lines = oracle_lines(
                    &oracle,
                    r#"{"default":[{"type":"insecureAcceptAnything"}]}"#,
                    None,
                    &input,
                );
                for (image, v) in names.iter().zip(&lines) {
                    let Some(normalized) = v["normalized"].as_str() else {
                        continue;
                    };
                    let host = normalized.split('/').next().unwrap();
                    if image.split('/').next() != Some(host) || !image.contains('/') {
                        continue;
                    }
                    let admitted = if block.iter().any(|b| b == "all") {
                        add.iter().any(|a| a == host)
                    } else {
                        !block.iter().any(|b| b == host)
                    };
                    if admitted {
                        count("sysconfig admitted");
                        assert!(
                            passes_everywhere(image),
                            "{name}{image:?} (lossy: {lossy}): RHEL docker admits it, check denies it\n{}",
                            sc.text
                        );
                    }
                }
            }
            if !vap {
                continue;
            }
            let Some(exp) = exported(policy, name, ExportFormat::ValidatingAdmissionPolicy) else {
                continue;
            };
            count("vap exported");
            // Every image a rule rewrites and every fourth other (the CEL
            // runtime is slow on a shared machine), in alternating namespaces.
            let images: Vec<&String> = names
                .iter()
                .enumerate()
                .filter(|(i, img)| {
                    (i + k) % 6 == 0 || policy.rewrite_str(img).map_or(true, |r| r.is_some())
                })
                .map(|(_, img)| img)
                .filter(|img| !img.contains('\0'))
                .collect();
            let requests: Vec<Value> = images
                .iter()
                .enumerate()
                .map(|(i, img)| {
                    let ns = namespaces[i % 2];
                    json!({"operation": "CREATE", "namespace": ns, "object": {
                    "apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": "p", "namespace": ns},
                    "spec": {"containers": [{"name": "c", "image": img}]}}})
                })
                .collect();
            let docs: Vec<Value> = serde_saphyr::from_multiple(&exp.text).unwrap();
            let policies: Vec<&Value> = docs
                .iter()
                .filter(|d| d["kind"] == "ValidatingAdmissionPolicy")
                .collect();
            assert_eq!(policies.len(), 1, "{name}: one mode, one policy");
            let answers = vap_eval(&to_yaml_doc(policies[0]), &requests);
            for (i, (image, out)) in images.iter().zip(&answers).enumerate() {
                if out["allowed"] == true {
                    count("vap admitted");
                    if policy.rewrite_str(image).is_ok_and(|r| r.is_some()) {
                        count("vap admitted, rewritten");
                    }
                    let ns = namespaces[i % 2];
                    assert!(
                        allowed(policy, image, ns, None),
                        "{name}{image:?} in {ns}: the VAP admits it, check denies it\n{}",
                        exp.text
                    );
                }
            }
        }
    }
    eprintln!("generated policies ({n}, seed {seed}): {counts:?}");
    assert!(
        [
            "containers admitted, rewritten",
            "openshift admitted",
            "vap admitted, rewritten",
            "lossy containers admitted",
            "lossy sysconfig admitted",
            "lossy vap admitted"
        ]
        .iter()
        .all(|k| counts.get(*k).copied().unwrap_or(0) > 0 || !vap && k.starts_with("vap")),
        "the generated policies exercise the exports: {counts:?}"
    );
}
