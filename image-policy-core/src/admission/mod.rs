//! The admission decision on a whole Kubernetes object: the verdict a
//! validating admission webhook gives, as a typed value.
//!
//! # Overview
//!
//! [`decide`] takes a [`Request`] (the operation, the object, the old object
//! on UPDATE, the namespace) and a compiled [`Policy`], and returns a
//! [`Verdict`]: allowed or not, every image with where it is written and why
//! it was judged so ([`JudgedImage`]), the message for the user, the warnings
//! and the audit annotations. It is what `image-policy-webhook` answers on
//! `/validate`, byte for byte: the webhook decodes the AdmissionReview, calls
//! [`decide`] and encodes the verdict. An admission controller built on
//! another stack (kube-rs, a Kubernetes client in another process) calls the
//! same function and gets the same answer.
//!
//! [`mutate`](fn@mutate) is the other half of admission with
//! [rewrite rules](crate::policy::rewrite): what a mutating webhook answers,
//! the images to rewrite at their JSON pointers (a [`Mutation`], see
//! [`mod@mutate`]); it judges nothing, and [`decide`] judges the object it
//! produces.
//!
//! [`decide_images`] is the same judgement for a pod's images given without
//! the pod, as the `ImagePolicyWebhook` admission plugin sends them.
//!
//! The object is the borrowed [`k8s::Object`](crate::k8s::Object) (any string
//! leaf); `object_from_json` reads one from a `serde_json::Value` (feature
//! `json`), and the `k8s-openapi` feature converts the `k8s_openapi` types
//! (`from_k8s_openapi`).
//!
//! # Decisions
//!
//! - CREATE and UPDATE judge every image of every container list, and of
//!   every image volume ([`k8s::find_images`](crate::k8s::find_images)), with
//!   the request's namespace and the object's annotations (and its pod
//!   template's, for break-glass).
//! - An image is denied when its decision is not allowed (enforce mode). In
//!   warn mode a violation is allowed with a warning; in audit mode it is
//!   allowed and recorded in the audit annotations only.
//! - On UPDATE, when [`Policy::exempt_existing_images_on_update`] says so, an
//!   image that is already in the old object (same string, any container or
//!   image volume) is reported as existing, with a warning if it violates,
//!   and does not block: scaling a Deployment still works after the policy
//!   was tightened, and `kubectl debug` (an UPDATE of
//!   `pods/ephemeralcontainers`) is judged on the new container only. The
//!   old object's images are looked up in a hash set when there are many,
//!   so the cost of an UPDATE stays linear in the size of both objects.
//! - DELETE and CONNECT are allowed with a reason; so is an object with no
//!   image at all.
//! - An object whose images cannot be found (a kind that does not run
//!   containers, a missing pod spec, a container without an image), a
//!   CREATE or UPDATE without an object and an unknown operation are denied
//!   with [`Status::Invalid`] (code 400): never an allow.
//!
//! # Limits
//!
//! The message, the warnings and each audit annotation name at most
//! [`NAMED_IMAGES`] images (fewer past [`NAMED_TEXT`] bytes) and count the
//! rest ("and 3 more denied images"), and cut any string they name (an
//! image, a name) at [`NAMED_STRING`] bytes: the answer to an object of any
//! shape stays a few KiB. [`Verdict::images`] has every image.
//!
//! An object is judged whole or not at all: one with more than
//! [`k8s::MAX_ENTRIES`](crate::k8s::MAX_ENTRIES) entries in a container list,
//! in `volumes` or in the annotations it is judged with, or more than
//! [`k8s::MAX_IMAGES`](crate::k8s::MAX_IMAGES) images, is
//! [`Status::Invalid`] with the reason (reading it kept only the first
//! entries, so that its memory is bounded by these numbers, not by the size
//! of its text). The same bounds make a [`Mutation`] at most
//! [`k8s::MAX_IMAGES`](crate::k8s::MAX_IMAGES) replacements.
//!
//! # Example
//!
//! ```
//! use image_policy_core::admission::{self, Operation, Request, Status};
//! use image_policy_core::k8s::{CowStr, Object};
//! use image_policy_core::policy::Policy;
//!
//! let policy = Policy::builder().allow_registry("registry.my.com").build()?.policy;
//! let object: Object<CowStr<'_>> = serde_json::from_str(
//!     r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},
//!         "spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx:1.27"}]}}}}"#,
//! )?;
//! let verdict = admission::decide(
//!     &policy,
//!     &Request::new(Operation::Create, Some(&object)).namespace(Some("shop")),
//! );
//! assert!(!verdict.allowed());
//! assert_eq!(verdict.status, Status::Forbidden);
//! let denied = verdict.denied_images().next().expect("one denied image");
//! assert_eq!(denied.image, "nginx:1.27");
//! assert_eq!(denied.json_path().map(|p| p.to_string()).as_deref(),
//!            Some("spec.template.spec.containers[0].image"));
//! assert!(verdict.message.starts_with(
//!     r#"Deployment shop/web: 1 of 1 image denied by image policy: container "web""#));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{BTreeMap, HashSet};
use std::fmt::{self, Write as _};

