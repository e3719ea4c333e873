//! The `WWW-Authenticate` header (RFC 9110 §11.6.1): the challenges a
//! registry answers a 401 with, such as
//! `Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull"`.
//!
//! A hand-written parser, because the header is hostile input and small:
//! it reads `1#challenge` where `challenge = auth-scheme [ 1*SP ( token68 /
//! #auth-param ) ]` and `auth-param = token BWS "=" BWS ( token /
//! quoted-string )`, in one pass, without backtracking over more than one
//! token. The header is at most [`MAX_LEN`] bytes, at most
//! [`MAX_CHALLENGES`] challenges of at most [`MAX_PARAMS`] parameters each;
//! anything else is an [error](ChallengeError) with its offset. Scheme and
//! parameter names are compared without case (they are returned in lower
//! case); a parameter named twice in one challenge is an error (which of the
//! two to believe is not ours to guess).

use std::fmt;

/// The longest header read, in bytes.
pub const MAX_LEN: usize = 16 * 1024;
/// The most challenges read from one header.
pub const MAX_CHALLENGES: usize = 16;
/// The most parameters read in one challenge.
pub const MAX_PARAMS: usize = 32;

/// One challenge: a scheme and its parameters (or a token68).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    /// The scheme, in lower case (`bearer`, `basic`).
    pub scheme: String,
    /// The parameters in the order written, names in lower case, values
    /// unquoted and unescaped.
    pub params: Vec<(String, String)>,
    /// The token68 form (`Negotiate abc==`), when the challenge has one
    /// instead of parameters.
    pub token68: Option<String>,
}

impl Challenge {
    /// The value of parameter `name` (lower case).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Why a header could not be read, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChallengeError {
    /// What is wrong.
    pub kind: ChallengeErrorKind,
    /// The byte offset in the header where it was found.
    pub offset: usize,
}

/// What is wrong with a `WWW-Authenticate` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChallengeErrorKind {
    /// Longer than [`MAX_LEN`].
    TooLong,
    /// More than [`MAX_CHALLENGES`] challenges or [`MAX_PARAMS`] parameters.
    TooMany,
    /// No challenge at all.
    Empty,
    /// A scheme or parameter name was expected.
    ExpectedToken,
    /// `=` was expected after a parameter name.
    ExpectedEquals,
    /// A parameter value (token or quoted string) was expected.
    ExpectedValue,
    /// A quoted string is not closed.
    UnterminatedQuote,
    /// A control character (or non-ASCII byte) where none is allowed.
    InvalidCharacter,
    /// `,` or the end was expected after a parameter or token68.
    ExpectedComma,
    /// A parameter is named twice in one challenge.
    DuplicateParam,
}

impl fmt::Display for ChallengeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            ChallengeErrorKind::TooLong => "longer than 16 KiB",
            ChallengeErrorKind::TooMany => "too many challenges or parameters",
            ChallengeErrorKind::Empty => "no challenge",
            ChallengeErrorKind::ExpectedToken => "expected a scheme or parameter name",
            ChallengeErrorKind::ExpectedEquals => "expected `=` after a parameter name",
            ChallengeErrorKind::ExpectedValue => "expected a parameter value",
            ChallengeErrorKind::UnterminatedQuote => "unterminated quoted string",
            ChallengeErrorKind::InvalidCharacter => "invalid character",
            ChallengeErrorKind::ExpectedComma => "expected `,` or the end",
            ChallengeErrorKind::DuplicateParam => "parameter named twice",
        };
        write!(f, "WWW-Authenticate: {what} at byte {}", self.offset)
    }
}

impl std::error::Error for ChallengeError {}

/// The parameters of a `Bearer` challenge that the token flow needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bearer<'a> {
    /// Where to ask for a token.
    pub realm: &'a str,
    /// The `service` parameter, passed on to the token server.
    pub service: Option<&'a str>,
    /// The `scope` parameter, passed on to the token server.
    pub scope: Option<&'a str>,
}

/// The first `Bearer` challenge with a `realm`, if any.
pub fn bearer(challenges: &[Challenge]) -> Option<Bearer<'_>> {
    challenges
        .iter()
        .filter(|c| c.scheme == "bearer")
        .find_map(|c| {
            Some(Bearer {
                realm: c.param("realm")?,
                service: c.param("service"),
                scope: c.param("scope"),
            })
        })
}

