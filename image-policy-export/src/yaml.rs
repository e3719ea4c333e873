//! A small YAML writer for the documents the exports build as JSON values:
//! block style, keys in the map's order, strings plain when that is
//! unambiguous, multi-line strings as literal blocks (`|-`), everything else
//! double-quoted with JSON escapes (which YAML reads the same way).

use serde_json::Value;

/// `value` as one YAML document (no `---`), ending with a newline.
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(m) if !m.is_empty() => map(&mut out, m, 0),
        Value::Array(a) if !a.is_empty() => seq(&mut out, a, 0),
        other => {
            out.push_str(&scalar(other, 0));
            out.push('\n');
        }
    }
    out
}

fn map(out: &mut String, m: &serde_json::Map<String, Value>, indent: usize) {
    for (k, v) in m {
        push_indent(out, indent);
        out.push_str(&plain_or_quoted(k));
        out.push(':');
        value(out, v, indent);
    }
}

fn seq(out: &mut String, a: &[Value], indent: usize) {
    for v in a {
        push_indent(out, indent);
        out.push('-');
        match v {
            Value::Object(m) if !m.is_empty() => {
                // The first key on the dash's line, the others below it.
                let mut inner = String::new();
                map(&mut inner, m, indent + 2);
                out.push(' ');
                out.push_str(&inner[indent + 2..]);
            }
            _ => value(out, v, indent),
        }
    }
}

/// After `key:` or `-`: a scalar on the same line, a collection below.
fn value(out: &mut String, v: &Value, indent: usize) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            map(out, m, indent + 2);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            seq(out, a, indent + 2);
        }
        other => {
            out.push(' ');
            out.push_str(&scalar(other, indent + 2));
            out.push('\n');
        }
    }
}

fn push_indent(out: &mut String, indent: usize) {
    for _ in 0..indent {
        out.push(' ');
    }
}

fn scalar(v: &Value, indent: usize) -> String {
    match v {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Object(_) => "{}".to_owned(),
        Value::Array(_) => "[]".to_owned(),
        Value::String(s) if is_literal_block(s) => {
            let mut b = String::from("|-");
            for line in s.split('\n') {
                b.push('\n');
                if !line.is_empty() {
                    b.push_str(&" ".repeat(indent));
                    b.push_str(line);
                }
            }
            b
        }
        Value::String(s) => plain_or_quoted(s),
    }
}

/// A multi-line string that a literal block keeps exactly: printable, no
/// trailing newline or spaces, no tabs, its first line not indented.
fn is_literal_block(s: &str) -> bool {
    s.contains('\n')
        && !s.starts_with([' ', '\n'])
        && !s.ends_with('\n')
        && s.split('\n').all(|l| !l.ends_with(' '))
        && s.chars()
            .all(|c| c == '\n' || (!c.is_control() && c != '\u{feff}'))
        && !s.contains(['\u{85}', '\u{2028}', '\u{2029}'])
}

fn plain_or_quoted(s: &str) -> String {
    let safe = !s.is_empty()
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'/' | b'-'))
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n" | "null"
        );
    if safe { s.to_owned() } else { crate::quoted(s) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_back_as_the_same_value() {
        let v = json!({
            "apiVersion": "v1",
            "kind": "X",
            "a": [{"b": "yes", "c": ["1", 2, true, null]}, "x: y", "", []],
            "e": {},
            "expr": "line one\n  'two' \"three\" \\d\n\nlast",
            "odd": "ends with newline\n",
            "nul": "a\u{0}b",
        });
        let text = to_yaml(&v);
        let back: Value = serde_saphyr::from_str(&text).unwrap();
        assert_eq!(back, v, "{text}");
    }
}
