//! The admission decision as a pure function: request bytes in, response
//! bytes out, given a compiled [`Policy`].
//!
//! # Overview
//!
//! [`handle`] answers the three ways the API server asks about images:
//!
//! | endpoint | request | answer |
//! |---|---|---|
//! | [`Endpoint::ImageReview`] (`POST /imagereview`) | [`ImageReview`] `imagepolicy.k8s.io/v1alpha1` from the `ImagePolicyWebhook` admission plugin | `status.allowed`, `status.reason`, `status.auditAnnotations` |
//! | [`Endpoint::AdmissionReview`] (`POST /validate`) | [`AdmissionReview`] `admission.k8s.io/v1` or `v1beta1` from a `ValidatingWebhookConfiguration` | `response.uid`, `allowed`, `status` (403 and a message naming every denied container), `warnings`, `auditAnnotations`, in the request's version |
//! | [`Endpoint::Mutate`] (`POST /mutate`) | [`AdmissionReview`] `admission.k8s.io/v1` or `v1beta1` from a `MutatingWebhookConfiguration` | `response.uid`, `allowed`, `status`, and `patchType: JSONPatch` with `patch` (base64 of RFC 6902 `replace` operations) when a rewrite rule changes an image or a pin rule pins one, `warnings`, in the request's version |
//!
//! [`ImageReview`]: https://kubernetes.io/docs/reference/config-api/imagepolicy.v1alpha1/
//! [`AdmissionReview`]: https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/#request
//!
//! It does no I/O and keeps no state: the server calls it, and so do the
//! benchmarks and the fuzzers. Each review is decode, decide, encode: the
//! fields it needs are decoded into borrowed structs (`request`, around the
//! core's [`k8s::Object`](image_policy_core::k8s::Object)), the verdict is
//! [`image_policy_core::admission::decide`]'s (or
//! [`decide_images`](image_policy_core::admission::decide_images) for an
//! ImageReview), and the answer is encoded from it (`admission_review`,
//! `image_review`, `reply`). A kube-rs controller that calls the same
//! function gets the same verdict (see `examples/kube-admission`).
//!
//! The modules depend on each other in one direction: `json` (JSON strings)
//! and `request` (the decoded shape) at the bottom, `scan` (the fast decoder)
//! on them, `reply` (the answer and the 400) on `json`, and the two reviews
//! on top.
//!
//! # Decisions
//!
//! As [`image_policy_core::admission`] documents them: every image of every
//! container list and image volume is judged with the namespace and the
//! object's annotations; on UPDATE the images already in `oldObject` do not
//! block when [`Policy::exempt_existing_images_on_update`] says so (how
//! `kubectl debug` arrives: only the new ephemeral container's image is
//! judged); DELETE and CONNECT are allowed with a reason; an object whose
//! images cannot be found is denied with code 400, never allowed. An
//! ImageReview holds only what the API server's plugin sends, which never
//! includes image volumes (see `image_review`). An image is judged by its
//! name and the host the runtime will pull it from, whatever mirror serves
//! it: see [the pull host](image_policy_core::reference#the-pull-host).
//!
//! `/mutate` applies the policy's [rewrite rules](image_policy_core::policy::rewrite)
//! as [`image_policy_core::admission::mutate`](fn@image_policy_core::admission::mutate) documents: it answers allowed
//! with a patch of `replace` operations at the exact JSON pointer of each
//! rewritten image (`/spec/template/spec/containers/0/image`,
//! `/spec/volumes/1/image/reference`), in every container list and image
//! volume of every pod-bearing kind and of `pods/ephemeralcontainers`. It
//! does not judge the allow and deny rules (a later mutating webhook may
//! still change the object; `/validate` judges the final object). It sends
//! no `patch` when nothing changes, so the API server's reinvocation of it
//! on its own output is harmless; it rewrites an UPDATE as a CREATE, images
//! already in `oldObject` included (a workload's template and the objects its
//! controller makes from it must agree; only `/validate` exempts existing
//! images), except that an UPDATE of `pods/ephemeralcontainers` has only its
//! ephemeral containers rewritten; it rewrites nothing in an exempt namespace
//! (exemption is about judging, and rewriting `kube-system` could break the
//! control plane); DELETE and CONNECT pass with no patch. It **denies**
//! (403, never a patch) when a rewrite would produce an invalid reference
//! (a path over 255 bytes): the webhook never answers a patch that writes an
//! invalid reference. An image that does not parse is not rewritten: it is
//! left for `/validate` to deny, as is an object whose images cannot be
//! found.
//!
//! With `pin:` rules, `/mutate` also pins: it needs the registry, so it is
//! answered in two pure calls around the caller's resolution, [`mutate`]
//! then [`PendingMutation::complete`] (see the [`pin`] module: what is
//! pinned, the patch `name:tag@sha256:…`, what a failure does). [`handle`]
//! on `/mutate` with such a policy has no registry: every pin fails, and in
//! enforce mode the review is denied, naming each image (never silently
//! unpinned). A policy without pin rules takes the rewrite-only path above,
//! with no second pass.
//!
//! With `verify:` rules, `/mutate` sends the images in verify scope without
//! a digest through the same phase (resolved, the digest verified by the
//! caller, [`Resolution::Unverified`] when it does not verify), and
//! `/validate` is answered in two calls too, [`validate`] then
//! [`PendingValidation::complete`] (see the [`verify`] module): a pinned
//! image in verify scope must verify. [`handle`] on `/validate` with such a
//! policy has no registry: every image to verify fails, and in enforce mode
//! the review is denied. `/imagereview` goes through the same two phases
//! ([`verify::judge`], then [`PendingValidation::complete`]; [`handle`]
//! without a registry denies in enforce mode): a pinned image in verify
//! scope must verify there too, and in warn mode the reasons go into the
//! `unverified-images` audit annotation. A policy without verify rules takes
//! the one pure call of [`handle`].
//!
//! `/imagereview` cannot change a pod (the `ImagePolicyWebhook` plugin has
//! no way to patch): it judges each image as written, without rewriting.
//!
//! # Errors
//!
//! A request the handler cannot read is answered with HTTP 400 and a
//! Kubernetes `Status` body whose message says what is wrong and where: a body
//! that is not JSON (with line and column), a review of the wrong shape, an
//! `apiVersion` or `kind` other than the endpoint's, a missing `request` or
//! `request.uid`. A message names at most
//! [`NAMED_IMAGES`](image_policy_core::admission::NAMED_IMAGES) denied images (and
//! a few KiB of them) and counts the rest; so do the warnings and the audit
//! annotations. The server answers 413 itself for a body over
//! [`DEFAULT_BODY_LIMIT`] (or its configured limit) before calling the handler.
//!
//! # Performance
//!
//! One pass over the body, borrowing every string that has no escape. An
//! AdmissionReview is read by a scanner that knows the few fields the handler
//! needs (`scan`): it validates and skips everything else without building it,
//! and gives up on anything unusual (a syntax error, an escape in a field it
//! reads, a duplicate field, a wrong type), which `serde_json` and the derived
//! structs then decode as before, with their precise error messages. The
//! response is written directly into one sized buffer. The cost is linear in
//! the body size, plus one policy evaluation per image. See
//! `benches/results/handler.md` for figures next to Rego (regorus) and CEL
//! (cel-interpreter) on the same review, in instructions
//! (`benches/callgrind-handler.sh`) and in time.
//!
//! # Untrusted input
//!
//! The body comes from the network (through the server's TLS and, with
//! `--client-ca`, client authentication, but still treated as hostile).
//! [`handle`] never panics; serde_json limits nesting to 128 levels (the
//! scanner hands anything deeper than 100 to it); a field
//! written twice is rejected, so an object cannot show one image to the policy
//! and another to the API server; an image that does not parse is denied.
//!
//! What one review may cost is bounded by the work, whatever the body's
//! shape (`benches/hostile.sh` measures the shapes: many tiny containers,
//! many annotations, long strings, deep nesting, many rewritten images):
//!
//! - an object is read keeping at most
//!   [`MAX_ENTRIES`](image_policy_core::k8s::MAX_ENTRIES)` + 1` entries of
//!   each container list, `volumes` and annotations map; past
//!   [`MAX_ENTRIES`](image_policy_core::k8s::MAX_ENTRIES), or past
//!   [`MAX_IMAGES`](image_policy_core::k8s::MAX_IMAGES) images, it is denied
//!   (`allowed: false`, code 400, the reason in the message), never judged
//!   on part of its images; an ImageReview likewise (`allowed: false`);
//! - strings are borrowed from the body unless escaped (then copied once);
//!   the answer names at most a few KiB of them, each cut at
//!   [`NAMED_STRING`](image_policy_core::admission::NAMED_STRING) bytes; a
//!   `request.uid` over 128 bytes and a decoding error over 1 KiB are not
//!   repeated whole;
//! - so an answer is at most [`MAX_REPLY_BYTES`]: a few KiB on `/validate`
//!   and `/imagereview`, and on `/mutate` a patch of at most
//!   [`MAX_IMAGES`](image_policy_core::k8s::MAX_IMAGES) valid references.

