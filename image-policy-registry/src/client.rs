//! The HTTP side: one bounded GET at a time over hyper's HTTP/1.1 client
//! connection and rustls, the authentication flow, redirects, and the
//! manifest and blob requests of the OCI distribution API.

use crate::challenge;
use crate::error::{ErrorKind, RegistryError};
use crate::keyring::{Credential, Keyring};
use crate::manifest::{self, Manifest, ManifestError};
use crate::metrics::Metrics;
use base64::Engine;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use image_policy_core::reference::Reference;
use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// How the client connects and authenticates. Build with [`Options::default`]
/// and set the fields; [`Client::new`] checks them.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Options {
    /// Credentials (empty: anonymous).
    pub keyring: Keyring,
    /// Certificates trusted besides the system's (`--registry-ca`).
    pub extra_roots: Vec<CertificateDer<'static>>,
    /// Whether to trust the system's roots (default: yes).
    pub system_roots: bool,
    /// Registries (`host` or `host:port`, as written in image names) spoken
    /// to over plain HTTP: only those named here, never by fallback.
    pub plain_http: Vec<String>,
    /// The bound on each request, from connecting to the body's last byte.
    pub request_timeout: Duration,
    /// The bound on a manifest's size in bytes.
    pub max_manifest: u64,
    /// The most redirects followed for one request.
    pub max_redirects: usize,
    /// The `User-Agent` header.
    pub user_agent: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            keyring: Keyring::new(),
            extra_roots: Vec::new(),
            system_roots: true,
            plain_http: Vec::new(),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_manifest: manifest::DEFAULT_MAX_MANIFEST,
            max_redirects: 5,
            user_agent: concat!("image-policy/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}

/// The default bound on one request: 10 s.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest error or token answer read (the rest is not read).
const MAX_SMALL_BODY: u64 = 64 * 1024;

impl Options {
    /// Adds the certificates of a PEM file's contents to the trusted roots;
    /// how many there were. No certificate at all is an error.
    pub fn add_ca_pem(&mut self, pem: &[u8]) -> Result<usize, SetupError> {
        let mut n = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| SetupError(format!("not a PEM certificate: {e}")))?;
            self.extra_roots.push(cert);
            n += 1;
        }
        if n == 0 {
            return Err(SetupError("no PEM certificate in the file".to_owned()));
        }
        Ok(n)
    }
}

/// Why a client could not be set up (a CA that does not load).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetupError(pub String);

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SetupError {}

/// A manifest as fetched: what it is, and its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fetched {
    /// The checked manifest.
    pub manifest: Manifest,
    /// The body, exactly as received (its digest is `manifest.digest`).
    pub body: Bytes,
}

/// A registry client: TLS settings, credentials and a token cache. Cheap to
/// share (`Arc`); every method takes `&self`.
pub struct Client {
    options: Options,
    tls: tokio_rustls::TlsConnector,
    /// Bearer tokens by (authority, repository), with their expiry.
    tokens: Mutex<HashMap<(String, String), (String, Instant)>>,
    metrics: Arc<Metrics>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// The most tokens kept (a token is per repository).
const MAX_TOKENS: usize = 1024;

/// The host the runtime contacts for a pull host: containerd's
/// `docker.DefaultHost` maps `docker.io` to `registry-1.docker.io` and keeps
/// every other host as it is.
pub fn endpoint(pull_host: &str) -> &str {
    if pull_host == "docker.io" {
        "registry-1.docker.io"
    } else {
        pull_host
    }
}

/// One target of a request.
#[derive(Clone, Debug)]
struct Target {
    tls: bool,
    /// `host[:port]` as in the URL.
    authority: String,
    path_and_query: String,
}

impl Target {
    fn from_uri(uri: &Uri) -> Option<Target> {
        let tls = match uri.scheme_str()? {
            "https" => true,
            "http" => false,
            _ => return None,
        };
        Some(Target {
            tls,
            authority: uri.authority()?.as_str().to_owned(),
            path_and_query: uri.path_and_query().map_or("/", |p| p.as_str()).to_owned(),
        })
    }

