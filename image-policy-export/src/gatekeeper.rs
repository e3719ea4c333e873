//! The `gatekeeper` format: an OPA Gatekeeper `ConstraintTemplate` whose
//! Rego decides as the webhook does, and its `Constraint`s.
//!
//! # What it writes
//!
//! - One `ConstraintTemplate` (`templates.gatekeeper.sh/v1`): the Rego
//!   ([`REGO`], v1 syntax through `import rego.v1`, which Gatekeeper's OPA
//!   reads in both of its Rego modes) is the same for every policy; the
//!   policy is in the constraints' `parameters`. It is the parse of the
//!   `validating-admission-policy` export step by step (the same RE2 for the
//!   domain, path, tag and digest grammar, the implied `docker.io` and
//!   `library/`, the 255-byte limit, Docker Hub's aliases), then each
//!   scope's rules as the same anchored RE2 alternations (see the `vap`
//!   module), pin scope (a digest required), tag rules, exempt namespaces, break-glass, rewrites (both
//!   names judged) and `exemptExistingImagesOnUpdate`. So what the VAP
//!   export narrows or refuses, this one does too, with the same notes.
//! - One `Constraint` per unit of the VAP export: one per mode (`enforce`
//!   is `enforcementAction: deny`, `warn` is `warn`, `audit` is `dryrun`),
//!   each matching its namespaces with `match.namespaces` or
//!   `match.excludedNamespaces`, and, when a mode is not `enforce`, a `deny`
//!   constraint that only denies unparseable images (the webhook denies
//!   them in every mode).
//!
//! # Kinds: matched, not expanded
//!
//! Each constraint matches the nine pod-bearing kinds itself (`Pod`,
//! `PodTemplate`, `ReplicationController`, `Deployment`, `ReplicaSet`,
//! `StatefulSet`, `DaemonSet`, `Job`, `CronJob`) and the Rego reads each
//! kind's pod template at its path, as the webhook does. Gatekeeper's
//! workload expansion (`ExpansionTemplate`) is not relied on: it is an
//! opt-in feature with its own resource to install, and it judges the Pod
//! that Gatekeeper imagines (after its own mutators) rather than the object
//! sent; matching the kinds needs nothing more than the template and works
//! on every Gatekeeper that reads `templates.gatekeeper.sh/v1`.
//!
//! # Fail closed
//!
//! In Rego an expression that cannot be evaluated is undefined, and an
//! undefined violation is no violation. So the Rego asks whether each image
//! is *admitted* and reports every image that is not: an image whose
//! reference or verdict cannot be computed is denied, with the reason
//! `is denied by the image policy`. Gatekeeper itself is fail-open by
//! default (its webhook's `failurePolicy: Ignore`): see `deploy/README.md`.
//!
//! # Regular expressions
//!
//! Gatekeeper's OPA evaluates `regex.match` with Go's RE2; the rules'
//! regexes are those the VAP export writes, in the subset that RE2 and
//! Rust's `regex` read alike, so the tests' engine (regorus, Rust's
//! `regex`) decides as Gatekeeper does.

use crate::vap::{self, Rewrite, Scope};
use crate::{ExportOptions, Notes};
use image_policy_core::policy::Mode;
use image_policy_core::policy::Policy;
use serde_json::{Value, json};

/// The Rego of the template (its package line is written before it).
pub const REGO: &str = r#"import rego.v1

# Every image the kubelet pulls for the object, and the images of the old
# object on UPDATE when the policy exempts existing images.
review := input.review

params := input.parameters

namespace := ns if {
    ns := review.namespace
    is_string(ns)
    ns != ""
} else := ns if {
    ns := review.object.metadata.namespace
    is_string(ns)
} else := ""

existing := object_images(review.oldObject) if {
    review.operation == "UPDATE"
    params.existingOnUpdate == true
} else := []

refs := [ref(image) | some image in object_images(review.object)]

rewritten := [r | some x in refs; x.status == "ok"; r := rewrite(x)]

violation contains {"msg": msg} if {
    some x in array.concat(refs, rewritten)
    not admitted(x)
    msg := sprintf("image %q %s", [x.image, why(x)])
}

admitted(x) if reason(x) == ""

why(x) := r if {
    r := reason(x)
    r != ""
} else := "is denied by the image policy"

# The pod spec at the path of the object's kind.
pod_spec(obj) := obj.spec if obj.kind == "Pod"

pod_spec(obj) := obj.template.spec if obj.kind == "PodTemplate"

