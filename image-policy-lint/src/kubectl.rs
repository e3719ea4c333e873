//! How kubectl reads a manifest file, for the manifest reader
//! ([`super::manifests`]): its document splitter, ported line for line, and
//! the places where its YAML (go-yaml v2, YAML 1.1, through
//! sigs.k8s.io/yaml) and the linter's (serde-saphyr and granit-parser, YAML
//! 1.2) could read the same text differently.
//!
//! # What matches kubectl exactly
//!
//! - **Documents.** kubectl does not split a stream the YAML way: its line
//!   reader (apimachinery's `YAMLReader`) ends a document at every line that
//!   starts with `---` and whose remainder, after Go's `strings.TrimSpace`, is
//!   empty or starts with `#`. Go trims Unicode white space (U+0085, U+00A0,
//!   U+1680, U+2000 to U+200A, U+2028, U+2029, U+202F, U+205F, U+3000 and the
//!   ASCII ones), so `---` followed by a no-break space is a separator for
//!   kubectl, while YAML reads it as text. Any other remainder (`--- |`,
//!   `--- !tag`, `---x`, `----`) stops kubectl with "invalid Yaml document
//!   separator", dropping the document being read. [`split`] is that
//!   reader; each document is then parsed on its own, as kubectl parses it
//!   (or the whole file at once when YAML splits it the same way,
//!   [`Split::yaml_alike`], which reads the same and is faster).
//! - **Lists and objects** (in [`super::manifests`]): any object with
//!   `items` is a list, its bare items get the list's kind without `List`,
//!   and the documents kubectl refuses (no `kind`, not a mapping, a list in
//!   a list) are problems; checked against kubectl itself by the
//!   differential test (`tests/it/kubectl_reading.rs`).
//! - **Keys JSON cannot have.** sigs.k8s.io/yaml refuses a mapping, a
//!   sequence or a null as a mapping key ("invalid map key"), so kubectl
//!   stops at `replicas: {{replicas}}`; [`unconvertible_key`] finds them.
//! - **Duplicate keys.** go-yaml v2 keeps the last value (the API server's
//!   strict field validation then rejects the object, but
//!   `kubectl apply --validate=false` sends it); the linter reads the last
//!   value too and reports the duplicate.
//!
//! # What is reported instead ([`Difference`])
//!
//! - **YAML 1.1 line breaks.** go-yaml v2 breaks lines at NEL (U+0085), LS
//!   (U+2028) and PS (U+2029); YAML 1.2 reads them as ordinary characters, so
//!   `# note<U+2028>image: evil` is a comment for the linter and an `image:`
//!   line for kubectl. A document holding one is reported at the character.
//!   A carriage return not followed by a line feed is reported too (go-yaml
//!   v2 breaks a line there and then refuses what YAML 1.2 accepts, such as
//!   a quoted key split by it).
//! - **Tabs in indentation.** go-yaml v2 refuses a tab in the leading
//!   white space of a block-context line (kubectl stops at the document);
//!   YAML 1.2 parsers may take it as separation. Reported, except inside
//!   flow collections and on continuation lines of quoted and block scalars,
//!   where go-yaml accepts it too.
//! - **Merge keys out of place.** go-yaml v2 applies `<<` where it is
//!   written, overriding the keys before it; serde-saphyr (YAML 1.1's merge
//!   specification) lets every explicit key win. They agree when `<<` is the
//!   first key of its mapping and not repeated; a `<<` anywhere else is
//!   reported (`kind: ConfigMap` then `<<: {kind: Pod}` is a Pod for kubectl).
//!
//! - **JSON streams.** A stream whose first non-space character (after a
//!   leading byte-order mark, which kubectl's reader drops) is `{` is
//!   decoded by kubectl with Go's JSON decoder, which switches to YAML after
//!   the first object by rules of its own; a JSON stream that holds more than
//!   one JSON value is reported ([`json_stream_difference`]), and so is one
//!   that is not JSON at all: a YAML flow mapping (`{apiVersion: v1, ...}`)
//!   stops kubectl's JSON decoder before the first object. A single JSON
//!   object is read exactly (duplicate keys: the last wins, as in Go).
//!
//! A reported difference is an input error (exit code 2, even with
//! `--warn-only`): the file's images cannot be vouched for.
//!
//! # Performance
//!
//! [`split`] walks the line starts of the reader's line index (built once
//! per file) and looks only at lines starting with `-`, `%` or a byte-order
//! mark, cutting kubectl's documents and telling whether YAML cuts the same
//! in one pass. The checks search the text with `memchr` for the bytes
//! that can start a YAML 1.1 line break or a lone carriage return (0xC2,
//! 0xE2, `\r`, in one search), for `<<` and for a tab, and parse again
//! (events only) only a document holding `<<` or a tab: a fraction of an
//! instruction per byte each on a file that holds none of them.

