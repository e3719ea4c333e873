//! Deciding: each image of the request judged by the policy, and the
//! verdict's status. What the verdict says is written by the `wording`
//! module.

use std::collections::{BTreeMap, HashSet};

use super::request::{Operation, Request};
use super::verdict::{AdmissionVerdict, JudgedImage, Place, Status};
use super::wording::{
    audit_annotations, images_message, object_label, object_message, warnings, write_denial_reasons,
};
use crate::k8s::{FoundImage, Object, Text, find_images};
use crate::policy::{Context, Decision, Policy};

/// The object of a CREATE or UPDATE, which `decide` judges and `mutate`
/// rewrites; for any other request, the answer both give: DELETE and CONNECT
/// pass (`passes` says why, after "OP of LABEL: "), an unknown operation or a
/// missing object is invalid.
pub(super) fn object_of_write<'r, S>(
    operation: Operation<'_>,
    object: Option<&'r Object<S>>,
    label: &str,
    passes: &str,
) -> Result<&'r Object<S>, (Status, String)> {
    let op = operation.as_str();
    match operation {
        Operation::Create | Operation::Update => {}
        Operation::Delete | Operation::Connect => {
            return Err((Status::Allowed, format!("{op} of {label}: {passes}")));
        }
        Operation::Unknown(other) => {
            return Err((
                Status::Invalid,
                format!("{label}: unknown operation {other:?}"),
            ));
        }
    }
    object.ok_or_else(|| {
        (
            Status::Invalid,
            format!("{op} of {label}: the request has no object"),
        )
    })
}

/// The verdict on an admission request (see the [module docs](super)).
pub fn decide<'o, S: Text>(policy: &Policy, request: &Request<'o, S>) -> AdmissionVerdict<'o> {
    let label = object_label(
        request.object_kind(),
        request.object_namespace(),
        request.object_name(),
    );
    judge_with(policy, request, &label, true, |judged| {
        verdict(judged, |denied, images, reasons| {
            object_message(&label, denied, images, reasons)
        })
    })
    .unwrap_or_else(|verdict| verdict)
}

/// Every image of an admission request judged as [`decide`] judges it (the
/// same images, decisions and UPDATE rule), without the words of a verdict:
/// no message, warnings or audit annotations. For a caller that acts on the
/// judgements themselves (the webhook's `/mutate` picks the images in pin
/// scope from them). Empty when `decide` judges no image: DELETE or CONNECT,
/// no object, an object whose images cannot be found (its verdict says why),
/// or no images.
pub fn judge<'o, S: Text>(policy: &Policy, request: &Request<'o, S>) -> Vec<JudgedImage<'o>> {
    judge_with(policy, request, "", false, |judged| judged.images).unwrap_or_default()
}

/// The judging of [`decide`] and [`judge`]: each image judged, then
/// `finish` given the judgement (with the decisions the words need when
/// `keep_decisions`); `Err` with the verdict when no image is judged
/// (`label` names the object in it).
fn judge_with<'o, S: Text, R>(
    policy: &Policy,
    request: &Request<'o, S>,
    label: &str,
    keep_decisions: bool,
    finish: impl FnOnce(Judgement<'_, 'o>) -> R,
) -> Result<R, AdmissionVerdict<'o>> {
    let namespace = request.object_namespace();
    let object = object_of_write(
        request.operation,
        request.object,
        label,
        "no image is admitted",
    )
    .map_err(|(status, message)| AdmissionVerdict::without_images(status, message))?;
    let found = match find_images(object).and_then(|found| {
        object.check_annotations()?;
        Ok(found)
    }) {
        Ok(found) => found,
        Err(e) => {
            let resource = request.resource.unwrap_or("");
            let resource = match request.sub_resource {
                Some(sub) if !sub.is_empty() => format!(" ({resource}/{sub})"),
                _ if !resource.is_empty() => format!(" ({resource})"),
                _ => String::new(),
            };
            return Err(AdmissionVerdict::without_images(
                Status::Invalid,
                format!("{label}{resource}: cannot find its images: {e}"),
            ));
        }
    };
    if found.is_empty() {
        return Err(AdmissionVerdict::without_images(
            Status::Allowed,
            format!("{label} has no images"),
        ));
    }

    // On UPDATE, the images the old object already runs (any container or
    // image volume).
    let existing = match (request.old_object, request.operation) {
        (Some(old), Operation::Update) if policy.exempt_existing_images_on_update() => {
            find_images(old)
                .map(|images| ExistingImages::new(&images, found.len()))
                .unwrap_or_default()
        }
        _ => ExistingImages::default(),
    };
    let annotations: Vec<(&str, &str)> = object.annotations().collect();
    let mut ctx = Context::new().annotations(&annotations);
    if let Some(ns) = namespace {
        ctx = ctx.namespace(ns);
    }
    let mut judged = Judgement::with_capacity(found.len(), keep_decisions);
    for f in found.iter() {
        let image = f.image.as_str();
        judged.push(Judged {
            place: Place::Container {
                name: f.container,
                list: f.list,
                json_path: f.json_path,
            },
            decision: policy.evaluate(image, &ctx),
            image,
            existing: existing.contains(image),
        });
    }
    Ok(finish(judged))
}

