//! `AdmissionReview` (`admission.k8s.io/v1` and `v1beta1`), from a
//! `ValidatingWebhookConfiguration` (`/validate`) or a
//! `MutatingWebhookConfiguration` (`/mutate`): the object being created or
//! updated (and the old one, on UPDATE), answered in the request's version.
//! Both endpoints decode the same way; `/validate` answers
//! [`admission::decide`]'s verdict, `/mutate` [`admission::mutate`](fn@admission::mutate)'s
//! replacements as a base64 JSON Patch (`patchType: JSONPatch`), and no
//! `patch` at all when nothing changes.
//!
//! See [the request and response](https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/#request).

use std::collections::BTreeMap;

use base64::Engine as _;
use image_policy_core::admission::{self, Mutation, Operation, Request, Status};
use image_policy_core::policy::Policy;
#[cfg(test)]
use serde::Serialize;

use super::json::write_str;
use super::pin::{self, PendingMutation};
use super::reply::{Outcome, Reply, ReplySummary, Status as StatusOut, bad_request, decode};
use super::request::AdmissionReviewIn;
use super::scan;

const API_VERSIONS: [&str; 2] = ["admission.k8s.io/v1", "admission.k8s.io/v1beta1"];
pub(super) const KIND: &str = "AdmissionReview";
/// The longest `request.uid` answered (the answer repeats it): the API
/// server's is a UUID of 36 bytes.
const MAX_UID: usize = 128;

/// The response review. Written by [`AdmissionReviewOut::encode`]; the
/// serde derive is the reference the tests compare it with.
#[cfg_attr(test, derive(Serialize))]
pub(super) struct AdmissionReviewOut<'a> {
    #[cfg_attr(test, serde(rename = "apiVersion"))]
    pub(super) api_version: &'a str,
    pub(super) kind: &'static str,
    pub(super) response: ResponseOut<'a>,
}

#[cfg_attr(test, derive(Serialize))]
pub(super) struct ResponseOut<'a> {
    pub(super) uid: &'a str,
    pub(super) allowed: bool,
    pub(super) status: StatusOut<'a>,
    /// `JSONPatch` when there is a patch.
    #[cfg_attr(
        test,
        serde(rename = "patchType", skip_serializing_if = "Option::is_none")
    )]
    pub(super) patch_type: Option<&'static str>,
    /// The base64 of the JSON Patch.
    #[cfg_attr(test, serde(skip_serializing_if = "Option::is_none"))]
    pub(super) patch: Option<&'a str>,
    #[cfg_attr(test, serde(skip_serializing_if = "<[String]>::is_empty"))]
    pub(super) warnings: &'a [String],
    #[cfg_attr(
        test,
        serde(
            rename = "auditAnnotations",
            skip_serializing_if = "BTreeMap::is_empty"
        )
    )]
    pub(super) audit_annotations: &'a BTreeMap<&'static str, String>,
}

impl AdmissionReviewOut<'_> {
    /// The JSON serde_json would write for the derived `Serialize`, written
    /// directly into one buffer.
    pub(super) fn encode(&self) -> Vec<u8> {
        let r = &self.response;
        let mut out = Vec::with_capacity(
            256 + r.uid.len()
                + r.status.message.len()
                + r.patch.map_or(0, str::len)
                + r.warnings.iter().map(String::len).sum::<usize>()
                + r.audit_annotations.values().map(String::len).sum::<usize>(),
        );
        out.extend_from_slice(b"{\"apiVersion\":");
        write_str(&mut out, self.api_version);
        out.extend_from_slice(b",\"kind\":");
        write_str(&mut out, self.kind);
        out.extend_from_slice(b",\"response\":{\"uid\":");
        write_str(&mut out, r.uid);
        out.extend_from_slice(if r.allowed {
            b",\"allowed\":true,\"status\":"
        } else {
            b",\"allowed\":false,\"status\":"
        });
        r.status.write(&mut out);
        if let Some(patch_type) = r.patch_type {
            out.extend_from_slice(b",\"patchType\":");
            write_str(&mut out, patch_type);
        }
        if let Some(patch) = r.patch {
            // Base64's alphabet (`A-Z a-z 0-9 + / =`) needs no JSON escape:
            // the patch, most of the answer's bytes, is copied as it is.
            debug_assert!(
                patch
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
            );
            out.extend_from_slice(b",\"patch\":\"");
            out.extend_from_slice(patch.as_bytes());
            out.push(b'"');
        }
        if !r.warnings.is_empty() {
            out.extend_from_slice(b",\"warnings\":[");
            for (i, w) in r.warnings.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(&mut out, w);
            }
            out.push(b']');
        }
        if !r.audit_annotations.is_empty() {
            out.extend_from_slice(b",\"auditAnnotations\":{");
            for (i, (k, v)) in r.audit_annotations.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(&mut out, k);
                out.push(b':');
                write_str(&mut out, v);
            }
            out.push(b'}');
        }
        out.extend_from_slice(b"}}");
        out
    }
}

