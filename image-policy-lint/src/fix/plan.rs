//! Planning: which bytes of a text become what (the module docs, *What is
//! edited*). A pure function of the text, its sites and the policy.

use crate::kustomization;
use crate::lines::Lines;
use crate::report::{ImageSite, Position};
use crate::{Options, SourceKind};
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
    /// applied (the rewritten one when the plan changes it, with its digest
    /// when it is pinned).
    pub expected: Vec<String>,
    /// The sites the plan pins (`pin:` rules), each with the image resolved
    /// for it: what the file will name once fixed (the rewritten image),
    /// without the digest.
    pub pinned: Vec<(usize, String)>,
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
/// `policy`'s rewrite rules change, or that its `pin:` rules put in pin
/// scope without a digest, becomes an edit, or an [`Unfixable`]. A pinned
/// image takes its digest from [`Options::pins`] (a placeholder when they
/// are `None`, see [`super::Pins`]). Nothing is allocated for a site no
/// rule rewrites or pins.
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
    if sites.is_empty() {
        return fix;
    }
    let pinning = super::pin::policy_pins(policy);
    if !policy.has_rewrites() && !pinning {
        return fix;
    }
    let lines = Lines::new(text);
    let mut planner = Planner {
        text,
        lines: &lines,
        options,
        sites,
        edits: Vec::new(),
        may_alias: text.contains('*'),
        anchors: std::cell::OnceCell::new(),
    };
    for (index, site) in sites.iter().enumerate() {
        let rewritten = match policy.rewrite_str(&site.image) {
            Ok(rewritten) => rewritten.map(|r| r.into_string()),
            Err(e) => {
                fix.unfixable.push(unfixable(index, site, e.to_string()));
                continue;
            }
        };
        // Pin scope is judged on what the file will hold: the rewritten image.
        let pin = pinning
            && super::pin::in_pin_scope(
                policy,
                rewritten.as_deref().unwrap_or(&site.image),
                site.namespace.as_deref(),
                &site.annotations,
            );
        if rewritten.is_none() && !pin {
            continue;
        }
        let name = rewritten.clone().unwrap_or_else(|| site.image.clone());
        let digest = match (&options.pins, pin) {
            (_, false) => None,
            (None, true) => Some(super::pin::PLACEHOLDER),
            (Some(pins), true) => match pins.get(&name) {
                Some(digest) => Some(digest),
                None => {
                    let why = format!("no digest was resolved for {name}");
                    fix.unfixable.push(unfixable(index, site, why));
                    continue;
                }
            },
        };
        let target = match digest {
            Some(digest) => format!("{name}@{digest}"),
            None => name.clone(),
        };
        let found = if site.holder.kind == kustomization::HOLDER_KIND && digest.is_some() {
            planner.kustomization_pin(site, rewritten.as_deref(), &target)
        } else {
            match kind {
                SourceKind::Dockerfile => planner.dockerfile(site, &target).map(Vec::from_iter),
                _ => planner.yaml(site, &target),
            }
        };
        match found.and_then(|edits| planner.add(edits)) {
            Ok(()) => {
                fix.expected[index] = target;
                if pin {
                    fix.pinned.push((index, name));
                }
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
    /// The text has a `*`, so it may hold an alias: asked once per file,
    /// not once per edit (a scan of the whole text each time was a quarter
    /// of `lint --fix`'s instructions).
    may_alias: bool,
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
        if !self.may_alias {
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

    /// A kustomization override pinned: its `newName` rewritten (when a
    /// rule rewrites it) and a `digest:` line added after the line of the
    /// site's key, at that key's indentation, as kustomize writes it (the
    /// image becomes `NAME:newTag@digest`). Only a block-style entry with a
    /// `newTag` (without one the tag comes from the resources, which a
    /// `digest:` would drop).
    fn kustomization_pin(
        &self,
        site: &ImageSite,
        rewritten: Option<&str>,
        target: &str,
    ) -> Result<Vec<Edit>, String> {
        let (name, digest) = target
            .rsplit_once('@')
            .ok_or_else(|| format!("{target} has no digest"))?;
        let tagged = image_policy_core::reference::ImageRef::parse(&site.image)
            .is_ok_and(|r| r.tag().is_some());
        if !tagged {
            return Err(
                "this images: entry has no newTag (the tag comes from the resources, which a digest: would drop): add newTag to pin it"
                    .to_owned(),
            );
        }
        let at = self.offset(site)?;
        let line_start = self.text[..at].rfind('\n').map_or(0, |i| i + 1);
        let before = &self.text[line_start..at];
        // `  newName: `, `- name: `, `  - name: `: the key's column.
        let key = before.trim_start_matches([' ', '-']);
        let indent = before.len() - key.len();
        if before[..indent].contains("--")
            || !key.trim_end().ends_with(':')
            || key.contains(['{', '[', '#', '"', '\''])
        {
            return Err(
                "its images: entry is not in block style (key: value lines): write it so to pin it"
                    .to_owned(),
            );
        }
        let mut edits = match rewritten {
            Some(_) => self.yaml(site, name)?,
            None => Vec::new(),
        };
        let line = format!("{}digest: {digest}", " ".repeat(indent));
        let edit = match self.text[at..].find('\n') {
            Some(nl) => {
                let eol = if self.text[..at + nl].ends_with('\r') {
                    "\r\n"
                } else {
                    "\n"
                };
                let next = at + nl + 1;
                Edit {
                    range: next..next,
                    replacement: format!("{line}{eol}"),
                }
            }
            None => Edit {
                range: self.text.len()..self.text.len(),
                replacement: format!("\n{line}"),
            },
        };
        edits.push(edit);
        Ok(edits)
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
/// grammar's characters, starting with a letter or digit, with a `/` or
/// the `@` of a digest (so never a number, boolean, null or timestamp).
pub(super) fn plain_word_safe(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.contains(['/', '@'])
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
pub(super) fn anchor_value_movable(token: &str) -> bool {
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
