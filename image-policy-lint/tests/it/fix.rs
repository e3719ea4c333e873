//! `fix` on every fixture of `testdata/lint/` with rewrite rules that match
//! most of its images: each fixed file is compared byte by byte with the
//! original, the image spans taken from the linter's own report of the
//! original (not from the plan); the fixed files read as the originals do
//! but for the images; a second fix changes nothing; and the images that
//! cannot be fixed are exactly `testdata/lint/fix/expected-unfixable.txt`.

use image_policy_core::policy::Policy;
use image_policy_lint::report::{FileReport, ImageSite};
use image_policy_lint::{Options, Source, SourceKind, extract, fix, lint, walk};
use proptest::prelude::*;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The rules of the fixtures' README.
const RULES: &[(&str, &str)] = &[
    ("docker.io", "registry.my.com/dockerhub"),
    ("quay.io", "registry.my.com/quay"),
    ("gcr.io", "registry.my.com/gcr"),
];

fn policy() -> Policy {
    let mut builder = Policy::builder();
    for (from, to) in RULES {
        builder = builder.rewrite(from, to);
    }
    builder.build().expect("the rules load").policy
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/lint")
}

/// Every fixture, read, with its name relative to `testdata/lint/`.
fn sources() -> Vec<Source> {
    let root = root();
    let walked = walk::walk(std::slice::from_ref(&root));
    walked
        .sources()
        .map(|mut s| {
            s.name = Path::new(&s.name)
                .strip_prefix(&root)
                .map_or(s.name.clone(), |p| p.display().to_string());
            s
        })
        .collect()
}

/// The byte offset of a 1-based line and character column (lines end at
/// `\n`), computed here rather than by the library.
fn offset(text: &str, line: usize, column: usize) -> usize {
    let start: usize = text
        .split_inclusive('\n')
        .take(line - 1)
        .map(str::len)
        .sum();
    let within = text[start..]
        .char_indices()
        .nth(column - 1)
        .map_or(text.len() - start, |(i, _)| i);
    start + within
}

/// `$NAME` or `${NAME}` alone.
fn variable(written: &str) -> Option<&str> {
    let name = written.strip_prefix('$')?;
    Some(
        name.strip_prefix('{')
            .and_then(|n| n.strip_suffix('}'))
            .unwrap_or(name),
    )
}

/// The bytes the fix of `site` may replace and what they must become, from
/// the report alone: the reported span (position and width), with the
/// image in it replaced by `new`; for a Dockerfile `FROM $BASE`, the value
/// of `BASE=` in the text; for a kustomization, the `newName` in the span.
/// An alias (`*img`) becomes the new image, written literally.
fn span_edit(text: &str, site: &ImageSite, new: &str) -> Option<(usize, usize, String)> {
    let start = offset(text, site.position.line, site.position.column);
    let end = text[start..]
        .char_indices()
        .nth(site.width)
        .map_or(text.len(), |(i, _)| start + i);
    let span = &text[start..end];
    if span.starts_with('*') {
        return Some((start, end, new.to_owned()));
    }
    if let Some(name) = site.written.as_deref().and_then(variable) {
        for form in [
            format!("{name}={}", site.image),
            format!("{name}=\"{}\"", site.image),
        ] {
            if let Some(at) = text.find(&form) {
                let value = at + name.len() + 1 + usize::from(form.ends_with('"'));
                return Some((value, value + site.image.len(), new.to_owned()));
            }
        }
        panic!("no ARG default for {site:?}");
    }
    if site.holder.kind == "kustomization images" {
        let written = site.written.as_deref().unwrap_or(&site.image);
        let suffix = &site.image[written.len()..];
        let name = new.strip_suffix(suffix).expect("tag and digest kept");
        return Some((start, end, span.replacen(written, name, 1)));
    }
    assert!(span.contains(&site.image), "{span:?} holds {site:?}");
    Some((start, end, span.replacen(&site.image, new, 1)))
}

/// The original with every fixable image's span replaced: what the fixed
/// file must be, byte for byte.
fn expected_text(file: &FileReport, policy: &Policy, unfixable: &BTreeSet<String>) -> String {
    if file.problems.iter().any(|p| p.code.is_input_error()) {
        return file.text.clone();
    }
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    for f in &file.findings {
        let Ok(Some(new)) = policy.rewrite_str(&f.site.image) else {
            continue;
        };
        if unfixable.contains(&format!("{}:{}", file.name, f.site.position)) {
            continue;
        }
        if let Some(edit) = span_edit(&file.text, &f.site, new.as_str())
            && !edits.contains(&edit)
        {
            edits.push(edit);
        }
    }
    edits.sort();
    let mut out = String::new();
    let mut at = 0;
    for (start, end, new) in edits {
        assert!(start >= at, "spans overlap in {}", file.name);
        out.push_str(&file.text[at..start]);
        out.push_str(&new);
        at = end;
    }
    out.push_str(&file.text[at..]);
    out
}

