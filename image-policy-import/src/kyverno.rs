//! Kyverno `ClusterPolicy` / `Policy` in the shapes of the Kyverno
//! policies library (`restrict-image-registries`, `disallow-latest-tag`,
//! and `foreach` + `deny` on `element.image`):
//!
//! - `validate.pattern.spec.containers[].image` (and
//!   `=(initContainers)`, `=(ephemeralContainers)`): a wildcard pattern
//!   (`*` any run of characters, `?` one, `a | b` either, `!p` not) that the
//!   image *as written* must match;
//! - `validate.foreach[]` over `request.object.spec.containers` (or the
//!   other lists) with `deny.conditions` (`any` / `all`) on
//!   `{{ element.image }}`: `Equals`, `NotEquals`, `In`, `NotIn`, `AnyIn`,
//!   `AnyNotIn`, `AllIn`, `AllNotIn` against wildcard values;
//! - `validationFailureAction` (or the rule's `validate.failureAction`):
//!   `Enforce` is `enforce`, `Audit` (Kyverno's default) is `audit`;
//! - `match` / `exclude` on `resources.namespaces`.
//!
//! Each pattern is read as Gatekeeper's prefixes are (a wildcard pattern
//! `p*` is `startswith(p)`): `registry.my.com/*` is the registry,
//! `registry.my.com*` the registry read narrowly with a note, `*:*` a tag or
//! digest required (a port passed it), `!*:latest` the denied tag. A
//! pattern of another shape (a `*` inside, a `?`) is left out of an allow
//! list (stricter) and is an error on a deny list: never a rule dropped
//! silently.

use crate::gatekeeper::{Read, scopes};
use crate::old::{Constraint, Engine, GatekeeperKind, OldPolicy, namespace_matches};
use crate::{ImportError, ImportErrorKind, Note, NoteKind, Origin, Source};
use image_policy_core::k8s::ContainerList;
use serde_json::Value;

/// Kyverno's wildcard match (`*` any run, `?` one character) on the whole
/// string: the two-pointer algorithm, linear memory, quadratic at worst.
pub(crate) fn wildcard(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < t.len() {
        if i < p.len() && (p[i] == '?' || p[i] == t[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some((i, j));
            i += 1;
        } else if let Some((si, sj)) = star {
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    p[i..].iter().all(|&c| c == '*')
}

/// One deny condition: true when the image matches one of `values`
/// (`negate`: when it matches none).
#[derive(Clone, Debug)]
pub(crate) struct Condition {
    negate: bool,
    values: Vec<String>,
}

impl Condition {
    fn holds(&self, image: &str) -> bool {
        self.values.iter().any(|v| wildcard(v, image)) != self.negate
    }
}

/// A Kyverno rule as Kyverno decides it.
#[derive(Clone, Debug)]
pub(crate) struct KyvernoRule {
    name: String,
    namespaces: Option<Vec<String>>,
    excluded: Vec<String>,
    lists: Vec<ContainerList>,
    /// Denied when every condition holds (`all`) or any does.
    all: bool,
    conditions: Vec<Condition>,
}

impl KyvernoRule {
    pub(crate) fn looks_at(&self, list: ContainerList) -> bool {
        self.lists.contains(&list)
    }

    pub(crate) fn violation(
        &self,
        image: &str,
        namespace: Option<&str>,
        list: ContainerList,
    ) -> Option<String> {
        let included = match (&self.namespaces, namespace) {
            (None, _) => true,
            (Some(l), Some(ns)) => l.iter().any(|p| namespace_matches(p, ns)),
            (Some(_), None) => false,
        };
        let excluded =
            namespace.is_some_and(|ns| self.excluded.iter().any(|p| namespace_matches(p, ns)));
        if !included || excluded || !self.lists.contains(&list) {
            return None;
        }
        let denied = if self.all {
            self.conditions.iter().all(|c| c.holds(image))
        } else {
            self.conditions.iter().any(|c| c.holds(image))
        };
        denied.then(|| format!("Kyverno rule {:?}", self.name))
    }
}

fn unsupported(origin: &Origin, field: &str, why: impl Into<String>) -> ImportError {
    ImportError::new(ImportErrorKind::Unsupported, origin.field(field), why)
}

fn strings(v: &Value, origin: &Origin, field: &str) -> Result<Vec<String>, ImportError> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, x)| {
                x.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| unsupported(origin, &format!("{field}[{i}]"), "not a string"))
            })
            .collect(),
        _ => Err(unsupported(
            origin,
            field,
            "not a string or a list of strings",
        )),
    }
}

