//! `$VAR` / `${VAR}` substitution as Dockerfiles (`ARG`) and compose files
//! (interpolation) do it, for image references only.
//!
//! Supported forms: `$NAME`, `${NAME}`, `${NAME:-default}`, `${NAME-default}`,
//! `${NAME:+alt}`, `${NAME+alt}`, and for compose `${NAME:?err}` / `${NAME?err}`
//! (an error when unset) and `$$` (a literal `$`). In a Dockerfile the escape
//! character (`\` or the `# escape=` directive's) before `$` keeps it literal.
//! A variable without a value, or a form the linter does not evaluate, is
//! reported by name, never guessed.

use std::collections::HashMap;

/// Which file syntax the text comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Syntax {
    /// A Dockerfile, with its escape character.
    Dockerfile {
        /// `\` by default, or the `# escape=` directive's character.
        escape: char,
    },
    /// A compose file (`$$` is a literal `$`).
    Compose,
}

/// Why a substitution failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unresolved {
    /// `${NAME}` where NAME has no value.
    Unset(String),
    /// `${NAME:?message}` with NAME unset: the file's own error message.
    Required(String, String),
    /// A form the linter does not evaluate (`${NAME%suffix}`, an unclosed `${`).
    Unsupported(String),
}

impl std::fmt::Display for Unresolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unresolved::Unset(name) => write!(
                f,
                "variable {name} has no value; pass --var {name}=VALUE to say what it will be"
            ),
            Unresolved::Required(name, msg) => write!(
                f,
                "variable {name} is required ({msg}); pass --var {name}=VALUE"
            ),
            Unresolved::Unsupported(text) => write!(
                f,
                "cannot evaluate {text}: only $NAME, ${{NAME}}, ${{NAME:-default}} and ${{NAME:+alt}} forms are supported"
            ),
        }
    }
}

/// Substitutes variables in `text`. `lookup` answers a variable's value
/// (`None` when unset; `Some("")` is set but empty, which `:-` treats as unset).
pub fn substitute<'v>(
    text: &str,
    syntax: Syntax,
    lookup: &impl Fn(&str) -> Option<&'v str>,
) -> Result<String, Unresolved> {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if let Syntax::Dockerfile { escape } = syntax
            && c == escape
            && chars.peek().is_some_and(|&(_, n)| n == '$')
        {
            out.push('$');
            chars.next();
            continue;
        }
        if c != '$' {
            out.push(c);
            continue;
        }
        match chars.peek().copied() {
            Some((_, '$')) if syntax == Syntax::Compose => {
                out.push('$');
                chars.next();
            }
            Some((_, '{')) => {
                chars.next();
                let start = i + 2;
                let Some(close) = text[start..].find('}') else {
                    return Err(Unresolved::Unsupported(text[i..].to_owned()));
                };
                let inner = &text[start..start + close];
                out.push_str(&braced(inner, syntax, lookup)?);
                // Skip past the closing brace.
                while let Some(&(j, _)) = chars.peek() {
                    chars.next();
                    if j == start + close {
                        break;
                    }
                }
            }
            Some((_, n)) if is_name_start(n) => {
                let rest = &text[i + 1..];
                let len = rest.find(|c: char| !is_name_char(c)).unwrap_or(rest.len());
                let name = &rest[..len];
                match lookup(name) {
                    Some(v) => out.push_str(v),
                    None => return Err(Unresolved::Unset(name.to_owned())),
                }
                for _ in 0..name.chars().count() {
                    chars.next();
                }
            }
            // A lone `$` is literal, as in both tools.
            _ => out.push('$'),
        }
    }
    Ok(out)
}

