//! containers/image's `registries.conf` (`containers-registries.conf(5)`),
//! version 2 (`[[registry]]` tables) and the version 1 block list
//! (`[registries.block] registries = [...]`).
//!
//! - a `blocked = true` entry denies every name under its `prefix` (the
//!   longest matching prefix is the entry that applies, as containers/image
//!   picks it): deny rules at least as wide (a prefix with a tag or digest
//!   denies the repository, a `*.` prefix every depth and port);
//! - an entry whose `location` differs from its `prefix` is a rewrite rule
//!   (`from: prefix`, `to: location`), the longest prefix first, as
//!   containers/image picks it; a prefix our rewrite cannot say (a tag, a
//!   digest, a `*.`) is an error;
//! - `mirror`, `insecure`, `short-name-mode`, `credential-helpers`,
//!   `[aliases]` are not rules: left out with a note;
//!   `unqualified-search-registries` other than `["docker.io"]` gets a
//!   note: short names are Docker Hub's to the policy, as Kubernetes'
//!   runtimes pull them.
//!
//! registries.conf has no allow list: an import of it alone allows every
//! registry it does not block.

use crate::draft::Draft;
use crate::old::{Engine, OldPolicy};
use crate::policy_json::Scope;
use crate::{ImportError, ImportErrorKind, Note, NoteKind, Origin, Source};
use image_policy_core::reference::ImageRef;
use toml::{Table, Value};

/// One `[[registry]]` entry as containers/image matches it.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    prefix: String,
    blocked: bool,
}

/// Whether `prefix` matches the normalized reference `name` (with its tag
/// or digest): equal, or followed by `/`, `:` or `@`; a `*.` prefix
/// matches a host ending in `.suffix` (and what follows it).
fn prefix_matches(prefix: &str, name: &str) -> bool {
    if let Some(suffix) = prefix.strip_prefix("*.") {
        let host_end = name.find(['/', ':', '@']).unwrap_or(name.len());
        let host = &name[..host_end];
        return host.ends_with(&format!(".{suffix}"));
    }
    match name.strip_prefix(prefix) {
        Some("") => true,
        Some(rest) => rest.starts_with(['/', ':', '@']),
        None => false,
    }
}

/// The entries and whether containers/image blocks a name.
#[derive(Clone, Debug)]
pub(crate) struct Entries(Vec<Entry>);

impl Entries {
    /// The entry that applies to `image` (the longest matching prefix):
    /// whether it is blocked. `None` for an image that does not parse.
    pub fn blocks(&self, image: &str) -> Option<bool> {
        let r = ImageRef::parse(image).ok()?;
        let name = r.to_string();
        Some(
            self.0
                .iter()
                .filter(|e| prefix_matches(&e.prefix, &name))
                .max_by_key(|e| e.prefix.len())
                .is_some_and(|e| e.blocked),
        )
    }
}

fn unsupported(origin: &Origin, field: &str, why: impl Into<String>) -> ImportError {
    ImportError::new(ImportErrorKind::Unsupported, origin.field(field), why)
}

fn ignored(notes: &mut Vec<Note>, origin: Origin, why: &str) {
    notes.push(Note {
        kind: NoteKind::Ignored,
        origin,
        message: why.to_owned(),
        examples: Vec::new(),
    });
}

