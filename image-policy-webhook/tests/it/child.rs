//! A server in a child process: this test binary run again with
//! `IMAGE_POLICY_IT_CHILD` set, for what needs a process of its own (a
//! lowered file limit, the server's peak memory, its log on stderr).

use crate::support::{Client, TestCa, policy_source};
use image_policy_webhook::server::{Server, ServerConfig, TlsFiles, Transport};
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

const CHILD_ENV: &str = "IMAGE_POLICY_IT_CHILD";
const LISTENING: &str = "child server listening on ";
/// The child's write timeout in milliseconds, when set (default: the server's).
const WRITE_TIMEOUT_ENV: &str = "IMAGE_POLICY_IT_WRITE_TIMEOUT_MS";
const REQUEST_TIMEOUT_ENV: &str = "IMAGE_POLICY_IT_REQUEST_TIMEOUT_MS";

/// The child's side: serves with the files of the directory in
/// `IMAGE_POLICY_IT_CHILD` and the default limits, logging to stderr, until
/// its standard input closes. A no-op in the test run itself.
#[test]
fn child_server_entry() {
    let Some(dir) = std::env::var_os(CHILD_ENV).map(PathBuf::from) else {
        return;
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let config = ServerConfig::new(
            "127.0.0.1:0".parse().unwrap(),
            Transport::Https(TlsFiles {
                cert: dir.join("tls.crt"),
                key: dir.join("tls.key"),
                client_ca: None,
            }),
            policy_source(&dir.join("policy.yaml")),
        );
        let mut config = config;
        if let Some(ms) = std::env::var(WRITE_TIMEOUT_ENV)
            .ok()
            .and_then(|ms| ms.parse().ok())
        {
            config.write_timeout = Duration::from_millis(ms);
        }
        if let Some(ms) = std::env::var(REQUEST_TIMEOUT_ENV)
            .ok()
            .and_then(|ms| ms.parse().ok())
        {
            config.request_timeout = Duration::from_millis(ms);
        }
        let server = Server::bind(config).await.unwrap();
        println!("{LISTENING}{}", server.local_addr());
        let stdin_closed = tokio::task::spawn_blocking(|| {
            let _ = std::io::stdin().read_to_end(&mut Vec::new());
        });
        server
            .run(async {
                let _ = stdin_closed.await;
            })
            .await
            .unwrap();
    });
}

/// The parent's handle on a child server.
pub struct ChildServer {
    pub addr: SocketAddr,
    ca: TestCa,
    child: Child,
    stderr: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

impl ChildServer {
    /// Starts the child, with its file limit lowered to `nofile` when given
    /// (`ulimit -n` in `sh`, then `exec`).
    pub fn start(nofile: Option<u32>) -> ChildServer {
        Self::start_with(nofile, None)
    }

    /// [`ChildServer::start`], with the write timeout in milliseconds when
    /// given.
    pub fn start_with(nofile: Option<u32>, write_timeout_ms: Option<u64>) -> ChildServer {
        Self::start_with_timeouts(nofile, write_timeout_ms, None)
    }

    /// [`ChildServer::start_with`], with the request timeout (the time a
    /// client has to send its whole body) in milliseconds when given.
    pub fn start_with_timeouts(
        nofile: Option<u32>,
        write_timeout_ms: Option<u64>,
        request_timeout_ms: Option<u64>,
    ) -> ChildServer {
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new("image-policy child test CA");
        let serving = ca.server("serving");
        std::fs::write(dir.path().join("tls.crt"), &serving.cert).unwrap();
        std::fs::write(dir.path().join("tls.key"), &serving.key).unwrap();
        std::fs::write(
            dir.path().join("policy.yaml"),
            format!(
                "allow:\n  - registry: registry.my.com\nrewrite:\n  - from: docker.io\n    to: {}\n",
                crate::hostile_bodies::LONG_REWRITE_TO
            ),
        )
        .unwrap();
        let exe = std::env::current_exe().unwrap();
        let limit = nofile.map_or(String::new(), |n| format!("ulimit -n {n} && "));
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(format!("{limit}exec \"$0\" \"$@\""))
            .arg(exe)
            .args([
                "--exact",
                "child::child_server_entry",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, dir.path())
            .env(
                WRITE_TIMEOUT_ENV,
                write_timeout_ms.map_or(String::new(), |ms| ms.to_string()),
            )
            .env(
                REQUEST_TIMEOUT_ENV,
                request_timeout_ms.map_or(String::new(), |ms| ms.to_string()),
            )
            .env("RUST_LOG", "info")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let lines = Arc::clone(&stderr);
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { return };
                lines.lock().unwrap_or_else(|p| p.into_inner()).push(line);
            }
        });
        let (tx, rx) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { return };
                // libtest may have written `test NAME ... ` first on the line.
                if let Some((_, addr)) = line.split_once(LISTENING) {
                    let _ = tx.send(addr.parse::<SocketAddr>().unwrap());
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| {
                panic!(
                    "the child server did not start: {}",
                    stderr.lock().unwrap_or_else(|p| p.into_inner()).join("\n")
                )
            });
        ChildServer {
            addr,
            ca,
            child,
            stderr,
            _dir: dir,
        }
    }

    /// A client that trusts the child's CA.
    pub fn client(&self) -> Client {
        Client::new(&self.ca.pem(), None)
    }

    /// The child's peak resident memory (VmHWM), in KiB.
    pub fn peak_memory_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    /// The first decision log line, waited for up to 20 s.
    pub fn decision_log_line(&self) -> String {
        let started = Instant::now();
        loop {
            if let Some(line) = self
                .stderr
                .lock()
                .unwrap()
                .iter()
                .find(|l| l.contains("image_policy::decision"))
            {
                return line.clone();
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "no decision logged"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Closes the child's standard input (its shutdown) and waits for it.
    pub fn stop(&mut self) {
        drop(self.child.stdin.take());
        let started = Instant::now();
        while self.child.try_wait().unwrap().is_none() {
            if started.elapsed() > Duration::from_secs(30) {
                let _ = self.child.kill();
                panic!("the child server did not stop");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
