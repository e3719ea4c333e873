//! The compiled matchers of one rule list: a hash table of registries, a trie
//! of repository patterns, one `RegexSet`. Lookups cost the same with one rule
//! or ten thousand: a hash of the domain, one walk down the trie along the
//! path's segments, one pass of the regex set over the name.

use super::RuleId;
use super::hash::FastMap;
use super::rule::Segment;
use regex_automata::meta;
use regex_automata::{Anchored, Input};

/// The registry, repository and regex rules of one allow or deny list.
#[derive(Debug, Default)]
pub(crate) struct Matchers {
    /// Exact registries, lowercase (`registry.my.com`, `registry.my.com:5000`).
    registries: FastMap<Box<str>, RuleId>,
    /// `*.SUFFIX` registries by `SUFFIX`, lowercase: a domain matches when
    /// removing its first label leaves `SUFFIX`.
    wildcard_registries: FastMap<Box<str>, RuleId>,
    repositories: RepositoryTrie,
    regexes: Option<RegexRules>,
    len: usize,
}

/// The regexes of a list as one multi-pattern regex: a search reports the
/// first pattern (by position in the list) that matches the whole name,
/// without allocating (`regex::RegexSet` allocates to say which matched).
#[derive(Debug)]
struct RegexRules {
    set: meta::Regex,
    rules: Vec<RuleId>,
}

impl Matchers {
    /// Adds an exact registry (already validated and lowercased). Returns the
    /// earlier rule with the same key, if any (the earlier one keeps deciding).
    pub fn insert_registry(&mut self, domain: &str, id: RuleId) -> Option<RuleId> {
        self.len += 1;
        insert_first(&mut self.registries, domain, id)
    }

    /// Adds a `*.SUFFIX` registry by its suffix (validated and lowercased).
    pub fn insert_wildcard_registry(&mut self, suffix: &str, id: RuleId) -> Option<RuleId> {
        self.len += 1;
        insert_first(&mut self.wildcard_registries, suffix, id)
    }

    /// Adds a repository pattern, already split into validated segments.
    pub fn insert_repository(&mut self, segments: &[Segment], id: RuleId) -> Option<RuleId> {
        self.len += 1;
        self.repositories.insert(segments, id)
    }

    /// Sets the regex rules (patterns already validated one by one).
    pub fn set_regexes(
        &mut self,
        patterns: &[String],
        rules: Vec<RuleId>,
    ) -> Result<(), Box<meta::BuildError>> {
        if patterns.is_empty() {
            return Ok(());
        }
        self.len += patterns.len();
        let anchored: Vec<String> = patterns.iter().map(|p| anchored(p)).collect();
        let set = meta::Regex::builder()
            .configure(meta::Config::new().nfa_size_limit(Some(REGEX_SIZE_LIMIT)))
            .build_many(&anchored)
            .map_err(Box::new)?;
        self.regexes = Some(RegexRules { set, rules });
        Ok(())
    }

    /// Whether there are no rules at all.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The first rule that matches, looking at registries, then repositories
    /// (most specific first), then regexes.
    pub fn find<'s>(
        &self,
        domain: &'s str,
        path: PathParts<'s>,
        name: impl FnOnce(&mut dyn FnMut(&str) -> Option<RuleId>) -> Option<RuleId>,
    ) -> Option<RuleId> {
        if self.len == 0 {
            return None;
        }
        if let Some(&id) = self.registries.get(domain) {
            return Some(id);
        }
        if !self.wildcard_registries.is_empty()
            && let Some((_, suffix)) = domain.split_once('.')
            && let Some(&id) = self.wildcard_registries.get(suffix)
        {
            return Some(id);
        }
        if !self.repositories.is_empty()
            && let Some(id) = self.repositories.find(Segments::new(domain, path))
        {
            return Some(id);
        }
        if let Some(regexes) = &self.regexes {
            return name(&mut |name: &str| regexes.find(name));
        }
        None
    }
}

impl RegexRules {
    fn find(&self, name: &str) -> Option<RuleId> {
        let input = Input::new(name).anchored(Anchored::Yes);
        self.set
            .search(&input)
            .map(|m| self.rules[m.pattern().as_usize()])
    }
}

/// The compiled size limit of one regex set (the `regex` default is 10 MiB
/// per regex; a policy of many regexes gets the same budget in total).
const REGEX_SIZE_LIMIT: usize = 32 << 20;

/// `^(?:pattern)$`: a rule always matches the whole name.
pub(crate) fn anchored(pattern: &str) -> String {
    format!("^(?:{pattern})$")
}

fn insert_first(map: &mut FastMap<Box<str>, RuleId>, key: &str, id: RuleId) -> Option<RuleId> {
    match map.get(key) {
        Some(&earlier) => Some(earlier),
        None => {
            map.insert(key.into(), id);
            None
        }
    }
}

/// Repository patterns as a trie of segments.
#[derive(Debug, Default)]
struct RepositoryTrie {
    nodes: Vec<Node>,
}

