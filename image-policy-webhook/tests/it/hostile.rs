//! Hostile clients: connections that send nothing, too many connections,
//! stalled bodies, huge reviews and bodies at the size limit, over real TLS
//! on loopback. Each wait is bounded by a guard of many times the server's
//! bound, so that a regression fails rather than hangs; nothing asserts a
//! duration.

use crate::child::ChildServer;
use crate::support::{BoxBody, Options, Running, full};
use http_body_util::BodyExt;
use hyper::body::{Bytes, Frame};
use serde_json::{Value, json};
use std::convert::Infallible;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// The longest any step below may take before the test fails.
const GUARD: Duration = Duration::from_secs(20);

/// The HTTP/2 connection preface and an empty SETTINGS frame.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

const ALLOWED_REVIEW: &str = r#"{"apiVersion":"imagepolicy.k8s.io/v1alpha1","kind":"ImageReview","spec":{"containers":[{"image":"registry.my.com/a:1"}],"namespace":"default"}}"#;

async fn guard<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(GUARD, future)
        .await
        .unwrap_or_else(|_| panic!("{what}: not done within {GUARD:?}"))
}

/// Reads until the server closes the connection (EOF or a reset).
async fn read_until_closed(stream: &mut (impl tokio::io::AsyncRead + Unpin)) {
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

fn idle_options() -> Options {
    Options {
        idle_timeout: Some(Duration::from_millis(300)),
        ..Options::default()
    }
}

#[tokio::test]
async fn a_tls_connection_that_sends_nothing_is_closed_after_the_idle_timeout() {
    let server = Running::start(idle_options()).await;
    let mut tls = server.client().connect_raw(server.addr).await.unwrap();
    guard("idle TLS connection closed", read_until_closed(&mut tls)).await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let server = Running::start(idle_options()).await;
    let mut tls = server.client().connect_raw(server.addr).await.unwrap();
    tls.write_all(b"GET /healthz HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .unwrap();
    // The answer, then the close.
    let mut seen = Vec::new();
    guard("keep-alive connection closed", tls.read_to_end(&mut seen))
        .await
        .ok();
    assert!(seen.starts_with(b"HTTP/1.1 200"), "{seen:?}");
}

#[tokio::test]
async fn an_http2_connection_that_sends_only_its_preface_is_closed_after_the_idle_timeout() {
    let server = Running::start(idle_options()).await;
    let mut tls = server.client().connect_raw_h2(server.addr).await.unwrap();
    tls.write_all(H2_PREFACE).await.unwrap();
    guard(
        "preface-only HTTP/2 connection closed",
        read_until_closed(&mut tls),
    )
    .await;
}

#[tokio::test]
async fn at_the_connection_cap_the_least_recently_active_idle_connection_is_closed_for_a_review() {
    let server = Running::start(Options {
        max_connections: Some(8),
        ..Options::default()
    })
    .await;
    let client = server.client();
    let mut idle = Vec::new();
    for _ in 0..8 {
        idle.push(client.connect_raw(server.addr).await.unwrap());
    }
    // A ninth connection carries a review: answered.
    let mut conn = guard("connect at the cap", client.connect(server.addr))
        .await
        .unwrap();
    let response = guard(
        "review at the cap",
        conn.post("/imagereview", ALLOWED_REVIEW),
    )
    .await
    .unwrap();
    assert_eq!(response.status, 200, "{}", response.body);
    // The first idle connection made room.
    guard(
        "oldest idle connection closed",
        read_until_closed(&mut idle[0]),
    )
    .await;
}

#[tokio::test]
async fn a_review_of_thirty_thousand_denied_containers_gets_a_bounded_answer_and_log_line() {
    let server = ChildServer::start(None);
    let review = |n: usize| {
        let containers: Vec<Value> = (0..n)
            .map(|i| json!({"image": format!("evil.example/payload-{i}:1")}))
            .collect();
        json!({
            "apiVersion": "imagepolicy.k8s.io/v1alpha1",
            "kind": "ImageReview",
            "spec": {"containers": containers, "namespace": "default"},
        })
        .to_string()
    };
    let client = server.client();
    let mut conn = client.connect(server.addr).await.unwrap();
    // Past the bound: denied, not judged.
    let huge = review(30_000);
    assert!(huge.len() > 1_000_000);
    let response = guard("huge review", conn.post("/imagereview", huge))
        .await
        .unwrap();
    assert_eq!(response.status, 200);
    assert!(response.body.len() < 1024, "{} bytes", response.body.len());
    let answer: Value = serde_json::from_str(&response.body).unwrap();
    assert_eq!(answer["status"]["allowed"], false);
    assert_eq!(
        answer["status"]["reason"],
        "the ImageReview has more than 1024 containers, more than is judged"
    );
    let line = server.decision_log_line();
    assert!(line.contains("more than 1024 containers"), "{line}");

    // At the bound: every image judged, a few KiB named.
    let response = guard("large review", conn.post("/imagereview", review(1024)))
        .await
        .unwrap();
    assert_eq!(response.status, 200);
    assert!(
        response.body.len() < 8 * 1024,
        "{} bytes",
        response.body.len()
    );
    let answer: Value = serde_json::from_str(&response.body).unwrap();
    assert_eq!(answer["status"]["allowed"], false);
    let reason = answer["status"]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("pod in namespace default: 1024 of 1024 images denied: container 0 image \"evil.example/payload-0:1\""),
        "{reason}"
    );
    assert!(
        reason.ends_with("; and 1014 more denied images"),
        "{reason}"
    );
    let denied = answer["status"]["auditAnnotations"]["denied-images"]
        .as_str()
        .unwrap();
    assert!(denied.ends_with(", and 1014 more"), "{denied}");
}

/// An AdmissionReview UPDATE of the kubectl-made Deployment fixture, its
/// object and oldObject each padded with an annotation to `each` bytes.
fn update_review(each: usize) -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testdata/k8s/objects/deployment.json"
    );
    let mut object: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let size = object.to_string().len();
    object["metadata"]["annotations"]["example.com/padding"] =
        Value::String("x".repeat(each.saturating_sub(size + 40)));
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "7f0b2f2e-5c1a-4f57-9a0e-2d3c4b5a6f70",
            "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
            "resource": {"group": "apps", "version": "v1", "resource": "deployments"},
            "name": object["metadata"]["name"],
            "namespace": object["metadata"]["namespace"],
            "operation": "UPDATE",
            "userInfo": {"username": "kubernetes-admin"},
            "object": object,
            "oldObject": object,
            "dryRun": false,
        }
    })
    .to_string()
}