    fn uri(&self) -> String {
        format!(
            "{}://{}{}",
            if self.tls { "https" } else { "http" },
            self.authority,
            self.path_and_query
        )
    }

    /// The host without brackets or port, and the port.
    fn host_port(&self) -> (&str, u16) {
        let default = if self.tls { 443 } else { 80 };
        let a = self.authority.as_str();
        if let Some(rest) = a.strip_prefix('[') {
            let end = rest.find(']').unwrap_or(rest.len());
            let port = rest[end..]
                .strip_prefix("]:")
                .and_then(|p| p.parse().ok())
                .unwrap_or(default);
            return (&rest[..end], port);
        }
        match a.rsplit_once(':') {
            Some((h, p)) => (h, p.parse().unwrap_or(default)),
            None => (a, default),
        }
    }
}

/// A failure before it is attached to an image.
type Failure = (ErrorKind, Option<u16>, Option<String>);

struct Answer {
    status: StatusCode,
    headers: hyper::HeaderMap,
    body: Bytes,
}

/// Aborts the connection task when the request is dropped (a timeout).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Client {
    /// A client with these options; loads the system's roots unless told not to.
    pub fn new(options: Options) -> Result<Client, SetupError> {
        Client::with_metrics(options, Arc::new(Metrics::default()))
    }

