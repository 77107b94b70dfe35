#!/usr/bin/env bash
# Checks the KServe manifests in deploy/kserve without a cluster:
#   1. every ServingRuntime and InferenceService against the JSON Schemas of
#      k8s-validate/kserve.js (the fields we use, from KServe's API types and
#      full CRDs; unknown fields fail, as kubectl's strict validation does),
#      containers also against kubernetes-models' Container;
#   2. the invariants between them and activation_server
#      (k8s-validate/validate_kserve.js): flags of server/main.cc, gRPC on
#      8081 and HTTP on 8080, probes on /v2/health/{live,ready}, deploy/k8s's
#      image and hardening, runtime selection by name, model format and
#      protocol, the served port of each InferenceService;
#   3. self-tests: three misspelled fields (supportedModelFormats' autoselect,
#      a probe's httpGet.paht, predictor.model.modelformat), a runtime name
#      that names nothing and gRPC moved off 8081 must each make it fail.
# Prints each check; exits non-zero on the first failure.
#
#   tests/deploy/check_kserve.sh        # from any directory
#
# Needs node and npm; runs `npm ci` in tests/deploy/k8s-validate when its
# node_modules is missing or older than package-lock.json.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
validator="$root/tests/deploy/k8s-validate"

die() { echo "FAIL: $*" >&2; exit 1; }
step() { echo; echo "== $*"; }

command -v node >/dev/null || die "node not found (apt-get install nodejs)"
command -v npm >/dev/null || die "npm not found (apt-get install npm)"
if [[ ! -d "$validator/node_modules" ||
      "$validator/package-lock.json" -nt "$validator/node_modules/.package-lock.json" ]]; then
  step "npm ci (tests/deploy/k8s-validate)"
  (cd "$validator" && npm ci --no-audit --no-fund) || die "npm ci"
fi

manifests=("$root"/deploy/kserve/*.yaml)
[[ -e "${manifests[0]}" ]] || die "no manifests in deploy/kserve"

step "schemas and invariants (validate_kserve.js)"
node "$validator/validate_kserve.js" "${manifests[@]}" || die "validate_kserve.js"

# Runs validate_kserve.js with mutation $1, which must fail and print $2.
expect_failure() {
  local mutation="$1" expected="$2" output
  if output="$(node "$validator/validate_kserve.js" --mutate="$mutation" "${manifests[@]}" 2>&1)"; then
    die "self-test $mutation: the check passed a deliberately broken manifest"
  fi
  grep -qF -- "$expected" <<<"$output" ||
    die "self-test $mutation: failed without \"$expected\":
$output"
  echo "  $mutation: caught ($(grep -F -m1 -- "$expected" <<<"$output" | sed 's/^.*: \([^:]*: [^:]*\)$/\1/'))"
}

step "self-tests: each deliberate mistake must be caught"
expect_failure autoselect "spec.supportedModelFormats[0].autoselect is not a known field"
expect_failure probe-paht "spec.containers[0].readinessProbe.httpGet.paht is not a known field"
expect_failure modelformat "spec.predictor.model.modelformat is not a known field"
expect_failure runtime-name "runtime activation is no ServingRuntime of deploy/kserve"
expect_failure grpc-port "gRPC must be on 8081"

echo
echo "check_kserve: deploy/kserve validates (${#manifests[@]} files); no cluster was used"
