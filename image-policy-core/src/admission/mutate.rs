//! Mutating: the rewrite of an admission request, as a typed value (see
//! [`mutate`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::decide::object_of_write;
use super::request::{Operation, Request};
use super::verdict::{Place, Status};
use super::wording::{NAMED_IMAGES, NAMED_TEXT, images_noun, object_label, push_count};
use crate::k8s::{ContainerList, ObjectError, Text, find_images};
use crate::policy::Policy;
use crate::policy::rewrite::{RewriteError, Rewritten};

/// One image to rewrite.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Replacement<'o> {
    /// The image, as written.
    pub image: &'o str,
    /// Where it is written (always [`Place::Container`]).
    pub place: Place<'o>,
    /// What it becomes.
    pub rewritten: Rewritten,
}

impl Replacement<'_> {
    /// The JSON pointer of the image in its object
    /// (`/spec/template/spec/containers/0/image`).
    pub fn pointer(&self) -> String {
        match self.place {
            Place::Container { json_path, .. } => json_path.pointer(),
            // Not made by `mutate`; an index is its own pointer.
            Place::Index(i) => format!("/{i}"),
        }
    }
}

/// An image whose rewrite is not a valid reference: the mutation is denied.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RewriteFailure<'o> {
    /// Where the image is written.
    pub place: Place<'o>,
    /// What the rule made of it, and why that is not valid.
    pub error: RewriteError,
}

/// One operation of an RFC 6902 JSON Patch. Serializes as
/// `{"op":"replace","path":"/spec/containers/0/image","value":"..."}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PatchOperation<'m> {
    /// Always `replace`: the image field exists, and only its value changes.
    pub op: &'static str,
    /// The JSON pointer of the field.
    pub path: String,
    /// The new value.
    pub value: &'m str,
}

/// The answer of a mutating webhook (see [`mutate`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Mutation<'o> {
    /// Allowed (with or without replacements), forbidden (a rewrite would
    /// not be a valid reference) or invalid (an unknown operation, no object).
    pub status: Status,
    /// The answer for people: the object and what was rewritten, or why not.
    pub message: String,
    /// The images to rewrite, in the order of [`find_images`]; empty unless
    /// allowed.
    pub replacements: Vec<Replacement<'o>>,
    /// The rewrites that failed (then the status is
    /// [`Status::Forbidden`]).
    pub failures: Vec<RewriteFailure<'o>>,
    /// Audit annotations (keys without a prefix: the API server adds the
    /// webhook's): `rewritten-images`, `image -> rewritten` for each
    /// replacement, comma-separated, naming at most
    /// [`NAMED_IMAGES`] and counting the rest. Empty
    /// when nothing is rewritten: the audit log keeps what the user wrote
    /// and what the cluster runs instead.
    pub audit_annotations: BTreeMap<&'static str, String>,
}

impl<'o> Mutation<'o> {
    /// Whether the request is allowed.
    pub fn allowed(&self) -> bool {
        self.status.allowed()
    }

    /// The JSON Patch: one `replace` per replacement (none when the object
    /// is unchanged, or the mutation is not allowed).
    pub fn patch(&self) -> impl Iterator<Item = PatchOperation<'_>> {
        self.replacements.iter().map(|r| PatchOperation {
            op: "replace",
            path: r.pointer(),
            value: r.rewritten.as_str(),
        })
    }

    fn unchanged(status: Status, message: String) -> Self {
        Mutation {
            status,
            message,
            replacements: Vec::new(),
            failures: Vec::new(),
            audit_annotations: BTreeMap::new(),
        }
    }
}