/// Where a rule applies: `match` / `exclude` on namespaces.
struct Scope {
    namespaces: Option<Vec<String>>,
    excluded: Vec<String>,
    cluster_wide: bool,
}

fn resource_filters(v: &Value) -> Vec<&Value> {
    // `match: {resources: ...}` (the old form), or `any` / `all` of them.
    let mut out = Vec::new();
    if let Some(r) = v.get("resources") {
        out.push(r);
    }
    for key in ["any", "all"] {
        for entry in v.get(key).and_then(Value::as_array).into_iter().flatten() {
            if let Some(r) = entry.get("resources") {
                out.push(r);
            }
        }
    }
    out
}

fn scope(
    rule: &Value,
    origin: &Origin,
    field: &str,
    notes: &mut Vec<Note>,
) -> Result<Scope, ImportError> {
    let mut s = Scope {
        namespaces: None,
        excluded: Vec::new(),
        cluster_wide: false,
    };
    if let Some(m) = rule.get("match") {
        let filters = resource_filters(m);
        let mut all_named = !filters.is_empty();
        let mut names = Vec::new();
        for r in &filters {
            match r.get("namespaces") {
                Some(n) => names.extend(strings(
                    n,
                    origin,
                    &format!("{field}.match.resources.namespaces"),
                )?),
                None => all_named = false,
            }
            for key in [
                "selector",
                "namespaceSelector",
                "names",
                "annotations",
                "operations",
            ] {
                if r.get(key).is_some() {
                    notes.push(Note {
                        kind: NoteKind::Stricter,
                        origin: origin.field(format!("{field}.match.resources.{key}")),
                        message: format!("`{key}` is not read: the rule applies to every pod-bearing object in its namespaces"),
                        examples: Vec::new(),
                    });
                }
            }
        }
        if all_named {
            if names.iter().any(|n| n.contains(['*', '?'])) {
                s.cluster_wide = true;
                notes.push(Note {
                    kind: NoteKind::Stricter,
                    origin: origin.field(format!("{field}.match")),
                    message: "a namespace wildcard cannot be said in a policy: the rule applies in every namespace".to_owned(),
                    examples: Vec::new(),
                });
            }
            s.namespaces = Some(names);
        }
    }
    if let Some(x) = rule.get("exclude") {
        for r in resource_filters(x) {
            if let Some(n) = r.get("namespaces") {
                s.excluded.extend(strings(
                    n,
                    origin,
                    &format!("{field}.exclude.resources.namespaces"),
                )?);
            }
            if r.as_object()
                .is_some_and(|o| o.keys().any(|k| k != "namespaces"))
            {
                notes.push(Note {
                    kind: NoteKind::Stricter,
                    origin: origin.field(format!("{field}.exclude")),
                    message: "an exclusion by anything but namespaces is not read: the rule applies there too".to_owned(),
                    examples: Vec::new(),
                });
            }
        }
    }
    Ok(s)
}

