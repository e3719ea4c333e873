//! A lean serde [`Deserializer`] straight over YAML events, for the common
//! subset of Kubernetes manifests: the manifest reader's fast path.
//!
//! # Design
//!
//! The events come from one of two sources, first the block recognizer
//! ([`crate::block_yaml`]), a hand-written reader of the block-YAML subset
//! `helm template` and `kubectl get -o yaml` print, which yields exactly
//! granit-parser's events where it reads a text and gives up anywhere else;
//! on a give-up, the text is read again from granit-parser's own events.
//! Everything below holds for both sources, since their events are the
//! same (the differential tests and the `fast_yaml` fuzz target compare
//! them on every text the recognizer reads). A reading during which the
//! recognizer never gave up stands, a refusal of the subset included
//! (granit-parser's events up to that point are the same, so they would
//! meet it too); one during which it gave up is dropped, whatever it
//! returned, and done again from granit-parser's events.
//!
//! [`read`] parses a file with the same parser (granit-parser) and the same
//! parser options as serde-saphyr, and deserializes every document into the
//! manifest reader's document type with [`LocatedStr`] leaves: the text of a
//! scalar (borrowed from the input whenever the parser can) and its line and
//! column, computed from the parser's span exactly as serde-saphyr computes a
//! `Spanned` location (line as given, column + 1, in characters).
//!
//! It is an accelerator, never a second authority: it accepts a file only
//! when the file is in a subset where serde-saphyr is known to read the very
//! same values, and answers [`NotInSubset`] for anything else. The manifest
//! reader then reads the file with serde-saphyr exactly as it would have
//! without this module, so every error message, recovery, position and
//! behaviour outside the subset is serde-saphyr's.
//!
//! # The subset
//!
//! A file is accepted when all of these hold; otherwise the answer is
//! [`NotInSubset`] (the file goes to serde-saphyr):
//!
//! - it scans and parses without error, to the end of the stream;
//! - it has no carriage return without a line feed (the parser ends a line
//!   there, the linter's lines do not);
//! - no anchor, no alias, no tag (`!x`, `!!str`), no `%YAML` directive;
//! - every mapping key is a scalar; none is the merge key `<<`, none is
//!   null-like (empty, `~`, `null`), and a plain key that starts like a number
//!   (a digit, `+`, `-`) is a canonical decimal of at most 18 digits, so that
//!   comparing keys as text finds every duplicate serde-saphyr finds (it
//!   compares integers by value: `0x10` and `16` collide);
//! - no mapping, read or skipped, has the same key twice;
//! - a string leaf is a quoted or block scalar, or a plain scalar that YAML
//!   would not resolve to null, a boolean or a number (`image: 123` and
//!   `name: true` fall back; `image: ~` where the leaf is optional is `None`,
//!   as serde-saphyr reads it);
//! - a skipped (unknown) value holds no plain scalar that serde-saphyr's
//!   untyped reading rejects (`.inf`, `.nan`, `1e999`: non-finite floats);
//! - every value has the shape its type asks for (a mapping for a struct, a
//!   sequence for a list); a type error is serde-saphyr's to report;
//! - nesting stays below serde-saphyr's default depth (64) and the stream
//!   below its default budget (events, nodes, documents, scalar bytes), with
//!   a margin: a file near a limit falls back.
//!
//! Why the answer is the same: both readers see the same events (same
//! parser, same options), the same serde types drive both, and in the subset
//! serde-saphyr's extra machinery (alias replay, merge keys, tag handling,
//! type inference for ignored scalars, budget breaches) has nothing to do or
//! cannot fail. A document whose root is a null-like plain scalar (an empty
//! document) is skipped, as serde-saphyr's `from_multiple` skips it. The
//! differential tests (every fixture, the bench corpus, edge cases, a
//! proptest) and the `fast_yaml` fuzz target check exactly this: whenever
//! this module accepts a file, the result equals serde-saphyr's.
//!
//! # Performance
//!
//! On the bench corpus the block recognizer reads every file, and `lint`
//! costs about 111 instructions per byte instead of about 302 over
//! granit-parser's events (BENCHMARKS.md, "Lint's reading without
//! granit-parser's events"); a file it gives up on costs the recognizer's
//! work up to the give-up on top (at most one pass over the text).
//! Each parser event is converted once into a small event (a scalar keeps its
//! `Cow` text, plain or not, and its position) and peeked by reference, never
//! cloned. Unknown fields are skipped at the event level: no type inference,
//! no allocation. Duplicate keys are found by comparing borrowed keys in one
//! stack shared by all open mappings (no allocation for small mappings); a
//! mapping with more than [`SMALL_MAP`] keys moves its keys to a hash set.
//! The cost over the parser's own is a few instructions per byte (see
//! `benches/results/lint.md`).
//!
//! # Untrusted input
//!
//! Nothing here panics on any input (the `fast_yaml` fuzz target runs it on
//! arbitrary UTF-8). Work is linear in the input: each event is pulled once;
//! skipping a value is iterative, with its own stack bounded by the depth
//! limit; the typed part recurses only as deep as the object types are.
//! Anything unusual (an alias bomb, a deep nest, a huge stream) is
//! [`NotInSubset`], and serde-saphyr, with its budget, reads it.

