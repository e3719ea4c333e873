//! Pinning: the digests `lint --fix` writes after the images that `pin:`
//! rules put in pin scope ([`Pins`]), and which images a run needs them for
//! ([`wanted`]). No network here: the caller resolves (the CLI, through
//! `image-policy-registry`) and passes the digests in.

use super::plan::plan;
use crate::report::Position;
use crate::{Options, Source, pipeline, read};
use image_policy_core::policy::{Context, DecisionCode, Policy, RuleKind};
use image_policy_core::reference::{Digest, ImageRef};
use std::collections::HashMap;

/// The digests to pin images with, by the reference the runtime pulls:
/// the normalized name and tag (`registry.my.com/prod/api:1.4`,
/// `docker.io/library/nginx:latest` for `nginx`), as
/// `image_policy_registry::Resolver` keys its answers. A digest is a
/// `sha256:…` (any algorithm the reference grammar accepts).
///
/// Given in [`Options::pins`]: `None` (the default, plain `lint`) means the
/// digests are not known, so the plan pins with a placeholder only to tell
/// whether `--fix` could write the pin ("fixable with --fix"); [`super::fix`]
/// never writes a placeholder (it reads `None` as no digest at all); an image
/// whose digest is missing from `Some(pins)` is not fixable, named as such.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pins {
    digests: HashMap<String, String>,
}

/// Why [`Pins::insert`] refuses an entry.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot pin {image} at {digest}: {reason}")]
pub struct PinError {
    /// The image given.
    pub image: String,
    /// The digest given.
    pub digest: String,
    /// Why.
    pub reason: String,
}

impl Pins {
    /// No digests.
    pub fn new() -> Self {
        Pins::default()
    }

    /// The key of `image`: the normalized reference the runtime pulls,
    /// `None` when it does not parse or already has a digest.
    pub fn key(image: &str) -> Option<String> {
        let parsed = ImageRef::parse(image).ok()?;
        parsed
            .digest()
            .is_none()
            .then(|| parsed.docker_ref().to_string())
    }

    /// Pins `image` (any spelling: it is normalized) at `digest`.
    pub fn insert(&mut self, image: &str, digest: &str) -> Result<(), PinError> {
        let refuse = |reason: &str| PinError {
            image: image.to_owned(),
            digest: digest.to_owned(),
            reason: reason.to_owned(),
        };
        let key = Pins::key(image).ok_or_else(|| refuse("not a reference without a digest"))?;
        Digest::parse(digest).map_err(|e| refuse(&e.to_string()))?;
        self.digests.insert(key, digest.to_owned());
        Ok(())
    }

    /// The digest of `image`, when it has one here.
    pub fn get(&self, image: &str) -> Option<&str> {
        self.digests.get(&Pins::key(image)?).map(String::as_str)
    }

    /// How many images have a digest.
    pub fn len(&self) -> usize {
        self.digests.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }
}

/// The digest the plan writes when the digests are not known ([`Pins`]):
/// only to prove that a pin could be written, never written.
pub(super) const PLACEHOLDER: &str =
    "sha256:0000000000000000000000000000000000000000000000000000000000000000";

/// Whether the policy has `pin:` rules at all (at the top level or in a
/// namespace): without them nothing is pinned and no registry is asked.
pub fn policy_pins(policy: &Policy) -> bool {
    policy.rules().any(|r| r.kind == RuleKind::Pin)
}

/// Whether `image` (what the file will hold once fixed: the rewritten
/// image) is in pin scope for a site with this namespace and these
/// annotations: the policy denies it `pin-required` as it stands.
pub(super) fn in_pin_scope(
    policy: &Policy,
    image: &str,
    namespace: Option<&str>,
    annotations: &[(String, String)],
) -> bool {
    let annotations: Vec<(&str, &str)> = annotations
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut ctx = Context::new().annotations(&annotations);
    if let Some(ns) = namespace {
        ctx = ctx.namespace(ns);
    }
    policy.evaluate(image, &ctx).code() == DecisionCode::PinRequired
}

/// An image a `lint --fix` run needs a digest for ([`wanted`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wanted {
    /// The image to resolve, as the fixed file will name it (rewritten).
    pub image: String,
    /// Its [`Pins::key`].
    pub key: String,
    /// The first file that names it.
    pub file: String,
    /// Where, in that file.
    pub position: Position,
}

