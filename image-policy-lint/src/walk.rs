//! Which files to read, in which order, and as what.
//!
//! Paths given on the command line are read whatever their name (a file named
//! explicitly is read as its name says, else as Kubernetes manifests; YAML is
//! then read by content, see [the crate documentation](crate)). Directories are walked as
//! `kubectl apply -R -f DIR` walks them (k8s.io/cli-runtime,
//! `ExpandPathsToFileVisitors`: `filepath.Walk` in lexical order, files with
//! the extensions `.json`, `.yaml` and `.yml`), plus the files kubectl does
//! not apply but that hold images:
//!
//! | name | read as |
//! | --- | --- |
//! | `*.yaml`, `*.yml`, `*.json` | Kubernetes manifests, or compose when the content says so (a file that has neither is skipped and counted) |
//! | `Dockerfile`, `Containerfile`, `*.Dockerfile`, `*.Containerfile`, `Dockerfile.*`, `Containerfile.*` | Dockerfile |
//! | `compose.yaml`, `compose.yml`, `docker-compose.yaml`, `docker-compose.yml`, `compose.*.yaml`, `docker-compose.*.yml`, `*.compose.yaml`, ... | compose file (or manifests, when the content says so) |
//! | `kustomization.yaml`, `kustomization.yml`, `Kustomization` | kustomization (`images:` overrides) |
//!
//! Where the walk differs from kubectl's, it reads more, never less, and
//! says what it did not read:
//! - like kubectl, hidden files and directories are read, a symbolic link to
//!   a file is read, a symbolic link to a directory is not followed (kubectl
//!   uses `Lstat`; it could also loop) and is listed;
//! - the extensions are matched without regard to case (kubectl skips
//!   `x.YAML`; the linter reads it);
//! - version-control directories (`.git`, `.hg`, `.svn`) are not entered
//!   (kubectl would walk them; they hold no manifests) and are listed;
//! - every other file is not read (its name is none of the above, so
//!   neither kubectl nor the linter reads it) and is counted;
//! - a Helm chart (a directory holding `Chart.yaml`) is not read as
//!   manifests: its templates are Go templates kubectl cannot read, and what
//!   they pull depends on the values. The chart's `Chart.yaml` becomes a
//!   read error that says how to lint it (`helm template CHART |
//!   image-policy lint -`), its `templates/` are listed as not read
//!   ([`NotRead::HelmTemplate`]), and the rest of the chart (`values.yaml`,
//!   `crds/`, subcharts' own files) is walked as any directory is. A template
//!   named on the command line (or under a `templates/` named on it) is a
//!   read error too.
//!
//! A command-line path under which nothing is read as a manifest, a
//! Dockerfile, a compose file or a kustomization (an empty folder, a folder
//! of docs, a mistyped path) is found by [`Walk::empty_paths`]; `lint` makes
//! it an error unless `--allow-empty` is given.
//!
//! Nothing is skipped silently: [`Walk::not_read`] lists every entry not
//! read with its reason; `lint` prints a line for each symbolic link not
//! followed, and a count of the rest (each of them with `--verbose`).

use crate::report::{Problem, ProblemCode};
use crate::{Source, SourceKind};
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// A file found by the walk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// The path to open (`None` for standard input).
    pub path: Option<PathBuf>,
    /// The name to report.
    pub name: String,
    /// How to read it.
    pub kind: SourceKind,
    /// Set when the file belongs to a Helm chart and is not read as a
    /// manifest: the chart's directory, as reported.
    pub helm_chart: Option<String>,
}

/// What the walk produced: files to read, and entries it could not use.
#[derive(Debug, Default)]
pub struct Walk {
    /// Files to read, in order.
    pub files: Vec<Found>,
    /// Paths that do not exist or cannot be listed (name, problem).
    pub errors: Vec<(String, Problem)>,
    /// Entries not read (name, why), in walk order.
    pub not_read: Vec<(String, NotRead)>,
    /// Each command-line path that could be used, and the files found under
    /// it, for [`Walk::empty_paths`].
    pub given: Vec<Given>,
}

