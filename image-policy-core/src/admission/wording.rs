//! What a verdict says: the message for people, the warnings and the audit
//! annotations, each naming a bounded number of images and cutting long
//! strings, so that the answer to an object of any shape stays a few KiB.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use super::decide::Judged;
use super::verdict::Place;
use crate::policy::Mode;

/// How many images a message, the warnings or an audit annotation name before
/// they only count the rest: the answer to a review of any number of
/// containers stays a few KiB (the API server puts the message in its error,
/// the warnings in kubectl's output, the annotations in the audit log).
pub const NAMED_IMAGES: usize = 10;

/// Past this many bytes of named images (long or unparseable image strings),
/// the rest are counted, not named, even before [`NAMED_IMAGES`].
pub const NAMED_TEXT: usize = 2048;

/// Names the place for people: `container "web"
/// (spec.containers[0].image)`, `volume "assets"
/// (spec.volumes[0].image.reference)`, or `container 2`.
impl fmt::Display for Place<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Container {
                name,
                list,
                json_path,
            } => {
                f.write_str(list.entry())?;
                f.write_str(" ")?;
                write_named(f, name)?;
                f.write_str(" (")?;
                fmt::Display::fmt(json_path, f)?;
                f.write_str(")")
            }
            Self::Index(i) => write!(f, "container {i}"),
        }
    }
}

/// Appends `place image "x": reason; ...` for the first [`NAMED_IMAGES`]
/// blocking images (fewer when the text passes [`NAMED_TEXT`] bytes), then
/// `; and N more denied images`.
pub(super) fn write_denial_reasons(judged: &[Judged<'_, '_>], out: &mut String) {
    let start = out.len();
    let mut named = 0;
    let mut blocking = judged.iter().filter(|j| j.blocks());
    for j in blocking.by_ref() {
        if named > 0 {
            out.push_str("; ");
        }
        named += 1;
        let _ = write!(out, "{} image ", j.place);
        let _ = write_named(out, j.decision.image());
        let _ = write!(out, ": {}", j.decision);
        if named == NAMED_IMAGES || out.len() - start >= NAMED_TEXT {
            break;
        }
    }
    let rest = blocking.count();
    if rest > 0 {
        out.push_str("; and ");
        push_count(out, rest);
        out.push_str(if rest == 1 {
            " more denied image"
        } else {
            " more denied images"
        });
    }
}

/// One warning per violation that does not block: warn mode, break-glass,
/// and existing images on UPDATE. Audit mode is silent (audit annotations
/// only).
pub(super) fn warnings(judged: &[Judged<'_, '_>]) -> Vec<String> {
    let mut out = Vec::new();
    let mut more = 0;
    for j in judged {
        let d = &j.decision;
        if !d.violates() {
            continue;
        }
        let kind = if d.break_glass_used() {
            "is admitted by break-glass"
        } else if j.existing && !d.allowed() {
            "is already in the object, so it is not blocked"
        } else if d.allowed() && d.mode() == Mode::Warn {
            "(warn mode)"
        } else {
            continue;
        };
        if out.len() == NAMED_IMAGES {
            more += 1;
            continue;
        }
        let mut warning = format!("{} image ", j.place);
        let _ = write_named(&mut warning, d.image());
        let _ = write!(warning, " {kind}: {d}");
        out.push(warning);
    }
    if more > 0 {
        out.push(format!(
            "and {more} more {} with a warning",
            if more == 1 { "image" } else { "images" }
        ));
    }
    out
}

/// The audit annotations (keys without prefix: the API server adds one).
/// Values are comma-separated images; `exempt-images` names with each image
/// the exemptions it used (`IMAGE (exempt from tags (tags.deny[0]) by
/// exempt[0]: REASON)`), bounded as the others.
pub(super) fn audit_annotations(judged: &[Judged<'_, '_>]) -> BTreeMap<&'static str, String> {
    // The keys, and per key the images named so far and the count of the
    // others; the map is built from them at the end, one node for all.
    const KEYS: [&str; 6] = [
        "break-glass",
        "denied-images",
        "existing-images",
        "audited-images",
        "warned-images",
        "exempt-images",
    ];
    let mut values: [(String, usize, usize); 6] = Default::default();
    // `whole`: an entry already cut piece by piece (`exempt-images`).
    let mut add_entry = |key: usize, image: &str, whole: bool| {
        let (value, named, more) = &mut values[key];
        if *named == NAMED_IMAGES || value.len() >= NAMED_TEXT {
            *more += 1;
            return;
        }
        if !value.is_empty() {
            value.push_str(", ");
        }
        if whole {
            value.push_str(image);
        } else {
            let _ = write_cut(value, image);
        }
        *named += 1;
    };
    for j in judged {
        let d = &j.decision;
        let image = d.image();
        if d.break_glass_used() {
            add_entry(0, image, false);
        }
        if j.blocks() {
            add_entry(1, image, false);
        } else if j.existing && d.violates() {
            add_entry(2, image, false);
        } else if d.violates() && d.allowed() {
            match d.mode() {
                Mode::Audit => add_entry(3, image, false),
                Mode::Warn => add_entry(4, image, false),
                Mode::Enforce => {}
            }
        }
        if d.exemption_count() > 0 {
            let mut entry = String::new();
            let _ = write_cut(&mut entry, image);
            entry.push_str(" (");
            for (i, used) in d.exemptions().enumerate() {
                if i > 0 {
                    entry.push_str("; ");
                }
                let _ = write_cut(&mut entry, &used.to_string());
            }
            entry.push(')');
            add_entry(5, &entry, true);
        }
    }
    let mut annotations = BTreeMap::new();
    for (key, (mut value, named, more)) in KEYS.into_iter().zip(values) {
        if named + more == 0 {
            continue;
        }
        if more > 0 {
            value.push_str(", and ");
            push_count(&mut value, more);
            value.push_str(" more");
        }
        annotations.insert(key, value);
    }
    annotations
}