/// The distinct images (by [`Pins::key`]) that `lint --fix` would pin in
/// `sources`, in the order first met: each file read and planned as
/// [`super::fix`] plans it. Empty without `pin:` rules (nothing is read).
/// A file that cannot be read completely is not fixed, so asks for nothing.
pub fn wanted(sources: &[Source], options: &Options, policy: &Policy) -> Vec<Wanted> {
    if !policy_pins(policy) {
        return Vec::new();
    }
    let unknown = Options {
        pins: None,
        ..options.clone()
    };
    let per_file = pipeline::map_files(sources, &unknown, |source| {
        let extracted = read::extract(source, &unknown);
        if extracted.problems.iter().any(|p| p.code.is_input_error()) {
            return Vec::new();
        }
        let text = source.text.as_deref().unwrap_or_default();
        let fix = plan(text, source.kind, &extracted.sites, policy, &unknown);
        fix.pinned
            .into_iter()
            .filter_map(|(site, image)| {
                Some(Wanted {
                    key: Pins::key(&image)?,
                    image,
                    file: source.name.clone(),
                    position: extracted.sites[site].position,
                })
            })
            .collect()
    });
    let mut seen = std::collections::HashSet::new();
    per_file
        .into_iter()
        .flatten()
        .filter(|w| seen.insert(w.key.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SourceKind;

    const D: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

    /// (kind, text, the fixed text, or the reason the pin is not fixable):
    /// `{D}` is the digest of `r.io/prod/a:1` (and of `r.io/prod/a`).
    const CASES: &[(SourceKind, &str, Result<&str, &str>)] = &[
        (
            SourceKind::Manifests,
            "kind: Pod\napiVersion: v1\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: a, image: 'r.io/prod/a:1'}\n  - name: b\n    image: m.io/prod/a:1 # mirrored\n  - name: c\n    image: r.io/prod/a\n  - name: d\n    image: r.io/prod/a:1@{D}\n  - name: e\n    image: r.io/dev/a:1\n",
            Ok(
                "kind: Pod\napiVersion: v1\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: a, image: 'r.io/prod/a:1@{D}'}\n  - name: b\n    image: r.io/prod/a:1@{D} # mirrored\n  - name: c\n    image: r.io/prod/a@{D}\n  - name: d\n    image: r.io/prod/a:1@{D}\n  - name: e\n    image: r.io/dev/a:1\n",
            ),
        ),
        (
            SourceKind::Manifests,
            "kind: Pod\napiVersion: v1\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: a, image: r.io/prod/b:2}\n",
            Err("no digest was resolved for r.io/prod/b:2"),
        ),
        (
            SourceKind::Dockerfile,
            "FROM r.io/prod/a:1 AS a\r\nFROM m.io/prod/a:1\r\nCOPY --from=a /x /x\r\n",
            Ok("FROM r.io/prod/a:1@{D} AS a\r\nFROM r.io/prod/a:1@{D}\r\nCOPY --from=a /x /x\r\n"),
        ),
        (
            SourceKind::Compose,
            "services:\n  web: {image: \"r.io/prod/a:1\"}\n",
            Ok("services:\n  web: {image: \"r.io/prod/a:1@{D}\"}\n"),
        ),
        (
            SourceKind::Compose,
            "services:\n  web:\n    image: r.io/prod/a:${TAG:-1}\n",
            Err("a value made with variables has no single span to change"),
        ),
        (
            SourceKind::Kustomization,
            "apiVersion: kustomize.config.k8s.io/v1beta1\r\nkind: Kustomization\r\nimages:\r\n  - name: x\r\n    newName: m.io/prod/a\r\n    newTag: \"1\"\r\n",
            Ok(
                "apiVersion: kustomize.config.k8s.io/v1beta1\r\nkind: Kustomization\r\nimages:\r\n  - name: x\r\n    newName: r.io/prod/a\r\n    digest: {D}\r\n    newTag: \"1\"\r\n",
            ),
        ),
        (
            SourceKind::Kustomization,
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nimages:\n- newTag: \"1\"\n  name: r.io/prod/a",
            Ok(
                "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nimages:\n- newTag: \"1\"\n  name: r.io/prod/a\n  digest: {D}",
            ),
        ),
        (
            SourceKind::Kustomization,
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nimages:\n- name: x\n  newName: r.io/prod/a\n",
            Err("this images: entry has no newTag"),
        ),
        (
            SourceKind::Kustomization,
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nimages: [{name: x, newName: r.io/prod/a, newTag: \"1\"}]\n",
            Err("is not in block style"),
        ),
    ];

    fn policy() -> Policy {
        Policy::from_yaml_str(
            "allow: [{registry: r.io}]\npin: [{repository: r.io/prod/**}]\nrewrite: [{from: m.io/prod, to: r.io/prod}]\n",
            "pin.yaml",
        )
        .expect("loads")
        .policy
    }

    fn source(kind: SourceKind, text: &str) -> Source {
        let name = match kind {
            SourceKind::Dockerfile => "Dockerfile",
            SourceKind::Kustomization => "kustomization.yaml",
            SourceKind::Compose => "compose.yaml",
            SourceKind::Manifests => "pod.yaml",
        };
        Source {
            name: name.to_owned(),
            kind,
            text: Ok(text.replace("{D}", D)),
        }
    }

    #[test]
    fn pins_every_kind_as_planned_or_says_why_not() {
        let policy = policy();
        let mut pins = Pins::new();
        pins.insert("r.io/prod/a:1", D).expect("pins");
        pins.insert("r.io/prod/a", D).expect("pins");
        let options = Options {
            pins: Some(pins),
            ..Options::default()
        };
        for &(kind, text, want) in CASES {
            let fixed = super::super::fix(vec![source(kind, text)], &options, &policy);
            let file = &fixed.files[0];
            match want {
                Ok(after) => {
                    let change = file
                        .change
                        .as_ref()
                        .unwrap_or_else(|| panic!("{text}: {file:?}"));
                    assert_eq!(change.after, after.replace("{D}", D), "{text}");
                    assert!(
                        file.unfixable.is_empty() && file.not_touched.is_none(),
                        "{file:?}"
                    );
                    assert_eq!(
                        fixed.report.exit_code(false),
                        0,
                        "{text}: {:?}",
                        fixed.report
                    );
                    // A second run changes nothing.
                    let again =
                        super::super::fix(vec![source(kind, &change.after)], &options, &policy);
                    assert_eq!(again.files[0].change, None, "{}", change.after);
                }
                Err(why) => {
                    let reasons: Vec<&str> =
                        file.unfixable.iter().map(|u| u.reason.as_str()).collect();
                    assert!(
                        reasons.iter().any(|r| r.contains(why)),
                        "{text}: {reasons:?}"
                    );
                    // lint says the same, from the same plan (no digest
                    // needed to know where it would go) unless it is the
                    // digest that is missing.
                    let report = crate::lint([source(kind, text)], &Options::default(), &policy);
                    let said: Vec<_> = report.files[0]
                        .findings
                        .iter()
                        .filter_map(|f| f.verdict.unfixable.as_deref())
                        .collect();
                    assert_eq!(
                        said.iter().any(|r| r.contains(why)),
                        !why.starts_with("no digest"),
                        "{text}: {said:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn wanted_lists_each_name_once_and_fix_without_digests_pins_nothing() {
        let policy = policy();
        let text = "kind: Pod\napiVersion: v1\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: a, image: r.io/prod/a:1}\n  - {name: b, image: m.io/prod/a:1}\n  - {name: c, image: docker.io/x/y:1}\n";
        let sources = [source(SourceKind::Manifests, text)];
        let wanted = wanted(&sources, &Options::default(), &policy);
        assert_eq!(
            wanted
                .iter()
                .map(|w| (w.image.as_str(), w.key.as_str(), w.position.line))
                .collect::<Vec<_>>(),
            [("r.io/prod/a:1", "r.io/prod/a:1", 6)]
        );
        let fixed = super::super::fix(sources.to_vec(), &Options::default(), &policy);
        assert_eq!(fixed.files[0].change, None);
        assert_eq!(fixed.files[0].unfixable.len(), 2, "{:?}", fixed.files[0]);
        // What the text report says of each.
        let report = crate::lint(sources.to_vec(), &Options::default(), &policy);
        let mut text = Vec::new();
        crate::render::text::render(
            &report,
            crate::render::Style {
                color: false,
                show_allowed: false,
            },
            &mut text,
        )
        .expect("renders");
        let text = String::from_utf8(text).expect("UTF-8");
        for said in [
            "= fixable with --fix (lint --fix pins it to the digest its registry serves)",
            "= rewritten to r.io/prod/a:1, pinned to its digest, by rewrite[0] (rewrite m.io/prod=r.io/prod)",
        ] {
            assert!(text.contains(said), "{said} not in\n{text}");
        }
        let unpinned = Policy::from_yaml_str("allow: [{registry: r.io}]\n", "p.yaml")
            .expect("loads")
            .policy;
        assert!(super::wanted(&sources, &Options::default(), &unpinned).is_empty());
    }

    #[test]
    fn keys_are_normalized_and_digests_checked() {
        let mut pins = Pins::new();
        let digest = format!("sha256:{}", "a".repeat(64));
        pins.insert("nginx", &digest).expect("pins");
        assert_eq!(pins.get("docker.io/library/nginx:latest"), Some(&*digest));
        assert_eq!(pins.get("nginx:1"), None);
        assert!(pins.insert("nginx", "sha256:short").is_err());
        assert!(pins.insert(&format!("nginx@{digest}"), &digest).is_err());
        assert_eq!(
            Pins::key("registry.my.com/A"),
            None,
            "an uppercase path does not parse"
        );
        assert_eq!(
            Pins::key("registry.my.com/a").as_deref(),
            Some("registry.my.com/a:latest")
        );
    }
}