use serde::{Serialize, Serializer};

use crate::k8s::{ContainerList, FoundImage, JsonPath, Object, Text, find_images};
use crate::policy::{Context, Decision, DecisionCode, Mode, Policy};

#[cfg(feature = "k8s-openapi")]
#[cfg_attr(docsrs, doc(cfg(feature = "k8s-openapi")))]
pub mod from_k8s_openapi;
pub mod mutate;

pub use mutate::{Mutation, PatchOperation, Replacement, RewriteFailure, mutate};

/// How many images a message, the warnings or an audit annotation name before
/// they only count the rest: the answer to a review of any number of
/// containers stays a few KiB (the API server puts the message in its error,
/// the warnings in kubectl's output, the annotations in the audit log).
pub const NAMED_IMAGES: usize = 10;

/// Past this many bytes of named images (long or unparseable image strings),
/// the rest are counted, not named, even before [`NAMED_IMAGES`].
pub const NAMED_TEXT: usize = 2048;

/// The operation of an admission request (`request.operation`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operation<'a> {
    /// `CREATE`.
    Create,
    /// `UPDATE`.
    Update,
    /// `DELETE`.
    Delete,
    /// `CONNECT`.
    Connect,
    /// Any other string (or none: `""`): denied as a bad request.
    Unknown(&'a str),
}

impl<'a> Operation<'a> {
    /// Reads `request.operation` as the API server writes it (`CREATE`, ...).
    pub fn parse(s: &'a str) -> Self {
        match s {
            "CREATE" => Self::Create,
            "UPDATE" => Self::Update,
            "DELETE" => Self::Delete,
            "CONNECT" => Self::Connect,
            other => Self::Unknown(other),
        }
    }

    /// The operation as the API server writes it.
    pub fn as_str(self) -> &'a str {
        match self {
            Self::Create => "CREATE",
            Self::Update => "UPDATE",
            Self::Delete => "DELETE",
            Self::Connect => "CONNECT",
            Self::Unknown(s) => s,
        }
    }
}

/// What [`decide`] reads of an admission request. Made with [`Request::new`]
/// and completed with the builder methods; everything but the operation and
/// the object is optional.
#[derive(Debug)]
#[non_exhaustive]
pub struct Request<'a, S> {
    /// `request.operation`.
    pub operation: Operation<'a>,
    /// `request.object` (absent on DELETE).
    pub object: Option<&'a Object<S>>,
    /// `request.oldObject` (on UPDATE and DELETE).
    pub old_object: Option<&'a Object<S>>,
    /// `request.namespace`; when absent, the object's `metadata.namespace`.
    pub namespace: Option<&'a str>,
    /// `request.kind.kind`, used when the object has no kind.
    pub kind: Option<&'a str>,
    /// `request.name`, used when the object has no name.
    pub name: Option<&'a str>,
    /// `request.resource.resource`, named when the images cannot be found.
    pub resource: Option<&'a str>,
    /// `request.subResource`, likewise.
    pub sub_resource: Option<&'a str>,
}

// Derived `Clone`/`Copy` would require `S: Copy`; a `Request` is references.
impl<S> Clone for Request<'_, S> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<S> Copy for Request<'_, S> {}

impl<'a, S> Request<'a, S> {
    /// A request for `operation` on `object`.
    pub fn new(operation: Operation<'a>, object: Option<&'a Object<S>>) -> Self {
        Request {
            operation,
            object,
            old_object: None,
            namespace: None,
            kind: None,
            name: None,
            resource: None,
            sub_resource: None,
        }
    }

    /// Sets `oldObject`.
    pub fn old_object(self, old_object: Option<&'a Object<S>>) -> Self {
        Request { old_object, ..self }
    }

    /// Sets `request.namespace`.
    pub fn namespace(self, namespace: Option<&'a str>) -> Self {
        Request { namespace, ..self }
    }

    /// Sets `request.kind.kind`.
    pub fn kind(self, kind: Option<&'a str>) -> Self {
        Request { kind, ..self }
    }

    /// Sets `request.name`.
    pub fn name(self, name: Option<&'a str>) -> Self {
        Request { name, ..self }
    }

    /// Sets `request.resource.resource` and `request.subResource`.
    pub fn resource(self, resource: Option<&'a str>, sub_resource: Option<&'a str>) -> Self {
        Request {
            resource,
            sub_resource,
            ..self
        }
    }
}

impl<'a, S: Text> Request<'a, S> {
    /// The object's `kind`, or else `request.kind.kind`.
    pub fn object_kind(&self) -> Option<&'a str> {
        self.object.and_then(Object::kind).or(self.kind)
    }

    /// `request.namespace`, or else the object's `metadata.namespace`: the
    /// namespace the policy is asked about.
    pub fn object_namespace(&self) -> Option<&'a str> {
        self.namespace.or(self.object.and_then(Object::namespace))
    }

    /// The object's name (or `generateName`), or else `request.name`.
    pub fn object_name(&self) -> Option<&'a str> {
        self.object.and_then(Object::name).or(self.name)
    }
}

