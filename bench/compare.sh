#!/usr/bin/env bash
# Compares gRPC servers side by side on activation.v1.ActivationService over
# loopback: unary Relu calls of FLOAT32 tensors (raw_data, shape [N]) with
# h2load, then ReluStream messages and unary calls with our own load
# generator (activation_client bench). Each server is a LABEL:COMMAND;
# COMMAND gets --address=127.0.0.1:0 --port_file=FILE appended and must
# write its port as the file's first line. The first server is the
# reference (normally build/bench/echo_server, the transport's ceiling).
# With no servers, compares the peers of bench/peers (build them first:
# cmake --build build --target echo_server activation_server
# activation_client; bench/peers/build_go.sh):
#
#   echo:build/bench/echo_server --max_message_bytes=1100000000
#   go:build/bench/relu_go_server
#   callback:build/server/activation_server --metrics_address= \
#            --max_message_bytes=1100000000
#
#   bench/compare.sh                                   # the peers
#   SIZES=16 STREAM_SIZES= bench/compare.sh "echo:build/bench/echo_server" \
#       "callback:build/server/activation_server --metrics_address="
#
# For each of ROUNDS rounds (default 5), each size in SIZES (elements,
# default "16 65536 1048576 16777216") and each server in turn: a fresh
# server, then one h2load client (1 thread, CONNS connections, STREAMS
# streams each; by default 8x4 = 32 calls in flight up to 64K elements, 4x2
# at 1M, 1x2 above) run for WARMUP (1s), then a second one measuring for
# DURATION (5s). Then, in the same round, for each size in STREAM_SIZES
# (default "16") and each server that serves ReluStream (checked once with
# a short stream; the echo server does not), activation_client bench for
# DURATION with BENCH_C workers (default 32) over BENCH_CONNS connections
# (default 8), once unary ("LABEL/bench"), and once with --stream
# ("LABEL/stream") with STREAM_C streams (default 2) over STREAM_CONNS
# connections (default 2), each with STREAM_WINDOW messages in flight
# (default 256; 1 is a closed loop of one message per stream). Prints one
# line per measurement, then per size and server the medians of calls/s and
# of MB/s (10^6 bytes of tensor, one way, times calls/s) and the ratios to
# the reference: of the medians, and the median of the per-round ratios.
# The reference of a LABEL/bench row is the first server's bench row; of a
# LABEL/stream row, LABEL/bench (streamed against unary calls/s of the same
# server), and a last line per stream row gives its ratio to LABEL's h2load
# unary calls/s of the same size when SIZES has it (the fastest unary load
# generator here).
#
# h2load counts HTTP 200 responses, and gRPC reports errors with HTTP 200 and
# a grpc-status trailer that h2load ignores. So every measurement also checks
# that h2load received as many DATA bytes per call as it sent (a ReluResponse
# is as long as its ReluRequest; an error carries none), and each server's
# first call of each size is made with grpcio and its output checked
# (bench/peers/relu_body.py). activation_client bench checks every 100th
# answer against the engine and counts failed calls; either stops the script.
# An h2load run in which no call finished and none failed is a rate of 0
# (grpc-go at 16M elements, collecting garbage) and does not stop it.
#
# Each round holds LOCK (default /tmp/build.lock, empty = none) so builds on
# the shared machine do not run during it. Needs h2load (Debian's
# nghttp2-client), protoc, /usr/bin/python3 with python3-protobuf and
# python3-grpcio.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ ${1-} == -h || ${1-} == --help ]]; then
  sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
