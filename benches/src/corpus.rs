//! The generator of the image reference corpus, `data/references.txt`.
//!
//! The corpus is what a cluster's pod specs contain, in roughly the proportions
//! one sees: short Docker Hub names (`nginx:1.27`), Docker Hub organisations
//! (`bitnami/redis`), cloud registries (ECR, GCR, Artifact Registry, ACR, quay,
//! ghcr, `registry.k8s.io`, ...), private registries with ports, IPv4 and IPv6
//! hosts, long paths, digests of each algorithm, tags together with digests,
//! and about 10% invalid references (uppercase paths, bad tags, short or
//! unsupported digests, stray characters, `https://` prefixes, names that are
//! too long). Each invalid line is made invalid by construction, by a rule of
//! the grammar, not by asking a parser.
//!
//! The generator is deterministic: a ChaCha8 stream from a fixed seed (ChaCha's
//! output and `rand`'s sampling are value-stable within `rand` 0.9), so
//! `cargo run -p image-policy-benches --bin gen-corpus` rewrites the committed
//! file byte for byte, and a test checks that it does.

use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The seed of the committed corpus.
pub const SEED: u64 = 20_261_126;
/// The number of references in the committed corpus.
pub const COUNT: usize = 10_000;

const OFFICIAL: &[&str] = &[
    "nginx",
    "redis",
    "postgres",
    "alpine",
    "busybox",
    "ubuntu",
    "debian",
    "python",
    "node",
    "golang",
    "mysql",
    "mariadb",
    "mongo",
    "rabbitmq",
    "memcached",
    "httpd",
    "traefik",
    "haproxy",
    "consul",
    "vault",
    "elasticsearch",
    "kibana",
    "registry",
    "docker",
    "openjdk",
    "eclipse-temurin",
    "amazoncorretto",
    "ruby",
    "php",
    "wordpress",
    "nextcloud",
    "jenkins",
    "sonarqube",
    "influxdb",
    "telegraf",
    "zookeeper",
    "cassandra",
    "caddy",
    "rust",
    "gcc",
    "maven",
    "gradle",
    "tomcat",
    "centos",
    "fedora",
    "amazonlinux",
    "hello-world",
    "percona",
    "solr",
    "couchdb",
];

const HUB_ORGS: &[&str] = &[
    "bitnami",
    "grafana",
    "prom",
    "jaegertracing",
    "istio",
    "calico",
    "cilium",
    "fluent",
    "hashicorp",
    "minio",
    "confluentinc",
    "datadog",
    "newrelic",
    "sonatype",
    "gitlab",
    "rancher",
    "portainer",
    "linuxserver",
    "library",
    "curlimages",
    "envoyproxy",
    "otel",
    "openpolicyagent",
    "kong",
    "localstack",
    "apache",
    "jupyter",
    "pytorch",
    "tensorflow",
    "nvidia",
];

const HUB_REPOS: &[&str] = &[
    "redis",
    "postgresql",
    "kafka",
    "grafana",
    "loki",
    "tempo",
    "prometheus",
    "node-exporter",
    "alertmanager",
    "all-in-one",
    "proxyv2",
    "pilot",
    "node",
    "cni",
    "fluent-bit",
    "terraform",
    "minio",
    "cp-kafka",
    "agent",
    "nexus3",
    "gitlab-runner",
    "rancher",
    "portainer-ce",
    "sonarr",
    "curl",
    "envoy",
    "opentelemetry-collector-contrib",
    "opa",
    "kong-gateway",
    "localstack",
    "airflow",
    "base-notebook",
    "pytorch",
    "tensorflow",
    "cuda",
];

const SERVICES: &[&str] = &[
    "api",
    "web",
    "worker",
    "frontend",
    "backend",
    "payments-service",
    "auth_service",
    "order-processor",
    "billing",
    "gateway",
    "notification-worker",
    "search-indexer",
    "etl-job",
    "ml-inference",
    "user-profile",
    "checkout",
    "cart",
    "inventory",
    "recommendation-engine",
    "report.generator",
    "feature-flags",
    "session-store",
    "image-resizer",
    "pdf-renderer",
    "webhook-dispatcher",
    "cron-runner",
    "migrations",
    "admin-ui",
    "edge-proxy",
    "data__pipeline",
];

const TEAMS: &[&str] = &[
    "platform",
    "payments",
    "data",
    "ml",
    "infra",
    "security",
    "web",
    "mobile",
    "core",
    "sre",
    "growth",
    "search",
    "identity",
    "billing",
    "analytics",
];

