#!/usr/bin/env bash
# The Open Inference Protocol's two fronts side by side, with h2load on one
# activation_server (metrics off): gRPC ModelInfer (raw_input_contents) and
# HTTP/REST infer (--h1), FP32 tensors of 16 elements (REST: JSON numbers)
# and of 262144 elements = 1 MiB (REST: Triton's binary tensor data, both
# ways). For each of ROUNDS rounds (default 3) and each case in turn: a 1 s
# warm-up, then DURATION (default 5s) measured; CONNS (8) connections from
# one h2load thread, gRPC with STREAMS (4) streams each, HTTP/1.1 one request
# at a time per connection. Prints each measurement, then the medians of
# calls/s and MB/s (10^6 bytes of tensor one way) and the REST/gRPC ratios.
# Holds LOCK (default /tmp/build.lock) per round.
#
#   bench/scripts/http_vs_grpc.sh build/server/activation_server
set -euo pipefail
cd "$(dirname "$0")/../.."
server_binary=${1:?usage: http_vs_grpc.sh ACTIVATION_SERVER}
rounds=${ROUNDS:-3}
conns=${CONNS:-8}
streams=${STREAMS:-4}
duration=${DURATION:-5s}
lock=${LOCK-/tmp/build.lock}
tmp=$(mktemp -d)
server_pid=
cleanup() {
  [[ -n $server_pid ]] && kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

protoc -Iproto --python_out="$tmp" proto/inference/grpc_predict_v2.proto
PYTHONPATH=$tmp /usr/bin/python3 - "$tmp" <<'PY'
import array, json, struct, sys
from inference import grpc_predict_v2_pb2 as pb
tmp = sys.argv[1]
for n, name in ((16, "small"), (262144, "large")):
    values = array.array("f", (float(i % 7 - 3) for i in range(n)))
    request = pb.ModelInferRequest(model_name="relu")
    tensor = request.inputs.add(name="input", datatype="FP32", shape=[n])
    request.raw_input_contents.append(values.tobytes())
    message = request.SerializeToString()
    open(f"{tmp}/grpc_{name}.bin", "wb").write(
        struct.pack(">BI", 0, len(message)) + message)
    if n == 16:
        body = {"inputs": [{"name": "input", "shape": [n], "datatype": "FP32",
                            "data": list(values)}]}
        open(f"{tmp}/rest_small.json", "w").write(json.dumps(body))
    else:
        header = json.dumps({
            "inputs": [{"name": "input", "shape": [n], "datatype": "FP32",
                        "parameters": {"binary_data_size": 4 * n}}],
            "outputs": [{"name": "output",
                         "parameters": {"binary_data": True}}]}).encode()
        open(f"{tmp}/rest_large.bin", "wb").write(header + values.tobytes())
        open(f"{tmp}/rest_large.hlen", "w").write(str(len(header)))
PY

"$server_binary" --address=127.0.0.1:0 --metrics_address= \
  --http_address=127.0.0.1:0 --port_file="$tmp/ports" 2>"$tmp/server.log" &
server_pid=$!
for _ in $(seq 100); do
  [[ $( { wc -l <"$tmp/ports"; } 2>/dev/null || echo 0) -ge 3 ]] && break
  sleep 0.1
done
grpc_port=$(sed -n 1p "$tmp/ports")
http_port=$(sed -n 3p "$tmp/ports")
hlen=$(cat "$tmp/rest_large.hlen")

# A check that each case is answered correctly before it is measured.
check=$(curl -s "http://127.0.0.1:$http_port/v2/models/relu/infer" --data-binary @"$tmp/rest_small.json")
[[ $check == *'"data":[0,0,0,0,1,2,3,0,0,0,0,1,2,3,0,0]'* ]] || { echo "REST JSON check failed: $check" >&2; exit 1; }
size=$(curl -s -o "$tmp/out" -w '%{size_download}' -H "Inference-Header-Content-Length: $hlen" \
  "http://127.0.0.1:$http_port/v2/models/relu/infer" --data-binary @"$tmp/rest_large.bin")
(( size > 1048576 )) || { echo "REST binary check failed: $size bytes" >&2; exit 1; }

# Runs h2load; prints "calls/s response-bytes-per-call", or fails when a
# call was not answered 2xx (gRPC errors are 2xx too: the bytes per call
# tell them apart, an error carries no tensor).
run() {
  h2load "$@" 2>&1 | awk '/^finished in/ {gsub(",", "", $4); rps=$4}
    /^requests:/ {done=$8} /^status codes:/ {ok=$3}
    /^traffic:/ {for (i = 2; i <= NF; i++) if ($i == "data") data = $(i - 1);
                 gsub("[()]", "", data)}
    END { if (ok + 0 < done + 0 || done + 0 == 0) exit 1;
          printf "%s %.0f\n", rps, data / done }'
}
grpc() {
  run -D "$1" -c "$conns" -m "$streams" -t 1 -d "$tmp/grpc_$2.bin" \
    -H 'content-type: application/grpc' -H 'te: trailers' \
    "http://127.0.0.1:$grpc_port/inference.GRPCInferenceService/ModelInfer"
}
rest() {
  local extra=(-H 'content-type: application/json')
  [[ $2 == large ]] && extra=(-H 'content-type: application/octet-stream' -H "Inference-Header-Content-Length: $hlen")
  local file="$tmp/rest_small.json"
  [[ $2 == large ]] && file="$tmp/rest_large.bin"
  run --h1 -D "$1" -c "$conns" -m 1 -t 1 -d "$file" "${extra[@]}" \
    "http://127.0.0.1:$http_port/v2/models/relu/infer"
}

declare -A results
for round in $(seq "$rounds"); do
  exec 9>"${lock:-/dev/null}"; [[ -n $lock ]] && flock 9
  for c in grpc:small rest:small grpc:large rest:large; do
    front=${c%%:*} case=${c##*:}
    "$front" 1s "$case" >/dev/null
    read -r rps per_call < <("$front" "$duration" "$case")
    echo "round $round $front $case $rps calls/s, $per_call response bytes/call"
    results[$c]+="$rps "
  done
  exec 9>&-
done
echo "gRPC: $conns connections x $streams streams; REST: $conns connections"
median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for case in small large; do
  bytes=$([[ $case == small ]] && echo 64 || echo 1048576)
  g=$(median "${results[grpc:$case]}") r=$(median "${results[rest:$case]}")
  awk -v c="$case" -v g="$g" -v r="$r" -v b="$bytes" 'BEGIN {
    printf "%s: gRPC %.0f calls/s %.1f MB/s; REST %.0f calls/s %.1f MB/s; REST/gRPC %.2f\n",
      c, g, g * b / 1e6, r, r * b / 1e6, r / g }'
done