use super::lines::Lines;
use super::report::Position;
use granit_parser::{Event, Parser, ScalarStyle, StructureStyle};

/// One document as kubectl's line reader cuts it: the lines between two
/// separators (the separator lines themselves belong to no document).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chunk<'t> {
    /// The document's text, whole lines of the file.
    pub text: &'t str,
    /// The file line (1-based) the text starts at.
    pub first_line: usize,
}

/// A line starting with `---` that kubectl refuses as a separator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadSeparator {
    /// Where the line starts.
    pub position: Position,
    /// The remainder after `---`, trimmed as Go trims it.
    pub rest: String,
}

/// A file as kubectl's `YAMLReader` cuts it ([`split`]), and whether a
/// YAML 1.2 stream parser cuts it the same way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split<'t> {
    /// The documents, in order.
    pub chunks: Vec<Chunk<'t>>,
    /// The separator that stopped kubectl's reader, if one did.
    pub bad_separator: Option<BadSeparator>,
    /// Whether a YAML 1.2 stream parser splits the text into the same
    /// documents; false when a separator is bad.
    pub yaml_alike: bool,
}

/// The documents of `text` as kubectl's `YAMLReader` reads them, in order,
/// and the separator that stopped it, if one did. kubectl drops the document
/// being read when it meets a bad separator; the chunk before it is still
/// returned here (the linter judges more than kubectl sends, never less).
/// A separator line met when nothing has been read since the last cut (the
/// file's first line, the second of two separators) is kept as the first
/// line of the next document, as kubectl's reader keeps it.
///
/// In the same pass, whether a YAML 1.2 stream parser splits `text` into
/// the same documents ([`Split::yaml_alike`]): every separator line is one
/// YAML reads as a document start too (`---`, then nothing, or a space or
/// tab and at most a comment), no directive line, no byte-order mark after
/// the first line. Then the whole text can be parsed at once, which is
/// faster than document by document (one parser for the file) and gives the
/// same reading.
///
/// One pass over the line starts of the text's line index (which the
/// reader builds anyway, for the images' widths): only a line that starts
/// with `-`, `%` or a byte-order mark is looked at further.
pub fn split<'t>(lines: &Lines<'t>) -> Split<'t> {
    let text = lines.text();
    let bytes = text.as_bytes();
    let starts = lines.starts();
    let mut chunks = Vec::new();
    let mut yaml_alike = true;
    let mut start = 0usize;
    let mut start_line = 1usize;
    for (i, &line_start) in starts.iter().enumerate() {
        if line_start >= bytes.len() {
            break;
        }
        let line_no = i + 1;
        let line_end = starts.get(i + 1).copied().unwrap_or(bytes.len());
        match bytes[line_start] {
            b'-' => {
                let line = &text[line_start..line_end];
                let Some(rest) = line.strip_prefix("---") else {
                    continue;
                };
                // Go's strings.TrimSpace: unicode.IsSpace is White_Space,
                // which is what char::is_whitespace tests.
                let trimmed = rest.trim_matches(char::is_whitespace);
                if !trimmed.is_empty() && !trimmed.starts_with('#') {
                    if start < line_start {
                        chunks.push(Chunk {
                            text: &text[start..line_start],
                            first_line: start_line,
                        });
                    }
                    return Split {
                        chunks,
                        bad_separator: Some(BadSeparator {
                            position: Position {
                                line: line_no,
                                column: 1,
                            },
                            rest: trimmed.to_owned(),
                        }),
                        yaml_alike: false,
                    };
                }
                // YAML reads a document start only where `---` is followed
                // by nothing, or by a space or a tab and at most a comment.
                let rest = rest.strip_suffix('\n').unwrap_or(rest);
                let rest = rest.strip_suffix('\r').unwrap_or(rest);
                let after = rest.trim_start_matches([' ', '\t']);
                yaml_alike &= rest.is_empty()
                    || (after.len() < rest.len() && (after.is_empty() || after.starts_with('#')));
                if start < line_start {
                    chunks.push(Chunk {
                        text: &text[start..line_start],
                        first_line: start_line,
                    });
                    start = line_end;
                    start_line = line_no + 1;
                }
                // Else nothing has been read since the last cut (the file's
                // first line, or a separator after a separator): kubectl's
                // reader keeps the line as the next document's first, and its
                // YAML reads it (`---` starts the document; `---` and a no-break
                // space is text).
            }
            // A directive, or a byte-order mark YAML reads past where
            // kubectl does not drop it.
            b'%' => yaml_alike = false,
            0xEF if line_start > 0 && text[line_start..].starts_with('\u{feff}') => {
                yaml_alike = false;
            }
            _ => {}
        }
    }
    if start < bytes.len() {
        chunks.push(Chunk {
            text: &text[start..],
            first_line: start_line,
        });
    }
    Split {
        chunks,
        bad_separator: None,
        yaml_alike,
    }
}

