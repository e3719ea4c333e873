//! Finding the images of Kubernetes objects: which containers a Pod, a pod
//! template, a workload or a CronJob runs, which image volumes it mounts, and
//! where each image is written.
//!
//! # Overview
//!
//! [`Object`] is a minimal serde view of a Kubernetes object: only the fields
//! on the way from the top of the object to the `image` of each container
//! (see the [API reference](https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/)).
//! [`find_images`] reads the pod spec at the path of the object's kind and
//! returns every container of its three lists, and every image volume, with
//! the [`JsonPath`] of its image.
//!
//! | kind | apiVersion group | pod spec at |
//! |---|---|---|
//! | Pod | core (`v1`) | `spec` |
//! | PodTemplate | core (`v1`) | `template.spec` |
//! | ReplicationController | core (`v1`) | `spec.template.spec` |
//! | ReplicaSet, Deployment, DaemonSet | `apps` (or the old `extensions`) | `spec.template.spec` |
//! | StatefulSet | `apps` | `spec.template.spec` |
//! | Job | `batch` | `spec.template.spec` |
//! | CronJob | `batch` | `spec.jobTemplate.spec.template.spec` |
//!
//! In each pod spec: `containers`, `initContainers` and `ephemeralContainers`
//! ([`ContainerList`]), and `volumes[].image.reference`
//! ([`ContainerList::Volumes`], path `spec.volumes[0].image.reference`; the
//! volume's name is reported where a container's name is). The API server
//! forbids ephemeral containers in pod templates, but they are reported
//! wherever they are written: nothing is skipped.
//!
//! # What the kubelet pulls
//!
//! The PodSpec of the API reference (`core/v1`, checked up to 1.34) has four
//! fields from which the kubelet asks the runtime to pull an image, and all
//! four are read here:
//!
//! | field | pulled |
//! |---|---|
//! | `containers[].image` | always |
//! | `initContainers[].image` | always |
//! | `ephemeralContainers[].image` | when `kubectl debug` adds one (an UPDATE of `pods/ephemeralcontainers`) |
//! | `volumes[].image.reference` | the ImageVolume feature (alpha in 1.31, beta in 1.33): an OCI image or artifact mounted read-only; read as a container's `image` is, pull secrets included |
//!
//! The image volume's `pullPolicy` says when the image is pulled, not which,
//! and is not read (nor is a container's `imagePullPolicy`). No other field
//! names an image the kubelet pulls: `runtimeClassName` picks a runtime
//! handler configured on the node, `resourceClaims` a DRA driver, and a
//! `volumes[].csi` volume is mounted by its CSI driver, which may pull an
//! image named in its `volumeAttributes` (image-populating drivers do) without
//! the kubelet: such drivers are outside what an image policy sees, and are
//! best kept off the cluster or limited by another admission control.
//!
//! # The string leaf
//!
//! The types are generic over the type of their strings, `S`, so that each
//! reader keeps what it needs:
//!
//! - `Object<CowStr<'a>>` from `serde_json::from_slice` borrows every string
//!   that has no escape from the request body ([`CowStr`]);
//! - `Object<serde_saphyr::Spanned<String>>` from `serde_saphyr` keeps the line
//!   and column of every string, so a linter can point at an image.
//!
//! Any `S` that implements [`Text`] works.
//!
//! # Errors
//!
//! An object whose images cannot be found is an [`ObjectError`], never an
//! empty list: an unknown kind (or a known kind in the wrong API group), a
//! missing `kind` or `apiVersion`, a missing pod spec, a pod spec without
//! `containers`, a container without `name` or `image`, an image volume
//! without `name` or `image.reference` (the API server requires both; a
//! volume whose `image` is absent or `null` is not an image volume). A field of the wrong
//! type (`containers: "x"`) fails earlier, in deserialization, with the
//! deserializer's location. Callers that admit workloads treat every one of
//! these as a denial.
//!
//! # Fast path
//!
//! `k8s::scan` reads an `Object<CowStr<'_>>` from JSON text in one pass,
//! faster than the serde derive, with the same result or none (then serde
//! decides): the webhook reads every AdmissionReview with it. It is a JSON
//! tokenizer, not part of the stable API: it exists only with the
//! `unstable-scan` feature, which `image-policy-webhook` enables, and may
//! change in any release (as rustls's `internal` module).
//!
//! # Untrusted input
//!
//! Deserialization reads only the fields above and ignores the rest; repeated
//! fields are rejected by serde, so an object cannot show one image to the
//! policy and another to the runtime. Nothing here panics, and the cost is
//! linear in the input. The memory is bounded by [`MAX_ENTRIES`], not by the
//! size of the input: each list and annotations map keeps at most one entry
//! more than that (the rest is read and dropped), and [`find_images`]
//! refuses an object past [`MAX_ENTRIES`] or [`MAX_IMAGES`] rather than
//! judge part of it. Strings are borrowed unless they hold an escape.
//!
//! # Example
//!
//! ```
//! use image_policy_core::k8s::{find_images, ContainerList, CowStr, Object};
//!
//! let json = br#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},
//!   "spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx:1.27"}]}}}}"#;
//! let object: Object<CowStr<'_>> = serde_json::from_slice(json)?;
//! let images = find_images(&object)?;
//! assert_eq!(images[0].image.as_ref(), "nginx:1.27");
//! assert_eq!(images[0].container, "web");
//! assert_eq!(images[0].list, ContainerList::Containers);
//! assert_eq!(images[0].json_path.to_string(), "spec.template.spec.containers[0].image");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod object;
#[cfg(feature = "unstable-scan")]
#[cfg_attr(docsrs, doc(cfg(feature = "unstable-scan")))]
pub mod scan;
// Without the feature, only the core's own tests read objects with it.
#[cfg(all(test, not(feature = "unstable-scan")))]
pub(crate) mod scan;
mod text;

