//! A recognizer of the common block-YAML subset of Kubernetes manifests
//! (`helm template` and `kubectl get -o yaml` output), yielding the very
//! events granit-parser yields for the same text: the first source of the
//! fast path ([`crate::fast_yaml`]), which falls back to granit-parser's
//! events whenever this module gives up.
//!
//! # Design
//!
//! It reads a line at a time and keeps a stack of the open block
//! collections (each with its indentation). It can only give up
//! ([`GaveUp`]), never decide otherwise than granit-parser: on any text it
//! accepts to the end, the events it yields (kind, scalar text, style plain
//! or not, and each scalar's line and column) are granit-parser's events for
//! that text as the fast path converts them. Anything outside the subset
//! below, or anything it is not sure of, is a give-up, and the fast path
//! then reads the same text with granit-parser, as it did before this
//! module existed; serde-saphyr stays the one authority behind both.
//!
//! # The subset
//!
//! - the text is printable ASCII and line feeds only (no tab, no carriage
//!   return, no byte-order mark, no other control character, nothing past
//!   ASCII: columns are then bytes, and no character is a line break or a
//!   non-printable character to one reader and not to the other);
//! - documents start with `---` alone on its line (a comment may follow) or
//!   implicitly; no `...`, no `%` directive, nothing else at column 0 that
//!   starts with `---`;
//! - block mappings of `key: value` lines and block sequences of `- item`
//!   lines, a sequence also at its key's indentation, a mapping also on an
//!   item's line (`- name: x`); each node's lines more indented than its
//!   parent's;
//! - keys: plain (starting with a letter, digit, `_`, `.`, `/` or `$`, with
//!   no `#` and no trailing space), or quoted on one line without escapes;
//!   at most [`MAX_KEY`] bytes;
//! - values: plain scalars on one line (no `: `, no trailing `:`; a
//!   following line more indented than the value's collection is a
//!   give-up, since it would continue or break the scalar), double-quoted
//!   scalars on one line without `\`, single-quoted ones without `''`, flow
//!   sequences and mappings on one line of such scalars (not nested, no
//!   empty entry), or nothing (a null, or a nested node on the next lines);
//! - comments: whole lines, or after a value or key separated by a space.
//!
//! Anchors, aliases, tags, block scalars (`|`, `>`), multi-line scalars,
//! escapes, explicit keys (`?`), nested flow collections and everything
//! else are give-ups. The differential tests (`tests/it/block_yaml.rs`) and
//! the `fast_yaml` fuzz target compare this module's events with
//! granit-parser's on every text it accepts.
//!
//! # Untrusted input
//!
//! Linear in the text: each line is read once, each byte of it a bounded
//! number of times; the stack holds one entry per open collection (each
//! more indented than the last, so at most a line's length), and the queue
//! of events at most one line's worth. Nothing panics.

use crate::fast_yaml::{Ev, Scalar};
use crate::report::Position;
use std::borrow::Cow;
use std::collections::VecDeque;

/// The longest key this module reads (YAML limits implicit keys to 1024
/// characters; a margin keeps it clear of the parser's own counting).
pub const MAX_KEY: usize = 1000;

/// The text is outside the recognizer's subset: read it with granit-parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GaveUp(pub &'static str);

type Result<T> = std::result::Result<T, GaveUp>;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Mapping,
    Sequence,
}

/// An open block collection: its kind and the column of its keys or dashes.
#[derive(Clone, Copy)]
struct Block {
    kind: Kind,
    indent: usize,
}

/// What the last content line left open.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Open {
    /// A node's text ended on the line: the next content line must not be
    /// more indented than the innermost collection.
    Nothing,
    /// `key:` with nothing after it: a null, or a node on the next lines
    /// (more indented, or a sequence at the key's indentation).
    Value,
    /// `-` with nothing after it: a null, or a node more indented.
    Item,
    /// A document has started and has no root yet.
    Root,
}

/// The recognizer: yields the fast path's events for a text in the subset.
pub struct Recognizer<'a> {
    text: &'a str,
    /// Where the next line starts.
    at: usize,
    /// The 1-based number of the next line.
    line: usize,
    stack: Vec<Block>,
    open: Open,
    in_document: bool,
    started: bool,
    finished: bool,
    queue: VecDeque<Ev<'a>>,
}