#[tokio::test]
async fn an_update_of_two_3_mib_objects_is_admitted_and_an_8_mib_body_gets_413_over_http1_and_http2()
 {
    let server = Running::start(Options::default()).await;
    let client = server.client();
    let update = update_review(3 * 1024 * 1024);
    assert!(update.len() > 6 * 1024 * 1024, "{}", update.len());
    let mut conn = client.connect(server.addr).await.unwrap();
    let response = guard("6 MiB update", conn.post("/validate", update.clone()))
        .await
        .unwrap();
    assert_eq!(response.status, 200, "{}", response.body);
    let answer: Value = serde_json::from_str(&response.body).unwrap();
    assert_eq!(answer["response"]["allowed"], true, "{}", response.body);

    let mut h2 = client.connect_h2(server.addr).await.unwrap();
    let response = guard(
        "6 MiB update over HTTP/2",
        h2.post("/validate", full(update)),
    )
    .await
    .unwrap();
    assert_eq!(response.status, 200, "{}", response.body);

    let too_large = vec![b' '; 8 * 1024 * 1024];
    let mut conn = client.connect(server.addr).await.unwrap();
    let response = guard("8 MiB body", conn.post("/validate", too_large.clone()))
        .await
        .unwrap();
    assert_eq!(response.status, 413, "{}", response.body);
    assert!(response.body.contains("7340032 bytes"), "{}", response.body);

    // Over HTTP/2, a response (not a stream reset), whether the length is
    // declared or not.
    let response = guard(
        "8 MiB body over HTTP/2",
        h2.post("/validate", full(too_large)),
    )
    .await
    .expect("a 413 response, not a reset");
    assert_eq!(response.status, 413, "{}", response.body);
    let (tx, body) = streamed();
    let sending = tokio::spawn(async move {
        for _ in 0..8 {
            if tx.send(Bytes::from(vec![b' '; 1024 * 1024])).await.is_err() {
                return;
            }
        }
    });
    let response = guard("8 MiB streamed over HTTP/2", h2.post("/validate", body))
        .await
        .expect("a 413 response, not a reset");
    assert_eq!(response.status, 413, "{}", response.body);
    sending.abort();
    // The connection still carries reviews.
    let response = guard(
        "review after 413s",
        h2.post("/imagereview", full(ALLOWED_REVIEW)),
    )
    .await
    .unwrap();
    assert_eq!(response.status, 200, "{}", response.body);
}

/// A body of the chunks sent on the channel, which ends when the sender is
/// dropped (and stalls while it is kept).
fn streamed() -> (mpsc::Sender<Bytes>, BoxBody) {
    let (tx, rx) = mpsc::channel::<Bytes>(1);
    (tx, BodyExt::boxed(ChannelBody(rx)))
}

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

