#!/usr/bin/env bash
# Runs the Kubernetes Deployment for real with `podman kube play`: renders
# deploy/k8s with kustomize, takes its ConfigMap and Deployment, adapts them
# to one local pod, plays them, calls the service through the pod, and takes
# it down. Needs the image the container_image test builds.
#
#   kube_play_test.sh CLIENT_BINARY
#
# The adaptations, each because podman is not a cluster: 1 replica; the
# image built locally (activation-service:test, never pulled); host network
# on free loopback ports instead of Services (so no containerPorts, which
# podman maps only for bridge networks); and the $(VAR) references in args
# expanded from the ConfigMap, which the kubelet does and podman 4.3 does not.
set -euo pipefail
client_binary=$(realpath "$1")
repo=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)

source "$repo/tests/testing/lib.sh"
use_test_podman_conf
cleanup() {
  [[ -f "$tmp/play.yaml" ]] && podman kube down "$tmp/play.yaml" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT

podman image exists activation-service:test || {
  echo "FAIL: no activation-service:test image; run the container_image test first"
  exit 1
}
port=$(free_port)
metrics_port=$(free_port)
kubectl kustomize "$repo/deploy/k8s" > "$tmp/rendered.yaml"
/usr/bin/python3 - "$tmp" "$port" "$metrics_port" <<'PY'
import re, sys, yaml
tmp, port, metrics_port = sys.argv[1:]
docs = list(yaml.safe_load_all(open(f"{tmp}/rendered.yaml")))
config = next(d for d in docs if d["kind"] == "ConfigMap")
deployment = next(d for d in docs if d["kind"] == "Deployment")
deployment["spec"]["replicas"] = 1
pod = deployment["spec"]["template"]["spec"]
pod["hostNetwork"] = True
container = pod["containers"][0]
container["image"] = "localhost/activation-service:test"
container["imagePullPolicy"] = "Never"
container.pop("ports", None)
expand = lambda arg: re.sub(r"\$\((\w+)\)", lambda m: str(config["data"][m.group(1)]), arg)
container["args"] = [
    expand(a).replace("0.0.0.0:50051", f"127.0.0.1:{port}")
             .replace("0.0.0.0:9464", f"127.0.0.1:{metrics_port}")
    for a in container["args"]]
for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
    if "grpc" in container.get(probe, {}):
        container[probe]["grpc"]["port"] = int(port)
yaml.safe_dump_all([config, deployment], open(f"{tmp}/play.yaml", "w"))
print("args:", " ".join(container["args"]))
PY

check "podman kube play" podman kube play "$tmp/play.yaml"
client=("$client_binary" "--target=127.0.0.1:$port" "--deadline=2s")
serving() {
  for _ in $(seq 100); do
    "${client[@]}" health >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  podman logs activation-service-pod-0-activation-server 2>&1 | tail -5
  return 1
}
check "the pod serves" serving
relu() { [[ "$("${client[@]}" relu --values=-1,3 --max_value=2)" == "0,2" ]]; }
check "Relu through the pod" relu
flags() {
  "${client[@]}" info | /usr/bin/python3 -c '
import json, sys
info = json.load(sys.stdin)
assert info["maxInflight"] == 48 and info["maxMessageBytes"] == "4194304", info'
}
check "the ConfigMap's flags took effect" flags
readonly_root() {
  local seen
  seen=$(podman inspect activation-service-pod-0-activation-server \
           --format '{{.HostConfig.ReadonlyRootfs}} {{.Config.User}}')
  [[ "$seen" == "true 10001" || "$seen" == "true 10001:"* ]]
}

check "read-only root filesystem, non-root user" readonly_root
down() {
  podman kube down "$tmp/play.yaml" &&
    ! podman pod exists activation-service-pod-0
}
check "podman kube down" down

summary
