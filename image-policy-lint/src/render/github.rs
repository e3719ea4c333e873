//! `--format github`: GitHub Actions workflow commands
//! (<https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-commands>),
//! which the runner turns into annotations on the pull request's files.
//!
//! ```text
//! ::error file=deploy/web.yaml,line=21,col=16,endColumn=32,title=image-policy registry-not-allowed::docker.io/library/prometheus:2.6.1: registry docker.io is not in the allowed registries (registry.my.com) (Deployment default/web, container prometheus)
//! ```
//!
//! Violations in warn/audit mode are `::warning`, suppressed objects
//! `::notice`; skipped files and the summary are plain log lines, escaped
//! as a command's message is, so that a file name holding a line break
//! cannot start a workflow command of its own.

use super::{Entry, entries};
use crate::report::{Level, Report};
use std::io::{self, Write};

use super::escape::{github_data as data, github_property as property};

/// Prints the report.
pub fn render(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    for file in &report.files {
        for entry in entries(file, false) {
            let command = match entry.level() {
                Level::Error => "error",
                Level::Warning => "warning",
                // An allowed image shown because a rewrite rule changes it.
                Level::None => "notice",
            };
            let (code, message, position, width) = match &entry {
                Entry::Finding(f) => {
                    let mut holder = f.site.holder.to_string();
                    if let Some(entry) = f.site.entry_label() {
                        holder.push_str(", ");
                        holder.push_str(&entry);
                    }
                    let mut message = format!("{} ({holder})", f.verdict.reason);
                    if let Some(note) = super::rewrite_note(&f.verdict) {
                        message.push_str("; ");
                        message.push_str(&note);
                    }
                    (
                        f.verdict.code.as_str(),
                        message,
                        Some(f.site.position),
                        f.site.width,
                    )
                }
                Entry::Problem(p) => (p.code.as_str(), p.message.clone(), p.position, 1),
            };
            let mut props = format!("file={}", property(&file.name));
            if let Some(p) = position {
                props.push_str(&format!(
                    ",line={},col={},endColumn={}",
                    p.line,
                    p.column,
                    p.column + width.max(1)
                ));
            }
            props.push_str(&format!(
                ",title={}",
                property(&format!("image-policy {code}"))
            ));
            writeln!(out, "::{command} {props}::{}", data(&message))?;
        }
        for s in &file.suppressed {
            writeln!(
                out,
                "::notice file={},line={},col={},title={}::{}",
                property(&file.name),
                s.position.line,
                s.position.column,
                property("image-policy suppressed"),
                data(&format!("{} skipped: {}", s.holder, s.reason)),
            )?;
        }
    }
    for file in &report.files {
        if let Some(skip) = &file.skipped {
            writeln!(out, "skipped: {}: {}", data(&file.name), data(&skip.reason))?;
        }
    }
    writeln!(out, "lint: {}", data(&report.summary().to_string()))
}
