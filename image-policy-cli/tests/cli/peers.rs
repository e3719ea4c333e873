//! Peers' command lines, run unchanged: kube-image-bouncer's
//! `--registry-whitelist` through `check` and through `serve` over HTTPS,
//! on the bouncer's own rule cases (`testdata/peers/kube-image-bouncer.yaml`).

use super::serve::TlsServer;
use super::{code, run};
use serde::Deserialize;
use std::path::PathBuf;

#[derive(Deserialize)]
struct Cases {
    groups: Vec<Group>,
    errors: Vec<Refused>,
}

#[derive(Deserialize)]
struct Group {
    name: String,
    flags: Vec<String>,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    image: String,
    allowed: bool,
}

#[derive(Deserialize)]
struct Refused {
    flags: Vec<String>,
    says: String,
}

fn bouncer() -> Cases {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/peers/kube-image-bouncer.yaml");
    serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn bouncer_cases_through_check() {
    for group in bouncer().groups {
        for case in &group.cases {
            let mut args = vec!["check"];
            args.extend(strs(&group.flags));
            args.extend(["--format", "json", "--", &case.image]);
            let out = run(&args, None);
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            let what = format!("{}: {}: {stdout}{stderr}", group.name, case.image);
            assert_eq!(code(&out), if case.allowed { 0 } else { 1 }, "{what}");
            let line: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
            assert_eq!(line["allowed"], case.allowed, "{what}");
        }
    }
}

#[test]
fn bouncer_cases_through_serve_over_https() {
    for group in bouncer().groups {
        let Some(server) = TlsServer::start(&strs(&group.flags)) else {
            return;
        };
        for case in &group.cases {
            let answer = server.review(&case.image);
            assert_eq!(
                answer["status"]["allowed"], case.allowed,
                "{}: {}: {answer}",
                group.name, case.image
            );
        }
        server.stop();
    }
}

#[test]
fn bad_whitelist_entries_are_usage_errors_naming_them() {
    for refused in bouncer().errors {
        for command in ["check", "lint", "export", "serve"] {
            let mut args = vec![command];
            args.extend(strs(&refused.flags));
            match command {
                "check" => args.push("busybox"),
                "lint" => args.push("-"),
                "serve" => args.extend(["--insecure-http", "--listen", "127.0.0.1:0"]),
                _ => args.extend(["--format", "validating-admission-policy"]),
            }
            let out = run(&args, Some(b""));
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(code(&out), 2, "{command} {:?}: {stderr}", refused.flags);
            assert!(
                stderr.contains(&refused.says),
                "{command} {:?}: {stderr}",
                refused.flags
            );
        }
    }
}

#[test]
fn help_shows_the_alias() {
    for command in ["check", "lint", "export", "serve"] {
        let out = run(&[command, "--help"], None);
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(help.contains("--registry-whitelist"), "{command}: {help}");
        assert!(
            help.contains("Alias of --allow-registry"),
            "{command}: {help}"
        );
    }
}