/// The verdict on a pod's images given without the pod, as the
/// `ImagePolicyWebhook` admission plugin sends them (an `ImageReview`): each
/// image is placed by its index; the message is empty when every image is
/// allowed. No UPDATE rule applies.
pub fn decide_images<'o>(
    policy: &Policy,
    images: impl IntoIterator<Item = &'o str>,
    namespace: Option<&'o str>,
    annotations: &[(&'o str, &'o str)],
) -> AdmissionVerdict<'o> {
    let mut ctx = Context::new().annotations(annotations);
    if let Some(ns) = namespace {
        ctx = ctx.namespace(ns);
    }
    let images = images.into_iter();
    let mut judged = Judgement::with_capacity(images.size_hint().0, true);
    for (index, image) in images.enumerate() {
        judged.push(Judged {
            place: Place::Index(index),
            decision: policy.evaluate(image, &ctx),
            image,
            existing: false,
        });
    }
    verdict(judged, |denied, images, reasons| {
        images_message(namespace, denied, images, reasons)
    })
}

/// The images of an UPDATE's old object, looked up once per image of the new
/// object. A few of each (the common case) are compared one by one; past
/// [`ExistingImages::SCAN`] comparisons they go into a hash set, so that an
/// UPDATE of many images in both objects costs a lookup per image, not a
/// comparison of every new image with every old one.
#[derive(Default)]
enum ExistingImages<'o> {
    Few(Vec<&'o str>),
    Many(HashSet<&'o str>),
    /// Not an UPDATE, or the policy does not exempt existing images.
    #[default]
    None,
}

impl<'o> ExistingImages<'o> {
    /// Comparisons (new images × old ones) below which a scan beats hashing.
    const SCAN: usize = 256;

    fn new<S: Text>(old: &[FoundImage<'o, S>], new_images: usize) -> Self {
        let images = old.iter().map(|f| f.image.as_str());
        if old.len().saturating_mul(new_images) <= Self::SCAN {
            Self::Few(images.collect())
        } else {
            Self::Many(images.collect())
        }
    }

    fn contains(&self, image: &str) -> bool {
        match self {
            Self::Few(images) => images.contains(&image),
            Self::Many(images) => images.contains(image),
            Self::None => false,
        }
    }
}

/// The decision on one image while the verdict is written: the policy's
/// [`Decision`] borrows the annotations of the request, which do not outlive
/// [`decide`]; the [`JudgedImage`] it becomes does not.
pub(super) struct Judged<'d, 'o> {
    pub(super) place: Place<'o>,
    pub(super) image: &'o str,
    pub(super) decision: Decision<'d>,
    pub(super) existing: bool,
}

impl Judged<'_, '_> {
    pub(super) fn blocks(&self) -> bool {
        !self.decision.allowed() && !self.existing
    }
}

/// The images of a verdict while it is written: every image as a
/// [`JudgedImage`], and the [`Judged`] decision of each one that broke a
/// rule or used an exemption, the only ones the message, the warnings and
/// the audit annotations name. An object whose images all pass keeps no decision: one small
/// vector, however many images.
struct Judgement<'d, 'o> {
    images: Vec<JudgedImage<'o>>,
    violations: Vec<Judged<'d, 'o>>,
    /// Whether `violations` are kept (not by [`judge`]: no words).
    keep_violations: bool,
}

impl<'d, 'o> Judgement<'d, 'o> {
    fn with_capacity(images: usize, keep_violations: bool) -> Self {
        Judgement {
            images: Vec::with_capacity(images),
            violations: Vec::new(),
            keep_violations,
        }
    }

    fn push(&mut self, j: Judged<'d, 'o>) {
        let d = &j.decision;
        self.images.push(JudgedImage {
            image: j.image,
            place: j.place,
            code: d.code(),
            violation: d.violation(),
            mode: d.mode(),
            allowed: d.allowed(),
            existing: j.existing,
        });
        // Blocking, warning, audit annotations, break-glass: all need a
        // violation (an unparseable image is one).
        if self.keep_violations && (d.violates() || d.exemption_count() > 0) {
            // Mostly one: not the four `push` would make room for (a
            // decision is a few hundred bytes).
            if self.violations.capacity() == 0 {
                self.violations.reserve_exact(1);
            }
            self.violations.push(j);
        }
    }
}

/// The verdict on judged images: `message(denied, images, write_reasons)`
/// writes the message.
fn verdict<'o>(
    judged: Judgement<'_, 'o>,
    message: impl FnOnce(usize, usize, &dyn Fn(&mut String)) -> String,
) -> AdmissionVerdict<'o> {
    let Judgement {
        images, violations, ..
    } = judged;
    let denied = violations.iter().filter(|j| j.blocks()).count();
    let message = message(denied, images.len(), &|out: &mut String| {
        write_denial_reasons(&violations, out)
    });
    let (warnings, audit_annotations) = if violations.is_empty() {
        (Vec::new(), BTreeMap::new())
    } else {
        (warnings(&violations), audit_annotations(&violations))
    };
    AdmissionVerdict {
        status: if denied > 0 {
            Status::Forbidden
        } else {
            Status::Allowed
        },
        message,
        images,
        warnings,
        audit_annotations,
    }
}
