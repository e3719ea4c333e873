//! Image references, parsed exactly as the container runtime parses them.
//!
//! Kubernetes hands the `image` string of a container to the container runtime,
//! and containerd (like Docker) reads it with `github.com/distribution/reference`
//! (`ParseNormalizedNamed`, then `ParseDockerRef`). A policy that reads the
//! string any other way can be bypassed, so this module implements that grammar
//! and its normalization rules byte for byte, tested against the upstream test
//! tables and a sample of upstream's answers.
//!
//! # Grammar
//!
//! ```text
//! reference        := name [ ":" tag ] [ "@" digest ]
//! name             := [ domain "/" ] path
//! domain           := host [ ":" port ]
//! host             := DNS name (labels of [A-Za-z0-9-], not starting or ending with "-")
//!                   | IPv4 address (a DNS name, to the grammar)
//!                   | "[" IPv6 address "]"
//! port             := [0-9]+
//! path             := component { "/" component }
//! component        := [a-z0-9]+ { separator [a-z0-9]+ }
//! separator        := "." | "_" | "__" | one or more "-"
//! tag              := [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127}
//! digest           := algorithm ":" hex
//! ```
//!
//! - The repository path is at most 255 bytes, counted after normalization.
//! - A digest is `sha256` with 64, `sha384` with 96 or `sha512` with 128 lowercase
//!   hex digits. A well-formed digest of another algorithm is
//!   [unsupported](ParseErrorKind::UnsupportedDigest), a wrong length is
//!   [its own error](ParseErrorKind::DigestLength).
//! - A reference may have both a tag and a digest (`app:1.0@sha256:…`); the
//!   runtime then pulls by digest and ignores the tag.
//! - Only ASCII is allowed anywhere; the host and the tag may have uppercase
//!   letters, the path may not.
//!
//! # Normalization
//!
//! [`ImageRef::parse`] (and [`Reference`]'s `FromStr`) normalize the way
//! `ParseNormalizedNamed` does:
//!
//! | input | domain | path | tag | canonical | familiar |
//! |---|---|---|---|---|---|
//! | `prometheus:2.6.1` | `docker.io` | `library/prometheus` | `2.6.1` | `docker.io/library/prometheus:2.6.1` | `prometheus:2.6.1` |
//! | `nginx` | `docker.io` | `library/nginx` | (implicit `latest`) | `docker.io/library/nginx` | `nginx` |
//! | `index.docker.io/library/nginx` | `docker.io` | `library/nginx` | | `docker.io/library/nginx` | `nginx` |
//! | `bitnami/redis` | `docker.io` | `bitnami/redis` | | `docker.io/bitnami/redis` | `bitnami/redis` |
//! | `registry.my.com:5000/team/app` | `registry.my.com:5000` | `team/app` | | same | same |
//! | `localhost/app` | `localhost` | `app` | | same | same |
//! | `Foo/bar` | `Foo` | `bar` | | same | same |
//! | `[::1]:5000/x` | `[::1]:5000` | `x` | | same | same |
//! | `reg:5000` | `docker.io` | `library/reg` | `5000` | `docker.io/library/reg:5000` | `reg:5000` |
//!
//! The rules, in order:
//!
//! 1. A string of exactly 64 lowercase hex digits is rejected: Docker reads it
//!    as an image ID.
//! 2. The part before the first `/` is a registry host when it contains `.` or
//!    `:`, is `localhost`, or has an uppercase letter. Otherwise the whole
//!    string is a Docker Hub path and the domain is `docker.io`.
//! 3. `index.docker.io` is folded to `docker.io` (only when written exactly so).
//! 4. A Docker Hub path of one component gets the `library/` prefix.
//! 5. The *canonical* form is `domain/path[:tag][@digest]`, with no tag added.
//!    The *familiar* form drops `docker.io/` and a `library/` prefix of a
//!    single component, as `docker` prints names. The *Docker reference*
//!    ([`ImageRef::docker_ref`]) is what the runtime pulls: `:latest` added
//!    when neither tag nor digest is written, the tag dropped when a digest is.
//!
//! One upstream quirk is kept, because the runtime has it: a first component
//! that contains `.` and `_` (`a_b.c/d`) is not a valid host, but the grammar
//! allows the whole name as a path, so the reference has *no* domain
//! ([`ImageRef::domain`] is empty) and the path is `a_b.c/d`. The runtime
//! still pulls it from `a_b.c`: see [the pull host](#the-pull-host).
//!
//! # The pull host
//!
//! What the runtime contacts is not the grammar's domain but the text before
//! the first `/` of the normalized reference: containerd's CRI plugin
//! normalizes the image (`ParseDockerRef`), prints it, and its resolver takes
//! the host from that string (`reference.Parse`, `Spec.Hostname`). For every
//! reference with a domain the two are the same. For the quirk above they are
//! not: `x_y.evil.com/app` has no domain, its canonical form is
//! `x_y.evil.com/app`, and containerd contacts `x_y.evil.com` (Go's URL and
//! DNS code accept the underscore). [`ImageRef::pull_host`] is that host and
//! [`ImageRef::pull_path`] the path on it; the policy engine judges both views
//! (see [`crate::policy`]).
//!
//! Docker Hub has several names and one pull host. `index.docker.io` is
//! folded to `docker.io` by the grammar (rule 3 above), and the policy's
//! registry rules compare `registry-1.docker.io` and `index.docker.io` (in
//! any case) as `docker.io` too; the pull host of a Docker Hub name is `docker.io`, the
//! text containerd's resolver starts from (it then sends Docker Hub's
//! requests to `registry-1.docker.io`, a fixed mapping, not a choice of the
//! name). Mirrors (containerd's `hosts.toml`, CRI-O's `registries.conf`
//! `mirror` entries) change where the bytes come from, never the name: an
//! image is judged by its name and pull host whatever mirror serves it; to
//! send images to another registry *by name*, use rewrite rules
//! ([`crate::policy::rewrite`]), which change the name before it is judged.
//!
//! This section is the one explanation of the pull host; the READMEs, the
//! webhook's and the linter's docs link here.
//!
//! The quirk is the only case: a first component is read as a domain when it
//! contains `.` or `:`, is `localhost` or has an uppercase letter; when the
//! domain grammar then rejects it, the name is still accepted only if that
//! component is a valid path component (lowercase, no `:`), and a path
//! component with a `.` is a valid host unless it has an `_`. Every other
//! near-host (double dots, a leading or trailing `-` in a label, a bad port,
//! a broken IPv6 bracket, uppercase with `_`) is a parse error, and the image
//! is denied. The property tests check this on generated names, and a test
//! compares the pull host with what containerd's own code computes.
//!
//! [`ImageRef::parse_verbatim`] parses without normalization, as upstream's
//! `Parse` does (`test_com` is then a path, `foo/bar` has domain `foo`).
//!
//! # Borrowed and owned
//!
//! [`ImageRef`] is a `Copy` view into the input, made without allocating; use it
//! on hot paths. [`Reference`] owns its canonical string (one allocation) and is
//! what to store, hash, sort or (de)serialize. [`ImageRef::into_owned`] and
//! [`Reference::as_image_ref`] convert.
//!
//! ```
//! use image_policy_core::reference::{ImageRef, Reference};
//!
//! let r = ImageRef::parse("prometheus:2.6.1").unwrap();
//! assert_eq!(r.domain(), "docker.io");
//! assert_eq!(r.path(), "library/prometheus");
//! assert_eq!(r.tag(), Some("2.6.1"));
//! assert_eq!(r.to_string(), "docker.io/library/prometheus:2.6.1");
//! assert_eq!(r.familiar().to_string(), "prometheus:2.6.1");
//!
//! let owned: Reference = "registry.my.com:5000/team/app@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".parse().unwrap();
//! assert_eq!(owned.domain(), "registry.my.com:5000");
//! assert_eq!(owned.digest().unwrap().algorithm().as_str(), "sha256");
//! ```
//!
//! # Performance
//!
//! Parsing is one forward pass over the bytes with no allocation and no regular
//! expression; a [`ParseError`] allocates (it keeps a copy of the input for its
//! message). `BENCHMARKS.md` has the measured cost per reference next to
//! `oci-spec`'s parser.
//!
//! # Untrusted input
//!
//! Any `&str` may be passed: parsing never panics, runs in time linear in the
//! input, uses constant stack, and rejects anything the runtime would reject.
//! An error names the problem and the byte offset where it was found.

