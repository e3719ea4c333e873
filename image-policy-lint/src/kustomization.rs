//! Images a kustomization's `images:` overrides produce
//! (<https://kubectl.docs.kubernetes.io/references/kustomize/kustomization/images/>).
//!
//! kustomize reads a directory's `kustomization.yaml`, `kustomization.yml` or
//! `Kustomization`; each entry of its `images:` list rewrites the images of
//! the resources whose name is `name`. The image it writes is computed here
//! as kustomize's image-tag updater computes it
//! (`api/filters/imagetag/updater.go`), and judged:
//!
//! | override | image written into the resources |
//! | --- | --- |
//! | `newName` | `newName` in place of the name (else `name`) |
//! | `newTag` and `digest` | `NAME:newTag@digest` |
//! | `newTag` | `NAME:newTag` (the resource's digest is dropped) |
//! | `digest` | `NAME@digest` (the resource's tag is dropped) |
//! | neither | `NAME` with the resource's own tag or digest |
//!
//! In the last case (also with `tagSuffix`, which appends to the resource's
//! tag) the tag comes from a resource this file does not show: the name alone
//! is judged, so registry and repository rules apply, and a policy that
//! rejects `latest` flags it (the resource files themselves are judged with
//! their own tags). An entry that changes nothing (only `name`) is not an
//! image kustomize writes and is not judged. Each finding points at the
//! `newName` value, else the `name` value. The images of the resources
//! themselves are judged where they are written, and what `patches` or
//! `replacements` may do to images is not evaluated.
//!
//! # Untrusted input
//!
//! Read with serde-saphyr and the same budget as every YAML file: bounded
//! events, depth and alias expansion; a file that does not parse is a parse
//! error with its location.

use super::lines::Lines;
use super::report::{Extracted, Holder, ImageSite, Problem, ProblemCode};
use super::yaml::{self, Scalar};
use serde::Deserialize;
use serde_saphyr::Spanned;

/// The holder kind of an `images:` override's site (the fix planner edits
/// only its `newName`).
pub const HOLDER_KIND: &str = "kustomization images";

/// Whether kustomize reads a file of this name as a kustomization.
pub fn is_kustomization_name(name: &str) -> bool {
    matches!(
        name,
        "kustomization.yaml" | "kustomization.yml" | "Kustomization"
    )
}

#[derive(Deserialize)]
struct Kustomization {
    #[serde(default)]
    images: Option<Vec<Option<ImageOverride>>>,
}

#[derive(Deserialize)]
struct ImageOverride {
    #[serde(default)]
    name: Option<Spanned<Scalar>>,
    #[serde(default, rename = "newName")]
    new_name: Option<Spanned<Scalar>>,
    #[serde(default, rename = "newTag")]
    new_tag: Option<Spanned<Scalar>>,
    #[serde(default)]
    digest: Option<Spanned<Scalar>>,
    #[serde(default, rename = "tagSuffix")]
    tag_suffix: Option<Spanned<Scalar>>,
}

/// The text of an optional field, `None` when absent or empty (kustomize
/// treats an empty value as unset).
fn field(value: &Option<Spanned<Scalar>>) -> Option<String> {
    value
        .as_ref()
        .map(|v| v.value.text())
        .filter(|t| !t.is_empty())
}

/// The image an override writes, as kustomize's updater builds it; the name
/// alone when the tag comes from the resource.
pub fn produced_image(
    name: &str,
    new_name: Option<&str>,
    new_tag: Option<&str>,
    digest: Option<&str>,
) -> String {
    let mut image = new_name.unwrap_or(name).to_owned();
    if let Some(tag) = new_tag {
        image.push(':');
        image.push_str(tag);
    }
    if let Some(digest) = digest {
        image.push('@');
        image.push_str(digest);
    }
    image
}

/// Whether `image` does not parse because of its digest (the error is at
/// or after its `@`).
fn invalid_in_digest(image: &str) -> bool {
    let Some(at) = image.rfind('@') else {
        return false;
    };
    image_policy_core::reference::ImageRef::parse(image).is_err_and(|e| e.offset() >= at)
}

