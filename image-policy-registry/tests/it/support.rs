//! The test CA and a stub HTTPS registry whose answers each test writes.
#![allow(dead_code)]

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use image_policy_registry::{CacheOptions, Client, Options, Resolver};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;

pub use super::fixture::TestCa;

impl TestCa {
    /// Client options trusting this CA only (not the system's roots).
    pub fn options(&self) -> Options {
        let mut options = Options::default();
        options.system_roots = false;
        options.add_ca_pem(self.pem().as_bytes()).unwrap();
        options.request_timeout = Duration::from_secs(5);
        options
    }

    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(self.server_cert.as_bytes())
                .map(|c| c.unwrap())
                .collect();
        let key = PrivateKeyDer::from_pem_slice(self.server_key.as_bytes()).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    }
}

/// What the stub saw of one request.
#[derive(Clone, Debug)]
pub struct Seen {
    pub path: String,
    pub authorization: Option<String>,
    pub accept: Option<String>,
}

/// A stub answer.
pub enum Reply {
    /// Status, headers, body.
    Full(u16, Vec<(&'static str, String)>, Vec<u8>),
    /// A 200 body sent in chunks without a Content-Length, `chunks` of
    /// `chunk` bytes.
    Chunked(usize, usize),
    /// Waits, then answers.
    Slow(Duration, Box<Reply>),
}

type Handler = dyn Fn(&Seen, usize) -> Reply + Send + Sync;

/// An HTTPS (or plain HTTP) server on 127.0.0.1 answering with `handler`
/// (given the request and the count of requests before it).
pub struct Stub {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Stub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Stub {
    pub async fn start(
        tls: Option<tokio_rustls::TlsAcceptor>,
        handler: impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static,
    ) -> Stub {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let count = Arc::new(AtomicUsize::new(0));
        let seen2 = Arc::clone(&seen);
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let handler = Arc::clone(&handler);
                let seen = Arc::clone(&seen2);
                let count = Arc::clone(&count);
                let tls = tls.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let handler = Arc::clone(&handler);
                        let seen = Arc::clone(&seen);
                        let count = Arc::clone(&count);
                        async move {
                            let header = |n: &str| {
                                req.headers()
                                    .get(n)
                                    .and_then(|v| v.to_str().ok())
                                    .map(str::to_owned)
                            };
                            let s = Seen {
                                path: req
                                    .uri()
                                    .path_and_query()
                                    .map_or("/", |p| p.as_str())
                                    .to_owned(),
                                authorization: header("authorization"),
                                accept: header("accept"),
                            };
                            seen.lock().unwrap().push(s.clone());
                            let n = count.fetch_add(1, Ordering::SeqCst);
                            let reply = handler(&s, n);
                            Ok::<_, Infallible>(respond(reply).await)
                        }
                    });
                    let builder = hyper::server::conn::http1::Builder::new();
                    match tls {
                        Some(tls) => {
                            if let Ok(stream) = tls.accept(tcp).await {
                                let _ = builder
                                    .serve_connection(TokioIo::new(stream), service)
                                    .await;
                            }
                        }
                        None => {
                            let _ = builder.serve_connection(TokioIo::new(tcp), service).await;
                        }
                    }
                });
            }
        });
        Stub { addr, seen, task }
    }

    /// How many requests reached a path containing `part`.
    pub fn count(&self, part: &str) -> usize {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.path.contains(part))
            .count()
    }
}

type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

fn respond(reply: Reply) -> Pin<Box<dyn std::future::Future<Output = Response<Body>> + Send>> {
    Box::pin(async move {
        match reply {
            Reply::Full(status, headers, body) => {
                let mut r = Response::builder().status(status);
                for (k, v) in headers {
                    r = r.header(k, v);
                }
                r.body(Full::new(Bytes::from(body)).boxed()).unwrap()
            }
            Reply::Chunked(chunks, chunk) => {
                let stream = futures_stream(chunks, chunk);
                Response::builder()
                    .status(200)
                    .header(
                        "content-type",
                        image_policy_registry::manifest::OCI_MANIFEST,
                    )
                    .body(stream.boxed())
                    .unwrap()
            }
            Reply::Slow(d, reply) => {
                tokio::time::sleep(d).await;
                respond(*reply).await
            }
        }
    })
}

/// `chunks` frames of `chunk` bytes of `{`… (never valid JSON).
fn futures_stream(
    chunks: usize,
    chunk: usize,
) -> impl hyper::body::Body<Data = Bytes, Error = Infallible> + Send + 'static {
    struct Chunks(usize, Bytes);
    impl hyper::body::Body for Chunks {
        type Data = Bytes;
        type Error = Infallible;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            if self.0 == 0 {
                return std::task::Poll::Ready(None);
            }
            self.0 -= 1;
            std::task::Poll::Ready(Some(Ok(Frame::data(self.1.clone()))))
        }
    }
    Chunks(chunks, Bytes::from(vec![b' '; chunk]))
}

/// A resolver over a client with `options`, cache `ttl`.
pub fn resolver(options: Options, ttl: Duration) -> Resolver {
    Resolver::new(Client::new(options).unwrap(), CacheOptions::with_ttl(ttl))
}

/// `sha256:` + hex of `bytes`.
pub use super::fixture::sha256;

/// An OCI image manifest whose config digest varies with `n`.
pub fn oci_manifest(n: u32) -> Vec<u8> {
    let config = format!("{{\"n\":{n}}}");
    format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":{}}},"layers":[]}}"#,
        sha256(config.as_bytes()),
        config.len()
    )
    .into_bytes()
}

/// An OCI index of the two manifests `oci_manifest(1)` and `(2)`.
pub fn oci_index() -> Vec<u8> {
    let entry = |n: u32, arch: &str| {
        let m = oci_manifest(n);
        format!(
            r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":{},"platform":{{"architecture":"{arch}","os":"linux"}}}}"#,
            sha256(&m),
            m.len()
        )
    };
    format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{},{}]}}"#,
        entry(1, "amd64"),
        entry(2, "arm64")
    )
    .into_bytes()
}

pub fn ok_manifest(body: Vec<u8>, media_type: &str) -> Reply {
    Reply::Full(200, vec![("content-type", media_type.to_owned())], body)
}