mod error;
#[cfg(feature = "oci-spec")]
mod oci;
mod parse;

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

pub use error::{ParseError, ParseErrorKind};
use parse::{DomainSource, LIBRARY_PREFIX, Parsed};

/// The registry that a name without a domain refers to.
pub const DEFAULT_DOMAIN: &str = "docker.io";
/// The legacy name of [`DEFAULT_DOMAIN`], folded into it by normalization.
pub const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
/// The tag that the runtime pulls when neither a tag nor a digest is written.
pub const DEFAULT_TAG: &str = "latest";

/// A byte range of an input string.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Span {
    /// The first byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    /// A span from `start` to `end`.
    pub const fn new(start: usize, end: usize) -> Self {
        Self { start, end }
    }

    /// The number of bytes.
    pub const fn len(self) -> usize {
        self.end - self.start
    }

    /// Whether the span is empty.
    pub const fn is_empty(self) -> bool {
        self.start == self.end
    }

    /// The part of `s` that the span covers.
    pub fn slice(self, s: &str) -> &str {
        &s[self.start..self.end]
    }
}

/// A digest algorithm that image references may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Algorithm {
    /// SHA-256: 64 hex digits.
    Sha256,
    /// SHA-384: 96 hex digits.
    Sha384,
    /// SHA-512: 128 hex digits.
    Sha512,
}

