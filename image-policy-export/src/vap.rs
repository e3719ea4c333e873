//! The `validating-admission-policy` format: a `ValidatingAdmissionPolicy`
//! whose CEL decides as the webhook does, and its binding.
//!
//! # How the CEL reads an image
//!
//! Only standard CEL, `matches` (RE2) and the strings extension (version 2:
//! `indexOf`, `substring`, `split`, `lowerAscii`, `join`), so that every
//! conforming runtime gives the same answer. There is no `cel.bind`, so the
//! parse is a pipeline of variables, each a list with one entry per image
//! (a list of strings), each stage reading the previous one:
//!
//! 1. `podSpec`/`oldPodSpec`: the pod spec at the path of the kind (as the
//!    webhook's `k8s` module reads it); `images`: every container list and
//!    every image volume (`spec.volumes[].image.reference`); a container
//!    without an image is the image `""`, which is denied;
//! 2. `r1`..`refs`: `splitDockerDomain` (the first component is a registry
//!    when it has `.`, `:`, an uppercase letter or is `localhost`), the
//!    domain grammar, the rest's grammar (path components, tag, a digest of
//!    a supported algorithm with its exact length in lowercase hex), the
//!    64-hex identifier rule, the implied `docker.io` and `library/`, the
//!    255-byte path limit, lowercased domains and Docker Hub's aliases;
//! 3. `verdicts`: the reason each image is denied (empty: allowed), by the
//!    rules of the namespace's scope, in the webhook's order (unparseable,
//!    existing on UPDATE, break-glass, deny, allow, pin, tag rules).
//!
//! Pin rules are a digest requirement scoped to their patterns: an
//! image in pin scope (the same RE2 alternation as an allow rule) without
//! a digest is denied, as `tags.requireDigest` denies every image without
//! one. A pin regex outside the common RE2 subset is widened (every name
//! that starts with its literal prefix, every name without one, must name
//! a digest), and a pin regex or a pin rule naming an IPv6 host puts every
//! IPv6 registry in pin scope.
//!
//! Exemptions (`exempt:` rules) guard the checks they lift: each deny,
//! pin, `requireDigest` and tag check of a scope is skipped for an image
//! an exemption of that scope (the cluster's joined under `combine: add`)
//! names: an exact image is its normalized name, its tag (`latest` when
//! none is written) and no digest; a pattern is the RE2 of an allow rule.
//! An `image:` with a digest (the parse keeps only whether there is one),
//! on an IPv6 registry, or without a valid registry domain, and a regex
//! outside the common RE2 subset, are left out (narrower) and refused
//! without `lossy`.
//!
//! Every rule becomes an anchored RE2 alternation on the normalized name
//! `domain/path`. Differences, all stricter than the webhook:
//!
//! - a reference whose first component names a host that the grammar does
//!   not accept as a domain (`x_y.evil.com/app`, a Docker Hub path to the
//!   grammar, but containerd contacts `x_y.evil.com`) is denied;
//! - IPv6 registries are compared as written (lowercased); with a deny rule
//!   that names an IPv6 host, or a deny regex, every reference on an IPv6
//!   registry is denied (the webhook compares canonical addresses);
//! - a regex rule in syntax outside the common subset of Rust's `regex` and
//!   RE2 is dropped (allow; a warning) or is an error (deny; `lossy`
//!   narrows it to every name that starts with its literal prefix, every
//!   name without one); an `allowMatching` tag regex outside it allows no
//!   tag.
//!
//! Exempt namespaces are judged in the CEL (an unparseable image is denied
//! there, as the webhook does), not by the binding, whose `namespaceSelector`
//! would skip that check too. Modes map to `validationActions` (`enforce`
//! Deny, `warn` Warn, `audit` Audit); when namespace scopes have another mode
//! than the cluster, there is one policy and binding per mode, each with a
//! match condition on the namespace. The webhook denies an image it cannot
//! parse in every mode, so when a mode is not `enforce` one more policy,
//! `NAME-unparseable`, denies exactly those.
//!
//! A `ValidatingAdmissionPolicy` cannot change a pod, so each rewrite rule
//! is a warning; but the rules are in the CEL: `rewritten` makes, for each
//! image under a rule's `from` (the first that matches, as the policy's
//! rewrite does), the name the rule makes, and the verdicts judge both
//! names (see `rewrite_stage`). So an image under a `from` is admitted only
//! when `/validate` (the name as written, which is what runs without
//! `/mutate`) and `check` (the rewritten name) both admit it; a rewrite
//! that fails (a path over 255 bytes) is denied, as `check` denies it.
//! Admission runs mutating webhooks first, so with `/mutate` deployed the
//! pod carries the rewritten name, which no `from` matches.
//!
//! # Performance
//!
//! The API server limits the runtime cost of each expression (1,000,000)
//! and of one evaluation of a policy (10,000,000). cel-go prices `s.matches(re)`
//! at ceil((1 + len(s)) / 10) × ceil(len(re) / 4); the parse makes five
//! `matches` calls per image and each scope one or two more. For the
//! deployed policy and an image of 55 bytes that is 440 units per image
//! (the rule alternations grow with the number of rules), 44,000 for a Pod
//! with 100 containers; the list operations add a few hundred units per
//! image (and, on UPDATE, one comparison per old image), so such a Pod costs
//! about 100,000, a tenth of one expression's limit. An absurd object (images
//! of megabytes) exceeds the limit and is denied (`failurePolicy: Fail`).
//! The tests evaluate a Pod with 100 containers.

use crate::{ExportOptions, Notes, rule_what};
use image_policy_core::policy::{Combine, ExemptKind, Policy};
use image_policy_core::policy::{Mode, PolicyDocument, Rule, TagRules};
use image_policy_core::policy::{Pattern, Segment};
use image_policy_core::reference::ImageRef;
use serde_json::{Value, json};

/// The domain grammar (`domainAndPort`), anchored.
const DOMAIN_RE: &str = r"^(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?$";
/// One path component.
const COMPONENT: &str = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
/// A supported digest: algorithm, exact length, lowercase hex.
const DIGEST: &str = r"sha256:[0-9a-f]{64}|sha384:[0-9a-f]{96}|sha512:[0-9a-f]{128}";

