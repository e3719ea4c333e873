//! Images in a Dockerfile / Containerfile: every image BuildKit pulls to
//! build it.
//!
//! | where | what is judged |
//! | --- | --- |
//! | `# syntax=IMAGE` | the frontend image BuildKit pulls to parse the rest of the file |
//! | `FROM IMAGE` | the base image of a stage (not an earlier stage's name, not `scratch`) |
//! | `COPY --from=IMAGE`, `ADD --from=IMAGE` (`--link` or not) | an image files are copied from (not a stage's name or index) |
//! | `RUN --mount=...,from=IMAGE,...` | the image a bind or cache mount is taken from (not a stage) |
//! | `ONBUILD COPY --from=IMAGE`, `ONBUILD RUN --mount=from=IMAGE` | pulled by every build that uses this image as its base |
//!
//! Reading follows the Dockerfile reference
//! (<https://docs.docker.com/reference/dockerfile/>) and BuildKit's
//! Dockerfile frontend:
//! - the `# syntax=` directive is found as BuildKit's `DetectSyntax` finds it:
//!   after an optional `#!` first line, among the leading `# key=value` lines
//!   (not indented) with a key BuildKit knows (`syntax`, `escape`, `check`);
//!   the first other line (a comment, a blank line, an instruction) ends the
//!   directives, so a `# syntax=` further down is a comment. BuildKit's
//!   fallbacks are read too: `// syntax=` lines, and a file that is a JSON
//!   object with a `"syntax"` key. The image is the value's first word.
//!   `--var BUILDKIT_SYNTAX=IMAGE` (BuildKit's build argument of that name)
//!   replaces the directive, as it does in BuildKit;
//! - the `# escape=` parser directive (default `\`) and line continuations,
//!   with comment lines inside a continuation dropped;
//! - a word quoted whole (`FROM "nginx:1.27"`, `--from='busybox'`) is read as
//!   BuildKit's shell lexer reads it: variables are expanded inside `"..."`,
//!   not inside `'...'`, and the quotes are not part of the image;
//! - `ARG` before the first `FROM` declares the variables `FROM` may use;
//!   their defaults are substituted, `--var NAME=VALUE` overrides them (as
//!   `docker build --build-arg` would), and a variable with no value is
//!   reported as [`ProblemCode::UnresolvedVariable`], never guessed;
//! - inside a stage, `--from=` and `from=` are expanded with the stage's own
//!   variables, as BuildKit does: its `ARG`s (a bare `ARG NAME` takes the
//!   global default) and `ENV`s; a global `ARG` not declared again in the
//!   stage has no value there;
//! - `FROM [--platform=...] IMAGE [AS name]`: a later `FROM name` that refers
//!   to an earlier stage is not an image; `COPY --from=` and `from=` may name
//!   any stage of the file, earlier or later, by name or index (BuildKit
//!   resolves them against all stages); `scratch` is never pulled;
//! - an `ONBUILD` trigger runs in a later build this file cannot see: a
//!   number is a stage index there, any other `--from=`/`from=` is judged as
//!   an image, and a variable in it is reported as unresolved. `ONBUILD FROM`
//!   (and `ONBUILD ONBUILD`) is refused by BuildKit and reported as a parse
//!   error.
//!
//! Each stage is one object (`stage build`, or `stage #0` without `AS`); the
//! frontend image is held by `syntax directive`, a trigger's by `onbuild
//! <stage>`. A heredoc's body (`RUN <<EOF` ... `EOF`, also in `COPY` and
//! `ADD`) is a script's or a file's text, not instructions: it is not read
//! (a `FROM` line in it is not an image BuildKit pulls, and `lint --fix`
//! never edits it).

use super::report::{Extracted, Holder, ImageSite, Position, Problem, ProblemCode};
use super::vars::{self, Overrides, Syntax};
use std::collections::HashMap;

/// The [`Holder::kind`]s of a Dockerfile's images: the frontend, a stage's
/// base or flags, an `ONBUILD` trigger's.
pub(crate) const HOLDER_KINDS: [&str; 3] = ["syntax", "stage", "onbuild"];

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