use std::fmt::{self, Write as _};

pub use object::{
    Annotations, Container, ImageVolumeSource, JobSpec, JobTemplateSpec, Object, ObjectMeta,
    ObjectSpec, PodSpec, PodTemplateSpec, Volume, bounded_list,
};
pub use text::{CowStr, Text};

/// The most entries of a list of containers (each of `containers`,
/// `initContainers`, `ephemeralContainers`), of `volumes`, and of an
/// `annotations` map, that an object may have to be judged. Reading an
/// object keeps at most one more (the others are read and dropped, see
/// [`bounded_list`]), so that the memory an object takes is bounded by this
/// number, not by the size of its text: a 3 MiB list of tiny containers is
/// not built. [`find_images`] refuses an object past the bound
/// ([`ObjectError::TooManyEntries`]); no real pod comes near it.
pub const MAX_ENTRIES: usize = 1024;

/// The most images (containers of the three lists and image volumes) of one
/// object that [`find_images`] returns; more is
/// [`ObjectError::TooManyImages`]. It bounds the work and the answer of an
/// admission review (a `/mutate` patch names each rewritten image).
pub const MAX_IMAGES: usize = 1024;

/// The kinds whose objects run containers, by name: the names of
/// [`PodBearingKind::ALL`], in its order.
pub const POD_BEARING_KINDS: &[&str] = &PodBearingKind::NAMES;

/// A kind whose objects run containers.
///
/// Non-exhaustive: a kind that Kubernetes adds is a new variant, not a
/// breaking change; iterate [`PodBearingKind::ALL`] rather than list them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PodBearingKind {
    /// `v1` Pod.
    Pod,
    /// `v1` PodTemplate.
    PodTemplate,
    /// `v1` ReplicationController.
    ReplicationController,
    /// `apps/v1` ReplicaSet.
    ReplicaSet,
    /// `apps/v1` Deployment.
    Deployment,
    /// `apps/v1` StatefulSet.
    StatefulSet,
    /// `apps/v1` DaemonSet.
    DaemonSet,
    /// `batch/v1` Job.
    Job,
    /// `batch/v1` CronJob.
    CronJob,
}

impl PodBearingKind {
    /// Every pod-bearing kind, in declaration order (each variant at the
    /// index of its discriminant, which a test checks).
    pub const ALL: [PodBearingKind; 9] = [
        Self::Pod,
        Self::PodTemplate,
        Self::ReplicationController,
        Self::ReplicaSet,
        Self::Deployment,
        Self::StatefulSet,
        Self::DaemonSet,
        Self::Job,
        Self::CronJob,
    ];

