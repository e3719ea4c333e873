//! The setup `pin.rs` and `verify.rs` share: the server's registry
//! configuration trusting the test's CA, the review posted over TLS, the
//! answer's patch applied, and a real registry with signed and unsigned
//! images (the registry crate's fixtures, `crate::registry`).

use crate::registry::fixture::Registry;
use crate::registry::signing::{Keys, Pusher, SIMPLE_SIGNING, payload};
use crate::registry::support::TestCa;
use crate::reviews::admission_review;
use crate::support::Running;
use base64::Engine as _;
use image_policy_registry::CacheOptions;
use image_policy_webhook::server::PinConfig;
use serde_json::Value;
use std::time::Duration;

/// The user and password of [`Registry::start`] in these tests.
pub const USER: (&str, &str) = ("alice", "wonderland");

/// The `request.uid` of the reviews [`ask`] sends.
pub const UID: &str = "u-registry";

/// `PinConfig` trusting `ca`, with a resolver cache of `ttl` and `deadline`.
pub fn pin_config(ca: &TestCa, ttl: Duration, deadline: Duration) -> PinConfig {
    let mut pin = PinConfig::default();
    pin.registry = ca.options();
    pin.cache = CacheOptions::with_ttl(ttl);
    pin.deadline = deadline;
    pin
}

/// `pin` with [`USER`]'s credentials for the registry at `addr`.
pub fn with_credentials(mut pin: PinConfig, addr: &str) -> PinConfig {
    pin.registry
        .keyring
        .add_file_contents(&format!(
            r#"{{"auths":{{"{addr}":{{"username":"{}","password":"{}"}}}}}}"#,
            USER.0, USER.1
        ))
        .unwrap();
    pin
}

/// POSTs `object` in an AdmissionReview to `path` of `server` and returns
/// the review's `response`.
pub async fn ask(server: &Running, path: &str, object: &Value) -> Value {
    let mut conn = server.client().connect(server.addr).await.unwrap();
    let response = conn
        .post(path, admission_review("admission.k8s.io/v1", UID, object))
        .await
        .unwrap();
    assert_eq!(response.status, 200, "{}", response.body);
    let review: Value = serde_json::from_str(&response.body).unwrap();
    review["response"].clone()
}

/// The object with the answer's patch applied by `json-patch`.
pub fn patched(object: &Value, answer: &Value) -> Value {
    assert_eq!(answer["allowed"], true, "{answer}");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(answer["patch"].as_str().expect("a patch"))
        .unwrap();
    let patch: json_patch::Patch = serde_json::from_slice(&bytes).unwrap();
    let mut object = object.clone();
    json_patch::patch(&mut object, &patch).unwrap();
    object
}

/// The answer's `status.message` (empty when there is none).
pub fn message(answer: &Value) -> String {
    answer["status"]["message"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

/// Debian's `docker-registry` over TLS with `team/signed:1` signed by key
/// `a`, `team/unsigned:1` not signed and `team/other:1` signed by key `b`
/// (signatures made by `openssl`, pushed as cosign pushes them).
pub struct SignedRegistry {
    pub ca: TestCa,
    pub registry: Registry,
    pub addr: String,
    pub push: Pusher,
    pub keys: Keys,
    /// Key `a`'s public key (PEM).
    pub key_a: String,
    pub signed: String,
    pub unsigned: String,
    pub other: String,
}

impl SignedRegistry {
    pub async fn start() -> SignedRegistry {
        let ca = TestCa::new();
        let registry = Registry::start(&ca, USER.0, USER.1);
        let addr = registry.addr.clone();
        let push = Pusher::new(&ca, &addr);
        let keys = Keys::new();
        let key_a = std::fs::read_to_string(keys.path("a.pub")).unwrap();
        let signed = push.image("team/signed", "1", 1).await;
        let unsigned = push.image("team/unsigned", "1", 2).await;
        let other = push.image("team/other", "1", 3).await;
        let this = SignedRegistry {
            ca,
            registry,
            addr,
            push,
            keys,
            key_a,
            signed,
            unsigned,
            other,
        };
        this.sign("team/signed", &this.signed, "a").await;
        this.sign("team/other", &this.other, "b").await;
        this
    }

    /// Signs `digest` of `repo` with key `key` and pushes the signature.
    pub async fn sign(&self, repo: &str, digest: &str, key: &str) {
        let p = payload(&format!("{}/{repo}", self.addr), digest);
        let sig = self.keys.sign(key, &p);
        self.push
            .signatures(repo, digest, &[(p, SIMPLE_SIGNING, sig)])
            .await;
    }

    /// The server's registry configuration: the CA, the credentials, no
    /// resolver cache, a 5 s deadline.
    pub fn config(&self) -> PinConfig {
        with_credentials(
            pin_config(&self.ca, Duration::ZERO, Duration::from_secs(5)),
            &self.addr,
        )
    }
}
