//! Proving: that a fixed text reads as planned (the module docs,
//! *Verification*), locally per edit ([`check_edits`]) or against a full
//! second reading ([`verify`]), and what a file's fix comes to before
//! anything is written ([`assess`]).

use super::Edit;
use super::plan::{Fix, Unfixable, anchor_value_movable, plain_word_safe, plan};
use crate::report::{Extracted, FileReport, Position, Problem};
use crate::{Options, Source, SourceKind};
use image_policy_core::policy::{DecisionCode, Policy};

/// Why a fixed text's full reading is not the one its plan expects
/// ([`verify`]): the first difference found, with where it is.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotAsPlanned {
    /// The fixed text has another number of images.
    #[error("the fixed text has {after} images, the original {before}")]
    ImageCount {
        /// The original's images.
        before: usize,
        /// The fixed text's images.
        after: usize,
    },
    /// An image reads in another object, container or path.
    #[error("the image at {position} reads in another place after fixing")]
    Moved {
        /// Where the image is in the original.
        position: Position,
    },
    /// An image reads as another image than the plan expects.
    #[error("the image at {position} reads as {image} after fixing, not {expected}")]
    OtherImage {
        /// Where the image is in the original.
        position: Position,
        /// The image as the fixed text reads.
        image: String,
        /// The image the plan expects ([`Fix::expected`]).
        expected: String,
    },
    /// The fixed text has other problems, or another number of objects.
    #[error("the fixed text does not read as the original does")]
    OtherReading,
}

/// An edit that [`check_edits`] cannot prove reads as planned: which edit,
/// where, and why ([`EditErrorKind`]). Its message names the byte and the
/// replacement.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
#[error("{}", self.message())]
pub struct EditError {
    /// Why the edit is refused.
    pub kind: EditErrorKind,
    /// The edit's index in the edits checked.
    pub edit: usize,
    /// The byte offset of the edit: in the fixed text, except for
    /// [`EditErrorKind::OutOfOrder`], where the fixed text has no place
    /// for it and it is the offset in the original text.
    pub at: usize,
    /// The edit's replacement.
    pub replacement: String,
}

/// Why [`check_edits`] refuses an edit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EditErrorKind {
    /// The edit starts before the previous one ends.
    OutOfOrder,
    /// The fixed text does not hold the replacement where the edit lands.
    NotTheReplacement,
    /// An anchor moved onto an alias (`&name value`) that is not a whole
    /// node, or whose value would not read the same there.
    NotAWholeAnchoredNode,
    /// The replacement is not a word of the reference grammar that reads
    /// as itself wherever it stands.
    NotAReferenceWord,
    /// The replacement is not the whole scalar or word it stands in.
    NotAWholeToken,
}

impl EditError {
    fn message(&self) -> String {
        let Self {
            kind,
            at,
            replacement,
            ..
        } = self;
        let what = match kind {
            EditErrorKind::OutOfOrder => return format!("the edit at byte {at} is out of order"),
            EditErrorKind::NotTheReplacement => "is not the replacement",
            EditErrorKind::NotAWholeAnchoredNode => {
                "is not an anchored value that makes up a whole node"
            }
            EditErrorKind::NotAReferenceWord => "is not a word of the reference grammar",
            EditErrorKind::NotAWholeToken => "does not make up a whole token",
        };
        format!("the fixed text at byte {at} ({replacement}) {what}")
    }
}

/// Why a [`super::fix`] run leaves a file as it is, though its plan
/// changes something ([`super::FileFix::not_touched`]). Its message starts
/// with `not fixed: `.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotTouched {
    /// The file cannot be read completely (a read error, a parse error, a
    /// construct kubectl reads differently): its sites are not trusted.
    #[error("not fixed: it cannot be read completely ({}: {})", .0.code.as_str(), .0.message)]
    Unreadable(Problem),
    /// An edit of the fixed text is not proven locally ([`check_edits`]).
    #[error("not fixed: {0}")]
    Unproven(EditError),
    /// The fixed text, read again in full, is not as planned ([`verify`]).
    #[error("not fixed: {0}")]
    NotAsPlanned(NotAsPlanned),
}

