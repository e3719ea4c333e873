//! The test CA, the server harness and the TLS client shared by the tests.
#![allow(dead_code)]

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use image_policy_core::policy::Policy;
use image_policy_webhook::server::{
    PinConfig, PolicySource, Server, ServerConfig, ServerError, TlsFiles, Transport,
};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;

/// A certificate authority for one test.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A PEM certificate and its PEM key.
#[derive(Clone)]
pub struct Identity {
    pub cert: String,
    pub key: String,
}

impl TestCa {
    pub fn new(name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        TestCa { issuer }
    }

    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A serving certificate for `localhost` with common name `cn`.
    pub fn server(&self, cn: &str) -> Identity {
        self.issue(
            cn,
            vec!["localhost".to_owned()],
            ExtendedKeyUsagePurpose::ServerAuth,
        )
    }

    /// A client certificate with common name `cn`.
    pub fn client(&self, cn: &str) -> Identity {
        self.issue(cn, Vec::new(), ExtendedKeyUsagePurpose::ClientAuth)
    }

    fn issue(&self, cn: &str, sans: Vec<String>, usage: ExtendedKeyUsagePurpose) -> Identity {
        let mut params = CertificateParams::new(sans).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Identity {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }
}

/// A directory laid out like a Kubernetes Secret or ConfigMap volume: each
/// file name is a symlink through `..data`, which points at a timestamped
/// directory and is swapped atomically on update.
pub struct VolumeDir {
    pub path: PathBuf,
    generation: AtomicUsize,
}

impl VolumeDir {
    pub fn new(path: PathBuf, files: &[(&str, &str)]) -> VolumeDir {
        std::fs::create_dir_all(&path).unwrap();
        let volume = VolumeDir {
            path,
            generation: AtomicUsize::new(0),
        };
        volume.update(files);
        for (name, _) in files {
            std::os::unix::fs::symlink(format!("..data/{name}"), volume.path.join(name)).unwrap();
        }
        volume
    }

    /// The kubelet's update: write a new directory, swap `..data` to it.
    pub fn update(&self, files: &[(&str, &str)]) {
        let generation = self.generation.fetch_add(1, Ordering::SeqCst);
        let dir_name = format!("..2026_11_26_00_00_{generation:02}");
        let dir = self.path.join(&dir_name);
        std::fs::create_dir(&dir).unwrap();
        for (name, contents) in files {
            std::fs::write(dir.join(name), contents).unwrap();
        }
        let tmp = self.path.join("..data_tmp");
        std::os::unix::fs::symlink(&dir_name, &tmp).unwrap();
        std::fs::rename(&tmp, self.path.join("..data")).unwrap();
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

/// How to start a test server.
pub struct Options {
    pub policy: String,
    pub client_ca: bool,
    pub insecure_http: bool,
    pub metrics_listen: bool,
    pub body_limit: Option<usize>,
    pub idle_timeout: Option<Duration>,
    pub max_connections: Option<usize>,
    /// `/mutate`'s registry client, cache and deadline (pin rules).
    pub pin: Option<PinConfig>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            policy: "allow:\n  - registry: registry.my.com\n".to_owned(),
            client_ca: false,
            insecure_http: false,
            metrics_listen: false,
            body_limit: None,
            idle_timeout: None,
            max_connections: None,
            pin: None,
        }
    }
}

/// A server running on a loopback port, with its files.
pub struct Running {
    pub addr: SocketAddr,
    pub metrics_addr: Option<SocketAddr>,
    pub ca: TestCa,
    pub tls: VolumeDir,
    pub policy: VolumeDir,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), ServerError>>>,
    _dir: tempfile::TempDir,
}

/// How often the test servers look at their files.
pub const RELOAD_INTERVAL: Duration = Duration::from_millis(50);

/// The policy source the CLI would build: one YAML file, re-read on change.
pub fn policy_source(path: &Path) -> PolicySource {
    let file = path.to_path_buf();
    PolicySource {
        files: vec![file.clone()],
        identity: String::new(),
        load: Box::new(move || {
            let src = std::fs::read_to_string(&file)?;
            Ok(Policy::from_yaml_str(&src, &file.display().to_string())?)
        }),
    }
}

