//! The serde types: only the fields of a Kubernetes object that lead to an
//! image. Every other field is ignored; a field that is read must have the
//! type the Kubernetes API gives it, or deserialization fails.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::{MAX_ENTRIES, ObjectError, PodBearingKind, Text};

/// A Kubernetes object, as far as images are concerned: its type, its
/// metadata and the fields on the way to its pod spec.
///
/// `spec` holds the union of the fields of every pod-bearing kind's spec
/// (a Pod's lists of containers, a workload's `template`, a CronJob's
/// `jobTemplate`); [`find_images`](super::find_images) reads the one the kind
/// has. `template` is the top-level field of a PodTemplate.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(bound(deserialize = "S: Deserialize<'de>"))]
#[non_exhaustive]
pub struct Object<S> {
    /// `apiVersion`, such as `apps/v1`.
    #[serde(rename = "apiVersion", default)]
    pub api_version: Option<S>,
    /// `kind`, such as `Deployment`.
    #[serde(default)]
    pub kind: Option<S>,
    /// `metadata`.
    #[serde(default)]
    pub metadata: Option<ObjectMeta<S>>,
    /// `spec`.
    #[serde(default)]
    pub spec: Option<ObjectSpec<S>>,
    /// `template` (PodTemplate only).
    #[serde(default)]
    pub template: Option<Box<PodTemplateSpec<S>>>,
}

/// The parts of `metadata` that name an object and carry its annotations.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(bound(deserialize = "S: Deserialize<'de>"))]
#[non_exhaustive]
pub struct ObjectMeta<S> {
    /// `metadata.name`.
    #[serde(default)]
    pub name: Option<S>,
    /// `metadata.generateName` (a Pod made by a controller has no name yet
    /// when it is admitted, only this prefix).
    #[serde(rename = "generateName", default)]
    pub generate_name: Option<S>,
    /// `metadata.namespace`.
    #[serde(default)]
    pub namespace: Option<S>,
    /// `metadata.annotations`, in the order written.
    #[serde(default)]
    pub annotations: Option<Annotations<S>>,
}

/// A map of annotations kept as a list of pairs in input order, so that it
/// needs neither hashing nor ordering of the leaf type. Read from JSON or
/// YAML, it keeps at most [`MAX_ENTRIES`]` + 1` pairs (the others are read
/// and dropped): more than [`MAX_ENTRIES`] is an object the admission
/// decision refuses to judge, whatever the rest holds.
#[derive(Clone, Debug)]
pub struct Annotations<S>(pub Vec<(S, S)>);

impl<S> Default for Annotations<S> {
    fn default() -> Self {
        Annotations(Vec::new())
    }
}

impl<'de, S: Deserialize<'de>> Deserialize<'de> for Annotations<S> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PairsVisitor<S>(PhantomData<S>);

        impl<'de, S: Deserialize<'de>> Visitor<'de> for PairsVisitor<S> {
            type Value = Annotations<S>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of strings to strings")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                // The size hint comes from the input: cap it.
                let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(0).min(64));
                while pairs.len() <= MAX_ENTRIES {
                    match map.next_entry()? {
                        Some(pair) => push_bounded(&mut pairs, pair),
                        None => return Ok(Annotations(pairs)),
                    }
                }
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Annotations(pairs))
            }
        }

        deserializer.deserialize_map(PairsVisitor(PhantomData))
    }
}

/// Pushes onto a list that holds at most [`MAX_ENTRIES`]` + 1` entries: the
/// last one is made room for alone, not by doubling the capacity.
pub(super) fn push_bounded<T>(list: &mut Vec<T>, entry: T) {
    if list.len() == MAX_ENTRIES && list.capacity() == MAX_ENTRIES {
        list.reserve_exact(1);
    }
    list.push(entry);
}

/// Reads an optional list (`null` or absent is `None`) keeping at most
/// [`MAX_ENTRIES`]` + 1` entries: the others are read (so the input must
/// still be valid) and dropped, so that a list of a million tiny entries
/// costs no more memory than one just over the bound. A list longer than
/// [`MAX_ENTRIES`] is an object [`find_images`](super::find_images) refuses.
///
/// For the `deserialize_with` of any list of an object read from untrusted
/// input (the webhook's ImageReview containers use it too).
pub fn bounded_list<'de, D, T>(deserializer: D) -> Result<Option<Vec<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct ListVisitor<T>(PhantomData<T>);

    impl<'de, T: Deserialize<'de>> Visitor<'de> for ListVisitor<T> {
        type Value = Option<Vec<T>>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a sequence")
        }

        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_seq(self)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut list = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(16));
            while list.len() <= MAX_ENTRIES {
                match seq.next_element()? {
                    Some(entry) => push_bounded(&mut list, entry),
                    None => return Ok(Some(list)),
                }
            }
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(Some(list))
        }
    }

    deserializer.deserialize_option(ListVisitor(PhantomData))
}