fn expected_unfixable() -> BTreeSet<String> {
    std::fs::read_to_string(root().join("fix/expected-unfixable.txt"))
        .expect("the list is there")
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

#[test]
fn fix_changes_only_the_image_bytes_and_a_second_fix_nothing() {
    let policy = policy();
    let options = Options::default();
    let sources = sources();
    let before = lint(sources.clone(), &options, &policy);
    let fixed = fix::fix(sources.clone(), &options, &policy);
    let unfixable = expected_unfixable();

    let got_unfixable: BTreeSet<String> = fixed
        .files
        .iter()
        .flat_map(|f| {
            f.unfixable
                .iter()
                .map(move |u| format!("{}:{}", f.name, u.position))
        })
        .collect();
    assert_eq!(got_unfixable, unfixable, "the images that cannot be fixed");

    let mut changed = 0;
    let mut fixed_sources = sources.clone();
    for ((file, entry), source) in before
        .files
        .iter()
        .zip(&fixed.files)
        .zip(&mut fixed_sources)
    {
        assert_eq!(file.name, entry.name);
        let after = entry
            .change
            .as_ref()
            .map_or(file.text.as_str(), |c| c.after.as_str());
        if let Some(change) = &entry.change {
            assert_eq!(change.before, file.text);
            changed += 1;
        }
        assert_eq!(
            after,
            expected_text(file, &policy, &unfixable),
            "{}: only the image spans change, into the rewritten images",
            file.name
        );
        if source.text.is_ok() {
            source.text = Ok(after.to_owned());
        }
    }
    assert!(
        changed >= 10,
        "the rules rewrite images in most fixtures ({changed} files)"
    );

    // Read again, the fixed files hold the same objects, containers and
    // paths; each image is the rewritten one, or the original where the
    // fix could not reach it.
    for (source, fixed_source) in sources.iter().zip(&fixed_sources) {
        let old = extract(source, &options);
        let new = extract(fixed_source, &options);
        assert_eq!(old.objects, new.objects, "{}", source.name);
        assert_eq!(old.problems.len(), new.problems.len(), "{}", source.name);
        assert_eq!(old.sites.len(), new.sites.len(), "{}", source.name);
        for (a, b) in old.sites.iter().zip(&new.sites) {
            assert_eq!(
                (&a.holder, &a.container, &a.path),
                (&b.holder, &b.container, &b.path)
            );
            let rewritten = policy.rewrite_str(&a.image).ok().flatten();
            let at = format!("{}:{}", source.name, a.position);
            match rewritten {
                Some(r) if !unfixable.contains(&at) => assert_eq!(b.image, r.as_str(), "{at}"),
                _ => assert_eq!(b.image, a.image, "{at}"),
            }
        }
    }

    // A second fix changes nothing, and finds the same unfixable images.
    let again = fix::fix(fixed_sources, &options, &policy);
    for entry in &again.files {
        assert!(entry.change.is_none(), "{} changes again", entry.name);
    }
    let again_unfixable: BTreeSet<String> = again
        .files
        .iter()
        .flat_map(|f| {
            f.unfixable
                .iter()
                .map(move |u| format!("{}:{}", f.name, u.position))
        })
        .collect();
    assert_eq!(again_unfixable, unfixable);
    // And the report after fixing is the report of the fixed files.
    assert_eq!(again.report, fixed.report);
}

/// The plan on its own: a plain scalar that the new value would turn into
/// something else is refused; a `--var` value is not the file's; an edit
/// overlapping another is refused.
#[test]
fn plan_refuses_what_it_cannot_do_exactly() {
    let policy = policy();
    let read = |kind, text: &str, options: &Options| {
        let source = Source {
            name: "x".to_owned(),
            kind,
            text: Ok(text.to_owned()),
        };
        let sites = extract(&source, options).sites;
        fix::plan(text, kind, &sites, &policy, options)
    };
    let none = Options::default();

    let escaped = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: a\n    image: \"ngin\\x78\"\n";
    let plan = read(SourceKind::Manifests, escaped, &none);
    assert!(plan.edits.is_empty());
    assert!(
        plan.unfixable[0]
            .reason
            .contains("not \"nginx\" as written"),
        "{plan:?}"
    );

    // A one-line block scalar is its line: the line is edited.
    let folded = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: a\n    image: >-\n      nginx\n";
    let plan = read(SourceKind::Manifests, folded, &none);
    assert_eq!(
        plan.apply(folded),
        folded.replace(
            "      nginx",
            "      registry.my.com/dockerhub/library/nginx"
        )
    );
    // Folded over two lines, the value is in no single span.
    let two_lines = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: a\n    image: >-\n      nginx\n      :1\n";
    let plan = read(SourceKind::Manifests, two_lines, &none);
    assert!(plan.edits.is_empty(), "{plan:?}");

    let dockerfile = "ARG BASE=nginx\nFROM $BASE\n";
    let with_var = Options::with_vars([("BASE".to_owned(), "redis".to_owned())]);
    let plan = read(SourceKind::Dockerfile, dockerfile, &with_var);
    assert!(plan.unfixable[0].reason.contains("--var BASE"), "{plan:?}");
    let plan = read(SourceKind::Dockerfile, dockerfile, &none);
    assert_eq!(
        plan.apply(dockerfile),
        "ARG BASE=registry.my.com/dockerhub/library/nginx\nFROM $BASE\n"
    );

    let twice = "ARG BASE=nginx\nFROM $BASE\nFROM alpine\nARG BASE=nginx\nFROM $BASE\n";
    let plan = read(SourceKind::Dockerfile, twice, &none);
    assert!(
        plan.unfixable.iter().all(|u| u.reason.contains("2 places")),
        "{plan:?}"
    );

    // Edits are never planned on a text that is not the one read.
    let text = "FROM nginx\n";
    let sites = extract(
        &Source {
            name: "x".to_owned(),
            kind: SourceKind::Dockerfile,
            text: Ok(text.to_owned()),
        },
        &none,
    )
    .sites;
    let plan = fix::plan(
        "FROM redis\n",
        SourceKind::Dockerfile,
        &sites,
        &policy,
        &none,
    );
    assert!(
        plan.edits.is_empty() && plan.unfixable.len() == 1,
        "{plan:?}"
    );
}

/// `--diff`'s text: a unified diff with `a/` and `b/` names, hunks whose
/// counts add up, and nothing for an unchanged file.
#[test]
fn unified_diff_hunks_add_up() {
    let before = "a\r\nb\r\nimage: nginx\r\nc\r\n";
    let at = before.find("nginx").expect("the image");
    let edits = [fix::Edit {
        range: at..at + 5,
        replacement: "registry.my.com/nginx".to_owned(),
    }];
    let diff = fix::unified_diff("dir/f.yaml", before, &edits);
    let mut lines = diff.lines();
    assert_eq!(lines.next(), Some("--- a/dir/f.yaml"));
    assert_eq!(lines.next(), Some("+++ b/dir/f.yaml"));
    let header = lines.next().expect("a hunk");
    assert_eq!(header, "@@ -1,4 +1,4 @@");
    let body: Vec<&str> = lines.collect();
    assert_eq!(body.iter().filter(|l| l.starts_with('-')).count(), 1);
    assert_eq!(body.iter().filter(|l| l.starts_with('+')).count(), 1);
    assert_eq!(body.len(), 5);
    assert!(diff.contains("+image: registry.my.com/nginx\r\n"));
    assert!(fix::unified_diff("f", before, &[]).is_empty());
    let same = [fix::Edit {
        range: at..at + 5,
        replacement: "nginx".to_owned(),
    }];
    assert!(fix::unified_diff("f", before, &same).is_empty());
}

/// A text of `lines` distinct lines (so that the line diff has one answer),
/// with CRLF or LF ends and maybe no final newline, and edits of some of
/// its lines: each a range inside the line, replaced by another word.
fn text_and_edits() -> impl Strategy<Value = (String, Vec<fix::Edit>)> {
    (
        1usize..40,
        any::<bool>(),
        any::<bool>(),
        proptest::collection::vec((any::<bool>(), 0usize..4, 0usize..3), 40),
    )
        .prop_map(|(lines, crlf, final_newline, picks)| {
            let mut text = String::new();
            let mut edits = Vec::new();
            for (n, &(edited, at, len)) in picks.iter().enumerate().take(lines) {
                let start = text.len();
                text.push_str(&format!("l{n:02} image: word{n}"));
                if edited {
                    // A range inside "l00 image: wordN" (never the line end);
                    // `len` 0 inserts.
                    let from = start + 4 + at * 2;
                    edits.push(fix::Edit {
                        range: from..from + len,
                        replacement: format!("new{n}/x"),
                    });
                }
                if n + 1 < lines || final_newline {
                    text.push_str(if crlf { "\r\n" } else { "\n" });
                }
            }
            (text, edits)
        })
}

proptest! {
    /// `unified_diff`, written from the edits, is `similar`'s line diff of
    /// the texts before and after, byte for byte.
    #[test]
    fn unified_diff_is_similars((before, edits) in text_and_edits()) {
        let fix = fix::Fix { edits: edits.clone(), ..fix::Fix::default() };
        let after = fix.apply(&before);
        let oracle = if before == after {
            String::new()
        } else {
            similar::TextDiff::from_lines(&before, &after)
                .unified_diff()
                .context_radius(3)
                .header("a/d/f.yaml", "b/d/f.yaml")
                .to_string()
        };
        prop_assert_eq!(fix::unified_diff("d/f.yaml", &before, &edits), oracle);
    }
}

/// The fuzz target's fix invariants (`fuzzing::check_fix`) on every fixture
/// of `testdata/lint/` and every committed input of the linter's fuzz
/// targets: the seeds the fuzzer starts from.
#[test]
fn fix_invariants_hold_on_the_fuzz_seeds() {
    let mut texts: Vec<(String, String)> = sources()
        .into_iter()
        .filter_map(|s| Some((s.name, s.text.ok()?)))
        .collect();
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/testdata");
    for target in std::fs::read_dir(&committed).expect("the fuzz inputs") {
        for input in std::fs::read_dir(target.expect("entry").path()).expect("a target's inputs") {
            let path = input.expect("entry").path();
            if let Ok(text) = std::fs::read_to_string(&path) {
                texts.push((path.display().to_string(), text));
            }
        }
    }
    assert!(texts.len() > 40);
    for (name, text) in &texts {
        assert_eq!(
            image_policy_lint::fuzzing::check_fix(text),
            Ok(()),
            "{name}"
        );
    }
}

/// The image of the generated Dockerfiles, and what the rules make of it.
const IMAGE: &str = "busybox:1.36";
const REWRITTEN: &str = "registry.my.com/dockerhub/library/busybox:1.36";

/// Every place BuildKit pulls an image from, as templates (`{I}` is the
/// image, `{S}` a stage BuildKit needs before it), in the spellings a
/// Dockerfile may use: option orders, quotes, instruction names' case, line
/// continuations.
const DOCKERFILE_PLACES: &[&str] = &[
    "# syntax={I}\nFROM scratch\n",
    "FROM {I}\n",
    "from {I} AS build\n",
    "FROM --platform=linux/amd64 {I} as build\n",
    "FROM \"{I}\"\n",
    "FROM '{I}'\n",
    "FROM \\\n    {I}\n",
    "{S}COPY --from={I} /a /b\n",
    "{S}copy --link --from={I} /a /b\n",
    "{S}ADD --chown=1:1 --from={I} /a /b\n",
    "{S}COPY --from=\"{I}\" /a /b\n",
    "{S}RUN --mount=type=cache,from={I},target=/b true\n",
    "{S}RUN --mount=from={I},type=bind,target=/b true\n",
    "{S}RUN --mount=type=bind,target=/b,from={I} true\n",
    "{S}run --network=none --mount=type=bind,FROM={I},target=/b true\n",
    "{S}RUN --mount=type=bind,\"from={I}\",target=/b true\n",
    "{S}RUN --mount=type=cache,target=/c --mount=type=bind,from={I},target=/b \\\n  true\n",
    "{S}ONBUILD COPY --from={I} /a /b\n",
    "{S}onbuild RUN --mount=type=cache,from={I},target=/b true\n",
    "ARG BASE={I}\nFROM $BASE\n",
    "ARG BASE=\"{I}\"\nFROM ${BASE} AS build\n",
    "ARG BASE='{I}'\nFROM \"$BASE\"\n",
    "ARG A=1 BASE={I}\nFROM ${BASE}\n",
];

/// Text around the place: nothing, CRLF line ends, a heredoc whose body
/// looks like instructions (not read, not edited), a comment.
fn dockerfile_variants() -> Vec<String> {
    let mut out = Vec::new();
    for place in DOCKERFILE_PLACES {
        let stage = "FROM scratch AS s\n";
        let text = place.replace("{S}", stage).replace("{I}", IMAGE);
        for wrap in 0..4 {
            let body = match wrap {
                0 => text.clone(),
                1 => text.replace('\n', "\r\n"),
                2 => format!(
                    "{text}FROM scratch\nRUN <<EOF\nFROM nginx:1.27\nCOPY --from=redis:7 /a /b\nEOF\nRUN <<-\"END\" cat\n\tFROM nginx:1.27\n\tEND\n"
                ),
                _ => format!("{text}# FROM nginx:1.27\n"),
            };
            out.push(body);
        }
    }
    out
}

/// Every place an image stands in a Dockerfile is fixed, in every
/// spelling: the fixed text is the original with the image (only it)
/// rewritten; before the fix the image is denied, as written (no /mutate
/// reaches `docker build`), and says it is fixable; after it, it is
/// allowed.
#[test]
fn every_dockerfile_place_is_fixed() {
    let policy = Policy::builder()
        .allow_registry("registry.my.com")
        .rewrite("docker.io", "registry.my.com/dockerhub")
        .build()
        .expect("the rules load")
        .policy;
    let options = Options::default();
    for text in dockerfile_variants() {
        let source = Source {
            name: "Dockerfile".to_owned(),
            kind: SourceKind::Dockerfile,
            text: Ok(text.clone()),
        };
        let before = lint([source.clone()], &options, &policy);
        let findings = &before.files[0].findings;
        assert_eq!(findings.len(), 1, "{text:?}: {findings:?}");
        let verdict = &findings[0].verdict;
        assert_eq!(findings[0].site.image, IMAGE, "{text:?}");
        assert!(
            verdict.as_written && !verdict.allowed,
            "{text:?}: {verdict:?}"
        );
        assert_eq!(verdict.rewritten.as_deref(), Some(REWRITTEN));
        assert_eq!(verdict.unfixable, None, "{text:?}");
        assert_eq!(before.exit_code(false), 1, "{text:?}");

        let fixed = fix::fix(vec![source], &options, &policy);
        let entry = &fixed.files[0];
        assert!(
            entry.unfixable.is_empty() && entry.not_touched.is_none(),
            "{text:?}: {entry:?}"
        );
        let change = entry.change.as_ref().expect("fixed");
        assert_eq!(change.after, text.replacen(IMAGE, REWRITTEN, 1), "{text:?}");
        assert_eq!(
            fixed.report.exit_code(false),
            0,
            "{text:?}: {:?}",
            fixed.report
        );
    }
}

/// An image the fix cannot write says so in the report, with the plan's
/// reason, and is denied as written; the others of the file are fixable.
#[test]
fn the_report_says_fixable_only_of_what_the_fix_does() {
    let policy = Policy::builder()
        .allow_registry("registry.my.com")
        .rewrite("docker.io", "registry.my.com/dockerhub")
        .build()
        .expect("the rules load")
        .policy;
    let text = "ARG TAG=1.36\nFROM busybox:${TAG}\nCOPY --from=nginx:1.27 /a /b\n";
    let source = Source {
        name: "Dockerfile".to_owned(),
        kind: SourceKind::Dockerfile,
        text: Ok(text.to_owned()),
    };
    let report = lint([source.clone()], &Options::default(), &policy);
    let findings = &report.files[0].findings;
    let reasons: Vec<Option<&str>> = findings
        .iter()
        .map(|f| f.verdict.unfixable.as_deref())
        .collect();
    assert!(
        reasons[0].is_some_and(|r| r.contains("mixed with variables")),
        "{reasons:?}"
    );
    assert_eq!(reasons[1], None);
    let fixed = fix::fix(vec![source], &Options::default(), &policy);
    assert_eq!(fixed.files[0].unfixable.len(), 1);
    assert_eq!(fixed.files[0].unfixable[0].position.line, 2);
    let after = &fixed.report.files[0].findings;
    assert!(after[0].verdict.unfixable.is_some() && !after[0].verdict.allowed);
    assert!(after[1].verdict.allowed && after[1].verdict.rewritten.is_none());

    let mut rendered = Vec::new();
    image_policy_lint::render::render(
        &report,
        image_policy_lint::render::Format::Text,
        image_policy_lint::render::Style {
            color: false,
            show_allowed: true,
        },
        &mut rendered,
    )
    .expect("renders");
    let rendered = String::from_utf8(rendered).expect("UTF-8");
    assert_eq!(
        rendered.matches("not fixable with --fix").count(),
        1,
        "{rendered}"
    );
    assert_eq!(
        rendered.matches("; fixable with --fix").count(),
        1,
        "{rendered}"
    );
}

/// Kubernetes objects are judged as /mutate rewrites them; compose files,
/// like Dockerfiles, as written, until the fix writes the rewritten image.
#[test]
fn compose_files_are_judged_as_written_and_manifests_as_rewritten() {
    let policy = Policy::builder()
        .allow_registry("registry.my.com")
        .rewrite("docker.io", "registry.my.com/dockerhub")
        .build()
        .expect("the rules load")
        .policy;
    let compose = Source {
        name: "compose.yaml".to_owned(),
        kind: SourceKind::Compose,
        text: Ok("services:\n  web:\n    image: python:3-slim\n".to_owned()),
    };
    let manifest = Source {
        name: "pod.yaml".to_owned(),
        kind: SourceKind::Manifests,
        text: Ok("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: a, image: python:3-slim}\n".to_owned()),
    };
    let report = lint(
        [compose.clone(), manifest.clone()],
        &Options::default(),
        &policy,
    );
    let compose_verdict = &report.files[0].findings[0].verdict;
    assert!(
        compose_verdict.as_written && !compose_verdict.allowed,
        "{compose_verdict:?}"
    );
    let manifest_verdict = &report.files[1].findings[0].verdict;
    assert!(
        !manifest_verdict.as_written && manifest_verdict.allowed,
        "{manifest_verdict:?}"
    );
    assert_eq!(report.exit_code(false), 1);
    let fixed = fix::fix(vec![compose, manifest], &Options::default(), &policy);
    assert_eq!(fixed.report.exit_code(false), 0, "{:?}", fixed.report);
}

/// A small deterministic generator (a 64-bit LCG): the same files on every
/// run, more with a larger sample.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.next(items.len())]
    }
}

