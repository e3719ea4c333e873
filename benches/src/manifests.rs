//! The manifest corpus of the `lint` bench: files of `---`-separated
//! documents as `helm template` prints them (a Service, a ConfigMap and a
//! Deployment per release, with comments, labels and flow mappings),
//! [`CORPUS_BYTES`] of YAML in all. Generated, deterministically, rather than
//! committed: the same bytes on every run and machine.

use std::fmt::Write;

use image_policy_core::policy::Policy;

/// The policy of `lint --fix --diff` on the corpus (`lint/fix-*`, and
/// `instructions lint fix-whole`): rewrite rules that match most of its
/// images, onto a mirror that the policy allows.
pub fn rewrite_policy() -> Policy {
    Policy::builder()
        .allow_registry("mirror.my.com")
        .rewrite("registry.my.com", "mirror.my.com/cache")
        .rewrite("docker.io", "mirror.my.com/dockerhub")
        .build()
        .expect("the policy builds")
        .policy
}

/// Bytes of YAML in the corpus.
pub const CORPUS_BYTES: usize = 4 << 20;
/// Releases per file.
pub const RELEASES_PER_FILE: usize = 40;

fn release(out: &mut String, n: usize) {
    let registry = if n.is_multiple_of(3) {
        "docker.io/library"
    } else {
        "registry.my.com/shop"
    };
    write!(
        out,
        "---
# Source: app-{n}/templates/service.yaml
apiVersion: v1
kind: Service
metadata:
  name: app-{n}
  labels:
    app.kubernetes.io/name: app-{n}
    app.kubernetes.io/instance: release-{n}
    helm.sh/chart: app-1.2.{n}
spec:
  type: ClusterIP
  ports:
    - port: 80
      targetPort: http
      protocol: TCP
      name: http
  selector:
    app.kubernetes.io/name: app-{n}
---
# Source: app-{n}/templates/configmap.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: app-{n}-config
data:
  LOG_LEVEL: info
  FEATURE_FLAGS: \"a,b,c\"
---
# Source: app-{n}/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-{n}
  namespace: team-{team}
  labels:
    app.kubernetes.io/name: app-{n}
  annotations:
    deployment.kubernetes.io/revision: \"3\"
spec:
  replicas: 2
  selector:
    matchLabels:
      app.kubernetes.io/name: app-{n}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: app-{n}
    spec:
      serviceAccountName: app-{n}
      securityContext:
        runAsNonRoot: true
      initContainers:
        - name: migrate
          image: \"{registry}/migrate:1.{n}.0\"
          args: [\"--wait\", \"--timeout=60s\"]
      containers:
        - name: app
          image: \"{registry}/app-{n}:2.{n}.1\"
          imagePullPolicy: IfNotPresent
          ports:
            - name: http
              containerPort: 8080
              protocol: TCP
          env:
            - name: DATABASE_URL
              valueFrom:
                secretKeyRef: {{name: db, key: url}}
          livenessProbe:
            httpGet: {{path: /healthz, port: http}}
          resources:
            limits: {{cpu: 500m, memory: 256Mi}}
            requests: {{cpu: 100m, memory: 128Mi}}
        - name: sidecar
          image: registry.my.com/mirror/envoyproxy/envoy:v1.31.0
",
        team = n % 7,
    )
    .expect("writing to a String");
}

/// The corpus: files of [`RELEASES_PER_FILE`] releases, until
/// [`CORPUS_BYTES`].
pub fn generate() -> Corpus {
    generate_bytes(CORPUS_BYTES)
}

/// The first files of [`generate`]'s corpus, until at least `bytes` of YAML
/// (a smaller corpus of the same files, for counting instructions quickly).
pub fn generate_bytes(bytes: usize) -> Corpus {
    let mut files = Vec::new();
    let mut total = 0;
    let mut n = 0;
    while total < bytes {
        let mut text = String::new();
        for _ in 0..RELEASES_PER_FILE {
            release(&mut text, n);
            n += 1;
        }
        total += text.len();
        files.push((format!("release-{}.yaml", files.len()), text));
    }
    Corpus {
        files,
        // Three objects per release.
        objects: n * 3,
    }
}

/// The generated manifests.
pub struct Corpus {
    /// `(file name, YAML text)`, in order.
    pub files: Vec<(String, String)>,
    /// How many Kubernetes objects the files hold.
    pub objects: usize,
}

impl Corpus {
    /// Bytes of YAML in all files.
    pub fn bytes(&self) -> usize {
        self.files.iter().map(|(_, text)| text.len()).sum()
    }

    /// The files as the linter's sources, as `walk` would hand them over.
    pub fn into_sources(self) -> Vec<image_policy_lint::Source> {
        self.files
            .into_iter()
            .map(|(name, text)| image_policy_lint::Source {
                name,
                kind: image_policy_lint::SourceKind::Manifests,
                text: Ok(text),
            })
            .collect()
    }
}
