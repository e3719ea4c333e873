//! Images in Kubernetes manifests: YAML (any number of `---` documents) or
//! JSON, objects and lists (`items`), as kubectl reads them (kubectl is the
//! reference: where it and a YAML library disagree, kubectl is right).
//!
//! A file is first cut into documents as kubectl cuts it
//! ([`kubectl::split`], not YAML's `---` rules), and each document is
//! checked for what kubectl's YAML (go-yaml v2) reads differently from
//! YAML 1.2 ([`kubectl::differences`], [`kubectl::json_stream_difference`]:
//! reported as [`ProblemCode::KubectlDifference`]); then each document is
//! read on its own, as kubectl reads it, and positions are given in the
//! file's lines. A duplicate key is read as go-yaml v2 reads it (the last
//! value wins) and reported as [`ProblemCode::DuplicateKey`].
//!
//! Each document is deserialized once into the core's [`Object`] with string
//! leaves that keep the line and column where each is written (for an alias,
//! `*img`, the place it is used). Two readers fill the same types:
//!
//! - the fast path, [`fast_yaml`]: a lean deserializer over the events of
//!   the block recognizer (`block_yaml`, the common block-YAML subset,
//!   giving up to granit-parser) or of granit-parser, with [`LocatedStr`]
//!   leaves, for files in its
//!   subset (no anchor, alias, tag, merge key or duplicate key; strings that
//!   are strings; within serde-saphyr's limits): most manifests;
//! - `serde_saphyr` with [`Spanned`] leaves, for every other file, exactly as
//!   before the fast path existed: every error, recovery and position
//!   outside the subset is serde-saphyr's.
//!
//! [`extract`] tries the fast path on each document and falls back on
//! anything it does not take; for a document it takes, both give the same
//! [`Extracted`] (the
//! differential tests, a proptest and the `fast_yaml` fuzz target check it).
//! What follows the reading is one code for both (`Leaf` is what it needs
//! of a leaf). The images are found by
//! [`image_policy_core::k8s::find_images`], the same code the webhook runs;
//! this module only adds what files have and requests do not: several
//! documents, lists, files that are not manifests, and the
//! `image-policy.dev/ignore` annotation.
//!
//! - A document with neither `apiVersion` nor `kind` is not an object; a file
//!   with no object at all (a Helm `values.yaml`, a GitHub workflow, a
//!   `package.json`) is skipped and counted, not an error. In a file that
//!   has objects, such a document (a mapping without `kind`, a scalar, a
//!   sequence; not an empty or `null` one) is a [`ProblemCode::ParseError`]:
//!   kubectl stops there ("Object 'Kind' is missing"), so the objects after
//!   it are never sent. So is a mapping key JSON cannot have (a mapping, a
//!   sequence or a null: `replicas: {{replicas}}`, an unrendered template),
//!   where kubectl stops too ([`kubectl::unconvertible_key`]).
//! - Lists are read as kubectl's unstructured decoder reads them: any object
//!   with an `items` field is a list, whatever its kind (`kind: Pod` with
//!   `items` sends the items, not the Pod; `items: null` sends nothing; an
//!   `items` that is not a sequence stops kubectl). An item with neither
//!   `kind` nor `apiVersion` gets the list's kind without its `List` suffix
//!   and the list's `apiVersion` (a `DeploymentList`'s bare items are
//!   Deployments); then an item without `kind` or `apiVersion`, and an item
//!   that is itself a list, stop kubectl and are problems. A list needs a
//!   `kind` of its own, as every object does.
//! - An object of a kind that runs no containers (Service, ConfigMap, a CRD)
//!   is counted and has no images.
//! - A pod-bearing object whose images cannot be found (no pod spec, a
//!   container without `image`) is an [`ProblemCode::InvalidObject`] problem:
//!   the webhook would deny it. So is an empty `containers: []`: the API
//!   server rejects a pod spec without containers (`spec.containers:
//!   Required value`); its other images are still judged.
//! - A file that does not parse is a [`ProblemCode::ParseError`] at the
//!   parser's location; documents of the same file that do parse are still
//!   read when the parser can recover (a type error in one document).

use super::fast_yaml::{self, LocatedStr, NotInSubset};
use super::kubectl;
use super::lines::Lines;
use super::report::{
    Extracted, Holder, IGNORE_ANNOTATION, ImageSite, Position, Problem, ProblemCode, Skip,
    Suppression,
};
use super::yaml::{self, Locator};
use image_policy_core::k8s::{
    ContainerList, Object, ObjectError, ObjectMeta, PodBearingKind, Text, find_images,
};
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde_saphyr::Spanned;
use std::fmt;
use std::marker::PhantomData;

/// A string leaf of the objects the reader builds: its text (through
/// [`Text`]) and where it is written. Implemented by serde-saphyr's
/// [`Spanned`] and by the fast path's [`LocatedStr`], so one
/// [`read_document`] serves both readers.
trait Leaf: Text + Clone {
    /// Where the value is used: the scalar, or the alias (`*img`) that
    /// repeats it, in the text `at` places locations in.
    fn referenced(&self, at: &Locator<'_>) -> Position;
    /// Where the value is written (the anchored scalar, for an alias).
    fn defined(&self, at: &Locator<'_>) -> Position;
    /// A leaf at the same place with another text (a list item's kind, made
    /// from the list's as kubectl makes it).
    fn with_text(&self, text: &str) -> Self;
}

impl Leaf for Spanned<String> {
    fn referenced(&self, at: &Locator<'_>) -> Position {
        at.position(&self.referenced)
    }
    fn defined(&self, at: &Locator<'_>) -> Position {
        at.position(&self.defined)
    }
    fn with_text(&self, text: &str) -> Self {
        Spanned::new(text.to_owned(), self.referenced, self.defined)
    }
}

impl Leaf for LocatedStr<'_> {
    // The fast path takes no text with a lone `\r`: its positions are the
    // linter's lines.
    fn referenced(&self, _: &Locator<'_>) -> Position {
        self.position
    }
    fn defined(&self, _: &Locator<'_>) -> Position {
        self.position
    }
    fn with_text(&self, text: &str) -> Self {
        LocatedStr {
            value: std::borrow::Cow::Owned(text.to_owned()),
            position: self.position,
        }
    }
}

/// One YAML document, with leaves `S`.
enum Document<S> {
    /// A mapping: an object, or a list of objects when it has an `items`
    /// field (whatever its kind: kubectl's unstructured decoder reads any
    /// object with `items` as a list and sends its items, not the object;
    /// `items: null` is a list of none).
    Objects {
        object: Box<Object<S>>,
        items: Option<Vec<Item<S>>>,
    },
    /// A null document (`~`, `null`): kubectl reads nothing there and goes on.
    Null,
    /// A scalar or a sequence: kubectl stops there ("cannot unmarshal ...").
    NotAMapping(&'static str),
}

/// One entry of a list's `items`: an object, and whether it is a list
/// itself (an `items` sequence), which kubectl refuses.
struct Item<S> {
    object: Object<S>,
    list: bool,
}

impl<'de, S: Deserialize<'de>> Deserialize<'de> for Document<S> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DocumentVisitor(PhantomData))
    }
}

