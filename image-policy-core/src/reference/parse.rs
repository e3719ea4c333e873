//! The hand-written scanner for the reference grammar.
//!
//! One forward pass over the bytes, no allocation on success. The grammar is the
//! one of `distribution/reference` (`regexp.go`), written out as code:
//!
//! ```text
//! reference      := name [ ":" tag ] [ "@" digest ]
//! name           := [ domain-and-port "/" ] path-component { "/" path-component }
//! domain-and-port:= host [ ":" [0-9]+ ]
//! host           := domain-component { "." domain-component } | "[" [a-fA-F0-9:]+ "]"
//! domain-component := [a-zA-Z0-9] | [a-zA-Z0-9] [a-zA-Z0-9-]* [a-zA-Z0-9]
//! path-component := [a-z0-9]+ { separator [a-z0-9]+ }
//! separator      := "." | "_" | "__" | "-"+
//! tag            := [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127}
//! digest         := algorithm ":" [0-9a-fA-F]{32,}
//! algorithm      := [A-Za-z][A-Za-z0-9]* { [-_+.] [A-Za-z][A-Za-z0-9]* }
//! ```

use super::error::{ParseError, ParseErrorKind};
use super::{Algorithm, Span};

/// The longest repository path (`distribution/reference`'s
/// `RepositoryNameTotalLengthMax`).
pub(crate) const PATH_MAX: usize = 255;
/// The longest tag.
pub(crate) const TAG_MAX: usize = 128;
/// The Docker Hub official-image namespace added to single-component names.
pub(crate) const LIBRARY_PREFIX: &str = "library/";

/// Where the domain of a parsed reference comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DomainSource {
    /// Not written; `docker.io` implied (normalized parsing only).
    Implied,
    /// Written at this span; `folded` when it was `index.docker.io`, read as `docker.io`.
    Written { span: Span, folded: bool },
    /// No domain at all: verbatim parsing of a name without one, or the
    /// upstream quirk where a would-be domain (`a_b.c/d`) is not a valid host
    /// but is a valid path component.
    Absent,
}

/// The parts of a reference, as spans of the input.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Parsed {
    pub(crate) domain: DomainSource,
    pub(crate) path: Span,
    pub(crate) library: bool,
    pub(crate) tag: Option<Span>,
    /// The encoded part (the hex digits) of the digest, and its algorithm.
    pub(crate) digest: Option<(Algorithm, Span)>,
}

/// Byte classes, one bit each, looked up in [`CLASS`]: one load and one test
/// per byte in the scanning loops instead of a chain of range comparisons.
const LOWER_ALNUM: u16 = 1 << 0; // [a-z0-9]
const ALNUM: u16 = 1 << 1; // [A-Za-z0-9]
const WORD: u16 = 1 << 2; // [A-Za-z0-9_]
const TAG: u16 = 1 << 3; // [A-Za-z0-9_.-]
const HOST: u16 = 1 << 4; // [A-Za-z0-9-]
const HEX: u16 = 1 << 5; // [0-9A-Fa-f]
const DIGIT: u16 = 1 << 6; // [0-9]
const HOST_HINT: u16 = 1 << 7; // [.:A-Z]: a first component with one is a host
const NON_ASCII: u16 = 1 << 8;
const IPV6: u16 = 1 << 9; // [0-9A-Fa-f:]
const LOWER_HEX: u16 = 1 << 10; // [0-9a-f]

static CLASS: [u16; 256] = {
    let mut t = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        let mut bits = 0;
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            bits |= LOWER_ALNUM;
        }
        if c.is_ascii_alphanumeric() {
            bits |= ALNUM | WORD | TAG | HOST;
        }
        if c == b'_' {
            bits |= WORD | TAG;
        }
        if c == b'.' || c == b'-' {
            bits |= TAG;
        }
        if c == b'-' {
            bits |= HOST;
        }
        if c.is_ascii_hexdigit() {
            bits |= HEX | IPV6;
        }
        if c == b':' {
            bits |= IPV6;
        }
        if c.is_ascii_digit() || matches!(c, b'a'..=b'f') {
            bits |= LOWER_HEX;
        }
        if c.is_ascii_digit() {
            bits |= DIGIT;
        }
        if c == b'.' || c == b':' || c.is_ascii_uppercase() {
            bits |= HOST_HINT;
        }
        if !c.is_ascii() {
            bits |= NON_ASCII;
        }
        t[i] = bits;
        i += 1;
    }
    t
};

