//! The HTTPS admission server: a thin shell of tokio, hyper, axum and rustls
//! around the pure [`handler`](crate::handler).
//!
//! # Overview
//!
//! [`Server::bind`] loads the policy and the serving certificate and opens the
//! listeners; [`Server::run`] serves until the shutdown future resolves. [`run`]
//! does both. Routes on the main listener:
//!
//! | route | answer |
//! |---|---|
//! | `POST /imagereview` | an `ImageReview` (`imagepolicy.k8s.io/v1alpha1`), for the `ImagePolicyWebhook` admission plugin |
//! | `POST /validate` | an `AdmissionReview` (`admission.k8s.io/v1` or `v1beta1`), for a `ValidatingWebhookConfiguration` |
//! | `GET /healthz` | 200 while the process serves |
//! | `GET /readyz` | 200 once the policy is loaded and the listener is up, 503 from the start of shutdown |
//! | `GET /metrics` | Prometheus text: requests and decisions by endpoint and result, latency histogram, policy and certificate reloads by result, the policy's hash |
//!
//! With [`ServerConfig::metrics_listen`], the three `GET` routes are also served
//! in plain HTTP on a second address (for probes and scrapers that do not
//! speak the webhook's TLS, for example under mutual TLS).
//!
//! Every decision comes from [`handle`](crate::handler::handle); the server
//! only enforces the body limit (413) and the request timeout (408), and
//! records and logs what the handler answered: one `tracing` event per review
//! at `INFO` with target `image_policy::decision`.
//!
//! # Reloading
//!
//! Every [`ServerConfig::reload_interval`], the policy files and the
//! certificate and key are read and compared by content hash (see the
//! `reload` module: this is what catches a Kubernetes Secret or ConfigMap
//! volume's atomic `..data` symlink swap). New contents are loaded and, when
//! they load, put in force for the next request or handshake; when they do
//! not, the error is logged and counted in
//! `image_policy_policy_reloads_total{result="failure"}` (or
//! `image_policy_certificate_reloads_total`), and the previous policy or
//! certificate stays in force. No connection is dropped by a reload.
//!
//! # Shutdown
//!
//! When the shutdown future passed to [`Server::run`] resolves (see
//! [`shutdown_signal`] for SIGTERM/SIGINT), `/readyz` turns 503, the listeners
//! close, idle keep-alive connections are closed, and requests in flight are
//! answered; after [`ServerConfig::shutdown_timeout`] the rest are dropped.
//!
//! # Untrusted input
//!
//! Request bodies are read up to [`ServerConfig::body_limit`] and within
//! [`ServerConfig::request_timeout`]; request heads within 30 s; TLS handshakes
//! within 10 s. The handler never panics on any body. With a client CA, a
//! client without a certificate signed by it cannot complete the handshake.
//!
//! # Performance
//!
//! Nothing on the request path takes a lock other than an uncontended
//! read lock to clone the policy's `Arc`; metrics are relaxed atomic adds.
//! `benches/load.sh` measures the whole server over TLS; see `BENCHMARKS.md`.

mod metrics;
mod reload;
mod routes;
mod tls;

use self::reload::{Change, WatchedFiles};
use self::tls::CertificateStore;
use crate::handler::DEFAULT_BODY_LIMIT;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use image_policy_core::policy::{LoadedPolicy, Policy};
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

/// How long a client may take to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to send a request head.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Everything the server needs; build it with [`ServerConfig::new`] and set
/// the public fields to change the defaults.
#[non_exhaustive]
pub struct ServerConfig {
    /// Address of the main listener (HTTPS unless [`Transport::InsecureHttp`]).
    pub listen: SocketAddr,
    /// HTTPS with these files, or plain HTTP.
    pub transport: Transport,
    /// A second, plain HTTP listener with `/healthz`, `/readyz` and `/metrics` only.
    pub metrics_listen: Option<SocketAddr>,
    /// Where the policy comes from.
    pub policy: PolicySource,
    /// How often the policy and certificate files are checked for changes.
    /// Default 2 s.
    pub reload_interval: Duration,
    /// Largest request body accepted; larger ones get 413. Default 3 MiB
    /// (the Kubernetes API server's own request limit).
    pub body_limit: usize,
    /// Time allowed to receive a request body; slower ones get 408. Default 10 s.
    pub request_timeout: Duration,
    /// Time allowed for in-flight requests after shutdown begins. Default 25 s
    /// (under the Kubernetes default termination grace period of 30 s).
    pub shutdown_timeout: Duration,
}

