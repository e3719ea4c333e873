//! The threaded pipeline: files read, judged and assessed for `--fix` on
//! [`Options::threads`] threads (every core by default), the report in the
//! order of the sources.
//!
//! It sits between the per-file steps it calls (the readers, `judge`, and
//! [`fix::plan`] and the proofs of `fix`) and [`fix::fix`], the one run
//! that calls it: nothing it calls calls back into it.

use crate::report::{Extracted, FileReport, Finding, ImageSite, Report, SiteVerdict};
use crate::{Options, Source, fix, read};
use image_policy_core::policy::Policy;

/// Reads every source and judges every image in it with `policy` (the
/// same [`Policy::evaluate_rewritten`] the webhook calls, after the same
/// [`Policy::rewrite`], with the object's namespace
/// and annotations as context).
///
/// Files are read and their images judged on [`Options::threads`] threads
/// (by default as many as the machine has cores; each file is
/// independent); the report is in the order of `sources` whatever the
/// threads' timing. Nothing is printed: see [`crate::render`].
pub fn lint(
    sources: impl IntoIterator<Item = Source>,
    options: &Options,
    policy: &Policy,
) -> Report {
    // Whether a plan can change anything, asked once per run.
    let plans = policy.has_rewrites() || fix::policy_pins(policy);
    lint_files(sources, options, |s| lint_file(s, options, policy, plans))
}

/// [`lint`]'s work on one file: read, judged, and each image a rewrite
/// rule changes marked when `lint --fix` cannot write it (the same plan and
/// checks as [`fix::fix`], so the report says "fixable" only of what the fix
/// does), or that a pin rule pins; `plans`: whether the policy has rewrite
/// or pin rules. Name and text are left empty, for the caller to move in.
fn lint_file(source: &Source, options: &Options, policy: &Policy, plans: bool) -> FileReport {
    let extracted = read::extract(source, options);
    if !plans {
        return judged(extracted, |site| {
            crate::judge::with_policy(policy, site, options)
        });
    }
    let assessed = fix::assess(source, &extracted, options, policy);
    let mut file = judged(extracted, |site| {
        crate::judge::with_policy(policy, site, options)
    });
    fix::mark_unfixable(
        &mut file,
        &assessed.fix.unfixable,
        assessed.not_touched.as_ref(),
    );
    file
}

/// [`lint`] with any judge (called on the threads that read the files).
#[cfg(test)]
pub(crate) fn lint_with(
    sources: impl IntoIterator<Item = Source>,
    options: &Options,
    judge: impl Fn(&ImageSite) -> SiteVerdict + Sync,
) -> Report {
    lint_files(sources, options, |s| {
        judged(read::extract(s, options), &judge)
    })
}

/// The report of `sources`, each file's by `read` (on the reading threads),
/// with its name and text moved in.
fn lint_files(
    sources: impl IntoIterator<Item = Source>,
    options: &Options,
    read: impl Fn(&Source) -> FileReport + Sync,
) -> Report {
    let sources: Vec<Source> = sources.into_iter().collect();
    let read = map_files(&sources, options, read);
    let mut report = Report::default();
    for (source, mut file) in sources.into_iter().zip(read) {
        file.name = source.name;
        file.text = source.text.unwrap_or_default();
        report.files.push(file);
    }
    report
}

/// The report of a file read as `extracted`, each site judged by `judge`;
/// its name and text are left empty, for the caller to move in.
pub(crate) fn judged(
    extracted: Extracted,
    judge: impl Fn(&ImageSite) -> SiteVerdict,
) -> FileReport {
    let findings = extracted
        .sites
        .into_iter()
        .map(|site| Finding {
            verdict: judge(&site),
            site,
        })
        .collect();
    FileReport {
        name: String::new(),
        text: String::new(),
        objects: extracted.objects,
        findings,
        suppressed: extracted.suppressed,
        problems: extracted.problems,
        skipped: extracted.skipped,
    }
}

/// `work` on every source, in order, spread over [`Options::threads`]
/// threads (each file is independent; the results are in the order of
/// `sources` whatever the threads' timing).
pub(crate) fn map_files<T: Send>(
    sources: &[Source],
    options: &Options,
    work: impl Fn(&Source) -> T + Sync,
) -> Vec<T> {
    let threads = options
        .threads
        .or_else(|| std::thread::available_parallelism().ok())
        .map_or(1, usize::from)
        .min(sources.len());
    if threads <= 1 {
        return sources.iter().map(work).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut done: Vec<(usize, T)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(source) = sources.get(i) else {
                            break mine;
                        };
                        mine.push((i, work(source)));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| match w.join() {
                Ok(done) => done,
                // extract does not panic (see the property test); if it
                // ever did, the panic is the bug to see, not to hide.
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    });
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, e)| e).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SourceKind;
    use std::num::NonZeroUsize;

    /// Any thread count gives the default's report, in the sources' order.
    #[test]
    fn the_thread_count_changes_nothing_but_the_threads() {
        let policy = Policy::builder()
            .allow_registry("mirror.example")
            .rewrite("docker.io", "mirror.example/hub")
            .build()
            .expect("loads")
            .policy;
        let sources: Vec<Source> = (0..23)
            .map(|i| Source {
                name: format!("f{i}"),
                kind: if i % 3 == 0 {
                    SourceKind::Dockerfile
                } else {
                    SourceKind::Manifests
                },
                text: Ok(if i % 3 == 0 {
                    format!("FROM nginx:{i}\n")
                } else {
                    format!(
                        "apiVersion: v1\nkind: Pod\nmetadata: {{name: p{i}}}\nspec:\n  \
                         containers:\n  - {{name: c, image: \"redis:{i}\"}}\n"
                    )
                }),
            })
            .collect();
        let default = lint(sources.clone(), &Options::default(), &policy);
        let fixed = fix::fix(sources.clone(), &Options::default(), &policy);
        assert!(fixed.files.iter().all(|f| f.change.is_some()), "{fixed:?}");
        assert_eq!(default.files.len(), sources.len());
        for (file, source) in default.files.iter().zip(&sources) {
            assert_eq!(file.name, source.name);
            assert_eq!(file.findings.len(), 1, "{file:?}");
        }
        for threads in [1, 2, 5, 64] {
            let options = Options {
                threads: NonZeroUsize::new(threads),
                ..Options::default()
            };
            assert_eq!(
                lint(sources.clone(), &options, &policy),
                default,
                "{threads}"
            );
            assert_eq!(
                fix::fix(sources.clone(), &options, &policy),
                fixed,
                "{threads}"
            );
        }
    }
}
