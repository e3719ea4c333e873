//! `--format sarif`: SARIF 2.1.0
//! (<https://docs.oasis-open.org/sarif/sarif/v2.1.0/sarif-v2.1.0.html>) as
//! GitHub code scanning accepts it
//! (<https://docs.github.com/en/code-security/code-scanning/integrating-with-code-scanning/sarif-support-for-code-scanning>).
//!
//! One run; `tool.driver.rules` lists each decision or problem code that
//! occurs, and each result points at its rule by `ruleId` and `ruleIndex`.
//! Results are the violations (level `error` when the policy enforces,
//! `warning` in warn/audit mode) and the problems (level `error`); allowed
//! images are not results. Locations are the file as given (relative paths
//! stay relative, resolved against `%SRCROOT%`), with the image's line and
//! column range. Suppressed objects are results too, with a `suppressions`
//! entry (kind `inSource`) carrying the annotation's reason, so viewers show
//! them as dismissed rather than not at all. So is each rule an image broke
//! and an `exempt:` rule of the policy lifted: a result under the code the
//! image would have had (`latest-tag`, `denied-by-rule`, ...), at the level
//! it would have had, with a `suppressions` entry of kind `external` (the
//! exemption lives in the policy, not in the file) whose `justification`
//! is the exemption's reason and whose `properties` name the exemption and
//! the rule it lifted (`exemption`, `exempted`: paths in the policy).

use super::{Entry, entries};
use crate::report::{Level, Position, ProblemCode, Report};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::{self, Write};

/// The schema URI written in `$schema`.
pub const SCHEMA_URI: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// The rule id of a suppressed object's result.
const SUPPRESSED_RULE: &str = "suppressed";

/// The description of the suppressed objects' rule.
const SUPPRESSED_DESCRIPTION: &str = "An object skipped by its image-policy.dev/ignore annotation.";

fn uri(name: &str) -> String {
    // Percent-encode what a URI reference cannot hold as is.
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn location(file: &str, position: Option<Position>, width: usize) -> Value {
    let mut physical = json!({
        "artifactLocation": { "uri": uri(file), "uriBaseId": "%SRCROOT%" },
    });
    if let Some(p) = position {
        physical["region"] = json!({
            "startLine": p.line,
            "startColumn": p.column,
            "endColumn": p.column + width.max(1),
        });
    }
    json!({ "physicalLocation": physical })
}

/// The report as a SARIF log.
pub fn to_value(report: &Report) -> Value {
    // (rule id -> (description, default level)), in id order.
    let mut rules: BTreeMap<String, (&'static str, Level)> = BTreeMap::new();
    let mut pending = Vec::new();
    for file in &report.files {
        for entry in entries(file, false) {
            let (rule, level, message, position, width) = match entry {
                Entry::Finding(f) => {
                    let mut message = f.verdict.reason.clone();
                    let mut holder = f.site.holder.to_string();
                    if let Some(entry) = f.site.entry_label() {
                        holder.push_str(", ");
                        holder.push_str(&entry);
                    }
                    message.push_str(&format!(" ({holder})"));
                    if let Some(note) = super::rewrite_note(&f.verdict) {
                        message.push_str("; ");
                        message.push_str(&note);
                    }
                    rules
                        .entry(f.verdict.code.as_str().to_owned())
                        .or_insert((f.verdict.code.description(), Level::Error));
                    (
                        f.verdict.code.as_str().to_owned(),
                        entry.level(),
                        message,
                        Some(f.site.position),
                        f.site.width,
                    )
                }
                Entry::Problem(p) => {
                    rules
                        .entry(p.code.as_str().to_owned())
                        .or_insert((p.code.description(), Level::Error));
                    (
                        p.code.as_str().to_owned(),
                        Level::Error,
                        p.message.clone(),
                        p.position,
                        1,
                    )
                }
            };
            pending.push((
                rule,
                level,
                message,
                location(&file.name, position, width),
                None,
            ));
        }
        for s in &file.suppressed {
            rules
                .entry(SUPPRESSED_RULE.to_owned())
                .or_insert((SUPPRESSED_DESCRIPTION, Level::Warning));
            pending.push((
                SUPPRESSED_RULE.to_owned(),
                Level::Warning,
                format!(
                    "{} skipped by its {} annotation",
                    s.holder,
                    crate::report::IGNORE_ANNOTATION
                ),
                location(&file.name, Some(s.position), 1),
                Some(("inSource", s.reason.clone(), Value::Null)),
            ));
        }
        for f in file
            .findings
            .iter()
            .filter(|f| !f.verdict.exemptions.is_empty())
        {
            let level = if f.verdict.mode == image_policy_core::policy::Mode::Enforce {
                Level::Error
            } else {
                Level::Warning
            };
            for e in &f.verdict.exemptions {
                rules
                    .entry(e.code.as_str().to_owned())
                    .or_insert((e.code.description(), Level::Error));
                let mut holder = f.site.holder.to_string();
                if let Some(entry) = f.site.entry_label() {
                    holder.push_str(", ");
                    holder.push_str(&entry);
                }
                pending.push((
                    e.code.as_str().to_owned(),
                    level,
                    format!("{}: {} ({holder})", f.site.image, e.text),
                    location(&file.name, Some(f.site.position), f.site.width),
                    Some((
                        "external",
                        e.reason.clone(),
                        json!({
                            "exemption": e.exemption.path,
                            "exempted": e.exempted.path,
                            "kind": e.kind.as_str(),
                        }),
                    )),
                ));
            }
        }
    }
    let index: BTreeMap<&str, usize> = rules
        .keys()
        .enumerate()
        .map(|(i, k)| (k.as_str(), i))
        .collect();
    let results: Vec<Value> = pending
        .iter()
        .map(|(rule, level, message, location, suppression)| {
            let mut r = json!({
                "ruleId": rule,
                "ruleIndex": index[rule.as_str()],
                "level": level.as_str(),
                "message": { "text": message },
                "locations": [location],
            });
            if let Some((kind, reason, properties)) = suppression {
                let mut s = json!({ "kind": kind, "justification": reason });
                if !properties.is_null() {
                    s["properties"] = properties.clone();
                }
                r["suppressions"] = json!([s]);
            }
            r
        })
        .collect();
    let rules: Vec<Value> = rules
        .iter()
        .map(|(id, (description, level))| {
            let problem = ProblemCode::ALL.iter().any(|c| c.as_str() == id);
            json!({
                "id": id,
                "name": id,
                "shortDescription": { "text": description },
                "fullDescription": { "text": description },
                "help": { "text": format!("{description} See `image-policy lint --help`.") },
                "defaultConfiguration": { "level": level.as_str() },
                "properties": {
                    "tags": [if problem { "input" } else { "image-policy" }],
                },
            })
        })
        .collect();
    let s = report.summary();
    json!({
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "image-policy",
                    "informationUri": env!("CARGO_PKG_REPOSITORY"),
                    "semanticVersion": env!("CARGO_PKG_VERSION"),
                    "rules": rules,
                }
            },
            "columnKind": "unicodeCodePoints",
            "invocations": [{
                "executionSuccessful": s.input_errors == 0,
            }],
            "results": results,
            "properties": {
                "summary": {
                    "files": s.files,
                    "objects": s.objects,
                    "images": s.images,
                    "violations": s.violations,
                    "skipped": s.skipped,
                    "suppressed": s.suppressed,
                    "problems": s.problems,
                }
            }
        }]
    })
}

/// Prints the SARIF log as pretty JSON and a newline.
pub fn render(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &to_value(report))?;
    writeln!(out)
}
