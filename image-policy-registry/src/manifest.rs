//! Reading a manifest a registry sent: which kind it is, that it is one,
//! and its digest, from the bytes as received.
//!
//! [`read`] is pure (bytes and headers in, a [`Manifest`] or a
//! [`ManifestError`] out): the client calls it on every answer, the fuzz
//! target calls it on anything.
//!
//! - The kind comes from the `Content-Type`, as containerd reads it; when the
//!   registry sends no manifest type (`application/json`, `text/plain`, none),
//!   from the body's `mediaType`, and when that is absent too (OCI allows it),
//!   from its shape (`manifests` is an index, `config` a manifest), as
//!   containerd does.
//! - A body whose own `mediaType` contradicts the header is refused: the two
//!   readers of this manifest (the runtime and us) must not disagree on what
//!   it is.
//! - Docker schema 1 (by type or by `schemaVersion: 1`) is refused with its
//!   own error.
//! - The body must deserialize as `oci-spec`'s `ImageIndex` or
//!   `ImageManifest` (Docker's list and schema 2 share their shapes).
//! - The digest is computed from the bytes received, never taken from a
//!   header; a `Docker-Content-Digest` header that differs is an error, and
//!   so is a body whose digest is not the digest asked for.

use sha2::{Digest as _, Sha256, Sha384, Sha512};
use std::fmt;

/// The OCI image index media type.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// The OCI image manifest media type.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Docker's manifest list (schema 2).
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker's image manifest, schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker's schema 1 manifest (refused).
pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
/// Docker's signed schema 1 manifest (refused).
pub const DOCKER_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";

/// The `Accept` header of a manifest request: the four kinds this client
/// reads, and nothing else (a registry that can only answer schema 1 then
/// answers 404 or schema 1, both errors).
pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

/// The default bound on a manifest's size: 4 MiB, as containerd's.
pub const DEFAULT_MAX_MANIFEST: u64 = 4 * 1024 * 1024;

/// What a manifest is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A list of manifests, one per platform (OCI index or Docker list).
    Index,
    /// One image's manifest (OCI or Docker schema 2).
    Manifest,
}

/// A manifest as received, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    /// `sha256:…` of the body's bytes (or the algorithm of the digest asked for).
    pub digest: String,
    /// The media type: the header's, or the body's when the header named none.
    pub media_type: String,
    /// Index or manifest.
    pub kind: Kind,
    /// The body's size in bytes.
    pub size: u64,
    /// For an index, how many manifests it lists.
    pub manifests: usize,
}

/// Why a body is not a manifest this client accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ManifestError {
    /// Docker schema 1.
    SchemaV1,
    /// A media type that is not one of the four.
    UnsupportedMediaType(String),
    /// The body's `mediaType` differs from the header's.
    MediaTypeMismatch {
        /// The `Content-Type`.
        header: String,
        /// The body's `mediaType`.
        body: String,
    },
    /// The body does not deserialize as the kind's type.
    Invalid(String),
    /// The digest of the body differs from the one expected.
    DigestMismatch {
        /// Expected (the header's or the reference's).
        expected: String,
        /// The body's.
        actual: String,
    },
    /// A digest of an algorithm other than sha256, sha384 or sha512, or not
    /// a digest.
    UnsupportedDigest(String),
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ManifestError::SchemaV1 => f.write_str("Docker schema 1 manifest"),
            ManifestError::UnsupportedMediaType(t) => write!(f, "unsupported media type {t:?}"),
            ManifestError::MediaTypeMismatch { header, body } => write!(
                f,
                "the Content-Type {header:?} and the body's mediaType {body:?} differ"
            ),
            ManifestError::Invalid(e) => write!(f, "invalid manifest: {e}"),
            ManifestError::DigestMismatch { expected, actual } => {
                write!(f, "expected digest {expected}, the body's is {actual}")
            }
            ManifestError::UnsupportedDigest(d) => write!(f, "unsupported digest {d:?}"),
        }
    }
}

impl std::error::Error for ManifestError {}

/// The media type without parameters, in lower case (`Content-Type` may
/// carry `; charset=utf-8`).
fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

