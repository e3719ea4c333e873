//! Domains as rules compare them: lowercase, IPv6 in canonical form, Docker
//! Hub's other names folded into `docker.io`. The compiler normalizes the
//! rules' domains with these, the matchers and the rewrite the images'.

use crate::reference::DEFAULT_DOMAIN;

/// Domains that are Docker Hub, as the matchers fold them (compared lowercase).
pub(crate) const DOCKER_HUB_ALIASES: &[&str] = &["index.docker.io", "registry-1.docker.io"];

/// Lowercase `docker.io` for any Docker Hub alias; the input otherwise.
pub(crate) fn fold_docker_hub(domain_lowercase: &str) -> &str {
    if DOCKER_HUB_ALIASES.contains(&domain_lowercase) {
        DEFAULT_DOMAIN
    } else {
        domain_lowercase
    }
}

/// A domain as rules compare it: lowercase, IPv6 in canonical form, Docker
/// Hub's aliases folded into `docker.io`.
pub(crate) fn normalize_domain(domain: &str) -> String {
    with_normalized_domain(domain, str::to_owned)
}

/// `f` of [`normalize_domain`]'s answer, without allocating when the domain
/// is lowercase (an image's usually is): the rewrite runs this per image.
pub(crate) fn with_normalized_domain<R>(domain: &str, f: impl FnOnce(&str) -> R) -> R {
    let lower: std::borrow::Cow<'_, str> = if domain.bytes().any(|b| b.is_ascii_uppercase()) {
        domain.to_ascii_lowercase().into()
    } else {
        domain.into()
    };
    if let Some(canonical) = canonical_ipv6_domain(&lower, &mut StackStr::new()) {
        return f(canonical);
    }
    f(fold_docker_hub(&lower))
}

/// A domain with an IPv6 host, written in the canonical form of RFC 5952
/// (`[0:0::1]:5000` is `[::1]:5000`), so that one address has one spelling.
/// `None` when the domain has no IPv6 host, or it does not parse, or the
/// result does not fit `out`.
pub(crate) fn canonical_ipv6_domain<'o>(domain: &str, out: &'o mut StackStr) -> Option<&'o str> {
    let rest = domain.strip_prefix('[')?;
    let (host, after) = rest.split_once(']')?;
    let addr: std::net::Ipv6Addr = host.parse().ok()?;
    use std::fmt::Write;
    out.clear();
    write!(out, "[{addr}]{after}").ok()?;
    Some(out.as_str())
}

/// A string on the stack, for canonical domains.
pub(crate) struct StackStr {
    buf: [u8; 80],
    len: usize,
}

impl StackStr {
    pub(crate) fn new() -> Self {
        Self {
            buf: [0; 80],
            len: 0,
        }
    }

    fn clear(&mut self) {
        self.len = 0;
    }

    fn as_str(&self) -> &str {
        // Only whole `&str`s are ever written.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }
}

impl std::fmt::Write for StackStr {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        if end > self.buf.len() {
            return Err(std::fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}