impl Algorithm {
    /// The algorithm's name as written in a digest.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha384 => "sha384",
            Self::Sha512 => "sha512",
        }
    }

    /// The number of hex digits of the encoded part.
    pub const fn hex_len(self) -> usize {
        match self {
            Self::Sha256 => 64,
            Self::Sha384 => 96,
            Self::Sha512 => 128,
        }
    }

    fn from_bytes(b: &[u8]) -> Option<Self> {
        match b {
            b"sha256" => Some(Self::Sha256),
            b"sha384" => Some(Self::Sha384),
            b"sha512" => Some(Self::Sha512),
            _ => None,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A validated content digest, `algorithm:hex`, borrowed from its input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest<'a> {
    algorithm: Algorithm,
    encoded: &'a str,
}

impl<'a> Digest<'a> {
    /// Parses a digest as `go-digest`'s `Parse` does: a supported algorithm,
    /// the right number of lowercase hex digits.
    ///
    /// ```
    /// use image_policy_core::reference::{Digest, ParseErrorKind};
    /// let d = Digest::parse("sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08").unwrap();
    /// assert_eq!(d.encoded().len(), 64);
    /// assert_eq!(Digest::parse("md5:d41d8cd98f00b204e9800998ecf8427e").unwrap_err().kind(), ParseErrorKind::UnsupportedDigest);
    /// ```
    pub fn parse(s: &'a str) -> Result<Self, ParseError> {
        let (algorithm, encoded) = parse::parse_digest(s)?;
        Ok(Self {
            algorithm,
            encoded: encoded.slice(s),
        })
    }

    /// The algorithm.
    pub fn algorithm(self) -> Algorithm {
        self.algorithm
    }

    /// The lowercase hex digits after the `:`.
    pub fn encoded(self) -> &'a str {
        self.encoded
    }
}

impl fmt::Display for Digest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm, self.encoded)
    }
}

/// The repository path of a reference, such as `library/nginx`.
///
/// Normalization may imply a `library/` prefix that is not in the input; this
/// type shows the path with it, without allocating. It compares equal to the
/// `str` it displays as.
#[derive(Clone, Copy, Debug)]
pub struct Path<'a> {
    library: bool,
    written: &'a str,
}

impl<'a> Path<'a> {
    /// The path as written in the input (without an implied `library/`).
    pub fn as_written(self) -> &'a str {
        self.written
    }

    /// Whether normalization added `library/` in front of the written path.
    pub fn is_library_implied(self) -> bool {
        self.library
    }

    /// The path's `/`-separated components, with an implied `library` first.
    pub fn segments(self) -> impl DoubleEndedIterator<Item = &'a str> + Clone + 'a {
        self.library
            .then_some("library")
            .into_iter()
            .chain(self.written.split('/'))
    }

    /// The length in bytes, counting an implied `library/`.
    pub fn len(self) -> usize {
        self.written.len()
            + if self.library {
                LIBRARY_PREFIX.len()
            } else {
                0
            }
    }

    /// Always false: a path has at least one component.
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    /// The path as one string, borrowed when nothing was implied.
    pub fn to_cow(self) -> Cow<'a, str> {
        if self.library {
            Cow::Owned(format!("{LIBRARY_PREFIX}{}", self.written))
        } else {
            Cow::Borrowed(self.written)
        }
    }
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.library {
            f.write_str(LIBRARY_PREFIX)?;
        }
        f.write_str(self.written)
    }
}

