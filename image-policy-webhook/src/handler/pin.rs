//! `/mutate` with `pin:` rules, in two pure phases around the registry.
//!
//! The handler does no I/O, yet pinning needs the registry's answer. So a
//! review whose policy has pin rules is answered in two calls:
//!
//! 1. [`mutate`] decodes the review, rewrites it, judges the rewritten
//!    images and returns either the final [`Reply`] ([`MutateStep::Done`]:
//!    nothing in pin scope, a rewrite that fails, a request it cannot read)
//!    or a [`PendingMutation`] ([`MutateStep::Resolve`]) that lists the
//!    distinct references to resolve ([`PendingMutation::references`]: the
//!    rewritten images in pin scope without a digest, normalized as the
//!    runtime pulls them, `docker.io/library/nginx:1.27`).
//! 2. The caller resolves them (the server through one shared
//!    `image_policy_registry::Resolver`, a test or a bench with whatever it
//!    likes) and calls [`PendingMutation::complete`] with one [`Resolution`]
//!    per reference, in the same order: that gives the final [`Reply`].
//!
//! A policy without pin rules never reaches this module: [`mutate`] is then
//! the rewrite-only answer of [`handle`](super::handle), with no second pass.
//!
//! # Decisions
//!
//! - An image is pinned when the policy's decision on it (rewritten, in the
//!   request's namespace, with the object's annotations) is `pin-required`
//!   in `enforce` or `warn` mode: it must already pass the allow and deny
//!   rules, so the webhook only contacts registries the policy allows (an
//!   image the policy denies is left for `/validate` to deny, and a pod
//!   cannot make the webhook fetch from a host it names). Not pinned: an
//!   image in an exempt namespace (not judged), one admitted by break-glass
//!   (the emergency path must not depend on a registry), and images under
//!   `audit` mode (audit observes, it changes nothing).
//! - Every container list and image volume, CREATE and UPDATE alike (as
//!   rewrites: a workload's template and the objects made from it must
//!   agree), except that an UPDATE of `pods/ephemeralcontainers` has only
//!   its ephemeral containers pinned.
//! - The patch writes `name:tag@sha256:…` at the image's JSON pointer: the
//!   normalized name the runtime pulls, the tag kept (`:latest` written when
//!   it was implied) and the digest of the manifest or index the registry
//!   served. The tag is **decorative**: with a digest the runtime pulls the
//!   digest and ignores the tag. An index is pinned at the index's digest.
//!   A rewritten image gets one `replace`, of the rewritten and pinned name.
//! - A failure to resolve (`Resolution::failed`: the registry's error, or
//!   the deadline) **denies** the review (403, no patch at all) when the
//!   unpinned image would block at `/validate`: enforce mode and not an
//!   image of `oldObject` that the policy exempts on UPDATE. The message
//!   names each image and the registry's error, at most
//!   [`NAMED_IMAGES`] of them (then a count). Otherwise (warn mode, or an
//!   existing image) the review is **admitted** with a warning per image and
//!   no pin for it; the images that did resolve are pinned and the rewrites
//!   still go out: a rewrite does not depend on the registry, and leaving it
//!   out would send the pod to the registry the policy rewrote away from.
//! - `verify:` rules (issue 22): a rewritten image in verify scope without a
//!   digest (`verify-requires-digest` in `enforce` or `warn` mode) goes
//!   through the same phase: resolved once, that digest verified against
//!   every verify rule matching it (`Policy::verify_requirements`, in the
//!   object's namespace [`PendingMutation::namespace`]), and that digest
//!   pinned. A digest that does not verify is [`Resolution::Unverified`]
//!   (its reason code and message): treated as a failure to resolve, so it
//!   denies in enforce mode (naming the image and why) and warns, with no
//!   patch for it, in warn mode. A registry error while verifying is a
//!   failure too (fail closed).
//! - The answer's audit annotations: `rewritten-images` as without pins, and
//!   `pinned-images` (`image -> pinned`), bounded as the other annotations.
//!
//! # Performance
//!
//! With a warm cache the server's resolution phase is a look-up per
//! reference (`Resolver::cached_digest`, no task), so a warm `/mutate` is
//! these two calls. [`mutate`] judges the images with
//! [`admission::judge`] (`decide` without the verdict's words: an image in
//! pin scope is a violation to `/validate`, and writing its denial was most
//! of the cost), parses each image in pin scope once more into the owned
//! reference to resolve (twice only when the registry or the tag is
//! implied, `nginx`), and compares a review's few references one by one
//! (hashed past 16). [`PendingMutation::complete`] checks each digest and
//! writes `name:tag@digest` in one allocation. `benches/gate.sh` counts both
//! phases (`handler/mutate-pin-warm`); `BENCHMARKS.md` has the figures
//! beside `/validate`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use base64::Engine as _;
use image_policy_core::admission::{
    self, Mutation, NAMED_IMAGES, NAMED_TEXT, Operation, Place, Request,
};
use image_policy_core::k8s::{ContainerList, JsonPath, Text};
use image_policy_core::policy::{Context, DecisionCode, Mode, Policy};
use image_policy_core::reference::{Digest, ImageRef, Reference};

