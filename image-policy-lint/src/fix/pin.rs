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
