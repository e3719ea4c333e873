//! Exemptions (`exempt:` rules, issue 26 item 2) as `check` and `lint` show
//! them: the text reason, `check --format json`'s `exemptions`, lint's JSON
//! `exemptions` and SARIF results suppressed (kind `external`, the reason as
//! justification), on `examples/exempt.yaml`.

use super::lint::image_policy;
use serde_json::Value;

const MANIFEST: &[u8] = b"apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n    - {name: a, image: 'registry.my.com/tools/debug:latest'}\n    - {name: b, image: 'registry.my.com/tools/other:latest'}\n    - {name: c, image: 'registry.my.com/app:1'}\n";

const USED: &str = "exempt from tags (tags.deny[0]) by exempt[0]: the debug image follows latest, by the tools team's choice";

#[test]
fn check_prints_each_exemption_used() {
    let images = [
        "check",
        "--policy",
        "examples/exempt.yaml",
        "registry.my.com/tools/debug:latest",
        "registry.my.com/tools/other:latest",
    ];
    let text = image_policy(&images, None);
    assert_eq!(text.code, 1, "{}", text.stderr);
    let lines: Vec<&str> = text.stdout.lines().collect();
    assert!(
        lines[0].starts_with("ALLOWED  registry.my.com/tools/debug:latest: allowed by allow[0]")
            && lines[0].ends_with(USED),
        "{}",
        text.stdout
    );
    assert!(
        lines[1].starts_with("DENIED") && !lines[1].contains("exempt from"),
        "{}",
        text.stdout
    );

    let mut args = images.to_vec();
    args.extend(["--format", "json"]);
    let json = image_policy(&args, None);
    let lines: Vec<Value> = json
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON lines"))
        .collect();
    let used = lines[0]["exemptions"].as_array().expect("exemptions");
    assert_eq!(used.len(), 1, "{}", json.stdout);
    assert_eq!(used[0]["kind"], "tags");
    assert_eq!(used[0]["code"], "latest-tag");
    assert_eq!(
        used[0]["reason"],
        "the debug image follows latest, by the tools team's choice"
    );
    assert_eq!(used[0]["exemption"]["path"], "exempt[0]");
    assert_eq!(used[0]["exemption"]["kind"], "exempt");
    assert_eq!(
        used[0]["exemption"]["location"],
        "examples/exempt.yaml:21:5"
    );
    assert_eq!(used[0]["exempted"]["path"], "tags.deny[0]");
    // No exemption used: no key.
    assert!(lines[1].get("exemptions").is_none(), "{}", json.stdout);
}

fn lint(format: &str) -> super::lint::Run {
    image_policy(
        &[
            "lint",
            "--policy",
            "examples/exempt.yaml",
            "--color",
            "never",
            "--format",
            format,
            "-",
        ],
        Some(MANIFEST),
    )
}

#[test]
fn lint_reports_each_exemption_used_in_text_json_and_sarif() {
    let text = lint("text");
    assert_eq!(text.code, 1, "{}", text.stderr);
    assert!(
        text.stdout.contains("tools/other:latest"),
        "{}",
        text.stdout
    );

    let json = lint("json");
    let report: Value = serde_json::from_str(&json.stdout).expect("JSON");
    let findings = report["findings"].as_array().expect("findings");
    let debug = findings
        .iter()
        .find(|f| f["image"] == "registry.my.com/tools/debug:latest")
        .expect("the exempt image is a finding");
    assert_eq!(debug["code"], "allowed", "{report}");
    assert!(
        debug["reason"].as_str().unwrap().ends_with(USED),
        "{report}"
    );
    let used = debug["exemptions"].as_array().expect("exemptions");
    assert_eq!(used.len(), 1, "{report}");
    assert_eq!(used[0]["kind"], "tags");
    assert_eq!(used[0]["code"], "latest-tag");
    assert_eq!(used[0]["exemption"]["path"], "exempt[0]");
    assert_eq!(
        used[0]["exemption"]["location"],
        "examples/exempt.yaml:21:5"
    );
    assert_eq!(used[0]["exempted"]["path"], "tags.deny[0]");
    for f in findings
        .iter()
        .filter(|f| f["image"] != "registry.my.com/tools/debug:latest")
    {
        assert!(f.get("exemptions").is_none(), "{f}");
    }

    let sarif = lint("sarif");
    let log: Value = serde_json::from_str(&sarif.stdout).expect("SARIF is JSON");
    let results = log["runs"][0]["results"].as_array().expect("results");
    let suppressed: Vec<&Value> = results
        .iter()
        .filter(|r| r.get("suppressions").is_some())
        .collect();
    assert_eq!(suppressed.len(), 1, "{log}");
    let r = suppressed[0];
    assert_eq!(r["ruleId"], "latest-tag", "{log}");
    assert_eq!(r["level"], "error", "{log}");
    assert_eq!(
        r["locations"][0]["physicalLocation"]["region"]["startLine"],
        6
    );
    let s = &r["suppressions"][0];
    assert_eq!(s["kind"], "external");
    assert_eq!(
        s["justification"],
        "the debug image follows latest, by the tools team's choice"
    );
    assert_eq!(s["properties"]["exemption"], "exempt[0]");
    assert_eq!(s["properties"]["exempted"], "tags.deny[0]");
    // The denied image is an unsuppressed result of the same rule.
    assert!(
        results
            .iter()
            .any(|r| r["ruleId"] == "latest-tag" && r.get("suppressions").is_none()),
        "{log}"
    );
    // Valid SARIF 2.1.0, as lint's other logs.
    let errors = super::lint::sarif_errors(&log);
    assert!(errors.is_empty(), "{errors:#?}");
}
