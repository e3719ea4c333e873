//! The old policy, deciding as its engine does: the dry run's "before".

use crate::prefix;
use image_policy_core::k8s::ContainerList;
use image_policy_core::reference::ImageRef;

/// The library's constraint kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GatekeeperKind {
    AllowedRepos,
    DisallowedRepos,
    DisallowedTags,
    ImageDigests,
}

impl GatekeeperKind {
    pub(crate) fn from_kind(kind: &str) -> Option<Self> {
        match kind {
            "K8sAllowedRepos" => Some(Self::AllowedRepos),
            "K8sDisallowedRepos" => Some(Self::DisallowedRepos),
            "K8sDisallowedTags" => Some(Self::DisallowedTags),
            "K8sImageDigests" => Some(Self::ImageDigests),
            _ => None,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::AllowedRepos => "K8sAllowedRepos",
            Self::DisallowedRepos => "K8sDisallowedRepos",
            Self::DisallowedTags => "K8sDisallowedTags",
            Self::ImageDigests => "K8sImageDigests",
        }
    }
}

/// A Gatekeeper constraint as its template's Rego reads it.
#[derive(Clone, Debug)]
pub(crate) struct Constraint {
    pub kind: GatekeeperKind,
    pub name: String,
    pub namespaces: Option<Vec<String>>,
    pub excluded: Vec<String>,
    pub repos: Vec<String>,
    pub tags: Vec<String>,
    pub exempt_images: Vec<String>,
}

/// Gatekeeper's namespace match: exact, or a `prefix*` / `*suffix` glob.
pub(crate) fn namespace_matches(pattern: &str, namespace: &str) -> bool {
    if let Some(prefix) = pattern.strip_suffix('*') {
        namespace.starts_with(prefix)
    } else if let Some(suffix) = pattern.strip_prefix('*') {
        namespace.ends_with(suffix)
    } else {
        pattern == namespace
    }
}

impl Constraint {
    fn applies(&self, namespace: Option<&str>) -> bool {
        let included = match (&self.namespaces, namespace) {
            (None, _) => true,
            (Some(list), Some(ns)) => list.iter().any(|p| namespace_matches(p, ns)),
            (Some(_), None) => false,
        };
        let excluded =
            namespace.is_some_and(|ns| self.excluded.iter().any(|p| namespace_matches(p, ns)));
        included && !excluded
    }

    /// The library's `lib.exempt_container`: exact, or `prefix*`.
    fn exempts(&self, image: &str) -> bool {
        self.exempt_images
            .iter()
            .any(|e| match e.strip_suffix('*') {
                Some(prefix) => image.starts_with(prefix),
                None => e == image,
            })
    }

    /// The violation of this constraint, as its Rego finds it.
    fn violation(&self, image: &str) -> Option<String> {
        if self.exempts(image) {
            return None;
        }
        let who = format!("{} {:?}", self.kind.as_str(), self.name);
        match self.kind {
            GatekeeperKind::AllowedRepos => (!self.repos.iter().any(|p| prefix::admits(p, image)))
                .then(|| format!("{who}: starts with none of the allowed repos")),
            GatekeeperKind::DisallowedRepos => self
                .repos
                .iter()
                .find(|p| prefix::admits(p, image))
                .map(|p| format!("{who}: starts with the disallowed {p:?}")),
            GatekeeperKind::DisallowedTags => {
                if let Some(t) = self.tags.iter().find(|t| image.ends_with(&format!(":{t}"))) {
                    Some(format!("{who}: ends with the disallowed tag {t:?}"))
                } else if !image.contains(':') {
                    Some(format!("{who}: no tag (no `:`)"))
                } else {
                    None
                }
            }
            GatekeeperKind::ImageDigests => {
                (!has_digest_as_the_library_checks(image)).then(|| format!("{who}: no digest"))
            }
        }
    }
}

/// The library's `K8sImageDigests` test: the regex
/// `@[a-z0-9]+([+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+` found anywhere in the
/// string, written out by hand (no regex engine for one pattern).
fn has_digest_as_the_library_checks(image: &str) -> bool {
    let b = image.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    for (at, _) in image.match_indices('@') {
        let mut i = at + 1;
        // [a-z0-9]+ ([+._-][a-z0-9]+)*
        let start = i;
        while i < b.len() && alnum(b[i]) {
            i += 1;
        }
        if i == start {
            continue;
        }
        loop {
            if i + 1 < b.len() && matches!(b[i], b'+' | b'.' | b'_' | b'-') && alnum(b[i + 1]) {
                i += 1;
                while i < b.len() && alnum(b[i]) {
                    i += 1;
                }
            } else {
                break;
            }
        }
        if i + 1 < b.len()
            && b[i] == b':'
            && (b[i + 1].is_ascii_alphanumeric() || matches!(b[i + 1], b'=' | b'_' | b'-'))
        {
            return true;
        }
    }
    false
}

#[derive(Clone, Debug)]
pub(crate) enum Engine {
    Gatekeeper(Vec<Constraint>),
    Bouncer {
        whitelist: Vec<String>,
        reject_latest: bool,
    },
    Sysconfig {
        add: Vec<String>,
        block: Vec<String>,
        block_all: bool,
    },
    PolicyJson(crate::policy_json::Scopes),
    Kyverno(Vec<crate::kyverno::KyvernoRule>),
    RegistriesConf(crate::registries_conf::Entries),
}

