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

/// A YAML error as a parse problem, with its location when it has one.
pub fn parse_problem(e: &serde_saphyr::Error) -> Problem {
    let position = e.location().filter(|l| l.line() > 0).map(|l| position(&l));
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
    let rest: Vec<char> = line.chars().skip(at.column.saturating_sub(1)).collect();
    match rest.first() {
        Some(&q @ ('"' | '\'')) => {
            let mut i = 1;
            while i < rest.len() {
                if rest[i] == '\\' && q == '"' {
                    i += 2;
                    continue;
                }
                if rest[i] == q {
                    if q == '\'' && rest.get(i + 1) == Some(&'\'') {
                        i += 2;
                        continue;
                    }
                    return i + 1;
                }
                i += 1;
            }
            rest.len()
        }
        Some(_) => value.chars().count().min(rest.len()).max(1),
        None => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