pod_spec(obj) := obj.spec.jobTemplate.spec.template.spec if obj.kind == "CronJob"

pod_spec(obj) := obj.spec.template.spec if not obj.kind in {"Pod", "PodTemplate", "CronJob"}

object_images(obj) := images if {
    spec := pod_spec(obj)
    images := spec_images(spec)
} else := []

spec_images(spec) := array.concat(
    [str(object.get(c, "image", "")) |
        some field in ["containers", "initContainers", "ephemeralContainers"]
        some c in list(spec, field)
    ],
    [volume_image(v.image) | some v in list(spec, "volumes"); _ = v.image],
)

# A list field; a value that is neither a list nor null is one image "",
# which is denied.
list(spec, field) := spec[field] if is_array(spec[field])
else := [{"image": ""}] if spec[field] != null
else := []

volume_image(v) := str(object.get(v, "reference", "")) if is_object(v)
else := ""

str(s) := s if is_string(s)
else := ""

# The reference as the runtime reads it: {image, status, name, tag, digest,
# first}; status "ok", "a" (a path to the grammar whose first component the
# runtime contacts) or "x" (invalid).
domain_re := `^(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?$`

component_re := `^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`

rest_re := `^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@(?:sha256:[0-9a-f]{64}|sha384:[0-9a-f]{96}|sha512:[0-9a-f]{128}))?$`

ref(image) := r if {
    is_string(image)
    first := first_component(image)
    kind := first_kind(first)
    kind != "x"
    not regex.match(`^[0-9a-f]{64}$`, image)
    rest := rest_of(image, first, kind)
    regex.match(rest_re, rest)
    parts := split(split(rest, "@")[0], ":")
    path := parts[0]
    library := library_of(path, kind, first)
    count(path) + count(library) <= 255
    r := {
        "image": image,
        "status": status_of(kind),
        "name": concat("", [domain_of(kind, first), "/", library, path]),
        "tag": nth(parts, 1),
        "digest": digest_of(rest),
        "first": first,
    }
} else := {"image": image, "status": "x"}

first_component(image) := split(image, "/")[0] if contains(image, "/")
else := ""

first_kind(first) := "i" if first == ""
else := "i" if {
    not regex.match(`[.:A-Z]`, first)
    first != "localhost"
}
else := "w" if regex.match(domain_re, first)
else := "a" if regex.match(component_re, first)
else := "x"

rest_of(image, first, kind) := trim_prefix(image, concat("", [first, "/"])) if kind == "w"
else := image

nth(parts, i) := parts[i] if count(parts) > i
else := ""

digest_of(rest) := "d" if contains(rest, "@")
else := ""

library_of(path, kind, first) := "library/" if {
    not contains(path, "/")
    kind == "i"
}
else := "library/" if {
    not contains(path, "/")
    first in {"docker.io", "index.docker.io"}
}
else := ""

status_of(kind) := "a" if kind == "a"
else := "ok"

domain_of(kind, first) := "docker.io" if kind == "i"
else := "" if kind == "a"
else := "docker.io" if lower(first) in {"index.docker.io", "registry-1.docker.io"}
else := lower(first)

# The name the first rewrite rule that matches makes (judged too), or the
# reason the rewrite fails.
rewrite(x) := rewrite_with(params.rewrites[hits[0]], x) if {
    hits := [i | some i, rw in params.rewrites; rewrite_matches(rw, x.name)]
    count(hits) > 0
}

rewrite_matches(rw, name) if {
    rw.ipv6 == true
    startswith(name, "[")
}

rewrite_matches(rw, name) if {
    rw.ipv6 == false
    regex.match(concat("", ["^", rw.fromRe]), name)
}

rewrite_with(rw, x) := {"image": x.image, "status": "r", "reason": rw.reason} if rw.made == false
else := {"image": x.image, "status": "r", "reason": rw.noRepo} if {
    rw.noRepo != ""
    x.name == rw.from
}
else := {"image": x.image, "status": "r", "reason": rw.tooLong} if count(x.name) > rw.max
else := {
    "image": x.image,
    "status": "ok",
    "name": concat("", [rw.to, trim_prefix(x.name, rw.from)]),
    "tag": x.tag,
    "digest": x.digest,
    "first": x.first,
}

