//! Finding line N of a text without rescanning it: the readers measure the
//! width of each image value, and the text renderer shows each offending
//! line, so a file with many images must not cost a scan per image.

/// The start of every line of a text.
pub struct Lines<'t> {
    text: &'t str,
    starts: Vec<usize>,
}

impl<'t> Lines<'t> {
    /// Indexes `text` (one pass).
    pub fn new(text: &'t str) -> Self {
        let mut starts = vec![0];
        starts.extend(
            text.bytes()
                .enumerate()
                .filter(|&(_, b)| b == b'\n')
                .map(|(i, _)| i + 1),
        );
        Lines { text, starts }
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
        }
    }
}