/// Which answer a review gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Answer {
    /// `/validate`: the verdict.
    Validate,
    /// `/mutate`: the rewrites, as a JSON Patch.
    Mutate,
}

impl Answer {
    fn path(self) -> &'static str {
        match self {
            Self::Validate => "/validate",
            Self::Mutate => "/mutate",
        }
    }
}

/// What the first call gives: the answer, or (`/mutate` with pin rules) a
/// review waiting for its digests.
pub(super) enum Step {
    Done(Reply),
    Pin(PendingMutation),
    /// `/validate` with verify rules: pinned images to verify.
    Verify(Box<super::verify::PendingValidation>),
}

impl From<Reply> for Step {
    fn from(reply: Reply) -> Self {
        Step::Done(reply)
    }
}

pub(super) fn handle(policy: &Policy, body: &[u8], answer: Answer) -> Reply {
    match handle_step(policy, body, answer) {
        Step::Done(reply) => reply,
        // Called without a registry: every pin fails, loudly.
        Step::Pin(pending) => pending.complete(&[]),
        // Likewise every verification (fail closed).
        Step::Verify(pending) => pending.complete(&[]),
    }
}

pub(super) fn handle_step(policy: &Policy, body: &[u8], answer: Answer) -> Step {
    let endpoint = answer.path();
    // The scanner reads a well-formed review; serde decides on anything else.
    let fast = std::str::from_utf8(body)
        .ok()
        .and_then(scan::admission_review);
    let review: AdmissionReviewIn<'_> = match fast {
        Some(review) => review,
        None => match decode("AdmissionReview", body) {
            Ok(review) => review,
            Err(message) => return Step::Done(bad_request(message)),
        },
    };
    let api_version = match review.api_version.as_deref() {
        Some(v) if API_VERSIONS.contains(&v) => v,
        Some(other) => {
            return Step::Done(bad_request(format!(
                "apiVersion {other:?} is not supported on {endpoint}: expected {:?} or {:?}",
                API_VERSIONS[0], API_VERSIONS[1]
            )));
        }
        None => {
            return Step::Done(bad_request(format!(
                "the AdmissionReview has no apiVersion (expected {:?} or {:?})",
                API_VERSIONS[0], API_VERSIONS[1]
            )));
        }
    };
    if review.kind.as_deref() != Some(KIND) {
        return Step::Done(bad_request(match review.kind.as_deref() {
            Some(other) => {
                format!("kind {other:?} is not supported on {endpoint}: expected {KIND:?}")
            }
            None => format!("the request has no kind (expected {KIND:?})"),
        }));
    }
    let Some(request) = review.request else {
        return Step::Done(bad_request("the AdmissionReview has no request".to_owned()));
    };
    let uid = match request.uid.as_deref() {
        Some(uid) if uid.len() > MAX_UID => {
            return Step::Done(bad_request(format!(
                "request.uid is longer than {MAX_UID} bytes ({} bytes): the API server's is a UUID",
                uid.len()
            )));
        }
        Some(uid) if !uid.is_empty() => uid,
        _ => {
            return Step::Done(bad_request(
                "the AdmissionReview has no request.uid".to_owned(),
            ));
        }
    };

    let request = Request::new(
        Operation::parse(request.operation.as_deref().unwrap_or("")),
        request.object.as_ref(),
    )
    .old_object(request.old_object.as_ref())
    .namespace(request.namespace.as_deref())
    .kind(request.kind.as_ref().and_then(|k| k.kind.as_deref()))
    .name(request.name.as_deref())
    .resource(
        request
            .resource
            .as_ref()
            .and_then(|r| r.resource.as_deref()),
        request.sub_resource.as_deref(),
    );
    if answer == Answer::Mutate {
        let mutation = admission::mutate(policy, &request);
        if !policy.has_pin_rules() && !policy.has_verify_rules() {
            return Step::Done(mutate_reply(api_version, uid, &request, mutation));
        }
        return match pin::plan(policy, api_version, uid, &request, mutation) {
            Ok(pending) => Step::Pin(pending),
            Err(mutation) => Step::Done(mutate_reply(api_version, uid, &request, mutation)),
        };
    }
    let verdict = admission::decide(policy, &request);
    let outcome = match verdict.status {
        Status::Allowed if verdict.warned() => Outcome::Warned,
        Status::Allowed => Outcome::Allowed,
        _ => Outcome::Denied,
    };
    let body = AdmissionReviewOut {
        api_version,
        kind: KIND,
        response: ResponseOut {
            uid,
            allowed: verdict.allowed(),
            status: StatusOut {
                api_version: None,
                kind: None,
                status: verdict.status.as_str(),
                message: &verdict.message,
                reason: verdict.status.reason(),
                code: verdict.status.code(),
            },
            patch_type: None,
            patch: None,
            warnings: &verdict.warnings,
            audit_annotations: &verdict.audit_annotations,
        },
    }
    .encode();
    let mut summary = ReplySummary::new(outcome, String::new());
    summary.uid = Some(uid.to_owned());
    summary.kind = request.object_kind().map(str::to_owned);
    summary.namespace = request.object_namespace().map(str::to_owned);
    summary.name = request.object_name().map(str::to_owned);
    summary.images = verdict.images.len();
    summary.denied = verdict.denied_images().count();
    summary.break_glass = verdict.break_glass();
    // Only a policy with verify rules pays for the signature check.
    if policy.has_verify_rules() {
        let label = admission::object_label(
            request.object_kind(),
            request.object_namespace(),
            request.object_name(),
        );
        if let Some(pending) = super::verify::plan(
            policy,
            super::verify::Form::admission_review(api_version, uid, &verdict),
            label,
            request.object_namespace(),
            &verdict,
            &summary,
        ) {
            return Step::Verify(pending);
        }
    }
    // The message, then the warnings, for the decision log.
    let mut message = verdict.message;
    for w in &verdict.warnings {
        message.push_str("; ");
        message.push_str(w);
    }
    summary.message = message;
    Step::Done(Reply {
        status: 200,
        body,
        summary,
    })
}