/// A Pod with anchors, aliases, merge keys and flow style: an image anchor
/// (plain, double- or single-quoted) whose aliases stand in `command`,
/// `args`, an env value, an annotation or another container's `image`; a
/// label's anchor used as an image; a container repeated by a merge key or
/// an alias; flow and block containers.
fn anchored_pod(seed: u64) -> String {
    let mut r = Lcg(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let anchored_image = r.next(4) != 0;
    let label_anchor = r.next(2) == 0;
    let image0 = r.pick(&["nginx:1.27", "\"nginx:1.27\"", "'redis:7'", "quay.io/x/y:1"]);
    let mut out = format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p{seed}\n");
    out.push_str("  labels:\n");
    out.push_str(if label_anchor {
        "    app: &lbl busybox\n"
    } else {
        "    app: web\n"
    });
    if label_anchor && r.next(2) == 0 {
        out.push_str("    copy: *lbl\n");
    }
    let alias_uses = if anchored_image { r.next(32) } else { 0 };
    if alias_uses & 1 != 0 {
        out.push_str("  annotations:\n    image-note: *img\n");
    }
    out.push_str("spec:\n");
    let init_merge = r.next(3);
    if init_merge != 0 {
        // A container anchored whole, then repeated by a merge key or an alias.
        out.push_str("  initContainers:\n  - &init\n    name: i0\n    image: busybox:1.36\n");
        out.push_str(if init_merge == 1 {
            "  - <<: *init\n    name: i1\n"
        } else {
            "  - {<<: *init, name: i1, image: redis:7}\n"
        });
    }
    out.push_str("  containers:\n");
    let anchor = if anchored_image { "&img " } else { "" };
    let flow0 = r.next(3) == 0;
    if flow0 {
        out.push_str(&format!("  - {{name: c0, image: {anchor}{image0}"));
    } else {
        out.push_str(&format!("  - name: c0\n    image: {anchor}{image0}\n"));
    }
    let mut extra = Vec::new();
    if alias_uses & 2 != 0 {
        extra.push(("command", "[*img]".to_owned(), "[*img]".to_owned()));
    }
    if alias_uses & 4 != 0 {
        extra.push((
            "args",
            "[\"-c\", *img]".to_owned(),
            "[\"-c\", *img ]".to_owned(),
        ));
    }
    if alias_uses & 8 != 0 {
        extra.push((
            "env",
            "[{name: IMAGE, value: *img}]".to_owned(),
            "[{name: IMAGE, value: *img}]".to_owned(),
        ));
    }
    for (key, flow, block) in &extra {
        if flow0 {
            out.push_str(&format!(", {key}: {flow}"));
        } else {
            out.push_str(&format!("    {key}: {block}\n"));
        }
    }
    if flow0 {
        out.push_str("}\n");
    }
    // A second container: its image an alias of the image anchor or of the
    // label's, or its own.
    let second = match (anchored_image, label_anchor, r.next(3)) {
        (true, _, 0) => "*img",
        (_, true, 1) => "*lbl",
        _ => r.pick(&["redis:7", "\"busybox\"", "gcr.io/x/y:2"]),
    };
    if alias_uses & 16 != 0 || r.next(2) == 0 {
        out.push_str(&format!("  - {{name: c1, image: {second}}}\n"));
    } else {
        out.push_str(&format!("  - name: c1\n    image: {second}\n"));
    }
    out
}

/// kubectl, or `None` (outside CI) when it is not installed.
fn kubectl() -> Option<PathBuf> {
    let path = std::env::var_os("KUBECTL").map_or_else(|| PathBuf::from("kubectl"), PathBuf::from);
    let works = std::process::Command::new(&path)
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success());
    if works {
        return Some(path);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "kubectl is required in CI (.ci/reference-tools installs it)"
    );
    eprintln!("NOTE: kubectl not found: the fix differential test did not run");
    None
}

