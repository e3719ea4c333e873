//! Hostile clients of the admission server, for `benches/hostile.sh`.
//!
//! First, hostile bodies (`image-policy-webhook/tests/it/hostile_bodies.rs`,
//! shared with the server's tests: many tiny containers, annotations or
//! volumes, long and escaped strings, deep nesting, many tokens, the largest
//! `/mutate` answer, UPDATEs of distinct images) on `/validate`, `/mutate`
//! and `/imagereview`: each shape alone, `--repeat` times, with the server's
//! CPU time per request (the sum of its threads' `schedstat`, with
//! `--server-pid`), then all of them from `--clients` connections at once;
//! the server's peak memory (VmHWM) after that.
//!
//! Then idle TLS connections, HTTP/2 connections that send only their
//! preface, stalled HTTP/1.1 bodies just under the body limit, and one
//! HTTP/2 connection with many stalled streams; while they are held, a fresh
//! connection sends reviews. Reports how many reviews were answered 200 and
//! their latency.
//!
//! ```text
//! hostile --addr 127.0.0.1:18444 --ca ca.crt [--server-name localhost]
//!         [--server-pid PID] [--repeat 5] [--clients 6]
//!         [--idle 1000] [--preface 200] [--bodies 40] [--streams 100]
//!         [--body-limit 7340032] [--reviews 50]
//! ```

#[path = "../../../image-policy-webhook/tests/it/hostile_bodies.rs"]
mod hostile_bodies;

use http_body_util::Full;
use hyper::body::{Bytes, Frame};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_rustls::TlsConnector;

const REVIEW: &str = r#"{"apiVersion":"imagepolicy.k8s.io/v1alpha1","kind":"ImageReview","spec":{"containers":[{"image":"registry.my.com/prometheus:2.6.1"}],"namespace":"default"}}"#;
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

struct Options {
    addr: SocketAddr,
    ca: String,
    server_name: String,
    idle: usize,
    preface: usize,
    bodies: usize,
    streams: usize,
    body_limit: usize,
    reviews: usize,
    server_pid: Option<u32>,
    repeat: usize,
    clients: usize,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        addr: "127.0.0.1:18444".parse().unwrap(),
        ca: String::new(),
        server_name: "localhost".to_owned(),
        idle: 1000,
        preface: 200,
        bodies: 40,
        streams: 100,
        body_limit: 7 * 1024 * 1024,
        reviews: 50,
        server_pid: None,
        repeat: 5,
        clients: 6,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--addr" => options.addr = value.parse().map_err(|e| bad(&e))?,
            "--ca" => options.ca = value,
            "--server-name" => options.server_name = value,
            "--idle" => options.idle = value.parse().map_err(|e| bad(&e))?,
            "--preface" => options.preface = value.parse().map_err(|e| bad(&e))?,
            "--bodies" => options.bodies = value.parse().map_err(|e| bad(&e))?,
            "--streams" => options.streams = value.parse().map_err(|e| bad(&e))?,
            "--body-limit" => options.body_limit = value.parse().map_err(|e| bad(&e))?,
            "--reviews" => options.reviews = value.parse().map_err(|e| bad(&e))?,
            "--server-pid" => options.server_pid = Some(value.parse().map_err(|e| bad(&e))?),
            "--repeat" => options.repeat = value.parse().map_err(|e| bad(&e))?,
            "--clients" => options.clients = value.parse().map_err(|e| bad(&e))?,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if options.ca.is_empty() {
        return Err("--ca FILE is required".to_owned());
    }
    Ok(options)
}

fn connector(ca: &str, alpn: &[&[u8]]) -> Result<TlsConnector, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).map_err(|e| format!("{ca}: {e}"))? {
        roots
            .add(cert.map_err(|e| format!("{ca}: {e}"))?)
            .map_err(|e| format!("{ca}: {e}"))?;
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(TlsConnector::from(Arc::new(config)))
}

type Tls = tokio_rustls::client::TlsStream<TcpStream>;

async fn connect(options: &Options, connector: &TlsConnector) -> Result<Tls, String> {
    let tcp = TcpStream::connect(options.addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let name = ServerName::try_from(options.server_name.clone()).map_err(|e| e.to_string())?;
    tokio::time::timeout(Duration::from_secs(5), connector.connect(name, tcp))
        .await
        .map_err(|_| "TLS handshake timed out".to_owned())?
        .map_err(|e| format!("TLS: {e}"))
}

/// A request body fed from a channel; stalls while the sender is kept.
struct ChannelBody(mpsc::Receiver<Bytes>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|next| next.map(|data| Ok(Frame::data(data))))
    }
}