impl PartialEq<str> for Path<'_> {
    fn eq(&self, other: &str) -> bool {
        if self.library {
            other
                .strip_prefix(LIBRARY_PREFIX)
                .is_some_and(|rest| rest == self.written)
        } else {
            self.written == other
        }
    }
}

impl PartialEq<&str> for Path<'_> {
    fn eq(&self, other: &&str) -> bool {
        *self == **other
    }
}

impl PartialEq for Path<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.segments().eq(other.segments())
    }
}

impl Eq for Path<'_> {}

/// A parsed image reference, borrowed from its input; no allocation.
///
/// See the [module documentation](self) for the grammar and normalization.
/// `Display` prints the canonical form (`docker.io/library/nginx:1.27`).
#[derive(Clone, Copy, Debug)]
pub struct ImageRef<'a> {
    input: &'a str,
    parsed: Parsed,
}

impl<'a> ImageRef<'a> {
    /// Parses and normalizes `input` as the container runtime does
    /// (`ParseNormalizedNamed`).
    pub fn parse(input: &'a str) -> Result<Self, ParseError> {
        Ok(Self {
            input,
            parsed: parse::parse(input, true)
                .map_err(|(kind, at)| ParseError::new(kind, at, input))?,
        })
    }

    /// [`ImageRef::parse`] without building the error: a failure is its kind
    /// and byte offset, for callers (the policy engine) that deny an
    /// unparseable image without copying it.
    pub(crate) fn parse_lean(input: &'a str) -> Result<Self, (ParseErrorKind, usize)> {
        Ok(Self {
            input,
            parsed: parse::parse(input, true)?,
        })
    }

    /// Parses `input` without normalization, as upstream's `Parse` does: no
    /// default domain, no `library/`, the first component is a domain whenever
    /// it is a valid host and a `/` follows. For tools that must read names
    /// exactly as written; policies use [`ImageRef::parse`].
    pub fn parse_verbatim(input: &'a str) -> Result<Self, ParseError> {
        Ok(Self {
            input,
            parsed: parse::parse(input, false)
                .map_err(|(kind, at)| ParseError::new(kind, at, input))?,
        })
    }

