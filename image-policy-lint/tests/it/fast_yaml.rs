//! The manifest reader's fast path (`lint::fast_yaml`) against serde-saphyr:
//! whenever the fast path accepts a file, what it extracts (sites with
//! positions and widths, problems, skips, suppressions, counts) equals what
//! serde-saphyr's path extracts; and `extract` (kubectl's documents, each
//! by the fast path, then the fallback) always equals the same with
//! serde-saphyr's path alone. Library-level, not through the binary.
//!
//! Inputs: every YAML and JSON file of the repository's fixtures, the
//! hand-written edge cases of [`CASES`] (each saying whether the fast path
//! takes it), the committed inputs of the `fast_yaml` fuzz target
//! (`tests/fuzz/testdata/fast_yaml/`), and generated manifest-shaped YAML
//! (proptest). The bench
//! corpus is checked the same way in `benches/tests/fast_yaml.rs`.

use image_policy_lint::fuzzing::check_block_recognizer;
use image_policy_lint::fuzzing::manifests::{
    extract, extract_fast, extract_serde_saphyr, extract_without_fast_path,
};
use proptest::prelude::*;
use std::path::{Path, PathBuf};

/// Checks one input; returns whether the fast path accepted it.
fn same(name: &str, text: &str) -> bool {
    if let Err(e) = check_block_recognizer(text) {
        panic!("{name}: {e}");
    }
    assert_eq!(
        extract(text),
        extract_without_fast_path(text),
        "{name}: extract differs from serde-saphyr"
    );
    let slow = extract_serde_saphyr(text);
    match extract_fast(text) {
        Ok(fast) => {
            assert_eq!(
                fast, slow,
                "{name}: the fast path differs from serde-saphyr"
            );
            true
        }
        Err(_) => false,
    }
}

