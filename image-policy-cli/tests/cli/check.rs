//! `image-policy check` and `image-policy policy`.

use super::{code, run};
use serde_json::Value;
use std::path::PathBuf;

fn example(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name)
        .display()
        .to_string()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

#[test]
fn seed_case_with_a_flag() {
    let out = run(
        &[
            "check",
            "--allow-registry",
            "registry.my.com",
            "prometheus:2.6.1",
            "registry.my.com/prometheus:2.6.1",
        ],
        None,
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(
        lines[0],
        "DENIED   docker.io/library/prometheus:2.6.1: registry docker.io is not in the allowed registries (registry.my.com)"
    );
    assert!(
        lines[1].starts_with("ALLOWED  registry.my.com/prometheus:2.6.1: allowed by allow[0]"),
        "{text}"
    );
}

#[test]
fn seed_case_with_the_example_file_as_json_lines() {
    let file = example("seed.yaml");
    let out = run(
        &[
            "check",
            "--policy",
            &file,
            "--format",
            "json",
            "--",
            "prometheus:2.6.1",
            "registry.my.com/prometheus:2.6.1",
        ],
        None,
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let lines: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["image"], "prometheus:2.6.1");
    assert_eq!(lines[0]["allowed"], false);
    assert_eq!(lines[0]["code"], "registry-not-allowed");
    assert_eq!(lines[0]["canonical"], "docker.io/library/prometheus:2.6.1");
    assert_eq!(lines[0]["pull_host"], "docker.io");
    assert_eq!(lines[0]["mode"], "enforce");
    assert_eq!(lines[0]["rule"], Value::Null);
    assert_eq!(lines[1]["allowed"], true);
    assert_eq!(lines[1]["rule"]["path"], "allow[0]");
    assert_eq!(lines[1]["rule"]["kind"], "registry");
    assert_eq!(lines[1]["rule"]["pattern"], "registry.my.com");
    let location = lines[1]["rule"]["location"].as_str().unwrap();
    assert!(location.ends_with("seed.yaml:8:15"), "{location}");
    assert!(
        lines[1]["reason"]
            .as_str()
            .unwrap()
            .contains("allowed by allow[0]")
    );
}

#[test]
fn all_allowed_exits_zero_and_stdin_is_read() {
    let out = run(
        &["check", "--allow-registry", "registry.my.com,quay.io"],
        Some(b"registry.my.com/a:1\nquay.io/b/c:2\r\n"),
    );
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert_eq!(stdout(&out).lines().count(), 2);
}

#[test]
fn flags_add_to_the_file() {
    let file = example("seed.yaml");
    let out = run(
        &[
            "check",
            "--policy",
            &file,
            "--allow-registry",
            "quay.io",
            "--reject-latest",
            "quay.io/x:1",
            "quay.io/x",
        ],
        None,
    );
    assert_eq!(code(&out), 1);
    let text = stdout(&out);
    assert!(
        text.contains("ALLOWED  quay.io/x:1: allowed by allow[1] (registry quay.io) from <flags>"),
        "{text}"
    );
    assert!(text.contains("DENIED   quay.io/x: no tag or digest is written, so the runtime pulls latest, which is denied by tags.deny[0]"), "{text}");
}

#[test]
fn whitespace_is_part_of_the_image() {
    let out = run(
        &["check", "--allow-registry", "registry.my.com"],
        Some(b" registry.my.com/x\nregistry.my.com/x \n\xffx\n"),
    );
    assert_eq!(code(&out), 1);
    let text = stdout(&out);
    assert_eq!(
        text.lines().filter(|l| l.starts_with("DENIED")).count(),
        3,
        "{text}"
    );
}

#[test]
fn malformed_policy_reports_every_error_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.yaml");
    std::fs::write(
        &path,
        "alow:\n  - registry: x\nallow:\n  - registry: 'bad host'\n  - repository: quay.io/A/*\n  - regex: '(unclosed'\nmode: strict\n",
    )
    .unwrap();
    let file = path.display().to_string();
    let out = run(&["check", "--policy", &file, "nginx"], None);
    assert_eq!(code(&out), 2);
    assert_eq!(stdout(&out), "", "nothing is judged with a broken policy");
    let err = stderr(&out);
    for want in [
        "broken.yaml:1:1: error[unknown-key]: unknown key \"alow\" (did you mean \"allow\"?)",
        "broken.yaml:4:15: error[bad-registry]",
        "broken.yaml:5:17: error[bad-repository]",
        "broken.yaml:6:12: error[bad-regex]",
        "broken.yaml:7:7: error[bad-value]",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
    // The same from `policy check`.
    let out = run(&["policy", "check", &file], None);
    assert_eq!(code(&out), 2);
    let text = stdout(&out);
    assert_eq!(
        text.lines().filter(|l| l.contains(": error[")).count(),
        5,
        "{text}"
    );
    assert!(text.ends_with("invalid (5 errors)\n"), "{text}");
}

#[test]
fn usage_and_read_errors_exit_two() {
    assert_eq!(code(&run(&["check", "nginx"], None)), 2, "no policy at all");
    assert_eq!(
        code(&run(
            &["check", "--policy", "/nonexistent/policy.yaml", "nginx"],
            None
        )),
        2
    );
    assert_eq!(
        code(&run(&["check", "--allow-registry", "a b", "nginx"], None)),
        2
    );
    assert_eq!(
        code(&run(
            &[
                "check",
                "--format",
                "xml",
                "--allow-registry",
                "a.io",
                "nginx"
            ],
            None
        )),
        2
    );
}

#[test]
fn policy_check_prints_warnings() {
    let out = run(&["policy", "check", &example("multi-team.yaml")], None);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    assert!(stdout(&out).contains("valid ("), "{}", stdout(&out));

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("warn.yaml");
    std::fs::write(&path, "allow:\n  - regex: 'registry.my.com/.*'\n").unwrap();
    let file = path.display().to_string();
    let out = run(&["policy", "check", &file], None);
    assert_eq!(code(&out), 0);
    assert!(
        stdout(&out).contains("warn.yaml:2:12: warning[regex-unescaped-dot]"),
        "{}",
        stdout(&out)
    );
    let out = run(
        &[
            "policy",
            "check",
            "--deny-warnings",
            "--format",
            "json",
            &file,
        ],
        None,
    );
    assert_eq!(code(&out), 1);
    let line: Value = serde_json::from_str(stdout(&out).lines().next().unwrap()).unwrap();
    assert_eq!(line["code"], "regex-unescaped-dot");
    assert_eq!(line["line"], 2);
    assert_eq!(line["column"], 12);
}

#[test]
fn policy_schema_is_json_schema_of_the_format() {
    let out = run(&["policy", "schema"], None);
    assert_eq!(code(&out), 0);
    let schema: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let props = schema["properties"].as_object().unwrap();
    for key in [
        "mode",
        "allow",
        "deny",
        "tags",
        "exemptNamespaces",
        "namespaces",
        "breakGlass",
        "exemptExistingImagesOnUpdate",
    ] {
        assert!(props.contains_key(key), "{key}");
    }
    assert_eq!(schema["additionalProperties"], false);
}

/// Runs `image-policy` with `IMAGE_POLICY_FILE` set to `policy_env`.
fn run_with_policy_env(args: &[&str], policy_env: &str) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_image-policy"))
        .args(args)
        .env("IMAGE_POLICY_FILE", policy_env)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("the binary runs")
}

