//! containers/image's `policy.json` (`containers-policy.json(5)`): the
//! `docker` transport's scopes, as CRI-O, podman and skopeo read them.
//!
//! containers/image takes the *most specific* scope that matches the name
//! (the full reference with its tag or digest, then the repository and each
//! namespace above it, the host, `*.` wildcards from the longest, the
//! transport's `""`, the global `default`). A scope is accepted when every
//! requirement in it is `insecureAcceptAnything`; `reject` rejects;
//! signature requirements (`signedBy`, `sigstoreSigned`) cannot be checked by
//! a policy here and are read as `reject` (stricter), with a note.
//!
//! With a rejecting default, accepted scopes are allow rules and rejected
//! scopes inside them deny rules; with an accepting default, rejected scopes
//! are deny rules. Where the policy cannot say the scope exactly it is
//! narrower: a `*.` scope (any depth, any port there) is our `*.` (one
//! label, no port) when it accepts and a regex over every depth and port
//! when it rejects; an accepted image scope (`repo:tag`) is left out; a
//! rejected one denies the whole repository.

use crate::draft::{Draft, Rule};
use crate::old::{Engine, OldPolicy};
use crate::{ImportError, ImportErrorKind, Note, NoteKind, Origin, Source};
use image_policy_core::reference::ImageRef;
use serde_json::Value;

/// A scope of the `docker` transport.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Scope {
    /// `""`: the transport's default.
    Default,
    /// `host` or `host:port`.
    Host(String),
    /// `*.suffix` (the suffix without `*.`).
    Wildcard(String),
    /// `host/path`: the repository and every name under it.
    Repo(String),
    /// `host/path:tag` or `host/path@digest`: the repository's name, and the
    /// scope as written.
    Image(String, String),
}

impl Scope {
    pub(crate) fn parse(s: &str) -> Option<Scope> {
        if s.is_empty() {
            return Some(Scope::Default);
        }
        if let Some(suffix) = s.strip_prefix("*.") {
            let probe = format!("{suffix}/x");
            let r = ImageRef::parse_verbatim(&probe).ok()?;
            return (r.domain() == suffix && !suffix.contains(':'))
                .then(|| Scope::Wildcard(suffix.to_owned()));
        }
        if !s.contains('/') {
            let probe = format!("{s}/x");
            let r = ImageRef::parse_verbatim(&probe).ok()?;
            return (r.domain() == s).then(|| Scope::Host(s.to_owned()));
        }
        let r = ImageRef::parse_verbatim(s).ok()?;
        if !r.is_domain_written() {
            return None;
        }
        let name = format!("{}/{}", r.domain(), r.path());
        if r.tag().is_some() || r.digest().is_some() {
            Some(Scope::Image(name, s.to_owned()))
        } else if name == s {
            Some(Scope::Repo(name))
        } else {
            None
        }
    }

    /// The names this scope matches contain those of `inner` (strictly or not).
    fn contains(&self, inner: &Scope) -> bool {
        let under =
            |outer: &str, name: &str| name == outer || name.starts_with(&format!("{outer}/"));
        let host_of = |name: &str| name.split('/').next().unwrap_or("").to_owned();
        match (self, inner) {
            (Scope::Default, _) => true,
            (_, Scope::Default) => false,
            (Scope::Wildcard(s), Scope::Wildcard(t)) => t == s || t.ends_with(&format!(".{s}")),
            (Scope::Wildcard(s), Scope::Host(h)) => h
                .split(':')
                .next()
                .is_some_and(|h| h.ends_with(&format!(".{s}"))),
            (Scope::Wildcard(s), Scope::Repo(n) | Scope::Image(n, _)) => host_of(n)
                .split(':')
                .next()
                .is_some_and(|h| h.ends_with(&format!(".{s}"))),
            (Scope::Host(h), Scope::Host(g)) => h == g,
            (Scope::Host(h), Scope::Repo(n) | Scope::Image(n, _)) => host_of(n) == *h,
            (Scope::Repo(r), Scope::Repo(n) | Scope::Image(n, _)) => under(r, n),
            (Scope::Image(_, a), Scope::Image(_, b)) => a == b,
            _ => false,
        }
    }

    /// Whether this scope matches the normalized name (no tag) and the
    /// full reference `full` (with its tag or digest).
    fn matches(&self, name: &str, full: &str) -> bool {
        match self {
            Scope::Default => true,
            Scope::Image(_, s) => s == full,
            Scope::Repo(r) => name == r || name.starts_with(&format!("{r}/")),
            Scope::Host(h) => name.split('/').next() == Some(h.as_str()),
            Scope::Wildcard(s) => name
                .split('/')
                .next()
                .and_then(|d| d.split(':').next())
                .is_some_and(|h| h.ends_with(&format!(".{s}"))),
        }
    }

