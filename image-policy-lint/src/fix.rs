//! `lint --fix`: write each image as the policy's rewrite rules rewrite it,
//! changing only the bytes of the image itself.
//!
//! # Design
//!
//! Planning is a pure function of a file's text and the sites the linter
//! found in it ([`plan`]): each site whose image a rewrite rule changes
//! ([`Policy::rewrite_str`], the core's own rewriting) becomes an [`Edit`]
//! (a byte range and its replacement), or an [`Unfixable`] with the reason.
//! [`Fix::apply`] splices the edits in; nothing else of the text is touched,
//! so quoting, comments, key order, line ends (CRLF) and every other
//! document of the file stay byte for byte. [`fix`] does a whole run: it
//! plans every file of a lint, reads each fixed text again with the same
//! readers, and keeps a fixed text only when that reading gives the same
//! sites with the rewritten images ([`verify`]); the CLI only writes the
//! texts (or prints [`unified_diff`]).
//!
//! ```
//! use image_policy_core::policy::Policy;
//! use image_policy_lint::{Options, Source, SourceKind, fix};
//!
//! let policy = Policy::builder()
//!     .allow_registry("registry.my.com")
//!     .rewrite("docker.io/library", "registry.my.com")
//!     .build()?
//!     .policy;
//! let text = "kind: Pod\r\napiVersion: v1\r\nmetadata: {name: web}\r\nspec:\r\n  containers:\r\n  \
//!             - name: web\r\n    image: \"prometheus:2.6.1\"  # pinned\r\n";
//! let source = Source { name: "pod.yaml".to_owned(), kind: SourceKind::Manifests, text: Ok(text.to_owned()) };
//! let fixed = fix::fix(vec![source], &Options::default(), &policy);
//! let change = fixed.files[0].change.as_ref().expect("a rewrite applies");
//! assert_eq!(change.after, text.replace("prometheus:2.6.1", "registry.my.com/prometheus:2.6.1"));
//! assert_eq!(fixed.report.exit_code(false), 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What is edited
//!
//! The readers report where each image starts (line and column) and what
//! it is; the planner never trusts a span it has not checked: the bytes at
//! the position must be the image (or, for a quoted YAML scalar, the quote
//! and then exactly the image, with no escape, and the same quote after it).
//! Anything else is [`Unfixable`] with its reason, never a guess:
//!
//! | where | edited | not fixable |
//! | --- | --- | --- |
//! | YAML scalar (manifests, compose `image:`) | the scalar's characters, inside its quotes if quoted | an escape or a line break inside it; a compose `${VAR}` |
//! | YAML alias (`*img`) | nothing: the anchor's scalar, when it is itself an image that is edited | an anchor that is not an image site |
//! | kustomization `images:` | `newName` (the tag and digest are kept in their own fields) | an entry without `newName` (changing `name` changes what it matches) |
//! | Dockerfile `FROM`, `--from=`, `from=`, `# syntax=` | the word | text mixed with variables (`nginx:$TAG`) |
//! | Dockerfile `FROM $BASE` | the default of the one `ARG BASE=...` of the file | no default (a build argument), more than one, or `--var BASE` given |
//!
//! A new plain scalar stays plain: a rewritten reference always has a `/`,
//! and only the characters of the reference grammar, so it reads as the same
//! string in YAML 1.1 and 1.2 (never a number, boolean, null or timestamp,
//! never a comment or a flow indicator); anything else is refused.
//!
//! # Idempotence
//!
//! The core refuses rewrite rules whose `to` a `from` could match again, so
//! a rewritten image is never rewritten: a second plan of a fixed file is
//! empty (tested, and checked by the `lint_readers` fuzz target through
//! `check_fix`).
//!
//! # Performance
//!
//! Planning costs one pass over the text to index lines, and per site one
//! rewrite and one comparison; [`unified_diff`] is `similar`'s line diff.
//! [`fix`] reads every fixed file twice (before and after), which is the
//! price of never writing a file that reads differently than planned.