#[derive(Debug, Default)]
struct Node {
    literal: FastMap<Box<str>, usize>,
    globs: Vec<(Box<str>, usize)>,
    any: Option<usize>,
    any_depth: Option<usize>,
    rule: Option<RuleId>,
}

impl RepositoryTrie {
    fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    fn insert(&mut self, segments: &[Segment], id: RuleId) -> Option<RuleId> {
        if self.nodes.is_empty() {
            self.nodes.push(Node::default());
        }
        let mut at = 0;
        for segment in segments {
            let next = self.nodes.len();
            let node = &mut self.nodes[at];
            let slot = match segment {
                Segment::Literal(s) => *node.literal.entry(s.as_str().into()).or_insert(next),
                Segment::Any => *node.any.get_or_insert(next),
                Segment::AnyDepth => *node.any_depth.get_or_insert(next),
                Segment::Glob(g) => match node.globs.iter().find(|(have, _)| **have == **g) {
                    Some(&(_, slot)) => slot,
                    None => {
                        node.globs.push((g.as_str().into(), next));
                        next
                    }
                },
            };
            if slot == next {
                self.nodes.push(Node::default());
            }
            at = slot;
        }
        match self.nodes[at].rule {
            Some(earlier) => Some(earlier),
            None => {
                self.nodes[at].rule = Some(id);
                None
            }
        }
    }

    fn find(&self, segments: Segments<'_>) -> Option<RuleId> {
        self.find_from(0, segments)
    }

    /// Depth first, most specific child first. A pattern holds at most one
    /// `**` (checked when compiling), so the cost is bounded by the number of
    /// `**` nodes on the way times the number of segments, whatever the
    /// number of patterns.
    fn find_from(&self, at: usize, mut segments: Segments<'_>) -> Option<RuleId> {
        let node = &self.nodes[at];
        let Some(segment) = segments.next() else {
            return node.rule;
        };
        if let Some(&next) = node.literal.get(segment)
            && let Some(id) = self.find_from(next, segments)
        {
            return Some(id);
        }
        for (glob, next) in &node.globs {
            if glob_matches(glob.as_bytes(), segment.as_bytes())
                && let Some(id) = self.find_from(*next, segments)
            {
                return Some(id);
            }
        }
        if let Some(next) = node.any
            && let Some(id) = self.find_from(next, segments)
        {
            return Some(id);
        }
        if let Some(next) = node.any_depth {
            // `**` takes one or more whole segments.
            let mut after = segments;
            loop {
                if let Some(id) = self.find_from(next, after) {
                    return Some(id);
                }
                if after.next().is_none() {
                    break;
                }
            }
        }
        None
    }
}

/// A repository path as the matchers take it: the written path, and whether
/// normalization implied a `library/` in front of it.
#[derive(Clone, Copy)]
pub(crate) struct PathParts<'s> {
    pub library: bool,
    pub written: &'s str,
}

impl<'s> From<crate::reference::Path<'s>> for PathParts<'s> {
    fn from(path: crate::reference::Path<'s>) -> Self {
        Self {
            library: path.is_library_implied(),
            written: path.as_written(),
        }
    }
}

/// The segments of `domain/path` (with an implied `library`), as a small
/// `Copy` cursor: the trie clones it at every branch, so it must be cheap to
/// copy and to advance (a byte scan for `/`; paths are short).
#[derive(Clone, Copy)]
struct Segments<'s> {
    domain: Option<&'s str>,
    library: bool,
    rest: Option<&'s str>,
}

impl<'s> Segments<'s> {
    fn new(domain: &'s str, path: PathParts<'s>) -> Self {
        Self {
            domain: Some(domain),
            library: path.library,
            rest: Some(path.written),
        }
    }
}

impl<'s> Iterator for Segments<'s> {
    type Item = &'s str;

    fn next(&mut self) -> Option<&'s str> {
        if let Some(domain) = self.domain.take() {
            return Some(domain);
        }
        if self.library {
            self.library = false;
            return Some("library");
        }
        let rest = self.rest?;
        match rest.bytes().position(|b| b == b'/') {
            Some(i) => {
                self.rest = Some(&rest[i + 1..]);
                Some(&rest[..i])
            }
            None => {
                self.rest = None;
                Some(rest)
            }
        }
    }
}

/// Does `glob` (with `*` for any run of bytes) match the whole of `text`?
/// Linear-time two-pointer match with one backtrack point.
pub(crate) fn glob_matches(glob: &[u8], text: &[u8]) -> bool {
    let (mut g, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if g < glob.len() && glob[g] == b'*' {
            star = Some((g, t));
            g += 1;
        } else if g < glob.len() && glob[g] == text[t] {
            g += 1;
            t += 1;
        } else if let Some((sg, st)) = star {
            g = sg + 1;
            t = st + 1;
            star = Some((sg, st + 1));
        } else {
            return false;
        }
    }
    glob[g..].iter().all(|&b| b == b'*')
}
