//! Writing the files `lint --fix` fixed, keeping each file what it was: the
//! same owner, group and mode, the same byte-order mark, every name it has
//! seeing the fix, each file written once however many names reach it.
//!
//! What happens with the names a file may have:
//!
//! - **Several names for one file** (a file and a symbolic link to it, the
//!   same file given twice): files are told apart by device and inode; the
//!   first name written fixes the file, the others say so and are not
//!   written again (with `--diff`, the diff is printed once).
//! - **A symbolic link** is fixed through: its target is replaced and the
//!   link kept, when the target is inside the paths given (a path given, or
//!   under a directory given, once links are resolved). A link whose target
//!   is elsewhere is not written (a repository's link must not make
//!   `lint --fix` write outside it): give the target's path to fix it.
//! - **A hard link** (a file with more than one name, `nlink > 1`) is not
//!   written: an atomic write replaces the name, which would split the file
//!   (the other names keep the old text). The refusal names the other names
//!   the run found; fix it by hand, or break the link first.
//!
//! Each write is atomic: a temporary file in the target's directory gets the
//! text, the owner, group and mode of the file (owner first, as changing it
//! clears set-user-ID bits), and is flushed to disk; it is then renamed over
//! the file and the directory is flushed, so a reader sees the old text or
//! the new one, never a mix, even across a crash. A file whose text is no
//! longer the one read (changed meanwhile), that is read-only, or whose
//! owner cannot be kept (another user's file written by one who may not give
//! files away) is not written. Extended attributes and ACLs are not copied.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The UTF-8 byte-order mark, which the reader drops and the writer keeps.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// A file's identity: device and inode (on Unix), else its resolved path.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Identity {
    #[cfg(unix)]
    Inode(u64, u64),
    #[cfg_attr(unix, allow(dead_code))]
    Path(PathBuf),
}

fn identity(path: &Path, metadata: &fs::Metadata) -> Identity {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let _ = path;
        Identity::Inode(metadata.dev(), metadata.ino())
    }
    #[cfg(not(unix))]
    {
        let _ = metadata;
        Identity::Path(fs::canonicalize(path).unwrap_or_else(|_| path.to_owned()))
    }
}

/// What became of one name.
#[derive(Debug)]
pub enum WriteOutcome {
    /// The file was written (through the link, when `through` is set).
    Written {
        /// The target written, when the name is a symbolic link.
        through: Option<PathBuf>,
    },
    /// The file this name reaches was already handled under another name.
    SameFileAs(String),
}

/// Writes fixed files, each once.
pub struct Writer {
    /// The paths given on the command line, resolved (links followed).
    roots: Vec<PathBuf>,
    /// Each file handled so far: its first name and the text written.
    done: HashMap<Identity, (String, String)>,
    /// The name of every file of the run, by identity (to name hard links).
    names: HashMap<Identity, Vec<String>>,
}

