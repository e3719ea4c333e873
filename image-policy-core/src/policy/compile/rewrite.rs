//! Rewrite compilation: each `rewrite:` rule checked and normalized, then
//! probed against the other rules and the rule sets (the checks listed in
//! [the rewrite module](crate::policy::rewrite)).

use super::{Compiler, is_path_component};
use crate::policy::diagnostic::DiagnosticCode;
use crate::policy::domain::normalize_domain;
use crate::policy::model::RewriteRule;
use crate::policy::rewrite::RewritePattern;
use crate::policy::{DecisionCode, RuleKind, RuleSet};
use crate::reference::{DEFAULT_DOMAIN, ImageRef, grammar};

impl Compiler<'_> {
    /// Checks and compiles the rewrite rules (see the rewrite module), then
    /// probes the rule sets (`[0]` the cluster's) with them.
    pub(super) fn rewrites(
        &mut self,
        rules: &[RewriteRule],
        rule_sets: &[RuleSet],
    ) -> Vec<RewritePattern> {
        let cluster = &rule_sets[0];
        let mut out: Vec<(RewritePattern, String)> = Vec::new();
        for (i, rule) in rules.iter().enumerate() {
            let path = format!("rewrite[{i}]");
            let pattern = format!("{}={}", rule.from, rule.to);
            let id = self.declare(i, RuleKind::Rewrite, path.clone(), &pattern);
            let from = self.rewrite_prefix(&rule.from, &format!("{path}.from"), "from");
            let to = self.rewrite_prefix(&rule.to, &format!("{path}.to"), "to");
            let (Some((from_domain, from_path)), Some((to_domain, to_path))) = (from, to) else {
                continue;
            };
            if from_domain == DEFAULT_DOMAIN && from_path.len() == 1 && from_path[0] != "library" {
                self.warning(
                    DiagnosticCode::DockerHubLibrary,
                    format!("from {:?} matches docker.io/{}/..., not the official image docker.io/library/{} (write docker.io/library/{} for it)", rule.from, from_path[0], from_path[0], from_path[0]),
                    &format!("{path}.from"),
                );
            }
            let to_written = match rule.to.split_once('/') {
                Some((domain, p)) => format!("{}/{p}", domain.to_ascii_lowercase()),
                None => rule.to.to_ascii_lowercase(),
            };
            out.push((
                RewritePattern {
                    id,
                    from_domain: from_domain.into(),
                    from_path: from_path.into_iter().map(Into::into).collect(),
                    to: to_written.into(),
                    to_has_path: !to_path.is_empty(),
                },
                format!("{to_domain}/{}", to_path.join("/")),
            ));
        }
        // A `to` that a `from` could match again: rewriting twice (a
        // reinvoked webhook) would not be harmless.
        for (i, (rule, _)) in out.iter().enumerate() {
            let (to_domain, to_path) = split_prefix(&out[i].1);
            for (other, _) in &out {
                let overlaps = *other.from_domain == *to_domain
                    && other
                        .from_path
                        .iter()
                        .zip(&to_path)
                        .all(|(a, b)| **a == **b);
                if overlaps {
                    let path = self.rules[rule.id.0 as usize].path.to_string();
                    let other_path = self.rules[other.id.0 as usize].path.to_string();
                    self.error(
                        DiagnosticCode::RewriteLoop,
                        format!("the images {path} makes are under the from of {other_path}, so rewriting would not be idempotent (a reinvoked webhook would rewrite them again)"),
                        &format!("{path}.to"),
                    );
                    break;
                }
            }
        }
        for (j, (rule, _)) in out.iter().enumerate() {
            if let Some((earlier, _)) = out[..j].iter().find(|(e, _)| e.covers(rule)) {
                let path = self.rules[rule.id.0 as usize].path.to_string();
                let first = self.rules[earlier.id.0 as usize].path.to_string();
                self.warning(
                    DiagnosticCode::NeverMatches,
                    format!("{path} never applies: {first} matches every image it would, and the first match wins"),
                    &format!("{path}.from"),
                );
            }
        }
        // Two rules whose targets meet (one `to` is the other's, or under it)
        // for different sources: two images run under one name.
        for (j, (rule, to_j)) in out.iter().enumerate() {
            for (earlier, to_i) in &out[..j] {
                if earlier.covers(rule) {
                    continue;
                }
                let Some((a, b, name)) = collision(earlier, to_i, rule, to_j) else {
                    continue;
                };
                let path = self.rules[rule.id.0 as usize].path.to_string();
                let first = self.rules[earlier.id.0 as usize].path.to_string();
                self.warning(
                    DiagnosticCode::RewriteCollision,
                    format!("{path} sends {b} to {name}, where {first} sends {a}: two different images would run under one name; give each source its own `to`"),
                    &format!("{path}.to"),
                );
                break;
            }
        }
        let zero_digest = format!("@sha256:{}", "0".repeat(64));
        for (rule, _) in &out {
            let path = self.rules[rule.id.0 as usize].path.to_string();
            let target = format!("{}/x{zero_digest}", rule.to);
            if let Ok(r) = ImageRef::parse(&target) {
                match cluster.judge(r, &mut 0u8) {
                    (DecisionCode::DeniedByRule, Some(by)) => {
                        let by = self.rules[by.0 as usize].path.to_string();
                        self.error(
                            DiagnosticCode::RewriteTargetDenied,
                            format!("images rewritten to {} are denied by {by}", rule.to),
                            &format!("{path}.to"),
                        );
                    }
                    (DecisionCode::RegistryNotAllowed, _) if cluster.allow_only_registries => {
                        self.error(
                            DiagnosticCode::RewriteTargetDenied,
                            format!("images rewritten to {} are not in the allowed registries ({})", rule.to, cluster.allow_summary),
                            &format!("{path}.to"),
                        );
                    }
                    (DecisionCode::RegistryNotAllowed, _) => self.warning(
                        DiagnosticCode::RewriteTargetDenied,
                        format!("{}/x is not allowed by the allow rules ({}): images rewritten to {} may be denied", rule.to, cluster.allow_summary, rule.to),
                        &format!("{path}.to"),
                    ),
                    _ => {}
                }
            }
            let from = rule.source_prefix();
            let probe = format!("{from}/x{zero_digest}");
            if let Ok(r) = ImageRef::parse(&probe)
                && rule_sets
                    .iter()
                    .all(|set| set.judge(r, &mut 0u8).0 == DecisionCode::Allowed)
            {
                self.warning(
                    DiagnosticCode::RewriteNotNeeded,
                    format!("the policy allows images under {from} (as {from}/x) in every namespace: this rule changes where they are pulled from, but no decision"),
                    &format!("{path}.from"),
                );
            }
        }
        out.into_iter().map(|(rule, _)| rule).collect()
    }

    /// A rewrite's `from` or `to`: a registry (required), then path
    /// components. Returns the normalized domain and the path segments.
    fn rewrite_prefix(
        &mut self,
        s: &str,
        path: &str,
        which: &str,
    ) -> Option<(String, Vec<String>)> {
        if let Some(message) =
            crate::policy::diagnostic::scheme_hint(s, &format!("rewrite {which}"))
        {
            self.error(DiagnosticCode::BadRewrite, message, path);
            return None;
        }
        let (first, rest) = match s.split_once('/') {
            Some((first, rest)) => (first, Some(rest)),
            None => (s, None),
        };
        let looks_like_registry = crate::policy::rewrite::looks_like_registry(first);
        if !looks_like_registry || !grammar::is_domain(first) {
            let hint = if looks_like_registry || !is_path_component(first) {
                "does not start with a valid registry host[:port]".to_owned()
            } else {
                format!(
                    "does not start with a registry ({first:?} is not a host: write it as in a fully qualified reference, such as docker.io/library/{first})"
                )
            };
            self.error(
                DiagnosticCode::BadRewrite,
                format!("rewrite {which} {s:?} {hint}"),
                path,
            );
            return None;
        }
        let segments: Vec<&str> = match rest {
            Some(rest) => rest.split('/').collect(),
            None => Vec::new(),
        };
        if let Some(bad) = segments.iter().find(|p| !is_path_component(p)) {
            self.error(
                DiagnosticCode::BadRewrite,
                format!("rewrite {which} {s:?}: {bad:?} is not a valid path component (lowercase letters, digits, and '.', '_', '-' between them)"),
                path,
            );
            return None;
        }
        // With a repository below it, it must parse as a reference on that registry.
        let probe = format!("{s}/x");
        match ImageRef::parse(&probe) {
            Ok(r) if r.is_domain_written() && !r.is_pull_host_from_path() => {}
            Ok(_) => {
                self.error(
                    DiagnosticCode::BadRewrite,
                    format!(
                        "rewrite {which} {s:?}: {probe:?} would not name a repository on {first}"
                    ),
                    path,
                );
                return None;
            }
            Err(e) => {
                self.error(
                    DiagnosticCode::BadRewrite,
                    format!(
                        "rewrite {which} {s:?}: {probe:?} is not a valid reference: {}",
                        e.kind().description()
                    ),
                    path,
                );
                return None;
            }
        }
        Some((
            normalize_domain(first),
            segments.into_iter().map(str::to_owned).collect(),
        ))
    }
}