struct DocumentVisitor<S>(PhantomData<S>);

impl<'de, S: Deserialize<'de>> Visitor<'de> for DocumentVisitor<S> {
    type Value = Document<S>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Kubernetes object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Document<S>, A::Error> {
        // The core's Object reads the object's own fields; `items` (of a
        // list) is taken aside on the way, so the document is read once.
        let mut items = ListItems(None);
        let object = Object::deserialize(de::value::MapAccessDeserializer::new(ItemsAside {
            map,
            items: &mut items,
        }))?;
        Ok(Document::Objects {
            object: Box::new(object),
            items: items.0,
        })
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Document<S>, A::Error> {
        while seq.next_element::<de::IgnoredAny>()?.is_some() {}
        Ok(Document::NotAMapping("a sequence"))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Document<S>, E> {
        Ok(Document::NotAMapping("a string"))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Document<S>, E> {
        Ok(Document::NotAMapping("a boolean"))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Document<S>, E> {
        Ok(Document::NotAMapping("a number"))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Document<S>, E> {
        Ok(Document::NotAMapping("a number"))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Document<S>, E> {
        Ok(Document::NotAMapping("a number"))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Document<S>, E> {
        Ok(Document::Null)
    }
}

impl<'de, S: Deserialize<'de>> Deserialize<'de> for Item<S> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ItemVisitor<S>(PhantomData<S>);
        impl<'de, S: Deserialize<'de>> Visitor<'de> for ItemVisitor<S> {
            type Value = Item<S>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a Kubernetes object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Item<S>, A::Error> {
                let mut list = IsList(false);
                let object =
                    Object::deserialize(de::value::MapAccessDeserializer::new(ItemsAside {
                        map,
                        items: &mut list,
                    }))?;
                Ok(Item {
                    object,
                    list: list.0,
                })
            }
        }
        deserializer.deserialize_map(ItemVisitor(PhantomData))
    }
}

/// What [`ItemsAside`] does with an `items` field.
trait ItemsField<'de> {
    fn read<A: MapAccess<'de>>(&mut self, map: &mut A) -> Result<(), A::Error>;
}

/// A document's `items`: `Some` when the field is there (null is an empty
/// list, as kubectl reads it).
struct ListItems<S>(Option<Vec<Item<S>>>);

impl<'de, S: Deserialize<'de>> ItemsField<'de> for ListItems<S> {
    fn read<A: MapAccess<'de>>(&mut self, map: &mut A) -> Result<(), A::Error> {
        if self.0.is_some() {
            return Err(de::Error::duplicate_field("items"));
        }
        self.0 = Some(
            map.next_value::<Option<Vec<Item<S>>>>()?
                .unwrap_or_default(),
        );
        Ok(())
    }
}

/// Whether a list item has an `items` sequence (what makes kubectl take it
/// for a list; any other value is an ordinary field).
struct IsList(bool);

impl<'de> ItemsField<'de> for IsList {
    fn read<A: MapAccess<'de>>(&mut self, map: &mut A) -> Result<(), A::Error> {
        self.0 |= map.next_value::<IsSequence>()?.0;
        Ok(())
    }
}

/// Whether a value is a sequence (read and dropped).
struct IsSequence(bool);