use super::block_yaml::{GaveUp, Recognizer};
use super::report::Position;
use granit_parser::{Event, Parser, ScalarStyle, StrInput};
use image_policy_core::k8s::Text;
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

/// serde-saphyr's default depth limit (`Budget::max_depth`).
const MAX_DEPTH: usize = 64;
/// serde-saphyr's default budget (`Budget::default()`): events, nodes
/// (scalars and collections), documents, bytes of scalar text.
const MAX_EVENTS: usize = 1_000_000;
const MAX_NODES: usize = 250_000;
const MAX_DOCUMENTS: usize = 1_024;
const MAX_SCALAR_BYTES: usize = 64 * 1024 * 1024;
/// How far from each limit this module stops (it counts events slightly
/// differently from serde-saphyr's budget: stream start and end, say).
const MARGIN: usize = 16;

/// Up to this many keys, a mapping's keys are compared in a list; past it,
/// in a hash set.
pub const SMALL_MAP: usize = 16;

/// The input is outside the subset this module reads (see the module docs):
/// read it with serde-saphyr. Says why, for tests and debugging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotInSubset {
    reason: Cow<'static, str>,
}

impl NotInSubset {
    fn new(reason: &'static str) -> Self {
        NotInSubset {
            reason: Cow::Borrowed(reason),
        }
    }

    /// Why the input is outside the subset.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for NotInSubset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not in the fast YAML subset: {}", self.reason)
    }
}

impl std::error::Error for NotInSubset {}

impl de::Error for NotInSubset {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        NotInSubset {
            reason: Cow::Owned(msg.to_string()),
        }
    }
}

type Result<T> = std::result::Result<T, NotInSubset>;

/// The name that makes a deserializer of this module hand a [`LocatedStr`]
/// its position (the magic-name trick of `serde_spanned`).
const LOCATED_STR: &str = "$image_policy_lint::fast_yaml::LocatedStr";

/// A string leaf with the position of its scalar: the leaf of the fast path.
///
/// It can only be read by this module's deserializer (any other says it
/// cannot); the text borrows from the input unless the scalar had escapes,
/// folding or line breaks to resolve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocatedStr<'a> {
    /// The scalar's value.
    pub value: Cow<'a, str>,
    /// Where the scalar starts (its opening quote, for a quoted scalar).
    pub position: Position,
}

impl Text for LocatedStr<'_> {
    fn as_str(&self) -> &str {
        &self.value
    }
}

impl<'de> Deserialize<'de> for LocatedStr<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct LocatedVisitor;

        impl<'de> Visitor<'de> for LocatedVisitor {
            type Value = LocatedStr<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string read by the fast YAML reader")
            }

            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                let missing = || de::Error::custom("a located string needs value, line, column");
                let value = seq.next_element::<CowStr<'de>>()?.ok_or_else(missing)?.0;
                let line = seq.next_element::<usize>()?.ok_or_else(missing)?;
                let column = seq.next_element::<usize>()?.ok_or_else(missing)?;
                Ok(LocatedStr {
                    value,
                    position: Position { line, column },
                })
            }
        }

        deserializer.deserialize_newtype_struct(LOCATED_STR, LocatedVisitor)
    }
}

