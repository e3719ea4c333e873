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

use crate::fixture::{Layout, Registry, have};
use crate::support::{TestCa, sha256};
use image_policy_core::reference::Reference;
use image_policy_registry::{CacheOptions, Client, ErrorKind, Kind, Options, Resolver};
use std::time::{Duration, Instant};

fn options(ca: &TestCa, registry: &Registry, with_credentials: bool) -> Options {
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