    /// The string this reference was parsed from.
    pub fn input(self) -> &'a str {
        self.input
    }

    /// The registry host and optional port (`docker.io`, `registry.my.com:5000`,
    /// `[::1]:5000`), as written except for the folding of `index.docker.io`.
    /// Empty when the reference has no domain (see the module docs).
    pub fn domain(self) -> &'a str {
        match self.parsed.domain {
            DomainSource::Implied => DEFAULT_DOMAIN,
            DomainSource::Written { folded: true, .. } => DEFAULT_DOMAIN,
            DomainSource::Written { span, .. } => span.slice(self.input),
            DomainSource::Absent => "",
        }
    }

    /// Where the domain is written in the input; `None` when it is implied.
    pub fn domain_span(self) -> Option<Span> {
        match self.parsed.domain {
            DomainSource::Written { span, .. } => Some(span),
            _ => None,
        }
    }

    /// Whether the domain was written in the input (rather than implied).
    pub fn is_domain_written(self) -> bool {
        matches!(self.parsed.domain, DomainSource::Written { .. })
    }

    /// The host the runtime contacts to pull this image: the text before the
    /// first `/` of the canonical form, as containerd computes it (see the
    /// [module docs](self#the-pull-host)).
    ///
    /// It is the [domain](Self::domain) whenever there is one. When the
    /// reference has no domain (`x_y.evil.com/app`: the first component is
    /// not a valid host, so the grammar reads the whole name as a path), it
    /// is the first component of the path, `x_y.evil.com`, which containerd
    /// contacts all the same. Empty only for a verbatim parse of a
    /// one-component name (`nginx` by [`ImageRef::parse_verbatim`]), which
    /// the runtime would not pull.
    ///
    /// ```
    /// use image_policy_core::reference::ImageRef;
    /// let r = ImageRef::parse("x_y.evil.com/app:1").unwrap();
    /// assert_eq!(r.domain(), "");
    /// assert_eq!(r.pull_host(), "x_y.evil.com");
    /// assert_eq!(r.pull_path(), "app");
    /// assert_eq!(ImageRef::parse("nginx").unwrap().pull_host(), "docker.io");
    /// ```
    pub fn pull_host(self) -> &'a str {
        match self.parsed.domain {
            DomainSource::Absent => self.split_pull_host().map_or("", |(host, _)| host),
            _ => self.domain(),
        }
    }

    /// Whether the [pull host](Self::pull_host) differs from the
    /// [domain](Self::domain): the reference has no domain, and the runtime
    /// contacts the first component of its path.
    pub fn is_pull_host_from_path(self) -> bool {
        matches!(self.parsed.domain, DomainSource::Absent) && self.split_pull_host().is_some()
    }

    /// The repository path on the [pull host](Self::pull_host): the
    /// [path](Self::path) when there is a domain, else the path after its
    /// first component (`app` for `x_y.evil.com/app`).
    pub fn pull_path(self) -> Path<'a> {
        match (self.parsed.domain, self.split_pull_host()) {
            (DomainSource::Absent, Some((_, rest))) => Path {
                library: false,
                written: rest,
            },
            _ => self.path(),
        }
    }

    /// The written path split at its first `/`.
    fn split_pull_host(self) -> Option<(&'a str, &'a str)> {
        self.parsed.path.slice(self.input).split_once('/')
    }

    /// The host part of the domain, without the port (`registry.my.com`, `[::1]`).
    pub fn host(self) -> &'a str {
        split_port(self.domain()).0
    }

    /// The port of the domain, if one is written.
    pub fn port(self) -> Option<&'a str> {
        split_port(self.domain()).1
    }

    /// The repository path (`library/nginx`, `team/app`).
    pub fn path(self) -> Path<'a> {
        Path {
            library: self.parsed.library,
            written: self.parsed.path.slice(self.input),
        }
    }

    /// Where the path is written in the input (without an implied `library/`).
    pub fn path_span(self) -> Span {
        self.parsed.path
    }

    /// The tag, when one is written.
    pub fn tag(self) -> Option<&'a str> {
        self.parsed.tag.map(|span| span.slice(self.input))
    }

    /// Where the tag is written in the input.
    pub fn tag_span(self) -> Option<Span> {
        self.parsed.tag
    }

    /// The digest, when one is written.
    pub fn digest(self) -> Option<Digest<'a>> {
        self.parsed.digest.map(|(algorithm, span)| Digest {
            algorithm,
            encoded: span.slice(self.input),
        })
    }

    /// Where the digest (`algorithm:hex`) is written in the input.
    pub fn digest_span(self) -> Option<Span> {
        self.parsed
            .digest
            .map(|(alg, span)| Span::new(span.start - alg.as_str().len() - 1, span.end))
    }

    /// Whether the reference names neither a tag nor a digest, so that the
    /// runtime pulls `:latest`.
    pub fn is_tag_implied(self) -> bool {
        self.parsed.tag.is_none() && self.parsed.digest.is_none()
    }

    /// The tag the runtime would resolve when the reference has no digest: the
    /// written tag, or `latest` when none is written. `None` when a digest
    /// pins the image (the runtime then ignores any tag).
    pub fn effective_tag(self) -> Option<&'a str> {
        match (self.parsed.digest, self.tag()) {
            (Some(_), _) => None,
            (None, Some(tag)) => Some(tag),
            (None, None) => Some(DEFAULT_TAG),
        }
    }

    /// The name, `domain/path`, without tag or digest.
    pub fn name(self) -> Name<'a> {
        Name(self)
    }

    /// The familiar (short) form, as `docker` prints it: `nginx:1.27`,
    /// `bitnami/redis`, `registry.my.com/app`.
    ///
    /// Like upstream's, it is ambiguous for a Docker Hub path whose first
    /// component looks like a host: `docker.io/a.b/c` prints as `a.b/c`, which
    /// reads back as registry `a.b`. Store and compare canonical forms.
    pub fn familiar(self) -> Familiar<'a> {
        Familiar(self)
    }

    /// The reference the runtime pulls (`ParseDockerRef`): `:latest` added when
    /// neither tag nor digest is written, the tag dropped when a digest is.
    pub fn docker_ref(self) -> DockerRef<'a> {
        DockerRef(self)
    }

    /// An owned copy holding the canonical form. (Named `into_owned`, as
    /// `Cow::into_owned`: `ToOwned::to_owned` on an `ImageRef` still gives an
    /// `ImageRef`.)
    pub fn into_owned(self) -> Reference {
        Reference::from_image_ref(self)
    }

    fn write_name(self, f: &mut fmt::Formatter<'_>, familiar: bool) -> fmt::Result {
        let domain = self.domain();
        let path = self.path();
        if familiar && domain == DEFAULT_DOMAIN {
            let full = path.segments();
            let mut segments = full.clone();
            if segments.next() == Some("library") && segments.clone().count() == 1 {
                return f.write_str(segments.next().unwrap_or_default());
            }
            return write!(f, "{path}");
        }
        if !domain.is_empty() {
            f.write_str(domain)?;
            f.write_str("/")?;
        }
        fmt::Display::fmt(&path, f)
    }

    fn write_suffix(self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(tag) = self.tag() {
            f.write_str(":")?;
            f.write_str(tag)?;
        }
        if let Some(digest) = self.digest() {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// Splits `host[:port]`; an IPv6 host keeps its brackets.
fn split_port(domain: &str) -> (&str, Option<&str>) {
    let host_end = if domain.starts_with('[') {
        domain.find(']').map_or(domain.len(), |i| i + 1)
    } else {
        domain.find(':').unwrap_or(domain.len())
    };
    match domain[host_end..].strip_prefix(':') {
        Some(port) => (&domain[..host_end], Some(port)),
        None => (domain, None),
    }
}

impl fmt::Display for ImageRef<'_> {
    /// The canonical form: `domain/path[:tag][@digest]`, no tag added.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_name(f, false)?;
        self.write_suffix(f)
    }
}