/// A command-line path and what the walk found under it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Given {
    /// The path as reported (`<stdin>` for `-`).
    pub name: String,
    /// The indices in [`Walk::files`] of the files found under it.
    pub files: std::ops::Range<usize>,
}

impl Walk {
    /// Every source to lint, in order: each path that could not be used
    /// (as its read error), then each file found, read with [`read`] as the
    /// iterator reaches it.
    pub fn sources(&self) -> impl Iterator<Item = Source> + '_ {
        self.errors
            .iter()
            .map(|(name, problem)| Source {
                name: name.clone(),
                kind: SourceKind::Manifests,
                text: Err(problem.clone()),
            })
            .chain(self.files.iter().map(read))
    }

    /// The command-line paths with nothing to lint: no file under them was
    /// read as a manifest, Dockerfile, compose file or kustomization
    /// (`linted` says whether the file of that name was; a file skipped as
    /// not a manifest was not). An empty folder, a folder of docs or a
    /// mistyped directory name would otherwise pass; `lint` makes them an
    /// error unless `--allow-empty` is given. A path that does not exist is
    /// not listed here: it is a read error already.
    pub fn empty_paths(&self, linted: impl Fn(&str) -> bool) -> Vec<&str> {
        self.given
            .iter()
            .filter(|g| !self.files[g.files.clone()].iter().any(|f| linted(&f.name)))
            .map(|g| g.name.as_str())
            .collect()
    }
}

/// Why the walk did not read an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotRead {
    /// A symbolic link to a directory (not followed, as kubectl does not).
    SymlinkToDirectory,
    /// `.git`, `.hg` or `.svn`.
    VersionControl,
    /// A file whose name says it is neither YAML/JSON, a Dockerfile, a
    /// compose file nor a kustomization.
    Name,
    /// A file under a Helm chart's `templates/` (the chart's `Chart.yaml`
    /// is reported as a problem: render the chart and lint the output).
    HelmTemplate,
}

impl NotRead {
    /// The reason as printed.
    pub fn as_str(self) -> &'static str {
        match self {
            NotRead::SymlinkToDirectory => "symbolic link to a directory, not followed",
            NotRead::VersionControl => "version-control directory, not entered",
            NotRead::Name => {
                "not .yaml, .yml or .json, a Dockerfile, a compose file or a kustomization"
            }
            NotRead::HelmTemplate => {
                "Helm chart template: render the chart with `helm template` and lint the output"
            }
        }
    }
}

/// The name shown for standard input.
pub const STDIN_NAME: &str = "<stdin>";

/// Lists the files to read from the command-line paths (`-`: standard input).
pub fn walk(paths: &[PathBuf]) -> Walk {
    let mut out = Walk::default();
    for path in paths {
        let first = out.files.len();
        let given = |out: &mut Walk, name: String| {
            let files = first..out.files.len();
            out.given.push(Given { name, files });
        };
        if path.as_os_str() == "-" {
            out.files.push(Found {
                path: None,
                name: STDIN_NAME.to_owned(),
                kind: SourceKind::Manifests,
                helm_chart: None,
            });
            given(&mut out, STDIN_NAME.to_owned());
            continue;
        }
        let name = display(path);
        match fs::metadata(path) {
            Ok(m) if m.is_dir() => {
                let errors = out.errors.len();
                walk_dir(path, &mut out, helm_chart_of(path).as_deref());
                if !out.errors[errors..].iter().any(|(n, _)| *n == name) {
                    given(&mut out, name);
                }
            }
            Ok(_) => {
                let file_name = path.file_name().map(|n| n.to_string_lossy());
                let kind = file_name
                    .and_then(|n| SourceKind::from_file_name(&n))
                    .unwrap_or(SourceKind::Manifests);
                let helm_chart = path.parent().and_then(helm_chart_of);
                out.files.push(Found {
                    path: Some(path.clone()),
                    name: name.clone(),
                    kind,
                    helm_chart,
                });
                given(&mut out, name);
            }
            Err(e) => out.errors.push((name, read_problem(&e, "cannot open"))),
        }
    }
    out
}

