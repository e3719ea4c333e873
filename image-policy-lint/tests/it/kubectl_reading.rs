//! The linter's manifest reader against kubectl's own reading, over
//! generated YAML: Unicode line breaks and spaces in every position, merge
//! keys, duplicate keys, document separators, BOMs, CRLF, tabs, flow style,
//! JSON, lists of every kind (`items`, bare items, lists in lists), documents
//! that are not objects and unrendered templates (`{{replicas}}`).
//!
//! The reference is `kyaml` (`../shared/tools/kubectl-yaml`, built by
//! `.ci/reference-tools` into `target/reference-tools/kyaml`, or the path in
//! `IMAGE_POLICY_KYAML`): kubectl itself (`kubectl label --local -f - -o
//! json`, the resource builder of `apply` and `create`, no cluster),
//! printing the images it would send. Under `CI` a missing kyaml fails the
//! test. Each kyaml call starts kubectl (about 0.2 s of CPU), so the calls
//! run a few at a time and the generated sample is sized for CI
//! (`KYAML_DIFF_FILES`, `KYAML_DIFF_SEED` and `KYAML_DIFF_JOBS` for longer
//! runs by hand).
//!
//! For every file, the linter either reports a problem (which makes `lint`
//! fail), or finds every image kyaml prints (as multisets of the same
//! strings). A duplicate key alone does not count as a report: there the
//! images must still be the ones kubectl sends. Where kyaml stops with an
//! error, the linter must report a problem (any problem makes `lint` fail),
//! unless kubectl sent nothing and the linter found no object either (a
//! file that is no manifest).

use image_policy_core::policy::Policy;
use image_policy_lint::fuzzing::manifests::{extract, extract_without_fast_path};
use image_policy_lint::report::ProblemCode;
use image_policy_lint::{Options, render, walk};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// kyaml, or `None` (outside CI) when it has not been built.
fn kyaml() -> Option<PathBuf> {
    let path = std::env::var_os("IMAGE_POLICY_KYAML")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/reference-tools/kyaml")
        });
    if path.is_file() {
        return Some(path);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{} is required in CI: run .ci/reference-tools",
        path.display()
    );
    eprintln!(
        "NOTE: {} not found (run .ci/reference-tools); the kubectl differential test did not run",
        path.display()
    );
    None
}

/// What kyaml says of a file.
#[derive(Debug, Default)]
struct Kubectl {
    /// The string images kubectl sends (containers of every list and image
    /// volumes). An image that is not a string is left out: the API server
    /// rejects the object.
    images: Vec<String>,
    /// Objects sent (of any kind).
    sent: usize,
    /// Where kubectl stopped, if it did.
    error: Option<String>,
}