    /// A client that records its requests in `metrics`.
    pub fn with_metrics(options: Options, metrics: Arc<Metrics>) -> Result<Client, SetupError> {
        let mut roots = rustls::RootCertStore::empty();
        if options.system_roots {
            // Certificates the system store has but rustls cannot read are
            // skipped (as containerd's Go skips them); a store that cannot be
            // read at all leaves only --registry-ca.
            let native = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(native.certs);
        }
        for cert in &options.extra_roots {
            roots
                .add(cert.clone())
                .map_err(|e| SetupError(format!("a CA certificate is not usable: {e}")))?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| SetupError(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Client {
            options,
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
            tokens: Mutex::new(HashMap::new()),
            metrics,
        })
    }

    /// The metrics this client records into.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The options it was made with.
    pub fn options(&self) -> &Options {
        &self.options
    }

    fn is_plain(&self, authority: &str) -> bool {
        self.options.plain_http.iter().any(|h| h == authority)
    }

    /// The base URL of a reference's registry and the repository path on it.
    fn base(&self, reference: &Reference) -> Result<(Target, String), RegistryError> {
        let r = reference.as_image_ref();
        let pull_host = r.pull_host();
        if pull_host.is_empty() {
            return Err(RegistryError::new(
                ErrorKind::NoRegistry,
                &reference.docker_ref().to_string(),
                "",
            ));
        }
        let authority = endpoint(pull_host);
        Ok((
            Target {
                tls: !self.is_plain(pull_host),
                authority: authority.to_owned(),
                path_and_query: String::new(),
            },
            r.pull_path().to_string(),
        ))
    }

    /// Fetches the manifest a reference names: by its digest when it has
    /// one (checking the body against it), else by its tag (`latest` when
    /// none is written). An index is returned as the index.
    pub async fn fetch_manifest(&self, reference: &Reference) -> Result<Fetched, RegistryError> {
        let (mut target, repo) = self.base(reference)?;
        let image = &reference.docker_ref().to_string();
        let digest = reference.digest().map(|d| d.to_string());
        let tag_or_digest = match (&digest, reference.effective_tag()) {
            (Some(d), _) => d.clone(),
            (None, Some(t)) => t.to_owned(),
            (None, None) => "latest".to_owned(),
        };
        target.path_and_query = format!("/v2/{repo}/manifests/{tag_or_digest}");
        let err = |failure: Failure| failure_error(failure, image, reference);
        let credential = self.options.keyring.lookup(reference.name());
        let answer = self
            .authorized_get(
                &target,
                &repo,
                credential,
                Some(manifest::ACCEPT),
                self.options.max_manifest,
            )
            .await
            .map_err(err)?;
        let header = |name: &str| {
            answer
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header("content-type");
        let docker_digest = header("docker-content-digest");
        let manifest = manifest::read(
            &answer.body,
            content_type.as_deref(),
            docker_digest.as_deref(),
            digest.as_deref(),
        )
        .map_err(|e| err(manifest_failure(e)))?;
        Ok(Fetched {
            manifest,
            body: answer.body,
        })
    }

    /// Fetches a blob of a reference's repository by digest, at most `limit`
    /// bytes, checking the bytes against the digest (redirects to storage
    /// hosts are followed, without the registry's credentials).
    pub async fn fetch_blob(
        &self,
        reference: &Reference,
        digest: &str,
        limit: u64,
    ) -> Result<Bytes, RegistryError> {
        let (mut target, repo) = self.base(reference)?;
        let image = &reference.docker_ref().to_string();
        target.path_and_query = format!("/v2/{repo}/blobs/{digest}");
        let err = |failure: Failure| failure_error(failure, image, reference);
        let credential = self.options.keyring.lookup(reference.name());
        let answer = self
            .authorized_get(&target, &repo, credential, None, limit)
            .await
            .map_err(|f| match f.0 {
                ErrorKind::ManifestTooLarge { limit } => err((
                    ErrorKind::ManifestTooLarge { limit },
                    f.1,
                    Some("blob".to_owned()),
                )),
                _ => err(f),
            })?;
        manifest::verify_digest(digest, &answer.body).map_err(|e| err(manifest_failure(e)))?;
        Ok(answer.body)
    }

    /// A GET with the authentication flow: a cached token first; on 401, the
    /// challenge answered (bearer token, or basic credentials) and the
    /// request sent once more.
    async fn authorized_get(
        &self,
        target: &Target,
        repo: &str,
        credential: Option<&Credential>,
        accept: Option<&str>,
        limit: u64,
    ) -> Result<Answer, Failure> {
        let key = (target.authority.clone(), repo.to_owned());
        let cached = self.cached_token(&key);
        let first_auth = cached.as_ref().map(|t| format!("Bearer {t}"));
        let answer = self
            .get_following(target, first_auth.as_deref(), accept, limit)
            .await?;
        if answer.status != StatusCode::UNAUTHORIZED {
            return check_status(answer);
        }
        if cached.is_some() {
            self.tokens
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&key);
        }
        let header = answer
            .headers
            .get_all("www-authenticate")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(", ");
        if header.is_empty() {
            return check_status(answer);
        }
        let challenges = challenge::parse(&header)
            .map_err(|e| (ErrorKind::Challenge, Some(401), Some(e.to_string())))?;
        let authorization = if let Some(bearer) = challenge::bearer(&challenges) {
            let scope = format!("repository:{repo}:pull");
            let (token, ttl) = self
                .token(&bearer, bearer.scope.unwrap_or(&scope), credential)
                .await?;
            self.store_token(key, token.clone(), ttl);
            format!("Bearer {token}")
        } else if challenges.iter().any(|c| c.scheme == "basic") {
            match credential {
                Some(c) => basic(c),
                None => {
                    return Err((
                        ErrorKind::Unauthorized,
                        Some(401),
                        Some(
                            "the registry asks for credentials and none match it (--registry-auth)"
                                .to_owned(),
                        ),
                    ));
                }
            }
        } else {
            return Err((
                ErrorKind::Challenge,
                Some(401),
                Some(format!("no Bearer or Basic challenge in {header:?}")),
            ));
        };
        let answer = self
            .get_following(target, Some(&authorization), accept, limit)
            .await?;
        check_status(answer)
    }

    fn cached_token(&self, key: &(String, String)) -> Option<String> {
        let tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        tokens
            .get(key)
            .filter(|(_, expiry)| *expiry > Instant::now())
            .map(|(t, _)| t.clone())
    }

    fn store_token(&self, key: (String, String), token: String, ttl: Duration) {
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        if tokens.len() >= MAX_TOKENS {
            let now = Instant::now();
            tokens.retain(|_, (_, expiry)| *expiry > now);
            if tokens.len() >= MAX_TOKENS {
                tokens.clear();
            }
        }
        tokens.insert(key, (token, Instant::now() + ttl));
    }

    /// Asks the realm for a token: `GET realm?service=…&scope=…`, with the
    /// credentials as basic auth when there are some.
    async fn token(
        &self,
        bearer: &challenge::Bearer<'_>,
        scope: &str,
        credential: Option<&Credential>,
    ) -> Result<(String, Duration), Failure> {
        let uri: Uri = bearer.realm.parse().map_err(|_| {
            (
                ErrorKind::Challenge,
                Some(401),
                Some(format!("the realm {:?} is not a URL", bearer.realm)),
            )
        })?;
        let mut target = Target::from_uri(&uri).ok_or_else(|| {
            (
                ErrorKind::Challenge,
                Some(401),
                Some(format!(
                    "the realm {:?} is not an http(s) URL",
                    bearer.realm
                )),
            )
        })?;
        if !target.tls && !self.is_plain(&target.authority) {
            return Err((
                ErrorKind::InsecureRedirect,
                None,
                Some(format!("token realm {}", bearer.realm)),
            ));
        }
        let mut query = Vec::new();
        if let Some(service) = bearer.service {
            query.push(format!("service={}", percent_encode(service)));
        }
        query.push(format!("scope={}", percent_encode(scope)));
        let sep = if target.path_and_query.contains('?') {
            '&'
        } else {
            '?'
        };
        target.path_and_query = format!("{}{sep}{}", target.path_and_query, query.join("&"));
        let auth = credential.map(basic);
        let answer = self
            .get_following(
                &target,
                auth.as_deref(),
                Some("application/json"),
                MAX_SMALL_BODY,
            )
            .await?;
        if answer.status == StatusCode::UNAUTHORIZED || answer.status == StatusCode::FORBIDDEN {
            return Err((
                ErrorKind::Unauthorized,
                Some(answer.status.as_u16()),
                Some(format!(
                    "the token server {} refused the credentials{}",
                    target.authority,
                    if credential.is_none() {
                        " (none given: --registry-auth)"
                    } else {
                        ""
                    }
                )),
            ));
        }
        let answer = check_status(answer).map_err(|(kind, status, detail)| {
            let kind = match kind {
                ErrorKind::Status | ErrorKind::NotFound => ErrorKind::Token,
                k => k,
            };
            (kind, status, detail)
        })?;
        #[derive(serde::Deserialize)]
        struct TokenAnswer {
            token: Option<String>,
            access_token: Option<String>,
            expires_in: Option<u64>,
        }
        let parsed: TokenAnswer = serde_json::from_slice(&answer.body)
            .map_err(|e| (ErrorKind::Token, Some(200), Some(e.to_string())))?;
        let token = parsed
            .token
            .filter(|t| !t.is_empty())
            .or(parsed.access_token.filter(|t| !t.is_empty()))
            .ok_or((
                ErrorKind::Token,
                Some(200),
                Some("neither token nor access_token".to_owned()),
            ))?;
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err((
                ErrorKind::Token,
                Some(200),
                Some("the token has characters a header cannot carry".to_owned()),
            ));
        }
        // The distribution spec's default is 60 s; a token is reused for at
        // most that long, or what the server says, minus a margin.
        let ttl = Duration::from_secs(parsed.expires_in.unwrap_or(60).clamp(10, 3600) - 5);
        Ok((token, ttl))
    }

