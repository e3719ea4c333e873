//! The node formats (`containers-policy`, `registries-conf`,
//! `docker-sysconfig`) and OpenShift's `Image`: scopes of registries and
//! repository prefixes, one verdict for every pod on the node.
//!
//! A policy becomes a *plan*: the registries to allow (exact hosts, each one
//! a scope that matches exactly the references our rule matches, up to
//! spelling) and the scopes to deny (each at least as wide as its rule).
//! Then each format writes the plan in its syntax. See the [parent
//! module](super) for the traps and the reason for each narrowing.

use crate::{ExportFormat, Notes, deny_lists, quoted, rule_what};
use image_policy_core::policy::Policy;
use image_policy_core::policy::{Combine, Mode, PolicyDocument, Rule, TagRules};
use image_policy_core::policy::{Pattern, Segment};
use std::collections::BTreeMap;
use std::fmt::Write;

/// A scope that covers (at least) what a deny rule matches.
#[derive(Clone, Debug, PartialEq, Eq)]
enum DenyScope {
    /// Every repository on this registry.
    Host(String),
    /// This repository and every one below it on this registry.
    Prefix(String, String),
    /// Every host that ends in `.SUFFIX` (the port left out, so any port).
    Wildcard(String),
    /// The repositories at this path prefix (maybe empty) on any registry.
    AnyHost(String),
}

struct Deny {
    path: String,
    scope: DenyScope,
}

struct Plan {
    /// The registries allowed, in rule order, without duplicates.
    allow: Vec<String>,
    /// The scopes denied, with the rule each comes from.
    deny: Vec<Deny>,
    /// The policy has allow rules, so the default is to reject.
    has_allow_list: bool,
    /// The verify scopes said as `sigstoreSigned` (`containers-policy`;
    /// `registries-conf` leaves them to it): the scope as written and the
    /// PEM key in base64.
    verify: Vec<(String, String)>,
}

impl Plan {
    /// The deny scopes as written in a target that has repository scopes:
    /// a prefix on any registry is written once per allowed registry.
    fn deny_scopes(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut push = |s: String| {
            if !out.contains(&s) {
                out.push(s);
            }
        };
        for d in &self.deny {
            match &d.scope {
                DenyScope::Host(h) => push(h.clone()),
                DenyScope::Prefix(h, p) => push(format!("{h}/{p}")),
                DenyScope::Wildcard(s) => push(format!("*.{s}")),
                DenyScope::AnyHost(p) if !p.is_empty() => {
                    for h in &self.allow {
                        push(format!("{h}/{p}"));
                    }
                }
                DenyScope::AnyHost(_) => {}
            }
        }
        out
    }
}

pub(super) fn export(policy: &Policy, format: ExportFormat, notes: &mut Notes<'_>) -> String {
    if format == ExportFormat::RegistriesD {
        return registries_d(policy, notes);
    }
    let host_only = matches!(
        format,
        ExportFormat::DockerSysconfig | ExportFormat::Openshift
    );
    let mut plan = plan(policy.document(), format, host_only, notes);
    let rewrites = rewrites(policy);
    if host_only {
        refuse_rewritten_hosts(&mut plan, &rewrites, format.name(), notes);
    }
    if plan.has_allow_list && plan.allow.is_empty() {
        notes.admits_nothing();
    }
    let scopes = Scopes::of(&plan)
        .rewritten(&rewrites)
        .with_verify(&plan.verify);
    match format {
        ExportFormat::ContainersPolicy => containers_policy(&scopes),
        ExportFormat::RegistriesConf => registries_conf(&scopes, &rewrites),
        ExportFormat::DockerSysconfig => docker_sysconfig(&plan, notes),
        _ => openshift(policy.document(), &plan, notes),
    }
}

/// The formats that cannot rewrite (RHEL docker, OpenShift's `Image`) run
/// an image from the registry it names, while the policy judges the
/// rewritten name: no registry under a rewrite rule's `from` is admitted
/// there (not allowed, or blocked without an allow list). Pods that carry
/// the rewritten name (`/mutate`) are judged by its registry.
fn refuse_rewritten_hosts(
    plan: &mut Plan,
    rewrites: &[Rewrite],
    target: &str,
    notes: &mut Notes<'_>,
) {
    for r in rewrites {
        let host = r.prefix.split('/').next().unwrap_or_default().to_owned();
        let what = format!("rewrite {}={}", r.prefix, r.location);
        if plan.has_allow_list {
            if plan.allow.contains(&host) {
                plan.allow.retain(|h| *h != host);
                notes.narrow(
                    &r.path,
                    &what,
                    format!("registry {host} is not allowed: the policy judges images under {} as rewritten to {}, and {target} cannot rewrite, so it would run them from {host} (deploy /mutate so that pods carry the rewritten name)", r.prefix, r.location),
                );
            }
        } else if !plan
            .deny
            .iter()
            .any(|d| d.scope == DenyScope::Host(host.clone()))
        {
            plan.deny.push(Deny {
                path: r.path.clone(),
                scope: DenyScope::Host(host.clone()),
            });
            notes.narrow(
                &r.path,
                &what,
                format!("registry {host} is blocked: the policy judges images under {} as rewritten to {}, and {target} cannot rewrite, so it would run them from {host} (deploy /mutate so that pods carry the rewritten name)", r.prefix, r.location),
            );
        }
    }
}

