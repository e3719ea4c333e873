//! Reading images from arguments or standard input.
//!
//! `-` among the arguments stands for the lines of standard input (as for
//! `lint`); with no arguments at all, standard input is read too. Blank lines
//! (empty, or only spaces and tabs: what `tr ' ' '\n'` leaves between
//! images) are skipped rather than judged as the image `""`.

use std::io::{self, Read};

/// One input image: the text (lossy when it was not UTF-8) and, when it was not
/// valid UTF-8, the offset of the first bad byte.
pub struct InputImage {
    /// The image string (invalid UTF-8 replaced by U+FFFD).
    pub text: String,
    /// The byte offset of the first byte that is not UTF-8, if any.
    pub invalid_utf8_at: Option<usize>,
}

/// Why the images could not be read.
#[derive(Debug)]
pub enum InputError {
    /// Standard input could not be read.
    Stdin(io::Error),
    /// `-` was given more than once.
    StdinTwice,
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InputError::Stdin(e) => write!(f, "cannot read standard input: {e}"),
            InputError::StdinTwice => f.write_str("`-` (standard input) can be given only once"),
        }
    }
}

impl std::error::Error for InputError {}

/// The images given as arguments, where `-` is replaced by the lines of
/// standard input; with no arguments, the lines of standard input.
pub fn images(args: Vec<String>) -> Result<Vec<InputImage>, InputError> {
    if args.is_empty() {
        return read_stdin();
    }
    if args.iter().filter(|a| *a == "-").count() > 1 {
        return Err(InputError::StdinTwice);
    }
    let mut out = Vec::with_capacity(args.len());
    for text in args {
        if text == "-" {
            out.extend(read_stdin()?);
        } else {
            out.push(InputImage {
                text,
                invalid_utf8_at: None,
            });
        }
    }
    Ok(out)
}

fn read_stdin() -> Result<Vec<InputImage>, InputError> {
    let mut bytes = Vec::new();
    io::stdin()
        .lock()
        .read_to_end(&mut bytes)
        .map_err(InputError::Stdin)?;
    Ok(split_lines(&bytes))
}

/// Splits standard input into lines as [`images`] documents. A line ends at
/// `\n`, and a `\r` before it is part of the line ending; a blank line is
/// skipped; nothing else is trimmed (whitespace around an image is part of
/// the input, and rejected as the runtime rejects it).
pub fn split_lines(bytes: &[u8]) -> Vec<InputImage> {
    bytes
        .split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .filter(|line| !line.iter().all(|b| matches!(b, b' ' | b'\t')))
        .map(|line| match std::str::from_utf8(line) {
            Ok(s) => InputImage {
                text: s.to_owned(),
                invalid_utf8_at: None,
            },
            Err(e) => InputImage {
                text: String::from_utf8_lossy(line).into_owned(),
                invalid_utf8_at: Some(e.valid_up_to()),
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::split_lines;

    #[test]
    fn lines_keep_whitespace_drop_line_endings_and_skip_blank_lines() {
        let got: Vec<_> = split_lines(b"nginx\r\n  x \n\n \t\r\n\r\n\xffbad\n")
            .into_iter()
            .map(|l| (l.text, l.invalid_utf8_at))
            .collect();
        assert_eq!(
            got,
            vec![
                ("nginx".to_owned(), None),
                ("  x ".to_owned(), None),
                ("\u{fffd}bad".to_owned(), Some(0)),
            ]
        );
        assert!(split_lines(b"").is_empty());
        assert!(split_lines(b"\n\n").is_empty());
    }
}
