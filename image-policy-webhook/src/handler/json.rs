//! JSON strings: how long a run of bytes needs no escape, shared by the
//! scanner that reads a review and the encoders that write the answer.

/// The length of the run of plain JSON string bytes at the start of `bytes`:
/// up to a quote, a backslash or a control character, the bytes a JSON string
/// cannot hold as they are. Eight bytes at a time, as serde_json does: most
/// strings are plain. The response writer uses it too, to copy runs that need
/// no escape.
pub(crate) fn plain_len(bytes: &[u8]) -> usize {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    /// High bit set in the bytes of `w` that are below `n` (exact for the
    /// lowest such byte, which is all that is used).
    const fn below(w: u64, n: u8) -> u64 {
        w.wrapping_sub(ONES * n as u64) & !w & HIGHS
    }
    let mut chunks = bytes.chunks_exact(8);
    let mut run = 0;
    for chunk in &mut chunks {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        let special = below(w ^ (ONES * u64::from(b'"')), 1)
            | below(w ^ (ONES * u64::from(b'\\')), 1)
            | below(w, 0x20);
        if special != 0 {
            return run + (special.trailing_zeros() / 8) as usize;
        }
        run += 8;
    }
    let rest = chunks.remainder();
    run + rest
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        .unwrap_or(rest.len())
}

/// Appends `s` as a JSON string, escaped as serde_json escapes it: `\"`, `\\`,
/// the short escapes of `\b \f \n \r \t`, `\u00XX` (lowercase hex) for the
/// other control characters; everything else verbatim.
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let mut rest = s.as_bytes();
    loop {
        // Copy the run that needs no escape in one go.
        let (run, after) = rest.split_at(plain_len(rest).min(rest.len()));
        out.extend_from_slice(run);
        let Some((&b, tail)) = after.split_first() else {
            break;
        };
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            _ => &[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ],
        };
        out.extend_from_slice(escape);
        rest = tail;
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn json(s: &str) -> String {
        let mut out = Vec::new();
        write_str(&mut out, s);
        String::from_utf8(out).expect("UTF-8 in, UTF-8 out")
    }

    /// Every control character, the escapes, and runs longer than the
    /// eight-byte stride on both sides of each.
    #[test]
    fn strings_are_written_as_serde_json_writes_them() {
        let mut cases: Vec<String> = (0u8..0x80).map(|b| char::from(b).to_string()).collect();
        cases.extend(
            [
                "",
                "registry.my.com/shop/web:1.4.2",
                "é日本\u{200b}\u{feff}",
            ]
            .map(str::to_owned),
        );
        for b in 0u8..0x80 {
            for pad in [0, 3, 7, 8, 9, 17] {
                let run = "a".repeat(pad);
                cases.push(format!("{run}{}{run}x", char::from(b)));
            }
        }
        for s in &cases {
            assert_eq!(
                json(s),
                serde_json::to_string(s).expect("encodable"),
                "{s:?}"
            );
        }
    }

    proptest! {
        #[test]
        fn any_string_is_written_as_serde_json_writes_it(s in any::<String>()) {
            prop_assert_eq!(json(&s), serde_json::to_string(&s).expect("encodable"));
        }
    }
}
