//! JSON strings, written as serde_json writes them; runs that need no escape
//! are found by the core scanner's [`plain_len`].

use image_policy_core::k8s::scan::plain_len;

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
