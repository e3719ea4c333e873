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
//! | `POST /mutate` | an `AdmissionReview` (`admission.k8s.io/v1` or `v1beta1`), for a `MutatingWebhookConfiguration`: the rewrites and pins as a JSON Patch |
//! | `GET /healthz` | 200 while the process serves |
//! | `GET /readyz` | 200 once the policy is loaded and the listener is up, 503 from the start of shutdown |
//! | `GET /metrics` | Prometheus text: requests and decisions by endpoint and result, latency histogram, policy and certificate reloads by result, the policy's hash; from the first pin, `image_policy_registry_*`: resolutions by result, their latency, cache hits, shared (single-flight) requests, HTTP requests and failures; from the first signature verification, verifications by result (`deadline` included), their latency, the verify cache's hits, misses and entries, shared verifications |
//!
//! With [`ServerConfig::metrics_listen`], the three `GET` routes are also served
//! in plain HTTP on a second address (for probes and scrapers that do not
//! speak the webhook's TLS, for example under mutual TLS).
//!
//! Every decision comes from [`handle`](crate::handler::handle); the server
//! only enforces the limits below (413, 408, 503), and records and logs what
//! the handler answered: one `tracing` event per review at `INFO` with target
//! `image_policy::decision`.
//!
//! # Pinning
//!
//! A `/mutate` review whose policy has `pin:` rules goes through a
//! resolution phase between the handler's two calls
//! ([`mutate`](crate::handler::mutate), then
//! [`PendingMutation::complete`](crate::handler::PendingMutation::complete)):
//! the references it lists are resolved through one
//! `image_policy_registry::Resolver` shared by every review (each name at
//! most once per [`PinConfig::cache`] TTL, concurrent reviews of a name
//! sharing one request, at most 16 requests of one review at once), all
//! within [`PinConfig::deadline`]; an unfinished resolution at the deadline
//! is a failure. The review's judging permit and its body are released while
//! it waits. The resolver is built on the first review that needs it, from
//! [`PinConfig::registry`] (CA certificates and credentials read once, by
//! the caller, at startup): a policy without pin rules builds none, and a
//! reload that adds pin rules needs no restart. The deadline must be below
//! the `MutatingWebhookConfiguration`'s `timeoutSeconds`, which the server
//! cannot see ([`MAX_WEBHOOK_TIMEOUT`] is the API server's bound; `serve`
//! refuses a deadline at or above it).
//!
//! # Verifying signatures
//!
//! `verify:` rules (issue 22) use the same registry options and deadline.
//! On `/mutate`, an image in verify scope without a digest goes through
//! the resolution phase as one in pin scope does; each resolved digest is
//! then verified against every verify rule matching it (one
//! `image_policy_registry::Verifier` shared by every review, built on first
//! use, its cache of successes [`PinConfig::verify_cache`]), within the same
//! deadline, before it is pinned (see [`handler::pin`](crate::handler::pin)).
//! On `/validate` and `/imagereview`, a policy with verify rules goes
//! through [`verify::judge`](crate::handler::verify::judge) then
//! [`PendingValidation::complete`](crate::handler::PendingValidation::complete):
//! the distinct pinned images in verify scope are verified concurrently (at
//! most 16 at once; a cached success is a look-up; concurrent reviews of one
//! digest share its requests, the verifier's single flight), within
//! [`PinConfig::deadline`]; the judging
//! permit and the body are released meanwhile. A registry error or the
//! deadline is a failure (fail closed). A policy without verify rules takes
//! the one pure call it always did.
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
//! Without a client CA anyone who reaches the port can connect, so every
//! connection, body and stream is bounded in time and memory (defaults in
//! [`ServerConfig`], flags of `image-policy serve`):
//!
//! - **Time.** The TLS handshake must complete within
//!   [`ServerConfig::handshake_timeout`] (10 s); an HTTP/1.1 request head
//!   within [`ServerConfig::request_timeout`] (10 s), and then its body
//!   within as long again (408). A connection with no request in flight is
//!   closed after [`ServerConfig::idle_timeout`] (30 s): one that completed
//!   the handshake and sends nothing, an HTTP/2 connection that sent only its
//!   preface, an idle keep-alive connection. HTTP/2 connections are also
//!   pinged every idle timeout and closed when the ping is not answered. A
//!   connection whose writes make no progress for
//!   [`ServerConfig::write_timeout`] (10 s: a write to the socket that does
//!   not go through, or an answer of which the connection takes no next
//!   16 KiB, as HTTP/2 flow control may hold it; the time between two
//!   writes, as nginx's `send_timeout`) is closed: a client that does not
//!   read cannot pin its answers.
//! - **Connections.** At most [`ServerConfig::max_connections`] are open at
//!   once (default: the soft file-descriptor limit less 64, at most 1,024),
//!   counted from `accept`, so the process never runs out of descriptors
//!   because of clients. At the cap, a new connection is taken and the least
//!   recently active idle one is closed (when none is idle, the least
//!   recently active, which is one whose request body stalls): a new
//!   connection may carry the API server's review, an idle one carries
//!   nothing. Should `accept` fail anyway (EMFILE from descriptors opened
//!   elsewhere), a connection is closed the same way to free one, the warning
//!   is logged at most every 10 s, and the loop never spins or stops.
//! - **Memory.** Bodies are read up to [`ServerConfig::body_limit`] (7 MiB;
//!   413 over it, refused by the declared length before reading when there
//!   is one) into one buffer whose capacity is claimed, as it grows, from a
//!   byte budget shared by all connections, [`ServerConfig::body_memory`]
//!   (48 MiB). When a claim does not fit, the bodies in flight that are
//!   larger than the claimant will be are refused with 503, largest first,
//!   until it fits (or the claimant is refused when they would not make
//!   room): stalled bodies near the limit cannot keep small reviews out, and
//!   the memory held for bodies never exceeds the budget. HTTP/2 allows
//!   [`ServerConfig::max_streams`] (32) concurrent streams per connection,
//!   flow-control windows of 128 KiB per stream and 256 KiB per connection,
//!   and request heads of 64 KiB (HTTP/1.1 likewise). Once judged, a
//!   body's claim becomes its answer's (at most
//!   [`MAX_REPLY_BYTES`](crate::handler::MAX_REPLY_BYTES)), held until the
//!   answer is sent and never evicted (503 when it does not fit), so bodies
//!   and unsent answers together stay within the budget.
//! - **Work.** At most [`ServerConfig::concurrent_reviews`] (2) reviews are
//!   judged at once, whatever the number of cores (the runtime has a thread
//!   per core of the node); each needs, beyond its body, memory bounded by
//!   the handler's limits (objects read to at most
//!   [`MAX_ENTRIES`](image_policy_core::k8s::MAX_ENTRIES) entries per list:
//!   a few MiB, plus a copy of its escaped strings), so the peak is about
//!   the body budget plus twice that. `benches/hostile.sh` measures the peak
//!   memory under such clients and bodies; see `BENCHMARKS.md`.
//! - **Refusals over HTTP/2.** A refusal (413, 408, 503, 400) holds the
//!   unread request body until the answer is sent, so an HTTP/2 client gets
//!   the answer and then the stream's reset, not only a reset.
//! - **Output.** The handler names at most
//!   [`NAMED_IMAGES`](image_policy_core::admission::NAMED_IMAGES) denied images in a
//!   message and counts the rest; the decision log line cuts the review's
//!   fields (uid, kind, namespace, name) at 256 bytes and the message at
//!   8 KiB, so a review of tens of thousands of containers gives an answer
//!   and a log line of a few KiB.
//!
//! The handler never panics on any body. With a client CA, a client without
//! a certificate signed by it cannot complete the handshake.
//!
//! # Performance
//!
//! Nothing on the request path takes a lock other than an uncontended
//! read lock to clone the policy's `Arc`, the body budget's mutex (a few
//! times per request) and the judging semaphore; metrics are relaxed atomic
//! adds.
//! `benches/load.sh` measures the whole server over TLS; see `BENCHMARKS.md`.

