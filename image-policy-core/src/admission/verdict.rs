//! The verdict as a typed value: its status, and every image with where it
//! is written and how it was judged. The words it carries (message,
//! warnings, audit annotations) are written by the `wording` module.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Serialize, Serializer};

use crate::k8s::{ContainerList, JsonPath};
use crate::policy::{DecisionCode, Mode};

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
    /// ([`decide_images`](super::decide_images)).
    Index(usize),
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
    /// What the policy decided ([`Decision::code`](crate::policy::Decision::code)): `BreakGlass` when the
    /// break-glass annotation admitted it.
    #[serde(serialize_with = "display")]
    pub code: DecisionCode,
    /// The broken rule's code, when a rule was broken (even if allowed).
    #[serde(serialize_with = "display_opt")]
    pub violation: Option<DecisionCode>,
    /// The mode that applied.
    pub mode: Mode,
    /// Whether the policy allowed it ([`Decision::allowed`](crate::policy::Decision::allowed)), before the
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
pub struct AdmissionVerdict<'o> {
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
    /// `existing-images`, `break-glass`; each a comma-separated list; and
    /// `exempt-images`, each image with the exemptions it used (`IMAGE
    /// (exempt from tags (tags.deny[0]) by exempt[0]: REASON)`).
    pub audit_annotations: BTreeMap<&'static str, String>,
}

impl<'o> AdmissionVerdict<'o> {
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
    pub(super) fn without_images(status: Status, message: String) -> Self {
        AdmissionVerdict {
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