/// The status of a verdict, as a Kubernetes `Status` has it. Serialized as
/// `allowed`, `forbidden` or `invalid`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Status {
    /// Allowed (code 200).
    Allowed,
    /// An image is denied by the policy (code 403, reason `Forbidden`).
    Forbidden,
    /// The object cannot be judged: its images cannot be found, it is
    /// missing, or the operation is unknown (code 400, reason `BadRequest`).
    Invalid,
}

impl Status {
    /// Whether the request is allowed.
    pub fn allowed(self) -> bool {
        self == Self::Allowed
    }

    /// The HTTP-style code of the response's `status`: 200, 403 or 400.
    pub fn code(self) -> u16 {
        match self {
            Self::Allowed => 200,
            Self::Forbidden => 403,
            Self::Invalid => 400,
        }
    }

    /// The `status.reason`: empty, `Forbidden` or `BadRequest`.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Allowed => "",
            Self::Forbidden => "Forbidden",
            Self::Invalid => "BadRequest",
        }
    }

    /// The `status.status`: `Success` or `Failure`.
    pub fn as_str(self) -> &'static str {
        if self.allowed() { "Success" } else { "Failure" }
    }
}

/// Where an image is written. Serialized as `{"container": {"name", "list",
/// "json_path"}}` or `{"index": 2}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Place<'o> {
    /// In a container (or image volume) of an object.
    Container {
        /// The container's name (the volume's, for an image volume).
        name: &'o str,
        /// Its list.
        #[serde(serialize_with = "display")]
        list: ContainerList,
        /// The JSON path of the image.
        #[serde(serialize_with = "display")]
        json_path: JsonPath,
    },
    /// At this index of a list of images given without an object
    /// ([`decide_images`]).
    Index(usize),
}

/// Names the place for people: `container "web"
/// (spec.containers[0].image)`, `volume "assets"
/// (spec.volumes[0].image.reference)`, or `container 2`.
impl fmt::Display for Place<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Container {
                name,
                list,
                json_path,
            } => {
                f.write_str(list.entry())?;
                f.write_str(" ")?;
                write_named(f, name)?;
                f.write_str(" (")?;
                fmt::Display::fmt(json_path, f)?;
                f.write_str(")")
            }
            Self::Index(i) => write!(f, "container {i}"),
        }
    }
}

/// The judgement on one image. Codes are serialized as
/// [`DecisionCode::as_str`] writes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct JudgedImage<'o> {
    /// The image, as written.
    pub image: &'o str,
    /// Where it is written.
    pub place: Place<'o>,
    /// What the policy decided ([`Decision::code`]): `BreakGlass` when the
    /// break-glass annotation admitted it.
    #[serde(serialize_with = "display")]
    pub code: DecisionCode,
    /// The broken rule's code, when a rule was broken (even if allowed).
    #[serde(serialize_with = "display_opt")]
    pub violation: Option<DecisionCode>,
    /// The mode that applied.
    pub mode: Mode,
    /// Whether the policy allowed it ([`Decision::allowed`]), before the
    /// UPDATE rule.
    pub allowed: bool,
    /// On UPDATE: the image was in the old object and the policy exempts such
    /// images, so a violation does not block.
    pub existing: bool,
}

impl JudgedImage<'_> {
    /// Whether the image blocks the request.
    pub fn blocks(&self) -> bool {
        !self.allowed && !self.existing
    }

    /// Whether the break-glass annotation admitted the image.
    pub fn break_glass(&self) -> bool {
        self.code == DecisionCode::BreakGlass
    }

    /// The JSON path of the image in its object, if it came from one.
    pub fn json_path(&self) -> Option<JsonPath> {
        match self.place {
            Place::Container { json_path, .. } => Some(json_path),
            Place::Index(_) => None,
        }
    }
}

/// The verdict on an admission request: what a validating webhook answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Verdict<'o> {
    /// Allowed, forbidden by the policy, or not judgeable.
    pub status: Status,
    /// The answer for people (the response's `status.message`): the object,
    /// and the denied images with why, or how many images were allowed.
    pub message: String,
    /// Every image judged, in the order of
    /// [`crate::k8s::find_images`] (empty when none was).
    pub images: Vec<JudgedImage<'o>>,
    /// One warning per violation that does not block (warn mode, break-glass,
    /// an existing image on UPDATE); audit mode is silent.
    pub warnings: Vec<String>,
    /// Audit annotations (keys without a prefix: the API server adds the
    /// webhook's): `denied-images`, `warned-images`, `audited-images`,
    /// `existing-images`, `break-glass`; each a comma-separated list.
    pub audit_annotations: BTreeMap<&'static str, String>,
}

impl<'o> Verdict<'o> {
    /// Whether the request is allowed.
    pub fn allowed(&self) -> bool {
        self.status.allowed()
    }