impl PartialEq for ImageRef<'_> {
    /// Equal when the canonical forms are equal.
    fn eq(&self, other: &Self) -> bool {
        self.domain() == other.domain()
            && self.path() == other.path()
            && self.tag() == other.tag()
            && self.digest() == other.digest()
    }
}

impl Eq for ImageRef<'_> {}

/// The name of a reference (`domain/path`); see [`ImageRef::name`].
#[derive(Clone, Copy, Debug)]
pub struct Name<'a>(ImageRef<'a>);

impl fmt::Display for Name<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.write_name(f, false)
    }
}

/// The familiar form of a reference; see [`ImageRef::familiar`].
#[derive(Clone, Copy, Debug)]
pub struct Familiar<'a>(ImageRef<'a>);

impl Familiar<'_> {
    /// The familiar name, without tag or digest (`nginx`, `bitnami/redis`).
    pub fn name(self) -> impl fmt::Display {
        FamiliarName(self.0)
    }
}

impl fmt::Display for Familiar<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.write_name(f, true)?;
        self.0.write_suffix(f)
    }
}

struct FamiliarName<'a>(ImageRef<'a>);

impl fmt::Display for FamiliarName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.write_name(f, true)
    }
}

/// The reference the runtime pulls; see [`ImageRef::docker_ref`].
#[derive(Clone, Copy, Debug)]
pub struct DockerRef<'a>(ImageRef<'a>);

impl fmt::Display for DockerRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.write_name(f, false)?;
        match (self.0.digest(), self.0.tag()) {
            (Some(digest), _) => write!(f, "@{digest}"),
            (None, tag) => write!(f, ":{}", tag.unwrap_or(DEFAULT_TAG)),
        }
    }
}

/// An owned, normalized image reference.
///
/// Holds the canonical string and the positions of its parts (one allocation).
/// `Display`, `Eq`, `Hash` and `Ord` use the canonical form, so `nginx`,
/// `docker.io/nginx` and `index.docker.io/library/nginx` are the same
/// reference. It (de)serializes as a string with serde.
///
/// ```
/// use image_policy_core::reference::Reference;
/// let a: Reference = "nginx".parse().unwrap();
/// let b: Reference = "index.docker.io/library/nginx".parse().unwrap();
/// assert_eq!(a, b);
/// assert_eq!(a.to_string(), "docker.io/library/nginx");
/// ```
#[derive(Clone)]
pub struct Reference {
    canonical: Box<str>,
    /// End of the domain (0 when there is none; the path starts after the `/`).
    domain_end: usize,
    path_end: usize,
    /// End of the tag (equal to `path_end` when there is none).
    tag_end: usize,
    digest: Option<Algorithm>,
    /// Whether the domain was implied (for [`Reference::is_domain_written`]).
    domain_implied: bool,
}

