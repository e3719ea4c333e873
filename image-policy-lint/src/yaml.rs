//! YAML helpers shared by the manifest and compose readers: parser options,
//! positions from `serde_saphyr` spans, and parse errors as [`Problem`]s.

use super::lines::Lines;
use super::report::{Position, Problem, ProblemCode};

/// The parser options: serde-saphyr's default budget (bounded events, depth,
/// alias expansion: a YAML bomb is an error, not a hang) and no snippet in
/// error messages (the linter prints its own).
pub fn options() -> serde_saphyr::Options {
    serde_saphyr::options! { with_snippet: false }
}

/// [`options`] with duplicate keys read as go-yaml v2 (and so kubectl)
/// reads them: the last value wins. For reading a file whose duplicates
/// were found (and reported) with [`options`].
pub fn options_last_key_wins() -> serde_saphyr::Options {
    serde_saphyr::options! {
        with_snippet: false,
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::LastWins,
    }
}

/// A scalar read as text: a string, or a number or boolean written without
/// quotes (`newTag: 1.25`, a compose label `true`).
#[derive(serde::Deserialize)]
#[serde(untagged)]
pub enum Scalar {
    /// A string.
    String(String),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A boolean.
    Bool(bool),
}

impl Scalar {
    /// The value as text.
    pub fn text(&self) -> String {
        match self {
            Scalar::String(s) => s.clone(),
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) => f.to_string(),
            Scalar::Bool(b) => b.to_string(),
        }
    }
}

/// A span's start as a [`Position`].
pub fn position(location: &serde_saphyr::Location) -> Position {
    Position {
        line: usize::try_from(location.line()).unwrap_or(usize::MAX),
        column: usize::try_from(location.column()).unwrap_or(usize::MAX),
    }
}

/// Whether `text` has a carriage return not followed by a line feed.
pub fn has_lone_cr(text: &str) -> bool {
    let bytes = text.as_bytes();
    memchr::memchr_iter(b'\r', bytes).any(|i| bytes.get(i + 1) != Some(&b'\n'))
}

/// Places serde-saphyr locations in the linter's own lines of a text (only
/// `\n` ends a line: the lines every report and fix uses). serde-saphyr
/// also ends a line at a lone `\r`; in a text without one, its line and
/// column are the linter's and are used as they are; in a text with one,
/// the location's byte offset is placed through the linter's line index.
pub struct Locator<'t> {
    text: &'t str,
    /// The text's lines, when it has a lone `\r` (looked for on the first
    /// location: the fast path's leaves never ask).
    lines: std::cell::OnceCell<Option<Lines<'t>>>,
}

impl<'t> Locator<'t> {
    /// A locator for `text`.
    pub fn new(text: &'t str) -> Self {
        Locator {
            text,
            lines: std::cell::OnceCell::new(),
        }
    }

    /// Where `location` is, in the linter's lines.
    pub fn position(&self, location: &serde_saphyr::Location) -> Position {
        let lines = self
            .lines
            .get_or_init(|| has_lone_cr(self.text).then(|| Lines::new(self.text)));
        let Some(lines) = lines else {
            return position(location);
        };
        let text = self.text;
        let byte = match location.span().byte_offset() {
            Some(b) => usize::try_from(b).unwrap_or(usize::MAX),
            // A location from a reader has only its character offset.
            None => {
                let chars = usize::try_from(location.span().offset()).unwrap_or(usize::MAX);
                text.char_indices()
                    .nth(chars)
                    .map_or(text.len(), |(i, _)| i)
            }
        };
        let mut byte = byte.min(text.len());
        while !text.is_char_boundary(byte) {
            byte -= 1;
        }
        let n = lines.line_of(byte).min(lines.count().saturating_sub(1));
        if lines.count() == 0 {
            return Position { line: 1, column: 1 };
        }
        let (start, line) = lines.with_end(n);
        let upto = byte.clamp(start, start + line.len());
        let line_text = line.strip_suffix('\n').unwrap_or(line);
        let line_text = line_text.strip_suffix('\r').unwrap_or(line_text);
        Position {
            line: n + 1,
            column: text[start..upto.min(start + line_text.len())]
                .chars()
                .count()
                + 1,
        }
    }
}