    /// The images that block the request.
    pub fn denied_images(&self) -> impl Iterator<Item = &JudgedImage<'o>> {
        self.images.iter().filter(|j| j.blocks())
    }

    /// Whether a break-glass annotation admitted an image.
    pub fn break_glass(&self) -> bool {
        self.images.iter().any(JudgedImage::break_glass)
    }

    /// Allowed, but with a violation (warn or audit mode, an existing image)
    /// or break-glass used.
    pub fn warned(&self) -> bool {
        self.allowed()
            && self
                .images
                .iter()
                .any(|j| j.violation.is_some() || j.break_glass())
    }

    /// Allowed or denied without judging any image.
    fn without_images(status: Status, message: String) -> Self {
        Verdict {
            status,
            message,
            images: Vec::new(),
            warnings: Vec::new(),
            audit_annotations: BTreeMap::new(),
        }
    }
}

/// Serializes a field as `Display` writes it.
fn display<T: fmt::Display, S: Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(value)
}

fn display_opt<T: fmt::Display, S: Serializer>(value: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(v) => s.collect_str(v),
        None => s.serialize_none(),
    }
}

/// Reads an object from a `serde_json::Value` (such as an AdmissionReview's
/// `request.object`), borrowing its strings: the fields on the way to the
/// images are read, the rest ignored; a field of the wrong type is an error.
#[cfg(feature = "json")]
#[cfg_attr(docsrs, doc(cfg(feature = "json")))]
pub fn object_from_json(
    value: &serde_json::Value,
) -> Result<Object<crate::k8s::CowStr<'_>>, serde_json::Error> {
    serde::Deserialize::deserialize(value)
}

/// The object of a CREATE or UPDATE, which `decide` judges and `mutate`
/// rewrites; for any other request, the answer both give: DELETE and CONNECT
/// pass (`passes` says why, after "OP of LABEL: "), an unknown operation or a
/// missing object is invalid.
fn object_of_write<'r, S>(
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

