#!/usr/bin/env bash
# activation_client end to end: relu on .npy files NumPy writes and reads,
# --values, health, info, and bench's exit codes, against a live server.
#   cli_test.sh SERVER_BINARY CLIENT_BINARY
set -euo pipefail
server_binary=$1
client_binary=$2
tmp=$(mktemp -d)
server_pid=""
cleanup() {
  [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
source "$(dirname "$0")/../testing/lib.sh"

echo s3cret > "$tmp/token"
"$server_binary" --address=127.0.0.1:0 --metrics_address= --http_address= \
  --auth_token_file="$tmp/token" --allow_insecure_token --drain_delay=0s \
  --port_file="$tmp/port" 2>"$tmp/server.log" &
server_pid=$!
for _ in $(seq 100); do [[ -s "$tmp/port" ]] && break; sleep 0.1; done
client=("$client_binary" "--target=127.0.0.1:$(head -n1 "$tmp/port")")
authed=("${client[@]}" "--token_file=$tmp/token")

/usr/bin/python3 - "$tmp" <<'PY'
import sys, numpy as np
d = sys.argv[1]
x = (np.arange(24, dtype=np.float64) - 12).reshape(2, 3, 4)
np.save(f"{d}/in_f4.npy", np.asfortranarray(x.astype(">f4")))
np.save(f"{d}/in_i2.npy", x.astype("<i2"))
PY

check "relu .npy FLOAT32 (big-endian, Fortran order) with max_value and slope" \
  "${authed[@]}" relu --input "$tmp/in_f4.npy" --output "$tmp/out_f4.npy" \
  --max_value=6 --negative_slope=0.5
check "numpy reads the result and it is right" /usr/bin/python3 -c "
import numpy as np
x = np.load('$tmp/in_f4.npy').astype('<f4')
y = np.load('$tmp/out_f4.npy')
want = np.where(x >= 6, np.float32(6), np.where(x >= 0, x, np.float32(0.5) * x))
assert y.dtype == np.dtype('<f4') and y.shape == (2, 3, 4), (y.dtype, y.shape)
assert np.array_equal(y, want.astype('<f4')), y"
check "relu .npy INT16" "${authed[@]}" relu --input "$tmp/in_i2.npy" \
  --output "$tmp/out_i2.npy"
check "INT16 result" /usr/bin/python3 -c "
import numpy as np
x = np.load('$tmp/in_i2.npy'); y = np.load('$tmp/out_i2.npy')
assert y.dtype == np.int16 and np.array_equal(y, np.maximum(x, 0)), y"
values_printed() {
  [[ "$("${authed[@]}" relu --values=-1,0,2.5 --negative_slope=0.1)" == "-0.1,0,2.5" ]]
}
check "relu --values prints the result" values_printed

malformed_rejected() {
  echo nonsense > "$tmp/bad.npy"
  ! "${authed[@]}" relu --input "$tmp/bad.npy" --output "$tmp/x.npy" 2>"$tmp/err" &&
    grep -q "not a .npy file" "$tmp/err"
}
check "a malformed .npy is rejected with a reason" malformed_rejected
int_values() {
  [[ "$("${authed[@]}" relu --dtype=int64 --values=-9223372036854775808,5)" \
    == "0,5" ]] &&
    [[ "$("${authed[@]}" relu --dtype=uint64 --values=18446744073709551615 \
      --max_value=100)" == "100" ]]
}
check "integer --values are exact over the whole range" int_values
int_out_of_range() {
  ! "${authed[@]}" relu --dtype=int8 --values=1,300 2>"$tmp/err" &&
    grep -qF "\"300\" is not an integer in INT8's range [-128, 127]" "$tmp/err"
}
check "an integer --values entry out of range is rejected" int_out_of_range
check "health exits 0 when SERVING (no token needed)" "${client[@]}" health

info_has_limits() {
  local out
  out=$("${authed[@]}" info) && grep -q maxMessageBytes <<<"$out"
}
check "info prints the limits" info_has_limits

bench_json() {
  "${authed[@]}" bench -c 4 -n 200 --shape=32 -O json | /usr/bin/python3 -c '
import json, sys
r = json.load(sys.stdin)
assert r["count"] == 200 and r["statusCodeDistribution"] == {"OK": 200}, r
assert r["mismatches"] == 0 and r["verified"] == 2, r
h = r["histogram"]
assert len(h) == 11 and sum(b["count"] for b in h) == 200, h
assert h[0]["mark"] * 1e9 == r["fastest"] or abs(h[0]["mark"] * 1e9 - r["fastest"]) < 1, h
assert abs(sum(b["frequency"] for b in h) - 1) < 1e-3, h'
}
check "bench: 200 calls, all OK, JSON" bench_json

bench_fails() { ! "${client[@]}" bench -c 2 -n 20 >/dev/null; }
check "bench exits 1 when calls fail (no token)" bench_fails

bench_allowed() {
  local out
  out=$("${client[@]}" bench -c 2 -n 20 --allow_errors) &&
    grep -q "\[Unauthenticated\]" <<<"$out"
}
check "bench --allow_errors exits 0 and reports the errors" bench_allowed

relu_help() {
  local out
  out=$("${client[@]}" relu --help) && grep -q "Fortran order" <<<"$out" &&
    grep -qF -- "--deadline  per-call deadline (default: 30s)" <<<"$out"
}
check "relu --help describes the command" relu_help

summary