mod limits;
mod metrics;
mod pinning;
mod reload;
mod routes;
mod tls;

use self::limits::{BodyBudget, Connections};
pub use self::pinning::{DEFAULT_PIN_DEADLINE, MAX_WEBHOOK_TIMEOUT, PinConfig};
pub use self::reload::ReadError;
use self::reload::{Reloader, WatchedCertificate, WatchedFiles};
use self::tls::CertificateStore;
pub use self::tls::TlsError;
use crate::handler::DEFAULT_BODY_LIMIT;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use image_policy_core::policy::{LoadedPolicy, Policy};
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

/// How long a connection asked to close (idle, or at shutdown) may take to
/// finish before it is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(1);
/// HTTP/2: the flow-control windows, which bound what a client can send on a
/// connection before the server reads it.
const H2_STREAM_WINDOW: u32 = 128 * 1024;
const H2_CONNECTION_WINDOW: u32 = 256 * 1024;
/// HTTP/2 and HTTP/1.1: the largest request head.
const MAX_HEADER_BYTES: usize = 64 * 1024;

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
    /// Largest request body accepted; larger ones get 413. Default 7 MiB
    /// ([`DEFAULT_BODY_LIMIT`]: an UPDATE carries two objects of up to 3 MiB).
    pub body_limit: usize,
    /// Time allowed to receive a request head, and then its body; slower
    /// ones get 408. Default 10 s (the API server's default webhook timeout).
    pub request_timeout: Duration,
    /// Bytes of request bodies held in memory at once, over all connections;
    /// at the budget the largest bodies in flight are refused (503) to make
    /// room. Default 48 MiB (the Deployment's memory limit is 128 MiB); never
    /// less than [`ServerConfig::body_limit`].
    pub body_memory: usize,
    /// Most connections open at once on the main listener; at the cap, the
    /// least recently active idle connection is closed for a new one. Default
    /// (`None`): the soft file-descriptor limit less 64, at most 1,024.
    pub max_connections: Option<usize>,
    /// A connection with no request in flight is closed after this long
    /// without one. Default 30 s.
    pub idle_timeout: Duration,
    /// Time allowed to complete the TLS handshake. Default 10 s.
    pub handshake_timeout: Duration,
    /// HTTP/2 streams a client may have open at once on one connection.
    /// Default 32.
    pub max_streams: u32,
    /// Time allowed for in-flight requests after shutdown begins. Default 25 s
    /// (under the Kubernetes default termination grace period of 30 s).
    pub shutdown_timeout: Duration,
    /// A connection whose answer makes no progress for this long (the
    /// client does not read it) is closed. Default 10 s.
    pub write_timeout: Duration,
    /// Reviews judged at once (the others wait for their turn, their bodies
    /// already read). Default 2: each needs memory beyond its body, and the
    /// runtime has a thread per core of the node, which is not bounded.
    pub concurrent_reviews: usize,
    /// How `/mutate` resolves tags to digests when the policy has `pin:`
    /// rules: the registry client's options, the cache, the deadline of one
    /// review. Used only by reviews that need it (the resolver is built on
    /// the first).
    pub pin: PinConfig,
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
            body_memory: 48 * 1024 * 1024,
            max_connections: None,
            idle_timeout: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(10),
            max_streams: 32,
            shutdown_timeout: Duration::from_secs(25),
            write_timeout: Duration::from_secs(10),
            concurrent_reviews: 2,
            pin: PinConfig::default(),
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
    /// Loads the policy. The error is the caller's own type (the CLI's says
    /// which file could not be read, or carries the core's `PolicyError` with
    /// every diagnostic); its `Display` is what the server logs.
    pub load: Box<dyn Fn() -> Result<LoadedPolicy, LoadError> + Send + Sync>,
}

