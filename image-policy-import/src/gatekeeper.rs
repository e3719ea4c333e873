//! Gatekeeper library constraints (`constraints.gatekeeper.sh`):
//! `K8sAllowedRepos`, `K8sDisallowedRepos`, `K8sDisallowedTags`,
//! `K8sImageDigests`, as the library's templates read their parameters
//! (<https://open-policy-agent.github.io/gatekeeper-library/website/>).
//!
//! Scopes: constraints without `match.namespaces` are the cluster's rules;
//! each namespace that a constraint names gets `combine: replace` rules
//! built from every constraint that applies there (the cluster's and its
//! own), so that what applies there is said exactly. A namespace glob
//! (`kube-*`) cannot be said: that constraint applies everywhere
//! (stricter). Namespaces that *every* constraint excludes are
//! `exemptNamespaces`; other exclusions are dropped (stricter).

use crate::draft::{Draft, Exemption, NamespaceRules, Rule, Rules};
use crate::old::{Constraint, Engine, GatekeeperKind, OldPolicy};
use crate::prefix;
use crate::{ImportError, ImportErrorKind, Note, NoteKind, Origin, Source};
use image_policy_core::k8s::is_namespace_name;
use image_policy_core::reference::ImageRef;
use serde_json::Value;

/// A constraint (or a Kyverno rule read as one) with where it was read
/// and its action.
pub(crate) struct Read {
    pub constraint: Constraint,
    pub origin: Origin,
    /// `enforce`, `warn` or `audit`.
    pub mode: &'static str,
    /// `match.namespaces` has a glob: applied everywhere.
    pub cluster_wide: bool,
    /// Where each of `constraint.repos` is written.
    pub repo_fields: Vec<String>,
    /// Where each of `constraint.tags` is written.
    pub tag_fields: Vec<String>,
    /// A tag rule that also requires a tag or digest (`K8sDisallowedTags`'s
    /// "no `:`" rule, Kyverno's `*:*`): where it is written.
    pub untagged: Option<String>,
}