# Why the image is denied ("" when it is admitted), in the webhook's order.
reason(x) := "" if x.image in existing
else := "is not a valid image reference" if x.status == "x"
else := x.reason if x.status == "r"
else := "" if params.onlyUnparseable == true
else := "" if namespace in params.exemptNamespaces
else := "" if break_glass
else := concat("", ["names no registry to the grammar, but the runtime would pull it from ", x.first]) if x.status == "a"
else := scope_reason(params.namespaces[i].scope, x) if {
    some i
    namespace in params.namespaces[i].names
    not earlier_scope(i)
}
else := scope_reason(params.cluster, x)

earlier_scope(i) if {
    some j
    j < i
    namespace in params.namespaces[j].names
}

scope_reason(s, x) := "is on an IPv6 registry, which this policy denies" if {
    s.denyIpv6 == true
    startswith(x.name, "[")
}
else := concat("", ["is denied by the policy (", x.name, ")"]) if {
    s.deny != ""
    regex.match(s.deny, x.name)
}
else := concat("", ["is from ", x.name, ", which the policy does not allow"]) if {
    s.hasAllow == true
    not allowed_by(s.allow, x.name)
}
else := "must name a digest (@sha256:...): it is on an IPv6 registry, which this policy pins" if {
    x.digest == ""
    s.pinIpv6 == true
    startswith(x.name, "[")
}
else := concat("", ["must name a digest (@sha256:...): ", x.name, " is in pin scope"]) if {
    x.digest == ""
    s.pin != ""
    regex.match(s.pin, x.name)
}
else := "" if x.digest != ""
else := "must name a digest (@sha256:...)" if s.requireDigest == true
else := "must name a tag or a digest" if {
    s.requireTagOrDigest == true
    x.tag == ""
}
else := concat("", ["has the denied tag ", shown_tag(x.tag)]) if effective_tag(x.tag) in s.denyTags
else := "has a tag that the policy does not allow" if {
    s.hasAllowTags == true
    not allowed_by(s.allowTags, effective_tag(x.tag))
}
else := ""

allowed_by(re, name) if {
    re != ""
    regex.match(re, name)
}

effective_tag(tag) := "latest" if tag == ""
else := tag

shown_tag(tag) := "latest (implied)" if tag == ""
else := tag

break_glass if {
    bg := params.breakGlass
    bg.enabled == true
    some annotations in [object_annotations(review.object), template_annotations(review.object)]
    some key, value in annotations
    value == bg.value
    glass_key(bg, key)
}

glass_key(bg, key) if {
    count(bg.annotations) == 0
    regex.match(`^[^/]+\.image-policy\.k8s\.io/.+$`, key)
}

glass_key(bg, key) if key in bg.annotations

object_annotations(obj) := a if {
    a := obj.metadata.annotations
    is_object(a)
} else := {}

template_annotations(obj) := {} if obj.kind == "Pod"
else := object_annotations(obj.template) if obj.kind == "PodTemplate"
else := object_annotations(obj.spec.jobTemplate.spec.template) if obj.kind == "CronJob"
else := a if {
    a := object_annotations(obj.spec.template)
}
else := {}
"#;

/// The kinds each constraint matches, by API group.
pub(super) const KINDS: [(&str, &[&str]); 3] = [
    ("", &["Pod", "PodTemplate", "ReplicationController"]),
    (
        "apps",
        &["Deployment", "ReplicaSet", "StatefulSet", "DaemonSet"],
    ),
    ("batch", &["Job", "CronJob"]),
];

pub(super) fn export(policy: &Policy, options: &ExportOptions, notes: &mut Notes<'_>) -> String {
    let doc = policy.document();
    let rewrites = vap::rewrites(policy, "a Gatekeeper constraint", notes);
    let plan = vap::plan(policy, options, notes);
    let kind = kind_name(&options.name);
    let mut out = String::from(
        "# An OPA Gatekeeper ConstraintTemplate deciding as the image-policy webhook does,\n\
         # and its constraints, exported by image-policy (templates.gatekeeper.sh/v1).\n",
    );
    out.push_str(&crate::to_yaml(&template(&kind)));
    let common = json!({
        "existingOnUpdate": doc.exempt_existing_images_on_update,
        "exemptNamespaces": doc.exempt_namespaces,
        "breakGlass": {
            "enabled": doc.break_glass.enabled,
            "value": doc.break_glass.value,
            "annotations": doc.break_glass.annotations,
        },
        "rewrites": rewrites.iter().map(rewrite_parameters).collect::<Vec<_>>(),
    });
    for unit in &plan.units {
        let mut parameters = common.clone();
        parameters["onlyUnparseable"] = json!(unit.only_unparseable);
        parameters["cluster"] = scope_parameters(&plan.cluster);
        parameters["namespaces"] = json!(
            unit.scopes
                .iter()
                .map(|&i| json!({
                    "names": doc.namespaces[i].names,
                    "scope": scope_parameters(&plan.scopes[i]),
                }))
                .collect::<Vec<_>>()
        );
        out.push_str("---\n");
        out.push_str(&crate::to_yaml(&constraint(
            &kind, unit, parameters, options,
        )));
    }
    out
}