fn plan(
    doc: &PolicyDocument,
    format: ExportFormat,
    host_only: bool,
    notes: &mut Notes<'_>,
) -> Plan {
    let target = format.name();
    if doc.mode != Mode::Enforce {
        notes.narrow(
            "mode",
            doc.mode.as_str(),
            format!(
                "{target} enforces: images that the policy only {} are refused",
                if doc.mode == Mode::Warn {
                    "warns about"
                } else {
                    "audits"
                }
            ),
        );
    }
    if !doc.exempt_namespaces.is_empty() {
        notes.narrow(
            "exemptNamespaces",
            &doc.exempt_namespaces.join(", "),
            format!("{target} judges the pods of every namespace alike, exempt ones included"),
        );
    }
    if doc.break_glass.enabled {
        notes.narrow(
            "breakGlass",
            "enabled",
            format!("{target} reads no annotations: break-glass admits nothing there"),
        );
    }
    for (i, ns) in doc.namespaces.iter().enumerate() {
        let p = format!("namespaces[{i}]");
        if ns.mode.is_some_and(|m| m != Mode::Enforce) {
            notes.narrow(
                &format!("{p}.mode"),
                ns.mode.map_or("", Mode::as_str),
                format!("{target} enforces in every namespace"),
            );
        }
    }

    // Allow rules: only whole registries are scopes that match exactly.
    let cluster_allow_list = !doc.allow.is_empty();
    // A namespace's allow list that the cluster does not have is lifted:
    // applied to every pod (with several, only what all of them allow).
    let mut lifted = false;
    let mut allow: Vec<(String, String)> = Vec::new();
    for (i, rule) in doc.allow.iter().enumerate() {
        let path = format!("allow[{i}]");
        let what = rule_what(rule);
        match notes.normalized(&path).cloned() {
            Some(Pattern::Registry(h)) => allow.push((h, path)),
            Some(Pattern::Repository(segs)) if whole_registry(&segs).is_some() => {
                allow.push((whole_registry(&segs).unwrap_or_default(), path));
            }
            Some(Pattern::WildcardRegistry(s)) => notes.narrow(
                &path,
                &what,
                format!("dropped: {target} would read *.{s} as any depth of subdomain and any port, and this rule matches one label and no port"),
            ),
            Some(Pattern::Repository(_)) => notes.narrow(
                &path,
                &what,
                format!("dropped: {target} can only allow whole registries exactly (a scope host/path also matches host/path itself and every repository below it)"),
            ),
            _ => notes.narrow(
                &path,
                &what,
                format!("dropped: {target} cannot express a regular expression"),
            ),
        }
    }
    for (i, ns) in doc.namespaces.iter().enumerate() {
        let p = format!("namespaces[{i}]");
        let names = ns.names.join(", ");
        match ns.combine {
            // Without cluster allow rules, the namespace's own make an
            // allow list there: a restriction the nodes cannot scope.
            Combine::Add | Combine::Replace if !cluster_allow_list && !ns.allow.is_empty() => {
                let theirs = expressible_allow(&ns.allow, &p, target, notes);
                if lifted {
                    allow.retain(|(h, _)| theirs.iter().any(|(t, _)| t == h));
                } else {
                    allow = theirs;
                    lifted = true;
                }
                notes.lose(
                    &format!("{p}.allow"),
                    &format!("combine: {}, namespaces {names}", if ns.combine == Combine::Add { "add" } else { "replace" }),
                    format!("{target} cannot scope allow rules to namespaces, and the cluster's rules allow every registry"),
                    "every registry that these allow rules do not allow as a whole, for every pod (they apply cluster-wide)",
                );
            }
            Combine::Add => {
                for (j, rule) in ns.allow.iter().enumerate() {
                    notes.narrow(
                        &format!("{p}.allow[{j}]"),
                        &rule_what(rule),
                        format!("dropped: it applies only in namespaces {names}, and {target} judges every pod by the cluster's allow rules"),
                    );
                }
            }
            Combine::Replace if ns.allow.is_empty() => {}
            Combine::Replace => {
                let theirs: Vec<String> = (0..ns.allow.len())
                    .filter_map(|j| match notes.normalized(&format!("{p}.allow[{j}]"))? {
                        Pattern::Registry(h) => Some(h.clone()),
                        Pattern::Repository(segs) => whole_registry(segs),
                        _ => None,
                    })
                    .collect();
                allow.retain(|(h, path)| {
                    let keep = theirs.contains(h);
                    if !keep {
                        notes.narrow(
                            path,
                            &format!("registry {h}"),
                            format!("dropped: {p} (namespaces {names}) replaces the allow rules and does not allow {h}, and {target} cannot scope rules to namespaces"),
                        );
                    }
                    keep
                });
                for (j, rule) in ns.allow.iter().enumerate() {
                    notes.narrow(
                        &format!("{p}.allow[{j}]"),
                        &rule_what(rule),
                        format!("{target} allows only what the cluster's allow rules and these both allow"),
                    );
                }
            }
        }
    }
    let has_allow_list = cluster_allow_list || lifted;
    let mut seen = Vec::new();
    allow.retain(|(h, _)| {
        let new = !seen.contains(h);
        seen.push(h.clone());
        new
    });

    // Deny rules: scopes at least as wide as each rule, applied everywhere.
    let mut deny = Vec::new();
    let mut verify = Vec::new();
    for (scope, prefix, rules) in deny_lists(doc) {
        for (j, rule) in rules.iter().enumerate() {
            let path = format!("{prefix}[{j}]");
            let what = rule_what(rule);
            let normalized = notes.normalized(&path);
            // A namespace's rule is said for every pod: narrower for verify
            // and deny rules, and the notes say so.
            let applied_everywhere = |notes: &mut Notes<'_>, path: &str, what: &str| {
                if let Some(i) = scope {
                    notes.narrow(
                        path,
                        what,
                        format!(
                            "applies only in namespaces {}; {target} applies it to every pod",
                            doc.namespaces[i].names.join(", ")
                        ),
                    );
                }
            };
            if prefix.ends_with("verify")
                && matches!(
                    format,
                    ExportFormat::ContainersPolicy | ExportFormat::RegistriesConf
                )
                && has_allow_list
                && let Some(s) =
                    signed_scope(doc, scope, j, normalized, &path, &what, target, notes)
            {
                applied_everywhere(notes, &path, &what);
                verify.push(s);
                continue;
            }
            if prefix.ends_with("pin") || prefix.ends_with("verify") {
                notes.lose(
                    &path,
                    &what,
                    format!("{target} cannot require a digest"),
                    "every image in its scope, pinned or not (as a deny rule)",
                );
            }
            applied_everywhere(notes, &path, &what);
            let scope = match deny_scope(normalized) {
                Some(scope) => scope,
                None => {
                    let scope = regex_scope(rule);
                    notes.lose(
                        &path,
                        &what,
                        format!("{target} cannot express a regular expression"),
                        scope_text(&scope),
                    );
                    scope
                }
            };
            if host_only
                && !has_allow_list
                && let DenyScope::Prefix(h, _) = &scope
            {
                notes.narrow(
                    &path,
                    &what,
                    format!("{target} blocks the whole registry {h}"),
                );
            }
            if !has_allow_list {
                let why = match &scope {
                    DenyScope::AnyHost(_) => format!(
                        "it matches every registry, and without allow rules {target} admits every registry it does not name"
                    ),
                    _ => format!(
                        "without allow rules {target} admits every registry it does not name, and it names hosts as written: other spellings of this registry (uppercase letters, an IP address, a Docker Hub alias such as registry-1.docker.io) would be admitted"
                    ),
                };
                notes.lose(
                    &path,
                    &what,
                    why,
                    "every image (without an allow list, nothing narrower covers every spelling)",
                );
                notes.admits_nothing();
            }
            if !exact_scope(normalized) && !matches!(rule, Rule::Regex(_)) {
                notes.narrow(
                    &path,
                    &what,
                    format!("{target} denies more: {}", scope_text(&scope)),
                );
            }
            deny.push(Deny { path, scope });
        }
    }

    tag_rules(&doc.tags, "tags", target, notes);
    for (i, ns) in doc.namespaces.iter().enumerate() {
        tag_rules(&ns.tags, &format!("namespaces[{i}].tags"), target, notes);
    }

    // The most specific scope wins: an allowed registry that a deny rule
    // covers would override it, so it goes.
    allow.retain(|(h, apath)| {
        let conflict = deny.iter().find(|d| match &d.scope {
            DenyScope::Host(x) => x == h,
            DenyScope::Wildcard(s) => wildcard_matches(s, h),
            DenyScope::Prefix(x, _) => host_only && x == h,
            DenyScope::AnyHost(p) => host_only || p.is_empty(),
        });
        if let Some(d) = conflict {
            notes.narrow(
                apath,
                &format!("registry {h}"),
                if host_only {
                    format!("dropped: {} denies images on it, and {target} can only allow or block whole registries", d.path)
                } else {
                    format!("dropped: {} denies images on it, and {target} would let the allowed registry override the denial", d.path)
                },
            );
        }
        conflict.is_none()
    });

    Plan {
        allow: allow.into_iter().map(|(h, _)| h).collect(),
        deny,
        has_allow_list,
        verify,
    }
}