fn braced<'v>(
    inner: &str,
    syntax: Syntax,
    lookup: &impl Fn(&str) -> Option<&'v str>,
) -> Result<String, Unresolved> {
    let name_len = inner
        .find(|c: char| !is_name_char(c))
        .unwrap_or(inner.len());
    let (name, op) = inner.split_at(name_len);
    if name.is_empty() || !name.starts_with(is_name_start) {
        return Err(Unresolved::Unsupported(format!("${{{inner}}}")));
    }
    let value = lookup(name);
    let set_nonempty = value.is_some_and(|v| !v.is_empty());
    let nested = |word: &str| substitute(word, syntax, lookup);
    let (colon, op) = match op.strip_prefix(':') {
        Some(rest) => (true, rest),
        None => (false, op),
    };
    let present = if colon { set_nonempty } else { value.is_some() };
    match op.chars().next() {
        None if !colon => value
            .map(str::to_owned)
            .ok_or_else(|| Unresolved::Unset(name.to_owned())),
        Some('-') => {
            if present {
                Ok(value.unwrap_or_default().to_owned())
            } else {
                nested(&op[1..])
            }
        }
        Some('+') => {
            if present {
                nested(&op[1..])
            } else {
                Ok(String::new())
            }
        }
        Some('?') if syntax == Syntax::Compose => {
            if present {
                Ok(value.unwrap_or_default().to_owned())
            } else {
                Err(Unresolved::Required(name.to_owned(), op[1..].to_owned()))
            }
        }
        _ => Err(Unresolved::Unsupported(format!("${{{inner}}}"))),
    }
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Values from `--var NAME=VALUE`, which win over a file's own defaults.
pub type Overrides = HashMap<String, String>;

#[cfg(test)]
mod tests {
    use super::*;

    /// (syntax, text, expected image or error prefix)
    const CASES: &[(&str, &str, Result<&str, &str>)] = &[
        ("docker", "nginx:${TAG}", Ok("nginx:1.25")),
        ("docker", "nginx:$TAG", Ok("nginx:1.25")),
        ("docker", "$REG/app", Ok("registry.my.com/app")),
        ("docker", "${UNSET:-alpine}:3", Ok("alpine:3")),
        ("docker", "${EMPTY:-alpine}", Ok("alpine")),
        ("docker", "${EMPTY-alpine}", Ok("")),
        ("docker", "a${TAG:+-x}", Ok("a-x")),
        ("docker", "a${UNSET:+-x}", Ok("a")),
        ("docker", "${UNSET}", Err("variable UNSET has no value")),
        ("docker", "$UNSET", Err("variable UNSET has no value")),
        ("docker", "${TAG%.*}", Err("cannot evaluate ${TAG%.*}")),
        ("docker", "${TAG", Err("cannot evaluate ${TAG")),
        ("docker", "\\$TAG", Ok("$TAG")),
        ("docker", "a$", Ok("a$")),
        ("docker", "${UNSET:-${REG}}/x", Err("cannot evaluate")),
        ("compose", "app:$${TAG}", Ok("app:${TAG}")),
        ("compose", "app:${TAG:?set TAG}", Ok("app:1.25")),
        (
            "compose",
            "app:${UNSET:?set it}",
            Err("variable UNSET is required (set it)"),
        ),
        ("compose", "app:${UNSET:-1.0}", Ok("app:1.0")),
    ];

    #[test]
    fn substitution_cases() {
        let vars: HashMap<&str, &str> =
            [("TAG", "1.25"), ("REG", "registry.my.com"), ("EMPTY", "")].into();
        let lookup = |n: &str| vars.get(n).copied();
        for (syntax, text, want) in CASES {
            let syntax = match *syntax {
                "docker" => Syntax::Dockerfile { escape: '\\' },
                _ => Syntax::Compose,
            };
            let got = substitute(text, syntax, &lookup).map_err(|e| e.to_string());
            match (want, &got) {
                (Ok(w), Ok(g)) => assert_eq!(g, w, "{text}"),
                (Err(w), Err(g)) => assert!(g.starts_with(w), "{text}: {g}"),
                _ => panic!("{text}: want {want:?}, got {got:?}"),
            }
        }
    }
}