/// The rules of one scope, as RE2 and lists.
pub(super) struct Scope {
    /// `None`: no allow list. `Some("")`: an allow list none of whose rules
    /// could be expressed (nothing is allowed).
    pub(super) allow: Option<String>,
    /// The deny rules as one RE2 (empty: none).
    pub(super) deny: String,
    /// Pin scope as one RE2 (empty: none): an unpinned name this matches is
    /// denied (`pin-required`).
    pub(super) pin: String,
    /// Pin scope holds every reference on an IPv6 registry.
    pub(super) pin_ipv6: bool,
    /// The tag rules (with `add`, joined with the cluster's).
    pub(super) tags: TagRules,
    /// The tag regexes as one RE2, when every one could be expressed
    /// (`Some("")`: no tag is allowed).
    pub(super) allow_tags: Option<String>,
    /// Deny every reference on an IPv6 registry.
    pub(super) deny_ipv6: bool,
    /// A deny rule, narrowed, denies every image.
    denies_all: bool,
    /// The exemptions of the scope, as CEL conditions on `x` (an entry of
    /// `variables.refs`), by the kind they lift: `[deny, pin, digest,
    /// tags]`, each empty (none) or a disjunction. Filled by
    /// [`exemptions`] for the CEL formats only.
    pub(super) exempt: [String; 4],
}

/// The exemptions of the scope `index` (`None`: the cluster's; a
/// namespace's under `combine: add` has the cluster's too) as CEL
/// conditions, by kind (see [`Scope::exempt`]). An exemption the CEL cannot
/// say exactly (an image with a digest, which `refs` keeps only as a flag;
/// an IPv6 registry, compared as written here; a name without a valid
/// registry domain, denied here anyway; a regex outside RE2) is left out,
/// which is narrower (the rules it lifts apply), and noted as lost.
fn exemptions(
    policy: &Policy,
    index: Option<usize>,
    engine: &str,
    notes: &mut Notes<'_>,
) -> [String; 4] {
    let doc = policy.document();
    let mut lists = vec!["exempt".to_owned()];
    if let Some(i) = index {
        if doc.namespaces[i].combine == Combine::Replace {
            lists.clear();
        }
        lists.push(format!("namespaces[{i}].exempt"));
    }
    // Verify rules are said as pin rules here (their digest requirement),
    // so lifting pin would lift them too: in a scope with verify rules, an
    // exemption from pin is not said (narrower, and said so).
    let scope_verifies = match index {
        None => !doc.verify.is_empty(),
        Some(i) => {
            !doc.namespaces[i].verify.is_empty()
                || (doc.namespaces[i].combine != Combine::Replace && !doc.verify.is_empty())
        }
    };
    let mut out: [Vec<String>; 4] = Default::default();
    for e in policy.exemptions() {
        let path = e.rule.path;
        let list = &path[..path.rfind('[').unwrap_or(path.len())];
        if !lists.iter().any(|l| l == list) {
            continue;
        }
        let condition = match e.image {
            Some(img) => match (&img.tag, &img.digest, &img.pulled) {
                (Some(tag), None, None) if !img.name.starts_with('[') => Ok(format!(
                    "(x[2] == {} && x[4] == '' && (x[3] == '' ? 'latest' : x[3]) == {})",
                    cel_str(&img.name),
                    cel_str(tag)
                )),
                (_, Some(_), _) => Err("an image with a digest".to_owned()),
                (_, _, Some(_)) => {
                    Err("a name without a valid registry domain (denied here)".to_owned())
                }
                _ => Err("an IPv6 registry (compared as written here)".to_owned()),
            },
            None => rule_re2(e.rule.normalized).map(|re| format!("x[2].matches({})", cel_str(&re))),
        };
        match condition {
            Ok(c) => {
                for kind in e.from {
                    let slot = match kind {
                        ExemptKind::Deny => 0,
                        ExemptKind::Pin if scope_verifies => {
                            notes.lose(
                                path,
                                &format!("exempt {} from pin", e.rule.pattern),
                                format!("{engine} says verify rules as pin rules, so lifting pin here would lift them too: its images must still carry a digest"),
                                "the images it exempts from pin rules, when they have no digest",
                            );
                            continue;
                        }
                        ExemptKind::Pin => 1,
                        ExemptKind::Digest => 2,
                        ExemptKind::Tags => 3,
                        // Verify rules are exported as digest requirements
                        // beside the pin rules; lifting them alone is not
                        // said: narrower, and said so.
                        ExemptKind::Verify if policy.has_verify_rules() => {
                            notes.lose(
                                path,
                                &format!("exempt {} from verify", e.rule.pattern),
                                format!("{engine} does not say an exemption from verify rules: its images must still carry a digest"),
                                "the images it exempts from verify rules, when they have no digest",
                            );
                            continue;
                        }
                        _ => continue,
                    };
                    out[slot].push(c.clone());
                }
            }
            Err(why) => notes.lose(
                path,
                &format!("exempt {}", e.rule.pattern),
                format!("{engine} cannot say this exemption exactly ({why}): its images are judged by the rules it lifts"),
                "the images it exempts, by the rules it lifts",
            ),
        }
    }
    out.map(|c| c.join(" || "))
}

/// `cond ? reason :` guarded by the exemption `exempt` (`!(exempt) && cond`).
fn unless(exempt: &str, cond: &str) -> String {
    if exempt.is_empty() {
        cond.to_owned()
    } else {
        format!("!({exempt}) && {cond}")
    }
}

/// What every CEL- or Rego-based export of a policy decides on, computed
/// once (and shared with the Gatekeeper and Kyverno exports): each scope's
/// rules as RE2, and one unit per mode.
pub(super) struct Plan {
    /// The cluster's scope.
    pub(super) cluster: Scope,
    /// Each namespace scope, in the policy's order.
    pub(super) scopes: Vec<Scope>,
    /// One unit per mode (the cluster's first), then, when a mode is not
    /// `enforce`, the unit that only denies unparseable images.
    pub(super) units: Vec<Unit>,
}