/// The fields of the `spec` of every pod-bearing kind that lead to containers.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(bound(deserialize = "S: Deserialize<'de>"))]
#[non_exhaustive]
pub struct ObjectSpec<S> {
    /// `spec.containers` (Pod).
    #[serde(default, deserialize_with = "bounded_list")]
    pub containers: Option<Vec<Container<S>>>,
    /// `spec.initContainers` (Pod).
    #[serde(rename = "initContainers", default, deserialize_with = "bounded_list")]
    pub init_containers: Option<Vec<Container<S>>>,
    /// `spec.ephemeralContainers` (Pod).
    #[serde(
        rename = "ephemeralContainers",
        default,
        deserialize_with = "bounded_list"
    )]
    pub ephemeral_containers: Option<Vec<Container<S>>>,
    /// `spec.volumes` (Pod).
    #[serde(default, deserialize_with = "bounded_list")]
    pub volumes: Option<Vec<Volume<S>>>,
    /// `spec.template` (ReplicationController, ReplicaSet, Deployment,
    /// StatefulSet, DaemonSet, Job).
    #[serde(default)]
    pub template: Option<Box<PodTemplateSpec<S>>>,
    /// `spec.jobTemplate` (CronJob).
    #[serde(rename = "jobTemplate", default)]
    pub job_template: Option<Box<JobTemplateSpec<S>>>,
}

/// A pod template: `metadata` and `spec`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(bound(deserialize = "S: Deserialize<'de>"))]
#[non_exhaustive]
pub struct PodTemplateSpec<S> {
    /// The metadata the pods get (their annotations, among others).
    #[serde(default)]
    pub metadata: Option<ObjectMeta<S>>,
    /// The pod spec.
    #[serde(default)]
    pub spec: Option<PodSpec<S>>,
}

/// A CronJob's `jobTemplate`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(bound(deserialize = "S: Deserialize<'de>"))]
#[non_exhaustive]
pub struct JobTemplateSpec<S> {
    /// `jobTemplate.spec`.
    #[serde(default)]
    pub spec: Option<JobSpec<S>>,
}

/// A Job's spec, as far as it leads to the pod template.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(bound(deserialize = "S: Deserialize<'de>"))]
#[non_exhaustive]
pub struct JobSpec<S> {
    /// `template`.
    #[serde(default)]
    pub template: Option<PodTemplateSpec<S>>,
}

/// The three lists of containers of a pod spec, and its volumes (an image
/// volume is pulled like a container image).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(bound(deserialize = "S: Deserialize<'de>"))]
#[non_exhaustive]
pub struct PodSpec<S> {
    /// `containers`.
    #[serde(default, deserialize_with = "bounded_list")]
    pub containers: Option<Vec<Container<S>>>,
    /// `initContainers`.
    #[serde(rename = "initContainers", default, deserialize_with = "bounded_list")]
    pub init_containers: Option<Vec<Container<S>>>,
    /// `ephemeralContainers`.
    #[serde(
        rename = "ephemeralContainers",
        default,
        deserialize_with = "bounded_list"
    )]
    pub ephemeral_containers: Option<Vec<Container<S>>>,
    /// `volumes`.
    #[serde(default, deserialize_with = "bounded_list")]
    pub volumes: Option<Vec<Volume<S>>>,
}

/// A volume of a pod spec: its name and, for an image volume, its image.
/// Every other volume source is ignored (none names an image the kubelet
/// pulls; see the [module docs](super)).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(bound(deserialize = "S: Deserialize<'de>"))]
#[non_exhaustive]
pub struct Volume<S> {
    /// `name`.
    #[serde(default)]
    pub name: Option<S>,
    /// `image` (the ImageVolume feature): an OCI image the kubelet pulls and
    /// mounts.
    #[serde(default)]
    pub image: Option<ImageVolumeSource<S>>,
}

/// An image volume's source: the image the kubelet pulls. Its `pullPolicy`
/// is not read: it says when the image is pulled, not which.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(bound(deserialize = "S: Deserialize<'de>"))]
#[non_exhaustive]
pub struct ImageVolumeSource<S> {
    /// `reference`: an image reference, read as a container's `image` is.
    #[serde(default)]
    pub reference: Option<S>,
}

