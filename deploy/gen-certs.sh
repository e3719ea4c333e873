#!/usr/bin/env bash
# Makes a CA and a serving certificate for the webhook with openssl, for
# clusters without cert-manager, and a kustomize overlay that installs them:
#
#   deploy/gen-certs.sh deploy/local        # OUT_DIR, default deploy/local
#   kubectl apply -k deploy/local
#
# OUT_DIR receives ca.crt ca.key tls.crt tls.key, a client certificate for the
# API server (apiserver-client.crt/.key, for ImagePolicyWebhook with
# --client-ca) and kustomization.yaml: the base, the TLS Secret, and the CA
# patched into the caBundle of the webhook configurations.
# Environment: NAMESPACE (image-policy-system), SERVICE (image-policy-webhook),
# DAYS (365), EXTRA_SANS (comma-separated, e.g. DNS:webhook.example.com,IP:10.0.0.5).
# An existing CA in OUT_DIR is reused, so re-running renews the serving
# certificate without changing the caBundle.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:-"$here/local"}
namespace=${NAMESPACE:-image-policy-system}
service=${SERVICE:-image-policy-webhook}
days=${DAYS:-365}
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

base=$(realpath --relative-to="$PWD" "$here/base")
ca_bundle=$(base64 -w0 < ca.crt)
cat > kustomization.yaml <<YAML
# Made by gen-certs.sh: the base with a serving certificate from a local CA.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - $base
namespace: $namespace
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
  # mutating one of components/rewrite when it is added.
  - target:
      kind: (Validating|Mutating)WebhookConfiguration
      name: image-policy-webhook
    patch: |-
      - op: replace
        path: /webhooks/0/clientConfig/caBundle
        value: $ca_bundle
YAML
echo "wrote $(pwd)/{ca,tls,apiserver-client}.{crt,key} and kustomization.yaml" >&2