fn kind_of(media_type: &str) -> Result<Option<Kind>, ManifestError> {
    match media_type {
        OCI_INDEX | DOCKER_LIST => Ok(Some(Kind::Index)),
        OCI_MANIFEST | DOCKER_MANIFEST => Ok(Some(Kind::Manifest)),
        DOCKER_SCHEMA1 | DOCKER_SCHEMA1_SIGNED => Err(ManifestError::SchemaV1),
        // What registries send when they do not know the type.
        "" | "application/json" | "text/plain" | "application/octet-stream" => Ok(None),
        other => Err(ManifestError::UnsupportedMediaType(other.to_owned())),
    }
}

#[derive(serde::Deserialize)]
struct Head {
    #[serde(rename = "schemaVersion")]
    schema_version: Option<serde_json::Value>,
    #[serde(rename = "mediaType")]
    media_type: Option<String>,
    manifests: Option<serde::de::IgnoredAny>,
    config: Option<serde::de::IgnoredAny>,
    #[serde(rename = "fsLayers")]
    fs_layers: Option<serde::de::IgnoredAny>,
}

/// The digest of `body` with `algorithm` (`sha256`, `sha384`, `sha512`), as
/// `algorithm:hex`.
pub fn digest_of(algorithm: &str, body: &[u8]) -> Result<String, ManifestError> {
    let hex = match algorithm {
        "sha256" => hex(&Sha256::digest(body)),
        "sha384" => hex(&Sha384::digest(body)),
        "sha512" => hex(&Sha512::digest(body)),
        other => return Err(ManifestError::UnsupportedDigest(other.to_owned())),
    };
    Ok(format!("{algorithm}:{hex}"))
}

fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[usize::from(b >> 4)] as char);
        s.push(HEX[usize::from(b & 15)] as char);
    }
    s
}

/// Checks that `body` is the digest `expected` (`algorithm:hex`), computing
/// it with that algorithm.
pub fn verify_digest(expected: &str, body: &[u8]) -> Result<(), ManifestError> {
    let Some((algorithm, _)) = expected.split_once(':') else {
        return Err(ManifestError::UnsupportedDigest(expected.to_owned()));
    };
    let actual = digest_of(algorithm, body)?;
    if actual != expected {
        return Err(ManifestError::DigestMismatch {
            expected: expected.to_owned(),
            actual,
        });
    }
    Ok(())
}