    /// A GET that follows redirects (at most `max_redirects`), dropping the
    /// `Authorization` header when the host changes and refusing HTTPS to
    /// plain HTTP unless the new host is named for it.
    async fn get_following(
        &self,
        target: &Target,
        authorization: Option<&str>,
        accept: Option<&str>,
        limit: u64,
    ) -> Result<Answer, Failure> {
        let mut target = target.clone();
        let mut authorization = authorization.map(str::to_owned);
        for _ in 0..=self.options.max_redirects {
            let answer = self
                .get_once(&target, authorization.as_deref(), accept, limit)
                .await?;
            if !answer.status.is_redirection() || answer.status == StatusCode::NOT_MODIFIED {
                return Ok(answer);
            }
            let location = answer
                .headers
                .get("location")
                .and_then(|v| v.to_str().ok())
                .ok_or((
                    ErrorKind::Redirect,
                    Some(answer.status.as_u16()),
                    Some("a redirect without Location".to_owned()),
                ))?;
            let next = resolve_location(&target, location).ok_or((
                ErrorKind::Redirect,
                Some(answer.status.as_u16()),
                Some(format!("unusable Location {location:?}")),
            ))?;
            if target.tls && !next.tls && !self.is_plain(&next.authority) {
                return Err((
                    ErrorKind::InsecureRedirect,
                    Some(answer.status.as_u16()),
                    Some(format!("to {}", next.uri())),
                ));
            }
            if next.authority != target.authority {
                authorization = None;
            }
            target = next;
        }
        Err((
            ErrorKind::Redirect,
            None,
            Some(format!(
                "more than {} redirects",
                self.options.max_redirects
            )),
        ))
    }

