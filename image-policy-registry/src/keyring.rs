//! Registry credentials, read from a docker `config.json`, a legacy
//! `.dockercfg`, or a Kubernetes `kubernetes.io/dockerconfigjson` Secret, and
//! matched to an image the way the kubelet matches them (its
//! `credentialprovider` keyring), so that a key that works for the cluster's
//! pulls works here, and no other.
//!
//! # Keys
//!
//! Each key of `auths` is read as the kubelet reads it:
//!
//! 1. `https://` is put in front unless the key starts with `https://` or
//!    `http://`; the scheme then plays no further part.
//! 2. The key's host (with its port) and path are taken; a path starting with
//!    `/v1/` or `/v2/` loses that prefix (`https://index.docker.io/v1/` is
//!    the host `index.docker.io`), and a path of `/` is no path.
//! 3. An image (its canonical name, `docker.io/library/nginx`,
//!    `registry.my.com:5000/team/app`) matches a key when the ports are equal
//!    (both absent, or the same text), the hosts have the same number of
//!    dot-separated parts and each part matches the key's part as a glob
//!    (`*.my.com` matches `eu.my.com`, not `a.eu.my.com`), and the key's path
//!    is a *text* prefix of the image's path (`/team` matches `/team/app`
//!    and also `/teams/app`, as in the kubelet).
//! 4. Keys are tried from the greatest to the least in byte order (more
//!    specific paths first); the first key that matches gives the
//!    credentials.
//! 5. When no key matches and the image is on Docker Hub (the name's first
//!    component is `docker.io` or `index.docker.io`, or has no `.` or `:`),
//!    the key `index.docker.io` (written `https://index.docker.io/v1/`, as
//!    `docker login` writes it) gives them.
//!
//! An entry's `auth` (base64 of `user:password`) wins over its `username` and
//! `password`; an `auth` that is not base64 of `user:password` makes the
//! whole file an error, as it does for the kubelet. Credential helpers
//! (`credsStore`, `credHelpers`) and identity tokens are not used (the
//! kubelet does not use them either). Where the kubelet would try several
//! credentials for one key in turn, this client uses the first.

use base64::Engine;
use std::fmt;

/// A user name and password for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// The user name.
    pub username: String,
    /// The password (or token used as one).
    pub password: String,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Why a credentials file could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyringError {
    /// What is wrong, for a person.
    pub message: String,
}

impl fmt::Display for KeyringError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for KeyringError {}

fn error(message: impl Into<String>) -> KeyringError {
    KeyringError {
        message: message.into(),
    }
}

/// Credentials by key, matched as the kubelet matches them (see the
/// [module docs](self)).
#[derive(Clone, Debug, Default)]
pub struct Keyring {
    /// Keys from the greatest to the least, each with its credentials.
    entries: Vec<(String, Credential)>,
}

#[derive(serde::Deserialize)]
struct Entry {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    auth: String,
}

impl Keyring {
    /// An empty keyring: every request is anonymous.
    pub fn new() -> Self {
        Keyring::default()
    }