impl Writer {
    /// A writer for a run over `given` (the command line's paths) that found
    /// `files` (name, path).
    pub fn new<'a>(
        given: &[PathBuf],
        files: impl IntoIterator<Item = (&'a str, &'a Path)>,
    ) -> Self {
        let roots = given
            .iter()
            .filter(|p| p.as_os_str() != "-")
            .filter_map(|p| fs::canonicalize(p).ok())
            .collect();
        let mut names: HashMap<Identity, Vec<String>> = HashMap::new();
        for (name, path) in files {
            if let Ok(m) = fs::metadata(path) {
                names
                    .entry(identity(path, &m))
                    .or_default()
                    .push(name.to_owned());
            }
        }
        Writer {
            roots,
            done: HashMap::new(),
            names,
        }
    }

    /// Whether the file `path` reaches was handled under another name (with
    /// the same fixed text): that name. `Err` when it was handled with
    /// another text (the same file read as two kinds).
    pub fn seen(&mut self, path: &Path, after: &str) -> io::Result<Option<String>> {
        let metadata = fs::metadata(path)?;
        match self.done.get(&identity(path, &metadata)) {
            Some((first, text)) if text == after => Ok(Some(first.clone())),
            Some((first, _)) => Err(io::Error::other(format!(
                "it is the same file as {first}, which was fixed differently (read as another kind); \
                 give one name only"
            ))),
            None => Ok(None),
        }
    }

    /// Records that `name` (at `path`) was handled with `after`.
    fn record(&mut self, name: &str, path: &Path, after: &str) -> io::Result<()> {
        let metadata = fs::metadata(path)?;
        self.done.insert(
            identity(path, &metadata),
            (name.to_owned(), after.to_owned()),
        );
        Ok(())
    }

    /// Handles `name` in a `--diff` run: `true` when its diff is to be
    /// printed (the first name of its file), else the name printed first.
    pub fn diff_once(
        &mut self,
        name: &str,
        path: &Path,
        after: &str,
    ) -> io::Result<Option<String>> {
        if let Some(first) = self.seen(path, after)? {
            return Ok(Some(first));
        }
        self.record(name, path, after)?;
        Ok(None)
    }

    /// Writes `after` over the file `name` (at `path`), which was read as
    /// `before` (without its byte-order mark): see the module docs.
    pub fn write(
        &mut self,
        name: &str,
        path: &Path,
        before: &str,
        after: &str,
    ) -> io::Result<WriteOutcome> {
        if let Some(first) = self.seen(path, after)? {
            return Ok(WriteOutcome::SameFileAs(first));
        }
        let link = fs::symlink_metadata(path)?.file_type().is_symlink();
        let target = fs::canonicalize(path)?;
        if link && !self.roots.iter().any(|r| target.starts_with(r)) {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "it is a symbolic link to {}, outside the paths given; give that path to fix it",
                    target.display()
                ),
            ));
        }
        let metadata = fs::metadata(&target)?;
        self.refuse_hard_links(name, path, &metadata)?;
        write_atomically(&target, &metadata, before, after)?;
        self.record(name, path, after)?;
        Ok(WriteOutcome::Written {
            through: link.then_some(target),
        })
    }

    #[cfg(unix)]
    fn refuse_hard_links(
        &self,
        name: &str,
        path: &Path,
        metadata: &fs::Metadata,
    ) -> io::Result<()> {
        use std::os::unix::fs::MetadataExt;
        let links = metadata.nlink();
        if links <= 1 {
            return Ok(());
        }
        let others: Vec<&str> = self
            .names
            .get(&identity(path, metadata))
            .into_iter()
            .flatten()
            .map(String::as_str)
            .filter(|n| *n != name)
            .collect();
        let outside = usize::try_from(links)
            .unwrap_or(usize::MAX)
            .saturating_sub(1 + others.len());
        let mut named = others.join(", ");
        if outside > 0 {
            if !named.is_empty() {
                named.push_str(" and ");
            }
            named.push_str(&format!("{outside} outside the paths given"));
        }
        Err(io::Error::other(format!(
            "it has {links} names (hard links; the others: {named}): replacing it would split them, \
             the others keeping the old text; fix it by hand, or copy it over itself first \
             to break the links"
        )))
    }

    #[cfg(not(unix))]
    fn refuse_hard_links(&self, _: &str, _: &Path, _: &fs::Metadata) -> io::Result<()> {
        Ok(())
    }
}

/// Replaces `target` (a resolved path, with `metadata`) by `after`, keeping
/// its byte-order mark, owner, group and mode, when its text is still
/// `before`: a temporary file, flushed, renamed over it, and the directory
/// flushed.
fn write_atomically(
    target: &Path,
    metadata: &fs::Metadata,
    before: &str,
    after: &str,
) -> io::Result<()> {
    if metadata.permissions().readonly() {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "the file is read-only",
        ));
    }
    let current = fs::read(target)?;
    let bom = current.starts_with(BOM);
    let text = if bom {
        &current[BOM.len()..]
    } else {
        &current[..]
    };
    if text != before.as_bytes() {
        return Err(io::Error::other(
            "the file changed since it was read; run again",
        ));
    }
    let dir = target.parent().unwrap_or_else(|| Path::new("."));
    let mut temporary = tempfile::Builder::new()
        .prefix(".image-policy-fix-")
        .tempfile_in(dir)?;
    if bom {
        temporary.write_all(BOM)?;
    }
    temporary.write_all(after.as_bytes())?;
    keep_owner(temporary.as_file(), metadata)?;
    temporary
        .as_file()
        .set_permissions(metadata.permissions())?;
    temporary.as_file().sync_all()?;
    temporary.persist(target).map_err(|e| e.error)?;
    sync_directory(dir)
}

/// Gives `file` the owner and group of the file it replaces.
#[cfg(unix)]
fn keep_owner(file: &fs::File, metadata: &fs::Metadata) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let (uid, gid) = (metadata.uid(), metadata.gid());
    let now = file.metadata()?;
    if (now.uid(), now.gid()) == (uid, gid) {
        return Ok(());
    }
    std::os::unix::fs::fchown(file, Some(uid), Some(gid)).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("its owner {uid}:{gid} cannot be kept ({e}), so it is not replaced"),
        )
    })
}

#[cfg(not(unix))]
fn keep_owner(_: &fs::File, _: &fs::Metadata) -> io::Result<()> {
    Ok(())
}

/// Flushes a directory's entries (the rename) to disk.
#[cfg(unix)]
fn sync_directory(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_directory(_: &Path) -> io::Result<()> {
    Ok(())
}
