//! `/mutate` with `pin:` rules, shared by the criterion bench
//! (`benches/pin.rs`) and the instruction counter (`instructions pin`, run by
//! `benches/gate.sh`), so both measure the same code on the same bytes: the
//! benchmark review of [`handler`](crate::handler) (a Deployment of 3
//! containers and 1 init container) under a policy that allows and pins its
//! registry.
//!
//! The warm path is what the server does when every reference is in the
//! resolver's cache: [`mutate`] (phase one), one cache look-up per distinct
//! reference, [`PendingMutation::complete`](image_policy_webhook::handler::PendingMutation::complete)
//! (phase two). [`warm`] runs it with the look-up a closure gives: the
//! `Resolver`'s cache in the criterion bench and in `instructions pin warm`
//! (with the `load` feature, which brings the registry client), the digests
//! given in `instructions pin phases` (what the gate counts: no HTTP stack
//! in its build).

use image_policy_core::policy::Policy;
use image_policy_core::reference::Reference;
use image_policy_webhook::handler::{MutateStep, Resolution, mutate};

use crate::handler::{REGISTRY, reviews};

/// The digest [`digests`] gives every reference.
pub const DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

/// A policy that allows and pins `registry` (`allow:` and `pin:` of one
/// registry rule each, as a user writes them).
pub fn pin_policy(registry: &str) -> Policy {
    Policy::from_yaml_str(
        &format!("allow:\n  - registry: \"{registry}\"\npin:\n  - registry: \"{registry}\"\n"),
        "pin.yaml",
    )
    .expect("the pin policy compiles")
    .policy
}

/// The benchmark review (allowed) with its registry moved to `registry`.
pub fn pinned_review(registry: &str) -> Vec<u8> {
    let (_, body, _) = reviews().into_iter().next().expect("the allowed review");
    String::from_utf8(body)
        .expect("UTF-8")
        .replace(REGISTRY, registry)
        .into_bytes()
}

/// Both phases of `/mutate` on `body`, each reference answered by
/// `resolve`; the answer's body.
pub fn warm(
    policy: &Policy,
    body: &[u8],
    mut resolve: impl FnMut(&Reference) -> Resolution,
) -> Vec<u8> {
    match mutate(policy, body) {
        MutateStep::Done(reply) => reply.body,
        MutateStep::Resolve(pending) => {
            let resolutions: Vec<Resolution> =
                pending.references().iter().map(&mut resolve).collect();
            pending.complete(&resolutions).body
        }
    }
}

/// Every reference pinned to [`DIGEST`].
pub fn digests(_: &Reference) -> Resolution {
    Resolution::pinned(DIGEST)
}

/// Whether a `/mutate` answer is allowed with a JSON patch and names
/// `pins` pinned images (`@sha256:` in its `pinned-images` audit
/// annotation).
pub fn pinned(answer: &[u8], pins: usize) -> bool {
    let v: serde_json::Value = serde_json::from_slice(answer).expect("the answer is JSON");
    let response = &v["response"];
    response["allowed"] == true
        && response["patchType"] == "JSONPatch"
        && response["auditAnnotations"]["pinned-images"]
            .as_str()
            .is_some_and(|p| p.matches("@sha256:").count() == pins)
}

/// A stub registry and a resolver over it: what the criterion bench and
/// `instructions pin warm` warm the cache with (the `load` feature).
#[cfg(feature = "load")]
pub mod stub {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use image_policy_registry::{CacheOptions, Client, Options, Resolver};

    /// A plain-HTTP registry on loopback answering every manifest GET with
    /// one small OCI manifest after `delay`; its address and the count of
    /// requests it answered.
    pub fn registry(
        runtime: &tokio::runtime::Runtime,
        delay: Duration,
    ) -> (String, Arc<AtomicUsize>) {
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("a port");
        let addr = listener.local_addr().expect("an address").to_string();
        let count = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&count);
        let config = r#"{"n":1}"#;
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":{}}},"layers":[]}}"#,
            image_policy_registry::manifest::digest_of("sha256", config.as_bytes())
                .expect("sha256"),
            config.len()
        );
        runtime.spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let counted = Arc::clone(&counted);
                let manifest = manifest.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |_req| {
                        counted.fetch_add(1, Ordering::SeqCst);
                        let manifest = manifest.clone();
                        async move {
                            tokio::time::sleep(delay).await;
                            hyper::Response::builder()
                                .header(
                                    "content-type",
                                    image_policy_registry::manifest::OCI_MANIFEST,
                                )
                                .body(http_body_util::Full::new(hyper::body::Bytes::from(
                                    manifest,
                                )))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
                        .await;
                });
            }
        });
        (addr, count)
    }

    /// A resolver of `addr` (plain HTTP) keeping successes for `ttl`.
    pub fn resolver(addr: &str, ttl: Duration) -> Arc<Resolver> {
        let mut options = Options::default();
        options.system_roots = false;
        options.plain_http = vec![addr.to_owned()];
        options.request_timeout = Duration::from_secs(5);
        Arc::new(Resolver::new(
            Client::new(options).expect("a client"),
            CacheOptions::with_ttl(ttl),
        ))
    }
}
