//! A real registry for tests: Debian's `docker-registry` on 127.0.0.1 over
//! TLS (a certificate of the test's CA, htpasswd basic auth), and OCI
//! layouts written here and pushed to it with `skopeo copy`. Shared with the
//! webhook's tests (`image-policy-webhook/tests/it/pin.rs` includes this
//! file and `support.rs`), so the fixture is written once.
#![allow(dead_code)]

use super::support::{TestCa, sha256};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Whether `tool` runs; when not, skip (or fail under CI).
pub fn have(tool: &str) -> bool {
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

pub struct Registry {
    pub child: Child,
    pub addr: String,
    pub dir: tempfile::TempDir,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Registry {
    /// Starts docker-registry over TLS with htpasswd `user:password`.
    pub fn start(ca: &TestCa, user: &str, password: &str) -> Registry {
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
    pub fn spawn(ca: &TestCa, dir: tempfile::TempDir, auth: &str, storage: &Path) -> Registry {
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

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `skopeo copy` of an OCI layout's `tag` to `name` on this registry,
    /// digests preserved.
    pub fn push(&self, layout: &Path, tag: &str, name: &str, all: bool) {
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
pub struct Layout {
    pub dir: PathBuf,
    refs: Vec<(String, &'static str, Vec<u8>)>,
}

impl Layout {
    pub fn new(dir: PathBuf) -> Layout {
        std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        Layout {
            dir,
            refs: Vec::new(),
        }
    }

    pub fn blob(&self, bytes: &[u8]) -> String {
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
    pub fn image(&self, n: u32, arch: &str) -> Vec<u8> {
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

    pub fn tag_image(&mut self, tag: &str, n: u32) -> Vec<u8> {
        let m = self.image(n, "amd64");
        self.refs.push((
            tag.to_owned(),
            "application/vnd.oci.image.manifest.v1+json",
            m.clone(),
        ));
        self.write_index();
        m
    }

    pub fn tag_index(&mut self, tag: &str) -> Vec<u8> {
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