use super::admission_review::{self, AdmissionReviewOut, Answer, ResponseOut, Step};
use super::json::write_str;
use super::reply::{Outcome, Reply, ReplySummary, Status as StatusOut, failures_message};

/// The first phase of `/mutate`: the final answer, or the references to
/// resolve before it. Exhaustive: a later step (issue 22's verification)
/// belongs inside [`PendingMutation`], beside the resolution.
#[derive(Debug)]
pub enum MutateStep {
    /// The answer: nothing to resolve.
    Done(Reply),
    /// Images in pin scope: resolve [`PendingMutation::references`], then
    /// [`PendingMutation::complete`].
    Resolve(PendingMutation),
}

/// What a registry said of one reference of [`PendingMutation::references`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Resolution {
    /// The digest of the manifest (or index) the tag names now
    /// (`sha256:…`).
    Pinned {
        /// The digest, `algorithm:hex`.
        digest: String,
    },
    /// Not resolved: the registry's error (or the deadline), one line for
    /// people, named in the answer.
    Failed {
        /// Why, naming the registry (`registry.my.com: not found (404): …`).
        error: String,
    },
    /// Resolved to `digest`, which does not verify against the policy's
    /// `verify:` rules: never pinned, and a failure as
    /// [`Resolution::Failed`] is.
    Unverified {
        /// The digest the tag resolved to, `algorithm:hex`.
        digest: String,
        /// The stable reason code (`no_signature`, `registry`, …: the
        /// registry crate's `VerifyErrorKind::name`).
        reason: String,
        /// Why, one line for people (the verifier's error).
        error: String,
    },
}

impl Resolution {
    /// Resolved to `digest`, which did not verify: `reason` (a stable code)
    /// and `error` (for people).
    pub fn unverified(
        digest: impl Into<String>,
        reason: impl Into<String>,
        error: impl Into<String>,
    ) -> Self {
        Resolution::Unverified {
            digest: digest.into(),
            reason: reason.into(),
            error: error.into(),
        }
    }

    /// Resolved to `digest` (`sha256:…`).
    pub fn pinned(digest: impl Into<String>) -> Self {
        Resolution::Pinned {
            digest: digest.into(),
        }
    }

    /// Not resolved, because of `error`.
    pub fn failed(error: impl Into<String>) -> Self {
        Resolution::Failed {
            error: error.into(),
        }
    }
}

/// A `/mutate` review waiting for its images' digests: owned (it holds
/// nothing of the request body), so it can wait across an `await` or be sent
/// to another task.
#[derive(Clone, Debug)]
pub struct PendingMutation {
    api_version: String,
    uid: String,
    label: String,
    summary: ReplySummary,
    /// The rewrites: pointer, image as written, rewritten value.
    rewrites: Vec<(String, String, String)>,
    rewritten_annotation: Option<String>,
    sites: Vec<Site>,
    references: Vec<Reference>,
    images: usize,
    namespace: Option<String>,
}