impl<'a> Recognizer<'a> {
    /// A recognizer of `text`; gives up at once on a text that is not
    /// printable ASCII and line feeds.
    pub fn new(text: &'a str) -> Result<Self> {
        if !text
            .bytes()
            .all(|b| (0x20..0x7f).contains(&b) || b == b'\n')
        {
            return Err(GaveUp("not printable ASCII"));
        }
        Ok(Recognizer {
            text,
            at: 0,
            line: 1,
            stack: Vec::new(),
            open: Open::Nothing,
            in_document: false,
            started: false,
            finished: false,
            queue: VecDeque::new(),
        })
    }

    /// The next event; after `StreamEnd`, `Ok(None)`.
    pub fn next_event(&mut self) -> Result<Option<Ev<'a>>> {
        loop {
            if let Some(ev) = self.queue.pop_front() {
                return Ok(Some(ev));
            }
            if self.finished {
                return Ok(None);
            }
            self.step()?;
        }
    }

    /// Reads one line (or the end of the text) into the queue.
    fn step(&mut self) -> Result<()> {
        if !self.started {
            self.started = true;
            self.queue.push_back(Ev::StreamStart);
        }
        if self.at >= self.text.len() {
            self.end_document()?;
            self.queue.push_back(Ev::StreamEnd);
            self.finished = true;
            return Ok(());
        }
        let rest = &self.text[self.at..];
        let len = memchr::memchr(b'\n', rest.as_bytes()).unwrap_or(rest.len());
        let line = &rest[..len];
        let number = self.line;
        self.at += (len + 1).min(rest.len());
        self.line += 1;
        self.read_line(line, number)
    }

    fn read_line(&mut self, line: &'a str, number: usize) -> Result<()> {
        let bytes = line.as_bytes();
        let indent = bytes.iter().take_while(|&&b| b == b' ').count();
        if indent == bytes.len() {
            return Ok(()); // blank
        }
        if indent == 0 {
            if let Some(tail) = line.strip_prefix("---") {
                return match tail.as_bytes().first() {
                    None | Some(b' ') if is_tail_empty(tail) => {
                        self.end_document()?;
                        self.in_document = true;
                        self.open = Open::Root;
                        self.queue.push_back(Ev::DocumentStart);
                        Ok(())
                    }
                    _ => Err(GaveUp("content after `---`")),
                };
            }
            if line.starts_with("...") || line.starts_with('%') {
                return Err(GaveUp("a document end or a directive"));
            }
        }
        if bytes[indent] == b'#' {
            // A comment line: only where no scalar could continue.
            return match self.open {
                Open::Nothing if self.in_document && indent > self.innermost_indent() => {
                    Err(GaveUp("a comment more indented than its collection"))
                }
                _ => Ok(()),
            };
        }
        if !self.in_document {
            self.in_document = true;
            self.open = Open::Root;
            self.queue.push_back(Ev::DocumentStart);
        }
        let is_item = is_dash(&bytes[indent..]);
        match self.open {
            Open::Root => {
                self.open = Open::Nothing;
                return self.open_node(line, number, indent, is_item);
            }
            Open::Value => {
                let Some(parent) = self.stack.last().copied() else {
                    return Err(GaveUp("no parent"));
                };
                if indent > parent.indent || (indent == parent.indent && is_item) {
                    self.open = Open::Nothing;
                    return self.open_node(line, number, indent, is_item);
                }
                self.push_null();
            }
            Open::Item => {
                let Some(parent) = self.stack.last().copied() else {
                    return Err(GaveUp("no parent"));
                };
                if indent > parent.indent {
                    self.open = Open::Nothing;
                    return self.open_node(line, number, indent, is_item);
                }
                self.push_null();
            }
            Open::Nothing => {}
        }
        self.open = Open::Nothing;
        // Close the collections this line is outside of.
        while let Some(top) = self.stack.last().copied() {
            let outside = match top.kind {
                Kind::Mapping => indent < top.indent,
                Kind::Sequence => indent < top.indent || (indent == top.indent && !is_item),
            };
            if !outside {
                break;
            }
            self.close_top();
        }
        let Some(top) = self.stack.last().copied() else {
            return Err(GaveUp("content after the root node"));
        };
        if top.indent != indent {
            return Err(GaveUp("an indentation no open collection has"));
        }
        match (top.kind, is_item) {
            (Kind::Sequence, true) => self.item(line, number, indent),
            (Kind::Mapping, false) => self.entry(line, number, indent),
            _ => Err(GaveUp("a line of the wrong kind for its collection")),
        }
    }

    /// Opens the collection that starts at column `indent` of this line.
    fn open_node(
        &mut self,
        line: &'a str,
        number: usize,
        indent: usize,
        is_item: bool,
    ) -> Result<()> {
        if is_item {
            self.start(Kind::Sequence, indent);
            self.item(line, number, indent)
        } else {
            self.start(Kind::Mapping, indent);
            self.entry(line, number, indent)
        }
    }

    fn start(&mut self, kind: Kind, indent: usize) {
        self.stack.push(Block { kind, indent });
        self.queue.push_back(match kind {
            Kind::Mapping => Ev::MappingStart,
            Kind::Sequence => Ev::SequenceStart,
        });
    }

    fn close_top(&mut self) {
        if let Some(top) = self.stack.pop() {
            self.queue.push_back(match top.kind {
                Kind::Mapping => Ev::MappingEnd,
                Kind::Sequence => Ev::SequenceEnd,
            });
        }
    }

    fn innermost_indent(&self) -> usize {
        self.stack.last().map_or(0, |b| b.indent)
    }

    /// The null of a `key:` or `-` with nothing after it, as granit-parser
    /// writes it (`~`). Its position is not granit-parser's (the fast path
    /// never reads a null's position: a null is `None`, a unit or a
    /// refusal), hence no position at all.
    fn push_null(&mut self) {
        self.queue.push_back(Ev::Scalar(Scalar {
            value: Cow::Borrowed("~"),
            plain: true,
            position: Position { line: 0, column: 0 },
        }));
    }

    /// Closes the open document, if any.
    fn end_document(&mut self) -> Result<()> {
        if !self.in_document {
            return Ok(());
        }
        match self.open {
            Open::Value | Open::Item | Open::Root => self.push_null(),
            Open::Nothing => {}
        }
        self.open = Open::Nothing;
        while !self.stack.is_empty() {
            self.close_top();
        }
        self.queue.push_back(Ev::DocumentEnd);
        self.in_document = false;
        Ok(())
    }

    /// A `- ...` line of the sequence whose dash is at column `indent`.
    fn item(&mut self, line: &'a str, number: usize, indent: usize) -> Result<()> {
        let bytes = line.as_bytes();
        let mut at = indent + 1;
        while bytes.get(at) == Some(&b' ') {
            at += 1;
        }
        if at == bytes.len() || bytes[at] == b'#' {
            if at < bytes.len() && at == indent + 1 {
                return Err(GaveUp("`-#`"));
            }
            self.open = Open::Item;
            return Ok(());
        }
        if is_dash(&bytes[at..]) {
            return Err(GaveUp("a sequence on an item's line"));
        }
        if looks_like_entry(&line[at..]) {
            self.start(Kind::Mapping, at);
            return self.entry(line, number, at);
        }
        self.value(line, number, at)
    }

    /// A `key: ...` line of the mapping whose keys are at column `indent`.
    fn entry(&mut self, line: &'a str, number: usize, indent: usize) -> Result<()> {
        let bytes = line.as_bytes();
        let (key, mut at) = match bytes[indent] {
            b'"' | b'\'' => {
                let (key, end) = quoted(line, number, indent)?;
                (key, end)
            }
            _ => {
                let end = plain_key_end(line, indent)?;
                let key = Scalar {
                    value: Cow::Borrowed(&line[indent..end]),
                    plain: true,
                    position: position(number, indent),
                };
                (key, end)
            }
        };
        if at - indent > MAX_KEY {
            return Err(GaveUp("a long key"));
        }
        if bytes.get(at) != Some(&b':') {
            return Err(GaveUp("a key without `:`"));
        }
        at += 1;
        match bytes.get(at) {
            None => {}
            Some(b' ') => {}
            Some(_) => return Err(GaveUp("`:` not followed by a space")),
        }
        self.queue.push_back(Ev::Scalar(key));
        while bytes.get(at) == Some(&b' ') {
            at += 1;
        }
        if at == bytes.len() || bytes[at] == b'#' {
            self.open = Open::Value;
            return Ok(());
        }
        if is_dash(&bytes[at..]) {
            return Err(GaveUp("a sequence on a key's line"));
        }
        self.value(line, number, at)
    }

    /// A value that starts at column `at` and ends on this line.
    fn value(&mut self, line: &'a str, number: usize, at: usize) -> Result<()> {
        let bytes = line.as_bytes();
        let end = match bytes[at] {
            b'"' | b'\'' => {
                let (scalar, end) = quoted(line, number, at)?;
                self.queue.push_back(Ev::Scalar(scalar));
                end
            }
            b'[' | b'{' => self.flow(line, number, at)?,
            b => {
                if !plain_start(b, bytes.get(at + 1).copied()) {
                    return Err(GaveUp("an indicator starts the value"));
                }
                // The scalar runs to the end of the line or a comment.
                let mut end = bytes.len();
                let mut i = at;
                while i < bytes.len() {
                    match bytes[i] {
                        b'#' if bytes[i - 1] == b' ' => {
                            end = i;
                            break;
                        }
                        b':' if matches!(bytes.get(i + 1), None | Some(b' ')) => {
                            return Err(GaveUp("`: ` in a plain value"));
                        }
                        _ => {}
                    }
                    i += 1;
                }
                let text = line[at..end].trim_end_matches(' ');
                self.queue.push_back(Ev::Scalar(Scalar {
                    value: Cow::Borrowed(text),
                    plain: true,
                    position: position(number, at),
                }));
                self.open = Open::Nothing;
                return Ok(());
            }
        };
        if !is_tail_empty(&line[end..]) {
            return Err(GaveUp("content after a value"));
        }
        self.open = Open::Nothing;
        Ok(())
    }

    /// A flow sequence or mapping of scalars that opens at column `at` and
    /// closes on this line; returns the column after it.
    fn flow(&mut self, line: &'a str, number: usize, at: usize) -> Result<usize> {
        let bytes = line.as_bytes();
        let mapping = bytes[at] == b'{';
        let close = if mapping { b'}' } else { b']' };
        self.queue.push_back(if mapping {
            Ev::MappingStart
        } else {
            Ev::SequenceStart
        });
        let mut i = skip_spaces(bytes, at + 1);
        if bytes.get(i) == Some(&close) {
            self.queue.push_back(if mapping {
                Ev::MappingEnd
            } else {
                Ev::SequenceEnd
            });
            return Ok(i + 1);
        }
        loop {
            // One entry: a scalar, or for a mapping `key: value`.
            let (scalar, end) = flow_scalar(line, number, i)?;
            if end - i > MAX_KEY {
                return Err(GaveUp("a long flow entry"));
            }
            i = end;
            if mapping {
                if bytes.get(i) != Some(&b':') || bytes.get(i + 1) != Some(&b' ') {
                    return Err(GaveUp("a flow mapping entry without `: `"));
                }
                self.queue.push_back(Ev::Scalar(scalar));
                i = skip_spaces(bytes, i + 1);
                let (value, end) = flow_scalar(line, number, i)?;
                self.queue.push_back(Ev::Scalar(value));
                i = end;
            } else {
                self.queue.push_back(Ev::Scalar(scalar));
            }
            i = skip_spaces(bytes, i);
            match bytes.get(i) {
                Some(b',') => {
                    i = skip_spaces(bytes, i + 1);
                    if matches!(bytes.get(i), Some(b',' | b']' | b'}') | None) {
                        return Err(GaveUp("an empty flow entry"));
                    }
                }
                Some(&b) if b == close => {
                    self.queue.push_back(if mapping {
                        Ev::MappingEnd
                    } else {
                        Ev::SequenceEnd
                    });
                    return Ok(i + 1);
                }
                _ => return Err(GaveUp("an unexpected character in a flow collection")),
            }
        }
    }
}

