//! The one error type of the crate: data a caller matches on (the
//! [kind](ErrorKind), the image, the registry, the HTTP status), and a
//! `Display` for people that names the image and the registry.

use std::fmt;
use std::time::Duration;

/// Why an image could not be resolved (or a blob fetched).
///
/// Every field is data: match on [`RegistryError::kind`], read the
/// [`status`](RegistryError::status) the registry answered; `Display` writes
/// one line naming the image and the registry host, for a person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryError(Box<Inner>);

/// Boxed: an error is rare, a `Result` on the success path stays small.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Inner {
    kind: ErrorKind,
    image: String,
    registry: String,
    status: Option<u16>,
    detail: Option<String>,
}

/// What went wrong, in a form a caller can match on.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The reference names no host to contact (a verbatim one-component name).
    NoRegistry,
    /// The request did not finish within the time allowed.
    Timeout(Duration),
    /// No TCP connection to the registry (refused, unreachable, DNS).
    Connect,
    /// The TLS handshake failed: an unknown CA, a wrong name, a bad certificate.
    Tls,
    /// The connection broke, or the answer was not HTTP.
    Http,
    /// 401: no credentials, wrong credentials, or a token the registry refused.
    Unauthorized,
    /// 403: the credentials do not allow pulling this repository.
    Denied,
    /// 404: no such repository, tag or digest.
    NotFound,
    /// 429: the registry's rate limit; `retry_after` as it answered, if it did.
    RateLimited {
        /// The `Retry-After` header in seconds, when the registry sent one.
        retry_after: Option<u64>,
    },
    /// Any other status that is not a success.
    Status,
    /// A `WWW-Authenticate` challenge this client cannot read or answer.
    Challenge,
    /// The token server's answer was not a token.
    Token,
    /// The manifest is larger than the bound (4 MiB by default).
    ManifestTooLarge {
        /// The bound, in bytes.
        limit: u64,
    },
    /// A Docker image manifest of schema 1: refused (deprecated, signed over
    /// a different encoding, and unknown to the OCI types).
    SchemaV1,
    /// A media type that is not an image index or manifest.
    UnsupportedMediaType(String),
    /// The body is not the manifest its media type says.
    InvalidManifest,
    /// The body's digest differs from the registry's `Docker-Content-Digest`
    /// header or from the digest asked for.
    DigestMismatch {
        /// The digest expected (the header's, or the reference's).
        expected: String,
        /// The digest of the bytes received.
        actual: String,
    },
    /// More redirects than allowed, or a redirect without a usable `Location`.
    Redirect,
    /// A redirect or token realm from HTTPS to plain HTTP on a host that was
    /// not named for plain HTTP.
    InsecureRedirect,
    /// A digest algorithm this client cannot compute.
    UnsupportedDigest(String),
}

impl RegistryError {
    pub(crate) fn new(kind: ErrorKind, image: &str, registry: &str) -> Self {
        RegistryError(Box::new(Inner {
            kind,
            image: image.to_owned(),
            registry: registry.to_owned(),
            status: None,
            detail: None,
        }))
    }

    pub(crate) fn with_status(mut self, status: u16) -> Self {
        self.0.status = Some(status);
        self
    }

    pub(crate) fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.0.detail = Some(sanitize(&detail.into()));
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.0.kind
    }

    /// The image fetched, normalized as the runtime pulls it
    /// (`docker.io/library/nginx:latest` for `nginx`).
    pub fn image(&self) -> &str {
        &self.0.image
    }

    /// The host (and port) contacted: `registry-1.docker.io` for Docker Hub.
    pub fn registry(&self) -> &str {
        &self.0.registry
    }

    /// The HTTP status of the answer that failed, when there was one.
    pub fn status(&self) -> Option<u16> {
        self.0.status
    }

    /// More about the failure: the registry's own error code and message
    /// (`MANIFEST_UNKNOWN: manifest unknown`), or the I/O or TLS error.
    /// Control characters are replaced and the text is bounded.
    pub fn detail(&self) -> Option<&str> {
        self.0.detail.as_deref()
    }

    /// A short, stable name of the kind, for metrics labels and JSON
    /// (`not_found`, `timeout`, …).
    pub fn kind_name(&self) -> &'static str {
        self.0.kind.name()
    }
}

