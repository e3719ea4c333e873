#!/usr/bin/env bash
# Builds containerd-pull-host against Debian's containerd sources
# (golang-github-containerd-containerd-dev, 1.6), offline, with Debian's Go.
# Usage: build.sh OUTDIR; prints the binary's path.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build.sh OUTDIR}
src=/usr/share/gocode/src/github.com/containerd/containerd/reference
if ! command -v go >/dev/null || [ ! -d "$src" ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    golang-go golang-github-containerd-containerd-dev) >&2
fi
gp=$(mktemp -d)
trap 'rm -rf "$gp"' EXIT
mkdir -p "$gp/src/containerdpullhost" "$out"
out=$(cd "$out" && pwd)
cp "$here/main.go" "$gp/src/containerdpullhost/"
(cd "$gp/src/containerdpullhost" && GO111MODULE=off GOPATH="$gp:/usr/share/gocode" \
  GOCACHE="$gp/.cache" go build -o "$out/containerd-pull-host" .) >&2
echo "$out/containerd-pull-host"