/// One image to pin.
#[derive(Clone, Debug)]
struct Site {
    pointer: String,
    /// `container "web" (spec.containers[0].image)` when written.
    place: SitePlace,
    /// The image as written in the object.
    written: String,
    /// Its index in `references`.
    reference: usize,
    /// Whether a failure denies the review (enforce mode, not an existing
    /// image exempted on UPDATE).
    blocks: bool,
}

/// Where an image to pin is written: an owned [`Place::Container`], written
/// as it is (`container "web" (spec.containers[0].image)`) only when a
/// message names it.
#[derive(Clone, Debug)]
struct SitePlace {
    name: String,
    list: ContainerList,
    json_path: JsonPath,
}

impl fmt::Display for SitePlace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Place::Container {
            name: &self.name,
            list: self.list,
            json_path: self.json_path,
        }
        .fmt(f)
    }
}

/// The distinct references of a review, in the order first met. A review
/// has a few (compared one by one); past [`Distinct::SCAN`] a hash index
/// keeps a review of [`MAX_IMAGES`](image_policy_core::k8s::MAX_IMAGES)
/// images linear.
#[derive(Default)]
struct Distinct {
    references: Vec<Reference>,
    index: HashMap<Box<str>, usize>,
}

impl Distinct {
    /// References compared one by one before the index is built.
    const SCAN: usize = 16;

    /// The index of `reference` (added if new).
    fn index_of(&mut self, reference: Reference) -> usize {
        let found = if self.references.len() <= Self::SCAN {
            self.references
                .iter()
                .position(|r| r.as_str() == reference.as_str())
        } else {
            if self.index.is_empty() {
                self.index = self
                    .references
                    .iter()
                    .enumerate()
                    .map(|(i, r)| (r.as_str().into(), i))
                    .collect();
            }
            self.index.get(reference.as_str()).copied()
        };
        found.unwrap_or_else(|| {
            if !self.index.is_empty() {
                self.index
                    .insert(reference.as_str().into(), self.references.len());
            }
            self.references.push(reference);
            self.references.len() - 1
        })
    }

    fn into_vec(self) -> Vec<Reference> {
        self.references
    }
}

/// The reference the runtime pulls for `image` (`docker_ref`), as
/// `Reference::parse` reads that text. An image with its registry written
/// and a tag or a digest (not both) is that text already: one parse, no
/// text written. Others (`nginx`: `docker.io/library/nginx:latest`) are
/// written out and read again.
fn pulled(image: &str) -> Option<Reference> {
    let r = ImageRef::parse(image).ok()?;
    if r.is_domain_written() && r.tag().is_some() != r.digest().is_some() {
        return Some(r.into_owned());
    }
    Reference::parse(&r.docker_ref().to_string()).ok()
}

/// The first phase of `/mutate` (see the [module](self)): the answer when
/// nothing needs a registry, else the references to resolve. Never panics.
pub fn mutate(policy: &Policy, body: &[u8]) -> MutateStep {
    match admission_review::handle_step(policy, body, Answer::Mutate) {
        Step::Done(reply) => MutateStep::Done(reply),
        Step::Pin(pending) => MutateStep::Resolve(pending),
        // `/mutate` never verifies in the first phase.
        Step::Verify(pending) => MutateStep::Done(pending.complete(&[])),
    }
}