impl ErrorKind {
    /// A short, stable name (`not_found`, `rate_limited`, …).
    pub fn name(&self) -> &'static str {
        match self {
            ErrorKind::NoRegistry => "no_registry",
            ErrorKind::Timeout(_) => "timeout",
            ErrorKind::Connect => "connect",
            ErrorKind::Tls => "tls",
            ErrorKind::Http => "http",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Denied => "denied",
            ErrorKind::NotFound => "not_found",
            ErrorKind::RateLimited { .. } => "rate_limited",
            ErrorKind::Status => "status",
            ErrorKind::Challenge => "challenge",
            ErrorKind::Token => "token",
            ErrorKind::ManifestTooLarge { .. } => "manifest_too_large",
            ErrorKind::SchemaV1 => "schema_v1",
            ErrorKind::UnsupportedMediaType(_) => "unsupported_media_type",
            ErrorKind::InvalidManifest => "invalid_manifest",
            ErrorKind::DigestMismatch { .. } => "digest_mismatch",
            ErrorKind::Redirect => "redirect",
            ErrorKind::InsecureRedirect => "insecure_redirect",
            ErrorKind::UnsupportedDigest(_) => "unsupported_digest",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::NoRegistry => f.write_str("the reference names no registry host"),
            ErrorKind::Timeout(d) => write!(f, "no answer within {} ms", d.as_millis()),
            ErrorKind::Connect => f.write_str("cannot connect"),
            ErrorKind::Tls => f.write_str("TLS handshake failed"),
            ErrorKind::Http => f.write_str("the connection broke or the answer is not HTTP"),
            ErrorKind::Unauthorized => f.write_str("unauthorized (401)"),
            ErrorKind::Denied => f.write_str("access denied (403)"),
            ErrorKind::NotFound => f.write_str("not found (404)"),
            ErrorKind::RateLimited { retry_after: None } => f.write_str("rate limited (429)"),
            ErrorKind::RateLimited {
                retry_after: Some(s),
            } => write!(f, "rate limited (429, retry after {s} s)"),
            ErrorKind::Status => f.write_str("unexpected answer"),
            ErrorKind::Challenge => f.write_str("cannot answer the authentication challenge"),
            ErrorKind::Token => f.write_str("the token server gave no token"),
            ErrorKind::ManifestTooLarge { limit } => {
                write!(f, "manifest larger than {limit} bytes")
            }
            ErrorKind::SchemaV1 => f.write_str(
                "Docker schema 1 manifest refused (push the image again with a current client)",
            ),
            ErrorKind::UnsupportedMediaType(t) => {
                write!(
                    f,
                    "not an image manifest or index (media type {:?})",
                    sanitize(t)
                )
            }
            ErrorKind::InvalidManifest => f.write_str("invalid manifest"),
            ErrorKind::DigestMismatch { expected, actual } => write!(
                f,
                "digest mismatch: expected {expected}, the body's digest is {actual}"
            ),
            ErrorKind::Redirect => f.write_str("too many or unusable redirects"),
            ErrorKind::InsecureRedirect => f.write_str(
                "refused to follow HTTPS to plain HTTP (name the host with --registry-plain-http)",
            ),
            ErrorKind::UnsupportedDigest(a) => {
                write!(f, "unsupported digest algorithm {:?}", sanitize(a))
            }
        }
    }
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &self.0;
        write!(f, "{}: registry {}: {}", e.image, e.registry, e.kind)?;
        if let (Some(status), false) = (
            e.status,
            matches!(
                e.kind,
                ErrorKind::Unauthorized
                    | ErrorKind::Denied
                    | ErrorKind::NotFound
                    | ErrorKind::RateLimited { .. }
            ),
        ) {
            write!(f, " (HTTP {status})")?;
        }
        if let Some(detail) = &e.detail {
            write!(f, ": {detail}")?;
        }
        Ok(())
    }
}

impl std::error::Error for RegistryError {}

/// At most this many characters of a registry's text in an error.
const DETAIL_MAX: usize = 300;

/// The text with control characters replaced, bounded: a registry's message
/// goes into logs and admission answers.
pub(crate) fn sanitize(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(DETAIL_MAX + 3));
    for (i, c) in s.chars().enumerate() {
        if i == DETAIL_MAX {
            out.push('…');
            break;
        }
        out.push(if c.is_control() { ' ' } else { c });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_image_registry_and_detail() {
        let e = RegistryError::new(ErrorKind::NotFound, "app:1", "registry.my.com")
            .with_status(404)
            .with_detail("MANIFEST_UNKNOWN: manifest\nunknown");
        assert_eq!(
            e.to_string(),
            "app:1: registry registry.my.com: not found (404): MANIFEST_UNKNOWN: manifest unknown"
        );
        let e = RegistryError::new(ErrorKind::Status, "app:1", "r").with_status(500);
        assert_eq!(
            e.to_string(),
            "app:1: registry r: unexpected answer (HTTP 500)"
        );
        assert_eq!(e.kind_name(), "status");
    }

    #[test]
    fn details_are_bounded() {
        let e = RegistryError::new(ErrorKind::Status, "a", "r").with_detail("x".repeat(10_000));
        assert_eq!(e.detail().unwrap().chars().count(), DETAIL_MAX + 1);
    }
}
