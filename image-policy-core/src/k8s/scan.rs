//! A fast reader of Kubernetes objects in JSON: the fields of [`Object`]
//! read straight from the bytes into the same borrowed values its serde
//! derive builds, or `None` to let serde decide. It lives beside the types it
//! fills, so the object's shape is declared once (`object.rs`); readers of an
//! envelope (the webhook's AdmissionReview) build on [`Scanner`]'s public
//! parts.
//!
//! **Not part of the stable API**: this module exists only with the
//! `unstable-scan` feature (which `image-policy-webhook` enables) and may
//! change in any release; semver does not cover it.
//!
//! # Why
//!
//! The derived serde decoders spend most of a webhook's time (matching field
//! names through visitors, skipping unknown subtrees value by value). This
//! scanner does the same job in one tight pass: it validates the JSON it
//! skips (strings, escapes, numbers, literals, nesting) and builds only what
//! is read. A skipped array or object is walked in one loop, without a call
//! per value; the structs read are filled in place, not built and moved.
//!
//! # Same answers as serde, or none
//!
//! It gives up (`None`) on anything it does not handle exactly as serde_json
//! and the derived decoders would: a syntax error, a field of another type, a
//! field written twice, a string with an escape in a field that is read, a
//! struct written as an array, nesting deeper than [`MAX_DEPTH`], trailing
//! characters. The caller then decodes with serde, which gives the answer or
//! the precise error message. So the scanner changes how fast an object is
//! read, never what is read; tests compare both decoders on every fixture and
//! on crafted edge cases (here and in the webhook, with its fuzz target).

use std::borrow::Cow;

use super::object;
use super::{
    Annotations, Container, CowStr, ImageVolumeSource, JobSpec, JobTemplateSpec, MAX_ENTRIES,
    Object, ObjectMeta, ObjectSpec, PodSpec, PodTemplateSpec, Volume,
};

/// Deeper than this, the scanner gives up and leaves the body to serde_json
/// (whose limit is 128), so that too deep a body gets serde_json's error.
pub const MAX_DEPTH: u32 = 100;

/// A JSON text being read.
#[derive(Debug)]
pub struct Scanner<'a> {
    /// The text, whose bytes are read as `text.as_bytes()`: no second field
    /// for them, so that the compiler sees the byte a check has just read
    /// where `text.get` checks a character boundary, and drops that check.
    text: &'a str,
    pos: usize,
    depth: u32,
}

/// Records that field `bit` of an object was read into `seen`; `None` when
/// it already was (serde rejects a duplicate field).
#[inline]
pub fn first(seen: &mut u32, bit: u32) -> Option<()> {
    if *seen & bit != 0 {
        return None;
    }
    *seen |= bit;
    Some(())
}

/// The length of the run of plain JSON string bytes at the start of `bytes`:
/// up to a quote, a backslash or a control character, the bytes a JSON string
/// cannot hold as they are. Eight bytes at a time, as serde_json does: most
/// strings are plain. A JSON writer can use it too, to copy runs that need no
/// escape.
#[inline]
pub fn plain_len(bytes: &[u8]) -> usize {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    /// High bit set in the bytes of `w` that are below `n` (exact for the
    /// lowest such byte, which is all that is used).
    const fn below(w: u64, n: u8) -> u64 {
        w.wrapping_sub(ONES * n as u64) & !w & HIGHS
    }
    let mut chunks = bytes.chunks_exact(8);
    let mut run = 0;
    for chunk in &mut chunks {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        let special = below(w ^ (ONES * u64::from(b'"')), 1)
            | below(w ^ (ONES * u64::from(b'\\')), 1)
            | below(w, 0x20);
        if special != 0 {
            return run + (special.trailing_zeros() / 8) as usize;
        }
        run += 8;
    }
    let rest = chunks.remainder();
    run + rest
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        .unwrap_or(rest.len())
}

/// Where the JSON string whose text starts at `pos` (just after its opening
/// quote) ends: just after its closing quote. Escapes are checked as
/// serde_json checks the strings it skips (a `\u` needs four hex digits, not
/// a valid code point), not decoded; `None` at a control character, a bad
/// escape or the end of `bytes`. Inlined where it is used: a call per string
/// cost more than reading a short string (saving registers, loading the
/// eight-byte masks again).
#[inline(always)]
fn string_end(bytes: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        pos += plain_len(bytes.get(pos..)?);
        match *bytes.get(pos)? {
            b'"' => return Some(pos + 1),
            b'\\' => match *bytes.get(pos + 1)? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => pos += 2,
                b'u' => {
                    let hex = bytes.get(pos + 2..pos + 6)?;
                    hex.iter().all(u8::is_ascii_hexdigit).then_some(())?;
                    pos += 6;
                }
                _ => return None,
            },
            _ => return None, // a control character
        }
    }
}

