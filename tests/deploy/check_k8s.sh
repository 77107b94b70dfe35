#!/usr/bin/env bash
# Checks the Kubernetes manifests in deploy/k8s without a cluster:
#   1. renders deploy/k8s and its overlays (prometheus-operator, tls) with
#      `kubectl kustomize`;
#   2. validates every rendered object with kubernetes-models' schemas
#      (ServiceMonitor and PrometheusRule with schemas of our own) and the service's invariants
#      across objects (k8s-validate/validate.js); overlays/tls's
#      secrets.example.yaml against the schemas only;
#   3. types every object with its kubernetes-types interface in a generated
#      manifests.ts and runs `tsc --strict --noEmit`: object literals catch
#      unknown and misspelled fields (k8s-validate/gen_types.js);
#   4. self-tests: a misspelled field (replica: 3), a wrong type, a misspelled
#      rule field and a too short termination grace period must each make its
#      check fail.
# Prints each check; exits non-zero on the first failure.
#
#   tests/deploy/check_k8s.sh            # from any directory
#   KUBECTL=/path/to/kubectl tests/deploy/check_k8s.sh
#
# Needs node and npm; runs `npm ci` in tests/deploy/k8s-validate when its
# node_modules is missing or older than package-lock.json (that needs the npm
# registry; the lockfile pins every package by version and integrity hash).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
validator="$root/tests/deploy/k8s-validate"
kubectl="${KUBECTL:-kubectl}"

die() { echo "FAIL: $*" >&2; exit 1; }
step() { echo; echo "== $*"; }

command -v node >/dev/null || die "node not found (apt-get install nodejs)"
command -v npm >/dev/null || die "npm not found (apt-get install npm)"
command -v "$kubectl" >/dev/null ||
  die "kubectl not found (set KUBECTL); it renders the kustomizations"
echo "node $(node --version), $("$kubectl" version --client 2>/dev/null | tr '\n' ' ')"

if [[ ! -d "$validator/node_modules" ||
      "$validator/package-lock.json" -nt "$validator/node_modules/.package-lock.json" ]]; then
  step "npm ci (tests/deploy/k8s-validate)"
  (cd "$validator" && npm ci --no-audit --no-fund) || die "npm ci"
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

renders=()
for target in deploy/k8s deploy/k8s/overlays/prometheus-operator \
    deploy/k8s/overlays/tls; do
  label="$(basename "$target")"
  [[ "$label" == k8s ]] && label=base
  step "kubectl kustomize $target"
  "$kubectl" kustomize "$root/$target" >"$tmp/$label.yaml" ||
    die "kubectl kustomize $target"
  awk '/^kind:/ {kind=$2} /^  name:/ && kind {print "  " kind "/" $2; kind=""}' \
    "$tmp/$label.yaml"
  renders+=("$label=$tmp/$label.yaml")
done

step "kubernetes-models schemas and invariants (validate.js)"
node "$validator/validate.js" "${renders[@]}" || die "validate.js"
secrets="tls-secrets-example=$root/deploy/k8s/overlays/tls/secrets.example.yaml"
node "$validator/validate.js" --schema-only "$secrets" ||
  die "validate.js: secrets.example.yaml"

step "kubernetes-types: tsc --strict --noEmit on the generated manifests.ts"
node "$validator/gen_types.js" "$tmp/ts" "${renders[@]}" "$secrets" ||
  die "gen_types.js"
"$validator/node_modules/.bin/tsc" --strict --noEmit -p "$tmp/ts" ||
  die "tsc: a manifest does not match its kubernetes-types interface"
echo "tsc: no errors"

# Runs "$@", which must fail and print $expected.
expect_failure() {
  local name="$1" expected="$2"
  shift 2
  local output
  if output="$("$@" 2>&1)"; then
    die "self-test $name: the check passed a deliberately broken manifest"
  fi
  grep -qF -- "$expected" <<<"$output" ||
    die "self-test $name: failed without \"$expected\":
$output"
  echo "  $name: caught ($(grep -F -m1 -- "$expected" <<<"$output" | sed 's/^ *//'))"
}

step "self-tests: each deliberate mistake must be caught"
node "$validator/gen_types.js" --mutate=replica "$tmp/ts-replica" \
  "base=$tmp/base.yaml" >/dev/null
expect_failure "replica: 3 (tsc)" \
  "'\"replica\"' does not exist in type 'DeploymentSpec'" \
  "$validator/node_modules/.bin/tsc" --strict --noEmit -p "$tmp/ts-replica"
expect_failure "replicas: \"3\" (kubernetes-models)" \
  "spec/replicas must be integer" \
  node "$validator/validate.js" --mutate=replicas-string "base=$tmp/base.yaml"
sed '0,/^    - expr:/s//    - exp:/' "$tmp/prometheus-operator.yaml" \
  >"$tmp/rule-typo.yaml"
expect_failure "a rule's expr spelled exp (prometheusrule.js)" \
  "spec.groups[0].rules[0].exp is not a known field" \
  node "$validator/validate.js" --schema-only "rule-typo=$tmp/rule-typo.yaml"
expect_failure "terminationGracePeriodSeconds: 20 (invariants)" \
  "terminationGracePeriodSeconds 20 must exceed" \
  node "$validator/validate.js" --mutate=short-grace "base=$tmp/base.yaml"

echo
echo "check_k8s: deploy/k8s renders and validates (base, prometheus-operator, tls)"