/// A review denied after a registry phase (`/mutate`'s pins, `/validate`'s
/// signatures): 403 with `message`, no patch, no warnings, no annotations.
pub(super) fn denied(api_version: &str, uid: &str, message: &str) -> Vec<u8> {
    AdmissionReviewOut {
        api_version,
        kind: KIND,
        response: ResponseOut {
            uid,
            allowed: false,
            status: StatusOut {
                api_version: None,
                kind: None,
                status: "Failure",
                message,
                reason: "Forbidden",
                code: 403,
            },
            patch_type: None,
            patch: None,
            warnings: &[],
            audit_annotations: &BTreeMap::new(),
        },
    }
    .encode()
}

/// The answer of `/mutate`: allowed with the patch (none when nothing
/// changes), or denied with no patch.
fn mutate_reply<S: image_policy_core::k8s::Text>(
    api_version: &str,
    uid: &str,
    request: &Request<'_, S>,
    mutation: Mutation<'_>,
) -> Reply {
    let patch = (mutation.allowed() && !mutation.replacements.is_empty())
        .then(|| base64::engine::general_purpose::STANDARD.encode(json_patch(&mutation)));
    let body = AdmissionReviewOut {
        api_version,
        kind: KIND,
        response: ResponseOut {
            uid,
            allowed: mutation.allowed(),
            status: StatusOut {
                api_version: None,
                kind: None,
                status: mutation.status.as_str(),
                message: &mutation.message,
                reason: mutation.status.reason(),
                code: mutation.status.code(),
            },
            patch_type: patch.as_ref().map(|_| "JSONPatch"),
            patch: patch.as_deref(),
            warnings: &[],
            audit_annotations: &mutation.audit_annotations,
        },
    }
    .encode();
    let outcome = if mutation.allowed() {
        Outcome::Allowed
    } else {
        Outcome::Denied
    };
    let mut summary = ReplySummary::new(outcome, mutation.message);
    summary.uid = Some(uid.to_owned());
    summary.kind = request.object_kind().map(str::to_owned);
    summary.namespace = request.object_namespace().map(str::to_owned);
    summary.name = request.object_name().map(str::to_owned);
    summary.images = mutation.replacements.len() + mutation.failures.len();
    summary.denied = mutation.failures.len();
    Reply {
        status: 200,
        body,
        summary,
    }
}