#[inline(always)]
fn is(c: u8, class: u16) -> bool {
    CLASS[c as usize] & class != 0
}

#[inline(always)]
fn is_lower_alnum(b: u8) -> bool {
    is(b, LOWER_ALNUM)
}

#[inline(always)]
fn is_word(b: u8) -> bool {
    is(b, WORD)
}

/// The index of the first byte of `b` at or after `i` that is not in `class`.
#[inline(always)]
fn skip(b: &[u8], i: usize, class: u16) -> usize {
    let rest = &b[i..];
    i + rest
        .iter()
        .position(|&c| !is(c, class))
        .unwrap_or(rest.len())
}

/// Parses `s` as `ParseNormalizedNamed` does (`normalize`) or as `Parse` does.
///
/// A failure is its kind and byte offset: the caller decides whether to build
/// a [`ParseError`] (which copies the input) or only to deny.
pub(crate) fn parse(s: &str, normalize: bool) -> Result<Parsed, (ParseErrorKind, usize)> {
    let b = s.as_bytes();
    if b.is_empty() {
        return Err((ParseErrorKind::Empty, 0));
    }
    if normalize && is_identifier(s) {
        return Err((ParseErrorKind::HexRepositoryName, 0));
    }

    // One pass finds the first '/' and the classes of the bytes before it
    // (references are short: a byte loop beats a memchr and a second pass).
    let mut seen = 0u16;
    let slash = b.iter().position(|&c| {
        seen |= CLASS[c as usize];
        c == b'/'
    });
    let (domain, path_start) = match slash {
        None if normalize => (DomainSource::Implied, 0),
        None => (DomainSource::Absent, 0),
        Some(slash) => {
            let first = &s[..slash];
            if normalize && !looks_like_domain(first, seen) {
                (DomainSource::Implied, 0)
            } else {
                match check_domain(b, 0, slash) {
                    Ok(()) => (
                        DomainSource::Written {
                            span: Span::new(0, slash),
                            folded: normalize && first == "index.docker.io",
                        },
                        slash + 1,
                    ),
                    // Not a host, but the grammar lets the whole name be a path.
                    Err(_) if is_path_component(first.as_bytes()) => (DomainSource::Absent, 0),
                    Err(at) => {
                        return Err(error(
                            s,
                            normalize,
                            slash + 1,
                            at,
                            ParseErrorKind::InvalidDomain,
                        ));
                    }
                }
            }
        }
    };

    let rest =
        scan_rest(b, path_start).map_err(|(kind, at)| error(s, normalize, path_start, at, kind))?;

    let library = normalize
        && !rest.nested
        && match domain {
            DomainSource::Implied => true,
            DomainSource::Written { span, folded } => folded || span.slice(s) == "docker.io",
            DomainSource::Absent => false,
        };

    let path_len = rest.path_end - path_start + if library { LIBRARY_PREFIX.len() } else { 0 };
    if path_len > PATH_MAX {
        let at = rest.path_end - (path_len - PATH_MAX);
        return Err((ParseErrorKind::NameTooLong, at));
    }

    let digest = match rest.digest {
        None => None,
        Some(span) => Some(validate_digest(b, span)?),
    };

    Ok(Parsed {
        domain,
        path: Span::new(path_start, rest.path_end),
        library,
        tag: rest.tag,
        digest,
    })
}

