//! Images in a Dockerfile / Containerfile: every `FROM` and every
//! `COPY --from=` that names an image rather than an earlier stage.
//!
//! Reading follows the Dockerfile reference
//! (<https://docs.docker.com/reference/dockerfile/>):
//! - the `# escape=` parser directive (default `\`) and line continuations,
//!   with comment lines inside a continuation dropped;
//! - `ARG` before the first `FROM` declares the variables `FROM` may use;
//!   their defaults are substituted, `--var NAME=VALUE` overrides them (as
//!   `docker build --build-arg` would), and a variable with no value is
//!   reported as [`ProblemCode::UnresolvedVariable`], never guessed;
//! - `FROM [--platform=...] IMAGE [AS name]`: a later `FROM name` or
//!   `COPY --from=name` that refers to an earlier stage (by name or index) is
//!   not an image; neither is `scratch`.
//!
//! Each stage is one object (`stage build`, or `stage #0` without `AS`).

use super::report::{Extracted, Holder, ImageSite, Position, Problem, ProblemCode};
use super::vars::{self, Overrides, Syntax};
use std::collections::HashMap;

/// One logical instruction: its text with continuations joined, and for each
/// joined piece the physical position it came from.
struct Instruction {
    text: String,
    /// (byte offset in `text`, physical line, physical column of that byte).
    pieces: Vec<(usize, usize, usize)>,
}

impl Instruction {
    /// The physical position of byte `offset` of `text`.
    fn position(&self, offset: usize) -> Position {
        let (start, line, column) = self
            .pieces
            .iter()
            .rev()
            .find(|(start, ..)| *start <= offset)
            .copied()
            .unwrap_or((0, 1, 1));
        let chars = self.text[start..offset].chars().count();
        Position {
            line,
            column: column + chars,
        }
    }
}

/// Finds the `# escape=` directive among the leading parser directives.
fn escape_char(text: &str) -> char {
    for line in text.lines() {
        let Some(directive) = line.trim().strip_prefix('#') else {
            break;
        };
        let Some((key, value)) = directive.split_once('=') else {
            break;
        };
        if key.trim().eq_ignore_ascii_case("escape") {
            return match value.trim() {
                "`" => '`',
                _ => '\\',
            };
        }
    }
    '\\'
}

/// Splits the file into logical instructions.
fn instructions(text: &str, escape: char) -> Vec<Instruction> {
    let mut out = Vec::new();
    let mut current: Option<Instruction> = None;
    for (index, raw) in text.lines().enumerate() {
        let line_no = index + 1;
        let trimmed = raw.trim_start();
        let indent_chars = raw.chars().count() - trimmed.chars().count();
        if trimmed.starts_with('#') || (current.is_some() && trimmed.is_empty()) {
            // Comments (and, inside a continuation, empty lines) are dropped.
            continue;
        }
        if trimmed.is_empty() {
            continue;
        }
        let body = trimmed.trim_end();
        let (body, continues) = match body.strip_suffix(escape) {
            Some(b) => (b, true),
            None => (body, false),
        };
        let inst = current.get_or_insert_with(|| Instruction {
            text: String::new(),
            pieces: Vec::new(),
        });
        inst.pieces
            .push((inst.text.len(), line_no, indent_chars + 1));
        inst.text.push_str(body);
        if continues {
            inst.text.push(' ');
        } else if let Some(done) = current.take() {
            out.push(done);
        }
    }
    out.extend(current);
    out
}

/// A whitespace-separated word of an instruction, with its byte offset.
fn words(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split_whitespace()
        .map(move |w| (w.as_ptr() as usize - text.as_ptr() as usize, w))
}

/// Reads the images of a Dockerfile.
pub fn extract(text: &str, overrides: &Overrides) -> Extracted {
    let escape = escape_char(text);
    let syntax = Syntax::Dockerfile { escape };
    let mut out = Extracted::default();
    // Global ARGs (before the first FROM): name -> default (None: no default).
    let mut globals: HashMap<String, Option<String>> = HashMap::new();
    let mut stages: Vec<Option<String>> = Vec::new();
    for inst in instructions(text, escape) {
        let mut ws = words(&inst.text);
        let Some((_, keyword)) = ws.next() else {
            continue;
        };
        if keyword.eq_ignore_ascii_case("ARG") {
            if stages.is_empty() {
                for (_, decl) in ws {
                    let (name, default) = match decl.split_once('=') {
                        Some((n, d)) => (n, Some(unquote(d).to_owned())),
                        None => (decl, None),
                    };
                    globals.insert(name.to_owned(), default);
                }
            }
            continue;
        }
        let lookup = |name: &str| -> Option<&str> {
            match overrides.get(name) {
                Some(v) if globals.contains_key(name) => Some(v.as_str()),
                _ => globals.get(name).and_then(|d| d.as_deref()),
            }
        };
        if keyword.eq_ignore_ascii_case("FROM") {
            let rest: Vec<(usize, &str)> = ws.collect();
            let Some(&(offset, word)) = rest.iter().find(|(_, w)| !w.starts_with("--")) else {
                out.problems.push(Problem {
                    position: Some(inst.position(0)),
                    code: ProblemCode::ParseError,
                    message: "FROM without an image".to_owned(),
                });
                continue;
            };
            let alias = rest
                .iter()
                .skip_while(|(_, w)| !w.eq_ignore_ascii_case("AS"))
                .nth(1)
                .map(|(_, w)| w.to_ascii_lowercase());
            let index = stages.len();
            stages.push(alias.clone());
            out.objects += 1;
            let holder = Holder {
                kind: "stage".to_owned(),
                namespace: None,
                name: Some(alias.unwrap_or_else(|| format!("#{index}"))),
            };
            site(
                &mut out,
                &inst,
                offset,
                word,
                syntax,
                &lookup,
                &stages[..index],
                holder,
            );
        } else if keyword.eq_ignore_ascii_case("COPY") {
            let Some(holder_name) = stages.last() else {
                continue;
            };
            for (offset, word) in ws.take_while(|(_, w)| w.starts_with("--")) {
                let Some(value) = word.strip_prefix("--from=") else {
                    continue;
                };
                let holder = Holder {
                    kind: "stage".to_owned(),
                    namespace: None,
                    name: Some(
                        holder_name
                            .clone()
                            .unwrap_or_else(|| format!("#{}", stages.len() - 1)),
                    ),
                };
                let before = &stages[..stages.len() - 1];
                site(
                    &mut out,
                    &inst,
                    offset + "--from=".len(),
                    value,
                    syntax,
                    &lookup,
                    before,
                    holder,
                );
            }
        }
    }
    out
}