/// One policy (and binding, or constraint) of an export: the namespaces it
/// judges and the namespace scopes it applies.
pub(super) struct Unit {
    /// The name of the object.
    pub(super) name: String,
    /// Its mode (`Enforce` for the unparseable unit).
    pub(super) mode: Mode,
    /// `None`: every namespace. `Some((true, names))`: only these;
    /// `Some((false, names))`: every namespace but these.
    pub(super) namespaces: Option<(bool, Vec<String>)>,
    /// The namespace scopes judged in it (indexes of [`Plan::scopes`]).
    pub(super) scopes: Vec<usize>,
    /// Only unparseable images are denied (the webhook denies them in every
    /// mode).
    pub(super) only_unparseable: bool,
}

pub(super) fn plan(policy: &Policy, options: &ExportOptions, notes: &mut Notes<'_>) -> Plan {
    let doc = policy.document();
    let cluster = scope(doc, None, notes);
    let scopes: Vec<Scope> = (0..doc.namespaces.len())
        .map(|i| scope(doc, Some(i), notes))
        .collect();
    if cluster.denies_all && scopes.iter().all(|s| s.denies_all) {
        notes.admits_nothing();
    }
    let mode_of = |i: usize| doc.namespaces[i].mode.unwrap_or(doc.mode);
    let mut modes: Vec<Mode> = vec![doc.mode];
    for i in 0..doc.namespaces.len() {
        if !modes.contains(&mode_of(i)) {
            modes.push(mode_of(i));
        }
    }
    let mut units = Vec::new();
    for &mode in &modes {
        let name = if modes.len() == 1 {
            options.name.clone()
        } else {
            format!("{}-{}", options.name, mode.as_str())
        };
        // The namespaces whose scope has this mode, and the others.
        let names = |want: bool| -> Vec<String> {
            doc.namespaces
                .iter()
                .enumerate()
                .filter(|(i, _)| (mode_of(*i) == mode) == want)
                .flat_map(|(_, ns)| ns.names.iter().cloned())
                .collect()
        };
        let namespaces = if modes.len() == 1 {
            None
        } else if mode == doc.mode {
            Some((false, names(false)))
        } else {
            Some((true, names(true)))
        };
        units.push(Unit {
            name,
            mode,
            namespaces,
            scopes: (0..doc.namespaces.len())
                .filter(|&i| mode_of(i) == mode)
                .collect(),
            only_unparseable: false,
        });
    }
    if modes.iter().any(|&m| m != Mode::Enforce) {
        // The webhook denies an image it cannot parse in every mode (and
        // exempt namespace); Warn and Audit bindings would only report it.
        units.push(Unit {
            name: format!("{}-unparseable", options.name),
            mode: Mode::Enforce,
            namespaces: None,
            scopes: Vec::new(),
            only_unparseable: true,
        });
    }
    Plan {
        cluster,
        scopes,
        units,
    }
}

/// The `ValidatingAdmissionPolicy` of each unit of the plan, with its mode:
/// the VAP export writes each with its binding; the Kyverno export wraps
/// their variables and validations in its rules.
pub(super) fn policies(
    policy: &Policy,
    options: &ExportOptions,
    engine: &str,
    notes: &mut Notes<'_>,
) -> Vec<(Value, Mode)> {
    let doc = policy.document();
    let rewritten = rewrite_stage(policy, engine, notes);
    let mut plan = plan(policy, options, notes);
    plan.cluster.exempt = exemptions(policy, None, engine, notes);
    for (i, s) in plan.scopes.iter_mut().enumerate() {
        s.exempt = exemptions(policy, Some(i), engine, notes);
    }
    plan.units
        .iter()
        .map(|unit| {
            let condition = unit.namespaces.as_ref().map(|(only, names)| {
                if *only {
                    format!("request.namespace in {}", cel_list(names))
                } else {
                    format!("!(request.namespace in {})", cel_list(names))
                }
            });
            let selected: Vec<(Vec<String>, &Scope)> = unit
                .scopes
                .iter()
                .map(|&i| (doc.namespaces[i].names.clone(), &plan.scopes[i]))
                .collect();
            let vap = validating_admission_policy(
                doc,
                &unit.name,
                condition,
                &plan.cluster,
                &selected,
                rewritten.as_deref(),
                unit.only_unparseable,
            );
            (vap, unit.mode)
        })
        .collect()
}

pub(super) fn export(policy: &Policy, options: &ExportOptions, notes: &mut Notes<'_>) -> String {
    let mut docs = Vec::new();
    for (vap, mode) in policies(policy, options, "a ValidatingAdmissionPolicy", notes) {
        let name = vap["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        docs.push(vap);
        docs.push(binding(&name, mode, options));
    }
    let mut out = String::from(
        "# A ValidatingAdmissionPolicy deciding as the image-policy webhook does,\n\
         # exported by image-policy (admissionregistration.k8s.io/v1, Kubernetes 1.30+).\n",
    );
    for (i, d) in docs.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&crate::to_yaml(d));
    }
    out
}