fi
if [[ $# -eq 0 ]]; then
  set -- "echo:build/bench/echo_server --max_message_bytes=1100000000" \
    "go:build/bench/relu_go_server" \
    "callback:build/server/activation_server --metrics_address= --max_message_bytes=1100000000"
fi
for server in "$@"; do
  if [[ $server != *:* ]]; then
    echo "compare.sh: expected LABEL:COMMAND, got \"$server\"" >&2
    exit 2
  fi
done
command -v h2load >/dev/null || {
  echo "compare.sh: h2load missing: apt-get install nghttp2-client" >&2
  exit 1
}
rounds=${ROUNDS:-5}
read -r -a sizes <<< "${SIZES-16 65536 1048576 16777216}"
read -r -a stream_sizes <<< "${STREAM_SIZES-16}"
bench_c=${BENCH_C:-32}
bench_conns=${BENCH_CONNS:-8}
stream_c=${STREAM_C:-2}
stream_conns=${STREAM_CONNS:-2}
stream_window=${STREAM_WINDOW:-256}
client=${CLIENT:-build/client/activation_client}
warmup=${WARMUP:-1s}
duration=${DURATION:-5s}
lock=${LOCK-/tmp/build.lock}

tmp=$(mktemp -d)
server_pid=
cleanup() {
  if [[ -n $server_pid ]]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

protoc -I proto --python_out="$tmp" proto/activation/v1/activation.proto
body_tool() { PYTHONPATH=$tmp /usr/bin/python3 bench/peers/relu_body.py "$@"; }
for n in "${sizes[@]}"; do body_tool body "$n" "$tmp/body.$n"; done
# Servers that serve ReluStream, once checked.
declare -A streams_ok
if [[ -n $lock ]]; then exec 9> "$lock"; fi

# Starts server $1 (a LABEL:COMMAND) and sets server_pid and port.
start_server() {
  local words
  read -r -a words <<< "${1#*:}"
  rm -f "$tmp/port"
  "${words[@]}" --address=127.0.0.1:0 --port_file="$tmp/port" \
    > "$tmp/server.log" 2>&1 9>&- &
  server_pid=$!
  for _ in $(seq 100); do
    [[ -s $tmp/port ]] && [[ $(wc -l < "$tmp/port") -ge 1 ]] && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  port=$(head -n1 "$tmp/port" 2>/dev/null || true)
  if [[ -z $port ]]; then
    echo "compare.sh: ${1%%:*} did not write its port; its output:" >&2
    cat "$tmp/server.log" >&2
    exit 1
  fi
}

stop_server() {
  kill -TERM "$server_pid"
  wait "$server_pid" || true
  server_pid=
}

# Sets conns and streams (h2load -c and -m) for $1 elements.
in_flight() {
  local c=8 m=4
  if (($1 > 4194304)); then
    c=1 m=2
  elif (($1 > 65536)); then
    c=4 m=2
  fi
  conns=${CONNS:-$c}
  streams=${STREAMS:-$m}
}

# Runs h2load against $port for $1 (a duration) posting file $2.
run_h2load() {
  h2load -n 0 -c "$conns" -t 1 -m "$streams" -d "$2" -D "$1" \
    -H 'content-type: application/grpc' -H 'te: trailers' \
    "http://127.0.0.1:$port/activation.v1.ActivationService/Relu" 2>&1 9>&- ||
    true
}

# Measures server $2 with $3 elements in round $1; appends to results.tsv.
measure() {
  local round=$1 server=$2 n=$3 label=${2%%:*}
  local body=$tmp/body.$n
  in_flight "$n"
  start_server "$server"
  if [[ ! -e $tmp/checked.$label.$n ]]; then
    local check
    if ! check=$(body_tool check "$port" "$body" 9>&-); then
      echo "compare.sh: $label, $n elements: $check" >&2
      exit 1
    fi
    echo "# $label, $n elements: $check"
    touch "$tmp/checked.$label.$n"
  fi
  # Warm-up as a run of its own: h2load's --warm-up-time leaves the warm-up's
  # DATA bytes in the measured run's count.
  run_h2load "$warmup" "$body" > /dev/null
  run_h2load "$duration" "$body" > "$tmp/h2load.out"
  stop_server
  local bytes line
  bytes=$(stat -c %s "$body")
  line=$(awk -v n="$n" -v bytes="$bytes" '
    /^finished in/ { rate = $4 }
    /^requests:/ { ok = $8; failed = $10 + $12 }
    /^traffic:/ { data = $(NF - 1); gsub(/[()]/, "", data) }
    END {
      per = ok > 0 ? data / ok : 0
      verdict = (ok > 0 && per >= bytes) ? "ok" : \
                (ok == 0 && failed == 0) ? "none" : "FAIL"
      printf "%s %.2f %d %.0f %s", rate, rate * n * 4 / 1e6, ok, per, verdict
    }' "$tmp/h2load.out")
  read -r rate mbps ok per verdict <<< "$line"
  printf 'round %d %8d elements %-12s %10.0f calls/s %9.2f MB/s' \
    "$round" "$n" "$label" "$rate" "$mbps"
  printf '  (%d calls, %s data B/call: %s)\n' "$ok" "$per" "$verdict"
  # No call finished in the time, none failed: the server's first answer
  # of this size was checked, so this is a rate of 0 (grpc-go at 16M
  # elements, busy collecting), not a wrong answer.
  if [[ $verdict != ok && $verdict != none ]]; then
    echo "compare.sh: expected $bytes data bytes per call; h2load said:" >&2
    cat "$tmp/h2load.out" >&2
    exit 1
  fi
  printf '%s\t%s\t%s\t%s\t%s\n' "$round" "$n" "$label" "$rate" "$mbps" \
    >> "$tmp/results.tsv"
}

# Runs activation_client bench against $port with $1 elements for $2 (a
# duration), with extra flags $3... (unary calls with BENCH_C workers over
# BENCH_CONNS connections unless they say otherwise); prints calls/s, or
# fails.
run_bench() {
  local n=$1 duration=$2
  shift 2
  local load=(--c="$bench_c" --connections="$bench_conns")
  [[ " $* " == *" --stream "* ]] && load=()
  local out
  out=$("$client" --target="127.0.0.1:$port" --max_message_bytes=1100000000 \
    bench --shape="$n" "${load[@]}" --z="$duration" --O=json "$@" \
    2>&1 9>&-) || {
    echo "compare.sh: activation_client bench failed: $out" >&2
    echo "compare.sh: the server's log:" >&2
    tail -n 20 "$tmp/server.log" >&2
    return 1
  }
  /usr/bin/python3 -c '
import json, sys
r = json.loads(sys.argv[1])
bad = sum(v for k, v in r["statusCodeDistribution"].items() if k != "OK")
wrong, checked = r["mismatches"], r["verified"]
if bad or wrong or not checked:
    sys.exit(f"{bad} failed calls, {wrong} wrong answers of {checked} checked")
print(round(r["rps"]))' "$out"
}

# Measures server $2 with $3-element messages in round $1 with
# activation_client bench, unary and streamed; appends to results.tsv.
measure_bench() {
  local round=$1 server=$2 n=$3 label=${2%%:*}
  start_server "$server"
  if [[ -z ${streams_ok[$label]-} ]]; then
    streams_ok[$label]=no
    if run_bench "$n" 0.2s --stream --c=1 --connections=1 > /dev/null 2>&1
    then
      streams_ok[$label]=yes
    else
      echo "# $label does not serve ReluStream: no bench rows"
    fi
  fi
  if [[ ${streams_ok[$label]} == yes ]]; then
    local kind rate flags
    for kind in bench stream; do
      flags=()
      [[ $kind == stream ]] && flags=(--stream --c="$stream_c"
        --connections="$stream_conns" --stream_window="$stream_window"
        "${STREAM_FLAGS[@]}")
      run_bench "$n" "$warmup" "${flags[@]}" > /dev/null
      rate=$(run_bench "$n" "$duration" "${flags[@]}")
      printf 'round %d %8d elements %-12s %10.0f calls/s %9.2f MB/s\n' \
        "$round" "$n" "$label/$kind" "$rate" "$(bc <<< "scale=2; $rate*$n*4/10^6")"
      printf '%s\t%s\t%s\t%s\t%s\n' "$round" "$n" "$label/$kind" "$rate" \
        "$(bc <<< "scale=2; $rate*$n*4/10^6")" >> "$tmp/results.tsv"
    done
  fi
  stop_server
}

# Extra flags for activation_client bench --stream.
read -r -a STREAM_FLAGS <<< "${STREAM_FLAGS-}"
labels=("${@%%:*}")
for round in $(seq "$rounds"); do
  if [[ -n $lock ]]; then flock 9; fi
  for n in "${sizes[@]}"; do
    for server in "$@"; do measure "$round" "$server" "$n"; done
  done
  for n in "${stream_sizes[@]}"; do
    for server in "$@"; do measure_bench "$round" "$server" "$n"; done
  done
  if [[ -n $lock ]]; then flock -u 9; fi
done
for label in "${labels[@]}"; do
  if [[ ${streams_ok[$label]-} == yes ]]; then
    labels+=("$label/bench" "$label/stream")
  fi
done

/usr/bin/python3 - "$tmp/results.tsv" "${labels[@]}" <<'EOF'
import collections, statistics, sys
path, labels = sys.argv[1], sys.argv[2:]
rows = collections.defaultdict(dict)  # (n, round) -> label -> (calls, mbps)
for line in open(path):
    r, n, label, calls, mbps = line.split("\t")
    rows[int(n), int(r)][label] = (float(calls), float(mbps))
sizes = sorted({n for n, _ in rows})


def ratio(calls, ref_calls):
    """calls / ref_calls; NaN when the reference finished no call."""
    return calls / ref_calls if ref_calls else float("nan")


print(f"\nmedians over {len({r for _, r in rows})} rounds; ratios to "
      f"{labels[0]} (h2load rows), of LABEL/bench rows to the first "
      "one, of LABEL/stream rows to LABEL/bench")
print(f"{'elements':>9} {'server':<12} {'calls/s':>10} {'MB/s':>9} "
      f"{'ratio':>6} {'median of round ratios':>23}")
for n in sizes:
    rounds = [rows[k] for k in sorted(rows) if k[0] == n]
    present = [l for l in labels if all(l in r for r in rounds)]
    bench_ref = next((l for l in present if l.endswith("/bench")), None)
    for label in present:
        ref = (label.replace("/stream", "/bench") if label.endswith("/stream")
               else bench_ref if label.endswith("/bench") else labels[0])
        if ref not in present:
            continue
        ref_calls = statistics.median(r[ref][0] for r in rounds)
        calls = statistics.median(r[label][0] for r in rounds)
        mbps = statistics.median(r[label][1] for r in rounds)
        per_round = statistics.median(ratio(r[label][0], r[ref][0])
                                      for r in rounds)
        print(f"{n:>9} {label:<12} {calls:>10.0f} {mbps:>9.2f} "
              f"{ratio(calls, ref_calls):>6.2f} {per_round:>23.2f}")
    for label in present:
        unary = label.replace("/stream", "")
        if not label.endswith("/stream") or unary not in present:
            continue
        calls = statistics.median(r[label][0] for r in rounds)
        ref_calls = statistics.median(r[unary][0] for r in rounds)
        per_round = statistics.median(ratio(r[label][0], r[unary][0])
                                      for r in rounds)
        print(f"{n:>9} {label:<12} against {unary} (h2load unary): "
              f"{ratio(calls, ref_calls):.2f}, median of round ratios "
              f"{per_round:.2f}")
EOF