/// `splitDockerDomain`'s test: is the first component (before the first `/`)
/// a registry host rather than the first component of a Docker Hub path?
/// `seen` is the union of the [`CLASS`]es of its bytes.
fn looks_like_domain(first: &str, seen: u16) -> bool {
    seen & HOST_HINT != 0
        || first == "localhost"
        || (seen & NON_ASCII != 0 && first.chars().any(changes_when_lowercased))
}

/// Whether Go's `unicode.ToLower` changes `c` (upstream lowercases with it).
fn changes_when_lowercased(c: char) -> bool {
    let mut lower = c.to_lowercase();
    lower.next() != Some(c) || lower.next().is_some()
}

/// Is `s` exactly 64 lowercase hex digits (`anchoredIdentifierRegexp`)?
pub(crate) fn is_identifier(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
}

/// Builds the error for a grammar failure found at `at`, with the kind a person
/// needs: uppercase letters in the repository name are named as such, as
/// upstream does before it even looks at the grammar.
#[cold]
fn error(
    s: &str,
    normalize: bool,
    path_start: usize,
    at: usize,
    kind: ParseErrorKind,
) -> (ParseErrorKind, usize) {
    let b = s.as_bytes();
    // Upstream checks the repository name (the rest up to the first ':') for
    // uppercase before the grammar, and retries a failed match in lowercase.
    if normalize {
        let remote_end = b[path_start.min(b.len())..]
            .iter()
            .position(|&c| c == b':')
            .map_or(b.len(), |i| path_start + i);
        if let Some((i, _)) = s
            .get(path_start.min(b.len())..remote_end)
            .and_then(|remote| {
                remote
                    .char_indices()
                    .find(|&(_, c)| changes_when_lowercased(c))
            })
        {
            return (ParseErrorKind::Uppercase, path_start + i);
        }
    }
    let in_path = matches!(
        kind,
        ParseErrorKind::InvalidPathComponent | ParseErrorKind::UnexpectedCharacter
    );
    let kind = match b.get(at) {
        Some(c) if in_path && c.is_ascii_uppercase() => ParseErrorKind::Uppercase,
        Some(c) if !c.is_ascii_graphic() => ParseErrorKind::UnexpectedCharacter,
        _ => kind,
    };
    (kind, at)
}

/// Validates `b[start..end]` as `domainAndPort`; on failure, the offset of the
/// first byte that does not fit.
pub(crate) fn check_domain(b: &[u8], start: usize, end: usize) -> Result<(), usize> {
    let b = &b[..end];
    let mut i = start;
    if i < end && b[i] == b'[' {
        i += 1;
        let content = i;
        i = skip(b, i, IPV6);
        if i == content || i >= end || b[i] != b']' {
            return Err(i);
        }
        i += 1;
    } else {
        loop {
            if i >= end || !is(b[i], ALNUM) {
                return Err(i);
            }
            i = skip(b, i + 1, HOST);
            if b[i - 1] == b'-' {
                return Err(i - 1);
            }
            if i < end && b[i] == b'.' {
                i += 1;
                continue;
            }
            break;
        }
    }
    if i < end && b[i] == b':' {
        i += 1;
        let digits = i;
        i = skip(b, i, DIGIT);
        if i == digits {
            return Err(i);
        }
    }
    if i != end { Err(i) } else { Ok(()) }
}

/// Is `b` one whole path component?
fn is_path_component(b: &[u8]) -> bool {
    matches!(scan_component(b, 0), Ok(end) if end == b.len())
}

/// Scans one path component from `i`; returns where it ends.
#[inline]
fn scan_component(b: &[u8], mut i: usize) -> Result<usize, usize> {
    let len = b.len();
    if i >= len || !is_lower_alnum(b[i]) {
        return Err(i);
    }
    i += 1;
    loop {
        i = skip(b, i, LOWER_ALNUM);
        if i >= len {
            return Ok(i);
        }
        match b[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if i < len && b[i] == b'_' {
                    i += 1;
                }
            }
            b'-' => {
                while i < len && b[i] == b'-' {
                    i += 1;
                }
            }
            _ => return Ok(i),
        }
        if i >= len || !is_lower_alnum(b[i]) {
            return Err(i);
        }
    }
}

