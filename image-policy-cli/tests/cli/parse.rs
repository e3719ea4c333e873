//! `image-policy parse`.

use super::{code, run};
use serde_json::Value;

const KEYS: [&str; 11] = [
    "input",
    "ok",
    "domain",
    "pull_host",
    "path",
    "tag",
    "digest",
    "canonical",
    "familiar",
    "error",
    // Deprecated alias of `canonical`, for one release.
    "normalized",
];

/// The keys of a JSON object in the order they were written.
struct KeyOrder(Vec<String>);

impl<'de> serde::Deserialize<'de> for KeyOrder {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Keys;
        impl<'de> serde::de::Visitor<'de> for Keys {
            type Value = KeyOrder;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<KeyOrder, A::Error> {
                let mut keys = Vec::new();
                while let Some((k, _)) = map.next_entry::<String, serde::de::IgnoredAny>()? {
                    keys.push(k);
                }
                Ok(KeyOrder(keys))
            }
        }
        d.deserialize_map(Keys)
    }
}

/// Each output line as a JSON value, after checking that it has exactly the
/// documented keys in the documented order.
fn json_lines(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8(stdout.to_vec())
        .expect("JSON output is UTF-8")
        .lines()
        .map(|l| {
            let order: KeyOrder = serde_json::from_str(l).expect("each line is one JSON object");
            assert_eq!(order.0, KEYS, "keys of {l}");
            let value: Value = serde_json::from_str(l).expect("each line is one JSON object");
            assert_eq!(value["normalized"], value["canonical"], "{l}");
            value
        })
        .collect()
}

#[test]
fn json_gives_every_part_and_exit_0_when_all_parse() {
    let out = run(
        &[
            "parse",
            "--json",
            "prometheus:2.6.1",
            "registry.my.com:5000/team/app@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "[::1]:5000/x",
            "reg:5000",
        ],
        None,
    );
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let lines = json_lines(&out.stdout);
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0]["domain"], "docker.io");
    assert_eq!(lines[0]["path"], "library/prometheus");
    assert_eq!(lines[0]["tag"], "2.6.1");
    assert_eq!(lines[0]["digest"], Value::Null);
    assert_eq!(lines[0]["canonical"], "docker.io/library/prometheus:2.6.1");
    assert_eq!(lines[0]["familiar"], "prometheus:2.6.1");
    assert_eq!(lines[0]["error"], Value::Null);
    assert_eq!(lines[1]["domain"], "registry.my.com:5000");
    assert_eq!(lines[1]["path"], "team/app");
    assert_eq!(lines[1]["tag"], Value::Null);
    assert!(
        lines[1]["digest"]
            .as_str()
            .unwrap()
            .starts_with("sha256:9f86")
    );
    assert_eq!(lines[2]["domain"], "[::1]:5000");
    // A port is not a tag without a slash: reg:5000 is Docker Hub's library/reg, tag 5000.
    assert_eq!(lines[3]["domain"], "docker.io");
    assert_eq!(lines[3]["path"], "library/reg");
    assert_eq!(lines[3]["tag"], "5000");
}

#[test]
fn hostile_inputs_are_reported_not_crashed_on() {
    let inputs = [
        "",
        " ",
        "nginx ",
        "\tnginx",
        "nginx\u{7f}",
        "ngïnx",
        "registry.my.com/\u{202e}xnign",
        "Registry.my.com/App",
        "nginx:latest\n",
    ];
    let mut args = vec!["parse", "--json", "--"];
    args.extend(inputs);
    let out = run(&args, None);
    assert_eq!(code(&out), 1);
    let lines = json_lines(&out.stdout);
    assert_eq!(lines.len(), inputs.len(), "one line per input, in order");
    for (line, input) in lines.iter().zip(inputs) {
        assert_eq!(line["input"], input);
        assert_eq!(line["ok"], false, "{input:?} must not parse");
        assert_eq!(line["domain"], Value::Null);
        let error = line["error"].as_str().expect("an error message");
        assert!(error.starts_with("invalid image reference"), "{error}");
        assert!(
            error.contains("(byte "),
            "the message names the byte offset: {error}"
        );
    }
    assert_eq!(
        lines[7]["error"],
        r#"invalid image reference "Registry.my.com/App": repository name must be lowercase (byte 16)"#
    );
}