impl std::fmt::Debug for PolicySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicySource")
            .field("files", &self.files)
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

/// The error of [`PolicySource::load`]: any error type, kept as it is (a
/// caller can downcast it) rather than flattened into a string.
pub type LoadError = Box<dyn std::error::Error + Send + Sync>;

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
    Tls(#[from] TlsError),
    /// The first policy could not be loaded.
    #[error("policy: {0}")]
    Policy(#[from] PolicyLoadError),
}

/// Why the policy could not be loaded: its files could not be read, or
/// [`PolicySource::load`] failed (named apart from the core's
/// [`PolicyError`](image_policy_core::policy::PolicyError), which a
/// [`LoadError`] may carry).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyLoadError {
    /// A policy file could not be read.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// [`PolicySource::load`] failed with this error.
    #[error("{0}")]
    Load(#[source] LoadError),
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
    pub(crate) bodies: Arc<BodyBudget>,
    /// One permit per review judged at once.
    pub(crate) judging: tokio::sync::Semaphore,
    /// `/mutate`'s resolution phase (pin rules).
    pub(crate) pinning: Arc<pinning::Pinning>,
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
    limits: ConnectionLimits,
}

/// How the accept loops bound their connections.
#[derive(Clone, Copy)]
struct ConnectionLimits {
    max_connections: usize,
    idle_timeout: Duration,
    handshake_timeout: Duration,
    request_timeout: Duration,
    max_streams: u32,
    write_timeout: Duration,
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
            body_memory,
            max_connections,
            idle_timeout,
            handshake_timeout,
            max_streams,
            write_timeout,
            concurrent_reviews,
            pin,
        } = config;
        let limits = ConnectionLimits {
            max_connections: max_connections.unwrap_or_else(limits::default_max_connections),
            idle_timeout,
            handshake_timeout,
            request_timeout,
            max_streams: max_streams.max(1),
            write_timeout,
        };
        let metrics = metrics::Metrics::default();

        let (policy_files, first) = reload::load_first_policy(&policy, &metrics)?;
        let state = Arc::new(State {
            policy: RwLock::new(Arc::new(first)),
            metrics,
            ready: AtomicBool::new(false),
            body_limit,
            request_timeout,
            bodies: BodyBudget::new(body_memory.max(body_limit)),
            judging: tokio::sync::Semaphore::new(concurrent_reviews.max(1)),
            pinning: Arc::new(pinning::Pinning::new(pin)),
        });

        let (acceptor, certificate) = match transport {
            Transport::InsecureHttp => (None, None),
            Transport::Https(files) => {
                let (watch, pem) =
                    WatchedFiles::open(vec![files.cert.clone(), files.key.clone()], "")
                        .map_err(TlsError::Read)?;
                let key =
                    tls::certified_key(&pem.files[0], &pem.files[1], &files.cert, &files.key)?;
                state.metrics.certificate_loaded(true);
                let store = Arc::new(CertificateStore::new(key));
                let config = tls::server_config(Arc::clone(&store), files.client_ca.as_deref())?;
                let acceptor = TlsAcceptor::from(Arc::new(config));
                let certificate = WatchedCertificate {
                    store,
                    watch,
                    files,
                };
                (Some(acceptor), Some(certificate))
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
            limits,
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
            limits,
        } = self;
        let (stop_tx, stop_rx) = watch::channel(false);
        // Every connection holds a receiver: `closed()` is "all connections ended".
        let (closing_tx, closing_rx) = watch::channel(false);

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
            limits,
            closing_rx.clone(),
            stop_rx.clone(),
        ));
        let metrics_loop = metrics_listener.map(|listener| {
            tokio::spawn(accept_loop(
                listener,
                None,
                routes::health_router(Arc::clone(&state)),
                // Probes and scrapes: a few connections.
                ConnectionLimits {
                    max_connections: 64,
                    ..limits
                },
                closing_rx.clone(),
                stop_rx.clone(),
            ))
        });
        drop(stop_rx);
        drop(closing_rx);
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
        let _ = closing_tx.send(true);
        if tokio::time::timeout(shutdown_timeout, closing_tx.closed())
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