use crate::lines::Lines;
use crate::report::{FileReport, ImageSite, Position, Report};
use crate::{Options, Source, SourceKind, kustomization};
use image_policy_core::policy::Policy;
use std::ops::Range;

/// One replacement of bytes in a text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edit {
    /// The bytes replaced (always on character boundaries, inside one line).
    pub range: Range<usize>,
    /// What they become.
    pub replacement: String,
}

/// An image a rewrite rule changes but that cannot be changed in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unfixable {
    /// The index of the site in the sites given to [`plan`].
    pub site: usize,
    /// Where the image is.
    pub position: Position,
    /// The image.
    pub image: String,
    /// Why it cannot be fixed, as one line.
    pub reason: String,
}

/// The plan for one file: edits sorted by position and never overlapping,
/// and the images that cannot be fixed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fix {
    /// The replacements, in order.
    pub edits: Vec<Edit>,
    /// The sites a rule rewrites that the plan cannot change.
    pub unfixable: Vec<Unfixable>,
    /// For each site given to [`plan`], the image it has once the edits are
    /// applied (the rewritten one when the plan changes it).
    pub expected: Vec<String>,
}

impl Fix {
    /// Whether the plan changes nothing.
    pub fn is_empty(&self) -> bool {
        self.edits.is_empty()
    }

    /// The text with the edits applied. The edits must come from [`plan`]
    /// of this text.
    pub fn apply(&self, text: &str) -> String {
        let grow: usize = self.edits.iter().map(|e| e.replacement.len()).sum();
        let mut out = String::with_capacity(text.len() + grow);
        let mut at = 0;
        for edit in &self.edits {
            out.push_str(&text[at..edit.range.start]);
            out.push_str(&edit.replacement);
            at = edit.range.end;
        }
        out.push_str(&text[at..]);
        out
    }
}

/// Plans the fix of one text read as `kind` whose images are `sites` (from
/// [`crate::extract`] with the same `options`): each site whose image
/// `policy`'s rewrite rules change becomes an edit, or an [`Unfixable`].
/// Nothing is allocated for a site no rule rewrites.
pub fn plan(
    text: &str,
    kind: SourceKind,
    sites: &[ImageSite],
    policy: &Policy,
    options: &Options,
) -> Fix {
    let mut fix = Fix {
        expected: sites.iter().map(|s| s.image.clone()).collect(),
        ..Fix::default()
    };
    if !policy.has_rewrites() || sites.is_empty() {
        return fix;
    }
    let lines = Lines::new(text);
    let mut planner = Planner {
        text,
        lines: &lines,
        options,
        sites,
        edits: Vec::new(),
    };
    for (index, site) in sites.iter().enumerate() {
        let target = match policy.rewrite_str(&site.image) {
            Ok(None) => continue,
            Ok(Some(rewritten)) => rewritten.into_string(),
            Err(e) => {
                fix.unfixable.push(unfixable(index, site, e.to_string()));
                continue;
            }
        };
        let found = match kind {
            SourceKind::Dockerfile => planner.dockerfile(site, &target),
            _ => planner.yaml(site, &target),
        };
        match found {
            Ok(edit) => {
                if let Some(edit) = edit
                    && let Err(reason) = planner.add(edit)
                {
                    fix.unfixable.push(unfixable(index, site, reason));
                    continue;
                }
                fix.expected[index] = target;
            }
            Err(reason) => fix.unfixable.push(unfixable(index, site, reason)),
        }
    }
    planner.edits.sort_by_key(|e| e.range.start);
    fix.edits = planner.edits;
    fix
}

fn unfixable(site: usize, s: &ImageSite, reason: String) -> Unfixable {
    Unfixable {
        site,
        position: s.position,
        image: s.image.clone(),
        reason,
    }
}

