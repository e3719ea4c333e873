#!/usr/bin/env bash
# Regenerates the fixtures of testdata/lint/kubectl-reading/: kubectl-made
# objects (`kubectl create ... --dry-run=client`, offline) with one construct
# each that kubectl's reader (apimachinery's line splitter, go-yaml v2) reads
# differently from YAML 1.2. The expected findings are in
# image-policy-lint/tests/it/kubectl_reading.rs (`FIXTURES`).
# Run: `bash testdata/lint/kubectl-reading/generate.sh`.
set -euo pipefail
cd "$(dirname "$0")"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

kubectl create deployment web --image=registry.my.com/web:1.0 --dry-run=client -o yaml >"$tmp/allowed.yaml"
kubectl create deployment payload --image=evil.io/payload:1 --dry-run=client -o yaml >"$tmp/denied.yaml"
kubectl create configmap settings --from-literal=mode=prod --dry-run=client -o yaml >"$tmp/cm.yaml"
kubectl create configmap settings --from-literal=mode=prod --dry-run=client -o json >"$tmp/cm.json"
kubectl create deployment payload --image=evil.io/payload:1 --dry-run=client -o json >"$tmp/denied.json"

python3 - "$tmp" <<'EOF'
import sys
tmp = sys.argv[1]
read = lambda name: open(f"{tmp}/{name}", encoding="utf-8").read()
allowed, denied, cm = read("allowed.yaml"), read("denied.yaml"), read("cm.yaml")
cm_json, denied_json = read("cm.json"), read("denied.json")
image = "      - image: registry.my.com/web:1.0\n"
assert image in allowed

def write(name, text):
    with open(name, "w", encoding="utf-8", newline="") as f:
        f.write(text)

# `---` then a no-break space: a separator for kubectl (Go's TrimSpace), text for YAML 1.2.
write("separator-nbsp.yaml", cm + "---\u00a0\n" + denied)
# `--- |`: kubectl stops at this line ("invalid Yaml document separator").
write("separator-invalid.yaml", allowed + "--- |\n" + denied)
# The same key twice: kubectl sends the last value.
write("duplicate-key.yaml", allowed.replace(image, image + "        image: evil.io/payload:1\n"))
# A LINE SEPARATOR ends the comment for go-yaml v2 (YAML 1.1): a second image line.
write("line-separator-comment.yaml", allowed.replace(
    image, image.rstrip("\n") + " # pinned\u2028        image: evil.io/payload:1\n"))
# A NEL likewise.
write("nel-comment.yaml", allowed.replace(
    image, image.rstrip("\n") + " # pinned\u0085        image: evil.io/payload:1\n"))
# A merge key after `kind`: go-yaml v2 applies it in order, so kind becomes Pod.
pod = "<<: {kind: Pod, spec: {containers: [{name: payload, image: evil.io/payload:1}]}}\n"
write("merge-key-kind.yaml", cm + pod)
# Two JSON objects back to back: kubectl's JSON decoder reads both.
write("json-stream.json", cm_json + denied_json)


def item(obj, drop=()):
    """An object as an entry of `items:` (block style), without the top-level keys in `drop`."""
    lines = [l for l in obj.splitlines() if not any(l.startswith(k + ":") for k in drop)]
    return "".join(("- " if i == 0 else "  ") + l + "\n" for i, l in enumerate(lines))

# Any object with `items` is a list for kubectl: it sends the items, not the object.
write("items-any-kind.yaml", allowed + "items:\n" + item(denied))
# An item with neither kind nor apiVersion gets the list's kind without `List`.
write("list-item-kind.yaml", "apiVersion: apps/v1\nkind: DeploymentList\nitems:\n"
      + item(denied, drop=("apiVersion", "kind")))
# A list inside a list: kubectl stops ("not a list: no Items field").
write("list-in-list.yaml", "apiVersion: v1\nkind: List\nitems:\n" + item(allowed)
      + item("apiVersion: v1\nkind: List\nitems:\n" + item(denied)))
# A document without kind: kubectl sends what came before and stops there.
write("document-without-kind.yaml", allowed + "---\n" + "image: evil.io/payload:1\nreplicas: 2\n")
# An unrendered template: `{{replicas}}` is a mapping as a key, which kubectl
# cannot turn into JSON; it stops.
assert "  replicas: 1\n" in allowed
write("template-key.yaml", cm + "---\n" + allowed.replace("  replicas: 1\n", "  replicas: {{replicas}}\n"))
# A stream that starts with `{` is JSON for kubectl: a YAML flow mapping stops
# its JSON decoder before the first object.
write("flow-mapping.yaml", "{apiVersion: v1, kind: Pod, metadata: {name: payload},\n"
      " spec: {containers: [{name: payload, image: evil.io/payload:1}]}}\n")
# kubectl's reader drops a leading byte-order mark: still a JSON stream, and
# what follows the first object is read its own way.
write("bom-json-stream.json", "\ufeff" + cm_json + denied_json)
EOF
