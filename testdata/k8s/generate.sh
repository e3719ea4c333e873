#!/usr/bin/env bash
# Regenerates the Kubernetes object fixtures of testdata/k8s/objects/.
#
# Needs kubectl (no cluster: `kubectl create ... --dry-run=client` works
# offline) and jq. Run from anywhere: `bash testdata/k8s/generate.sh`.
#
# - deployment, job and cronjob are made by `kubectl create`;
# - pod, podtemplate, replicaset, replicationcontroller, statefulset and
#   daemonset are made from the generated Deployment's pod template, with the
#   top-level fields each kind has (selector, serviceName, ...), as their
#   controllers or `kubectl get -o json` would show them;
# - kubectl has no flag for init or ephemeral containers: jq adds them, so that
#   every kind has containers and init containers, and the Pod has an ephemeral
#   container as `kubectl debug` adds one (PATCH of pods/ephemeralcontainers).
#   The API server rejects ephemeral containers in templates; the Deployment
#   has one anyway in deployment-ephemeral.json, to check that they are
#   reported wherever they are written.
#
# - image volumes (the ImageVolume feature, `volumes[].image.reference`, pulled
#   by the kubelet like a container image): kubectl has no flag for them
#   either; every object above gets a copy, NAME-image-volume.json, whose pod
#   spec has a configMap volume and then an image volume (index 1), as a user
#   would add it to the kubectl-made object.
#
# For each object, images.json records every image with its JSON path, found
# by jq (every `image` field under a containers list, every `image.reference`
# under `volumes`), as the answers the Rust image discovery is checked
# against.
set -euo pipefail
cd "$(dirname "$0")/objects"

ns=shop
registry=registry.my.com

# An init container as the workload fixtures carry it.
init='{"name":"migrate","image":"'$registry'/shop/migrate:1.4.2","resources":{}}'
with_init() { jq --argjson c "$init" "$1 += [\$c]"; }

kubectl create deployment web -n "$ns" \
  --image="$registry/shop/web:1.4.2" \
  --image="$registry/mirror/envoyproxy/envoy:v1.31.0" \
  --image="$registry/observability/exporter:0.9.1" \
  --dry-run=client -o json \
  | with_init '.spec.template.spec.initContainers' >deployment.json

# The same Deployment as YAML, untouched, for the spanned (line/column) reader.
kubectl create deployment web -n "$ns" \
  --image="$registry/shop/web:1.4.2" \
  --image="$registry/mirror/envoyproxy/envoy:v1.31.0" \
  --dry-run=client -o yaml >deployment.yaml

kubectl create job db-migrate -n "$ns" --image="$registry/shop/migrate:1.4.2" \
  --dry-run=client -o json -- /migrate up \
  | with_init '.spec.template.spec.initContainers' >job.json

kubectl create cronjob nightly-report -n "$ns" --image="$registry/shop/report:2.0.0" \
  --schedule='0 3 * * *' --dry-run=client -o json -- /report --since=24h \
  | with_init '.spec.jobTemplate.spec.template.spec.initContainers' >cronjob.json

kubectl create cronjob nightly-report -n "$ns" --image="$registry/shop/report:2.0.0" \
  --schedule='0 3 * * *' --dry-run=client -o yaml -- /report --since=24h >cronjob.yaml

template=$(jq '.spec.template' deployment.json)
labels='{"app":"web"}'

# A Pod as the ReplicaSet controller creates it (generateName, no name yet),
# with an ephemeral container added by `kubectl debug`.
jq -n --argjson t "$template" --arg ns "$ns" --arg r "$registry" '{
  kind: "Pod", apiVersion: "v1",
  metadata: ($t.metadata + {generateName: "web-7d9c5b8f4-", namespace: $ns}),
  spec: ($t.spec + {ephemeralContainers: [{
    name: "debugger-x7k2p", image: ($r + "/tools/busybox:1.36"),
    resources: {}, stdin: true, tty: true, targetContainerName: "web",
    terminationMessagePolicy: "File", imagePullPolicy: "IfNotPresent"}]}),
  status: {}
}' >pod.json