/// The lines (0-based) that are the bodies of heredocs (`RUN <<EOF` ...
/// `EOF`), as BuildKit reads them: after a `RUN`, `COPY` or `ADD` line (or
/// an `ONBUILD` one) with `<<WORD`, `<<-WORD`, `<<"WORD"` or `<<'WORD'`
/// starting a word, the lines up to the one that is `WORD` (with `<<-`,
/// after leading tabs), that line included; several heredocs on one line
/// follow each other.
fn heredoc_lines(text: &str) -> Vec<bool> {
    let mut body = Vec::new();
    let mut pending: std::collections::VecDeque<(&str, bool)> = Default::default();
    for line in text.lines() {
        if let Some(&(word, strip_tabs)) = pending.front() {
            body.push(true);
            let end = if strip_tabs {
                line.trim_start_matches('\t')
            } else {
                line
            };
            if end == word {
                pending.pop_front();
            }
            continue;
        }
        body.push(false);
        let mut ws = line.split_whitespace();
        let mut first = ws.next().unwrap_or_default();
        if first.eq_ignore_ascii_case("ONBUILD") {
            first = ws.next().unwrap_or_default();
        }
        if !["RUN", "COPY", "ADD"]
            .iter()
            .any(|k| first.eq_ignore_ascii_case(k))
        {
            continue;
        }
        for word in line.split_whitespace() {
            let Some(rest) = word.strip_prefix("<<") else {
                continue;
            };
            let strip_tabs = rest.starts_with('-');
            let rest = rest.strip_prefix('-').unwrap_or(rest);
            let name = ['"', '\'']
                .into_iter()
                .find_map(|q| rest.strip_prefix(q)?.strip_suffix(q))
                .unwrap_or(rest);
            let valid = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if valid {
                pending.push_back((name, strip_tabs));
            }
        }
    }
    body
}