/// The path, tag and digest spans of a reference's rest (after the domain).
struct Rest {
    path_end: usize,
    /// Whether the path has more than one component.
    nested: bool,
    tag: Option<Span>,
    /// The whole digest, `algorithm:encoded`.
    digest: Option<Span>,
}

/// Scans `path [":" tag] ["@" digest]` from `start` to the end of `b`.
fn scan_rest(b: &[u8], start: usize) -> Result<Rest, (ParseErrorKind, usize)> {
    let len = b.len();
    let mut i = start;
    let mut nested = false;
    let path_end = loop {
        i = scan_component(b, i).map_err(|at| (ParseErrorKind::InvalidPathComponent, at))?;
        match b.get(i) {
            None | Some(b':') | Some(b'@') => break i,
            Some(b'/') => {
                nested = true;
                i += 1;
            }
            Some(_) => return Err((ParseErrorKind::UnexpectedCharacter, i)),
        }
    };

    let mut tag = None;
    if b.get(i) == Some(&b':') {
        let t = i + 1;
        if t >= len || !is_word(b[t]) {
            return Err((ParseErrorKind::InvalidTag, t));
        }
        i = skip(b, t + 1, TAG);
        if i - t > TAG_MAX {
            return Err((ParseErrorKind::TagTooLong, t + TAG_MAX));
        }
        if i < len && b[i] != b'@' {
            return Err((ParseErrorKind::InvalidTag, i));
        }
        tag = Some(Span::new(t, i));
    }

    let mut digest = None;
    if b.get(i) == Some(&b'@') {
        let d = i + 1;
        let end = scan_digest_grammar(b, d).map_err(|at| (ParseErrorKind::InvalidDigest, at))?;
        if end != len {
            return Err((ParseErrorKind::InvalidDigest, end));
        }
        digest = Some(Span::new(d, end));
    }
    debug_assert!(digest.is_some() || tag.is_some() || i == len);
    Ok(Rest {
        path_end,
        nested,
        tag,
        digest,
    })
}

/// Scans the reference grammar's digest (`algorithm:hex{32,}`) from `d`;
/// returns its end (the end of the hex run).
pub(crate) fn scan_digest_grammar(b: &[u8], d: usize) -> Result<usize, usize> {
    let len = b.len();
    let mut i = d;
    loop {
        if i >= len || !b[i].is_ascii_alphabetic() {
            return Err(i);
        }
        i = skip(b, i + 1, ALNUM);
        if i < len && matches!(b[i], b'-' | b'_' | b'+' | b'.') {
            i += 1;
            continue;
        }
        break;
    }
    if i >= len || b[i] != b':' {
        return Err(i);
    }
    let hex = i + 1;
    i = skip(b, hex, HEX);
    if i - hex < 32 {
        return Err(i);
    }
    Ok(i)
}

/// Validates a digest that matched the grammar as `go-digest` does: a supported
/// algorithm, the right length, lowercase hex. Returns the algorithm and the
/// span of the encoded part.
fn validate_digest(b: &[u8], span: Span) -> Result<(Algorithm, Span), (ParseErrorKind, usize)> {
    let colon = span.start
        + b[span.start..span.end]
            .iter()
            .position(|&c| c == b':')
            .unwrap_or(0);
    let encoded = Span::new(colon + 1, span.end);
    let algorithm = &b[span.start..colon];
    match Algorithm::from_bytes(algorithm) {
        Some(alg) => {
            if encoded.len() != alg.hex_len() {
                return Err((ParseErrorKind::DigestLength, encoded.start));
            }
            // The grammar let only hex through: the first byte that is not
            // lowercase hex is an uppercase letter.
            let lower_end = skip(&b[..encoded.end], encoded.start, LOWER_HEX);
            if lower_end != encoded.end {
                return Err((ParseErrorKind::InvalidDigest, lower_end));
            }
            Ok((alg, encoded))
        }
        None => {
            // go-digest: an unknown algorithm is "unsupported" when the digest is
            // otherwise well formed (a lowercase algorithm), else "invalid".
            match algorithm.iter().position(|c| c.is_ascii_uppercase()) {
                Some(i) => Err((ParseErrorKind::InvalidDigest, span.start + i)),
                None => Err((ParseErrorKind::UnsupportedDigest, span.start)),
            }
        }
    }
}

