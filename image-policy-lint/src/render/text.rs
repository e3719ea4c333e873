//! `--format text`: rustc-style messages with the offending line and a caret
//! under the image, for people.
//!
//! ```text
//! error[registry-not-allowed]: docker.io/library/prometheus:2.6.1: registry docker.io is not in the allowed registries (registry.my.com)
//!   --> deploy/web.yaml:21:16
//!    |
//! 21 |       - image: prometheus:2.6.1
//!    |                ^^^^^^^^^^^^^^^^ Deployment default/web, container prometheus
//!    |
//!    = rule: allow[0] (allow registry.my.com) (policy.yaml:3:5)
//! ```
//!
//! Colour only when asked (the command turns it on for a terminal unless
//! `NO_COLOR` is set). Names and messages come from the linted files, so
//! each is escaped ([`super::escape`]): a file name with a line break is
//! printed quoted (`"a\nb.yaml"`), a message's control characters as
//! escapes, the shown source line with visible symbols for them.

use super::escape::{message, name as escaped_name, source_line};
use super::{Entry, Style, entries};
use crate::lines::Lines;
use crate::report::{Finding, Level, Position, Problem, Report};
use image_policy_core::policy::DecisionCode;
use std::io::{self, Write};

const RESET: &str = "\x1b[0m";
const BOLD: &str = "\x1b[1m";
const RED: &str = "\x1b[1;31m";
const YELLOW: &str = "\x1b[1;33m";
const BLUE: &str = "\x1b[1;34m";
const GREEN: &str = "\x1b[1;32m";

struct Painter {
    color: bool,
}

impl Painter {
    fn paint(&self, code: &'static str, text: &str) -> String {
        if self.color {
            format!("{code}{text}{RESET}")
        } else {
            text.to_owned()
        }
    }

    fn level(&self, level: Level) -> &'static str {
        match level {
            Level::Error => RED,
            Level::Warning => YELLOW,
            Level::None => GREEN,
        }
    }
}

/// Prints the report.
pub fn render(report: &Report, style: Style, out: &mut dyn Write) -> io::Result<()> {
    let p = Painter { color: style.color };
    for file in &report.files {
        let entries = entries(file, style.show_allowed);
        if entries.is_empty() {
            continue;
        }
        let lines = Lines::new(&file.text);
        for entry in entries {
            match entry {
                Entry::Finding(f) => finding(&p, &escaped_name(&file.name), &lines, f, out)?,
                Entry::Problem(pr) => problem(&p, &escaped_name(&file.name), &lines, pr, out)?,
            }
            writeln!(out)?;
        }
    }
    for file in &report.files {
        for s in &file.suppressed {
            let images = if s.images == 1 { "image" } else { "images" };
            writeln!(
                out,
                "{}: {}:{}: {} ({} {images} not judged): {}",
                p.paint(BOLD, "suppressed"),
                escaped_name(&file.name),
                s.position,
                message(&s.holder.to_string()),
                s.images,
                if s.reason.is_empty() {
                    "(no reason given)".into()
                } else {
                    message(&s.reason)
                }
            )?;
        }
    }
    for file in &report.files {
        if let Some(skip) = &file.skipped {
            writeln!(
                out,
                "{}: {}: {}",
                p.paint(BOLD, "skipped"),
                escaped_name(&file.name),
                message(&skip.reason)
            )?;
        }
    }
    let summary = report.summary();
    let head = if summary.input_errors > 0 || summary.errors > 0 || summary.problems > 0 {
        p.paint(RED, "lint")
    } else if summary.violations > 0 {
        p.paint(YELLOW, "lint")
    } else {
        p.paint(GREEN, "lint")
    };
    writeln!(out, "{head}: {summary}")
}

fn finding(
    p: &Painter,
    name: &str,
    text: &Lines<'_>,
    f: &Finding,
    out: &mut dyn Write,
) -> io::Result<()> {
    let level = f.verdict.level();
    let title = match level {
        Level::None if f.verdict.code == DecisionCode::Allowed => "allowed".to_owned(),
        Level::None => format!("allowed[{}]", f.verdict.code.as_str()),
        Level::Warning => format!("warning[{}]", f.verdict.code.as_str()),
        Level::Error => format!("error[{}]", f.verdict.code.as_str()),
    };
    writeln!(
        out,
        "{}{}",
        p.paint(p.level(level), &title),
        p.paint(BOLD, &format!(": {}", message(&f.verdict.reason))),
    )?;
    let mut label = f.site.holder.to_string();
    if let Some(entry) = f.site.entry_label() {
        label.push_str(", ");
        label.push_str(&entry);
    }
    if let Some(w) = &f.site.written {
        label.push_str(&format!(" ({w} is {})", f.site.image));
    }
    let mut notes = Vec::new();
    // The rule, unless the reason names it already.
    if let Some(rule) = f
        .verdict
        .rule
        .as_ref()
        .filter(|r| !f.verdict.reason.contains(&r.path))
    {
        let at = rule
            .location
            .as_deref()
            .map(|l| format!(" ({l})"))
            .unwrap_or_default();
        notes.push(format!("rule: {} ({}){at}", rule.path, rule.description));
    }
    if let Some(path) = &f.site.path {
        notes.push(format!("at: {path}"));
    }
    if let Some(note) = super::rewrite_note(&f.verdict) {
        notes.push(note);
    }
    snippet(
        p,
        level,
        name,
        text,
        Some(f.site.position),
        f.site.width,
        &label,
        &notes,
        out,
    )
}

fn problem(
    p: &Painter,
    name: &str,
    text: &Lines<'_>,
    pr: &Problem,
    out: &mut dyn Write,
) -> io::Result<()> {
    writeln!(
        out,
        "{}{}",
        p.paint(RED, &format!("error[{}]", pr.code.as_str())),
        p.paint(BOLD, &format!(": {}", message(&pr.message))),
    )?;
    snippet(p, Level::Error, name, text, pr.position, 1, "", &[], out)
}

#[allow(clippy::too_many_arguments)]
fn snippet(
    p: &Painter,
    level: Level,
    name: &str,
    text: &Lines<'_>,
    position: Option<Position>,
    width: usize,
    label: &str,
    notes: &[String],
    out: &mut dyn Write,
) -> io::Result<()> {
    let Some(pos) = position else {
        return writeln!(out, "  {} {name}", p.paint(BLUE, "-->"));
    };
    let line_no = pos.line.to_string();
    let pad = " ".repeat(line_no.len());
    writeln!(out, "{pad}{} {name}:{pos}", p.paint(BLUE, "-->"))?;
    let bar = p.paint(BLUE, "|");
    match text.get(pos.line) {
        Some(line) => {
            // One character for each, so the caret stays under the image.
            let shown = source_line(line);
            writeln!(out, "{pad} {bar}")?;
            writeln!(out, "{} {bar} {shown}", p.paint(BLUE, &line_no))?;
            let caret = format!(
                "{}{}",
                " ".repeat(pos.column.saturating_sub(1)),
                "^".repeat(width.max(1))
            );
            let label = if label.is_empty() {
                String::new()
            } else {
                format!(" {}", message(label))
            };
            writeln!(
                out,
                "{pad} {bar} {}",
                p.paint(p.level(level), &format!("{caret}{label}"))
            )?;
        }
        None => {
            if !label.is_empty() {
                writeln!(out, "{pad} {bar} {}", message(label))?;
            }
        }
    }
    if !notes.is_empty() {
        writeln!(out, "{pad} {bar}")?;
        for n in notes {
            writeln!(out, "{pad} {} {}", p.paint(BLUE, "="), message(n))?;
        }
    }
    Ok(())
}