/// Splits the file into logical instructions (heredoc bodies are not
/// instructions, and are left out).
fn instructions(text: &str, escape: char) -> Vec<Instruction> {
    let mut out = Vec::new();
    let mut current: Option<Instruction> = None;
    let heredoc = heredoc_lines(text);
    for (index, raw) in text.lines().enumerate() {
        let line_no = index + 1;
        if heredoc.get(index) == Some(&true) {
            continue;
        }
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

/// The `# syntax=` parser directive as BuildKit's `DetectSyntax` finds it
/// (moby/buildkit `frontend/dockerfile/parser/directives.go`): after an
/// optional `#!` first line, the leading lines that start with `#` (not
/// indented) and read `key=value` with a known key (`syntax`, `escape`,
/// `check`); the first other line ends the directives. When no `#` directive
/// names a syntax, the same with `//` comments, then a file that is a JSON
/// object with a `"syntax"` string. The image is the value's first word.
/// Returns (byte offset of the value in `text`, the image).
fn syntax_directive(text: &str) -> Option<(usize, &str)> {
    let mut body = text;
    let mut base = 0;
    if body.starts_with("#!") {
        let cut = body.find('\n').map_or(body.len(), |i| i + 1);
        body = &body[cut..];
        base = cut;
    }
    for comment in ["#", "//"] {
        let mut at = base;
        for line in body.split_inclusive('\n') {
            let start = at;
            at += line.len();
            let line = line.strip_suffix('\n').unwrap_or(line);
            let line = line.strip_suffix('\r').unwrap_or(line);
            let Some(rest) = line.strip_prefix(comment) else {
                break;
            };
            let trimmed = rest.trim_start();
            let key_len = trimmed
                .find(|c: char| !c.is_ascii_alphanumeric())
                .unwrap_or(trimmed.len());
            let key = &trimmed[..key_len];
            if !key.starts_with(|c: char| c.is_ascii_alphabetic()) {
                break;
            }
            let Some(value) = trimmed[key_len..]
                .trim_start_matches(go_regexp_space)
                .strip_prefix('=')
            else {
                break;
            };
            let value = value
                .trim_start_matches(go_regexp_space)
                .trim_end_matches(go_regexp_space);
            if value.is_empty() {
                break;
            }
            let key = key.to_ascii_lowercase();
            if !matches!(key.as_str(), "syntax" | "escape" | "check") {
                break;
            }
            if key == "syntax" {
                let image = value.split(' ').next().unwrap_or(value);
                let offset = start + (value.as_ptr() as usize - line.as_ptr() as usize);
                return Some((offset, image));
            }
        }
    }
    // `{"syntax": "..."}`: a JSON object as the whole file (no position
    // inside it is kept; the site points at the file's start).
    if body.trim_start().starts_with('{')
        && let Ok(serde_json::Value::Object(map)) = serde_json::from_str(body)
        && let Some(serde_json::Value::String(_)) = map.get("syntax")
    {
        return Some((base, ""));
    }
    None
}

/// `\s` of Go's regexp (RE2): ASCII space, tab, newline, form feed, carriage return.
fn go_regexp_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0c' | '\r')
}

/// The physical position of byte `offset` of `text`.
fn text_position(text: &str, offset: usize) -> Position {
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    Position {
        line,
        column: before[line_start..].chars().count() + 1,
    }
}

/// What a stage reference (`COPY --from=`, `RUN --mount=...,from=`) may name
/// besides an image.
#[derive(Clone, Copy)]
enum StageRefs<'a> {
    /// Any stage of this file, by name or index (BuildKit resolves these
    /// against every stage, earlier or later).
    Stages(&'a [Option<String>]),
    /// Only earlier stages (`FROM name`).
    Earlier(&'a [Option<String>]),
    /// An `ONBUILD` trigger, run in a build this file cannot see: a number is
    /// a stage index there, any name is judged as an image.
    Downstream,
}

impl StageRefs<'_> {
    fn names_stage(self, lower: &str) -> bool {
        let is_index_of = |stages: &[Option<String>]| {
            stages
                .iter()
                .enumerate()
                .any(|(i, alias)| alias.as_deref() == Some(lower) || lower == i.to_string())
        };
        match self {
            StageRefs::Stages(s) | StageRefs::Earlier(s) => is_index_of(s),
            StageRefs::Downstream => !lower.is_empty() && lower.bytes().all(|b| b.is_ascii_digit()),
        }
    }
}

/// The values of `from=` in a `--mount` flag's comma-separated options
/// (BuildKit reads them as one CSV record; keys are case-insensitive), as
/// (byte offset in `value`, the value).
fn mount_from(value: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut at = 0;
    for field in value.split(',') {
        let start = at;
        at += field.len() + 1;
        let (field, quote) = match field.strip_prefix('"') {
            Some(f) => (f.strip_suffix('"').unwrap_or(f), 1),
            None => (field, 0),
        };
        if let Some((key, v)) = field.split_once('=')
            && key.eq_ignore_ascii_case("from")
        {
            out.push((start + quote + key.len() + 1, v));
        }
    }
    out
}

/// `ENV` declarations: `ENV K=V K2="v 2"` or the legacy `ENV K V`, as
/// (name, value as written).
fn env_pairs<'t>(words: &[(usize, &'t str)]) -> Vec<(&'t str, &'t str)> {
    match words {
        [(_, first), (_, second), ..] if !first.contains('=') => vec![(first, second)],
        _ => words
            .iter()
            .filter_map(|(_, w)| w.split_once('='))
            .map(|(k, v)| (k, unquote(v)))
            .collect(),
    }
}

