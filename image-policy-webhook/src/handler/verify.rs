//! `/validate` and `/imagereview` with `verify:` rules: the signature check
//! of pinned images, in two pure phases around the registry (as
//! [`pin`](super::pin) does for `/mutate`).
//!
//! 1. [`validate`] (or [`judge`], for either endpoint) decodes the review
//!    and judges it as the endpoint always does. When the verdict denies, or no image is in verify scope with a
//!    digest, that is the answer ([`ValidateStep::Done`]). Otherwise it
//!    returns a [`PendingValidation`] ([`ValidateStep::Verify`]) listing the
//!    pinned images to verify ([`PendingValidation::images`]).
//! 2. The caller verifies each against `Policy::verify_requirements` (the
//!    server through one shared `image_policy_registry::Verifier`, whose
//!    cache of successes makes a repeat a look-up) and calls
//!    [`PendingValidation::complete`] with one result per image, in order.
//!
//! A policy without verify rules never reaches this module: `/validate` and
//! `/imagereview` are then exactly the pure path of [`handle`](super::handle).
//!
//! `/imagereview` (the `ImagePolicyWebhook` plugin) goes through the same
//! two phases and the same checks: a pinned image is never admitted there on
//! its digest alone. Its answer has no warnings field, so in warn mode the
//! reasons go into the `unverified-images` audit annotation (which
//! `/validate` writes too, beside its warnings); a denial is
//! `status.allowed: false` with the same message as `status.reason`.
//!
//! # Decisions
//!
//! - Checked: every image the verdict judged, with a digest, in verify scope
//!   in the object's namespace, in `enforce` or `warn` mode; not one admitted
//!   by break-glass (the emergency path must not depend on a registry), not
//!   under `audit` mode.
//! - An image that does not verify (no signature, another key, another
//!   digest, a registry error or the deadline: fail closed) **denies** the
//!   review in enforce mode, naming each image and why (at most
//!   [`NAMED_IMAGES`], then a count), unless it is an image of `oldObject`
//!   the policy exempts on UPDATE; in warn mode (or for such an existing
//!   image) the review is admitted with a warning per image.
//! - A result missing for an image (a shorter slice: no registry) is a
//!   failure: without a registry, `/validate` denies images it must verify.

use std::collections::BTreeMap;

use image_policy_core::admission::{AdmissionVerdict as Verdict, NAMED_IMAGES, NAMED_TEXT};
use image_policy_core::policy::{DecisionCode, Mode, Policy};
use image_policy_core::reference::Reference;

use super::Endpoint;
use super::admission_review::{self, AdmissionReviewOut, ResponseOut};
use super::image_review;
use super::reply::{Outcome, Reply, ReplySummary, Status as StatusOut, failures_message};

/// The first phase of `/validate` (or `/imagereview`) under a policy with
/// verify rules.
#[derive(Debug)]
pub enum ValidateStep {
    /// The answer: nothing to verify.
    Done(Reply),
    /// Pinned images in verify scope: verify
    /// [`PendingValidation::images`], then [`PendingValidation::complete`].
    Verify(Box<PendingValidation>),
}

/// A `/validate` or `/imagereview` review the verdict admits, waiting for
/// its images' signatures. Owned: it can wait across an `await`.
#[derive(Clone, Debug)]
pub struct PendingValidation {
    form: Form,
    label: String,
    message: String,
    warnings: Vec<String>,
    audit_annotations: BTreeMap<&'static str, String>,
    summary: ReplySummary,
    checks: Vec<Check>,
    images: Vec<Reference>,
    namespace: Option<String>,
}

/// Which review the answer is written as.
#[derive(Clone, Debug)]
pub(super) enum Form {
    /// `/validate`: an AdmissionReview's response, in the request's version,
    /// with the verdict's status when it admits.
    AdmissionReview {
        api_version: String,
        uid: String,
        status: &'static str,
        reason: &'static str,
        code: u16,
    },
    /// `/imagereview`: an ImageReview's status.
    ImageReview,
}