/// The RFC 6902 JSON Patch of a mutation, as JSON text:
/// `[{"op":"replace","path":"/spec/containers/0/image","value":"..."}]`.
fn json_patch(mutation: &Mutation<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + mutation.replacements.len() * 128);
    out.push(b'[');
    for (i, op) in mutation.patch().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"op\":");
        write_str(&mut out, op.op);
        out.extend_from_slice(b",\"path\":");
        write_str(&mut out, &op.path);
        out.extend_from_slice(b",\"value\":");
        write_str(&mut out, op.value);
        out.push(b'}');
    }
    out.push(b']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The response is written byte for byte as serde_json writes the derived
    /// `Serialize`: every optional part, and strings that need escapes.
    #[test]
    fn encode_writes_what_serde_writes() {
        let mut annotations = BTreeMap::new();
        let warnings = ["w1 \"quoted\"".to_owned(), "w2\n\u{1}\u{7f}é".to_owned()];
        for (allowed, warnings, audit, reason, code, message) in [
            (
                true,
                &[][..],
                false,
                "",
                200,
                "Deployment shop/web: 4 images allowed",
            ),
            (
                false,
                &warnings[..],
                true,
                "Forbidden",
                403,
                "a\\b\t\r\u{8}\u{c}\u{1f}\"日本\"",
            ),
            (false, &[][..], true, "BadRequest", 400, ""),
            (true, &warnings[..], false, "", 7, "x"),
        ] {
            annotations.clear();
            if audit {
                annotations.insert("denied-images", "a, b".to_owned());
                annotations.insert("audited-images", "c\"".to_owned());
            }
            let out = AdmissionReviewOut {
                api_version: "admission.k8s.io/v1",
                kind: KIND,
                response: ResponseOut {
                    uid: "705ab4f5-\\u",
                    allowed,
                    status: StatusOut {
                        api_version: None,
                        kind: None,
                        status: "Success",
                        message,
                        reason,
                        code,
                    },
                    patch_type: audit.then_some("JSONPatch"),
                    patch: audit.then_some("W3sib3AiOiJyZXBsYWNlIn1d"),
                    warnings,
                    audit_annotations: &annotations,
                },
            };
            let want = serde_json::to_vec(&out).expect("encodable");
            assert_eq!(
                String::from_utf8(out.encode()).expect("UTF-8"),
                String::from_utf8(want).expect("UTF-8")
            );
        }
    }

    /// The patch is written as serde_json writes the core's operations.
    #[test]
    fn json_patch_writes_what_serde_writes() {
        let policy = Policy::builder()
            .rewrite("docker.io", "registry.my.com/hub")
            .build()
            .expect("a policy")
            .policy;
        let object: image_policy_core::k8s::Object<String> = serde_json::from_str(
            r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{
                "containers":[{"name":"a","image":"nginx"},{"name":"b","image":"quay.io/x"}],
                "volumes":[{"name":"v","image":{"reference":"grafana/grafana:10"}}]}}"#,
        )
        .expect("an object");
        let mutation = admission::mutate(&policy, &Request::new(Operation::Create, Some(&object)));
        let ops: Vec<_> = mutation.patch().collect();
        assert_eq!(ops.len(), 2);
        assert_eq!(
            String::from_utf8(json_patch(&mutation)).expect("UTF-8"),
            serde_json::to_string(&ops).expect("encodable")
        );
        assert_eq!(ops[1].path, "/spec/volumes/0/image/reference");
    }
}
