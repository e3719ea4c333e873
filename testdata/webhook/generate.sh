#!/usr/bin/env bash
# Regenerates the AdmissionReview requests of testdata/webhook/ from the
# kubectl-made objects of testdata/k8s/objects/ (see testdata/k8s/generate.sh).
# Needs jq. The requests are compact JSON, as the API server sends them, with
# the fields a v1 AdmissionReview request has (userInfo, options, dryRun...).
#
# - admissionreview-deployment.json: CREATE of the Deployment with 3 containers
#   and 1 init container (the benchmark review);
# - admissionreview-pod-debug.json: `kubectl debug` adding an ephemeral
#   container, an UPDATE of pods/ephemeralcontainers with the whole Pod;
# - admissionreview-pod-image-volume.json: CREATE of a Pod whose containers are
#   all allowed and whose image volume (volumes[1].image.reference) pulls
#   evil.io/payload:1;
# - admissionreview-deployment-image-volume-update.json: UPDATE of the
#   Deployment with an image volume, which the old object already has
#   (existing), and a second image volume that is new (judged).
#
# The imagereview-*.json files are written by hand: imagereview-docs-example
# is the example request of the Kubernetes documentation (admission
# controllers, ImagePolicyWebhook), the seed ones are the README's example.
set -euo pipefail
cd "$(dirname "$0")"
objects=../k8s/objects

review() { # group version kind resource subresource operation uid object oldObject
  jq -c -n --arg g "$1" --arg v "$2" --arg k "$3" --arg r "$4" --arg sub "$5" \
    --arg op "$6" --arg uid "$7" --argjson obj "$8" --argjson old "$9" '{
    apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview",
    request: ({
      uid: $uid,
      kind: {group: $g, version: $v, kind: $k},
      resource: {group: $g, version: $v, resource: $r},
      requestKind: {group: $g, version: $v, kind: $k},
      requestResource: {group: $g, version: $v, resource: $r},
      name: ($obj.metadata.name // ""), namespace: $obj.metadata.namespace,
      operation: $op,
      userInfo: {username: "kubernetes-admin", groups: ["kubeadm:cluster-admins", "system:authenticated"]},
      object: $obj, oldObject: $old, dryRun: false,
      options: (if $op == "CREATE" then {kind: "CreateOptions", apiVersion: "meta.k8s.io/v1", fieldManager: "kubectl-client-side-apply", fieldValidation: "Strict"}
                else {kind: "UpdateOptions", apiVersion: "meta.k8s.io/v1", fieldManager: "kubectl-debug", fieldValidation: "Strict"} end)
    } + (if $sub == "" then {} else {subResource: $sub, requestSubResource: $sub} end))
  }'
}

deployment=$(jq -c . "$objects/deployment.json")
review apps v1 Deployment deployments "" CREATE 705ab4f5-6393-11e8-b7cc-42010a800002 \
  "$deployment" null >admissionreview-deployment.json

pod=$(jq -c '.metadata.name = "web-7d9c5b8f4-x2x9q"' "$objects/pod.json")
old_pod=$(jq -c 'del(.spec.ephemeralContainers)' <<<"$pod")
review "" v1 Pod pods ephemeralcontainers UPDATE 0df28fbd-5f5f-11e8-bc74-36e6bb280816 \
  "$pod" "$old_pod" >admissionreview-pod-debug.json

pod=$(jq -c '.metadata.name = "web-7d9c5b8f4-x2x9q" | del(.spec.ephemeralContainers)
  | .spec.volumes[1].image.reference = "evil.io/payload:1"' "$objects/pod-image-volume.json")
review "" v1 Pod pods "" CREATE 3b1d7c52-8f1e-4c55-9e0b-6f3a2d9c1e47 \
  "$pod" null >admissionreview-pod-image-volume.json

old=$(jq -c '.spec.template.spec.volumes[1].image.reference = "evil.io/existing:1"' \
  "$objects/deployment-image-volume.json")
new=$(jq -c '.spec.replicas = 3 | .spec.template.spec.volumes += [{name: "payload",
  image: {reference: "evil.io/payload:1", pullPolicy: "Always"}}]' <<<"$old")
review apps v1 Deployment deployments "" UPDATE 9e4f0a6b-2c7d-4d1a-8b3e-5f6a7b8c9d0e \
  "$new" "$old" | jq -c '.request.options.fieldManager = "kubectl-client-side-apply"' \
  >admissionreview-deployment-image-volume-update.json

wc -c admissionreview-*.json