/// A `Cow<str>` that borrows when the deserializer lends (serde's own
/// `Cow<str>` always owns).
struct CowStr<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for CowStr<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct CowVisitor;
        impl<'de> Visitor<'de> for CowVisitor {
            type Value = CowStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(
                self,
                v: &'de str,
            ) -> std::result::Result<Self::Value, E> {
                Ok(CowStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> std::result::Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(CowVisitor)
    }
}

/// Reads every document of `text` into `T` (the manifest reader's document
/// type, with [`LocatedStr`] leaves), skipping empty documents as
/// serde-saphyr's `from_multiple` does; [`NotInSubset`] when the file is not
/// in the subset (see the module docs).
pub fn read<'a, T: Deserialize<'a>>(text: &'a str) -> Result<Vec<T>> {
    if super::yaml::has_lone_cr(text) {
        // The parser ends a line there and the linter's lines do not: its
        // positions would not be the linter's (serde-saphyr's reader places
        // them through the linter's lines).
        return Err(NotInSubset::new("a carriage return without a line feed"));
    }
    // The block recognizer first; where it gives up, granit-parser's
    // events. Where the recognizer went on, its events were granit-parser's:
    // a refusal of the subset on them is the refusal granit-parser's would
    // meet, so only a reading that met a give-up is done again.
    // A reading that met a give-up is dropped whatever it returned (a
    // visitor that swallowed the error would have read other events).
    if let Ok(recognizer) = Recognizer::new(text) {
        let mut events = Events::new(Source::Block(recognizer));
        let read = read_events(&mut events);
        if events.gave_up.is_none() {
            return read;
        }
    }
    read_events(&mut Events::new(Source::Granit(Box::new(granit_parser(
        text,
    )))))
}

fn read_events<'a, T: Deserialize<'a>>(events: &mut Events<'a>) -> Result<Vec<T>> {
    let mut documents = Vec::new();
    match events.next()? {
        Ev::StreamStart => {}
        _ => return Err(NotInSubset::new("no stream start")),
    }
    loop {
        match events.next()? {
            Ev::StreamEnd => break,
            Ev::DocumentStart => {}
            _ => return Err(NotInSubset::new("content outside a document")),
        }
        match events.peek()? {
            Ev::DocumentEnd => {}
            Ev::Scalar(s) if s.plain && is_null_like(&s.value) => {
                events.next()?;
            }
            _ => documents.push(T::deserialize(&mut *events)?),
        }
        match events.next()? {
            Ev::DocumentEnd => {}
            _ => return Err(NotInSubset::new("a document with more than one root")),
        }
    }
    if events.source_finished()? {
        Ok(documents)
    } else {
        Err(NotInSubset::new("events after the stream end"))
    }
}

/// granit-parser with serde-saphyr's parser options, its default budget and
/// its `comments` feature off: the defaults, with no comment events.
fn granit_parser(text: &str) -> Parser<'_, StrInput<'_>> {
    let options = granit_parser::options! { emit_comments: false };
    Parser::new_from_str_with_options(text, options)
}

/// Where the events come from.
enum Source<'a> {
    /// The block recognizer ([`crate::block_yaml`]).
    Block(Recognizer<'a>),
    /// granit-parser (boxed: it is large, and read only on a give-up or a
    /// text that is not ASCII).
    Granit(Box<Parser<'a, StrInput<'a>>>),
}

/// The events of `text` as the fast path sees them before its budget
/// (for the differential tests of the block recognizer): granit-parser's,
/// or the recognizer's with `block`. `Err` at the first event the fast path
/// refuses, or where the recognizer gives up.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn raw_events(text: &str, block: bool) -> Result<Vec<Ev<'_>>> {
    let mut source = if block {
        match Recognizer::new(text) {
            Ok(r) => Source::Block(r),
            Err(e) => return Err(NotInSubset::new(e.0)),
        }
    } else {
        Source::Granit(Box::new(granit_parser(text)))
    };
    let mut out = Vec::new();
    loop {
        let next = match &mut source {
            Source::Block(r) => r.next_event().map_err(|e| NotInSubset::new(e.0))?,
            Source::Granit(p) => match p.next() {
                None => None,
                Some(Err(_)) => return Err(NotInSubset::new("a scan or parse error")),
                Some(Ok((event, span))) => Some(from_granit(event, &span)?),
            },
        };
        match next {
            Some(ev) => out.push(ev),
            None => return Ok(out),
        }
    }
}

/// A scalar, as this module keeps it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Scalar<'a> {
    pub(crate) value: Cow<'a, str>,
    pub(crate) plain: bool,
    pub(crate) position: Position,
}

/// A parser event, as this module keeps it: small, so that peeking and
/// moving it costs little.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Ev<'a> {
    StreamStart,
    StreamEnd,
    DocumentStart,
    DocumentEnd,
    MappingStart,
    MappingEnd,
    SequenceStart,
    SequenceEnd,
    Scalar(Scalar<'a>),
}

/// A mapping being skipped or read: where its keys start on the key stack,
/// or its hash set once it has many.
struct KeySet<'a> {
    start: usize,
    big: Option<HashSet<Cow<'a, str>>>,
}

/// A collection being skipped.
struct SkipFrame<'a> {
    /// `Some` for a mapping.
    keys: Option<KeySet<'a>>,
    expecting_key: bool,
}

