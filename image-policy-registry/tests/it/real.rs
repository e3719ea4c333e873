//! Against Debian's `docker-registry` (the distribution registry) on
//! 127.0.0.1: TLS with a certificate from a CA made here, htpasswd (bcrypt)
//! basic auth, an image and a two-platform index pushed with `skopeo copy
//! --preserve-digests` from OCI layouts written here, a tag pushed over
//! between two resolutions, and the registry stopped; and docker-registry
//! with token auth, its token server written here (ES256 JWTs signed with
//! ring, the signer's certificate in `x5c`).
//!
//! Skipped, with the reason printed, when `docker-registry` or `skopeo` is
//! missing; under `CI=true` their absence is a failure.

use crate::support::{TestCa, sha256};
use image_policy_core::reference::Reference;
use image_policy_registry::{CacheOptions, Client, ErrorKind, Kind, Options, Resolver};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Whether `tool` runs; when not, skip (or fail under CI).
pub(crate) fn have(tool: &str) -> bool {
    let ok = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{tool} is required in CI (apt-get install docker-registry skopeo)"
        );
        eprintln!("skipped: {tool} is not installed (apt-get install docker-registry skopeo)");
    }
    ok
}

pub(crate) struct Registry {
    child: Child,
    pub(crate) addr: String,
    dir: tempfile::TempDir,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Registry {
    /// Starts docker-registry over TLS with htpasswd `user:password`.
    pub(crate) fn start(ca: &TestCa, user: &str, password: &str) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        // The cheapest cost bcrypt allows: the test measures nothing.
        let hash = bcrypt::hash(password, 4).unwrap();
        let htpasswd = dir.path().join("htpasswd");
        std::fs::write(&htpasswd, format!("{user}:{hash}\n")).unwrap();
        let auth = format!(
            "  htpasswd:\n    realm: test\n    path: {}\n",
            htpasswd.display()
        );
        let storage = dir.path().join("storage");
        Registry::spawn(ca, dir, &auth, &storage)
    }

    /// Starts docker-registry over TLS with `auth` (the YAML under `auth:`)
    /// on the storage root `storage`.
    fn spawn(ca: &TestCa, dir: tempfile::TempDir, auth: &str, storage: &Path) -> Registry {
        let p = |name: &str| dir.path().join(name);
        std::fs::write(p("cert.pem"), &ca.server_cert).unwrap();
        std::fs::write(p("key.pem"), &ca.server_key).unwrap();
        // skopeo's --dest-cert-dir reads *.crt as CAs.
        std::fs::create_dir(p("certs")).unwrap();
        std::fs::write(p("certs/ca.crt"), ca.pem()).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {root}\nhttp:\n  addr: {addr}\n  tls:\n    certificate: {cert}\n    key: {key}\nauth:\n{auth}",
            root = storage.display(),
            cert = p("cert.pem").display(),
            key = p("key.pem").display(),
        );
        std::fs::write(p("config.yml"), config).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(p("config.yml"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(p("registry.log")).unwrap())
            .spawn()
            .unwrap();
        let registry = Registry { child, addr, dir };
        let started = Instant::now();
        while std::net::TcpStream::connect(&registry.addr).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "docker-registry did not listen: {}",
                std::fs::read_to_string(registry.path("registry.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        registry
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `skopeo copy` of an OCI layout's `tag` to `name` on this registry,
    /// digests preserved.
    fn push(&self, layout: &Path, tag: &str, name: &str, all: bool) {
        let policy = self.path("policy.json");
        std::fs::write(
            &policy,
            r#"{"default":[{"type":"insecureAcceptAnything"}]}"#,
        )
        .unwrap();
        let mut cmd = Command::new("skopeo");
        cmd.arg("--policy")
            .arg(&policy)
            .args(["copy", "--quiet", "--preserve-digests"]);
        if all {
            cmd.arg("--all");
        }
        let out = cmd
            .arg("--dest-cert-dir")
            .arg(self.path("certs"))
            .args(["--dest-creds", "alice:wonderland"])
            .arg(format!("oci:{}:{tag}", layout.display()))
            .arg(format!("docker://{}/{name}", self.addr))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "skopeo copy: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// An OCI layout under `dir` holding, under their tags, images whose
/// configs differ by `n`, and an index of two of them; returns each tag's
/// manifest (or index) bytes.
struct Layout {
    dir: PathBuf,
    refs: Vec<(String, &'static str, Vec<u8>)>,
}

impl Layout {
    fn new(dir: PathBuf) -> Layout {
        std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        Layout {
            dir,
            refs: Vec::new(),
        }
    }

    fn blob(&self, bytes: &[u8]) -> String {
        let digest = sha256(bytes);
        std::fs::write(
            self.dir
                .join("blobs/sha256")
                .join(&digest["sha256:".len()..]),
            bytes,
        )
        .unwrap();
        digest
    }

    /// An image for `arch` whose config has `n`; its manifest bytes.
    fn image(&self, n: u32, arch: &str) -> Vec<u8> {
        // An empty tar archive: two zero blocks.
        let layer = vec![0u8; 1024];
        let layer_digest = self.blob(&layer);
        let config = format!(
            r#"{{"architecture":"{arch}","os":"linux","config":{{"Env":["N={n}"]}},"rootfs":{{"type":"layers","diff_ids":["{layer_digest}"]}}}}"#
        );
        let config_digest = self.blob(config.as_bytes());
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config_digest}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{layer_digest}","size":1024}}]}}"#,
            config.len()
        )
        .into_bytes();
        self.blob(&manifest);
        manifest
    }

    fn tag_image(&mut self, tag: &str, n: u32) -> Vec<u8> {
        let m = self.image(n, "amd64");
        self.refs.push((
            tag.to_owned(),
            "application/vnd.oci.image.manifest.v1+json",
            m.clone(),
        ));
        self.write_index();
        m
    }

    fn tag_index(&mut self, tag: &str) -> Vec<u8> {
        let entry = |m: &[u8], arch: &str| {
            format!(
                r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":{},"platform":{{"architecture":"{arch}","os":"linux"}}}}"#,
                sha256(m),
                m.len()
            )
        };
        let amd = self.image(10, "amd64");
        let arm = self.image(11, "arm64");
        let index = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{},{}]}}"#,
            entry(&amd, "amd64"),
            entry(&arm, "arm64")
        )
        .into_bytes();
        self.blob(&index);
        self.refs.push((
            tag.to_owned(),
            "application/vnd.oci.image.index.v1+json",
            index.clone(),
        ));
        self.write_index();
        index
    }

