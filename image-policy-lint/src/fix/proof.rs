//! Proving: that a fixed text reads as planned (the module docs,
//! *Verification*), locally per edit ([`check_edits`]) or against a full
//! second reading ([`verify`]), and what a file's fix comes to before
//! anything is written ([`assess`]).

use super::Edit;
use super::plan::{Fix, Unfixable, anchor_value_movable, plain_word_safe, plan};
use crate::report::{Extracted, FileReport, Position};
use crate::{Options, Source, SourceKind};
use image_policy_core::policy::Policy;

/// Checks a fixed file's reading against the plan: the same sites, in the
/// same objects and containers, each with the image the plan expects, and
/// no problem that the original did not have. `Err` says what differs.
pub fn verify(before: &FileReport, fix: &Fix, after: &FileReport) -> Result<(), String> {
    if before.findings.len() != after.findings.len() {
        return Err(format!(
            "the fixed text has {} images, the original {}",
            after.findings.len(),
            before.findings.len()
        ));
    }
    for ((old, new), expected) in before
        .findings
        .iter()
        .zip(&after.findings)
        .zip(&fix.expected)
    {
        let (old, new) = (&old.site, &new.site);
        if old.holder != new.holder || old.container != new.container || old.path != new.path {
            return Err(format!(
                "the image at {} reads in another place after fixing",
                old.position
            ));
        }
        if new.image != *expected {
            return Err(format!(
                "the image at {} reads as {} after fixing, not {expected}",
                old.position, new.image
            ));
        }
    }
    let codes = |f: &FileReport| {
        let mut c: Vec<_> = f.problems.iter().map(|p| p.code).collect();
        c.sort();
        c
    };
    if codes(before) != codes(after) || before.objects != after.objects {
        return Err("the fixed text does not read as the original does".to_owned());
    }
    Ok(())
}

/// What the fix of one file comes to before anything is written: the plan,
/// why the file is not touched at all (when it is not), and the fixed text
/// (when the plan changes something and the text may be written).
pub(crate) struct Assessed {
    /// The plan.
    pub(crate) fix: Fix,
    /// Why the file is not touched at all, when it is not.
    pub(crate) not_touched: Option<String>,
    /// The fixed text, when the plan changes something and it may be written.
    pub(crate) fixed: Option<String>,
}

/// Plans the fix of `source` read as `extracted`, and checks it: a file with
/// an input error is not touched, nor one whose fixed text fails
/// [`check_edits`].
pub(crate) fn assess(
    source: &Source,
    extracted: &Extracted,
    options: &Options,
    policy: &Policy,
) -> Assessed {
    let text = source.text.as_deref().unwrap_or_default();
    let fix = plan(text, source.kind, &extracted.sites, policy, options);
    let mut assessed = Assessed {
        fix,
        not_touched: None,
        fixed: None,
    };
    if assessed.fix.is_empty() {
        return assessed;
    }
    if let Some(problem) = extracted.problems.iter().find(|p| p.code.is_input_error()) {
        assessed.not_touched = Some(format!(
            "not fixed: it cannot be read completely ({}: {})",
            problem.code.as_str(),
            problem.message
        ));
        return assessed;
    }
    let fixed = assessed.fix.apply(text);
    match check_edits(&fixed, source.kind, &assessed.fix.edits) {
        Ok(()) => assessed.fixed = Some(fixed),
        Err(why) => assessed.not_touched = Some(format!("not fixed: {why}")),
    }
    assessed
}

/// Says in each finding a rewrite rule changes that `lint --fix` cannot
/// write it ([`crate::report::Verdict::unfixable`]): the plan's reason, or
/// why the whole file is not touched. `file`'s findings are in the order of
/// the sites `unfixable` indexes.
pub(crate) fn mark_unfixable(
    file: &mut FileReport,
    unfixable: &[Unfixable],
    not_touched: Option<&str>,
) {
    for u in unfixable {
        if let Some(f) = file.findings.get_mut(u.site) {
            f.verdict.unfixable = Some(u.reason.clone());
        }
    }
    if let Some(why) = not_touched {
        for f in &mut file.findings {
            if f.verdict.rewritten.is_some() && f.verdict.unfixable.is_none() {
                f.verdict.unfixable = Some(why.to_owned());
            }
        }
    }
}