/// (name, YAML, whether the fast path takes it).
const CASES: &[(&str, &str, bool)] = &[
    (
        "plain image",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    image: nginx:1.25\n",
        true,
    ),
    (
        "double-quoted image with escapes",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    image: \"ngi\\u006ex:1.25\"\n",
        true,
    ),
    (
        "single-quoted image",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    image: 'it''s:1'\n",
        true,
    ),
    (
        "multi-line plain image",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    image: nginx\n      :1.25\n",
        true,
    ),
    (
        "multi-line quoted image",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    image: \"nginx\n      :1.25\"\n",
        true,
    ),
    (
        "literal block image",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    image: |-\n      nginx:1.25\n",
        true,
    ),
    (
        "folded block image",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    image: >\n      nginx:1.25\n",
        true,
    ),
    (
        "flow mappings and sequences",
        "{apiVersion: apps/v1, kind: Deployment, metadata: {name: d, labels: {a: b}}, spec: {template: {spec: {containers: [{name: c, image: \"busybox\"}, {image: alpine, name: e}]}}}}\n",
        true,
    ),
    (
        "comments everywhere",
        "# head\napiVersion: v1 # trailing\nkind: Pod\n# between\nmetadata:\n  name: p # name\nspec:\n  containers: # list\n  # inside\n  - name: c\n    image: nginx # the image\n",
        true,
    ),
    (
        "document markers and empty documents",
        "---\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: c, image: a}]}\n...\n---\n...\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: b}\nspec: {containers: [{name: c, image: b}]}\n---\n",
        true,
    ),
    ("empty file", "", true),
    ("only comments", "# nothing\n# here\n", true),
    (
        "Windows line endings",
        "apiVersion: v1\r\nkind: Pod\r\nmetadata:\r\n  name: p\r\nspec:\r\n  containers:\r\n  - name: c\r\n    image: nginx:1\r\n",
        true,
    ),
    (
        "byte order mark",
        "\u{feff}apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: nginx}]}\n",
        true,
    ),
    (
        "tabs in flow and after values",
        "apiVersion: v1\nkind: Pod\nmetadata: {name:\tp}\nspec: {containers: [{name: c,\timage: nginx}]}\t\n",
        true,
    ),
    (
        "unicode before the image",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p, annotations: {note: \"é✓\"}}\nspec: {containers: [{name: \"ü\", image: nginx}]}\n",
        true,
    ),
    (
        "a list",
        "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: a}\n  spec: {containers: [{name: c, image: a}]}\n- apiVersion: apps/v1\n  kind: Deployment\n  metadata: {name: b}\n  spec: {template: {spec: {containers: [{name: c, image: b}]}}}\n",
        true,
    ),
    (
        "ignore annotation",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  annotations:\n    image-policy.dev/ignore: \"vendor\"\nspec:\n  containers: [{name: a, image: busybox}]\n",
        true,
    ),
    (
        "extra fields of every shape",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  replicas: 3\n  paused: false\n  ratio: 1.5\n  nothing: ~\n  empty:\n  list: [1, two, {three: 3}]\n  nested: {a: {b: [c, {d: e}]}}\n  big: 123456789012345678901234567890\n  text: |\n    some\n    lines\n  template:\n    spec:\n      containers:\n      - name: c\n        image: nginx\n        ports: [{containerPort: 80}]\n        env: [{name: A, value: \"1\"}]\n",
        true,
    ),
    (
        "a big mapping (hash set for duplicates)",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: m}\ndata: {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8, i: 9, j: 10, k: 11, l: 12, m: 13, n: 14, o: 15, p: 16, q: 17, r: 18, s: 19, t: 20}\n",
        true,
    ),
    (
        "a duplicate key in a big mapping",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: m}\ndata: {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8, i: 9, j: 10, k: 11, l: 12, m: 13, n: 14, o: 15, p: 16, q: 17, r: 18, s: 19, a: 20}\n",
        false,
    ),
    (
        "anchor and alias",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    image: &img nginx\n  initContainers:\n  - {name: i, image: *img}\n",
        false,
    ),
    (
        "merge key",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nbase: &b {name: c, image: nginx}\nspec:\n  containers:\n  - <<: *b\n",
        false,
    ),
    (
        "tag",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: !!str nginx}]}\n",
        false,
    ),
    (
        "duplicate image key",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: a, image: b}]}\n",
        false,
    ),
    (
        "duplicate key in an ignored mapping",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p, labels: {a: 1, a: 2}}\nspec: {containers: [{name: c, image: a}]}\n",
        false,
    ),
    (
        "integer keys that collide",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nextra: {0x10: a, 16: b}\nspec: {containers: [{name: c, image: a}]}\n",
        false,
    ),
    (
        "numeric image",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: 123}]}\n",
        false,
    ),
    (
        "boolean name",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: true}\nspec: {containers: [{name: c, image: a}]}\n",
        false,
    ),
    (
        "null name",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: ~}\nspec: {containers: [{name: c, image: a}]}\n",
        true,
    ),
    (
        "null image",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: }]}\n",
        true,
    ),
    (
        "quoted null-like image",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: \"~\"}]}\n",
        true,
    ),
    (
        "non-finite float in an ignored field",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {x: .inf, containers: [{name: c, image: a}]}\n",
        false,
    ),
    (
        "an overflowing float in an ignored field",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {x: 1e999, containers: [{name: c, image: a}]}\n",
        false,
    ),
    (
        "a type error (containers: 5)",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  containers: 5\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: b}\nspec:\n  containers: [{name: b, image: busybox}]\n",
        false,
    ),
    (
        "a syntax error",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: a\n",
        false,
    ),
    (
        "a YAML directive",
        "%YAML 1.2\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: a}]}\n",
        false,
    ),
    (
        "a TAG directive with no tag used",
        "%TAG !e! tag:example.com,2000:\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: a}]}\n",
        true,
    ),
    (
        "not a manifest (values.yaml)",
        "image:\n  repository: nginx\n  tag: 1.25\nspec: [1, 2]\n",
        false,
    ),
    (
        "not a manifest (workflow)",
        "on: [push]\njobs:\n  build:\n    runs-on: ubuntu-latest\n",
        true,
    ),
    ("a scalar document", "--- 3\n", false),
    ("a string document", "--- hello\n", true),
    ("a sequence document", "- a\n- {b: c}\n", true),
    (
        "a pod-bearing object without images",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {}\n",
        true,
    ),
    (
        "a complex key",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n? [a, b]\n: c\nspec: {containers: [{name: c, image: a}]}\n",
        false,
    ),
    (
        "a null key",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n~: c\nspec: {containers: [{name: c, image: a}]}\n",
        false,
    ),
    (
        "deep nesting in an ignored field",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nx: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\nspec: {containers: [{name: c, image: a}]}\n",
        false,
    ),
    (
        "JSON",
        "{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"Pod\",\n  \"metadata\": {\"name\": \"p\"},\n  \"spec\": {\"containers\": [{\"name\": \"c\", \"image\": \"busybox:1\"}]}\n}\n",
        true,
    ),
    (
        "a CronJob",
        "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: c, namespace: ns}\nspec:\n  schedule: \"* * * * *\"\n  jobTemplate:\n    spec:\n      template:\n        metadata: {annotations: {a: b}}\n        spec:\n          containers: [{name: c, image: busybox}]\n",
        true,
    ),
];

#[test]
fn edge_cases() {
    for &(name, text, fast) in CASES {
        assert_eq!(
            same(name, text),
            fast,
            "{name}: fast path accepted: {:?}",
            extract_fast(text).err()
        );
    }
}

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn fixture_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            fixture_files(&path, out);
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"))
        {
            out.push(path);
        }
    }
}