/// A verify rule said as a `sigstoreSigned` scope, when it can be: a
/// registry or a repository scope with a literal prefix (the scope written
/// covers at least what the rule matches: requiring a signature of more
/// images is narrower, with a warning), inline keys, and signatures kept
/// in the image's own repository. `None` leaves the rule to the caller,
/// which refuses it (with `lossy`, denies its scope) as a pin rule, with
/// the reason noted here.
#[allow(clippy::too_many_arguments)]
fn signed_scope(
    doc: &PolicyDocument,
    ns: Option<usize>,
    j: usize,
    normalized: Option<&Pattern>,
    path: &str,
    what: &str,
    target: &str,
    notes: &mut Notes<'_>,
) -> Option<(String, String)> {
    use base64::Engine as _;
    let rules = match ns {
        Some(i) => &doc.namespaces[i].verify,
        None => &doc.verify,
    };
    let rule = rules.get(j)?;
    let written = match deny_scope(normalized)? {
        DenyScope::Host(h) => h,
        DenyScope::Prefix(h, p) => format!("{h}/{p}"),
        _ => return None,
    };
    if rule.signature_repository.is_some() {
        notes.lose(
            path,
            what,
            format!("{target} cannot say signatureRepository (sigstore attachments are read from the image's own repository)"),
            "every image in its scope, signed or not (as a deny rule)",
        );
        return None;
    }
    let Some(key) = rule.keys.first() else {
        notes.lose(
            path,
            what,
            format!("its key is given as keyFile, a path relative to the policy file: write it inline (keys:) for {target}"),
            "every image in its scope, signed or not (as a deny rule)",
        );
        return None;
    };
    if rule.keys.len() > 1 {
        notes.lose(
            path,
            what,
            format!("this rule accepts a signature by any of its {} keys, which {target} says only as keyDatas, read by containers/image 5.33 (and 5.32.2) or newer; the 5.23 that Debian ships (skopeo 1.9, the checker here) refuses the whole file on it (Unknown key \"keyDatas\"), and a list of keyData requirements must all hold", rule.keys.len()),
            "images signed only with its other keys (a signature by its first key is required)",
        );
    }
    if target == ExportFormat::RegistriesConf.name() {
        notes.narrow(
            path,
            what,
            format!("{target} cannot verify: left to policy.json (containers-policy), which requires the signature there"),
        );
        return Some((written, String::new()));
    }
    notes.narrow(
        path,
        what,
        format!("{target} requires a signature by its key (sigstoreSigned, signedIdentity matchRepository) on the digest it pulls, and cannot require the name to carry a digest; it needs a containers/image built with sigstore verification (Debian's is not) and the registries.d file that export --format registries-d writes (use-sigstore-attachments: true where the images are pulled from)"),
    );
    if !exact_scope(normalized) {
        notes.narrow(
            path,
            what,
            format!(
                "{target} requires the signature on more: {written} and every repository below it"
            ),
        );
    }
    Some((
        written,
        base64::engine::general_purpose::STANDARD.encode(key.as_bytes()),
    ))
}