    /// One GET, bounded in time (connect, TLS, headers and body together)
    /// and in body size: a body longer than `limit` is not read past the
    /// bound.
    async fn get_once(
        &self,
        target: &Target,
        authorization: Option<&str>,
        accept: Option<&str>,
        limit: u64,
    ) -> Result<Answer, Failure> {
        let started = Instant::now();
        let timeout = self.options.request_timeout;
        let result = match tokio::time::timeout(
            timeout,
            self.get_unbounded_in_time(target, authorization, accept, limit),
        )
        .await
        {
            Ok(r) => r,
            Err(_) => Err((ErrorKind::Timeout(timeout), None, None)),
        };
        self.metrics.record_http(
            match &result {
                Ok(a) => a.status.as_u16(),
                Err(_) => 0,
            },
            started.elapsed(),
        );
        result
    }

    async fn get_unbounded_in_time(
        &self,
        target: &Target,
        authorization: Option<&str>,
        accept: Option<&str>,
        limit: u64,
    ) -> Result<Answer, Failure> {
        let (host, port) = target.host_port();
        let tcp = TcpStream::connect((host, port))
            .await
            .map_err(|e| (ErrorKind::Connect, None, Some(e.to_string())))?;
        let _ = tcp.set_nodelay(true);
        let mut builder = Request::get(target.path_and_query.as_str())
            .header("host", target.authority.as_str())
            .header("user-agent", self.options.user_agent.as_str());
        if let Some(a) = accept {
            builder = builder.header("accept", a);
        }
        if let Some(a) = authorization {
            builder = builder.header("authorization", a);
        }
        let request = builder.body(Empty::<Bytes>::new()).map_err(|e| {
            (
                ErrorKind::Http,
                None,
                Some(format!("cannot build the request: {e}")),
            )
        })?;
        let response = if target.tls {
            let name = ServerName::try_from(host.to_owned()).map_err(|e| {
                (
                    ErrorKind::Tls,
                    None,
                    Some(format!("{host:?} is not a TLS server name: {e}")),
                )
            })?;
            let tls = self
                .tls
                .connect(name, tcp)
                .await
                .map_err(|e| (ErrorKind::Tls, None, Some(e.to_string())))?;
            send(tls, request).await?
        } else {
            send(tcp, request).await?
        };
        let (parts, body) = response.0.into_parts();
        let limit = if parts.status.is_success() {
            limit
        } else {
            limit.min(MAX_SMALL_BODY)
        };
        let body = read_bounded(body, limit, parts.status.is_success(), &parts.headers).await?;
        drop(response.1);
        Ok(Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }
}

fn target_authority(reference: &Reference) -> String {
    endpoint(reference.as_image_ref().pull_host()).to_owned()
}

/// A failure of a request for `image` as the error that names it and the
/// registry asked.
fn failure_error(
    (kind, status, detail): Failure,
    image: &str,
    reference: &Reference,
) -> RegistryError {
    let mut e = RegistryError::new(kind, image, &target_authority(reference));
    if let Some(s) = status {
        e = e.with_status(s);
    }
    if let Some(d) = detail {
        e = e.with_detail(d);
    }
    e
}

fn basic(c: &Credential) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", c.username, c.password))
    )
}