pub(crate) fn read(
    sources: &[Source<'_>],
    notes: &mut Vec<Note>,
) -> Result<(Draft, OldPolicy), ImportError> {
    let mut entries = Vec::new();
    let mut rewrites: Vec<(String, String, Origin)> = Vec::new();
    let mut draft = Draft::default();
    for source in sources {
        let origin = Origin::new(source.name, 0, "", "");
        let table: Table = source.text.parse().map_err(|e| {
            ImportError::new(
                ImportErrorKind::Syntax,
                origin.clone(),
                format!("not TOML: {e}"),
            )
        })?;
        for (key, value) in &table {
            match key.as_str() {
                "registry" => {
                    let list = value.as_array().ok_or_else(|| {
                        unsupported(&origin, "registry", "not an array of tables")
                    })?;
                    for (i, entry) in list.iter().enumerate() {
                        let field = format!("registry[{i}]");
                        let t = entry
                            .as_table()
                            .ok_or_else(|| unsupported(&origin, &field, "not a table"))?;
                        let text = |k: &str| -> Result<Option<String>, ImportError> {
                            match t.get(k) {
                                None => Ok(None),
                                Some(Value::String(s)) => Ok(Some(s.clone())),
                                Some(_) => Err(unsupported(
                                    &origin,
                                    &format!("{field}.{k}"),
                                    "not a string",
                                )),
                            }
                        };
                        let location = text("location")?;
                        let prefix =
                            text("prefix")?
                                .or_else(|| location.clone())
                                .ok_or_else(|| {
                                    unsupported(&origin, &field, "neither prefix nor location")
                                })?;
                        let o = origin.field(format!("{field} (prefix {prefix:?})"));
                        let mut blocked = false;
                        for (k, v) in t {
                            match k.as_str() {
                                "prefix" | "location" => {}
                                "blocked" => {
                                    blocked = v.as_bool().ok_or_else(|| {
                                        unsupported(
                                            &origin,
                                            &format!("{field}.blocked"),
                                            "not a boolean",
                                        )
                                    })?
                                }
                                "insecure"
                                | "mirror"
                                | "mirror-by-digest-only"
                                | "pull-from-mirror" => ignored(
                                    notes,
                                    origin.field(format!("{field}.{k}")),
                                    "not a rule: the policy judges the name the pod carries, whatever mirror serves it",
                                ),
                                _ => {
                                    return Err(unsupported(
                                        &origin,
                                        &format!("{field}.{k}"),
                                        "not a field of a [[registry]] entry",
                                    ));
                                }
                            }
                        }
                        let scope = Scope::parse(&prefix).filter(|s| *s != Scope::Default).ok_or_else(|| {
                            ImportError::new(ImportErrorKind::InvalidValue, o.clone(), "not a prefix (host[:port], host/path, a reference or *.domain)")
                        })?;
                        if blocked {
                            crate::policy_json::deny(&scope, &o, &mut draft, notes);
                        } else if let Some(loc) = location.as_ref().filter(|l| **l != prefix) {
                            if !matches!(scope, Scope::Host(_) | Scope::Repo(_)) {
                                return Err(ImportError::new(
                                    ImportErrorKind::Unsupported,
                                    o,
                                    "a rewrite from a tag, digest or *. prefix cannot be said (rewrite rules are registries with a path)",
                                ));
                            }
                            // The location is written as a rewrite's `to`:
                            // a registry host[:port] with an optional path.
                            if !matches!(Scope::parse(loc), Some(Scope::Host(_) | Scope::Repo(_))) {
                                return Err(ImportError::new(
                                    ImportErrorKind::InvalidValue,
                                    o,
                                    "location is not a registry host[:port] with an optional path",
                                ));
                            }
                            // A rewrite's ends start with a registry as a
                            // policy says one (the core's own test).
                            for (what, s) in [("prefix", &prefix), ("location", loc)] {
                                if !image_policy_core::policy::rewrite::starts_with_registry(s) {
                                    return Err(ImportError::new(
                                        ImportErrorKind::Unsupported,
                                        o,
                                        format!(
                                            "the {what} {s:?} does not start with a host a rewrite can say (one with `.` or `:`, or localhost; a single-label or uppercase host is read as a Docker Hub path or refused)"
                                        ),
                                    ));
                                }
                            }
                            rewrites.push((prefix.clone(), loc.clone(), o.clone()));
                            if matches!(scope, Scope::Host(_)) {
                                notes.push(Note {
                                    kind: NoteKind::Spelling,
                                    origin: o.clone(),
                                    message: format!("containers/image's prefix {prefix} also rewrites {prefix}:PORT/...; the policy's rewrite does not"),
                                    examples: vec![format!("{prefix}:5000/x")],
                                });
                            }
                        }
                        entries.push(Entry { prefix, blocked });
                    }
                }
                "registries" => {
                    // Version 1: [registries.block] / .search / .insecure.
                    let t = value
                        .as_table()
                        .ok_or_else(|| unsupported(&origin, "registries", "not a table"))?;
                    for (k, v) in t {
                        let field = format!("registries.{k}.registries");
                        let list = v
                            .get("registries")
                            .and_then(Value::as_array)
                            .ok_or_else(|| unsupported(&origin, &field, "missing"))?;
                        for (i, r) in list.iter().enumerate() {
                            let f = format!("{field}[{i}]");
                            let r = r
                                .as_str()
                                .ok_or_else(|| unsupported(&origin, &f, "not a string"))?;
                            let o = origin.field(f);
                            match k.as_str() {
                                "block" => {
                                    let scope = Scope::parse(r)
                                        .filter(|s| *s != Scope::Default)
                                        .ok_or_else(|| {
                                            ImportError::new(
                                                ImportErrorKind::InvalidValue,
                                                o.clone(),
                                                "not a registry",
                                            )
                                        })?;
                                    crate::policy_json::deny(&scope, &o, &mut draft, notes);
                                    entries.push(Entry {
                                        prefix: r.to_owned(),
                                        blocked: true,
                                    });
                                }
                                "search" | "insecure" => ignored(notes, o, "not a rule"),
                                _ => {
                                    return Err(unsupported(
                                        &origin,
                                        &format!("registries.{k}"),
                                        "not block, search or insecure",
                                    ));
                                }
                            }
                        }
                    }
                }
                "unqualified-search-registries" => {
                    let list: Vec<&str> = value
                        .as_array()
                        .map(|a| a.iter().filter_map(Value::as_str).collect())
                        .unwrap_or_default();
                    if list != ["docker.io"] {
                        notes.push(Note {
                            kind: NoteKind::Spelling,
                            origin: origin.field(key),
                            message: "short names are Docker Hub's to the policy (as Kubernetes' runtimes pull them), not searched in these registries".to_owned(),
                            examples: vec!["busybox".to_owned()],
                        });
                    }
                }
                "short-name-mode"
                | "credential-helpers"
                | "aliases"
                | "additional-layer-store-auth-helper" => {
                    ignored(notes, origin.field(key), "not a rule")
                }
                _ => {
                    return Err(unsupported(
                        &origin,
                        key,
                        "not a key of registries.conf this import reads",
                    ));
                }
            }
        }
    }
    // A blocked prefix that a longer unblocked entry carves out: denied now.
    for e in entries.iter().filter(|e| !e.blocked) {
        if entries.iter().any(|b| {
            b.blocked && b.prefix.len() < e.prefix.len() && prefix_matches(&b.prefix, &e.prefix)
        }) {
            notes.push(Note {
                kind: NoteKind::Stricter,
                origin: Origin::new(
                    sources.first().map_or("", |s| s.name),
                    0,
                    "",
                    format!("prefix {:?}", e.prefix),
                ),
                message:
                    "not blocked inside a blocked prefix: the deny rule covers it too (denied now)"
                        .to_owned(),
                examples: Vec::new(),
            });
        }
    }
    // containers/image takes the longest prefix; the policy the first rule.
    rewrites.sort_by_key(|(p, _, _)| std::cmp::Reverse(p.len()));
    draft.rewrite = rewrites;
    if draft.cluster.deny.is_empty() && draft.rewrite.is_empty() {
        let file = sources.first().map_or("", |s| s.name);
        return Err(ImportError::new(
            ImportErrorKind::Empty,
            Origin::new(file, 0, "", ""),
            "nothing blocked and nothing rewritten: registries.conf alone admits every image",
        ));
    }
    Ok((
        draft,
        OldPolicy {
            engine: Engine::RegistriesConf(Entries(entries)),
        },
    ))
}