/// Whether the deny scope of `rule` matches exactly what the rule matches
/// (a registry, or `host/**`).
fn exact_scope(rule: Option<&Pattern>) -> bool {
    match rule {
        Some(Pattern::Registry(_)) => true,
        Some(Pattern::Repository(segs)) => whole_registry(segs).is_some(),
        _ => false,
    }
}

/// `host/**`: every repository of one registry.
fn whole_registry(segs: &[Segment]) -> Option<String> {
    match segs {
        [Segment::Literal(h), Segment::AnyDepth] => Some(h.clone()),
        _ => None,
    }
}

/// Does our `*.suffix` rule match the registry `host`?
fn wildcard_matches(suffix: &str, host: &str) -> bool {
    host.split_once('.').is_some_and(|(_, rest)| rest == suffix)
}

/// What a deny scope rejects, in words.
fn scope_text(scope: &DenyScope) -> String {
    match scope {
        DenyScope::Host(h) => format!("every repository on {h}"),
        DenyScope::Prefix(h, p) => format!("{h}/{p} and every repository below it"),
        DenyScope::Wildcard(s) => format!("every host under {s}, at any depth and port"),
        DenyScope::AnyHost(p) if p.is_empty() => "every image".to_owned(),
        DenyScope::AnyHost(p) => {
            format!("{p} and every repository below it on every allowed registry")
        }
    }
}

/// The scope of a regex deny rule: the registry, or the longest repository
/// prefix, that every name it matches starts with (its literal prefix up
/// to the last `/`: `r\.io/team/x.*` is `r.io/team`); everything when the
/// prefix names no whole registry. Only characters of normalized names are
/// kept, so that every target can carry the scope as written.
fn regex_scope(rule: &Rule) -> DenyScope {
    let prefix = match rule {
        Rule::Regex(re) => crate::regex_literal_prefix(re),
        _ => String::new(),
    };
    let Some((host, rest)) = prefix.split_once('/') else {
        return DenyScope::AnyHost(String::new());
    };
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b".-:[]".contains(&b));
    if !host_ok {
        return DenyScope::AnyHost(String::new());
    }
    let whole: Vec<&str> = rest
        .rsplit_once('/')
        .map_or(Vec::new(), |(dirs, _)| dirs.split('/').collect());
    let path: Vec<&str> = whole
        .into_iter()
        .take_while(|c| {
            !c.is_empty()
                && c.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        })
        .collect();
    if path.is_empty() {
        DenyScope::Host(host.to_owned())
    } else {
        DenyScope::Prefix(host.to_owned(), path.join("/"))
    }
}

/// The registries of `rules` that are scopes matching exactly (each
/// with its path); the others narrowed, with a warning.
fn expressible_allow(
    rules: &[Rule],
    prefix: &str,
    target: &str,
    notes: &mut Notes<'_>,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (j, rule) in rules.iter().enumerate() {
        let path = format!("{prefix}.allow[{j}]");
        match notes.normalized(&path).cloned() {
            Some(Pattern::Registry(h)) => out.push((h, path)),
            Some(Pattern::Repository(segs)) if whole_registry(&segs).is_some() => {
                out.push((whole_registry(&segs).unwrap_or_default(), path));
            }
            _ => notes.narrow(
                &path,
                &rule_what(rule),
                format!("dropped: {target} can only allow whole registries exactly"),
            ),
        }
    }
    out
}

