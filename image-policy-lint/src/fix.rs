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
//! plans every file of a lint, checks each fixed text (*Verification*
//! below) and keeps it only when it is proven to read as the same sites
//! with the rewritten images; the CLI only writes the texts (or prints
//! [`unified_diff`]).
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
//! | YAML alias of a scalar used as an image (`image: *img`) | the alias, replaced by the rewritten image written literally (the anchor keeps its value for every other alias) | an alias of a whole mapping or list (`*container`, a merge key `<<: *base`) |
//! | YAML anchored scalar (`image: &img nginx`) | the scalar; when an alias that is no image (a `command`, an env value, a label) uses it, the first such alias becomes `&img nginx` (the old value, as written), which the later aliases then read | an old value that cannot stand elsewhere as written (a tag, an escape, a flow indicator) |
//! | anything inside an anchored mapping or list that an alias repeats | nothing: a change there changes every copy | always |
//! | kustomization `images:` | `newName` (the tag and digest are kept in their own fields) | an entry without `newName` (changing `name` changes what it matches) |
//! | Dockerfile `FROM`, `COPY`/`ADD --from=`, `RUN --mount=...,from=...` (any option order, up to the next `,`), `ONBUILD`, `# syntax=` | the word, inside its quotes if quoted | text mixed with variables (`nginx:$TAG`), the JSON form of the syntax directive, `--var BUILDKIT_SYNTAX` |
//! | Dockerfile `FROM $BASE` (`${BASE}`, `"$BASE"`) | the default of the one `ARG BASE=...` of the file (inside its quotes) | no default (a build argument), more than one, or `--var BASE` given |
//!
//! An image a rule rewrites that the plan cannot change is reported as
//! such ([`crate::report::SiteVerdict::unfixable`], also by [`crate::lint`],
//! which runs the same plan, so "fixable with --fix" is said only of what
//! the fix does), and `lint --fix` exits 2 naming its file and position.
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
//! # Verification
//!
//! No fixed text is written or printed unless it reads as the planned sites
//! with the rewritten images and nothing else changed. [`fix`] proves it
//! locally, per edit, rather than by reading the whole fixed text again:
//!
//! - The first reading of the file is complete (no input error, or the file
//!   is not touched) and, for each site, says what scalar or word holds the
//!   image and where it starts; the planner checked those bytes against the
//!   image (see the table).
//! - [`check_edits`] then finds each edit in the fixed text and checks that
//!   it is a word of the reference grammar that makes up a whole token: a
//!   quoted YAML scalar that closes right after it (and, single-quoted, not
//!   with an escaped `''`), a plain scalar or a Dockerfile word with a
//!   separator on each side, never ending in `:`. Such a word has no quote,
//!   escape, space, comment, flow indicator, `$` or line break, starts with a
//!   letter or digit and has a `/`: it cannot open or close anything, or read
//!   as anything but that string (never a number, boolean, null, a stage
//!   name or a variable).
//! - Everything outside the edits is the same bytes, on the same lines (an
//!   edit never crosses a line), so every other token reads as before, and
//!   the fixed text reads as the original with each edited token's value
//!   replaced: the same objects, containers and paths, each image as the
//!   plan expects (an alias written literally reads as the new image, an
//!   alias given the moved anchor as the old value; a `FROM $BASE` its
//!   `ARG`'s new default).
//!
//! The anchors and aliases are read with the parser's own anchor events
//! (granit-parser, under serde-saphyr), so every alias of an anchor is
//! known, wherever it stands; the test
//! `fix_changes_only_planned_images_as_kubectl_reads_them` checks, over
//! generated files with anchors, aliases, merge keys and flow style, that
//! kubectl reads each fixed file as the original with only the planned
//! image fields changed (whole objects compared).
//!
//! So the fixed file's reading is derived from the first one instead of
//! read again: each site takes its expected image, and positions after an
//! edit on the same line move by the edit's growth; then each image is
//! judged once, as it reads in the fixed text (the same judge [`crate::lint`]
//! calls, on the same site). A file with problems (whose messages may quote
//! what changed) is read again in full and compared with [`verify`], as
//! every file was before. Local proof and
//! full reading are kept equal by tests: the `lint_readers` fuzz target and
//! the property tests run `check_fix` on every input, which requires
//! [`check_edits`] to accept every plan that reads as planned in full, and
//! [`fix`]'s derived report and text to be exactly what reading the fixed
//! text gives.
//!
//! # Performance
//!
//! Planning costs one pass over the text to index lines, and per site one
//! rewrite and one comparison. [`fix`] costs what [`crate::lint`] does (one
//! reading and one judgement per image, files on every core) plus, per
//! fixed file, the plan, one copy of the text and the local check of each
//! edit: not a second reading. With rewrite rules, [`crate::lint`] runs the
//! same plan and local check on each file a rule rewrites (one copy of its
//! text), so that its report says "fixable" only of what the fix does. A
//! text with anchors and aliases is parsed once more for its anchor events
//! when an edit needs them. [`unified_diff`] is written from the edits: one pass to
//! find the line starts, then only the hunks (`similar`'s line diff of the
//! whole texts is its oracle in the tests).