/// Phase one, from the decoded review and the rewrite-only mutation: `Err`
/// with the mutation when nothing is in pin scope.
pub(super) fn plan<'o, S: Text>(
    policy: &Policy,
    api_version: &str,
    uid: &str,
    request: &Request<'o, S>,
    mutation: Mutation<'o>,
) -> Result<PendingMutation, Mutation<'o>> {
    if !mutation.allowed() {
        return Err(mutation);
    }
    // `/validate` judges the object as written; here what matters is the
    // object after the rewrites, so a rewritten image is judged again, with
    // the namespace and annotations `decide` used. `judge` is `decide`
    // without the verdict's words (an image in pin scope is a violation to
    // `/validate`, and naming each in a message is most of its cost).
    let judged_images = admission::judge(policy, request);
    let ctx_annotations: Vec<(&str, &str)>;
    let mut ctx = Context::new();
    if !mutation.replacements.is_empty() {
        ctx_annotations = request
            .object
            .map(|o| o.annotations().collect())
            .unwrap_or_default();
        ctx = ctx.annotations(&ctx_annotations);
    }
    if let Some(ns) = request.object_namespace() {
        ctx = ctx.namespace(ns);
    }
    let only_ephemeral = request.operation == Operation::Update
        && request.sub_resource == Some("ephemeralcontainers");
    let mut sites = Vec::new();
    let mut references = Distinct::default();
    // The replacements are in the order of the images (both follow
    // `find_images`): one walk finds each image's rewrite, if any.
    let mut replacements = mutation.replacements.iter().peekable();
    for judged in &judged_images {
        let Place::Container {
            name,
            list,
            json_path,
        } = judged.place
        else {
            continue;
        };
        let rewritten = replacements
            .next_if(|r| matches!(r.place, Place::Container { json_path: p, .. } if p == json_path))
            .map(|r| &r.rewritten);
        if only_ephemeral && list != ContainerList::EphemeralContainers {
            continue;
        }
        let (code, mode) = match rewritten {
            None => (judged.code, judged.mode),
            Some(rewritten) => {
                let d = policy.evaluate_rewritten(judged.image, Some(rewritten), &ctx);
                (d.code(), d.mode())
            }
        };
        if !matches!(
            code,
            DecisionCode::PinRequired | DecisionCode::VerifyRequiresDigest
        ) || mode == Mode::Audit
        {
            continue;
        }
        let judged_name = rewritten.map_or(judged.image, |r| r.as_str());
        // The name the runtime pulls, parsed once; an image that does not
        // parse is not pinned (the policy parsed it, so this does not
        // happen).
        let Some(pulled) = pulled(judged_name) else {
            continue;
        };
        let reference = references.index_of(pulled);
        sites.push(Site {
            pointer: json_path.pointer(),
            place: SitePlace {
                name: name.to_owned(),
                list,
                json_path,
            },
            written: judged.image.to_owned(),
            reference,
            blocks: mode == Mode::Enforce && !judged.existing,
        });
    }
    // Every rewrite was met on its image (the same `find_images` order);
    // were one not, its image would have been judged unrewritten: pin
    // nothing rather than that (`/validate` then judges the unpinned images).
    if sites.is_empty() || replacements.next().is_some() {
        return Err(mutation);
    }
    let mut summary = ReplySummary::new(Outcome::Allowed, String::new());
    summary.uid = Some(uid.to_owned());
    summary.kind = request.object_kind().map(str::to_owned);
    summary.namespace = request.object_namespace().map(str::to_owned);
    summary.name = request.object_name().map(str::to_owned);
    Ok(PendingMutation {
        api_version: api_version.to_owned(),
        uid: uid.to_owned(),
        label: admission::object_label(
            request.object_kind(),
            request.object_namespace(),
            request.object_name(),
        ),
        summary,
        rewrites: mutation
            .replacements
            .iter()
            .map(|r| {
                (
                    r.pointer(),
                    r.image.to_owned(),
                    r.rewritten.as_str().to_owned(),
                )
            })
            .collect(),
        rewritten_annotation: mutation.audit_annotations.get("rewritten-images").cloned(),
        sites,
        references: references.into_vec(),
        images: judged_images.len(),
        namespace: request.object_namespace().map(str::to_owned),
    })
}

impl PendingMutation {
    /// The distinct references to resolve, each once: the rewritten images
    /// in pin scope without a digest, normalized as the runtime pulls them
    /// (`docker.io/library/nginx:latest` for `nginx`). At most
    /// [`MAX_IMAGES`](image_policy_core::k8s::MAX_IMAGES).
    pub fn references(&self) -> &[Reference] {
        &self.references
    }

    /// The review's `request.uid`.
    pub fn uid(&self) -> &str {
        &self.uid
    }