fn deny_scope(rule: Option<&Pattern>) -> Option<DenyScope> {
    Some(match rule?.clone() {
        Pattern::Registry(h) => DenyScope::Host(h),
        Pattern::WildcardRegistry(s) => {
            // Without the port: any port, which is wider.
            let host = match s.rfind(':') {
                Some(i) if !s.ends_with(']') => s[..i].to_owned(),
                _ => s,
            };
            DenyScope::Wildcard(host)
        }
        Pattern::Repository(segs) => {
            let literal: Vec<&str> = segs[1..]
                .iter()
                .map_while(|s| match s {
                    Segment::Literal(l) => Some(l.as_str()),
                    _ => None,
                })
                .collect();
            let prefix = literal.join("/");
            match &segs[0] {
                Segment::Literal(h) if prefix.is_empty() => DenyScope::Host(h.clone()),
                Segment::Literal(h) => DenyScope::Prefix(h.clone(), prefix),
                _ => DenyScope::AnyHost(prefix),
            }
        }
        // A regex, or a pattern newer than this crate: no scope that
        // matches it exactly (the caller rejects a wider one).
        _ => return None,
    })
}

/// Tag and digest rules touch every image of their scope, and a
/// namespace's apply to every pod on the nodes: narrowed, every image is
/// rejected, so the export is refused even with `lossy`.
fn tag_rules(tags: &TagRules, prefix: &str, target: &str, notes: &mut Notes<'_>) {
    let why = format!("{target} cannot judge tags or digests");
    let instead = "every image (a tag rule can deny an image of any repository)";
    let mut any = false;
    for (j, t) in tags.deny.iter().enumerate() {
        notes.lose(
            &format!("{prefix}.deny[{j}]"),
            &format!("deny-tag {t}"),
            why.clone(),
            instead,
        );
        any = true;
    }
    if tags.require_tag_or_digest {
        notes.lose(
            &format!("{prefix}.requireTagOrDigest"),
            "",
            why.clone(),
            instead,
        );
        any = true;
    }
    if tags.require_digest {
        notes.lose(&format!("{prefix}.requireDigest"), "", why.clone(), instead);
        any = true;
    }
    if !tags.allow_matching.is_empty() {
        notes.lose(
            &format!("{prefix}.allowMatching"),
            &tags.allow_matching.join(" | "),
            why,
            instead,
        );
        any = true;
    }
    if any {
        notes.admits_nothing();
    }
}

/// What a `policy.json` scope does.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Verdict {
    Accept,
    Reject,
    /// Accept what is signed by each of these keys (base64 of the PEM):
    /// the requirements of a scope all hold, as every verify rule whose
    /// scope matches must.
    Signed(Vec<String>),
}

impl Verdict {
    /// The scope's requirements, a JSON array.
    fn requirements(&self) -> String {
        match self {
            Verdict::Accept => r#"[{"type": "insecureAcceptAnything"}]"#.to_owned(),
            Verdict::Reject => r#"[{"type": "reject"}]"#.to_owned(),
            Verdict::Signed(keys) => {
                let each: Vec<String> = keys
                    .iter()
                    .map(|k| {
                        format!(
                            r#"{{"type": "sigstoreSigned", "keyData": {}, "signedIdentity": {{"type": "matchRepository"}}}}"#,
                            quoted(k)
                        )
                    })
                    .collect();
                format!("[{}]", each.join(", "))
            }
        }
    }
}

/// `policy.json`'s docker scopes as containers/image reads them: the most
/// specific scope that covers a name decides (the repository, then each
/// parent path, then the host, then `*.` wildcards of the host without its
/// port from the longest), else the default.
#[derive(Clone, Debug)]
struct Scopes {
    map: BTreeMap<String, Verdict>,
    default: Verdict,
}