/// Where two rewrite rules (`a` before `b`, with their normalized `to`s)
/// send different sources to one name: the source of `a`, the source of
/// `b`, and the name, each as a prefix (`docker.io/prometheus/x`); `None`
/// when their targets do not meet or meet only for the same sources.
fn collision(
    a: &RewritePattern,
    to_a: &str,
    b: &RewritePattern,
    to_b: &str,
) -> Option<(String, String, String)> {
    let (domain_a, path_a) = split_prefix(to_a);
    let (domain_b, path_b) = split_prefix(to_b);
    if domain_a != domain_b {
        return None;
    }
    let under = |short: &[String], long: &[String]| {
        (short.len() <= long.len() && short.iter().zip(long).all(|(x, y)| x == y))
            .then(|| long[short.len()..].join("/"))
    };
    let with = |prefix: String, rest: &str| {
        if rest.is_empty() {
            prefix
        } else {
            format!("{prefix}/{rest}")
        }
    };
    // The sources both rules send to the longer of the two targets.
    let (source_a, source_b, name) = if let Some(rest) = under(&path_a, &path_b) {
        (with(a.source_prefix(), &rest), b.source_prefix(), to_b)
    } else {
        let rest = under(&path_b, &path_a)?;
        (a.source_prefix(), with(b.source_prefix(), &rest), to_a)
    };
    (source_a != source_b).then(|| (source_a, source_b, name.trim_end_matches('/').to_owned()))
}

/// `domain/p/a/t/h` split into the domain and its segments.
fn split_prefix(s: &str) -> (String, Vec<String>) {
    let mut parts = s.split('/').filter(|p| !p.is_empty());
    let domain = parts.next().unwrap_or_default().to_owned();
    (domain, parts.map(str::to_owned).collect())
}