/// How far into a stream kubectl looks for the `{` that makes it a JSON
/// stream (the buffer size `kubectl` gives `NewYAMLOrJSONDecoder`).
const JSON_SNIFF_BYTES: usize = 4096;

/// Whether kubectl reads `text` as a JSON stream: its first character that
/// is not (Go's Unicode) white space, within the first 4096 bytes, is `{`.
pub fn is_json_stream(text: &str) -> bool {
    // kubectl's file reader drops a leading byte-order mark (BOMOverride)
    // before its decoder looks.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (at, c) in text.char_indices() {
        if at + c.len_utf8() > JSON_SNIFF_BYTES {
            // Past the sniffed bytes, or a character cut by their end
            // (which Go decodes as an error rune, not a space).
            return false;
        }
        if !c.is_whitespace() {
            return c == '{';
        }
    }
    false
}

/// A JSON stream (see `is_json_stream`) that is not JSON at all, such as a
/// YAML flow mapping (kubectl's JSON decoder stops at once), or that is not
/// one JSON value: kubectl
/// decodes the first object with Go's JSON decoder and then, after one
/// object, switches to YAML with its own whitespace handling (and errors
/// that depend on the bytes around the switch); after two JSON objects it
/// stays with JSON. This reader reads the whole text as YAML, so such a
/// stream is reported.
pub fn json_stream_difference(text: &str) -> Option<Difference> {
    if !is_json_stream(text) {
        return None;
    }
    // Go's JSON decoder skips only JSON's white space before a value (after
    // the byte-order mark kubectl's reader drops).
    let bom = if text.starts_with('\u{feff}') { 3 } else { 0 };
    let start = text.len()
        - text[bom..]
            .trim_start_matches([' ', '\t', '\r', '\n'])
            .len();
    if !text[start..].starts_with('{') {
        return Some(Difference {
            position: position_of(text, start),
            message: "a JSON stream (it starts with `{`) led by white space JSON does not allow: kubectl fails its JSON decoding and reads the rest as YAML from another point; remove the white space".to_owned(),
        });
    }
    let mut values =
        serde_json::Deserializer::from_str(&text[start..]).into_iter::<serde::de::IgnoredAny>();
    match values.next() {
        Some(Ok(_)) => {}
        // Not JSON (a YAML flow mapping): kubectl's JSON decoder fails on
        // it, and kubectl stops before the first object.
        _ => {
            return Some(Difference {
                position: position_of(text, start),
                message: "a stream that starts with `{` is JSON for kubectl (Go's JSON decoder reads it), and this one is not JSON (a YAML flow mapping?): kubectl stops before its first object (\"invalid character ... looking for beginning of object key string\"); write it as JSON, or as block YAML".to_owned(),
            });
        }
    }
    let end = start + values.byte_offset();
    let rest = &text[end..];
    let more = rest.len() - rest.trim_start_matches([' ', '\t', '\r', '\n']).len();
    if end + more == text.len() {
        return None;
    }
    Some(Difference {
        position: position_of(text, end + more),
        message: "more after the first JSON object of a JSON stream: kubectl decodes the first object as JSON and what follows with a mix of JSON and YAML rules this reader does not reproduce; put one JSON object per file, or write the documents as YAML".to_owned(),
    })
}

