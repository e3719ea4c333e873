//! Evaluating a policy allocates nothing, counted with a counting allocator.

use image_policy_core::policy::{Context, Policy};

#[test]
fn evaluation_allocates_nothing() {
    let src = "
allow:
  - registry: registry.my.com
  - registry: '*.dkr.ecr.us-east-1.amazonaws.com'
  - repository: quay.io/prometheus/*
  - repository: ghcr.io/org/**
  - regex: 'gcr\\.io/[a-z-]+/.+'
deny:
  - repository: registry.my.com/legacy/**
tags:
  deny: [latest]
  allowMatching: ['v?[0-9.]+', '[0-9a-f]{7}']
exemptNamespaces: [kube-system]
namespaces:
  - names: [team-a]
    allow:
      - repository: quay.io/team-a/**
";
    let policy = Policy::from_yaml_str(src, "p.yaml").unwrap().policy;
    let images = [
        "registry.my.com/app:1.2.3",
        "REGISTRY.MY.COM/app:1.2.3",
        "registry.my.com/legacy/app:1",
        "123.dkr.ecr.us-east-1.amazonaws.com/app:v1",
        "quay.io/prometheus/node-exporter:v1.8.0",
        "quay.io/prometheusevil/x:1",
        "ghcr.io/org/a/b/c:abcdef0",
        "gcr.io/proj/app:1",
        "gcr.io/proj/app",
        "nginx",
        "nginx:1.27@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "quay.io/team-a/x:1",
    ];
    let annotations = [("mycluster.image-policy.k8s.io/ticket-1", "break-glass")];
    let contexts = [
        Context::new(),
        Context::new().namespace("team-a"),
        Context::new().namespace("kube-system"),
        Context::new()
            .namespace("default")
            .annotations(&annotations),
    ];
    let run = |count: &mut usize| {
        for ctx in &contexts {
            for image in images {
                let d = policy.evaluate(image, ctx);
                *count += usize::from(d.allowed()) + usize::from(d.violates());
                *count += d.rule().map_or(0, |r| r.index) + d.code().as_str().len();
            }
        }
    };
    // Warm up: the regex engines make their per-thread caches on first use.
    let mut count = 0;
    run(&mut count);
    let info = allocation_counter::measure(|| run(&mut count));
    assert!(count > 0);
    if info.count_total != 0 {
        // Name the culprits.
        let mut culprits = Vec::new();
        for (i, ctx) in contexts.iter().enumerate() {
            for image in images {
                let one = allocation_counter::measure(|| {
                    std::hint::black_box(policy.evaluate(image, ctx).allowed());
                });
                if one.count_total > 0 {
                    culprits.push(format!("{image} in context {i}: {}", one.count_total));
                }
            }
        }
        panic!("{} allocations: {culprits:?}", info.count_total);
    }
}