/// The object named for people, as every message of [`decide`](super::decide)
/// and [`mutate`](fn@super::mutate) begins: `Deployment shop/web` (each part
/// cut at [`NAMED_STRING`] bytes).
pub fn object_label(kind: Option<&str>, namespace: Option<&str>, name: Option<&str>) -> String {
    // Pieces into one sized buffer rather than `format!`: this runs for every
    // review, and the message that follows it is appended to the same kind of
    // buffer.
    let kind = cut(kind.unwrap_or("object"));
    let namespace = namespace.map(cut);
    let name = name.map(cut);
    let parts: [&str; 4] = match (namespace, name) {
        (Some(ns), Some(_)) => [kind, " ", ns, "/"],
        (None, Some(_)) => [kind, " ", "", ""],
        (Some(ns), None) => [kind, " in namespace ", ns, ""],
        (None, None) => [kind, "", "", ""],
    };
    let name = name.unwrap_or("");
    let mut label =
        String::with_capacity(parts.iter().map(|p| p.len()).sum::<usize>() + name.len());
    for part in parts {
        label.push_str(part);
    }
    label.push_str(name);
    label
}

/// The longest string (an image, a container, kind, namespace or object
/// name) that a message, a warning or an audit annotation writes whole; a
/// longer one, which only an invalid object has, is cut there (with its
/// length, where it is quoted), so that one string of megabytes does not
/// make an answer of megabytes.
pub const NAMED_STRING: usize = 256;

/// `s`, or its first [`NAMED_STRING`] bytes (at a character boundary).
pub(super) fn cut(s: &str) -> &str {
    if s.len() <= NAMED_STRING {
        return s;
    }
    let mut end = NAMED_STRING;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Writes `s` as [`cut`] cuts it, with `…` when it was cut.
pub(super) fn write_cut<W: fmt::Write + ?Sized>(out: &mut W, s: &str) -> fmt::Result {
    let short = cut(s);
    out.write_str(short)?;
    if short.len() < s.len() {
        out.write_str("…")?;
    }
    Ok(())
}

/// Writes `s` quoted as [`write_quoted`] does, cut as [`cut`] cuts it and
/// then followed by its length: `"aaaa"… (300000 bytes)`.
pub(super) fn write_named<W: fmt::Write + ?Sized>(out: &mut W, s: &str) -> fmt::Result {
    let short = cut(s);
    write_quoted(out, short)?;
    if short.len() < s.len() {
        write!(out, "… ({} bytes)", s.len())?;
    }
    Ok(())
}

/// Writes `s` as `{:?}` writes it: quoted and escaped. A string of printable
/// ASCII without a quote or a backslash, the common case for names and images,
/// is copied as it is, without the per-character escaping of `Debug`.
pub(super) fn write_quoted<W: fmt::Write + ?Sized>(out: &mut W, s: &str) -> fmt::Result {
    if s.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
    {
        out.write_char('"')?;
        out.write_str(s)?;
        out.write_char('"')
    } else {
        write!(out, "{s:?}")
    }
}

/// Appends `n` in decimal, as `{}` would, without the formatting machinery.
pub(super) fn push_count(out: &mut String, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        // `n % 10` is below 10: the cast cannot truncate.
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend(digits[start..].iter().map(|&d| char::from(d)));
}

/// `image` or `images`, as `n` asks ("1 image", "3 images", "1 of 2 images").
pub(super) fn images_noun(n: usize) -> &'static str {
    if n == 1 { "image" } else { "images" }
}

/// The message of [`decide`](super::decide) on an object with images,
/// `reasons` writing the denied ones: `Pod shop/p: 1 of 2 images denied by
/// image policy: ...`, or `Pod shop/p: 2 images allowed`.
pub(super) fn object_message(
    label: &str,
    denied: usize,
    images: usize,
    reasons: &dyn Fn(&mut String),
) -> String {
    // `Pod shop/p: 1 of 2 images denied by image policy: ...`, or
    // `Pod shop/p: 2 images allowed` (never "0 of 2 images allowed").
    let mut message = String::with_capacity(256);
    message.push_str(label);
    message.push_str(": ");
    if denied > 0 {
        push_count(&mut message, denied);
        message.push_str(" of ");
    }
    push_count(&mut message, images);
    message.push(' ');
    message.push_str(images_noun(images));
    if denied > 0 {
        message.push_str(" denied by image policy: ");
        reasons(&mut message);
    } else {
        message.push_str(" allowed");
    }
    message
}

/// The message of [`decide_images`](super::decide_images), `reasons`
/// writing the denied images: empty when none is denied.
pub(super) fn images_message(
    namespace: Option<&str>,
    denied: usize,
    images: usize,
    reasons: &dyn Fn(&mut String),
) -> String {
    if denied == 0 {
        return String::new();
    }
    let pod = match namespace {
        Some(ns) => {
            let mut pod = "pod in namespace ".to_owned();
            let _ = write_cut(&mut pod, ns);
            pod
        }
        None => "pod".to_owned(),
    };
    let mut message = format!(
        "{pod}: {denied} of {images} {} denied: ",
        images_noun(images)
    );
    reasons(&mut message);
    message
}