/// Reads the `images:` overrides of a kustomization.
pub fn extract(text: &str) -> Extracted {
    let mut out = Extracted::default();
    let file: Option<Kustomization> =
        match serde_saphyr::from_str_with_options(text, yaml::options()) {
            Ok(f) => f,
            Err(e) => {
                out.problems.push(yaml::parse_problem(&e, text));
                return out;
            }
        };
    let lines = Lines::new(text);
    let at = yaml::Locator::new(text);
    out.objects = 1;
    for entry in file
        .and_then(|f| f.images)
        .unwrap_or_default()
        .into_iter()
        .flatten()
    {
        let name = field(&entry.name);
        let new_name = field(&entry.new_name);
        let new_tag = field(&entry.new_tag);
        let digest = field(&entry.digest);
        let tag_suffix = field(&entry.tag_suffix);
        let anchor = entry.new_name.as_ref().or(entry.name.as_ref());
        let Some(anchor) = anchor else {
            if new_tag.is_some() || digest.is_some() {
                let written = entry.new_tag.as_ref().or(entry.digest.as_ref());
                out.problems.push(Problem {
                    position: written.map(|v| at.position(&v.referenced)),
                    code: ProblemCode::InvalidObject,
                    message: "an images: entry without name: kustomize cannot tell which images it rewrites".to_owned(),
                });
            }
            continue;
        };
        if new_name.is_none() && new_tag.is_none() && digest.is_none() && tag_suffix.is_none() {
            continue;
        }
        // An entry without `name` is judged by its `newName`, but it is not
        // named by it: a fix of `newName` must not move it to another holder.
        let holder_name = name.clone();
        let Some(name) = name.or_else(|| new_name.clone()) else {
            continue;
        };
        let image = produced_image(
            &name,
            new_name.as_deref(),
            new_tag.as_deref(),
            digest.as_deref(),
        );
        // A `digest:` that is not a digest (a `sha256:REPLACE-ME` left
        // unpinned) is what makes the image unparseable: point at it. Such
        // an image is never fixed, so the anchor of a fix does not move.
        let anchor = match &entry.digest {
            Some(d) if invalid_in_digest(&image) => d,
            _ => anchor,
        };
        let position = at.position(&anchor.referenced);
        let written_text = anchor.value.text();
        out.sites.push(ImageSite {
            position,
            width: yaml::value_width(&lines, position, &written_text),
            written: (image != written_text).then_some(written_text),
            image,
            holder: Holder {
                kind: HOLDER_KIND.to_owned(),
                namespace: None,
                name: holder_name,
            },
            container: None,
            path: None,
            namespace: None,
            annotations: Vec::new(),
        });
    }
    out.sites.sort_by_key(|s| s.position);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Position;

    /// (override as YAML, the image kustomize writes, or None).
    const OVERRIDES: &[(&str, Option<&str>)] = &[
        ("{name: nginx, newTag: '1.25'}", Some("nginx:1.25")),
        ("{name: nginx, newTag: 1.25}", Some("nginx:1.25")),
        (
            "{name: nginx, newName: evil.io/nginx}",
            Some("evil.io/nginx"),
        ),
        (
            "{name: nginx, newName: registry.my.com/nginx, newTag: v2}",
            Some("registry.my.com/nginx:v2"),
        ),
        (
            "{name: app, digest: 'sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'}",
            Some("app@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"),
        ),
        (
            "{name: app, newTag: v1, digest: 'sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'}",
            Some("app:v1@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"),
        ),
        ("{name: app, tagSuffix: -debug}", Some("app")),
        ("{name: app}", None),
        ("{name: app, newName: ''}", None),
    ];

    #[test]
    fn each_override_produces_the_image_kustomize_writes() {
        for (entry, want) in OVERRIDES {
            let text = format!("images:\n- {entry}\n");
            let got = extract(&text);
            assert!(got.problems.is_empty(), "{entry}: {:?}", got.problems);
            let images: Vec<&str> = got.sites.iter().map(|s| s.image.as_str()).collect();
            assert_eq!(images, want.iter().copied().collect::<Vec<_>>(), "{entry}");
        }
    }

    #[test]
    fn positions_point_at_new_name_else_name() {
        let text = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nimages:\n- name: nginx\n  newTag: \"1.25\"\n- name: app\n  newName: evil.io/app\n";
        let got = extract(text);
        let sites: Vec<_> = got
            .sites
            .iter()
            .map(|s| (s.image.as_str(), s.position, s.width))
            .collect();
        assert_eq!(
            sites,
            vec![
                ("nginx:1.25", Position { line: 4, column: 9 }, 5),
                (
                    "evil.io/app",
                    Position {
                        line: 7,
                        column: 12
                    },
                    11
                ),
            ]
        );
    }

    /// An unpinned placeholder digest is pointed at on its own line; a
    /// valid one, or a bad name, keeps the caret on `newName`.
    #[test]
    fn an_invalid_digest_is_pointed_at() {
        let text = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nimages:\n- name: app\n  newName: registry.my.com/app\n  digest: sha256:REPLACE-ME\n- name: web\n  newName: registry.my.com/web\n  digest: sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n- name: bad\n  newName: Registry.my.com/Bad\n  digest: sha256:REPLACE-ME\n";
        let got = extract(text);
        let sites: Vec<_> = got
            .sites
            .iter()
            .map(|s| (s.position.line, s.position.column, s.width))
            .collect();
        assert_eq!(sites, vec![(6, 11, 17), (8, 12, 19), (11, 12, 19)]);
    }

    #[test]
    fn broken_and_odd_files() {
        assert_eq!(
            extract("images: [\n").problems[0].code,
            ProblemCode::ParseError
        );
        assert!(extract("").sites.is_empty());
        assert!(extract("resources: [a.yaml]\n").sites.is_empty());
        let nameless = extract("images:\n- newTag: v1\n");
        assert_eq!(nameless.problems.len(), 1);
    }
}