    /// Reads a docker `config.json` (`{"auths": {...}}`), a legacy
    /// `.dockercfg` (the `auths` map alone), or a Kubernetes Secret of type
    /// `kubernetes.io/dockerconfigjson` or `kubernetes.io/dockercfg` (JSON or
    /// YAML, its `data` base64 or its `stringData`). Adds to what is there.
    pub fn add_file_contents(&mut self, text: &str) -> Result<(), KeyringError> {
        let value: serde_json::Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(json) => serde_saphyr::from_str(text).map_err(|yaml| {
                error(format!(
                    "neither JSON ({json}) nor YAML ({})",
                    yaml.to_string().lines().next().unwrap_or_default()
                ))
            })?,
        };
        if value.get("kind").and_then(|k| k.as_str()) == Some("Secret") {
            return self.add_secret(&value);
        }
        self.add_config(&value)
    }

    fn add_secret(&mut self, secret: &serde_json::Value) -> Result<(), KeyringError> {
        for key in [".dockerconfigjson", ".dockercfg"] {
            if let Some(s) = secret
                .get("stringData")
                .and_then(|d| d.get(key))
                .and_then(|v| v.as_str())
            {
                return self.add_config_text(s, key);
            }
            if let Some(s) = secret
                .get("data")
                .and_then(|d| d.get(key))
                .and_then(|v| v.as_str())
            {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(s.trim())
                    .map_err(|e| error(format!("Secret data {key} is not base64: {e}")))?;
                let text = String::from_utf8(bytes)
                    .map_err(|_| error(format!("Secret data {key} is not UTF-8")))?;
                return self.add_config_text(&text, key);
            }
        }
        Err(error(
            "a Secret without .dockerconfigjson or .dockercfg in data or stringData",
        ))
    }

    fn add_config_text(&mut self, text: &str, what: &str) -> Result<(), KeyringError> {
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| error(format!("Secret data {what} is not JSON: {e}")))?;
        self.add_config(&value)
    }

    fn add_config(&mut self, value: &serde_json::Value) -> Result<(), KeyringError> {
        let map = match value.get("auths") {
            Some(auths) => auths,
            None => value,
        };
        let map = map
            .as_object()
            .ok_or_else(|| error("expected an object of registry keys (\"auths\")"))?;
        for (key, entry) in map {
            if !entry.is_object() {
                // config.json has other top-level keys (credsStore, …) when
                // there is no `auths`; they are not entries.
                if value.get("auths").is_none() {
                    continue;
                }
                return Err(error(format!("auths[{key:?}] is not an object")));
            }
            let entry: Entry = serde_json::from_value(entry.clone())
                .map_err(|e| error(format!("auths[{key:?}]: {e}")))?;
            let credential = if entry.auth.is_empty() {
                Credential {
                    username: entry.username,
                    password: entry.password,
                }
            } else {
                decode_auth(&entry.auth).ok_or_else(|| {
                    error(format!(
                        "auths[{key:?}].auth must be base64(username:password)"
                    ))
                })?
            };
            self.add(key, credential);
        }
        Ok(())
    }

    /// Adds the credentials for one key (as written in `auths`). A key the
    /// kubelet could not read as a URL is ignored, as the kubelet ignores it.
    pub fn add(&mut self, key: &str, credential: Credential) {
        let Some(key) = normalize_key(key) else {
            return;
        };
        // The kubelet keeps every credential of a key (in file order) and
        // tries them in turn; this client uses the first, so a later one for
        // the same key is not added.
        if self.entries.iter().any(|(k, _)| *k == key) {
            return;
        }
        self.entries.push((key, credential));
        self.entries
            .sort_by(|a, b| b.0.as_bytes().cmp(a.0.as_bytes()));
    }

    /// Whether no credentials are known.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The credentials for an image's canonical name
    /// (`docker.io/library/nginx`, `registry.my.com:5000/team/app`), as the
    /// kubelet picks them.
    pub fn lookup(&self, name: &str) -> Option<&Credential> {
        let target = Url::schemeless(name)?;
        for (key, credential) in &self.entries {
            if let Some(glob) = Url::schemeless(key)
                && urls_match(&glob, &target)
            {
                return Some(credential);
            }
        }
        if is_default_registry_match(name) {
            return self
                .entries
                .iter()
                .find(|(k, _)| k == DEFAULT_REGISTRY_HOST)
                .map(|(_, c)| c);
        }
        None
    }
}

const DEFAULT_REGISTRY_HOST: &str = "index.docker.io";

fn decode_auth(auth: &str) -> Option<Credential> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(auth)
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (username, password) = text.split_once(':')?;
    Some(Credential {
        username: username.to_owned(),
        password: password.trim_matches('\0').to_owned(),
    })
}

/// The kubelet's index key for an `auths` key: host, plus the path unless
/// it is empty or `/` (after dropping a `/v1/` or `/v2/` prefix).
fn normalize_key(key: &str) -> Option<String> {
    let rest = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let url = Url::schemeless(rest)?;
    let mut path = url.path;
    if path.starts_with("/v2/") || path.starts_with("/v1/") {
        path = &path[3..];
    }
    Some(if path.is_empty() || path == "/" {
        url.host.to_owned()
    } else {
        format!("{}{path}", url.host)
    })
}

