//! `AdmissionReview` (`admission.k8s.io/v1` and `v1beta1`), from a
//! `ValidatingWebhookConfiguration`: the object being created or updated (and
//! the old one, on UPDATE), answered in the request's version.
//!
//! See [the request and response](https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/#request).

use std::collections::BTreeMap;
use std::fmt;

use image_policy_core::k8s::{ContainerList, CowStr, JsonPath, Object, find_images};
use image_policy_core::policy::{Context, Policy};
use serde::Deserialize;
#[cfg(test)]
use serde::Serialize;

use super::reply::{
    Judged, Outcome, Reply, ReplySummary, Status, Verdict, bad_request, decode, images_noun,
    push_count, write_quoted, write_str,
};
use super::scan;

const API_VERSIONS: [&str; 2] = ["admission.k8s.io/v1", "admission.k8s.io/v1beta1"];
const KIND: &str = "AdmissionReview";

#[derive(Debug, Deserialize)]
#[serde(rename = "AdmissionReview")]
pub(super) struct AdmissionReviewIn<'a> {
    #[serde(rename = "apiVersion", borrow, default)]
    pub(super) api_version: Option<CowStr<'a>>,
    #[serde(borrow, default)]
    pub(super) kind: Option<CowStr<'a>>,
    #[serde(borrow, default)]
    pub(super) request: Option<RequestIn<'a>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename = "AdmissionRequest")]
pub(super) struct RequestIn<'a> {
    #[serde(borrow, default)]
    pub(super) uid: Option<CowStr<'a>>,
    #[serde(borrow, default)]
    pub(super) kind: Option<GroupVersionKindIn<'a>>,
    #[serde(borrow, default)]
    pub(super) resource: Option<GroupVersionResourceIn<'a>>,
    #[serde(rename = "subResource", borrow, default)]
    pub(super) sub_resource: Option<CowStr<'a>>,
    #[serde(borrow, default)]
    pub(super) operation: Option<CowStr<'a>>,
    #[serde(borrow, default)]
    pub(super) namespace: Option<CowStr<'a>>,
    #[serde(borrow, default)]
    pub(super) name: Option<CowStr<'a>>,
    #[serde(borrow, default)]
    pub(super) object: Option<Object<CowStr<'a>>>,
    #[serde(rename = "oldObject", borrow, default)]
    pub(super) old_object: Option<Object<CowStr<'a>>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename = "GroupVersionKind")]
pub(super) struct GroupVersionKindIn<'a> {
    #[serde(borrow, default)]
    pub(super) kind: Option<CowStr<'a>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename = "GroupVersionResource")]
pub(super) struct GroupVersionResourceIn<'a> {
    #[serde(borrow, default)]
    pub(super) resource: Option<CowStr<'a>>,
}

/// The response review. Written by [`AdmissionReviewOut::encode`]; the
/// serde derive is the reference the tests compare it with.
#[cfg_attr(test, derive(Serialize))]
struct AdmissionReviewOut<'a> {
    #[cfg_attr(test, serde(rename = "apiVersion"))]
    api_version: &'a str,
    kind: &'static str,
    response: ResponseOut<'a>,
}

#[cfg_attr(test, derive(Serialize))]
struct ResponseOut<'a> {
    uid: &'a str,
    allowed: bool,
    status: Status<'a>,
    #[cfg_attr(test, serde(skip_serializing_if = "<[String]>::is_empty"))]
    warnings: &'a [String],
    #[cfg_attr(
        test,
        serde(
            rename = "auditAnnotations",
            skip_serializing_if = "BTreeMap::is_empty"
        )
    )]
    audit_annotations: &'a BTreeMap<&'static str, String>,
}

impl AdmissionReviewOut<'_> {
    /// The JSON serde_json would write for the derived `Serialize`, written
    /// directly into one buffer.
    fn encode(&self) -> Vec<u8> {
        let r = &self.response;
        let mut out = Vec::with_capacity(
            256 + r.uid.len()
                + r.status.message.len()
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

/// A container, as the messages name it: `container "web"`,
/// `initContainer "migrate"`, `ephemeralContainer "debugger"`, or an image
/// volume, `volume "assets"`, with its path.
struct ContainerLabel<'o> {
    name: &'o str,
    list: ContainerList,
    path: JsonPath,
}

impl fmt::Display for ContainerLabel<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.list.entry())?;
        f.write_str(" ")?;
        write_quoted(f, self.name)?;
        f.write_str(" (")?;
        fmt::Display::fmt(&self.path, f)?;
        f.write_str(")")
    }
}