/// The local proof that a fixed text reads as planned (module docs,
/// *Verification*): each edit, found again in `after` (the text with
/// `edits` applied), is a word of the reference grammar that makes up a
/// whole token: a quoted YAML scalar that closes right after it (with no
/// escape), a plain YAML scalar or a Dockerfile word with a separator on
/// each side. `Err` says which edit is not.
pub fn check_edits(after: &str, kind: SourceKind, edits: &[Edit]) -> Result<(), String> {
    let mut grown = 0isize;
    let mut last_end = 0;
    for edit in edits {
        let start = edit.range.start.checked_add_signed(grown);
        grown += edit.replacement.len() as isize - edit.range.len() as isize;
        let Some(start) = start.filter(|&s| s >= last_end) else {
            return Err(format!(
                "the edit at byte {} is out of order",
                edit.range.start
            ));
        };
        let end = start + edit.replacement.len();
        last_end = end;
        let bad = |what: &str| {
            Err(format!(
                "the fixed text at byte {start} ({}) {what}",
                edit.replacement
            ))
        };
        if after.get(start..end) != Some(edit.replacement.as_str()) {
            return bad("is not the replacement");
        }
        let before = after[..start].chars().next_back();
        let next = after[end..].chars().next();
        let ends_plain = |c: Option<char>| c.is_none_or(|c| c.is_whitespace());
        // An anchor moved onto an alias: `&name VALUE`, a whole node.
        if kind != SourceKind::Dockerfile
            && let Some((name, value)) = edit
                .replacement
                .strip_prefix('&')
                .and_then(|r| r.split_once(' '))
        {
            let name_ok = !name.is_empty()
                && !name.contains(|c: char| {
                    c.is_whitespace() || matches!(c, ',' | '[' | ']' | '{' | '}')
                });
            let whole = before.is_none_or(|c| c.is_whitespace() || matches!(c, '[' | '{' | ','))
                && (ends_plain(next) || matches!(next, Some(',' | ']' | '}')));
            if !name_ok || !anchor_value_movable(value) || !whole {
                return bad("is not an anchored value that makes up a whole node");
            }
            continue;
        }
        if !plain_word_safe(&edit.replacement) || edit.replacement.ends_with(':') {
            return bad("is not a word of the reference grammar");
        }
        let whole = match (kind, before) {
            (SourceKind::Dockerfile, Some(q @ ('"' | '\''))) => next == Some(q),
            // After `from=` in a `--mount`, the next option's `,` or the
            // option's closing quote may follow.
            (SourceKind::Dockerfile, b) => {
                b.is_none_or(|c| c.is_whitespace() || c == '=')
                    && (ends_plain(next) || (b == Some('=') && matches!(next, Some(',' | '"'))))
            }
            (_, Some('"')) => next == Some('"'),
            // '' inside single quotes is an escaped quote, not the end.
            (_, Some('\'')) => next == Some('\'') && !after[end + 1..].starts_with('\''),
            (_, b) => {
                b.is_none_or(|c| c.is_whitespace() || matches!(c, '[' | '{' | ','))
                    && (ends_plain(next) || matches!(next, Some(',' | ']' | '}')))
            }
        };
        if !whole {
            return bad("does not make up a whole token");
        }
    }
    Ok(())
}

/// Turns `read`, the reading of `text`, into the reading of the text that
/// `fix` (planned from it) makes, without reading it again. Only for a
/// reading without problems (their messages are not rewritten): each site
/// takes the image the plan expects; positions after an edit on the same
/// line move by the edit's growth, and the width (and written text) of the
/// value an edit is in change with it.
pub(super) fn derive_reading(text: &str, read: &mut Extracted, fix: &Fix) {
    // (line, column, growth in characters, edit) of each edit, in order.
    let mut moves = Vec::with_capacity(fix.edits.len());
    let (mut line, mut line_start, mut at) = (1, 0, 0);
    for (i, edit) in fix.edits.iter().enumerate() {
        let skipped = &text[at..edit.range.start];
        let newlines = skipped.bytes().filter(|&b| b == b'\n').count();
        if newlines > 0 {
            line += newlines;
            line_start = at + skipped.rfind('\n').map_or(0, |n| n + 1);
        }
        at = edit.range.start;
        let column = text[line_start..at].chars().count() + 1;
        let old = text[edit.range.clone()].chars().count();
        let growth = edit.replacement.chars().count() as isize - old as isize;
        moves.push((line, column, growth, i));
    }
    let on_line = |l: usize| {
        let from = moves.partition_point(|m| m.0 < l);
        let to = moves.partition_point(|m| m.0 <= l);
        &moves[from..to]
    };
    let shift = |p: &mut Position| {
        let growth: isize = on_line(p.line)
            .iter()
            .filter(|m| m.1 < p.column)
            .map(|m| m.2)
            .sum();
        p.column = p.column.saturating_add_signed(growth);
    };
    for (site, expected) in read.sites.iter_mut().zip(&fix.expected) {
        let (line, column, width) = (site.position.line, site.position.column, site.width);
        for &(_, c, growth, i) in on_line(line) {
            if c >= column && c < column + width.max(1) {
                site.width = site.width.saturating_add_signed(growth);
                if let Some(written) = &mut site.written {
                    let edit = &fix.edits[i];
                    *written = written.replacen(&text[edit.range.clone()], &edit.replacement, 1);
                }
            }
        }
        shift(&mut site.position);
        if site.image != *expected {
            site.image.clone_from(expected);
        }
    }
    for s in &mut read.suppressed {
        shift(&mut s.position);
    }
}