impl ServerConfig {
    /// A configuration with the default limits and intervals.
    pub fn new(listen: SocketAddr, transport: Transport, policy: PolicySource) -> Self {
        ServerConfig {
            listen,
            transport,
            metrics_listen: None,
            policy,
            reload_interval: Duration::from_secs(2),
            body_limit: DEFAULT_BODY_LIMIT,
            request_timeout: Duration::from_secs(10),
            shutdown_timeout: Duration::from_secs(25),
        }
    }
}

/// How the main listener speaks.
#[derive(Debug, Clone)]
pub enum Transport {
    /// TLS with a certificate and key reloaded when their files change.
    Https(TlsFiles),
    /// Plain HTTP, for local trials only: the API server calls webhooks over HTTPS.
    InsecureHttp,
}

/// PEM files of the serving certificate and, for mutual TLS, the client CA.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// Certificate chain, leaf first.
    pub cert: PathBuf,
    /// Private key of the leaf (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// When given, clients must present a certificate signed by one of these CAs.
    pub client_ca: Option<PathBuf>,
}

/// A function that loads the policy, and the files whose change means it
/// should be called again.
pub struct PolicySource {
    /// Watched for changes (read through symlinks); may be empty for a policy
    /// made of flags only.
    pub files: Vec<PathBuf>,
    /// What else goes into the policy (for example the command-line flags),
    /// hashed with the files' contents into the policy hash that `/metrics`
    /// and the decision log report.
    pub identity: String,
    /// Loads the policy; the error is one or more lines to log.
    pub load: Box<dyn Fn() -> Result<LoadedPolicy, String> + Send + Sync>,
}

impl std::fmt::Debug for PolicySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicySource")
            .field("files", &self.files)
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

/// Why the server could not start or keep serving.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// A listener could not be opened.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The certificate, key or client CA could not be read or used.
    #[error("TLS: {0}")]
    Tls(String),
    /// The first policy could not be loaded.
    #[error("policy: {0}")]
    Policy(String),
}

/// The policy in force and its hash.
pub(crate) struct ActivePolicy {
    pub(crate) policy: Policy,
    pub(crate) hash: String,
}

/// What the routes share.
pub(crate) struct State {
    policy: RwLock<Arc<ActivePolicy>>,
    pub(crate) metrics: metrics::Metrics,
    /// Listener up and not shutting down (a policy is always loaded once bound).
    ready: AtomicBool,
    pub(crate) body_limit: usize,
    pub(crate) request_timeout: Duration,
}

impl State {
    /// The policy in force, for one request.
    pub(crate) fn policy(&self) -> Arc<ActivePolicy> {
        Arc::clone(&self.policy.read().unwrap_or_else(|p| p.into_inner()))
    }

    fn set_policy(&self, policy: ActivePolicy) {
        *self.policy.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(policy);
    }

    pub(crate) fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }
}

