//! The policy being imported, each rule with its [`Origin`], and its YAML:
//! block style, every string double-quoted with JSON escapes (YAML reads
//! them the same way), a comment above each rule naming where it came from.

use crate::{ImportFormat, Origin};
use std::fmt::Write;

/// A rule of our policy (`registry`, `repository` or `regex`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Rule {
    pub kind: &'static str,
    pub pattern: String,
    pub origin: Origin,
}

impl Rule {
    pub fn new(kind: &'static str, pattern: impl Into<String>, origin: &Origin) -> Self {
        Self {
            kind,
            pattern: pattern.into(),
            origin: origin.clone(),
        }
    }
}

/// An `exempt:` rule (the schema of branch `exempt`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Exemption {
    /// `image` (exact) or `repository` (glob).
    pub key: &'static str,
    pub pattern: String,
    /// `tags`, `digest`, ...
    pub from: Vec<&'static str>,
    pub reason: String,
    pub origin: Origin,
}

/// One scope's rules: the cluster's, or some namespaces'.
#[derive(Clone, Debug, Default)]
pub(crate) struct Rules {
    pub mode: Option<(&'static str, Origin)>,
    pub allow: Vec<Rule>,
    pub deny: Vec<Rule>,
    pub deny_tags: Vec<(String, Origin)>,
    pub require_tag_or_digest: Option<Origin>,
    pub require_digest: Option<Origin>,
    pub exempt: Vec<Exemption>,
}

impl Rules {
    fn has_tags(&self) -> bool {
        !self.deny_tags.is_empty()
            || self.require_tag_or_digest.is_some()
            || self.require_digest.is_some()
    }
}

/// Namespaces whose rules replace the cluster's.
#[derive(Clone, Debug)]
pub(crate) struct NamespaceRules {
    pub names: Vec<String>,
    pub rules: Rules,
}

/// The whole policy.
#[derive(Clone, Debug, Default)]
pub(crate) struct Draft {
    pub cluster: Rules,
    pub exempt_namespaces: Vec<(String, Origin)>,
    pub namespaces: Vec<NamespaceRules>,
    /// Rewrite rules: from, to.
    pub rewrite: Vec<(String, String, Origin)>,
}

/// A YAML double-quoted scalar.
pub(crate) fn quoted(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

/// A comment line: the origin, without line breaks (a file name could hold one).
fn comment(out: &mut String, indent: usize, text: &str) {
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let _ = writeln!(out, "{:indent$}# {clean}", "");
}

impl Draft {
    pub fn has_exemptions(&self) -> bool {
        !self.cluster.exempt.is_empty()
            || self.namespaces.iter().any(|n| !n.rules.exempt.is_empty())
    }

    pub fn to_yaml(&self, format: ImportFormat, files: &[&str]) -> String {
        let mut out = String::new();
        comment(
            &mut out,
            0,
            &format!(
                "Imported by `image-policy policy import --from {format}` from {}.",
                files.join(", ")
            ),
        );
        comment(
            &mut out,
            0,
            "Each rule names where it came from; the report on standard error says where the meanings differ.",
        );
        let mode = self.cluster.mode.as_ref().map_or("enforce", |(m, _)| m);
        if let Some((_, origin)) = &self.cluster.mode {
            comment(&mut out, 0, &format!("from {origin}"));
        }
        let _ = writeln!(out, "mode: {mode}");
        rules(&mut out, 0, &self.cluster);
        if !self.exempt_namespaces.is_empty() {
            out.push_str("exemptNamespaces:\n");
            for (name, origin) in &self.exempt_namespaces {
                comment(&mut out, 2, &format!("from {origin}"));
                let _ = writeln!(out, "  - {}", quoted(name));
            }
        }
        if !self.rewrite.is_empty() {
            out.push_str("rewrite:\n");
            for (from, to, origin) in &self.rewrite {
                comment(&mut out, 2, &format!("from {origin}"));
                let _ = writeln!(out, "  - from: {}", quoted(from));
                let _ = writeln!(out, "    to: {}", quoted(to));
            }
        }
        if !self.namespaces.is_empty() {
            out.push_str("namespaces:\n");
            for ns in &self.namespaces {
                let names: Vec<String> = ns.names.iter().map(|n| quoted(n)).collect();
                let _ = writeln!(out, "  - names: [{}]", names.join(", "));
                out.push_str("    combine: replace\n");
                if let Some((mode, origin)) = &ns.rules.mode {
                    comment(&mut out, 4, &format!("from {origin}"));
                    let _ = writeln!(out, "    mode: {mode}");
                }
                rules(&mut out, 4, &ns.rules);
            }
        }
        out
    }
}

fn rule_list(out: &mut String, indent: usize, key: &str, list: &[Rule]) {
    if list.is_empty() {
        return;
    }
    let _ = writeln!(out, "{:indent$}{key}:", "");
    for r in list {
        comment(out, indent + 2, &format!("from {}", r.origin));
        let _ = writeln!(out, "{:indent$}  - {}: {}", "", r.kind, quoted(&r.pattern));
    }
}

fn rules(out: &mut String, indent: usize, r: &Rules) {
    rule_list(out, indent, "allow", &r.allow);
    rule_list(out, indent, "deny", &r.deny);
    if r.has_tags() {
        let _ = writeln!(out, "{:indent$}tags:", "");
        if !r.deny_tags.is_empty() {
            let _ = writeln!(out, "{:indent$}  deny:", "");
            for (tag, origin) in &r.deny_tags {
                comment(out, indent + 4, &format!("from {origin}"));
                let _ = writeln!(out, "{:indent$}    - {}", "", quoted(tag));
            }
        }
        if let Some(origin) = &r.require_tag_or_digest {
            comment(out, indent + 2, &format!("from {origin}"));
            let _ = writeln!(out, "{:indent$}  requireTagOrDigest: true", "");
        }
        if let Some(origin) = &r.require_digest {
            comment(out, indent + 2, &format!("from {origin}"));
            let _ = writeln!(out, "{:indent$}  requireDigest: true", "");
        }
    }
    if !r.exempt.is_empty() {
        let _ = writeln!(out, "{:indent$}exempt:", "");
        for e in &r.exempt {
            comment(out, indent + 2, &format!("from {}", e.origin));
            let _ = writeln!(out, "{:indent$}  - {}: {}", "", e.key, quoted(&e.pattern));
            let _ = writeln!(out, "{:indent$}    from: [{}]", "", e.from.join(", "));
            let _ = writeln!(out, "{:indent$}    reason: {}", "", quoted(&e.reason));
        }
    }
}
