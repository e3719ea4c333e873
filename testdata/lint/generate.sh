#!/usr/bin/env bash
# Regenerates the kubectl-made fixtures of testdata/lint/tree/kubectl/.
#
# Needs kubectl only (`kubectl create ... --dry-run=client` works offline, without a
# cluster) and python3 for the List.
# The other fixtures (Helm-style output, Dockerfiles, compose files, files to
# skip, a broken file) are written by hand. Run: `bash testdata/lint/generate.sh`.
set -euo pipefail
cd "$(dirname "$0")/tree/kubectl"

ns=shop
registry=registry.my.com

# One image the policy allows, one it does not (Docker Hub).
kubectl create deployment web -n "$ns" \
  --image="$registry/shop/web:1.4.2" --image=prometheus:2.6.1 \
  --dry-run=client -o yaml >deployment.yaml

# Allowed.
kubectl create job db-migrate -n "$ns" --image="$registry/shop/migrate:1.4.2" \
  --dry-run=client -o yaml -- /migrate up >job.yaml

# JSON; busybox has no tag (latest implied) and is on Docker Hub.
kubectl create cronjob nightly-report -n "$ns" --image=busybox \
  --schedule='0 3 * * *' --dry-run=client -o json -- /report --since=24h >cronjob.json

# A bare Pod (`kubectl run` needs a server even with --dry-run=client): the
# pod template of a kubectl-made Deployment, with the fields a Pod has.
kubectl create deployment debug -n "$ns" --image=nginx:latest \
  --dry-run=client -o json \
  | python3 -c '
import json, sys
d = json.load(sys.stdin)
t = d["spec"]["template"]
pod = {"apiVersion": "v1", "kind": "Pod",
       "metadata": dict(t["metadata"], name="debug", namespace=d["metadata"]["namespace"]),
       "spec": dict(t["spec"], restartPolicy="Never"), "status": {}}
print(json.dumps(pod, indent=2))' >pod.json

# A List, as `kubectl get deployments,jobs -o json` prints it, of two
# kubectl-made objects.
scratch=$(mktemp -d)
kubectl create deployment api -n "$ns" --image="$registry/shop/api:3.1.0" \
  --dry-run=client -o json >"$scratch/a.json"
kubectl create job report -n "$ns" --image=quay.io/prometheus/node-exporter:v1.8.0 \
  --dry-run=client -o json >"$scratch/b.json"
python3 - "$scratch/a.json" "$scratch/b.json" >list.json <<'PY'
import json, sys
items = [json.load(open(p)) for p in sys.argv[1:]]
print(json.dumps({"apiVersion": "v1", "items": items, "kind": "List",
                  "metadata": {"resourceVersion": ""}}, indent=4))
PY
rm -rf "$scratch"

# Image volumes (the ImageVolume feature): kubectl has no flag for them, so the
# kubectl-made YAML gets a `volumes` list written as kubectl writes one (keys
# sorted, two-space indent): a Deployment whose image volume pulls an image
# the policy denies, then a CronJob whose image volume is allowed.
add_volumes() { # indent reference
  python3 -c '
import sys
indent, reference = sys.argv[1], sys.argv[2]
text = sys.stdin.read()
anchor = indent + "  resources: {}\n"
at = text.rindex(anchor) + len(anchor)
volumes = "".join(indent + line + "\n" for line in [
    "volumes:", "- configMap:", "    name: assets", "  name: config",
    "- image:", "    pullPolicy: IfNotPresent", "    reference: " + reference,
    "  name: payload"])
sys.stdout.write(text[:at] + volumes + text[at:])' "$1" "$2"
}
{
  kubectl create deployment assets -n "$ns" --image="$registry/shop/web:1.4.2" \
    --dry-run=client -o yaml | add_volumes "      " evil.io/payload:1
  echo ---
  kubectl create cronjob assets-sync -n "$ns" --image="$registry/shop/sync:1.0.0" \
    --schedule='*/5 * * * *' --dry-run=client -o yaml -- /sync \
    | add_volumes "          " "$registry/shop/assets:1.4.2"
} >image-volume.yaml

# The issue's example, as a newcomer would pipe it into `image-policy lint -`.
cd ../..
kubectl create deployment x --image=prometheus:2.6.1 --dry-run=client -o yaml >stdin-deployment.yaml

# testdata/lint/cases/: a kubectl-made Deployment with its containers list
# emptied (`containers: []`), which the API server rejects.
kubectl create deployment empty -n shop --image=registry.my.com/a:1 --dry-run=client -o yaml \
  | python3 -c '
import sys
t = sys.stdin.read()
start = t.index("      containers:")
end = t.index("resources: {}") + len("resources: {}") + 1
print(t[:start] + "      containers: []\n" + t[end:], end="")' >cases/empty-containers.yaml

# testdata/lint/kustomize/base/: the resource of a kustomization whose
# images: overrides are judged (the kustomization files are written by hand).
kubectl create deployment web -n shop --image=registry.my.com/shop/web:1.4.2 --image=prometheus:2.6.1 \
  --image=busybox:1.36 \
  --image=quay.io/app/api:3@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 \
  --dry-run=client -o yaml >kustomize/base/deployment.yaml

# testdata/lint/content/: Kubernetes manifests under compose names (read by
# content, not name); the compose file and values file there are hand-written.
kubectl create deployment web -n shop --image=evil.example/payload:1 --dry-run=client -o yaml \
  >content/docker-compose.yml
kubectl create deployment api -n shop --image=evil.example/api:2 --dry-run=client -o yaml \
  >content/app.compose.yaml