impl<'de> Deserialize<'de> for IsSequence {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SequenceVisitor;
        impl<'de> Visitor<'de> for SequenceVisitor {
            type Value = IsSequence;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<IsSequence, A::Error> {
                while seq.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(IsSequence(true))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<IsSequence, A::Error> {
                while map
                    .next_entry::<de::IgnoredAny, de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(IsSequence(false))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<IsSequence, E> {
                Ok(IsSequence(false))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<IsSequence, E> {
                Ok(IsSequence(false))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<IsSequence, E> {
                Ok(IsSequence(false))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<IsSequence, E> {
                Ok(IsSequence(false))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<IsSequence, E> {
                Ok(IsSequence(false))
            }
            fn visit_unit<E: de::Error>(self) -> Result<IsSequence, E> {
                Ok(IsSequence(false))
            }
        }
        deserializer.deserialize_any(SequenceVisitor)
    }
}

/// A map that hands every entry to the wrapped visitor except `items`, which
/// it gives to `items`.
struct ItemsAside<'a, A, I> {
    map: A,
    items: &'a mut I,
}

impl<'de, A: MapAccess<'de>, I: ItemsField<'de>> MapAccess<'de> for ItemsAside<'_, A, I> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        loop {
            let Some(key) = self.map.next_key::<Key<'de>>()? else {
                return Ok(None);
            };
            let key = match key {
                Key::Items => {
                    self.items.read(&mut self.map)?;
                    continue;
                }
                Key::Borrowed(k) => seed.deserialize(de::value::BorrowedStrDeserializer::new(k)),
                Key::Owned(k) => seed.deserialize(de::value::StringDeserializer::new(k)),
            };
            return key.map(Some);
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.map.next_value_seed(seed)
    }
}

/// A key of a document's top-level mapping, borrowed from the input when
/// the parser can (no allocation for the common case).
enum Key<'de> {
    Items,
    Borrowed(&'de str),
    Owned(String),
}

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(if v == "items" {
                    Key::Items
                } else {
                    Key::Borrowed(v)
                })
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(if v == "items" {
                    Key::Items
                } else {
                    Key::Owned(v.to_owned())
                })
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// Just enough of a document to tell whether it is meant as an object.
#[derive(Deserialize)]
struct Probe {
    #[serde(rename = "apiVersion", default)]
    api_version: Option<de::IgnoredAny>,
    #[serde(default)]
    kind: Option<de::IgnoredAny>,
}

/// Reads the images of a manifest file as kubectl reads it: the documents
/// as kubectl's line reader cuts them (`kubectl::split`), each checked
/// for the constructs kubectl's YAML reads differently
/// ([`kubectl::differences`], reported) and read with the fast path
/// (`fast_yaml`) when it is in its subset, else with serde-saphyr
/// ([`extract_serde_saphyr`]); both give the same [`Extracted`] for a
/// document in the subset.
pub fn extract(text: &str) -> Extracted {
    extract_with(text, read_chunk)
}

/// [`extract`] with serde-saphyr alone for every document (no fast path):
/// the reference [`extract`] is tested against.
#[cfg(any(test, feature = "fuzzing"))]
pub fn extract_without_fast_path(text: &str) -> Extracted {
    extract_with(text, |chunk, _| {
        let differences = kubectl::differences(chunk);
        let mut got = read_full(chunk);
        push_differences(&mut got.out, differences);
        got
    })
}

/// kubectl's documents of `text`, each read by `read_chunk` (given the
/// line index of the text it reads when it is the whole file's), with what
/// kubectl reads differently reported.
fn extract_with(text: &str, read_chunk: impl Fn(&str, Option<&Lines<'_>>) -> Reading) -> Extracted {
    let lines = Lines::new(text);
    let kubectl::Split {
        chunks,
        bad_separator,
        yaml_alike,
    } = kubectl::split(&lines);
    let end_markers: Vec<kubectl::Difference> = chunks
        .iter()
        .filter_map(kubectl::end_marker_first)
        .collect();
    let mut all = Reading::default();
    let mut chunks = chunks;
    if bad_separator.is_none() && chunks.len() > 1 && yaml_alike {
        // The parser splits the file as kubectl does: one parse for all
        // (a parser per document costs more than the document on small
        // documents). A document kubectl refuses, or that does not read, is
        // read again on its own (see `misshapen_object`), and placed.
        let got = read_chunk(text, Some(&lines));
        if got.refused.is_empty()
            && !got
                .out
                .problems
                .iter()
                .any(|p| p.code == ProblemCode::ParseError)
        {
            all = got;
            all.out.skipped = None;
            chunks = Vec::new();
        }
    }
    for chunk in chunks {
        let mut got = read_chunk(chunk.text, None);
        shift_lines(&mut got.out, chunk.first_line - 1);
        for p in got.refused.iter_mut().filter_map(|p| p.position.as_mut()) {
            p.line += chunk.first_line - 1;
        }
        all.manifests += got.manifests;
        all.refused.append(&mut got.refused);
        let (out, got) = (&mut all.out, &mut got.out);
        out.objects += got.objects;
        out.sites.append(&mut got.sites);
        out.suppressed.append(&mut got.suppressed);
        out.problems.append(&mut got.problems);
    }
    let Reading {
        manifests,
        refused,
        mut out,
    } = all;
    if manifests > 0 {
        out.problems.extend(refused);
    }
    for d in end_markers {
        out.problems.push(Problem {
            position: Some(d.position),
            code: ProblemCode::ParseError,
            message: d.message,
        });
    }
    if let Some(d) = kubectl::stray_byte_order_mark(text) {
        out.problems.push(Problem {
            position: Some(d.position),
            code: ProblemCode::KubectlDifference,
            message: d.message,
        });
    }
    if let Some(d) = kubectl::json_stream_difference(text) {
        out.problems.push(Problem {
            position: Some(d.position),
            code: ProblemCode::KubectlDifference,
            message: d.message,
        });
    }
    if let Some(bad) = bad_separator {
        out.problems.push(Problem {
            position: Some(bad.position),
            code: ProblemCode::ParseError,
            message: format!(
                "invalid document separator: `---` followed by `{}`; kubectl stops reading the file here and drops the document before it (only spaces or a `#` comment may follow `---`)",
                bad.rest
            ),
        });
    }
    finish(manifests, out)
}

/// One document as kubectl cuts it (or any YAML text): its differences from
/// kubectl's reading as problems, then its images; how many documents were
/// meant as objects, and the unfinished [`Extracted`].
fn read_chunk(text: &str, lines: Option<&Lines<'_>>) -> Reading {
    let differences = kubectl::differences(text);
    let mut got = match fast_documents(text, lines) {
        Ok(got) => got,
        Err(_) => read_full(text),
    };
    push_differences(&mut got.out, differences);
    got
}

/// The full reader: serde-saphyr, and what kubectl refuses that
/// serde-saphyr reads past (a mapping key JSON cannot have: the fast path
/// takes none, so only this reader looks for them).
fn read_full(text: &str) -> Reading {
    let mut got = read_serde_saphyr(text);
    if let Some(key) = kubectl::unconvertible_key(text) {
        got.refused.push(Problem {
            position: Some(key.position),
            code: ProblemCode::ParseError,
            message: key.message,
        });
    }
    got
}

fn push_differences(out: &mut Extracted, differences: Vec<kubectl::Difference>) {
    out.problems
        .extend(differences.into_iter().map(|d| Problem {
            position: Some(d.position),
            code: ProblemCode::KubectlDifference,
            message: d.message,
        }));
}

/// Moves every position of `out` down by `lines` lines.
fn shift_lines(out: &mut Extracted, lines: usize) {
    if lines == 0 {
        return;
    }
    let shift = |p: &mut Position| p.line += lines;
    out.sites.iter_mut().for_each(|s| shift(&mut s.position));
    out.suppressed
        .iter_mut()
        .for_each(|s| shift(&mut s.position));
    out.problems
        .iter_mut()
        .filter_map(|p| p.position.as_mut())
        .for_each(shift);
}

/// The fast path alone on one YAML text (no kubectl splitting, no kubectl
/// checks): the images of a text in the subset of `fast_yaml`, or why
/// it is not in it. For the differential tests, the fuzz target and the
/// benches; [`extract`] is what the linter calls.
#[cfg(any(test, feature = "fuzzing"))]
pub fn extract_fast(text: &str) -> Result<Extracted, NotInSubset> {
    Ok(fast_documents(text, None)?.finish())
}

/// The fast path's reading of `text`, placed with `lines` (the text's line
/// index, when the caller has it) or an index built here.
fn fast_documents(text: &str, lines: Option<&Lines<'_>>) -> Result<Reading, NotInSubset> {
    let documents = fast_yaml::read::<Document<LocatedStr<'_>>>(text)?;
    Ok(match lines {
        Some(lines) => from_documents_with(lines, documents),
        None => from_documents(text, documents),
    })
}

/// The serde-saphyr path alone on one YAML text (no kubectl splitting, no
/// kubectl checks): what [`extract`] does with a document outside the fast
/// path's subset, and the reference the fast path is tested against.
#[cfg(any(test, feature = "fuzzing"))]
pub fn extract_serde_saphyr(text: &str) -> Extracted {
    read_serde_saphyr(text).finish()
}

/// serde-saphyr's reading. A duplicate key is read as go-yaml v2 reads it
/// (the last value wins) and reported once, in plain words.
fn read_serde_saphyr(text: &str) -> Reading {
    let first_error =
        match serde_saphyr::from_multiple_with_options::<Document<S>>(text, yaml::options()) {
            Ok(documents) => return from_documents(text, documents),
            Err(e) => e,
        };
    let serde_saphyr::Error::DuplicateMappingKey { key, location } = &first_error else {
        return read_after_error(text, &first_error, yaml::options());
    };
    let duplicate = Problem {
        position: Some(Locator::new(text).position(location)),
        code: ProblemCode::DuplicateKey,
        message: match key {
            Some(key) => format!(
                "duplicate key `{key}`: kubectl sends the last value (judged here); the API server's strict field validation rejects the object"
            ),
            None => "duplicate key: kubectl sends the last value (judged here); the API server's strict field validation rejects the object".to_owned(),
        },
    };
    let mut got = match serde_saphyr::from_multiple_with_options::<Document<S>>(
        text,
        yaml::options_last_key_wins(),
    ) {
        Ok(documents) => from_documents(text, documents),
        Err(e) => read_after_error(text, &e, yaml::options_last_key_wins()),
    };
    got.out.problems.insert(0, duplicate);
    got
}

/// serde-saphyr's leaf.
type S = Spanned<String>;

/// What a text whose documents all read says (unfinished).
fn from_documents<L: Leaf>(text: &str, documents: Vec<Document<L>>) -> Reading {
    from_documents_with(&Lines::new(text), documents)
}

/// [`from_documents`] with the text's line index at hand.
fn from_documents_with<L: Leaf>(lines: &Lines<'_>, documents: Vec<Document<L>>) -> Reading {
    let mut got = Reading::default();
    let at = Locator::new(lines.text());
    for doc in documents {
        read_document(lines, &at, doc, &mut got);
    }
    got
}

/// What a text that serde-saphyr could not read whole says (unfinished): a
/// skip, or the documents that read and a problem for each that did not.
fn read_after_error(
    text: &str,
    first_error: &serde_saphyr::Error,
    options: serde_saphyr::Options,
) -> Reading {
    if let Some(got) = misshapen_object(text, first_error, &options) {
        return got;
    }
    let mut got = Reading::default();
    let lines = Lines::new(text);
    // A file that is not a manifest may well not fit the object's
    // shape (a values.yaml with its own `spec:`): that is a skip.
    let any_object =
        serde_saphyr::from_multiple_with_options::<Option<Probe>>(text, options.clone()).map(
            |docs| {
                docs.iter()
                    .flatten()
                    .any(|p| p.api_version.is_some() || p.kind.is_some())
            },
        );
    if let Ok(false) = any_object {
        return got;
    }
    // Read the documents one by one: the parser skips a document
    // with a type error and goes on (a syntax error ends the file).
    let mut reader = std::io::Cursor::new(text.as_bytes());
    let mut errors = 0;
    for doc in serde_saphyr::read_with_options::<_, Document<S>>(&mut reader, options) {
        match doc {
            Ok(doc) => read_document(&lines, &Locator::new(text), doc, &mut got),
            Err(e) => {
                errors += 1;
                got.out.problems.push(yaml::parse_problem(&e, text));
            }
        }
    }
    if errors == 0 {
        // The reader saw no error where the whole-file parse did:
        // report the first one rather than lose it.
        got.out
            .problems
            .push(yaml::parse_problem(first_error, text));
    }
    got
}

/// An object as kubectl's builder needs it, and nothing else: its type,
/// metadata and list items (every other field is left as written).
#[derive(Deserialize)]
struct ObjectProbe {
    #[serde(rename = "apiVersion", default)]
    api_version: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    metadata: Option<ObjectMeta<String>>,
    #[serde(default)]
    items: Option<Option<Vec<ObjectProbe>>>,
}

/// A text of one document that kubectl reads as objects but that does not
/// have the shape the reader's types give a pod-bearing kind (`spec.volumes`
/// a list of strings: a PodSecurityPolicy; `spec.containers` a mapping: a
/// custom kind). Only the nine pod-bearing kinds are read as pod specs: an
/// object of any other kind is counted, with no image and no problem (kubectl
/// and the API server read it as it is). A pod-bearing object of that shape
/// is an [`ProblemCode::InvalidObject`] naming its kind and where its pod
/// spec is, at the error's place. `None` for anything else (several
/// documents, no object, a syntax error, what kubectl refuses: a missing
/// kind, a list in a list): the caller reports the error as it stands.
fn misshapen_object(
    text: &str,
    error: &serde_saphyr::Error,
    options: &serde_saphyr::Options,
) -> Option<Reading> {
    let probes =
        serde_saphyr::from_multiple_with_options::<Option<ObjectProbe>>(text, options.clone())
            .ok()?;
    let [Some(probe)] = probes.as_slice() else {
        return None;
    };
    fn given(s: &Option<String>) -> Option<&str> {
        s.as_deref().filter(|s| !s.is_empty())
    }
    let kind = given(&probe.kind)?;
    // The objects kubectl sends: the object, or its items (see `read_document`).
    let mut objects: Vec<(&str, &str)> = Vec::new();
    match &probe.items {
        None => objects.push((given(&probe.api_version).unwrap_or(""), kind)),
        Some(items) => {
            for item in items.iter().flatten() {
                if item.items.as_ref().is_some_and(|i| i.is_some()) {
                    return None;
                }
                let (api_version, item_kind) = match (given(&item.api_version), given(&item.kind)) {
                    (None, None) => (
                        given(&probe.api_version)?,
                        kind.strip_suffix("List").unwrap_or(kind),
                    ),
                    (Some(a), Some(k)) => (a, k),
                    _ => return None,
                };
                if item_kind.is_empty() {
                    return None;
                }
                objects.push((api_version, item_kind));
            }
        }
    }
    let mut got = Reading {
        manifests: 1,
        ..Reading::default()
    };
    let pod_bearing: Vec<PodBearingKind> = objects
        .iter()
        .filter_map(|(api_version, kind)| PodBearingKind::from_type(api_version, kind))
        .collect();
    let Some(first) = pod_bearing.first() else {
        got.out.objects = objects.len();
        return Some(got);
    };
    let holder = Holder {
        kind: kind.to_owned(),
        namespace: probe.metadata.as_ref().and_then(|m| m.namespace.clone()),
        name: probe
            .metadata
            .as_ref()
            .and_then(|m| m.name.clone().or_else(|| m.generate_name.clone())),
    };
    let error = yaml::parse_problem(error, text);
    let message = if probe.items.is_some() {
        format!(
            "{holder}: an item does not have the shape of its kind ({}); the list holds a {first}, whose pod spec ({}) and images cannot be read",
            error.message,
            first.pod_spec_path()
        )
    } else {
        format!(
            "{holder}: not the shape of a {first} ({}); its pod spec is at {}",
            error.message,
            first.pod_spec_path()
        )
    };
    got.out.objects = objects.len();
    got.out.problems.push(Problem {
        position: error.position,
        code: ProblemCode::InvalidObject,
        message,
    });
    Some(got)
}

/// What a text says before [`finish`].
#[derive(Default)]
struct Reading {
    /// How many documents were meant as objects (with `apiVersion` or
    /// `kind`).
    manifests: usize,
    /// What kubectl refuses where it does not read an object (a document
    /// that is a scalar or a mapping without `kind`, a key JSON cannot
    /// have): problems in a file that has objects, nothing in a file that
    /// has none (a values.yaml).
    refused: Vec<Problem>,
    out: Extracted,
}

impl Reading {
    /// The text's own reading, as one file.
    #[cfg(any(test, feature = "fuzzing"))]
    fn finish(self) -> Extracted {
        let Reading {
            manifests,
            refused,
            mut out,
        } = self;
        if manifests > 0 {
            out.problems.extend(refused);
        }
        finish(manifests, out)
    }
}

/// The skip of a file with no manifest and no problem; the sites in file order.
fn finish(manifests: usize, mut out: Extracted) -> Extracted {
    if manifests == 0 && out.problems.is_empty() {
        out.skipped = Some(not_a_manifest());
    }
    out.sites.sort_by_key(|s| s.position);
    out
}

fn not_a_manifest() -> Skip {
    Skip {
        reason: "no document has apiVersion and kind (not a Kubernetes manifest)".to_owned(),
    }
}

/// Reads one document as kubectl's resource builder reads it: an object,
/// or a list whose items it sends instead (see the module docs), counting
/// it in `got` when it is meant as an object (it has `apiVersion` or `kind`).
fn read_document<L: Leaf>(text: &Lines<'_>, at: &Locator<'_>, doc: Document<L>, got: &mut Reading) {
    let start = Some(Position { line: 1, column: 1 });
    let (object, items) = match doc {
        Document::Null => return,
        Document::NotAMapping(what) => {
            got.refused.push(Problem {
                position: start,
                code: ProblemCode::ParseError,
                message: format!(
                    "a document that is {what}, not an object: kubectl stops reading the file here"
                ),
            });
            return;
        }
        Document::Objects { object, items } => (object, items),
    };
    if object.kind.is_none() && object.api_version.is_none() {
        got.refused.push(Problem {
            position: start,
            code: ProblemCode::ParseError,
            message: "a document without `kind`: kubectl stops reading the file here (\"Object 'Kind' is missing\")".to_owned(),
        });
        return;
    }
    got.manifests += 1;
    let out = &mut got.out;
    let Some(kind) = object.kind().filter(|k| !k.is_empty()) else {
        out.problems.push(Problem {
            position: anchor(&object, at),
            code: ProblemCode::ParseError,
            message: "an object without `kind`: kubectl stops reading the file here (\"Object 'Kind' is missing\")".to_owned(),
        });
        return;
    };
    let Some(items) = items else {
        read_object(text, at, &object, out);
        return;
    };
    // kubectl's unstructured list decoding: an item with neither kind nor
    // apiVersion gets the list's kind without its `List` suffix, and the
    // list's apiVersion; then each item needs both, and may not be a list.
    let item_kind = kind.strip_suffix("List").unwrap_or(kind);
    for mut item in items {
        let problem = |item: &Item<L>, message: &str| Problem {
            position: anchor(&item.object, at).or_else(|| anchor(&object, at)),
            code: ProblemCode::ParseError,
            message: format!("{kind} item: {message}; kubectl stops reading the file here"),
        };
        if item.list {
            out.problems.push(problem(
                &item,
                "a list inside a list (an `items` sequence), which kubectl does not flatten (\"not a list: no Items field\")",
            ));
            continue;
        }
        let empty = |s: Option<&str>| s.is_none_or(str::is_empty);
        if empty(item.object.kind()) && empty(item.object.api_version()) {
            item.object.kind = object.kind.as_ref().map(|k| k.with_text(item_kind));
            item.object.api_version = object.api_version.clone();
        }
        if empty(item.object.kind()) {
            let message = if item_kind.is_empty() {
                "no `kind` (an item of a `List` names its own kind)"
            } else {
                "no `kind`"
            };
            out.problems.push(problem(&item, message));
            continue;
        }
        if empty(item.object.api_version()) {
            out.problems.push(problem(&item, "no `apiVersion`"));
            continue;
        }
        read_object(text, at, &item.object, out);
    }
}

/// Where an object is pointed at: its `kind`, else its `apiVersion`, else
/// its name.
fn anchor<L: Leaf>(object: &Object<L>, at: &Locator<'_>) -> Option<Position> {
    object
        .kind
        .as_ref()
        .or(object.api_version.as_ref())
        .or(object.metadata.as_ref().and_then(|m| m.name.as_ref()))
        .map(|l| l.referenced(at))
}

fn read_object<L: Leaf>(
    text: &Lines<'_>,
    at: &Locator<'_>,
    object: &Object<L>,
    out: &mut Extracted,
) {
    out.objects += 1;
    let holder = Holder {
        kind: object.kind().unwrap_or("(no kind)").to_owned(),
        namespace: object.namespace().map(str::to_owned),
        name: object.name().map(str::to_owned),
    };
    let anchor = anchor(object, at);
    let found = match find_images(object) {
        Ok(found) => found,
        Err(ObjectError::UnknownKind { .. }) => return,
        Err(e) => {
            out.problems.push(Problem {
                position: anchor,
                code: ProblemCode::InvalidObject,
                message: format!("{holder}: {e}"),
            });
            return;
        }
    };
    if !found.iter().any(|f| f.list == ContainerList::Containers)
        && let Ok(kind) = object.pod_bearing_kind()
    {
        out.problems.push(Problem {
            position: anchor,
            code: ProblemCode::InvalidObject,
            message: format!(
                "{holder}: {}.containers is empty; the API server rejects a pod spec without containers",
                kind.pod_spec_path()
            ),
        });
    }
    let ignore = object
        .metadata
        .as_ref()
        .and_then(|m| m.annotations.as_ref())
        .and_then(|a| a.0.iter().find(|(k, _)| k.as_str() == IGNORE_ANNOTATION));
    if let Some((_, reason)) = ignore {
        out.suppressed.push(Suppression {
            position: reason.referenced(at),
            holder,
            reason: reason.as_str().to_owned(),
            images: found.len(),
        });
        return;
    }
    let annotations: Vec<(String, String)> = object
        .annotations()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    for f in found {
        let position = f.image.referenced(at);
        let width = if position == f.image.defined(at) {
            yaml::value_width(text, position, f.image.as_str())
        } else {
            alias_width(text, position)
        };
        out.sites.push(ImageSite {
            position,
            image: f.image.as_str().to_owned(),
            written: None,
            width,
            holder: holder.clone(),
            container: Some(f.container.to_owned()),
            path: Some(f.json_path.to_string()),
            namespace: holder.namespace.clone(),
            annotations: annotations.clone(),
        });
    }
}

/// The width of an alias token (`*img`) at `at`.
fn alias_width(text: &Lines<'_>, at: Position) -> usize {
    text.get(at.line)
        .map(|l| {
            l.chars()
                .skip(at.column.saturating_sub(1))
                .take_while(|c| !c.is_whitespace() && *c != ',' && *c != '}' && *c != ']')
                .count()
        })
        .unwrap_or(1)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sites(text: &str) -> Vec<(String, usize, usize, String)> {
        extract(text)
            .sites
            .into_iter()
            .map(|s| {
                (
                    s.image,
                    s.position.line,
                    s.position.column,
                    format!("{} {}", s.holder, s.container.unwrap_or_default()),
                )
            })
            .collect()
    }

    #[test]
    fn documents_lists_and_aliases() {
        let text = "\
# Source: chart/templates/a.yaml
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {ports: [{port: 80}]}
---
---
apiVersion: v1
kind: List
items:
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: web, namespace: prod}
  spec:
    template:
      spec:
        containers:
        - name: web
          image: &img \"nginx:1.25\"
        initContainers:
        - {name: init, image: *img}
";
        assert_eq!(
            sites(text),
            vec![
                (
                    "nginx:1.25".to_owned(),
                    20,
                    23,
                    "Deployment prod/web web".to_owned()
                ),
                (
                    "nginx:1.25".to_owned(),
                    22,
                    31,
                    "Deployment prod/web init".to_owned()
                ),
            ]
        );
        let got = extract(text);
        assert_eq!(got.objects, 2);
        assert_eq!(got.sites[0].width, 12);
        assert_eq!(got.sites[1].width, 4);
        assert!(got.skipped.is_none());
    }

    #[test]
    fn values_and_workflows_are_skipped() {
        for text in [
            "image:\n  repository: nginx\n  tag: 1.25\nspec: [1, 2]\n",
            "on: [push]\njobs:\n  build:\n    runs-on: ubuntu-latest\n",
            "",
            "---\n3\n",
        ] {
            let got = extract(text);
            assert!(got.skipped.is_some(), "{text:?}: {got:?}");
            assert!(got.problems.is_empty());
        }
    }

    /// The cases of issue 9: what kubectl reads differently from YAML 1.2,
    /// each either read as kubectl reads it or reported.
    #[test]
    fn read_as_kubectl_reads() {
        let pod =
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n";
        // (text, images judged, problem codes with their lines)
        type Case = (String, Vec<&'static str>, Vec<(&'static str, usize)>);
        let cases: Vec<Case> = vec![
            // `---` and a no-break space: a separator for kubectl.
            (
                format!("apiVersion: v1\nkind: ConfigMap\n---\u{a0}\n{pod}    image: evil.io/x\n"),
                vec!["evil.io/x"],
                vec![],
            ),
            // `--- 3`: kubectl stops there.
            ("a: 1\n--- 3\n".to_owned(), vec![], vec![("parse-error", 2)]),
            // The last duplicate wins, and is reported in plain words.
            (
                format!("{pod}    image: nginx\n    image: evil.io/x\n"),
                vec!["evil.io/x"],
                vec![("duplicate-key", 8)],
            ),
            // A line separator ends a comment for kubectl.
            (
                format!("{pod}    image: nginx # x\u{2028}    image: evil.io/x\n"),
                vec!["nginx"],
                vec![("kubectl-difference", 7)],
            ),
            // A merge key after `kind` overrides it for kubectl.
            (
                "apiVersion: v1\nkind: ConfigMap\n<<: {kind: Pod}\nspec: {containers: [{name: c, image: evil.io/x}]}\n".to_owned(),
                vec![],
                vec![("kubectl-difference", 3)],
            ),
            // A merge key first: both read the explicit key.
            (
                "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - <<: {image: evil.io/x}\n    name: c\n    image: nginx\n".to_owned(),
                vec!["nginx"],
                vec![],
            ),
            // Two JSON objects: kubectl's JSON decoder reads them its way.
            (
                "{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\"}\n{\"kind\": \"Pod\"}\n".to_owned(),
                vec![],
                vec![("parse-error", 2), ("kubectl-difference", 2)],
            ),
            // Any object with `items` is a list: its items are sent, not
            // the object (its own pod spec is not judged).
            (
                "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: nginx}]}\nitems:\n- {apiVersion: v1, kind: Pod, metadata: {name: q}, spec: {containers: [{name: c, image: evil.io/x}]}}\n".to_owned(),
                vec!["evil.io/x"],
                vec![],
            ),
            // `items: null` is a list of none.
            (
                "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: nginx}]}\nitems: null\n".to_owned(),
                vec![],
                vec![],
            ),
            // An item with neither kind nor apiVersion gets the list's
            // kind without `List` and the list's apiVersion...
            (
                "apiVersion: apps/v1\nkind: DeploymentList\nitems:\n- metadata: {name: d}\n  spec: {template: {spec: {containers: [{name: c, image: evil.io/x}]}}}\n".to_owned(),
                vec!["evil.io/x"],
                vec![],
            ),
            // ... which for a `List` is no kind: kubectl stops.
            (
                "apiVersion: v1\nkind: List\nitems:\n- metadata: {name: p}\n  spec: {containers: [{name: c, image: evil.io/x}]}\n".to_owned(),
                vec![],
                vec![("parse-error", 2)],
            ),
            // An item with a kind needs an apiVersion (kubectl stops).
            (
                "apiVersion: v1\nkind: List\nitems:\n- kind: Pod\n  spec: {containers: [{name: c, image: evil.io/x}]}\n".to_owned(),
                vec![],
                vec![("parse-error", 4)],
            ),
            // A list inside a list: kubectl stops.
            (
                "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: List\n  items: []\n".to_owned(),
                vec![],
                vec![("parse-error", 5)],
            ),
            // A list without kind, an object without kind: kubectl stops.
            (
                "apiVersion: v1\nitems: []\n".to_owned(),
                vec![],
                vec![("parse-error", 1)],
            ),
            // After an object, a document that is not one: kubectl stops
            // there, whatever it is.
            (
                "apiVersion: v1\nkind: ConfigMap\n---\nimage: evil.io/x\n---\n- a\n---\n3\n---\n~\n".to_owned(),
                vec![],
                vec![("parse-error", 4), ("parse-error", 6), ("parse-error", 8)],
            ),
            // A mapping or a null as a key (an unrendered template): kubectl
            // cannot turn it into JSON, and stops.
            (
                format!("{pod}    image: nginx\nreplicas: {{{{replicas}}}}\n"),
                vec!["nginx"],
                vec![("parse-error", 8)],
            ),
            (
                format!("{pod}    image: nginx\n    env: [{{name: x, value: {{~: 1}}}}]\n"),
                vec!["nginx"],
                vec![("parse-error", 8)],
            ),
        ];
        for (text, images, problems) in cases {
            let got = extract(&text);
            let got_images: Vec<&str> = got.sites.iter().map(|s| s.image.as_str()).collect();
            assert_eq!(got_images, images, "{text:?}: {got:?}");
            let got_problems: Vec<(&str, usize)> = got
                .problems
                .iter()
                .map(|p| (p.code.as_str(), p.position.map_or(0, |p| p.line)))
                .collect();
            assert_eq!(got_problems, problems, "{text:?}: {got:?}");
        }
    }

