//! Reading a policy file: YAML (or JSON) into a tree of positioned nodes, then
//! into a [`PolicyDocument`], reporting every problem at once with its
//! `file:line:column`.
//!
//! serde's derived deserializers stop at the first error; a policy author
//! wants them all, so the file is read into [`Node`]s (each with its position,
//! from `serde_saphyr::Spanned`) and decoded by hand here, checking keys and
//! types as it goes. The shape decoded is the one `model` derives, and a test
//! checks that both accept the same keys.

use super::Location;
use super::compile::SourceMap;
use super::diagnostic::{Diagnostic, DiagnosticCode};
use super::exempt::{ExemptKind, Exemption};
use super::model::{
    BreakGlass, Combine, Mode, NamespaceRules, PolicyDocument, RewriteRule, Rule, TagRules,
    VerifyRule,
};
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;
use std::collections::HashMap;
use std::fmt;

/// A YAML node with its position.
#[derive(Debug)]
pub(crate) enum Node {
    Null,
    Bool(bool),
    Number,
    Str(String),
    Seq(Vec<Spanned<Node>>),
    Map(Vec<(Spanned<Node>, Spanned<Node>)>),
}

impl Node {
    fn type_name(&self) -> &'static str {
        match self {
            Node::Null => "null",
            Node::Bool(_) => "a boolean",
            Node::Number => "a number",
            Node::Str(_) => "a string",
            Node::Seq(_) => "a list",
            Node::Map(_) => "a map",
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Node, E> {
        Ok(Node::Number)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Node, E> {
        Ok(Node::Number)
    }
    fn visit_i128<E>(self, _: i128) -> Result<Node, E> {
        Ok(Node::Number)
    }
    fn visit_u128<E>(self, _: u128) -> Result<Node, E> {
        Ok(Node::Number)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Node, E> {
        Ok(Node::Number)
    }
    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(Node::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        Ok(Node::Map(entries))
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }
}

/// Parses YAML into a document, its source map and the problems found (which
/// may be errors: the document then holds what could be read, so that
/// compiling it finds the remaining problems too). `Err` only when the text
/// is not YAML at all.
pub(crate) fn yaml(
    src: &str,
    origin: &str,
) -> Result<(PolicyDocument, SourceMap, Vec<Diagnostic>), Vec<Diagnostic>> {
    let root: Spanned<Node> = match serde_saphyr::from_str(src) {
        Ok(root) => root,
        Err(e) => return Err(vec![saphyr_error(&e, origin)]),
    };
    decode(&root, origin)
}

/// Parses JSON (checked as JSON first, then read as the YAML it also is, for positions).
pub(crate) fn json(
    src: &str,
    origin: &str,
) -> Result<(PolicyDocument, SourceMap, Vec<Diagnostic>), Vec<Diagnostic>> {
    if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(src) {
        let location = (e.line() > 0).then(|| Location {
            origin: origin.to_owned(),
            line: e.line(),
            column: e.column().max(1),
        });
        let message = strip_json_position(&e.to_string());
        return Err(vec![Diagnostic::error(
            DiagnosticCode::Syntax,
            message,
            location,
        )]);
    }
    yaml(src, origin)
}

/// serde_json appends " at line L column C"; the location says it already.
fn strip_json_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(cut) => message[..cut].to_owned(),
        None => message.to_owned(),
    }
}

fn saphyr_error(e: &serde_saphyr::Error, origin: &str) -> Diagnostic {
    let location = e.location().filter(|l| l.line() > 0).map(|l| Location {
        origin: origin.to_owned(),
        line: l.line() as usize,
        column: l.column().max(1) as usize,
    });
    if let serde_saphyr::Error::DuplicateMappingKey { key, .. } = e.without_snippet() {
        let key = key.as_deref().unwrap_or("?");
        return Diagnostic::error(
            DiagnosticCode::DuplicateKey,
            format!("duplicate key {key:?}"),
            location,
        );
    }
    // The plain message, without the snippet or the position (the location has it).
    let text = e.without_snippet().to_string();
    let text = match text.find(" at line ") {
        Some(cut) => text[..cut].to_owned(),
        None => text,
    };
    Diagnostic::error(
        DiagnosticCode::Syntax,
        text.lines().next().unwrap_or_default().to_owned(),
        location,
    )
}

/// The keys of each map of the format, as the model derives them.
pub(crate) const DOCUMENT_KEYS: &[&str] = &[
    "mode",
    "exemptExistingImagesOnUpdate",
    "allow",
    "deny",
    "pin",
    "verify",
    "tags",
    "exempt",
    "exemptNamespaces",
    "namespaces",
    "breakGlass",
    "rewrite",
];
pub(crate) const TAG_KEYS: &[&str] = &[
    "deny",
    "requireTagOrDigest",
    "requireDigest",
    "allowMatching",
];
pub(crate) const NAMESPACE_KEYS: &[&str] = &[
    "names", "combine", "mode", "allow", "deny", "pin", "verify", "tags", "exempt",
];
pub(crate) const EXEMPT_KEYS: &[&str] =
    &["image", "registry", "repository", "regex", "from", "reason"];
pub(crate) const VERIFY_KEYS: &[&str] = &[
    "registry",
    "repository",
    "regex",
    "keys",
    "keyFile",
    "signatureRepository",
];
pub(crate) const BREAK_GLASS_KEYS: &[&str] = &["enabled", "value", "annotations"];
pub(crate) const RULE_KEYS: &[&str] = &["registry", "repository", "regex"];
pub(crate) const REWRITE_KEYS: &[&str] = &["from", "to"];

struct Decoder<'o> {
    origin: &'o str,
    diagnostics: Vec<Diagnostic>,
    locations: HashMap<String, Location>,
}