impl Running {
    pub async fn start(options: Options) -> Running {
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new("image-policy test CA");
        let serving = ca.server("serving-1");
        let tls = VolumeDir::new(
            dir.path().join("tls"),
            &[("tls.crt", &serving.cert), ("tls.key", &serving.key)],
        );
        let policy = VolumeDir::new(
            dir.path().join("policy"),
            &[("policy.yaml", &options.policy)],
        );
        let client_ca = dir.path().join("client-ca.crt");
        std::fs::write(&client_ca, ca.pem()).unwrap();
        let transport = if options.insecure_http {
            Transport::InsecureHttp
        } else {
            Transport::Https(TlsFiles {
                cert: tls.file("tls.crt"),
                key: tls.file("tls.key"),
                client_ca: options.client_ca.then_some(client_ca),
            })
        };
        let mut config = ServerConfig::new(
            "127.0.0.1:0".parse().unwrap(),
            transport,
            policy_source(&policy.file("policy.yaml")),
        );
        config.reload_interval = RELOAD_INTERVAL;
        if options.metrics_listen {
            config.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
        }
        if let Some(limit) = options.body_limit {
            config.body_limit = limit;
        }
        if let Some(timeout) = options.idle_timeout {
            config.idle_timeout = timeout;
        }
        config.max_connections = options.max_connections;
        if let Some(pin) = options.pin {
            config.pin = pin;
        }
        let server = Server::bind(config).await.unwrap();
        let addr = server.local_addr();
        let metrics_addr = server.metrics_addr();
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(server.run(async {
            let _ = rx.await;
        }));
        Running {
            addr,
            metrics_addr,
            ca,
            tls,
            policy,
            shutdown: Some(tx),
            task: Some(task),
            _dir: dir,
        }
    }

    /// A client that trusts the test CA and presents no certificate.
    pub fn client(&self) -> Client {
        Client::new(&self.ca.pem(), None)
    }

    /// Sends the shutdown signal and waits for `run` to return.
    pub async fn shutdown(&mut self) -> Result<(), ServerError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.task.take().unwrap().await.unwrap()
    }

    pub fn begin_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// `GET /metrics` over a fresh connection.
    pub async fn metrics(&self) -> String {
        let mut conn = self.client().connect(self.addr).await.unwrap();
        let response = conn.get("/metrics").await.unwrap();
        assert_eq!(response.status, 200);
        response.body
    }
}

/// The value of one sample line (`name{labels}`) in a Prometheus text body.
pub fn metric(body: &str, series: &str) -> Option<f64> {
    body.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Polls `probe` until it returns `Some`, for at most 5 s.
pub async fn eventually<T, F, Fut>(mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..100 {
        if let Some(value) = probe().await {
            return value;
        }
        tokio::time::sleep(RELOAD_INTERVAL).await;
    }
    panic!("condition not met within 5 s");
}

/// A TLS client that verifies the server against a CA.
#[derive(Clone)]
pub struct Client {
    connector: TlsConnector,
    h2_connector: TlsConnector,
}

/// One HTTP/2 connection.
pub struct H2Conn {
    pub sender: hyper::client::conn::http2::SendRequest<BoxBody>,
}

/// A request body that can be streamed.
pub type BoxBody = http_body_util::combinators::BoxBody<Bytes, std::convert::Infallible>;

/// One HTTP/1.1 keep-alive connection.
pub struct Conn {
    sender: SendRequest<Full<Bytes>>,
    /// The DER of the certificate the server presented, when TLS.
    pub server_cert: Option<Vec<u8>>,
}

/// A response, body as text.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: String,
}

impl Client {
    pub fn new(ca_pem: &str, identity: Option<&Identity>) -> Client {
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_pemfile::certs(&mut ca_pem.as_bytes()) {
            roots.add(cert.unwrap()).unwrap();
        }
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
        let mut config = match identity {
            None => builder.with_no_client_auth(),
            Some(identity) => {
                let chain: Vec<CertificateDer<'static>> =
                    rustls_pemfile::certs(&mut identity.cert.as_bytes())
                        .collect::<Result<_, _>>()
                        .unwrap();
                let key: PrivateKeyDer<'static> =
                    rustls_pemfile::private_key(&mut identity.key.as_bytes())
                        .unwrap()
                        .unwrap();
                builder.with_client_auth_cert(chain, key).unwrap()
            }
        };
        let plain = TlsConnector::from(Arc::new(config.clone()));
        config.alpn_protocols = vec![b"h2".to_vec()];
        Client {
            connector: plain,
            h2_connector: TlsConnector::from(Arc::new(config)),
        }
    }

