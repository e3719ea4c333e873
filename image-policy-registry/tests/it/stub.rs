//! Every answer a registry can give, from a stub HTTPS server: successes
//! (manifest, index, by digest, through redirects, with basic and bearer
//! auth), and each failure (401, 403, 404, 429, slow, oversized, a wrong
//! `Docker-Content-Digest`, schema 1, an untrusted certificate, a redirect
//! to plain HTTP), the cache and single flight.

use crate::support::*;
use image_policy_core::reference::Reference;
use image_policy_registry::manifest::{DOCKER_SCHEMA1_SIGNED, OCI_INDEX, OCI_MANIFEST};
use image_policy_registry::{Client, ErrorKind, Kind, RegistryError};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn image(stub: &Stub, name: &str) -> Reference {
    format!("{}/{name}", stub.addr).parse().unwrap()
}

async fn resolve_err(stub: &Stub, ca: &TestCa, name: &str) -> RegistryError {
    resolver(ca.options(), Duration::ZERO)
        .resolve(&image(stub, name))
        .await
        .unwrap_err()
}

#[tokio::test]
async fn manifest_and_index_are_pinned_at_the_digest_of_their_bytes() {
    let ca = TestCa::new();
    let stub = Stub::start(Some(ca.acceptor()), |seen, _| {
        if seen.path.ends_with("/manifests/1") {
            ok_manifest(oci_manifest(1), OCI_MANIFEST)
        } else if seen.path.ends_with("/manifests/multi") {
            // No Content-Type: the body's mediaType says what it is.
            Reply::Full(200, vec![], oci_index())
        } else if seen
            .path
            .ends_with(&format!("/manifests/{}", sha256(&oci_manifest(1))))
        {
            ok_manifest(oci_manifest(1), OCI_MANIFEST)
        } else {
            Reply::Full(404, vec![], Vec::new())
        }
    })
    .await;
    let r = resolver(ca.options(), Duration::ZERO);
    let p = r.resolve(&image(&stub, "team/app:1")).await.unwrap();
    assert_eq!(p.digest, sha256(&oci_manifest(1)));
    assert_eq!(p.kind, Kind::Manifest);
    assert_eq!(
        p.pinned.to_string(),
        format!("{}/team/app:1@{}", stub.addr, p.digest)
    );
    let seen = stub.seen.lock().unwrap()[0].clone();
    assert_eq!(seen.path, "/v2/team/app/manifests/1");
    assert_eq!(
        seen.accept.as_deref(),
        Some(image_policy_registry::manifest::ACCEPT)
    );
    assert_eq!(seen.authorization, None);

    let p = r.resolve(&image(&stub, "team/app:multi")).await.unwrap();
    assert_eq!((p.kind, p.media_type.as_str()), (Kind::Index, OCI_INDEX));
    // The index's digest, never a platform's.
    assert_eq!(p.digest, sha256(&oci_index()));

    // By digest: fetched by it and checked against it.
    let by_digest = format!("team/app@{}", sha256(&oci_manifest(1)));
    let p = r.resolve(&image(&stub, &by_digest)).await.unwrap();
    assert_eq!(p.digest, sha256(&oci_manifest(1)));
}