/// A document end marker (`...`) before any content of a document as
/// kubectl cuts it (only blank and comment lines before it): go-yaml v2
/// stops there ("did not find expected node content"), this reader reads
/// on. `None` for any other document.
pub fn end_marker_first(chunk: &Chunk<'_>) -> Option<Difference> {
    for (i, line) in chunk.text.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let trimmed = line.trim_start_matches([' ', '\t']);
        if trimmed.is_empty() || trimmed.starts_with('#') || line.starts_with("---") {
            continue;
        }
        let rest = line.strip_prefix("...")?;
        if !(rest.is_empty() || rest.starts_with([' ', '\t'])) {
            return None;
        }
        return Some(Difference {
            position: Position {
                line: chunk.first_line + i,
                column: 1,
            },
            message: "a document end marker `...` before any content of the document: kubectl's YAML stops there (\"did not find expected node content\"), this reader reads on; remove it".to_owned(),
        });
    }
    None
}

/// The first byte-order mark that starts a line other than the file's
/// first: kubectl's reader drops only the file's leading one, and go-yaml v2
/// reads a later one its own way (it reads past it before a block mapping,
/// but takes `\u{feff}{` for the start of a plain scalar and stops a few
/// lines on), where this reader skips it. A file made by concatenating files
/// saved with byte-order marks has them.
pub fn stray_byte_order_mark(text: &str) -> Option<Difference> {
    let at = memchr::memmem::find(text.as_bytes(), "\n\u{feff}".as_bytes())? + 1;
    Some(Difference {
        position: position_of(text, at),
        message: "a byte-order mark (U+FEFF) at the start of a line after the first: kubectl's reader drops only the file's leading one, and its YAML reads this one differently from this reader (before a `{` it is text and kubectl stops); remove it".to_owned(),
    })
}

/// Where kubectl's YAML and the linter's could read a document differently.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    /// Where, in the document's own lines and columns (1-based).
    pub position: Position,
    /// What differs, as a sentence for the report.
    pub message: String,
}

/// The first YAML 1.1 line break (NEL, LS, PS, lone CR) in `text`, the merge
/// keys that are not the first key of their mapping, and the first tab in
/// the indentation of a block line, in text order.
pub fn differences(text: &str) -> Vec<Difference> {
    let mut out = Vec::new();
    if let Some(d) = yaml11_line_break(text) {
        out.push(d);
    }
    if memchr::memmem::find(text.as_bytes(), b"<<").is_some() {
        out.extend(misplaced_merge_keys(text));
    }
    if memchr::memchr(b'\t', text.as_bytes()).is_some() {
        out.extend(tab_indentation(text));
    }
    out.sort_by_key(|d| d.position);
    out
}

