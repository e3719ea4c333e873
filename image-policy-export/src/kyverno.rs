//! The `kyverno` format: a Kyverno `ClusterPolicy` whose rules validate
//! with CEL (`validate.cel`, Kyverno 1.11+), the expressions of the
//! `validating-admission-policy` export unchanged.
//!
//! # What it writes
//!
//! One `ClusterPolicy` per unit of the VAP export (one per mode, and the
//! one that denies unparseable images when a mode is not `enforce`), each
//! with one rule: `validate.cel.variables` and `validate.cel.expressions`
//! are the VAP's `variables` and `validations`, and the VAP's match
//! condition on the namespace is the rule's `celPreconditions`. Kyverno
//! evaluates them with the same CEL libraries as the API server (it runs
//! the API server's own validator), so the reference parsing, the rules,
//! exemptions, break-glass, rewrites and `exemptExistingImagesOnUpdate`
//! decide exactly as the VAP does (see the `vap` module).
//!
//! - The rule matches the nine pod-bearing kinds (and `Pod/ephemeralcontainers`,
//!   so that `kubectl debug` is judged) on `CREATE` and `UPDATE`; each kind's
//!   pod template is read by the CEL at its path. Kyverno's auto-generation
//!   of rules for pod controllers is turned off
//!   (`pod-policies.kyverno.io/autogen-controllers: none`): it would rewrite
//!   the rule's paths, and the CEL already reads every kind.
//! - Modes: `enforce` is `validationFailureAction: Enforce`; `audit` is
//!   `Audit` (a policy report, the request admitted); `warn` is `Audit`
//!   with `emitWarning: true` (Kyverno 1.13+: the client sees a warning; an
//!   older Kyverno only reports).
//! - `failurePolicy: Fail`: when Kyverno cannot evaluate the rule, the
//!   request is denied, as the webhook denies what it cannot judge.
//! - `background: true`: Kyverno's background scans judge the pods that
//!   exist (a policy report; nothing is changed). There the CEL's
//!   `request.namespace` is the object's namespace and the operation is not
//!   `UPDATE`, so images already running are reported, not exempted.
//! - [`ExportOptions::only_namespaces`] is the rule's `match` namespaces.
//!
//! `pin:` rules are exported as what can be checked without a registry,
//! exactly as the ValidatingAdmissionPolicy export does: an image in pin
//! scope must carry a digest (the CEL denies it otherwise). The resolving of
//! tags to digests is not handed to Kyverno's `verifyImages` (its
//! `mutateDigest`): that is a different trust model (its own resolver,
//! keys and attestations). A `verify:` rule is exported as its offline
//! part, the digest it requires, as a pin rule is, with a warning that the
//! signature is checked by the image-policy webhook only.

use crate::vap;
use crate::{ExportOptions, Notes};
use image_policy_core::policy::Mode;
use image_policy_core::policy::Policy;
use serde_json::{Value, json};

pub(super) fn export(policy: &Policy, options: &ExportOptions, notes: &mut Notes<'_>) -> String {
    let mut out = String::from(
        "# Kyverno ClusterPolicies deciding as the image-policy webhook does (CEL validation,\n\
         # Kyverno 1.11+), exported by image-policy.\n",
    );
    let policies = vap::policies(policy, options, "a Kyverno validate rule", notes);
    for (i, (vap, mode)) in policies.into_iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&crate::to_yaml(&cluster_policy(&vap, mode, options)));
    }
    out
}

/// The kinds the rule matches: the pod-bearing kinds, and the subresource
/// through which ephemeral containers are added.
pub(super) const KINDS: [&str; 10] = [
    "Pod",
    "Pod/ephemeralcontainers",
    "PodTemplate",
    "ReplicationController",
    "Deployment",
    "ReplicaSet",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "CronJob",
];

/// A `ClusterPolicy` with one rule carrying the VAP's CEL.
fn cluster_policy(vap: &Value, mode: Mode, options: &ExportOptions) -> Value {
    let spec = &vap["spec"];
    let name = vap["metadata"]["name"].clone();
    let mut resources = json!({
        "kinds": KINDS,
        "operations": ["CREATE", "UPDATE"],
    });
    if !options.only_namespaces.is_empty() {
        resources["namespaces"] = json!(options.only_namespaces);
    }
    let mut rule = json!({
        "name": "images",
        "match": {"any": [{"resources": resources}]},
        "validate": {
            "cel": {
                "variables": spec["variables"],
                "expressions": spec["validations"],
            },
        },
    });
    if let Some(conditions) = spec.get("matchConditions") {
        rule["celPreconditions"] = conditions.clone();
    }
    let action = match mode {
        Mode::Enforce => "Enforce",
        Mode::Warn | Mode::Audit => "Audit",
    };
    let mut policy_spec = json!({
        "validationFailureAction": action,
        "background": true,
        "failurePolicy": "Fail",
        "rules": [rule],
    });
    if mode == Mode::Warn {
        policy_spec["emitWarning"] = json!(true);
    }
    json!({
        "apiVersion": "kyverno.io/v1",
        "kind": "ClusterPolicy",
        "metadata": {
            "name": name,
            "annotations": {
                "pod-policies.kyverno.io/autogen-controllers": "none",
                "policies.kyverno.io/title": "Container images (image-policy)",
                "policies.kyverno.io/description": "Every image the kubelet pulls (containers, init and ephemeral containers, image volumes) in the pod-bearing kinds, parsed as the runtime parses it and judged as the image-policy webhook judges it.",
            },
        },
        "spec": policy_spec,
    })
}