/// The Helm chart `dir` is a template directory of (it is `templates/` or
/// under it, in a directory that holds `Chart.yaml`), as reported; looked
/// for in the path as given.
fn helm_chart_of(dir: &Path) -> Option<String> {
    dir.ancestors()
        .filter(|d| d.file_name().is_some_and(|n| n == "templates"))
        .find_map(|t| {
            let chart = t.parent()?;
            chart
                .join(HELM_CHART_FILE)
                .is_file()
                .then(|| display(chart))
        })
}

/// The file that makes a directory a Helm chart.
const HELM_CHART_FILE: &str = "Chart.yaml";

/// Walks `dir`; `templates_of` is set when `dir` is a Helm chart's
/// `templates/` (or under it): its files are then Helm templates.
fn walk_dir(dir: &Path, out: &mut Walk, templates_of: Option<&str>) {
    let entries = match fs::read_dir(dir) {
        Ok(rd) => rd.collect::<Result<Vec<_>, _>>(),
        Err(e) => Err(e),
    };
    let mut entries = match entries {
        Ok(e) => e,
        Err(e) => {
            out.errors
                .push((display(dir), read_problem(&e, "cannot list directory")));
            return;
        }
    };
    entries.sort_by_key(|e| e.file_name());
    // A Helm chart: its `Chart.yaml` stands for the chart (a problem: it is
    // not read as manifests), and its templates are not read.
    let chart = entries
        .iter()
        .any(|e| e.file_name() == HELM_CHART_FILE && e.path().is_file())
        .then(|| display(dir));
    for entry in entries {
        let path = entry.path();
        let file_name = entry.file_name();
        let file_name = file_name.to_string_lossy();
        let Ok(file_type) = entry.file_type() else {
            continue;
        };
        let is_dir = if file_type.is_symlink() {
            match fs::metadata(&path) {
                Ok(m) if m.is_dir() => {
                    out.not_read
                        .push((display(&path), NotRead::SymlinkToDirectory));
                    continue;
                }
                Ok(_) => false,
                // A dangling link: reported when read, if its name matters.
                Err(_) => false,
            }
        } else {
            file_type.is_dir()
        };
        if is_dir {
            if matches!(&*file_name, ".git" | ".hg" | ".svn") {
                out.not_read.push((display(&path), NotRead::VersionControl));
            } else if chart.is_some() && file_name == "templates" {
                not_read_under(&path, out, NotRead::HelmTemplate);
            } else {
                walk_dir(&path, out, templates_of);
            }
        } else if let Some(kind) = SourceKind::from_file_name(&file_name) {
            let helm_chart = if chart.is_some() && file_name == HELM_CHART_FILE {
                chart.clone()
            } else {
                templates_of.map(str::to_owned)
            };
            out.files.push(Found {
                name: display(&path),
                path: Some(path),
                kind,
                helm_chart,
            });
        } else {
            out.not_read.push((display(&path), NotRead::Name));
        }
    }
}

/// Lists every file under `dir` as not read, for `why`.
fn not_read_under(dir: &Path, out: &mut Walk, why: NotRead) {
    let Ok(entries) = fs::read_dir(dir) else {
        out.not_read.push((display(dir), why));
        return;
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            not_read_under(&path, out, why);
        } else {
            out.not_read.push((display(&path), why));
        }
    }
}

/// A path as reported: as given, `/`-separated, without a leading `./`.
fn display(path: &Path) -> String {
    let s = path.to_string_lossy().replace('\\', "/");
    match s.strip_prefix("./") {
        Some(rest) if !rest.is_empty() => rest.to_owned(),
        _ => s,
    }
}

fn read_problem(e: &io::Error, what: &str) -> Problem {
    let hint = match e.kind() {
        io::ErrorKind::NotFound => "; check the path",
        io::ErrorKind::PermissionDenied => "; check its permissions",
        _ => "",
    };
    Problem {
        position: None,
        code: ProblemCode::ReadError,
        message: format!("{what}: {e}{hint}"),
    }
}