/// The first line of block context whose indentation holds a tab: go-yaml
/// v2 refuses it ("found character that cannot start any token", "found a
/// tab character that violates indentation") where YAML 1.2 parsers take
/// the tab as separation, so kubectl stops at the document (a few of these
/// go-yaml accepts, such as a tab-led comment past the indentation: reported
/// all the same, on the safe side). Tabs inside a
/// flow collection and on the continuation lines of a quoted or block
/// scalar are go-yaml's too and not reported.
fn tab_indentation(text: &str) -> Option<Difference> {
    let tabbed: Vec<Position> = text
        .split('\n')
        .enumerate()
        .filter_map(|(i, line)| {
            let lead = line.len() - line.trim_start_matches([' ', '\t']).len();
            line[..lead].find('\t').map(|c| Position {
                line: i + 1,
                column: c + 1,
            })
        })
        .collect();
    if tabbed.is_empty() {
        return None;
    }
    // Line ranges (inclusive) where a leading tab is go-yaml's too.
    let mut allowed: Vec<(usize, usize)> = Vec::new();
    let mut open: Vec<Option<usize>> = Vec::new();
    let options = granit_parser::options! { emit_comments: false };
    let mut parser = Parser::new_from_str_with_options(text, options);
    while let Some(Ok((event, span))) = parser.next() {
        match event {
            Event::Scalar(_, style, ..) if style != ScalarStyle::Plain => {
                allowed.push((span.start.line() + 1, span.end.line()));
            }
            Event::MappingStart(style, ..) | Event::SequenceStart(style, ..) => {
                open.push((style == StructureStyle::Flow).then(|| span.start.line()));
            }
            Event::MappingEnd | Event::SequenceEnd => {
                if let Some(Some(start)) = open.pop() {
                    allowed.push((start + 1, span.start.line()));
                }
            }
            _ => {}
        }
    }
    let position = tabbed.into_iter().find(|p| {
        !allowed
            .iter()
            .any(|&(from, to)| from <= p.line && p.line <= to)
    })?;
    Some(Difference {
        position,
        message: "a tab in the indentation of a block line: go-yaml v2 (kubectl) refuses most of these (\"found character that cannot start any token\", \"found a tab character that violates indentation\") and stops at the document, while this reader accepts them; indent with spaces".to_owned(),
    })
}

/// The first NEL (U+0085), LS (U+2028), PS (U+2029) or lone carriage
/// return in `text`.
fn yaml11_line_break(text: &str) -> Option<Difference> {
    let bytes = text.as_bytes();
    // UTF-8: NEL is C2 85, LS and PS are E2 80 A8 and E2 80 A9.
    for i in memchr::memchr3_iter(0xC2, 0xE2, b'\r', bytes) {
        let name = match &bytes[i..] {
            [0xC2, 0x85, ..] => Some("NEL (U+0085)"),
            [0xE2, 0x80, 0xA8, ..] => Some("LINE SEPARATOR (U+2028)"),
            [0xE2, 0x80, 0xA9, ..] => Some("PARAGRAPH SEPARATOR (U+2029)"),
            [b'\r', b'\n', ..] => None,
            [b'\r', ..] => {
                return Some(Difference {
                    position: position_of(text, i),
                    message: "a carriage return without a line feed: kubectl's line reader does not end a line there and go-yaml v2 reads it differently from this reader (it refuses, for one, a quoted key it splits); use \\n or \\r\\n line endings".to_owned(),
                });
            }
            _ => None,
        };
        if let Some(name) = name {
            return Some(Difference {
                position: position_of(text, i),
                message: format!(
                    "{name}: kubectl's YAML (1.1) reads it as a line break, this reader (YAML 1.2) as a character, so the two can see different keys; replace it with a newline or write it escaped in a double-quoted string"
                ),
            });
        }
    }
    None
}

/// The 1-based line and column (in characters) of byte `offset`.
pub(crate) fn position_of(text: &str, offset: usize) -> Position {
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    Position {
        line: before.bytes().filter(|&b| b == b'\n').count() + 1,
        column: before[line_start..].chars().count() + 1,
    }
}

