//! The fast path of decoding an AdmissionReview: a JSON scanner that reads
//! only the fields the handler needs, straight from the bytes, into the same
//! borrowed structs that serde would build.
//!
//! # Why
//!
//! The derived serde decoders spend most of the handler's time (matching field
//! names through visitors, skipping unknown subtrees value by value). This
//! scanner does the same job in one tight pass: it validates the JSON it skips
//! (strings, escapes, numbers, literals, nesting) and builds only what the
//! handler reads.
//!
//! # Same answers as serde, or none
//!
//! It gives up (`None`) on anything it does not handle exactly as serde_json
//! and the derived decoders would: a syntax error, a field of another type, a
//! field written twice, a string with an escape in a field that is read, a
//! struct written as an array, nesting deeper than [`MAX_DEPTH`], trailing
//! characters. The caller then decodes with serde, which gives the answer or
//! the precise error message. So the scanner changes how fast a review is
//! read, never what is read; a test compares both decoders on every fixture
//! and on crafted edge cases.

use std::borrow::Cow;

use image_policy_core::k8s::{
    Annotations, Container, CowStr, ImageVolumeSource, JobSpec, JobTemplateSpec, Object,
    ObjectMeta, ObjectSpec, PodSpec, PodTemplateSpec, Volume,
};

use super::json::plain_len;
use super::request::{AdmissionReviewIn, GroupVersionKindIn, GroupVersionResourceIn, RequestIn};

/// Deeper than this, the scanner leaves the body to serde_json (whose limit is
/// 128), so that too deep a body gets serde_json's error.
const MAX_DEPTH: u32 = 100;

/// `None`: let serde decide.
type Scan<T> = Option<T>;

struct Scanner<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    depth: u32,
}

/// Decodes an AdmissionReview, or `None` when serde must (see the module docs).
pub(super) fn admission_review(text: &str) -> Scan<AdmissionReviewIn<'_>> {
    let mut s = Scanner {
        text,
        bytes: text.as_bytes(),
        pos: 0,
        depth: 0,
    };
    let review = s.admission_review()?;
    s.ws();
    (s.pos == s.bytes.len()).then_some(review)
}

/// Whether the scanner reads `body` itself (`Ok(true)`), leaves it to serde
/// (`Ok(false)`), or reads something serde would not (`Err`, with what
/// differs): the check of the tests and of the `handler` fuzz target.
#[cfg(any(test, feature = "fuzzing"))]
pub(super) fn agrees_with_serde(body: &str) -> Result<bool, String> {
    let Some(fast) = admission_review(body) else {
        return Ok(false);
    };
    let serde: AdmissionReviewIn<'_> = serde_json::from_str(body)
        .map_err(|e| format!("the scanner read what serde rejects ({e})"))?;
    let (fast, serde) = (format!("{fast:?}"), format!("{serde:?}"));
    if fast == serde {
        Ok(true)
    } else {
        Err(format!("the scanner read {fast}, serde {serde}"))
    }
}

/// Records that a field was read; `None` when it already was (serde rejects a
/// duplicate field).
fn first(seen: &mut u32, bit: u32) -> Scan<()> {
    if *seen & bit != 0 {
        return None;
    }
    *seen |= bit;
    Some(())
}

impl<'a> Scanner<'a> {
    fn ws(&mut self) {
        // Compact JSON, as the API server sends it, has none: one comparison.
        while let Some(&b) = self.bytes.get(self.pos)
            && b <= b' '
            && matches!(b, b' ' | b'\n' | b'\r' | b'\t')
        {
            self.pos += 1;
        }
    }

    /// The next byte after whitespace, not consumed.
    fn peek(&mut self) -> Scan<u8> {
        self.ws();
        self.bytes.get(self.pos).copied()
    }

    fn eat(&mut self, byte: u8) -> Scan<()> {
        (self.peek()? == byte).then(|| self.pos += 1)
    }

    fn literal(&mut self, word: &[u8]) -> Scan<()> {
        let end = self.pos.checked_add(word.len())?;
        (self.bytes.get(self.pos..end)? == word).then(|| self.pos = end)
    }

    /// The length of the run of plain string bytes at `pos` ([`plain_len`]).
    fn plain_run(&self) -> usize {
        plain_len(self.bytes.get(self.pos..).unwrap_or_default())
    }