use crate::lines::Lines;
use crate::report::{Extracted, FileReport, ImageSite, Position, Report};
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
        anchors: std::cell::OnceCell::new(),
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
            SourceKind::Dockerfile => planner.dockerfile(site, &target).map(Vec::from_iter),
            _ => planner.yaml(site, &target),
        };
        match found.and_then(|edits| planner.add(edits)) {
            Ok(()) => fix.expected[index] = target,
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
    /// The text's anchors and aliases, read when an edit first needs them
    /// (`None` inside: the parser could not give them).
    anchors: std::cell::OnceCell<Option<Anchors>>,
}

impl Planner<'_> {
    /// Adds a site's edits, all or none: the same edit twice (an `ARG` two
    /// `FROM`s use) is one; an edit overlapping another is refused.
    fn add(&mut self, edits: Vec<Edit>) -> Result<(), String> {
        let mut new: Vec<Edit> = Vec::with_capacity(edits.len());
        for edit in edits {
            let mut same = false;
            for e in self.edits.iter().chain(&new) {
                if e.range == edit.range && e.replacement == edit.replacement {
                    same = true;
                    break;
                }
                let touches = e.range.start < edit.range.end && edit.range.start < e.range.end;
                if touches || e.range == edit.range {
                    return Err(format!(
                        "its text overlaps another image's edit (of {:?})",
                        &self.text[e.range.clone()]
                    ));
                }
            }
            if !same {
                new.push(edit);
            }
        }
        self.edits.extend(new);
        Ok(())
    }

    /// The line and column of byte `offset`.
    fn position_of(&self, offset: usize) -> Position {
        let line = self.lines.line_of(offset);
        let (start, _) = self.lines.with_end(line);
        Position {
            line: line + 1,
            column: self.text[start..offset].chars().count() + 1,
        }
    }

    /// The text's anchors and aliases, or why they cannot be known.
    fn anchors(&self) -> Result<&Anchors, String> {
        self.anchors
            .get_or_init(|| Anchors::read(self.text))
            .as_ref()
            .ok_or_else(|| "its file's anchors and aliases cannot be read".to_owned())
    }

    /// Whether the alias `alias` (of a scalar) is an image site whose own
    /// plan writes the image literally in its place ([`Planner::alias`]), so
    /// that it no longer needs its anchor.
    fn alias_written_literally(&self, anchors: &Anchors, alias: &Alias, target: &str) -> bool {
        plain_word_safe(target)
            && anchors.aliased_collection_around(&alias.token).is_none()
            && self.sites.iter().any(|s| {
                s.written.is_none()
                    && s.holder.kind != kustomization::HOLDER_KIND
                    && self.lines.offset(s.position) == Some(alias.token.start)
            })
    }

    fn offset(&self, site: &ImageSite) -> Result<usize, String> {
        self.lines
            .offset(site.position)
            .ok_or_else(|| format!("the reader's position {} is not in the text", site.position))
    }

    /// A YAML site: the scalar at the site's position (and, when it is
    /// anchored and aliased where no image is, the anchor moved to keep the
    /// old value there), or the alias written literally.
    fn yaml(&self, site: &ImageSite, target: &str) -> Result<Vec<Edit>, String> {
        let at = self.offset(site)?;
        let rest = &self.text[at..];
        if rest.starts_with('*') {
            if site.written.is_some() || site.holder.kind == kustomization::HOLDER_KIND {
                return Err("it is an alias: change it where its anchor is defined".to_owned());
            }
            return self.alias(at, target).map(|edit| vec![edit]);
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
        let edit = scalar_edit(self.text, at, value, new_value)?;
        if !self.text.contains('*') {
            return Ok(vec![edit]);
        }
        let anchors = self.anchors()?;
        if let Some((anchored, alias)) = anchors.aliased_collection_around(&edit.range) {
            return Err(format!(
                "it is inside &{}, which the alias at {} repeats: a change here would change it there too",
                anchored.name,
                self.position_of(alias.token.start)
            ));
        }
        let mut edits = vec![edit];
        let anchored = anchors
            .defined
            .iter()
            .find(|a| !a.collection && a.node.start == at);
        if let Some(anchored) = anchored {
            // The aliases that still need the old value: the first gets the
            // anchor (and the old value as written), the others follow it.
            let kept = anchors
                .uses(anchored)
                .find(|alias| !self.alias_written_literally(anchors, alias, target));
            if let Some(alias) = kept {
                let old = &self.text[anchored.node.clone()];
                if !anchored.plain_scalar || !anchor_value_movable(old) {
                    return Err(format!(
                        "it is anchored (&{}) and the alias at {} is no image: the old value {old:?} cannot be moved there",
                        anchored.name,
                        self.position_of(alias.token.start)
                    ));
                }
                edits.push(Edit {
                    range: alias.token.clone(),
                    replacement: format!("&{} {old}", anchored.name),
                });
                edits.sort_by_key(|e| e.range.start);
            }
        }
        Ok(edits)
    }

    /// An alias of a scalar used as an image (`image: *img`): the image is
    /// written literally in its place, and the anchor keeps its value for
    /// every other alias.
    fn alias(&self, at: usize, target: &str) -> Result<Edit, String> {
        let anchors = self.anchors()?;
        let alias = anchors
            .aliases
            .iter()
            .find(|a| a.token.start == at)
            .ok_or_else(|| "the parser finds no alias where the reader does".to_owned())?;
        let anchored = anchors
            .of(alias)
            .ok_or_else(|| "the alias's anchor cannot be found".to_owned())?;
        if anchored.collection {
            return Err(format!(
                "it comes from *{}, an alias of a whole mapping or list: changing it where &{} is defined would change every copy",
                anchored.name, anchored.name
            ));
        }
        if let Some((outer, use_at)) = anchors.aliased_collection_around(&alias.token) {
            return Err(format!(
                "it is inside &{}, which the alias at {} repeats: a change here would change it there too",
                outer.name,
                self.position_of(use_at.token.start)
            ));
        }
        if !plain_word_safe(target) {
            return Err(format!(
                "{target} would not read as the same string as a plain YAML scalar"
            ));
        }
        Ok(Edit {
            range: alias.token.clone(),
            replacement: target.to_owned(),
        })
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
        let at = self.offset(site)?;
        // `"nginx"` or `'nginx'`: the word inside its quotes.
        let quoted = site.written.as_deref().and_then(|w| {
            ['"', '\''].into_iter().find_map(|q| {
                let inner = w.strip_prefix(q)?.strip_suffix(q)?;
                (inner == site.image).then_some(q)
            })
        });
        if site.written.is_none() || quoted.is_some() {
            let start = at + usize::from(quoted.is_some());
            let end = start + site.image.len();
            let next = self.text.get(end..).and_then(|r| r.chars().next());
            let ends = match quoted {
                Some(q) => self.text[at..].starts_with(q) && next == Some(q),
                // A `--mount` option's value ends at the next option (`,`)
                // or at the quote closing a quoted option.
                None if mount_option(&self.text[..at]) => {
                    next.is_none_or(|c| c.is_whitespace() || c == ',' || c == '"')
                }
                None => next.is_none_or(char::is_whitespace),
            };
            if !self.text[start..].starts_with(&site.image) || !ends {
                return Err(format!(
                    "the text at {} is not the image (the reader's span cannot be trusted)",
                    site.position
                ));
            }
            if !plain_word_safe(target) {
                return Err(format!("{target} cannot be written as a Dockerfile word"));
            }
            return Ok(Some(Edit {
                range: start..end,
                replacement: target.to_owned(),
            }));
        }
        let written = site.written.as_deref().unwrap_or_default();
        if written.starts_with("--var ") {
            return Err(format!("its value comes from {written}, not from the file"));
        }
        let Some(name) = single_variable(unquote_double(written)) else {
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
            (uses && single_variable(unquote_double(w)) != Some(name)).then_some(w)
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

/// The anchors and aliases of a YAML text, as its parser reads them (for
/// [`plan`]: what else a change of an anchored value would change).
#[derive(Default)]
struct Anchors {
    /// Each anchored node, in text order.
    defined: Vec<Anchored>,
    /// Each alias, in text order.
    aliases: Vec<Alias>,
    /// The index in `defined` of each anchor id (ids are unique in a
    /// stream: the parser never reuses one).
    by_id: std::collections::HashMap<usize, usize>,
}

/// An anchored node (`&name value`).
struct Anchored {
    /// The parser's id of the anchor (unique in the stream).
    id: usize,
    /// The anchor's name.
    name: String,
    /// The node's bytes: a scalar's token (with its quotes), or a mapping's
    /// or sequence's whole text.
    node: Range<usize>,
    /// Whether the node is a scalar without a tag.
    plain_scalar: bool,
    /// Whether the node is a mapping or a sequence.
    collection: bool,
}

/// An alias (`*name`).
struct Alias {
    /// The id of the anchor it refers to.
    id: usize,
    /// The bytes of the `*name` token.
    token: Range<usize>,
}

impl Anchors {
    /// Reads `text`'s anchors and aliases; `None` when the parser stops on
    /// it or gives no byte offsets (nothing anchored is then fixed).
    fn read(text: &str) -> Option<Anchors> {
        use granit_parser::{Event, Parser};
        let mut anchors = Anchors::default();
        if !text.contains('&') {
            return Some(anchors);
        }
        let options = granit_parser::options! { emit_comments: false, emit_anchor_events: true };
        let mut parser = Parser::new_from_str_with_options(text, options);
        // Open collections: (anchor id, start byte).
        let mut open: Vec<(usize, usize)> = Vec::new();
        // The node the next Anchor event belongs to.
        let mut last: Option<(Range<usize>, bool, bool)> = None;
        for event in parser.by_ref() {
            let (event, span) = event.ok()?;
            let start = span.start.byte_offset()?;
            let end = span.end.byte_offset()?;
            match event {
                Event::Scalar(_, _, _, tag) => last = Some((start..end, tag.is_none(), false)),
                Event::MappingStart(_, id, _) | Event::SequenceStart(_, id, _) => {
                    open.push((id, start));
                    last = None;
                }
                Event::MappingEnd | Event::SequenceEnd => {
                    let (id, from) = open.pop()?;
                    if id != 0 {
                        let index = *anchors.by_id.get(&id)?;
                        anchors.defined[index].node = from..end;
                    }
                    last = None;
                }
                Event::Anchor(id, name) => {
                    // A collection's anchor comes right after its start, a
                    // scalar's right after the scalar.
                    let (node, plain_scalar, collection) = match (&last, open.last()) {
                        (Some((range, plain, _)), _) => (range.clone(), *plain, false),
                        (None, Some(&(open_id, from))) if open_id == id => {
                            (from..from, false, true)
                        }
                        _ => return None,
                    };
                    anchors.by_id.insert(id, anchors.defined.len());
                    anchors.defined.push(Anchored {
                        id,
                        name: name.into_owned(),
                        node,
                        plain_scalar,
                        collection,
                    });
                    last = None;
                }
                Event::Alias(id) => {
                    anchors.aliases.push(Alias {
                        id,
                        token: start..end,
                    });
                    last = None;
                }
                _ => last = None,
            }
        }
        Some(anchors)
    }

    /// The anchor an alias refers to.
    fn of(&self, alias: &Alias) -> Option<&Anchored> {
        self.defined.get(*self.by_id.get(&alias.id)?)
    }

    /// The aliases of an anchor, in text order.
    fn uses<'s>(&'s self, anchored: &'s Anchored) -> impl Iterator<Item = &'s Alias> + 's {
        self.aliases.iter().filter(move |a| a.id == anchored.id)
    }

    /// An aliased mapping or sequence whose text holds `range`: a change
    /// there changes every alias of it too.
    fn aliased_collection_around(&self, range: &Range<usize>) -> Option<(&Anchored, &Alias)> {
        self.defined
            .iter()
            .filter(|a| a.collection && a.node.start <= range.start && range.end <= a.node.end)
            .find_map(|a| Some((a, self.uses(a).next()?)))
    }
}

/// The edit of a YAML scalar at `at` whose value is `value`: inside its
/// quotes when quoted, else the plain characters.
fn scalar_edit(text: &str, at: usize, value: &str, new_value: String) -> Result<Edit, String> {
    let rest = &text[at..];
    let untrusted = || {
        format!(
            "the scalar there is not {value:?} as written (escapes, a line break, or a span the reader got wrong)"
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

/// Whether `before` (a Dockerfile's text up to a site) ends in a `--mount`
/// option `from=`: after `--mount=`, a `,` or a `"` opening the option.
fn mount_option(before: &str) -> bool {
    let line = &before[before.rfind('\n').map_or(0, |i| i + 1)..];
    let Some(key_at) = line.len().checked_sub("from=".len()) else {
        return false;
    };
    line.get(key_at..)
        .is_some_and(|k| k.eq_ignore_ascii_case("from="))
        && line[..key_at].ends_with([',', '=', '"'])
        && line.to_ascii_lowercase().contains("--mount=")
}

/// A Dockerfile word without the double quotes around it (in which
/// variables are expanded), if it has them.
fn unquote_double(word: &str) -> &str {
    word.strip_prefix('"')
        .and_then(|w| w.strip_suffix('"'))
        .unwrap_or(word)
}

/// Whether an anchored scalar's text (its token, quotes included) reads as
/// the same value wherever an alias stands, in block or flow context: one
/// line, and quoted without escapes, or plain with only the reference
/// grammar's characters (never a flow indicator, a comment, `: `).
fn anchor_value_movable(token: &str) -> bool {
    if token.contains(['\n', '\r']) {
        return false;
    }
    match token.chars().next() {
        Some(q @ ('"' | '\'')) => {
            let inner = &token[1..token.len() - 1];
            token.len() >= 2 && token.ends_with(q) && !inner.contains([q, '\\'])
        }
        Some(c) if c.is_ascii_alphanumeric() => {
            !token.ends_with(':')
                && token.chars().all(|c| {
                    c.is_ascii_alphanumeric()
                        || matches!(c, '.' | '_' | '-' | '/' | ':' | '@' | '+')
                })
        }
        _ => false,
    }
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
    /// The edits that make `after` from `before` ([`Fix::edits`]).
    pub edits: Vec<Edit>,
}

impl Change {
    /// The unified diff of the change ([`unified_diff`]), named `name`.
    pub fn diff(&self, name: &str) -> String {
        unified_diff(name, &self.before, &self.edits)
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

/// Lints `sources`, plans the fix of every file, and checks each fixed text
/// (see the module docs, *Verification*): the whole of `lint --fix` but the
/// writing. A file with a problem that makes its sites untrustworthy (an
/// input error) is not touched. Files are fixed on as many threads as
/// [`crate::lint`] reads them.
pub fn fix(sources: Vec<Source>, options: &Options, policy: &Policy) -> Fixed {
    let worked = crate::map_files(&sources, |source| fix_file(source, options, policy));
    let mut report = Report::default();
    let mut files = Vec::with_capacity(sources.len());
    // (index, plan) of each fixed file whose report cannot be derived, and
    // its fixed source, read again in full below (only those).
    let mut reread = Vec::new();
    let mut reread_sources = Vec::new();
    for (index, (source, worked)) in sources.into_iter().zip(worked).enumerate() {
        let Worked {
            mut file,
            mut entry,
            after,
            edits,
            reread: plan,
        } = worked;
        let text = source.text.unwrap_or_default();
        file.name = source.name;
        match (after, plan) {
            (Some(after), None) => {
                file.text.clone_from(&after);
                entry.change = Some(Change {
                    before: text,
                    after,
                    edits,
                });
            }
            (Some(after), Some(plan)) => {
                file.text = text;
                reread_sources.push(Source {
                    name: file.name.clone(),
                    kind: source.kind,
                    text: Ok(after.clone()),
                });
                entry.change = Some(Change {
                    before: String::new(),
                    after,
                    edits: Vec::new(),
                });
                reread.push((index, plan));
            }
            (None, _) => file.text = text,
        }
        report.files.push(file);
        files.push(entry);
    }
    if !reread.is_empty() {
        let again = crate::lint(reread_sources, options, policy);
        for ((index, plan), after) in reread.into_iter().zip(again.files) {
            let (entry, before) = (&mut files[index], &mut report.files[index]);
            match verify(before, &plan, &after) {
                Ok(()) => {
                    let before = std::mem::replace(before, after);
                    if let Some(change) = &mut entry.change {
                        change.before = before.text;
                        change.edits = plan.edits;
                    }
                }
                Err(why) => {
                    entry.change = None;
                    let why = format!("not fixed: {why}");
                    mark_unfixable(before, &[], Some(&why));
                    entry.not_touched = Some(why);
                }
            }
        }
    }
    Fixed { report, files }
}

/// What [`fix`] does with one file on a worker thread: its report (without
/// name and text, moved in afterwards) as it reads once fixed, or as it is.
struct Worked {
    file: FileReport,
    entry: FileFix,
    /// The fixed text, when there is one.
    after: Option<String>,
    /// The edits of a fixed text whose report is derived.
    edits: Vec<Edit>,
    /// The plan of a fixed text to read again in full.
    reread: Option<Fix>,
}

/// What the fix of one file comes to before anything is written: the plan,
/// why the file is not touched at all (when it is not), and the fixed text
/// (when the plan changes something and the text may be written).
struct Assessed {
    fix: Fix,
    not_touched: Option<String>,
    fixed: Option<String>,
}

/// Plans the fix of `source` read as `extracted`, and checks it: a file with
/// an input error is not touched, nor one whose fixed text fails
/// [`check_edits`].
fn assess(source: &Source, extracted: &Extracted, options: &Options, policy: &Policy) -> Assessed {
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
/// write it ([`crate::report::SiteVerdict::unfixable`]): the plan's reason, or
/// why the whole file is not touched. `file`'s findings are in the order of
/// the sites `unfixable` indexes.
fn mark_unfixable(file: &mut FileReport, unfixable: &[Unfixable], not_touched: Option<&str>) {
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

/// [`crate::lint`]'s work on one file: read, judged, and each image a rewrite
/// rule changes marked when `lint --fix` cannot write it (the same plan and
/// checks as [`fix`], so the report says "fixable" only of what the fix
/// does). Name and text are left empty, for the caller to move in.
pub(crate) fn lint_file(source: &Source, options: &Options, policy: &Policy) -> FileReport {
    let extracted = crate::extract(source, options);
    if !policy.has_rewrites() {
        return crate::judged(extracted, |site| {
            crate::judge::with_policy(policy, site, options)
        });
    }
    let assessed = assess(source, &extracted, options, policy);
    let mut file = crate::judged(extracted, |site| {
        crate::judge::with_policy(policy, site, options)
    });
    mark_unfixable(
        &mut file,
        &assessed.fix.unfixable,
        assessed.not_touched.as_deref(),
    );
    file
}

/// Reads, plans, checks and judges one file: each image is judged once,
/// as it reads in the file that will be written.
fn fix_file(source: &Source, options: &Options, policy: &Policy) -> Worked {
    let mut extracted = crate::extract(source, options);
    let text = source.text.as_deref().unwrap_or_default();
    let Assessed {
        mut fix,
        not_touched,
        fixed,
    } = assess(source, &extracted, options, policy);
    let entry = FileFix {
        name: source.name.clone(),
        change: None,
        unfixable: std::mem::take(&mut fix.unfixable),
        not_touched,
    };
    let (mut after, mut edits, mut reread) = (None, Vec::new(), None);
    if let Some(fixed) = fixed {
        if extracted.problems.is_empty() {
            derive_reading(text, &mut extracted, &fix);
            after = Some(fixed);
            edits = fix.edits;
        } else {
            after = Some(fixed);
            reread = Some(fix);
        }
    }
    let mut file = crate::judged(extracted, |site| {
        crate::judge::with_policy(policy, site, options)
    });
    mark_unfixable(&mut file, &entry.unfixable, entry.not_touched.as_deref());
    Worked {
        file,
        entry,
        after,
        edits,
        reread,
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
fn derive_reading(text: &str, read: &mut Extracted, fix: &Fix) {
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

/// The unified diff (`diff -u`, with `a/` and `b/` prefixes, so `patch -p1`
/// applies it) of applying `edits` (from [`plan`] of `before`) to `before`,
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