fn scope(doc: &PolicyDocument, index: Option<usize>, notes: &mut Notes<'_>) -> Scope {
    let (prefix, allow, own_deny, own_pin, tags, combine) = match index {
        None => (
            String::new(),
            &doc.allow,
            &doc.deny,
            &doc.pin,
            doc.tags.clone(),
            Combine::Replace,
        ),
        Some(i) => {
            let ns = &doc.namespaces[i];
            (
                format!("namespaces[{i}]."),
                &ns.allow,
                &ns.deny,
                &ns.pin,
                ns.tags.clone(),
                ns.combine,
            )
        }
    };
    // `add` joins the cluster's lists and tag rules (as the compiler does).
    let mut allow_rules: Vec<(String, &Rule)> = Vec::new();
    let mut deny_rules: Vec<(String, &Rule)> = Vec::new();
    let mut pin_rules: Vec<(String, &Rule)> = Vec::new();
    let mut tags = tags;
    if combine == Combine::Add {
        pin_rules.extend(
            doc.pin
                .iter()
                .enumerate()
                .map(|(j, r)| (format!("pin[{j}]"), r)),
        );
        allow_rules.extend(
            doc.allow
                .iter()
                .enumerate()
                .map(|(j, r)| (format!("allow[{j}]"), r)),
        );
        deny_rules.extend(
            doc.deny
                .iter()
                .enumerate()
                .map(|(j, r)| (format!("deny[{j}]"), r)),
        );
        let mut merged = doc.tags.clone();
        for t in &tags.deny {
            if !merged.deny.contains(t) {
                merged.deny.push(t.clone());
            }
        }
        merged.require_digest |= tags.require_digest;
        merged.require_tag_or_digest |= tags.require_tag_or_digest;
        // Both allowMatching lists must hold: the compiler's merge.
        merged
            .allow_matching
            .extend(tags.allow_matching.iter().cloned());
        tags = merged;
    }
    allow_rules.extend(
        allow
            .iter()
            .enumerate()
            .map(|(j, r)| (format!("{prefix}allow[{j}]"), r)),
    );
    deny_rules.extend(
        own_deny
            .iter()
            .enumerate()
            .map(|(j, r)| (format!("{prefix}deny[{j}]"), r)),
    );
    pin_rules.extend(
        own_pin
            .iter()
            .enumerate()
            .map(|(j, r)| (format!("{prefix}pin[{j}]"), r)),
    );
    // Verify scope requires a digest as pin scope does; the signature
    // itself is checked by the webhook only.
    let mut verify_rules: Vec<(String, Rule)> = Vec::new();
    if combine == Combine::Add {
        verify_rules.extend(
            crate::verify_scopes(&doc.verify)
                .into_iter()
                .enumerate()
                .map(|(j, r)| (format!("verify[{j}]"), r)),
        );
    }
    let own_verify = match index {
        None => &doc.verify,
        Some(i) => &doc.namespaces[i].verify,
    };
    verify_rules.extend(
        crate::verify_scopes(own_verify)
            .into_iter()
            .enumerate()
            .map(|(j, r)| (format!("{prefix}verify[{j}]"), r)),
    );
    for (path, rule) in &verify_rules {
        notes.narrow(
            path,
            &rule_what(rule),
            "required to name a digest here; its cosign signature is checked by the image-policy webhook only",
        );
    }
    pin_rules.extend(verify_rules.iter().map(|(p, r)| (p.clone(), r)));

    let mut allow_alts = Vec::new();
    for (path, rule) in &allow_rules {
        match rule_re2(notes.normalized(path)) {
            Ok(re) => allow_alts.push(re),
            Err(why) => notes.narrow(path, &rule_what(rule), format!("dropped: {why}")),
        }
    }
    let mut deny_alts = Vec::new();
    let mut deny_ipv6 = false;
    let mut denies_all = false;
    for (path, rule) in &deny_rules {
        if matches!(rule, Rule::Regex(_)) || rule.pattern().contains('[') {
            deny_ipv6 = true;
        }
        match rule_re2(notes.normalized(path)) {
            Ok(re) => deny_alts.push(re),
            Err(why) => {
                // Narrowed: every name that starts with the regex's
                // literal prefix (every name, without one).
                let prefix = match rule {
                    Rule::Regex(re) => crate::regex_literal_prefix(re),
                    _ => String::new(),
                };
                let instead = if prefix.is_empty() {
                    denies_all = true;
                    "every image".to_owned()
                } else {
                    format!("every image whose name starts with {prefix}")
                };
                deny_alts.push(format!("^{}(?s:.*)$", re_escape(&prefix)));
                notes.lose(path, &rule_what(rule), why, instead);
            }
        }
    }
    // Pin scope is a requirement, like a deny rule: wider is stricter, so
    // what cannot be said exactly is widened (never dropped).
    let mut pin_alts = Vec::new();
    let mut pin_ipv6 = false;
    for (path, rule) in &pin_rules {
        if matches!(rule, Rule::Regex(_)) || rule.pattern().contains('[') {
            pin_ipv6 = true;
        }
        match rule_re2(notes.normalized(path)) {
            Ok(re) => pin_alts.push(re),
            Err(why) => {
                let prefix = match rule {
                    Rule::Regex(re) => crate::regex_literal_prefix(re),
                    _ => String::new(),
                };
                let instead = if prefix.is_empty() {
                    "every image must name a digest".to_owned()
                } else {
                    format!("every image whose name starts with {prefix} must name a digest")
                };
                pin_alts.push(format!("^{}(?s:.*)$", re_escape(&prefix)));
                notes.narrow(path, &rule_what(rule), format!("{why}: {instead}"));
            }
        }
    }
    if pin_ipv6 {
        notes.narrow(
            &format!("{prefix}pin"),
            "",
            "references on an IPv6 registry must name a digest: the CEL cannot compare IPv6 addresses in their canonical form, as the webhook does",
        );
    }
    if deny_ipv6 {
        notes.narrow(
            &format!("{prefix}deny"),
            "",
            "references on an IPv6 registry are denied: the CEL cannot compare IPv6 addresses in their canonical form, as the webhook does",
        );
    }
    let allow_tags = if tags.allow_matching.is_empty() {
        None
    } else {
        let mut alts = Vec::new();
        let mut all = true;
        for re in &tags.allow_matching {
            if re2_compatible(re) {
                alts.push(format!("^(?:{re})$"));
            } else {
                all = false;
            }
        }
        if !all {
            notes.narrow(
                &format!("{prefix}tags.allowMatching"),
                &tags.allow_matching.join(" | "),
                "a regex is outside the syntax RE2 and Rust's regex share, so no tag is allowed",
            );
            Some(String::new())
        } else {
            // With `add`, the lists are joined (as the compiler does): any one matches.
            Some(alts.join("|"))
        }
    };
    Scope {
        allow: (!allow_rules.is_empty()).then(|| allow_alts.join("|")),
        deny: deny_alts.join("|"),
        pin: pin_alts.join("|"),
        pin_ipv6,
        tags,
        allow_tags,
        deny_ipv6,
        denies_all,
        exempt: Default::default(),
    }
}