#[tokio::test]
async fn registry_errors_are_data_naming_image_and_registry() {
    let ca = TestCa::new();
    let stub = Stub::start(Some(ca.acceptor()), |seen, _| {
        let error_body = |code: &str| {
            format!(r#"{{"errors":[{{"code":"{code}","message":"{code} says the registry"}}]}}"#)
                .into_bytes()
        };
        match seen.path.rsplit('/').next().unwrap() {
            "404" => Reply::Full(404, vec![], error_body("MANIFEST_UNKNOWN")),
            "401" => Reply::Full(401, vec![], error_body("UNAUTHORIZED")),
            "403" => Reply::Full(403, vec![], error_body("DENIED")),
            "429" => Reply::Full(
                429,
                vec![("retry-after", "7".to_owned())],
                error_body("TOOMANYREQUESTS"),
            ),
            "500" => Reply::Full(500, vec![], b"<html>oops".to_vec()),
            "schema1" => ok_manifest(
                br#"{"schemaVersion":1,"fsLayers":[]}"#.to_vec(),
                DOCKER_SCHEMA1_SIGNED,
            ),
            "html" => Reply::Full(
                200,
                vec![("content-type", "text/html".to_owned())],
                b"<html>".to_vec(),
            ),
            "baddigest" => Reply::Full(
                200,
                vec![
                    ("content-type", OCI_MANIFEST.to_owned()),
                    ("docker-content-digest", sha256(b"something else")),
                ],
                oci_manifest(1),
            ),
            "big" => Reply::Full(
                200,
                vec![("content-type", OCI_MANIFEST.to_owned())],
                vec![b' '; 4 * 1024 * 1024 + 1],
            ),
            "bigchunked" => Reply::Chunked(1000, 64 * 1024),
            _ => Reply::Full(418, vec![], Vec::new()),
        }
    })
    .await;
    let cases: &[(&str, ErrorKind, Option<u16>, Option<&str>)] = &[
        (
            "404",
            ErrorKind::NotFound,
            Some(404),
            Some("MANIFEST_UNKNOWN: MANIFEST_UNKNOWN says the registry"),
        ),
        (
            "401",
            ErrorKind::Unauthorized,
            Some(401),
            Some("UNAUTHORIZED: UNAUTHORIZED says the registry"),
        ),
        (
            "403",
            ErrorKind::Denied,
            Some(403),
            Some("DENIED: DENIED says the registry"),
        ),
        (
            "429",
            ErrorKind::RateLimited {
                retry_after: Some(7),
            },
            Some(429),
            Some("TOOMANYREQUESTS: TOOMANYREQUESTS says the registry"),
        ),
        ("500", ErrorKind::Status, Some(500), None),
        ("schema1", ErrorKind::SchemaV1, Some(200), None),
        (
            "html",
            ErrorKind::UnsupportedMediaType("text/html".to_owned()),
            Some(200),
            None,
        ),
        (
            "big",
            ErrorKind::ManifestTooLarge {
                limit: 4 * 1024 * 1024,
            },
            Some(200),
            None,
        ),
        (
            "bigchunked",
            ErrorKind::ManifestTooLarge {
                limit: 4 * 1024 * 1024,
            },
            Some(200),
            None,
        ),
    ];
    for (tag, kind, status, detail) in cases {
        let e = resolve_err(&stub, &ca, &format!("team/app:{tag}")).await;
        assert_eq!(e.kind(), kind, "{tag}: {e}");
        assert_eq!(e.status(), *status, "{tag}: {e}");
        assert_eq!(e.detail(), *detail, "{tag}: {e}");
        assert_eq!(e.registry(), stub.addr.to_string());
        assert_eq!(e.image(), format!("{}/team/app:{tag}", stub.addr));
        assert!(
            e.to_string().starts_with(&format!(
                "{}/team/app:{tag}: registry {}: ",
                stub.addr, stub.addr
            )),
            "{e}"
        );
    }
    let e = resolve_err(&stub, &ca, "team/app:baddigest").await;
    match e.kind() {
        ErrorKind::DigestMismatch { expected, actual } => {
            assert_eq!(expected, &sha256(b"something else"));
            assert_eq!(actual, &sha256(&oci_manifest(1)));
        }
        other => panic!("{other:?}"),
    }
    // A digest the registry's bytes do not have.
    let wrong = format!("team/app@{}", sha256(b"x"));
    let stub2 = Stub::start(Some(ca.acceptor()), |_, _| {
        ok_manifest(oci_manifest(1), OCI_MANIFEST)
    })
    .await;
    let e = resolve_err(&stub2, &ca, &wrong).await;
    assert!(matches!(e.kind(), ErrorKind::DigestMismatch { .. }), "{e}");
}

#[tokio::test]
async fn slow_registries_time_out_and_untrusted_certificates_fail() {
    let ca = TestCa::new();
    let stub = Stub::start(Some(ca.acceptor()), |_, _| {
        Reply::Slow(
            Duration::from_secs(5),
            Box::new(ok_manifest(oci_manifest(1), OCI_MANIFEST)),
        )
    })
    .await;
    let mut options = ca.options();
    options.request_timeout = Duration::from_millis(300);
    let started = Instant::now();
    let e = resolver(options, Duration::ZERO)
        .resolve(&image(&stub, "team/app:1"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Timeout(Duration::from_millis(300)));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    // Another CA's certificate: TLS fails, nothing is skipped.
    let other = TestCa::new();
    let e = resolver(other.options(), Duration::ZERO)
        .resolve(&image(&stub, "team/app:1"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Tls, "{e}");

    // Nothing listening.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let e = resolver(ca.options(), Duration::ZERO)
        .resolve(&format!("127.0.0.1:{port}/a:1").parse().unwrap())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Connect, "{e}");
}

#[tokio::test]
async fn basic_and_bearer_auth_with_config_json_credentials() {
    let ca = TestCa::new();
    // Basic: the stub wants alice:secret.
    let stub = Stub::start(Some(ca.acceptor()), |seen, _| {
        if seen.authorization.as_deref() == Some("Basic YWxpY2U6c2VjcmV0") {
            ok_manifest(oci_manifest(1), OCI_MANIFEST)
        } else {
            Reply::Full(
                401,
                vec![("www-authenticate", r#"Basic realm="stub""#.to_owned())],
                Vec::new(),
            )
        }
    })
    .await;
    let e = resolve_err(&stub, &ca, "team/app:1").await;
    assert_eq!(e.kind(), &ErrorKind::Unauthorized);
    let mut options = ca.options();
    // `auth` is base64("alice:secret"); the key has a scheme and a path
    // prefix, matched as the kubelet matches it.
    let config = format!(
        r#"{{"auths":{{"https://{}/team":{{"auth":"YWxpY2U6c2VjcmV0"}}}}}}"#,
        stub.addr
    );
    options.keyring.add_file_contents(&config).unwrap();
    let r = resolver(options, Duration::ZERO);
    let p = r.resolve(&image(&stub, "team/app:1")).await.unwrap();
    assert_eq!(p.digest, sha256(&oci_manifest(1)));
    // Not under the key's path: anonymous, refused.
    let e = r.resolve(&image(&stub, "other/app:1")).await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Unauthorized);

    // Bearer: a token server on the same stub.
    let addr = Arc::new(std::sync::OnceLock::<String>::new());
    let addr2 = Arc::clone(&addr);
    let stub = Stub::start(Some(ca.acceptor()), move |seen, _| {
        let realm = format!("https://{}/token", addr2.get().unwrap());
        if seen.path.starts_with("/token?") {
            assert_eq!(
                seen.path,
                "/token?service=stub%20registry&scope=repository%3Ateam%2Fapp%3Apull"
            );
            if seen.authorization.as_deref() == Some("Basic Ym9iOmh1bnRlcjI=") {
                Reply::Full(200, vec![], br#"{"access_token":"tok-123","expires_in":300}"#.to_vec())
            } else {
                Reply::Full(401, vec![], Vec::new())
            }
        } else if seen.authorization.as_deref() == Some("Bearer tok-123") {
            ok_manifest(oci_manifest(2), OCI_MANIFEST)
        } else {
            Reply::Full(
                401,
                vec![(
                    "www-authenticate",
                    format!(r#"Bearer realm="{realm}",service="stub registry",scope="repository:team/app:pull""#),
                )],
                Vec::new(),
            )
        }
    })
    .await;
    addr.set(stub.addr.to_string()).unwrap();
    let e = resolve_err(&stub, &ca, "team/app:1").await;
    assert_eq!(e.kind(), &ErrorKind::Unauthorized, "{e}");
    let mut options = ca.options();
    // A Kubernetes Secret, as YAML, with the key as host:port.
    let dockerconfig = format!(
        r#"{{"auths":{{"{}":{{"username":"bob","password":"hunter2"}}}}}}"#,
        stub.addr
    );
    let secret = format!(
        "apiVersion: v1\nkind: Secret\ntype: kubernetes.io/dockerconfigjson\ndata:\n  .dockerconfigjson: {}\n",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, dockerconfig)
    );
    options.keyring.add_file_contents(&secret).unwrap();
    let r = resolver(options, Duration::ZERO);
    let before = stub.seen.lock().unwrap().len();
    let p = r.resolve(&image(&stub, "team/app:1")).await.unwrap();
    assert_eq!(p.digest, sha256(&oci_manifest(2)));
    // 401, token, GET.
    assert_eq!(stub.seen.lock().unwrap().len() - before, 3);
    // The token is reused: one request (the cache is off).
    r.resolve(&image(&stub, "team/app:1")).await.unwrap();
    assert_eq!(stub.seen.lock().unwrap().len() - before, 4);
}

#[tokio::test]
async fn redirects_are_bounded_and_never_downgrade_to_plain_http() {
    let ca = TestCa::new();
    let plain = Stub::start(None, |_, _| ok_manifest(oci_manifest(3), OCI_MANIFEST)).await;
    let plain_addr = plain.addr;
    let stub = Stub::start(Some(ca.acceptor()), move |seen, _| {
        let location = |l: String| Reply::Full(307, vec![("location", l)], Vec::new());
        if seen.path.ends_with("/manifests/moved") {
            location("/elsewhere".to_owned())
        } else if seen.path == "/elsewhere" {
            ok_manifest(oci_manifest(1), OCI_MANIFEST)
        } else if seen.path.ends_with("/manifests/loop") {
            location(seen.path.clone())
        } else if seen.path.ends_with("/manifests/plain") {
            location(format!("http://{plain_addr}/x"))
        } else {
            Reply::Full(404, vec![], Vec::new())
        }
    })
    .await;
    let r = resolver(ca.options(), Duration::ZERO);
    let p = r.resolve(&image(&stub, "team/app:moved")).await.unwrap();
    assert_eq!(p.digest, sha256(&oci_manifest(1)));
    let e = resolve_err(&stub, &ca, "team/app:loop").await;
    assert_eq!(e.kind(), &ErrorKind::Redirect, "{e}");
    assert_eq!(stub.count("/manifests/loop"), 6);
    let e = resolve_err(&stub, &ca, "team/app:plain").await;
    assert_eq!(e.kind(), &ErrorKind::InsecureRedirect, "{e}");
    assert_eq!(plain.count("/x"), 0);

    // Plain HTTP only where named.
    let e = resolve_err(&plain, &ca, "team/app:1").await;
    assert!(matches!(e.kind(), ErrorKind::Tls | ErrorKind::Http), "{e}");
    let mut options = ca.options();
    options.plain_http.push(plain.addr.to_string());
    let p = resolver(options, Duration::ZERO)
        .resolve(&image(&plain, "team/app:1"))
        .await
        .unwrap();
    assert_eq!(p.digest, sha256(&oci_manifest(3)));
}

#[tokio::test]
async fn one_request_per_name_shared_and_cached_successes_only() {
    let ca = TestCa::new();
    let stub = Stub::start(Some(ca.acceptor()), |seen, _| {
        if seen.path.ends_with("/manifests/missing") {
            Reply::Slow(
                Duration::from_millis(200),
                Box::new(Reply::Full(404, vec![], Vec::new())),
            )
        } else {
            Reply::Slow(
                Duration::from_millis(200),
                Box::new(ok_manifest(oci_manifest(1), OCI_MANIFEST)),
            )
        }
    })
    .await;
    let r = Arc::new(resolver(ca.options(), Duration::from_secs(30)));
    let name = image(&stub, "team/app:1");
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let r = Arc::clone(&r);
        let name = name.clone();
        tasks.push(tokio::spawn(async move { r.resolve(&name).await }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(stub.count("/manifests/1"), 1);
    // Cached: no request; `app` and `app:1` through another spelling are one name.
    r.resolve(&name).await.unwrap();
    assert_eq!(stub.count("/manifests/1"), 1);
    let snapshot = r.metrics().snapshot();
    assert_eq!(snapshot.resolutions("ok"), 1);
    assert_eq!(snapshot.cache_hits + snapshot.shared, 50);

    // Failures are shared by concurrent callers, never cached.
    let missing = image(&stub, "team/app:missing");
    let (a, b) = tokio::join!(r.resolve(&missing), r.resolve(&missing));
    assert_eq!(a.unwrap_err().kind(), &ErrorKind::NotFound);
    assert_eq!(b.unwrap_err().kind(), &ErrorKind::NotFound);
    assert_eq!(stub.count("/manifests/missing"), 1);
    r.resolve(&missing).await.unwrap_err();
    assert_eq!(stub.count("/manifests/missing"), 2);
    assert_eq!(r.metrics().snapshot().resolutions("not_found"), 2);
}

#[tokio::test]
async fn the_cache_is_bounded() {
    let ca = TestCa::new();
    let stub = Stub::start(Some(ca.acceptor()), |_, _| {
        ok_manifest(oci_manifest(1), OCI_MANIFEST)
    })
    .await;
    let mut cache = image_policy_registry::CacheOptions::with_ttl(Duration::from_secs(30));
    cache.max_entries = 3;
    let r = image_policy_registry::Resolver::new(Client::new(ca.options()).unwrap(), cache);
    for i in 0..10 {
        r.resolve(&image(&stub, &format!("team/app:{i}")))
            .await
            .unwrap();
        assert!(r.cached_len() <= 3);
    }
    // The newest is still cached, the oldest is not.
    let n = stub.seen.lock().unwrap().len();
    r.resolve(&image(&stub, "team/app:9")).await.unwrap();
    assert_eq!(stub.seen.lock().unwrap().len(), n);
    r.resolve(&image(&stub, "team/app:0")).await.unwrap();
    assert_eq!(stub.seen.lock().unwrap().len(), n + 1);
}

#[tokio::test]
async fn blobs_are_checked_against_their_digest() {
    let ca = TestCa::new();
    let stub = Stub::start(Some(ca.acceptor()), |seen, _| {
        if seen.path.ends_with(&sha256(b"blob")) {
            // Storage redirects, as real registries do.
            Reply::Full(
                307,
                vec![("location", "/storage/blob".to_owned())],
                Vec::new(),
            )
        } else if seen.path == "/storage/blob" {
            Reply::Full(200, vec![], b"blob".to_vec())
        } else {
            Reply::Full(200, vec![], b"not the blob".to_vec())
        }
    })
    .await;
    let client = Client::new(ca.options()).unwrap();
    let name = image(&stub, "team/app:1");
    let blob = client
        .fetch_blob(&name, &sha256(b"blob"), 100)
        .await
        .unwrap();
    assert_eq!(&blob[..], b"blob");
    let e = client
        .fetch_blob(&name, &sha256(b"other"), 100)
        .await
        .unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::DigestMismatch { .. }), "{e}");
    let e = client
        .fetch_blob(&name, &sha256(b"other"), 5)
        .await
        .unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::ManifestTooLarge { limit: 5 }),
        "{e}"
    );
}

#[tokio::test]
async fn a_dropped_resolution_leaves_the_shared_request_to_the_others() {
    let ca = TestCa::new();
    let stub = Stub::start(Some(ca.acceptor()), |_, _| {
        Reply::Slow(
            Duration::from_millis(300),
            Box::new(ok_manifest(oci_manifest(1), OCI_MANIFEST)),
        )
    })
    .await;
    let r = Arc::new(resolver(ca.options(), Duration::from_secs(30)));
    let name = image(&stub, "team/app:1");
    // The first caller gives up after 50 ms; the second waits.
    let first = tokio::time::timeout(Duration::from_millis(50), r.resolve(&name));
    let second = r.resolve(&name);
    let (first, second) = tokio::join!(first, second);
    assert!(first.is_err(), "the first caller timed out");
    assert_eq!(second.unwrap().digest, sha256(&oci_manifest(1)));
    // And the success is cached for the next caller.
    r.resolve(&name).await.unwrap();
    assert_eq!(r.metrics().snapshot().resolutions("ok"), 1);
    assert!(stub.count("/manifests/1") <= 2);
}
