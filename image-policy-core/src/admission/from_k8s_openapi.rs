//! The `k8s_openapi` types as [`Object`]s, borrowed (feature `k8s-openapi`):
//! `Object::from(&deployment)` and [`decide`](super::decide) it.
//!
//! Every kind that runs containers converts: [`Pod`], [`PodTemplate`],
//! [`ReplicationController`], [`Deployment`], [`StatefulSet`], [`DaemonSet`],
//! [`ReplicaSet`], [`Job`], [`CronJob`]; and a bare [`PodSpec`], as a Pod
//! without metadata (its images' paths are then `spec.containers[0].image`).
//! The conversion copies references to the fields on the way to the images
//! (names, annotations, images), never a string.
//!
//! The crate does not choose a Kubernetes version: as k8s-openapi asks of a
//! library, it depends on `k8s-openapi` without features, and the final
//! binary enables one (`v1_33`, `latest`, ...).

use std::borrow::Cow;

use k8s_openapi::Resource;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::core::v1::{Pod, PodSpec, PodTemplate, ReplicationController};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::k8s::{self, CowStr, Object};

fn s(s: &str) -> CowStr<'_> {
    CowStr(Cow::Borrowed(s))
}

fn opt(o: &Option<String>) -> Option<CowStr<'_>> {
    o.as_deref().map(s)
}

fn meta(m: &ObjectMeta) -> k8s::ObjectMeta<CowStr<'_>> {
    k8s::ObjectMeta {
        name: opt(&m.name),
        generate_name: opt(&m.generate_name),
        namespace: opt(&m.namespace),
        annotations: m
            .annotations
            .as_ref()
            .map(|a| k8s::Annotations(a.iter().map(|(k, v)| (s(k), s(v))).collect())),
    }
}

fn container<'a>(name: &'a str, image: &'a Option<String>) -> k8s::Container<CowStr<'a>> {
    k8s::Container {
        name: Some(s(name)),
        image: opt(image),
    }
}

fn pod_spec(spec: &PodSpec) -> k8s::PodSpec<CowStr<'_>> {
    k8s::PodSpec {
        containers: Some(
            spec.containers
                .iter()
                .map(|c| container(&c.name, &c.image))
                .collect(),
        ),
        init_containers: spec
            .init_containers
            .as_ref()
            .map(|l| l.iter().map(|c| container(&c.name, &c.image)).collect()),
        ephemeral_containers: spec
            .ephemeral_containers
            .as_ref()
            .map(|l| l.iter().map(|c| container(&c.name, &c.image)).collect()),
        volumes: spec
            .volumes
            .as_ref()
            .map(|l| l.iter().map(volume).collect()),
    }
}

fn volume(v: &core::Volume) -> k8s::Volume<CowStr<'_>> {
    k8s::Volume {
        name: Some(s(&v.name)),
        image: v.image.as_ref().map(|i| k8s::ImageVolumeSource {
            reference: opt(&i.reference),
        }),
    }
}

fn template(t: &core::PodTemplateSpec) -> k8s::PodTemplateSpec<CowStr<'_>> {
    k8s::PodTemplateSpec {
        metadata: t.metadata.as_ref().map(meta),
        spec: t.spec.as_ref().map(pod_spec),
    }
}

/// An object of kind `R` with `metadata` and `spec`.
fn object<'a, R: Resource>(
    metadata: &'a ObjectMeta,
    spec: Option<k8s::ObjectSpec<CowStr<'a>>>,
) -> Object<CowStr<'a>> {
    Object {
        api_version: Some(s(R::API_VERSION)),
        kind: Some(s(R::KIND)),
        metadata: Some(meta(metadata)),
        spec,
        template: None,
    }
}

/// The spec of a workload: its pod template.
fn with_template(t: Option<&core::PodTemplateSpec>) -> k8s::ObjectSpec<CowStr<'_>> {
    k8s::ObjectSpec {
        template: t.map(|t| Box::new(template(t))),
        ..k8s::ObjectSpec::default()
    }
}

impl<'a> From<&'a Pod> for Object<CowStr<'a>> {
    fn from(pod: &'a Pod) -> Self {
        let spec = pod.spec.as_ref().map(|spec| {
            let p = pod_spec(spec);
            k8s::ObjectSpec {
                containers: p.containers,
                init_containers: p.init_containers,
                ephemeral_containers: p.ephemeral_containers,
                volumes: p.volumes,
                ..k8s::ObjectSpec::default()
            }
        });
        object::<Pod>(&pod.metadata, spec)
    }
}

/// A Pod without metadata that has this spec.
impl<'a> From<&'a PodSpec> for Object<CowStr<'a>> {
    fn from(spec: &'a PodSpec) -> Self {
        let p = pod_spec(spec);
        Object {
            api_version: Some(s(Pod::API_VERSION)),
            kind: Some(s(Pod::KIND)),
            spec: Some(k8s::ObjectSpec {
                containers: p.containers,
                init_containers: p.init_containers,
                ephemeral_containers: p.ephemeral_containers,
                volumes: p.volumes,
                ..k8s::ObjectSpec::default()
            }),
            ..Object::default()
        }
    }
}

impl<'a> From<&'a PodTemplate> for Object<CowStr<'a>> {
    fn from(t: &'a PodTemplate) -> Self {
        Object {
            template: t.template.as_ref().map(|t| Box::new(template(t))),
            ..object::<PodTemplate>(&t.metadata, None)
        }
    }
}