    fn write_index(&self) {
        let manifests: Vec<String> = self
            .refs
            .iter()
            .map(|(tag, media_type, bytes)| {
                format!(
                    r#"{{"mediaType":"{media_type}","digest":"{}","size":{},"annotations":{{"org.opencontainers.image.ref.name":"{tag}"}}}}"#,
                    sha256(bytes),
                    bytes.len()
                )
            })
            .collect();
        std::fs::write(
            self.dir.join("index.json"),
            format!(
                r#"{{"schemaVersion":2,"manifests":[{}]}}"#,
                manifests.join(",")
            ),
        )
        .unwrap();
    }
}

pub(crate) fn options(ca: &TestCa, registry: &Registry, with_credentials: bool) -> Options {
    let mut options = ca.options();
    if with_credentials {
        // `docker login` writes this: base64("alice:wonderland").
        let config = format!(
            r#"{{"auths":{{"https://{}/v2/":{{"auth":"YWxpY2U6d29uZGVybGFuZA=="}}}}}}"#,
            registry.addr
        );
        options.keyring.add_file_contents(&config).unwrap();
    }
    options
}

#[tokio::test]
async fn tls_htpasswd_index_push_over_and_stop() {
    if !have("docker-registry") || !have("skopeo") {
        return;
    }
    let ca = TestCa::new();
    let registry = Registry::start(&ca, "alice", "wonderland");
    let mut layout = Layout::new(registry.path("layout"));
    let v1 = layout.tag_image("v1", 1);
    let v2 = layout.tag_image("v2", 2);
    let index = layout.tag_index("multi");
    registry.push(&layout.dir, "v1", "team/app:1", false);
    registry.push(&layout.dir, "multi", "team/multi:1", true);
    let addr = registry.addr.clone();
    let name = |s: &str| -> Reference { format!("{addr}/{s}").parse().unwrap() };

    let client = Client::new(options(&ca, &registry, true)).unwrap();
    let cached = Resolver::new(client, CacheOptions::with_ttl(Duration::from_secs(600)));
    let client = Client::new(options(&ca, &registry, true)).unwrap();
    let uncached = Resolver::new(client, CacheOptions::with_ttl(Duration::ZERO));

    let p = uncached.resolve(&name("team/app:1")).await.unwrap();
    assert_eq!(p.digest, sha256(&v1));
    assert_eq!(p.kind, Kind::Manifest);
    assert_eq!(
        cached.resolve(&name("team/app:1")).await.unwrap().digest,
        sha256(&v1)
    );

    // The index, at the index's digest.
    let p = uncached.resolve(&name("team/multi:1")).await.unwrap();
    assert_eq!((p.kind, p.digest.clone()), (Kind::Index, sha256(&index)));
    // By digest: the registry has it.
    let by_digest = name(&format!("team/app@{}", sha256(&v1)));
    assert_eq!(
        uncached.resolve(&by_digest).await.unwrap().digest,
        sha256(&v1)
    );

    // No credentials, wrong credentials, an unknown tag, an untrusted CA.
    let anonymous = Resolver::new(
        Client::new(options(&ca, &registry, false)).unwrap(),
        CacheOptions::with_ttl(Duration::ZERO),
    );
    let e = anonymous.resolve(&name("team/app:1")).await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Unauthorized, "{e}");
    let mut wrong = ca.options();
    wrong
        .keyring
        .add_file_contents(&format!(
            r#"{{"auths":{{"{}":{{"username":"alice","password":"nope"}}}}}}"#,
            registry.addr
        ))
        .unwrap();
    let e = Resolver::new(
        Client::new(wrong).unwrap(),
        CacheOptions::with_ttl(Duration::ZERO),
    )
    .resolve(&name("team/app:1"))
    .await
    .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Unauthorized, "{e}");
    let e = uncached.resolve(&name("team/app:nope")).await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::NotFound, "{e}");
    assert!(
        e.detail().unwrap_or_default().contains("MANIFEST_UNKNOWN"),
        "{e}"
    );
    let mut other_ca = TestCa::new().options();
    other_ca.keyring = options(&ca, &registry, true).keyring;
    let e = Resolver::new(
        Client::new(other_ca).unwrap(),
        CacheOptions::with_ttl(Duration::ZERO),
    )
    .resolve(&name("team/app:1"))
    .await
    .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Tls, "{e}");

    // The tag pushed over: without a cache the new digest at once; with
    // one, the old digest until the TTL ends.
    registry.push(&layout.dir, "v2", "team/app:1", false);
    assert_eq!(
        uncached.resolve(&name("team/app:1")).await.unwrap().digest,
        sha256(&v2)
    );
    assert_eq!(
        cached.resolve(&name("team/app:1")).await.unwrap().digest,
        sha256(&v1)
    );
    // The TTL is long enough that a push (a skopeo run) on a loaded machine
    // ends inside it; the cached answer is asserted only when it did, so the
    // test never depends on how fast the machine is.
    let ttl = Duration::from_secs(3);
    let short = Resolver::new(
        Client::new(options(&ca, &registry, true)).unwrap(),
        CacheOptions::with_ttl(ttl),
    );
    let cached_at = Instant::now();
    assert_eq!(
        short.resolve(&name("team/app:1")).await.unwrap().digest,
        sha256(&v2)
    );
    // The entry was made between `cached_at` and now.
    let resolved_at = Instant::now();
    registry.push(&layout.dir, "v1", "team/app:1", false);
    let answer = short.resolve(&name("team/app:1")).await.unwrap().digest;
    if cached_at.elapsed() < ttl {
        assert_eq!(answer, sha256(&v2), "the cache answers within its TTL");
    } else {
        eprintln!("the push took longer than the TTL: the cached answer is not checked");
    }
    tokio::time::sleep(ttl.saturating_sub(resolved_at.elapsed()) + Duration::from_millis(50)).await;
    assert_eq!(
        short.resolve(&name("team/app:1")).await.unwrap().digest,
        sha256(&v1)
    );

    // The registry stopped: a connection error, soon; the cache still
    // answers what it holds.
    drop(registry);
    let started = Instant::now();
    let e = uncached.resolve(&name("team/app:1")).await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Connect, "{e}");
    assert_eq!(e.registry(), addr);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(
        cached.resolve(&name("team/app:1")).await.unwrap().digest,
        sha256(&v1)
    );
}