/// The parts of `https://` + a schemeless URL that the matching uses (Go's
/// `url.Parse`: the host runs to the first `/`, `?` or `#`; the path to the
/// first `?` or `#`).
struct Url<'a> {
    host: &'a str,
    path: &'a str,
}

impl<'a> Url<'a> {
    fn schemeless(s: &'a str) -> Option<Url<'a>> {
        // Go's parser refuses control characters and spaces in a host;
        // refusing them anywhere keeps the rest simple.
        if s.bytes().any(|b| b.is_ascii_control() || b == b' ') {
            return None;
        }
        let s = s.split(['?', '#']).next().unwrap_or_default();
        let (host, path) = match s.find('/') {
            Some(i) => (&s[..i], &s[i..]),
            None => (s, ""),
        };
        // User information (`user@host`) is not a registry key anyone
        // writes; the kubelet would drop it from the host.
        if host.contains('@') {
            return None;
        }
        // Go's URL parser refuses these in a host (and `%` escapes, which
        // no registry key needs): the kubelet then ignores the key.
        if !host.bytes().all(|b| {
            b >= 0x80 || b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:[]<>\"".contains(&b)
        }) {
            return None;
        }
        Some(Url { host, path })
    }

    /// Host parts split at `.`, and the port (Go's `net.SplitHostPort`, or
    /// no port when the host does not split).
    fn parts(&self) -> (Vec<&'a str>, &'a str) {
        let (host, port) = split_host_port(self.host).unwrap_or((self.host, ""));
        (host.split('.').collect(), port)
    }
}

/// Go's `net.SplitHostPort`: `host:port` or `[v6]:port`; an error (here
/// `None`) when there is no port or the brackets do not fit.
fn split_host_port(s: &str) -> Option<(&str, &str)> {
    if let Some(rest) = s.strip_prefix('[') {
        let end = rest.find(']')?;
        let host = &rest[..end];
        let port = rest[end + 1..].strip_prefix(':')?;
        if port.contains([':', '[', ']']) {
            return None;
        }
        return Some((host, port));
    }
    let colon = s.rfind(':')?;
    let (host, port) = (&s[..colon], &s[colon + 1..]);
    if host.contains([':', '[', ']']) || port.contains(['[', ']']) {
        return None;
    }
    Some((host, port))
}

fn urls_match(glob: &Url<'_>, target: &Url<'_>) -> bool {
    let (glob_parts, glob_port) = glob.parts();
    let (target_parts, target_port) = target.parts();
    glob_port == target_port
        && glob_parts.len() == target_parts.len()
        && target.path.starts_with(glob.path)
        && glob_parts
            .iter()
            .zip(&target_parts)
            .all(|(g, t)| glob_match(g, t) == Some(true))
}

#[doc(hidden)]
/// Go's `path/filepath.Match` for a name without separators: `*`, `?`,
/// `[...]` classes (`^` negates, `a-z` ranges) and `\` escapes. `None` for a
/// malformed pattern (the kubelet then treats the key as not matching).
/// Backtracks only to the last `*`, so the time is at most the product of
/// the lengths.
pub fn glob_match(pattern: &str, name: &str) -> Option<bool> {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Go reports a malformed pattern even when the name already failed to
    // match; check the whole pattern first.
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '[' => i = class_end(&p, i)?,
            '\\' => {
                if i + 1 >= p.len() {
                    return None;
                }
                i += 2;
            }
            _ => i += 1,
        }
    }
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        let step = if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi, ni));
                    pi += 1;
                    continue;
                }
                '?' => Some(pi + 1),
                '[' => {
                    let end = class_end(&p, pi)?;
                    class_matches(&p[pi + 1..end - 1], n[ni]).then_some(end)
                }
                '\\' => (p[pi + 1] == n[ni]).then_some(pi + 2),
                c => (c == n[ni]).then_some(pi + 1),
            }
        } else {
            None
        };
        match step {
            Some(next) => {
                pi = next;
                ni += 1;
            }
            None => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return Some(false),
            },
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    Some(pi == p.len())
}