    /// A string without escapes, borrowed; `None` for anything else.
    fn str(&mut self) -> Scan<&'a str> {
        self.eat(b'"')?;
        let start = self.pos;
        self.pos += self.plain_run();
        (*self.bytes.get(self.pos)? == b'"').then_some(())?;
        let s = self.text.get(start..self.pos)?;
        self.pos += 1;
        Some(s)
    }

    fn cow(&mut self) -> Scan<CowStr<'a>> {
        self.str().map(|s| CowStr(Cow::Borrowed(s)))
    }

    /// A string that is skipped: escapes are checked as serde_json checks
    /// them, not decoded.
    fn skip_str(&mut self) -> Scan<()> {
        self.eat(b'"')?;
        loop {
            self.pos += self.plain_run();
            match *self.bytes.get(self.pos)? {
                b'"' => {
                    self.pos += 1;
                    return Some(());
                }
                b'\\' => {
                    self.pos += 1;
                    match *self.bytes.get(self.pos)? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.pos += 1,
                        b'u' => {
                            let hex = self.bytes.get(self.pos + 1..self.pos + 5)?;
                            hex.iter().all(u8::is_ascii_hexdigit).then_some(())?;
                            self.pos += 5;
                        }
                        _ => return None,
                    }
                }
                _ => return None, // a control character
            }
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
        self.pos - start
    }

    /// A number, by JSON's grammar.
    fn skip_number(&mut self) -> Scan<()> {
        if self.bytes.get(self.pos) == Some(&b'-') {
            self.pos += 1;
        }
        match *self.bytes.get(self.pos)? {
            b'0' => {
                self.pos += 1;
                if let Some(b'0'..=b'9') = self.bytes.get(self.pos) {
                    return None;
                }
            }
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return None,
        }
        if self.bytes.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            (self.digits() > 0).then_some(())?;
        }
        if let Some(b'e' | b'E') = self.bytes.get(self.pos) {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.bytes.get(self.pos) {
                self.pos += 1;
            }
            (self.digits() > 0).then_some(())?;
        }
        Some(())
    }

    fn enter(&mut self) -> Scan<()> {
        self.depth += 1;
        (self.depth <= MAX_DEPTH).then_some(())
    }

    /// Any JSON value, validated and skipped.
    fn skip_value(&mut self) -> Scan<()> {
        match self.peek()? {
            b'"' => self.skip_str(),
            b'{' => {
                self.enter()?;
                self.pos += 1;
                if self.peek()? != b'}' {
                    loop {
                        self.skip_str()?;
                        self.eat(b':')?;
                        self.skip_value()?;
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
            b'[' => {
                self.enter()?;
                self.pos += 1;
                if self.peek()? != b']' {
                    loop {
                        self.skip_value()?;
                        if self.peek()? == b',' {
                            self.pos += 1;
                        } else {
                            break;
                        }
                    }
                }
                self.eat(b']')?;
                self.depth -= 1;
                Some(())
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.skip_number(),
        }
    }

    /// An object: `field` is called with each key, and must read its value.
    /// A key with an escape gives up (serde would unescape it before matching).
    fn object(&mut self, mut field: impl FnMut(&mut Self, &'a str) -> Scan<()>) -> Scan<()> {
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
    fn opt<T>(&mut self, read: impl FnOnce(&mut Self) -> Scan<T>) -> Scan<Option<T>> {
        if self.peek()? == b'n' {
            self.literal(b"null")?;
            Some(None)
        } else {
            read(self).map(Some)
        }
    }

    fn opt_cow(&mut self) -> Scan<Option<CowStr<'a>>> {
        self.opt(Self::cow)
    }

    fn admission_review(&mut self) -> Scan<AdmissionReviewIn<'a>> {
        let (mut api_version, mut kind, mut request) = (None, None, None);
        let mut seen = 0;
        self.object(|s, key| {
            match key {
                "apiVersion" => {
                    first(&mut seen, 1)?;
                    api_version = s.opt_cow()?;
                }
                "kind" => {
                    first(&mut seen, 2)?;
                    kind = s.opt_cow()?;
                }
                "request" => {
                    first(&mut seen, 4)?;
                    request = s.opt(Self::request)?;
                }
                _ => s.skip_value()?,
            }
            Some(())
        })?;
        Some(AdmissionReviewIn {
            api_version,
            kind,
            request,
        })
    }

    fn request(&mut self) -> Scan<RequestIn<'a>> {
        let mut r = RequestIn {
            uid: None,
            kind: None,
            resource: None,
            sub_resource: None,
            operation: None,
            namespace: None,
            name: None,
            object: None,
            old_object: None,
        };
        let mut seen = 0;
        self.object(|s, key| {
            match key {
                "uid" => {
                    first(&mut seen, 1)?;
                    r.uid = s.opt_cow()?;
                }
                "kind" => {
                    first(&mut seen, 2)?;
                    r.kind = s.opt(|s| {
                        let mut kind = None;
                        s.struct_of_one("kind", &mut kind)?;
                        Some(GroupVersionKindIn { kind })
                    })?;
                }
                "resource" => {
                    first(&mut seen, 4)?;
                    r.resource = s.opt(|s| {
                        let mut resource = None;
                        s.struct_of_one("resource", &mut resource)?;
                        Some(GroupVersionResourceIn { resource })
                    })?;
                }
                "subResource" => {
                    first(&mut seen, 8)?;
                    r.sub_resource = s.opt_cow()?;
                }
                "operation" => {
                    first(&mut seen, 16)?;
                    r.operation = s.opt_cow()?;
                }
                "namespace" => {
                    first(&mut seen, 32)?;
                    r.namespace = s.opt_cow()?;
                }
                "name" => {
                    first(&mut seen, 64)?;
                    r.name = s.opt_cow()?;
                }
                "object" => {
                    first(&mut seen, 128)?;
                    r.object = s.opt(Self::k8s_object)?;
                }
                "oldObject" => {
                    first(&mut seen, 256)?;
                    r.old_object = s.opt(Self::k8s_object)?;
                }
                _ => s.skip_value()?,
            }
            Some(())
        })?;
        Some(r)
    }

    /// An object with one string field that is read (`kind` of a
    /// GroupVersionKind, `resource` of a GroupVersionResource, `reference` of
    /// an image volume).
    fn struct_of_one(&mut self, name: &str, out: &mut Option<CowStr<'a>>) -> Scan<()> {
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

    fn k8s_object(&mut self) -> Scan<Object<CowStr<'a>>> {
        let mut o = Object::default();
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
                    o.metadata = s.opt(Self::meta)?;
                }
                "spec" => {
                    first(&mut seen, 8)?;
                    o.spec = s.opt(Self::object_spec)?;
                }
                "template" => {
                    first(&mut seen, 16)?;
                    o.template = s.opt(|s| s.pod_template().map(Box::new))?;
                }
                _ => s.skip_value()?,
            }
            Some(())
        })?;
        Some(o)
    }

    fn meta(&mut self) -> Scan<ObjectMeta<CowStr<'a>>> {
        let mut m = ObjectMeta::default();
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
                            pairs.push((CowStr(Cow::Borrowed(key)), s.cow()?));
                            Some(())
                        })?;
                        Some(Annotations(pairs))
                    })?;
                }
                _ => s.skip_value()?,
            }
            Some(())
        })?;
        Some(m)
    }

    fn object_spec(&mut self) -> Scan<ObjectSpec<CowStr<'a>>> {
        let mut spec = ObjectSpec::default();
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
                    spec.template = s.opt(|s| s.pod_template().map(Box::new))?;
                }
                "jobTemplate" => {
                    first(&mut seen, 16)?;
                    spec.job_template = s.opt(|s| s.job_template().map(Box::new))?;
                }
                "volumes" => {
                    first(&mut seen, 32)?;
                    spec.volumes = s.opt(Self::volumes)?;
                }
                _ => s.skip_value()?,
            }
            Some(())
        })?;
        Some(spec)
    }

    fn job_template(&mut self) -> Scan<JobTemplateSpec<CowStr<'a>>> {
        let mut t = JobTemplateSpec::default();
        let mut seen = 0;
        self.object(|s, key| {
            if key == "spec" {
                first(&mut seen, 1)?;
                t.spec = s.opt(|s| {
                    let mut job = JobSpec::default();
                    let mut seen = 0;
                    s.object(|s, key| {
                        if key == "template" {
                            first(&mut seen, 1)?;
                            job.template = s.opt(Self::pod_template)?;
                            Some(())
                        } else {
                            s.skip_value()
                        }
                    })?;
                    Some(job)
                })?;
                Some(())
            } else {
                s.skip_value()
            }
        })?;
        Some(t)
    }

    fn pod_template(&mut self) -> Scan<PodTemplateSpec<CowStr<'a>>> {
        let mut t = PodTemplateSpec::default();
        let mut seen = 0;
        self.object(|s, key| {
            match key {
                "metadata" => {
                    first(&mut seen, 1)?;
                    t.metadata = s.opt(Self::meta)?;
                }
                "spec" => {
                    first(&mut seen, 2)?;
                    t.spec = s.opt(Self::pod_spec)?;
                }
                _ => s.skip_value()?,
            }
            Some(())
        })?;
        Some(t)
    }

    fn pod_spec(&mut self) -> Scan<PodSpec<CowStr<'a>>> {
        let mut spec = PodSpec::default();
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
        })?;
        Some(spec)
    }

    /// A list of volumes: each one's name and image source, every other
    /// source skipped.
    fn volumes(&mut self) -> Scan<Vec<Volume<CowStr<'a>>>> {
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
    fn list<T>(&mut self, mut item: impl FnMut(&mut Self) -> Scan<T>) -> Scan<Vec<T>> {
        self.eat(b'[')?;
        self.enter()?;
        let mut list = Vec::new();
        if self.peek()? != b']' {
            loop {
                list.push(item(self)?);
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

    fn containers(&mut self) -> Scan<Vec<Container<CowStr<'a>>>> {
        self.list(Self::container)
    }

    fn container(&mut self) -> Scan<Container<CowStr<'a>>> {
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn testdata(rel: &str) -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../testdata")
            .join(rel);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// The scanner's answer, when it gives one, is serde's; returns whether
    /// it gave one.
    fn agrees(body: &str) -> bool {
        agrees_with_serde(body).unwrap_or_else(|e| panic!("{e}: {body}"))
    }

    fn review_of(object: &str, old_object: &str) -> String {
        format!(
            r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{{"uid":"u","kind":{{"group":"apps","version":"v1","kind":"X"}},"resource":{{"group":"","version":"v1","resource":"xs"}},"subResource":"","operation":"UPDATE","namespace":"ns","name":"n","object":{object},"oldObject":{old_object}}}}}"#
        )
    }

    #[test]
    fn reads_every_fixture_as_serde_does() {
        for review in [
            "webhook/admissionreview-deployment.json",
            "webhook/admissionreview-pod-debug.json",
            "webhook/admissionreview-pod-image-volume.json",
            "webhook/admissionreview-deployment-image-volume-update.json",
        ] {
            assert!(agrees(&testdata(review)), "{review} left to serde");
        }
        let objects = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/k8s/objects");
        let mut read = 0;
        for entry in std::fs::read_dir(objects).expect("the objects") {
            let path = entry.expect("an entry").path();
            if path.extension().is_some_and(|e| e == "json") {
                let object = std::fs::read_to_string(&path).expect("readable");
                // Pretty-printed, as kubectl writes them: whitespace everywhere.
                assert!(
                    agrees(&review_of(&object, &object)),
                    "{} left to serde",
                    path.display()
                );
                read += 1;
            }
        }
        assert!(read >= 10, "only {read} objects");
    }

    /// Bad requests and objects whose images cannot be found: the scanner
    /// either agrees with serde or leaves the body to it.
    #[test]
    fn agrees_or_leaves_the_error_cases_to_serde() {
        for line in testdata("webhook/bad-requests.jsonl").lines() {
            let case: serde_json::Value = serde_json::from_str(line).expect("a case");
            // Bodies that are not UTF-8 (`body_hex`) never reach the scanner.
            if let Some(body) = case["body"].as_str() {
                agrees(body);
            }
        }
        for line in testdata("k8s/errors.jsonl").lines() {
            let case: serde_json::Value = serde_json::from_str(line).expect("a case");
            let object = case["object"].as_str().expect("an object");
            agrees(&review_of(object, "null"));
        }
    }

    /// Every one-byte deletion or replacement of the committed reviews (a
    /// Deployment, and a Pod with an image volume; about 20,000 bodies each,
    /// valid or not): the scanner agrees with serde or leaves the body to it,
    /// and it still reads most of them itself.
    #[test]
    fn agrees_on_every_one_byte_mutation() {
        for name in [
            "webhook/admissionreview-deployment.json",
            "webhook/admissionreview-pod-image-volume.json",
        ] {
            let review = testdata(name);
            let bytes = review.as_bytes();
            let (mut bodies, mut read) = (0, 0);
            let mut check = |body: Vec<u8>| {
                if let Ok(body) = String::from_utf8(body) {
                    bodies += 1;
                    read += usize::from(agrees(&body));
                }
            };
            for i in 0..bytes.len() {
                let mut deleted = bytes.to_vec();
                deleted.remove(i);
                check(deleted);
                for b in *b"\"\\{}[],:0-1.enu \x01\t" {
                    let mut replaced = bytes.to_vec();
                    replaced[i] = b;
                    check(replaced);
                }
            }
            assert!(bodies > 20_000, "{name}: {bodies} bodies");
            assert!(
                read > bodies / 4,
                "{name}: the scanner read only {read} of {bodies}"
            );
        }
    }

    #[test]
    fn plain_run_stops_where_a_byte_by_byte_scan_does() {
        let text = "registry.my.com/é\"x\\y\u{1f}z\u{7f}日本語/abcdefghijklmnop\"";
        for pos in 0..=text.len() {
            let s = Scanner {
                text,
                bytes: text.as_bytes(),
                pos,
                depth: 0,
            };
            let naive = text.as_bytes()[pos..]
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
                .unwrap_or(text.len() - pos);
            assert_eq!(s.plain_run(), naive, "from byte {pos}");
        }
    }

    #[test]
    fn edge_cases() {
        let deep = format!("{}1{}", "[".repeat(120), "]".repeat(120));
        // (object, whether the scanner reads it itself)
        let cases: &[(&str, bool)] = &[
            (
                r#"{"kind":"Pod","apiVersion":"v1","spec":{"containers":[{"name":"a","image":"b"}]}}"#,
                true,
            ),
            (
                r#"{"kind":"Pod","apiVersion":"v1","spec":{"containers":null,"initContainers":[]}}"#,
                true,
            ),
            (
                r#"{"kind":"Pod","metadata":{"annotations":{"a":"1","a":"2","b":""}}}"#,
                true,
            ),
            (
                r#"{"kind":"Pod","x":[1,-2.5e+3,0,0.0,-0,1E9,true,false,null,"\"\\\/\b\f\n\r\t\u00e9",{},[]]}"#,
                true,
            ),
            (
                r#"{"kind":null,"metadata":null,"spec":null,"template":null}"#,
                true,
            ),
            (
                r#"{"kind":"Pod","metadata":{"name":"é-ü","namespace":"日本"}}"#,
                true,
            ),
            (" { \"kind\" : \"Pod\" , \"spec\" : { } } ", true),
            (
                r#"{"kind":"Pod","spec":{"volumes":[{"name":"v","image":{"reference":"evil.io/p:1","pullPolicy":"Always"}},{"name":"c","configMap":{"name":"x"}},{"name":"n","image":null},{"image":{}}]}}"#,
                true,
            ),
            (
                r#"{"kind":"Deployment","spec":{"template":{"spec":{"volumes":null}}}}"#,
                true,
            ),
            // Left to serde: an escape in a field that is read or in a key, a
            // duplicate, a struct as an array, a wrong type, bad JSON.
            (r#"{"kind":"P\u006fd"}"#, false),
            (r#"{"k\u0069nd":"Pod"}"#, false),
            (r#"{"kind":"Pod","kind":"Job"}"#, false),
            (r#"{"spec":{"volumes":[],"volumes":[]}}"#, false),
            (
                r#"{"spec":{"template":{"spec":{"volumes":[{"image":null,"image":{}}]}}}}"#,
                false,
            ),
            (
                r#"{"spec":{"volumes":[{"image":{"reference":"a","reference":"b"}}]}}"#,
                false,
            ),
            (
                r#"{"spec":{"volumes":[{"image":{"reference":"\u0061"}}]}}"#,
                false,
            ),
            (r#"{"spec":{"volumes":[{"image":"evil.io/p:1"}]}}"#, false),
            (r#"{"spec":{"volumes":{"name":"v"}}}"#, false),
            (r#"{"kind":null,"kind":"Job"}"#, false),
            (r#"{"spec":{"containers":[["a","b"]]}}"#, false),
            (r#"{"spec":{"containers":{"name":"a"}}}"#, false),
            (r#"{"kind":1}"#, false),
            (r#"{"metadata":{"annotations":{"a":null}}}"#, false),
            (r#"{"x":01}"#, false),
            (r#"{"x":1.}"#, false),
            (r#"{"x":-}"#, false),
            (r#"{"x":"\x"}"#, false),
            (r#"{"x":"\u12"}"#, false),
            ("{\"x\":\"a\tb\"}", false),
            (r#"{"x":tru}"#, false),
            (r#"{"x":[1,]}"#, false),
            (r#"{"x":1,}"#, false),
            (r#"{"x":1"#, false),
            (&deep, false),
        ];
        for (object, fast) in cases {
            let review = review_of(object, "null");
            assert_eq!(agrees(&review), *fast, "{object}");
        }
        assert!(!agrees(r#"{"apiVersion":"admission.k8s.io/v1"} x"#));
        assert!(!agrees(r#"["admission.k8s.io/v1"]"#));
        assert!(agrees(r#"{"apiVersion":"admission.k8s.io/v1"}"#));
        assert!(agrees("{}\n"));
    }
}