struct Planner<'a> {
    text: &'a str,
    lines: &'a Lines<'a>,
    options: &'a Options,
    sites: &'a [ImageSite],
    edits: Vec<Edit>,
}

impl Planner<'_> {
    /// Adds an edit: the same edit twice (an `ARG` two `FROM`s use) is one;
    /// an edit overlapping another is refused.
    fn add(&mut self, edit: Edit) -> Result<(), String> {
        for e in &self.edits {
            if e.range == edit.range && e.replacement == edit.replacement {
                return Ok(());
            }
            if e.range.start < edit.range.end && edit.range.start < e.range.end {
                return Err(format!(
                    "its text overlaps another image's edit (bytes {}..{})",
                    e.range.start, e.range.end
                ));
            }
        }
        self.edits.push(edit);
        Ok(())
    }

    fn offset(&self, site: &ImageSite) -> Result<usize, String> {
        self.lines
            .offset(site.position)
            .ok_or_else(|| format!("the reader's position {} is not in the text", site.position))
    }

    /// A YAML site: the scalar at the site's position.
    fn yaml(&self, site: &ImageSite, target: &str) -> Result<Option<Edit>, String> {
        let at = self.offset(site)?;
        let rest = &self.text[at..];
        if let Some(alias) = rest.strip_prefix('*') {
            return self.alias(at, alias).map(|()| None);
        }
        let (value, new_value) = if site.holder.kind == kustomization::HOLDER_KIND {
            self.new_name(site, at, target)?
        } else {
            if let Some(written) = &site.written {
                return Err(format!(
                    "it is written as {written:?}: a value made with variables has no single span to change"
                ));
            }
            (site.image.as_str(), target.to_owned())
        };
        scalar_edit(self.text, at, value, new_value).map(Some)
    }

    /// An alias is fixed with its anchor, when the anchor's scalar is an
    /// image that is edited (anchors come before their aliases, and sites
    /// are planned in order).
    fn alias(&self, at: usize, alias: &str) -> Result<(), String> {
        let name_len = alias
            .find(|c: char| c.is_whitespace() || matches!(c, ',' | ']' | '}'))
            .unwrap_or(alias.len());
        let name = &alias[..name_len];
        let anchor = format!("&{name}");
        let value = self.text[..at]
            .rmatch_indices(&anchor)
            .map(|(i, _)| i + anchor.len())
            .find(|&end| {
                self.text[end..]
                    .chars()
                    .next()
                    .is_some_and(|c| c == ' ' || c == '\t')
            })
            .map(|end| {
                end + (self.text[end..].len()
                    - self.text[end..].trim_start_matches([' ', '\t']).len())
            });
        match value {
            Some(start)
                if self
                    .edits
                    .iter()
                    .any(|e| e.range.start == start || e.range.start == start + 1) =>
            {
                Ok(())
            }
            _ => Err(format!(
                "it is the alias *{name}: change it where &{name} is defined (that value is not an image the linter fixes)"
            )),
        }
    }

    /// A kustomization override: the `newName` value, with the tag and
    /// digest left in their fields.
    fn new_name<'t>(
        &self,
        site: &'t ImageSite,
        at: usize,
        target: &str,
    ) -> Result<(&'t str, String), String> {
        let line_start = self.text[..at].rfind('\n').map_or(0, |i| i + 1);
        let before = self.text[line_start..at].trim_end_matches([' ', '\t']);
        let key = before.trim_end_matches(':');
        if !before.ends_with(':') || !key.ends_with("newName") {
            return Err(
                "this images: entry has no newName (changing name would change which images it matches): add newName"
                    .to_owned(),
            );
        }
        let written = site.written.as_deref().unwrap_or(&site.image);
        let suffix = site
            .image
            .strip_prefix(written)
            .ok_or_else(|| format!("its newName {written:?} does not start the image"))?;
        let name = target
            .strip_suffix(suffix)
            .ok_or_else(|| format!("the rewritten image {target} does not keep {suffix:?}"))?;
        Ok((written, name.to_owned()))
    }

    /// A Dockerfile site: the word, or the default of the `ARG` it names.
    fn dockerfile(&self, site: &ImageSite, target: &str) -> Result<Option<Edit>, String> {
        let Some(written) = &site.written else {
            let at = self.offset(site)?;
            let end = at + site.image.len();
            let whole = self.text[at..].starts_with(&site.image)
                && self.text[end..]
                    .chars()
                    .next()
                    .is_none_or(char::is_whitespace);
            if !whole {
                return Err(format!(
                    "the text at {} is not the image (the reader's span cannot be trusted)",
                    site.position
                ));
            }
            return Ok(Some(Edit {
                range: at..end,
                replacement: target.to_owned(),
            }));
        };
        let Some(name) = single_variable(written) else {
            return Err(format!(
                "it is written as {written}: text mixed with variables has no single span to change"
            ));
        };
        if self.options.vars.contains_key(name) {
            return Err(format!(
                "its value comes from --var {name}, not from the file"
            ));
        }
        // Another image made with this variable and other text would change
        // with the default too, into something no rule wrote.
        if let Some(other) = self.sites.iter().find_map(|s| {
            let w = s.written.as_deref()?;
            let uses = w.contains(&format!("${name}")) || w.contains(&format!("${{{name}"));
            (uses && single_variable(w) != Some(name)).then_some(w)
        }) {
            return Err(format!(
                "ARG {name} is also used in {other}, which changing its default would change too"
            ));
        }
        let defaults = arg_defaults(self.text, name);
        match defaults.as_slice() {
            [] => Err(format!(
                "{written} has no default in this file (a build argument): pass the rewritten image with --build-arg"
            )),
            [(range, value)] if *value == site.image => {
                if !plain_word_safe(target) {
                    return Err(format!("{target} cannot be written as an ARG value"));
                }
                Ok(Some(Edit {
                    range: range.clone(),
                    replacement: target.to_owned(),
                }))
            }
            [(_, value)] => Err(format!(
                "the default of ARG {name} is {value:?}, not the image (it is set elsewhere)"
            )),
            _ => Err(format!(
                "ARG {name} has a default in {} places: which one the build uses depends on the stage",
                defaults.len()
            )),
        }
    }
}