    /// Only the nine pod-bearing kinds are read as pod specs: any other kind
    /// is read as it is, whatever its `spec` (issue 19, item 4); a
    /// pod-bearing kind of the wrong shape is an invalid object naming its
    /// kind and where its pod spec is.
    #[test]
    fn only_pod_bearing_kinds_are_pod_specs() {
        let psp = "apiVersion: policy/v1beta1\nkind: PodSecurityPolicy\nmetadata: {name: restricted}\nspec:\n  volumes: ['*']\n  privileged: false\n";
        let custom = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {containers: {}, initContainers: 3, template: [1]}\n";
        let deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n      containers: [{name: web, image: nginx}]\n";
        for text in [psp, custom] {
            let got = extract(text);
            assert_eq!(got.objects, 1, "{text:?}: {got:?}");
            assert!(got.problems.is_empty(), "{text:?}: {got:?}");
            assert!(got.sites.is_empty() && got.skipped.is_none(), "{got:?}");
        }
        // A valid two-document file is read whole, in either order and
        // whether YAML splits it as kubectl does or not.
        for text in [
            format!("{deployment}---\n{psp}"),
            format!("{psp}---\n{deployment}"),
            format!("{psp}--- # policy\n{deployment}"),
            format!("{psp}---\u{a0}\n{deployment}"),
        ] {
            let got = extract(&text);
            assert_eq!(got.objects, 2, "{text:?}: {got:?}");
            assert!(got.problems.is_empty(), "{text:?}: {got:?}");
            let images: Vec<&str> = got.sites.iter().map(|s| s.image.as_str()).collect();
            assert_eq!(images, ["nginx"], "{text:?}");
        }
        // A list of other kinds, bare items included.
        let got = extract(
            "apiVersion: policy/v1beta1\nkind: PodSecurityPolicyList\nitems:\n- metadata: {name: a}\n  spec: {volumes: ['*']}\n",
        );
        assert_eq!((got.objects, got.problems.len()), (1, 0), "{got:?}");
        // A pod-bearing kind of the wrong shape.
        for (text, kind, path, line) in [
            (
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n      containers: {web: nginx}\n",
                "Deployment web",
                "spec.template.spec",
                7,
            ),
            (
                "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  volumes: ['*']\n  containers: [{name: c, image: nginx}]\n",
                "Pod p",
                "its pod spec is at spec",
                5,
            ),
            (
                "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: p}\n  spec: {containers: 5}\n",
                "List",
                "Pod",
                7,
            ),
        ] {
            let got = extract(text);
            assert_eq!(got.problems.len(), 1, "{text:?}: {got:?}");
            let problem = &got.problems[0];
            assert_eq!(problem.code, ProblemCode::InvalidObject, "{got:?}");
            assert!(problem.message.starts_with(kind), "{problem:?}");
            assert!(problem.message.contains(path), "{problem:?}");
            assert_eq!(problem.position.map(|p| p.line), Some(line), "{problem:?}");
        }
    }