/// A rule as an RE2 matching the whole normalized name `domain/path`.
fn rule_re2(rule: Option<&Pattern>) -> Result<String, String> {
    let body = match rule.cloned() {
        Some(Pattern::Registry(h)) => format!("{}/.+", re_escape(&h)),
        Some(Pattern::WildcardRegistry(s)) => format!(r"[a-z0-9-]+\.{}/.+", re_escape(&s)),
        Some(Pattern::Repository(segs)) => segs
            .iter()
            .map(|s| {
                Ok(match s {
                    Segment::Literal(l) => re_escape(l),
                    Segment::Any => "[^/]+".to_owned(),
                    Segment::Glob(g) => g
                        .split('*')
                        .map(re_escape)
                        .collect::<Vec<_>>()
                        .join("[^/]*"),
                    Segment::AnyDepth => "[^/]+(?:/[^/]+)*".to_owned(),
                    _ => return Err(UNKNOWN_PATTERN.to_owned()),
                })
            })
            .collect::<Result<Vec<_>, String>>()?
            .join("/"),
        Some(Pattern::Regex(r)) if re2_compatible(&r) => format!("(?:{r})"),
        Some(Pattern::Regex(_)) => {
            return Err(
                "the regex uses syntax outside what RE2 (the API server's CEL) and Rust's regex read alike"
                    .to_owned(),
            );
        }
        None => return Err("the rule does not compile".to_owned()),
        // A pattern newer than this crate: not expressed (fail closed).
        Some(_) => return Err(UNKNOWN_PATTERN.to_owned()),
    };
    Ok(format!("^{body}$"))
}

/// Why a pattern of a kind this crate does not know is not expressed.
const UNKNOWN_PATTERN: &str =
    "this version of image-policy-export does not know this kind of pattern";

/// A conservative test that Rust's `regex` and RE2 read `re` alike on ASCII
/// names: no group syntax beyond `(?:` and the flags `i m s U`, no class set
/// operations or nested classes, escapes only of punctuation and
/// `\d \w \s \D \W \S`.
fn re2_compatible(re: &str) -> bool {
    if !re.is_ascii() || re.contains("&&") || re.contains("--") || re.contains("~~") {
        return false;
    }
    let b = re.as_bytes();
    let mut i = 0;
    let mut in_class = false;
    while i < b.len() {
        match b[i] {
            b'\\' => {
                let Some(&n) = b.get(i + 1) else { return false };
                // `\<` and `\>` are word boundaries to Rust, literals to RE2.
                let literal = n.is_ascii_punctuation() && !matches!(n, b'<' | b'>');
                if !(literal || matches!(n, b'd' | b'w' | b's' | b'D' | b'W' | b'S')) {
                    return false;
                }
                i += 2;
                continue;
            }
            b'[' if in_class => return false,
            b'[' => in_class = true,
            b']' => in_class = false,
            b'(' if !in_class && b.get(i + 1) == Some(&b'?') => {
                // `(?:`, and the flags both read alike (`(?i)`, `(?s-m:`).
                let flags = b[i + 2..]
                    .iter()
                    .take_while(|c| matches!(c, b'i' | b'm' | b's' | b'U' | b'-'))
                    .count();
                if !matches!(b.get(i + 2 + flags), Some(b')' | b':')) {
                    return false;
                }
                i += 2 + flags;
                continue;
            }
            c if c.is_ascii_control() => return false,
            _ => {}
        }
        i += 1;
    }
    !in_class
}