jq -n --argjson t "$template" --arg ns "$ns" '{
  kind: "PodTemplate", apiVersion: "v1",
  metadata: {name: "web", namespace: $ns, creationTimestamp: null},
  template: $t
}' >podtemplate.json

jq -n --argjson t "$template" --arg ns "$ns" --argjson l "$labels" '{
  kind: "ReplicationController", apiVersion: "v1",
  metadata: {name: "web", namespace: $ns, creationTimestamp: null, labels: $l},
  spec: {replicas: 1, selector: $l, template: $t},
  status: {replicas: 0}
}' >replicationcontroller.json

jq -n --argjson t "$template" --arg ns "$ns" --argjson l "$labels" '{
  kind: "ReplicaSet", apiVersion: "apps/v1",
  metadata: {name: "web-7d9c5b8f4", namespace: $ns, creationTimestamp: null, labels: $l},
  spec: {replicas: 1, selector: {matchLabels: $l}, template: $t},
  status: {replicas: 0}
}' >replicaset.json

jq -n --argjson t "$template" --arg ns "$ns" --argjson l "$labels" '{
  kind: "StatefulSet", apiVersion: "apps/v1",
  metadata: {name: "web", namespace: $ns, creationTimestamp: null, labels: $l},
  spec: {replicas: 1, selector: {matchLabels: $l}, serviceName: "web", template: $t,
         updateStrategy: {}},
  status: {replicas: 0, availableReplicas: 0}
}' >statefulset.json

jq -n --argjson t "$template" --arg ns "$ns" --argjson l "$labels" '{
  kind: "DaemonSet", apiVersion: "apps/v1",
  metadata: {name: "web", namespace: $ns, creationTimestamp: null, labels: $l},
  spec: {selector: {matchLabels: $l}, template: $t, updateStrategy: {}},
  status: {currentNumberScheduled: 0, numberMisscheduled: 0, desiredNumberScheduled: 0, numberReady: 0}
}' >daemonset.json

jq --arg r "$registry" '.metadata.name = "web-debug"
  | .spec.template.spec.ephemeralContainers = [{name: "debugger", image: ($r + "/tools/busybox:1.36"), resources: {}}]' \
  deployment.json >deployment-ephemeral.json

volumes='[{"name":"config","configMap":{"name":"web"}},
  {"name":"assets","image":{"reference":"'$registry'/shop/assets:1.4.2","pullPolicy":"IfNotPresent"}}]'
for name in deployment job cronjob pod podtemplate replicationcontroller replicaset statefulset daemonset; do
  case $name in
    pod) spec='.spec' ;;
    podtemplate) spec='.template.spec' ;;
    cronjob) spec='.spec.jobTemplate.spec.template.spec' ;;
    *) spec='.spec.template.spec' ;;
  esac
  jq --argjson v "$volumes" "$spec.volumes = \$v" "$name.json" >"$name-image-volume.json"
done

# The answers: every image under a containers list and every image volume's
# reference, with its path and the container's (or volume's) name.
for f in *.json; do
  [ "$f" = images.json ] && continue
  jq --arg f "$f" '{($f): [paths(type == "string") as $p
      | select(($p[-1] == "image" and ($p[-3] | IN("containers", "initContainers", "ephemeralContainers")))
               or ($p[-1] == "reference" and $p[-2] == "image" and $p[-4] == "volumes"))
      | {path: ($p | map(if type == "number" then "[\(.)]" else ".\(.)" end) | join("") | ltrimstr(".") | gsub("\\.\\["; "[")),
         container: (getpath($p[:($p | rindex("image"))]) | .name), image: getpath($p)}]}' "$f"
done | jq -s 'add' >images.json
