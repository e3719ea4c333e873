//! The readers' internals and the invariants they keep, for the fuzz
//! targets, the benches and the differential tests (`--features fuzzing`),
//! and for the property tests below. Not an API: it changes with the
//! readers.
//!
//! This is the one way the linter shares a check between a fuzz target and
//! its tests: the check is a function here returning `Err` with what broke,
//! the fuzz target panics on it, and the tests (the property tests below,
//! `tests/it`) call the same function; an internal a target or a
//! differential test needs is re-exported here, never made public where it
//! is defined.

use crate::report::{self, ImageSite};
use crate::{Options, Source, SourceKind, extract, fix, lint};
use image_policy_core::policy::Policy;

/// The manifest reader's two paths (see the crate's `# Performance`).
#[cfg(feature = "fuzzing")]
pub mod manifests {
    pub use crate::fast_yaml::NotInSubset;
    pub use crate::manifests::{
        extract, extract_fast, extract_serde_saphyr, extract_without_fast_path,
    };
}

/// kubectl's document splitter and the checks of what go-yaml v2 reads
/// differently.
#[cfg(feature = "fuzzing")]
pub mod kubectl {
    pub use crate::kubectl::{
        BadSeparator, Chunk, Difference, differences, json_stream_difference,
    };
}

/// The invariants every reader keeps on any text, for the `lint_readers`
/// fuzz target and the property test: reading a text as each kind (YAML by
/// content, Dockerfile, kustomization) returns, never panics, and every site
/// and problem it reports points inside the text (a line that exists, a
/// column within that line or just after its end). Lines end at `\n` only,
/// for every reader: the linter's own lines, which every report and fix
/// uses (a YAML parser also ends a line at a lone `\r`; the readers place
/// its locations in the linter's lines). `Err` says which broke.
pub fn check_readers(text: &str) -> Result<(), String> {
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    for kind in [
        SourceKind::Manifests,
        SourceKind::Compose,
        SourceKind::Dockerfile,
        SourceKind::Kustomization,
    ] {
        let source = Source {
            name: "fuzz".to_owned(),
            kind,
            text: Ok(text.to_owned()),
        };
        let inside = |p: report::Position| {
            p.line >= 1
                && lines
                    .get(p.line - 1)
                    .is_some_and(|l| p.column >= 1 && p.column <= l.chars().count() + 1)
        };
        let got = extract(&source, &Options::default());
        if let Some(site) = got.sites.iter().find(|s| !inside(s.position)) {
            return Err(format!("{kind:?}: site outside the text: {site:?}"));
        }
        if let Some(problem) = got
            .problems
            .iter()
            .find(|p| p.position.is_some_and(|at| !inside(at)))
        {
            return Err(format!("{kind:?}: problem outside the text: {problem:?}"));
        }
    }
    Ok(())
}

/// The invariants of [`fix::plan`] on any text, for the `lint_readers` fuzz
/// target and the property test: read as each kind, with rewrite rules
/// that match most images, the plan's edits lie inside the text, on
/// character boundaries, inside one line, sorted and never overlapping; when
/// the text reads without an input error (what [`fix::fix`] requires before
/// touching a file), the fixed text reads as the same sites with the
/// expected images ([`fix::verify`]), and a second plan of it is empty.
/// And the local proof is the full one's: [`fix::check_edits`] accepts the
/// fixed text, and [`fix::fix`] (which checks each edit locally and derives
/// the fixed file's report instead of reading it again) gives exactly the
/// report that reading the fixed text gives, and the same text.
/// The same again with pin rules (what the rules rewrite and Docker Hub in
/// pin scope), each image [`fix::wanted`] lists pinned at one digest.
/// `Err` says which broke.
pub fn check_fix(text: &str) -> Result<(), String> {
    static POLICY: std::sync::OnceLock<Policy> = std::sync::OnceLock::new();
    static PINNING: std::sync::OnceLock<Policy> = std::sync::OnceLock::new();
    let policy = POLICY.get_or_init(|| {
        Policy::builder()
            .rewrite("docker.io", "mirror.example/hub")
            .rewrite("quay.io/app", "mirror.example/quay")
            .rewrite("registry.my.com", "mirror.example/mine")
            .build()
            .expect("the fuzzing rules load")
            .policy
    });
    check_fix_with(text, policy, &Options::default())?;
    let pinning = PINNING.get_or_init(|| {
        Policy::from_yaml_str(
            "pin: [{registry: mirror.example}, {registry: docker.io}]\n\
             rewrite:\n- {from: quay.io/app, to: mirror.example/quay}\n\
             - {from: registry.my.com, to: mirror.example/mine}\n",
            "fuzzing.yaml",
        )
        .expect("the fuzzing rules load")
        .policy
    });
    let mut pins = fix::Pins::new();
    for kind in [
        SourceKind::Manifests,
        SourceKind::Compose,
        SourceKind::Dockerfile,
        SourceKind::Kustomization,
    ] {
        let source = Source {
            name: "fuzz".to_owned(),
            kind,
            text: Ok(text.to_owned()),
        };
        for wanted in fix::wanted(&[source], &Options::default(), pinning) {
            let digest = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
            pins.insert(&wanted.image, digest)
                .map_err(|e| format!("{kind:?}: wanted {wanted:?}: {e}"))?;
        }
    }
    let options = Options {
        pins: Some(pins),
        ..Options::default()
    };
    check_fix_with(text, pinning, &options)
}