/// Whether `name` is `prefix` or below it at a `/`.
fn at_or_under(name: &str, prefix: &str) -> bool {
    name.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

impl Scopes {
    /// The plan's scopes, names as written.
    fn of(plan: &Plan) -> Self {
        let mut map = BTreeMap::new();
        for h in &plan.allow {
            map.insert(h.clone(), Verdict::Accept);
        }
        for s in plan.deny_scopes() {
            map.insert(s, Verdict::Reject);
        }
        let default = if plan.has_allow_list {
            Verdict::Reject
        } else {
            Verdict::Accept
        };
        Self { map, default }.with_verify(&plan.verify)
    }

    /// The verify scopes, the outer ones first: each scope, and every
    /// scope below it, requires the signature by its key where accepted so
    /// far. A rejected name stays rejected (a signature never admits what is
    /// not allowed); one already signed (an outer verify scope) requires
    /// both, since policy.json reads only the most specific scope and every
    /// verify rule that matches must hold. Applied before the rewrites (so
    /// the copies under a `from` carry what the `to` requires) and after
    /// (the policy also verifies an image by the name as written).
    fn with_verify(mut self, verify: &[(String, String)]) -> Self {
        let mut verify: Vec<&(String, String)> = verify.iter().collect();
        verify.sort_by_key(|(s, _)| s.matches('/').count());
        for (s, key) in verify {
            let add = |v: Verdict| match v {
                Verdict::Reject => Verdict::Reject,
                Verdict::Accept => Verdict::Signed(vec![key.clone()]),
                Verdict::Signed(mut keys) => {
                    if !keys.contains(key) {
                        keys.push(key.clone());
                    }
                    Verdict::Signed(keys)
                }
            };
            let at = add(self.verdict(s));
            let below: Vec<String> = self
                .map
                .keys()
                .filter(|k| at_or_under(k, s) && *k != s)
                .cloned()
                .collect();
            for k in below {
                let v = add(self.map[&k].clone());
                self.map.insert(k, v);
            }
            if at != Verdict::Reject {
                self.map.insert(s.clone(), at);
            }
        }
        self
    }

    /// The verdict on `name` (a repository or a prefix of one, normalized
    /// as containers/image writes it: `docker.io/library/nginx`), and so
    /// on every name below it that no more specific scope names.
    fn verdict(&self, name: &str) -> Verdict {
        let mut n = name;
        loop {
            if let Some(v) = self.map.get(n) {
                return v.clone();
            }
            match n.rfind('/') {
                Some(i) => n = &n[..i],
                None => break,
            }
        }
        if !n.starts_with('[') {
            let mut host = n.rsplit_once(':').map_or(n, |(h, _)| h);
            while let Some((_, rest)) = host.split_once('.') {
                if let Some(v) = self.map.get(&format!("*.{rest}")) {
                    return v.clone();
                }
                host = rest;
            }
        }
        self.default.clone()
    }

    /// The scopes once containers/image rewrites pulls by `rewrites` (the
    /// registries.conf entries): it judges a name under a rewrite's
    /// `prefix` *as written*, while the policy judges the rewritten name
    /// under `location`. So the scopes at and under each `prefix` become a
    /// copy of those at and under its `location`: the prefix takes the
    /// verdict on the location itself, and each scope below the location
    /// is written below the prefix. The scopes written for names under a
    /// prefix as written go (the policy never judges those names as
    /// written), and so does a copy that falls under a longer prefix
    /// (containers/image rewrites those by the longer one, as the policy
    /// does: see [`rewrites`]).
    fn rewritten(self, rewrites: &[Rewrite]) -> Self {
        if rewrites.is_empty() {
            return self;
        }
        let mut map: BTreeMap<String, Verdict> = self
            .map
            .iter()
            .filter(|(k, _)| !rewrites.iter().any(|r| at_or_under(k, &r.prefix)))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for r in rewrites {
            let longer = |name: &str| {
                rewrites.iter().any(|o| {
                    o.prefix != r.prefix
                        && at_or_under(&o.prefix, &r.prefix)
                        && at_or_under(name, &o.prefix)
                })
            };
            map.insert(r.prefix.clone(), self.verdict(&r.location));
            for (k, v) in &self.map {
                if let Some(rest) = k.strip_prefix(&r.location)
                    && rest.starts_with('/')
                {
                    let copy = format!("{}{rest}", r.prefix);
                    if !longer(&copy) {
                        map.insert(copy, v.clone());
                    }
                }
            }
        }
        Self {
            map,
            default: self.default,
        }
    }
}

fn containers_policy(scopes: &Scopes) -> String {
    let mut out = String::new();
    out.push_str("{\n");
    let _ = writeln!(out, "  \"default\": {},", scopes.default.requirements());
    out.push_str("  \"transports\": {\n    \"docker\": {");
    for (i, (scope, v)) in scopes.map.iter().enumerate() {
        let sep = if i == 0 { "" } else { "," };
        let _ = write!(out, "{sep}\n      {}: {}", quoted(scope), v.requirements());
    }
    if !scopes.map.is_empty() {
        out.push_str("\n    ");
    }
    out.push_str("}\n  }\n}\n");
    out
}

/// A rewrite rule as a registries.conf entry.
struct Rewrite {
    /// `rewrite[i]`.
    path: String,
    /// The normalized `from`: `docker.io/library`.
    prefix: String,
    /// `to`.
    location: String,
}

/// The rewrite rules that can apply, as registries.conf entries. A rule that
/// an earlier rule always beats (its `from` is at or below the earlier
/// `from`) never applies in the policy; it is left out, since containers/image
/// picks the *longest* matching prefix and would apply it. With that, the
/// longest match is the first match.
fn rewrites(policy: &Policy) -> Vec<Rewrite> {
    let rules = policy.rewrite_rules();
    let mut out = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        if rules[..i].iter().any(|earlier| earlier.covers(rule)) {
            continue;
        }
        out.push(Rewrite {
            path: format!("rewrite[{i}]"),
            prefix: rule.source_prefix(),
            location: rule.to().to_owned(),
        });
    }
    out
}