const K8S: &[&str] = &[
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kube-proxy",
    "pause",
    "coredns/coredns",
    "etcd",
    "ingress-nginx/controller",
    "metrics-server/metrics-server",
    "kube-state-metrics/kube-state-metrics",
    "sig-storage/csi-provisioner",
    "sig-storage/csi-node-driver-registrar",
    "autoscaling/cluster-autoscaler",
    "external-dns/external-dns",
    "dns/k8s-dns-node-cache",
];

const REGIONS: &[&str] = &[
    "us-east-1",
    "us-east-2",
    "us-west-2",
    "eu-west-1",
    "eu-central-1",
    "ap-southeast-1",
    "ap-northeast-1",
    "sa-east-1",
];

const GCP_REGIONS: &[&str] = &[
    "us",
    "europe",
    "asia",
    "us-central1",
    "europe-west1",
    "europe-west4",
    "asia-northeast1",
    "australia-southeast1",
];

const CORPS: &[&str] = &[
    "acme",
    "initech",
    "globex",
    "umbrella",
    "hooli",
    "stark",
    "wayne",
    "cyberdyne",
    "vandelay",
    "wonka",
];

const TLDS: &[&str] = &[
    "com",
    "io",
    "net",
    "internal",
    "corp",
    "example.com",
    "cloud",
];

const DISTROS: &[&str] = &[
    "alpine",
    "alpine3.20",
    "bookworm",
    "slim",
    "slim-bookworm",
    "bullseye",
    "jammy",
    "noble",
    "ubi9",
    "windowsservercore",
];

/// Generates the corpus: `count` references, one per line.
pub fn generate(seed: u64, count: usize) -> String {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = String::with_capacity(count * 80);
    for _ in 0..count {
        let line = if rng.random_ratio(1, 10) {
            invalid(&mut rng)
        } else {
            valid(&mut rng)
        };
        debug_assert!(!line.contains(['\n', '\r']) && !line.is_empty());
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn pick<'a>(rng: &mut ChaCha8Rng, items: &[&'a str]) -> &'a str {
    items.choose(rng).copied().unwrap_or_default()
}

fn hex(rng: &mut ChaCha8Rng, len: usize) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    (0..len)
        .map(|_| char::from(DIGITS[rng.random_range(0..16)]))
        .collect()
}

/// Lowercase hex of a length drawn from `lens`.
fn hex_len_in(rng: &mut ChaCha8Rng, lens: std::ops::Range<usize>) -> String {
    let len = rng.random_range(lens);
    hex(rng, len)
}

fn digits(rng: &mut ChaCha8Rng, len: usize) -> String {
    (0..len)
        .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
        .collect()
}

/// A tag in one of the styles seen in real pod specs.
fn tag(rng: &mut ChaCha8Rng) -> String {
    let (major, minor, patch) = (
        rng.random_range(0..30),
        rng.random_range(0..40),
        rng.random_range(0..20),
    );
    match rng.random_range(0..14) {
        0 => "latest".to_owned(),
        1 | 2 => format!("{major}.{minor}.{patch}"),
        3 | 4 => format!("v{major}.{minor}.{patch}"),
        5 => format!("{major}.{minor}"),
        6 | 7 => format!("{major}.{minor}.{patch}-{}", pick(rng, DISTROS)),
        8 => format!("{major}-{}", pick(rng, DISTROS)),
        9 => format!("sha-{}", hex(rng, 7)),
        10 => format!(
            "main-2024{:02}{:02}.{patch}",
            rng.random_range(1..13),
            rng.random_range(1..29)
        ),
        11 => format!("pr-{}", rng.random_range(1..5000)),
        12 => format!(
            "RELEASE.2024-{:02}-{:02}T00-52-20Z",
            rng.random_range(1..13),
            rng.random_range(1..29)
        ),
        _ => pick(
            rng,
            &["stable", "edge", "nightly", "lts", "stable-slim", "canary"],
        )
        .to_owned(),
    }
}

/// A digest: mostly sha256, some sha512 and sha384.
fn digest(rng: &mut ChaCha8Rng) -> String {
    match rng.random_range(0..20) {
        0 => format!("sha384:{}", hex(rng, 96)),
        1 | 2 => format!("sha512:{}", hex(rng, 128)),
        _ => format!("sha256:{}", hex(rng, 64)),
    }
}

/// A tag, a digest, both, or neither, appended to `name`.
fn suffix(rng: &mut ChaCha8Rng, name: String) -> String {
    match rng.random_range(0..100) {
        0..15 => name,
        15..75 => format!("{name}:{}", tag(rng)),
        75..92 => format!("{name}@{}", digest(rng)),
        _ => format!("{name}:{}@{}", tag(rng), digest(rng)),
    }
}

