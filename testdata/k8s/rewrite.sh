#!/usr/bin/env bash
# Regenerates testdata/k8s/objects/rewrites.jsonl: what `image-policy check`
# makes of every image of the fixtures (objects/images.json) with the rewrite
# rules of rewrite-policy.yaml, one JSON line per image (the `rewritten`
# field is the new reference). The /mutate tests of image-policy-webhook
# check that the patched objects carry exactly these references.
#
# Needs jq and cargo. Run from anywhere: `bash testdata/k8s/rewrite.sh`.
set -euo pipefail
cd "$(dirname "$0")"
jq -r '.[][].image' objects/images.json | sort -u \
  | cargo run --quiet -p image-policy-cli -- check --policy rewrite-policy.yaml --format json \
  >objects/rewrites.jsonl