impl<'a> From<&'a ReplicationController> for Object<CowStr<'a>> {
    fn from(o: &'a ReplicationController) -> Self {
        let spec = o.spec.as_ref().map(|s| with_template(s.template.as_ref()));
        object::<ReplicationController>(&o.metadata, spec)
    }
}

impl<'a> From<&'a ReplicaSet> for Object<CowStr<'a>> {
    fn from(o: &'a ReplicaSet) -> Self {
        let spec = o.spec.as_ref().map(|s| with_template(s.template.as_ref()));
        object::<ReplicaSet>(&o.metadata, spec)
    }
}

impl<'a> From<&'a Deployment> for Object<CowStr<'a>> {
    fn from(o: &'a Deployment) -> Self {
        let spec = o.spec.as_ref().map(|s| with_template(Some(&s.template)));
        object::<Deployment>(&o.metadata, spec)
    }
}

impl<'a> From<&'a StatefulSet> for Object<CowStr<'a>> {
    fn from(o: &'a StatefulSet) -> Self {
        let spec = o.spec.as_ref().map(|s| with_template(Some(&s.template)));
        object::<StatefulSet>(&o.metadata, spec)
    }
}

impl<'a> From<&'a DaemonSet> for Object<CowStr<'a>> {
    fn from(o: &'a DaemonSet) -> Self {
        let spec = o.spec.as_ref().map(|s| with_template(Some(&s.template)));
        object::<DaemonSet>(&o.metadata, spec)
    }
}

impl<'a> From<&'a Job> for Object<CowStr<'a>> {
    fn from(o: &'a Job) -> Self {
        let spec = o.spec.as_ref().map(|s| with_template(Some(&s.template)));
        object::<Job>(&o.metadata, spec)
    }
}

impl<'a> From<&'a CronJob> for Object<CowStr<'a>> {
    fn from(o: &'a CronJob) -> Self {
        let spec = o.spec.as_ref().map(|s| k8s::ObjectSpec {
            job_template: Some(Box::new(k8s::JobTemplateSpec {
                spec: s.job_template.spec.as_ref().map(|j| k8s::JobSpec {
                    template: Some(template(&j.template)),
                }),
            })),
            ..k8s::ObjectSpec::default()
        });
        object::<CronJob>(&o.metadata, spec)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde::de::DeserializeOwned;

    use super::*;
    use crate::k8s::find_images;

    /// Each committed object read as its k8s_openapi type and converted has
    /// the images, places and annotations of the same object read as JSON.
    #[test]
    fn every_kind_converts_as_its_json_reads() {
        fn check<T: DeserializeOwned>(file: &str)
        where
            for<'a> Object<CowStr<'a>>: From<&'a T>,
        {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../testdata/k8s/objects")
                .join(file);
            let text = std::fs::read_to_string(&path).expect("the object");
            let typed: T = serde_json::from_str(&text).expect("a k8s_openapi object");
            let converted = Object::from(&typed);
            let read: Object<CowStr<'_>> = serde_json::from_str(&text).expect("an object");
            let images = |o: &Object<CowStr<'_>>| {
                find_images(o)
                    .expect("images")
                    .iter()
                    .map(|f| (f.image.to_string(), f.container.to_owned(), f.json_path))
                    .collect::<Vec<_>>()
            };
            assert_eq!(images(&converted), images(&read), "{file}");
            assert!(!images(&read).is_empty(), "{file}");
            let mut a: Vec<_> = converted.annotations().collect();
            let mut b: Vec<_> = read.annotations().collect();
            // k8s_openapi keeps annotations in a BTreeMap: sorted.
            a.sort();
            b.sort();
            assert_eq!(a, b, "{file}");
            assert_eq!(converted.name(), read.name(), "{file}");
            assert_eq!(converted.namespace(), read.namespace(), "{file}");
        }
        for variant in ["", "-image-volume"] {
            check::<Pod>(&format!("pod{variant}.json"));
            check::<PodTemplate>(&format!("podtemplate{variant}.json"));
            check::<ReplicationController>(&format!("replicationcontroller{variant}.json"));
            check::<ReplicaSet>(&format!("replicaset{variant}.json"));
            check::<Deployment>(&format!("deployment{variant}.json"));
            check::<StatefulSet>(&format!("statefulset{variant}.json"));
            check::<DaemonSet>(&format!("daemonset{variant}.json"));
            check::<Job>(&format!("job{variant}.json"));
            check::<CronJob>(&format!("cronjob{variant}.json"));
        }
        check::<Deployment>("deployment-ephemeral.json");
    }

    #[test]
    fn a_pod_spec_is_a_pod_without_metadata() {
        let spec: PodSpec = serde_json::from_str(
            r#"{"containers":[{"name":"web","image":"nginx:1.27"}],
                "volumes":[{"name":"assets","image":{"reference":"registry.my.com/assets:1"}}]}"#,
        )
        .expect("a pod spec");
        let object = Object::from(&spec);
        let paths: Vec<String> = find_images(&object)
            .expect("images")
            .iter()
            .map(|f| f.json_path.to_string())
            .collect();
        assert_eq!(
            paths,
            [
                "spec.containers[0].image",
                "spec.volumes[0].image.reference"
            ]
        );
    }
}