/// The object named for people: `Deployment shop/web`.
fn object_label(kind: Option<&str>, namespace: Option<&str>, name: Option<&str>) -> String {
    // Pieces into one sized buffer rather than `format!`: this runs for every
    // review, and the message that follows it is appended to the same kind of
    // buffer.
    let kind = kind.unwrap_or("object");
    let parts: [&str; 4] = match (namespace, name) {
        (Some(ns), Some(_)) => [kind, " ", ns, "/"],
        (None, Some(_)) => [kind, " ", "", ""],
        (Some(ns), None) => [kind, " in namespace ", ns, ""],
        (None, None) => [kind, "", "", ""],
    };
    let name = name.unwrap_or("");
    let mut label =
        String::with_capacity(parts.iter().map(|p| p.len()).sum::<usize>() + name.len());
    for part in parts {
        label.push_str(part);
    }
    label.push_str(name);
    label
}

pub(super) fn handle(policy: &Policy, body: &[u8]) -> Reply {
    // The scanner reads a well-formed review; serde decides on anything else.
    let fast = std::str::from_utf8(body)
        .ok()
        .and_then(scan::admission_review);
    let review: AdmissionReviewIn<'_> = match fast {
        Some(review) => review,
        None => match decode("AdmissionReview", body) {
            Ok(review) => review,
            Err(message) => return bad_request(message),
        },
    };
    let api_version = match review.api_version.as_deref() {
        Some(v) if API_VERSIONS.contains(&v) => v,
        Some(other) => {
            return bad_request(format!(
                "apiVersion {other:?} is not supported on /validate: expected {:?} or {:?}",
                API_VERSIONS[0], API_VERSIONS[1]
            ));
        }
        None => {
            return bad_request(format!(
                "the AdmissionReview has no apiVersion (expected {:?} or {:?})",
                API_VERSIONS[0], API_VERSIONS[1]
            ));
        }
    };
    if review.kind.as_deref() != Some(KIND) {
        return bad_request(match review.kind.as_deref() {
            Some(other) => {
                format!("kind {other:?} is not supported on /validate: expected {KIND:?}")
            }
            None => format!("the request has no kind (expected {KIND:?})"),
        });
    }
    let Some(request) = review.request else {
        return bad_request("the AdmissionReview has no request".to_owned());
    };
    let uid = match request.uid.as_deref() {
        Some(uid) if !uid.is_empty() => uid,
        _ => return bad_request("the AdmissionReview has no request.uid".to_owned()),
    };

    let object = request.object.as_ref();
    let kind = object
        .and_then(Object::kind)
        .or(request.kind.as_ref().and_then(|k| k.kind.as_deref()));
    let namespace = request
        .namespace
        .as_deref()
        .or(object.and_then(Object::namespace));
    let name = object.and_then(Object::name).or(request.name.as_deref());
    let label = object_label(kind, namespace, name);
    let mut summary = ReplySummary::new(Outcome::Allowed, String::new());
    summary.uid = Some(uid.to_owned());
    summary.kind = kind.map(str::to_owned);
    summary.namespace = namespace.map(str::to_owned);
    summary.name = name.map(str::to_owned);
    let answer = Answer {
        api_version,
        uid,
        summary,
    };

    let operation = request.operation.as_deref().unwrap_or("");
    match operation {
        "CREATE" | "UPDATE" => {}
        "DELETE" | "CONNECT" => {
            return answer.allow(format!("{operation} of {label}: no image is admitted"));
        }
        other => {
            return answer.reject(400, format!("{label}: unknown operation {other:?}"));
        }
    }
    let Some(object) = object else {
        return answer.reject(
            400,
            format!("{operation} of {label}: the request has no object"),
        );
    };
    let found = match find_images(object) {
        Ok(found) => found,
        Err(e) => {
            let resource = request
                .resource
                .as_ref()
                .and_then(|r| r.resource.as_deref())
                .unwrap_or("");
            let resource = match request.sub_resource.as_deref() {
                Some(sub) if !sub.is_empty() => format!(" ({resource}/{sub})"),
                _ if !resource.is_empty() => format!(" ({resource})"),
                _ => String::new(),
            };
            return answer.reject(
                400,
                format!("{label}{resource}: cannot find its images: {e}"),
            );
        }
    };
    if found.is_empty() {
        return answer.allow(format!("{label} has no images"));
    }

    // On UPDATE, the images the old object already runs (any container or
    // image volume).
    let existing: Vec<&str> = match (&request.old_object, operation) {
        (Some(old), "UPDATE") if policy.exempt_existing_images_on_update() => find_images(old)
            .map(|images| images.iter().map(|f| &**f.image).collect())
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    let annotations: Vec<(&str, &str)> = object.annotations().collect();
    let mut ctx = Context::new().annotations(&annotations);
    if let Some(ns) = namespace {
        ctx = ctx.namespace(ns);
    }
    let judged = found
        .iter()
        .map(|f| {
            let image: &str = f.image;
            Judged {
                label: ContainerLabel {
                    name: f.container,
                    list: f.list,
                    path: f.json_path,
                },
                decision: policy.evaluate(image, &ctx),
                existing: existing.contains(&image),
            }
        })
        .collect();
    let verdict = Verdict { judged };
    answer.verdict(&label, &verdict)
}

