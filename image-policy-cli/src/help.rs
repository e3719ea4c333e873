//! Examples in `--help`, laid out for the terminal's width so that every
//! example still runs as written when it is copied.
//!
//! clap wraps help text at spaces to fit the terminal; a wrapped example
//! (`kubectl create deployment x` / `--image=...`) pasted into a shell runs
//! two wrong commands. So the examples are laid out here, before clap sees
//! them: each command is one line when it fits, and otherwise is broken
//! between words (never inside quotes) with a trailing ` \` (the shell's line
//! continuation) and an indented continuation line. A comment goes on its
//! own `# ` line above its command. The width is the one clap wraps at (the
//! terminal's, else `COLUMNS`, else 100), so clap never has to break a line.

use clap::Command;

/// One command's examples: a line starting with `# ` is a comment about the
/// example after it; every other line is one shell command.
pub type Examples = &'static [&'static str];

/// The width clap wraps help at: the terminal's, else `COLUMNS`, else 100.
pub fn width() -> usize {
    terminal_size::terminal_size()
        .map(|(w, _)| usize::from(w.0))
        .or_else(|| std::env::var("COLUMNS").ok()?.parse().ok())
        .unwrap_or(100)
}

const INDENT: &str = "  ";
const CONTINUATION_INDENT: &str = "      ";

/// The `Examples:` section for `examples`, followed by `trailer` (a
/// paragraph such as the exit status, which clap may wrap freely).
pub fn after_help(examples: Examples, trailer: &str, width: usize) -> String {
    // clap breaks a line that reaches the width; stay one short of it.
    let limit = width.saturating_sub(1).max(20);
    let mut out = String::from("Examples:\n");
    for example in examples {
        match example.strip_prefix("# ") {
            Some(comment) => lay_out(&mut out, comment.split(' '), "  # ", "  # ", "", limit),
            None => lay_out(
                &mut out,
                shell_words(example).into_iter(),
                INDENT,
                CONTINUATION_INDENT,
                " \\",
                limit,
            ),
        }
    }
    if !trailer.is_empty() {
        out.push('\n');
        out.push_str(trailer);
    }
    out.truncate(out.trim_end().len());
    out
}

/// Words joined by spaces into lines of at most `limit` characters (a word
/// longer than that gets a line of its own); every line but the last ends
/// with `marker`.
fn lay_out<'w>(
    out: &mut String,
    words: impl Iterator<Item = &'w str>,
    first: &str,
    rest: &str,
    marker: &str,
    limit: usize,
) {
    let mut line = String::from(first);
    let mut empty = true;
    for word in words {
        let fits =
            line.chars().count() + 1 + word.chars().count() + marker.chars().count() <= limit;
        if !empty && !fits {
            out.push_str(&line);
            // A line that is already too long (one long word) takes the
            // marker without its space, so that clap finds no space to break
            // at (`word\` and an indented next line is the same command).
            if line.chars().count() + marker.chars().count() > limit {
                out.push_str(marker.trim_start());
            } else {
                out.push_str(marker);
            }
            out.push('\n');
            line = String::from(rest);
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    out.push_str(&line);
    out.push('\n');
}

/// A command split at the spaces that separate shell words (not those inside
/// single or double quotes, not an escaped one).
fn shell_words(command: &str) -> Vec<&str> {
    let mut words = Vec::new();
    let mut start = None;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in command.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match (c, quote) {
            ('\\', None | Some('"')) => escaped = true,
            ('\'' | '"', None) => quote = Some(c),
            (q, Some(open)) if q == open => quote = None,
            (' ', None) => {
                if let Some(s) = start.take() {
                    words.push(&command[s..i]);
                }
                continue;
            }
            _ => {}
        }
        start.get_or_insert(i);
    }
    if let Some(s) = start {
        words.push(&command[s..]);
    }
    words
}

/// Sets the `after_help` of `command` (and of the subcommands named in
/// `per_command`, by path) to its examples and trailer.
pub fn with_examples(
    mut command: Command,
    width: usize,
    per_command: &[(&[&str], Examples, &str)],
) -> Command {
    for (path, examples, trailer) in per_command {
        let text = after_help(examples, trailer, width);
        command = set(command, path, text);
    }
    command
}

fn set(command: Command, path: &[&str], text: String) -> Command {
    match path.split_first() {
        None => command.after_help(text),
        Some((first, rest)) => {
            let rest = rest.to_vec();
            command.mut_subcommand(*first, move |sub| set(sub, &rest, text))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_respect_quotes() {
        assert_eq!(
            shell_words("tr ' ' '\\n' | a \"b c\" d\\ e"),
            vec!["tr", "' '", "'\\n'", "|", "a", "\"b c\"", "d\\ e"]
        );
    }

    #[test]
    fn long_commands_continue_with_a_backslash() {
        let text = after_help(
            &[
                "# a comment that is long",
                "aaaa bbbb cccc dddd eeee ffff gggg",
            ],
            "",
            24,
        );
        assert_eq!(
            text,
            "Examples:\n  # a comment that is\n  # long\n  aaaa bbbb cccc dddd \\\n      eeee ffff gggg"
        );
        for line in text.lines() {
            assert!(line.chars().count() < 24, "{line:?}");
        }
    }
}
