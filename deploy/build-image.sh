#!/usr/bin/env bash
# Builds the webhook's container image: a static image-policy binary in an
# image FROM scratch (deploy/Containerfile), with buildah, offline, needing no
# daemon; and optionally pushes it.
#
#   deploy/build-image.sh                                   # build only
#   deploy/build-image.sh --push registry.my.com/image-policy:0.1.0
#
# Options:
#   --tag TAG    name of the image in the local buildah storage
#                (default localhost/image-policy:VERSION)
#   --push REF   push to REF (a registry reference; docker:// is implied). A REF
#                without a tag gets :VERSION, never :latest. TLS is verified,
#                except for loopback registries (localhost, 127.0.0.0/8, [::1]).
#                On success the pinned reference NAME@sha256:... is the one
#                line printed on standard output; put it in deploy/base/kustomization.yaml.
#
# Environment:
#   IMAGE_POLICY_BUILDAH_ROOT  buildah's storage (default target/buildah in the
#                              repository; vfs driver, so no overlay or fuse)
#   CARGO_PROFILE              cargo profile of the binary (default release)
#   IMAGE_POLICY_REVISION      the revision for --version and the label, where
#                              there is no .git (default git rev-parse HEAD)
#   PUSH_RETRY                 buildah push --retry (default 2)
#
# Needs cargo, buildah (Debian: apt-get install buildah) and, for --push,
# network to the registry. Run as root, or as a user set up for rootless
# buildah (subordinate ids in /etc/subuid).
#
# Exit status: 0 built (and pushed), 1 a build or push failed, 2 usage.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)

die() { printf 'build-image.sh: error: %s\n' "$1" >&2; exit "${2:-1}"; }
usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2; exit 2; }

tag=
push=
while [[ $# -gt 0 ]]; do
  case $1 in
    --tag) [[ $# -ge 2 && -n $2 ]] || die "--tag needs a value" 2; tag=$2; shift 2 ;;
    --tag=*) tag=${1#--tag=}; [[ -n $tag ]] || die "--tag needs a value" 2; shift ;;
    --push) [[ $# -ge 2 && -n $2 ]] || die "--push needs a value" 2; push=$2; shift 2 ;;
    --push=*) push=${1#--push=}; [[ -n $push ]] || die "--push needs a value" 2; shift ;;
    -h|--help) usage ;;
    *) die "unknown argument '$1' (see --help)" 2 ;;
  esac
done

command -v buildah >/dev/null || die "buildah not found (Debian/Ubuntu: apt-get install buildah)"
command -v cargo >/dev/null || die "cargo not found"

cd "$repo"
version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml)
[[ -n $version ]] || die "no [workspace.package] version in Cargo.toml"
revision=${IMAGE_POLICY_REVISION:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
export IMAGE_POLICY_REVISION=$revision
tag=${tag:-localhost/image-policy:$version}
profile=${CARGO_PROFILE:-release}
target=x86_64-unknown-linux-gnu
[[ $(uname -m) == x86_64 ]] || die "builds the x86_64 (amd64) image only; this machine is $(uname -m)"

# The push target: docker:// implied, a tag added when there is none.
if [[ -n $push ]]; then
  ref=${push#docker://}
  [[ $ref != *://* && $ref != *@* ]] || die "--push takes a registry reference without a digest, like registry.my.com/image-policy:$version (got '$push')" 2
  last=${ref##*/}
  [[ $last == *:* ]] || ref=$ref:$version
  name=${ref%:*}
  host=${ref%%/*}
  [[ $ref == */* ]] || host=docker.io
  # Loopback only: localhost, an IPv4 literal in 127.0.0.0/8 (not a name
  # such as 127.example.com), [::1]; each with an optional port.
  tls_verify=true
  if [[ $host =~ ^(localhost|127\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}|\[::1\])(:[0-9]+)?$ ]]; then
    tls_verify=false
  fi
fi

# 1. The binary: glibc, linked statically (no libc in the image), with
# rustls/ring for TLS (no OpenSSL), symbols stripped (-C strip=symbols: about
# a third of the file; panics still name their source location). RUSTFLAGS
# with --target applies to the binary only, not to build scripts and proc
# macros, which run on this host and cannot be static.
#
# Why not reuse the binary of `cargo build --release`: that one is linked
# dynamically to this host's glibc, and an image FROM scratch has no libc to
# load it with. The static build has its own flags, hence its own directory
# (target/x86_64-unknown-linux-gnu/): its first run compiles the dependencies
# once; later runs are incremental like any cargo build, and a run with nothing
# changed reuses the binary as it is.
echo "build-image.sh: building image-policy $version (revision $revision), profile $profile, static, stripped" >&2
start=$SECONDS
RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }-C target-feature=+crt-static -C strip=symbols" \
  cargo build --locked --profile "$profile" -p image-policy-cli --target "$target" >&2 \
  || die "cargo build of the static binary failed"
dir=$profile; [[ $profile == dev ]] && dir=debug
binary=target/$target/$dir/image-policy
echo "build-image.sh: binary built in $((SECONDS - start)) s: $binary ($(stat -c %s "$binary") bytes)" >&2
if command -v readelf >/dev/null && LC_ALL=C readelf -l "$binary" | grep -q 'program interpreter'; then
  die "$binary is dynamically linked; it would not run in an image FROM scratch"
fi

# 2. The image. The context holds the binary only (not the repository).
context=target/image-context
rm -rf "$context"; mkdir -p "$context"
cp "$binary" "$context/image-policy"
root=${IMAGE_POLICY_BUILDAH_ROOT:-$repo/target/buildah}
mkdir -p "$root"
# Pushing copies our own image out of our own storage: no signature to check.
printf '{"default":[{"type":"insecureAcceptAnything"}]}\n' > "$root/policy.json"
bah() { buildah --root "$root/storage" --runroot "$root/run" --storage-driver vfs "$@"; }
# The commit time as the image's creation time: the same commit gives the
# same layer and config, hence the same digest when the binary is the same.
timestamp=()
if epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null)} && [[ -n $epoch ]]; then
  timestamp=(--timestamp "$epoch")
fi
BUILDAH_ISOLATION=chroot bah build --quiet --isolation chroot --identity-label=false \
  "${timestamp[@]}" --signature-policy "$root/policy.json" \
  -f "$here/Containerfile" --build-arg "VERSION=$version" --build-arg "REVISION=$revision" \
  -t "$tag" "$context" >&2 || die "buildah build failed"
bah rmi --prune >/dev/null 2>&1 || true
echo "build-image.sh: built $tag" >&2
[[ -n $push ]] || exit 0

# 3. Push. A registry moves a tag only when the manifest is uploaded, the last
# step after every blob, so a push that fails leaves the tag where it was.
digestfile=$root/push.digest
rm -f "$digestfile"
echo "build-image.sh: pushing $tag to $ref (tls-verify=$tls_verify)" >&2
if ! bah push --signature-policy "$root/policy.json" --tls-verify="$tls_verify" \
    --retry "${PUSH_RETRY:-2}" --digestfile "$digestfile" "$tag" "docker://$ref" >&2; then
  die "pushing $tag to $ref failed (see buildah's message above): the registry is unreachable, refused the credentials (buildah login / REGISTRY_AUTH_FILE) or the upload; $ref was not updated by this run"
fi
digest=$(cat "$digestfile")
[[ $digest =~ ^sha256:[0-9a-f]{64}$ ]] || die "buildah push reported no digest for $ref"
echo "build-image.sh: pushed $ref, digest $digest" >&2
echo "$name@$digest"
