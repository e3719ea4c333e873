//! Every decision case of `testdata/policy/decisions/*.yaml`, and every load
//! case of `testdata/policy/load.yaml`, checked by one harness.

use image_policy_core::policy::{Context, DiagnosticCode, Policy, Severity};
use serde::Deserialize;
use std::collections::BTreeMap;

const DIGEST: &str = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Group {
    name: String,
    /// The policy, inline (loaded through JSON) ...
    policy: Option<serde_json::Value>,
    /// ... or a file of the repository (loaded as YAML, by its file name).
    policy_file: Option<String>,
    #[serde(default)]
    warnings: Vec<String>,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    image: Option<String>,
    long: Option<Long>,
    namespace: Option<String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    allowed: bool,
    code: String,
    /// `Some(None)` asserts that no rule decided.
    #[serde(default, deserialize_with = "some")]
    rule: Option<Option<String>>,
    violates: Option<bool>,
    break_glass: Option<bool>,
    reason: Option<String>,
    /// The reference a rewrite rule makes; `Some(None)` asserts that none applies.
    #[serde(default, deserialize_with = "some")]
    rewritten: Option<Option<String>>,
    /// The exemptions used, each `KIND RULE by EXEMPTION` (`tags
    /// tags.deny[0] by exempt[1]`), in order; none when absent.
    #[serde(default)]
    exempted: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Long {
    prefix: String,
    unit: String,
    times: usize,
    suffix: String,
}

fn some<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

impl Case {
    fn image(&self) -> String {
        match (&self.image, &self.long) {
            (Some(image), None) => image.replace("${DIGEST}", DIGEST),
            (None, Some(l)) => format!("{}{}{}", l.prefix, l.unit.repeat(l.times), l.suffix),
            _ => panic!("a case has exactly one of image and long"),
        }
    }
}

fn short(s: &str) -> String {
    if s.len() > 60 {
        format!(
            "{:?}… ({} bytes)",
            &s[..s.char_indices().nth(60).map_or(s.len(), |(i, _)| i)],
            s.len()
        )
    } else {
        format!("{s:?}")
    }
}

#[test]
fn decisions() {
    let dir = crate::testdata("policy/decisions");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "the decision files are found");
    let mut failures = Vec::new();
    let mut count = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let groups: Vec<Group> =
            serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let file_name = file.file_name().unwrap().to_string_lossy().into_owned();
        for group in groups {
            let loaded = match (&group.policy, &group.policy_file) {
                // Through JSON: the JSON loader is exercised by every inline group.
                (Some(policy), None) => {
                    Policy::from_json_str(&serde_json::to_string(policy).unwrap(), &file_name)
                }
                (None, Some(path)) => {
                    let full = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                        .join("..")
                        .join(path);
                    let src =
                        std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{path}: {e}"));
                    let name = full.file_name().unwrap().to_string_lossy().into_owned();
                    Policy::from_yaml_str(&src, &name)
                }
                _ => panic!(
                    "{file_name} / {}: exactly one of policy and policy_file",
                    group.name
                ),
            };
            let loaded = match loaded {
                Ok(loaded) => loaded,
                Err(e) => {
                    failures.push(format!(
                        "{file_name} / {}: policy does not load:\n{e}",
                        group.name
                    ));
                    continue;
                }
            };
            let warnings: Vec<&str> = loaded.warnings.iter().map(|w| w.code.as_str()).collect();
            if warnings != group.warnings {
                failures.push(format!(
                    "{file_name} / {}: warnings {warnings:?}, want {:?}",
                    group.name, group.warnings
                ));
            }
            for case in &group.cases {
                count += 1;
                let image = case.image();
                let annotations: Vec<(&str, &str)> = case
                    .annotations
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                let mut ctx = Context::new().annotations(&annotations);
                if let Some(ns) = &case.namespace {
                    ctx = ctx.namespace(ns);
                }
                // Rewrite, then judge, as the webhook's /mutate does. A
                // failed rewrite is a denial with the code `rewrite-failed`.
                let rewritten = match loaded.policy.rewrite_str(&image) {
                    Ok(r) => r,
                    Err(e) => {
                        if case.allowed || case.code != "rewrite-failed" {
                            failures.push(format!(
                                "{file_name} / {} / {}: rewrite failed: {e}",
                                group.name,
                                short(&image)
                            ));
                        }
                        continue;
                    }
                };
                let d = loaded
                    .policy
                    .evaluate_rewritten(&image, rewritten.as_ref(), &ctx);
                let reason = d.to_string();
                let mut wrong = Vec::new();
                if let Some(want) = &case.rewritten {
                    let got = d
                        .rewritten()
                        .map(|r| r.as_str().replace(DIGEST, "${DIGEST}"));
                    if &got != want {
                        wrong.push(format!("rewritten {got:?} (want {want:?})"));
                    }
                }
                if d.allowed() != case.allowed {
                    wrong.push(format!("allowed {} (want {})", d.allowed(), case.allowed));
                }
                if d.code().as_str() != case.code {
                    wrong.push(format!("code {} (want {})", d.code(), case.code));
                }
                if let Some(want) = &case.rule {
                    let got = d.rule().map(|r| r.path.to_owned());
                    if &got != want {
                        wrong.push(format!("rule {got:?} (want {want:?})"));
                    }
                }
                let exempted: Vec<String> = d
                    .exemptions()
                    .map(|u| format!("{} {} by {}", u.kind, u.exempted.path, u.exemption.path))
                    .collect();
                if exempted != case.exempted {
                    wrong.push(format!("exempted {exempted:?} (want {:?})", case.exempted));
                }
                let owned = d.into_owned();
                let owned_exempted: Vec<String> = owned
                    .exemptions()
                    .iter()
                    .map(|u| format!("{} {} by {}", u.kind, u.exempted.path, u.exemption.path))
                    .collect();
                if owned_exempted != exempted {
                    wrong.push(format!("owned exempted {owned_exempted:?}"));
                }
                for u in d.exemptions() {
                    if !reason.contains(&u.to_string()) {
                        wrong.push(format!("reason does not say {u}"));
                    }
                }
                if let Some(want) = case.violates.filter(|w| *w != d.violates()) {
                    wrong.push(format!("violates {} (want {want})", d.violates()));
                }
                if let Some(want) = case.break_glass.filter(|w| *w != d.break_glass_used()) {
                    wrong.push(format!(
                        "break_glass {} (want {want})",
                        d.break_glass_used()
                    ));
                }
                if let Some(want) = case
                    .reason
                    .as_ref()
                    .filter(|w| !reason.contains(w.as_str()))
                {
                    wrong.push(format!("reason does not contain {want:?}"));
                }
                // Every violation names the rule that decided, or the list / parse error.
                if d.violates()
                    && d.rule().is_none()
                    && !matches!(
                        d.code().as_str(),
                        "registry-not-allowed" | "unparseable" | "break-glass"
                    )
                {
                    wrong.push("a violation without a rule".to_owned());
                }
                if let Some(rule) = d.rule()
                    && !reason.contains(rule.path)
                {
                    wrong.push(format!("reason does not name the rule {}", rule.path));
                }
                if !wrong.is_empty() {
                    failures.push(format!(
                        "{file_name} / {} / {}: {}\n    reason: {}",
                        group.name,
                        short(&image),
                        wrong.join(", "),
                        short(&reason)
                    ));
                }
            }
        }
    }
    assert!(count > 100, "{count} cases");
    assert!(
        failures.is_empty(),
        "{} of {count} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoadCase {
    name: String,
    #[serde(default = "yaml")]
    format: String,
    source: String,
    #[serde(default)]
    errors: Vec<String>,
    #[serde(default)]
    warnings: Vec<String>,
}