/// Accepts connections until `stop` turns true; each connection is served on
/// its own task, counted against the cap, closed when idle, and closed
/// gracefully when `closing` turns true.
async fn accept_loop(
    listener: TcpListener,
    acceptor: Option<TlsAcceptor>,
    router: axum::Router,
    limits: ConnectionLimits,
    closing: watch::Receiver<bool>,
    mut stop: watch::Receiver<bool>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.request_timeout)
        .max_buf_size(MAX_HEADER_BYTES);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.max_streams)
        .initial_stream_window_size(H2_STREAM_WINDOW)
        .initial_connection_window_size(H2_CONNECTION_WINDOW)
        .max_header_list_size(MAX_HEADER_BYTES as u32)
        .max_send_buf_size(64 * 1024)
        .keep_alive_interval(limits.idle_timeout)
        .keep_alive_timeout(limits.request_timeout);
    let builder = Arc::new(builder);
    let connections = Connections::new(limits.max_connections);
    let mut last_warning: Option<tokio::time::Instant> = None;
    loop {
        let (tcp, peer) = tokio::select! {
            biased;
            _ = stop.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors (EMFILE, ENFILE) and the like:
                    // free one by closing the least recently active connection
                    // and try again; never spin, never stop accepting.
                    let freed = connections.evict_for_fd();
                    if last_warning.is_none_or(|at| at.elapsed() >= Duration::from_secs(10)) {
                        last_warning = Some(tokio::time::Instant::now());
                        tracing::warn!(
                            open = connections.len(),
                            "accept failed: {err}; {}",
                            if freed { "closed the least recently active connection" } else { "no connection to close" }
                        );
                    }
                    tokio::time::sleep(Duration::from_millis(if freed { 1 } else { 50 })).await;
                    continue;
                }
            },
        };
        let (admitted, evicted) = connections.admit();
        if evicted {
            tracing::debug!(
                max = limits.max_connections,
                "at the connection cap: closed the least recently active connection"
            );
        }
        let _ = tcp.set_nodelay(true);
        let connection = Arc::clone(&admitted.connection);
        let router = router.clone();
        let builder = Arc::clone(&builder);
        let closing = closing.clone();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let _admitted = admitted;
            let _closing_alive = closing.clone();
            match acceptor {
                None => serve_connection(tcp, router, builder, connection, limits, closing).await,
                Some(acceptor) => {
                    let handshake =
                        tokio::time::timeout(limits.handshake_timeout, acceptor.accept(tcp));
                    let tls = tokio::select! {
                        done = handshake => done,
                        () = connection.evicted() => return,
                    };
                    match tls {
                        Ok(Ok(tls)) => {
                            serve_connection(tls, router, builder, connection, limits, closing)
                                .await
                        }
                        Ok(Err(err)) => tracing::debug!(%peer, "TLS handshake failed: {err}"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
        });
    }
}

