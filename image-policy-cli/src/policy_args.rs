//! The policy flags shared by `check`, `serve` and `lint`: a policy file,
//! rules given as flags, or both (flags add to the file).

use image_policy_core::policy::{LoadedPolicy, Mode, PolicyBuilder, PolicyError};
use std::fmt;
use std::path::PathBuf;

/// Where the policy comes from. Flags and `--policy` combine: the flags' rules
/// are added to the file's.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct PolicyArgs {
    /// Policy file (YAML, or JSON when the name ends in .json). See
    /// `image-policy policy schema` for the format.
    #[arg(long, value_name = "FILE", env = "IMAGE_POLICY_FILE")]
    pub policy: Option<PathBuf>,
    /// Allow a registry (HOST or HOST:PORT, or *.SUFFIX); repeatable, or a
    /// comma-separated list.
    #[arg(long, value_name = "HOST[:PORT]", value_delimiter = ',')]
    pub allow_registry: Vec<String>,
    /// Allow a repository pattern (quay.io/prometheus/*, registry.my.com/team/**);
    /// repeatable, or a comma-separated list.
    #[arg(long, value_name = "PATTERN", value_delimiter = ',')]
    pub allow_repository: Vec<String>,
    /// Deny a registry; repeatable, or a comma-separated list.
    #[arg(long, value_name = "HOST[:PORT]", value_delimiter = ',')]
    pub deny_registry: Vec<String>,
    /// Deny the latest tag, written or implied (`nginx` is `nginx:latest`).
    #[arg(long)]
    pub reject_latest: bool,
    /// Require a digest (`@sha256:...`).
    #[arg(long)]
    pub require_digest: bool,
    /// Override the policy's mode.
    #[arg(long, value_name = "MODE", value_parser = ["enforce", "warn", "audit"])]
    pub mode: Option<String>,
}

/// Why the policy could not be loaded. `Display` is what to print before
/// exiting with status 2.
#[derive(Debug)]
pub enum PolicyLoadError {
    /// The policy file could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// The policy (file and flags) has errors.
    Invalid(PolicyError),
    /// Neither a policy file nor a rule flag was given.
    Missing,
}

impl fmt::Display for PolicyLoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyLoadError::Read { path, error } => {
                write!(f, "cannot read policy file {}: {error}", path.display())
            }
            PolicyLoadError::Invalid(e) => write!(f, "invalid policy:\n{e}"),
            PolicyLoadError::Missing => f.write_str(
                "no policy: give --policy FILE (or IMAGE_POLICY_FILE) or rule flags such as --allow-registry",
            ),
        }
    }
}

impl std::error::Error for PolicyLoadError {}

impl PolicyArgs {
    /// Whether any rule flag is set (so that there is a policy without a file).
    fn has_rule_flags(&self) -> bool {
        !self.allow_registry.is_empty()
            || !self.allow_repository.is_empty()
            || !self.deny_registry.is_empty()
            || self.reject_latest
            || self.require_digest
    }

    /// Reads the file (if any), adds the flags' rules, compiles.
    pub fn load(&self) -> Result<LoadedPolicy, PolicyLoadError> {
        let builder = match &self.policy {
            Some(path) => {
                let src = std::fs::read_to_string(path).map_err(|error| PolicyLoadError::Read {
                    path: path.clone(),
                    error,
                })?;
                let origin = path.display().to_string();
                let is_json = path
                    .extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("json"));
                if is_json {
                    PolicyBuilder::from_json_str(&src, &origin)
                } else {
                    PolicyBuilder::from_yaml_str(&src, &origin)
                }
                .map_err(PolicyLoadError::Invalid)?
            }
            None if self.has_rule_flags() => PolicyBuilder::new(),
            None => return Err(PolicyLoadError::Missing),
        };
        let mut builder = builder.origin("<flags>");
        for r in &self.allow_registry {
            builder = builder.allow_registry(r);
        }
        for r in &self.allow_repository {
            builder = builder.allow_repository(r);
        }
        for r in &self.deny_registry {
            builder = builder.deny_registry(r);
        }
        if self.reject_latest {
            builder = builder.deny_tag("latest");
        }
        if self.require_digest {
            builder = builder.require_digest();
        }
        if let Some(mode) = self.mode.as_deref().and_then(Mode::from_name) {
            builder = builder.mode(mode);
        }
        builder.build().map_err(PolicyLoadError::Invalid)
    }
}
