//! A whole `lint --fix` run but the writing: every file read, planned,
//! proven and judged on the pipeline's threads.

use super::proof::{Assessed, assess, derive_reading, mark_unfixable, verify};
use super::{Edit, Fix, NotTouched, Unfixable, unified_diff};
use crate::report::{FileReport, Report};
use crate::{Options, Source, pipeline};
use image_policy_core::policy::Policy;

/// One file of a [`fix`] run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileFix {
    /// The file's name, as in the report.
    pub name: String,
    /// The text before and after, when the plan changes it and the fixed
    /// text reads as planned; `None` when nothing changes or the file is not
    /// touched.
    pub change: Option<Change>,
    /// The images a rule rewrites that cannot be fixed.
    pub unfixable: Vec<Unfixable>,
    /// Why the file is not touched at all: it could not be read completely
    /// (a read error, a parse error, a construct kubectl reads differently),
    /// or its fixed text did not read as planned.
    pub not_touched: Option<NotTouched>,
}

/// A file's text before and after fixing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The text as read.
    pub before: String,
    /// The fixed text.
    pub after: String,
    /// The edits that make `after` from `before` ([`Fix::edits`]).
    pub edits: Vec<Edit>,
}

impl Change {
    /// The unified diff of the change ([`unified_diff`]), named `name`.
    pub fn diff(&self, name: &str) -> String {
        unified_diff(name, &self.before, &self.edits)
    }
}

/// What a [`fix`] run produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fixed {
    /// The report of the files as fixed (unchanged files as they are): what
    /// `lint` will say once the fixed texts are written.
    pub report: Report,
    /// One entry per file, in the report's order.
    pub files: Vec<FileFix>,
}

/// Lints `sources`, plans the fix of every file, and checks each fixed text
/// (see the module docs, *Verification*): the whole of `lint --fix` but the
/// writing. A file with a problem that makes its sites untrustworthy (an
/// input error) is not touched. Files are fixed on as many threads as
/// [`crate::lint`] reads them. Images in pin scope take their digests from
/// [`Options::pins`] (none when it is `None`: each is then not fixable).
pub fn fix(sources: Vec<Source>, options: &Options, policy: &Policy) -> Fixed {
    // Digests not known are no digests: a placeholder is never written.
    let no_pins;
    let options = if options.pins.is_none() && super::policy_pins(policy) {
        no_pins = Options {
            pins: Some(super::Pins::new()),
            ..options.clone()
        };
        &no_pins
    } else {
        options
    };
    let worked = pipeline::map_files(&sources, options, |source| {
        fix_file(source, options, policy)
    });
    let mut report = Report::default();
    let mut files = Vec::with_capacity(sources.len());
    // (index, plan) of each fixed file whose report cannot be derived, and
    // its fixed source, read again in full below (only those).
    let mut reread = Vec::new();
    let mut reread_sources = Vec::new();
    for (index, (source, worked)) in sources.into_iter().zip(worked).enumerate() {
        let Worked {
            mut file,
            mut entry,
            after,
            edits,
            reread: plan,
        } = worked;
        let text = source.text.unwrap_or_default();
        file.name = source.name;
        match (after, plan) {
            (Some(after), None) => {
                file.text.clone_from(&after);
                entry.change = Some(Change {
                    before: text,
                    after,
                    edits,
                });
            }
            (Some(after), Some(plan)) => {
                file.text = text;
                reread_sources.push(Source {
                    name: file.name.clone(),
                    kind: source.kind,
                    text: Ok(after.clone()),
                });
                entry.change = Some(Change {
                    before: String::new(),
                    after,
                    edits: Vec::new(),
                });
                reread.push((index, plan));
            }
            (None, _) => file.text = text,
        }
        report.files.push(file);
        files.push(entry);
    }
    if !reread.is_empty() {
        let again = pipeline::lint(reread_sources, options, policy);
        for ((index, plan), after) in reread.into_iter().zip(again.files) {
            let (entry, before) = (&mut files[index], &mut report.files[index]);
            match verify(before, &plan, &after) {
                Ok(()) => {
                    let before = std::mem::replace(before, after);
                    if let Some(change) = &mut entry.change {
                        change.before = before.text;
                        change.edits = plan.edits;
                    }
                }
                Err(why) => {
                    entry.change = None;
                    let why = NotTouched::NotAsPlanned(why);
                    mark_unfixable(before, &[], Some(&why));
                    entry.not_touched = Some(why);
                }
            }
        }
    }
    Fixed { report, files }
}

/// What [`fix`] does with one file on a worker thread: its report (without
/// name and text, moved in afterwards) as it reads once fixed, or as it is.
struct Worked {
    file: FileReport,
    entry: FileFix,
    /// The fixed text, when there is one.
    after: Option<String>,
    /// The edits of a fixed text whose report is derived.
    edits: Vec<Edit>,
    /// The plan of a fixed text to read again in full.
    reread: Option<Fix>,
}

/// Reads, plans, checks and judges one file: each image is judged once,
/// as it reads in the file that will be written.
fn fix_file(source: &Source, options: &Options, policy: &Policy) -> Worked {
    let mut extracted = crate::read::extract(source, options);
    let text = source.text.as_deref().unwrap_or_default();
    let Assessed {
        mut fix,
        not_touched,
        fixed,
    } = assess(source, &extracted, options, policy);
    let entry = FileFix {
        name: source.name.clone(),
        change: None,
        unfixable: std::mem::take(&mut fix.unfixable),
        not_touched,
    };
    let (mut after, mut edits, mut reread) = (None, Vec::new(), None);
    if let Some(fixed) = fixed {
        // A line added (a kustomization's `digest:`) moves the lines after
        // it: the derived reading would not know, so it is read again.
        let adds_lines = fix.edits.iter().any(|e| e.replacement.contains('\n'));
        if extracted.problems.is_empty() && !adds_lines {
            derive_reading(text, &mut extracted, &fix);
            after = Some(fixed);
            edits = fix.edits;
        } else {
            after = Some(fixed);
            reread = Some(fix);
        }
    }
    let mut file = pipeline::judged(extracted, |site| {
        crate::judge::with_policy(policy, site, options)
    });
    mark_unfixable(&mut file, &entry.unfixable, entry.not_touched.as_ref());
    Worked {
        file,
        entry,
        after,
        edits,
        reread,
    }
}