/// The problem of a Helm chart's file: not read as a manifest.
fn helm_problem(chart: &str) -> Problem {
    Problem {
        position: None,
        code: ProblemCode::ReadError,
        message: format!(
            "part of the Helm chart {chart}: not read as manifests (kubectl cannot read a chart's templates, and their images are not judged); render the chart and lint the output: helm template {chart} | image-policy lint -"
        ),
    }
}

/// Inputs larger than this are refused (a manifest tree is never this big; a
/// mistaken path to a disk image is).
pub const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// Reads a found file (or standard input) into a [`Source`].
pub fn read(found: &Found) -> Source {
    if let Some(chart) = &found.helm_chart {
        return Source {
            name: found.name.clone(),
            kind: found.kind,
            text: Err(helm_problem(chart)),
        };
    }
    let mut bytes = Vec::new();
    let result = match &found.path {
        None => io::stdin()
            .lock()
            .take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes),
        Some(p) => {
            fs::File::open(p).and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes))
        }
    };
    let text = match result {
        Err(e) => Err(read_problem(&e, "cannot read")),
        Ok(_) if bytes.len() as u64 > MAX_FILE_BYTES => Err(Problem {
            position: None,
            code: ProblemCode::ReadError,
            message: format!("larger than {MAX_FILE_BYTES} bytes; is this a manifest?"),
        }),
        Ok(_) => decode(bytes),
    };
    Source {
        name: found.name.clone(),
        kind: found.kind,
        text,
    }
}

/// UTF-8 text without a byte-order mark, or a problem pointing at the first
/// byte that is not UTF-8.
pub fn decode(bytes: Vec<u8>) -> Result<String, Problem> {
    match String::from_utf8(bytes) {
        Ok(mut s) => {
            if s.starts_with('\u{feff}') {
                s.drain(..3);
            }
            Ok(s)
        }
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let valid = &e.as_bytes()[..at];
            let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
            let line_start = valid.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            let column = String::from_utf8_lossy(&valid[line_start..])
                .chars()
                .count()
                + 1;
            Err(Problem {
                position: Some(super::report::Position { line, column }),
                code: ProblemCode::ReadError,
                message: format!("not UTF-8 (byte {at}); manifests must be UTF-8 text"),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        let cases = [
            ("deploy.yaml", Some(SourceKind::Manifests)),
            ("x.YML", Some(SourceKind::Manifests)),
            ("list.json", Some(SourceKind::Manifests)),
            ("compose.yaml", Some(SourceKind::Compose)),
            ("docker-compose.yml", Some(SourceKind::Compose)),
            ("docker-compose.override.yml", Some(SourceKind::Compose)),
            ("compose.prod.yaml", Some(SourceKind::Compose)),
            ("app.compose.yml", Some(SourceKind::Compose)),
            ("composer.yaml", Some(SourceKind::Manifests)),
            ("Dockerfile", Some(SourceKind::Dockerfile)),
            ("Containerfile", Some(SourceKind::Dockerfile)),
            ("api.Dockerfile", Some(SourceKind::Dockerfile)),
            ("Dockerfile.prod", Some(SourceKind::Dockerfile)),
            ("Dockerfile.dockerignore", None),
            ("README.md", None),
            ("kustomization.yaml", Some(SourceKind::Kustomization)),
            ("kustomization.yml", Some(SourceKind::Kustomization)),
            ("Kustomization", Some(SourceKind::Kustomization)),
            (".hidden.yaml", Some(SourceKind::Manifests)),
            ("Makefile", None),
        ];
        for (name, want) in cases {
            assert_eq!(SourceKind::from_file_name(name), want, "{name}");
        }
    }

    #[test]
    fn not_utf8_points_at_the_byte() {
        let e = decode(b"a: 1\nb: \xff\n".to_vec()).unwrap_err();
        assert_eq!(
            e.position,
            Some(super::super::report::Position { line: 2, column: 4 })
        );
        assert_eq!(decode(b"\xef\xbb\xbfa: 1".to_vec()).unwrap(), "a: 1");
    }
}