/// The event source: the parser, one event of look-ahead, the budget and
/// the keys of every open mapping.
struct Events<'a> {
    source: Source<'a>,
    /// Set when the block recognizer gave up (the text is then read again
    /// from granit-parser's events).
    gave_up: Option<GaveUp>,
    peeked: Option<Ev<'a>>,
    depth: usize,
    events: usize,
    nodes: usize,
    documents: usize,
    scalar_bytes: usize,
    /// The keys of the open mappings, innermost last.
    keys: Vec<Cow<'a, str>>,
    /// The skip stack, kept to reuse its allocation.
    skipping: Vec<SkipFrame<'a>>,
}

impl<'a> Events<'a> {
    fn new(source: Source<'a>) -> Self {
        Events {
            source,
            gave_up: None,
            peeked: None,
            depth: 0,
            events: 0,
            nodes: 0,
            documents: 0,
            scalar_bytes: 0,
            keys: Vec::new(),
            skipping: Vec::new(),
        }
    }

    /// Whether the source has nothing after the stream end.
    fn source_finished(&mut self) -> Result<bool> {
        Ok(match &mut self.source {
            Source::Block(r) => match r.next_event() {
                Ok(next) => next.is_none(),
                Err(e) => {
                    self.gave_up = Some(e);
                    false
                }
            },
            Source::Granit(p) => p.next().is_none(),
        })
    }

    fn pull(&mut self) -> Result<Ev<'a>> {
        if self.gave_up.is_some() {
            return Err(NotInSubset::new("the block recognizer gave up"));
        }
        let ev = match &mut self.source {
            Source::Block(r) => match r.next_event() {
                Ok(Some(ev)) => ev,
                Ok(None) => return Err(NotInSubset::new("the stream ended early")),
                Err(e) => {
                    self.gave_up = Some(e);
                    return Err(NotInSubset::new("the block recognizer gave up"));
                }
            },
            Source::Granit(p) => match p.next() {
                Some(Ok((event, span))) => from_granit(event, &span)?,
                Some(Err(_)) => return Err(NotInSubset::new("a scan or parse error")),
                None => return Err(NotInSubset::new("the stream ended early")),
            },
        };
        self.events += 1;
        if self.events + MARGIN > MAX_EVENTS {
            return Err(NotInSubset::new("near the event budget"));
        }
        match &ev {
            Ev::DocumentStart => {
                self.documents += 1;
                if self.documents + MARGIN > MAX_DOCUMENTS {
                    return Err(NotInSubset::new("near the document budget"));
                }
            }
            Ev::Scalar(s) => {
                self.node()?;
                self.scalar_bytes = self.scalar_bytes.saturating_add(s.value.len());
                if self.scalar_bytes.saturating_add(MARGIN) > MAX_SCALAR_BYTES {
                    return Err(NotInSubset::new("near the scalar budget"));
                }
            }
            Ev::MappingStart | Ev::SequenceStart => {
                self.node()?;
                self.depth += 1;
                if self.depth + 4 > MAX_DEPTH {
                    return Err(NotInSubset::new("near the depth limit"));
                }
            }
            Ev::MappingEnd | Ev::SequenceEnd => self.depth = self.depth.saturating_sub(1),
            Ev::StreamStart | Ev::StreamEnd | Ev::DocumentEnd => {}
        }
        Ok(ev)
    }

    fn node(&mut self) -> Result<()> {
        self.nodes += 1;
        if self.nodes + MARGIN > MAX_NODES {
            return Err(NotInSubset::new("near the node budget"));
        }
        Ok(())
    }

    fn peek(&mut self) -> Result<&Ev<'a>> {
        if self.peeked.is_none() {
            self.peeked = Some(self.pull()?);
        }
        match &self.peeked {
            Some(ev) => Ok(ev),
            None => Err(NotInSubset::new("no event")),
        }
    }

    fn next(&mut self) -> Result<Ev<'a>> {
        match self.peeked.take() {
            Some(ev) => Ok(ev),
            None => self.pull(),
        }
    }

    /// Records `key` in the open mapping `set`; an error when it is there already.
    fn remember_key(&mut self, set: &mut KeySet<'a>, key: Cow<'a, str>) -> Result<()> {
        remember_key(&mut self.keys, set, key)
    }

    /// Skips one node (the next), checking what serde-saphyr's untyped
    /// reading would check: keys, duplicates, non-finite floats.
    fn skip_node(&mut self) -> Result<()> {
        let mut frames = std::mem::take(&mut self.skipping);
        frames.clear();
        let result = self.skip_with(&mut frames);
        self.skipping = frames;
        result
    }

    fn skip_with(&mut self, frames: &mut Vec<SkipFrame<'a>>) -> Result<()> {
        loop {
            let ev = self.next()?;
            let in_key = matches!(frames.last(), Some(f) if f.keys.is_some() && f.expecting_key);
            match ev {
                Ev::Scalar(s) => {
                    if in_key {
                        check_key(&s)?;
                        let Some(frame) = frames.last_mut() else {
                            return Err(NotInSubset::new("no frame"));
                        };
                        frame.expecting_key = false;
                        if let Some(set) = frame.keys.as_mut() {
                            remember_key(&mut self.keys, set, s.value)?;
                        }
                        continue;
                    }
                    if s.plain && untyped_may_fail(&s.value) {
                        return Err(NotInSubset::new("a non-finite float"));
                    }
                    if let Some(frame) = frames.last_mut() {
                        frame.expecting_key = true;
                    }
                }
                Ev::MappingStart | Ev::SequenceStart => {
                    if in_key {
                        return Err(NotInSubset::new("a complex key"));
                    }
                    if let Some(frame) = frames.last_mut() {
                        frame.expecting_key = true;
                    }
                    let keys = matches!(ev, Ev::MappingStart).then(|| KeySet {
                        start: self.keys.len(),
                        big: None,
                    });
                    frames.push(SkipFrame {
                        keys,
                        expecting_key: true,
                    });
                }
                Ev::MappingEnd | Ev::SequenceEnd => match frames.pop() {
                    Some(frame) => {
                        if let Some(set) = frame.keys {
                            self.keys.truncate(set.start);
                        }
                    }
                    None => return Err(NotInSubset::new("an unbalanced end")),
                },
                _ => return Err(NotInSubset::new("a document boundary inside a node")),
            }
            if frames.is_empty() {
                return Ok(());
            }
        }
    }
}

