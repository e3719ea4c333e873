//! `--from registries-conf`: which names containers/image blocks, against
//! containers/image itself (`containers-oracle --registries`), and the
//! imported policy denying every name it blocked.

use super::policy_json::{corpus, oracle_answers};
use super::{imported, loaded};
use image_policy_core::policy::Context;
use image_policy_import::ImportFormat;

const CONFS: &[&str] = &[
    r#"
unqualified-search-registries = ["docker.io"]
short-name-mode = "enforcing"

[[registry]]
prefix = "evil.io"
location = "evil.io"
blocked = true

[[registry]]
prefix = "registry.my.com/team"
location = "registry.my.com/team"
blocked = true

[[registry]]
prefix = "registry.my.com/team/ok"
location = "registry.my.com/team/ok"

[[registry]]
location = "docker.io/bad"
blocked = true

[[registry]]
prefix = "*.evil.org"
blocked = true
"#,
    r#"
[[registry]]
prefix = "quay.io/prometheus"
location = "mirror.io:5000/prom"

[[registry]]
prefix = "docker.io/library"
location = "registry.my.com"
insecure = true

[[registry]]
location = "localhost:5000"
blocked = true
"#,
];

#[test]
fn old_decisions_are_containers_images() {
    let images = corpus();
    for conf in CONFS {
        let Some(answers) = oracle_answers(&["--registries"], conf, &images) else {
            return;
        };
        let i = imported(ImportFormat::RegistriesConf, conf);
        for (image, v) in images.iter().zip(&answers) {
            let blocked = v["blocked"].as_bool() == Some(true);
            assert_eq!(
                i.old.judge(image, None).violates(),
                blocked,
                "{conf}: {image:?}: {v}"
            );
        }
    }
}

#[test]
fn every_blocked_name_is_denied() {
    for conf in CONFS {
        let i = imported(ImportFormat::RegistriesConf, conf);
        let policy = loaded(&i);
        for image in corpus() {
            if i.old.judge(&image, None).violates() {
                assert!(
                    policy.evaluate(&image, &Context::new()).violates(),
                    "{image:?}\n{}",
                    i.text
                );
            }
        }
    }
}