/// What a new user hit: `-` and blank lines on standard input, an empty
/// `IMAGE_POLICY_FILE`, a registry written as a URL, spaces after commas, a
/// YAML policy named `.json`, "1 errors".
#[test]
fn papercuts() {
    // `-` is standard input, as for lint; blank lines are skipped, not judged as "".
    let out = run(
        &["check", "--allow-registry", "registry.my.com", "-"],
        Some(b"registry.my.com/a:1\n\n \nregistry.my.com/b:2\n"),
    );
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert_eq!(stdout(&out).lines().count(), 2, "{}", stdout(&out));

    // An empty IMAGE_POLICY_FILE is unset: the flags are the policy...
    let out = run_with_policy_env(
        &[
            "check",
            "--allow-registry",
            "registry.my.com",
            "registry.my.com/a:1",
        ],
        "",
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // ...and with no flags, the message is that there is no policy.
    let out = run_with_policy_env(&["check", "nginx:1"], "");
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("no policy"), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains("a value is required"),
        "{}",
        stderr(&out)
    );
    // A set IMAGE_POLICY_FILE is read.
    let out = run_with_policy_env(&["check", "nginx:1"], "/nonexistent/policy.yaml");
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("/nonexistent/policy.yaml"),
        "{}",
        stderr(&out)
    );

    // A registry written as a URL: the scheme is named as the problem.
    let out = run(
        &[
            "check",
            "--allow-registry",
            "https://registry.my.com",
            "nginx",
        ],
        None,
    );
    assert_eq!(code(&out), 2);
    let err = stderr(&out);
    assert!(err.contains("has a scheme (https://)"), "{err}");
    assert!(err.contains("write \"registry.my.com\""), "{err}");

    // Spaces after commas are trimmed.
    let out = run(
        &[
            "check",
            "--allow-registry",
            "quay.io, registry.my.com",
            "registry.my.com/a:1",
        ],
        None,
    );
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));

    // A YAML policy named .json: the error says why.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.json");
    std::fs::write(&path, "allow:\n  - registry: registry.my.com\n").unwrap();
    let file = path.display().to_string();
    let out = run(&["check", "--policy", &file, "nginx"], None);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("if it is YAML, name it .yaml"),
        "{}",
        stderr(&out)
    );
    let out = run(&["policy", "check", &file], None);
    assert_eq!(code(&out), 2);
    assert!(
        stdout(&out).contains("invalid (1 error)"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("name it .yaml"), "{}", stdout(&out));

    // Singular and plural.
    let path = dir.path().join("one.yaml");
    std::fs::write(&path, "allow:\n  - registry: registry.my.com\n").unwrap();
    let out = run(&["policy", "check", &path.display().to_string()], None);
    assert_eq!(code(&out), 0);
    assert!(
        stdout(&out).ends_with("valid (1 rule, mode enforce, 0 warnings)\n"),
        "{}",
        stdout(&out)
    );
}