#[test]
fn every_fixture() {
    let root = repository();
    let mut files = Vec::new();
    for dir in ["testdata", "deploy", "examples"] {
        fixture_files(&root.join(dir), &mut files);
    }
    assert!(files.len() > 40, "fixtures found: {}", files.len());
    let mut accepted = 0;
    for path in &files {
        let text = std::fs::read_to_string(path).expect("fixture reads");
        if same(&path.display().to_string(), &text) {
            accepted += 1;
        }
    }
    // Most fixtures are plain manifests: the fast path must take them.
    assert!(
        accepted * 2 > files.len(),
        "the fast path took {accepted} of {} fixtures",
        files.len()
    );
}

/// The committed inputs of the `fast_yaml` fuzz target (seeds and fixed
/// crashes), byte for byte, and the target's own check
/// (`fuzzing::check_fast_path`).
#[test]
fn fuzz_regressions() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/testdata/fast_yaml");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("the fuzz inputs directory")
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    assert!(!files.is_empty());
    for path in files {
        let bytes = std::fs::read(&path).expect("input reads");
        if let Ok(text) = std::str::from_utf8(&bytes) {
            same(&path.display().to_string(), text);
            assert_eq!(
                image_policy_lint::fuzzing::check_fast_path(text),
                Ok(()),
                "{}",
                path.display()
            );
        }
    }
}

/// A scalar value in one of YAML's styles.
fn styled(value: &'static str) -> impl Strategy<Value = String> {
    prop_oneof![
        Just(value.to_owned()),
        Just(format!("\"{value}\"")),
        Just(format!("'{value}'")),
    ]
}

/// A value of an extra field: every scalar and collection shape; now and
/// then one outside the fast path's subset.
fn extra_value() -> impl Strategy<Value = String> {
    let inside = prop_oneof![
        Just("1".to_owned()),
        Just("-2.5".to_owned()),
        Just("true".to_owned()),
        Just("~".to_owned()),
        Just(String::new()),
        Just("0x1F".to_owned()),
        Just("\"quoted\"".to_owned()),
        Just("'single'".to_owned()),
        Just("[a, 1, {b: c}]".to_owned()),
        Just("{x: 1, y: [2]}".to_owned()),
        Just("{deep: [{a: 1, b: {c: 2, d: 3}}]}".to_owned()),
        Just("{k0: 0, k1: 1, k2: 2, k3: 3, k4: 4, k5: 5, k6: 6, k7: 7, k8: 8, k9: 9, ka: a, kb: b, kc: c, kd: d, ke: e, kf: f, kg: g, kh: h}".to_owned()),
        Just("|\n    block\n    text".to_owned()),
        Just("\"multi\n    line\"".to_owned()),
    ];
    let outside = prop_oneof![
        Just(".inf".to_owned()),
        Just("1e999".to_owned()),
        Just("{x: 1, x: 2}".to_owned()),
        Just("{deep: [{a: 1, b: {c: 2, c: 3}}]}".to_owned()),
        Just("{k0: 0, k1: 1, k2: 2, k3: 3, k4: 4, k5: 5, k6: 6, k7: 7, k8: 8, k9: 9, ka: a, kb: b, kc: c, kd: d, ke: e, kf: f, kg: g, k0: h}".to_owned()),
        Just("&anchor {z: 1}".to_owned()),
        Just("*anchor".to_owned()),
        Just("!!str tagged".to_owned()),
        Just("<<: x".to_owned()),
    ];
    prop_oneof![12 => inside, 1 => outside]
}