/// A granit-parser event as the fast path keeps it; anchors, tags, aliases
/// and `%YAML` directives are outside the subset.
fn from_granit<'a>(event: Event<'a>, span: &granit_parser::Span) -> Result<Ev<'a>> {
    Ok(match event {
        Event::StreamStart => Ev::StreamStart,
        Event::StreamEnd => Ev::StreamEnd,
        Event::DocumentStart(_, None) => Ev::DocumentStart,
        Event::DocumentStart(_, Some(_)) => return Err(NotInSubset::new("a %YAML directive")),
        Event::DocumentEnd => Ev::DocumentEnd,
        Event::Scalar(value, style, anchor, tag) => {
            if anchor != 0 || tag.is_some() {
                return Err(NotInSubset::new("an anchor or a tag"));
            }
            Ev::Scalar(Scalar {
                value,
                plain: style == ScalarStyle::Plain,
                position: position(&span.start),
            })
        }
        Event::MappingStart(_, anchor, tag) | Event::SequenceStart(_, anchor, tag)
            if anchor != 0 || tag.is_some() =>
        {
            return Err(NotInSubset::new("an anchor or a tag"));
        }
        Event::MappingStart(..) => Ev::MappingStart,
        Event::SequenceStart(..) => Ev::SequenceStart,
        Event::MappingEnd => Ev::MappingEnd,
        Event::SequenceEnd => Ev::SequenceEnd,
        // Aliases, and anything a later parser version adds.
        _ => return Err(NotInSubset::new("an alias")),
    })
}

fn remember_key<'a>(
    keys: &mut Vec<Cow<'a, str>>,
    set: &mut KeySet<'a>,
    key: Cow<'a, str>,
) -> Result<()> {
    let duplicate = || Err(NotInSubset::new("a duplicate key"));
    if let Some(big) = set.big.as_mut() {
        return if big.insert(key) { Ok(()) } else { duplicate() };
    }
    let start = set.start.min(keys.len());
    if keys[start..].contains(&key) {
        return duplicate();
    }
    if keys.len() - start >= SMALL_MAP {
        let mut big: HashSet<Cow<'a, str>> = keys.drain(start..).collect();
        big.insert(key);
        set.big = Some(big);
    } else {
        keys.push(key);
    }
    Ok(())
}

/// serde-saphyr's location of a span start: line as given, column + 1,
/// both saturated to `u32`.
fn position(start: &granit_parser::Marker) -> Position {
    let clamp = |n: usize| n.min(u32::MAX as usize);
    Position {
        line: clamp(start.line()),
        column: clamp(start.col().saturating_add(1)),
    }
}