/// Reads the images of a Dockerfile.
pub fn extract(text: &str, overrides: &Overrides) -> Extracted {
    let escape = escape_char(text);
    let syntax = Syntax::Dockerfile { escape };
    let mut out = Extracted::default();
    // `--var BUILDKIT_SYNTAX=IMAGE` (`--build-arg` to BuildKit) replaces the
    // directive's frontend; its first word is the image.
    let syntax_arg = overrides
        .get("BUILDKIT_SYNTAX")
        .and_then(|v| v.split_whitespace().next());
    if let Some(image) = syntax_arg {
        let offset = syntax_directive(text).map_or(0, |(offset, _)| offset);
        out.sites.push(ImageSite {
            position: text_position(text, offset),
            width: 1,
            written: Some("--var BUILDKIT_SYNTAX".to_owned()),
            image: image.to_owned(),
            holder: Holder {
                kind: "syntax".to_owned(),
                namespace: None,
                name: Some("build-arg".to_owned()),
            },
            container: None,
            path: None,
            namespace: None,
            annotations: Vec::new(),
        });
    } else if let Some((offset, image)) = syntax_directive(text) {
        let holder = Holder {
            kind: "syntax".to_owned(),
            namespace: None,
            name: Some("directive".to_owned()),
        };
        let position = text_position(text, offset);
        let image = if image.is_empty() {
            // The JSON form: read the value again.
            serde_json::from_str::<serde_json::Value>(&text[offset..])
                .ok()
                .and_then(|v| v.get("syntax")?.as_str().map(str::to_owned))
                .unwrap_or_default()
        } else {
            image.to_owned()
        };
        out.sites.push(ImageSite {
            position,
            width: image.chars().count(),
            written: None,
            image,
            holder,
            container: None,
            path: None,
            namespace: None,
            annotations: Vec::new(),
        });
    }
    let instructions = instructions(text, escape);
    // Every stage's alias, for references by name that BuildKit resolves
    // against all stages (COPY --from, RUN --mount from=).
    let all_stages: Vec<Option<String>> = instructions
        .iter()
        .filter_map(|inst| {
            let mut ws = words(&inst.text).map(|(_, w)| w);
            ws.next()
                .filter(|k| k.eq_ignore_ascii_case("FROM"))
                .map(|_| stage_alias(ws))
        })
        .collect();
    // Global ARGs (before the first FROM): name -> default (None: no default).
    let mut globals: HashMap<String, Option<String>> = HashMap::new();
    // The current stage's variables (its ARGs and ENVs): name -> value (None:
    // no value the linter knows).
    let mut scope: HashMap<String, Option<String>> = HashMap::new();
    let mut stages: Vec<Option<String>> = Vec::new();
    for inst in &instructions {
        let all: Vec<(usize, &str)> = words(&inst.text).collect();
        let Some(&(_, first)) = all.first() else {
            continue;
        };
        let (keyword, args, onbuild) = if first.eq_ignore_ascii_case("ONBUILD") {
            match all.get(1) {
                Some(&(_, k)) => (k, &all[2..], true),
                None => continue,
            }
        } else {
            (first, &all[1..], false)
        };
        let stage_holder = |stages: &[Option<String>]| Holder {
            kind: if onbuild { "onbuild" } else { "stage" }.to_owned(),
            namespace: None,
            name: Some(match stages.last() {
                Some(Some(alias)) => alias.clone(),
                _ => format!("#{}", stages.len().saturating_sub(1)),
            }),
        };
        let scope_lookup = |name: &str| -> Option<&str> { scope.get(name)?.as_deref() };
        let no_vars = |_: &str| -> Option<&str> { None };
        if onbuild {
            if keyword.eq_ignore_ascii_case("FROM") || keyword.eq_ignore_ascii_case("ONBUILD") {
                out.problems.push(Problem {
                    position: Some(inst.position(all[1].0)),
                    code: ProblemCode::ParseError,
                    message: format!(
                        "{} isn't allowed as an ONBUILD trigger",
                        keyword.to_ascii_uppercase()
                    ),
                });
                continue;
            }
            if stages.is_empty() {
                continue;
            }
            let holder = stage_holder(&stages);
            from_flags(
                &mut out,
                inst,
                keyword,
                args,
                syntax,
                &no_vars,
                StageRefs::Downstream,
                &holder,
            );
            continue;
        }
        if keyword.eq_ignore_ascii_case("ARG") {
            for &(_, decl) in args {
                let (name, default) = match decl.split_once('=') {
                    Some((n, d)) => (n, Some(unquote(d).to_owned())),
                    None => (decl, None),
                };
                if stages.is_empty() {
                    globals.insert(name.to_owned(), default);
                } else {
                    // A stage's ARG: --var, else its default, else the
                    // global ARG's default.
                    let value = match overrides.get(name) {
                        Some(v) => Some(v.clone()),
                        None => default
                            .and_then(|d| {
                                let lookup = |n: &str| scope.get(n)?.as_deref();
                                vars::substitute(&d, syntax, &lookup).ok()
                            })
                            .or_else(|| globals.get(name).cloned().flatten()),
                    };
                    scope.insert(name.to_owned(), value);
                }
            }
            continue;
        }
        if keyword.eq_ignore_ascii_case("ENV") {
            let pairs = env_pairs(args);
            let values: Vec<(String, Option<String>)> = pairs
                .into_iter()
                .map(|(k, v)| {
                    (
                        k.to_owned(),
                        vars::substitute(v, syntax, &scope_lookup).ok(),
                    )
                })
                .collect();
            scope.extend(values);
            continue;
        }
        let global_lookup = |name: &str| -> Option<&str> {
            match overrides.get(name) {
                Some(v) if globals.contains_key(name) => Some(v.as_str()),
                _ => globals.get(name).and_then(|d| d.as_deref()),
            }
        };
        if keyword.eq_ignore_ascii_case("FROM") {
            let Some(&(offset, word)) = args.iter().find(|(_, w)| !w.starts_with("--")) else {
                out.problems.push(Problem {
                    position: Some(inst.position(0)),
                    code: ProblemCode::ParseError,
                    message: "FROM without an image".to_owned(),
                });
                continue;
            };
            let alias = stage_alias(args.iter().map(|(_, w)| *w));
            let index = stages.len();
            stages.push(alias.clone());
            scope.clear();
            out.objects += 1;
            let holder = Holder {
                kind: "stage".to_owned(),
                namespace: None,
                name: Some(alias.unwrap_or_else(|| format!("#{index}"))),
            };
            site(
                &mut out,
                inst,
                offset,
                word,
                syntax,
                &global_lookup,
                StageRefs::Earlier(&stages[..index]),
                holder,
            );
        } else if !stages.is_empty() {
            let holder = stage_holder(&stages);
            from_flags(
                &mut out,
                inst,
                keyword,
                args,
                syntax,
                &scope_lookup,
                StageRefs::Stages(&all_stages),
                &holder,
            );
        }
    }
    out.sites.sort_by_key(|s| s.position);
    out
}