/// `image-policy` → `ImagePolicy`: the constraint kind, from the export's name.
fn kind_name(name: &str) -> String {
    let kind: String = name
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut cs = w.chars();
            let first = cs.next().map(|c| c.to_ascii_uppercase());
            first.into_iter().chain(cs).collect::<String>()
        })
        .collect();
    match kind.chars().next() {
        Some(c) if c.is_ascii_alphabetic() => kind,
        _ => format!("ImagePolicy{kind}"),
    }
}

fn template(kind: &str) -> Value {
    let package = kind.to_ascii_lowercase();
    json!({
        "apiVersion": "templates.gatekeeper.sh/v1",
        "kind": "ConstraintTemplate",
        "metadata": {"name": package},
        "spec": {
            "crd": {"spec": {
                "names": {"kind": kind},
                "validation": {"openAPIV3Schema": {
                    "type": "object",
                    "x-kubernetes-preserve-unknown-fields": true,
                }},
            }},
            "targets": [{
                "target": "admission.k8s.gatekeeper.sh",
                "rego": format!("package {package}\n\n{}", REGO.trim_end()),
            }],
        },
    })
}

fn constraint(kind: &str, unit: &vap::Unit, parameters: Value, options: &ExportOptions) -> Value {
    let action = match unit.mode {
        Mode::Enforce => "deny",
        Mode::Warn => "warn",
        Mode::Audit => "dryrun",
    };
    let kinds: Vec<Value> = KINDS
        .iter()
        .map(|(group, kinds)| json!({"apiGroups": [group], "kinds": kinds}))
        .collect();
    let mut matching = json!({"kinds": kinds});
    let only = &options.only_namespaces;
    match (&unit.namespaces, only.is_empty()) {
        (None, true) => {}
        (None, false) => matching["namespaces"] = json!(only),
        (Some((true, names)), _) => {
            let names: Vec<&String> = names
                .iter()
                .filter(|n| only.is_empty() || only.contains(n))
                .collect();
            matching["namespaces"] = json!(names);
        }
        (Some((false, names)), _) => {
            if !only.is_empty() {
                matching["namespaces"] = json!(only);
            }
            matching["excludedNamespaces"] = json!(names);
        }
    }
    json!({
        "apiVersion": "constraints.gatekeeper.sh/v1beta1",
        "kind": kind,
        "metadata": {"name": unit.name},
        "spec": {
            "enforcementAction": action,
            "match": matching,
            "parameters": parameters,
        },
    })
}

/// A scope's rules, without nulls (the API server drops them).
fn scope_parameters(s: &Scope) -> Value {
    json!({
        "hasAllow": s.allow.is_some(),
        "allow": s.allow.clone().unwrap_or_default(),
        "deny": s.deny,
        "denyIpv6": s.deny_ipv6,
        "pin": s.pin,
        "pinIpv6": s.pin_ipv6,
        "requireDigest": s.tags.require_digest,
        "requireTagOrDigest": s.tags.require_tag_or_digest,
        "denyTags": s.tags.deny,
        "hasAllowTags": s.allow_tags.is_some(),
        "allowTags": s.allow_tags.clone().unwrap_or_default(),
    })
}

fn rewrite_parameters(r: &Rewrite) -> Value {
    match r {
        Rewrite::Ipv6 { reason } => json!({"ipv6": true, "made": false, "reason": reason}),
        Rewrite::Prefix {
            from,
            from_re,
            made: Err(reason),
        } => {
            json!({"ipv6": false, "from": from, "fromRe": from_re, "made": false, "reason": reason})
        }
        Rewrite::Prefix {
            from,
            from_re,
            made: Ok(m),
        } => json!({
            "ipv6": false,
            "from": from,
            "fromRe": from_re,
            "made": true,
            "to": m.to,
            "max": m.max,
            "noRepo": m.no_repo.clone().unwrap_or_default(),
            "tooLong": m.too_long,
        }),
    }
}