    /// The object's namespace: pass it to
    /// [`Policy::verify_requirements`] with each resolved reference.
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// The second phase: the answer, given one resolution per reference of
    /// [`PendingMutation::references`], in its order. A reference without
    /// one (a shorter slice) is a failure ("not resolved"), as is a digest
    /// that is not a valid `algorithm:hex`. Never panics.
    pub fn complete(self, resolutions: &[Resolution]) -> Reply {
        let mut pinned: Vec<Result<String, String>> = Vec::with_capacity(self.references.len());
        for (i, reference) in self.references.iter().enumerate() {
            pinned.push(match resolutions.get(i) {
                Some(Resolution::Pinned { digest }) => match Digest::parse(digest) {
                    Ok(d) => Ok(pinned_name(reference, d)),
                    Err(e) => Err(format!("the registry's digest is not valid: {e}")),
                },
                Some(Resolution::Failed { error }) => Err(error.clone()),
                Some(Resolution::Unverified {
                    digest,
                    reason,
                    error,
                }) => Err(format!("{digest} is not verified ({reason}): {error}")),
                None => Err("not resolved (no registry client answered)".to_owned()),
            });
        }
        let blocking = self
            .sites
            .iter()
            .filter(|s| s.blocks && pinned[s.reference].is_err())
            .count();
        if blocking > 0 {
            let unverified: Vec<bool> = (0..self.references.len())
                .map(|i| matches!(resolutions.get(i), Some(Resolution::Unverified { .. })))
                .collect();
            return self.deny(&pinned, &unverified, blocking);
        }

        // The patch: every rewrite (pinned when its image is), then the pins
        // of images not rewritten, in the order of the object.
        let mut ops: Vec<(&str, &str)> = Vec::with_capacity(self.rewrites.len() + self.sites.len());
        let mut pins = Vec::new();
        let mut warnings = Vec::new();
        for site in &self.sites {
            match &pinned[site.reference] {
                Ok(value) => pins.push((site, value.as_str())),
                Err(error) => {
                    if warnings.len() < NAMED_IMAGES {
                        warnings.push(format!(
                            "{} image {} is not pinned to a digest: {error}",
                            site.place, site.written
                        ));
                    } else if warnings.len() == NAMED_IMAGES {
                        warnings.push("and more images are not pinned to a digest".to_owned());
                    }
                }
            }
        }
        if self.rewrites.is_empty() {
            // Pins alone: in the order of the object, no look-up.
            ops.extend(
                pins.iter()
                    .map(|(site, value)| (site.pointer.as_str(), *value)),
            );
        } else {
            let pinned_at: HashMap<&str, &str> =
                pins.iter().map(|(s, v)| (s.pointer.as_str(), *v)).collect();
            let rewritten_at: HashSet<&str> =
                self.rewrites.iter().map(|(p, _, _)| p.as_str()).collect();
            for (pointer, _, rewritten) in &self.rewrites {
                let value = pinned_at
                    .get(pointer.as_str())
                    .copied()
                    .unwrap_or(rewritten.as_str());
                ops.push((pointer, value));
            }
            for (site, value) in &pins {
                if !rewritten_at.contains(site.pointer.as_str()) {
                    ops.push((&site.pointer, value));
                }
            }
        }

        let mut audit_annotations = BTreeMap::new();
        if let Some(rewritten) = &self.rewritten_annotation {
            audit_annotations.insert("rewritten-images", rewritten.clone());
        }
        if !pins.is_empty() {
            audit_annotations.insert(
                "pinned-images",
                bounded_list(pins.iter().map(|(s, v)| (s.written.as_str(), *v))),
            );
        }
        let mut message = String::with_capacity(self.label.len() + 64);
        message.push_str(&self.label);
        message.push_str(&format!(
            ": {} of {} {} rewritten, {} pinned to a digest",
            self.rewrites.len(),
            self.images,
            if self.images == 1 { "image" } else { "images" },
            pins.len()
        ));
        if !warnings.is_empty() {
            message.push_str(&format!(", {} not pinned", self.sites.len() - pins.len()));
        }
        let patch = (!ops.is_empty())
            .then(|| base64::engine::general_purpose::STANDARD.encode(json_patch(&ops)));
        let body = AdmissionReviewOut {
            api_version: &self.api_version,
            kind: admission_review::KIND,
            response: ResponseOut {
                uid: &self.uid,
                allowed: true,
                status: StatusOut {
                    api_version: None,
                    kind: None,
                    status: "Success",
                    message: &message,
                    reason: "",
                    code: 200,
                },
                patch_type: patch.as_ref().map(|_| "JSONPatch"),
                patch: patch.as_deref(),
                warnings: &warnings,
                audit_annotations: &audit_annotations,
            },
        }
        .encode();
        let mut summary = self.summary;
        summary.outcome = if warnings.is_empty() {
            Outcome::Allowed
        } else {
            Outcome::Warned
        };
        summary.images = self.images;
        summary.denied = 0;
        for w in &warnings {
            message.push_str("; ");
            message.push_str(w);
        }
        summary.message = message;
        Reply {
            status: 200,
            body,
            summary,
        }
    }