/// The CPU time of process `pid` so far, in nanoseconds: the sum of its
/// threads' time on a CPU (`/proc/PID/task/*/schedstat`, first field).
fn cpu_ns(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// The peak resident memory (VmHWM) of process `pid`, in KiB.
fn peak_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// POSTs `body` to `path` on a fresh HTTP/1.1 connection: the status and the
/// size of the answer.
async fn post(
    options: &Options,
    h1: &TlsConnector,
    path: &str,
    body: Bytes,
) -> Result<(u16, usize), String> {
    use http_body_util::BodyExt as _;
    let tls = connect(options, h1).await?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let request = hyper::Request::post(path)
        .header("host", options.server_name.as_str())
        .header("content-type", "application/json")
        .body(Full::new(body))
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let answer = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, answer.len()))
}

/// The hostile bodies: each alone (CPU per request), then all at once.
async fn shapes(options: &Arc<Options>, h1: &TlsConnector) -> Result<bool, String> {
    let shapes: Vec<(String, &'static str, Bytes, bool)> =
        hostile_bodies::shapes(options.body_limit)
            .into_iter()
            .map(|s| {
                (
                    s.name.to_owned(),
                    s.path,
                    Bytes::from(s.body),
                    s.past_bounds,
                )
            })
            .collect();
    let mut ok = true;
    println!(
        "(the server rewrites docker.io to a path of {} bytes)",
        hostile_bodies::LONG_REWRITE_TO.len()
    );
    println!(
        "| shape | endpoint | body | past the bounds | status | answer | server CPU per request |"
    );
    println!("|---|---|---:|---|---:|---:|---:|");
    let mut worst_cpu = 0.0f64;
    for (name, path, body, past_bounds) in &shapes {
        let before = options.server_pid.map(cpu_ns);
        let mut last = (0, 0);
        for _ in 0..options.repeat.max(1) {
            last = post(options, h1, path, body.clone()).await?;
        }
        let cpu_ms = match (options.server_pid, before) {
            (Some(pid), Some(before)) => {
                (cpu_ns(pid) - before) as f64 / 1e6 / options.repeat.max(1) as f64
            }
            _ => f64::NAN,
        };
        worst_cpu = worst_cpu.max(cpu_ms);
        ok &= last.0 == 200;
        println!(
            "| {name} | {path} | {:.1} MiB | {} | {} | {} B | {cpu_ms:.1} ms |",
            body.len() as f64 / 1048576.0,
            if *past_bounds { "yes" } else { "no" },
            last.0,
            last.1
        );
    }
    println!("worst server CPU per hostile request: {worst_cpu:.1} ms (TLS handshake included)");
    // All at once, from `clients` connections.
    let shapes = Arc::new(shapes);
    let mut tasks = Vec::new();
    for first in 0..options.clients {
        let (options, h1, shapes) = (Arc::clone(options), h1.clone(), Arc::clone(&shapes));
        tasks.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            for i in (first..shapes.len() * options.repeat.max(1)).step_by(options.clients) {
                let (_, path, body, _) = &shapes[i % shapes.len()];
                statuses.push(post(&options, &h1, path, body.clone()).await.map(|s| s.0));
            }
            statuses
        }));
    }
    let (mut answered, mut busy, mut failed) = (0, 0, 0);
    for task in tasks {
        for status in task.await.map_err(|e| e.to_string())? {
            match status {
                Ok(200) => answered += 1,
                Ok(503) => busy += 1,
                _ => failed += 1,
            }
        }
    }
    println!(
        "hostile bodies from {} connections at once: {answered} answered 200, {busy} refused 503 (body budget full), {failed} failed",
        options.clients
    );
    if let Some(pid) = options.server_pid {
        let kib = peak_kib(pid);
        println!(
            "server peak memory (VmHWM) after the hostile bodies: {} MiB ({kib} KiB)",
            kib / 1024
        );
    }
    Ok(ok && failed == 0)
}