#[test]
fn with_the_file_limit_reached_by_idle_connections_a_review_is_still_answered() {
    // 128 descriptors: the default cap is 64 connections, and 300 idle ones
    // are tried, in the handshake and after it.
    let mut server = ChildServer::start(Some(128));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = server.client();
        let mut held = Vec::new();
        for i in 0..300 {
            if i % 3 == 0 {
                // Mid-handshake: TCP only.
                if let Ok(tcp) = tokio::net::TcpStream::connect(server.addr).await {
                    held.push(Box::new(tcp) as Box<dyn std::any::Any>);
                }
            } else if let Ok(Ok(tls)) =
                tokio::time::timeout(Duration::from_secs(2), client.connect_raw(server.addr)).await
            {
                held.push(Box::new(tls));
            }
        }
        for attempt in 0..2 {
            let mut conn = guard(
                "connect with the file limit reached",
                client.connect(server.addr),
            )
            .await
            .unwrap_or_else(|e| panic!("attempt {attempt}: {e}"));
            let response = guard(
                "review with the file limit reached",
                conn.post("/imagereview", ALLOWED_REVIEW),
            )
            .await
            .unwrap();
            assert_eq!(response.status, 200, "{}", response.body);
        }
        drop(held);
    });
    server.stop();
}

#[test]
fn stalled_bodies_stay_within_the_memory_budget_and_reviews_are_still_answered() {
    let mut server = ChildServer::start(None);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let peak = runtime.block_on(async {
        let client = server.client();
        // Just under 3 MiB (the limit before it was 7 MiB), so that every
        // body is read, never refused for its declared length.
        let limit = 3 * 1024 * 1024;
        let mut stalled = Vec::new();
        // 40 HTTP/1.1 bodies, the last bytes never sent.
        for _ in 0..40 {
            let Ok(mut tls) = client.connect_raw(server.addr).await else {
                continue;
            };
            let head = format!(
                "POST /validate HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                limit - 1
            );
            stalled.push(tokio::spawn(async move {
                let chunk = vec![b' '; 64 * 1024];
                let _ = tls.write_all(head.as_bytes()).await;
                for _ in 0..(limit - 64 * 1024) / chunk.len() {
                    if tls.write_all(&chunk).await.is_err() {
                        return;
                    }
                }
                // Keep the connection, say nothing more.
                let mut buf = [0u8; 1024];
                while let Ok(n) = tls.read(&mut buf).await {
                    if n == 0 {
                        return;
                    }
                }
            }));
        }
        // One HTTP/2 connection with 100 streams of 1 MiB each, half of them
        // declared just under the limit, then stalled.
        let h2 = client.connect_h2(server.addr).await.unwrap();
        let mut senders = Vec::new();
        for i in 0..100 {
            let (tx, body) = streamed();
            let mut request = hyper::Request::builder()
                .method("POST")
                .uri("https://localhost/validate");
            if i % 2 == 0 {
                request = request.header("content-length", limit - 1);
            }
            let request = request.body(body).unwrap();
            let sender = h2.sender.clone();
            stalled.push(tokio::spawn(async move {
                let mut sender = sender;
                if sender.ready().await.is_err() {
                    return;
                }
                let _ = sender.send_request(request).await;
            }));
            senders.push(tokio::spawn(async move {
                for _ in 0..16 {
                    if tx.send(Bytes::from(vec![b' '; 64 * 1024])).await.is_err() {
                        return;
                    }
                }
                std::future::pending::<()>().await;
            }));
        }
        // Let the uploads arrive.
        tokio::time::sleep(Duration::from_secs(3)).await;

        // Reviews are still answered, over HTTP/1.1 and HTTP/2.
        let mut conn = guard("connect under stalled bodies", client.connect(server.addr))
            .await
            .unwrap();
        let response = guard("review under stalled bodies", conn.post("/imagereview", ALLOWED_REVIEW))
            .await
            .unwrap();
        assert_eq!(response.status, 200, "{}", response.body);
        let mut h2b = client.connect_h2(server.addr).await.unwrap();
        let response = guard("HTTP/2 review under stalled bodies", h2b.post("/imagereview", full(ALLOWED_REVIEW)))
            .await
            .unwrap();
        assert_eq!(response.status, 200, "{}", response.body);
        let peak = server.peak_memory_kib();
        for task in stalled.into_iter().chain(senders) {
            task.abort();
        }
        drop(h2);
        peak
    });
    eprintln!(
        "server peak memory (VmHWM) under stalled bodies: {} KiB",
        peak
    );
    // The Deployment's limit is 128 MiB.
    assert!(peak < 128 * 1024, "peak memory {peak} KiB");
    server.stop();
}

