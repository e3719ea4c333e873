//! The error of a reference that does not parse: a kind, a byte offset and the input.

use std::fmt;

/// What is wrong with an image reference.
///
/// Each kind corresponds to one or more errors of `distribution/reference`
/// (named in the variant docs), split further where that helps a person fix the
/// input. [`ParseErrorKind::upstream_name`] gives the upstream name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// The input is empty (`ErrNameEmpty`).
    Empty,
    /// A 64-character lowercase hexadecimal string, which Docker would take for
    /// an image ID rather than a repository name
    /// (`invalid repository name (…), cannot specify 64-byte hexadecimal strings`).
    HexRepositoryName,
    /// The registry host (the part before the first `/`) is not a DNS name, an
    /// IPv4 address or a bracketed IPv6 address with an optional numeric port
    /// (`ErrReferenceInvalidFormat`).
    InvalidDomain,
    /// An uppercase letter in the repository path (`ErrNameContainsUppercase`,
    /// `repository name must be lowercase`).
    Uppercase,
    /// A repository path component is empty, or starts or ends with a separator,
    /// or has a separator that is not `.`, `_`, `__` or a run of `-`
    /// (`ErrReferenceInvalidFormat`).
    InvalidPathComponent,
    /// A character that the grammar allows nowhere at this position
    /// (`ErrReferenceInvalidFormat`).
    UnexpectedCharacter,
    /// The repository path (after normalization, so `library/` counts) is longer
    /// than 255 bytes (`ErrNameTooLong`).
    NameTooLong,
    /// The tag is empty or has a character outside `[A-Za-z0-9_.-]`, or starts
    /// with `.` or `-` (`ErrReferenceInvalidFormat`).
    InvalidTag,
    /// The tag is longer than 128 characters (`ErrReferenceInvalidFormat`).
    TagTooLong,
    /// The digest is not `algorithm:hex` with at least 32 hex digits, or its hex
    /// is not lowercase (`ErrReferenceInvalidFormat`, `digest.ErrDigestInvalidFormat`).
    InvalidDigest,
    /// A `sha256`, `sha384` or `sha512` digest with the wrong number of hex
    /// digits (`digest.ErrDigestInvalidLength`).
    DigestLength,
    /// A well-formed digest of an algorithm other than `sha256`, `sha384` and
    /// `sha512` (`digest.ErrDigestUnsupported`).
    UnsupportedDigest,
}

impl ParseErrorKind {
    /// A short description, as used in [`ParseError`]'s message.
    pub fn description(self) -> &'static str {
        match self {
            Self::Empty => "reference is empty",
            Self::HexRepositoryName => {
                "a repository name of 64 hexadecimal digits would be taken for an image ID"
            }
            Self::InvalidDomain => "invalid registry host",
            Self::Uppercase => "repository name must be lowercase",
            Self::InvalidPathComponent => "invalid repository path component",
            Self::UnexpectedCharacter => "unexpected character",
            Self::NameTooLong => "repository path is longer than 255 bytes",
            Self::InvalidTag => "invalid tag",
            Self::TagTooLong => "tag is longer than 128 characters",
            Self::InvalidDigest => "invalid digest",
            Self::DigestLength => "digest has the wrong length for its algorithm",
            Self::UnsupportedDigest => {
                "unsupported digest algorithm (sha256, sha384 and sha512 are supported)"
            }
        }
    }

    /// The name of the corresponding error in `distribution/reference` (or
    /// `go-digest`), for comparing with the Go implementation.
    pub fn upstream_name(self) -> &'static str {
        match self {
            Self::Empty => "ErrNameEmpty",
            Self::HexRepositoryName => "fmt:InvalidRepositoryNameHex64",
            Self::Uppercase => "ErrNameContainsUppercase",
            Self::NameTooLong => "ErrNameTooLong",
            Self::DigestLength => "digest.ErrDigestInvalidLength",
            Self::UnsupportedDigest => "digest.ErrDigestUnsupported",
            Self::InvalidDomain
            | Self::InvalidPathComponent
            | Self::UnexpectedCharacter
            | Self::InvalidTag
            | Self::TagTooLong
            | Self::InvalidDigest => "ErrReferenceInvalidFormat",
        }
    }
}

impl fmt::Display for ParseErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description())
    }
}

/// An image reference that does not parse.
///
/// Carries the [kind](ParseErrorKind) of the problem, the byte offset in the
/// input where the parser found it, and the input itself, so that the message
/// stands on its own:
///
/// ```
/// use image_policy_core::reference::{ImageRef, ParseErrorKind};
///
/// let err = ImageRef::parse("Registry.my.com/App").unwrap_err();
/// assert_eq!(err.kind(), ParseErrorKind::Uppercase);
/// assert_eq!(err.offset(), 16);
/// assert_eq!(
///     err.to_string(),
///     r#"invalid image reference "Registry.my.com/App": repository name must be lowercase (byte 16)"#
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ParseError {
    kind: ParseErrorKind,
    offset: usize,
    input: Box<str>,
}

/// Inputs longer than this are shortened in messages (the error keeps them whole).
const MESSAGE_INPUT_MAX: usize = 256;

impl ParseError {
    pub(crate) fn new(kind: ParseErrorKind, offset: usize, input: &str) -> Self {
        Self {
            kind,
            offset,
            input: input.into(),
        }
    }

    /// What is wrong.
    pub fn kind(&self) -> ParseErrorKind {
        self.kind
    }

    /// The byte offset in the input at which the problem was found (the length
    /// of the input when the problem is that something is missing at the end).
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The input that failed to parse.
    pub fn input(&self) -> &str {
        &self.input
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let input: &str = &self.input;
        if input.len() <= MESSAGE_INPUT_MAX {
            write!(f, "invalid image reference {input:?}: {}", self.kind)?;
        } else {
            let mut cut = MESSAGE_INPUT_MAX;
            while !input.is_char_boundary(cut) {
                cut -= 1;
            }
            write!(
                f,
                "invalid image reference {:?}… ({} bytes): {}",
                &input[..cut],
                input.len(),
                self.kind
            )?;
        }
        if self.kind == ParseErrorKind::UnexpectedCharacter
            && let Some(c) = input
                .get(self.offset..)
                .and_then(|rest| rest.chars().next())
        {
            write!(f, " {c:?}")?;
        }
        write!(f, " (byte {})", self.offset)
    }
}