    /// Connects with ALPN `h2` and completes the TLS handshake, for writing
    /// HTTP/2 frames by hand.
    pub async fn connect_raw_h2(
        &self,
        addr: SocketAddr,
    ) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
        let tcp = TcpStream::connect(addr).await?;
        let name = ServerName::try_from("localhost").unwrap();
        let tls = self.h2_connector.connect(name, tcp).await?;
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        Ok(tls)
    }

    /// An HTTP/2 connection (hyper's client).
    pub async fn connect_h2(&self, addr: SocketAddr) -> std::io::Result<H2Conn> {
        let tls = self.connect_raw_h2(addr).await?;
        let (sender, connection) = hyper::client::conn::http2::handshake(
            hyper_util::rt::TokioExecutor::new(),
            TokioIo::new(tls),
        )
        .await
        .map_err(std::io::Error::other)?;
        tokio::spawn(connection);
        Ok(H2Conn { sender })
    }

    /// Connects and completes the TLS handshake, for writing HTTP by hand.
    pub async fn connect_raw(
        &self,
        addr: SocketAddr,
    ) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
        let tcp = TcpStream::connect(addr).await?;
        let name = ServerName::try_from("localhost").unwrap();
        self.connector.connect(name, tcp).await
    }

    /// [`Client::connect_raw`] with a receive buffer of `bytes` (no
    /// autotuning), for a client that reads slowly or not at all.
    pub async fn connect_raw_small_window(
        &self,
        addr: SocketAddr,
        bytes: u32,
    ) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.set_recv_buffer_size(bytes)?;
        let tcp = socket.connect(addr).await?;
        let name = ServerName::try_from("localhost").unwrap();
        self.connector.connect(name, tcp).await
    }

    /// Connects and completes the TLS handshake.
    pub async fn connect(&self, addr: SocketAddr) -> std::io::Result<Conn> {
        let tls = self.connect_raw(addr).await?;
        let server_cert = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(|cert| cert.as_ref().to_vec());
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(std::io::Error::other)?;
        tokio::spawn(connection);
        Ok(Conn {
            sender,
            server_cert,
        })
    }
}

impl Conn {
    /// A plain HTTP connection (for `--insecure-http` and `--metrics-listen`).
    pub async fn plain(addr: SocketAddr) -> std::io::Result<Conn> {
        let tcp = TcpStream::connect(addr).await?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(std::io::Error::other)?;
        tokio::spawn(connection);
        Ok(Conn {
            sender,
            server_cert: None,
        })
    }

    pub async fn get(&mut self, path: &str) -> Result<Response, hyper::Error> {
        self.send("GET", path, Bytes::new()).await
    }

    pub async fn post(
        &mut self,
        path: &str,
        body: impl Into<Bytes>,
    ) -> Result<Response, hyper::Error> {
        self.send("POST", path, body.into()).await
    }

    pub async fn send(
        &mut self,
        method: &str,
        path: &str,
        body: Bytes,
    ) -> Result<Response, hyper::Error> {
        self.sender.ready().await?;
        let request = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", "localhost")
            .header("content-type", "application/json")
            .body(Full::new(body))
            .unwrap();
        read_response(self.sender.send_request(request).await?).await
    }
}

/// Reads a whole response: its status, content type and body as text.
async fn read_response(
    response: hyper::Response<hyper::body::Incoming>,
) -> Result<Response, hyper::Error> {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response.into_body().collect().await?.to_bytes();
    Ok(Response {
        status,
        content_type,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

impl H2Conn {
    /// POSTs `body` on a new stream and reads the whole response.
    pub async fn post(&mut self, path: &str, body: BoxBody) -> Result<Response, hyper::Error> {
        self.sender.ready().await?;
        let request = hyper::Request::builder()
            .method("POST")
            .uri(format!("https://localhost{path}"))
            .header("content-type", "application/json")
            .body(body)
            .unwrap();
        read_response(self.sender.send_request(request).await?).await
    }
}

/// A whole body, for [`H2Conn::post`].
pub fn full(body: impl Into<Bytes>) -> BoxBody {
    BodyExt::boxed(Full::new(body.into()))
}
