//! The HTTP surface: bad inputs, health, readiness, metrics, plain HTTP, the
//! metrics listener and graceful shutdown.

use crate::support::{Conn, Options, Running, metric};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn bad_inputs_get_precise_errors_and_the_server_keeps_serving() {
    let server = Running::start(Options {
        body_limit: Some(64 * 1024),
        ..Options::default()
    })
    .await;
    let cases: [(&str, &str, Vec<u8>, u16); 6] = [
        ("POST", "/validate", b"not json".to_vec(), 400),
        (
            "POST",
            "/imagereview",
            b"{\"apiVersion\":\"v1\",\"kind\":\"Pod\"}".to_vec(),
            400,
        ),
        (
            "POST",
            "/validate",
            b"{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{}}"
                .to_vec(),
            400,
        ),
        ("POST", "/validate", vec![b' '; 64 * 1024 + 1], 413),
        ("GET", "/validate", Vec::new(), 405),
        ("GET", "/nothing-here", Vec::new(), 404),
    ];
    for (method, path, body, status) in cases {
        // A new connection each: after a 413 the server closes the connection
        // rather than read the rest of the body.
        let mut conn = server.client().connect(server.addr).await.unwrap();
        let response = conn.send(method, path, body.into()).await.unwrap();
        assert_eq!(
            response.status, status,
            "{method} {path}: {}",
            response.body
        );
    }
    // Still serving on a new connection, and every refusal was counted.
    let metrics = server.metrics().await;
    assert_eq!(
        metric(
            &metrics,
            r#"image_policy_requests_total{endpoint="validate",status="413"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(
            &metrics,
            r#"image_policy_decisions_total{endpoint="validate",result="invalid"}"#
        ),
        Some(3.0)
    );
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_before_it_is_read() {
    // Content-Length says more than the limit: refused without sending it all.
    let server = Running::start(Options {
        body_limit: Some(1024),
        ..Options::default()
    })
    .await;
    let mut tls = server.client().connect_raw(server.addr).await.unwrap();
    tls.write_all(
        b"POST /validate HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: 1000000000\r\n\r\n{",
    )
    .await
    .unwrap();
    let mut head = [0u8; 12];
    tls.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 413");
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let server = Running::start(Options::default()).await;
    let mut conn = server.client().connect(server.addr).await.unwrap();
    assert_eq!(conn.get("/healthz").await.unwrap().status, 200);
    assert_eq!(conn.get("/readyz").await.unwrap().status, 200);
    let metrics = conn.get("/metrics").await.unwrap();
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .content_type
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    for series in [
        r#"image_policy_policy_reloads_total{result="success"} 1"#,
        r#"image_policy_policy_reloads_total{result="failure"} 0"#,
        r#"image_policy_certificate_reloads_total{result="success"} 1"#,
        r#"image_policy_request_duration_seconds_count{endpoint="imagereview"} 0"#,
        "# TYPE image_policy_request_duration_seconds histogram",
    ] {
        assert!(
            metrics.body.contains(series),
            "{series} missing in\n{}",
            metrics.body
        );
    }
    assert!(
        metrics
            .body
            .contains("image_policy_policy_info{hash=\"sha256:"),
        "{}",
        metrics.body
    );
}

#[tokio::test]
async fn insecure_http_and_the_metrics_listener_speak_plain_http() {
    let server = Running::start(Options {
        insecure_http: true,
        metrics_listen: true,
        ..Options::default()
    })
    .await;
    let mut main = Conn::plain(server.addr).await.unwrap();
    assert_eq!(main.get("/healthz").await.unwrap().status, 200);
    let mut side = Conn::plain(server.metrics_addr.unwrap()).await.unwrap();
    assert_eq!(side.get("/readyz").await.unwrap().status, 200);
    assert!(
        side.get("/metrics")
            .await
            .unwrap()
            .body
            .contains("image_policy_requests_total")
    );
    // Reviews only on the main listener.
    assert_eq!(side.post("/imagereview", "{}").await.unwrap().status, 404);
}

#[tokio::test]
async fn shutdown_finishes_the_request_in_flight_and_stops_accepting() {
    let mut server = Running::start(Options::default()).await;
    let body = br#"{"apiVersion":"imagepolicy.k8s.io/v1alpha1","kind":"ImageReview","spec":{"containers":[{"image":"registry.my.com/a:1"}]}}"#;
    let mut tls = server.client().connect_raw(server.addr).await.unwrap();
    let head = format!(
        "POST /imagereview HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    tls.write_all(head.as_bytes()).await.unwrap();
    tls.write_all(&body[..10]).await.unwrap();
    tls.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    server.begin_shutdown();
    // The listener closes: new connections are refused.
    let addr = server.addr;
    crate::support::eventually(|| async move {
        tokio::net::TcpStream::connect(addr)
            .await
            .is_err()
            .then_some(())
    })
    .await;

    // The request in flight is answered.
    tls.write_all(&body[10..]).await.unwrap();
    tls.flush().await.unwrap();
    let mut response = Vec::new();
    let _ = tls.read_to_end(&mut response).await;
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    server.shutdown().await.unwrap();
}