/// The host the runtime contacts, where it is not the domain: a deny rule on
/// it denies, and the decision names it in text and JSON.
#[test]
fn the_pull_host_is_judged_and_shown() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yaml");
    std::fs::write(&policy, "deny:\n  - registry: \"*.evil.com\"\n").unwrap();
    let policy = policy.to_str().unwrap();
    let out = run(
        &[
            "check",
            "--policy",
            policy,
            "--format",
            "json",
            "x_y.evil.com/app:1",
        ],
        None,
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let line: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(line["allowed"], false);
    assert_eq!(line["code"], "denied-by-rule");
    assert_eq!(line["pull_host"], "x_y.evil.com");
    assert_eq!(line["canonical"], "x_y.evil.com/app:1");

    let out = run(&["check", "--policy", policy, "x_y.evil.com/app:1"], None);
    assert_eq!(code(&out), 1);
    let text = stdout(&out);
    assert!(
        text.contains("x_y.evil.com/app:1: pulled from x_y.evil.com (not a valid registry domain, so the name has none); denied by deny[0] (registry *.evil.com)"),
        "{text}"
    );
}

/// Issue 13: the seed's `--add-registry`, end to end: the image is rewritten
/// to the allowed registry, and the rewritten image is the one judged.
#[test]
fn rewrite_flag_sends_the_seed_image_to_the_allowed_registry() {
    let args = [
        "check",
        "prometheus:2.6.1",
        "--allow-registry",
        "registry.my.com",
        "--rewrite",
        "docker.io/library=registry.my.com",
    ];
    let out = run(&args, None);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert_eq!(
        stdout(&out),
        "ALLOWED  registry.my.com/prometheus:2.6.1 (rewritten from prometheus:2.6.1 by rewrite[0] \
         (rewrite docker.io/library=registry.my.com) from <flags>): allowed by allow[0] \
         (registry registry.my.com) from <flags>\n"
    );
    assert_eq!(stderr(&out), "");

    let out = run(&[&args[..], &["--format", "json"]].concat(), None);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let line: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(line["image"], "prometheus:2.6.1");
    assert_eq!(line["rewritten"], "registry.my.com/prometheus:2.6.1");
    assert_eq!(line["canonical"], "registry.my.com/prometheus:2.6.1");
    assert_eq!(line["allowed"], true);

    // Not under docker.io/library: not rewritten, and still denied.
    let out = run(
        &[
            "check",
            "quay.io/prometheus/prometheus:v2",
            "--allow-registry",
            "registry.my.com",
            "--rewrite",
            "docker.io/library=registry.my.com",
            "--format",
            "json",
        ],
        None,
    );
    assert_eq!(code(&out), 1);
    let line: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(line["rewritten"], Value::Null);
    assert_eq!(line["code"], "registry-not-allowed");
}