/// Checks a fixed file's reading against the plan: the same sites, in the
/// same objects and containers, each with the image the plan expects, and
/// no problem that the original did not have. `Err` says what differs
/// first.
pub fn verify(before: &FileReport, fix: &Fix, after: &FileReport) -> Result<(), NotAsPlanned> {
    if before.findings.len() != after.findings.len() {
        return Err(NotAsPlanned::ImageCount {
            before: before.findings.len(),
            after: after.findings.len(),
        });
    }
    for ((old, new), expected) in before
        .findings
        .iter()
        .zip(&after.findings)
        .zip(&fix.expected)
    {
        let (old, new) = (&old.site, &new.site);
        if old.holder != new.holder || old.container != new.container || old.path != new.path {
            return Err(NotAsPlanned::Moved {
                position: old.position,
            });
        }
        if new.image != *expected {
            return Err(NotAsPlanned::OtherImage {
                position: old.position,
                image: new.image.clone(),
                expected: expected.clone(),
            });
        }
    }
    let codes = |f: &FileReport| {
        let mut c: Vec<_> = f.problems.iter().map(|p| p.code).collect();
        c.sort();
        c
    };
    if codes(before) != codes(after) || before.objects != after.objects {
        return Err(NotAsPlanned::OtherReading);
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
    pub(crate) not_touched: Option<NotTouched>,
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
        assessed.not_touched = Some(NotTouched::Unreadable(problem.clone()));
        return assessed;
    }
    let fixed = assessed.fix.apply(text);
    match check_edits(&fixed, source.kind, &assessed.fix.edits) {
        Ok(()) => assessed.fixed = Some(fixed),
        Err(why) => assessed.not_touched = Some(NotTouched::Unproven(why)),
    }
    assessed
}

/// Says in each finding a rewrite rule changes that `lint --fix` cannot
/// write it ([`crate::report::SiteVerdict::unfixable`]): the plan's reason, or
/// why the whole file is not touched. `file`'s findings are in the order of
/// the sites `unfixable` indexes.
pub(crate) fn mark_unfixable(
    file: &mut FileReport,
    unfixable: &[Unfixable],
    not_touched: Option<&NotTouched>,
) {
    for u in unfixable {
        if let Some(f) = file.findings.get_mut(u.site) {
            f.verdict.unfixable = Some(u.reason.clone());
        }
    }
    if let Some(why) = not_touched {
        let why = why.to_string();
        for f in &mut file.findings {
            let planned =
                f.verdict.rewritten.is_some() || f.verdict.code == DecisionCode::PinRequired;
            if planned && f.verdict.unfixable.is_none() {
                f.verdict.unfixable = Some(why.clone());
            }
        }
    }
}