/// A list of wildcard values as Gatekeeper-like constraints: what must
/// match (`allow`) or must not (`deny`).
fn reads_for(
    values: &[String],
    allow: bool,
    base: &Read,
    field: &str,
    notes: &mut Vec<Note>,
) -> Result<Vec<Read>, ImportError> {
    let origin = base.origin.field(field);
    let plain_prefix = |v: &str| -> Option<String> {
        let p = v.strip_suffix('*')?;
        (!p.contains(['*', '?'])).then(|| p.to_owned())
    };
    let tag_of = |v: &str| -> Option<String> {
        let t = v.strip_prefix("*:")?;
        (!t.is_empty() && !t.contains(['*', '?', ':', '/', '@'])).then(|| t.to_owned())
    };
    let make = |kind: GatekeeperKind, repos: Vec<String>, tags: Vec<String>, untagged: bool| Read {
        constraint: Constraint {
            kind,
            name: base.constraint.name.clone(),
            namespaces: base.constraint.namespaces.clone(),
            excluded: base.constraint.excluded.clone(),
            repos: repos.clone(),
            tags: tags.clone(),
            exempt_images: Vec::new(),
        },
        origin: base.origin.clone(),
        mode: base.mode,
        cluster_wide: base.cluster_wide,
        repo_fields: repos.iter().map(|p| format!("{field} {p:?}*")).collect(),
        tag_fields: tags.iter().map(|t| format!("{field} \"*:{t}\"")).collect(),
        untagged: untagged.then(|| format!("{field} \"*:*\"")),
    };
    if allow {
        if values.iter().any(|v| v == "*") {
            return Ok(Vec::new());
        }
        if values == ["*:*"] {
            return Ok(vec![make(
                GatekeeperKind::DisallowedTags,
                Vec::new(),
                Vec::new(),
                true,
            )]);
        }
        let mut repos = Vec::new();
        for v in values {
            match plain_prefix(v) {
                Some(p) => repos.push(p),
                None => notes.push(Note {
                    kind: NoteKind::Stricter,
                    origin: origin.clone(),
                    message: format!("the pattern {v:?} cannot be said as registry or repository rules: left out of the allow list (its images are denied now)"),
                    examples: Vec::new(),
                }),
            }
        }
        return Ok(vec![make(
            GatekeeperKind::AllowedRepos,
            repos,
            Vec::new(),
            false,
        )]);
    }
    let mut out = Vec::new();
    for v in values {
        if let Some(t) = tag_of(v) {
            if t == "latest" {
                notes.push(Note {
                    kind: NoteKind::Stricter,
                    origin: origin.clone(),
                    message: "the denied tag latest also denies an image without tag or digest (the runtime pulls it as latest)".to_owned(),
                    examples: vec!["nginx".to_owned()],
                });
            }
            out.push(make(
                GatekeeperKind::DisallowedTags,
                Vec::new(),
                vec![t],
                false,
            ));
        } else if let Some(p) =
            plain_prefix(v).or_else(|| (!v.contains(['*', '?'])).then(|| v.clone()))
        {
            out.push(make(
                GatekeeperKind::DisallowedRepos,
                vec![p],
                Vec::new(),
                false,
            ));
        } else {
            return Err(unsupported(
                &origin,
                "",
                format!(
                    "the denied pattern {v:?} cannot be said as a rule at least as wide (only `prefix*`, `*:tag` and exact names can)"
                ),
            ));
        }
    }
    Ok(out)
}

const LISTS: [(&str, &str, ContainerList); 3] = [
    ("containers", "containers", ContainerList::Containers),
    (
        "=(initContainers)",
        "initContainers",
        ContainerList::InitContainers,
    ),
    (
        "=(ephemeralContainers)",
        "ephemeralContainers",
        ContainerList::EphemeralContainers,
    ),
];

