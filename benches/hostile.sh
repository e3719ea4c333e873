#!/usr/bin/env bash
# Peak memory of the HTTPS server under hostile clients, over loopback.
#
#   benches/hostile.sh [IDLE] [PREFACE] [BODIES] [STREAMS]   (defaults: 1000 200 40 100)
#
# Builds release, makes a test CA and serving certificate with
# deploy/gen-certs.sh, starts `image-policy serve --allow-registry
# registry.my.com --rewrite docker.io=<a long path>` under a 1,024-file
# limit (`ulimit -n 1024`, as in many containers) with its default bounds,
# and runs benches/src/bin/hostile.rs: first the hostile bodies of
# image-policy-webhook/tests/it/hostile_bodies.rs on /validate, /mutate and
# /imagereview, each alone REPEAT times with the server's CPU time per
# request, then all of them from 6 connections at once, with the server's
# peak memory after them; then IDLE idle TLS connections, PREFACE HTTP/2 connections that send only their
# preface, BODIES stalled HTTP/1.1 bodies just under the 7 MiB limit, one
# HTTP/2 connection with STREAMS stalled streams of 1 MiB; then 50 reviews
# on fresh connections. Reports how many were answered and the server's
# peak resident memory (VmHWM of /proc/PID/status); the Deployment's limit is
# 128 MiB. Environment: PORT (18444), NOFILE (1024), REPEAT (5; 0 skips the
# hostile bodies).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
idle=${1:-1000}
preface=${2:-200}
bodies=${3:-40}
streams=${4:-100}
port=${PORT:-18444}
nofile=${NOFILE:-1024}
repeat=${REPEAT:-5}

cd "$root"
# The rewrite target of the hostile bodies (hostile_bodies.rs, LONG_REWRITE_TO).
long_to=$(sed -n 's/^pub const LONG_REWRITE_TO: &str = "\(.*\)";$/\1/p' image-policy-webhook/tests/it/hostile_bodies.rs)
cargo build --release --quiet -p image-policy-cli --bin image-policy
cargo build --release --quiet -p image-policy-benches --bin hostile
target=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')

if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  echo "hostile.sh: something already listens on 127.0.0.1:$port; set PORT" >&2
  exit 2
fi

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

(
  ulimit -n "$nofile"
  exec env RUST_LOG=${LOG:-info} "$target/release/image-policy" serve \
    --allow-registry registry.my.com --rewrite "docker.io=$long_to" \
    --tls-cert "$work/tls.crt" --tls-key "$work/tls.key" \
    --listen "127.0.0.1:$port" --log-format json 2> "$work/server.log"
) &
server_pid=$!

for _ in $(seq 100); do
  if curl -sf --cacert "$work/ca.crt" --resolve "localhost:$port:127.0.0.1" \
      "https://localhost:$port/readyz" >/dev/null; then
    break
  fi
  sleep 0.1
done

echo "server: image-policy serve (pid $server_pid), file limit $nofile, $(nproc) cores, $(uname -sr)"
status=0
"$target/release/hostile" --addr "127.0.0.1:$port" --ca "$work/ca.crt" \
  --server-pid "$server_pid" --repeat "$repeat" \
  --idle "$idle" --preface "$preface" --bodies "$bodies" --streams "$streams" || status=$?

peak_kib=$(awk '/^VmHWM:/ {print $2}' "/proc/$server_pid/status")
echo "server peak memory (VmHWM): $((peak_kib / 1024)) MiB ($peak_kib KiB)"
echo "refusals logged: $(grep -c '"result":"invalid"' "$work/server.log" || true)"
exit "$status"