    /// The names of [`PodBearingKind::ALL`], in its order.
    const NAMES: [&'static str; Self::ALL.len()] = {
        let mut names = [""; Self::ALL.len()];
        let mut i = 0;
        while i < names.len() {
            names[i] = Self::ALL[i].as_str();
            i += 1;
        }
        names
    };

    /// The kind's name, as written in `kind`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pod => "Pod",
            Self::PodTemplate => "PodTemplate",
            Self::ReplicationController => "ReplicationController",
            Self::ReplicaSet => "ReplicaSet",
            Self::Deployment => "Deployment",
            Self::StatefulSet => "StatefulSet",
            Self::DaemonSet => "DaemonSet",
            Self::Job => "Job",
            Self::CronJob => "CronJob",
        }
    }

    /// The API groups that serve the kind (`""` is the core group). Versions
    /// are not checked: the pod spec path is the same in every version.
    pub fn groups(self) -> &'static [&'static str] {
        match self {
            Self::Pod | Self::PodTemplate | Self::ReplicationController => &[""],
            Self::ReplicaSet | Self::Deployment | Self::DaemonSet => &["apps", "extensions"],
            Self::StatefulSet => &["apps"],
            Self::Job | Self::CronJob => &["batch"],
        }
    }

    /// Where the kind keeps its pod spec.
    pub fn pod_spec_path(self) -> &'static str {
        match self {
            Self::Pod => "spec",
            Self::PodTemplate => "template.spec",
            Self::CronJob => "spec.jobTemplate.spec.template.spec",
            _ => "spec.template.spec",
        }
    }

    /// The kind of an object with this `apiVersion` and `kind`, if it is a
    /// pod-bearing kind in a group that serves it.
    pub fn from_type(api_version: &str, kind: &str) -> Option<Self> {
        let found = Self::ALL.into_iter().find(|k| k.as_str() == kind)?;
        let group = match api_version.rsplit_once('/') {
            Some((group, _version)) => group,
            None => "",
        };
        found.groups().contains(&group).then_some(found)
    }
}

impl fmt::Display for PodBearingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where in a pod spec an image is written: one of the three lists of
/// containers, or the image volumes.
///
/// `Volumes` is not a list of containers: it is the pod spec's `volumes`,
/// whose `image.reference` the kubelet pulls like a container image (the
/// ImageVolume feature). It sits here, beside the three lists, so that every
/// caller that names where an image is written handles it.
///
/// Non-exhaustive: a new place Kubernetes pulls images from is a new
/// variant, not a breaking change; iterate [`ContainerList::ALL`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ContainerList {
    /// `containers`.
    Containers,
    /// `initContainers`.
    InitContainers,
    /// `ephemeralContainers`.
    EphemeralContainers,
    /// `volumes` (their `image.reference`).
    Volumes,
}

impl ContainerList {
    /// The three lists and the volumes, in the order [`find_images`] reports
    /// them.
    pub const ALL: [ContainerList; 4] = [
        Self::Containers,
        Self::InitContainers,
        Self::EphemeralContainers,
        Self::Volumes,
    ];

    /// The field name: `containers`, `initContainers`, `ephemeralContainers`
    /// or `volumes`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Containers => "containers",
            Self::InitContainers => "initContainers",
            Self::EphemeralContainers => "ephemeralContainers",
            Self::Volumes => "volumes",
        }
    }

    /// The field of an entry of the list that holds its image: `image`, or
    /// `image.reference` for a volume.
    pub fn image_field(self) -> &'static str {
        match self {
            Self::Volumes => "image.reference",
            _ => "image",
        }
    }

    /// What an entry of the list is, for messages: `container`,
    /// `initContainer`, `ephemeralContainer` or `volume`.
    pub fn entry(self) -> &'static str {
        match self {
            Self::Containers => "container",
            Self::InitContainers => "initContainer",
            Self::EphemeralContainers => "ephemeralContainer",
            Self::Volumes => "volume",
        }
    }
}

