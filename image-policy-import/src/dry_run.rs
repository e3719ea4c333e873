//! The migration dry run: per image, the old engine's decision and the new
//! policy's, and the images whose decision changes, both ways.
//!
//! Both sides are compared as *violations* (whether the rules flag the
//! image), whatever the mode: a `warn` constraint's image is "denied" in the
//! comparison, as the imported `warn` policy's is.

use crate::old::{OldDecision, OldPolicy};
use image_policy_core::k8s::{ContainerList, find_images};
use image_policy_core::policy::{Context, Policy};
use std::fmt;

/// One image of the dry run.
#[derive(Clone, Debug)]
pub struct DryRunImage {
    /// The image as written.
    pub image: String,
    /// The namespace of its object, when known.
    pub namespace: Option<String>,
    /// Where it is written (`line 3`, `items[0] (Pod "web") spec.containers[0].image`).
    pub place: String,
    /// The list it is in.
    pub list: ContainerList,
    /// The old engine's decision.
    pub old: OldDecision,
    /// The new policy's violation, in words (`None`: admitted).
    pub new: Option<String>,
}

impl DryRunImage {
    /// Whether the old policy flagged it.
    pub fn denied_before(&self) -> bool {
        self.old.violates()
    }

    /// Whether the new policy flags it.
    pub fn denied_now(&self) -> bool {
        self.new.is_some()
    }
}

/// The images and their decisions, in the order read.
#[derive(Clone, Debug, Default)]
pub struct DryRun {
    /// Every image.
    pub images: Vec<DryRunImage>,
}

impl DryRun {
    /// The images the old policy admitted and the new one denies.
    pub fn admitted_before_denied_now(&self) -> impl Iterator<Item = &DryRunImage> {
        self.images
            .iter()
            .filter(|i| !i.denied_before() && i.denied_now())
    }

    /// The images the old policy denied and the new one admits.
    pub fn denied_before_admitted_now(&self) -> impl Iterator<Item = &DryRunImage> {
        self.images
            .iter()
            .filter(|i| i.denied_before() && !i.denied_now())
    }

    /// `N images: A admitted before and denied now, D denied before and admitted now, S unchanged`.
    pub fn summary(&self) -> String {
        let a = self.admitted_before_denied_now().count();
        let d = self.denied_before_admitted_now().count();
        let n = self.images.len();
        format!(
            "{n} {}: {a} admitted before and denied now, {d} denied before and admitted now, {} unchanged",
            if n == 1 { "image" } else { "images" },
            n - a - d
        )
    }
}

/// Why the images cannot be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImagesError(pub String);

impl fmt::Display for ImagesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ImagesError {}

/// An image to judge: where it is written, its namespace and list.
#[derive(Clone, Debug)]
pub struct Site {
    /// The image as written.
    pub image: String,
    /// The namespace of its object.
    pub namespace: Option<String>,
    /// Where it is written.
    pub place: String,
    /// The list it is in.
    pub list: ContainerList,
}

/// The images of `text`: the JSON of `kubectl get pods -A -o json` (a
/// `List`, or one object), or one image per line (blank lines and lines
/// starting with `#` skipped).
pub fn read_images(text: &str) -> Result<Vec<Site>, ImagesError> {
    let trimmed = text.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
    if !trimmed.starts_with('{') {
        return Ok(text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
            .map(|(n, l)| Site {
                image: l.trim().to_owned(),
                namespace: None,
                place: format!("line {}", n + 1),
                list: ContainerList::Containers,
            })
            .collect());
    }
    let value: serde_json::Value =
        serde_json::from_str(trimmed).map_err(|e| ImagesError(format!("not JSON: {e}")))?;
    let items: Vec<(String, &serde_json::Value)> =
        match value.get("items").and_then(|v| v.as_array()) {
            Some(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("items[{i}]"), v))
                .collect(),
            None => vec![(String::new(), &value)],
        };
    let mut out = Vec::new();
    for (at, item) in items {
        let object = image_policy_core::admission::object_from_json(item)
            .map_err(|e| ImagesError(format!("{at}: {e}")))?;
        let found = find_images(&object).map_err(|e| ImagesError(format!("{at}: {e}")))?;
        let kind = object.kind().unwrap_or("?");
        let name = object.name().unwrap_or("");
        for f in found {
            out.push(Site {
                image: f.image.as_str().to_owned(),
                namespace: object.namespace().map(str::to_owned),
                place: format!("{at} ({kind} {name:?}) {}", f.json_path)
                    .trim_start()
                    .to_owned(),
                list: f.list,
            });
        }
    }
    Ok(out)
}

use image_policy_core::k8s::Text as _;

/// Judges every site by the old policy and the new one.
pub fn dry_run(old: &OldPolicy, new: &Policy, sites: Vec<Site>) -> DryRun {
    let images = sites
        .into_iter()
        .map(|s| {
            let ctx = match &s.namespace {
                Some(ns) => Context::new().namespace(ns),
                None => Context::new(),
            };
            // As `check` judges it: the rewritten name, when a rewrite rule applies.
            let new_violation = match new.rewrite_str(&s.image) {
                Ok(rewritten) => {
                    let decision = new.evaluate_rewritten(&s.image, rewritten.as_ref(), &ctx);
                    decision.violates().then(|| decision.to_string())
                }
                Err(e) => Some(e.to_string()),
            };
            let old = old.judge_in(&s.image, s.namespace.as_deref(), s.list);
            DryRunImage {
                image: s.image,
                namespace: s.namespace,
                place: s.place,
                list: s.list,
                old,
                new: new_violation,
            }
        })
        .collect();
    DryRun { images }
}
