//! The import's tests: the old engines' decisions against the engines
//! (`gatekeeper_engine`), and the imported policies never wider than what
//! the old ones meant, on generated images (`never_wider`).

mod fuzz_regressions;
mod gatekeeper_engine;
mod kyverno;
mod never_wider;
mod policy_json;
mod registries_conf;
mod round_trip;

use image_policy_core::policy::{Policy, PolicyBuilder};
use image_policy_import::{ImportFormat, Imported, Source, import};

/// Imports `text` as `format`.
pub fn imported(format: ImportFormat, text: &str) -> Imported {
    import(format, &[Source::new("test.yaml", text)])
        .unwrap_or_else(|e| panic!("imports: {e}\n{text}"))
}

/// The imported policy, loaded as `check` loads it.
pub fn loaded(imported: &Imported) -> Policy {
    PolicyBuilder::from_yaml_str(&imported.text, "imported")
        .and_then(PolicyBuilder::build)
        .unwrap_or_else(|e| panic!("the imported policy loads: {e}\n{}", imported.text))
        .policy
}

/// Prefixes and patterns the tests generate images around: host
/// boundaries, ports, Docker Hub's forms, paths ending inside a component.
pub const PREFIXES: &[&str] = &[
    "registry.my.com",
    "registry.my.com/",
    "registry.my.com/team",
    "registry.my.com/team/",
    "localhost:5000",
    "localhost:5000/",
    "openpolicyagent/",
    "nginx",
    "docker.io/library/",
    "index.docker.io/bad/",
    "quay.io/prometheus/",
];

/// Images around every prefix of [`PREFIXES`].
pub fn images() -> Vec<String> {
    let suffixes = [
        "",
        "/x",
        "/x:1",
        "/x:latest",
        ".evil.io/x:1",
        "-x/y:1",
        ":5000/x:1",
        "x:1",
        ":latest",
        "/team/app:1",
        "/team-x/app:1",
        "/a/b/c:2",
        "/x@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ":1.2",
        "-evil:1",
        "/",
    ];
    let mut out = Vec::new();
    for p in PREFIXES {
        for s in suffixes {
            let image = format!("{p}{s}");
            if !out.contains(&image) {
                out.push(image);
            }
        }
    }
    for extra in [
        "busybox",
        "busybox:latest",
        "library/nginx:1.2",
        "docker.io/library/nginx:1.2",
        "docker.io/openpolicyagent/opa:1",
        "REGISTRY.MY.COM/app:1",
        "Registry.my.com/app:1",
        "registry.my.com:443/app:1",
        "bad/x:1",
        "docker.io/bad/x:1",
        "evil.io/registry.my.com/x:1",
        "nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    ] {
        out.push(extra.to_owned());
    }
    out
}