fn manifest_failure(e: ManifestError) -> Failure {
    match e {
        ManifestError::SchemaV1 => (ErrorKind::SchemaV1, Some(200), None),
        ManifestError::UnsupportedMediaType(t) => {
            (ErrorKind::UnsupportedMediaType(t), Some(200), None)
        }
        ManifestError::DigestMismatch { expected, actual } => (
            ErrorKind::DigestMismatch { expected, actual },
            Some(200),
            None,
        ),
        ManifestError::UnsupportedDigest(d) => (ErrorKind::UnsupportedDigest(d), Some(200), None),
        e @ (ManifestError::MediaTypeMismatch { .. } | ManifestError::Invalid(_)) => {
            (ErrorKind::InvalidManifest, Some(200), Some(e.to_string()))
        }
    }
}

async fn send<S>(
    io: S,
    request: Request<Empty<Bytes>>,
) -> Result<(Response<hyper::body::Incoming>, AbortOnDrop), Failure>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| (ErrorKind::Http, None, Some(e.to_string())))?;
    let task = AbortOnDrop(tokio::spawn(async move {
        let _ = conn.await;
    }));
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| (ErrorKind::Http, None, Some(e.to_string())))?;
    Ok((response, task))
}

/// Reads a body, at most `limit` bytes: a `Content-Length` over the bound
/// is refused before reading, and reading stops at the first byte past it.
/// For an answer that is not a success (an error message), a longer body is
/// cut instead.
async fn read_bounded(
    mut body: hyper::body::Incoming,
    limit: u64,
    success: bool,
    headers: &hyper::HeaderMap,
) -> Result<Bytes, Failure> {
    let too_large = || (ErrorKind::ManifestTooLarge { limit }, Some(200), None);
    let declared = headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if success && declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut out = Vec::with_capacity(declared.unwrap_or(0).min(limit) as usize);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| (ErrorKind::Http, None, Some(e.to_string())))?;
        if let Ok(data) = frame.into_data() {
            if out.len() as u64 + data.len() as u64 > limit {
                if success {
                    return Err(too_large());
                }
                let room = (limit as usize).saturating_sub(out.len());
                out.extend_from_slice(&data[..room.min(data.len())]);
                break;
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(out))
}

/// Maps a non-success status to its kind, with the registry's own error
/// (`{"errors":[{"code","message"}]}`) as the detail.
fn check_status(answer: Answer) -> Result<Answer, Failure> {
    if answer.status.is_success() {
        return Ok(answer);
    }
    let status = answer.status.as_u16();
    let kind = match answer.status {
        StatusCode::UNAUTHORIZED => ErrorKind::Unauthorized,
        StatusCode::FORBIDDEN => ErrorKind::Denied,
        StatusCode::NOT_FOUND => ErrorKind::NotFound,
        StatusCode::TOO_MANY_REQUESTS => ErrorKind::RateLimited {
            retry_after: answer
                .headers
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok()),
        },
        _ => ErrorKind::Status,
    };
    Err((kind, Some(status), registry_error_detail(&answer.body)))
}

