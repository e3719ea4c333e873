//! What is read: one input ([`Source`]) and how ([`SourceKind`]), made by
//! [`crate::walk`] or by the caller.

use crate::report::Problem;

/// How a file is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SourceKind {
    /// Kubernetes manifests: YAML (multi-document) or JSON.
    Manifests,
    /// A Dockerfile or Containerfile.
    Dockerfile,
    /// A compose file.
    Compose,
    /// A kustomization (`kustomization.yaml`, `kustomization.yml`,
    /// `Kustomization`): its `images:` overrides.
    Kustomization,
}

impl SourceKind {
    /// The kind a file name says, or `None` when a directory walk should not
    /// read it.
    pub fn from_file_name(name: &str) -> Option<SourceKind> {
        if crate::kustomization::is_kustomization_name(name) {
            return Some(SourceKind::Kustomization);
        }
        let lower = name.to_ascii_lowercase();
        let yaml_ext = lower.ends_with(".yaml") || lower.ends_with(".yml");
        if yaml_ext {
            let stem = lower.trim_end_matches(".yaml").trim_end_matches(".yml");
            let compose = ["compose", "docker-compose"].iter().any(|base| {
                stem == *base
                    || stem.starts_with(&format!("{base}."))
                    || stem.ends_with(&format!(".{base}"))
            });
            return Some(if compose {
                SourceKind::Compose
            } else {
                SourceKind::Manifests
            });
        }
        if lower.ends_with(".json") {
            return Some(SourceKind::Manifests);
        }
        let dockerfile = ["dockerfile", "containerfile"].iter().any(|base| {
            lower == *base
                || lower.ends_with(&format!(".{base}"))
                || (lower.starts_with(&format!("{base}.")) && !lower.ends_with(".dockerignore"))
        });
        dockerfile.then_some(SourceKind::Dockerfile)
    }
}

/// One input to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// The name to report (`<stdin>` for `-`).
    pub name: String,
    /// How to read it.
    pub kind: SourceKind,
    /// The text, or why it could not be read.
    pub text: Result<String, Problem>,
}
