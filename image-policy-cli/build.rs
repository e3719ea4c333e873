//! Records the git revision the binary is built from, for `image-policy --version`.
//!
//! The revision is, in order: the `IMAGE_POLICY_REVISION` environment variable
//! (for builds without a `.git`, such as from a source tarball or inside an
//! image build), else `git rev-parse HEAD` run in the crate's directory, else
//! `unknown`. A missing `git`, a directory that is not a repository, or any
//! other git failure never fails the build. A checkout with uncommitted changes
//! is not marked: the revision is the commit they sit on.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=IMAGE_POLICY_REVISION");
    let revision = match std::env::var("IMAGE_POLICY_REVISION") {
        Ok(r) if !r.trim().is_empty() => r.trim().to_owned(),
        _ => git_revision().unwrap_or_else(|| "unknown".to_owned()),
    };
    println!("cargo:rustc-env=IMAGE_POLICY_REVISION={revision}");
}

/// `git rev-parse HEAD`, and the files whose change moves HEAD registered so
/// that a new commit rebuilds the crate.
fn git_revision() -> Option<String> {
    let git = |args: &[&str]| -> Option<String> {
        let output = Command::new("git")
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .ok()?;
        let text = String::from_utf8(output.stdout).ok()?;
        (output.status.success() && !text.trim().is_empty()).then(|| text.trim().to_owned())
    };
    let revision = git(&["rev-parse", "HEAD"])?;
    if !revision.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    // HEAD itself (a branch switch), the branch's ref (a commit), and
    // packed-refs (a ref packed by gc); paths resolved by git, which also
    // handles worktrees whose refs live in the common directory.
    let mut watched = vec!["HEAD".to_owned(), "packed-refs".to_owned()];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(branch);
    }
    for name in watched {
        if let Some(path) = git(&["rev-parse", "--path-format=absolute", "--git-path", &name])
            && Path::new(&path).exists()
        {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    Some(revision)
}
