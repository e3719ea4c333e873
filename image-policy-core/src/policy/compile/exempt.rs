//! Exemption compilation: each `exempt:` entry checked (one form, an image
//! that parses, a `from` and a `reason`), its pattern normalized as an allow
//! rule's, then the matchers of each scope, by the kind they lift.

use super::Compiler;
use crate::policy::diagnostic::DiagnosticCode;
use crate::policy::domain::{fold_docker_hub, normalize_domain};
use crate::policy::exempt::{ExactImage, ExemptKind, ExemptMatchers, Exemption, ExemptionMeta};
use crate::policy::{Pattern, RuleId, RuleKind};
use crate::reference::{DEFAULT_TAG, ImageRef};

impl Compiler<'_> {
    /// Declares and checks the exemptions of one list (`exempt`,
    /// `namespaces[n].exempt`).
    pub(super) fn declare_exemptions(&mut self, list: &[Exemption], prefix: &str) -> Vec<RuleId> {
        let mut ids = Vec::with_capacity(list.len());
        for (i, e) in list.iter().enumerate() {
            let path = format!("{prefix}[{i}]");
            let Some((form, value)) = e.target() else {
                let found = [&e.image, &e.registry, &e.repository, &e.regex]
                    .iter()
                    .filter(|v| v.is_some())
                    .count();
                self.error(
                    DiagnosticCode::BadExemption,
                    format!("{path}: an exemption has exactly one of image, registry, repository or regex, found {found}"),
                    &path,
                );
                continue;
            };
            let id = self.declare(i, RuleKind::Exempt, path.clone(), value);
            let at = format!("{path}.{form}");
            let mut image = None;
            match form {
                "image" => image = self.exact_image(value, &at),
                "registry" => self.compiled[id.0 as usize] = self.registry(value, &at),
                "repository" => self.compiled[id.0 as usize] = self.repository(value, &at),
                _ => self.compiled[id.0 as usize] = self.regex(value, &at),
            }
            if e.from.is_empty() {
                self.error(
                    DiagnosticCode::BadExemption,
                    format!("{path}.from is empty: list the rule kinds it lifts (tags, digest, deny, pin, verify)"),
                    &format!("{path}.from"),
                );
            }
            if e.reason.trim().is_empty() {
                self.error(
                    DiagnosticCode::BadExemption,
                    format!("{path}.reason is empty: say why the images are exempt (it is recorded with every decision that uses the exemption)"),
                    &format!("{path}.reason"),
                );
            }
            if let Some(img) = &image
                && img.digest.is_some()
                && let Some(kind) = e
                    .from
                    .iter()
                    .find(|k| matches!(k, ExemptKind::Tags | ExemptKind::Digest | ExemptKind::Pin))
            {
                self.warning(
                    DiagnosticCode::NeverMatches,
                    format!("{path} names a digest, and the {kind} rules never apply to an image pinned to a digest: exempting it from them changes nothing"),
                    &at,
                );
            }
            self.exemptions.push(ExemptionMeta {
                rule: id,
                image,
                from: e.from.iter().copied().fold(Vec::new(), |mut v, k| {
                    if !v.contains(&k) {
                        v.push(k);
                    }
                    v
                }),
                reason: e.reason.as_str().into(),
            });
            ids.push(id);
        }
        ids
    }

    /// An `image:` exemption: parsed and normalized as the runtime does.
    fn exact_image(&mut self, value: &str, path: &str) -> Option<ExactImage> {
        let r = match ImageRef::parse(value) {
            Ok(r) => r,
            Err(e) => {
                self.error(
                    DiagnosticCode::BadExemption,
                    format!("{value:?} is not an image reference: {e}"),
                    path,
                );
                return None;
            }
        };
        let domain = normalize_domain(r.domain());
        Some(ExactImage {
            name: format!("{domain}/{}", r.path()),
            tag: r
                .tag()
                .or_else(|| r.is_tag_implied().then_some(DEFAULT_TAG))
                .map(str::to_owned),
            digest: r.digest().map(|d| d.to_string()),
            pulled: r
                .is_pull_host_from_path()
                .then(|| format!("{}/{}", fold_docker_hub(r.pull_host()), r.pull_path())),
        })
    }

    /// The matchers of one scope's exemptions, by the kind they lift.
    pub(super) fn exempt_matchers(&mut self, ids: &[RuleId], scope: &str) -> ExemptMatchers {
        let mut m = ExemptMatchers::default();
        for kind in ExemptKind::ALL {
            let mut regexes = Vec::new();
            let mut regex_ids = Vec::new();
            for &id in ids {
                let Some(meta) = self.exemptions.iter().find(|e| e.rule == id) else {
                    continue;
                };
                if !meta.from.contains(&kind) {
                    continue;
                }
                if let Some(image) = &meta.image {
                    m.insert_image(kind, image, id);
                    continue;
                }
                let patterns = m.patterns_mut(kind);
                match self.compiled[id.0 as usize].clone() {
                    Some(Pattern::Registry(d)) => {
                        patterns.insert_registry(&d, id);
                    }
                    Some(Pattern::WildcardRegistry(d)) => {
                        patterns.insert_wildcard_registry(&d, id);
                    }
                    Some(Pattern::Repository(segs)) => {
                        patterns.insert_repository(&segs, id);
                    }
                    Some(Pattern::Regex(r)) => {
                        regexes.push(r);
                        regex_ids.push(id);
                    }
                    None => {}
                }
            }
            if let Err(e) = m.patterns_mut(kind).set_regexes(&regexes, regex_ids) {
                let path = if scope.is_empty() {
                    "exempt".to_owned()
                } else {
                    format!("{scope}.exempt")
                };
                self.error(
                    DiagnosticCode::BadRegex,
                    format!("the regexes exempt from {kind} do not compile together: {e}"),
                    &path,
                );
            }
        }
        m
    }
}
