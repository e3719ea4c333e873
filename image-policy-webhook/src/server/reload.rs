//! Reloading: noticing that the policy or certificate files changed, the way
//! Kubernetes changes them, and putting new contents in force.
//!
//! A Secret or ConfigMap mounted as a volume is updated by writing a new
//! timestamped directory and atomically swapping the `..data` symlink that the
//! visible file names point through. File system events on the visible path
//! are unreliable for that (the path itself never changes), and modification
//! times are those of the old or new target depending on how one looks. So the
//! files are read through their paths on an interval and compared by the
//! SHA-256 of their contents: a swap, an in-place edit and a plain
//! `mv new old` all show up as a different hash, and rewriting identical
//! contents does nothing.
//!
//! A [`WatchedFiles`] exists only once its files were read
//! ([`WatchedFiles::open`]): the server starts from those contents or does
//! not start, and every later [`WatchedFiles::poll`] compares with contents
//! that were read. The [`Reloader`] polls the policy's and the certificate's
//! files and swaps what loads into the server's [`State`].

use super::metrics::Metrics;
use super::tls::{self, CertificateStore};
use super::{ActivePolicy, PolicyLoadError, PolicySource, State, TlsFiles};
use image_policy_core::policy::LoadedPolicy;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::Arc;

/// A watched file (policy, certificate, key) that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {}: {source}", path.display())]
pub struct ReadError {
    /// The file.
    pub path: PathBuf,
    /// What the OS said.
    #[source]
    pub source: std::io::Error,
}

/// The contents of a set of files read together.
pub(crate) struct Contents {
    /// One entry per watched path, in order.
    pub(crate) files: Vec<Vec<u8>>,
    /// Their hash ([`content_hash`] with the salt).
    pub(crate) hash: String,
}

/// What a [`WatchedFiles::poll`] found.
pub(crate) enum Change {
    /// Same contents as last time (or the same read error as last time).
    Unchanged,
    /// New contents.
    Changed(Contents),
    /// A file could not be read (a different error from last time).
    ReadFailed(ReadError),
}

/// A set of files read together and compared by the hash of their contents.
pub(crate) struct WatchedFiles {
    paths: Vec<PathBuf>,
    /// Hashed before the contents, so that two sources with the same files but
    /// different extra settings (policy flags) have different hashes.
    salt: Vec<u8>,
    /// The hash of the contents last read.
    last_hash: String,
    last_error: Option<String>,
}