fn check_fix_with(text: &str, policy: &Policy, options: &Options) -> Result<(), String> {
    let options = options.clone();
    for kind in [
        SourceKind::Manifests,
        SourceKind::Compose,
        SourceKind::Dockerfile,
        SourceKind::Kustomization,
    ] {
        let source = Source {
            name: "fuzz".to_owned(),
            kind,
            text: Ok(text.to_owned()),
        };
        let before = lint([source.clone()], &options, policy);
        let file = &before.files[0];
        let sites: Vec<ImageSite> = file.findings.iter().map(|f| f.site.clone()).collect();
        let plan = fix::plan(text, kind, &sites, policy, &options);
        let mut end = 0;
        for edit in &plan.edits {
            let r = &edit.range;
            if r.start < end || r.end < r.start || r.end > text.len() {
                return Err(format!(
                    "{kind:?}: edit {r:?} out of order or outside the text"
                ));
            }
            if !text.is_char_boundary(r.start) || !text.is_char_boundary(r.end) {
                return Err(format!("{kind:?}: edit {r:?} not on character boundaries"));
            }
            if text[r.clone()].contains(['\n', '\r'])
                || (edit.replacement.contains('\n') && kind != SourceKind::Kustomization)
            {
                return Err(format!("{kind:?}: edit {r:?} spans lines"));
            }
            end = r.end;
        }
        if plan.is_empty() || file.problems.iter().any(|p| p.code.is_input_error()) {
            continue;
        }
        let fixed = plan.apply(text);
        let after = lint(
            [Source {
                text: Ok(fixed.clone()),
                ..source.clone()
            }],
            &options,
            policy,
        );
        fix::verify(file, &plan, &after.files[0])
            .map_err(|e| format!("{kind:?}: fixed text {fixed:?}: {e}"))?;
        fix::check_edits(&fixed, kind, &plan.edits).map_err(|e| {
            format!(
                "{kind:?}: fixed text {fixed:?} reads as planned, but the local check says: {e}"
            )
        })?;
        let whole = fix::fix(vec![source.clone()], &options, policy);
        let change = whole.files[0].change.as_ref();
        if change.map(|c| (c.after.as_str(), &c.edits)) != Some((fixed.as_str(), &plan.edits)) {
            return Err(format!(
                "{kind:?}: fix::fix of {text:?} gives {:?}, not {fixed:?}",
                whole.files[0]
            ));
        }
        if whole.report.files[0] != after.files[0] {
            return Err(format!(
                "{kind:?}: the derived report of {fixed:?} is {:?}, reading it gives {:?}",
                whole.report.files[0], after.files[0]
            ));
        }
        let sites: Vec<ImageSite> = after.files[0]
            .findings
            .iter()
            .map(|f| f.site.clone())
            .collect();
        let again = fix::plan(&fixed, kind, &sites, policy, &options);
        if !again.is_empty() {
            return Err(format!(
                "{kind:?}: a second plan of {fixed:?} edits {:?}",
                again.edits
            ));
        }
    }
    Ok(())
}
/// The invariant of the `fast_yaml` fuzz target: where the fast path reads
/// a text (it is in its subset), it reads it exactly as serde-saphyr does.
/// `Err` says how they differ.
pub fn check_fast_path(text: &str) -> Result<(), String> {
    let Ok(fast) = crate::manifests::extract_fast(text) else {
        return Ok(());
    };
    let slow = crate::manifests::extract_serde_saphyr(text);
    if fast != slow {
        return Err(format!(
            "the fast path differs from serde-saphyr: {fast:?}, not {slow:?}"
        ));
    }
    Ok(())
}