/// What every response carries.
struct Answer<'a> {
    api_version: &'a str,
    uid: &'a str,
    summary: ReplySummary,
}

impl Answer<'_> {
    /// Encodes the response, then moves the message (with the warnings) into
    /// the summary.
    fn reply(
        mut self,
        allowed: bool,
        (status, reason, code): (&'static str, &'static str, u16),
        mut message: String,
        warnings: Vec<String>,
        audit_annotations: BTreeMap<&'static str, String>,
    ) -> Reply {
        let body = AdmissionReviewOut {
            api_version: self.api_version,
            kind: KIND,
            response: ResponseOut {
                uid: self.uid,
                allowed,
                status: Status {
                    api_version: None,
                    kind: None,
                    status,
                    message: &message,
                    reason,
                    code,
                },
                warnings: &warnings,
                audit_annotations: &audit_annotations,
            },
        }
        .encode();
        for w in &warnings {
            message.push_str("; ");
            message.push_str(w);
        }
        self.summary.message = message;
        Reply {
            status: 200,
            body,
            summary: self.summary,
        }
    }

    /// Allowed without judging any image.
    fn allow(mut self, message: String) -> Reply {
        self.summary.outcome = Outcome::Allowed;
        self.reply(true, SUCCESS, message, Vec::new(), BTreeMap::new())
    }

    /// Denied because the request or object cannot be judged (code 400).
    fn reject(mut self, code: u16, message: String) -> Reply {
        self.summary.outcome = Outcome::Denied;
        self.reply(
            false,
            ("Failure", "BadRequest", code),
            message,
            Vec::new(),
            BTreeMap::new(),
        )
    }

    fn verdict<L: fmt::Display>(mut self, label: &str, verdict: &Verdict<'_, L>) -> Reply {
        let images = verdict.judged.len();
        let denied = verdict.denied();
        self.summary.outcome = verdict.outcome();
        self.summary.images = images;
        self.summary.denied = denied;
        self.summary.break_glass = verdict.break_glass();
        if denied > 0 {
            let mut message = String::with_capacity(256);
            message.push_str(label);
            message.push_str(": ");
            push_count(&mut message, denied);
            message.push_str(" of ");
            push_count(&mut message, images);
            message.push(' ');
            message.push_str(images_noun(images));
            message.push_str(" denied by image policy: ");
            verdict.write_denial_reasons(&mut message);
            let status = ("Failure", "Forbidden", 403);
            self.reply(
                false,
                status,
                message,
                verdict.warnings(),
                verdict.audit_annotations(),
            )
        } else {
            let mut message = String::with_capacity(label.len() + 40);
            message.push_str(label);
            message.push_str(": ");
            push_count(&mut message, images);
            message.push(' ');
            message.push_str(images_noun(images));
            message.push_str(" allowed");
            self.reply(
                true,
                SUCCESS,
                message,
                verdict.warnings(),
                verdict.audit_annotations(),
            )
        }
    }
}

/// The `status` of an allowed response: status, reason, code.
const SUCCESS: (&str, &str, u16) = ("Success", "", 200);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_labelled_by_kind_namespace_and_name() {
        let cases = [
            (
                Some("Deployment"),
                Some("shop"),
                Some("web"),
                "Deployment shop/web",
            ),
            (Some("Namespace"), None, Some("shop"), "Namespace shop"),
            (Some("Pod"), Some("shop"), None, "Pod in namespace shop"),
            (None, None, None, "object"),
            (None, Some("shop"), Some("web"), "object shop/web"),
        ];
        for (kind, namespace, name, want) in cases {
            assert_eq!(object_label(kind, namespace, name), want);
        }
    }

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
                    status: Status {
                        api_version: None,
                        kind: None,
                        status: "Success",
                        message,
                        reason,
                        code,
                    },
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
}