#[test]
fn standard_input_is_read_line_by_line() {
    let out = run(
        &["parse", "--json"],
        Some(b"nginx\r\ndocker.io/nginx\n\nindex.docker.io/library/nginx\n\xff\xfe\nng\0inx\n"),
    );
    assert_eq!(code(&out), 1);
    let lines = json_lines(&out.stdout);
    // The blank line is skipped, not judged as the image "".
    assert_eq!(lines.len(), 5);
    assert_eq!(lines[4]["input"], "ng\u{0}inx");
    assert!(lines[4]["error"].as_str().unwrap().contains("(byte 2)"));
    // The three spellings of one image normalize to one canonical form.
    for line in &lines[..3] {
        assert_eq!(line["canonical"], "docker.io/library/nginx");
    }
    assert!(
        lines[3]["error"]
            .as_str()
            .unwrap()
            .contains("not valid UTF-8 (byte 0)")
    );
}

#[test]
fn text_output_is_for_people() {
    let out = run(&["parse", "prometheus:2.6.1", "Registry.my.com/App"], None);
    assert_eq!(code(&out), 1);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("canonical  docker.io/library/prometheus:2.6.1"),
        "{text}"
    );
    assert!(text.contains("domain     docker.io (implied)"), "{text}");
    assert!(text.contains("tag        2.6.1"), "{text}");
    // The caret points at byte 16, the 'A' of App.
    assert!(
        text.contains("  Registry.my.com/App\n                  ^\n"),
        "{text}"
    );
}

#[test]
fn usage_errors_exit_2() {
    let out = run(&["parse", "--no-such-flag"], None);
    assert_eq!(code(&out), 2);
    assert!(!out.stderr.is_empty());
}

/// `-` is standard input, as for `lint`; blank lines (what `tr ' ' '\n'`
/// leaves between images) are skipped; `-` twice is a usage error.
#[test]
fn dash_is_standard_input_and_blank_lines_are_skipped() {
    let out = run(&["parse", "--json", "-"], Some(b"nginx:1\n\n  \nbusybox\n"));
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let lines = json_lines(&out.stdout);
    let inputs: Vec<&str> = lines.iter().map(|l| l["input"].as_str().unwrap()).collect();
    assert_eq!(inputs, ["nginx:1", "busybox"]);
    let mixed = run(&["parse", "--json", "alpine", "-"], Some(b"nginx\n"));
    assert_eq!(code(&mixed), 0);
    assert_eq!(json_lines(&mixed.stdout).len(), 2);
    // Refused before standard input is read (so none is given: a pipe
    // nobody reads would break).
    let twice = run(&["parse", "-", "-"], None);
    assert_eq!(code(&twice), 2);
    assert!(String::from_utf8_lossy(&twice.stderr).contains("only once"));
    // Only blank lines: nothing to judge, nothing printed.
    let blank = run(&["parse"], Some(b"\n\n"));
    assert_eq!(code(&blank), 0);
    assert!(blank.stdout.is_empty());
}

/// A name whose first component looks like a host but is not a valid one
/// (`x_y.evil.com`): the grammar finds no domain, and the runtime contacts
/// that component all the same; `parse` says so in both formats.
#[test]
fn the_pull_host_is_shown_where_it_is_not_the_domain() {
    let out = run(
        &[
            "parse",
            "--json",
            "x_y.evil.com/app:1",
            "registry.my.com/app",
        ],
        None,
    );
    assert_eq!(code(&out), 0);
    let lines = json_lines(&out.stdout);
    assert_eq!(lines[0]["domain"], serde_json::Value::Null);
    assert_eq!(lines[0]["pull_host"], "x_y.evil.com");
    assert_eq!(lines[0]["path"], "x_y.evil.com/app");
    assert_eq!(lines[1]["domain"], "registry.my.com");
    assert_eq!(lines[1]["pull_host"], "registry.my.com");

    let out = run(&["parse", "x_y.evil.com/app:1", "nginx"], None);
    assert_eq!(code(&out), 0);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("  pulls      x_y.evil.com/app:1\n"), "{text}");
    // No domain is shown as none, not as an empty implied one.
    assert!(text.contains("  domain     (none)\n"), "{text}");
    assert!(!text.contains("domain      (implied)"), "{text}");
    assert!(
        text.contains("  pull host  x_y.evil.com (not a valid registry domain"),
        "{text}"
    );
    // Shown only where it differs from the domain.
    assert_eq!(text.matches("pull host").count(), 1, "{text}");
}