fn run_kyaml(kyaml: &PathBuf, text: &str) -> Kubectl {
    let mut child = Command::new(kyaml)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kyaml starts");
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(text.as_bytes())
        .expect("kyaml reads its input");
    let out = child.wait_with_output().expect("kyaml finishes");
    assert!(
        out.status.success(),
        "kyaml failed on {text:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut k = Kubectl::default();
    for line in String::from_utf8(out.stdout).expect("UTF-8").lines() {
        let (tag, rest) = line.split_once(' ').unwrap_or((line, ""));
        match tag {
            "IMG" | "VOLIMG" => {
                k.sent += 1;
                if let Ok(serde_json::Value::String(image)) = serde_json::from_str(rest) {
                    k.images.push(image);
                }
            }
            "OBJ" | "NOSPEC" | "NOTOBJ" => k.sent += 1,
            "ERR" => k.error = Some(rest.to_owned()),
            _ => panic!("kyaml printed {line:?}"),
        }
    }
    k
}

/// splitmix64: a small deterministic generator, so every run tests the same
/// files.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

/// Characters that one YAML reads as a line break or a space and the other
/// may not: YAML 1.1's NEL, LS and PS, Go's Unicode spaces (which kubectl's
/// separator test trims), a BOM, tabs, CR.
const ODD: &[&str] = &[
    "\u{85}", "\u{2028}", "\u{2029}", "\u{a0}", "\u{1680}", "\u{2000}", "\u{2007}", "\u{200a}",
    "\u{202f}", "\u{205f}", "\u{3000}", "\u{feff}", "\t", "\r", "\u{b}", "\u{c}", " ",
];

/// Document separators: kubectl's (a line starting with `---` and then
/// only Unicode white space or a comment)...
const SEPARATORS: &[&str] = &[
    "---",
    "---",
    "--- # next",
    "---\u{a0}",
    "---\u{2028}",
    "---\u{85}",
    "---\u{3000}#x",
    "--- \t",
    "---\r",
];

/// ... and lines kubectl refuses or does not see as separators (YAML may).
const ODD_SEPARATORS: &[&str] = &[
    "---x",
    "----",
    "--- |",
    "--- !!map",
    "...\n---",
    "...",
    "\u{a0}---",
    " ---",
    "\u{feff}---",
    "#---",
];

struct Generator {
    rng: Rng,
    /// A counter that makes every image of a file distinct.
    n: usize,
}

impl Generator {
    fn image(&mut self) -> String {
        self.n += 1;
        if self.rng.chance(25) {
            format!("registry.my.com/ok{}", self.n)
        } else {
            format!("evil.io/x{}", self.n)
        }
    }

    /// A `volumes:` list with one image volume (pulled by the kubelet like a
    /// container image), its reference written plainly, in flow style, as a
    /// duplicate key or after a YAML 1.1 line break.
    fn image_volume(&mut self, indent: &str) -> Vec<String> {
        let image = self.image();
        let other = self.image();
        let n = self.n;
        let mut lines = vec![format!("{indent}volumes:"), format!("{indent}- name: v{n}")];
        match self.rng.below(4) {
            0 => lines.push(format!("{indent}  image: {{reference: {image}}}")),
            1 => {
                lines.push(format!("{indent}  image:"));
                lines.push(format!("{indent}    reference: {other}"));
                lines.push(format!("{indent}    reference: {image}"));
            }
            2 => lines.push(format!(
                "{indent}  image: {{pullPolicy: Always}} # c{ls}{indent}  image: {{reference: {image}}}",
                ls = '\u{2028}'
            )),
            _ => {
                lines.push(format!("{indent}  image:"));
                lines.push(format!("{indent}    reference: {image}"));
            }
        }
        lines
    }

    /// One container's lines at `indent` (block style), with the odd
    /// construct now and then.
    fn container(&mut self, indent: &str) -> Vec<String> {
        let image = self.image();
        let mut lines = vec![format!("{indent}- name: c{}", self.n)];
        let inner = format!("{indent}  ");
        match self.rng.below(16) {
            // A duplicate image key: the last wins for kubectl.
            0 => {
                let other = self.image();
                lines.push(format!("{inner}image: {image}"));
                lines.push(format!("{inner}image: {other}"));
            }
            // A "comment" whose rest is a line for YAML 1.1.
            1 => {
                let hidden = self.image();
                let odd = self.rng.pick(ODD);
                lines.push(format!(
                    "{inner}image: {image} # c{odd}{inner}image: {hidden}"
                ));
            }
            // A merge key before or after the image.
            2 => {
                let merged = self.image();
                if self.rng.chance(50) {
                    lines.push(format!("{inner}<<: {{image: {merged}}}"));
                    lines.push(format!("{inner}image: {image}"));
                } else {
                    lines.push(format!("{inner}image: {image}"));
                    lines.push(format!("{inner}<<: {{image: {merged}}}"));
                }
            }
            // A quoted image with an odd character inside.
            3 => {
                let odd = self.rng.pick(ODD);
                lines.push(format!("{inner}image: \"{image}{odd}\""));
            }
            // An odd character after the value.
            4 => {
                let odd = self.rng.pick(ODD);
                lines.push(format!("{inner}image: {image}{odd}"));
            }
            // A tab before the value.
            5 => lines.push(format!("{inner}image:\t{image}")),
            // Flow style.
            6 => {
                lines[0] = format!("{indent}- {{name: c{}, image: {image}}}", self.n);
            }
            // A block scalar, an explicit key, a quoted key, a tag.
            8 => lines.push(format!("{inner}image: |-\n{inner}  {image}")),
            9 => lines.push(format!("{inner}? image\n{inner}: {image}")),
            10 => lines.push(format!("{inner}\"image\": !!str {image}")),
            // A multi-line plain scalar, or a key with an odd character.
            11 => {
                let odd = self.rng.pick(ODD);
                if self.rng.chance(50) {
                    lines.push(format!("{inner}image: {image}\n{inner}  {odd}more"));
                } else {
                    lines.push(format!("{inner}image{odd}: {image}"));
                }
            }
            // Merge keys from anchored mappings, in a list.
            12 => {
                let merged = self.image();
                lines.push(format!(
                    "{inner}<<: [{{image: &m{} {merged}}}, {{name: x}}]",
                    self.n
                ));
                if self.rng.chance(50) {
                    lines.push(format!("{inner}image: {image}"));
                }
            }
            // An anchor and an alias.
            7 => {
                lines.push(format!("{inner}image: &i{} {image}", self.n));
                lines.push(format!("{inner}env: [{{name: X, value: *i{}}}]", self.n));
            }
            _ => lines.push(format!("{inner}image: {image}")),
        }
        lines
    }

    /// One object's lines.
    fn object(&mut self) -> Vec<String> {
        let n = self.n;
        match self.rng.below(12) {
            // A Pod, block style.
            0 | 1 => {
                let mut lines: Vec<String> = [
                    "apiVersion: v1",
                    "kind: Pod",
                    "metadata:",
                    &format!("  name: p{n}"),
                    "spec:",
                    "  containers:",
                ]
                .iter()
                .map(|s| s.to_string())
                .collect();
                for _ in 0..=self.rng.below(2) {
                    lines.extend(self.container("  "));
                }
                if self.rng.chance(30) {
                    lines.push("  initContainers:".to_owned());
                    lines.extend(self.container("  "));
                }
                if self.rng.chance(30) {
                    lines.extend(self.image_volume("  "));
                }
                lines
            }
            // A Deployment.
            2 | 3 => {
                let mut lines: Vec<String> = [
                    "apiVersion: apps/v1",
                    "kind: Deployment",
                    "metadata:",
                    &format!("  name: d{n}"),
                    "spec:",
                    "  template:",
                    "    spec:",
                    "      containers:",
                ]
                .iter()
                .map(|s| s.to_string())
                .collect();
                lines.extend(self.container("      "));
                lines
            }
            // A ConfigMap a merge key, a duplicate key or a hidden line
            // turns into a Pod.
            4 => {
                let image = self.image();
                let pod = format!("{{containers: [{{name: m, image: {image}}}]}}");
                let mut lines = vec!["apiVersion: v1".to_owned()];
                match self.rng.below(5) {
                    0 => {
                        lines.push("kind: ConfigMap".to_owned());
                        lines.push(format!("<<: {{kind: Pod, spec: {pod}}}"));
                    }
                    1 => {
                        lines.push(format!("<<: {{kind: Pod, spec: {pod}}}"));
                        lines.push("kind: ConfigMap".to_owned());
                    }
                    2 => {
                        lines.push("kind: ConfigMap".to_owned());
                        lines.push(format!("spec: {pod}"));
                        lines.push("kind: Pod".to_owned());
                    }
                    3 => {
                        let odd = self.rng.pick(ODD);
                        lines.push(format!("kind: ConfigMap # x{odd}kind: Pod"));
                        lines.push(format!("spec: {pod}"));
                    }
                    _ => {
                        lines.push("x-base: &b {kind: Pod}".to_owned());
                        lines.push("kind: ConfigMap".to_owned());
                        lines.push(format!("spec: {pod}"));
                        lines.push("<<: [*b]".to_owned());
                    }
                }
                lines.push(format!("metadata: {{name: m{n}}}"));
                lines
            }
            // A Pod in flow style, possibly over several lines.
            5 => {
                let image = self.image();
                let sep = if self.rng.chance(50) { "\n  " } else { " " };
                vec![format!(
                    "{{apiVersion: v1, kind: Pod,{sep}metadata: {{name: f{n}}},{sep}spec: {{containers: [{{name: c, image: {image}}}]}}}}"
                )]
            }
            // JSON.
            6 => {
                let image = self.image();
                vec![
                    "{".to_owned(),
                    "  \"apiVersion\": \"v1\", \"kind\": \"Pod\",".to_owned(),
                    format!("  \"metadata\": {{\"name\": \"j{n}\"}},"),
                    format!(
                        "  \"spec\": {{\"containers\": [{{\"name\": \"c\", \"image\": \"{image}\"}}]}}"
                    ),
                    "}".to_owned(),
                ]
            }
            // A List.
            7 => {
                let mut lines: Vec<String> = [
                    "apiVersion: v1",
                    "kind: List",
                    "items:",
                    "- apiVersion: v1",
                    "  kind: Pod",
                    &format!("  metadata: {{name: l{n}}}"),
                    "  spec:",
                    "    containers:",
                ]
                .iter()
                .map(|s| s.to_string())
                .collect();
                lines.extend(self.container("    "));
                lines
            }
            // An object of any kind with `items`: kubectl reads it as a
            // list, sends its items (not the object), and gives an item
            // with neither kind nor apiVersion the list's kind without
            // `List`; it stops at an item that is a list or lacks a kind or
            // an apiVersion.
            8 => self.any_list(),
            // A document kubectl does not read as an object: it stops there.
            9 => {
                let doc = *self.rng.pick(&[
                    "foo: bar",
                    "apiVersion: v1\nmetadata: {name: nokind}",
                    "apiVersion: v1\nkind: \"\"",
                    "3",
                    "- a",
                    "null",
                    "{}",
                    "apiVersion: v1\nitems: []",
                ]);
                doc.lines().map(str::to_owned).collect()
            }
            // An unrendered template: a mapping key JSON cannot have.
            10 => {
                let image = self.image();
                let (field, image) = match self.rng.below(4) {
                    0 => ("  replicas: {{replicas}}".to_owned(), image),
                    1 => ("  x: {[a]: 1}".to_owned(), image),
                    2 => ("  x: {~: 1}".to_owned(), image),
                    _ => (String::new(), "{{ .Values.image }}".to_owned()),
                };
                let mut lines = vec![
                    "apiVersion: v1".to_owned(),
                    "kind: Pod".to_owned(),
                    format!("metadata: {{name: t{n}}}"),
                    "spec:".to_owned(),
                    format!("  containers: [{{name: c, image: {image}}}]"),
                ];
                if !field.is_empty() {
                    lines.push(field);
                }
                lines
            }
            // A Service (no images).
            _ => vec![
                "apiVersion: v1".to_owned(),
                "kind: Service".to_owned(),
                format!("metadata: {{name: s{n}}}"),
            ],
        }
    }

    /// An object of some kind with `items` (see `object`).
    fn any_list(&mut self) -> Vec<String> {
        let kind = *self.rng.pick(&[
            "List",
            "PodList",
            "DeploymentList",
            "JobList",
            "Pod",
            "ConfigMap",
        ]);
        let mut lines = Vec::new();
        if self.rng.chance(90) {
            lines.push(
                if kind.starts_with("Deployment") {
                    "apiVersion: apps/v1"
                } else if kind.starts_with("Job") {
                    "apiVersion: batch/v1"
                } else {
                    "apiVersion: v1"
                }
                .to_owned(),
            );
        }
        lines.push(format!("kind: {kind}"));
        lines.push(format!("metadata: {{name: list{}}}", self.n));
        if kind == "Pod" {
            // The object's own pod spec, which kubectl does not send.
            let image = self.image();
            lines.push(format!(
                "spec: {{containers: [{{name: own, image: {image}}}]}}"
            ));
        }
        if self.rng.chance(5) {
            lines.push("items: null".to_owned());
            return lines;
        }
        lines.push("items:".to_owned());
        for _ in 0..=self.rng.below(2) {
            let inherited = kind.strip_suffix("List").unwrap_or(kind);
            let (header, effective) = match self.rng.below(6) {
                0 | 1 => ("apiVersion: v1, kind: Pod, ".to_owned(), "Pod"),
                2 | 3 => (String::new(), inherited),
                4 => ("kind: Pod, ".to_owned(), "Pod"),
                _ => ("apiVersion: v1, ".to_owned(), ""),
            };
            let image = self.image();
            let containers = format!("{{containers: [{{name: c{}, image: {image}}}]}}", self.n);
            let spec = match effective {
                "Deployment" | "Job" => format!("{{template: {{spec: {containers}}}}}"),
                _ => containers,
            };
            let nested = if self.rng.chance(10) {
                ", items: []"
            } else {
                ""
            };
            lines.push(format!(
                "- {{{header}metadata: {{name: i{}}}, spec: {spec}{nested}}}",
                self.n
            ));
        }
        lines
    }

    /// A whole file.
    fn file(&mut self) -> String {
        self.n = 0;
        let mut lines: Vec<String> = Vec::new();
        let documents = 1 + self.rng.below(3);
        for i in 0..documents {
            if i > 0 || self.rng.chance(20) {
                let separators = if self.rng.chance(80) {
                    SEPARATORS
                } else {
                    ODD_SEPARATORS
                };
                lines.push((*self.rng.pick(separators)).to_owned());
            }
            let mut object = self.object();
            // An odd character anywhere in a line, a comment with one, a
            // BOM or a tab at the start of the document.
            for _ in 0..usize::from(self.rng.chance(40)) + usize::from(self.rng.chance(10)) {
                let line = self.rng.below(object.len());
                let odd = *self.rng.pick(ODD);
                let text = &mut object[line];
                if text.contains("apiVersion") {
                    // kubectl does not send an object whose apiVersion the
                    // API server does not serve (kyaml does not look at it).
                    continue;
                }
                let at = self.rng.below(text.len() + 1);
                if text.is_char_boundary(at) {
                    text.insert_str(at, odd);
                }
            }
            if self.rng.chance(10) {
                let odd = *self.rng.pick(ODD);
                let image = self.image();
                object.push(format!("# note{odd}metadata: {{name: {image}}}"));
            }
            if self.rng.chance(5) {
                object[0].insert(0, '\u{feff}');
            }
            match self.rng.below(40) {
                0 => object.push("...".to_owned()),
                1 => object.insert(0, "%YAML 1.1".to_owned()),
                2 => object.push(format!("... # {}", self.rng.pick(ODD))),
                3 => object.insert(0, "--- !!map".to_owned()),
                _ => {}
            }
            lines.extend(object);
        }
        let mut text = lines.join("\n");
        if self.rng.chance(80) {
            text.push('\n');
        }
        if self.rng.chance(15) {
            text = text.replace('\n', "\r\n");
        }
        if self.rng.chance(5) {
            text.insert(0, '\u{feff}');
        }
        if self.rng.chance(5) {
            let odd = *self.rng.pick(ODD);
            text.insert_str(0, odd);
        }
        text
    }
}

/// The fixtures of `testdata/lint/kubectl-reading/` (made by its
/// `generate.sh` from kubectl's output), linted with
/// `--allow-registry registry.my.com`: the exit code and the (code, line) of
/// every finding and problem, in the JSON output's order.
const FIXTURES: &[Fixture] = &[
    // kubectl cuts at `---` + NBSP: the Deployment is read, and denied.
    ("separator-nbsp.yaml", 1, &[("registry-not-allowed", 29)]),
    // kubectl stops at `--- |` and sends nothing.
    (
        "separator-invalid.yaml",
        2,
        &[("allowed", 21), ("parse-error", 25)],
    ),
    // The last `image` is what kubectl sends: judged, and the duplicate reported.
    (
        "duplicate-key.yaml",
        1,
        &[("registry-not-allowed", 22), ("duplicate-key", 22)],
    ),
    // The "comment" holds a second image line for kubectl.
    (
        "line-separator-comment.yaml",
        2,
        &[("allowed", 21), ("kubectl-difference", 21)],
    ),
    (
        "nel-comment.yaml",
        2,
        &[("allowed", 21), ("kubectl-difference", 21)],
    ),
    // The merge key makes the ConfigMap a Pod for kubectl.
    ("merge-key-kind.yaml", 2, &[("kubectl-difference", 8)]),
    // Two JSON objects: kubectl's JSON decoder reads both.
    (
        "json-stream.json",
        2,
        &[("parse-error", 12), ("kubectl-difference", 12)],
    ),
    // Any object with `items` is a list: kubectl sends the items only.
    ("items-any-kind.yaml", 1, &[("registry-not-allowed", 46)]),
    // An item without kind and apiVersion is a Deployment of a DeploymentList.
    ("list-item-kind.yaml", 1, &[("registry-not-allowed", 22)]),
    // kubectl stops at a list inside a list.
    (
        "list-in-list.yaml",
        2,
        &[("allowed", 24), ("parse-error", 29)],
    ),
    // kubectl stops at a document without kind.
    (
        "document-without-kind.yaml",
        2,
        &[("allowed", 21), ("parse-error", 26)],
    ),
    // kubectl stops at `{{replicas}}`: a mapping as a key.
    (
        "template-key.yaml",
        2,
        &[("allowed", 29), ("parse-error", 17)],
    ),
    // A flow mapping first: JSON for kubectl, which stops.
    (
        "flow-mapping.yaml",
        2,
        &[("registry-not-allowed", 2), ("kubectl-difference", 1)],
    ),
    // A byte-order mark before a JSON stream: still a JSON stream.
    (
        "bom-json-stream.json",
        2,
        &[("parse-error", 12), ("kubectl-difference", 12)],
    ),
];

/// (file name, exit code, (code, line) of each finding and problem).
type Fixture = (&'static str, u8, &'static [(&'static str, u64)]);

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/lint/kubectl-reading")
}

#[test]
fn fixtures_are_reported_as_kubectl_reads_them() {
    let mut failures = Vec::new();
    for (name, exit, expected) in FIXTURES {
        let path = fixture_dir().join(name);
        let walk = walk::walk(&[path]);
        let policy = Policy::builder()
            .allow_registry("registry.my.com")
            .build()
            .expect("a valid policy")
            .policy;
        let linted = image_policy_lint::lint(walk.sources(), &Options::default(), &policy);
        let mut json = Vec::new();
        render::json::render(&linted, &mut json).expect("writes to a Vec");
        let report: serde_json::Value =
            serde_json::from_slice(&json).expect("the JSON report parses");
        let mut got: Vec<(String, u64)> = Vec::new();
        for list in ["findings", "problems"] {
            for item in report[list].as_array().expect("a list") {
                got.push((
                    item["code"].as_str().expect("a code").to_owned(),
                    item["line"].as_u64().expect("a line"),
                ));
            }
        }
        let want: Vec<(String, u64)> = expected
            .iter()
            .map(|(c, l)| ((*c).to_owned(), *l))
            .collect();
        if got != want || linted.exit_code(false) != *exit {
            failures.push(format!(
                "{name}: exit {} (want {exit}), got {got:?}, want {want:?}: {report}",
                linted.exit_code(false)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every fixture of `testdata/lint/kubectl-reading/` passes the
/// differential check against kyaml, and each is one where kubectl sends an
/// image or stops.
#[test]
fn fixtures_agree_with_kubectl() {
    let Some(kyaml) = kyaml() else {
        return;
    };
    let texts: Vec<String> = FIXTURES
        .iter()
        .map(|(name, _, _)| std::fs::read_to_string(fixture_dir().join(name)).expect("fixture"))
        .collect();
    let readings = run_kyaml_all(&kyaml, &texts, JOBS);
    for (((name, _, _), text), kubectl) in FIXTURES.iter().zip(&texts).zip(readings) {
        assert!(
            !kubectl.images.is_empty() || kubectl.error.is_some(),
            "{name}: {kubectl:?}"
        );
        if let Some(why) = disagreement(text, &kubectl) {
            panic!("{name}: {why}");
        }
    }
}

/// The committed inputs of the `kubectl_reader` fuzz target
/// (`tests/fuzz/testdata/kubectl_reader/`): the fast path per document
/// reads each as serde-saphyr alone does, and the target's own check
/// (`fuzzing::check_kubectl_reader`) holds.
#[test]
fn fuzz_regressions() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/testdata/kubectl_reader");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("the committed inputs") {
        let path = entry.expect("an entry").path();
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        assert_eq!(
            extract(&text),
            extract_without_fast_path(&text),
            "{}",
            path.display()
        );
        assert_eq!(
            image_policy_lint::fuzzing::check_kubectl_reader(&text),
            Ok(()),
            "{}",
            path.display()
        );
        n += 1;
    }
    assert!(n > 0, "no committed inputs in {}", dir.display());
}

/// Why the linter's reading of `text` falls short of kubectl's, if it does.
fn disagreement(text: &str, kubectl: &Kubectl) -> Option<String> {
    let ours = extract(text);
    let reported = ours
        .problems
        .iter()
        .any(|p| p.code != ProblemCode::DuplicateKey);
    let mut found: BTreeMap<&str, usize> = BTreeMap::new();
    for site in &ours.sites {
        *found.entry(site.image.as_str()).or_default() += 1;
    }
    let mut missing: Vec<&String> = Vec::new();
    for image in &kubectl.images {
        match found.get_mut(image.as_str()) {
            Some(n) if *n > 0 => *n -= 1,
            _ => missing.push(image),
        }
    }
    let why = if !reported && !missing.is_empty() {
        format!("images kubectl sends are missing: {missing:?}")
    } else if ours.problems.is_empty()
        && kubectl.error.is_some()
        && (kubectl.sent > 0 || ours.skipped.is_none())
    {
        // A file kubectl cannot read is a problem, unless it is no manifest
        // at all (a values file, which kubectl is not meant to read).
        format!(
            "kubectl stops ({}), the linter reads the file and reports nothing",
            kubectl.error.as_deref().unwrap_or_default()
        )
    } else if ours != extract_without_fast_path(text) {
        "the fast path reads it differently from serde-saphyr".to_owned()
    } else {
        return None;
    };
    Some(format!(
        "{why}\n  file: {text:?}\n  kubectl: {kubectl:?}\n  linter: images {:?}, problems {:?}",
        ours.sites.iter().map(|s| &s.image).collect::<Vec<_>>(),
        ours.problems
            .iter()
            .map(|p| format!("{}: {}", p.code.as_str(), p.message))
            .collect::<Vec<_>>()
    ))
}

/// How many files the differential test generates by default
/// (`KYAML_DIFF_FILES` overrides it, and `KYAML_DIFF_SEED` the seed, for
/// longer runs by hand). Each file costs a kubectl process (about 0.2 s of
/// CPU): 400 files take under a minute on CI's two cores.
const FILES: usize = 400;

/// How many kyaml processes run at once (`KYAML_DIFF_JOBS` overrides it):
/// a process spends part of its time starting up and waiting, so a few more
/// than the cores keep them busy.
const JOBS: usize = 6;

fn env<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// kyaml's reading of every text, `jobs` processes at a time, in order.
fn run_kyaml_all(kyaml: &PathBuf, texts: &[String], jobs: usize) -> Vec<Kubectl> {
    crate::pool::map_in_order(texts, jobs, |_, text| run_kyaml(kyaml, text))
}

#[test]
fn linter_reads_as_kubectl_does() {
    let Some(kyaml) = kyaml() else {
        return;
    };
    let count: usize = env("KYAML_DIFF_FILES").unwrap_or(FILES);
    let mut generator = Generator {
        rng: Rng(env("KYAML_DIFF_SEED").unwrap_or(0x6b75_6265_6374_6c21)),
        n: 0,
    };
    let files: Vec<String> = (0..count).map(|_| generator.file()).collect();
    let started = std::time::Instant::now();
    let readings = run_kyaml_all(&kyaml, &files, env("KYAML_DIFF_JOBS").unwrap_or(JOBS));
    eprintln!(
        "kyaml read {count} files in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let mut failures = Vec::new();
    let mut stats: BTreeMap<&str, usize> = BTreeMap::new();
    for (text, kubectl) in files.iter().zip(&readings) {
        let reported = extract(text)
            .problems
            .iter()
            .any(|p| p.code != ProblemCode::DuplicateKey);
        *stats
            .entry(match (reported, kubectl.error.is_some()) {
                (true, true) => "both stop",
                (true, false) => "linter reports, kubectl reads",
                (false, true) => "kubectl stops, linter reads",
                (false, false) => "both read",
            })
            .or_default() += 1;
        failures.extend(disagreement(text, kubectl));
    }
    eprintln!("kubectl differential over {count} files: {stats:?}");
    // The generator must reach both sides of every question.
    for outcome in ["both read", "linter reports, kubectl reads", "both stop"] {
        assert!(
            stats.get(outcome).copied().unwrap_or(0) >= count / 50,
            "too few files where {outcome}: {stats:?}"
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {count} files are read differently from kubectl; the first ones:\n{}",
        failures.len(),
        failures
            .iter()
            .take(8)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// The generated files keep the invariants of the `lint_readers` fuzz
/// target: every position inside the text, and `--fix`'s plan read back as
/// planned (lists, bare items and refused documents included). No kubectl
/// needed.
#[test]
fn generated_files_keep_the_readers_invariants() {
    let count: usize = env("KYAML_DIFF_FILES").unwrap_or(FILES);
    let mut generator = Generator {
        rng: Rng(env("KYAML_DIFF_SEED").unwrap_or(7)),
        n: 0,
    };
    for _ in 0..count {
        let text = generator.file();
        assert_eq!(
            image_policy_lint::fuzzing::check_readers(&text),
            Ok(()),
            "{text:?}"
        );
        assert_eq!(
            image_policy_lint::fuzzing::check_fix(&text),
            Ok(()),
            "{text:?}"
        );
    }
}