fn registries_conf(scopes: &Scopes, rewrites: &[Rewrite]) -> String {
    let mut out = String::from(
        "# registries.conf (v2), exported by image-policy: denied registries are\n\
         # blocked. It cannot express an allow list: use it with the exported policy.json.\n\
         # Short names are Docker Hub's, as containerd and the policy read them.\n\
         unqualified-search-registries = [\"docker.io\"]\n\
         short-name-mode = \"disabled\"\n",
    );
    // Rewrites: containers/image matches `prefix` at a `/`, `:` or `@` after
    // it and substitutes `location` for it, as the policy's rewrite does.
    // It requires entries with one location to agree on `blocked`: where the
    // location itself is blocked, every name the rule makes is rejected (the
    // prefix's scope is the location's), so the rule's entry is blocked too.
    for r in rewrites {
        let _ = writeln!(
            out,
            "\n# {}\n[[registry]]\nprefix = {}\nlocation = {}",
            r.path,
            quoted(&r.prefix),
            quoted(&r.location)
        );
        if scopes.map.get(&r.location) == Some(&Verdict::Reject) {
            out.push_str("blocked = true\n");
        }
    }
    let blocked: Vec<&String> = scopes
        .map
        .iter()
        .filter(|(_, v)| **v == Verdict::Reject)
        .map(|(k, _)| k)
        .collect();
    for s in &blocked {
        if rewrites.iter().any(|r| r.prefix == **s) {
            // registries.conf takes one entry per prefix; policy.json
            // rejects these names.
            continue;
        }
        out.push_str("\n[[registry]]\n");
        if s.starts_with("*.") {
            let _ = writeln!(out, "prefix = {}\nlocation = \"\"", quoted(s));
        } else {
            let _ = writeln!(out, "location = {}", quoted(s));
        }
        out.push_str("blocked = true\n");
    }
    // A prefix that is a host without a port also matches that host with
    // any port (`quay.io:5000/x`, at the `:`), which the policy does not
    // rewrite: a registry that policy.json accepts there is pulled from
    // where it is named, by an entry of its own (the longest prefix wins).
    let mut kept: Vec<String> = Vec::new();
    for r in rewrites.iter().filter(|r| is_bare_host(&r.prefix)) {
        for host in scopes
            .map
            .keys()
            .map(|k| k.split('/').next().unwrap_or_default())
        {
            let with_port = host
                .strip_prefix(r.prefix.as_str())
                .is_some_and(|p| p.starts_with(':'));
            if with_port
                && !kept.iter().any(|k| k == host)
                && !blocked.iter().any(|b| *b == host)
                && !rewrites.iter().any(|o| o.prefix == host)
            {
                kept.push(host.to_owned());
            }
        }
    }
    for host in kept {
        let _ = writeln!(out, "\n[[registry]]\nlocation = {}", quoted(&host));
    }
    out
}

/// `registries-d`: the `registries.d` file that makes containers/image read
/// sigstore attachments (the `sha256-<digest>.sig` tag cosign writes)
/// wherever the `containers-policy` export of the same policy requires a
/// signature. containers/image looks the setting up by the reference it
/// *pulls* (after registries.conf's `prefix`/`location` rewrite, or a
/// mirror), with the scopes and search order of `policy.json` (the name,
/// then each parent path, then the host), while `policy.json` judges the
/// name as written: so each scope that `policy.json` says `sigstoreSigned`
/// is turned on, and so is, for a scope at or under a rewrite's `prefix`,
/// the name it is pulled from (the `location` with the rest of the scope).
///
/// The file admits nothing: a scope missing here makes containers/image
/// find no signature there and reject the image (narrower), a scope too
/// many only costs a lookup. So nothing is refused here; the policy is read
/// as `containers-policy` reads it (its notes are that export's, discarded:
/// what it refuses or narrows, it says itself).
fn registries_d(policy: &Policy, notes: &mut Notes<'_>) -> String {
    let mut theirs = Notes::new(policy);
    let plan = plan(
        policy.document(),
        ExportFormat::ContainersPolicy,
        false,
        &mut theirs,
    );
    let rewrites = rewrites(policy);
    let scopes = Scopes::of(&plan)
        .rewritten(&rewrites)
        .with_verify(&plan.verify);
    let attached = attachment_scopes(&scopes, &rewrites);
    let mut out = String::from(
        "# registries.d (containers-registries.d(5)), exported by image-policy.\n\
         # Install as /etc/containers/registries.d/image-policy.yaml (any name ending\n\
         # in .yaml) beside the exported /etc/containers/policy.json; rootless users'\n\
         # ~/.config/containers/registries.d replaces that directory when it exists.\n\
         # It turns on sigstore attachments (cosign signatures, tag sha256-<digest>.sig\n\
         # in the image's repository) where that policy.json requires a signature\n\
         # (sigstoreSigned), and where those images are pulled from after the exported\n\
         # registries.conf's rewrites. No other file there may name these scopes\n\
         # (containers/image refuses a scope named twice), and a more specific scope\n\
         # with use-sigstore-attachments: false turns it off (no signature is found\n\
         # there: policy.json rejects the image).\n",
    );
    if attached.is_empty() {
        notes.narrow(
            "verify",
            "",
            "containers-policy requires no signature for this policy (no verify rule it says as sigstoreSigned): the file turns nothing on",
        );
        out.push_str("docker: {}\n");
        return out;
    }
    out.push_str("docker:\n");
    for (scope, why) in &attached {
        if let Some(why) = why {
            let _ = writeln!(out, "  # {why}");
        }
        let _ = writeln!(
            out,
            "  {}:\n    use-sigstore-attachments: true",
            quoted(scope)
        );
    }
    out
}

