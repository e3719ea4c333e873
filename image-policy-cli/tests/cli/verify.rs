//! `image-policy verify` against a small plain-HTTP registry written here
//! that serves an image, its cosign signature (made by `openssl`) and an
//! unsigned image: exit 0 when verified (text and JSON), 1 when not (no
//! signature, no verify rule), 2 on a registry error; `policy check` reads
//! the key file beside the policy. The registry crate's own tests cover the
//! forgeries, TLS and the real registry.

use crate::run;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

/// Serves `routes` (path → content type and body), anything else 404.
fn registry(routes: HashMap<String, (String, Vec<u8>)>, listener: TcpListener) {
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
            }
            let path = request_line.split(' ').nth(1).unwrap_or("");
            let (status, ctype, body) = match routes.get(path) {
                Some((t, b)) => ("200 OK", t.as_str(), b.clone()),
                None => (
                    "404 Not Found",
                    "application/json",
                    br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#
                        .to_vec(),
                ),
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(&body);
        }
    });
}

fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `sha256:<hex>` of `bytes`, by openssl (not by the code under test).
fn sha256(dir: &Path, bytes: &[u8]) -> String {
    std::fs::write(dir.join("digest-input"), bytes).unwrap();
    let out = openssl(dir, &["dgst", "-sha256", "-r", "digest-input"]);
    format!("sha256:{}", &String::from_utf8_lossy(&out)[..64])
}

#[test]
fn verified_refused_and_errors() {
    if Command::new("openssl").arg("version").output().is_err() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "openssl is required in CI"
        );
        eprintln!("skipped: openssl is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    openssl(
        d,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "cosign.key",
        ],
    );
    openssl(
        d,
        &["pkey", "-in", "cosign.key", "-pubout", "-out", "cosign.pub"],
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();

    const OCI: &str = "application/vnd.oci.image.manifest.v1+json";
    let mut routes = HashMap::new();
    let image = |repo: &str, n: u32, routes: &mut HashMap<String, (String, Vec<u8>)>| {
        let m = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:{n:064}","size":2}},"layers":[]}}"#
        )
        .into_bytes();
        let digest = sha256(d, &m);
        routes.insert(
            format!("/v2/{repo}/manifests/1"),
            (OCI.to_owned(), m.clone()),
        );
        routes.insert(
            format!("/v2/{repo}/manifests/{digest}"),
            (OCI.to_owned(), m),
        );
        digest
    };
    let digest = image("team/app", 1, &mut routes);
    image("team/unsigned", 2, &mut routes);
    let payload = format!(
        r#"{{"critical":{{"identity":{{"docker-reference":"{addr}/team/app"}},"image":{{"docker-manifest-digest":"{digest}"}},"type":"cosign container image signature"}},"optional":null}}"#
    );
    std::fs::write(d.join("payload"), &payload).unwrap();
    openssl(
        d,
        &[
            "dgst",
            "-sha256",
            "-sign",
            "cosign.key",
            "-out",
            "sig",
            "payload",
        ],
    );
    let signature = String::from_utf8(openssl(d, &["base64", "-A", "-in", "sig"])).unwrap();
    let payload_digest = sha256(d, payload.as_bytes());
    let sig_manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:{:064}","size":2}},"layers":[{{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","digest":"{payload_digest}","size":{},"annotations":{{"dev.cosignproject.cosign/signature":"{}"}}}}]}}"#,
        0,
        payload.len(),
        signature.trim()
    );
    routes.insert(
        format!("/v2/team/app/manifests/{}.sig", digest.replace(':', "-")),
        (OCI.to_owned(), sig_manifest.into_bytes()),
    );
    routes.insert(
        format!("/v2/team/app/blobs/{payload_digest}"),
        ("application/octet-stream".to_owned(), payload.into_bytes()),
    );
    registry(routes, listener);

    let policy = d.join("policy.yaml");
    std::fs::write(
        &policy,
        "verify:\n  - repository: '*/team/**'\n    keyFile: cosign.pub\n",
    )
    .unwrap();
    let policy = policy.to_str().unwrap();
    let ok = format!("{addr}/team/app:1");
    let out = run(
        &[
            "verify",
            "--policy",
            policy,
            "--registry-plain-http",
            &addr,
            &ok,
        ],
        None,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout,
        format!("{ok}: verified ({ok}@{digest}, by verify[0])\n")
    );

    let out = run(
        &[
            "verify",
            "--policy",
            policy,
            "--registry-plain-http",
            &addr,
            "--format",
            "json",
            &ok,
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0));
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["verified"], true);
    assert_eq!(line["rules"][0], "verify[0]");

    // Unsigned, and out of every verify scope: 1, with the reason.
    let unsigned = format!("{addr}/team/unsigned:1");
    let out = run(
        &[
            "verify",
            "--policy",
            policy,
            "--registry-plain-http",
            &addr,
            &unsigned,
            "quay.io/x:1",
        ],
        None,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no signature"), "{stderr}");
    assert!(stderr.contains("no verify rule"), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{unsigned}: not verified\nquay.io/x:1: not verified\n")
    );

    // A registry that does not answer: 2.
    let out = run(
        &[
            "verify",
            "--policy",
            policy,
            "--registry-plain-http",
            "127.0.0.1:9",
            "127.0.0.1:9/team/app:1",
        ],
        None,
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // policy check reads the key file beside the policy; a missing one is
    // an error at its line and column.
    let out = run(&["policy", "check", policy], None);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    std::fs::remove_file(d.join("cosign.pub")).unwrap();
    let out = run(&["policy", "check", policy], None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(
        stdout.contains(":3:14") && stdout.contains("bad-key"),
        "{stdout}"
    );
}