impl Reference {
    /// Parses and normalizes `input`; see [`ImageRef::parse`].
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        ImageRef::parse(input).map(Self::from_image_ref)
    }

    fn from_image_ref(r: ImageRef<'_>) -> Self {
        let domain = r.domain();
        let len = if domain.is_empty() {
            0
        } else {
            domain.len() + 1
        } + r.path().len()
            + r.tag().map_or(0, |t| t.len() + 1)
            + r.digest()
                .map_or(0, |d| d.algorithm().as_str().len() + d.encoded().len() + 2);
        // Exactly one allocation: the capacity is the final length.
        let mut canonical = String::with_capacity(len);
        // Writing to a String cannot fail.
        let _ = fmt::write(&mut canonical, format_args!("{r}"));
        debug_assert_eq!(canonical.len(), len);
        let canonical = canonical.into_boxed_str();
        let domain_end = domain.len();
        let path_start = if domain.is_empty() { 0 } else { domain_end + 1 };
        let path_end = path_start + r.path().len();
        let tag_end = path_end + r.tag().map_or(0, |t| t.len() + 1);
        Self {
            canonical,
            domain_end,
            path_end,
            tag_end,
            digest: r.digest().map(Digest::algorithm),
            domain_implied: !r.is_domain_written(),
        }
    }

    /// A borrowed view of this reference.
    pub fn as_image_ref(&self) -> ImageRef<'_> {
        let path_start = if self.domain_end == 0 {
            0
        } else {
            self.domain_end + 1
        };
        let domain = if self.domain_end == 0 {
            DomainSource::Absent
        } else if self.domain_implied {
            DomainSource::Implied
        } else {
            DomainSource::Written {
                span: Span::new(0, self.domain_end),
                folded: false,
            }
        };
        ImageRef {
            input: &self.canonical,
            parsed: Parsed {
                domain,
                path: Span::new(path_start, self.path_end),
                library: false,
                tag: (self.tag_end > self.path_end)
                    .then(|| Span::new(self.path_end + 1, self.tag_end)),
                digest: self
                    .digest
                    .map(|alg| {
                        Span::new(self.tag_end + 2 + alg.as_str().len(), self.canonical.len())
                    })
                    .zip(self.digest)
                    .map(|(span, alg)| (alg, span)),
            },
        }
    }

    /// The canonical form as a string.
    pub fn as_str(&self) -> &str {
        &self.canonical
    }

    /// The registry host and optional port; see [`ImageRef::domain`].
    pub fn domain(&self) -> &str {
        &self.canonical[..self.domain_end]
    }

    /// Whether the domain was written in the parsed input (rather than implied).
    pub fn is_domain_written(&self) -> bool {
        !self.domain_implied
    }

    /// The host the runtime contacts; see [`ImageRef::pull_host`].
    pub fn pull_host(&self) -> &str {
        let name = self.name();
        name.split_once('/').map_or("", |(host, _)| host)
    }

    /// The repository path, including a `library/` prefix.
    pub fn path(&self) -> &str {
        let start = if self.domain_end == 0 {
            0
        } else {
            self.domain_end + 1
        };
        &self.canonical[start..self.path_end]
    }

    /// The name, `domain/path`.
    pub fn name(&self) -> &str {
        &self.canonical[..self.path_end]
    }

    /// The written tag, if any.
    pub fn tag(&self) -> Option<&str> {
        (self.tag_end > self.path_end).then(|| &self.canonical[self.path_end + 1..self.tag_end])
    }

    /// The digest, if any.
    pub fn digest(&self) -> Option<Digest<'_>> {
        self.as_image_ref().digest()
    }

    /// See [`ImageRef::effective_tag`].
    pub fn effective_tag(&self) -> Option<&str> {
        self.as_image_ref().effective_tag()
    }

    /// The familiar (short) form; see [`ImageRef::familiar`].
    pub fn familiar(&self) -> Familiar<'_> {
        self.as_image_ref().familiar()
    }

    /// The reference the runtime pulls; see [`ImageRef::docker_ref`].
    pub fn docker_ref(&self) -> DockerRef<'_> {
        self.as_image_ref().docker_ref()
    }

    /// A copy with `tag` as its tag (replacing any), keeping the digest.
    pub fn with_tag(&self, tag: &str) -> Result<Self, ParseError> {
        if !parse::is_tag(tag) {
            return Err(ParseError::new(ParseErrorKind::InvalidTag, 0, tag));
        }
        let mut s = String::with_capacity(self.canonical.len() + tag.len() + 1);
        s.push_str(self.name());
        s.push(':');
        s.push_str(tag);
        if let Some(d) = self.digest() {
            s.push('@');
            s.push_str(&d.to_string());
        }
        Ok(self.reparse(&s))
    }

    /// A copy pinned to `digest` (replacing any), keeping the tag.
    pub fn with_digest(&self, digest: Digest<'_>) -> Self {
        let mut s = String::from(&self.canonical[..self.tag_end]);
        s.push('@');
        s.push_str(&digest.to_string());
        self.reparse(&s)
    }

    /// Re-reads a canonical string built from this reference's valid parts.
    fn reparse(&self, canonical: &str) -> Self {
        let tag_end = canonical.find('@').unwrap_or(canonical.len());
        let digest = canonical[tag_end..]
            .strip_prefix('@')
            .and_then(|d| Digest::parse(d).ok())
            .map(Digest::algorithm);
        Self {
            canonical: canonical.into(),
            domain_end: self.domain_end,
            path_end: self.path_end,
            tag_end,
            digest,
            domain_implied: self.domain_implied,
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical)
    }
}