/// A plain scalar YAML resolves to null.
fn is_null_like(value: &str) -> bool {
    matches!(value, "" | "~" | "null" | "Null" | "NULL")
}

/// A plain scalar YAML 1.1 resolves to a boolean (serde-saphyr's reading).
fn is_bool_like(value: &str) -> bool {
    ["true", "yes", "y", "on", "false", "no", "n", "off"]
        .iter()
        .any(|b| value.eq_ignore_ascii_case(b))
}

/// A plain scalar that YAML may resolve to a number (a superset: integers in
/// any radix, anything Rust reads as a float, `.inf` and `.nan`).
fn is_number_like(value: &str) -> bool {
    let unsigned = value.strip_prefix(['+', '-']).unwrap_or(value);
    match unsigned.as_bytes() {
        [b'0', b'x' | b'X' | b'o' | b'O' | b'b' | b'B', ..] => true,
        [first, ..] if first.is_ascii_digit() => {
            unsigned.bytes().all(|b| b.is_ascii_digit() || b == b'_')
                || value.parse::<f64>().is_ok()
        }
        [b'.', ..] => value.parse::<f64>().is_ok() || is_non_finite_spelling(unsigned),
        _ => false,
    }
}

fn is_non_finite_spelling(unsigned: &str) -> bool {
    unsigned.eq_ignore_ascii_case(".inf") || unsigned.eq_ignore_ascii_case(".nan")
}

/// A plain scalar that serde-saphyr's untyped reading (`deserialize_any`,
/// which it also uses for ignored values) may reject: a non-finite float
/// (`.inf`, `.nan`, or a numeral that overflows, `1e999`). A superset.
fn untyped_may_fail(value: &str) -> bool {
    // Most scalars are words: only one that starts (past white space) with
    // a sign, a digit or a dot can be a float; the others cost one test.
    if !matches!(
        value.as_bytes().first(),
        Some(b'0'..=b'9' | b'+' | b'-' | b'.' | b' ' | b'\t' | b'\r' | b'\n')
    ) {
        return false;
    }
    let t = value.trim_matches([' ', '\t', '\r', '\n']);
    let unsigned = t.strip_prefix(['+', '-']).unwrap_or(t);
    match unsigned.as_bytes().first() {
        Some(b'.') => is_non_finite_spelling(unsigned),
        Some(b) if b.is_ascii_digit() => {
            (unsigned.len() > 300 || unsigned.bytes().any(|b| b == b'e' || b == b'E'))
                && matches!(t.parse::<f64>(), Ok(v) if !v.is_finite())
        }
        _ => false,
    }
}

/// A mapping key in the subset: see the module docs.
fn check_key(key: &Scalar<'_>) -> Result<()> {
    let value = &*key.value;
    if value == "<<" {
        return Err(NotInSubset::new("a merge key"));
    }
    if !key.plain {
        return Ok(());
    }
    if is_null_like(value) {
        return Err(NotInSubset::new("a null key"));
    }
    if untyped_may_fail(value) {
        return Err(NotInSubset::new("a non-finite float key"));
    }
    match value.as_bytes() {
        [b'0'..=b'9' | b'+' | b'-', ..] => {
            let canonical = value.len() <= 18
                && value.bytes().all(|b| b.is_ascii_digit())
                && (value == "0" || !value.starts_with('0'));
            if canonical {
                Ok(())
            } else {
                Err(NotInSubset::new("a numeric key"))
            }
        }
        _ => Ok(()),
    }
}

/// Hands a scalar to a string leaf: `visit_seq` of value, line and column
/// for a [`LocatedStr`], the text for any other string.
fn visit_string_leaf<'a, V: Visitor<'a>>(
    scalar: Scalar<'a>,
    located: bool,
    visitor: V,
) -> Result<V::Value> {
    if scalar.plain
        && (is_null_like(&scalar.value)
            || is_bool_like(&scalar.value)
            || is_number_like(&scalar.value))
    {
        return Err(NotInSubset::new(
            "a plain scalar YAML reads as null, a boolean or a number",
        ));
    }
    if located {
        return visitor.visit_seq(LocatedParts {
            scalar: Some(scalar.value),
            line: Some(scalar.position.line),
            column: Some(scalar.position.column),
        });
    }
    match scalar.value {
        Cow::Borrowed(s) => visitor.visit_borrowed_str(s),
        Cow::Owned(s) => visitor.visit_string(s),
    }
}

/// The three parts of a [`LocatedStr`], as a sequence.
struct LocatedParts<'a> {
    scalar: Option<Cow<'a, str>>,
    line: Option<usize>,
    column: Option<usize>,
}

