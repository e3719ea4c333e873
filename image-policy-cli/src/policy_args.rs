//! The policy flags shared by `check`, `serve`, `lint` and `export`: a policy file,
//! rules given as flags, or both (flags add to the file).
//!
//! - `IMAGE_POLICY_FILE` is the default of `--policy`; set but empty, it
//!   counts as unset (as `VAR= cmd` is the shell's way to clear it for one
//!   command). `--policy ""` is refused with a message.
//! - List flags take comma-separated values; spaces around each value are
//!   trimmed (`--allow-registry "a.io, b.io"`), and an empty value is refused.
//! - `--registry-whitelist LIST` is kube-image-bouncer's spelling of
//!   `--allow-registry`, so that the bouncer's command line works unchanged:
//!   its values are read and validated as `--allow-registry`'s are, and are
//!   added after them (`allow[N]` counts the `--allow-registry` values
//!   first). It is a flag of its own rather than a clap alias so that an
//!   error names the flag that was typed.
//! - A registry written as a URL (`https://registry.my.com`) is refused with
//!   the reason: a registry is a host, without a scheme.
//! - `--rewrite FROM=TO` (repeatable, not comma-separated) adds a rewrite
//!   rule after the file's rules: the file's rules come first, so a flag
//!   only adds to what the file rewrites, and the first match wins.
//! - A policy file whose name ends in `.json` is read as JSON; when it does
//!   not parse and does not look like JSON, the error says so.

use image_policy_core::policy::{LoadedPolicy, Mode, PolicyBuilder, PolicyError};
use std::fmt;
use std::path::PathBuf;

/// Where the policy comes from. Flags and `--policy` combine: the flags' rules
/// are added to the file's.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct PolicyArgs {
    /// Policy file (YAML, or JSON when the name ends in .json). See
    /// `image-policy policy schema` for the format.
    /// [env: IMAGE_POLICY_FILE, ignored when empty]
    #[arg(long, value_name = "FILE", value_parser = policy_file)]
    pub policy: Option<PathBuf>,
    /// Allow a registry (HOST or HOST:PORT, or *.SUFFIX); repeatable, or a
    /// comma-separated list.
    #[arg(long, value_name = "HOST[:PORT]", value_delimiter = ',', value_parser = registry)]
    pub allow_registry: Vec<String>,
    /// Alias of --allow-registry, in kube-image-bouncer's spelling: a
    /// comma-separated list of registries, each read as --allow-registry
    /// reads it.
    #[arg(long, value_name = "HOST[:PORT],...", value_delimiter = ',', value_parser = registry)]
    pub registry_whitelist: Vec<String>,
    /// Allow a repository pattern (quay.io/prometheus/*, registry.my.com/team/**);
    /// repeatable, or a comma-separated list.
    #[arg(long, value_name = "PATTERN", value_delimiter = ',', value_parser = repository)]
    pub allow_repository: Vec<String>,
    /// Deny a registry; repeatable, or a comma-separated list.
    #[arg(long, value_name = "HOST[:PORT]", value_delimiter = ',', value_parser = registry)]
    pub deny_registry: Vec<String>,
    /// Deny the latest tag, written or implied (`nginx` is `nginx:latest`).
    #[arg(long)]
    pub reject_latest: bool,
    /// Require a digest (`@sha256:...`).
    #[arg(long)]
    pub require_digest: bool,
    /// Rewrite images under FROM (a registry, optionally with a path prefix:
    /// docker.io/library) to TO (a registry with an optional path), before
    /// judging them; repeatable, after the policy file's rewrite rules.
    #[arg(long, value_name = "FROM=TO", value_parser = rewrite)]
    pub rewrite: Vec<(String, String)>,
    /// Override the policy's mode.
    #[arg(long, value_name = "MODE", value_enum)]
    pub mode: Option<ModeArg>,
}

/// `--mode`: the policy's modes, as the policy file writes them.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModeArg {
    Enforce,
    Warn,
    Audit,
}

impl From<ModeArg> for Mode {
    fn from(mode: ModeArg) -> Self {
        match mode {
            ModeArg::Enforce => Mode::Enforce,
            ModeArg::Warn => Mode::Warn,
            ModeArg::Audit => Mode::Audit,
        }
    }
}

/// The environment variable that is the default of `--policy`.
pub const POLICY_FILE_ENV: &str = "IMAGE_POLICY_FILE";

fn policy_file(text: &str) -> Result<PathBuf, String> {
    if text.is_empty() {
        return Err("the policy file name is empty; give a file, or leave --policy out".to_owned());
    }
    Ok(PathBuf::from(text))
}

/// A list value, trimmed, not empty, and not a URL.
fn list_value(text: &str, what: &str) -> Result<String, String> {
    let value = text.trim();
    if value.is_empty() {
        return Err(format!(
            "empty {what} in the list; separate values with commas, as in a.io,b.io"
        ));
    }
    if let Some(hint) = image_policy_core::policy::scheme_hint(value, what) {
        return Err(hint);
    }
    Ok(value.to_owned())
}

fn registry(text: &str) -> Result<String, String> {
    list_value(text, "registry")
}

fn repository(text: &str) -> Result<String, String> {
    list_value(text, "repository pattern")
}

