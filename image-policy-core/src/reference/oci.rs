//! Conversions to and from the types of the `oci-spec` crate.
//!
//! `oci_spec::distribution::Reference` parses with a regular expression that
//! differs from the runtime's grammar in a few places (no IPv6 hosts, uppercase
//! hex accepted in digests, 64-hex repository names accepted, `latest` filled in
//! when no tag is written), so a value converted *from* it is parsed again here
//! and can be refused.

use super::{DEFAULT_TAG, Digest, ParseError, Reference};
use oci_spec::distribution::Reference as OciReference;
use oci_spec::image::Digest as OciDigest;

impl From<&Reference> for OciReference {
    /// Registry, repository, tag and digest carried over as they are; `latest`
    /// filled in when neither tag nor digest is present, as `oci-spec` does.
    fn from(r: &Reference) -> Self {
        let registry = r.domain().to_owned();
        let repository = r.path().to_owned();
        match (r.tag(), r.digest()) {
            (Some(tag), Some(digest)) => OciReference::with_tag_and_digest(
                registry,
                repository,
                tag.to_owned(),
                digest.to_string(),
            ),
            (None, Some(digest)) => {
                OciReference::with_digest(registry, repository, digest.to_string())
            }
            (tag, None) => {
                OciReference::with_tag(registry, repository, tag.unwrap_or(DEFAULT_TAG).to_owned())
            }
        }
    }
}

impl From<Reference> for OciReference {
    fn from(r: Reference) -> Self {
        OciReference::from(&r)
    }
}

impl TryFrom<&OciReference> for Reference {
    type Error = ParseError;

    /// Parses `registry/repository[:tag][@digest]` with this crate's grammar.
    fn try_from(r: &OciReference) -> Result<Self, ParseError> {
        Reference::parse(&r.whole())
    }
}

impl From<Digest<'_>> for OciDigest {
    fn from(d: Digest<'_>) -> Self {
        // A validated sha256/384/512 digest is always a valid `oci-spec` digest.
        OciDigest::try_from(d.to_string()).unwrap_or_else(|_| unreachable!("validated digest"))
    }
}

impl<'a> TryFrom<&'a OciDigest> for Digest<'a> {
    type Error = ParseError;

    /// Accepts what `go-digest` accepts: `sha256`, `sha384` and `sha512` with
    /// lowercase hex of the right length.
    fn try_from(d: &'a OciDigest) -> Result<Self, ParseError> {
        Digest::parse(d.as_ref())
    }
}