/// A path component with separators, as teams name things.
fn component(rng: &mut ChaCha8Rng) -> String {
    let mut s = pick(rng, SERVICES).to_owned();
    if rng.random_ratio(1, 3) {
        let sep = pick(rng, &["-", "_", "__", ".", "--"]);
        s.push_str(sep);
        s.push_str(pick(rng, TEAMS));
    }
    s
}

/// A registry host (with a port sometimes) and a path under it.
fn registry_name(rng: &mut ChaCha8Rng) -> String {
    match rng.random_range(0..100) {
        0..18 => format!(
            "{}.dkr.ecr.{}.amazonaws.com/{}/{}",
            digits(rng, 12),
            pick(rng, REGIONS),
            pick(rng, TEAMS),
            component(rng)
        ),
        18..26 => format!(
            "gcr.io/{}-{}/{}",
            pick(rng, CORPS),
            pick(rng, &["prod", "staging", "dev", "shared"]),
            component(rng)
        ),
        26..36 => format!(
            "{}-docker.pkg.dev/{}-{}/{}/{}",
            pick(rng, GCP_REGIONS),
            pick(rng, CORPS),
            digits(rng, 6),
            pick(rng, TEAMS),
            component(rng)
        ),
        36..44 => format!("quay.io/{}/{}", pick(rng, HUB_ORGS), pick(rng, HUB_REPOS)),
        44..54 => {
            let base = format!("ghcr.io/{}/{}", pick(rng, CORPS), pick(rng, SERVICES));
            if rng.random_ratio(1, 3) {
                format!("{base}/{}", pick(rng, SERVICES))
            } else {
                base
            }
        }
        54..62 => format!("registry.k8s.io/{}", pick(rng, K8S)),
        62..66 => format!(
            "mcr.microsoft.com/{}",
            pick(
                rng,
                &[
                    "dotnet/aspnet",
                    "dotnet/runtime",
                    "dotnet/sdk",
                    "mssql/server",
                    "azure-cli",
                    "powershell",
                    "oss/kubernetes/pause",
                ]
            )
        ),
        66..72 => format!(
            "{}{}.azurecr.io/{}/{}",
            pick(rng, CORPS),
            pick(rng, &["", "prod", "acr", "registry"]),
            pick(rng, TEAMS),
            component(rng)
        ),
        72..76 => format!(
            "registry.gitlab.com/{}/{}/{}",
            pick(rng, CORPS),
            pick(rng, TEAMS),
            component(rng)
        ),
        76..79 => format!(
            "public.ecr.aws/{}/{}",
            pick(rng, HUB_ORGS),
            pick(rng, HUB_REPOS)
        ),
        79..88 => {
            let port = pick(rng, &["", ":5000", ":443", ":8443", ":30500"]);
            format!(
                "{}.{}.{}{port}/{}/{}",
                pick(
                    rng,
                    &["registry", "harbor", "docker", "artifactory", "nexus", "cr"]
                ),
                pick(rng, CORPS),
                pick(rng, TLDS),
                pick(rng, TEAMS),
                component(rng)
            )
        }
        88..91 => format!(
            "localhost{}/{}",
            pick(rng, &["", ":5000", ":32000"]),
            component(rng)
        ),
        91..95 => format!(
            "10.{}.{}.{}:5000/{}",
            rng.random_range(0..256),
            rng.random_range(0..256),
            rng.random_range(1..255),
            component(rng)
        ),
        95..98 => format!(
            "{}/{}",
            pick(
                rng,
                &[
                    "[::1]:5000",
                    "[fd00::1]:5000",
                    "[2001:db8::10]:443",
                    "[fe80::a00:27ff:fe4e:66a1]",
                    "[::1]"
                ]
            ),
            component(rng)
        ),
        _ => long_path(rng),
    }
}

/// A deep path, up to the length limit.
fn long_path(rng: &mut ChaCha8Rng) -> String {
    let mut s = format!(
        "registry.{}.{}/{}",
        pick(rng, CORPS),
        pick(rng, TLDS),
        pick(rng, TEAMS)
    );
    let depth = rng.random_range(4..10);
    let mut path_len = 0;
    for _ in 0..depth {
        let c = component(rng);
        if path_len + c.len() + 1 > 200 {
            break;
        }
        path_len += c.len() + 1;
        s.push('/');
        s.push_str(&c);
    }
    s
}