/// Reads a manifest answer: `content_type` and `docker_content_digest` as
/// the headers gave them (`None` when absent), `expected` the digest asked
/// for when the request was by digest.
pub fn read(
    body: &[u8],
    content_type: Option<&str>,
    docker_content_digest: Option<&str>,
    expected: Option<&str>,
) -> Result<Manifest, ManifestError> {
    let header_type = essence(content_type.unwrap_or_default());
    let header_kind = kind_of(&header_type)?;
    let head: Head =
        serde_json::from_slice(body).map_err(|e| ManifestError::Invalid(e.to_string()))?;
    if head.fs_layers.is_some()
        || head
            .schema_version
            .as_ref()
            .is_some_and(|v| v.as_u64() == Some(1))
    {
        return Err(ManifestError::SchemaV1);
    }
    if head.schema_version.as_ref().and_then(|v| v.as_u64()) != Some(2) {
        return Err(ManifestError::Invalid("schemaVersion is not 2".to_owned()));
    }
    let body_kind = match head.media_type.as_deref() {
        Some(t) => kind_of(t)?,
        None => None,
    };
    let (kind, media_type) = match (header_kind, body_kind, head.media_type) {
        (Some(h), Some(_), Some(b)) if b != header_type => {
            let _ = h;
            return Err(ManifestError::MediaTypeMismatch {
                header: header_type,
                body: b,
            });
        }
        (Some(h), _, _) => (h, header_type),
        (None, Some(b), Some(t)) => (b, t),
        // No type anywhere: the shape decides, as containerd's does.
        _ => match (head.manifests.is_some(), head.config.is_some()) {
            (true, false) => (Kind::Index, OCI_INDEX.to_owned()),
            (false, true) => (Kind::Manifest, OCI_MANIFEST.to_owned()),
            _ => {
                return Err(ManifestError::UnsupportedMediaType(header_type));
            }
        },
    };
    let manifests = match kind {
        Kind::Index => oci_spec::image::ImageIndex::from_reader(body)
            .map_err(|e| ManifestError::Invalid(e.to_string()))?
            .manifests()
            .len(),
        Kind::Manifest => {
            oci_spec::image::ImageManifest::from_reader(body)
                .map_err(|e| ManifestError::Invalid(e.to_string()))?;
            0
        }
    };
    let algorithm = expected
        .and_then(|d| d.split_once(':'))
        .map_or("sha256", |(a, _)| a);
    let digest = digest_of(algorithm, body)?;
    if let Some(expected) = expected
        && expected != digest
    {
        return Err(ManifestError::DigestMismatch {
            expected: expected.to_owned(),
            actual: digest,
        });
    }
    if let Some(header) = docker_content_digest {
        let header = header.trim();
        let computed = match header.split_once(':') {
            Some((a, _)) if a == algorithm => digest.clone(),
            Some((a, _)) => digest_of(a, body)?,
            None => return Err(ManifestError::UnsupportedDigest(header.to_owned())),
        };
        if computed != header {
            return Err(ManifestError::DigestMismatch {
                expected: header.to_owned(),
                actual: computed,
            });
        }
    }
    Ok(Manifest {
        digest,
        media_type,
        kind,
        size: body.len() as u64,
        manifests,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;
    const INDEX: &str = r#"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2,"platform":{"architecture":"amd64","os":"linux"}}]}"#;

    #[test]
    fn kinds_from_header_body_or_shape() {
        let m = read(MANIFEST.as_bytes(), Some(OCI_MANIFEST), None, None).unwrap();
        assert_eq!(m.kind, Kind::Manifest);
        assert_eq!(m.digest, digest_of("sha256", MANIFEST.as_bytes()).unwrap());
        let m = read(MANIFEST.as_bytes(), Some("application/json"), None, None).unwrap();
        assert_eq!(m.media_type, OCI_MANIFEST);
        let i = read(INDEX.as_bytes(), None, None, None).unwrap();
        assert_eq!((i.kind, i.manifests), (Kind::Index, 1));
        let i = read(
            INDEX.as_bytes(),
            Some("application/vnd.docker.distribution.manifest.list.v2+json; charset=utf-8"),
            None,
            None,
        )
        .unwrap();
        assert_eq!(i.media_type, DOCKER_LIST);
    }

    #[test]
    fn refusals() {
        assert_eq!(
            read(MANIFEST.as_bytes(), Some(DOCKER_SCHEMA1_SIGNED), None, None),
            Err(ManifestError::SchemaV1)
        );
        assert_eq!(
            read(
                br#"{"schemaVersion":1,"fsLayers":[]}"#,
                Some("application/json"),
                None,
                None
            ),
            Err(ManifestError::SchemaV1)
        );
        assert!(matches!(
            read(MANIFEST.as_bytes(), Some(OCI_INDEX), None, None),
            Err(ManifestError::MediaTypeMismatch { .. })
        ));
        assert!(matches!(
            read(MANIFEST.as_bytes(), Some("text/html"), None, None),
            Err(ManifestError::UnsupportedMediaType(_))
        ));
        assert!(matches!(
            read(b"<html>", Some(OCI_MANIFEST), None, None),
            Err(ManifestError::Invalid(_))
        ));
        let wrong = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
        assert!(matches!(
            read(MANIFEST.as_bytes(), Some(OCI_MANIFEST), Some(wrong), None),
            Err(ManifestError::DigestMismatch { .. })
        ));
        assert!(matches!(
            read(MANIFEST.as_bytes(), Some(OCI_MANIFEST), None, Some(wrong)),
            Err(ManifestError::DigestMismatch { .. })
        ));
        let right = digest_of("sha256", MANIFEST.as_bytes()).unwrap();
        assert!(
            read(
                MANIFEST.as_bytes(),
                Some(OCI_MANIFEST),
                Some(&right),
                Some(&right)
            )
            .is_ok()
        );
        let sha512 = digest_of("sha512", MANIFEST.as_bytes()).unwrap();
        let m = read(
            MANIFEST.as_bytes(),
            Some(OCI_MANIFEST),
            Some(&right),
            Some(&sha512),
        )
        .unwrap();
        assert_eq!(m.digest, sha512);
    }
}
