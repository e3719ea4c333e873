//! The CEL string functions the ValidatingAdmissionPolicy export uses, as
//! the Kubernetes API server has them, added to a cel-interpreter
//! [`Context`] so that the bench runs the exported CEL unchanged.
//!
//! Kubernetes enables cel-go's strings extension (`ext.Strings`) in every
//! admission expression; cel-interpreter 0.10 has none of it. The export
//! uses `indexOf`, `substring`, `split`, `lowerAscii` and `join`, written
//! here from cel-go's documentation of them: indices and lengths count
//! Unicode code points, not bytes, and an index out of range is an error
//! (which the API server's `failurePolicy: Fail` turns into a denial).
//! `size` is replaced for the same reason: the CEL specification counts a
//! string's code points, cel-interpreter its bytes. Only the member forms
//! (`s.indexOf(t)`) are defined, as in cel-go. The other functions of the
//! extension (`lastIndexOf`, `replace`, `trim`, ...) are left out: the
//! export does not use them.
//!
//! The bench is only meaningful while the exported CEL decides here as it
//! does in the API server; `tests/exact_peers.rs` checks the decisions
//! against ours on every review the bench measures and on variants of them.

use std::sync::Arc;

use cel_interpreter::extractors::{Arguments, This};
use cel_interpreter::{Context, ExecutionError, FunctionContext, Value};

type Result<T> = std::result::Result<T, ExecutionError>;

/// Adds the functions to `context` (a root context: cel-interpreter keeps
/// functions there only).
pub fn install(context: &mut Context<'_>) {
    context.add_function("indexOf", index_of);
    context.add_function("substring", substring);
    context.add_function("split", split);
    context.add_function("lowerAscii", lower_ascii);
    context.add_function("join", join);
    context.add_function("size", size);
}

/// The `n`-th argument as an integer.
fn int_arg(ftx: &FunctionContext<'_>, args: &[Value], n: usize) -> Result<i64> {
    match args.get(n) {
        Some(Value::Int(i)) => Ok(*i),
        other => Err(ftx.error(format!("argument {n}: want an int, got {other:?}"))),
    }
}

/// The `n`-th argument as a string.
fn string_arg<'a>(ftx: &FunctionContext<'_>, args: &'a [Value], n: usize) -> Result<&'a str> {
    match args.get(n) {
        Some(Value::String(s)) => Ok(s.as_str()),
        other => Err(ftx.error(format!("argument {n}: want a string, got {other:?}"))),
    }
}

/// The byte offset of code point `index` of `s`, if `0 <= index <= len`.
fn byte_offset(s: &str, index: i64) -> Option<usize> {
    let index = usize::try_from(index).ok()?;
    if index == 0 {
        return Some(0);
    }
    s.char_indices()
        .map(|(at, _)| at)
        .chain(std::iter::once(s.len()))
        .nth(index)
}

/// `s.indexOf(t)` and `s.indexOf(t, offset)`: the code-point index of the
/// first `t` at or after `offset`, or -1; an offset outside `0..=size(s)`
/// is an error.
fn index_of(
    ftx: &FunctionContext<'_>,
    This(this): This<Arc<String>>,
    Arguments(args): Arguments,
) -> Result<i64> {
    let needle = string_arg(ftx, &args, 0)?;
    let offset = match args.len() {
        1 => 0,
        2 => int_arg(ftx, &args, 1)?,
        n => return Err(ftx.error(format!("want 1 or 2 arguments, got {n}"))),
    };
    let start = byte_offset(&this, offset)
        .ok_or_else(|| ftx.error(format!("index out of range: {offset}")))?;
    Ok(match this[start..].find(needle) {
        Some(at) => offset + this[start..start + at].chars().count() as i64,
        None => -1,
    })
}

