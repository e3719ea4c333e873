//! Round trips (issue 26 item 5): for every format that both exports and
//! imports (`containers-policy` / `policy-json`, `registries-conf`,
//! `docker-sysconfig`), `export` then `import` gives a policy that judges
//! every generated image as the original does, or more strictly where the
//! export narrowed (its warnings, `--lossy`).
//!
//! The Gatekeeper and Kyverno exports are this project's own template and
//! CEL, not the libraries' shapes that `import` reads: importing them is
//! refused, with the kind named (tested below).
//!
//! `ROUND_TRIP_POLICIES` sets how many generated policies (default 64, each
//! judged on every image of the corpus).

use super::policy_json::corpus;
use image_policy_core::policy::{Context, Policy, PolicyBuilder};
use image_policy_export::{ExportFormat, ExportOptions, export};
use image_policy_import::{ImportFormat, Source, import};

const ALLOW_REGISTRIES: &[&str] = &["registry.my.com", "quay.io", "localhost:5000", "docker.io"];
const ALLOW_REPOSITORIES: &[&str] = &["ghcr.io/org/**", "registry.my.com/team/**"];
const DENY_REGISTRIES: &[&str] = &["evil.io", "quay.io"];
const DENY_REPOSITORIES: &[&str] = &["registry.my.com/team/bad/**"];
const REWRITES: &[(&str, &str)] = &[
    ("quay.io/prometheus", "mirror.io:5000/prom"),
    ("docker.io/library", "registry.my.com"),
];

/// The policy of bit pattern `n` over the pools above (`None` when the
/// policy does not build: a rewrite to a registry it does not allow).
fn generated(n: u32) -> Option<Policy> {
    let mut b = Policy::builder();
    let mut bit = 0;
    let mut take = |b: &mut dyn FnMut()| {
        if n >> bit & 1 == 1 {
            b();
        }
        bit += 1;
    };
    let mut builder = Some(std::mem::take(&mut b));
    let mut with = |f: &dyn Fn(PolicyBuilder) -> PolicyBuilder| {
        take(&mut || {
            let cur = builder.take().unwrap();
            builder = Some(f(cur));
        });
    };
    for r in ALLOW_REGISTRIES {
        with(&|b| b.allow_registry(r));
    }
    for r in ALLOW_REPOSITORIES {
        with(&|b| b.allow_repository(r));
    }
    for r in DENY_REGISTRIES {
        with(&|b| b.deny_registry(r));
    }
    for r in DENY_REPOSITORIES {
        with(&|b| b.deny_repository(r));
    }
    for (from, to) in REWRITES {
        with(&|b| b.rewrite(from, to));
    }
    builder.unwrap().build().ok().map(|l| l.policy)
}