mod admission_review;
mod image_review;
mod json;
pub mod pin;
mod reply;
mod request;
pub(crate) mod scan;
pub mod verify;

use image_policy_core::policy::Policy;

pub use pin::{MutateStep, PendingMutation, Resolution, mutate};
pub use reply::{Outcome, Reply, ReplySummary};
pub use verify::{PendingValidation, ValidateStep, validate};

/// The largest request body the server should pass to [`handle`]; larger ones
/// are answered 413 by the server. 7 MiB, controller-runtime's limit for the
/// same reason: the API server's limit for an object is 3 MiB, and an UPDATE's
/// AdmissionReview carries two of them (`object` and `oldObject`).
pub const DEFAULT_BODY_LIMIT: usize = 7 * 1024 * 1024;

/// The largest answer [`handle`] gives, for any body: `/mutate`'s patch of
/// [`MAX_IMAGES`](image_policy_core::k8s::MAX_IMAGES) rewritten references
/// (each a valid reference: at most 255 bytes of name, a tag and a digest)
/// in base64, and a few KiB of message and annotations. The handler's fuzz
/// invariants check it.
pub const MAX_REPLY_BYTES: usize = 1024 * 1024;

/// Which review a request body holds: the server maps a path to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Endpoint {
    /// `POST /imagereview`: an `ImageReview` from the `ImagePolicyWebhook`
    /// admission plugin.
    ImageReview,
    /// `POST /validate`: an `AdmissionReview` from a validating admission
    /// webhook configuration.
    AdmissionReview,
    /// `POST /mutate`: an `AdmissionReview` from a mutating admission webhook
    /// configuration, answered with the rewrites as a JSON Patch.
    Mutate,
}

impl Endpoint {
    /// Every endpoint.
    pub const ALL: [Endpoint; 3] = [Self::ImageReview, Self::AdmissionReview, Self::Mutate];

    /// The endpoint's name, as used in logs and metrics: `imagereview`,
    /// `validate` or `mutate`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ImageReview => "imagereview",
            Self::AdmissionReview => "validate",
            Self::Mutate => "mutate",
        }
    }
}

/// Answers one review. Never panics, for any `body`.
pub fn handle(policy: &Policy, endpoint: Endpoint, body: &[u8]) -> Reply {
    match endpoint {
        Endpoint::ImageReview => image_review::handle(policy, body),
        Endpoint::AdmissionReview => {
            admission_review::handle(policy, body, admission_review::Answer::Validate)
        }
        Endpoint::Mutate => {
            admission_review::handle(policy, body, admission_review::Answer::Mutate)
        }
    }
}