/// kubectl's reading of a file: the objects it would send, as JSON, or its
/// error.
fn kubectl_reads(kubectl: &Path, text: &str) -> Result<Vec<serde_json::Value>, String> {
    use std::io::Write as _;
    let mut child = std::process::Command::new(kubectl)
        .args([
            "label",
            "--local",
            "-f",
            "-",
            "image-policy.test/read=1",
            "-o",
            "json",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("kubectl starts");
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(text.as_bytes())
        .expect("kubectl reads its input");
    let out = child.wait_with_output().expect("kubectl finishes");
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    serde_json::Deserializer::from_slice(&out.stdout)
        .into_iter::<serde_json::Value>()
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())
}

/// Sets the value at a site's path (`spec.containers[1].image`) in `object`.
fn set_path(object: &mut serde_json::Value, path: &str, value: &str) {
    let mut at = object;
    for part in path.split('.') {
        let (key, index) = match part.split_once('[') {
            Some((k, i)) => (
                k,
                Some(i.trim_end_matches(']').parse::<usize>().expect("an index")),
            ),
            None => (part, None),
        };
        at = &mut at[key];
        if let Some(i) = index {
            at = &mut at[i];
        }
    }
    *at = serde_json::Value::String(value.to_owned());
}

/// The fix changes only what it plans, as kubectl reads it: over generated
/// files with anchors, aliases, merge keys and flow style, kubectl's reading
/// of the fixed file is its reading of the original with only the planned
/// image fields changed (whole objects compared, so a changed `command`,
/// env value or label fails). `IMAGE_POLICY_FIX_DIFFERENTIAL_FILES` sets the
/// sample (default 48 files; kubectl is a process per call, run on four
/// threads).
#[test]
fn fix_changes_only_planned_images_as_kubectl_reads_them() {
    let Some(kubectl) = kubectl() else {
        return;
    };
    let count: u64 = std::env::var("IMAGE_POLICY_FIX_DIFFERENTIAL_FILES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(48);
    let policy = policy();
    let options = Options::default();
    let texts: Vec<String> = (0..count).map(anchored_pod).collect();
    let sources: Vec<Source> = texts
        .iter()
        .map(|t| Source {
            name: "pod.yaml".to_owned(),
            kind: SourceKind::Manifests,
            text: Ok(t.clone()),
        })
        .collect();
    let before = lint(sources.clone(), &options, &policy);
    let fixed = fix::fix(sources, &options, &policy);
    let (mut compared, mut changed, mut refused) = (0, 0, 0);
    let results: Vec<Result<(), String>> = crate::pool::map_in_order(&texts, 4, |i, text| {
        let Some(change) = &fixed.files[i].change else {
            return Err("unchanged".to_owned());
        };
        let original = kubectl_reads(&kubectl, text)
            .unwrap_or_else(|e| panic!("kubectl refuses {text:?}: {e}"));
        let after = kubectl_reads(&kubectl, &change.after);
        let mut expected = original;
        for f in &before.files[i].findings {
            let Ok(Some(new)) = policy.rewrite_str(&f.site.image) else {
                continue;
            };
            if f.verdict.unfixable.is_none() {
                set_path(
                    &mut expected[0],
                    f.site.path.as_deref().expect("a path"),
                    new.as_str(),
                );
            }
        }
        let verdict = match after {
            Ok(after) if after == expected => Ok(()),
            Ok(after) => Err(format!(
                "kubectl reads {:?} as\n{}\nexpected\n{}",
                change.after,
                serde_json::to_string_pretty(&after).expect("JSON"),
                serde_json::to_string_pretty(&expected).expect("JSON")
            )),
            Err(e) => Err(format!("kubectl refuses the fixed {:?}: {e}", change.after)),
        };
        verdict.map_err(|e| format!("from {text:?}: {e}"))
    });
    for (i, result) in results.into_iter().enumerate() {
        match result {
            Ok(()) => {
                compared += 1;
                changed += 1;
            }
            Err(e) if e == "unchanged" => {
                refused += usize::from(!fixed.files[i].unfixable.is_empty());
                compared += 1;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(compared, texts.len());
    assert!(
        changed * 2 >= texts.len(),
        "most files are fixed ({changed} of {})",
        texts.len()
    );
    eprintln!(
        "{changed} fixed files read by kubectl as planned; {refused} unchanged with unfixable images"
    );
}

/// The fix invariants (`fuzzing::check_fix`: the derived report of a fixed
/// file is the one reading it gives, a second plan is empty) on many more
/// generated anchored files than the kubectl sample, and the case:
/// an image anchor aliased in `command`, an env value and another image.
#[test]
fn anchored_files_keep_the_fix_invariants() {
    for seed in 0..150 {
        let text = anchored_pod(seed);
        assert_eq!(
            image_policy_lint::fuzzing::check_fix(&text),
            Ok(()),
            "{text:?}"
        );
    }
    // The moved anchor before another image on the same line (positions
    // after it shift), in flow style.
    let one_line = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a, image: &img 'nginx', command: [*img]}, {name: b, image: redis, args: [*img]}, {name: c, image: *img}]}\n";
    assert_eq!(image_policy_lint::fuzzing::check_fix(one_line), Ok(()));
    let fixed = fix::fix(
        vec![Source {
            name: "pod.yaml".to_owned(),
            kind: SourceKind::Manifests,
            text: Ok(one_line.to_owned()),
        }],
        &Options::default(),
        &policy(),
    );
    let after = &fixed.files[0].change.as_ref().expect("fixed").after;
    assert!(
        after.contains("image: &img 'registry.my.com/dockerhub/library/nginx', command: [&img 'nginx']}, {name: b, image: registry.my.com/dockerhub/library/redis, args: [*img]}, {name: c, image: registry.my.com/dockerhub/library/nginx}"),
        "{after}"
    );
    let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: a\n    image: &img nginx\n    command: [*img]\n    env: [{name: I, value: *img}]\n  - {name: b, image: *img}\n";
    let source = Source {
        name: "pod.yaml".to_owned(),
        kind: SourceKind::Manifests,
        text: Ok(text.to_owned()),
    };
    let fixed = fix::fix(vec![source], &Options::default(), &policy());
    let change = fixed.files[0].change.as_ref().expect("fixed");
    let new = "registry.my.com/dockerhub/library/nginx";
    assert_eq!(
        change.after,
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  containers:\n  - name: a\n    image: &img {new}\n    command: [&img nginx]\n    env: [{{name: I, value: *img}}]\n  - {{name: b, image: {new}}}\n"
        )
    );
}

/// Compose files with anchors: an alias used as an image is written
/// literally (the extension field keeps its value), an image merged from an
/// anchored mapping (`<<: *defaults`) is not fixable, and says so.
#[test]
fn compose_aliases_and_merge_keys() {
    let text = "x-image: &img nginx:1.27\nx-defaults: &defaults\n  image: redis:7\n  restart: always\nservices:\n  web:\n    image: *img\n    labels: {from: *img}\n  cache:\n    <<: *defaults\n";
    let source = Source {
        name: "compose.yaml".to_owned(),
        kind: SourceKind::Compose,
        text: Ok(text.to_owned()),
    };
    let fixed = fix::fix(vec![source], &Options::default(), &policy());
    let entry = &fixed.files[0];
    let change = entry.change.as_ref().expect("web is fixed");
    assert_eq!(
        change.after,
        text.replacen(
            "    image: *img",
            "    image: registry.my.com/dockerhub/library/nginx:1.27",
            1
        )
    );
    assert_eq!(entry.unfixable.len(), 1, "{entry:?}");
    assert!(entry.unfixable[0].reason.contains("&defaults"), "{entry:?}");
    let cache = fixed.report.files[0]
        .findings
        .iter()
        .find(|f| f.site.holder.name.as_deref() == Some("cache"))
        .expect("cache's image");
    assert!(cache.verdict.unfixable.is_some() && cache.verdict.as_written);
}
