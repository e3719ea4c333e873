//! Writing a fix as a unified diff, straight from its edits.

use super::Edit;
use crate::lines::Lines;
use std::ops::Range;

/// The unified diff (`diff -u`, with `a/` and `b/` prefixes, so `patch -p1`
/// applies it) of applying `edits` (from [`plan`](super::plan) of `before`) to `before`,
/// named `name`; empty when nothing changes.
///
/// Written straight from the edits, which are known byte ranges each inside
/// one line: the changed lines are those holding an edit, each hunk has 3
/// lines of context, hunks closer than 6 lines merge, a changed run is
/// printed as its old lines then its new ones (what `diff -u` and `similar`
/// print for such a change), line ends (CRLF) are kept, and a last line
/// without a newline gets `\ No newline at end of file`. The name is
/// quoted as git quotes an unusual path ([`crate::render::escape::diff_header`]). Lines end at `\n`
/// only, as `patch` reads them. It costs one pass over the text to find the
/// line starts and then only the hunks' lines.
pub fn unified_diff(name: &str, before: &str, edits: &[Edit]) -> String {
    const CONTEXT: usize = 3;
    let index = Lines::new(before);
    let lines = index.count();
    // The changed lines, each with the range of its edits, in order.
    let mut changed: Vec<(usize, Range<usize>)> = Vec::new();
    for (i, edit) in edits.iter().enumerate() {
        if before[edit.range.clone()] == edit.replacement {
            continue;
        }
        let line = index.line_of(edit.range.start);
        match changed.last_mut() {
            Some((l, range)) if *l == line => range.end = i + 1,
            _ => changed.push((line, i..i + 1)),
        }
    }
    if changed.is_empty() {
        return String::new();
    }
    let line = |i: usize| index.with_end(i).1;
    let mut out = String::with_capacity(64 + changed.len() * 8 * 80);
    // Quoted as git quotes an unusual path: a name cannot end the header.
    out.push_str("--- ");
    out.push_str(&crate::render::escape::diff_header("a/", name));
    out.push_str("\n+++ ");
    out.push_str(&crate::render::escape::diff_header("b/", name));
    out.push('\n');
    let push_line = |out: &mut String, tag: char, text: &str| {
        out.push(tag);
        out.push_str(text);
        if !text.ends_with('\n') {
            out.push_str("\n\\ No newline at end of file\n");
        }
    };
    let mut next = 0;
    while next < changed.len() {
        // A hunk: the changed lines up to a gap of more than 2 × CONTEXT.
        let first = next;
        let mut last = next;
        while last + 1 < changed.len() && changed[last + 1].0 - changed[last].0 - 1 <= 2 * CONTEXT {
            last += 1;
        }
        next = last + 1;
        let from = changed[first].0.saturating_sub(CONTEXT);
        let to = (changed[last].0 + 1 + CONTEXT).min(lines);
        let len = to - from;
        let range = if len == 1 {
            format!("{}", from + 1)
        } else {
            format!("{},{len}", from + 1)
        };
        out.push_str("@@ -");
        out.push_str(&range);
        out.push_str(" +");
        out.push_str(&range);
        out.push_str(" @@\n");
        let mut at = from;
        let mut c = first;
        while at < to {
            if c > last || changed[c].0 != at {
                push_line(&mut out, ' ', line(at));
                at += 1;
                continue;
            }
            // A run of consecutive changed lines: the old ones, then the new.
            let run_start = c;
            while c <= last && changed[c].0 == at + (c - run_start) {
                push_line(&mut out, '-', line(changed[c].0));
                c += 1;
            }
            for (l, range) in &changed[run_start..c] {
                let (start, text) = index.with_end(*l);
                let mut new = String::with_capacity(text.len() + 32);
                let mut from_byte = start;
                for edit in &edits[range.clone()] {
                    new.push_str(&before[from_byte..edit.range.start]);
                    new.push_str(&edit.replacement);
                    from_byte = edit.range.end;
                }
                new.push_str(&before[from_byte..start + text.len()]);
                push_line(&mut out, '+', &new);
            }
            at += c - run_start;
        }
    }
    out
}
