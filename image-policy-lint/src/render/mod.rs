//! Printing a [`Report`]: one module per `--format`.
//!
//! Every format prints the same facts in the same order (files in walk order,
//! then by line and column): violations and problems, suppressed objects,
//! skipped files, and the summary counts.

pub mod escape;
pub mod github;
pub mod json;
pub mod sarif;
pub mod text;

use super::report::{FileReport, Level, Position, Problem, Report};
use std::io::{self, Write};

/// The output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// rustc-style snippets for people (the default).
    Text,
    /// One JSON object with a documented schema ([`json`]).
    Json,
    /// SARIF 2.1.0, for GitHub code scanning and other SARIF viewers.
    Sarif,
    /// GitHub Actions workflow commands (`::error file=...`), shown as
    /// annotations on the pull request.
    Github,
}

/// How to print.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Style {
    /// ANSI colour (text format only).
    pub color: bool,
    /// Also list allowed images (text format only; the other formats always do
    /// or never need to).
    pub show_allowed: bool,
}

/// Prints `report` in `format`.
pub fn render(
    report: &Report,
    format: Format,
    style: Style,
    out: &mut dyn Write,
) -> io::Result<()> {
    match format {
        Format::Text => text::render(report, style, out),
        Format::Json => json::render(report, out),
        Format::Sarif => sarif::render(report, out),
        Format::Github => github::render(report, out),
    }
}

/// A problem or finding located in a file, in the order every format prints
/// them.
pub(crate) enum Entry<'r> {
    /// A judged image.
    Finding(&'r super::report::Finding),
    /// A problem with the input.
    Problem(&'r Problem),
}

impl Entry<'_> {
    fn position(&self) -> Option<Position> {
        match self {
            Entry::Finding(f) => Some(f.site.position),
            Entry::Problem(p) => p.position,
        }
    }

    pub(crate) fn level(&self) -> Level {
        match self {
            Entry::Finding(f) => f.verdict.level(),
            Entry::Problem(_) => Level::Error,
        }
    }
}

/// What every format says of an image a rewrite rule changes: `rewritten to
/// NEW by rewrite[0] (rewrite FROM=TO); fixable with --fix ...`, or why
/// `lint --fix` cannot write it; for an image judged as written (a
/// Dockerfile's, a compose file's), that only the fix rewrites it.
///
/// An image denied `pin-required` gets the same note for its pin: `fixable
/// with --fix (lint --fix pins it ...)`, or why `lint --fix` cannot pin it;
/// rewritten too, `rewritten to NEW, pinned to its digest, by ...`.
pub(crate) fn rewrite_note(verdict: &super::report::SiteVerdict) -> Option<String> {
    let pin = verdict.code == image_policy_core::policy::DecisionCode::PinRequired;
    let Some(new) = verdict.rewritten.as_ref() else {
        return pin.then(|| match &verdict.unfixable {
            None => "fixable with --fix (lint --fix pins it to the digest its registry serves)"
                .to_owned(),
            Some(why) => format!("not fixable with --fix: {why}"),
        });
    };
    // Judged as written, the code says nothing of the rewritten image's
    // scope: the note names only the rewrite.
    let new = if pin && !verdict.as_written {
        format!("{new}, pinned to its digest,")
    } else {
        new.clone()
    };
    let by = verdict
        .rewrite_rule
        .as_ref()
        .map(|r| format!(" by {} ({})", r.path, r.description))
        .unwrap_or_default();
    let (verb, judged) = if verdict.as_written {
        (
            "a rewrite rule sends it to",
            "; judged as written: no /mutate rewrites what docker build or docker compose pulls",
        )
    } else {
        ("rewritten to", "")
    };
    Some(match &verdict.unfixable {
        None => format!(
            "{verb} {new}{by}{judged}; fixable with --fix (lint --fix writes it into the file)"
        ),
        Some(why) => format!("{verb} {new}{by}{judged}; not fixable with --fix: {why}"),
    })
}

/// The findings (all, or only those at warning level or above, or
/// rewritten) and problems
/// of a file, by position (problems without a position first).
pub(crate) fn entries(file: &FileReport, all: bool) -> Vec<Entry<'_>> {
    let mut v: Vec<Entry<'_>> = file
        .problems
        .iter()
        .map(Entry::Problem)
        .chain(
            file.findings
                .iter()
                .filter(|f| {
                    all || f.verdict.level() != Level::None || f.verdict.rewritten.is_some()
                })
                .map(Entry::Finding),
        )
        .collect();
    v.sort_by_key(|e| e.position());
    v
}
