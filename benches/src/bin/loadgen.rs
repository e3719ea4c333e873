//! A small load generator for the admission server: N keep-alive HTTP/1.1
//! connections over TLS (or plain HTTP), each sending the next request as
//! soon as the previous answer arrives, for a fixed duration. Reports
//! requests per second, latency percentiles and errors (any transport error
//! or a status other than the expected one).
//!
//! ```text
//! loadgen --addr 127.0.0.1:8443 --ca ca.crt [--server-name localhost]
//!         [--path /imagereview] [--body FILE] [--expect-status 200]
//!         [--connections 32] [--duration 10] [--warmup 2] [--threads 1] [--plain]
//! ```
//!
//! Without `--body`, the body is the ImageReview of the README's seed case
//! (`registry.my.com/prometheus:2.6.1`).

use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use image_policy_benches::https::Sender;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

const SEED_REVIEW: &str = r#"{"apiVersion":"imagepolicy.k8s.io/v1alpha1","kind":"ImageReview","spec":{"containers":[{"image":"registry.my.com/prometheus:2.6.1"}],"namespace":"default"}}"#;

struct Options {
    addr: SocketAddr,
    ca: Option<String>,
    server_name: String,
    path: String,
    body: Bytes,
    expect_status: u16,
    connections: usize,
    duration: Duration,
    warmup: Duration,
    threads: usize,
    plain: bool,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        addr: "127.0.0.1:8443".parse().unwrap(),
        ca: None,
        server_name: "localhost".to_owned(),
        path: "/imagereview".to_owned(),
        body: Bytes::from_static(SEED_REVIEW.as_bytes()),
        expect_status: 200,
        connections: 32,
        duration: Duration::from_secs(10),
        warmup: Duration::from_secs(2),
        threads: 1,
        plain: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--plain" {
            options.plain = true;
            continue;
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--addr" => options.addr = value.parse().map_err(|e| bad(&e))?,
            "--ca" => options.ca = Some(value),
            "--server-name" => options.server_name = value,
            "--path" => options.path = value,
            "--body" => options.body = std::fs::read(&value).map_err(|e| bad(&e))?.into(),
            "--expect-status" => options.expect_status = value.parse().map_err(|e| bad(&e))?,
            "--connections" => options.connections = value.parse().map_err(|e| bad(&e))?,
            "--duration" => {
                options.duration = Duration::from_secs_f64(value.parse().map_err(|e| bad(&e))?)
            }
            "--warmup" => {
                options.warmup = Duration::from_secs_f64(value.parse().map_err(|e| bad(&e))?)
            }
            "--threads" => options.threads = value.parse().map_err(|e| bad(&e))?,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if !options.plain && options.ca.is_none() {
        return Err("--ca FILE is required for TLS (or give --plain)".to_owned());
    }
    Ok(options)
}

async fn connect(
    options: &Options,
    tls: Option<&tokio_rustls::TlsConnector>,
) -> Result<Sender, String> {
    let tcp = TcpStream::connect(options.addr)
        .await
        .map_err(|e| format!("connect {}: {e}", options.addr))?;
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    let (sender, connection) = match tls {
        Some(connector) => {
            let name =
                ServerName::try_from(options.server_name.clone()).map_err(|e| e.to_string())?;
            let stream = connector
                .connect(name, tcp)
                .await
                .map_err(|e| format!("TLS: {e}"))?;
            let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| e.to_string())?;
            tokio::spawn(connection);
            return Ok(sender);
        }
        None => hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(|e| e.to_string())?,
    };
    tokio::spawn(connection);
    Ok(sender)
}

/// What one connection measured.
#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    errors: u64,
    first_error: Option<String>,
}

async fn drive(
    mut sender: Sender,
    options: Arc<Options>,
    measuring: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) -> Tally {
    let mut tally = Tally::default();
    while !stop.load(Ordering::Relaxed) {
        let request = hyper::Request::post(options.path.as_str())
            .header("host", options.server_name.as_str())
            .header("content-type", "application/json")
            .body(Full::new(options.body.clone()))
            .expect("a valid request");
        let started = Instant::now();
        let outcome = async {
            sender.ready().await.map_err(|e| e.to_string())?;
            image_policy_benches::https::send_expecting(&mut sender, request, options.expect_status)
                .await
        }
        .await;
        if !measuring.load(Ordering::Relaxed) {
            continue;
        }
        match outcome {
            Ok(()) => tally
                .latencies_us
                .push(u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX)),
            Err(err) => {
                tally.errors += 1;
                tally.first_error.get_or_insert(err);
                if sender.is_closed() {
                    break;
                }
            }
        }
    }
    tally
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    f64::from(sorted[rank.clamp(1, sorted.len()) - 1]) / 1000.0
}

async fn run(options: Options) -> Result<bool, String> {
    let connector = match &options.ca {
        None => None,
        Some(path) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(path).map_err(|e| format!("{path}: {e}"))? {
                roots
                    .add(cert.map_err(|e| format!("{path}: {e}"))?)
                    .map_err(|e| format!("{path}: {e}"))?;
            }
            let config = rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
            Some(tokio_rustls::TlsConnector::from(Arc::new(config)))
        }
    };
    let options = Arc::new(options);
    let mut senders = Vec::with_capacity(options.connections);
    for _ in 0..options.connections {
        senders.push(connect(&options, connector.as_ref()).await?);
    }
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = senders
        .into_iter()
        .map(|sender| {
            tokio::spawn(drive(
                sender,
                Arc::clone(&options),
                Arc::clone(&measuring),
                Arc::clone(&stop),
            ))
        })
        .collect();
    tokio::time::sleep(options.warmup).await;
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(options.duration).await;
    measuring.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);

    let mut latencies = Vec::new();
    let mut errors = 0;
    let mut first_error = None;
    for task in tasks {
        let tally = task.await.map_err(|e| e.to_string())?;
        latencies.extend(tally.latencies_us);
        errors += tally.errors;
        first_error = first_error.or(tally.first_error);
    }
    latencies.sort_unstable();
    let rps = latencies.len() as f64 / elapsed.as_secs_f64();
    println!(
        "{} {}{} over {} keep-alive connections for {:.1} s",
        options.path,
        if options.ca.is_some() {
            "HTTPS "
        } else {
            "HTTP "
        },
        options.addr,
        options.connections,
        elapsed.as_secs_f64()
    );
    println!("requests: {}  errors: {errors}", latencies.len());
    println!("requests/s: {rps:.0}");
    println!(
        "latency ms: p50 {:.3}  p90 {:.3}  p99 {:.3}  max {:.3}",
        percentile(&latencies, 50.0),
        percentile(&latencies, 90.0),
        percentile(&latencies, 99.0),
        percentile(&latencies, 100.0)
    );
    if let Some(err) = first_error {
        println!("first error: {err}");
    }
    Ok(errors == 0 && !latencies.is_empty())
}

fn main() -> ExitCode {
    let options = match parse_options() {
        Ok(options) => options,
        Err(err) => {
            eprintln!("loadgen: {err}");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(options.threads.max(1))
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match runtime.block_on(run(options)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("loadgen: {err}");
            ExitCode::from(2)
        }
    }
}
