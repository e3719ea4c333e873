//! `image-policy serve` end to end: the real binary over TLS (certificates
//! from `deploy/gen-certs.sh`), the README's seed ImageReview sent with curl,
//! and a clean exit on SIGTERM.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn have(tool: &str) -> bool {
    let found = Command::new(tool).arg("--version").output().is_ok();
    if !found {
        // CI machines have it: there, a missing tool is a failure, not a skip.
        assert!(std::env::var_os("CI").is_none(), "{tool} is required in CI");
        eprintln!("NOTE: {tool} not found; `serve` end-to-end test not run");
    }
    found
}

fn curl_review(ca: &Path, port: u16, image: &str) -> Value {
    let body = format!(
        r#"{{"apiVersion":"imagepolicy.k8s.io/v1alpha1","kind":"ImageReview","spec":{{"containers":[{{"image":"{image}"}}],"namespace":"default"}}}}"#
    );
    let output = Command::new("curl")
        .args(["--silent", "--show-error", "--fail-with-body", "--cacert"])
        .arg(ca)
        .arg("--resolve")
        .arg(format!("localhost:{port}:127.0.0.1"))
        .args([
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            &body,
        ])
        .arg(format!("https://localhost:{port}/imagereview"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "curl: {}{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(&output.stdout)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// A `serve` child over TLS (certificates from `deploy/gen-certs.sh`) on a
/// free port of 127.0.0.1, with its JSON log lines read as they come.
pub(super) struct TlsServer {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    lines: mpsc::Receiver<Value>,
    reader: std::thread::JoinHandle<()>,
    /// The log lines read before it served.
    seen: Vec<Value>,
}

impl TlsServer {
    /// Starts `serve` with the policy flags `policy`; `None` when curl or
    /// openssl is missing (outside CI).
    pub(super) fn start(policy: &[&str]) -> Option<TlsServer> {
        if !have("curl") || !have("openssl") {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let gen_certs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/gen-certs.sh");
        let status = Command::new("bash")
            .arg(gen_certs)
            .arg(dir.path())
            .env("EXTRA_SANS", "DNS:localhost")
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());

        let mut child = Command::new(env!("CARGO_BIN_EXE_image-policy"))
            .arg("serve")
            .args(policy)
            .arg("--tls-cert")
            .arg(dir.path().join("tls.crt"))
            .arg("--tls-key")
            .arg(dir.path().join("tls.key"))
            .args(["--listen", "127.0.0.1:0", "--log-format", "json"])
            .env_remove("IMAGE_POLICY_FILE")
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();

        // Every log line, parsed, as it comes.
        let stderr = child.stderr.take().unwrap();
        let (lines_tx, lines) = mpsc::channel::<Value>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let line = line.unwrap();
                let event: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("a log line that is not JSON ({e}): {line}"));
                if lines_tx.send(event).is_err() {
                    break;
                }
            }
        });
        let mut seen = Vec::new();
        let port: u16 = loop {
            let event = lines
                .recv_timeout(Duration::from_secs(20))
                .expect("the server logs that it serves");
            if event["message"] == "serving" {
                let listen = event["listen"].as_str().unwrap().to_owned();
                break listen.rsplit(':').next().unwrap().parse().unwrap();
            }
            seen.push(event);
        };
        Some(TlsServer {
            child,
            port,
            dir,
            lines,
            reader,
            seen,
        })
    }

    /// The server's answer to an ImageReview of one container `image`.
    pub(super) fn review(&self, image: &str) -> Value {
        curl_review(&self.dir.path().join("ca.crt"), self.port, image)
    }

    /// Stops it with SIGTERM, checks that it exits 0, and gives every log
    /// line it wrote.
    pub(super) fn stop(mut self) -> Vec<Value> {
        let kill = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
        let status = self.child.wait().unwrap();
        assert_eq!(status.code(), Some(0), "a clean exit after SIGTERM");
        self.seen.extend(self.lines.iter());
        self.reader.join().unwrap();
        self.seen
    }
}

#[test]
fn serve_answers_the_seed_image_review_over_tls_and_stops_on_sigterm() {
    let Some(server) = TlsServer::start(&["--allow-registry", "registry.my.com"]) else {
        return;
    };
    let denied = server.review("prometheus:2.6.1");
    assert_eq!(denied["status"]["allowed"], false, "{denied}");
    let allowed = server.review("registry.my.com/prometheus:2.6.1");
    assert_eq!(allowed["status"]["allowed"], true, "{allowed}");
    let seen = server.stop();

    // One decision line per review.
    let decisions: Vec<&Value> = seen
        .iter()
        .filter(|e| e["target"] == "image_policy::decision")
        .collect();
    assert_eq!(decisions.len(), 2, "{seen:#?}");
    assert_eq!(decisions[0]["result"], "denied");
    assert_eq!(decisions[1]["result"], "allowed");
}

/// A startup error is printed once (it used to be logged and then printed
/// again), and exits 2.
#[test]
fn a_startup_error_is_printed_once() {
    let out = super::run(
        &[
            "serve",
            "--insecure-http",
            "--listen",
            "127.0.0.1:0",
            "--policy",
            "/nonexistent/policy.yaml",
        ],
        None,
    );
    assert_eq!(super::code(&out), 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.matches("/nonexistent/policy.yaml").count(),
        1,
        "printed more than once:\n{err}"
    );
}

/// A listen address that is not one says what is expected, with examples;
/// a host name is resolved rather than refused.
#[test]
fn listen_addresses_are_explained() {
    for (address, says) in [
        ("8443", "\"8443\" has no port"),
        ("localhost:https", "\"localhost:https\" is not an address"),
    ] {
        let out = super::run(
            &[
                "serve",
                "--insecure-http",
                "--allow-registry",
                "r.io",
                "--listen",
                address,
            ],
            None,
        );
        assert_eq!(super::code(&out), 2, "{address}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{address}: {err}");
        assert!(
            err.contains("such as 0.0.0.0:8443, [::]:8443 or localhost:8443"),
            "{err}"
        );
    }
}