impl<'a> SeqAccess<'a> for LocatedParts<'a> {
    type Error = NotInSubset;

    fn next_element_seed<T: DeserializeSeed<'a>>(&mut self, seed: T) -> Result<Option<T::Value>> {
        if let Some(text) = self.scalar.take() {
            return match text {
                Cow::Borrowed(s) => seed
                    .deserialize(de::value::BorrowedStrDeserializer::new(s))
                    .map(Some),
                Cow::Owned(s) => seed
                    .deserialize(de::value::StringDeserializer::new(s))
                    .map(Some),
            };
        }
        let Some(n) = self.line.take().or_else(|| self.column.take()) else {
            return Ok(None);
        };
        seed.deserialize(de::value::UsizeDeserializer::new(n))
            .map(Some)
    }
}

macro_rules! not_in_subset {
    ($($method:ident)*) => {
        $(
            fn $method<V: Visitor<'a>>(self, _visitor: V) -> Result<V::Value> {
                Err(NotInSubset::new(concat!("a value read with ", stringify!($method))))
            }
        )*
    };
}

impl<'a> Deserializer<'a> for &mut Events<'a> {
    type Error = NotInSubset;

    fn deserialize_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value> {
        match self.next()? {
            Ev::MappingStart => visit_mapping(self, visitor),
            Ev::SequenceStart => visit_sequence(self, visitor),
            Ev::Scalar(s) => {
                if s.plain {
                    if is_null_like(&s.value) {
                        return visitor.visit_unit();
                    }
                    if is_bool_like(&s.value) || is_number_like(&s.value) {
                        return Err(NotInSubset::new("an untyped boolean or number"));
                    }
                }
                match s.value {
                    Cow::Borrowed(v) => visitor.visit_borrowed_str(v),
                    Cow::Owned(v) => visitor.visit_string(v),
                }
            }
            _ => Err(NotInSubset::new("a value expected")),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value> {
        self.skip_node()?;
        visitor.visit_unit()
    }

    fn deserialize_option<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value> {
        if let Ev::Scalar(s) = self.peek()?
            && s.plain
            && is_null_like(&s.value)
        {
            self.next()?;
            return visitor.visit_none();
        }
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'a>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        if name == LOCATED_STR {
            return match self.next()? {
                Ev::Scalar(s) => visit_string_leaf(s, true, visitor),
                _ => Err(NotInSubset::new("a string expected")),
            };
        }
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_str<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value> {
        match self.next()? {
            Ev::Scalar(s) => visit_string_leaf(s, false, visitor),
            _ => Err(NotInSubset::new("a string expected")),
        }
    }

    fn deserialize_string<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_str(visitor)
    }

    fn deserialize_seq<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value> {
        match self.next()? {
            Ev::SequenceStart => visit_sequence(self, visitor),
            _ => Err(NotInSubset::new("a sequence expected")),
        }
    }

    fn deserialize_map<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value> {
        match self.next()? {
            Ev::MappingStart => visit_mapping(self, visitor),
            _ => Err(NotInSubset::new("a mapping expected")),
        }
    }

    fn deserialize_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        self.deserialize_map(visitor)
    }

    fn deserialize_unit_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        _visitor: V,
    ) -> Result<V::Value> {
        Err(NotInSubset::new("a unit struct"))
    }

    fn deserialize_tuple<V: Visitor<'a>>(self, _len: usize, _visitor: V) -> Result<V::Value> {
        Err(NotInSubset::new("a tuple"))
    }

    fn deserialize_tuple_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        _len: usize,
        _visitor: V,
    ) -> Result<V::Value> {
        Err(NotInSubset::new("a tuple struct"))
    }

    fn deserialize_enum<V: Visitor<'a>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value> {
        Err(NotInSubset::new("an enum"))
    }

    not_in_subset! {
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_f32
        deserialize_f64 deserialize_char deserialize_bytes deserialize_byte_buf
        deserialize_unit
    }
}

/// Runs `visitor` over the mapping whose start was just read; the mapping
/// must be read to its end.
fn visit_mapping<'a, V: Visitor<'a>>(events: &mut Events<'a>, visitor: V) -> Result<V::Value> {
    let mut access = MappingAccess {
        keys: KeySet {
            start: events.keys.len(),
            big: None,
        },
        events,
        done: false,
    };
    let value = visitor.visit_map(&mut access)?;
    if !access.done {
        return Err(NotInSubset::new("a mapping not read to its end"));
    }
    Ok(value)
}