impl fmt::Display for ContainerList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The JSON path of an image in its object, such as
/// `spec.template.spec.containers[0].image` or `spec.volumes[1].image.reference`;
/// made without allocating, written by `Display`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct JsonPath {
    pod_spec: &'static str,
    list: ContainerList,
    index: usize,
}

impl JsonPath {
    /// The path of the image of entry `index` of `list` in a pod spec at
    /// `pod_spec` (see [`PodBearingKind::pod_spec_path`]).
    pub fn new(pod_spec: &'static str, list: ContainerList, index: usize) -> Self {
        JsonPath {
            pod_spec,
            list,
            index,
        }
    }

    /// The path of the pod spec, such as `spec.template.spec`.
    pub fn pod_spec(&self) -> &'static str {
        self.pod_spec
    }

    /// A field of the same container (or volume), such as `name`.
    pub fn container_field(&self, field: &str) -> String {
        format!("{}.{}[{}].{field}", self.pod_spec, self.list, self.index)
    }

    /// The same place as an [RFC 6901](https://www.rfc-editor.org/rfc/rfc6901)
    /// JSON pointer, as a JSON Patch names it:
    /// `/spec/template/spec/containers/0/image`,
    /// `/spec/volumes/1/image/reference`. Each key is escaped (`~` as `~0`,
    /// `/` as `~1`; the field names of a pod spec have neither, but the
    /// pointer does not rely on it).
    ///
    /// ```
    /// use image_policy_core::k8s::{ContainerList, JsonPath};
    ///
    /// let path = JsonPath::new("spec.template.spec", ContainerList::InitContainers, 2);
    /// assert_eq!(path.pointer(), "/spec/template/spec/initContainers/2/image");
    /// ```
    pub fn pointer(&self) -> String {
        // This runs for every image `/mutate` replaces. The pod spec paths of
        // [`PodBearingKind`] and the lists' fields need no escape: their
        // pointers are written out here (the tests compare each with the
        // escaped keys); any other path is escaped key by key.
        let pod_spec = match self.pod_spec {
            "spec" => Some("/spec"),
            "template.spec" => Some("/template/spec"),
            "spec.template.spec" => Some("/spec/template/spec"),
            "spec.jobTemplate.spec.template.spec" => Some("/spec/jobTemplate/spec/template/spec"),
            _ => None,
        };
        let (list, field) = match self.list {
            ContainerList::Containers => ("/containers/", "/image"),
            ContainerList::InitContainers => ("/initContainers/", "/image"),
            ContainerList::EphemeralContainers => ("/ephemeralContainers/", "/image"),
            ContainerList::Volumes => ("/volumes/", "/image/reference"),
        };
        let mut out = String::with_capacity(
            pod_spec.map_or(2 * self.pod_spec.len() + 1, str::len) + list.len() + field.len() + 20,
        );
        match pod_spec {
            Some(pointer) => out.push_str(pointer),
            None => push_pointer_tokens(&mut out, self.pod_spec),
        }
        out.push_str(list);
        // An index needs no escape; it is nearly always one digit.
        match u8::try_from(self.index) {
            Ok(digit @ 0..=9) => out.push(char::from(b'0' + digit)),
            _ => {
                let _ = write!(out, "{}", self.index);
            }
        }
        out.push_str(field);
        out
    }
}

/// Is `name` a namespace's name: a DNS-1123 label (lowercase letters, digits
/// and `-`, neither first nor last, 1 to 63 bytes), as the API server
/// validates `metadata.name` of a Namespace? A policy's namespace scopes are
/// checked with it; so are tools that write policies.
pub fn is_namespace_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// Appends `/` and `key` escaped as a JSON pointer token (RFC 6901, section 3):
/// `~` as `~0`, then `/` as `~1`.
pub fn push_pointer_token(out: &mut String, key: &str) {
    out.push('/');
    push_escaped(out, key, false);
}

/// Appends each key of a dotted path (`spec.template.spec`) as
/// [`push_pointer_token`] does, in one pass: no split, no search per key
/// (this runs for every image `/mutate` replaces).
fn push_pointer_tokens(out: &mut String, dotted: &str) {
    out.push('/');
    push_escaped(out, dotted, true);
}