/// The `AS name` of a `FROM` instruction's words (after `FROM`), lowercased
/// as BuildKit stores stage names.
fn stage_alias<'w>(words: impl Iterator<Item = &'w str>) -> Option<String> {
    words
        .skip_while(|w| !w.eq_ignore_ascii_case("AS"))
        .nth(1)
        .map(str::to_ascii_lowercase)
}

/// The images named by an instruction's flags: `COPY`/`ADD --from=IMAGE` and
/// `RUN --mount=...,from=IMAGE` (the flags are the words before the first
/// that does not start with `--`).
#[allow(clippy::too_many_arguments)]
fn from_flags<'v>(
    out: &mut Extracted,
    inst: &Instruction,
    keyword: &str,
    args: &[(usize, &str)],
    syntax: Syntax,
    lookup: &impl Fn(&str) -> Option<&'v str>,
    refs: StageRefs<'_>,
    holder: &Holder,
) {
    let flags = args.iter().take_while(|(_, w)| w.starts_with("--"));
    if keyword.eq_ignore_ascii_case("COPY") || keyword.eq_ignore_ascii_case("ADD") {
        for &(offset, word) in flags {
            if let Some(value) = word.strip_prefix("--from=") {
                let at = offset + "--from=".len();
                site(out, inst, at, value, syntax, lookup, refs, holder.clone());
            }
        }
    } else if keyword.eq_ignore_ascii_case("RUN") {
        for &(offset, word) in flags {
            if let Some(value) = word.strip_prefix("--mount=") {
                let at = offset + "--mount=".len();
                for (from_at, from) in mount_from(value) {
                    site(
                        out,
                        inst,
                        at + from_at,
                        from,
                        syntax,
                        lookup,
                        refs,
                        holder.clone(),
                    );
                }
            }
        }
    }
}

