//! Noticing that files changed, the way Kubernetes changes them.
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

use sha2::{Digest, Sha256};
use std::path::PathBuf;

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

/// What a [`WatchedFiles::poll`] found.
pub(crate) enum Change {
    /// Same contents as last time (or the same read error as last time).
    Unchanged,
    /// New contents, one entry per watched path in order, and their hash.
    Changed {
        contents: Vec<Vec<u8>>,
        hash: String,
    },
    /// A file could not be read (a different error from last time).
    ReadFailed(ReadError),
}

/// A set of files read together and compared by the hash of their contents.
pub(crate) struct WatchedFiles {
    paths: Vec<PathBuf>,
    /// Hashed before the contents, so that two sources with the same files but
    /// different extra settings (policy flags) have different hashes.
    salt: Vec<u8>,
    last_hash: Option<String>,
    last_error: Option<String>,
}

impl WatchedFiles {
    pub(crate) fn new(paths: Vec<PathBuf>, salt: impl Into<Vec<u8>>) -> Self {
        WatchedFiles {
            paths,
            salt: salt.into(),
            last_hash: None,
            last_error: None,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// Reads every file and reports whether the contents changed since the
    /// previous poll. Contents that were seen once are not reported again,
    /// whether they loaded or not: a broken file is reported once, not on
    /// every tick.
    pub(crate) fn poll(&mut self) -> Change {
        let mut contents = Vec::with_capacity(self.paths.len());
        for path in &self.paths {
            match std::fs::read(path) {
                Ok(bytes) => contents.push(bytes),
                Err(source) => {
                    let error = ReadError {
                        path: path.clone(),
                        source,
                    };
                    let message = error.to_string();
                    if self.last_error.as_deref() == Some(&message) {
                        return Change::Unchanged;
                    }
                    self.last_error = Some(message);
                    return Change::ReadFailed(error);
                }
            }
        }
        self.last_error = None;
        let hash = content_hash(&self.salt, &contents);
        if self.last_hash.as_deref() == Some(&hash) {
            return Change::Unchanged;
        }
        self.last_hash = Some(hash.clone());
        Change::Changed { contents, hash }
    }
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

        let mut watch = WatchedFiles::new(vec![dir.path().join("policy.yaml")], "");
        let Change::Changed { contents, .. } = watch.poll() else {
            panic!("first poll must report the contents");
        };
        assert_eq!(contents, vec![b"a".to_vec()]);
        assert!(matches!(watch.poll(), Change::Unchanged));

        // The kubelet's swap: a new symlink renamed over `..data`.
        let tmp = dir.path().join("..data_tmp");
        std::os::unix::fs::symlink("..2026_01_02", &tmp).unwrap();
        std::fs::rename(&tmp, &data).unwrap();
        let Change::Changed { contents, .. } = watch.poll() else {
            panic!("the swap must be reported");
        };
        assert_eq!(contents, vec![b"b".to_vec()]);

        // Rewriting the same bytes is not a change.
        std::fs::write(v2.join("policy.yaml"), "b").unwrap();
        assert!(matches!(watch.poll(), Change::Unchanged));
    }

    #[test]
    fn a_read_error_is_reported_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut watch = WatchedFiles::new(vec![dir.path().join("missing")], "");
        assert!(matches!(watch.poll(), Change::ReadFailed(e) if e.path.ends_with("missing")));
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