/// `go-digest`'s `Parse`: `algorithm:encoded` with a supported algorithm, the
/// right length and lowercase hex; an unsupported algorithm is
/// [`ParseErrorKind::UnsupportedDigest`] when the rest is well formed.
pub(crate) fn parse_digest(s: &str) -> Result<(Algorithm, Span), ParseError> {
    let b = s.as_bytes();
    let err = |kind, at| ParseError::new(kind, at, s);
    let colon = match b.iter().position(|&c| c == b':') {
        Some(i) if i > 0 && i + 1 < b.len() => i,
        _ => return Err(err(ParseErrorKind::InvalidDigest, 0)),
    };
    let encoded = Span::new(colon + 1, b.len());
    match Algorithm::from_bytes(&b[..colon]) {
        Some(alg) => {
            if encoded.len() != alg.hex_len() {
                return Err(err(ParseErrorKind::DigestLength, encoded.start));
            }
            match b[encoded.start..]
                .iter()
                .position(|&c| !(c.is_ascii_digit() || (b'a'..=b'f').contains(&c)))
            {
                Some(i) => Err(err(ParseErrorKind::InvalidDigest, encoded.start + i)),
                None => Ok((alg, encoded)),
            }
        }
        None => {
            // DigestRegexpAnchored: [a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+
            let alg_ok = b[..colon]
                .split(|&c| matches!(c, b'.' | b'+' | b'_' | b'-'))
                .all(|part| !part.is_empty() && part.iter().all(|&c| is_lower_alnum(c)));
            let enc_ok = b[encoded.start..]
                .iter()
                .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'=' | b'_' | b'-'));
            if alg_ok && enc_ok {
                Err(err(ParseErrorKind::UnsupportedDigest, 0))
            } else {
                Err(err(ParseErrorKind::InvalidDigest, 0))
            }
        }
    }
}

/// Is `s` a tag (`[\w][\w.-]{0,127}`)?
pub(crate) fn is_tag(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= TAG_MAX
        && is_word(b[0])
        && b[1..].iter().all(|&c| is_word(c) || c == b'.' || c == b'-')
}

/// Splits `s` as `anchoredNameRegexp` does: an optional domain and a path,
/// no tag or digest. Returns the domain span (if any) and the path span.
pub(crate) fn split_name(s: &str) -> Option<(Option<Span>, Span)> {
    let b = s.as_bytes();
    let (domain, start) = match b.iter().position(|&c| c == b'/') {
        Some(slash) if check_domain(b, 0, slash).is_ok() => (Some(Span::new(0, slash)), slash + 1),
        _ => (None, 0),
    };
    let mut i = start;
    loop {
        i = scan_component(b, i).ok()?;
        match b.get(i) {
            None => return Some((domain, Span::new(start, i))),
            Some(b'/') => i += 1,
            Some(_) => return None,
        }
    }
}

/// Splits `s` as `ReferenceRegexp` does (grammar only: no normalization, no
/// length limit, any digest algorithm with at least 32 hex digits): the name,
/// the tag and the whole digest.
pub(crate) fn split_reference(s: &str) -> Option<(Span, Option<Span>, Option<Span>)> {
    let b = s.as_bytes();
    let start = match b.iter().position(|&c| c == b'/') {
        Some(slash) if check_domain(b, 0, slash).is_ok() => slash + 1,
        _ => 0,
    };
    let rest = scan_rest(b, start).ok()?;
    Some((Span::new(0, rest.path_end), rest.tag, rest.digest))
}
