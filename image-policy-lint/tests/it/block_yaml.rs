//! The block recognizer (the fast path's first source) against
//! granit-parser's events, on the cases of `tests/block_yaml/cases.txt`
//! (each saying whether the recognizer reads it; every give-up class:
//! anchors, aliases, merge keys, tags, flow nesting, multi-line and escaped
//! scalars, block scalars, tabs, CRLF, byte-order marks, markers and
//! directives) and on the Kubernetes website's examples when they are
//! beside the checkout. The fixtures, fuzz inputs and generated manifests
//! of `fast_yaml.rs` and the bench corpus (`benches/tests/fast_yaml.rs`)
//! go through the same check.

use image_policy_lint::fuzzing::check_block_recognizer;
use std::path::Path;

/// The cases of `cases.txt`: (name, YAML, whether the recognizer reads it).
fn cases() -> Vec<(String, String, bool)> {
    let data = include_str!("../block_yaml/cases.txt");
    let mut cases: Vec<(String, String, bool)> = Vec::new();
    for line in data.lines() {
        if let Some(head) = line.strip_prefix("=== ") {
            let (name, verdict) = head.rsplit_once(" | ").expect("`=== NAME | VERDICT`");
            let reads = match verdict {
                "reads" => true,
                "gives-up" => false,
                other => panic!("{name}: verdict {other:?}"),
            };
            cases.push((name.to_owned(), String::new(), reads));
        } else if let Some((_, text, _)) = cases.last_mut() {
            let line = line
                .replace("\\t", "\t")
                .replace("\\r", "\r")
                .replace("\\uFEFF", "\u{feff}");
            text.push_str(&line);
            text.push('\n');
        }
    }
    cases
}

#[test]
fn cases_read_or_give_up_as_said() {
    let cases = cases();
    assert!(cases.len() > 40, "{} cases", cases.len());
    let mut wrong = Vec::new();
    for (name, text, reads) in &cases {
        let got = check_block_recognizer(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        if got != *reads {
            wrong.push(format!("{name}: read {got}, expected {reads}"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// Each case cut at every line and with each line's indentation changed:
/// wherever the recognizer reads a variant, its events are granit-parser's.
#[test]
fn variants_of_the_cases() {
    for (name, text, _) in cases() {
        let lines: Vec<&str> = text.lines().collect();
        for cut in 0..lines.len() {
            let head = lines[..cut].join("\n");
            check_block_recognizer(&head).unwrap_or_else(|e| panic!("{name} cut at {cut}: {e}"));
            for shift in ["", " ", "  ", "   "] {
                let mut changed: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
                changed[cut] = format!("{shift}{}", changed[cut].trim_start());
                let changed = changed.join("\n");
                check_block_recognizer(&changed)
                    .unwrap_or_else(|e| panic!("{name} line {cut} shifted: {e}"));
            }
        }
    }
}

/// The Kubernetes website's examples (`../shared/real-manifests`, beside
/// the checkout on the project's machines; skipped where absent).
#[test]
fn real_manifests() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/real-manifests");
    let mut stack = vec![dir];
    let mut read = 0;
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for path in entries.flatten().map(|e| e.path()) {
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml") {
                let text = std::fs::read_to_string(&path).expect("reads");
                if check_block_recognizer(&text)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
                {
                    read += 1;
                }
            }
        }
    }
    eprintln!("the block recognizer read {read} real manifests");
}