fn decode(
    root: &Spanned<Node>,
    origin: &str,
) -> Result<(PolicyDocument, SourceMap, Vec<Diagnostic>), Vec<Diagnostic>> {
    let mut d = Decoder {
        origin,
        diagnostics: Vec::new(),
        locations: HashMap::new(),
    };
    let doc = d.document(root);
    Ok((
        doc,
        SourceMap {
            locations: d.locations,
            origins: HashMap::new(),
            default_origin: origin.to_owned(),
            key_files: HashMap::new(),
        },
        d.diagnostics,
    ))
}

impl Decoder<'_> {
    fn location(&self, l: &serde_saphyr::Location) -> Option<Location> {
        (l.line() > 0).then(|| Location {
            origin: self.origin.to_owned(),
            line: l.line() as usize,
            column: l.column().max(1) as usize,
        })
    }

    fn error(&mut self, code: DiagnosticCode, message: String, at: &serde_saphyr::Location) {
        let location = self.location(at);
        self.diagnostics
            .push(Diagnostic::error(code, message, location));
    }

    fn record(&mut self, path: &str, node: &Spanned<Node>) {
        if let Some(l) = self.location(&node.referenced) {
            self.locations.insert(path.to_owned(), l);
        }
    }

    fn wrong_type(&mut self, path: &str, want: &str, node: &Spanned<Node>) {
        let hint = match (&node.value, want) {
            (Node::Number, "a string") => " (put it in quotes)".to_owned(),
            (Node::Bool(b), "a string") => format!(" (write \"{b}\" in quotes)"),
            _ => String::new(),
        };
        self.error(
            DiagnosticCode::WrongType,
            format!(
                "{path}: expected {want}, found {}{hint}",
                node.value.type_name()
            ),
            &node.referenced,
        );
    }

    /// The entries of a map, with unknown and duplicate keys reported.
    fn map<'n>(
        &mut self,
        node: &'n Spanned<Node>,
        path: &str,
        known: &[&str],
    ) -> Vec<(&'n str, &'n Spanned<Node>)> {
        self.record(path, node);
        let entries = match &node.value {
            Node::Map(entries) => entries,
            Node::Null if !path.is_empty() => return Vec::new(),
            _ => {
                let what = if path.is_empty() { "the policy" } else { path };
                self.wrong_type(what, "a map", node);
                return Vec::new();
            }
        };
        let mut out: Vec<(&'n str, &'n Spanned<Node>)> = Vec::new();
        for (key, value) in entries {
            let Node::Str(name) = &key.value else {
                self.wrong_type(&format!("{path} key"), "a string", key);
                continue;
            };
            let full = join(path, name);
            if !known.contains(&name.as_str()) {
                let hint = match closest(name, known) {
                    Some(k) => format!(" (did you mean {k:?}?)"),
                    None => format!(" (expected one of: {})", known.join(", ")),
                };
                self.error(
                    DiagnosticCode::UnknownKey,
                    format!("unknown key {full:?}{hint}"),
                    &key.referenced,
                );
                continue;
            }
            if out.iter().any(|(k, _)| *k == name.as_str()) {
                self.error(
                    DiagnosticCode::DuplicateKey,
                    format!("duplicate key {full:?}"),
                    &key.referenced,
                );
                continue;
            }
            self.record(&full, value);
            out.push((name.as_str(), value));
        }
        out
    }

    fn string(&mut self, node: &Spanned<Node>, path: &str) -> Option<String> {
        self.record(path, node);
        match &node.value {
            Node::Str(s) => Some(s.clone()),
            _ => {
                self.wrong_type(path, "a string", node);
                None
            }
        }
    }

    fn bool(&mut self, node: &Spanned<Node>, path: &str) -> Option<bool> {
        match &node.value {
            Node::Bool(b) => Some(*b),
            _ => {
                self.wrong_type(path, "true or false", node);
                None
            }
        }
    }

    fn list<'n>(&mut self, node: &'n Spanned<Node>, path: &str) -> &'n [Spanned<Node>] {
        match &node.value {
            Node::Seq(items) => items,
            Node::Null => &[],
            _ => {
                self.wrong_type(path, "a list", node);
                &[]
            }
        }
    }

    fn strings(&mut self, node: &Spanned<Node>, path: &str) -> Vec<String> {
        let items = self.list(node, path);
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            // Numbered among the valid items, as the document will number them.
            if let Some(s) = self.string(item, &format!("{path}[{}]", out.len())) {
                out.push(s);
            }
        }
        out
    }

    fn mode(&mut self, node: &Spanned<Node>, path: &str) -> Option<Mode> {
        let s = self.string(node, path)?;
        let mode = Mode::from_name(&s);
        if mode.is_none() {
            self.error(
                DiagnosticCode::BadValue,
                format!("{path}: {s:?} is not a mode (enforce, warn or audit)"),
                &node.referenced,
            );
        }
        mode
    }

    fn document(&mut self, root: &Spanned<Node>) -> PolicyDocument {
        let mut doc = PolicyDocument::default();
        for (key, value) in self.map(root, "", DOCUMENT_KEYS) {
            match key {
                "mode" => doc.mode = self.mode(value, key).unwrap_or_default(),
                "exemptExistingImagesOnUpdate" => {
                    doc.exempt_existing_images_on_update = self.bool(value, key).unwrap_or(true)
                }
                "allow" => doc.allow = self.rules(value, key),
                "deny" => doc.deny = self.rules(value, key),
                "pin" => doc.pin = self.rules(value, key),
                "verify" => doc.verify = self.verify_rules(value, key),
                "tags" => doc.tags = self.tags(value, key),
                "exempt" => doc.exempt = self.exemptions(value, key),
                "exemptNamespaces" => doc.exempt_namespaces = self.strings(value, key),
                "namespaces" => {
                    let items = self.list(value, key);
                    doc.namespaces = items
                        .iter()
                        .enumerate()
                        .map(|(i, item)| self.namespace(item, &format!("namespaces[{i}]")))
                        .collect();
                }
                "breakGlass" => doc.break_glass = self.break_glass(value, key),
                "rewrite" => doc.rewrite = self.rewrites(value, key),
                _ => {}
            }
        }
        doc
    }

    fn rules(&mut self, node: &Spanned<Node>, path: &str) -> Vec<Rule> {
        let items = self.list(node, path);
        let mut rules = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let item_path = format!("{path}[{i}]");
            if let Node::Str(s) = &item.value {
                self.error(
                    DiagnosticCode::WrongType,
                    format!("{item_path}: expected a map with one key (registry, repository or regex), found the string {s:?} (write \"- registry: {s}\")"),
                    &item.referenced,
                );
                continue;
            }
            let entries = self.map(item, &item_path, RULE_KEYS);
            if entries.len() != 1 {
                let empty = matches!(&item.value, Node::Map(m) if m.is_empty());
                if entries.len() > 1 || empty {
                    self.error(
                        DiagnosticCode::BadRule,
                        format!("{item_path}: a rule has exactly one of registry, repository or regex, found {}", entries.len()),
                        &item.referenced,
                    );
                }
                continue;
            }
            let (key, value) = entries[0];
            self.locations.remove(&format!("{item_path}.{key}"));
            let Some(pattern) = self.string(value, &item_path) else {
                continue;
            };
            rules.push(match key {
                "registry" => Rule::Registry(pattern),
                "repository" => Rule::Repository(pattern),
                _ => Rule::Regex(pattern),
            });
            // Skipped items shift the numbering: keep the location under the
            // index the rule now has.
            let index = rules.len() - 1;
            if index != i
                && let Some(l) = self.locations.remove(&item_path)
            {
                self.locations.insert(format!("{path}[{index}]"), l);
            }
        }
        rules
    }

    fn exemptions(&mut self, node: &Spanned<Node>, path: &str) -> Vec<Exemption> {
        let items = self.list(node, path);
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let item_path = format!("{path}[{i}]");
            if let Node::Str(s) = &item.value {
                self.error(
                    DiagnosticCode::WrongType,
                    format!("{item_path}: expected a map (image or registry, repository, regex; from; reason), found the string {s:?} (write \"- image: {s}\")"),
                    &item.referenced,
                );
                continue;
            }
            let errors = self.diagnostics.len();
            let mut e = Exemption::default();
            let (mut from, mut reason) = (false, false);
            for (key, value) in self.map(item, &item_path, EXEMPT_KEYS) {
                let p = join(&item_path, key);
                match key {
                    "image" => e.image = self.string(value, &p),
                    "registry" => e.registry = self.string(value, &p),
                    "repository" => e.repository = self.string(value, &p),
                    "regex" => e.regex = self.string(value, &p),
                    "from" => {
                        from = true;
                        e.from = self.exempt_kinds(value, &p);
                    }
                    _ => {
                        reason = true;
                        e.reason = self.string(value, &p).unwrap_or_default();
                    }
                }
            }
            if !matches!(item.value, Node::Map(_)) {
                continue;
            }
            for (present, key, what) in [
                (
                    from,
                    "from",
                    "the rule kinds it lifts: tags, digest, deny, pin, verify",
                ),
                (reason, "reason", "why these images are exempt"),
            ] {
                if !present {
                    self.error(
                        DiagnosticCode::MissingKey,
                        format!("{item_path}: missing key {key:?} ({what})"),
                        &item.referenced,
                    );
                }
            }
            if self.diagnostics.len() > errors {
                continue;
            }
            out.push(e);
            // Skipped items shift the numbering: keep the locations under
            // the index the exemption now has.
            let index = out.len() - 1;
            if index != i {
                let moved: Vec<String> = self
                    .locations
                    .keys()
                    .filter(|k| {
                        k.strip_prefix(&item_path)
                            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
                    })
                    .cloned()
                    .collect();
                for key in moved {
                    if let Some(l) = self.locations.remove(&key) {
                        let rest = &key[item_path.len()..];
                        self.locations.insert(format!("{path}[{index}]{rest}"), l);
                    }
                }
            }
        }
        out
    }

    /// The kinds of an exemption's `from`: `allow` is said to be an allow rule.
    fn exempt_kinds(&mut self, node: &Spanned<Node>, path: &str) -> Vec<ExemptKind> {
        let mut kinds = Vec::new();
        for (j, item) in self.list(node, path).iter().enumerate() {
            let p = format!("{path}[{j}]");
            let Some(name) = self.string(item, &p) else {
                continue;
            };
            match ExemptKind::from_name(&name) {
                Some(kind) => kinds.push(kind),
                None if name == "allow" => self.error(
                    DiagnosticCode::BadExemption,
                    format!("{p}: an exemption from the allow list is an allow: rule (add one for these images)"),
                    &item.referenced,
                ),
                None => self.error(
                    DiagnosticCode::BadValue,
                    format!("{p}: {name:?} is not a rule kind an exemption lifts (tags, digest, deny, pin, verify)"),
                    &item.referenced,
                ),
            }
        }
        kinds
    }

    fn tags(&mut self, node: &Spanned<Node>, path: &str) -> TagRules {
        let mut tags = TagRules::default();
        for (key, value) in self.map(node, path, TAG_KEYS) {
            let p = join(path, key);
            match key {
                "deny" => tags.deny = self.strings(value, &p),
                "requireTagOrDigest" => {
                    tags.require_tag_or_digest = self.bool(value, &p).unwrap_or(false)
                }
                "requireDigest" => tags.require_digest = self.bool(value, &p).unwrap_or(false),
                "allowMatching" => tags.allow_matching = self.strings(value, &p),
                _ => {}
            }
        }
        tags
    }

    fn namespace(&mut self, node: &Spanned<Node>, path: &str) -> NamespaceRules {
        let mut ns = NamespaceRules::default();
        let mut has_names = false;
        for (key, value) in self.map(node, path, NAMESPACE_KEYS) {
            let p = join(path, key);
            match key {
                "names" => {
                    has_names = true;
                    ns.names = self.strings(value, &p);
                }
                "combine" => {
                    if let Some(s) = self.string(value, &p) {
                        ns.combine = match s.as_str() {
                            "add" => Combine::Add,
                            "replace" => Combine::Replace,
                            _ => {
                                self.error(
                                    DiagnosticCode::BadValue,
                                    format!("{p}: {s:?} is not add or replace"),
                                    &value.referenced,
                                );
                                Combine::Add
                            }
                        }
                    }
                }
                "mode" => ns.mode = self.mode(value, &p),
                "allow" => ns.allow = self.rules(value, &p),
                "deny" => ns.deny = self.rules(value, &p),
                "pin" => ns.pin = self.rules(value, &p),
                "verify" => ns.verify = self.verify_rules(value, &p),
                "tags" => ns.tags = self.tags(value, &p),
                "exempt" => ns.exempt = self.exemptions(value, &p),
                _ => {}
            }
        }
        if !has_names && matches!(node.value, Node::Map(_)) {
            self.error(
                DiagnosticCode::MissingKey,
                format!("{path}: missing key \"names\" (the namespaces these rules are for)"),
                &node.referenced,
            );
        }
        ns
    }

    /// A list of verify rules: maps of a scope (one of registry, repository,
    /// regex), keys and the optional key file and signature repository.
    /// Shape only; the compiler checks the patterns and the keys.
    fn verify_rules(&mut self, node: &Spanned<Node>, path: &str) -> Vec<VerifyRule> {
        let items = self.list(node, path);
        let mut rules = Vec::new();
        for item in items {
            // Numbered among the valid items, as the document will number them.
            let item_path = format!("{path}[{}]", rules.len());
            if !matches!(item.value, Node::Map(_)) {
                self.wrong_type(&item_path, "a map (a scope and keys)", item);
                continue;
            }
            let mut rule = VerifyRule::default();
            for (key, value) in self.map(item, &item_path, VERIFY_KEYS) {
                let p = join(&item_path, key);
                match key {
                    "registry" => rule.registry = self.string(value, &p),
                    "repository" => rule.repository = self.string(value, &p),
                    "regex" => rule.regex = self.string(value, &p),
                    "keys" => rule.keys = self.strings(value, &p),
                    "keyFile" => rule.key_file = self.string(value, &p),
                    _ => rule.signature_repository = self.string(value, &p),
                }
            }
            rules.push(rule);
        }
        rules
    }

    fn rewrites(&mut self, node: &Spanned<Node>, path: &str) -> Vec<RewriteRule> {
        let items = self.list(node, path);
        let mut rules = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let item_path = format!("{path}[{i}]");
            if let Node::Str(s) = &item.value {
                self.error(
                    DiagnosticCode::WrongType,
                    format!("{item_path}: expected a map with the keys from and to, found the string {s:?} (write \"- {{from: ..., to: ...}}\")"),
                    &item.referenced,
                );
                continue;
            }
            let (mut from, mut to) = (None, None);
            for (key, value) in self.map(item, &item_path, REWRITE_KEYS) {
                let p = join(&item_path, key);
                match key {
                    "from" => from = self.string(value, &p),
                    _ => to = self.string(value, &p),
                }
            }
            if !matches!(item.value, Node::Map(_)) {
                continue;
            }
            let (Some(from), Some(to)) = (from, to) else {
                if let Node::Map(entries) = &item.value
                    && entries.len() < 2
                {
                    self.error(
                        DiagnosticCode::MissingKey,
                        format!("{item_path}: a rewrite rule has both from and to"),
                        &item.referenced,
                    );
                }
                continue;
            };
            rules.push(RewriteRule { from, to });
            // Skipped items shift the numbering: keep the locations under
            // the index the rule now has.
            let index = rules.len() - 1;
            if index != i {
                for suffix in ["", ".from", ".to"] {
                    if let Some(l) = self.locations.remove(&format!("{item_path}{suffix}")) {
                        self.locations.insert(format!("{path}[{index}]{suffix}"), l);
                    }
                }
            }
        }
        rules
    }

    fn break_glass(&mut self, node: &Spanned<Node>, path: &str) -> BreakGlass {
        let mut bg = BreakGlass::default();
        for (key, value) in self.map(node, path, BREAK_GLASS_KEYS) {
            let p = join(path, key);
            match key {
                "enabled" => bg.enabled = self.bool(value, &p).unwrap_or(false),
                "value" => bg.value = self.string(value, &p).unwrap_or_default(),
                "annotations" => bg.annotations = self.strings(value, &p),
                _ => {}
            }
        }
        bg
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// The known key closest to `name`, when it is close (a typo, a case slip).
fn closest<'k>(name: &str, known: &[&'k str]) -> Option<&'k str> {
    known
        .iter()
        .map(|k| {
            (
                edit_distance(&name.to_ascii_lowercase(), &k.to_ascii_lowercase()),
                *k,
            )
        })
        .filter(|(d, k)| *d <= 2.max(k.len() / 5))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The keys this decoder knows are the properties of the model's schema:
    /// the hand-written decoder and the serde model cannot drift apart.
    #[test]
    fn decoder_keys_are_the_schema_properties() {
        let schema = super::super::schema();
        let props = |def: Option<&str>| -> Vec<String> {
            let node = match def {
                None => &schema,
                Some(name) => &schema["$defs"][name],
            };
            let mut keys: Vec<String> = node["properties"]
                .as_object()
                .unwrap_or_else(|| panic!("{def:?} has properties"))
                .keys()
                .cloned()
                .collect();
            keys.sort();
            keys
        };
        let sorted = |keys: &[&str]| {
            let mut v: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
            v.sort();
            v
        };
        assert_eq!(props(None), sorted(DOCUMENT_KEYS));
        assert_eq!(props(Some("TagRules")), sorted(TAG_KEYS));
        assert_eq!(props(Some("NamespaceRules")), sorted(NAMESPACE_KEYS));
        assert_eq!(props(Some("BreakGlass")), sorted(BREAK_GLASS_KEYS));
        assert_eq!(props(Some("RewriteRule")), sorted(REWRITE_KEYS));
        assert_eq!(props(Some("Exemption")), sorted(EXEMPT_KEYS));
        assert_eq!(props(Some("VerifyRule")), sorted(VERIFY_KEYS));
        let rule_variants: Vec<String> = {
            let mut v: Vec<String> = schema["$defs"]["Rule"]["oneOf"]
                .as_array()
                .expect("Rule is one of its variants")
                .iter()
                .flat_map(|variant| variant["required"].as_array().cloned().unwrap_or_default())
                .filter_map(|k| k.as_str().map(str::to_owned))
                .collect();
            v.sort();
            v
        };
        assert_eq!(rule_variants, sorted(RULE_KEYS));
    }

    /// A document the decoder reads is the one serde reads, and it
    /// round-trips through serde.
    #[test]
    fn decoder_agrees_with_serde() {
        let src = "
mode: warn
exemptExistingImagesOnUpdate: false
allow:
  - registry: registry.my.com
  - repository: quay.io/prometheus/*
  - regex: 'ghcr\\.io/.+'
deny:
  - registry: evil.io
tags:
  deny: [latest]
  requireTagOrDigest: true
  allowMatching: ['v.*']
exemptNamespaces: [kube-system]
namespaces:
  - names: [a, b]
    combine: replace
    mode: audit
    allow:
      - registry: a.io
breakGlass:
  enabled: true
  value: glass
  annotations: [x.image-policy.k8s.io/y]
";
        let (ours, _, diagnostics) = yaml(src, "p.yaml").unwrap();
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        let theirs: PolicyDocument = serde_saphyr::from_str(src).unwrap();
        assert_eq!(ours, theirs);
        let json = serde_json::to_string(&ours).unwrap();
        let back: PolicyDocument = serde_json::from_str(&json).unwrap();
        assert_eq!(back, ours);
    }
}