/// A plain or quoted scalar inside a flow collection, starting at `at`;
/// returns it and the column after it (after a plain scalar's text, before
/// any space; after a quoted scalar's closing quote, past spaces).
fn flow_scalar<'a>(line: &'a str, number: usize, at: usize) -> Result<(Scalar<'a>, usize)> {
    let bytes = line.as_bytes();
    match bytes.get(at) {
        Some(b'"' | b'\'') => {
            let (scalar, end) = quoted(line, number, at)?;
            Ok((scalar, skip_spaces(bytes, end)))
        }
        // In a flow, a `-` starts a plain scalar only before a character
        // that is no flow indicator.
        Some(&b)
            if plain_start(b, bytes.get(at + 1).copied())
                && !(b == b'-'
                    && matches!(bytes.get(at + 1), Some(b',' | b'[' | b']' | b'{' | b'}'))) =>
        {
            let mut i = at;
            while i < bytes.len() {
                match bytes[i] {
                    b',' | b'[' | b']' | b'{' | b'}' => break,
                    b':' if matches!(
                        bytes.get(i + 1),
                        None | Some(b' ' | b',' | b'[' | b']' | b'{' | b'}')
                    ) =>
                    {
                        break;
                    }
                    b'#' if bytes[i - 1] == b' ' => return Err(GaveUp("a comment in a flow")),
                    _ => {}
                }
                i += 1;
            }
            if matches!(bytes.get(i), Some(b'[' | b'{')) {
                return Err(GaveUp("a nested flow collection"));
            }
            let text = line[at..i].trim_end_matches(' ');
            let end = at + text.len();
            Ok((
                Scalar {
                    value: Cow::Borrowed(text),
                    plain: true,
                    position: position(number, at),
                },
                skip_spaces(bytes, end),
            ))
        }
        _ => Err(GaveUp("an unexpected start of a flow scalar")),
    }
}