/// The invariant of the block recognizer (the fast path's first source,
/// checked by the `fast_yaml` fuzz target too): on any text it reads to
/// the end, its events are granit-parser's events as the fast path converts
/// them, the same kinds, texts, styles and positions, and granit-parser
/// reads the text without an error. The position of a plain `~` (the null
/// granit-parser writes for `key:` with nothing after it) is left out: the
/// fast path never reads a null's position (a null is `None`, a unit or a
/// refusal). Returns whether
/// the recognizer read the text; `Err` says how the events differ.
pub fn check_block_recognizer(text: &str) -> Result<bool, String> {
    use crate::fast_yaml::{Ev, raw_events};
    let Ok(mut block) = raw_events(text, true) else {
        return Ok(false);
    };
    let mut granit = match raw_events(text, false) {
        Ok(granit) => granit,
        Err(e) => {
            return Err(format!(
                "the block recognizer read a text whose granit-parser events the fast path refuses ({e}): {block:?}"
            ));
        }
    };
    for ev in block.iter_mut().chain(granit.iter_mut()) {
        if let Ev::Scalar(s) = ev
            && s.plain
            && s.value == "~"
        {
            s.position = report::Position { line: 0, column: 0 };
        }
    }
    if block != granit {
        let at = block.iter().zip(&granit).position(|(a, b)| a != b);
        return Err(format!(
            "the block recognizer's events differ from granit-parser's at event {at:?}: {block:?}, not {granit:?}"
        ));
    }
    Ok(true)
}

/// The invariants of the `kubectl_reader` fuzz target: kubectl's documents
/// of a text are whole lines, in order, never overlapping, each starting at
/// the line it says and holding a separator line only as its first line
/// (kubectl keeps a separator met with nothing read since the last cut
/// there); its one-pass answer to whether YAML cuts the text alike is the
/// line-by-line rule's; the difference checks return; the manifest reader's sites and
/// problems lie on lines of the text (unless a lone carriage return, a line
/// break for the parser and not for the line index, is in it); and reading
/// each document with the fast path gives what serde-saphyr alone gives.
/// `Err` says which broke.
pub fn check_kubectl_reader(text: &str) -> Result<(), String> {
    let crate::kubectl::Split {
        chunks,
        bad_separator: bad,
        yaml_alike,
    } = crate::kubectl::split(&crate::lines::Lines::new(text));
    if yaml_alike != yaml_splits_alike_by_lines(text) {
        return Err(format!(
            "yaml_alike {yaml_alike}, the line-by-line reading says otherwise"
        ));
    }
    let mut end = 0;
    for chunk in &chunks {
        let start = chunk.text.as_ptr() as usize - text.as_ptr() as usize;
        if start < end {
            return Err("chunks overlap or go back".to_owned());
        }
        if start != 0 && text.as_bytes()[start - 1] != b'\n' {
            return Err("not whole lines".to_owned());
        }
        let line = 1 + text[..start].matches('\n').count();
        if chunk.first_line != line {
            return Err(format!(
                "first line: {} for a chunk on line {line}",
                chunk.first_line
            ));
        }
        if chunk.text.split('\n').skip(1).any(|l| l.starts_with("---")) {
            return Err("a chunk holds a separator line past its first".to_owned());
        }
        end = start + chunk.text.len();
    }
    if let Some(bad) = bad.filter(|b| b.position.line < 1) {
        return Err(format!("a bad separator on line 0: {bad:?}"));
    }
    let _ = crate::kubectl::differences(text);
    let _ = crate::kubectl::json_stream_difference(text);
    let got = crate::manifests::extract(text);
    let lines = text.split('\n').count();
    let lone_cr = text.replace("\r\n", "").contains('\r');
    if !lone_cr {
        let on_a_line = |line: usize| line >= 1 && line <= lines;
        if let Some(site) = got.sites.iter().find(|s| !on_a_line(s.position.line)) {
            return Err(format!("a site outside the text: {site:?}"));
        }
        if let Some(problem) = got
            .problems
            .iter()
            .find(|p| p.position.is_some_and(|p| !on_a_line(p.line)))
        {
            return Err(format!("a problem outside the text: {problem:?}"));
        }
    }
    if got != crate::manifests::extract_without_fast_path(text) {
        return Err("the fast path differs from serde-saphyr on kubectl's documents".to_owned());
    }
    Ok(())
}