/// A server with its policy and certificate loaded and its listeners open.
pub struct Server {
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    acceptor: Option<TlsAcceptor>,
    state: Arc<State>,
    reloader: Reloader,
    reload_interval: Duration,
    shutdown_timeout: Duration,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("listen", &self.listener.local_addr().ok())
            .field(
                "metrics_listen",
                &self
                    .metrics_listener
                    .as_ref()
                    .and_then(|l| l.local_addr().ok()),
            )
            .field("tls", &self.acceptor.is_some())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Loads the policy and certificate and opens the listeners (port 0 picks
    /// a free port; see [`Server::local_addr`]).
    pub async fn bind(config: ServerConfig) -> Result<Server, ServerError> {
        let ServerConfig {
            listen,
            transport,
            metrics_listen,
            policy,
            reload_interval,
            body_limit,
            request_timeout,
            shutdown_timeout,
        } = config;
        let metrics = metrics::Metrics::default();

        let mut policy_files = WatchedFiles::new(policy.files.clone(), policy.identity.as_bytes());
        let first = load_policy(&policy, &mut policy_files, &metrics)?;
        let state = Arc::new(State {
            policy: RwLock::new(Arc::new(first)),
            metrics,
            ready: AtomicBool::new(false),
            body_limit,
            request_timeout,
        });

        let (acceptor, certificate) = match transport {
            Transport::InsecureHttp => (None, None),
            Transport::Https(files) => {
                let mut watch = WatchedFiles::new(vec![files.cert.clone(), files.key.clone()], "");
                let key = match watch.poll() {
                    Change::Changed { contents, .. } => {
                        tls::certified_key(&contents[0], &contents[1], &files.cert, &files.key)
                            .map_err(ServerError::Tls)?
                    }
                    Change::ReadFailed(message) => return Err(ServerError::Tls(message)),
                    Change::Unchanged => unreachable!("the first poll always reads"),
                };
                state.metrics.certificate_loaded(true);
                let store = Arc::new(CertificateStore::new(key));
                let config = tls::server_config(Arc::clone(&store), files.client_ca.as_deref())?;
                let acceptor = TlsAcceptor::from(Arc::new(config));
                (Some(acceptor), Some((store, watch, files)))
            }
        };

        let listener = TcpListener::bind(listen)
            .await
            .map_err(|source| ServerError::Listen {
                addr: listen,
                source,
            })?;
        let metrics_listener = match metrics_listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|source| ServerError::Listen { addr, source })?,
            ),
            None => None,
        };
        Ok(Server {
            listener,
            metrics_listener,
            acceptor,
            reloader: Reloader {
                state: Arc::clone(&state),
                policy,
                policy_files,
                certificate,
            },
            state,
            reload_interval,
            shutdown_timeout,
        })
    }

    /// The main listener's address.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound TCP listener has an address")
    }

    /// The metrics listener's address, when there is one.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .map(|l| l.local_addr().expect("a bound TCP listener has an address"))
    }

    /// Serves until `shutdown` resolves, then shuts down gracefully.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), ServerError> {
        let Server {
            listener,
            metrics_listener,
            acceptor,
            state,
            mut reloader,
            reload_interval,
            shutdown_timeout,
        } = self;
        let (stop_tx, stop_rx) = watch::channel(false);
        let graceful = Arc::new(GracefulShutdown::new());

        let reload_task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(reload_interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                // File reads and policy compilation block: keep them off the
                // threads that serve requests.
                reloader = match tokio::task::spawn_blocking(move || {
                    reloader.poll();
                    reloader
                })
                .await
                {
                    Ok(reloader) => reloader,
                    Err(err) => {
                        tracing::error!("reloading stopped: {err}");
                        return;
                    }
                };
            }
        });

        let main_addr = listener
            .local_addr()
            .expect("a bound TCP listener has an address");
        let metrics_addr = metrics_listener.as_ref().and_then(|l| l.local_addr().ok());
        let acceptor_present = acceptor.is_some();
        let main_loop = tokio::spawn(accept_loop(
            listener,
            acceptor,
            routes::main_router(Arc::clone(&state)),
            Arc::clone(&graceful),
            stop_rx.clone(),
        ));
        let metrics_loop = metrics_listener.map(|listener| {
            tokio::spawn(accept_loop(
                listener,
                None,
                routes::health_router(Arc::clone(&state)),
                Arc::clone(&graceful),
                stop_rx.clone(),
            ))
        });
        drop(stop_rx);
        state.ready.store(true, Ordering::Relaxed);
        tracing::info!(
            listen = %main_addr,
            metrics_listen = metrics_addr.map(tracing::field::display),
            tls = acceptor_present,
            "serving"
        );

        shutdown.await;
        tracing::info!("shutting down: no new connections, finishing requests in flight");
        state.ready.store(false, Ordering::Relaxed);
        let _ = stop_tx.send(true);
        let _ = main_loop.await;
        if let Some(task) = metrics_loop {
            let _ = task.await;
        }
        reload_task.abort();
        let Ok(graceful) = Arc::try_unwrap(graceful) else {
            unreachable!("the accept loops, which held the other references, have ended")
        };
        if tokio::time::timeout(shutdown_timeout, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(
                "requests still in flight after {} s; dropping them",
                shutdown_timeout.as_secs()
            );
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// Loads the policy and its hash, or explains why not; counts the attempt.
fn load_policy(
    source: &PolicySource,
    files: &mut WatchedFiles,
    metrics: &metrics::Metrics,
) -> Result<ActivePolicy, ServerError> {
    let hash = match files.poll() {
        Change::Changed { hash, .. } => hash,
        Change::ReadFailed(message) => {
            metrics.policy_loaded(None);
            return Err(ServerError::Policy(message));
        }
        Change::Unchanged => unreachable!("the first poll always reads"),
    };
    match (source.load)() {
        Ok(loaded) => {
            log_policy_loaded(&loaded, &hash);
            metrics.policy_loaded(Some(&hash));
            Ok(ActivePolicy {
                policy: loaded.policy,
                hash,
            })
        }
        Err(message) => {
            metrics.policy_loaded(None);
            Err(ServerError::Policy(message))
        }
    }
}

fn log_policy_loaded(loaded: &LoadedPolicy, hash: &str) {
    for warning in &loaded.warnings {
        tracing::warn!(policy = hash, "{warning}");
    }
    tracing::info!(policy = hash, "policy loaded");
}

/// The periodic check of the policy and certificate files.
struct Reloader {
    state: Arc<State>,
    policy: PolicySource,
    policy_files: WatchedFiles,
    certificate: Option<(Arc<CertificateStore>, WatchedFiles, TlsFiles)>,
}

impl Reloader {
    fn poll(&mut self) {
        let metrics = &self.state.metrics;
        if !self.policy_files.is_empty() {
            match self.policy_files.poll() {
                Change::Unchanged => {}
                Change::ReadFailed(message) => {
                    metrics.policy_loaded(None);
                    tracing::error!(
                        "policy not reloaded, the previous one stays in force: {message}"
                    );
                }
                Change::Changed { hash, .. } => match (self.policy.load)() {
                    Ok(loaded) => {
                        log_policy_loaded(&loaded, &hash);
                        metrics.policy_loaded(Some(&hash));
                        self.state.set_policy(ActivePolicy {
                            policy: loaded.policy,
                            hash,
                        });
                    }
                    Err(message) => {
                        metrics.policy_loaded(None);
                        tracing::error!(
                            policy = hash,
                            "policy not reloaded, the previous one stays in force:\n{message}"
                        );
                    }
                },
            }
        }
        if let Some((store, watch, files)) = &mut self.certificate {
            match watch.poll() {
                Change::Unchanged => {}
                Change::ReadFailed(message) => {
                    metrics.certificate_loaded(false);
                    tracing::error!(
                        "certificate not reloaded, the previous one stays in force: {message}"
                    );
                }
                Change::Changed { contents, .. } => {
                    match tls::certified_key(&contents[0], &contents[1], &files.cert, &files.key) {
                        Ok(key) => {
                            store.replace(key);
                            metrics.certificate_loaded(true);
                            tracing::info!(cert = %files.cert.display(), "certificate reloaded");
                        }
                        Err(message) => {
                            metrics.certificate_loaded(false);
                            tracing::error!(
                                "certificate not reloaded, the previous one stays in force: {message}"
                            );
                        }
                    }
                }
            }
        }
    }
}

/// Accepts connections until `stop` turns true; each connection is served on
/// its own task and watched for graceful shutdown.
async fn accept_loop(
    listener: TcpListener,
    acceptor: Option<TlsAcceptor>,
    router: axum::Router,
    graceful: Arc<GracefulShutdown>,
    mut stop: watch::Receiver<bool>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);
    loop {
        let (tcp, peer) = tokio::select! {
            biased;
            _ = stop.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!("accept failed: {err}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let router = router.clone();
        let builder = Arc::clone(&builder);
        let watcher = graceful.watcher();
        match acceptor.clone() {
            None => {
                tokio::spawn(serve_connection(tcp, router, builder, watcher));
            }
            Some(acceptor) => {
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(tls)) => serve_connection(tls, router, builder, watcher).await,
                        Ok(Err(err)) => tracing::debug!(%peer, "TLS handshake failed: {err}"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        }
    }
}

async fn serve_connection<IO>(
    io: IO,
    router: axum::Router,
    builder: Arc<auto::Builder<TokioExecutor>>,
    watcher: Watcher,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let connection = builder.serve_connection(TokioIo::new(io), TowerToHyperService::new(router));
    if let Err(err) = watcher.watch(connection).await {
        tracing::debug!("connection ended with an error: {err}");
    }
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C): pass it to [`Server::run`].
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => tracing::info!("SIGINT received"),
        _ = terminate => tracing::info!("SIGTERM received"),
    }
}

/// Binds and serves until `shutdown` resolves: [`Server::bind`] then [`Server::run`].
pub async fn run(
    config: ServerConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    Server::bind(config).await?.run(shutdown).await
}