/// Merge keys (`<<`, or `!!merge`-tagged) that are not the first key of
/// their mapping, or repeat one: there go-yaml v2 (the merge overrides the
/// keys before it) and serde-saphyr (explicit keys win) differ. A text that
/// does not parse has none (its parse error is reported anyway).
fn misplaced_merge_keys(text: &str) -> Vec<Difference> {
    /// An open collection: for a mapping, how many keys it has had and
    /// whether the next node is a key.
    enum Open {
        Sequence,
        Mapping { keys: usize, expecting_key: bool },
    }
    let options = granit_parser::options! { emit_comments: false };
    let mut parser = Parser::new_from_str_with_options(text, options);
    let mut stack: Vec<Open> = Vec::new();
    let mut out = Vec::new();
    // Called for every node: returns whether the node is a key of a mapping
    // and its index among the keys; advances the mapping's state.
    fn node(stack: &mut [Open]) -> Option<usize> {
        match stack.last_mut() {
            Some(Open::Mapping {
                keys,
                expecting_key,
            }) => {
                let was_key = *expecting_key;
                *expecting_key = !*expecting_key;
                if was_key {
                    *keys += 1;
                    Some(*keys - 1)
                } else {
                    None
                }
            }
            _ => None,
        }
    }
    while let Some(Ok((event, span))) = parser.next() {
        match event {
            Event::Scalar(value, style, _, tag) => {
                let index = node(&mut stack);
                let is_merge = value == "<<"
                    && match &tag {
                        Some(tag) => {
                            tag.suffix_in_namespace("tag:yaml.org,2002:").as_deref()
                                == Some("merge")
                        }
                        None => style == ScalarStyle::Plain,
                    };
                if let (Some(index), true) = (index, is_merge)
                    && index > 0
                {
                    out.push(Difference {
                        position: Position {
                            line: span.start.line(),
                            column: span.start.col() + 1,
                        },
                        message: "merge key `<<` after other keys: kubectl (go-yaml v2) lets it override the keys written before it, this reader lets those keys win; make `<<` the first key of its mapping (and use one `<<` with a list of mappings)".to_owned(),
                    });
                }
            }
            Event::Alias(_) => {
                node(&mut stack);
            }
            Event::SequenceStart(..) => {
                node(&mut stack);
                stack.push(Open::Sequence);
            }
            Event::MappingStart(..) => {
                node(&mut stack);
                stack.push(Open::Mapping {
                    keys: 0,
                    expecting_key: true,
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                stack.pop();
            }
            _ => {}
        }
    }
    out
}

/// The first mapping key in `text` that kubectl cannot turn into JSON: a
/// mapping or a sequence (`{{replicas}}`, the mark of an unrendered
/// template, is a mapping inside a mapping key), a null (`~`, `null`, an
/// empty key, `!!null`), or an alias to one. go-yaml v2 reads them, and
/// sigs.k8s.io/yaml then fails ("invalid map key", "unsupported map key"),
/// so kubectl stops at the document; serde-saphyr reads past them (they are
/// never fields of an object). The fast path (`fast_yaml`) takes no such
/// key, so only texts it refuses need this check. A text that does not parse
/// has none (its parse error is reported anyway).
pub fn unconvertible_key(text: &str) -> Option<Difference> {
    /// An open collection: for a mapping, whether the next node is a key.
    enum Open {
        Sequence,
        Mapping { expecting_key: bool },
    }
    /// Whether the node starting now is a key (and advances the mapping).
    fn is_key(stack: &mut [Open]) -> bool {
        match stack.last_mut() {
            Some(Open::Mapping { expecting_key }) => {
                *expecting_key = !*expecting_key;
                !*expecting_key
            }
            _ => false,
        }
    }
    let options = granit_parser::options! { emit_comments: false };
    let mut parser = Parser::new_from_str_with_options(text, options);
    let mut stack: Vec<Open> = Vec::new();
    // Anchors of collections and nulls: an alias to one is no key either.
    let mut unconvertible_anchors: Vec<usize> = Vec::new();
    let found = |span: granit_parser::Span, what: &str| Difference {
        // The parser's lines, unless a lone `\r` makes them differ from
        // the linter's (see `yaml::Locator`).
        position: match span.start.byte_offset() {
            Some(byte) if crate::yaml::has_lone_cr(text) && text.is_char_boundary(byte) => {
                position_of(text, byte)
            }
            _ => Position {
                line: span.start.line(),
                column: span.start.col() + 1,
            },
        },
        message: format!(
            "a mapping key that is {what}: kubectl cannot convert it to JSON (\"invalid map key\") and stops reading the file here; an unrendered template (`{{{{ }}}}`)? render it first (`helm template`) and lint the output"
        ),
    };
    while let Some(Ok((event, span))) = parser.next() {
        match event {
            Event::Scalar(value, style, anchor, tag) => {
                let null = match &tag {
                    Some(tag) => {
                        tag.suffix_in_namespace("tag:yaml.org,2002:").as_deref() == Some("null")
                    }
                    None => {
                        style == ScalarStyle::Plain
                            && matches!(&*value, "" | "~" | "null" | "Null" | "NULL")
                    }
                };
                if null && anchor != 0 {
                    unconvertible_anchors.push(anchor);
                }
                if is_key(&mut stack) && null {
                    return Some(found(span, "null"));
                }
            }
            Event::Alias(id) => {
                let key = is_key(&mut stack);
                if key && unconvertible_anchors.contains(&id) {
                    return Some(found(span, "an alias to a mapping, a sequence or a null"));
                }
            }
            Event::SequenceStart(_, anchor, _) | Event::MappingStart(_, anchor, _) => {
                let mapping = matches!(event, Event::MappingStart(..));
                if is_key(&mut stack) {
                    return Some(found(
                        span,
                        if mapping { "a mapping" } else { "a sequence" },
                    ));
                }
                if anchor != 0 {
                    unconvertible_anchors.push(anchor);
                }
                stack.push(if mapping {
                    Open::Mapping {
                        expecting_key: true,
                    }
                } else {
                    Open::Sequence
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                stack.pop();
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Documents as (text, first line), and the bad separator as (line, rest).
    type Cut<'t> = (Vec<(&'t str, usize)>, Option<(usize, String)>);

    fn split(text: &str) -> Cut<'_> {
        let super::Split {
            chunks,
            bad_separator,
            ..
        } = super::split(&Lines::new(text));
        (
            chunks.iter().map(|c| (c.text, c.first_line)).collect(),
            bad_separator.map(|b| (b.position.line, b.rest)),
        )
    }

    #[test]
    fn separators_as_kubectl_cuts_them() {
        // (text, documents with first lines, bad separator)
        type Case<'a> = (&'a str, &'a [(&'a str, usize)], Option<(usize, &'a str)>);
        let cases: &[Case<'_>] = &[
            ("", &[], None),
            ("a: 1\n", &[("a: 1\n", 1)], None),
            (
                "---\na: 1\n---\nb: 2",
                &[("---\na: 1\n", 1), ("b: 2", 4)],
                None,
            ),
            ("---\u{a0}\na: 1\n", &[("---\u{a0}\na: 1\n", 1)], None),
            (
                "a: 1\n--- # c\nb: 2\n",
                &[("a: 1\n", 1), ("b: 2\n", 3)],
                None,
            ),
            (
                "a: 1\n---\u{a0}\nb: 2\n",
                &[("a: 1\n", 1), ("b: 2\n", 3)],
                None,
            ),
            (
                "a: 1\n---\u{3000}\u{2028}\r\nb: 2\n",
                &[("a: 1\n", 1), ("b: 2\n", 3)],
                None,
            ),
            ("a: 1\n---\n---\n\n", &[("a: 1\n", 1), ("---\n\n", 3)], None),
            ("a: 1\n ---\n", &[("a: 1\n ---\n", 1)], None),
            ("a: 1\n---x\nb: 2\n", &[("a: 1\n", 1)], Some((2, "x"))),
            ("a: 1\n--- |\n  b\n", &[("a: 1\n", 1)], Some((2, "|"))),
            ("----\n", &[], Some((1, "-"))),
            ("a\n---\u{feff}\n", &[("a\n", 1)], Some((2, "\u{feff}"))),
        ];
        for (text, want, bad) in cases {
            let got = split(text);
            assert_eq!(got.0, *want, "{text:?}");
            assert_eq!(got.1, bad.map(|(l, r)| (l, r.to_owned())), "{text:?}");
        }
    }

    #[test]
    fn yaml_splits_alike_only_on_plain_separators() {
        for (text, alike) in [
            ("a: 1\n---\nb: 2\n--- # c\r\n---\t\n", true),
            ("\u{feff}a: 1\n", true),
            ("a: 1\n---\u{a0}\nb: 2\n", false),
            ("a: 1\n---#c\n", false),
            ("a: 1\n---\n\u{feff}b: 2\n", false),
            ("%YAML 1.1\n---\na: 1\n", false),
        ] {
            assert_eq!(
                super::split(&Lines::new(text)).yaml_alike,
                alike,
                "{text:?}"
            );
        }
    }

    #[test]
    fn yaml11_line_breaks_are_differences() {
        for (text, at) in [
            ("a: 1 # x\u{2028}image: evil\n", (1, 9)),
            ("a: b\nc: \u{85}\n", (2, 4)),
            ("é: \u{2029}", (1, 4)),
        ] {
            let d = differences(text);
            assert_eq!(d.len(), 1, "{text:?}");
            assert_eq!((d[0].position.line, d[0].position.column), at, "{text:?}");
        }
        assert!(differences("a: \u{a0}\u{2027}\u{2030}é\r\n").is_empty());
        let lone_cr = differences("a: 1\r\n{\"b\r\": 1}");
        assert_eq!(lone_cr.len(), 1);
        assert_eq!(lone_cr[0].position, Position { line: 2, column: 4 });
    }

    #[test]
    fn tabs_in_block_indentation_are_differences() {
        for (text, want) in [
            ("a:\n  b: 1\n \t c: 2\n", Some((3, 2))),
            ("a:\n-\tb\n\t\n", Some((3, 1))),
            // go-yaml accepts this one (the tab is past the indentation
            // it checks): reported all the same, on the safe side.
            ("a: 1\n  \t# c\n", Some((2, 3))),
            ("a:\tb\n", None),
            ("a: {b: 1,\n\tc: 2}\n", None),
            ("a: |\n  x\n  \ty\n", None),
            ("a: \"x\n\ty\"\n", None),
        ] {
            let got = tab_indentation(text).map(|d| (d.position.line, d.position.column));
            assert_eq!(got, want, "{text:?}");
        }
    }

    #[test]
    fn merge_keys_out_of_first_place_are_differences() {
        for (text, want) in [
            ("<<: {a: 1}\nb: 2\n", vec![]),
            ("b: 2\n<<: {a: 1}\n", vec![(2, 1)]),
            ("x: {<<: [{a: 1}], b: 2}\n", vec![]),
            ("x: {b: 2, <<: {a: 1}}\n", vec![(1, 11)]),
            ("<<: {a: 1}\n<<: {b: 1}\n", vec![(2, 1)]),
            ("b: 2\n\"<<\": {a: 1}\n", vec![]),
            ("b: 2\n!!merge <<: {a: 1}\n", vec![(2, 9)]),
            ("a: &x {k: 1}\nb: [*x, {c: 1, <<: *x}]\n", vec![(2, 16)]),
            ("a: [<<, <<]\nb: <<\n", vec![]),
        ] {
            let got: Vec<(usize, usize)> = differences(text)
                .iter()
                .map(|d| (d.position.line, d.position.column))
                .collect();
            assert_eq!(got, want, "{text:?}");
        }
    }
}