/// Parses a whole `WWW-Authenticate` header value (all its challenges).
pub fn parse(header: &str) -> Result<Vec<Challenge>, ChallengeError> {
    if header.len() > MAX_LEN {
        return Err(ChallengeError {
            kind: ChallengeErrorKind::TooLong,
            offset: MAX_LEN,
        });
    }
    let mut p = Parser {
        s: header.as_bytes(),
        i: 0,
    };
    let mut out: Vec<Challenge> = Vec::new();
    // A token read ahead while looking for the next parameter, that turned
    // out to be the next challenge's scheme.
    let mut pending: Option<String> = None;
    loop {
        let scheme = match pending.take() {
            Some(s) => s,
            None => {
                p.skip_list_separators();
                if p.at_end() {
                    break;
                }
                p.token()?.to_ascii_lowercase()
            }
        };
        if out.len() == MAX_CHALLENGES {
            return Err(p.error(ChallengeErrorKind::TooMany));
        }
        let mut challenge = Challenge {
            scheme,
            params: Vec::new(),
            token68: None,
        };
        let had_space = p.skip_ows();
        if p.at_end() || p.peek() == Some(b',') {
            out.push(challenge);
            continue;
        }
        if !had_space {
            return Err(p.error(ChallengeErrorKind::InvalidCharacter));
        }
        if let Some(t) = p.token68() {
            challenge.token68 = Some(t);
            p.skip_ows();
            if !p.at_end() && p.peek() != Some(b',') {
                return Err(p.error(ChallengeErrorKind::ExpectedComma));
            }
            out.push(challenge);
            continue;
        }
        // auth-params, until the end or a token that is not followed by `=`.
        loop {
            let start = p.i;
            let name = p.token()?.to_ascii_lowercase();
            p.skip_ows();
            if p.peek() != Some(b'=') {
                if challenge.params.is_empty() {
                    return Err(p.error(ChallengeErrorKind::ExpectedEquals));
                }
                // The next challenge's scheme.
                pending = Some(name);
                // The scheme must be followed by a space, `,` or the end;
                // the outer loop checks it.
                p.i = start + pending.as_ref().map_or(0, String::len);
                break;
            }
            p.i += 1;
            p.skip_ows();
            let value = p.value()?;
            if challenge.params.iter().any(|(n, _)| *n == name) {
                return Err(ChallengeError {
                    kind: ChallengeErrorKind::DuplicateParam,
                    offset: start,
                });
            }
            if challenge.params.len() == MAX_PARAMS {
                return Err(ChallengeError {
                    kind: ChallengeErrorKind::TooMany,
                    offset: start,
                });
            }
            challenge.params.push((name, value));
            p.skip_ows();
            if p.at_end() {
                break;
            }
            if p.peek() != Some(b',') {
                return Err(p.error(ChallengeErrorKind::ExpectedComma));
            }
            p.skip_list_separators();
            if p.at_end() {
                break;
            }
        }
        out.push(challenge);
    }
    if out.is_empty() {
        return Err(p.error(ChallengeErrorKind::Empty));
    }
    Ok(out)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token68_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~+/".contains(&b)
}

