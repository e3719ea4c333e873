//! `--format json`: one JSON object per run, for programs.
//!
//! # Schema (version 1)
//!
//! ```text
//! {
//!   "version": 1,
//!   "summary": { "files", "objects", "images", "violations", "errors",
//!                "skipped", "suppressed", "problems": integer },
//!   "findings": [ {                      // every image judged, allowed ones too
//!     "file": string, "line": integer, "column": integer,   // 1-based, characters
//!     "object": { "kind": string, "namespace": string|null, "name": string|null },
//!     "container": string|null,          // Kubernetes objects only (a volume's name for an image volume)
//!     "path": string|null,               // e.g. spec.template.spec.containers[0].image, spec.volumes[1].image.reference
//!     "image": string,                   // as the runtime sees it (variables substituted)
//!     "written": string|null,            // as written, when it differs (${BASE})
//!     "canonical": string|null,          // docker.io/library/nginx:1.25; null when unparseable
//!     "violation": boolean,              // a rule was broken (in any mode)
//!     "allowed": boolean,                // what the cluster would answer
//!     "level": "error"|"warning"|"none", // error: denied; warning: violation admitted (warn/audit, break-glass)
//!     "mode": "enforce"|"warn"|"audit",
//!     "code": string,                    // decision code: allowed, registry-not-allowed, ...
//!     "reason": string,                  // the one-line reason
//!     "rule": { "index": integer, "path": string,        // allow[2], tags.requireDigest
//!               "description": string, "location": string|null } | null,
//!     "rewritten": string|null,          // what a rewrite rule made of the image (and what was judged,
//!                                        // unless judged_as_written); lint --fix writes it into the file
//!     "rewrite_rule": { same as rule } | null, // the rewrite rule that applied
//!     "judged_as_written": boolean,      // a Dockerfile's or compose file's image: no /mutate reaches it
//!     "unfixable": string|null,          // why lint --fix cannot write "rewritten" (or, for pin-required, the pin) into the file
//!     "exemptions": [ {                  // present only when the image used exempt: rules
//!       "kind": "tags"|"digest"|"deny"|"pin"|"verify", // the kind lifted
//!       "code": string,                  // the code the image would have had without it
//!       "reason": string,                // the exemption's reason
//!       "exemption": { same as rule },   // exempt[0]
//!       "exempted": { same as rule }     // the rule lifted: tags.deny[0], deny[2], ...
//!     } ]
//!   } ],
//!   "problems": [ {                      // inputs that could not be read or judged
//!     "file": string, "line": integer|null, "column": integer|null,
//!     "code": "read-error"|"parse-error"|"invalid-object"|"unresolved-variable",
//!     "message": string
//!   } ],
//!   "suppressed": [ { "file", "line", "column", "object", "reason": string, "images": integer } ],
//!   "skipped": [ { "file": string, "reason": string } ]
//! }
//! ```
//!
//! Arrays are in file order (the walk's), then line and column. New keys may
//! be added in later versions; existing keys keep their meaning.

use crate::report::{Holder, Report, RuleRef};
use serde::Serialize;
use serde_json::{Value, json};
use std::io::{self, Write};

/// The schema version printed in `"version"`.
pub const VERSION: u32 = 1;

#[derive(Serialize)]
struct Object<'a> {
    kind: &'a str,
    namespace: Option<&'a str>,
    name: Option<&'a str>,
}

fn object(h: &Holder) -> Object<'_> {
    Object {
        kind: &h.kind,
        namespace: h.namespace.as_deref(),
        name: h.name.as_deref(),
    }
}

fn rule(r: &RuleRef) -> Value {
    json!({
        "index": r.index,
        "path": r.path,
        "description": r.description,
        "location": r.location,
    })
}

/// The report as a JSON value.
pub fn to_value(report: &Report) -> Value {
    let s = report.summary();
    let mut findings = Vec::new();
    let mut problems = Vec::new();
    let mut suppressed = Vec::new();
    let mut skipped = Vec::new();
    for file in &report.files {
        for f in &file.findings {
            let v = &f.verdict;
            let mut finding = json!({
                "file": file.name,
                "line": f.site.position.line,
                "column": f.site.position.column,
                "object": object(&f.site.holder),
                "container": f.site.container,
                "path": f.site.path,
                "image": f.site.image,
                "written": f.site.written,
                "canonical": v.canonical,
                "violation": v.violates,
                "allowed": v.allowed,
                "level": v.level().as_str(),
                "mode": v.mode.as_str(),
                "code": v.code.as_str(),
                "reason": v.reason,
                "rule": v.rule.as_ref().map(rule),
                "rewritten": v.rewritten,
                "rewrite_rule": v.rewrite_rule.as_ref().map(rule),
                "judged_as_written": v.as_written,
                "unfixable": v.unfixable,
            });
            if !v.exemptions.is_empty() {
                finding["exemptions"] = v
                    .exemptions
                    .iter()
                    .map(|e| {
                        json!({
                            "kind": e.kind.as_str(),
                            "code": e.code.as_str(),
                            "reason": e.reason,
                            "exemption": rule(&e.exemption),
                            "exempted": rule(&e.exempted),
                        })
                    })
                    .collect();
            }
            findings.push(finding);
        }
        for p in &file.problems {
            problems.push(json!({
                "file": file.name,
                "line": p.position.map(|p| p.line),
                "column": p.position.map(|p| p.column),
                "code": p.code.as_str(),
                "message": p.message,
            }));
        }
        for x in &file.suppressed {
            suppressed.push(json!({
                "file": file.name,
                "line": x.position.line,
                "column": x.position.column,
                "object": object(&x.holder),
                "reason": x.reason,
                "images": x.images,
            }));
        }
        if let Some(skip) = &file.skipped {
            skipped.push(json!({ "file": file.name, "reason": skip.reason }));
        }
    }
    json!({
        "version": VERSION,
        "summary": {
            "files": s.files,
            "objects": s.objects,
            "images": s.images,
            "violations": s.violations,
            "errors": s.errors,
            "skipped": s.skipped,
            "suppressed": s.suppressed,
            "problems": s.problems,
        },
        "findings": findings,
        "problems": problems,
        "suppressed": suppressed,
        "skipped": skipped,
    })
}

/// Prints the report as pretty JSON and a newline.
pub fn render(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &to_value(report))?;
    writeln!(out)
}