/// Appends `text` with `~` as `~0` and `/` as `~1`, and `.` as `/` when
/// `dots` (a key separator). The bytes searched are ASCII, so every cut is
/// at a character boundary.
fn push_escaped(out: &mut String, mut text: &str, dots: bool) {
    while let Some(at) = text
        .bytes()
        .position(|b| b == b'~' || b == b'/' || (dots && b == b'.'))
    {
        let (plain, rest) = text.split_at(at);
        out.push_str(plain);
        out.push_str(match rest.as_bytes()[0] {
            b'~' => "~0",
            b'/' => "~1",
            _ => "/",
        });
        text = &rest[1..];
    }
    out.push_str(text);
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Pieces rather than `write!`: this runs for every message that names
        // a container, on the webhook's hot path.
        f.write_str(self.pod_spec)?;
        f.write_str(".")?;
        f.write_str(self.list.as_str())?;
        f.write_str("[")?;
        fmt::Display::fmt(&self.index, f)?;
        f.write_str("].")?;
        f.write_str(self.list.image_field())
    }
}

/// An image found in an object.
#[derive(Debug)]
#[non_exhaustive]
pub struct FoundImage<'o, S> {
    /// The image, as deserialized (with its span, for a spanned leaf).
    pub image: &'o S,
    /// The container's name, or the volume's for an image volume.
    pub container: &'o str,
    /// The list the container (or volume) is in.
    pub list: ContainerList,
    /// The container's (or volume's) index in its list.
    pub index: usize,
    /// Where the image is written.
    pub json_path: JsonPath,
}

// Derived `Clone`/`Copy` would require `S: Copy`; a `FoundImage` is only references.
impl<S> Clone for FoundImage<'_, S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S> Copy for FoundImage<'_, S> {}

/// Why the images of an object cannot be found.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ObjectError {
    /// The object has no `kind`.
    #[error("the object has no kind")]
    MissingKind,
    /// The object has no `apiVersion`.
    #[error("the {kind} has no apiVersion")]
    MissingApiVersion {
        /// The object's kind.
        kind: String,
    },
    /// The kind is not a [`PodBearingKind`], or not in a group that serves it.
    #[error(
        "kind {kind:?} of apiVersion {api_version:?} is not a kind that runs containers \
         (Pod, PodTemplate, ReplicationController, ReplicaSet, Deployment, StatefulSet, \
         DaemonSet, Job, CronJob)"
    )]
    UnknownKind {
        /// The object's apiVersion.
        api_version: String,
        /// The object's kind.
        kind: String,
    },
    /// The kind's pod spec is not there (or is `null`).
    #[error("the {kind} has no pod spec at {path}")]
    MissingPodSpec {
        /// The object's kind.
        kind: PodBearingKind,
        /// Where the pod spec should be.
        path: &'static str,
    },
    /// A list that [`find_images`] reads (containers, init containers,
    /// ephemeral containers, volumes) or an annotations map that admission
    /// reads has more than [`MAX_ENTRIES`] entries: the object is not
    /// judged (only the first entries were kept).
    #[error("the {kind} has more than {max} entries in {path}, more than is judged")]
    TooManyEntries {
        /// The object's kind.
        kind: PodBearingKind,
        /// The JSON path of the list or map.
        path: String,
        /// [`MAX_ENTRIES`].
        max: usize,
    },
    /// The object has more than [`MAX_IMAGES`] images in all.
    #[error("the {kind} has {count} images, more than the {max} that are judged")]
    TooManyImages {
        /// The object's kind.
        kind: PodBearingKind,
        /// How many it has.
        count: usize,
        /// [`MAX_IMAGES`].
        max: usize,
    },
    /// A field that every pod spec or container has is missing: `containers`,
    /// a container's `name` or `image`, or an image volume's `name` or
    /// `image.reference`.
    #[error("the {kind} has no {path}")]
    MissingField {
        /// The object's kind.
        kind: PodBearingKind,
        /// The JSON path of the missing field.
        path: String,
    },
}

