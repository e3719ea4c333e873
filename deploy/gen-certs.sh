#!/usr/bin/env bash
# Makes a CA and a serving certificate for the webhook with openssl, for
# clusters without cert-manager, and an install (a kustomization) using them:
#
#   deploy/gen-certs.sh deploy/local        # OUT_DIR, default deploy/local
#   kubectl apply -k deploy/local
#
# OUT_DIR receives ca.crt ca.key tls.crt tls.key, a client certificate for the
# API server (apiserver-client.crt/.key, for ImagePolicyWebhook with
# --client-ca), webhook-ca.yaml (the CA for the webhook configurations'
# caBundle) and, on the first run only, kustomization.yaml: the install, with
# its two settings, `namespace:` and `components:`. That file is yours from
# then on: edit those settings there (or start from a new OUT_DIR).
#
# Environment, read when kustomization.yaml is written (the first run):
#   NAMESPACE   the namespace of everything (default image-policy-system)
#   COMPONENTS  comma-separated components of deploy/components to add:
#               rewrite, validating-admission-policy (default none)
# and on every run:
#   DAYS        validity of the serving certificate (default 365)
#   EXTRA_SANS  more names for it, comma-separated (DNS:webhook.example.com,IP:10.0.0.5)
#
# Renewal: run it again on the same OUT_DIR. The CA is reused (the caBundle
# does not change), the serving certificate is made again for the namespace
# kustomization.yaml names, and kustomization.yaml is kept as it is.
#
# Exit status: 0 done, 1 openssl failed, 2 usage (a setting that contradicts
# the existing kustomization.yaml, an unknown component).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:-"$here/local"}
days=${DAYS:-365}
service=image-policy-webhook

die() { printf 'gen-certs.sh: error: %s\n' "$1" >&2; exit "${2:-1}"; }

kustomization=$out/kustomization.yaml
if [[ -e $kustomization ]]; then
  # An install of this layout runs deploy/transformers; one written by an
  # older gen-certs.sh (the base as a resource, no transformers) does not build.
  grep -Eq '^ +- +.*transformers/?$' "$kustomization" \
    || die "$kustomization does not run deploy/transformers (written by an older gen-certs.sh?): move it aside and run again, with NAMESPACE and COMPONENTS for the choices it had" 2
  # The namespace is the install's, as the user left it.
  namespace=$(sed -n 's/^namespace: *\([^ #]*\).*$/\1/p' "$kustomization")
  namespace=${namespace//\"/}
  namespace=${namespace//\'/}
  [[ -n $namespace ]] || die "$kustomization has no namespace: line; add one (or remove the file to have it written again)" 2
  if [[ -n ${NAMESPACE:-} && $NAMESPACE != "$namespace" ]]; then
    die "NAMESPACE=$NAMESPACE, but $kustomization installs into $namespace: change its namespace: line, or use a new OUT_DIR" 2
  fi
  if [[ -n ${COMPONENTS:-} ]]; then
    die "COMPONENTS applies when kustomization.yaml is written; $kustomization exists: edit its components: list" 2
  fi
else
  namespace=${NAMESPACE:-image-policy-system}
  components=()
  IFS=, read -r -a wanted <<< "${COMPONENTS:-}"
  for c in "${wanted[@]}"; do
    [[ -z $c ]] && continue
    case $c in
      rewrite|pin|validating-admission-policy) components+=("$c") ;;
      *) die "unknown component '$c' in COMPONENTS (rewrite, pin, validating-admission-policy)" 2 ;;
    esac
  done
  # pin includes rewrite's webhook configuration: one of the two.
  if [[ " ${components[*]} " == *" rewrite "* && " ${components[*]} " == *" pin "* ]]; then
    die "COMPONENTS has rewrite and pin: pin includes rewrite, list one of the two" 2
  fi
fi
# A DNS label, as Kubernetes names namespaces.
[[ $namespace =~ ^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$ ]] || die "namespace '$namespace' is not a valid Kubernetes namespace name" 2
sans="DNS:$service.$namespace.svc,DNS:$service.$namespace.svc.cluster.local"
if [[ -n "${EXTRA_SANS:-}" ]]; then sans="$sans,$EXTRA_SANS"; fi

mkdir -p "$out"
cd "$out"
umask 077

if [[ ! -s ca.key || ! -s ca.crt ]]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout ca.key -out ca.crt -days 3650 -subj "/CN=$service-ca" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
fi

# issue NAME SUBJECT EXTENSIONS: a key and a certificate signed by the CA.
issue() {
  local name=$1 subject=$2 ext=$3
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$name.key" -out "$name.csr" -subj "$subject" 2>/dev/null
  openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial \
    -days "$days" -out "$name.crt" -extfile <(printf '%s\n' "$ext") 2>/dev/null
  rm -f "$name.csr"
}

issue tls "/CN=$service.$namespace.svc" \
  "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=$sans"
issue apiserver-client "/CN=kube-apiserver" \
  "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"
chmod 644 ca.crt tls.crt apiserver-client.crt

deploy=$(realpath --relative-to="$PWD" "$here")
ca_bundle=$(base64 -w0 < ca.crt)
cat > webhook-ca.yaml <<YAML
# Made by gen-certs.sh: the CA of ca.crt, for the caBundle of the webhook
# configurations (a JSON patch of kustomization.yaml). Re-run to refresh.
- op: replace
  path: /webhooks/0/clientConfig/caBundle
  value: $ca_bundle
YAML
if [[ ! -e kustomization.yaml ]]; then
  {
    cat <<YAML
# Made by gen-certs.sh: an install with a serving certificate from a local CA.
# Yours to edit: the namespace (everything follows it; run gen-certs.sh
# again after changing it, for the certificate's names) and the components
# (add or remove lines: $deploy/components/rewrite,
# $deploy/components/validating-admission-policy). Re-running gen-certs.sh
# renews the certificate and keeps this file.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: $namespace
components:
  - $deploy/base
YAML
    for c in "${components[@]}"; do printf '  - %s/components/%s\n' "$deploy" "$c"; done
    cat <<YAML
transformers:
  - $deploy/transformers
secretGenerator:
  - name: image-policy-webhook-tls
    type: kubernetes.io/tls
    files:
      - tls.crt
      - tls.key
    options:
      disableNameSuffixHash: true
patches:
  # Both webhook configurations: the validating one of the base, and the
  # mutating one of components/rewrite when it is listed.
  - target:
      kind: (Validating|Mutating)WebhookConfiguration
      name: image-policy-webhook
    path: webhook-ca.yaml
  # No cert-manager here: its CA injector must not touch the mutating one.
  - target:
      kind: MutatingWebhookConfiguration
      name: image-policy-webhook
    patch: |-
      - op: remove
        path: /metadata/annotations/cert-manager.io~1inject-ca-from
YAML
  } > kustomization.yaml
  echo "gen-certs.sh: wrote $(pwd)/kustomization.yaml (namespace $namespace)" >&2
else
  echo "gen-certs.sh: kept $(pwd)/kustomization.yaml (namespace $namespace)" >&2
fi
echo "gen-certs.sh: wrote $(pwd)/{ca,tls,apiserver-client}.{crt,key} and webhook-ca.yaml" >&2