/// The scopes whose pulls must read sigstore attachments: every scope that
/// `scopes` says `sigstoreSigned`, and, for one at or under a rewrite's
/// `prefix`, the name containers/image pulls it from (by the longest such
/// prefix, as registries.conf picks it), with a comment saying why.
fn attachment_scopes(scopes: &Scopes, rewrites: &[Rewrite]) -> BTreeMap<String, Option<String>> {
    let mut out: BTreeMap<String, Option<String>> = BTreeMap::new();
    for (scope, v) in &scopes.map {
        if !matches!(v, Verdict::Signed(_)) {
            continue;
        }
        out.insert(scope.clone(), None);
        let pulled_by = rewrites
            .iter()
            .filter(|r| at_or_under(scope, &r.prefix))
            .max_by_key(|r| r.prefix.len());
        if let Some(r) = pulled_by {
            let physical = format!("{}{}", r.location, &scope[r.prefix.len()..]);
            out.entry(physical).or_insert_with(|| {
                Some(format!(
                    "where {scope} is pulled from ({}: {} is rewritten to {})",
                    r.path, r.prefix, r.location
                ))
            });
        }
    }
    out
}

/// A host without a port and without a path (`quay.io`, `[::1]`).
fn is_bare_host(prefix: &str) -> bool {
    !prefix.contains('/') && (prefix.ends_with(']') || !prefix.contains(':'))
}

fn docker_sysconfig(plan: &Plan, _notes: &mut Notes<'_>) -> String {
    let mut out =
        String::from("# /etc/sysconfig/docker (RHEL/CentOS 7 docker), exported by image-policy.\n");
    if plan.has_allow_list {
        let add: Vec<String> = plan
            .allow
            .iter()
            .map(|h| format!("--add-registry {h}"))
            .collect();
        let _ = writeln!(out, "ADD_REGISTRY='{}'", add.join(" "));
        out.push_str("BLOCK_REGISTRY='--block-registry all'\n");
    } else {
        let mut hosts: Vec<&str> = Vec::new();
        for d in &plan.deny {
            if let DenyScope::Host(h) | DenyScope::Prefix(h, _) = &d.scope
                && !hosts.contains(&h.as_str())
            {
                hosts.push(h);
            }
        }
        let block: Vec<String> = hosts
            .iter()
            .map(|h| format!("--block-registry {h}"))
            .collect();
        let _ = writeln!(out, "BLOCK_REGISTRY='{}'", block.join(" "));
    }
    out
}

/// The images an OpenShift cluster pulls for itself.
const OPENSHIFT_NEEDS: &[(&str, &str, &str)] = &[
    (
        "quay.io",
        "openshift-release-dev/ocp-release",
        "the release images",
    ),
    (
        "quay.io",
        "openshift-release-dev/ocp-v4.0-art-dev",
        "the release's component images",
    ),
    (
        "image-registry.openshift-image-registry.svc:5000",
        "openshift/cli",
        "the internal registry",
    ),
];

/// OpenShift's `Image`: the Machine Config Operator writes the nodes'
/// `policy.json` from `registrySources`, `allowedRegistries` as accepted
/// scopes under a default `reject` and `blockedRegistries` as rejected ones
/// (and `blocked` registries.conf entries); only one of the two may be set.
/// An empty (or absent) list restricts nothing: with `allowedRegistries: []`
/// the default stays `insecureAcceptAnything`. So where the policy restricts
/// and no entry is left, the export is refused, `lossy` or not.
fn openshift(doc: &PolicyDocument, plan: &Plan, notes: &mut Notes<'_>) -> String {
    let mut out = String::from(
        "# OpenShift's cluster image configuration, exported by image-policy.\n\
         apiVersion: config.openshift.io/v1\nkind: Image\nmetadata:\n  name: cluster\nspec:\n  registrySources:\n",
    );
    let (key, entries) = if plan.has_allow_list {
        ("allowedRegistries", plan.allow.clone())
    } else {
        ("blockedRegistries", plan.deny_scopes())
    };
    let empty = "OpenShift reads an empty registry list as no restriction at all";
    if entries.is_empty() && plan.has_allow_list {
        for (i, rule) in doc.allow.iter().enumerate() {
            let path = format!("allow[{i}]");
            let why = notes
                .narrowed_message(&path)
                .unwrap_or("it allows no registry as a whole")
                .to_owned();
            notes.refuse(
                &path,
                &rule_what(rule),
                format!("no allowed registry is left for allowedRegistries ({why}), and {empty}"),
            );
        }
    } else if entries.is_empty() {
        for (_, prefix, rules) in deny_lists(doc) {
            for (j, rule) in rules.iter().enumerate() {
                notes.refuse(
                    &format!("{prefix}[{j}]"),
                    &rule_what(rule),
                    format!("no registry is left for blockedRegistries, and {empty}"),
                );
            }
        }
    }
    if entries.is_empty() {
        let _ = writeln!(out, "    {key}: []");
    } else {
        let _ = writeln!(out, "    {key}:");
        for e in &entries {
            let _ = writeln!(out, "      - {}", quoted(e));
        }
    }
    for (host, repo, what) in OPENSHIFT_NEEDS {
        let name = format!("{host}/{repo}");
        let refused = if plan.has_allow_list {
            !entries.iter().any(|e| e == host)
        } else {
            entries.iter().any(|e| {
                e == host
                    || name.starts_with(&format!("{e}/"))
                    || e.strip_prefix("*.")
                        .is_some_and(|s| host.ends_with(&format!(".{s}")))
            })
        };
        if refused {
            notes.narrow(
                &format!("spec.registrySources.{key}"),
                "",
                format!("{name} ({what} of the cluster) is not allowed: the cluster cannot pull its own images; allow registry {host} in the policy"),
            );
        }
    }
    out
}