/// A quoted scalar that starts with its quote at column `at` and ends on
/// this line without escapes; returns it and the column after the closing
/// quote.
fn quoted(line: &str, number: usize, at: usize) -> Result<(Scalar<'_>, usize)> {
    let bytes = line.as_bytes();
    let quote = bytes[at];
    let body = &bytes[at + 1..];
    let Some(len) = memchr::memchr(quote, body) else {
        return Err(GaveUp("a quoted scalar that goes on to the next line"));
    };
    if quote == b'"' && memchr::memchr(b'\\', &body[..len]).is_some() {
        return Err(GaveUp("an escape"));
    }
    if quote == b'\'' && body.get(len + 1) == Some(&b'\'') {
        return Err(GaveUp("a quote in a single-quoted scalar"));
    }
    let value = &line[at + 1..at + 1 + len];
    Ok((
        Scalar {
            value: Cow::Borrowed(value),
            plain: false,
            position: position(number, at),
        },
        at + 2 + len,
    ))
}

fn position(line: usize, column: usize) -> Position {
    Position {
        line,
        column: column + 1,
    }
}

fn skip_spaces(bytes: &[u8], mut at: usize) -> usize {
    while bytes.get(at) == Some(&b' ') {
        at += 1;
    }
    at
}

/// Only spaces, or spaces and a comment.
fn is_tail_empty(tail: &str) -> bool {
    let rest = tail.trim_start_matches(' ');
    rest.is_empty() || (rest.starts_with('#') && rest.len() < tail.len())
}