pub(crate) fn read(
    sources: &[Source<'_>],
    notes: &mut Vec<Note>,
) -> Result<(crate::draft::Draft, OldPolicy), ImportError> {
    let mut reads = Vec::new();
    let mut rules = Vec::new();
    for source in sources {
        let docs: Vec<Value> = serde_saphyr::from_multiple(source.text).map_err(|e| {
            ImportError::new(
                ImportErrorKind::Syntax,
                Origin::new(source.name, 0, "", ""),
                format!("not YAML or JSON: {e}"),
            )
        })?;
        for (d, doc) in docs.iter().enumerate() {
            if doc.is_null() {
                continue;
            }
            let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("");
            let name = doc
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            let origin = Origin::new(source.name, d + 1, format!("{kind} {name:?}"), "");
            if kind != "ClusterPolicy" && kind != "Policy" {
                return Err(unsupported(
                    &origin,
                    "kind",
                    "not a Kyverno ClusterPolicy or Policy",
                ));
            }
            if !doc
                .get("apiVersion")
                .and_then(Value::as_str)
                .is_some_and(|a| a.starts_with("kyverno.io/"))
            {
                return Err(unsupported(&origin, "apiVersion", "not kyverno.io"));
            }
            let policy_mode = doc
                .pointer("/spec/validationFailureAction")
                .and_then(Value::as_str);
            let own_namespace = (kind == "Policy").then(|| {
                doc.pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or("default")
                    .to_owned()
            });
            let list = doc
                .pointer("/spec/rules")
                .and_then(Value::as_array)
                .ok_or_else(|| unsupported(&origin, "spec.rules", "no rules"))?;
            for (i, rule) in list.iter().enumerate() {
                let field = format!("spec.rules[{i}]");
                let rule_name = rule
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned();
                for key in rule
                    .as_object()
                    .map(|o| o.keys().cloned().collect::<Vec<_>>())
                    .unwrap_or_default()
                {
                    match key.as_str() {
                        "name" | "match" | "exclude" | "validate" => {}
                        "preconditions" => notes.push(Note {
                            kind: NoteKind::Stricter,
                            origin: origin.field(format!("{field}.preconditions")),
                            message:
                                "preconditions are not read: the rule applies whatever they say"
                                    .to_owned(),
                            examples: Vec::new(),
                        }),
                        _ => {
                            return Err(unsupported(
                                &origin,
                                &format!("{field}.{key}"),
                                "not read (only validate rules are imported)",
                            ));
                        }
                    }
                }
                let validate = rule
                    .get("validate")
                    .ok_or_else(|| unsupported(&origin, &field, "not a validate rule"))?;
                let action = validate
                    .get("failureAction")
                    .and_then(Value::as_str)
                    .or(policy_mode)
                    .unwrap_or("Audit");
                let mode = match action {
                    "Enforce" | "enforce" => "enforce",
                    "Audit" | "audit" => "audit",
                    other => {
                        return Err(unsupported(
                            &origin,
                            &format!("{field}.validate.failureAction"),
                            format!("{other:?} is not Enforce or Audit"),
                        ));
                    }
                };
                let mut sc = scope(rule, &origin, &field, notes)?;
                if let Some(ns) = &own_namespace {
                    sc.namespaces = Some(vec![ns.clone()]);
                }
                let base = Read {
                    constraint: Constraint {
                        kind: GatekeeperKind::AllowedRepos,
                        name: rule_name.clone(),
                        namespaces: sc.namespaces.clone(),
                        excluded: sc.excluded.clone(),
                        repos: Vec::new(),
                        tags: Vec::new(),
                        exempt_images: Vec::new(),
                    },
                    origin: Origin {
                        object: format!("{kind} {name:?} rule {rule_name:?}"),
                        ..origin.clone()
                    },
                    mode,
                    cluster_wide: sc.cluster_wide,
                    repo_fields: Vec::new(),
                    tag_fields: Vec::new(),
                    untagged: None,
                };
                let mut checks: Vec<(bool, Vec<Condition>, Vec<ContainerList>)> = Vec::new();
                for key in validate
                    .as_object()
                    .map(|o| o.keys().cloned().collect::<Vec<_>>())
                    .unwrap_or_default()
                {
                    match key.as_str() {
                        "message" | "failureAction" | "allowExistingViolations" => {}
                        "pattern" => {
                            let spec = validate
                                .pointer("/pattern/spec")
                                .and_then(Value::as_object)
                                .filter(|_| {
                                    validate["pattern"]
                                        .as_object()
                                        .is_some_and(|o| o.len() == 1)
                                })
                                .ok_or_else(|| {
                                    unsupported(
                                        &origin,
                                        &format!("{field}.validate.pattern"),
                                        "not a pattern on spec's container lists",
                                    )
                                })?;
                            // One pattern per distinct string, with the lists it covers.
                            let mut by_pattern: Vec<(String, String, Vec<ContainerList>)> =
                                Vec::new();
                            for (k, v) in spec {
                                let Some(&(_, written, list)) =
                                    LISTS.iter().find(|(key, _, _)| key == k)
                                else {
                                    return Err(unsupported(
                                        &origin,
                                        &format!("{field}.validate.pattern.spec.{k}"),
                                        "not a container list (containers, =(initContainers), =(ephemeralContainers))",
                                    ));
                                };
                                let f = format!("{field}.validate.pattern.spec.{written}[0].image");
                                let image = v
                                    .as_array()
                                    .filter(|a| a.len() == 1)
                                    .and_then(|a| a[0].as_object())
                                    .filter(|o| o.len() == 1)
                                    .and_then(|o| o.get("image"))
                                    .and_then(Value::as_str)
                                    .ok_or_else(|| {
                                        unsupported(
                                            &origin,
                                            &f,
                                            "not a list of one {image: PATTERN}",
                                        )
                                    })?;
                                match by_pattern.iter_mut().find(|(p, _, _)| p == image) {
                                    Some((_, _, lists)) => lists.push(list),
                                    None => by_pattern.push((image.to_owned(), f, vec![list])),
                                }
                            }
                            for (pattern, f, lists) in by_pattern {
                                let alts: Vec<String> =
                                    pattern.split('|').map(|a| a.trim().to_owned()).collect();
                                let negated = alts.iter().filter(|a| a.starts_with('!')).count();
                                if negated == 0 {
                                    reads.extend(reads_for(&alts, true, &base, &f, notes)?);
                                    checks.push((
                                        true,
                                        vec![Condition {
                                            negate: true,
                                            values: alts,
                                        }],
                                        lists,
                                    ));
                                } else if alts.len() == 1 {
                                    let v = vec![alts[0][1..].to_owned()];
                                    reads.extend(reads_for(&v, false, &base, &f, notes)?);
                                    checks.push((
                                        true,
                                        vec![Condition {
                                            negate: false,
                                            values: v,
                                        }],
                                        lists,
                                    ));
                                } else {
                                    return Err(unsupported(
                                        &origin,
                                        &f,
                                        "an alternation with a negation",
                                    ));
                                }
                            }
                        }
                        "foreach" => {
                            let list = validate["foreach"].as_array().ok_or_else(|| {
                                unsupported(
                                    &origin,
                                    &format!("{field}.validate.foreach"),
                                    "not a list",
                                )
                            })?;
                            for (k, each) in list.iter().enumerate() {
                                let f = format!("{field}.validate.foreach[{k}]");
                                let over = each.get("list").and_then(Value::as_str).unwrap_or("");
                                let lists: Vec<ContainerList> = LISTS
                                    .iter()
                                    .filter(|(_, w, _)| over == format!("request.object.spec.{w}"))
                                    .map(|l| l.2)
                                    .collect();
                                if lists.is_empty() {
                                    return Err(unsupported(
                                        &origin,
                                        &format!("{f}.list"),
                                        "not request.object.spec.containers, initContainers or ephemeralContainers",
                                    ));
                                }
                                let conds = each.pointer("/deny/conditions").ok_or_else(|| {
                                    unsupported(
                                        &origin,
                                        &format!("{f}.deny.conditions"),
                                        "only deny conditions are read",
                                    )
                                })?;
                                let (all, items) = match (conds.get("all"), conds.get("any")) {
                                    (Some(a), None) => (true, a),
                                    (None, Some(a)) => (false, a),
                                    _ => {
                                        return Err(unsupported(
                                            &origin,
                                            &format!("{f}.deny.conditions"),
                                            "one of all or any",
                                        ));
                                    }
                                };
                                let items = items.as_array().ok_or_else(|| {
                                    unsupported(
                                        &origin,
                                        &format!("{f}.deny.conditions"),
                                        "not a list",
                                    )
                                })?;
                                let mut conditions = Vec::new();
                                let mut allow_kinds = 0;
                                for (c, cond) in items.iter().enumerate() {
                                    let cf = format!("{f}.deny.conditions[{c}]");
                                    let key = cond.get("key").and_then(Value::as_str).unwrap_or("");
                                    if key.replace(' ', "") != "{{element.image}}" {
                                        return Err(unsupported(
                                            &origin,
                                            &format!("{cf}.key"),
                                            "not {{ element.image }}",
                                        ));
                                    }
                                    let negate = match cond.get("operator").and_then(Value::as_str)
                                    {
                                        Some("Equals" | "In" | "AnyIn" | "AllIn") => false,
                                        Some("NotEquals" | "NotIn" | "AnyNotIn" | "AllNotIn") => {
                                            true
                                        }
                                        _ => {
                                            return Err(unsupported(
                                                &origin,
                                                &format!("{cf}.operator"),
                                                "not Equals, NotEquals, In, NotIn, AnyIn, AnyNotIn, AllIn or AllNotIn",
                                            ));
                                        }
                                    };
                                    let values = strings(
                                        cond.get("value").unwrap_or(&Value::Null),
                                        &origin,
                                        &format!("{cf}.value"),
                                    )?;
                                    let vf = format!("{cf}.value");
                                    reads.extend(reads_for(&values, negate, &base, &vf, notes)?);
                                    allow_kinds += usize::from(negate);
                                    conditions.push(Condition { negate, values });
                                }
                                if !all && allow_kinds > 1 {
                                    return Err(unsupported(
                                        &origin,
                                        &format!("{f}.deny.conditions.any"),
                                        "several allow lists of which every one must match",
                                    ));
                                }
                                if all && conditions.len() > 1 {
                                    notes.push(Note {
                                        kind: NoteKind::Stricter,
                                        origin: origin.field(format!("{f}.deny.conditions.all")),
                                        message: "denied when all conditions hold: each condition is applied on its own (stricter)".to_owned(),
                                        examples: Vec::new(),
                                    });
                                }
                                checks.push((all, conditions, lists));
                            }
                        }
                        _ => {
                            return Err(unsupported(
                                &origin,
                                &format!("{field}.validate.{key}"),
                                "not read (pattern and foreach are)",
                            ));
                        }
                    }
                }
                for (all, conditions, lists) in checks {
                    rules.push(KyvernoRule {
                        name: rule_name.clone(),
                        namespaces: sc.namespaces.clone(),
                        excluded: sc.excluded.clone(),
                        lists,
                        all,
                        conditions,
                    });
                }
            }
        }
    }
    if rules.is_empty() {
        let file = sources.first().map_or("", |s| s.name);
        return Err(ImportError::new(
            ImportErrorKind::Empty,
            Origin::new(file, 0, "", ""),
            "no Kyverno validate rule on images",
        ));
    }
    let lists: Vec<ContainerList> = rules.iter().flat_map(|r| r.lists.clone()).collect();
    let unchecked: Vec<&str> = [
        ContainerList::InitContainers,
        ContainerList::EphemeralContainers,
    ]
    .into_iter()
    .filter(|l| !lists.contains(l))
    .map(ContainerList::as_str)
    .chain(["volumes (image volumes)"])
    .collect();
    notes.push(Note {
        kind: NoteKind::Unchecked,
        origin: Origin::new(sources.first().map_or("", |s| s.name), 0, "", ""),
        message: format!(
            "judged now, not looked at by these rules: {}",
            unchecked.join(", ")
        ),
        examples: Vec::new(),
    });
    let draft = if reads.is_empty() {
        crate::draft::Draft::default()
    } else {
        scopes(&reads, notes)?
    };
    let mut seen = Vec::new();
    notes.retain(|n| {
        let new = !seen.contains(n);
        if new {
            seen.push(n.clone());
        }
        new
    });
    Ok((
        draft,
        OldPolicy {
            engine: Engine::Kyverno(rules),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::wildcard;

    #[test]
    fn wildcards_as_kyverno_matches_them() {
        assert!(wildcard("eu.foo.io/*", "eu.foo.io/a/b:1"));
        assert!(wildcard("*:*", "localhost:5000/app"));
        assert!(!wildcard("*:*", "nginx"));
        assert!(wildcard("*:latest", "nginx:latest"));
        assert!(wildcard("registry.my.com*", "registry.my.com.evil.io/x"));
        assert!(wildcard("a?c", "abc"));
        assert!(!wildcard("a?c", "ac"));
        assert!(wildcard("*", ""));
    }
}