fn re_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for c in s.chars() {
        if c.is_ascii_punctuation() && c != '-' && c != '_' && c != '/' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A CEL string literal.
fn cel_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

fn cel_list(items: &[String]) -> String {
    let parts: Vec<String> = items.iter().map(|s| cel_str(s)).collect();
    format!("[{}]", parts.join(", "))
}

/// The pod spec of `root` (`object` or `oldObject`) at its kind's path, or null.
fn pod_spec(root: &str) -> String {
    let at = |path: &[&str]| -> String {
        let mut conds = vec![format!("{root} != null")];
        let mut p = root.to_owned();
        for f in path {
            conds.push(format!("has({p}.{f})"));
            p = format!("{p}.{f}");
        }
        format!("({} ? {p} : null)", conds.join(" && "))
    };
    format!(
        "{root} == null ? null :\n{root}.kind == 'Pod' ? {} :\n{root}.kind == 'PodTemplate' ? {} :\n{root}.kind == 'CronJob' ? {} :\n{}",
        at(&["spec"]),
        at(&["template", "spec"]),
        at(&["spec", "jobTemplate", "spec", "template", "spec"]),
        at(&["spec", "template", "spec"]),
    )
}

/// The annotations at `root.path.metadata.annotations`, or `{}`.
fn annotations(root: &str, path: &[&str]) -> String {
    let mut conds = vec![format!("{root} != null")];
    let mut p = root.to_owned();
    for f in path.iter().chain(&["metadata", "annotations"]) {
        conds.push(format!("has({p}.{f})"));
        p = format!("{p}.{f}");
    }
    format!("({} ? {p} : {{}})", conds.join(" && "))
}

/// The annotations of the object's pod template (the webhook reads both).
fn template_annotations() -> String {
    format!(
        "(object.kind == 'Pod' ? {{}} : object.kind == 'PodTemplate' ? {} : object.kind == 'CronJob' ? {} : {})",
        annotations("object", &["template"]),
        annotations("object", &["spec", "jobTemplate", "spec", "template"]),
        annotations("object", &["spec", "template"]),
    )
}

/// Every image of the pod spec in variable `spec`: the three container
/// lists and the image volumes.
fn images(spec: &str) -> String {
    let list = |field: &str| {
        format!(
            "(has({spec}.{field}) && {spec}.{field} != null ? {spec}.{field}.map(c, has(c.image) ? c.image : '') : [])"
        )
    };
    format!(
        "{spec} == null ? [] :\n{} +\n{} +\n{} +\n(has({spec}.volumes) && {spec}.volumes != null ? {spec}.volumes.filter(v, has(v.image)).map(v, has(v.image.reference) ? v.image.reference : '') : [])",
        list("containers"),
        list("initContainers"),
        list("ephemeralContainers"),
    )
}

/// The reason the image in `x` (an entry of `variables.refs`) is denied by
/// a scope's rules, or `''`.
fn scope_reason(s: &Scope) -> String {
    let mut parts = Vec::new();
    if s.deny_ipv6 {
        parts.push(
            "x[2].startsWith('[') ? 'is on an IPv6 registry, which this policy denies' :"
                .to_owned(),
        );
    }
    let [ex_deny, ex_pin, ex_digest, ex_tags] = &s.exempt;
    if !s.deny.is_empty() {
        parts.push(format!(
            "{} ? 'is denied by the policy (' + x[2] + ')' :",
            unless(ex_deny, &format!("x[2].matches({})", cel_str(&s.deny)))
        ));
    }
    match &s.allow {
        None => {}
        Some(a) if a.is_empty() => parts
            .push("true ? 'is from ' + x[2] + ', which the policy does not allow' :".to_owned()),
        Some(a) => parts.push(format!(
            "!x[2].matches({}) ? 'is from ' + x[2] + ', which the policy does not allow' :",
            cel_str(a)
        )),
    }
    // Pin scope, after allow and deny and before the tag rules (the
    // policy's order).
    if s.pin_ipv6 {
        parts.push(
            "x[4] == '' && x[2].startsWith('[') ? 'must name a digest (@sha256:...): it is on an IPv6 registry, which this policy pins' :"
                .to_owned(),
        );
    }
    if !s.pin.is_empty() {
        parts.push(format!(
            "{} ? 'must name a digest (@sha256:...): ' + x[2] + ' is in pin scope' :",
            unless(
                ex_pin,
                &format!("x[4] == '' && x[2].matches({})", cel_str(&s.pin))
            )
        ));
    }
    let t = &s.tags;
    let has_tag_rules =
        !t.deny.is_empty() || t.require_tag_or_digest || t.require_digest || s.allow_tags.is_some();
    if has_tag_rules {
        parts.push("x[4] != '' ? '' :".to_owned());
        if t.require_digest {
            parts.push(format!(
                "{} ? 'must name a digest (@sha256:...)' :",
                unless(ex_digest, "true")
            ));
        }
        if t.require_tag_or_digest {
            parts.push(format!(
                "{} ? 'must name a tag or a digest' :",
                unless(ex_tags, "x[3] == ''")
            ));
        }
        if !t.deny.is_empty() {
            parts.push(format!(
                "{} ? 'has the denied tag ' + (x[3] == '' ? 'latest (implied)' : x[3]) :",
                unless(
                    ex_tags,
                    &format!("(x[3] == '' ? 'latest' : x[3]) in {}", cel_list(&t.deny))
                )
            ));
        }
        match &s.allow_tags {
            None => {}
            Some(re) if re.is_empty() => parts.push(format!(
                "{} ? 'has a tag that the policy does not allow' :",
                unless(ex_tags, "true")
            )),
            Some(re) => parts.push(format!(
                "{} ? 'has a tag that the policy does not allow' :",
                unless(
                    ex_tags,
                    &format!("!(x[3] == '' ? 'latest' : x[3]).matches({})", cel_str(re))
                )
            )),
        }
    }
    parts.push("''".to_owned());
    parts.join("\n")
}

/// The `rewritten` variable, for a policy with rewrite rules: one entry
/// for each parsed image under a rule's `from` (the first that matches, as
/// the policy's rewrite takes), `[image, 'ok', name, tag, digest, first]`
/// for the name the rule makes, judged by the same rules as the names as
/// written; or `[image, 'r', reason]` where the policy's rewrite fails (a
/// path over 255 bytes, no repository left) or the CEL cannot make the
/// name the policy judges (a `to` whose name is not already normalized, an
/// IPv6 `from`, which the policy compares in canonical form): those are
/// denied, as unparseable images are.
///
/// So the VAP admits an image under a `from` only when both its name as
/// written (as `/validate` judges it, and as it runs without `/mutate`) and
/// its rewritten name (as `check` judges it) are allowed: never more than
/// either. With `/mutate` deployed pods carry the rewritten name, which no
/// `from` matches (`rewrite-loop`), so that is what is judged.
fn rewrite_stage(policy: &Policy, engine: &str, notes: &mut Notes<'_>) -> Option<String> {
    let rewrites = rewrites(policy, engine, notes);
    if rewrites.is_empty() {
        return None;
    }
    let mut arms = Vec::new();
    let mut any = Vec::new();
    for rewrite in &rewrites {
        match rewrite {
            Rewrite::Ipv6 { reason } => {
                arms.push(format!(
                    "x[2].startsWith('[') ? [x[0], 'r', {}] :",
                    cel_str(reason)
                ));
                any.push(r"\[".to_owned());
            }
            Rewrite::Prefix {
                from,
                from_re,
                made,
            } => {
                let entry = match made {
                    Ok(m) => {
                        let no_repo = match &m.no_repo {
                            None => String::new(),
                            Some(reason) => format!(
                                "x[2] == {} ? [x[0], 'r', {}] : ",
                                cel_str(from),
                                cel_str(reason)
                            ),
                        };
                        format!(
                            "{no_repo}size(x[2]) > {} ? [x[0], 'r', {}] :\n[x[0], 'ok', {} + x[2].substring({}), x[3], x[4], x[5]]",
                            m.max,
                            cel_str(&m.too_long),
                            cel_str(&m.to),
                            from.len()
                        )
                    }
                    Err(reason) => format!("[x[0], 'r', {}]", cel_str(reason)),
                };
                arms.push(format!(
                    "x[2].matches({}) ? ({entry}) :",
                    cel_str(&format!("^{from_re}"))
                ));
                any.push(from_re.clone());
            }
        }
    }
    Some(format!(
        "variables.refs.filter(x, x[1] == 'ok' && x[2].matches({})).map(x,\n{}\n[x[0], 'x'])",
        cel_str(&format!("^(?:{})", any.join("|"))),
        arms.join("\n")
    ))
}

/// One rewrite rule, as the exports that judge both names apply it to a
/// parsed image's normalized name (see `rewrite_stage`): the first rule
/// that matches a name is the one applied.
pub(super) enum Rewrite {
    /// A rule whose `from` is on an IPv6 registry: every image on an IPv6
    /// registry is denied with this reason (the policy compares those in
    /// canonical form).
    Ipv6 {
        /// Why it is denied.
        reason: String,
    },
    /// A rule for the names under `from`.
    Prefix {
        /// The `from` prefix (a normalized name prefix).
        from: String,
        /// An RE2 matching a name under `from`, to anchor at the start.
        from_re: String,
        /// The name the rule makes, or why every such name is denied.
        made: Result<Made, String>,
    },
}

/// The name a rewrite rule makes: `to` + the name after `from`.
pub(super) struct Made {
    /// The rule's `to`, already normalized.
    pub(super) to: String,
    /// The longest name under `from` whose rewritten path fits in 255 bytes.
    pub(super) max: i64,
    /// When `to` names no repository: the reason the bare `from` is denied.
    pub(super) no_repo: Option<String>,
    /// The reason a longer name is denied.
    pub(super) too_long: String,
}

/// The policy's rewrite rules, each with a warning that `engine` (such as
/// "a ValidatingAdmissionPolicy") cannot change a pod and judges both names.
pub(super) fn rewrites(policy: &Policy, engine: &str, notes: &mut Notes<'_>) -> Vec<Rewrite> {
    let mut out = Vec::new();
    for (i, rule) in policy.rewrite_rules().iter().enumerate() {
        let path = format!("rewrite[{i}]");
        let from = rule.source_prefix();
        let to: &str = rule.to();
        let to_domain = to.split('/').next().unwrap_or_default();
        notes.narrow(
            &path,
            &format!("rewrite {from}={to}"),
            format!("{engine} cannot change a pod: an image under {from} is admitted only when both its name as written (as /validate judges it) and its name under {to} (as check judges it) are allowed (deploy /mutate, deploy/components/rewrite, so that pods carry the rewritten name)"),
        );
        if rule.from_domain().starts_with('[') {
            out.push(Rewrite::Ipv6 {
                reason: format!("is on an IPv6 registry, and {path} rewrites images of one, which the export cannot compare in canonical form as the policy does"),
            });
            continue;
        }
        let from_re = format!("{}(?:/|$)", re_escape(&from));
        // The name the rule makes is `to` + the rest: the policy's name
        // only when `to` is already normalized (no Docker Hub, whose
        // `library/` and aliases the export would have to apply again).
        let probe = format!("{to}/x");
        let normalized = ImageRef::parse(&probe).is_ok_and(|r| r.name().to_string() == probe)
            && !to_domain.eq_ignore_ascii_case("docker.io");
        let made = if normalized {
            // The rewritten path: size(to) - size(to_domain) - 1 + the rest.
            Ok(Made {
                to: to.to_owned(),
                max: (256 + from.len() + to_domain.len()) as i64 - to.len() as i64,
                no_repo: (!to.contains('/'))
                    .then(|| format!("is rewritten by {path} to {to}, which names no repository")),
                too_long: format!(
                    "is rewritten by {path} to a repository path longer than 255 bytes"
                ),
            })
        } else {
            Err(format!(
                "is rewritten by {path} to {to}, whose names the export cannot normalize as the policy does"
            ))
        };
        out.push(Rewrite::Prefix {
            from,
            from_re,
            made,
        });
    }
    out
}

fn validating_admission_policy(
    doc: &PolicyDocument,
    name: &str,
    condition: Option<String>,
    cluster: &Scope,
    namespaces: &[(Vec<String>, &Scope)],
    rewritten: Option<&str>,
    only_unparseable: bool,
) -> Value {
    let old_images = if doc.exempt_existing_images_on_update {
        "request.operation == 'UPDATE' ? variables.oldImages : []".to_owned()
    } else {
        "[]".to_owned()
    };
    let mut variables = vec![
        json!({"name": "podSpec", "expression": pod_spec("object")}),
        json!({"name": "oldPodSpec", "expression": pod_spec("oldObject")}),
        json!({"name": "images", "expression": images("variables.podSpec")}),
        json!({"name": "oldImages", "expression": images("variables.oldPodSpec")}),
        json!({"name": "existing", "expression": old_images}),
        json!({"name": "r1", "expression":
            "variables.images.map(i, [i, i.indexOf('/') < 0 ? '' : i.substring(0, i.indexOf('/'))])"}),
        json!({"name": "r2", "expression": format!(
            "variables.r1.map(x, [x[0], x[1] == '' || !(x[1].matches('[.:A-Z]') || x[1] == 'localhost') ? 'i' :\nx[1].matches({}) ? 'w' : x[1].matches({}) ? 'a' : 'x', x[1]])",
            cel_str(DOMAIN_RE), cel_str(&format!("^{COMPONENT}$")))}),
        // [image, kind, first, rest]
        json!({"name": "r3", "expression": format!(
            "variables.r2.map(x, x[1] != 'x' && !x[0].matches('^[0-9a-f]{{64}}$') &&\n(x[1] == 'w' ? x[0].substring(size(x[2]) + 1) : x[0]).matches({}) ?\n[x[0], x[1], x[2], x[1] == 'w' ? x[0].substring(size(x[2]) + 1) : x[0]] : [x[0], 'x'])",
            cel_str(&format!("^{COMPONENT}(?:/{COMPONENT})*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})?(?:@(?:{DIGEST}))?$")))}),
        // [image, kind, first, path, tag, digest]
        json!({"name": "r4", "expression":
            "variables.r3.map(x, x[1] == 'x' ? x : [x[0], x[1], x[2], x[3].split('@')[0].split(':')[0],\nsize(x[3].split('@')[0].split(':')) > 1 ? x[3].split('@')[0].split(':')[1] : '', x[3].contains('@') ? 'd' : ''])"}),
        // [image, kind, first, path, tag, digest, library]
        json!({"name": "r5", "expression":
            "variables.r4.map(x, x[1] == 'x' ? x : x + [!x[3].contains('/') && (x[1] == 'i' || x[2] == 'docker.io' || x[2] == 'index.docker.io') ? 'library/' : ''])"}),
        // [image, status (x: invalid, a: no domain, ok), name, tag, digest, first]
        json!({"name": "refs", "expression":
            "variables.r5.map(x, x[1] == 'x' || size(x[3]) + size(x[6]) > 255 ? [x[0], 'x'] :\n[x[0], x[1] == 'a' ? 'a' : 'ok',\n(x[1] == 'i' ? 'docker.io' : x[1] == 'a' ? '' : x[2].lowerAscii() in ['index.docker.io', 'registry-1.docker.io'] ? 'docker.io' : x[2].lowerAscii()) + '/' + x[6] + x[3],\nx[4], x[5], x[2]])"}),
    ];
    let mut reason = String::from(
        "x[0] in variables.existing ? '' :\nx[1] == 'x' ? 'is not a valid image reference' :\n",
    );
    let judged = match rewritten {
        Some(stage) => {
            variables.push(json!({"name": "rewritten", "expression": stage}));
            reason.push_str("x[1] == 'r' ? x[2] :\n");
            "(variables.refs + variables.rewritten)"
        }
        None => "variables.refs",
    };
    let exempt = &doc.exempt_namespaces;
    if only_unparseable {
        reason.push_str("''");
    } else {
        judge_rules(
            doc,
            exempt,
            &mut variables,
            &mut reason,
            cluster,
            namespaces,
        );
    }
    variables.push(json!({"name": "verdicts", "expression":
        format!("{judged}.map(x, [x[0],\n{reason}])")}));
    policy_document(name, condition, variables)
}

/// The rest of the reason: exemptions, break-glass, the scopes' rules.
fn judge_rules(
    doc: &PolicyDocument,
    exempt: &[String],
    variables: &mut Vec<Value>,
    reason: &mut String,
    cluster: &Scope,
    namespaces: &[(Vec<String>, &Scope)],
) {
    let bg = &doc.break_glass;
    if !exempt.is_empty() {
        reason.push_str(&format!(
            "request.namespace in {} ? '' :\n",
            cel_list(exempt)
        ));
    }
    if bg.enabled {
        let key_test = if bg.annotations.is_empty() {
            format!(
                "k.matches({})",
                cel_str(r"^[^/]+\.image-policy\.k8s\.io/.+$")
            )
        } else {
            format!("k in {}", cel_list(&bg.annotations))
        };
        variables.push(json!({"name": "breakGlass", "expression": format!(
            "[{}, {}].exists(m, m.exists(k, m[k] == {} && {key_test}))",
            annotations("object", &[]),
            template_annotations(),
            cel_str(&bg.value))}));
        reason.push_str("variables.breakGlass ? '' :\n");
    }
    reason.push_str("x[1] == 'a' ? 'names no registry to the grammar, but the runtime would pull it from ' + x[5] :\n");
    for (names, s) in namespaces {
        reason.push_str(&format!(
            "request.namespace in {} ? (\n{}) :\n",
            cel_list(names),
            scope_reason(s)
        ));
    }
    reason.push_str(&format!("(\n{})", scope_reason(cluster)));
}

fn policy_document(name: &str, condition: Option<String>, variables: Vec<Value>) -> Value {
    let mut spec = json!({
        "failurePolicy": "Fail",
        "matchConstraints": {
            "resourceRules": [
                {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
                 "resources": ["pods", "pods/ephemeralcontainers", "podtemplates", "replicationcontrollers"]},
                {"apiGroups": ["apps"], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
                 "resources": ["deployments", "replicasets", "statefulsets", "daemonsets"]},
                {"apiGroups": ["batch"], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
                 "resources": ["jobs", "cronjobs"]},
            ]
        },
        "variables": variables,
        "validations": [{
            "expression": "variables.verdicts.all(v, v[1] == '')",
            "messageExpression": "'images denied by image policy: ' + variables.verdicts.filter(v, v[1] != '').map(v, 'image \"' + v[0] + '\" ' + v[1]).join('; ')",
            "message": "an image is denied by the image policy",
            "reason": "Forbidden",
        }],
    });
    if let Some(c) = condition {
        spec["matchConditions"] = json!([{"name": "mode-scope", "expression": c}]);
    }
    json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": spec,
    })
}