fn unquote(s: &str) -> &str {
    for q in ['"', '\''] {
        if let Some(inner) = s.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return inner;
        }
    }
    s
}

/// Records `word` at `offset` as an image unless it names a stage or
/// `scratch`.
#[allow(clippy::too_many_arguments)]
fn site<'v>(
    out: &mut Extracted,
    inst: &Instruction,
    offset: usize,
    word: &str,
    syntax: Syntax,
    lookup: &impl Fn(&str) -> Option<&'v str>,
    refs: StageRefs<'_>,
    holder: Holder,
) {
    let position = inst.position(offset);
    // A word quoted whole, as BuildKit's shell lexer reads it: `"..."`
    // expands variables, `'...'` is literal.
    let substituted = match (word.strip_prefix('"'), word.strip_prefix('\'')) {
        (Some(inner), _) if word.len() >= 2 && inner.ends_with('"') => {
            vars::substitute(&inner[..inner.len() - 1], syntax, lookup)
        }
        (_, Some(inner)) if word.len() >= 2 && inner.ends_with('\'') => {
            Ok(inner[..inner.len() - 1].to_owned())
        }
        _ => vars::substitute(word, syntax, lookup),
    };
    let image = match substituted {
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
    if refs.names_stage(&lower) || lower == "scratch" {
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
                (
                    "docker/dockerfile:1".to_owned(),
                    1,
                    10,
                    "directive".to_owned()
                ),
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

    /// The frontend image BuildKit pulls, its line and column.
    type Frontend = Option<(&'static str, usize, usize)>;

    /// (file text, the frontend).
    const SYNTAX_DIRECTIVES: &[(&str, Frontend)] = &[
        (
            "# syntax=docker/dockerfile:1\nFROM a\n",
            Some(("docker/dockerfile:1", 1, 10)),
        ),
        ("#syntax = x/y:1 --flag\n", Some(("x/y:1", 1, 11))),
        ("# SYNTAX=x/y\n", Some(("x/y", 1, 10))),
        ("#!/bin/sh\n# syntax=x/y\n", Some(("x/y", 2, 10))),
        (
            "# escape=`\n# check=skip=all\n# syntax=x/y\n",
            Some(("x/y", 3, 10)),
        ),
        ("// syntax=x/y\nFROM a\n", Some(("x/y", 1, 11))),
        ("# syntax=x/y\r\nFROM a\r\n", Some(("x/y", 1, 10))),
        // An unknown directive, a blank line, an instruction or an indented
        // comment ends the directives.
        ("# foo=bar\n# syntax=x/y\n", None),
        ("\n# syntax=x/y\n", None),
        ("FROM a\n# syntax=x/y\n", None),
        ("  # syntax=x/y\n", None),
        ("# comment\n# syntax=x/y\n", None),
        ("# syntax=\n", None),
    ];

    #[test]
    fn syntax_directive_as_buildkit_detects_it() {
        for (text, want) in SYNTAX_DIRECTIVES {
            let got: Vec<_> = extract(text, &Overrides::new())
                .sites
                .into_iter()
                .filter(|s| s.holder.kind == "syntax")
                .map(|s| (s.image, s.position.line, s.position.column))
                .collect();
            let want: Vec<_> = want
                .iter()
                .map(|(i, l, c)| ((*i).to_owned(), *l, *c))
                .collect();
            assert_eq!(got, want, "{text:?}");
        }
        let json = extract("{\"syntax\": \"x/y:2\"}", &Overrides::new());
        assert_eq!(json.sites[0].image, "x/y:2");
    }

    #[test]
    fn mounts_onbuild_and_copy_from() {
        let text = "FROM a AS one\n\
            ARG LOCAL=img/local:1\n\
            ENV FROMENV=img/env:1\n\
            RUN --mount=type=cache,from=$LOCAL,target=/c --mount=from=two,target=/t true\n\
            RUN --mount=type=bind,\"from=img/quoted:1\",target=/q --mount=from=1 true\n\
            COPY --from=$FROMENV /a /a\n\
            COPY --link --from=img/link:1 /b /b\n\
            ADD --from=img/add:1 /c /c\n\
            ONBUILD COPY --from=img/onbuild:1 /d /d\n\
            ONBUILD RUN --mount=from=img/onbuild-mount:1 true\n\
            ONBUILD COPY --from=0 /e /e\n\
            ONBUILD COPY --from=$LOCAL /e /e\n\
            FROM b AS two\n";
        let got = extract(text, &Overrides::new());
        let images: Vec<_> = got
            .sites
            .iter()
            .map(|s| {
                (
                    s.image.as_str(),
                    s.position.line,
                    s.position.column,
                    s.holder.kind.as_str(),
                )
            })
            .collect();
        assert_eq!(
            images,
            vec![
                ("a", 1, 6, "stage"),
                ("img/local:1", 4, 29, "stage"),
                ("img/quoted:1", 5, 29, "stage"),
                ("img/env:1", 6, 13, "stage"),
                ("img/link:1", 7, 20, "stage"),
                ("img/add:1", 8, 12, "stage"),
                ("img/onbuild:1", 9, 21, "onbuild"),
                ("img/onbuild-mount:1", 10, 26, "onbuild"),
                ("b", 13, 6, "stage"),
            ]
        );
        // An ONBUILD trigger's variables take their values in a build this
        // file cannot see: reported, not guessed.
        assert_eq!(got.problems.len(), 1, "{:?}", got.problems);
        assert_eq!(got.problems[0].code, ProblemCode::UnresolvedVariable);
        assert_eq!(
            got.problems[0].position,
            Some(Position {
                line: 12,
                column: 21
            })
        );
    }

    #[test]
    fn a_global_arg_is_not_visible_in_a_stage_unless_declared_there() {
        let text = "ARG IMG=img/global:1\nFROM a\nCOPY --from=$IMG /a /a\nARG IMG\nCOPY --from=$IMG /b /b\n";
        let got = extract(text, &Overrides::new());
        let images: Vec<_> = got
            .sites
            .iter()
            .map(|s| (s.image.as_str(), s.position.line))
            .collect();
        assert_eq!(images, vec![("a", 2), ("img/global:1", 5)]);
        assert_eq!(got.problems.len(), 1);
        assert_eq!(
            got.problems[0].position,
            Some(Position {
                line: 3,
                column: 13
            })
        );
        let overridden = extract(text, &[("IMG".to_owned(), "img/var:1".to_owned())].into());
        assert_eq!(overridden.sites[1].image, "img/var:1");
    }

    #[test]
    fn the_buildkit_syntax_build_arg_replaces_the_directive() {
        let text = "# syntax=docker/dockerfile:1\nFROM a\n";
        let got = extract(
            text,
            &[("BUILDKIT_SYNTAX".to_owned(), "x/y:2 --opt".to_owned())].into(),
        );
        let frontends: Vec<_> = got
            .sites
            .iter()
            .filter(|s| s.holder.kind == "syntax")
            .map(|s| (s.image.as_str(), s.position.line))
            .collect();
        assert_eq!(frontends, vec![("x/y:2", 1)]);
    }

    #[test]
    fn onbuild_from_is_an_error() {
        let got = extract("FROM a\nONBUILD FROM b\n", &Overrides::new());
        assert_eq!(got.problems.len(), 1);
        assert_eq!(got.problems[0].code, ProblemCode::ParseError);
        assert_eq!(got.sites.len(), 1);
    }
}