pub(crate) fn read(
    sources: &[Source<'_>],
    notes: &mut Vec<Note>,
) -> Result<(Draft, OldPolicy), ImportError> {
    let mut read = Vec::new();
    for source in sources {
        let docs: Vec<Value> = serde_saphyr::from_multiple(source.text).map_err(|e| {
            ImportError::new(
                ImportErrorKind::Syntax,
                Origin::new(source.name, 0, "", ""),
                format!("not YAML or JSON: {e}"),
            )
        })?;
        for (i, doc) in docs.iter().enumerate() {
            let origin = Origin::new(source.name, i + 1, "", "");
            read_document(doc, &origin, &mut read, notes)?;
        }
    }
    if read.is_empty() {
        let file = sources.first().map_or("", |s| s.name);
        return Err(ImportError::new(
            ImportErrorKind::Empty,
            Origin::new(file, 0, "", ""),
            "no Gatekeeper constraint of the library's image kinds (K8sAllowedRepos, K8sDisallowedRepos, K8sDisallowedTags, K8sImageDigests)",
        ));
    }
    if let Some(first) = read.first() {
        notes.push(Note {
            kind: NoteKind::Unchecked,
            origin: Origin::new(&first.origin.file, 0, "", ""),
            message: "image volumes (spec.volumes[].image.reference) are judged now; the library's templates read only the three container lists".to_owned(),
            examples: Vec::new(),
        });
    }
    let draft = scopes(&read, notes)?;
    let old = OldPolicy {
        engine: Engine::Gatekeeper(read.into_iter().map(|r| r.constraint).collect()),
    };
    notes.dedup();
    let mut seen = Vec::new();
    notes.retain(|n| {
        let new = !seen.contains(n);
        if new {
            seen.push(n.clone());
        }
        new
    });
    Ok((draft, old))
}

fn unsupported(origin: &Origin, field: &str, why: impl Into<String>) -> ImportError {
    ImportError::new(ImportErrorKind::Unsupported, origin.field(field), why)
}

fn strings(value: &Value, origin: &Origin, field: &str) -> Result<Vec<String>, ImportError> {
    let list = value
        .as_array()
        .ok_or_else(|| unsupported(origin, field, "not a list of strings"))?;
    list.iter()
        .enumerate()
        .map(|(i, v)| {
            v.as_str()
                .map(str::to_owned)
                .ok_or_else(|| unsupported(origin, &format!("{field}[{i}]"), "not a string"))
        })
        .collect()
}

fn read_document(
    doc: &Value,
    origin: &Origin,
    out: &mut Vec<Read>,
    notes: &mut Vec<Note>,
) -> Result<(), ImportError> {
    if doc.is_null() {
        return Ok(());
    }
    let obj = doc
        .as_object()
        .ok_or_else(|| unsupported(origin, "", "not a Kubernetes object"))?;
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    let api = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    if kind == "List" {
        let items = obj
            .get("items")
            .and_then(Value::as_array)
            .ok_or_else(|| unsupported(origin, "items", "a List without items"))?;
        for (i, item) in items.iter().enumerate() {
            let o = origin.field(format!("items[{i}]"));
            read_document(item, &o, out, notes)?;
        }
        return Ok(());
    }
    if kind == "ConstraintTemplate" {
        notes.push(Note {
            kind: NoteKind::Ignored,
            origin: origin.field("kind"),
            message: "a ConstraintTemplate: its constraints are read as the library's template of that kind decides".to_owned(),
            examples: Vec::new(),
        });
        return Ok(());
    }
    let Some(gk) = GatekeeperKind::from_kind(kind) else {
        return Err(unsupported(
            origin,
            "kind",
            format!(
                "{kind:?} is not one of the library's image constraints (K8sAllowedRepos, K8sDisallowedRepos, K8sDisallowedTags, K8sImageDigests)"
            ),
        ));
    };
    if !api.starts_with("constraints.gatekeeper.sh/") {
        return Err(unsupported(
            origin,
            "apiVersion",
            format!("{api:?} is not constraints.gatekeeper.sh"),
        ));
    }
    let name = obj
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let origin = Origin {
        object: format!("{kind} {name:?}"),
        ..origin.clone()
    };
    let empty = serde_json::Map::new();
    let spec = match obj.get("spec") {
        Some(Value::Object(m)) => m,
        None => &empty,
        Some(_) => return Err(unsupported(&origin, "spec", "not a map")),
    };
    let mut mode = "enforce";
    let mut namespaces = None;
    let mut excluded = Vec::new();
    let mut cluster_wide = false;
    let mut repos = Vec::new();
    let mut tags = Vec::new();
    let mut exempt_images = Vec::new();
    for (key, value) in spec {
        match key.as_str() {
            "enforcementAction" => {
                mode = match value.as_str() {
                    Some("deny") => "enforce",
                    Some("warn") => "warn",
                    Some("dryrun") => "audit",
                    _ => {
                        return Err(unsupported(
                            &origin,
                            "spec.enforcementAction",
                            format!("{value} is not deny, warn or dryrun"),
                        ));
                    }
                }
            }
            "match" => {
                let m = value
                    .as_object()
                    .ok_or_else(|| unsupported(&origin, "spec.match", "not a map"))?;
                for (mk, mv) in m {
                    let field = format!("spec.match.{mk}");
                    match mk.as_str() {
                        "namespaces" => {
                            let list = strings(mv, &origin, &field)?;
                            if list.iter().any(|n| n.contains('*')) {
                                cluster_wide = true;
                                notes.push(Note {
                                    kind: NoteKind::Stricter,
                                    origin: origin.field(&field),
                                    message: "a namespace glob cannot be said in a policy: the constraint applies in every namespace".to_owned(),
                                    examples: Vec::new(),
                                });
                            }
                            namespaces = Some(list);
                        }
                        "excludedNamespaces" => excluded = strings(mv, &origin, &field)?,
                        "kinds" | "labelSelector" | "namespaceSelector" | "scope" | "name" => {
                            notes.push(Note {
                                kind: NoteKind::Stricter,
                                origin: origin.field(&field),
                                message: format!(
                                    "`{mk}` is not read: the imported rules apply to every pod-bearing object (Pods, workloads, Jobs, CronJobs) in their namespaces"
                                ),
                                examples: Vec::new(),
                            });
                        }
                        _ => {
                            return Err(unsupported(
                                &origin,
                                &field,
                                "not a field of a constraint's match",
                            ));
                        }
                    }
                }
            }
            "parameters" => {
                let p = value
                    .as_object()
                    .ok_or_else(|| unsupported(&origin, "spec.parameters", "not a map"))?;
                for (pk, pv) in p {
                    let field = format!("spec.parameters.{pk}");
                    match (gk, pk.as_str()) {
                        (
                            GatekeeperKind::AllowedRepos | GatekeeperKind::DisallowedRepos,
                            "repos",
                        ) => {
                            repos = strings(pv, &origin, &field)?;
                        }
                        (GatekeeperKind::DisallowedTags, "tags") => {
                            tags = strings(pv, &origin, &field)?
                        }
                        (
                            GatekeeperKind::DisallowedTags | GatekeeperKind::ImageDigests,
                            "exemptImages",
                        ) => {
                            exempt_images = strings(pv, &origin, &field)?;
                        }
                        _ => {
                            return Err(unsupported(
                                &origin,
                                &field,
                                format!("not a parameter of the library's {kind}"),
                            ));
                        }
                    }
                }
            }
            _ => {
                return Err(unsupported(
                    &origin,
                    &format!("spec.{key}"),
                    "not read (only match, parameters and enforcementAction are)",
                ));
            }
        }
    }
    if gk == GatekeeperKind::AllowedRepos && repos.is_empty() {
        notes.push(Note {
            kind: NoteKind::Stricter,
            origin: origin.field("spec.parameters.repos"),
            message: "no repos: the constraint denies every image, and so does the imported policy where it applies".to_owned(),
            examples: Vec::new(),
        });
    }
    let repo_fields = repos
        .iter()
        .enumerate()
        .map(|(i, p)| format!("spec.parameters.repos[{i}] {p:?}"))
        .collect();
    let tag_fields = (0..tags.len())
        .map(|i| format!("spec.parameters.tags[{i}]"))
        .collect();
    out.push(Read {
        repo_fields,
        tag_fields,
        untagged: (gk == GatekeeperKind::DisallowedTags)
            .then(|| "the template's rule on images without `:`".to_owned()),
        constraint: Constraint {
            kind: gk,
            name,
            namespaces,
            excluded,
            repos,
            tags,
            exempt_images,
        },
        origin,
        mode,
        cluster_wide,
    });
    Ok(())
}

fn is_cluster(r: &Read) -> bool {
    r.cluster_wide || r.constraint.namespaces.is_none()
}

pub(crate) fn scopes(read: &[Read], notes: &mut Vec<Note>) -> Result<Draft, ImportError> {
    let mut draft = Draft::default();
    // Exclusions that every constraint shares are exempt namespaces.
    let first = &read[0];
    for ns in &first.constraint.excluded {
        if is_namespace_name(ns) && read.iter().all(|r| r.constraint.excluded.contains(ns)) {
            let origin = first.origin.field("spec.match.excludedNamespaces");
            draft.exempt_namespaces.push((ns.clone(), origin));
        }
    }
    for r in read {
        for (i, ns) in r.constraint.excluded.iter().enumerate() {
            if !draft.exempt_namespaces.iter().any(|(n, _)| n == ns) {
                let origin = r
                    .origin
                    .field(format!("spec.match.excludedNamespaces[{i}]"));
                let glob = ns.contains(['*', '?']);
                notes.push(if glob || is_namespace_name(ns) {
                    Note {
                        kind: NoteKind::Stricter,
                        origin,
                        message: if glob {
                            format!("the glob {ns:?} cannot be said as exempt namespaces: this constraint's rules apply in the namespaces it matched")
                        } else {
                            format!("{ns:?} is not excluded by every constraint: this constraint's rules apply there too")
                        },
                        examples: Vec::new(),
                    }
                } else {
                    Note {
                        kind: NoteKind::Ignored,
                        origin,
                        message: format!("{ns:?} is not a namespace name (a DNS-1123 label): it excluded no namespace"),
                        examples: Vec::new(),
                    }
                });
            }
        }
    }
    let cluster: Vec<usize> = (0..read.len()).filter(|&i| is_cluster(&read[i])).collect();
    draft.cluster = rules(read, &cluster, notes)?;
    // Each named namespace: the cluster's constraints and its own.
    let mut groups: Vec<(Vec<usize>, Vec<String>)> = Vec::new();
    for r in read.iter().filter(|r| !is_cluster(r)) {
        for ns in r.constraint.namespaces.iter().flatten() {
            if draft.exempt_namespaces.iter().any(|(n, _)| n == ns) {
                continue;
            }
            if !is_namespace_name(ns) {
                notes.push(Note {
                    kind: NoteKind::Ignored,
                    origin: r.origin.clone(),
                    message: format!(
                        "{ns:?} is not a namespace name (a DNS-1123 label): no namespace has it, so the rules scoped to it apply nowhere, before and now"
                    ),
                    examples: Vec::new(),
                });
                continue;
            }
            let applying: Vec<usize> = (0..read.len())
                .filter(|&i| {
                    is_cluster(&read[i])
                        || read[i]
                            .constraint
                            .namespaces
                            .as_ref()
                            .is_some_and(|l| l.contains(ns))
                })
                .collect();
            match groups.iter_mut().find(|(a, _)| *a == applying) {
                Some((_, names)) => {
                    if !names.contains(ns) {
                        names.push(ns.clone());
                    }
                }
                None => groups.push((applying, vec![ns.clone()])),
            }
        }
    }
    for (applying, names) in groups {
        let mut rules = rules(read, &applying, notes)?;
        if rules.mode.is_none() {
            rules.mode = Some(("enforce", Origin::new("", 0, "", "")));
        }
        draft.namespaces.push(NamespaceRules { names, rules });
    }
    Ok(draft)
}

fn strictness(mode: &str) -> u8 {
    match mode {
        "enforce" => 2,
        "warn" => 1,
        _ => 0,
    }
}

/// The rules of the constraints `applying` (indices into `read`).
fn rules(read: &[Read], applying: &[usize], notes: &mut Vec<Note>) -> Result<Rules, ImportError> {
    let mut out = Rules::default();
    if applying.is_empty() {
        return Ok(out);
    }
    // The strictest mode.
    let modes: Vec<&Read> = applying.iter().map(|&i| &read[i]).collect();
    let strictest = modes
        .iter()
        .max_by_key(|r| strictness(r.mode))
        .expect("not empty");
    out.mode = Some((
        strictest.mode,
        strictest.origin.field("spec.enforcementAction"),
    ));
    for r in &modes {
        if r.mode != strictest.mode {
            notes.push(Note {
                kind: NoteKind::Stricter,
                origin: r.origin.field("spec.enforcementAction"),
                message: format!(
                    "one mode per scope: this constraint's rules are applied as {} (the strictest of the constraints beside it), not {}",
                    strictest.mode, r.mode
                ),
                examples: Vec::new(),
            });
        }
    }
    // Allow: every K8sAllowedRepos must admit the image.
    let allowed: Vec<&Read> = modes
        .iter()
        .copied()
        .filter(|r| r.constraint.kind == GatekeeperKind::AllowedRepos)
        .collect();
    if let Some((first, rest)) = allowed.split_first() {
        let mut prefixes = first.constraint.repos.clone();
        for r in rest {
            prefixes = prefix::intersect(&prefixes, &r.constraint.repos);
        }
        if prefixes.is_empty() {
            out.deny.push(Rule::new(
                "regex",
                ".*",
                &first.origin.field("spec.parameters.repos"),
            ));
        }
        for p in &prefixes {
            // Where the prefix is written (the first constraint naming it).
            let origin = allowed
                .iter()
                .find_map(|r| {
                    r.constraint
                        .repos
                        .iter()
                        .position(|x| x == p)
                        .map(|i| r.origin.field(r.repo_fields[i].clone()))
                })
                .unwrap_or_else(|| first.origin.clone());
            for rule in prefix::allow_rules(p, &origin, notes)? {
                if !out
                    .allow
                    .iter()
                    .any(|x| x.kind == rule.kind && x.pattern == rule.pattern)
                {
                    out.allow.push(rule);
                }
            }
        }
    }
    for r in &modes {
        let c = &r.constraint;
        match c.kind {
            GatekeeperKind::DisallowedRepos => {
                for (i, p) in c.repos.iter().enumerate() {
                    let origin = r.origin.field(r.repo_fields[i].clone());
                    out.deny.push(prefix::deny_rule(p, &origin)?);
                }
            }
            GatekeeperKind::DisallowedTags => {
                for (i, t) in c.tags.iter().enumerate() {
                    let origin = r.origin.field(r.tag_fields[i].clone());
                    if !image_policy_core::reference::grammar::is_tag(t) {
                        return Err(ImportError::new(
                            ImportErrorKind::InvalidValue,
                            origin,
                            format!(
                                "{t:?} is not a tag ([A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}}): no image the runtime accepts has it, and a policy cannot deny it"
                            ),
                        ));
                    }
                    if !out.deny_tags.iter().any(|(x, _)| x == t) {
                        out.deny_tags.push((t.clone(), origin));
                    }
                }
                if let Some(field) = r
                    .untagged
                    .as_ref()
                    .filter(|_| out.require_tag_or_digest.is_none())
                {
                    out.require_tag_or_digest = Some(r.origin.field(field.clone()));
                    notes.push(Note {
                        kind: NoteKind::Spelling,
                        origin: r.origin.field(field.clone()),
                        message: "the old rule called an image untagged when it had no `:` at all: an image with a port and no tag passed, and is untagged now".to_owned(),
                        examples: vec!["localhost:5000/app".to_owned()],
                    });
                }
            }
            GatekeeperKind::ImageDigests => {
                if out.require_digest.is_none() {
                    out.require_digest = Some(r.origin.clone());
                }
            }
            GatekeeperKind::AllowedRepos => {}
        }
    }
    for (kind, from) in [
        (GatekeeperKind::DisallowedTags, "tags"),
        (GatekeeperKind::ImageDigests, "digest"),
    ] {
        let of_kind: Vec<&Read> = modes
            .iter()
            .copied()
            .filter(|r| r.constraint.kind == kind)
            .collect();
        if of_kind.len() > 1 {
            for r in of_kind
                .iter()
                .filter(|r| !r.constraint.exempt_images.is_empty())
            {
                notes.push(Note {
                    kind: NoteKind::Stricter,
                    origin: r.origin.field("spec.parameters.exemptImages"),
                    message: format!(
                        "left out: another {} constraint applies in the same scope, and an exemption from `{from}` would lift it too",
                        kind.as_str()
                    ),
                    examples: Vec::new(),
                });
            }
            continue;
        }
        if let Some(r) = of_kind.first() {
            for (i, e) in r.constraint.exempt_images.iter().enumerate() {
                let origin = r
                    .origin
                    .field(format!("spec.parameters.exemptImages[{i}] {e:?}"));
                if let Some(x) = exemption(e, from, r, &origin, notes) {
                    out.exempt.push(x);
                }
            }
        }
    }
    Ok(out)
}

/// An `exemptImages` entry as an `exempt:` rule no wider than it.
fn exemption(
    e: &str,
    from: &'static str,
    r: &Read,
    origin: &Origin,
    notes: &mut Vec<Note>,
) -> Option<Exemption> {
    let reason = format!(
        "from {} constraint {:?} exemptImages",
        r.constraint.kind.as_str(),
        r.constraint.name
    );
    let mut left_out = |why: &str| {
        notes.push(Note {
            kind: NoteKind::Stricter,
            origin: origin.clone(),
            message: format!("exemption left out: {why}"),
            examples: Vec::new(),
        });
        None
    };
    match e.strip_suffix('*') {
        None => match ImageRef::parse(e) {
            Ok(image) => Some(Exemption {
                key: "image",
                pattern: image.to_string(),
                from: vec![from],
                reason,
                origin: origin.clone(),
            }),
            Err(err) => left_out(&format!(
                "not an image reference ({err}), so it exempted no image"
            )),
        },
        Some(q) => {
            let Some((head, last)) = q.rsplit_once('/') else {
                return left_out(
                    "a prefix without `/` cannot be said as a repository glob no wider than it",
                );
            };
            if last.contains([':', '@']) || q.contains('*') {
                return left_out(
                    "a prefix reaching into a tag or digest cannot be said as a repository glob",
                );
            }
            // The name of `head/x` without its last component: `head` as a
            // namespace (`openpolicyagent/`), not as an image of its own.
            let Some(name) = ImageRef::parse(&format!("{head}/x"))
                .ok()
                .filter(|r| r.tag().is_none() && r.digest().is_none())
                .and_then(|r| r.name().to_string().strip_suffix("/x").map(str::to_owned))
            else {
                return left_out("its repository part is not an image name");
            };
            let pattern = if last.is_empty() {
                format!("{name}/**")
            } else {
                format!("{name}/{last}*")
            };
            Some(Exemption {
                key: "repository",
                pattern,
                from: vec![from],
                reason,
                origin: origin.clone(),
            })
        }
    }
}