#[test]
fn rewrite_flag_errors_exit_2_naming_the_rule() {
    for (rule, want) in [
        (
            "nginx=registry.my.com",
            "<flags>: rewrite[0].from: rewrite from \"nginx\" does not start with a registry",
        ),
        ("docker.io", "is not FROM=TO"),
        (
            "docker.io=quay.io",
            "<flags>: rewrite[0].to: images rewritten to quay.io are not in the allowed registries",
        ),
    ] {
        let out = run(
            &[
                "check",
                "nginx:1",
                "--allow-registry",
                "registry.my.com",
                "--rewrite",
                rule,
            ],
            None,
        );
        assert_eq!(code(&out), 2, "{rule}: {}", stderr(&out));
        assert!(stderr(&out).contains(want), "{rule}: {}", stderr(&out));
        assert_eq!(stdout(&out), "");
    }
}

#[test]
fn rewrite_in_a_policy_file_and_a_failed_rewrite() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.yaml");
    std::fs::write(
        &file,
        "allow:\n  - registry: registry.my.com\nrewrite:\n  - from: docker.io\n    to: registry.my.com/dockerhub\n",
    )
    .unwrap();
    let digest = format!("sha256:{}", "a".repeat(64));
    let long = format!("a/{}:1", "b".repeat(252));
    let out = run(
        &[
            "check",
            "--policy",
            file.to_str().unwrap(),
            &format!("grafana/grafana:10@{digest}"),
            &long,
        ],
        None,
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with(&format!(
            "ALLOWED  registry.my.com/dockerhub/grafana/grafana:10@{digest} (rewritten from grafana/grafana:10@{digest} by rewrite[0]"
        )),
        "{text}"
    );
    assert!(lines[0].contains("p.yaml:4:5"), "{text}");
    assert!(lines[1].starts_with("DENIED   a/bbb"), "{text}");
    assert!(lines[1].contains("longer than 255 bytes"), "{text}");
}

#[test]
fn policy_check_reports_rewrite_rules_with_their_positions() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.yaml");
    // rewrite[0]: its target is denied (error); rewrite[1]: the policy does
    // not deny anything under its from (warning).
    std::fs::write(
        &file,
        "deny:\n  - registry: evil.io\nrewrite:\n  - {from: quay.io, to: evil.io/quay}\n  - {from: ghcr.io, to: registry.my.com/ghcr}\n",
    )
    .unwrap();
    let name = file.display().to_string();
    let out = run(&["policy", "check", &name], None);
    assert_eq!(code(&out), 2, "{}", stdout(&out));
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "{name}:4:25: error[rewrite-target-denied]: images rewritten to evil.io/quay are denied by deny[0]"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("{name}:5:12: warning[rewrite-not-needed]")),
        "{text}"
    );
    // Every command that loads the policy refuses it.
    let out = run(&["check", "--policy", &name, "nginx:1"], None);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("rewrite-target-denied"),
        "{}",
        stderr(&out)
    );
}