fn binding(name: &str, mode: Mode, options: &ExportOptions) -> Value {
    let action = match mode {
        Mode::Enforce => "Deny",
        Mode::Warn => "Warn",
        Mode::Audit => "Audit",
    };
    let mut spec = json!({"policyName": name, "validationActions": [action]});
    if !options.only_namespaces.is_empty() {
        spec["matchResources"] = json!({"namespaceSelector": {"matchExpressions": [{
            "key": "kubernetes.io/metadata.name",
            "operator": "In",
            "values": options.only_namespaces,
        }]}});
    }
    json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name},
        "spec": spec,
    })
}

#[cfg(test)]
mod tests {
    use super::re2_compatible;

    #[test]
    fn the_regex_subset_both_engines_read_alike() {
        for (re, ok) in [
            (r"ghcr\.io/my-org/[a-z-]+", true),
            (r"(?i)registry\.my\.com/.+", true),
            (r"(?:a|b)/(?s-m:x.)", true),
            (r"\d+\w*", true),
            (r"(?x) a b", false),
            (r"(?P<name>a)", false),
            (r"[a-z&&[^x]]", false),
            (r"[[:alpha:]]", false),
            (r"\pL", false),
            (r"\<word\>", false),
            (r"a\b", false),
            (r"[a", false),
        ] {
            assert_eq!(re2_compatible(re), ok, "{re}");
        }
    }
}