/// Whether YAML splits `text` as kubectl does, line by line as the rule
/// reads (every `---` line is followed by nothing, or by a space or tab and
/// at most a comment; no `%` line; no byte-order mark past the first line):
/// the oracle of [`crate::kubectl::split`]'s one-pass answer.
fn yaml_splits_alike_by_lines(text: &str) -> bool {
    text.split('\n').enumerate().all(|(i, line)| {
        if let Some(rest) = line.strip_prefix("---") {
            let rest = rest.strip_suffix('\r').unwrap_or(rest);
            let after = rest.trim_start_matches([' ', '\t']);
            rest.is_empty()
                || (after.len() < rest.len() && (after.is_empty() || after.starts_with('#')))
        } else {
            !line.starts_with('%') && (i == 0 || !line.starts_with('\u{feff}'))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render;
    use proptest::prelude::*;

    /// Pieces of real inputs, so that random strings reach deep into each
    /// reader rather than failing on the first byte.
    const PIECES: &[&str] = &[
        "apiVersion: apps/v1\n",
        "kind: Deployment\n",
        "kind: List\nitems:\n",
        "- ",
        "---\n",
        "metadata: {name: a, annotations: {image-policy.dev/ignore: x}}\n",
        "spec:\n",
        "  template:\n",
        "    spec:\n",
        "      containers:\n",
        "      - name: c\n",
        "        image: nginx\n",
        "        image: \"quay.io/app/x:1\"\n",
        "image: 'registry.my.com/a@sha256:0000000000000000000000000000000000000000000000000000000000000000'\n",
        "ARG BASE=redis:7\n",
        "FROM $BASE\n",
        "FROM ${BASE}-x\n",
        "\r\n",
        "image: &a \"x\"\n",
        "*a",
        "{",
        "}",
        "[",
        "]",
        ": ",
        "\"",
        "'",
        "#",
        "\n",
        "  ",
        "\t",
        "FROM ",
        "ARG X=1\n",
        "${X}",
        "$",
        "\\\n",
        " AS b\n",
        "COPY --from=",
        "services:\n",
        "  web:\n",
        "    image: ${T:-1}\n",
        "images:\n- name: nginx\n  newTag: ",
        "  newName: ",
        "  digest: ",
        "# syntax=",
        "RUN --mount=from=",
        "ONBUILD ",
        "é",
        "\u{feff}",
    ];

    fn text() -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(PIECES), 0..40).prop_map(|v| v.concat())
    }

    /// Images the fuzzing rules of [`check_fix`] rewrite, or not.
    const IMAGES: &[&str] = &[
        "nginx",
        "nginx:1.27",
        "quay.io/app/x:1",
        "quay.io/other/y",
        "registry.my.com/a/b@sha256:0000000000000000000000000000000000000000000000000000000000000000",
        "docker.io/library/redis:7",
        "grafana/grafana:10",
        "localhost:5000/x",
    ];

    /// A written form of an image as a YAML scalar: plain, single- or
    /// double-quoted.
    fn scalar(image: &str, quote: usize) -> String {
        match quote {
            0 => image.to_owned(),
            1 => format!("'{image}'"),
            _ => format!("\"{image}\""),
        }
    }

    /// Manifests, compose files and Dockerfiles written in the styles a fix
    /// must keep: quoting, flow and block style, comments, CRLF, several
    /// documents, `ARG` defaults.
    fn fixable_text() -> impl Strategy<Value = (String, SourceKind)> {
        let entry = (
            prop::sample::select(IMAGES),
            0..3usize,
            any::<bool>(),
            any::<bool>(),
        );
        (
            prop::collection::vec(entry, 1..5),
            0..3usize,
            any::<bool>(),
        )
            .prop_map(|(entries, kind, crlf)| {
                let mut text = String::new();
                let kind = match kind {
                    0 => {
                        for (i, (image, quote, flow, comment)) in entries.iter().enumerate() {
                            let image = scalar(image, *quote);
                            let comment = if *comment { "  # pinned" } else { "" };
                            text.push_str(&format!(
                                "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: p{i}}}\nspec:\n  containers:\n"
                            ));
                            if *flow {
                                text.push_str(&format!("  - {{name: c, image: {image}}}{comment}\n"));
                            } else {
                                text.push_str(&format!("  - name: c\n    image: {image}{comment}\n"));
                            }
                        }
                        SourceKind::Manifests
                    }
                    1 => {
                        text.push_str("services:\n");
                        for (i, (image, quote, _, comment)) in entries.iter().enumerate() {
                            let comment = if *comment { " # db" } else { "" };
                            text.push_str(&format!("  s{i}:\n    image: {}{comment}\n", scalar(image, *quote)));
                        }
                        SourceKind::Compose
                    }
                    _ => {
                        for (i, (image, quote, via_arg, _)) in entries.iter().enumerate() {
                            if *via_arg {
                                let value = if *quote == 2 { format!("\"{image}\"") } else { (*image).to_owned() };
                                text.push_str(&format!("ARG B{i}={value}\nFROM ${{B{i}}} AS s{i}\n"));
                            } else {
                                text.push_str(&format!("FROM {image} AS s{i}\nCOPY --from={image} /a /b\n"));
                            }
                        }
                        SourceKind::Dockerfile
                    }
                };
                if crlf && kind != SourceKind::Dockerfile {
                    text = text.replace('\n', "\r\n");
                }
                (text, kind)
            })
    }

    proptest! {
        /// Every image of such a text that a rule rewrites is fixed, and the
        /// fix keeps the invariants of [`check_fix`].
        #[test]
        fn styles_are_fixed_and_kept((text, kind) in fixable_text()) {
            prop_assert_eq!(check_fix(&text), Ok(()));
            let policy = Policy::builder().rewrite("docker.io", "mirror.example/hub").build().expect("loads").policy;
            let source = Source { name: "x".to_owned(), kind, text: Ok(text.clone()) };
            let sites = extract(&source, &Options::default()).sites;
            prop_assert!(!sites.is_empty());
            let plan = fix::plan(&text, kind, &sites, &policy, &Options::default());
            prop_assert!(plan.unfixable.is_empty(), "{:?}", plan.unfixable);
            let rewritten = sites.iter().filter(|s| policy.rewrite_str(&s.image).ok().flatten().is_some()).count();
            prop_assert_eq!(plan.expected.iter().zip(&sites).filter(|(e, s)| **e != s.image).count(), rewritten);
        }
    }

    proptest! {
        /// No input makes a reader panic, and every site points inside the text.
        #[test]
        fn readers_never_panic(text in text()) {
            prop_assert_eq!(check_readers(&text), Ok(()));
            prop_assert_eq!(check_fix(&text), Ok(()));
            prop_assert_eq!(check_fast_path(&text), Ok(()));
            prop_assert_eq!(check_kubectl_reader(&text), Ok(()));
            for kind in [SourceKind::Manifests, SourceKind::Dockerfile, SourceKind::Compose, SourceKind::Kustomization] {
                let source = Source { name: "x".to_owned(), kind, text: Ok(text.clone()) };
                let got = extract(&source, &Options::default());
                let lines = text.lines().count().max(1);
                for site in &got.sites {
                    prop_assert!(site.position.line >= 1 && site.position.line <= lines, "{site:?}");
                }
                let report = crate::pipeline::lint_with([source], &Options::default(), |_| report::SiteVerdict {
                    violates: true,
                    allowed: false,
                    mode: image_policy_core::policy::Mode::Enforce,
                    code: image_policy_core::policy::DecisionCode::DeniedByRule,
                    reason: "x".to_owned(),
                    canonical: None,
                    rule: None,
                    rewritten: Some("r.io/x".to_owned()),
                    rewrite_rule: None,
                    as_written: false,
                    unfixable: Some("x".to_owned()),
                    exemptions: Vec::new(),
                });
                for format in [render::Format::Text, render::Format::Json, render::Format::Sarif, render::Format::Github] {
                    let style = render::Style { color: true, show_allowed: true };
                    render::render(&report, format, style, &mut Vec::new()).expect("writes to a Vec");
                }
            }
        }
    }
}