/// Every image of the object, in the order of [`ContainerList::ALL`] and then
/// of each list: the containers of the three lists, then the image volumes
/// (other volumes have no image and are passed over).
pub fn find_images<'o, S: Text>(obj: &'o Object<S>) -> Result<Vec<FoundImage<'o, S>>, ObjectError> {
    let kind = obj.pod_bearing_kind()?;
    let path = kind.pod_spec_path();
    let missing_pod_spec = || ObjectError::MissingPodSpec { kind, path };
    let (lists, volumes) = match kind {
        PodBearingKind::Pod => {
            let spec = obj.spec.as_ref().ok_or_else(missing_pod_spec)?;
            (
                [
                    &spec.containers,
                    &spec.init_containers,
                    &spec.ephemeral_containers,
                ],
                &spec.volumes,
            )
        }
        _ => {
            let spec = obj
                .pod_template(kind)
                .and_then(|t| t.spec.as_ref())
                .ok_or_else(missing_pod_spec)?;
            (
                [
                    &spec.containers,
                    &spec.init_containers,
                    &spec.ephemeral_containers,
                ],
                &spec.volumes,
            )
        }
    };
    if lists[0].is_none() {
        return Err(ObjectError::MissingField {
            kind,
            path: format!("{path}.containers"),
        });
    }
    let lengths = lists
        .iter()
        .map(|l| l.as_ref().map_or(0, Vec::len))
        .chain([volumes.as_ref().map_or(0, Vec::len)]);
    for (list, len) in ContainerList::ALL.into_iter().zip(lengths) {
        if len > MAX_ENTRIES {
            return Err(ObjectError::TooManyEntries {
                kind,
                path: format!("{path}.{list}"),
                max: MAX_ENTRIES,
            });
        }
    }
    let image_volumes = || {
        volumes
            .iter()
            .flatten()
            .enumerate()
            .filter_map(|(index, v)| v.image.as_ref().map(|image| (index, v, image)))
    };
    let count = lists
        .iter()
        .map(|l| l.as_ref().map_or(0, Vec::len))
        .sum::<usize>()
        + image_volumes().count();
    if count > MAX_IMAGES {
        return Err(ObjectError::TooManyImages {
            kind,
            count,
            max: MAX_IMAGES,
        });
    }
    let mut found = Vec::with_capacity(count);
    for (list, containers) in ContainerList::ALL.into_iter().zip(lists) {
        for (index, container) in containers.iter().flatten().enumerate() {
            let json_path = JsonPath::new(path, list, index);
            let missing = |field: &str| ObjectError::MissingField {
                kind,
                path: json_path.container_field(field),
            };
            let name = container.name.as_ref().ok_or_else(|| missing("name"))?;
            let image = container.image.as_ref().ok_or_else(|| missing("image"))?;
            found.push(FoundImage {
                image,
                container: name.as_str(),
                list,
                index,
                json_path,
            });
        }
    }
    let list = ContainerList::Volumes;
    for (index, volume, source) in image_volumes() {
        let json_path = JsonPath::new(path, list, index);
        let missing = |field: &str| ObjectError::MissingField {
            kind,
            path: json_path.container_field(field),
        };
        let name = volume.name.as_ref().ok_or_else(|| missing("name"))?;
        let image = source
            .reference
            .as_ref()
            .ok_or_else(|| missing("image.reference"))?;
        found.push(FoundImage {
            image,
            container: name.as_str(),
            list,
            index,
            json_path,
        });
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ALL` holds each kind once, at its discriminant, and the names follow
    /// it: a kind added to the enum but not to `ALL` (or twice) fails here.
    #[test]
    fn every_pod_bearing_kind_is_listed_once_with_its_name() {
        for (i, kind) in PodBearingKind::ALL.into_iter().enumerate() {
            assert_eq!(kind as usize, i, "{kind}");
            assert_eq!(POD_BEARING_KINDS[i], kind.as_str());
            let api_version = match kind.groups()[0] {
                "" => "v1".to_owned(),
                group => format!("{group}/v1"),
            };
            assert_eq!(
                PodBearingKind::from_type(&api_version, kind.as_str()),
                Some(kind)
            );
        }
        assert_eq!(POD_BEARING_KINDS.len(), PodBearingKind::ALL.len());
    }
}