/// `FROM=TO`, both sides trimmed and not empty, without a scheme.
fn rewrite(text: &str) -> Result<(String, String), String> {
    let Some((from, to)) = text.split_once('=') else {
        return Err(format!(
            "{text:?} is not FROM=TO (as in docker.io/library=registry.my.com)"
        ));
    };
    Ok((
        list_value(from, "rewrite FROM")?,
        list_value(to, "rewrite TO")?,
    ))
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
    /// A file named `.json` that is not JSON (and looks like YAML).
    NotJson {
        /// The file.
        path: PathBuf,
        /// The JSON reader's errors.
        error: PolicyError,
    },
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
            PolicyLoadError::NotJson { path, error } => write!(
                f,
                "invalid policy:\n{error}\nhint: {} is read as JSON because its name ends in .json, \
                 but it does not start with `{{`: if it is YAML, name it .yaml",
                path.display()
            ),
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
            || !self.registry_whitelist.is_empty()
            || !self.allow_repository.is_empty()
            || !self.deny_registry.is_empty()
            || self.reject_latest
            || self.require_digest
            || !self.rewrite.is_empty()
    }

    /// The policy file: `--policy`, else `IMAGE_POLICY_FILE` when it is set
    /// and not empty.
    pub fn policy_file(&self) -> Option<PathBuf> {
        self.policy.clone().or_else(|| {
            std::env::var_os(POLICY_FILE_ENV)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
    }

    /// Reads the file (if any), adds the flags' rules, compiles.
    pub fn load(&self) -> Result<LoadedPolicy, PolicyLoadError> {
        let builder = match &self.policy_file() {
            Some(path) => {
                let src = std::fs::read_to_string(path).map_err(|error| PolicyLoadError::Read {
                    path: path.clone(),
                    error,
                })?;
                let origin = path.display().to_string();
                let is_json = path
                    .extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("json"));
                let builder = if is_json {
                    PolicyBuilder::from_json_str(&src, &origin).map_err(|error| {
                        if looks_like_json(&src) {
                            PolicyLoadError::Invalid(error)
                        } else {
                            PolicyLoadError::NotJson {
                                path: path.clone(),
                                error,
                            }
                        }
                    })
                } else {
                    PolicyBuilder::from_yaml_str(&src, &origin).map_err(PolicyLoadError::Invalid)
                }?;
                builder.read_key_files(key_file_reader(path))
            }
            None if self.has_rule_flags() => PolicyBuilder::new(),
            None => return Err(PolicyLoadError::Missing),
        };
        let mut builder = builder.origin("<flags>");
        for r in self.allow_registry.iter().chain(&self.registry_whitelist) {
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
        for (from, to) in &self.rewrite {
            builder = builder.rewrite(from, to);
        }
        if let Some(mode) = self.mode {
            builder = builder.mode(mode.into());
        }
        builder.build().map_err(PolicyLoadError::Invalid)
    }
}

/// The largest key file read (a PEM public key is well under 4 KiB).
const MAX_KEY_FILE: u64 = 64 * 1024;

/// Reads verify rules' `keyFile:`s relative to the policy file's directory
/// (absolute paths as they are), at most 64 KiB each: the loaders' side of
/// [`PolicyBuilder::read_key_files`].
pub fn key_file_reader(
    policy: &std::path::Path,
) -> impl FnMut(&str) -> Result<String, String> + use<> {
    let dir = policy
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    move |file| {
        use std::io::Read as _;
        let path = dir.join(file);
        let f = std::fs::File::open(&path).map_err(|e| e.to_string())?;
        let mut text = String::new();
        f.take(MAX_KEY_FILE + 1)
            .read_to_string(&mut text)
            .map_err(|e| e.to_string())?;
        if text.len() as u64 > MAX_KEY_FILE {
            return Err(format!("larger than {MAX_KEY_FILE} bytes"));
        }
        Ok(text)
    }
}

/// Whether a policy file's text could be JSON: its first character (after
/// whitespace and a byte-order mark) opens an object.
pub fn looks_like_json(src: &str) -> bool {
    src.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}')
        .starts_with('{')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_values_are_trimmed_and_urls_refused() {
        assert_eq!(registry(" b.io ").as_deref(), Ok("b.io"));
        assert!(registry("").unwrap_err().contains("empty registry"));
        let url = registry("https://registry.my.com").unwrap_err();
        assert!(url.contains("scheme (https://)"), "{url}");
        assert!(url.contains("\"registry.my.com\""), "{url}");
        assert!(policy_file("").is_err());
        assert!(looks_like_json("\u{feff}  {\"a\": 1}"));
        assert!(!looks_like_json("allow:\n- registry: x\n"));
        assert_eq!(
            rewrite(" docker.io/library = registry.my.com"),
            Ok(("docker.io/library".to_owned(), "registry.my.com".to_owned()))
        );
        assert!(rewrite("docker.io").unwrap_err().contains("FROM=TO"));
        assert!(
            rewrite("docker.io=")
                .unwrap_err()
                .contains("empty rewrite TO")
        );
        assert!(
            rewrite("docker.io=https://x.io")
                .unwrap_err()
                .contains("scheme")
        );
    }
}