impl<'a> Scanner<'a> {
    /// A scanner at the start of `text`.
    #[inline]
    pub fn new(text: &'a str) -> Self {
        Scanner {
            text,
            pos: 0,
            depth: 0,
        }
    }

    #[inline(always)]
    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    /// `Some` when only whitespace is left.
    #[inline]
    pub fn finish(mut self) -> Option<()> {
        self.ws();
        (self.pos == self.bytes().len()).then_some(())
    }

    fn ws(&mut self) {
        // Compact JSON, as the API server sends it, has none: one comparison.
        while let Some(&b) = self.bytes().get(self.pos)
            && b <= b' '
            && matches!(b, b' ' | b'\n' | b'\r' | b'\t')
        {
            self.pos += 1;
        }
    }

    /// The next byte after whitespace, not consumed.
    #[inline]
    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.bytes().get(self.pos).copied()
    }

    #[inline]
    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.pos += 1)
    }

    #[inline]
    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.pos.checked_add(word.len())?;
        (self.bytes().get(self.pos..end)? == word).then(|| self.pos = end)
    }

    /// The length of the run of plain string bytes at `pos` ([`plain_len`]).
    #[inline]
    fn plain_run(&self) -> usize {
        plain_len(self.bytes().get(self.pos..).unwrap_or_default())
    }

    /// A string without escapes, borrowed; `None` for anything else.
    /// Inlined into its callers, as [`string_end`] is.
    #[inline(always)]
    fn str(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let open = self.pos - 1;
        self.pos += self.plain_run();
        (*self.bytes().get(self.pos)? == b'"').then_some(())?;
        // Taken with both quotes, whose bytes were just read (each a
        // character boundary the compiler can see), then stripped of them:
        // no other boundary check.
        let quoted = self.text.get(open..=self.pos)?;
        self.pos += 1;
        quoted.strip_prefix('"')?.strip_suffix('"')
    }

    #[inline]
    fn cow(&mut self) -> Option<CowStr<'a>> {
        self.str().map(|s| CowStr(Cow::Borrowed(s)))
    }

    /// A string that is skipped: escapes are checked as serde_json checks
    /// them, not decoded.
    #[inline]
    fn skip_str(&mut self) -> Option<()> {
        self.eat(b'"')?;
        self.pos = string_end(self.bytes(), self.pos)?;
        Some(())
    }

    #[inline]
    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.bytes().get(self.pos) {
            self.pos += 1;
        }
        self.pos - start
    }

    /// A number, by JSON's grammar.
    #[inline]
    fn skip_number(&mut self) -> Option<()> {
        if self.bytes().get(self.pos) == Some(&b'-') {
            self.pos += 1;
        }
        match *self.bytes().get(self.pos)? {
            b'0' => {
                self.pos += 1;
                if let Some(b'0'..=b'9') = self.bytes().get(self.pos) {
                    return None;
                }
            }
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return None,
        }
        if self.bytes().get(self.pos) == Some(&b'.') {
            self.pos += 1;
            (self.digits() > 0).then_some(())?;
        }
        if let Some(b'e' | b'E') = self.bytes().get(self.pos) {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.bytes().get(self.pos) {
                self.pos += 1;
            }
            (self.digits() > 0).then_some(())?;
        }
        Some(())
    }

    #[inline]
    fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth <= MAX_DEPTH).then_some(())
    }

    /// Any JSON value, validated and skipped.
    #[inline]
    pub fn skip_value(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => {
                self.pos = string_end(self.bytes(), self.pos + 1)?;
                Some(())
            }
            b'{' | b'[' => self.skip_nested(),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.skip_number(),
        }
    }

    /// The array or object at `pos` and everything in it, validated and
    /// skipped in one loop rather than a call per value: the containers open
    /// around the value are kept as bits of `objects` (1 for an object, 0 for
    /// an array, the innermost lowest). Deeper than its 64 bits, it gives up
    /// (serde decides; no Kubernetes object nests so deep). What it accepts
    /// is what serde_json's `ignore_value` accepts (the differential tests of
    /// this module and of the webhook check it).
    fn skip_nested(&mut self) -> Option<()> {
        let base = self.depth;
        let mut objects: u64 = 0;
        loop {
            // A value starts here.
            match self.peek()? {
                open @ (b'{' | b'[') => {
                    self.enter()?;
                    (self.depth - base <= u64::BITS).then_some(())?;
                    self.pos += 1;
                    let object = open == b'{';
                    objects = objects << 1 | u64::from(object);
                    let close = if object { b'}' } else { b']' };
                    if self.peek()? != close {
                        if object {
                            self.skip_key()?;
                        }
                        continue;
                    }
                    // Empty: closed below, as after any value.
                }
                b'"' => self.pos = string_end(self.bytes(), self.pos + 1)?,
                b't' => self.literal(b"true")?,
                b'f' => self.literal(b"false")?,
                b'n' => self.literal(b"null")?,
                _ => self.skip_number()?,
            }
            // After a value: a comma and the next value, or closings.
            loop {
                if self.depth == base {
                    return Some(());
                }
                let object = objects & 1 == 1;
                match self.peek()? {
                    b',' => {
                        self.pos += 1;
                        if object {
                            self.skip_key()?;
                        }
                        break;
                    }
                    b'}' if object => {}
                    b']' if !object => {}
                    _ => return None,
                }
                self.pos += 1;
                self.depth -= 1;
                objects >>= 1;
            }
        }
    }

    /// An object's key and its colon, skipped.
    #[inline]
    fn skip_key(&mut self) -> Option<()> {
        self.skip_str()?;
        self.eat(b':')
    }

    /// An object: `field` is called with each key, and must read its value.
    /// A key with an escape gives up (serde would unescape it before matching).
    #[inline]
    pub fn object(
        &mut self,
        mut field: impl FnMut(&mut Self, &'a str) -> Option<()>,
    ) -> Option<()> {
        self.eat(b'{')?;
        self.enter()?;
        if self.peek()? != b'}' {
            loop {
                let key = self.str()?;
                self.eat(b':')?;
                field(self, key)?;
                if self.peek()? == b',' {
                    self.pos += 1;
                } else {
                    break;
                }
            }
        }
        self.eat(b'}')?;
        self.depth -= 1;
        Some(())
    }

    /// `null` as `None`, else the value read by `read`.
    #[inline]
    pub fn opt<T>(&mut self, read: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>> {
        if self.peek()? == b'n' {
            self.literal(b"null")?;
            Some(None)
        } else {
            read(self).map(Some)
        }
    }

    /// A string without escapes, borrowed, or `null`; `None` for anything
    /// else.
    #[inline]
    pub fn opt_cow(&mut self) -> Option<Option<CowStr<'a>>> {
        self.opt(Self::cow)
    }

    /// An object with one string field that is read (`kind` of a
    /// GroupVersionKind, `resource` of a GroupVersionResource, `reference` of
    /// an image volume).
    #[inline]
    pub fn struct_of_one(&mut self, name: &str, out: &mut Option<CowStr<'a>>) -> Option<()> {
        let mut seen = 0;
        self.object(|s, key| {
            if key == name {
                first(&mut seen, 1)?;
                *out = s.opt_cow()?;
                Some(())
            } else {
                s.skip_value()
            }
        })
    }

    /// `null` as `None`, else the value read by `read` into `out` in place,
    /// from its default: a struct is filled where it stays, not built on the
    /// stack and moved into its parent (each move of an `Object` was a
    /// `memcpy`).
    #[inline]
    fn opt_in<T: Default>(
        &mut self,
        out: &mut Option<T>,
        read: impl FnOnce(&mut Self, &mut T) -> Option<()>,
    ) -> Option<()> {
        if self.peek()? == b'n' {
            self.literal(b"null")
        } else {
            read(self, out.insert(T::default()))
        }
    }

    /// [`Scanner::opt_in`] for a boxed field.
    #[inline]
    fn opt_box<T: Default>(
        &mut self,
        out: &mut Option<Box<T>>,
        read: impl FnOnce(&mut Self, &mut T) -> Option<()>,
    ) -> Option<()> {
        if self.peek()? == b'n' {
            self.literal(b"null")
        } else {
            read(self, out.insert(Box::default()))
        }
    }

    /// A Kubernetes object: what `Object`'s serde derive reads, or `None`.
    pub fn k8s_object(&mut self) -> Option<Object<CowStr<'a>>> {
        let mut o = Object::default();
        self.k8s_object_in(&mut o)?;
        Some(o)
    }

    /// A Kubernetes object, or `null`, read into `out` in place (the
    /// envelope's `object` and `oldObject`): what `Option<Object>`'s serde
    /// derive reads, or `None` (then `out` holds a part of the object, to be
    /// dropped).
    // Without the feature, the module exists for the core's own tests only.
    #[cfg_attr(not(feature = "unstable-scan"), allow(dead_code))]
    pub fn opt_k8s_object(&mut self, out: &mut Option<Object<CowStr<'a>>>) -> Option<()> {
        self.opt_in(out, Self::k8s_object_in)
    }

    fn k8s_object_in(&mut self, o: &mut Object<CowStr<'a>>) -> Option<()> {
        let mut seen = 0;
        self.object(|s, key| {
            match key {
                "apiVersion" => {
                    first(&mut seen, 1)?;
                    o.api_version = s.opt_cow()?;
                }
                "kind" => {
                    first(&mut seen, 2)?;
                    o.kind = s.opt_cow()?;
                }
                "metadata" => {
                    first(&mut seen, 4)?;
                    s.opt_in(&mut o.metadata, Self::meta)?;
                }
                "spec" => {
                    first(&mut seen, 8)?;
                    s.opt_in(&mut o.spec, Self::object_spec)?;
                }
                "template" => {
                    first(&mut seen, 16)?;
                    s.opt_box(&mut o.template, Self::pod_template)?;
                }
                _ => s.skip_value()?,
            }
            Some(())
        })
    }

    fn meta(&mut self, m: &mut ObjectMeta<CowStr<'a>>) -> Option<()> {
        let mut seen = 0;
        self.object(|s, key| {
            match key {
                "name" => {
                    first(&mut seen, 1)?;
                    m.name = s.opt_cow()?;
                }
                "generateName" => {
                    first(&mut seen, 2)?;
                    m.generate_name = s.opt_cow()?;
                }
                "namespace" => {
                    first(&mut seen, 4)?;
                    m.namespace = s.opt_cow()?;
                }
                "annotations" => {
                    first(&mut seen, 8)?;
                    m.annotations = s.opt(|s| {
                        let mut pairs = Vec::new();
                        s.object(|s, key| {
                            // Past the bound, read and dropped, as serde does.
                            if pairs.len() > MAX_ENTRIES {
                                return s.skip_value();
                            }
                            let value = s.cow()?;
                            object::push_bounded(&mut pairs, (CowStr(Cow::Borrowed(key)), value));
                            Some(())
                        })?;
                        Some(Annotations(pairs))
                    })?;
                }
                _ => s.skip_value()?,
            }
            Some(())
        })
    }

    fn object_spec(&mut self, spec: &mut ObjectSpec<CowStr<'a>>) -> Option<()> {
        let mut seen = 0;
        self.object(|s, key| {
            match key {
                "containers" => {
                    first(&mut seen, 1)?;
                    spec.containers = s.opt(Self::containers)?;
                }
                "initContainers" => {
                    first(&mut seen, 2)?;
                    spec.init_containers = s.opt(Self::containers)?;
                }
                "ephemeralContainers" => {
                    first(&mut seen, 4)?;
                    spec.ephemeral_containers = s.opt(Self::containers)?;
                }
                "template" => {
                    first(&mut seen, 8)?;
                    s.opt_box(&mut spec.template, Self::pod_template)?;
                }
                "jobTemplate" => {
                    first(&mut seen, 16)?;
                    s.opt_box(&mut spec.job_template, Self::job_template)?;
                }
                "volumes" => {
                    first(&mut seen, 32)?;
                    spec.volumes = s.opt(Self::volumes)?;
                }
                _ => s.skip_value()?,
            }
            Some(())
        })
    }

    fn job_template(&mut self, t: &mut JobTemplateSpec<CowStr<'a>>) -> Option<()> {
        let mut seen = 0;
        self.object(|s, key| {
            if key == "spec" {
                first(&mut seen, 1)?;
                s.opt_in(&mut t.spec, |s, job: &mut JobSpec<CowStr<'a>>| {
                    let mut seen = 0;
                    s.object(|s, key| {
                        if key == "template" {
                            first(&mut seen, 1)?;
                            s.opt_in(&mut job.template, Self::pod_template)
                        } else {
                            s.skip_value()
                        }
                    })
                })
            } else {
                s.skip_value()
            }
        })
    }

    fn pod_template(&mut self, t: &mut PodTemplateSpec<CowStr<'a>>) -> Option<()> {
        let mut seen = 0;
        self.object(|s, key| {
            match key {
                "metadata" => {
                    first(&mut seen, 1)?;
                    s.opt_in(&mut t.metadata, Self::meta)?;
                }
                "spec" => {
                    first(&mut seen, 2)?;
                    s.opt_in(&mut t.spec, Self::pod_spec)?;
                }
                _ => s.skip_value()?,
            }
            Some(())
        })
    }

    fn pod_spec(&mut self, spec: &mut PodSpec<CowStr<'a>>) -> Option<()> {
        let mut seen = 0;
        self.object(|s, key| {
            match key {
                "containers" => {
                    first(&mut seen, 1)?;
                    spec.containers = s.opt(Self::containers)?;
                }
                "initContainers" => {
                    first(&mut seen, 2)?;
                    spec.init_containers = s.opt(Self::containers)?;
                }
                "ephemeralContainers" => {
                    first(&mut seen, 4)?;
                    spec.ephemeral_containers = s.opt(Self::containers)?;
                }
                "volumes" => {
                    first(&mut seen, 8)?;
                    spec.volumes = s.opt(Self::volumes)?;
                }
                _ => s.skip_value()?,
            }
            Some(())
        })
    }

    /// A list of volumes: each one's name and image source, every other
    /// source skipped.
    fn volumes(&mut self) -> Option<Vec<Volume<CowStr<'a>>>> {
        self.list(|s| {
            let mut v = Volume::default();
            let mut seen = 0;
            s.object(|s, key| {
                match key {
                    "name" => {
                        first(&mut seen, 1)?;
                        v.name = s.opt_cow()?;
                    }
                    "image" => {
                        first(&mut seen, 2)?;
                        v.image = s.opt(|s| {
                            let mut source = ImageVolumeSource::default();
                            s.struct_of_one("reference", &mut source.reference)?;
                            Some(source)
                        })?;
                    }
                    _ => s.skip_value()?,
                }
                Some(())
            })?;
            Some(v)
        })
    }

    /// A JSON array whose elements are read by `item`.
    #[inline]
    fn list<T>(&mut self, mut item: impl FnMut(&mut Self) -> Option<T>) -> Option<Vec<T>> {
        self.eat(b'[')?;
        self.enter()?;
        let mut list = Vec::new();
        if self.peek()? != b']' {
            loop {
                // Past the bound, read and dropped, as serde does.
                if list.len() > MAX_ENTRIES {
                    self.skip_value()?;
                } else {
                    let entry = item(self)?;
                    object::push_bounded(&mut list, entry);
                }
                if self.peek()? == b',' {
                    self.pos += 1;
                } else {
                    break;
                }
            }
        }
        self.eat(b']')?;
        self.depth -= 1;
        Some(list)
    }

    fn containers(&mut self) -> Option<Vec<Container<CowStr<'a>>>> {
        self.list(Self::container)
    }

    fn container(&mut self) -> Option<Container<CowStr<'a>>> {
        let mut c = Container::default();
        let mut seen = 0;
        self.object(|s, key| {
            match key {
                "name" => {
                    first(&mut seen, 1)?;
                    c.name = s.opt_cow()?;
                }
                "image" => {
                    first(&mut seen, 2)?;
                    c.image = s.opt_cow()?;
                }
                _ => s.skip_value()?,
            }
            Some(())
        })?;
        Some(c)
    }
}