/// The edit of a YAML scalar at `at` whose value is `value`: inside its
/// quotes when quoted, else the plain characters.
fn scalar_edit(text: &str, at: usize, value: &str, new_value: String) -> Result<Edit, String> {
    let rest = &text[at..];
    let untrusted = || {
        format!(
            "the scalar at byte {at} is not {value:?} as written (escapes, a line break, or a span the reader got wrong)"
        )
    };
    match rest.chars().next() {
        Some(q @ ('"' | '\'')) => {
            let inner = &rest[1..];
            if !inner.starts_with(value) || !inner[value.len()..].starts_with(q) {
                return Err(untrusted());
            }
            if new_value.contains([q, '\\', '\n', '\r']) {
                return Err(format!("{new_value} cannot be written inside {q} quotes"));
            }
            Ok(Edit {
                range: at + 1..at + 1 + value.len(),
                replacement: new_value,
            })
        }
        _ => {
            let after = rest.get(value.len()..).and_then(|r| r.chars().next());
            let ends = after.is_none_or(|c| c.is_whitespace() || matches!(c, ',' | ']' | '}'));
            if !rest.starts_with(value) || !ends {
                return Err(untrusted());
            }
            if !plain_word_safe(&new_value) {
                return Err(format!(
                    "{new_value} would not read as the same string as a plain YAML scalar"
                ));
            }
            Ok(Edit {
                range: at..at + value.len(),
                replacement: new_value,
            })
        }
    }
}

