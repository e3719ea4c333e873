//! Judging image sites with the core's policy engine: the same
//! [`Policy::evaluate_rewritten`] the webhook calls, with the object's
//! namespace and annotations as context.
//!
//! With rewrite rules, an image of a Kubernetes object (a manifest, a
//! kustomization's override) is judged as rewritten, since that is what
//! runs once the mutating webhook (or `lint --fix`) has rewritten it; the
//! verdict says so ([`SiteVerdict::rewritten`]). An image of a Dockerfile or a
//! compose file is judged as written ([`SiteVerdict::as_written`]): `docker
//! build` and `docker compose pull` pull it as it stands and no `/mutate`
//! reaches them, so only `lint --fix` writing the rewritten image into the
//! file makes it pass (the verdict still names the rewrite, as what the fix
//! writes). [`Options::builds_use_registries_conf`] (the CLI's
//! `--builds-use-registries-conf`) judges them as rewritten too, for build
//! hosts whose tools apply the exported `registries.conf`. A rewrite that makes no valid reference ([`RewriteError`]) is a
//! denial naming the rule, whatever the policy's mode: the webhook denies
//! such an image too.

use super::report::{ImageSite, RuleRef, SiteVerdict};
use super::{Options, compose, dockerfile};
use image_policy_core::policy::rewrite::RewriteError;
use image_policy_core::policy::{Context, DecisionCode, Mode, Policy};

/// Whether the image at `site` is pulled by `docker build` or `docker
/// compose` (a Dockerfile's or a compose file's), so that no `/mutate`
/// rewrites it: it is judged as written.
pub(crate) fn pulled_as_written(site: &ImageSite) -> bool {
    let kind = site.holder.kind.as_str();
    kind == compose::HOLDER_KIND || dockerfile::HOLDER_KINDS.contains(&kind)
}

/// Judges one site with `policy`: as rewritten, or, for a Dockerfile's or a
/// compose file's image, as written (see the module docs), unless
/// [`Options::builds_use_registries_conf`].
pub fn with_policy(policy: &Policy, site: &ImageSite, options: &Options) -> SiteVerdict {
    let rewritten = match policy.rewrite_str(&site.image) {
        Ok(rewritten) => rewritten,
        Err(e) => return rewrite_failed(&e),
    };
    let annotations: Vec<(&str, &str)> = site
        .annotations
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut ctx = Context::new().annotations(&annotations);
    if let Some(ns) = &site.namespace {
        ctx = ctx.namespace(ns);
    }
    let as_written = pulled_as_written(site) && !options.builds_use_registries_conf;
    let judged = if as_written { None } else { rewritten.as_ref() };
    let decision = policy.evaluate_rewritten(&site.image, judged, &ctx);
    let mut verdict = SiteVerdict::from_decision(&decision.into_owned());
    // Judged as written, the verdict still says what the rewrite makes of
    // the image (what `--fix` writes).
    if as_written && let Some(r) = &rewritten {
        verdict.rewritten = Some(r.as_str().to_owned());
        verdict.rewrite_rule = Some(RuleRef::from(&policy.rewrite_rule(r).into_owned()));
    }
    verdict.as_written = as_written;
    verdict
}

/// A rewrite rule matched but made no valid reference: denied, naming the
/// rule the error carries.
fn rewrite_failed(e: &RewriteError) -> SiteVerdict {
    SiteVerdict {
        violates: true,
        allowed: false,
        mode: Mode::Enforce,
        code: DecisionCode::DeniedByRule,
        reason: e.to_string(),
        canonical: None,
        rule: Some(RuleRef::from(&*e.rule)),
        rewritten: None,
        rewrite_rule: None,
        as_written: false,
        unfixable: None,
        exemptions: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Holder, Position};

    fn site(image: &str) -> ImageSite {
        ImageSite {
            position: Position { line: 1, column: 1 },
            image: image.to_owned(),
            written: None,
            width: image.len(),
            holder: Holder {
                kind: "Pod".to_owned(),
                namespace: None,
                name: None,
            },
            container: None,
            path: None,
            annotations: Vec::new(),
            namespace: None,
        }
    }

    #[test]
    fn the_rewritten_image_is_judged_and_a_failed_rewrite_denied() {
        let policy = Policy::builder()
            .allow_registry("registry.my.com")
            .rewrite("docker.io/library", "registry.my.com")
            .rewrite("docker.io", &format!("registry.my.com/{}", "p".repeat(240)))
            .mode(Mode::Warn)
            .build()
            .expect("loads")
            .policy;
        let v = with_policy(&policy, &site("prometheus:2.6.1"), &Options::default());
        assert!(v.allowed && !v.violates, "{v:?}");
        assert_eq!(
            v.rewritten.as_deref(),
            Some("registry.my.com/prometheus:2.6.1")
        );
        assert_eq!(
            v.rewrite_rule.as_ref().map(|r| r.path.as_str()),
            Some("rewrite[0]")
        );

        // Denied whatever the mode: nothing valid could run.
        let v = with_policy(&policy, &site("grafana/grafana:10"), &Options::default());
        assert!(!v.allowed && v.violates, "{v:?}");
        assert_eq!(v.mode, Mode::Enforce);
        let rule = v.rule.expect("the rewrite rule is named");
        assert_eq!((rule.index, rule.path.as_str()), (1, "rewrite[1]"));
        assert!(
            rule.description.starts_with("rewrite docker.io="),
            "{rule:?}"
        );
        assert!(v.reason.contains("longer than 255 bytes"), "{}", v.reason);
        assert_eq!(v.rewritten, None);
    }
}
