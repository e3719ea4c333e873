//! TLS: verification, mutual TLS, and certificate rotation by `..data`
//! symlink swap while requests are in flight.

use crate::support::{Client, Options, Running, TestCa, eventually, metric};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

fn der_of(pem: &str) -> Vec<u8> {
    rustls_pemfile::certs(&mut pem.as_bytes())
        .next()
        .unwrap()
        .unwrap()
        .as_ref()
        .to_vec()
}

#[tokio::test]
async fn a_client_that_does_not_trust_the_ca_cannot_connect() {
    let server = Running::start(Options::default()).await;
    let stranger = TestCa::new("another CA");
    let err = Client::new(&stranger.pem(), None)
        .connect(server.addr)
        .await
        .err()
        .expect("the certificate must not verify");
    assert!(err.to_string().contains("certificate"), "{err}");
}

#[tokio::test]
async fn mutual_tls_requires_a_client_certificate_from_the_client_ca() {
    let server = Running::start(Options {
        client_ca: true,
        ..Options::default()
    })
    .await;
    let api_server = server.ca.client("kube-apiserver");
    let mut conn = Client::new(&server.ca.pem(), Some(&api_server))
        .connect(server.addr)
        .await
        .unwrap();
    assert_eq!(conn.get("/healthz").await.unwrap().status, 200);

    // No certificate: TLS 1.3 completes the client's side of the handshake,
    // then the server's alert ends the connection before any answer.
    let refused = match server.client().connect(server.addr).await {
        Err(_) => true,
        Ok(mut conn) => conn.get("/healthz").await.is_err(),
    };
    assert!(refused, "a client without a certificate must be refused");

    // A certificate from another CA.
    let stranger = TestCa::new("another CA").client("intruder");
    let refused = match Client::new(&server.ca.pem(), Some(&stranger))
        .connect(server.addr)
        .await
    {
        Err(_) => true,
        Ok(mut conn) => conn.get("/healthz").await.is_err(),
    };
    assert!(
        refused,
        "a client certificate from another CA must be refused"
    );
}

#[tokio::test]
async fn certificate_rotation_by_symlink_swap_drops_no_request() {
    let server = Running::start(Options::default()).await;
    let first = server.client().connect(server.addr).await.unwrap();
    let old_der = first.server_cert.clone().unwrap();

    // Load: keep-alive connections and fresh connections, all the time.
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for worker in 0..4 {
        let client = server.client();
        let addr = server.addr;
        let stop = Arc::clone(&stop);
        let answered = Arc::clone(&answered);
        workers.push(tokio::spawn(async move {
            let mut conn = client.connect(addr).await.unwrap();
            while !stop.load(Ordering::Relaxed) {
                if worker % 2 == 1 {
                    conn = client.connect(addr).await.expect("new connection failed");
                }
                let response = conn.get("/healthz").await.expect("request failed");
                assert_eq!(response.status, 200);
                answered.fetch_add(1, Ordering::Relaxed);
            }
            conn
        }));
    }

    let rotated = server.ca.server("serving-2");
    server
        .tls
        .update(&[("tls.crt", &rotated.cert), ("tls.key", &rotated.key)]);
    let new_der = der_of(&rotated.cert);
    let client = server.client();
    eventually(|| {
        let client = client.clone();
        let new_der = new_der.clone();
        async move {
            let conn = client.connect(server.addr).await.unwrap();
            (conn.server_cert.as_deref() == Some(&new_der[..])).then_some(())
        }
    })
    .await;

    let before = answered.load(Ordering::Relaxed);
    eventually(|| {
        let answered = Arc::clone(&answered);
        async move { (answered.load(Ordering::Relaxed) > before + 20).then_some(()) }
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        // A keep-alive connection opened before the swap still works.
        let mut conn = worker.await.expect("a worker saw a failure");
        assert_eq!(conn.get("/healthz").await.unwrap().status, 200);
    }
    assert_ne!(old_der, new_der);
    let mut first = first;
    assert_eq!(first.get("/healthz").await.unwrap().status, 200);
    assert_eq!(first.server_cert.as_deref(), Some(&old_der[..]));

    let metrics = server.metrics().await;
    assert_eq!(
        metric(
            &metrics,
            r#"image_policy_certificate_reloads_total{result="success"}"#
        ),
        Some(2.0)
    );
}

#[tokio::test]
async fn a_broken_certificate_update_keeps_the_old_certificate() {
    let server = Running::start(Options::default()).await;
    let old_der = server
        .client()
        .connect(server.addr)
        .await
        .unwrap()
        .server_cert;
    // A key that does not belong to the certificate.
    let a = server.ca.server("a");
    let b = server.ca.server("b");
    server
        .tls
        .update(&[("tls.crt", &a.cert), ("tls.key", &b.key)]);
    let metrics = eventually(|| async {
        let metrics = server.metrics().await;
        (metric(
            &metrics,
            r#"image_policy_certificate_reloads_total{result="failure"}"#,
        ) == Some(1.0))
        .then_some(metrics)
    })
    .await;
    assert_eq!(
        metric(
            &metrics,
            r#"image_policy_certificate_reloads_total{result="success"}"#
        ),
        Some(1.0)
    );
    let conn = server.client().connect(server.addr).await.unwrap();
    assert_eq!(conn.server_cert, old_der);
}