/// Whether `s` reads as itself, a string, as a plain YAML scalar (1.1 and
/// 1.2, block and flow) and as a Dockerfile word: only the reference
/// grammar's characters, starting with a letter or digit, with a `/` (so
/// never a number, boolean, null or timestamp).
fn plain_word_safe(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.contains('/')
        && s.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/' | ':' | '@' | '+')
        })
}

/// `$NAME` or `${NAME}` alone: the variable's name.
fn single_variable(written: &str) -> Option<&str> {
    let name = written.strip_prefix('$')?;
    let name = name
        .strip_prefix('{')
        .and_then(|n| n.strip_suffix('}'))
        .unwrap_or(name);
    let mut chars = name.chars();
    let first = chars.next()?;
    ((first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_'))
    .then_some(name)
}

/// Every `ARG NAME=VALUE` default of `name` in a Dockerfile (one physical
/// line each): the byte range of the value (inside its quotes) and the
/// value.
fn arg_defaults<'t>(text: &'t str, name: &str) -> Vec<(Range<usize>, &'t str)> {
    let mut out = Vec::new();
    let mut line_start = 0;
    for line in text.split_inclusive('\n') {
        let start = line_start;
        line_start += line.len();
        let body = line.trim_start();
        let indent = line.len() - body.len();
        let Some(instruction) = body.get(..4) else {
            continue;
        };
        if !instruction.eq_ignore_ascii_case("ARG ") && !instruction.eq_ignore_ascii_case("ARG\t") {
            continue;
        }
        let mut i = start + indent + 4;
        let end = start + line.trim_end().len();
        while i < end {
            let word_start = i + (text[i..end].len() - text[i..end].trim_start().len());
            let rest = &text[word_start..end];
            if rest.is_empty() {
                break;
            }
            let (word_len, value) = match rest.strip_prefix(name).and_then(|r| r.strip_prefix('='))
            {
                Some(value) => {
                    let value_start = word_start + name.len() + 1;
                    match value.chars().next() {
                        Some(q @ ('"' | '\'')) => match value[1..].find(q) {
                            Some(close) => (
                                name.len() + 2 + close + 1,
                                Some((
                                    value_start + 1..value_start + 1 + close,
                                    &value[1..1 + close],
                                )),
                            ),
                            None => (rest.len(), None),
                        },
                        _ => {
                            let len = value.find(char::is_whitespace).unwrap_or(value.len());
                            (
                                name.len() + 1 + len,
                                Some((value_start..value_start + len, &value[..len])),
                            )
                        }
                    }
                }
                None => (rest.find(char::is_whitespace).unwrap_or(rest.len()), None),
            };
            if let Some(found) = value {
                out.push(found);
            }
            i = word_start + word_len.max(1);
            while !text.is_char_boundary(i) {
                i += 1;
            }
        }
    }
    out
}

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

/// One file of a [`fix`] run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileFix {
    /// The file's name, as in the report.
    pub name: String,
    /// The text before and after, when the plan changes it and the fixed
    /// text reads as planned; `None` when nothing changes or the file is not
    /// touched.
    pub change: Option<Change>,
    /// The images a rule rewrites that cannot be fixed.
    pub unfixable: Vec<Unfixable>,
    /// Why the file is not touched at all: it could not be read completely
    /// (a read error, a parse error, a construct kubectl reads differently),
    /// or its fixed text did not read as planned.
    pub not_touched: Option<String>,
}

/// A file's text before and after fixing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The text as read.
    pub before: String,
    /// The fixed text.
    pub after: String,
}

impl Change {
    /// The unified diff of the change ([`unified_diff`]), named `name`.
    pub fn diff(&self, name: &str) -> String {
        unified_diff(name, &self.before, &self.after)
    }
}

/// What a [`fix`] run produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fixed {
    /// The report of the files as fixed (unchanged files as they are): what
    /// `lint` will say once the fixed texts are written.
    pub report: Report,
    /// One entry per file, in the report's order.
    pub files: Vec<FileFix>,
}

