//! Escaping what the linted repository controls (file names, object and
//! container names, image strings, messages quoting them) for each output,
//! so that no name can start a line that the reader of the output (a person,
//! `patch`, the GitHub Actions runner) takes for one of ours.
//!
//! | output | a name | a message |
//! |---|---|---|
//! | text | [`name`]: as is, or in double quotes with C escapes when it holds a control character, `"` or `\` | [`message`]: control characters as escapes (`\n`, `\u{1b}`) |
//! | a shown source line | [`source_line`]: each control character as one visible character (U+2400 block), so the caret stays under the image | |
//! | JSON, SARIF | serde_json's string escaping; SARIF's URIs percent-encoded | the same |
//! | GitHub workflow commands | [`github_property`]: `%`, `\r`, `\n`, `:`, `,` | [`github_data`]: `%`, `\r`, `\n` |
//! | unified diff headers | [`diff_header`]: quoted as git quotes an unusual path (C-style, in double quotes), and followed by a tab when it holds a space, as git does; GNU patch and `git apply` read both (the command leaves out of the diff a file whose reported name is not its path: not UTF-8, or with a backslash) | |
//!
//! Line separators other than `\n` and `\r` (U+0085, U+2028, U+2029) are
//! escaped too: some viewers break lines at them.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` ends or moves a line, or drives a terminal, somewhere.
fn unsafe_char(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')
}

/// `c` as a Rust/C escape: `\n`, `\r`, `\t`, else `\u{..}`.
fn push_escaped(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        _ => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
}

/// A name (file, object, container) for the text output: as it is when it
/// holds no control character, `"` or `\`, else in double quotes with those
/// escaped (`"a\nb.yaml"`), so that two names never print alike and none
/// breaks the line.
pub fn name(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| unsafe_char(c) || c == '"' || c == '\\') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if unsafe_char(c) => push_escaped(&mut out, c),
            c => out.push(c),
        }
    }
    out.push('"');
    Cow::Owned(out)
}

/// A message (a sentence that may quote names) for the text output, on one
/// line: control characters as escapes, the rest as it is.
pub fn message(s: &str) -> Cow<'_, str> {
    if !s.chars().any(unsafe_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if unsafe_char(c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A line of the linted file as the text output shows it: a tab as one
/// space, every other control character as one visible symbol (␛ for ESC,
/// ␍ for CR, U+FFFD for the C1 controls and line separators), so the
/// columns of the caret line still match.
pub fn source_line(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\t' => ' ',
            '\u{0}'..='\u{1f}' => char::from_u32(0x2400 + c as u32).unwrap_or('\u{fffd}'),
            '\u{7f}' => '\u{2421}',
            c if unsafe_char(c) => '\u{fffd}',
            c => c,
        })
        .collect()
}

/// A GitHub workflow command's message: `%`, `\r`, `\n` percent-encoded
/// (the runner decodes them). Also what the plain log lines of
/// `--format github` are escaped with, so that none can start a command.
pub fn github_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A GitHub workflow command's property value: as [`github_data`], and
/// `:` and `,` percent-encoded.
pub fn github_property(s: &str) -> String {
    github_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// A `---`/`+++` header name of a unified diff: `prefix` (`a/`, `b/`) and
/// `name`, in double quotes with C escapes (`\n`, `\t`, `\"`, `\\`, octal
/// for the other control characters) when the name holds a control
/// character, `"` or `\`, as git writes an unusual path; followed by a tab
/// when it holds a space, as git does, so that `patch` reads the name to
/// its end. Names that are not UTF-8 never get here: the caller refuses
/// them.
pub fn diff_header(prefix: &str, name: &str) -> String {
    let quote = name
        .chars()
        .any(|c| unsafe_char(c) || c == '"' || c == '\\');
    let mut out = String::with_capacity(prefix.len() + name.len() + 4);
    if quote {
        out.push('"');
        for c in prefix.chars().chain(name.chars()) {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                '\u{7}' => out.push_str("\\a"),
                '\u{8}' => out.push_str("\\b"),
                '\u{b}' => out.push_str("\\v"),
                '\u{c}' => out.push_str("\\f"),
                c if unsafe_char(c) => {
                    // Octal escapes of the UTF-8 bytes, as git writes them.
                    let mut bytes = [0; 4];
                    for b in c.encode_utf8(&mut bytes).bytes() {
                        let _ = write!(out, "\\{b:03o}");
                    }
                }
                c => out.push(c),
            }
        }
        out.push('"');
    } else {
        out.push_str(prefix);
        out.push_str(name);
    }
    if name.contains(' ') {
        out.push('\t');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(name("deploy/web.yaml"), "deploy/web.yaml");
        assert_eq!(name("a\nb"), "\"a\\nb\"");
        assert_eq!(name("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(name("x\u{1b}[31m"), "\"x\\u{1b}[31m\"");
        assert_eq!(message("bad\r\nline"), "bad\\r\\nline");
        assert_eq!(source_line("a\tb\rc\u{1b}"), "a b\u{240d}c\u{241b}");
        assert_eq!(github_data("a%b\nc\r"), "a%25b%0Ac%0D");
        assert_eq!(github_property("a:b,c"), "a%3Ab%2Cc");
    }

    #[test]
    fn diff_headers_as_git_writes_them() {
        assert_eq!(diff_header("a/", "deploy/web.yaml"), "a/deploy/web.yaml");
        assert_eq!(diff_header("a/", "my file.yaml"), "a/my file.yaml\t");
        assert_eq!(diff_header("b/", "x\ny\"z"), "\"b/x\\ny\\\"z\"");
        assert_eq!(diff_header("a/", "x\u{1}\u{7f}"), "\"a/x\\001\\177\"");
        assert_eq!(diff_header("a/", "\t s"), "\"a/\\t s\"\t");
    }
}