impl fmt::Debug for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Reference").field(&&*self.canonical).finish()
    }
}

impl PartialEq for Reference {
    fn eq(&self, other: &Self) -> bool {
        self.canonical == other.canonical
    }
}

impl Eq for Reference {}

impl Hash for Reference {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.canonical.hash(state);
    }
}

impl PartialOrd for Reference {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Reference {
    fn cmp(&self, other: &Self) -> Ordering {
        self.canonical.cmp(&other.canonical)
    }
}

impl FromStr for Reference {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl From<ImageRef<'_>> for Reference {
    fn from(r: ImageRef<'_>) -> Self {
        Self::from_image_ref(r)
    }
}

impl AsRef<str> for Reference {
    fn as_ref(&self) -> &str {
        &self.canonical
    }
}

impl serde::Serialize for Reference {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.canonical)
    }
}

impl<'de> serde::Deserialize<'de> for Reference {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Reference;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a container image reference")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Reference, E> {
                Reference::parse(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

/// Grammar-level checks, one for each regular expression of
/// `distribution/reference`'s `regexp.go`, for tools that validate parts
/// separately (a tag from a form field, a host from a flag).
pub mod grammar {
    use super::Span;
    use super::parse;

    /// Is `s` a registry host with optional port (`^domainAndPort$`)?
    pub fn is_domain(s: &str) -> bool {
        parse::check_domain(s.as_bytes(), 0, s.len()).is_ok()
    }

    /// Is `s` a tag (`[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`)?
    pub fn is_tag(s: &str) -> bool {
        parse::is_tag(s)
    }

    /// Is `s` a digest by the reference grammar (`algorithm:hex` with at least
    /// 32 hex digits, any algorithm)? Looser than [`super::Digest::parse`].
    pub fn is_digest(s: &str) -> bool {
        matches!(parse::scan_digest_grammar(s.as_bytes(), 0), Ok(end) if end == s.len())
    }

    /// Is `s` 64 lowercase hex digits, an image ID (`anchoredIdentifierRegexp`)?
    pub fn is_identifier(s: &str) -> bool {
        parse::is_identifier(s)
    }

    /// Splits a name without tag or digest into its optional domain and its
    /// path, as `anchoredNameRegexp` does (no normalization, no length limit).
    pub fn split_name(s: &str) -> Option<(Option<Span>, Span)> {
        parse::split_name(s)
    }

    /// Splits a reference into its name, tag and digest as `ReferenceRegexp`
    /// does: grammar only, with no normalization, no length limit and no
    /// validation of the digest beyond `algorithm:hex{32,}`.
    pub fn split_reference(s: &str) -> Option<(Span, Option<Span>, Option<Span>)> {
        parse::split_reference(s)
    }
}
