//! Finding line N of a text without rescanning it: the readers measure the
//! width of each image value, and the text renderer shows each offending
//! line, so a file with many images must not cost a scan per image.

/// The start of every line of a text.
pub struct Lines<'t> {
    text: &'t str,
    starts: Vec<usize>,
}

impl<'t> Lines<'t> {
    /// Indexes `text` (one pass). The bytes are tested eight at a time, in
    /// a `u64` (the exact zero-byte test of *Hacker's Delight* on the word
    /// xor `\n`s): a few times fewer instructions than testing and branching
    /// on each byte, or a `memchr` call per (short) line.
    pub fn new(text: &'t str) -> Self {
        const NEWLINES: u64 = u64::from_ne_bytes([b'\n'; 8]);
        const LOW7: u64 = u64::from_ne_bytes([0x7f; 8]);
        let bytes = text.as_bytes();
        let mut starts = Vec::with_capacity(bytes.len() / 32 + 1);
        starts.push(0);
        let mut words = bytes.chunks_exact(8);
        let mut base = 0;
        for word in &mut words {
            let mut bytes8 = [0; 8];
            bytes8.copy_from_slice(word);
            let x = u64::from_le_bytes(bytes8) ^ NEWLINES;
            // The high bit of each byte of x that is zero (a `\n`), exactly.
            let mut found = !(((x & LOW7) + LOW7) | x | LOW7);
            while found != 0 {
                starts.push(base + found.trailing_zeros() as usize / 8 + 1);
                found &= found - 1;
            }
            base += 8;
        }
        for (i, &b) in words.remainder().iter().enumerate() {
            if b == b'\n' {
                starts.push(base + i + 1);
            }
        }
        Lines { text, starts }
    }

    /// The text indexed.
    pub fn text(&self) -> &'t str {
        self.text
    }

    /// The byte offset where each line starts, in order: 0, then the byte
    /// after each `\n` (the text's length, after a final newline).
    pub fn starts(&self) -> &[usize] {
        &self.starts
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
        let long =
            "line\n".repeat(30) + &"x".repeat(70) + "\n\n" + &"é\r\n".repeat(40) + "\u{10a}\u{a0a}";
        for text in ["", "a", "a\n", "a\r\nb", "\n\nc\n", "é\nx\r\n", &long] {
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

    proptest::proptest! {
        /// The word-at-a-time search finds exactly the `\n`s, whatever the
        /// bytes around them (multi-byte characters hold bytes like 0x8a).
        #[test]
        fn finds_every_newline(text in "[a\n\r\u{10a}\u{a0a}é\u{7f}]{0,80}") {
            let want: Vec<usize> = std::iter::once(0)
                .chain(text.bytes().enumerate().filter(|&(_, b)| b == b'\n').map(|(i, _)| i + 1))
                .collect();
            proptest::prop_assert_eq!(Lines::new(&text).starts, want);
        }
    }
}
