//! Reading images from arguments or, when there are none, standard input.

use std::io::{self, Read};

/// One input image: the text (lossy when it was not UTF-8) and, when it was not
/// valid UTF-8, the offset of the first bad byte.
pub struct InputImage {
    /// The image string (invalid UTF-8 replaced by U+FFFD).
    pub text: String,
    /// The byte offset of the first byte that is not UTF-8, if any.
    pub invalid_utf8_at: Option<usize>,
}

/// The images given as arguments, or one per line of standard input when none
/// are given. A line ends at `\n`, and a `\r` before it is part of the line
/// ending; nothing else is trimmed (whitespace is part of the input, and
/// rejected as the runtime rejects it).
pub fn images(args: Vec<String>) -> io::Result<Vec<InputImage>> {
    if !args.is_empty() {
        return Ok(args
            .into_iter()
            .map(|text| InputImage {
                text,
                invalid_utf8_at: None,
            })
            .collect());
    }
    let mut bytes = Vec::new();
    io::stdin().lock().read_to_end(&mut bytes)?;
    Ok(split_lines(&bytes))
}

/// Splits standard input into lines as [`images`] documents.
pub fn split_lines(bytes: &[u8]) -> Vec<InputImage> {
    let mut lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines
        .into_iter()
        .map(|line| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            match std::str::from_utf8(line) {
                Ok(s) => InputImage {
                    text: s.to_owned(),
                    invalid_utf8_at: None,
                },
                Err(e) => InputImage {
                    text: String::from_utf8_lossy(line).into_owned(),
                    invalid_utf8_at: Some(e.valid_up_to()),
                },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::split_lines;

    #[test]
    fn lines_keep_whitespace_and_drop_only_line_endings() {
        let got: Vec<_> = split_lines(b"nginx\r\n  x \n\n\xffbad\n")
            .into_iter()
            .map(|l| (l.text, l.invalid_utf8_at))
            .collect();
        assert_eq!(
            got,
            vec![
                ("nginx".to_owned(), None),
                ("  x ".to_owned(), None),
                (String::new(), None),
                ("\u{fffd}bad".to_owned(), Some(0)),
            ]
        );
    }
}