async fn run(options: Options) -> Result<bool, String> {
    let h1 = connector(&options.ca, &[b"http/1.1"])?;
    let h2 = connector(&options.ca, &[b"h2"])?;
    let options = Arc::new(options);
    let shapes_ok = if options.repeat > 0 {
        shapes(&options, &h1).await?
    } else {
        true
    };
    let mut held: Vec<Box<dyn Send>> = Vec::new();
    let mut tasks = Vec::new();
    let (mut idle, mut preface, mut failed) = (0, 0, 0);

    for _ in 0..options.idle {
        match connect(&options, &h1).await {
            Ok(tls) => {
                held.push(Box::new(tls));
                idle += 1;
            }
            Err(_) => failed += 1,
        }
    }
    for _ in 0..options.preface {
        match connect(&options, &h2).await {
            Ok(mut tls) => {
                let _ = tls.write_all(H2_PREFACE).await;
                held.push(Box::new(tls));
                preface += 1;
            }
            Err(_) => failed += 1,
        }
    }
    // Stalled HTTP/1.1 bodies: all but the last byte.
    let limit = options.body_limit;
    for _ in 0..options.bodies {
        let Ok(mut tls) = connect(&options, &h1).await else {
            failed += 1;
            continue;
        };
        tasks.push(tokio::spawn(async move {
            let head = format!(
                "POST /validate HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                limit - 1
            );
            let _ = tls.write_all(head.as_bytes()).await;
            let chunk = vec![b' '; 64 * 1024];
            let mut sent = 0;
            while sent + chunk.len() < limit - 1 {
                if tls.write_all(&chunk).await.is_err() {
                    return;
                }
                sent += chunk.len();
            }
            std::future::pending::<()>().await;
        }));
    }
    // One HTTP/2 connection with many streams of 1 MiB, declared just under
    // the limit, then stalled.
    if options.streams > 0 {
        let tls = connect(&options, &h2).await?;
        let (sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
                .await
                .map_err(|e| e.to_string())?;
        tasks.push(tokio::spawn(async move {
            let _ = connection.await;
        }));
        for _ in 0..options.streams {
            let (tx, rx) = mpsc::channel::<Bytes>(1);
            let request = hyper::Request::post(format!("https://{}/validate", options.server_name))
                .header("content-length", limit - 1)
                .body(ChannelBody(rx))
                .map_err(|e| e.to_string())?;
            let mut sender = sender.clone();
            tasks.push(tokio::spawn(async move {
                if sender.ready().await.is_ok() {
                    let _ = sender.send_request(request).await;
                }
            }));
            tasks.push(tokio::spawn(async move {
                for _ in 0..16 {
                    if tx.send(Bytes::from(vec![b' '; 64 * 1024])).await.is_err() {
                        return;
                    }
                }
                std::future::pending::<()>().await;
            }));
        }
    }
    println!(
        "holding: {idle} idle TLS connections, {preface} HTTP/2 preface-only, {} stalled HTTP/1.1 bodies of {} bytes, {} HTTP/2 streams; {failed} connections failed",
        options.bodies,
        limit - 1,
        options.streams
    );
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Reviews on fresh connections, one at a time.
    let mut latencies = Vec::new();
    let mut errors = Vec::new();
    for _ in 0..options.reviews {
        let started = Instant::now();
        let outcome = async {
            let tls = connect(&options, &h1).await?;
            let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
                .await
                .map_err(|e| e.to_string())?;
            tokio::spawn(connection);
            let request = hyper::Request::post("/imagereview")
                .header("host", options.server_name.as_str())
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from_static(REVIEW.as_bytes())))
                .map_err(|e| e.to_string())?;
            image_policy_benches::https::send_expecting(&mut sender, request, 200).await
        };
        match tokio::time::timeout(Duration::from_secs(10), outcome).await {
            Ok(Ok(())) => latencies.push(started.elapsed()),
            Ok(Err(err)) => errors.push(err),
            Err(_) => errors.push("no answer within 10 s".to_owned()),
        }
    }
    latencies.sort_unstable();
    let ms = |d: Option<&Duration>| d.map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0);
    println!(
        "reviews answered 200: {} of {}  latency ms (new connection each): p50 {:.2}  max {:.2}",
        latencies.len(),
        options.reviews,
        ms(latencies.get(latencies.len() / 2)),
        ms(latencies.last())
    );
    if let Some(err) = errors.first() {
        println!("first error: {err}");
    }
    for task in tasks {
        task.abort();
    }
    drop(held);
    Ok(errors.is_empty() && shapes_ok)
}

fn main() -> ExitCode {
    let options = match parse_options() {
        Ok(options) => options,
        Err(err) => {
            eprintln!("hostile: {err}");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match runtime.block_on(run(options)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("hostile: {err}");
            ExitCode::from(2)
        }
    }
}