/// The old policy, deciding as its engine does (see the crate docs'
/// table): Gatekeeper's Rego on the string as written, the bouncer and
/// docker after Docker's normalization.
#[derive(Clone, Debug)]
pub struct OldPolicy {
    pub(crate) engine: Engine,
}

/// The old engine's answer for one image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OldDecision {
    /// Each rule the image breaks, in words; empty when admitted.
    pub violations: Vec<String>,
    /// Whether the old engine looked at this place at all (Gatekeeper's
    /// templates and the ImagePolicyWebhook never see image volumes).
    pub looked_at: bool,
}

impl OldDecision {
    /// Whether any rule of the old policy flags the image.
    pub fn violates(&self) -> bool {
        !self.violations.is_empty()
    }
}

impl OldPolicy {
    /// The old decision for `image` in a container, in `namespace` (`None`:
    /// no namespace, only the constraints without a namespace match apply).
    pub fn judge(&self, image: &str, namespace: Option<&str>) -> OldDecision {
        self.judge_in(image, namespace, ContainerList::Containers)
    }

    /// [`OldPolicy::judge`] for an image written in `list`.
    pub fn judge_in(
        &self,
        image: &str,
        namespace: Option<&str>,
        list: ContainerList,
    ) -> OldDecision {
        let looked_at = match &self.engine {
            // The library's templates read the three container lists; the
            // ImagePolicyWebhook's review lists the containers, init and
            // ephemeral containers: neither sees image volumes.
            Engine::Gatekeeper(_) | Engine::Bouncer { .. } => list != ContainerList::Volumes,
            // Each rule names its lists.
            Engine::Kyverno(rules) => rules.iter().any(|r| r.looks_at(list)),
            // docker and the node's runtime pull whatever they are asked to.
            Engine::Sysconfig { .. } | Engine::PolicyJson(_) | Engine::RegistriesConf(_) => true,
        };
        if !looked_at {
            return OldDecision {
                violations: Vec::new(),
                looked_at,
            };
        }
        let violations = match &self.engine {
            Engine::Gatekeeper(constraints) => constraints
                .iter()
                .filter(|c| c.applies(namespace))
                .filter_map(|c| c.violation(image))
                .collect(),
            Engine::Bouncer {
                whitelist,
                reject_latest,
            } => bouncer(image, whitelist, *reject_latest),
            Engine::Sysconfig {
                add,
                block,
                block_all,
            } => sysconfig(image, add, block, *block_all),
            Engine::Kyverno(rules) => rules
                .iter()
                .filter_map(|r| r.violation(image, namespace, list))
                .collect(),
            Engine::RegistriesConf(entries) => match entries.blocks(image) {
                Some(false) => Vec::new(),
                Some(true) => vec!["blocked by its longest matching prefix".to_owned()],
                None => vec!["not a valid reference".to_owned()],
            },
            Engine::PolicyJson(scopes) => match scopes.accepts(image) {
                Some(true) => Vec::new(),
                Some(false) => vec!["rejected by its most specific scope".to_owned()],
                None => vec!["not a valid reference".to_owned()],
            },
        };
        OldDecision {
            violations,
            looked_at,
        }
    }
}

fn bouncer(image: &str, whitelist: &[String], reject_latest: bool) -> Vec<String> {
    let Ok(r) = ImageRef::parse(image) else {
        return vec!["not a valid reference".to_owned()];
    };
    let mut out = Vec::new();
    if !whitelist.is_empty() && !whitelist.iter().any(|w| w == r.domain()) {
        out.push(format!(
            "registry {} is not in --registry-whitelist",
            r.domain()
        ));
    }
    if reject_latest && r.digest().is_none() && r.tag().is_none_or(|t| t == "latest") {
        out.push("latest (or no tag)".to_owned());
    }
    out
}

fn sysconfig(image: &str, add: &[String], block: &[String], block_all: bool) -> Vec<String> {
    let Ok(r) = ImageRef::parse(image) else {
        return vec!["not a valid reference".to_owned()];
    };
    let blocked = |domain: &str| {
        block.iter().any(|b| b == domain) || (block_all && !add.iter().any(|a| a == domain))
    };
    if r.is_domain_written() {
        if blocked(r.domain()) {
            return vec![format!("registry {} is blocked", r.domain())];
        }
        return Vec::new();
    }
    // An unqualified name: the added registries are searched first, then
    // docker.io; it is pulled from the first one not blocked.
    let search = add.iter().map(String::as_str).chain(["docker.io"]);
    let mut candidates = search.filter(|d| !blocked(d));
    if candidates.next().is_none() {
        return vec!["every search registry is blocked".to_owned()];
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_test_is_the_librarys() {
        assert!(has_digest_as_the_library_checks(
            "nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
        ));
        assert!(has_digest_as_the_library_checks("x@a:b"));
        assert!(!has_digest_as_the_library_checks("nginx:1.2"));
        assert!(!has_digest_as_the_library_checks("x@:b"));
        assert!(!has_digest_as_the_library_checks("x@A:b"));
    }

    #[test]
    fn namespace_globs() {
        assert!(namespace_matches("kube-*", "kube-system"));
        assert!(namespace_matches("*-dev", "team-dev"));
        assert!(!namespace_matches("prod", "production"));
    }
}