    /// Denied: the images that could not be pinned and would block, each with
    /// the registry's error; no patch. The headline says "not verified" when
    /// every one of them resolved to a digest that does not verify
    /// (`unverified`, by reference), "cannot be pinned to a digest" when none
    /// did, "cannot be pinned to a verified digest" for a mix.
    fn deny(
        self,
        pinned: &[Result<String, String>],
        unverified: &[bool],
        blocking: usize,
    ) -> Reply {
        let failed = || {
            self.sites
                .iter()
                .filter_map(|s| match &pinned[s.reference] {
                    Err(error) if s.blocks => Some((s, error)),
                    _ => None,
                })
        };
        let signatures = failed().filter(|(s, _)| unverified[s.reference]).count();
        let headline = if signatures == blocking {
            ("is not verified", "are not verified")
        } else if signatures > 0 {
            (
                "cannot be pinned to a verified digest",
                "cannot be pinned to a verified digest",
            )
        } else {
            (
                "cannot be pinned to a digest",
                "cannot be pinned to a digest",
            )
        };
        let message = failures_message(
            &self.label,
            self.images,
            headline,
            blocking,
            failed().map(|(s, error)| (&s.place, s.written.as_str(), error.as_str())),
        );
        let body = admission_review::denied(&self.api_version, &self.uid, &message);
        let mut summary = self.summary;
        summary.outcome = Outcome::Denied;
        summary.images = self.images;
        summary.denied = blocking;
        summary.message = message;
        Reply {
            status: 200,
            body,
            summary,
        }
    }
}

/// `reference` pinned to `digest`: `name:tag@algorithm:hex`, what
/// `reference.with_digest(digest).to_string()` writes, in one allocation.
/// The references to resolve have a tag and no digest (`plan`).
fn pinned_name(reference: &Reference, digest: Digest<'_>) -> String {
    let name = match reference.digest() {
        None => reference.as_str(),
        // Not made by `plan`; `with_digest` says what replaces a digest.
        Some(_) => return reference.with_digest(digest).to_string(),
    };
    let (algorithm, encoded) = (digest.algorithm().as_str(), digest.encoded());
    let mut out = String::with_capacity(name.len() + algorithm.len() + encoded.len() + 2);
    out.push_str(name);
    out.push('@');
    out.push_str(algorithm);
    out.push(':');
    out.push_str(encoded);
    out
}

/// `a -> b, c -> d, and 3 more`: at most [`NAMED_IMAGES`] pairs (fewer past
/// [`NAMED_TEXT`] bytes).
fn bounded_list<'a>(pairs: impl ExactSizeIterator<Item = (&'a str, &'a str)>) -> String {
    let total = pairs.len();
    let mut value = String::with_capacity(128);
    for (named, (from, to)) in pairs.enumerate() {
        if named == NAMED_IMAGES || value.len() >= NAMED_TEXT {
            value.push_str(&format!(", and {} more", total - named));
            break;
        }
        if named > 0 {
            value.push_str(", ");
        }
        value.push_str(from);
        value.push_str(" -> ");
        value.push_str(to);
    }
    value
}

/// The RFC 6902 JSON Patch of `replace` operations, as JSON text.
fn json_patch(ops: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + ops.len() * 160);
    out.push(b'[');
    for (i, (path, value)) in ops.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"op\":\"replace\",\"path\":");
        write_str(&mut out, path);
        out.extend_from_slice(b",\"value\":");
        write_str(&mut out, value);
        out.push(b'}');
    }
    out.push(b']');
    out
}