impl Form {
    /// The form of a `/validate` answer to the review `uid` admitted by
    /// `verdict`.
    pub(super) fn admission_review(api_version: &str, uid: &str, verdict: &Verdict<'_>) -> Self {
        Form::AdmissionReview {
            api_version: api_version.to_owned(),
            uid: uid.to_owned(),
            status: verdict.status.as_str(),
            reason: verdict.status.reason(),
            code: verdict.status.code(),
        }
    }
}

/// One image to verify.
#[derive(Clone, Debug)]
struct Check {
    /// `container "web" (spec.containers[0].image)`.
    place: String,
    /// The image as written.
    written: String,
    /// Its index in `images`.
    image: usize,
    /// Whether a failure denies (enforce mode, not an existing image).
    blocks: bool,
}

/// The first phase of `/validate` (see the [module](self)). Never panics.
pub fn validate(policy: &Policy, body: &[u8]) -> ValidateStep {
    match admission_review::handle_step(policy, body, admission_review::Answer::Validate) {
        admission_review::Step::Verify(pending) => ValidateStep::Verify(pending),
        admission_review::Step::Done(reply) => ValidateStep::Done(reply),
        // `/validate` never pins.
        admission_review::Step::Pin(pending) => ValidateStep::Done(pending.complete(&[])),
    }
}

/// The first phase of a judging endpoint (see the [module](self)):
/// [`validate`] for [`Endpoint::AdmissionReview`], the same for
/// [`Endpoint::ImageReview`]; [`Endpoint::Mutate`], which verifies in its
/// own phase ([`mutate`](super::mutate)), is answered as
/// [`handle`](super::handle) answers it. Never panics.
pub fn judge(policy: &Policy, endpoint: Endpoint, body: &[u8]) -> ValidateStep {
    match endpoint {
        Endpoint::AdmissionReview => validate(policy, body),
        Endpoint::ImageReview => image_review::handle_step(policy, body),
        Endpoint::Mutate => ValidateStep::Done(super::handle(policy, endpoint, body)),
    }
}

/// Phase one from the verdict: `None` when nothing is to be verified.
pub(super) fn plan(
    policy: &Policy,
    form: Form,
    label: String,
    namespace: Option<&str>,
    verdict: &Verdict<'_>,
    summary: &ReplySummary,
) -> Option<Box<PendingValidation>> {
    if !verdict.allowed() {
        return None;
    }
    let mut checks = Vec::new();
    let mut images: Vec<Reference> = Vec::new();
    for judged in &verdict.images {
        if judged.mode == Mode::Audit || judged.code == DecisionCode::BreakGlass {
            continue;
        }
        let Ok(reference) = Reference::parse(judged.image) else {
            continue;
        };
        if reference.digest().is_none() {
            // Without a digest the verdict already said
            // verify-requires-digest (or the image is in no verify scope).
            continue;
        }
        if policy
            .verify_requirements(judged.image, namespace)
            .is_empty()
        {
            continue;
        }
        let image = match images.iter().position(|r| *r == reference) {
            Some(i) => i,
            None => {
                images.push(reference);
                images.len() - 1
            }
        };
        checks.push(Check {
            place: judged.place.to_string(),
            written: judged.image.to_owned(),
            image,
            blocks: judged.mode == Mode::Enforce && !judged.existing,
        });
    }
    if checks.is_empty() {
        return None;
    }
    Some(Box::new(PendingValidation {
        form,
        label,
        message: verdict.message.clone(),
        warnings: verdict.warnings.clone(),
        audit_annotations: verdict.audit_annotations.clone(),
        summary: summary.clone(),
        checks,
        images,
        namespace: namespace.map(str::to_owned),
    }))
}

impl PendingValidation {
    /// The distinct pinned images to verify, as written (parsed).
    pub fn images(&self) -> &[Reference] {
        &self.images
    }

