//! Judging image sites with the core's policy engine: the same
//! [`Policy::evaluate`] the webhook calls, with the object's namespace and
//! annotations as context.

use super::report::{ImageSite, RuleRef, Verdict};
use image_policy_core::policy::{Context, Policy};

/// Judges one site with `policy`.
pub fn with_policy(policy: &Policy, site: &ImageSite) -> Verdict {
    let annotations: Vec<(&str, &str)> = site
        .annotations
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut ctx = Context::new().annotations(&annotations);
    if let Some(ns) = &site.namespace {
        ctx = ctx.namespace(ns);
    }
    let decision = policy.evaluate(&site.image, &ctx);
    Verdict {
        violates: decision.violates(),
        allowed: decision.allowed(),
        mode: decision.mode(),
        code: decision.code(),
        reason: decision.to_string(),
        canonical: decision.reference().map(|r| r.to_string()),
        rule: decision.rule().map(|r| RuleRef {
            index: r.index,
            path: r.path.to_owned(),
            description: if r.pattern.is_empty() {
                r.kind.to_string()
            } else {
                format!("{} {}", r.kind, r.pattern)
            },
            location: Some(
                r.location
                    .map_or_else(|| r.origin.to_owned(), ToString::to_string),
            ),
        }),
    }
}