/// The first error of an OCI error body, `CODE: message`.
fn registry_error_detail(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<OneError>,
    }
    #[derive(serde::Deserialize)]
    struct OneError {
        code: Option<String>,
        message: Option<String>,
    }
    let errors: Errors = serde_json::from_slice(body).ok()?;
    let first = errors.errors.into_iter().next()?;
    match (first.code, first.message) {
        (Some(c), Some(m)) => Some(format!("{c}: {m}")),
        (Some(c), None) => Some(c),
        (None, Some(m)) => Some(m),
        (None, None) => None,
    }
}

/// The target a `Location` names, relative to the current one.
fn resolve_location(current: &Target, location: &str) -> Option<Target> {
    if location.starts_with("https://") || location.starts_with("http://") {
        return Target::from_uri(&location.parse().ok()?);
    }
    // Another scheme (`ftp:`, `data:`): not followed.
    if location
        .split(['/', '?', '#'])
        .next()
        .is_some_and(|first| first.contains(':'))
    {
        return None;
    }
    let path = if location.starts_with("//") {
        let scheme = if current.tls { "https:" } else { "http:" };
        return Target::from_uri(&format!("{scheme}{location}").parse().ok()?);
    } else if location.starts_with('/') {
        location.to_owned()
    } else {
        let base = current.path_and_query.split('?').next().unwrap_or("/");
        let dir = &base[..base.rfind('/').map_or(0, |i| i + 1)];
        format!("{dir}{location}")
    };
    // Check it is a valid path and query.
    let _: hyper::http::uri::PathAndQuery = path.parse().ok()?;
    Some(Target {
        tls: current.tls,
        authority: current.authority.clone(),
        path_and_query: path,
    })
}

/// Percent-encodes all but RFC 3986's unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_endpoint() {
        assert_eq!(endpoint("docker.io"), "registry-1.docker.io");
        assert_eq!(endpoint("index.docker.io"), "index.docker.io");
        assert_eq!(endpoint("registry.my.com:5000"), "registry.my.com:5000");
    }

    #[test]
    fn locations() {
        let t = Target {
            tls: true,
            authority: "r:5000".to_owned(),
            path_and_query: "/v2/a/blobs/x?y=1".to_owned(),
        };
        let abs = resolve_location(&t, "https://s3.example/b?sig=1").unwrap();
        assert_eq!(abs.uri(), "https://s3.example/b?sig=1");
        assert_eq!(
            resolve_location(&t, "/c").unwrap().uri(),
            "https://r:5000/c"
        );
        assert_eq!(
            resolve_location(&t, "d").unwrap().uri(),
            "https://r:5000/v2/a/blobs/d"
        );
        assert_eq!(
            resolve_location(&t, "//other/e").unwrap().uri(),
            "https://other/e"
        );
        assert!(resolve_location(&t, "ftp://x/").is_none());
    }

    #[test]
    fn host_ports() {
        let t = |tls, a: &str| Target {
            tls,
            authority: a.to_owned(),
            path_and_query: "/".to_owned(),
        };
        assert_eq!(t(true, "r").host_port(), ("r", 443));
        assert_eq!(t(false, "r").host_port(), ("r", 80));
        assert_eq!(t(true, "r:5000").host_port(), ("r", 5000));
        assert_eq!(t(true, "[::1]:5000").host_port(), ("::1", 5000));
        assert_eq!(t(true, "[::1]").host_port(), ("::1", 443));
    }

    #[test]
    fn percent_encoding_and_error_bodies() {
        assert_eq!(
            percent_encode("repository:a/b:pull"),
            "repository%3Aa%2Fb%3Apull"
        );
        assert_eq!(
            registry_error_detail(
                br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#
            )
            .as_deref(),
            Some("MANIFEST_UNKNOWN: manifest unknown")
        );
        assert_eq!(registry_error_detail(b"<html>"), None);
    }
}