    /// How specific: containers/image's order (image, then the longest
    /// repository, host, then the longest wildcard, then the default).
    fn rank(&self) -> (u8, usize) {
        match self {
            Scope::Image(..) => (4, 0),
            Scope::Repo(n) => (3, n.len()),
            Scope::Host(_) => (2, 0),
            Scope::Wildcard(s) => (1, s.len()),
            Scope::Default => (0, 0),
        }
    }
}

/// The scopes and whether each accepts, as the old engine decides.
#[derive(Clone, Debug)]
pub(crate) struct Scopes {
    pub default_accepts: bool,
    pub scopes: Vec<(Scope, bool)>,
}

impl Scopes {
    /// Whether containers/image accepts `image`.
    pub fn accepts(&self, image: &str) -> Option<bool> {
        let r = ImageRef::parse(image).ok()?;
        let name = r.name().to_string();
        let full = r.docker_ref().to_string();
        Some(
            self.scopes
                .iter()
                .filter(|(s, _)| s.matches(&name, &full))
                .max_by_key(|(s, _)| s.rank())
                .map_or(self.default_accepts, |(_, a)| *a),
        )
    }
}

fn unsupported(origin: &Origin, field: &str, why: impl Into<String>) -> ImportError {
    ImportError::new(ImportErrorKind::Unsupported, origin.field(field), why)
}

/// Whether a requirement list accepts; signature requirements are rejections here.
fn accepts(
    list: &Value,
    origin: &Origin,
    field: &str,
    notes: &mut Vec<Note>,
) -> Result<bool, ImportError> {
    let list = list
        .as_array()
        .filter(|l| !l.is_empty())
        .ok_or_else(|| unsupported(origin, field, "not a non-empty list of requirements"))?;
    let mut all = true;
    for (i, req) in list.iter().enumerate() {
        let f = format!("{field}[{i}].type");
        match req.get("type").and_then(Value::as_str) {
            Some("insecureAcceptAnything") => {}
            Some("reject") => all = false,
            Some(t @ ("signedBy" | "sigstoreSigned")) => {
                all = false;
                notes.push(Note {
                    kind: NoteKind::Stricter,
                    origin: origin.field(&f),
                    message: format!("{t}: signatures are not checked by this policy; the scope is read as reject"),
                    examples: Vec::new(),
                });
            }
            _ => {
                return Err(unsupported(
                    origin,
                    &f,
                    "not insecureAcceptAnything, reject, signedBy or sigstoreSigned",
                ));
            }
        }
    }
    Ok(all)
}