    /// The object's namespace: pass it to `Policy::verify_requirements`.
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// The review's `request.uid` (empty for an ImageReview, which has
    /// none).
    pub fn uid(&self) -> &str {
        match &self.form {
            Form::AdmissionReview { uid, .. } => uid,
            Form::ImageReview => "",
        }
    }

    /// The second phase: the answer, given one result per image of
    /// [`PendingValidation::images`], in order: `Ok(())` verified, `Err`
    /// why not (one line). A missing result is a failure. Never panics.
    pub fn complete(self, results: &[Result<(), String>]) -> Reply {
        let missing = Err("not verified (no registry client answered)".to_owned());
        let result = |i: usize| results.get(i).unwrap_or(&missing);
        let blocking = self
            .checks
            .iter()
            .filter(|c| c.blocks && result(c.image).is_err())
            .count();
        let mut summary = self.summary.clone();
        if blocking > 0 {
            let failed = self.checks.iter().filter_map(|c| match result(c.image) {
                Err(error) if c.blocks => {
                    Some((c.place.as_str(), c.written.as_str(), error.as_str()))
                }
                _ => None,
            });
            let message = failures_message(
                &self.label,
                summary.images,
                ("is not verified", "are not verified"),
                blocking,
                failed,
            );
            let body = match &self.form {
                Form::AdmissionReview {
                    api_version, uid, ..
                } => admission_review::denied(api_version, uid, &message),
                Form::ImageReview => image_review::answer(false, &message, &BTreeMap::new()),
            };
            summary.outcome = Outcome::Denied;
            summary.denied = blocking;
            summary.message = message;
            return Reply {
                status: 200,
                body,
                summary,
            };
        }
        let mut warnings = self.warnings;
        let mut unverified = Vec::new();
        for check in &self.checks {
            if let Err(error) = result(check.image) {
                if unverified.len() < NAMED_IMAGES {
                    warnings.push(format!(
                        "{} image {} is not verified: {error}",
                        check.place, check.written
                    ));
                } else if unverified.len() == NAMED_IMAGES {
                    warnings.push("and more images are not verified".to_owned());
                }
                unverified.push((check.written.as_str(), error.as_str()));
            }
        }
        let mut audit_annotations = self.audit_annotations;
        if !unverified.is_empty() {
            audit_annotations.insert("unverified-images", unverified_list(&unverified));
        }
        let body = match &self.form {
            Form::AdmissionReview {
                api_version,
                uid,
                status,
                reason,
                code,
            } => AdmissionReviewOut {
                api_version,
                kind: admission_review::KIND,
                response: ResponseOut {
                    uid,
                    allowed: true,
                    status: StatusOut {
                        api_version: None,
                        kind: None,
                        status,
                        message: &self.message,
                        reason,
                        code: *code,
                    },
                    patch_type: None,
                    patch: None,
                    warnings: &warnings,
                    audit_annotations: &audit_annotations,
                },
            }
            .encode(),
            Form::ImageReview => image_review::answer(true, &self.message, &audit_annotations),
        };
        if !warnings.is_empty() {
            summary.outcome = Outcome::Warned;
        }
        let mut message = self.message;
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
}

/// `image (why), image (why), and 3 more`: the `unverified-images` audit
/// annotation, at most [`NAMED_IMAGES`] images (fewer past [`NAMED_TEXT`]
/// bytes), each reason cut to one short line.
fn unverified_list(unverified: &[(&str, &str)]) -> String {
    const REASON: usize = 200;
    let mut value = String::with_capacity(128);
    for (named, (image, error)) in unverified.iter().enumerate() {
        if named == NAMED_IMAGES || value.len() >= NAMED_TEXT {
            value.push_str(&format!(", and {} more", unverified.len() - named));
            break;
        }
        if named > 0 {
            value.push_str(", ");
        }
        let mut end = error.len().min(REASON);
        while !error.is_char_boundary(end) {
            end -= 1;
        }
        value.push_str(&format!("{image} ({})", &error[..end]));
    }
    value
}