/// A valid reference.
fn valid(rng: &mut ChaCha8Rng) -> String {
    let name = match rng.random_range(0..100) {
        0..30 => pick(rng, OFFICIAL).to_owned(),
        30..35 => format!(
            "{}{}",
            pick(
                rng,
                &[
                    "library/",
                    "docker.io/library/",
                    "docker.io/",
                    "index.docker.io/library/"
                ]
            ),
            pick(rng, OFFICIAL)
        ),
        35..52 => {
            let prefix = if rng.random_ratio(1, 5) {
                "docker.io/"
            } else {
                ""
            };
            format!("{prefix}{}/{}", pick(rng, HUB_ORGS), pick(rng, HUB_REPOS))
        }
        _ => registry_name(rng),
    };
    suffix(rng, name)
}

/// An invalid reference, invalid by the rule each arm names.
fn invalid(rng: &mut ChaCha8Rng) -> String {
    match rng.random_range(0..13) {
        // Uppercase in a path component after the first.
        0 => format!(
            "{}/{}/{}{}",
            pick(
                rng,
                &["ghcr.io", "docker.io", "quay.io", "registry.acme.com"]
            ),
            pick(rng, CORPS),
            pick(rng, &["MyApp", "Api", "WEB", "Worker"]),
            pick(rng, &["", ":1.0"])
        ),
        // Uppercase in the only path component of a Docker Hub name.
        1 => format!(
            "{}:{}",
            pick(rng, &["Nginx", "myApp", "Redis", "POSTGRES"]),
            tag(rng)
        ),
        // A tag that starts with a separator, has a forbidden character or is empty.
        2 => format!(
            "{}:{}",
            pick(rng, OFFICIAL),
            pick(
                rng,
                &[
                    ".1",
                    "-rc1",
                    "v1+build.5",
                    "1.0~beta",
                    "",
                    "1.2.3!",
                    "v1,v2",
                    "a b"
                ]
            )
        ),
        // A tag longer than 128 characters.
        3 => format!("{}:{}", pick(rng, OFFICIAL), hex_len_in(rng, 129..160)),
        // A sha256 digest that is too short, or a sha512 one of sha256's length.
        4 => match rng.random_range(0..2) {
            0 => format!("{}@sha256:{}", pick(rng, OFFICIAL), hex_len_in(rng, 32..64)),
            _ => format!("{}@sha512:{}", pick(rng, OFFICIAL), hex(rng, 64)),
        },
        // A digest shorter than the grammar's 32 hex digits.
        5 => format!("{}@sha256:{}", pick(rng, OFFICIAL), hex_len_in(rng, 7..32)),
        // An unsupported algorithm, or uppercase hex.
        6 => match rng.random_range(0..2) {
            0 => format!("{}@md5:{}", pick(rng, OFFICIAL), hex(rng, 32)),
            _ => format!(
                "{}@sha256:{}",
                pick(rng, OFFICIAL),
                hex(rng, 64).to_ascii_uppercase()
            ),
        },
        // A stray character inside the name.
        7 => {
            let name = pick(rng, OFFICIAL);
            let cut = rng.random_range(1..name.len());
            let stray = pick(rng, &[" ", "!", "#", "$", "%", ";", ",", "é", "*", "?"]);
            format!("{}{stray}{}:{}", &name[..cut], &name[cut..], tag(rng))
        }
        // Empty path components or a separator at an end.
        8 => pick(
            rng,
            &[
                "registry.acme.com//app",
                "registry.acme.com/app/",
                "/nginx",
                "nginx-:1.0",
                "team/_app",
                "team/app..v2",
                "team/app___x",
                "nginx@",
                "docker.io/",
            ],
        )
        .to_owned(),
        // A URL where a reference belongs.
        9 => format!(
            "{}://{}",
            pick(rng, &["https", "http", "docker", "oci"]),
            registry_name(rng)
        ),
        // A bad registry host.
        10 => format!(
            "{}/{}",
            pick(
                rng,
                &[
                    "registry-.acme.com",
                    "reg:port",
                    "[::1",
                    "[zz::1]:5000",
                    "reg.acme.com:",
                    "-reg.acme.com"
                ]
            ),
            component(rng)
        ),
        // 64 hex digits: an image ID, not a name.
        11 => hex(rng, 64),
        // A path longer than 255 bytes.
        _ => {
            let mut s = format!("registry.{}.com", pick(rng, CORPS));
            while s.len() < 300 {
                s.push('/');
                s.push_str(&component(rng));
            }
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_corpus_is_the_generated_one() {
        // Regenerate with `cargo run -p image-policy-benches --bin gen-corpus`.
        assert!(
            generate(SEED, COUNT) == crate::REFERENCES,
            "benches/data/references.txt differs from the generator's output"
        );
    }
}