/// Runs `visitor` over the sequence whose start was just read; the sequence
/// must be read to its end.
fn visit_sequence<'a, V: Visitor<'a>>(events: &mut Events<'a>, visitor: V) -> Result<V::Value> {
    let mut access = SequenceAccess {
        events,
        done: false,
    };
    let value = visitor.visit_seq(&mut access)?;
    if !access.done {
        return Err(NotInSubset::new("a sequence not read to its end"));
    }
    Ok(value)
}

struct MappingAccess<'r, 'a> {
    events: &'r mut Events<'a>,
    keys: KeySet<'a>,
    done: bool,
}

impl<'a> MapAccess<'a> for &mut MappingAccess<'_, 'a> {
    type Error = NotInSubset;

    fn next_key_seed<K: DeserializeSeed<'a>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        if self.done {
            return Ok(None);
        }
        match self.events.next()? {
            Ev::MappingEnd => {
                self.done = true;
                self.events.keys.truncate(self.keys.start);
                Ok(None)
            }
            Ev::Scalar(key) => {
                check_key(&key)?;
                self.events
                    .remember_key(&mut self.keys, key.value.clone())?;
                seed.deserialize(KeyDeserializer(key)).map(Some)
            }
            _ => Err(NotInSubset::new("a complex key")),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'a>>(&mut self, seed: V) -> Result<V::Value> {
        seed.deserialize(&mut *self.events)
    }
}

struct SequenceAccess<'r, 'a> {
    events: &'r mut Events<'a>,
    done: bool,
}

impl<'a> SeqAccess<'a> for &mut SequenceAccess<'_, 'a> {
    type Error = NotInSubset;

    fn next_element_seed<T: DeserializeSeed<'a>>(&mut self, seed: T) -> Result<Option<T::Value>> {
        if self.done {
            return Ok(None);
        }
        if matches!(self.events.peek()?, Ev::SequenceEnd) {
            self.events.next()?;
            self.done = true;
            return Ok(None);
        }
        seed.deserialize(&mut *self.events).map(Some)
    }
}

/// A mapping key (already checked): its text, or a [`LocatedStr`] for a
/// leaf key (annotations).
struct KeyDeserializer<'de>(Scalar<'de>);

impl<'de> Deserializer<'de> for KeyDeserializer<'de> {
    type Error = NotInSubset;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.0.value {
            Cow::Borrowed(s) => visitor.visit_borrowed_str(s),
            Cow::Owned(s) => visitor.visit_string(s),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        if name == LOCATED_STR {
            return visit_string_leaf(self.0, true, visitor);
        }
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct seq tuple
        tuple_struct map struct enum identifier
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untyped_failures_are_the_non_finite_floats() {
        for (value, fails) in [
            (".inf", true),
            ("-.Inf", true),
            (" .inf", true),
            ("+1e999", true),
            (".NaN", true),
            ("1e999", true),
            ("-1E400", true),
            (&"9".repeat(400), true),
            ("1e5", false),
            ("1e3f5a9", false),
            (".dockerconfigjson", false),
            ("inf", false),
            ("nginx", false),
            ("80", false),
        ] {
            assert_eq!(untyped_may_fail(value), fails, "{value:?}");
        }
    }

    #[test]
    fn keys_outside_the_subset() {
        let key = |value: &'static str, plain| Scalar {
            value: Cow::Borrowed(value),
            plain,
            position: Position { line: 1, column: 1 },
        };
        for (value, plain, ok) in [
            ("name", true, true),
            ("80", true, true),
            ("0", true, true),
            ("080", true, false),
            ("0x10", true, false),
            ("+1", true, false),
            ("-a", true, false),
            ("~", true, false),
            ("", true, false),
            ("~", false, true),
            ("<<", true, false),
            ("<<", false, false),
            (".inf", true, false),
            (".dockerconfigjson", true, true),
        ] {
            assert_eq!(
                check_key(&key(value, plain)).is_ok(),
                ok,
                "{value:?} {plain}"
            );
        }
    }

    #[test]
    fn string_leaves_refuse_what_yaml_resolves_otherwise() {
        for (value, other) in [
            ("123", true),
            ("1.5", true),
            ("0x1F", true),
            (".5", true),
            ("true", true),
            ("No", true),
            ("~", true),
            ("", true),
            ("nginx:1.25", false),
            ("123456789.dkr.ecr.us-east-1.amazonaws.com/app:1", false),
            ("1.2.3", false),
            ("inf", false),
        ] {
            let got = is_null_like(value) || is_bool_like(value) || is_number_like(value);
            assert_eq!(got, other, "{value:?}");
        }
    }
}