/// The hostile body shapes (`hostile_bodies.rs`: hundreds of thousands of
/// tiny containers, annotations or volumes, strings of megabytes, escaped
/// strings, deep nesting, millions of tokens, the largest `/mutate` answer,
/// UPDATEs of distinct images) on their endpoints, six at a time, against
/// the server in a process of its own: every answer is 200 (or 503 when the
/// body budget is full) and within `MAX_REPLY_BYTES`, and the server's peak
/// resident memory (VmHWM) stays under 96 MiB, the Deployment's 128 MiB
/// limit less headroom. `IMAGE_POLICY_HOSTILE_ROUNDS` sends every shape
/// that many times (default 1).
#[test]
fn hostile_bodies_on_every_endpoint_stay_under_96_mib() {
    // The test measures memory, not the request timeout: a loaded CI
    // machine may take more than the default 10 s to send six 7 MiB bodies
    // through a debug build's TLS at once (a 408 then, not a memory figure).
    let mut server = ChildServer::start_with_timeouts(None, None, Some(120_000));
    let rounds: usize = std::env::var("IMAGE_POLICY_HOSTILE_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    let shapes = std::sync::Arc::new(crate::hostile_bodies::shapes(
        image_policy_webhook::handler::DEFAULT_BODY_LIMIT,
    ));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    const CLIENTS: usize = 6;
    let peak = runtime.block_on(async {
        let mut tasks = Vec::new();
        for first in 0..CLIENTS {
            let client = server.client();
            let addr = server.addr;
            let shapes = std::sync::Arc::clone(&shapes);
            tasks.push(tokio::spawn(async move {
                let mut answered = 0;
                for i in (first..shapes.len() * rounds).step_by(CLIENTS) {
                    let shape = &shapes[i % shapes.len()];
                    let case = format!("{} on {}", shape.name, shape.path);
                    // A connection each: a refusal closes an HTTP/1.1 one.
                    let mut conn = guard(&case, client.connect(addr)).await.unwrap();
                    let response = guard(&case, conn.post(shape.path, shape.body.clone()))
                        .await
                        .unwrap();
                    assert!(
                        matches!(response.status, 200 | 503),
                        "{case}: {} {}",
                        response.status,
                        response.body
                    );
                    assert!(
                        response.body.len() <= image_policy_webhook::handler::MAX_REPLY_BYTES,
                        "{case}: {} bytes",
                        response.body.len()
                    );
                    if response.status == 200 {
                        answered += 1;
                        if shape.past_bounds && shape.path != "/mutate" {
                            assert!(response.body.contains(r#""allowed":false"#), "{case}");
                        }
                    }
                }
                answered
            }));
        }
        let mut answered = 0;
        for task in tasks {
            answered += task.await.unwrap();
        }
        eprintln!(
            "{answered} of {} hostile bodies answered 200",
            shapes.len() * rounds
        );
        assert!(answered > 0);
        server.peak_memory_kib()
    });
    eprintln!("server peak memory (VmHWM) under hostile bodies: {peak} KiB");
    assert!(peak < 96 * 1024, "peak memory {peak} KiB");
    server.stop();
}

/// A client that sends `/mutate` reviews with the largest answers and never
/// reads: its connection is closed once an answer has made no progress for
/// the write timeout (500 ms here), so it cannot pin answers.
#[test]
fn a_client_that_never_reads_its_answers_is_closed_after_the_write_timeout() {
    let mut server = ChildServer::start_with(None, Some(500));
    let body = crate::hostile_bodies::shapes(image_policy_webhook::handler::DEFAULT_BODY_LIMIT)
        .into_iter()
        .find(|s| s.name == "rewritten-images" && s.path == "/mutate")
        .unwrap()
        .body;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = server.client();
        let tls = client
            .connect_raw_small_window(server.addr, 64 * 1024)
            .await
            .unwrap();
        let (mut reader, mut writer) = tokio::io::split(tls);
        // Enough pipelined reviews that their answers (hundreds of KiB each)
        // fill the socket buffers of both sides (the client's kept small)
        // many times over.
        const REVIEWS: usize = 60;
        let request = format!(
            "POST /mutate HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        let writing = tokio::spawn(async move {
            for _ in 0..REVIEWS {
                if writer.write_all(request.as_bytes()).await.is_err() {
                    return;
                }
            }
            std::future::pending::<()>().await;
        });
        // Read nothing for a while, then everything there is.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let mut received = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), async {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match reader.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => received.extend_from_slice(&buf[..n]),
                }
            }
        })
        .await;
        writing.abort();
        assert!(read.is_ok(), "the connection is still open");
        let answers = received.windows(12).filter(|w| w == b"HTTP/1.1 200").count();
        assert!(answers > 0, "no answer at all");
        assert!(answers < REVIEWS, "every answer was sent: {answers}");
    });
    server.stop();
}