    /// A file with no object is not a manifest, whatever kubectl would say
    /// of it (a values.yaml with a template key, a list of strings).
    #[test]
    fn files_without_objects_stay_skipped() {
        for text in ["a: {{x}}\n", "- a\n- b\n", "items: [1]\n---\n3\n"] {
            let got = extract(text);
            assert!(got.skipped.is_some(), "{text:?}: {got:?}");
            assert!(got.problems.is_empty(), "{text:?}: {got:?}");
        }
    }

    /// After lone `\r` line breaks (which the YAML parser counts and the
    /// linter's lines do not), a parse error is placed in the file's lines.
    #[test]
    fn parse_errors_after_lone_carriage_returns_are_in_the_files_lines() {
        let text = "apiVersion: v1\rkind: Pod\rmetadata: {name: p}\rspec: a: b\n";
        let got = extract(text);
        let parse = got
            .problems
            .iter()
            .find(|p| p.code == ProblemCode::ParseError)
            .expect("a parse error");
        assert_eq!(
            parse.position,
            // The `a` after `spec: ` (a scalar where a mapping goes).
            Some(Position {
                line: 1,
                column: 52
            }),
            "{got:?}"
        );
    }

    #[test]
    fn broken_documents_are_problems_and_the_others_are_read() {
        let text = "\
apiVersion: v1
kind: Pod
metadata: {name: a}
spec:
  containers: 5
---
apiVersion: v1
kind: Pod
metadata: {name: b}
spec:
  containers: [{name: b, image: busybox}]
";
        let got = extract(text);
        assert_eq!(got.problems.len(), 1, "{got:?}");
        assert_eq!(got.problems[0].code, ProblemCode::InvalidObject);
        assert_eq!(got.sites.len(), 1);
        assert_eq!(got.sites[0].image, "busybox");
    }

