//! RHEL/CentOS 7 docker's `/etc/sysconfig/docker` (the projectatomic
//! fork): `ADD_REGISTRY='--add-registry R ...'`, `BLOCK_REGISTRY='--block-registry
//! R ...'` (`all` blocks every registry not added), `INSECURE_REGISTRY` (TLS,
//! not policy: left out), and those flags in `OPTIONS`. Every other line is
//! read and left out, with a note.
//!
//! docker searches an unqualified name (`busybox`) in the added registries
//! first, then `docker.io`; the policy judges it as `docker.io/library/busybox`
//! (as Kubernetes' runtimes pull it): the report says so.

use crate::bouncer::{registry, shell_words};
use crate::draft::{Draft, Rule};
use crate::old::{Engine, OldPolicy};
use crate::{ImportError, ImportErrorKind, Note, NoteKind, Origin, Source};

pub(crate) fn read(
    sources: &[Source<'_>],
    notes: &mut Vec<Note>,
) -> Result<(Draft, OldPolicy), ImportError> {
    let mut add: Vec<(String, Origin)> = Vec::new();
    let mut block: Vec<(String, Origin)> = Vec::new();
    let mut block_all: Option<Origin> = None;
    for source in sources {
        for (n, line) in source.text.lines().enumerate() {
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let origin = Origin::new(source.name, 0, "", format!("line {}", n + 1));
            let assignment = trimmed.strip_prefix("export ").unwrap_or(trimmed);
            let Some((key, value)) = assignment.split_once('=') else {
                return Err(ImportError::new(
                    ImportErrorKind::Syntax,
                    origin,
                    "not a KEY=VALUE line",
                ));
            };
            let origin = origin.field(format!("line {} ({key})", n + 1));
            let words = shell_words(value).ok_or_else(|| {
                ImportError::new(
                    ImportErrorKind::Syntax,
                    origin.clone(),
                    "an unterminated quote",
                )
            })?;
            let words = words
                .iter()
                .flat_map(|w| shell_words(w).unwrap_or_default())
                .collect::<Vec<_>>();
            match key {
                "ADD_REGISTRY" | "BLOCK_REGISTRY" | "INSECURE_REGISTRY" | "OPTIONS" => {}
                _ => {
                    notes.push(Note {
                        kind: NoteKind::Ignored,
                        origin,
                        message: "not a registry setting".to_owned(),
                        examples: Vec::new(),
                    });
                    continue;
                }
            }
            let mut it = words.iter();
            while let Some(w) = it.next() {
                let (flag, inline) = match w.split_once('=') {
                    Some((f, v)) if f.starts_with("--") => (f, Some(v.to_owned())),
                    _ => (w.as_str(), None),
                };
                let known = matches!(
                    flag,
                    "--add-registry" | "--block-registry" | "--insecure-registry"
                );
                if !known {
                    if key == "OPTIONS" {
                        continue;
                    }
                    return Err(ImportError::new(
                        ImportErrorKind::Unsupported,
                        origin,
                        format!(
                            "{w:?} is not --add-registry, --block-registry or --insecure-registry"
                        ),
                    ));
                }
                let Some(value) = inline.or_else(|| it.next().cloned()) else {
                    return Err(ImportError::new(
                        ImportErrorKind::InvalidValue,
                        origin,
                        format!("{flag} needs a registry"),
                    ));
                };
                let o = origin.field(format!("{} {flag} {value}", origin.field));
                match flag {
                    "--add-registry" => add.push((registry(&value, &o)?, o)),
                    "--block-registry" if value == "all" => block_all = Some(o),
                    "--block-registry" => block.push((registry(&value, &o)?, o)),
                    _ => notes.push(Note {
                        kind: NoteKind::Ignored,
                        origin: o,
                        message: "an insecure registry is a TLS setting, not a rule: the policy neither allows nor denies it for that".to_owned(),
                        examples: Vec::new(),
                    }),
                }
            }
        }
    }
    let mut draft = Draft::default();
    for (r, o) in &block {
        draft.cluster.deny.push(Rule::new("registry", r.clone(), o));
    }
    if let Some(o) = &block_all {
        if add.is_empty() {
            draft.cluster.deny.push(Rule::new("regex", ".*", o));
        }
        for (r, o) in &add {
            draft
                .cluster
                .allow
                .push(Rule::new("registry", r.clone(), o));
        }
    }
    if let Some((first, o)) = add.first() {
        notes.push(Note {
            kind: NoteKind::Spelling,
            origin: o.clone(),
            message: format!(
                "docker searched unqualified names in {first} first; the policy judges them as Docker Hub's (as Kubernetes' runtimes pull them){}",
                if block_all.is_some() { ", which --block-registry all denies" } else { "" }
            ),
            examples: vec!["busybox".to_owned()],
        });
    }
    if draft.cluster.allow.is_empty() && draft.cluster.deny.is_empty() {
        let file = sources.first().map_or("", |s| s.name);
        return Err(ImportError::new(
            ImportErrorKind::Empty,
            Origin::new(file, 0, "", ""),
            "no registry is blocked: docker admits every image",
        ));
    }
    let old = OldPolicy {
        engine: Engine::Sysconfig {
            add: add.into_iter().map(|(r, _)| r).collect(),
            block: block.into_iter().map(|(r, _)| r).collect(),
            block_all: block_all.is_some(),
        },
    };
    Ok((draft, old))
}
