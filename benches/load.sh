#!/usr/bin/env bash
# Load test of the running HTTPS server over loopback.
#
#   benches/load.sh [DURATION_S] [CONNECTIONS]      (defaults: 10 s, 32 connections)
#
# Builds release, makes a test CA and serving certificate with
# deploy/gen-certs.sh, starts `image-policy serve --allow-registry
# registry.my.com` (decision log on, as in production, to a file), runs
# benches/src/bin/loadgen.rs (keep-alive HTTP/1.1 over TLS, the seed
# ImageReview), and reports the generator's figures and the server's peak
# resident memory (VmHWM of /proc/PID/status).
# Environment: PORT (default: a free port; a given PORT must be free, or the
# script stops rather than load-test whatever listens there), LOADGEN_THREADS (1), LOG (info; RUST_LOG for the
# server), ENDPOINT (imagereview or validate; validate sends the AdmissionReview
# of testdata/k8s/objects/deployment.json).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
duration=${1:-10}
connections=${2:-32}
port=${PORT:-}
threads=${LOADGEN_THREADS:-1}
endpoint=${ENDPOINT:-imagereview}

# Whether something accepts connections on 127.0.0.1:$1.
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if [[ -z "$port" ]]; then
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
elif listening "$port"; then
  echo "load.sh: something already listens on 127.0.0.1:$port; stop it or choose another PORT" >&2
  exit 2
fi

cd "$root"
cargo build --release --quiet -p image-policy-cli --bin image-policy
cargo build --release --quiet -p image-policy-benches --bin loadgen
target=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')

work=$(mktemp -d)
server_pid=
cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

EXTRA_SANS=DNS:localhost deploy/gen-certs.sh "$work" 2>/dev/null

body_args=()
if [[ "$endpoint" == validate ]]; then
  # An AdmissionReview CREATE of the Deployment fixture (3 containers, 1 init container).
  python3 - "$root/testdata/k8s/objects/deployment.json" > "$work/review.json" <<'PY'
import json, sys
obj = json.load(open(sys.argv[1]))
gvr = {"group": "apps", "version": "v1"}
print(json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
    "uid": "0b9a7c4e-2f6d-4c1e-9a55-6f1d3c2b8e01",
    "kind": dict(gvr, kind="Deployment"), "resource": dict(gvr, resource="deployments"),
    "name": obj["metadata"]["name"], "namespace": obj["metadata"]["namespace"],
    "operation": "CREATE", "userInfo": {"username": "kubernetes-admin"},
    "object": obj, "oldObject": None, "dryRun": False}}))
PY
  body_args=(--body "$work/review.json")
fi

RUST_LOG=${LOG:-info} "$target/release/image-policy" serve \
  --allow-registry registry.my.com \
  --tls-cert "$work/tls.crt" --tls-key "$work/tls.key" \
  --listen "127.0.0.1:$port" --log-format json 2> "$work/server.log" &
server_pid=$!

ready=
for _ in $(seq 100); do
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "load.sh: the server exited at startup:" >&2
    cat "$work/server.log" >&2
    exit 2
  fi
  if curl -sf --cacert "$work/ca.crt" --resolve "localhost:$port:127.0.0.1" \
      "https://localhost:$port/readyz" >/dev/null; then
    ready=1
    break
  fi
  sleep 0.1
done
if [[ -z "$ready" ]]; then
  echo "load.sh: the server on port $port never became ready:" >&2
  cat "$work/server.log" >&2
  exit 2
fi

echo "server: image-policy serve (pid $server_pid), $(nproc) cores, $(uname -sr)"
status=0
"$target/release/loadgen" --addr "127.0.0.1:$port" --ca "$work/ca.crt" \
  --server-name localhost --path "/$endpoint" "${body_args[@]}" \
  --connections "$connections" --duration "$duration" --threads "$threads" || status=$?

peak_kib=$(awk '/^VmHWM:/ {print $2}' "/proc/$server_pid/status")
echo "server peak memory (VmHWM): $((peak_kib / 1024)) MiB ($peak_kib KiB)"
echo "decision log lines: $(grep -c '"target":"image_policy::decision"' "$work/server.log" || true)"
exit "$status"