fn unquote(s: &str) -> &str {
    for q in ['"', '\''] {
        if let Some(inner) = s.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return inner;
        }
    }
    s
}

/// Records `word` at `offset` as an image unless it names an earlier stage or
/// `scratch`.
#[allow(clippy::too_many_arguments)]
fn site<'v>(
    out: &mut Extracted,
    inst: &Instruction,
    offset: usize,
    word: &str,
    syntax: Syntax,
    lookup: &impl Fn(&str) -> Option<&'v str>,
    earlier_stages: &[Option<String>],
    holder: Holder,
) {
    let position = inst.position(offset);
    let image = match vars::substitute(word, syntax, lookup) {
        Ok(image) => image,
        Err(e) => {
            out.problems.push(Problem {
                position: Some(position),
                code: ProblemCode::UnresolvedVariable,
                message: format!("{word}: {e}"),
            });
            return;
        }
    };
    let lower = image.to_ascii_lowercase();
    let is_stage = earlier_stages
        .iter()
        .enumerate()
        .any(|(i, alias)| alias.as_deref() == Some(lower.as_str()) || lower == i.to_string());
    if is_stage || lower == "scratch" {
        return;
    }
    out.sites.push(ImageSite {
        position,
        written: (image != word).then(|| word.to_owned()),
        image,
        width: word.chars().count(),
        holder,
        container: None,
        path: None,
        namespace: None,
        annotations: Vec::new(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn images(text: &str, overrides: &[(&str, &str)]) -> Vec<(String, usize, usize, String)> {
        let o: Overrides = overrides
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        extract(text, &o)
            .sites
            .into_iter()
            .map(|s| {
                (
                    s.image,
                    s.position.line,
                    s.position.column,
                    s.holder.name.unwrap_or_default(),
                )
            })
            .collect()
    }

    #[test]
    fn stages_aliases_args_and_continuations() {
        let text = "# syntax=docker/dockerfile:1\n\
            ARG BASE=golang:1.22\n\
            ARG RUNTIME\n\
            FROM --platform=$BUILDPLATFORM ${BASE} AS Build\n\
            RUN go build \\\n  ./...\n\
            FROM build AS test\n\
            FROM scratch\n\
            COPY --from=build /out /app\n\
            COPY --from=0 /a /b\n\
            COPY --link --from=nginx:1.25 /etc/nginx /etc/nginx\n\
            FROM \\\n    # comment inside\n    alpine:3.19\n";
        assert_eq!(
            images(text, &[]),
            vec![
                ("golang:1.22".to_owned(), 4, 32, "build".to_owned()),
                ("nginx:1.25".to_owned(), 11, 20, "#2".to_owned()),
                ("alpine:3.19".to_owned(), 14, 5, "#3".to_owned()),
            ]
        );
        assert_eq!(extract(text, &Overrides::new()).objects, 4);
    }

    #[test]
    fn unresolved_variables_are_reported_and_overrides_apply() {
        let text = "ARG RUNTIME\nFROM ${RUNTIME}\n";
        let got = extract(text, &Overrides::new());
        assert!(got.sites.is_empty());
        assert_eq!(got.problems.len(), 1);
        assert_eq!(got.problems[0].code, ProblemCode::UnresolvedVariable);
        assert_eq!(
            got.problems[0].position,
            Some(Position { line: 2, column: 6 })
        );
        assert_eq!(
            images(text, &[("RUNTIME", "distroless/static")]),
            vec![("distroless/static".to_owned(), 2, 6, "#0".to_owned())]
        );
        // An undeclared variable is not taken from --var, as docker build ignores it.
        let undeclared = extract("FROM $X\n", &[("X".to_owned(), "a".to_owned())].into());
        assert_eq!(undeclared.problems.len(), 1);
    }

    #[test]
    fn escape_directive() {
        let text = "# escape=`\nFROM `\n  busybox\n";
        assert_eq!(
            images(text, &[]),
            vec![("busybox".to_owned(), 3, 3, "#0".to_owned())]
        );
    }
}