/// Reads one object, the whole of `text`, or `None` when serde must.
pub fn object(text: &str) -> Option<Object<CowStr<'_>>> {
    let mut s = Scanner::new(text);
    let object = s.k8s_object()?;
    s.finish()?;
    Some(object)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// Every kubectl-made object is read, as serde reads it.
    #[test]
    fn reads_every_fixture_as_serde_does() {
        let objects = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/k8s/objects");
        let mut read = 0;
        for entry in std::fs::read_dir(objects).expect("the objects") {
            let path = entry.expect("an entry").path();
            if path.extension().is_some_and(|e| e == "json") {
                let text = std::fs::read_to_string(&path).expect("readable");
                let fast =
                    object(&text).unwrap_or_else(|| panic!("{} left to serde", path.display()));
                let serde: Object<CowStr<'_>> = serde_json::from_str(&text).expect("an object");
                assert_eq!(
                    format!("{fast:?}"),
                    format!("{serde:?}"),
                    "{}",
                    path.display()
                );
                read += 1;
            }
        }
        assert!(read >= 10, "only {read} objects");
        assert!(object(r#"{"kind":"Pod","kind":"Job"}"#).is_none());
        assert!(object(r#"{"kind":"Pod"} x"#).is_none());
    }

    #[test]
    fn plain_run_stops_where_a_byte_by_byte_scan_does() {
        let text = "registry.my.com/é\"x\\y\u{1f}z\u{7f}日本語/abcdefghijklmnop\"";
        for pos in 0..=text.len() {
            let mut s = Scanner::new(text);
            s.pos = pos;
            let naive = text.as_bytes()[pos..]
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
                .unwrap_or(text.len() - pos);
            assert_eq!(s.plain_run(), naive, "from byte {pos}");
        }
    }
}