fn yaml() -> String {
    "yaml".to_owned()
}

#[test]
fn loading() {
    let text = std::fs::read_to_string(crate::testdata("policy/load.yaml")).unwrap();
    let cases: Vec<LoadCase> = serde_saphyr::from_str(&text).unwrap();
    assert!(cases.len() >= 10);
    let mut failures = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for case in &cases {
        let result = match case.format.as_str() {
            "json" => Policy::from_json_str(&case.source, "p.json"),
            _ => Policy::from_yaml_str(&case.source, "p.yaml"),
        };
        let diagnostics = match &result {
            Ok(loaded) => loaded.warnings.clone(),
            Err(e) => e.diagnostics().to_vec(),
        };
        let render = |severity: Severity| -> Vec<String> {
            diagnostics
                .iter()
                .filter(|d| d.severity == severity)
                .map(|d| match &d.location {
                    Some(l) => {
                        assert!(l.origin == "p.yaml" || l.origin == "p.json");
                        format!("{}:{} {}", l.line, l.column, d.code)
                    }
                    None => format!("- {}", d.code),
                })
                .collect()
        };
        let (errors, warnings) = (render(Severity::Error), render(Severity::Warning));
        seen.extend(diagnostics.iter().map(|d| d.code));
        if errors != case.errors || warnings != case.warnings {
            let all: Vec<String> = diagnostics.iter().map(|d| d.to_string()).collect();
            failures.push(format!(
                "{}: errors {errors:?} (want {:?}), warnings {warnings:?} (want {:?})\n    {}",
                case.name,
                case.errors,
                case.warnings,
                all.join("\n    ")
            ));
        }
        if result.is_ok() != case.errors.is_empty() {
            failures.push(format!(
                "{}: loaded {} with errors {:?}",
                case.name,
                result.is_ok(),
                case.errors
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Every code the loader can report is shown by a case here.
    let untested: Vec<&str> = DiagnosticCode::ALL
        .iter()
        .filter(|c| !seen.contains(*c))
        .map(|c| c.as_str())
        .collect();
    assert!(
        untested.is_empty(),
        "no case in load.yaml reports {untested:?}"
    );
}