/// A container (or ephemeral container): its name and image.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(bound(deserialize = "S: Deserialize<'de>"))]
#[non_exhaustive]
pub struct Container<S> {
    /// `name`.
    #[serde(default)]
    pub name: Option<S>,
    /// `image`.
    #[serde(default)]
    pub image: Option<S>,
}

impl<S: Text> Object<S> {
    /// The `kind`, if written.
    pub fn kind(&self) -> Option<&str> {
        self.kind.as_ref().map(Text::as_str)
    }

    /// The `apiVersion`, if written.
    pub fn api_version(&self) -> Option<&str> {
        self.api_version.as_ref().map(Text::as_str)
    }

    /// `metadata.name`, or else `metadata.generateName` (a Pod made by a
    /// controller is admitted before it has a name).
    pub fn name(&self) -> Option<&str> {
        let meta = self.metadata.as_ref()?;
        meta.name
            .as_ref()
            .or(meta.generate_name.as_ref())
            .map(Text::as_str)
    }

    /// `metadata.namespace`, if written.
    pub fn namespace(&self) -> Option<&str> {
        let meta = self.metadata.as_ref()?;
        meta.namespace.as_ref().map(Text::as_str)
    }

    /// The object's own annotations, then those of its pod template (for the
    /// kinds that have one), in input order: the pods an object makes carry
    /// the template's annotations, so a policy that reads annotations
    /// (break-glass) sees both. An object of an unknown kind has only its own.
    pub fn annotations(&self) -> impl Iterator<Item = (&str, &str)> {
        let own = self.metadata.as_ref();
        let template = self
            .pod_bearing_kind()
            .ok()
            .and_then(|kind| self.pod_template(kind))
            .and_then(|t| t.metadata.as_ref());
        own.into_iter()
            .chain(template)
            .filter_map(|m| m.annotations.as_ref())
            .flat_map(|a| a.0.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }

    /// `Err` when an annotations map that [`annotations`](Self::annotations)
    /// reads has more than [`MAX_ENTRIES`] entries (only the first were
    /// kept, so a decision that reads annotations, such as break-glass,
    /// could not be made on all of them); `Ok` otherwise, and for an object
    /// of an unknown kind (whose images cannot be found anyway).
    pub fn check_annotations(&self) -> Result<(), ObjectError> {
        let Ok(kind) = self.pod_bearing_kind() else {
            return Ok(());
        };
        let template_path = kind.pod_spec_path().strip_suffix(".spec").unwrap_or("");
        let maps = [
            (self.metadata.as_ref(), ""),
            (
                self.pod_template(kind).and_then(|t| t.metadata.as_ref()),
                template_path,
            ),
        ];
        for (meta, at) in maps {
            let len = meta
                .and_then(|m| m.annotations.as_ref())
                .map_or(0, |a| a.0.len());
            if len > MAX_ENTRIES {
                let dot = if at.is_empty() { "" } else { "." };
                return Err(ObjectError::TooManyEntries {
                    kind,
                    path: format!("{at}{dot}metadata.annotations"),
                    max: MAX_ENTRIES,
                });
            }
        }
        Ok(())
    }

    /// The kind, when it is one of the [`PodBearingKind`]s in an API group
    /// that has it.
    pub fn pod_bearing_kind(&self) -> Result<PodBearingKind, ObjectError> {
        let kind = self.kind().ok_or(ObjectError::MissingKind)?;
        let api_version = self
            .api_version()
            .ok_or_else(|| ObjectError::MissingApiVersion {
                kind: kind.to_owned(),
            })?;
        PodBearingKind::from_type(api_version, kind).ok_or_else(|| ObjectError::UnknownKind {
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
        })
    }

    /// The pod template of a PodTemplate, a workload or a CronJob, if present
    /// (`None` for a Pod).
    pub(super) fn pod_template(&self, kind: PodBearingKind) -> Option<&PodTemplateSpec<S>> {
        use PodBearingKind as K;
        match kind {
            K::Pod => None,
            K::PodTemplate => self.template.as_deref(),
            K::ReplicationController
            | K::ReplicaSet
            | K::Deployment
            | K::StatefulSet
            | K::DaemonSet
            | K::Job => self.spec.as_ref()?.template.as_deref(),
            K::CronJob => self
                .spec
                .as_ref()?
                .job_template
                .as_ref()?
                .spec
                .as_ref()?
                .template
                .as_ref(),
        }
    }
}