fn count() -> u32 {
    std::env::var("ROUND_TRIP_POLICIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

/// Whether `policy` admits `image` as `check` judges it (rewritten first).
fn admits(policy: &Policy, image: &str) -> bool {
    match policy.rewrite_str(image) {
        Ok(rewritten) => !policy
            .evaluate_rewritten(image, rewritten.as_ref(), &Context::new())
            .violates(),
        Err(_) => false,
    }
}

fn round_trip(export_as: ExportFormat, import_as: ImportFormat) -> (usize, usize) {
    let images = corpus();
    let (mut trips, mut equal) = (0, 0);
    // Spread the bit patterns over every pool.
    for k in 0..count() {
        let n = k.wrapping_mul(2_654_435_761) % (1 << 11);
        let Some(original) = generated(n) else {
            continue;
        };
        let options = ExportOptions {
            lossy: true,
            ..ExportOptions::default()
        };
        let Ok(exported) = export(&original, export_as, &options) else {
            continue;
        };
        let imported = match import(import_as, &[Source::new("exported", &exported.text)]) {
            Ok(i) => i,
            // Nothing to import (a policy that restricts nothing there).
            Err(e) if e.kind == image_policy_import::ImportErrorKind::Empty => continue,
            Err(e) => panic!("{export_as} -> {import_as}: {e}\n{}", exported.text),
        };
        let back = PolicyBuilder::from_yaml_str(&imported.text, "imported")
            .and_then(PolicyBuilder::build)
            .unwrap_or_else(|e| panic!("{e}\n{}", imported.text))
            .policy;
        trips += 1;
        let exact = exported.warnings.is_empty();
        for image in &images {
            let before = admits(&original, image);
            let after = admits(&back, image);
            if import_as == ImportFormat::RegistriesConf {
                // No allow list there: what the file blocks stays denied.
                if imported.old.judge(image, None).violates() {
                    assert!(
                        !after,
                        "{image:?}: blocked by the export, admitted after the round trip\n{}\n{}",
                        exported.text, imported.text
                    );
                }
                continue;
            }
            assert!(
                before || !after,
                "{export_as} -> {import_as}: {image:?} denied by the original, admitted after the round trip\n{}\n{}",
                exported.text,
                imported.text
            );
            // The node formats judge the name as written; `check`, the
            // rewritten one: equal only where no rewrite applies.
            let rewritten = matches!(original.rewrite_str(image), Ok(Some(_)));
            if exact && !rewritten {
                assert_eq!(
                    before, after,
                    "{export_as} -> {import_as} (no warning): {image:?}\n{}\n{}",
                    exported.text, imported.text
                );
                equal += 1;
            }
        }
    }
    (trips, equal)
}

#[test]
fn containers_policy_round_trips() {
    let (trips, equal) = round_trip(ExportFormat::ContainersPolicy, ImportFormat::PolicyJson);
    assert!(trips >= 16 && equal > 100, "{trips} trips, {equal} equal");
}

#[test]
fn docker_sysconfig_round_trips() {
    let (trips, equal) = round_trip(ExportFormat::DockerSysconfig, ImportFormat::DockerSysconfig);
    assert!(trips >= 16 && equal > 100, "{trips} trips, {equal} equal");
}

/// registries.conf alone has no allow list: the round trip keeps every
/// denial of a registry and every rewrite.
#[test]
fn registries_conf_round_trips() {
    let original = Policy::builder()
        .allow_registry("registry.my.com")
        .allow_registry("mirror.io:5000")
        .deny_registry("evil.io")
        .rewrite("quay.io/prometheus", "mirror.io:5000/prom")
        .rewrite("docker.io/library", "registry.my.com")
        .build()
        .unwrap()
        .policy;
    let exported = export(
        &original,
        ExportFormat::RegistriesConf,
        &ExportOptions::default(),
    )
    .unwrap();
    let imported = import(
        ImportFormat::RegistriesConf,
        &[Source::new("exported", &exported.text)],
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", exported.text));
    let back = PolicyBuilder::from_yaml_str(&imported.text, "imported")
        .and_then(PolicyBuilder::build)
        .unwrap()
        .policy;
    assert_eq!(
        back.document().rewrite,
        original.document().rewrite,
        "{}\n{}",
        exported.text,
        imported.text
    );
    assert!(!admits(&back, "evil.io/x:1"));
    let (trips, _) = round_trip(ExportFormat::RegistriesConf, ImportFormat::RegistriesConf);
    assert!(trips >= 4, "{trips}");
}

#[test]
fn own_gatekeeper_and_kyverno_exports_are_refused_not_misread() {
    let original = Policy::builder()
        .allow_registry("registry.my.com")
        .build()
        .unwrap()
        .policy;
    for (e, i, field) in [
        (ExportFormat::Gatekeeper, ImportFormat::Gatekeeper, ", kind"),
        (ExportFormat::Kyverno, ImportFormat::Kyverno, "validate.cel"),
    ] {
        let exported = export(&original, e, &ExportOptions::default()).unwrap();
        let err = import(i, &[Source::new("exported", &exported.text)]).unwrap_err();
        assert_eq!(
            err.kind,
            image_policy_import::ImportErrorKind::Unsupported,
            "{err}"
        );
        assert!(err.to_string().contains(field), "the field is named: {err}");
    }
}