/// A YAML error in `text` as a parse problem, with its location when it
/// has one.
pub fn parse_problem(e: &serde_saphyr::Error, text: &str) -> Problem {
    let position = e
        .location()
        .filter(|l| l.line() > 0)
        .map(|l| Locator::new(text).position(&l));
    if let serde_saphyr::Error::DuplicateMappingKey { key, .. } = e {
        // Plain words, not serde-saphyr's advice about its options.
        return Problem {
            position,
            code: ProblemCode::ParseError,
            message: match key {
                Some(key) => format!("duplicate key `{key}`"),
                None => "duplicate key".to_owned(),
            },
        };
    }
    let message = e.to_string();
    // The message ends with " at line L column C" when serde-saphyr has a
    // location; the position says that already.
    let message = match message.rfind(" at line ") {
        Some(i) if position.is_some() && is_location_suffix(&message[i + 9..]) => {
            message[..i].to_owned()
        }
        _ => message,
    };
    let message = if message.starts_with("budget breached") {
        format!(
            "{message}; the document is too large or its aliases expand too much (an alias bomb?)"
        )
    } else {
        message
    };
    Problem {
        position,
        code: ProblemCode::ParseError,
        message,
    }
}

/// `L column C` or `L, column C`, the whole rest of a message.
fn is_location_suffix(rest: &str) -> bool {
    let Some((line, column)) = rest.split_once(" column ") else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits(line.trim_end_matches(',')) && digits(column)
}

/// The width in characters of the scalar starting at `at` in `text`: the
/// quoted span (quotes included) for a quoted scalar, else the value's length,
/// never past the end of the line.
pub fn value_width(lines: &Lines<'_>, at: Position, value: &str) -> usize {
    let Some(line) = lines.get(at.line) else {
        return value.chars().count();
    };
    // Read as an iterator: a site costs the characters up to the value's
    // end, not a vector of the rest of its line.
    let mut rest = line.chars().skip(at.column.saturating_sub(1)).peekable();
    match rest.next() {
        Some(q @ ('"' | '\'')) => {
            // Characters read so far, the opening quote included.
            let mut width = 1;
            while let Some(c) = rest.next() {
                width += 1;
                if c == '\\' && q == '"' {
                    if rest.next().is_some() {
                        width += 1;
                    }
                    continue;
                }
                if c == q {
                    if q == '\'' && rest.peek() == Some(&'\'') {
                        rest.next();
                        width += 1;
                        continue;
                    }
                    return width;
                }
            }
            width
        }
        Some(_) => value.chars().count().min(1 + rest.count()).max(1),
        None => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_widths_end_at_the_closing_quote_or_the_line() {
        let text = "a: \"x\\\"y\" # c\nb: 'it''s' z\nc: plain tail\nd: \"open\ne: \"\\\nf: é\n";
        let lines = Lines::new(text);
        let at = |line, column| Position { line, column };
        for (position, value, want) in [
            (at(1, 4), "x\"y", 6),
            (at(2, 4), "it's", 7),
            (at(3, 4), "plain", 5),
            (at(3, 4), "plain tail and more", 10),
            (at(4, 4), "open", 5),
            (at(5, 4), "\\", 2),
            (at(6, 4), "é", 1),
            (at(6, 9), "x", 1),
            (at(9, 1), "abc", 3),
            (at(3, 4), "", 1),
        ] {
            assert_eq!(
                value_width(&lines, position, value),
                want,
                "{position:?} {value:?}"
            );
        }
    }

    #[test]
    fn location_suffixes() {
        assert!(is_location_suffix("3 column 7"));
        assert!(is_location_suffix("3, column 7"));
        assert!(!is_location_suffix(
            "1, column 11 (defined at line 5, column 9)"
        ));
    }

    #[test]
    fn widths() {
        let text = Lines::new("a: \"x:1\"\nb: 'it''s'\nc: nginx # comment\n");
        let text = &text;
        let p = |line, column| Position { line, column };
        assert_eq!(value_width(text, p(1, 4), "x:1"), 5);
        assert_eq!(value_width(text, p(2, 4), "it's"), 7);
        assert_eq!(value_width(text, p(3, 4), "nginx"), 5);
        assert_eq!(value_width(text, p(9, 4), "nginx"), 5);
    }
}