/// A block sequence entry's dash: `-` then a space or the end of the line.
fn is_dash(bytes: &[u8]) -> bool {
    bytes.first() == Some(&b'-') && matches!(bytes.get(1), None | Some(b' '))
}

/// A byte that may start a plain scalar of the subset (`next` is the byte
/// after it).
fn plain_start(b: u8, next: Option<u8>) -> bool {
    match b {
        b'-' => matches!(next, Some(n) if n != b' '),
        b'?' | b':' | b',' | b'[' | b']' | b'{' | b'}' | b'#' | b'&' | b'*' | b'!' | b'|'
        | b'>' | b'\'' | b'"' | b'%' | b'@' | b'`' | b' ' => false,
        _ => true,
    }
}

/// Where a plain key that starts at `at` ends (at its `:`).
fn plain_key_end(line: &str, at: usize) -> Result<usize> {
    let bytes = line.as_bytes();
    let first = bytes[at];
    if !(first.is_ascii_alphanumeric() || matches!(first, b'_' | b'.' | b'/' | b'$')) {
        return Err(GaveUp("a key that starts with another character"));
    }
    let mut i = at;
    while i < bytes.len() {
        match bytes[i] {
            b':' if matches!(bytes.get(i + 1), None | Some(b' ')) => {
                if bytes[i - 1] == b' ' {
                    return Err(GaveUp("a space before a key's `:`"));
                }
                return Ok(i);
            }
            b'#' => return Err(GaveUp("`#` in a key")),
            _ => {}
        }
        i += 1;
    }
    Err(GaveUp("a scalar line that is no `key:`"))
}

/// Whether an item's content is a `key: ...` (a mapping on the item's line).
fn looks_like_entry(rest: &str) -> bool {
    let bytes = rest.as_bytes();
    match bytes.first() {
        Some(b'[' | b'{') => false,
        Some(b'"' | b'\'') => {
            let Ok((_, end)) = quoted(rest, 0, 0) else {
                return false;
            };
            bytes.get(end) == Some(&b':')
        }
        Some(_) => {
            // A `: ` or a final `:` before any comment.
            let mut i = 0;
            while i < bytes.len() {
                match bytes[i] {
                    b':' if matches!(bytes.get(i + 1), None | Some(b' ')) => return true,
                    b'#' if i > 0 && bytes[i - 1] == b' ' => return false,
                    _ => {}
                }
                i += 1;
            }
            false
        }
        None => false,
    }
}