/// The local proof that a fixed text reads as planned (module docs,
/// *Verification*): each edit, found again in `after` (the text with
/// `edits` applied), is a word of the reference grammar that makes up a
/// whole token: a quoted YAML scalar that closes right after it (with no
/// escape), a plain YAML scalar or a Dockerfile word with a separator on
/// each side. `Err` says which edit is not, and why.
pub fn check_edits(after: &str, kind: SourceKind, edits: &[Edit]) -> Result<(), EditError> {
    let mut grown = 0isize;
    let mut last_end = 0;
    for (index, edit) in edits.iter().enumerate() {
        let start = edit.range.start.checked_add_signed(grown);
        grown += edit.replacement.len() as isize - edit.range.len() as isize;
        let Some(start) = start.filter(|&s| s >= last_end) else {
            return Err(EditError {
                kind: EditErrorKind::OutOfOrder,
                edit: index,
                at: edit.range.start,
                replacement: edit.replacement.clone(),
            });
        };
        let end = start + edit.replacement.len();
        last_end = end;
        let bad = |kind| {
            Err(EditError {
                kind,
                edit: index,
                at: start,
                replacement: edit.replacement.clone(),
            })
        };
        if after.get(start..end) != Some(edit.replacement.as_str()) {
            return bad(EditErrorKind::NotTheReplacement);
        }
        // A kustomization's `digest:` line, inserted whole between lines.
        if kind == SourceKind::Kustomization && edit.range.is_empty() {
            let line_start = start == 0 || after[..start].ends_with('\n');
            let at_end = end == after.len();
            let shaped = match edit.replacement.strip_prefix('\n') {
                Some(line) if at_end => digest_line(line),
                _ if line_start => edit
                    .replacement
                    .strip_suffix('\n')
                    .map(|l| l.strip_suffix('\r').unwrap_or(l))
                    .is_some_and(digest_line),
                _ => false,
            };
            if !shaped {
                return bad(EditErrorKind::NotAWholeToken);
            }
            continue;
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
                return bad(EditErrorKind::NotAWholeAnchoredNode);
            }
            continue;
        }
        if !plain_word_safe(&edit.replacement) || edit.replacement.ends_with(':') {
            return bad(EditErrorKind::NotAReferenceWord);
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
            return bad(EditErrorKind::NotAWholeToken);
        }
    }
    Ok(())
}

