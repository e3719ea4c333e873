//! Which reader reads a source: one per [`SourceKind`], YAML and JSON by
//! what they hold rather than by their names (the crate docs, step 2).

use crate::report::Extracted;
use crate::{Options, Source, SourceKind, compose, dockerfile, kustomization, manifests};

/// Reads one source into image sites, objects, suppressions and problems,
/// without judging them (what [`lint`](crate::lint) does before the policy).
pub fn extract(source: &Source, options: &Options) -> Extracted {
    let text = match &source.text {
        Ok(text) => text,
        Err(problem) => {
            return Extracted {
                problems: vec![problem.clone()],
                ..Extracted::default()
            };
        }
    };
    match source.kind {
        SourceKind::Manifests | SourceKind::Compose => yaml_by_content(text, source.kind, options),
        SourceKind::Dockerfile => dockerfile::extract(text, &options.vars),
        SourceKind::Kustomization => kustomization_by_content(text),
    }
}

/// A file named like a kustomization: its `images:` overrides, and, since
/// `kubectl apply -R` reads it as a manifest, the images of any pod-bearing
/// object in it.
fn kustomization_by_content(text: &str) -> Extracted {
    let mut out = kustomization::extract(text);
    if !out.problems.is_empty() {
        return out;
    }
    let manifest = manifests::extract(text);
    if !manifest.sites.is_empty() || !manifest.problems.is_empty() {
        out.objects = out.objects.max(manifest.objects);
        out.sites.extend(manifest.sites);
        out.sites.sort_by_key(|s| s.position);
        out.suppressed.extend(manifest.suppressed);
        out.problems.extend(manifest.problems);
    }
    out
}

/// Whether a YAML/JSON text has a top-level `services` key, as a compose
/// file has: a `services:` line at column 0, or `"services"` in a JSON text.
fn has_top_level_services(text: &str) -> bool {
    text.starts_with("services:")
        || text.contains("\nservices:")
        || (text.trim_start().starts_with('{') && text.contains("\"services\""))
}

/// A YAML or JSON file read by what it holds, not by its name: a document
/// with `apiVersion` and `kind` is a Kubernetes manifest, a top-level
/// `services:` makes it a compose file. A file that holds both is read both
/// ways (every image of either reading is judged), and when a top-level
/// `services:` beside manifests does not read as compose, its error is
/// reported; a file that holds neither is read as its name says (`hint`).
fn yaml_by_content(text: &str, hint: SourceKind, options: &Options) -> Extracted {
    let services = has_top_level_services(text);
    if !services && hint == SourceKind::Manifests {
        return manifests::extract(text);
    }
    let manifest = manifests::extract(text);
    let compose = compose::extract(text, &options.vars);
    let is_manifest = manifest.skipped.is_none() && manifest.objects > 0;
    let is_compose = services && compose.objects > 0;
    match (is_manifest, is_compose) {
        (true, true) => {
            let mut both = manifest;
            both.objects += compose.objects;
            both.sites.extend(compose.sites);
            both.sites.sort_by_key(|s| s.position);
            both.suppressed.extend(compose.suppressed);
            both.problems.extend(compose.problems);
            both
        }
        (true, false) => {
            let mut manifest = manifest;
            if services {
                // A top-level `services:` that does not read as compose
                // (with manifests in the same file): say so rather than
                // guess.
                manifest.problems.extend(compose.problems);
            }
            manifest
        }
        (false, true) => compose,
        // Neither reading found anything: as the name says (a Helm
        // values file with a `services:` list stays a skipped non-manifest).
        (false, false) if hint == SourceKind::Compose => compose,
        (false, false) => manifest,
    }
}