impl Parser<'_> {
    fn at_end(&self) -> bool {
        self.i >= self.s.len()
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn error(&self, kind: ChallengeErrorKind) -> ChallengeError {
        ChallengeError {
            kind,
            offset: self.i,
        }
    }

    /// Skips spaces and tabs; whether there were any.
    fn skip_ows(&mut self) -> bool {
        let start = self.i;
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
        self.i > start
    }

    /// Skips whitespace and commas (empty list elements are allowed).
    fn skip_list_separators(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b',')) {
            self.i += 1;
        }
    }

    fn token(&mut self) -> Result<String, ChallengeError> {
        let start = self.i;
        while self.peek().is_some_and(is_tchar) {
            self.i += 1;
        }
        if self.i == start {
            return Err(
                self.error(if self.peek().is_some_and(|b| !(0x20..0x7f).contains(&b)) {
                    ChallengeErrorKind::InvalidCharacter
                } else {
                    ChallengeErrorKind::ExpectedToken
                }),
            );
        }
        Ok(String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }

    /// A token68 (`abc+/=`) when what follows is one: token68 characters,
    /// then `=`s, then the end or `,`. Otherwise nothing is consumed.
    fn token68(&mut self) -> Option<String> {
        let start = self.i;
        let mut j = start;
        while self.s.get(j).copied().is_some_and(is_token68_char) {
            j += 1;
        }
        if j == start {
            return None;
        }
        while self.s.get(j) == Some(&b'=') {
            j += 1;
        }
        let end = j;
        while matches!(self.s.get(j), Some(b' ' | b'\t')) {
            j += 1;
        }
        if j < self.s.len() && self.s[j] != b',' {
            return None;
        }
        self.i = end;
        Some(String::from_utf8_lossy(&self.s[start..end]).into_owned())
    }

    fn value(&mut self) -> Result<String, ChallengeError> {
        if self.peek() != Some(b'"') {
            return self.token().map_err(|e| ChallengeError {
                kind: if e.kind == ChallengeErrorKind::ExpectedToken {
                    ChallengeErrorKind::ExpectedValue
                } else {
                    e.kind
                },
                ..e
            });
        }
        let open = self.i;
        self.i += 1;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => {
                    return Err(ChallengeError {
                        kind: ChallengeErrorKind::UnterminatedQuote,
                        offset: open,
                    });
                }
                Some(b'"') => {
                    self.i += 1;
                    break;
                }
                Some(b'\\') => {
                    self.i += 1;
                    match self.peek() {
                        Some(b) if b == b'\t' || (0x20..0x7f).contains(&b) => {
                            out.push(b);
                            self.i += 1;
                        }
                        None => {
                            return Err(ChallengeError {
                                kind: ChallengeErrorKind::UnterminatedQuote,
                                offset: open,
                            });
                        }
                        Some(_) => return Err(self.error(ChallengeErrorKind::InvalidCharacter)),
                    }
                }
                Some(b) if b == b'\t' || (0x20..0x7f).contains(&b) => {
                    out.push(b);
                    self.i += 1;
                }
                Some(_) => return Err(self.error(ChallengeErrorKind::InvalidCharacter)),
            }
        }
        // Only ASCII was pushed.
        Ok(String::from_utf8_lossy(&out).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(c: &Challenge) -> Vec<(&str, &str)> {
        c.params
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect()
    }

    #[test]
    fn docker_hub_challenge() {
        let c = parse(r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull""#).unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].scheme, "bearer");
        let b = bearer(&c).unwrap();
        assert_eq!(b.realm, "https://auth.docker.io/token");
        assert_eq!(b.service, Some("registry.docker.io"));
        assert_eq!(b.scope, Some("repository:library/nginx:pull"));
    }

    #[test]
    fn several_challenges_tokens_escapes_and_token68() {
        let c = parse(
            r#"Negotiate abc+/==, Basic realm="a \"b\" c" , BEARER Realm="https://x/t",  error=insufficient_scope,,"#,
        )
        .unwrap();
        assert_eq!(c.len(), 3);
        assert_eq!(c[0].token68.as_deref(), Some("abc+/=="));
        assert_eq!(params(&c[1]), [("realm", r#"a "b" c"#)]);
        assert_eq!(c[2].scheme, "bearer");
        assert_eq!(
            params(&c[2]),
            [("realm", "https://x/t"), ("error", "insufficient_scope")]
        );
        let c = parse("Basic, Bearer realm=x").unwrap();
        assert_eq!(c.len(), 2);
        assert!(c[0].params.is_empty() && c[0].token68.is_none());
    }

    #[test]
    fn errors_have_kinds_and_offsets() {
        let cases: &[(&str, ChallengeErrorKind, usize)] = &[
            ("", ChallengeErrorKind::Empty, 0),
            (" , ", ChallengeErrorKind::Empty, 3),
            (
                "Bearer realm=\"x",
                ChallengeErrorKind::UnterminatedQuote,
                13,
            ),
            ("Bearer a=b, realm=", ChallengeErrorKind::ExpectedValue, 18),
            // By the grammar, `realm=` alone is a token68.
            (
                "Bearer realm=x realm2=y",
                ChallengeErrorKind::ExpectedComma,
                15,
            ),
            (
                "Bearer realm=x,realm=y",
                ChallengeErrorKind::DuplicateParam,
                15,
            ),
            (
                "Bearer realm=x,REALM=y",
                ChallengeErrorKind::DuplicateParam,
                15,
            ),
            (
                "Bearer realm=\"a\u{1}\"",
                ChallengeErrorKind::InvalidCharacter,
                15,
            ),
            ("Bearer \"x\"", ChallengeErrorKind::ExpectedToken, 7),
            ("=x", ChallengeErrorKind::ExpectedToken, 0),
            ("Bearer a b", ChallengeErrorKind::ExpectedEquals, 9),
        ];
        for (input, kind, offset) in cases {
            let e = parse(input).unwrap_err();
            assert_eq!((e.kind, e.offset), (*kind, *offset), "{input:?}");
        }
        let long = format!("Bearer realm=\"{}\"", "a".repeat(MAX_LEN));
        assert_eq!(parse(&long).unwrap_err().kind, ChallengeErrorKind::TooLong);
        let many = "Basic, ".repeat(MAX_CHALLENGES + 1);
        assert_eq!(parse(&many).unwrap_err().kind, ChallengeErrorKind::TooMany);
        let many: Vec<String> = (0..=MAX_PARAMS).map(|i| format!("p{i}=v")).collect();
        let many = format!("Bearer {}", many.join(","));
        assert_eq!(parse(&many).unwrap_err().kind, ChallengeErrorKind::TooMany);
    }

    #[test]
    fn no_bearer_without_realm() {
        let c = parse("Bearer service=x, Basic realm=y").unwrap();
        assert_eq!(bearer(&c), None);
    }
}