impl WatchedFiles {
    /// Reads every file a first time: the watch starts from these contents,
    /// and a file that cannot be read is the error (there is then nothing to
    /// watch from).
    pub(crate) fn open(
        paths: Vec<PathBuf>,
        salt: impl Into<Vec<u8>>,
    ) -> Result<(Self, Contents), ReadError> {
        let salt = salt.into();
        let contents = read(&paths, &salt)?;
        let watch = WatchedFiles {
            paths,
            salt,
            last_hash: contents.hash.clone(),
            last_error: None,
        };
        Ok((watch, contents))
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// Reads every file and reports whether the contents changed since the
    /// previous read. Contents that were seen once are not reported again,
    /// whether they loaded or not: a broken file is reported once, not on
    /// every tick.
    pub(crate) fn poll(&mut self) -> Change {
        match read(&self.paths, &self.salt) {
            Err(error) => {
                let message = error.to_string();
                if self.last_error.as_deref() == Some(&message) {
                    return Change::Unchanged;
                }
                self.last_error = Some(message);
                Change::ReadFailed(error)
            }
            Ok(contents) => {
                self.last_error = None;
                if self.last_hash == contents.hash {
                    return Change::Unchanged;
                }
                self.last_hash.clone_from(&contents.hash);
                Change::Changed(contents)
            }
        }
    }
}

/// Reads `paths` in order and hashes them with `salt`.
fn read(paths: &[PathBuf], salt: &[u8]) -> Result<Contents, ReadError> {
    let mut files = Vec::with_capacity(paths.len());
    for path in paths {
        match std::fs::read(path) {
            Ok(bytes) => files.push(bytes),
            Err(source) => {
                return Err(ReadError {
                    path: path.clone(),
                    source,
                });
            }
        }
    }
    let hash = content_hash(salt, &files);
    Ok(Contents { files, hash })
}

/// `sha256:<hex>` of the salt and each file, each prefixed by its length so
/// that moving bytes from one file to the next changes the hash.
pub(crate) fn content_hash(salt: &[u8], contents: &[Vec<u8>]) -> String {
    let mut hasher = Sha256::new();
    hasher.update((salt.len() as u64).to_be_bytes());
    hasher.update(salt);
    for bytes in contents {
        hasher.update((bytes.len() as u64).to_be_bytes());
        hasher.update(bytes);
    }
    let digest = hasher.finalize();
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for byte in digest {
        out.push(char::from(b"0123456789abcdef"[usize::from(byte >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(byte & 0xf)]));
    }
    out
}

/// The policy's watched files and the policy they loaded: what the server
/// starts with.
pub(crate) fn load_first_policy(
    source: &PolicySource,
    metrics: &Metrics,
) -> Result<(WatchedFiles, ActivePolicy), PolicyLoadError> {
    let (files, contents) =
        match WatchedFiles::open(source.files.clone(), source.identity.as_bytes()) {
            Ok(read) => read,
            Err(e) => {
                metrics.policy_loaded(None);
                return Err(PolicyLoadError::Read(e));
            }
        };
    let hash = contents.hash;
    match (source.load)() {
        Ok(loaded) => {
            log_policy_loaded(&loaded, &hash);
            metrics.policy_loaded(Some(&hash));
            let policy = ActivePolicy {
                policy: loaded.policy,
                hash,
            };
            Ok((files, policy))
        }
        Err(error) => {
            metrics.policy_loaded(None);
            Err(PolicyLoadError::Load(error))
        }
    }
}

fn log_policy_loaded(loaded: &LoadedPolicy, hash: &str) {
    for warning in &loaded.warnings {
        tracing::warn!(policy = hash, "{warning}");
    }
    tracing::info!(policy = hash, "policy loaded");
}

/// The serving certificate in force and the files it was read from.
pub(crate) struct WatchedCertificate {
    pub(crate) store: Arc<CertificateStore>,
    pub(crate) watch: WatchedFiles,
    pub(crate) files: TlsFiles,
}

/// The periodic check of the policy and certificate files.
pub(crate) struct Reloader {
    pub(crate) state: Arc<State>,
    pub(crate) policy: PolicySource,
    pub(crate) policy_files: WatchedFiles,
    pub(crate) certificate: Option<WatchedCertificate>,
}

impl Reloader {
    /// Reads the files once, and puts in force what changed and loads.
    pub(crate) fn poll(&mut self) {
        let metrics = &self.state.metrics;
        if !self.policy_files.is_empty() {
            match self.policy_files.poll() {
                Change::Unchanged => {}
                Change::ReadFailed(e) => {
                    metrics.policy_loaded(None);
                    tracing::error!("policy not reloaded, the previous one stays in force: {e}");
                }
                Change::Changed(Contents { hash, .. }) => match (self.policy.load)() {
                    Ok(loaded) => {
                        log_policy_loaded(&loaded, &hash);
                        metrics.policy_loaded(Some(&hash));
                        self.state.set_policy(ActivePolicy {
                            policy: loaded.policy,
                            hash,
                        });
                    }
                    Err(error) => {
                        metrics.policy_loaded(None);
                        tracing::error!(
                            policy = hash,
                            "policy not reloaded, the previous one stays in force:\n{error}"
                        );
                    }
                },
            }
        }
        if let Some(WatchedCertificate {
            store,
            watch,
            files,
        }) = &mut self.certificate
        {
            match watch.poll() {
                Change::Unchanged => {}
                Change::ReadFailed(e) => {
                    metrics.certificate_loaded(false);
                    tracing::error!(
                        "certificate not reloaded, the previous one stays in force: {e}"
                    );
                }
                Change::Changed(Contents { files: pem, .. }) => {
                    match tls::certified_key(&pem[0], &pem[1], &files.cert, &files.key) {
                        Ok(key) => {
                            store.replace(key);
                            metrics.certificate_loaded(true);
                            tracing::info!(cert = %files.cert.display(), "certificate reloaded");
                        }
                        Err(e) => {
                            metrics.certificate_loaded(false);
                            tracing::error!(
                                "certificate not reloaded, the previous one stays in force: {e}"
                            );
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlink_swap_is_a_change_and_rewrite_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let v1 = dir.path().join("..2026_01_01");
        let v2 = dir.path().join("..2026_01_02");
        std::fs::create_dir(&v1).unwrap();
        std::fs::create_dir(&v2).unwrap();
        std::fs::write(v1.join("policy.yaml"), "a").unwrap();
        std::fs::write(v2.join("policy.yaml"), "b").unwrap();
        let data = dir.path().join("..data");
        std::os::unix::fs::symlink("..2026_01_01", &data).unwrap();
        std::os::unix::fs::symlink("..data/policy.yaml", dir.path().join("policy.yaml")).unwrap();

        let (mut watch, first) = WatchedFiles::open(vec![dir.path().join("policy.yaml")], "")
            .expect("the first read must report the contents");
        assert_eq!(first.files, vec![b"a".to_vec()]);
        assert!(matches!(watch.poll(), Change::Unchanged));

        // The kubelet's swap: a new symlink renamed over `..data`.
        let tmp = dir.path().join("..data_tmp");
        std::os::unix::fs::symlink("..2026_01_02", &tmp).unwrap();
        std::fs::rename(&tmp, &data).unwrap();
        let Change::Changed(contents) = watch.poll() else {
            panic!("the swap must be reported");
        };
        assert_eq!(contents.files, vec![b"b".to_vec()]);

        // Rewriting the same bytes is not a change.
        std::fs::write(v2.join("policy.yaml"), "b").unwrap();
        assert!(matches!(watch.poll(), Change::Unchanged));
    }

    #[test]
    fn a_read_error_is_reported_once() {
        let dir = tempfile::tempdir().unwrap();
        // No watch without a first read.
        let missing = WatchedFiles::open(vec![dir.path().join("missing")], "");
        assert!(matches!(missing, Err(e) if e.path.ends_with("missing")));
        // A file that goes away after the first read: reported once.
        let path = dir.path().join("gone");
        std::fs::write(&path, "a").unwrap();
        let (mut watch, _) = WatchedFiles::open(vec![path.clone()], "").unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(watch.poll(), Change::ReadFailed(e) if e.path.ends_with("gone")));
        assert!(matches!(watch.poll(), Change::Unchanged));
    }

    #[test]
    fn salt_and_boundaries_change_the_hash() {
        let ab = content_hash(b"", &[b"ab".to_vec(), b"".to_vec()]);
        let a_b = content_hash(b"", &[b"a".to_vec(), b"b".to_vec()]);
        let salted = content_hash(b"--reject-latest", &[b"ab".to_vec(), b"".to_vec()]);
        assert_ne!(ab, a_b);
        assert_ne!(ab, salted);
        assert!(ab.starts_with("sha256:") && ab.len() == 7 + 64);
    }
}
