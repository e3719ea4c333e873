//! kube-image-bouncer's command line (its flags as one line, as they are
//! written in its Deployment's `args` or a shell):
//! `--registry-whitelist LIST` (comma-separated, repeatable) and
//! `--reject-latest`; the server's own flags (`--cert`, `--key`, `--port`,
//! `--debug`) are read and left out. The bouncer compares the registry of
//! the name after Docker's normalization (`busybox` is `docker.io`) exactly,
//! so the import is exact but for the case of the host, which the policy
//! ignores.

use crate::draft::{Draft, Rule};
use crate::old::{Engine, OldPolicy};
use crate::{ImportError, ImportErrorKind, Note, NoteKind, Origin, Source};
use image_policy_core::reference::ImageRef;

/// Splits a command line as a POSIX shell does for words: blanks separate,
/// single quotes keep everything, double quotes and backslashes escape, a
/// backslash-newline continues the line. `None` for an unterminated quote.
pub(crate) fn shell_words(line: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        c => word.push(c),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => match chars.next()? {
                            '\n' => {}
                            c @ ('"' | '\\' | '$' | '`') => word.push(c),
                            c => {
                                word.push('\\');
                                word.push(c);
                            }
                        },
                        c => word.push(c),
                    }
                }
            }
            '\\' => match chars.next() {
                Some('\n') => {}
                Some(c) => {
                    in_word = true;
                    word.push(c);
                }
                None => {}
            },
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Some(words)
}

/// A registry `host[:port]`, as the grammar reads the first component of
/// a name; the error says why not.
pub(crate) fn registry(value: &str, origin: &Origin) -> Result<String, ImportError> {
    let invalid = |why: &str| {
        ImportError::new(
            ImportErrorKind::InvalidValue,
            origin.clone(),
            format!("{value:?} is not a registry host[:port]{why}"),
        )
    };
    if value.is_empty() {
        return Err(invalid(" (an empty entry)"));
    }
    if value.contains("://") {
        return Err(invalid(" (no scheme)"));
    }
    match ImageRef::parse(&format!("{value}/x")) {
        Ok(r) if r.is_domain_written() && r.domain().eq_ignore_ascii_case(value) => {
            Ok(value.to_owned())
        }
        Ok(r) if r.is_domain_written() && r.domain() == "docker.io" => Ok(value.to_owned()),
        _ => Err(invalid("")),
    }
}

pub(crate) fn read(
    sources: &[Source<'_>],
    notes: &mut Vec<Note>,
) -> Result<(Draft, OldPolicy), ImportError> {
    let mut draft = Draft::default();
    let mut whitelist = Vec::new();
    let mut reject_latest = false;
    for source in sources {
        let file = Origin::new(source.name, 0, "kube-image-bouncer", "");
        let words = shell_words(source.text).ok_or_else(|| {
            ImportError::new(
                ImportErrorKind::Syntax,
                file.clone(),
                "an unterminated quote",
            )
        })?;
        let mut words = words.into_iter().enumerate().peekable();
        if words.peek().is_some_and(|(_, w)| !w.starts_with('-')) {
            words.next();
        }
        while let Some((i, word)) = words.next() {
            let (flag, inline) = match word.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
                _ => (word.clone(), None),
            };
            let origin = file.field(format!("argument {} ({flag})", i + 1));
            let mut value = |what: &str| -> Result<String, ImportError> {
                match &inline {
                    Some(v) => Ok(v.clone()),
                    None => words.next().map(|(_, v)| v).ok_or_else(|| {
                        ImportError::new(
                            ImportErrorKind::InvalidValue,
                            origin.clone(),
                            format!("{flag} needs {what}"),
                        )
                    }),
                }
            };
            match flag.as_str() {
                "--registry-whitelist" => {
                    let list = value("a comma-separated list of registries")?;
                    for (k, entry) in list.split(',').enumerate() {
                        let o =
                            origin.field(format!("argument {} ({flag}) entry {}", i + 1, k + 1));
                        let r = registry(entry.trim(), &o)?;
                        draft
                            .cluster
                            .allow
                            .push(Rule::new("registry", r.clone(), &o));
                        whitelist.push(r);
                    }
                }
                "--reject-latest" => {
                    let on = match inline.as_deref() {
                        None | Some("true") => true,
                        Some("false") => false,
                        Some(v) => {
                            return Err(ImportError::new(
                                ImportErrorKind::InvalidValue,
                                origin,
                                format!("{v:?} is not true or false"),
                            ));
                        }
                    };
                    if on && !reject_latest {
                        draft
                            .cluster
                            .deny_tags
                            .push(("latest".to_owned(), origin.clone()));
                    }
                    reject_latest |= on;
                }
                "--cert" | "--key" | "--port" | "-p" => {
                    value("a value")?;
                    notes.push(Note {
                        kind: NoteKind::Ignored,
                        origin,
                        message: "a server setting, not a rule (see `image-policy serve --help`)"
                            .to_owned(),
                        examples: Vec::new(),
                    });
                }
                "--debug" | "-d" => notes.push(Note {
                    kind: NoteKind::Ignored,
                    origin,
                    message: "a server setting, not a rule".to_owned(),
                    examples: Vec::new(),
                }),
                _ => {
                    return Err(ImportError::new(
                        ImportErrorKind::Unsupported,
                        origin,
                        "not a kube-image-bouncer flag this import reads (--registry-whitelist, --reject-latest, --cert, --key, --port, --debug)",
                    ));
                }
            }
        }
        notes.push(Note {
            kind: NoteKind::Unchecked,
            origin: file,
            message: "image volumes (spec.volumes[].image.reference) and workloads (Deployments, Jobs, ...) are judged now; an ImagePolicyWebhook sees the containers of Pods only".to_owned(),
            examples: Vec::new(),
        });
    }
    if whitelist.is_empty() && !reject_latest {
        let file = sources.first().map_or("", |s| s.name);
        return Err(ImportError::new(
            ImportErrorKind::Empty,
            Origin::new(file, 0, "kube-image-bouncer", ""),
            "no --registry-whitelist and no --reject-latest: the bouncer admits every image",
        ));
    }
    let old = OldPolicy {
        engine: Engine::Bouncer {
            whitelist,
            reject_latest,
        },
    };
    Ok((draft, old))
}

#[cfg(test)]
mod tests {
    use super::shell_words;

    #[test]
    fn words_as_a_shell_splits_them() {
        let w = |s: &str| shell_words(s).unwrap();
        assert_eq!(w("a  'b c' \"d\\\"e\" f\\ g"), ["a", "b c", "d\"e", "f g"]);
        assert_eq!(w("--x=1 \\\n --y"), ["--x=1", "--y"]);
        assert!(shell_words("'open").is_none());
    }
}