/// The `rewritten-images` audit annotation of the replacements (none when
/// there are none).
fn rewritten_images(replacements: &[Replacement<'_>]) -> BTreeMap<&'static str, String> {
    let mut annotations = BTreeMap::new();
    if replacements.is_empty() {
        return annotations;
    }
    let mut value = String::with_capacity(128);
    for (named, r) in replacements.iter().enumerate() {
        if named == NAMED_IMAGES || value.len() >= NAMED_TEXT {
            value.push_str(", and ");
            push_count(&mut value, replacements.len() - named);
            value.push_str(" more");
            break;
        }
        if named > 0 {
            value.push_str(", ");
        }
        value.push_str(r.image);
        value.push_str(" -> ");
        value.push_str(r.rewritten.as_str());
    }
    annotations.insert("rewritten-images", value);
    annotations
}

/// The rewrite of an admission request, as a typed value: what a mutating
/// admission webhook answers, as a list of replacements at exact JSON
/// pointers.
///
/// # Overview
///
/// `mutate` takes the same [`Request`] as [`decide`](super::decide) and
/// returns a [`Mutation`]: every image that a [rewrite rule](crate::policy::rewrite)
/// changes, with where it is written ([`Replacement::pointer`],
/// `/spec/template/spec/containers/0/image`), what it was and what it
/// becomes. [`Mutation::patch`] gives the RFC 6902 JSON Patch operations
/// (all `replace`); `image-policy-webhook` encodes them on `/mutate`.
///
/// # Decisions
///
/// - A mutation does **not** judge the policy's allow and deny rules: a later
///   mutating webhook may still change the object, and the validating
///   webhook judges the final one. It is allowed with its replacements (none
///   when no rule matches).
/// - It is **denied** (403, no replacement at all) when a rule matches an
///   image but its result is not a valid reference ([`RewriteError`]: a path
///   over 255 bytes, nothing left to name a repository): a patch never writes
///   an invalid reference.
/// - An image that does not parse is not rewritten (the validating webhook
///   denies it); neither is one whose pull host is not its domain (see the
///   rewrite module).
/// - Every container list, `ephemeralContainers` included, and every image
///   volume are rewritten ([`find_images`]).
/// - CREATE and UPDATE are rewritten alike: every image a rule matches,
///   whether or not `oldObject` has it. Rewriting is not a judgement, so the
///   "only new images block" exemption of [`decide`](super::decide) does not
///   apply: a workload's pod template and the ReplicaSets, pods and Jobs its
///   controller makes from it must hold the same images, or the controller
///   does not recognise its own children (a Deployment created before a rule,
///   then `kubectl rollout restart`: its template is rewritten on that
///   UPDATE, as the ReplicaSet made from it is on its CREATE). An UPDATE of a
///   workload made before the rule therefore rolls it out to the rewritten
///   images, once.
/// - On an UPDATE of the `ephemeralcontainers` subresource (`kubectl
///   debug`), only the ephemeral containers are rewritten: the API server
///   keeps nothing else of such a request, so a patch elsewhere would have
///   no effect.
/// - In an exempt namespace nothing is rewritten: exemption takes the
///   namespace out of the policy, and rewriting `kube-system`'s images could
///   break the control plane.
/// - DELETE and CONNECT are allowed with nothing to rewrite; an unknown
///   operation, or CREATE or UPDATE without an object, is invalid (400), as
///   for [`decide`](super::decide). An object whose images cannot be found
///   is allowed unchanged: the validating webhook denies it with the reason;
///   but one past the bounds of [`k8s::MAX_ENTRIES`](crate::k8s::MAX_ENTRIES)
///   and [`k8s::MAX_IMAGES`](crate::k8s::MAX_IMAGES) is denied (400) here
///   too: it was not read whole, so it is not rewritten in part.
///
/// # Idempotence
///
/// A rewritten reference is never matched again (the `rewrite-loop` check of
/// the policy), so a mutation of a mutated object has no replacement: the API
/// server's reinvocation (`reinvocationPolicy: IfNeeded`) is harmless, and so
/// is an UPDATE of an object already rewritten (no patch, no rollout).
///
/// # Example
///
/// ```
/// use image_policy_core::admission::{self, Operation, Request};
/// use image_policy_core::k8s::{CowStr, Object};
/// use image_policy_core::policy::Policy;
///
/// let policy = Policy::builder()
///     .allow_registry("registry.my.com")
///     .rewrite("docker.io/library", "registry.my.com")
///     .build()?
///     .policy;
/// let object: Object<CowStr<'_>> = serde_json::from_str(
///     r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},
///         "spec":{"containers":[{"name":"prom","image":"prometheus:2.6.1"}]}}"#,
/// )?;
/// let mutation = admission::mutate(&policy, &Request::new(Operation::Create, Some(&object)));
/// assert!(mutation.allowed());
/// let patch: Vec<_> = mutation.patch().collect();
/// assert_eq!(patch[0].op, "replace");
/// assert_eq!(patch[0].path, "/spec/containers/0/image");
/// assert_eq!(patch[0].value, "registry.my.com/prometheus:2.6.1");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn mutate<'o, S: Text>(policy: &Policy, request: &Request<'o, S>) -> Mutation<'o> {
    let namespace = request.object_namespace();
    let label = object_label(request.object_kind(), namespace, request.object_name());
    let object = match object_of_write(
        request.operation,
        request.object,
        &label,
        "nothing to rewrite",
    ) {
        Ok(object) => object,
        Err((status, message)) => return Mutation::unchanged(status, message),
    };
    if !policy.has_rewrites() {
        return Mutation::unchanged(
            Status::Allowed,
            format!("{label}: the policy has no rewrite rules"),
        );
    }
    if let Some(ns) = namespace.filter(|ns| policy.is_exempt_namespace(ns)) {
        return Mutation::unchanged(
            Status::Allowed,
            format!("{label}: namespace {ns} is exempt, so its images are not rewritten"),
        );
    }
    let found = match find_images(object) {
        Ok(found) => found,
        // Past the bounds: some images were not even read, so none is
        // rewritten and the object is refused, as `decide` refuses it.
        Err(e @ (ObjectError::TooManyEntries { .. } | ObjectError::TooManyImages { .. })) => {
            return Mutation::unchanged(
                Status::Invalid,
                format!("{label}: not rewritten, cannot find its images: {e}"),
            );
        }
        Err(e) => {
            return Mutation::unchanged(
                Status::Allowed,
                format!("{label}: not rewritten, cannot find its images: {e}"),
            );
        }
    };
    // `kubectl debug`: the API server keeps only the ephemeral containers of
    // an UPDATE of this subresource.
    let only_ephemeral = request.operation == Operation::Update
        && request.sub_resource == Some("ephemeralcontainers");
    let mut replacements = Vec::new();
    let mut failures = Vec::new();
    for f in &found {
        let image = f.image.as_str();
        if only_ephemeral && f.list != ContainerList::EphemeralContainers {
            continue;
        }
        let place = Place::Container {
            name: f.container,
            list: f.list,
            json_path: f.json_path,
        };
        match policy.rewrite_str(image) {
            Ok(Some(rewritten)) if rewritten.as_str() != image => replacements.push(Replacement {
                image,
                place,
                rewritten,
            }),
            Ok(_) => {}
            Err(error) => failures.push(RewriteFailure { place, error }),
        }
    }
    let mut message = String::with_capacity(128);
    message.push_str(&label);
    message.push_str(": ");
    if failures.is_empty() {
        push_count(&mut message, replacements.len());
        message.push_str(" of ");
        push_count(&mut message, found.len());
        message.push(' ');
        message.push_str(images_noun(found.len()));
        message.push_str(" rewritten");
        return Mutation {
            status: Status::Allowed,
            message,
            audit_annotations: rewritten_images(&replacements),
            replacements,
            failures,
        };
    }
    push_count(&mut message, failures.len());
    message.push_str(" of ");
    push_count(&mut message, found.len());
    message.push(' ');
    message.push_str(images_noun(found.len()));
    message.push_str(" cannot be rewritten to a valid reference: ");
    let start = message.len();
    for (named, failure) in failures.iter().enumerate() {
        if named == NAMED_IMAGES || message.len() - start >= NAMED_TEXT {
            let rest = failures.len() - named;
            message.push_str("; and ");
            push_count(&mut message, rest);
            message.push_str(" more");
            break;
        }
        if named > 0 {
            message.push_str("; ");
        }
        let _ = write!(message, "{} image ", failure.place);
        let _ = write!(message, "{}", failure.error);
    }
    Mutation {
        status: Status::Forbidden,
        message,
        replacements: Vec::new(),
        failures,
        audit_annotations: BTreeMap::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::k8s::Object;

    fn pod(images: &[&str]) -> Object<String> {
        let containers: Vec<serde_json::Value> = images
            .iter()
            .enumerate()
            .map(|(i, image)| serde_json::json!({"name": format!("c{i}"), "image": image}))
            .collect();
        serde_json::from_value(serde_json::json!({"apiVersion":"v1","kind":"Pod",
            "metadata":{"name":"p","namespace":"shop"},"spec":{"containers":containers}}))
        .expect("an object")
    }

    #[test]
    fn updates_are_rewritten_as_creates_and_failures_deny() {
        let policy = Policy::builder()
            .rewrite("docker.io/library", "registry.my.com/mirror/docker-hub")
            .exempt_namespace("kube-system")
            .build()
            .expect("a policy")
            .policy;
        let old = pod(&["nginx:1.27"]);
        let new = pod(&["nginx:1.27", "redis:7", "quay.io/a/b", "Not Valid"]);
        let request = Request::new(Operation::Update, Some(&new)).old_object(Some(&old));
        let m = mutate(&policy, &request);
        assert!(m.allowed());
        let patch: Vec<_> = m.patch().collect();
        assert_eq!(patch.len(), 2, "{patch:?}");
        assert_eq!(patch[0].path, "/spec/containers/0/image");
        assert_eq!(
            patch[0].value,
            "registry.my.com/mirror/docker-hub/nginx:1.27"
        );
        assert_eq!(patch[1].path, "/spec/containers/1/image");
        assert_eq!(patch[1].value, "registry.my.com/mirror/docker-hub/redis:7");
        assert_eq!(m.message, "Pod shop/p: 2 of 4 images rewritten");
        assert_eq!(
            m.audit_annotations
                .get("rewritten-images")
                .map(String::as_str),
            Some(
                "nginx:1.27 -> registry.my.com/mirror/docker-hub/nginx:1.27, \
                 redis:7 -> registry.my.com/mirror/docker-hub/redis:7"
            )
        );

        // CREATE: the same two Docker Hub images.
        let m = mutate(&policy, &Request::new(Operation::Create, Some(&new)));
        assert_eq!(m.replacements, mutate(&policy, &request).replacements);

        // An exempt namespace: nothing.
        let request = Request::new(Operation::Create, Some(&new)).namespace(Some("kube-system"));
        let m = mutate(&policy, &request);
        assert!(m.allowed() && m.replacements.is_empty());
        assert!(m.audit_annotations.is_empty());

        // A name that would pass 255 bytes: denied, no patch at all.
        let long = format!("{}:1", "a".repeat(240));
        let new = pod(&["redis:7", &long]);
        let m = mutate(&policy, &Request::new(Operation::Create, Some(&new)));
        assert_eq!(m.status, Status::Forbidden);
        assert_eq!(m.patch().count(), 0);
        assert_eq!(m.failures.len(), 1);
        assert!(m.audit_annotations.is_empty());
        assert!(
            m.message.starts_with(
                "Pod shop/p: 1 of 2 images cannot be rewritten to a valid reference: \
                 container \"c1\" (spec.containers[1].image) image aaaa"
            ),
            "{}",
            m.message
        );
        assert!(m.message.contains("longer than 255 bytes"), "{}", m.message);
    }

    /// The audit annotation names the first [`NAMED_IMAGES`] rewrites and
    /// counts the rest.
    #[test]
    fn rewritten_images_are_named_then_counted() {
        let policy = Policy::builder()
            .rewrite("docker.io", "registry.my.com/hub")
            .build()
            .expect("a policy")
            .policy;
        let images: Vec<String> = (0..13).map(|i| format!("app{i}:1")).collect();
        let images: Vec<&str> = images.iter().map(String::as_str).collect();
        let object = pod(&images);
        let m = mutate(&policy, &Request::new(Operation::Create, Some(&object)));
        assert_eq!(m.replacements.len(), 13);
        let value = &m.audit_annotations["rewritten-images"];
        assert!(
            value.starts_with("app0:1 -> registry.my.com/hub/library/app0:1, app1:1 -> "),
            "{value}"
        );
        assert!(
            value.ends_with("app9:1 -> registry.my.com/hub/library/app9:1, and 3 more"),
            "{value}"
        );
    }

    /// Keys are escaped as RFC 6901 says (`~` first, then `/`), and every
    /// list's pointer reads as its JSON path does.
    #[test]
    fn pointers_are_escaped_json_pointers() {
        use crate::k8s::{ContainerList, JsonPath, PodBearingKind, push_pointer_token};
        for (key, want) in [
            ("image", "/image"),
            ("a/b", "/a~1b"),
            ("~1", "/~01"),
            ("~/", "/~0~1"),
            ("", "/"),
        ] {
            let mut out = String::new();
            push_pointer_token(&mut out, key);
            assert_eq!(out, want, "{key:?}");
        }
        for kind in PodBearingKind::ALL {
            for list in ContainerList::ALL {
                for index in [0, 9, 10, 12, 300] {
                    let path = JsonPath::new(kind.pod_spec_path(), list, index);
                    let want = format!(
                        "/{}",
                        path.to_string().replace(['.', '['], "/").replace(']', "")
                    );
                    assert_eq!(path.pointer(), want);
                    // The pointers written out are the escaped keys.
                    let mut escaped = String::new();
                    for key in kind.pod_spec_path().split('.') {
                        push_pointer_token(&mut escaped, key);
                    }
                    push_pointer_token(&mut escaped, list.as_str());
                    push_pointer_token(&mut escaped, &index.to_string());
                    for key in list.image_field().split('.') {
                        push_pointer_token(&mut escaped, key);
                    }
                    assert_eq!(path.pointer(), escaped);
                }
            }
        }
        // A dotted path's keys are escaped one by one, as single tokens are.
        for (pod_spec, want) in [
            ("a~b.c/d", "/a~0b/c~1d/volumes/3/image/reference"),
            ("~.~1./", "/~0/~01/~1/volumes/3/image/reference"),
            ("é日.x", "/é日/x/volumes/3/image/reference"),
        ] {
            let path = JsonPath::new(pod_spec, ContainerList::Volumes, 3);
            assert_eq!(path.pointer(), want, "{pod_spec:?}");
        }
    }
}