/// A JWT for docker-registry's token auth: ES256, signed with `key`, its
/// certificate in `x5c` (the registry verifies it against its
/// `rootcertbundle`), granting `actions` on repository `repo`.
fn jwt(
    key: &ring::signature::EcdsaKeyPair,
    cert_der: &[u8],
    repo: &str,
    actions: &[&str],
) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let std = base64::engine::general_purpose::STANDARD;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header = serde_json::json!({"alg": "ES256", "typ": "JWT", "x5c": [std.encode(cert_der)]});
    let claims = serde_json::json!({
        "iss": "test-issuer", "sub": "alice", "aud": "test-registry",
        "exp": now + 300, "nbf": now - 10, "iat": now, "jti": format!("{now}-{repo}"),
        "access": [{"type": "repository", "name": repo, "actions": actions}],
    });
    let signing_input = format!(
        "{}.{}",
        b64.encode(header.to_string()),
        b64.encode(claims.to_string())
    );
    let signature = key
        .sign(&ring::rand::SystemRandom::new(), signing_input.as_bytes())
        .unwrap();
    format!("{signing_input}.{}", b64.encode(signature.as_ref()))
}

#[tokio::test]
async fn token_auth_registry_with_a_token_server_written_here() {
    use crate::support::{Reply, Stub};
    use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
    if !have("docker-registry") || !have("skopeo") {
        return;
    }
    let ca = TestCa::new();
    // Images go in through an htpasswd registry; a token registry serves
    // the same storage.
    let basic = Registry::start(&ca, "alice", "wonderland");
    let mut layout = Layout::new(basic.path("layout"));
    let v1 = layout.tag_image("v1", 1);
    basic.push(&layout.dir, "v1", "team/app:1", false);

    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let key =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let rcgen_key = rcgen::KeyPair::try_from(pkcs8.as_ref()).unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "token signer");
    let signer = params.self_signed(&rcgen_key).unwrap();
    let signer_der = signer.der().to_vec();

    // The token server: alice:wonderland gets pull on `team/app`; asked
    // for `other/app`, it grants another repository.
    let stub = Stub::start(Some(ca.acceptor()), move |seen, _| {
        if !seen.path.starts_with("/token?") {
            return Reply::Full(404, vec![], Vec::new());
        }
        // base64("alice:wonderland")
        if seen.authorization.as_deref() != Some("Basic YWxpY2U6d29uZGVybGFuZA==") {
            return Reply::Full(401, vec![], br#"{"details":"bad credentials"}"#.to_vec());
        }
        let repo = if seen.path.contains("other%2Fapp") {
            "team/app-not-other"
        } else {
            "team/app"
        };
        let token = jwt(&key, &signer_der, repo, &["pull"]);
        Reply::Full(
            200,
            vec![("content-type", "application/json".to_owned())],
            serde_json::json!({"token": token, "expires_in": 300})
                .to_string()
                .into_bytes(),
        )
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token-ca.pem"), signer.pem()).unwrap();
    let auth = format!(
        "  token:\n    realm: https://{}/token\n    service: test-registry\n    issuer: test-issuer\n    rootcertbundle: {}\n",
        stub.addr,
        dir.path().join("token-ca.pem").display()
    );
    let storage = basic.path("storage");
    let token_registry = Registry::spawn(&ca, dir, &auth, &storage);
    let name = |s: &str| -> Reference { format!("{}/{s}", token_registry.addr).parse().unwrap() };

    let mut options = ca.options();
    options
        .keyring
        .add_file_contents(&format!(
            r#"{{"auths":{{"{}":{{"username":"alice","password":"wonderland"}}}}}}"#,
            token_registry.addr
        ))
        .unwrap();
    let r = Resolver::new(
        Client::new(options).unwrap(),
        CacheOptions::with_ttl(Duration::ZERO),
    );
    let p = r.resolve(&name("team/app:1")).await.unwrap();
    assert_eq!(p.digest, sha256(&v1));
    assert_eq!(
        stub.seen.lock().unwrap()[0].path,
        "/token?service=test-registry&scope=repository%3Ateam%2Fapp%3Apull"
    );
    // The token is reused while it lasts: no second token request.
    r.resolve(&name("team/app:1")).await.unwrap();
    assert_eq!(stub.count("/token?"), 1);

    // A token that grants another repository: the registry refuses it.
    let e = r.resolve(&name("other/app:1")).await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Unauthorized, "{e}");
    // No credentials: the token server refuses.
    let anonymous = Resolver::new(
        Client::new(ca.options()).unwrap(),
        CacheOptions::with_ttl(Duration::ZERO),
    );
    let e = anonymous.resolve(&name("team/app:1")).await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Unauthorized, "{e}");
    assert!(
        e.detail().unwrap_or_default().contains("token server"),
        "{e}"
    );
}
