//! Finding line N of a text without rescanning it: the readers measure the
//! width of each image value, and the text renderer shows each offending
//! line, so a file with many images must not cost a scan per image.

/// The start of every line of a text.
pub struct Lines<'t> {
    text: &'t str,
    starts: Vec<usize>,
}

impl<'t> Lines<'t> {
    /// Indexes `text` (one pass, with the standard library's `memchr`
    /// search for `\n`, several times faster than testing each byte).
    pub fn new(text: &'t str) -> Self {
        let mut starts = Vec::with_capacity(text.len() / 32 + 1);
        starts.push(0);
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Lines { text, starts }
    }

    /// The number of lines (a final newline ends the last line; it does not
    /// start another).
    pub fn count(&self) -> usize {
        match self.starts.last() {
            Some(&last) if last == self.text.len() => self.starts.len() - 1,
            _ => self.starts.len(),
        }
    }

    /// Line `n` (0-based, unlike [`Lines::get`]) with its line ending, and
    /// the byte offset where it starts. `n` must be below [`Lines::count`].
    pub fn with_end(&self, n: usize) -> (usize, &'t str) {
        let start = self.starts[n];
        let end = self.starts.get(n + 1).copied().unwrap_or(self.text.len());
        (start, &self.text[start..end])
    }

    /// The 0-based line holding byte `offset`.
    pub fn line_of(&self, offset: usize) -> usize {
        self.starts.partition_point(|&s| s <= offset) - 1
    }

    /// Line `n` (1-based) without its line ending, or `None` past the end.
    pub fn get(&self, n: usize) -> Option<&'t str> {
        let start = *self.starts.get(n.checked_sub(1)?)?;
        if start == self.text.len() && (n > 1 || self.text.is_empty()) {
            // After a final newline there is no line.
            return None;
        }
        let end = self.starts.get(n).map_or(self.text.len(), |next| next - 1);
        let line = &self.text[start..end];
        Some(line.strip_suffix('\r').unwrap_or(line))
    }

    /// The byte offset of a [`Position`] (1-based line, 1-based column in
    /// characters), or `None` when it is not inside line `at.line` or just
    /// after its end.
    pub fn offset(&self, at: crate::report::Position) -> Option<usize> {
        let line = self.get(at.line)?;
        let start = self.starts[at.line - 1];
        let skip = at.column.checked_sub(1)?;
        let within = match line.char_indices().nth(skip) {
            Some((i, _)) => i,
            None if line.chars().count() == skip => line.len(),
            None => return None,
        };
        Some(start + within)
    }
}

#[cfg(test)]
mod tests {
    use super::Lines;

    #[test]
    fn same_lines_as_str_lines() {
        for text in ["", "a", "a\n", "a\r\nb", "\n\nc\n", "é\nx\r\n"] {
            let index = Lines::new(text);
            let want: Vec<&str> = text.lines().collect();
            let got: Vec<&str> = (1..).map_while(|n| index.get(n)).collect();
            assert_eq!(got, want, "{text:?}");
            assert_eq!(index.count(), want.len(), "{text:?}");
            let whole: String = (0..index.count()).map(|n| index.with_end(n).1).collect();
            assert_eq!(whole, text);
            for n in 0..index.count() {
                let (start, line) = index.with_end(n);
                assert_eq!(index.line_of(start), n);
                assert_eq!(index.line_of(start + line.len().max(1) - 1), n);
            }
        }
    }
}