/// A manifest: fields in random order, quoting styles, comments, extra
/// fields, sometimes an anchor, an alias or a duplicate.
fn manifest() -> impl Strategy<Value = String> {
    (
        styled("Deployment"),
        styled("web"),
        prop_oneof![
            3 => Just("nginx:1.25".to_owned()),
            3 => Just("\"nginx:1.25\"".to_owned()),
            3 => Just("'registry.example.com/a/b@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef'".to_owned()),
            3 => Just("123456789.dkr.ecr.us-east-1.amazonaws.com/app:1".to_owned()),
            1 => Just("&img busybox".to_owned()),
            1 => Just("123".to_owned()),
            3 => Just("|-\n          alpine".to_owned()),
        ],
        proptest::collection::vec(("[a-z]{1,3}", extra_value()), 0..4),
        any::<bool>(),
        any::<bool>(),
        prop_oneof![8 => Just(0usize), 1 => Just(1usize), 1 => Just(2usize)],
    )
        .prop_map(|(kind, name, image, extras, comment, flow, dup)| {
            let mut top = vec![
                "apiVersion: apps/v1".to_owned(),
                format!("kind: {kind}"),
                format!("metadata: {{name: {name}}}"),
            ];
            for (i, (key, value)) in extras.iter().enumerate() {
                top.push(format!("x{i}{key}: {value}"));
            }
            if dup == 1 {
                top.push("kind: Pod".to_owned());
            }
            let init = if image.starts_with('&') {
                "\n      initContainers: [{name: i, image: *img}]"
            } else {
                ""
            };
            let container = if flow && !image.starts_with('|') {
                format!("      containers: [{{name: c, image: {image}}}]")
            } else {
                format!("      containers:\n      - name: c\n        image: {image}")
            };
            let comment = if comment { " # the pod" } else { "" };
            top.push(format!(
                "spec:\n  template:{comment}\n    spec:\n{container}{init}"
            ));
            if dup == 2 {
                top.swap(0, 1);
            }
            top.join("\n") + "\n"
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn generated_manifests(
        docs in proptest::collection::vec(manifest(), 1..4),
        crlf in any::<bool>(),
        bom in any::<bool>(),
    ) {
        let mut text = docs.join("---\n");
        if crlf {
            text = text.replace('\n', "\r\n");
        }
        if bom {
            text.insert(0, '\u{feff}');
        }
        same("generated", &text);
    }
}

/// YAML's spellings that resolve to something other than a string in some
/// schema (1.1 or 1.2: booleans, nulls, numbers in every radix, sexagesimals,
/// timestamps, non-finite floats), plain, in every role a scalar has in a
/// manifest: the image, the container's name, the namespace, an annotation's
/// value and key, an ignored field. Whenever the fast path reads the file, it
/// reads it as serde-saphyr does.
#[test]
fn scalar_spellings_in_every_role() {
    const SPELLINGS: &[&str] = &[
        "y",
        "Y",
        "n",
        "N",
        "yes",
        "Yes",
        "YES",
        "no",
        "No",
        "on",
        "On",
        "ON",
        "off",
        "Off",
        "true",
        "True",
        "TRUE",
        "false",
        "False",
        "FALSE",
        "~",
        "null",
        "Null",
        "NULL",
        "0",
        "-0",
        "+1",
        "012",
        "0o17",
        "0O17",
        "0x1F",
        "0X1f",
        "0b101",
        "1_000",
        "1:30",
        "190:20:30",
        "1.",
        "0.",
        ".5",
        "-.5",
        "1e3",
        "1E+3",
        "1e999",
        ".inf",
        "-.Inf",
        "+.INF",
        ".nan",
        ".NaN",
        "nan",
        "inf",
        "infinity",
        "2001-12-14",
        "2001-12-14t21:59:43.10-05:00",
        "=",
        "<<",
        "0x",
        "0b",
        "0o",
        "+",
        "-",
        "1.2.3",
        "1e",
        "0777",
        "123456789012345678901",
    ];
    let mut read_fast = 0;
    for s in SPELLINGS {
        let roles = [
            format!(
                "apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  containers:\n  - name: c\n    image: {s}\n"
            ),
            format!(
                "apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  containers:\n  - name: {s}\n    image: nginx\n"
            ),
            format!(
                "apiVersion: v1\nkind: Pod\nmetadata: {{name: p, namespace: {s}}}\nspec:\n  containers:\n  - {{name: c, image: nginx}}\n"
            ),
            format!(
                "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n    a: {s}\nspec:\n  containers:\n  - {{name: c, image: nginx}}\n"
            ),
            format!(
                "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n    {s}: x\nspec:\n  containers:\n  - {{name: c, image: nginx}}\n"
            ),
            format!(
                "apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  replicas: {s}\n  {s}: {s}\n  containers:\n  - {{name: c, image: nginx, x: [{s}]}}\n"
            ),
        ];
        for (i, text) in roles.iter().enumerate() {
            read_fast += usize::from(same(&format!("{s:?} in role {i}"), text));
        }
    }
    // The fast path is conservative (it leaves every number-like or
    // boolean-like string to serde-saphyr), but it does read many of these:
    // the check above is not vacuous.
    assert!(
        read_fast > SPELLINGS.len(),
        "only {read_fast} read by the fast path"
    );
}

/// The committed inputs of the `lint_readers` fuzz target
/// (`tests/fuzz/testdata/lint_readers/`): every reader keeps its invariants.
#[test]
fn lint_readers_fuzz_regressions() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/testdata/lint_readers");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).expect("the fuzz inputs directory") {
        let path = entry.expect("entry").path();
        let bytes = std::fs::read(&path).expect("read");
        if let Ok(text) = std::str::from_utf8(&bytes) {
            assert_eq!(
                image_policy_lint::fuzzing::check_readers(text),
                Ok(()),
                "{}",
                path.display()
            );
            assert_eq!(
                image_policy_lint::fuzzing::check_fix(text),
                Ok(()),
                "{}",
                path.display()
            );
        }
        count += 1;
    }
    assert!(count > 0, "no inputs in {}", dir.display());
}
