//! `image-policy resolve` against a small plain-HTTP registry written here
//! (named with --registry-plain-http): text and JSON lines, a failure that
//! names the image and exits 2 while the others are still printed. The
//! registry crate's own tests cover TLS, auth and the real registry.

use crate::run;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;

const MANIFEST: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;
// sha256 of MANIFEST, as `printf %s "$MANIFEST" | sha256sum` gives it.
const DIGEST: &str = "sha256:f20c43161d73848408ef247f0ec7111b19fe58ffebc0cbcaa0d2c8bda4967268";

/// Answers `/v2/team/app/manifests/1` with MANIFEST, anything else 404,
/// one connection at a time, until the test ends.
fn registry() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
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
            let (status, body) = if path == "/v2/team/app/manifests/1" {
                ("200 OK", MANIFEST)
            } else {
                (
                    "404 Not Found",
                    r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#,
                )
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    addr
}

fn digest_of_manifest() -> String {
    // The digest the command prints must be the sha256 of the bytes served;
    // computed here with the registry crate's function would be circular,
    // so the constant above is checked against sha256sum where it exists.
    if let Ok(out) = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(MANIFEST.as_bytes())?;
            c.wait_with_output()
        })
    {
        let hex = String::from_utf8_lossy(&out.stdout);
        assert_eq!(format!("sha256:{}", &hex[..64]), DIGEST);
    }
    DIGEST.to_owned()
}

#[test]
fn text_json_and_failures() {
    let addr = registry();
    let digest = digest_of_manifest();
    let ok = format!("{addr}/team/app:1");
    let missing = format!("{addr}/team/app:2");
    let out = run(&["resolve", "--registry-plain-http", &addr, &ok], None);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{ok} -> {ok}@{digest}\n")
    );

    let out = run(
        &[
            "resolve",
            "--registry-plain-http",
            &addr,
            "--format",
            "json",
            &missing,
            &ok,
            "Not/Valid",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["image"], missing.as_str());
    assert_eq!(lines[0]["pinned"], serde_json::Value::Null);
    assert_eq!(lines[0]["kind"], "not_found");
    assert_eq!(lines[1]["pinned"], format!("{ok}@{digest}"));
    assert_eq!(lines[1]["digest"], digest.as_str());
    assert_eq!(lines[1]["error"], serde_json::Value::Null);
    assert_eq!(lines[2]["kind"], "invalid_reference");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "image-policy resolve: {missing}: registry {addr}: not found (404): MANIFEST_UNKNOWN: manifest unknown"
        )),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 2, "{stderr}");

    // Text: the failure on standard error, the success still printed.
    let out = run(
        &["resolve", "--registry-plain-http", &addr, &missing, &ok],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{ok} -> {ok}@{digest}\n")
    );

    // Standard input, one per line; an implied tag is pinned as `latest`.
    let out = run(
        &["resolve", "--registry-plain-http", &addr],
        Some(format!("{ok}\n\n{addr}/team/app\n").as_bytes()),
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{ok} -> {ok}@{digest}\n")
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!("{addr}/team/app:latest: registry"))
    );
}

#[test]
fn plain_http_only_where_named_and_bad_flags() {
    let addr = registry();
    // Not named: HTTPS, which the plain server cannot speak.
    let out = run(&["resolve", &format!("{addr}/team/app:1")], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("registry {addr}: ")));

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("ca.pem");
    std::fs::write(&bad, "not a certificate").unwrap();
    let out = run(
        &["resolve", "--registry-ca", bad.to_str().unwrap(), "x/y:1"],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--registry-ca"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let auth = dir.path().join("config.json");
    std::fs::write(&auth, r#"{"auths":{"r.io":{"auth":"bm9jb2xvbg=="}}}"#).unwrap();
    let out = run(
        &[
            "resolve",
            "--registry-auth",
            auth.to_str().unwrap(),
            "x/y:1",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--registry-auth") && stderr.contains("base64(username:password)"),
        "{stderr}"
    );
}