/// The index after the `]` closing the class that opens at `start`.
fn class_end(p: &[char], start: usize) -> Option<usize> {
    let mut i = start + 1;
    if p.get(i) == Some(&'^') {
        i += 1;
    }
    let mut first = true;
    loop {
        match p.get(i)? {
            ']' if !first => return Some(i + 1),
            // Go: an empty class or a range without an end is malformed.
            ']' | '-' => return None,
            '\\' => i += 2,
            _ => i += 1,
        }
        if i > p.len() {
            return None;
        }
        // A range `lo-hi`.
        if p.get(i) == Some(&'-') {
            i += 1;
            match p.get(i)? {
                ']' | '-' => return None,
                '\\' => i += 2,
                _ => i += 1,
            }
            if i > p.len() {
                return None;
            }
        }
        first = false;
    }
}

/// Whether `c` is in the class body (between `[` and `]`, already checked).
fn class_matches(body: &[char], c: char) -> bool {
    let (negated, body) = match body.first() {
        Some('^') => (true, &body[1..]),
        _ => (false, body),
    };
    let mut i = 0;
    let mut matched = false;
    while i < body.len() {
        let lo = if body[i] == '\\' {
            i += 1;
            body[i]
        } else {
            body[i]
        };
        i += 1;
        let hi = if body.get(i) == Some(&'-') {
            i += 1;
            let hi = if body[i] == '\\' {
                i += 1;
                body[i]
            } else {
                body[i]
            };
            i += 1;
            hi
        } else {
            lo
        };
        if lo <= c && c <= hi {
            matched = true;
        }
    }
    matched != negated
}

/// The kubelet's `isDefaultRegistryMatch`.
fn is_default_registry_match(image: &str) -> bool {
    let mut parts = image.splitn(2, '/');
    let first = parts.next().unwrap_or_default();
    if first.is_empty() {
        return false;
    }
    if parts.next().is_none() {
        return true;
    }
    if first == "docker.io" || first == "index.docker.io" {
        return true;
    }
    !first.contains(['.', ':'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_as_go_filepath_match() {
        let cases: &[(&str, &str, Option<bool>)] = &[
            ("*", "eu", Some(true)),
            ("*", "", Some(true)),
            ("e?", "eu", Some(true)),
            ("e?", "e", Some(false)),
            ("a*b*c", "axxbyyc", Some(true)),
            ("a*b*c", "axxbyy", Some(false)),
            ("[a-c]x", "bx", Some(true)),
            ("[^a-c]x", "bx", Some(false)),
            ("[^a-c]x", "dx", Some(true)),
            ("\\*", "*", Some(true)),
            ("\\*", "a", Some(false)),
            ("[", "a", None),
            ("[]", "a", None),
            ("[a-]", "a", None),
            ("a\\", "a", None),
            // Malformed even where the name fails early.
            ("b[", "a", None),
            ("registry", "registry", Some(true)),
            ("registry", "Registry", Some(false)),
        ];
        for (p, n, want) in cases {
            assert_eq!(glob_match(p, n), *want, "{p:?} {n:?}");
        }
    }

    #[test]
    fn key_normalization() {
        let cases = [
            ("https://index.docker.io/v1/", "index.docker.io"),
            ("index.docker.io", "index.docker.io"),
            ("http://registry.my.com:5000/v2/", "registry.my.com:5000"),
            ("registry.my.com/team", "registry.my.com/team"),
            ("https://registry.my.com/v2/team/", "registry.my.com/team/"),
            ("registry.my.com/", "registry.my.com"),
            ("registry.my.com?x=1", "registry.my.com"),
        ];
        for (key, want) in cases {
            assert_eq!(normalize_key(key).as_deref(), Some(want), "{key}");
        }
        assert_eq!(normalize_key("user@host"), None);
        assert_eq!(normalize_key("a b"), None);
    }

    #[test]
    fn split_host_port_as_go() {
        assert_eq!(split_host_port("a:1"), Some(("a", "1")));
        assert_eq!(split_host_port("[::1]:5000"), Some(("::1", "5000")));
        assert_eq!(split_host_port("a"), None);
        assert_eq!(split_host_port("::1"), None);
        assert_eq!(split_host_port("a:"), Some(("a", "")));
    }
}