/// Whether `line` is `  digest: ALGORITHM:HEX` alone: spaces, the key and a
/// digest of the reference grammar (a plain scalar that reads as itself).
fn digest_line(line: &str) -> bool {
    let body = line.trim_start_matches(' ');
    body.strip_prefix("digest: ").is_some_and(|d| {
        image_policy_core::reference::Digest::parse(d).is_ok()
            && d.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'+' | b'.' | b'_' | b'-'))
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::FileReport;

    /// (text after the edit, its range in the original, replacement, kind
    /// refused, message): every refusal of [`check_edits`] and its words.
    /// An edit as (start, end, replacement).
    type Planned = (usize, usize, &'static str);

    const REFUSED: &[(&str, &[Planned], EditErrorKind, &str)] = &[
        (
            "image: r.io/a:1\nimage: r.io/b:1\n",
            &[(23, 24, "r.io/b:1"), (7, 8, "r.io/a:1")],
            EditErrorKind::OutOfOrder,
            "the edit at byte 7 is out of order",
        ),
        (
            "image: r.io/a:1\n",
            &[(7, 8, "r.io/b:1")],
            EditErrorKind::NotTheReplacement,
            "the fixed text at byte 7 (r.io/b:1) is not the replacement",
        ),
        (
            "image: nginx\n",
            &[(7, 12, "nginx")],
            EditErrorKind::NotAReferenceWord,
            "the fixed text at byte 7 (nginx) is not a word of the reference grammar",
        ),
        (
            "image: r.io/a:1x\n",
            &[(7, 8, "r.io/a:1")],
            EditErrorKind::NotAWholeToken,
            "the fixed text at byte 7 (r.io/a:1) does not make up a whole token",
        ),
        (
            "a: &x r.io/a:1b\n",
            &[(3, 4, "&x r.io/a:1")],
            EditErrorKind::NotAWholeAnchoredNode,
            "the fixed text at byte 3 (&x r.io/a:1) is not an anchored value that makes up a whole node",
        ),
    ];

    #[test]
    fn check_edits_says_which_edit_and_why() {
        for &(after, edits, kind, message) in REFUSED {
            let edits: Vec<Edit> = edits
                .iter()
                .map(|&(start, end, r)| Edit {
                    range: start..end,
                    replacement: r.to_owned(),
                })
                .collect();
            let err = check_edits(after, SourceKind::Manifests, &edits).expect_err("refused");
            assert_eq!(
                (err.kind, err.to_string().as_str()),
                (kind, message),
                "{after:?}"
            );
            assert_eq!(err.replacement, edits[err.edit].replacement, "{after:?}");
        }
    }

    fn read(text: &str) -> FileReport {
        let policy = Policy::builder()
            .allow_registry("r.io")
            .build()
            .expect("loads")
            .policy;
        let source = Source {
            name: "pod.yaml".to_owned(),
            kind: SourceKind::Manifests,
            text: Ok(text.to_owned()),
        };
        crate::lint([source], &Options::default(), &policy)
            .files
            .remove(0)
    }

    fn pod(container: &str, images: &[&str]) -> String {
        let mut text =
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n".to_owned();
        for image in images {
            text.push_str(&format!("  - name: {container}\n    image: {image}\n"));
        }
        text
    }

    #[test]
    fn verify_says_what_differs_and_where() {
        let before = read(&pod("c", &["nginx:1"]));
        let expect = |image: &str| Fix {
            expected: vec![image.to_owned()],
            ..Fix::default()
        };
        let at = before.findings[0].site.position;
        let cases = [
            (pod("c", &["r.io/nginx:1"]), "r.io/nginx:1", Ok(())),
            (
                pod("c", &["r.io/nginx:1", "r.io/x:1"]),
                "r.io/nginx:1",
                Err(NotAsPlanned::ImageCount {
                    before: 1,
                    after: 2,
                }),
            ),
            (
                pod("d", &["r.io/nginx:1"]),
                "r.io/nginx:1",
                Err(NotAsPlanned::Moved { position: at }),
            ),
            (
                pod("c", &["r.io/other:1"]),
                "r.io/nginx:1",
                Err(NotAsPlanned::OtherImage {
                    position: at,
                    image: "r.io/other:1".to_owned(),
                    expected: "r.io/nginx:1".to_owned(),
                }),
            ),
            (
                pod("c", &["r.io/nginx:1"])
                    + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: m}\n",
                "r.io/nginx:1",
                Err(NotAsPlanned::OtherReading),
            ),
        ];
        for (after, expected, want) in cases {
            assert_eq!(
                verify(&before, &expect(expected), &read(&after)),
                want,
                "{after}"
            );
        }
        assert_eq!(
            NotAsPlanned::OtherImage {
                position: at,
                image: "a/b".to_owned(),
                expected: "c/d".to_owned(),
            }
            .to_string(),
            format!("the image at {at} reads as a/b after fixing, not c/d")
        );
        assert_eq!(
            NotAsPlanned::ImageCount {
                before: 1,
                after: 2
            }
            .to_string(),
            "the fixed text has 2 images, the original 1"
        );
    }

    #[test]
    fn a_file_not_read_completely_is_not_touched_and_says_why() {
        let policy = Policy::builder()
            .rewrite("docker.io", "mirror.example/hub")
            .build()
            .expect("loads")
            .policy;
        let text = pod("c", &["nginx:1"]) + "---\nkind: [\n";
        let source = Source {
            name: "pod.yaml".to_owned(),
            kind: SourceKind::Manifests,
            text: Ok(text),
        };
        let fixed = super::super::fix(vec![source], &Options::default(), &policy);
        let file = &fixed.files[0];
        assert_eq!(file.change, None);
        let Some(NotTouched::Unreadable(problem)) = &file.not_touched else {
            panic!("{file:?}");
        };
        assert!(problem.code.is_input_error(), "{problem:?}");
        let why = file.not_touched.as_ref().map(ToString::to_string);
        assert_eq!(
            why.as_deref(),
            Some(
                format!(
                    "not fixed: it cannot be read completely ({}: {})",
                    problem.code.as_str(),
                    problem.message
                )
                .as_str()
            )
        );
        let finding = &fixed.report.files[0].findings[0];
        assert_eq!(finding.verdict.unfixable, why, "{finding:?}");
    }
}