/// `s.substring(start)` and `s.substring(start, end)`, in code points;
/// indices outside `0..=size(s)` or `start > end` are an error.
fn substring(
    ftx: &FunctionContext<'_>,
    This(this): This<Arc<String>>,
    Arguments(args): Arguments,
) -> Result<Arc<String>> {
    let start = int_arg(ftx, &args, 0)?;
    let end = match args.len() {
        1 => None,
        2 => Some(int_arg(ftx, &args, 1)?),
        n => return Err(ftx.error(format!("want 1 or 2 arguments, got {n}"))),
    };
    let from = byte_offset(&this, start)
        .ok_or_else(|| ftx.error(format!("index out of range: {start}")))?;
    let to = match end {
        None => this.len(),
        Some(end) if end < start => {
            return Err(ftx.error(format!(
                "invalid substring range. start: {start}, end: {end}"
            )));
        }
        Some(end) => byte_offset(&this, end)
            .ok_or_else(|| ftx.error(format!("index out of range: {end}")))?,
    };
    Ok(Arc::new(this[from..to].to_owned()))
}

/// `s.split(sep)` and `s.split(sep, n)` as Go's `strings.SplitN`: `n < 0`
/// all the parts, `n == 0` none, `n > 0` at most `n` (the last one the
/// rest); an empty separator splits between code points.
fn split(
    ftx: &FunctionContext<'_>,
    This(this): This<Arc<String>>,
    Arguments(args): Arguments,
) -> Result<Value> {
    let sep = string_arg(ftx, &args, 0)?;
    let n = match args.len() {
        1 => -1,
        2 => int_arg(ftx, &args, 1)?,
        n => return Err(ftx.error(format!("want 1 or 2 arguments, got {n}"))),
    };
    let limit = match usize::try_from(n) {
        Ok(0) => return Ok(Value::List(Arc::new(Vec::new()))),
        Ok(n) => n,
        Err(_) => usize::MAX,
    };
    let parts: Vec<Value> = if sep.is_empty() {
        let mut parts: Vec<Value> = Vec::new();
        let mut rest = this.as_str();
        while let Some(c) = rest.chars().next() {
            if parts.len() + 1 == limit {
                break;
            }
            parts.push(Value::String(Arc::new(c.to_string())));
            rest = &rest[c.len_utf8()..];
        }
        if !rest.is_empty() {
            parts.push(Value::String(Arc::new(rest.to_owned())));
        }
        parts
    } else {
        this.splitn(limit, sep)
            .map(|p| Value::String(Arc::new(p.to_owned())))
            .collect()
    };
    Ok(Value::List(Arc::new(parts)))
}

/// `s.lowerAscii()`: ASCII letters lowered, every other code point kept.
fn lower_ascii(This(this): This<Arc<String>>) -> Arc<String> {
    Arc::new(this.to_ascii_lowercase())
}

/// `list.join()` and `list.join(sep)` of a list of strings; any other
/// element is an error.
fn join(
    ftx: &FunctionContext<'_>,
    This(this): This<Arc<Vec<Value>>>,
    Arguments(args): Arguments,
) -> Result<Arc<String>> {
    let sep = match args.len() {
        0 => "",
        1 => string_arg(ftx, &args, 0)?,
        n => return Err(ftx.error(format!("want 0 or 1 arguments, got {n}"))),
    };
    let mut out = String::new();
    for (i, item) in this.iter().enumerate() {
        let Value::String(s) = item else {
            return Err(ftx.error(format!("join: element {i} is not a string: {item:?}")));
        };
        if i > 0 {
            out.push_str(sep);
        }
        out.push_str(s);
    }
    Ok(Arc::new(out))
}

/// `size(x)` and `x.size()`: a string's code points, a bytes' bytes, a
/// list's or map's entries.
fn size(ftx: &FunctionContext<'_>, This(this): This<Value>) -> Result<i64> {
    let n = match this {
        Value::String(s) => s.chars().count(),
        Value::Bytes(b) => b.len(),
        Value::List(l) => l.len(),
        Value::Map(m) => m.map.len(),
        other => return Err(ftx.error(format!("no size for {other:?}"))),
    };
    Ok(n as i64)
}
