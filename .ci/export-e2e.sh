#!/usr/bin/env bash
# End to end: `image-policy export --format containers-policy` (and
# registries-conf) read by the real skopeo against a real registry.
#
# Starts Debian's docker-registry (the distribution registry) on 127.0.0.1 on
# a free port with a temporary config, builds a tiny image FROM scratch with
# buildah (vfs storage, chroot isolation), pushes it under a few names, then
# copies each name with `skopeo copy --policy exported.json --registries-conf
# exported.conf` and checks that skopeo refuses exactly the names that
# `image-policy check` denies (where the export is exact) and never copies a
# denied one. Exit 0 on success; without the tools it skips, except under
# CI=true, where a missing tool fails.
#
# Usage: .ci/export-e2e.sh [path/to/image-policy]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${1:-$root/target/debug/image-policy}"

for tool in docker-registry buildah skopeo curl; do
  if ! command -v "$tool" >/dev/null; then
    if [ "${CI:-}" = true ]; then
      echo "export-e2e: $tool is required in CI (apt-get install docker-registry buildah skopeo curl)" >&2
      exit 1
    fi
    echo "export-e2e: SKIP ($tool not installed)" >&2
    exit 0
  fi
done
[ -x "$bin" ] || { echo "export-e2e: $bin is missing (cargo build -p image-policy-cli)" >&2; exit 2; }

tmp="$(mktemp -d)"
registry_pid=""
cleanup() {
  if [ -n "$registry_pid" ]; then kill "$registry_pid" 2>/dev/null || true; wait "$registry_pid" 2>/dev/null || true; fi
  buildah --storage-driver vfs --root "$tmp/root" --runroot "$tmp/run" rm --all >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
cat >"$tmp/registry.yml" <<YAML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $tmp/registry
http:
  addr: 127.0.0.1:$port
YAML
docker-registry serve "$tmp/registry.yml" >"$tmp/registry.log" 2>&1 &
registry_pid=$!
for _ in $(seq 50); do
  curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null

# A tiny image, FROM scratch.
b=(buildah --storage-driver vfs --root "$tmp/root" --runroot "$tmp/run")
echo hello >"$tmp/hello.txt"
ctr="$("${b[@]}" from scratch)"
"${b[@]}" copy "$ctr" "$tmp/hello.txt" /hello.txt >/dev/null
"${b[@]}" commit --quiet "$ctr" tiny >/dev/null
"${b[@]}" push --quiet "tiny" "oci:$tmp/tiny:latest" >/dev/null

echo '{"default":[{"type":"insecureAcceptAnything"}]}' >"$tmp/accept.json"
reg="localhost:$port"
names=(
  "$reg/team/app:1"
  "$reg/legacy/app:1"
  "$reg/legacy:1"
  "$reg/other/app:1"
  "127.0.0.1:$port/team/app:1"
)
for n in "${names[@]}"; do
  skopeo --policy "$tmp/accept.json" copy --quiet --dest-tls-verify=false "oci:$tmp/tiny:latest" "docker://$n" >/dev/null
done

cat >"$tmp/policy.yaml" <<YAML
allow:
  - registry: $reg
deny:
  - repository: $reg/legacy/**
  - repository: $reg/other/*
YAML
"$bin" export --policy "$tmp/policy.yaml" --format containers-policy --output "$tmp/policy.json" 2>"$tmp/export.err"
"$bin" export --policy "$tmp/policy.yaml" --format registries-conf --output "$tmp/registries.conf" 2>>"$tmp/export.err"

fail=0
copied=0
refused=0
for n in "${names[@]}"; do
  if "$bin" check --policy "$tmp/policy.yaml" "$n" >/dev/null 2>&1; then check=allowed; else check=denied; fi
  if skopeo --policy "$tmp/policy.json" --registries-conf "$tmp/registries.conf" copy --quiet \
      --src-tls-verify=false "docker://$n" "oci:$tmp/out:x" >"$tmp/copy.log" 2>&1; then
    skopeo_says=copied; copied=$((copied + 1))
  else
    skopeo_says=refused; refused=$((refused + 1))
    if ! grep -qiE 'rejected by policy|not allowed|blocked' "$tmp/copy.log"; then
      echo "export-e2e: $n: skopeo failed for another reason:" >&2
      cat "$tmp/copy.log" >&2
      fail=1
    fi
  fi
  echo "export-e2e: $n: check $check, skopeo $skopeo_says"
  if [ "$skopeo_says" = copied ] && [ "$check" = denied ]; then
    echo "export-e2e: FAIL: skopeo copied $n, which the policy denies" >&2
    fail=1
  fi
done
# Where the export is exact (every name but $reg/legacy:1, which the scope
# $reg/legacy also covers, a narrowing the export warns about) they agree.
expected="copied refused refused refused refused"
got=""
for n in "${names[@]}"; do
  if skopeo --policy "$tmp/policy.json" --registries-conf "$tmp/registries.conf" copy --quiet \
      --src-tls-verify=false "docker://$n" "oci:$tmp/out:x" >/dev/null 2>&1; then got="$got copied"; else got="$got refused"; fi
done
if [ "${got# }" != "$expected" ]; then
  echo "export-e2e: FAIL: skopeo's answers were:${got}; expected: $expected" >&2
  fail=1
fi
grep -q 'legacy' "$tmp/export.err" || { echo "export-e2e: FAIL: no warning about the widened deny scope" >&2; fail=1; }
[ "$copied" -ge 1 ] && [ "$refused" -ge 1 ] || fail=1
[ "$fail" = 0 ] && echo "export-e2e: ok ($copied copied, $refused refused)"
exit "$fail"