/// Lints `sources`, plans the fix of every file, and reads each fixed text
/// again ([`verify`]): the whole of `lint --fix` but the writing. A file
/// with a problem that makes its sites untrustworthy (an input error) is
/// not touched.
pub fn fix(sources: Vec<Source>, options: &Options, policy: &Policy) -> Fixed {
    let kinds: Vec<SourceKind> = sources.iter().map(|s| s.kind).collect();
    let mut report = crate::lint(sources, options, policy);
    let mut files = Vec::with_capacity(report.files.len());
    // (index, plan) of each file with a fixed text, and the fixed sources,
    // read again below (only those).
    let mut changed = Vec::new();
    let mut fixed_sources = Vec::new();
    for (index, (file, kind)) in report.files.iter().zip(&kinds).enumerate() {
        let mut entry = FileFix {
            name: file.name.clone(),
            change: None,
            unfixable: Vec::new(),
            not_touched: None,
        };
        let sites: Vec<ImageSite> = file.findings.iter().map(|f| f.site.clone()).collect();
        let fix = plan(&file.text, *kind, &sites, policy, options);
        entry.unfixable.clone_from(&fix.unfixable);
        let input_error = file.problems.iter().find(|p| p.code.is_input_error());
        match input_error {
            _ if fix.is_empty() => {}
            Some(problem) => {
                entry.not_touched = Some(format!(
                    "not fixed: it cannot be read completely ({}: {})",
                    problem.code.as_str(),
                    problem.message
                ));
            }
            None => {
                let text = fix.apply(&file.text);
                fixed_sources.push(Source {
                    name: file.name.clone(),
                    kind: *kind,
                    text: Ok(text.clone()),
                });
                entry.change = Some(Change {
                    before: String::new(),
                    after: text,
                });
                changed.push((index, fix));
            }
        }
        files.push(entry);
    }
    let again = crate::lint(fixed_sources, options, policy);
    for ((index, plan), after) in changed.into_iter().zip(again.files) {
        let (entry, before) = (&mut files[index], &mut report.files[index]);
        match verify(before, &plan, &after) {
            Ok(()) => {
                let before = std::mem::replace(before, after);
                if let Some(change) = &mut entry.change {
                    change.before = before.text;
                }
            }
            Err(why) => {
                entry.change = None;
                entry.not_touched = Some(format!("not fixed: {why}"));
            }
        }
    }
    Fixed { report, files }
}

/// A unified diff (`diff -u`, with `a/` and `b/` prefixes, so `patch -p1`
/// applies it) of `before` and `after`, named `name`; empty when they are
/// equal.
pub fn unified_diff(name: &str, before: &str, after: &str) -> String {
    if before == after {
        return String::new();
    }
    similar::TextDiff::from_lines(before, after)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{name}"), &format!("b/{name}"))
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_variables() {
        assert_eq!(single_variable("$BASE"), Some("BASE"));
        assert_eq!(single_variable("${BASE}"), Some("BASE"));
        assert_eq!(single_variable("${BASE:-x}"), None);
        assert_eq!(single_variable("nginx:$TAG"), None);
        assert_eq!(single_variable("$1"), None);
    }

    #[test]
    fn arg_default_spans() {
        let text = "ARG A=1 BASE=nginx:1\r\narg BASE=\"x y\"\nFROM $BASE\nARG BASE\n";
        let got: Vec<(&str, &str)> = arg_defaults(text, "BASE")
            .into_iter()
            .map(|(r, v)| (&text[r], v))
            .collect();
        assert_eq!(got, [("nginx:1", "nginx:1"), ("x y", "x y")]);
        assert!(arg_defaults("ARG BASEX=1\n", "BASE").is_empty());
    }

    #[test]
    fn plain_safety() {
        assert!(plain_word_safe("registry.my.com/nginx:1"));
        assert!(!plain_word_safe("nginx"));
        assert!(!plain_word_safe("a/b #c"));
        assert!(!plain_word_safe("-a/b"));
    }
}