pub(crate) fn read(
    sources: &[Source<'_>],
    notes: &mut Vec<Note>,
) -> Result<(Draft, OldPolicy), ImportError> {
    let [source] = sources else {
        let file = sources.get(1).map_or("", |s| s.name);
        return Err(ImportError::new(
            ImportErrorKind::Unsupported,
            Origin::new(file, 0, "", ""),
            "containers/image reads one policy.json: give one file",
        ));
    };
    let origin = Origin::new(source.name, 0, "", "");
    let doc: Value = serde_json::from_str(source.text).map_err(|e| {
        ImportError::new(
            ImportErrorKind::Syntax,
            origin.clone(),
            format!("not JSON: {e}"),
        )
    })?;
    let obj = doc
        .as_object()
        .ok_or_else(|| unsupported(&origin, "", "not a JSON object"))?;
    let mut default_accepts = None;
    let mut scopes: Vec<(Scope, bool, Origin)> = Vec::new();
    for (key, value) in obj {
        match key.as_str() {
            "default" => default_accepts = Some(accepts(value, &origin, "default", notes)?),
            "transports" => {
                let t = value
                    .as_object()
                    .ok_or_else(|| unsupported(&origin, "transports", "not a map"))?;
                for (transport, scopes_map) in t {
                    let field = format!("transports.{transport}");
                    if transport != "docker" {
                        notes.push(Note {
                            kind: NoteKind::Ignored,
                            origin: origin.field(&field),
                            message:
                                "not the docker transport, which is what Kubernetes nodes pull with"
                                    .to_owned(),
                            examples: Vec::new(),
                        });
                        continue;
                    }
                    let m = scopes_map
                        .as_object()
                        .ok_or_else(|| unsupported(&origin, &field, "not a map"))?;
                    for (scope, reqs) in m {
                        let f = format!("{field}.{scope:?}");
                        let o = origin.field(&f);
                        let parsed = Scope::parse(scope).ok_or_else(|| {
                            ImportError::new(ImportErrorKind::InvalidValue, o.clone(), "not a docker scope (host[:port], host/path, a reference, *.domain or \"\")")
                        })?;
                        let a = accepts(reqs, &origin, &f, notes)?;
                        scopes.push((parsed, a, o));
                    }
                }
            }
            _ => {
                return Err(unsupported(
                    &origin,
                    key,
                    "not read (only default and transports are)",
                ));
            }
        }
    }
    let global = default_accepts.ok_or_else(|| {
        unsupported(
            &origin,
            "default",
            "missing: containers/image refuses a policy without it",
        )
    })?;
    // The transport's "" replaces the global default.
    let default_accepts = scopes
        .iter()
        .find(|(s, _, _)| *s == Scope::Default)
        .map_or(global, |(_, a, _)| *a);
    scopes.retain(|(s, _, _)| *s != Scope::Default);
    let mut draft = Draft::default();
    if default_accepts {
        for (s, a, o) in &scopes {
            if *a {
                if let Some((r, _, _)) = scopes
                    .iter()
                    .find(|(r, ra, _)| !ra && r != s && r.contains(s))
                {
                    notes.push(Note {
                        kind: NoteKind::Stricter,
                        origin: o.clone(),
                        message: format!("accepted inside a rejected scope ({r:?}): the deny rule wins here, so it is denied now"),
                        examples: Vec::new(),
                    });
                }
                continue;
            }
            deny(s, o, &mut draft, notes);
        }
    } else {
        for (s, a, o) in &scopes {
            if *a {
                match s {
                    Scope::Host(h) => draft.cluster.allow.push(Rule::new("registry", h.clone(), o)),
                    Scope::Repo(n) => {
                        draft.cluster.allow.push(Rule::new("repository", n.clone(), o));
                        draft.cluster.allow.push(Rule::new("repository", format!("{n}/**"), o));
                    }
                    Scope::Wildcard(w) => {
                        draft.cluster.allow.push(Rule::new("registry", format!("*.{w}"), o));
                        notes.push(Note {
                            kind: NoteKind::Narrowed,
                            origin: o.clone(),
                            message: format!("containers/image's *.{w} matches any depth of subdomain and any port; the policy's matches one label and no port"),
                            examples: vec![format!("a.b.{w}/x"), format!("a.{w}:5000/x")],
                        });
                    }
                    Scope::Image(_, written) => notes.push(Note {
                        kind: NoteKind::Stricter,
                        origin: o.clone(),
                        message: format!("an allow rule cannot name one tag or digest: {written} is left out (denied now)"),
                        examples: vec![written.clone()],
                    }),
                    Scope::Default => {}
                }
            } else if scopes
                .iter()
                .any(|(outer, oa, _)| *oa && outer != s && outer.contains(s))
            {
                // Rejected inside an accepted scope: a deny rule. (A rejected
                // scope outside every accepted one is the default's.)
                if let Some((inner, _, _)) = scopes
                    .iter()
                    .find(|(i, ia, _)| *ia && i != s && s.contains(i))
                {
                    notes.push(Note {
                        kind: NoteKind::Stricter,
                        origin: o.clone(),
                        message: format!("the accepted scope {inner:?} inside this rejected one is denied now: the deny rule wins"),
                        examples: Vec::new(),
                    });
                }
                deny(s, o, &mut draft, notes);
            }
        }
        if draft.cluster.allow.is_empty() {
            draft
                .cluster
                .deny
                .push(Rule::new("regex", ".*", &origin.field("default")));
        }
    }
    notes.push(Note {
        kind: NoteKind::Spelling,
        origin: origin.clone(),
        message: "containers/image compares scopes case-sensitively and knows docker.io only by that name; the policy compares registries in any case and folds index.docker.io and registry-1.docker.io into docker.io".to_owned(),
        examples: Vec::new(),
    });
    let old = OldPolicy {
        engine: Engine::PolicyJson(Scopes {
            default_accepts,
            scopes: scopes.into_iter().map(|(s, a, _)| (s, a)).collect(),
        }),
    };
    Ok((draft, old))
}

/// A rejected scope as deny rules at least as wide.
pub(crate) fn deny(s: &Scope, o: &Origin, draft: &mut Draft, notes: &mut Vec<Note>) {
    match s {
        Scope::Host(h) => draft.cluster.deny.push(Rule::new("registry", h.clone(), o)),
        Scope::Repo(n) => {
            draft
                .cluster
                .deny
                .push(Rule::new("repository", n.clone(), o));
            draft
                .cluster
                .deny
                .push(Rule::new("repository", format!("{n}/**"), o));
        }
        Scope::Wildcard(w) => draft.cluster.deny.push(Rule::new(
            "regex",
            format!("(?i)[^/]*\\.{}(?::[0-9]+)?/.*", regex_syntax::escape(w)),
            o,
        )),
        Scope::Image(n, written) => {
            draft
                .cluster
                .deny
                .push(Rule::new("repository", n.clone(), o));
            notes.push(Note {
                kind: NoteKind::Stricter,
                origin: o.clone(),
                message: format!("a deny rule cannot name one tag or digest: the rejection of {written} denies the whole repository {n}"),
                examples: Vec::new(),
            });
        }
        Scope::Default => {}
    }
}