/// The verdict on an admission request (see the [module docs](self)).
pub fn decide<'o, S: Text>(policy: &Policy, request: &Request<'o, S>) -> Verdict<'o> {
    let object = request.object;
    let namespace = request.object_namespace();
    let label = object_label(request.object_kind(), namespace, request.object_name());

    let object = match object_of_write(request.operation, object, &label, "no image is admitted") {
        Ok(object) => object,
        Err((status, message)) => return Verdict::without_images(status, message),
    };
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
            return Verdict::without_images(
                Status::Invalid,
                format!("{label}{resource}: cannot find its images: {e}"),
            );
        }
    };
    if found.is_empty() {
        return Verdict::without_images(Status::Allowed, format!("{label} has no images"));
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
    let mut judged = Judgement::with_capacity(found.len());
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
    verdict(judged, |denied, images, reasons| {
        // `Pod shop/p: 1 of 2 images denied by image policy: ...`, or
        // `Pod shop/p: 2 images allowed` (never "0 of 2 images allowed").
        let mut message = String::with_capacity(256);
        message.push_str(&label);
        message.push_str(": ");
        if denied > 0 {
            push_count(&mut message, denied);
            message.push_str(" of ");
        }
        push_count(&mut message, images);
        message.push(' ');
        message.push_str(images_noun(images));
        if denied > 0 {
            message.push_str(" denied by image policy: ");
            reasons(&mut message);
        } else {
            message.push_str(" allowed");
        }
        message
    })
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
) -> Verdict<'o> {
    let mut ctx = Context::new().annotations(annotations);
    if let Some(ns) = namespace {
        ctx = ctx.namespace(ns);
    }
    let images = images.into_iter();
    let mut judged = Judgement::with_capacity(images.size_hint().0);
    for (index, image) in images.enumerate() {
        judged.push(Judged {
            place: Place::Index(index),
            decision: policy.evaluate(image, &ctx),
            image,
            existing: false,
        });
    }
    verdict(judged, |denied, images, reasons| {
        if denied == 0 {
            return String::new();
        }
        let pod = match namespace {
            Some(ns) => {
                let mut pod = "pod in namespace ".to_owned();
                let _ = write_cut(&mut pod, ns);
                pod
            }
            None => "pod".to_owned(),
        };
        let mut message = format!(
            "{pod}: {denied} of {images} {} denied: ",
            images_noun(images)
        );
        reasons(&mut message);
        message
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
struct Judged<'d, 'o> {
    place: Place<'o>,
    image: &'o str,
    decision: Decision<'d>,
    existing: bool,
}

impl Judged<'_, '_> {
    fn blocks(&self) -> bool {
        !self.decision.allowed() && !self.existing
    }
}

/// The images of a verdict while it is written: every image as a
/// [`JudgedImage`], and the [`Judged`] decision of each one that broke a
/// rule, the only ones the message, the warnings and the audit annotations
/// name. An object whose images all pass keeps no decision: one small
/// vector, however many images.
struct Judgement<'d, 'o> {
    images: Vec<JudgedImage<'o>>,
    violations: Vec<Judged<'d, 'o>>,
}

impl<'d, 'o> Judgement<'d, 'o> {
    fn with_capacity(images: usize) -> Self {
        Judgement {
            images: Vec::with_capacity(images),
            violations: Vec::new(),
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
        if d.violates() {
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
) -> Verdict<'o> {
    let Judgement { images, violations } = judged;
    let denied = violations.iter().filter(|j| j.blocks()).count();
    let message = message(denied, images.len(), &|out: &mut String| {
        write_denial_reasons(&violations, out)
    });
    let (warnings, audit_annotations) = if violations.is_empty() {
        (Vec::new(), BTreeMap::new())
    } else {
        (warnings(&violations), audit_annotations(&violations))
    };
    Verdict {
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

/// Appends `place image "x": reason; ...` for the first [`NAMED_IMAGES`]
/// blocking images (fewer when the text passes [`NAMED_TEXT`] bytes), then
/// `; and N more denied images`.
fn write_denial_reasons(judged: &[Judged<'_, '_>], out: &mut String) {
    let start = out.len();
    let mut named = 0;
    let mut blocking = judged.iter().filter(|j| j.blocks());
    for j in blocking.by_ref() {
        if named > 0 {
            out.push_str("; ");
        }
        named += 1;
        let _ = write!(out, "{} image ", j.place);
        let _ = write_named(out, j.decision.image());
        let _ = write!(out, ": {}", j.decision);
        if named == NAMED_IMAGES || out.len() - start >= NAMED_TEXT {
            break;
        }
    }
    let rest = blocking.count();
    if rest > 0 {
        out.push_str("; and ");
        push_count(out, rest);
        out.push_str(if rest == 1 {
            " more denied image"
        } else {
            " more denied images"
        });
    }
}

/// One warning per violation that does not block: warn mode, break-glass,
/// and existing images on UPDATE. Audit mode is silent (audit annotations
/// only).
fn warnings(judged: &[Judged<'_, '_>]) -> Vec<String> {
    let mut out = Vec::new();
    let mut more = 0;
    for j in judged {
        let d = &j.decision;
        if !d.violates() {
            continue;
        }
        let kind = if d.break_glass_used() {
            "is admitted by break-glass"
        } else if j.existing && !d.allowed() {
            "is already in the object, so it is not blocked"
        } else if d.allowed() && d.mode() == Mode::Warn {
            "(warn mode)"
        } else {
            continue;
        };
        if out.len() == NAMED_IMAGES {
            more += 1;
            continue;
        }
        let mut warning = format!("{} image ", j.place);
        let _ = write_named(&mut warning, d.image());
        let _ = write!(warning, " {kind}: {d}");
        out.push(warning);
    }
    if more > 0 {
        out.push(format!(
            "and {more} more {} with a warning",
            if more == 1 { "image" } else { "images" }
        ));
    }
    out
}

/// The audit annotations (keys without prefix: the API server adds one).
/// Values are comma-separated images.
fn audit_annotations(judged: &[Judged<'_, '_>]) -> BTreeMap<&'static str, String> {
    // The keys, and per key the images named so far and the count of the
    // others; the map is built from them at the end, one node for all.
    const KEYS: [&str; 5] = [
        "break-glass",
        "denied-images",
        "existing-images",
        "audited-images",
        "warned-images",
    ];
    let mut values: [(String, usize, usize); 5] = Default::default();
    let mut add = |key: usize, image: &str| {
        let (value, named, more) = &mut values[key];
        if *named == NAMED_IMAGES || value.len() >= NAMED_TEXT {
            *more += 1;
            return;
        }
        if !value.is_empty() {
            value.push_str(", ");
        }
        let _ = write_cut(value, image);
        *named += 1;
    };
    for j in judged {
        let d = &j.decision;
        let image = d.image();
        if d.break_glass_used() {
            add(0, image);
        }
        if j.blocks() {
            add(1, image);
        } else if j.existing && d.violates() {
            add(2, image);
        } else if d.violates() && d.allowed() {
            match d.mode() {
                Mode::Audit => add(3, image),
                Mode::Warn => add(4, image),
                Mode::Enforce => {}
            }
        }
    }
    let mut annotations = BTreeMap::new();
    for (key, (mut value, named, more)) in KEYS.into_iter().zip(values) {
        if named + more == 0 {
            continue;
        }
        if more > 0 {
            value.push_str(", and ");
            push_count(&mut value, more);
            value.push_str(" more");
        }
        annotations.insert(key, value);
    }
    annotations
}

/// The object named for people: `Deployment shop/web`.
fn object_label(kind: Option<&str>, namespace: Option<&str>, name: Option<&str>) -> String {
    // Pieces into one sized buffer rather than `format!`: this runs for every
    // review, and the message that follows it is appended to the same kind of
    // buffer.
    let kind = cut(kind.unwrap_or("object"));
    let namespace = namespace.map(cut);
    let name = name.map(cut);
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

/// The longest string (an image, a container, kind, namespace or object
/// name) that a message, a warning or an audit annotation writes whole; a
/// longer one, which only an invalid object has, is cut there (with its
/// length, where it is quoted), so that one string of megabytes does not
/// make an answer of megabytes.
pub const NAMED_STRING: usize = 256;

/// `s`, or its first [`NAMED_STRING`] bytes (at a character boundary).
fn cut(s: &str) -> &str {
    if s.len() <= NAMED_STRING {
        return s;
    }
    let mut end = NAMED_STRING;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Writes `s` as [`cut`] cuts it, with `…` when it was cut.
fn write_cut<W: fmt::Write + ?Sized>(out: &mut W, s: &str) -> fmt::Result {
    let short = cut(s);
    out.write_str(short)?;
    if short.len() < s.len() {
        out.write_str("…")?;
    }
    Ok(())
}

/// Writes `s` quoted as [`write_quoted`] does, cut as [`cut`] cuts it and
/// then followed by its length: `"aaaa"… (300000 bytes)`.
fn write_named<W: fmt::Write + ?Sized>(out: &mut W, s: &str) -> fmt::Result {
    let short = cut(s);
    write_quoted(out, short)?;
    if short.len() < s.len() {
        write!(out, "… ({} bytes)", s.len())?;
    }
    Ok(())
}

/// Writes `s` as `{:?}` writes it: quoted and escaped. A string of printable
/// ASCII without a quote or a backslash, the common case for names and images,
/// is copied as it is, without the per-character escaping of `Debug`.
fn write_quoted<W: fmt::Write + ?Sized>(out: &mut W, s: &str) -> fmt::Result {
    if s.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
    {
        out.write_char('"')?;
        out.write_str(s)?;
        out.write_char('"')
    } else {
        write!(out, "{s:?}")
    }
}

/// Appends `n` in decimal, as `{}` would, without the formatting machinery.
fn push_count(out: &mut String, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        // `n % 10` is below 10: the cast cannot truncate.
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend(digits[start..].iter().map(|&d| char::from(d)));
}

/// `image` or `images`, as `n` asks ("1 image", "3 images", "1 of 2 images").
fn images_noun(n: usize) -> &'static str {
    if n == 1 { "image" } else { "images" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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

    #[test]
    fn counts_are_written_as_display_writes_them() {
        for n in [0, 1, 9, 10, 99, 100, 12_345, usize::MAX] {
            let mut out = String::from("x");
            push_count(&mut out, n);
            assert_eq!(out, format!("x{n}"));
        }
    }

    #[test]
    fn operations_read_as_the_api_server_writes_them() {
        for op in [
            Operation::Create,
            Operation::Update,
            Operation::Delete,
            Operation::Connect,
        ] {
            assert_eq!(Operation::parse(op.as_str()), op);
        }
        assert_eq!(Operation::parse("create"), Operation::Unknown("create"));
        assert_eq!(Operation::parse(""), Operation::Unknown(""));
    }

    /// An UPDATE that adds a denied container to a Pod that already runs
    /// a denied image: only the new one blocks; the verdict serializes with
    /// its codes and paths as strings.
    #[test]
    fn only_new_images_block_an_update() {
        let policy = Policy::builder()
            .allow_registry("registry.my.com")
            .exempt_existing_images_on_update(true)
            .build()
            .expect("a policy")
            .policy;
        let old: Object<crate::k8s::CowStr<'_>> = serde_json::from_str(
            r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"shop"},
                "spec":{"containers":[{"name":"a","image":"prometheus:2.6.1"}]}}"#,
        )
        .expect("an object");
        let new: Object<crate::k8s::CowStr<'_>> = serde_json::from_str(
            r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"shop"},
                "spec":{"containers":[{"name":"a","image":"prometheus:2.6.1"}],
                        "ephemeralContainers":[{"name":"debug","image":"busybox"}]}}"#,
        )
        .expect("an object");
        let request = Request::new(Operation::Update, Some(&new)).old_object(Some(&old));
        let verdict = decide(&policy, &request);
        assert_eq!(verdict.status, Status::Forbidden);
        let denied: Vec<&str> = verdict.denied_images().map(|j| j.image).collect();
        assert_eq!(denied, ["busybox"]);
        assert!(verdict.images[0].existing && !verdict.images[0].allowed);
        assert_eq!(
            verdict
                .audit_annotations
                .get("existing-images")
                .map(String::as_str),
            Some("prometheus:2.6.1")
        );
        assert_eq!(verdict.warnings.len(), 1, "{:?}", verdict.warnings);
        assert!(verdict.message.starts_with(
            "Pod shop/p: 1 of 2 images denied by image policy: ephemeralContainer \"debug\" \
             (spec.ephemeralContainers[0].image) image \"busybox\": "
        ));
        let json = serde_json::to_value(&verdict).expect("serializable");
        assert_eq!(json["status"], "forbidden");
        assert_eq!(json["images"][1]["code"], "registry-not-allowed");
        assert_eq!(
            json["images"][1]["place"]["container"]["json_path"],
            "spec.ephemeralContainers[0].image"
        );
        assert_eq!(
            json["images"][1]["place"]["container"]["list"],
            "ephemeralContainers"
        );

        // The same on CREATE: both block; DELETE is allowed unjudged.
        let verdict = decide(&policy, &Request::new(Operation::Create, Some(&new)));
        assert_eq!(verdict.denied_images().count(), 2);
        let verdict = decide(
            &policy,
            &Request::new(Operation::Delete, None::<&Object<&str>>),
        );
        assert!(verdict.allowed() && verdict.images.is_empty());
        assert_eq!(verdict.message, "DELETE of object: no image is admitted");
    }

    /// An allowed object's message counts its images, and never says
    /// "0 of N images allowed"; a denied one counts the denied of all.
    #[test]
    fn messages_count_what_they_say() {
        let policy = Policy::builder()
            .allow_registry("registry.my.com")
            .build()
            .expect("a policy")
            .policy;
        for (images, want) in [
            (&["registry.my.com/a"][..], "Pod shop/p: 1 image allowed"),
            (
                &["registry.my.com/a", "registry.my.com/b"],
                "Pod shop/p: 2 images allowed",
            ),
            (
                &["registry.my.com/a", "busybox"],
                "Pod shop/p: 1 of 2 images denied by image policy: ",
            ),
        ] {
            let containers: Vec<String> = images
                .iter()
                .enumerate()
                .map(|(i, image)| format!(r#"{{"name":"c{i}","image":"{image}"}}"#))
                .collect();
            let text = format!(
                r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"p","namespace":"shop"}},
                    "spec":{{"containers":[{}]}}}}"#,
                containers.join(",")
            );
            let object: Object<crate::k8s::CowStr<'_>> =
                serde_json::from_str(&text).expect("an object");
            let verdict = decide(&policy, &Request::new(Operation::Create, Some(&object)));
            assert!(verdict.message.starts_with(want), "{}", verdict.message);
            assert_eq!(verdict.allowed(), !want.contains("denied"));
        }
    }

    #[test]
    fn objects_whose_images_cannot_be_found_are_invalid() {
        let policy = Policy::builder().build().expect("a policy").policy;
        let object: Object<&str> = serde_json::from_str(
            r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"}}"#,
        )
        .expect("an object");
        let request =
            Request::new(Operation::Create, Some(&object)).resource(Some("configmaps"), None);
        let verdict = decide(&policy, &request);
        assert_eq!(verdict.status, Status::Invalid);
        assert_eq!(verdict.status.code(), 400);
        assert!(
            verdict
                .message
                .starts_with("ConfigMap c (configmaps): cannot find its images: "),
            "{}",
            verdict.message
        );
        let verdict = decide(
            &policy,
            &Request::new(Operation::parse("PATCH"), Some(&object)),
        );
        assert_eq!(verdict.status, Status::Invalid);
        assert_eq!(verdict.message, r#"ConfigMap c: unknown operation "PATCH""#);
    }

    /// A Pod of `containers` and `init` containers (`c0`, `c1`, ... with
    /// `image(i)`), and these annotations, as JSON text.
    fn pod_json(
        containers: usize,
        init: usize,
        annotations: usize,
        image: impl Fn(usize) -> String,
    ) -> String {
        let list = |from: usize, n: usize| {
            (from..from + n)
                .map(|i| format!(r#"{{"name":"c{i}","image":"{}"}}"#, image(i)))
                .collect::<Vec<_>>()
                .join(",")
        };
        let annotations = (0..annotations)
            .map(|i| format!(r#""a{i}":"""#))
            .collect::<Vec<_>>()
            .join(",");
        format!(
            r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"p","namespace":"shop","annotations":{{{annotations}}}}},"spec":{{"containers":[{}],"initContainers":[{}]}}}}"#,
            list(0, containers),
            list(containers, init)
        )
    }

    /// Both readers of an object (serde's and the scanner), which must agree.
    fn read_both(json: &str) -> [Object<crate::k8s::CowStr<'_>>; 2] {
        let scanned = crate::k8s::scan::object(json).expect("the scanner reads it");
        let serde: Object<crate::k8s::CowStr<'_>> =
            serde_json::from_str(json).expect("serde reads it");
        [scanned, serde]
    }

    /// Lists and annotations past [`crate::k8s::MAX_ENTRIES`] are kept to one
    /// more entry (a million tiny containers are not built) and the object
    /// is invalid, never judged on the entries that were kept; up to the
    /// bounds it is judged.
    #[test]
    fn objects_past_the_bounds_are_invalid_and_not_built() {
        use crate::k8s::{MAX_ENTRIES, MAX_IMAGES};
        let policy = Policy::builder()
            .allow_registry("registry.my.com")
            .build()
            .expect("a policy")
            .policy;
        let ok = |i: usize| format!("registry.my.com/app{i}:1");
        let cases = [
            // (containers, init, annotations, Ok or the message's end)
            (MAX_ENTRIES, 0, MAX_ENTRIES, None),
            (MAX_IMAGES / 2, MAX_IMAGES / 2, 0, None),
            (
                100_000,
                0,
                0,
                Some(format!(
                    "has more than {MAX_ENTRIES} entries in spec.containers, more than is judged"
                )),
            ),
            (
                1,
                MAX_ENTRIES + 1,
                0,
                Some(format!(
                    "has more than {MAX_ENTRIES} entries in spec.initContainers, more than is judged"
                )),
            ),
            (
                MAX_IMAGES / 2 + 1,
                MAX_IMAGES / 2,
                0,
                Some(format!(
                    "has {} images, more than the {MAX_IMAGES} that are judged",
                    MAX_IMAGES + 1
                )),
            ),
            (
                1,
                0,
                50_000,
                Some(format!(
                    "has more than {MAX_ENTRIES} entries in metadata.annotations, more than is judged"
                )),
            ),
        ];
        for (containers, init, annotations, want) in cases {
            let json = pod_json(containers, init, annotations, ok);
            for object in read_both(&json) {
                let spec = object.spec.as_ref().expect("a spec");
                for list in [&spec.containers, &spec.init_containers]
                    .into_iter()
                    .flatten()
                {
                    assert!(list.len() <= MAX_ENTRIES + 1 && list.capacity() <= MAX_ENTRIES + 1);
                }
                let kept = object
                    .metadata
                    .as_ref()
                    .and_then(|m| m.annotations.as_ref());
                assert!(kept.is_none_or(
                    |a| a.0.len() <= MAX_ENTRIES + 1 && a.0.capacity() <= MAX_ENTRIES + 1
                ));
                let verdict = decide(&policy, &Request::new(Operation::Create, Some(&object)));
                match &want {
                    None => {
                        assert!(verdict.allowed(), "{}", verdict.message);
                        assert_eq!(verdict.images.len(), containers + init);
                    }
                    Some(end) => {
                        assert_eq!(verdict.status, Status::Invalid, "{}", verdict.message);
                        assert!(verdict.images.is_empty());
                        assert!(
                            verdict
                                .message
                                .starts_with("Pod shop/p: cannot find its images: the Pod ")
                                && verdict.message.ends_with(end.as_str()),
                            "{}",
                            verdict.message
                        );
                    }
                }
            }
        }
    }

    /// One image or name of megabytes: the message, the warnings and the audit
    /// annotations name its first bytes and its length.
    #[test]
    fn long_strings_are_cut_in_the_answer() {
        let policy = Policy::builder()
            .allow_registry("registry.my.com")
            .build()
            .expect("a policy")
            .policy;
        let long = "A".repeat(1 << 20);
        let json = pod_json(3, 0, 0, |i| {
            if i == 1 {
                long.clone()
            } else {
                "evil.io/x:1".into()
            }
        })
        .replace(r#""name":"p""#, &format!(r#""name":"{long}""#));
        for object in read_both(&json) {
            let verdict = decide(&policy, &Request::new(Operation::Create, Some(&object)));
            assert_eq!(verdict.denied_images().count(), 3);
            let answer = serde_json::to_string(&(
                &verdict.message,
                &verdict.warnings,
                &verdict.audit_annotations,
            ))
            .expect("encodable");
            assert!(answer.len() < 8 * 1024, "{} bytes", answer.len());
            assert!(
                verdict.message.contains(&format!(
                    r#""{}"… ({} bytes)"#,
                    &long[..NAMED_STRING],
                    long.len()
                )),
                "{}",
                &verdict.message[..600]
            );
        }
    }

    /// An UPDATE of many images in both objects (the hash set) and of a few
    /// (the scan) finds the same existing images.
    #[test]
    fn existing_images_are_found_by_set_and_by_scan() {
        let policy = Policy::builder()
            .allow_registry("registry.my.com")
            .exempt_existing_images_on_update(true)
            .build()
            .expect("a policy")
            .policy;
        for n in [3, 40, 1000] {
            // Old: images 0..n; new: images n/2..n/2+n, all denied.
            let old = pod_json(n, 0, 0, |i| format!("evil.io/app{i}:1"));
            let new = pod_json(n, 0, 0, |i| format!("evil.io/app{}:1", i + n / 2));
            let (old, new) = (&read_both(&old)[0], &read_both(&new)[0]);
            let verdict = decide(
                &policy,
                &Request::new(Operation::Update, Some(new)).old_object(Some(old)),
            );
            let existing: Vec<bool> = verdict.images.iter().map(|j| j.existing).collect();
            let want: Vec<bool> = (0..n).map(|i| i + n / 2 < n).collect();
            assert_eq!(existing, want, "{n}");
            assert_eq!(verdict.denied_images().count(), n - (n - n / 2), "{n}");
        }
    }

    proptest! {
        #[test]
        fn any_string_is_quoted_as_debug_quotes_it(s in any::<String>()) {
            let mut out = String::new();
            write_quoted(&mut out, &s).expect("a String does not fail");
            prop_assert_eq!(out, format!("{s:?}"));
        }
    }
}