/// Serves one connection until it ends, is evicted, has been idle for the
/// idle timeout, or the server closes.
async fn serve_connection<IO>(
    io: IO,
    router: axum::Router,
    builder: Arc<auto::Builder<TokioExecutor>>,
    connection: Arc<limits::Connection>,
    limits: ConnectionLimits,
    mut closing: watch::Receiver<bool>,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = TowerToHyperService::new(router);
    let activity = Arc::clone(&connection);
    let service = hyper::service::service_fn(move |mut request: hyper::Request<_>| {
        let in_flight = activity.begin();
        request.extensions_mut().insert(Arc::clone(&activity));
        let answer = hyper::service::Service::call(&service, request);
        async move {
            let answer = answer.await;
            drop(in_flight);
            answer
        }
    });
    let io = WriteWatched {
        io,
        connection: Arc::clone(&connection),
    };
    let served = builder.serve_connection(TokioIo::new(io), service);
    let mut served = std::pin::pin!(served);
    // Once asked to close: the time it has to finish.
    let mut close_by: Option<tokio::time::Instant> = None;
    loop {
        // A busy connection is looked at again a second later at most.
        let mut check = connection
            .idle_deadline(limits.idle_timeout)
            .max(std::time::Instant::now() + limits.idle_timeout.min(Duration::from_secs(1)) / 2);
        // An answer being sent: at its write deadline.
        let send_deadline = connection.send_deadline(limits.write_timeout);
        if let Some(deadline) = send_deadline {
            check = check.min(deadline);
        }
        let idle_check = tokio::time::Instant::from_std(check);
        tokio::select! {
            ended = served.as_mut() => {
                if let Err(err) = ended {
                    tracing::debug!("connection ended with an error: {err}");
                }
                return;
            }
            () = connection.evicted() => return,
            _ = closing.changed(), if close_by.is_none() => {
                served.as_mut().graceful_shutdown();
                // The server's shutdown timeout bounds this one.
                close_by = Some(tokio::time::Instant::now() + Duration::from_secs(3600));
            }
            () = connection.send_began(), if send_deadline.is_none() => {}
            () = tokio::time::sleep_until(idle_check) => {
                if connection
                    .send_deadline(limits.write_timeout)
                    .is_some_and(|deadline| std::time::Instant::now() >= deadline)
                {
                    tracing::debug!(
                        "an answer made no progress for {} ms: connection closed",
                        limits.write_timeout.as_millis()
                    );
                    return;
                }
                if close_by.is_none() && connection.idle_for(limits.idle_timeout) {
                    served.as_mut().graceful_shutdown();
                    close_by = Some(tokio::time::Instant::now() + CLOSE_GRACE);
                }
            }
            () = tokio::time::sleep_until(close_by.unwrap_or_else(tokio::time::Instant::now)), if close_by.is_some() => return,
        }
    }
}

/// A connection's stream, which tells the connection's record whether its
/// writes go through, for the write timeout.
struct WriteWatched<IO> {
    io: IO,
    connection: Arc<limits::Connection>,
}

impl<IO> WriteWatched<IO> {
    fn record<T>(&self, poll: Poll<std::io::Result<T>>) -> Poll<std::io::Result<T>> {
        match &poll {
            Poll::Pending => self.connection.write_blocked(),
            Poll::Ready(_) => self.connection.write_went_through(),
        }
        poll
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for WriteWatched<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for WriteWatched<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.io).poll_write(cx, buf);
        self.record(poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.record(poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let poll = Pin::new(&mut self.io).poll_flush(cx);
        self.record(poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
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