    #[test]
    fn pod_bearing_object_without_images_is_a_problem() {
        let got = extract("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {}\n");
        assert_eq!(got.problems.len(), 1);
        assert_eq!(got.problems[0].code, ProblemCode::InvalidObject);
        assert_eq!(
            got.problems[0].position,
            Some(Position { line: 2, column: 7 })
        );
    }

    #[test]
    fn ignore_annotation_suppresses() {
        let got = extract(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  annotations:\n    image-policy.dev/ignore: \"vendor\"\nspec:\n  containers: [{name: a, image: busybox}]\n",
        );
        assert!(got.sites.is_empty());
        assert_eq!(got.suppressed.len(), 1);
        assert_eq!(got.suppressed[0].reason, "vendor");
        assert_eq!(got.suppressed[0].images, 1);
        assert_eq!(
            got.suppressed[0].position,
            Position {
                line: 6,
                column: 30
            }
        );
    }

    #[test]
    fn json_manifests() {
        let text = "{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"Pod\",\n  \"metadata\": {\"name\": \"p\"},\n  \"spec\": {\"containers\": [{\"name\": \"c\", \"image\": \"busybox:1\"}]}\n}\n";
        assert_eq!(
            sites(text),
            vec![("busybox:1".to_owned(), 5, 50, "Pod p c".to_owned())]
        );
    }

    /// An image volume is an image site, on the fast path as on
    /// serde-saphyr's, at the line and column of its reference.
    #[test]
    fn image_volumes_are_sites_on_both_paths() {
        let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: ns}\nspec:\n  containers: [{name: c, image: busybox}]\n  volumes:\n  - name: cfg\n    configMap: {name: x}\n  - name: payload\n    image:\n      pullPolicy: Always\n      reference: \"evil.io/payload:1\"\n";
        let fast = extract_fast(text).expect("in the fast path's subset");
        assert_eq!(fast, extract_serde_saphyr(text));
        let site = &fast.sites[1];
        assert_eq!(site.image, "evil.io/payload:1");
        assert_eq!(
            site.position,
            Position {
                line: 12,
                column: 18
            }
        );
        assert_eq!(site.width, 19);
        assert_eq!(
            site.path.as_deref(),
            Some("spec.volumes[1].image.reference")
        );
        assert_eq!(site.entry_label().as_deref(), Some("volume payload"));
    }
}