/// `--format` names the format on every command; the old `--output
/// text|json` of `check` and `policy check` still works for a release, with
/// a warning, and prints the same.
#[test]
fn format_flag_and_the_deprecated_output_spelling() {
    let seed = example("seed.yaml");
    for (new, old, command) in [
        (
            vec!["check", "--policy", &seed, "--format", "json", "nginx"],
            vec!["check", "--policy", &seed, "--output", "json", "nginx"],
            "check",
        ),
        (
            vec!["policy", "check", "--format", "json", &seed],
            vec!["policy", "check", "--output", "json", &seed],
            "policy check",
        ),
        (
            vec!["check", "--policy", &seed, "--format", "text", "nginx"],
            vec!["check", "--policy", &seed, "--output", "text", "nginx"],
            "check",
        ),
    ] {
        let now = run(&new, None);
        let before = run(&old, None);
        assert_eq!(stdout(&now), stdout(&before), "{old:?}");
        assert_eq!(code(&now), code(&before), "{old:?}");
        assert_eq!(stderr(&now), "", "{new:?}");
        let warning = format!(
            "image-policy {command}: warning: --output {0} is deprecated, use --format {0}",
            old[old.len() - 2]
        );
        assert!(stderr(&before).contains(&warning), "{}", stderr(&before));
    }
    // Both spellings at once is a usage error.
    let both = run(
        &["check", "--format", "json", "--output", "json", "nginx"],
        None,
    );
    assert_eq!(code(&both), 2, "{}", stderr(&both));
    // `parse --json` is `parse --format json`.
    let short = run(&["parse", "--json", "nginx"], None);
    let long = run(&["parse", "--format", "json", "nginx"], None);
    assert_eq!(code(&short), 0);
    assert_eq!(stdout(&short), stdout(&long));
    assert!(
        stdout(&long).starts_with("{\"input\":\"nginx\""),
        "{}",
        stdout(&long)
    );
    // `--help` shows --format, not the deprecated spelling.
    for args in [&["check", "--help"][..], &["policy", "check", "--help"]] {
        let help = stdout(&run(args, None));
        assert!(help.contains("--format <FORMAT>"), "{help}");
        assert!(!help.contains("--output"), "{help}");
    }
}

/// `check --format json` and `parse --format json` give one `pull_host`
/// (and one canonical form) for every kind of name: with a domain written,
/// implied, without a valid one, with a port, IPv6, a digest; and null for
/// one that does not parse.
#[test]
fn check_and_parse_agree_on_the_pull_host() {
    let images = [
        "nginx",
        "prometheus:2.6.1",
        "registry.my.com/a/b:1",
        "x_y.evil.com/app",
        "reg:5000/app",
        "[::1]:5000/x",
        "localhost/app",
        "quay.io/x@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "Bad/Name",
    ];
    let mut check = vec![
        "check",
        "--allow-registry",
        "registry.my.com",
        "--format",
        "json",
    ];
    check.extend(images);
    let mut parse = vec!["parse", "--format", "json"];
    parse.extend(images);
    let lines = |args: &[&str]| -> Vec<Value> {
        stdout(&run(args, None))
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let (checked, parsed) = (lines(&check), lines(&parse));
    assert_eq!(checked.len(), images.len());
    for ((c, p), image) in checked.iter().zip(&parsed).zip(images) {
        assert_eq!(c["pull_host"], p["pull_host"], "{image}");
        assert_eq!(c["canonical"], p["canonical"], "{image}");
    }
    assert_eq!(checked[0]["pull_host"], "docker.io");
    assert_eq!(checked[3]["pull_host"], "x_y.evil.com");
    assert_eq!(checked[8]["pull_host"], Value::Null);
}
