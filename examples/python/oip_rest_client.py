#!/usr/bin/python3
"""Calls activation-service's Open Inference Protocol (KServe v2) HTTP/REST API
with nothing but the standard library, and checks every answer.

Usage:
  /usr/bin/python3 examples/python/oip_rest_client.py --url http://127.0.0.1:PORT

Prints one line per check:
  health       GET /v2/health/live, /v2/health/ready, /v2/models/relu/ready
               (200), and a model the server does not have (not 200);
  metadata     GET /v2 and /v2/models/relu;
  fp32_json    POST /v2/models/relu/infer: FP32 as JSON "data" with
               max_value, negative_slope and threshold, the id echoed;
  uint8_json   UINT8 as JSON with max_value and threshold;
  fp32_binary  Triton's binary tensor data extension both ways
               (Inference-Header-Content-Length, binary_data_size,
               binary_data), on /v2/models/relu/versions/1/infer;
  error        a binary tensor 4 bytes short: 400 with {"error": "..."}.
Expected values are computed here with the DOCUMENTED formula of
docs/semantics.md: FP32 in float32 (round-tripped through struct), bit for
bit; integers exactly. Exits 0 when all checks pass, 1 when one fails, 2 when
nothing answers at --url.
"""

import argparse
import json
import math
import struct
import sys
import urllib.error
import urllib.request

MODEL, VERSION = "relu", "1"
TIMEOUT_S = 10
FP32_PARAMS = dict(max_value=6.0, negative_slope=0.1, threshold=0.5)


def f32(x):
    """Returns x rounded to float32."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


def documented_relu_fp32(x, max_value, negative_slope, threshold):
    """Returns DOCUMENTED-mode ReLU of float32 x, each operation rounded to
    float32 (both operands are float32, so double arithmetic then one rounding
    gives float32's correctly rounded result)."""
    m, s, t = f32(max_value), f32(negative_slope), f32(threshold)
    if math.isnan(x):
        return x
    if x >= m:
        return m
    if x >= t:
        return x
    return 0.0 if s == 0 else f32(s * f32(x - t))


def documented_relu_int(x, lo, hi, max_value=None, negative_slope=0.0, threshold=0.0):
    """Returns DOCUMENTED-mode ReLU of integer x for a type holding [lo, hi]."""
    clamp = lambda v: max(lo, min(hi, v))  # noqa: E731
    if max_value is not None and x >= math.ceil(max_value):
        return clamp(math.trunc(max_value))
    if x >= math.ceil(threshold):
        return x
    if negative_slope == 0:
        return 0
    return clamp(math.trunc(negative_slope * (float(x) - threshold)))


def same_bits(got, want):
    """Returns a description of the first float32 bit difference, or None."""
    if len(got) != len(want):
        return f"{len(got)} elements, want {len(want)}"
    for i, (g, w) in enumerate(zip(got, want)):
        if struct.pack("<f", g) != struct.pack("<f", w):
            return f"element {i} is {g!r}, want {w!r}"
    return None


def fmt(values):
    return "[" + ", ".join(f"{v:.7g}" for v in values) + "]"


def flatten(data):
    """Returns the elements of a possibly nested JSON list."""
    if isinstance(data, list):
        return [v for item in data for v in flatten(item)]
    return [data]


class Checks:
    def __init__(self, base):
        self.base = base.rstrip("/")

    def http(self, route, body=None, headers=None):
        """Returns (status, headers, body bytes) of GET route, or POST with body."""
        req = urllib.request.Request(self.base + route, data=body, headers=headers or {},
                                     method="GET" if body is None else "POST")
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:
                return resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def json(self, route, body=None):
        """Returns the JSON answer of a 200 response; raises with the body otherwise."""
        data = None if body is None else json.dumps(body).encode()
        headers = {} if body is None else {"Content-Type": "application/json"}
        status, _, raw = self.http(route, data, headers)
        assert status == 200, f"{route}: HTTP {status} {raw[:300]!r}"
        return json.loads(raw)

    @staticmethod
    def output(resp, request_id, datatype, shape):
        """Asserts resp is relu's answer to request_id; returns its one output."""
        assert resp.get("model_name") == MODEL, f"model_name {resp.get('model_name')!r}"
        assert resp.get("id") == request_id, f"id {resp.get('id')!r}, want {request_id!r}"
        outputs = resp.get("outputs") or []
        assert len(outputs) == 1, f"{len(outputs)} outputs, want 1"
        out = outputs[0]
        assert out.get("name") == "output", f"output name {out.get('name')!r}"
        assert out.get("datatype") == datatype, f"datatype {out.get('datatype')}, want {datatype}"
        assert out.get("shape") == shape, f"shape {out.get('shape')}, want {shape}"
        return out

    def health(self):
        for route in ["/v2/health/live", "/v2/health/ready", f"/v2/models/{MODEL}/ready",
                      f"/v2/models/{MODEL}/versions/{VERSION}/ready"]:
            status, _, body = self.http(route)
            assert status == 200, f"GET {route}: HTTP {status} {body[:200]!r}, want 200"
        status, _, _ = self.http("/v2/models/resnet/ready")
        assert status != 200, "GET /v2/models/resnet/ready: 200 for a model not served"
        return f"live, ready, model ready (200); resnet: {status}"

    def metadata(self):
        server = self.json("/v2")
        meta = self.json(f"/v2/models/{MODEL}")
        assert meta.get("name") == MODEL and VERSION in meta.get("versions", []), meta
        names = [t["name"] for t in meta.get("inputs", []) + meta.get("outputs", [])]
        assert names == ["input", "output"], f"tensors {names}"
        return (f"server {server.get('name')} {server.get('version')} "
                f"extensions {server.get('extensions')}; model {meta['name']} "
                f"versions {meta['versions']}")

    def fp32_json(self):
        x = [f32(v) for v in [-3.0, -0.5, 0.0, 0.25, 0.5, 1.5, 6.0, 7.25]]
        resp = self.json(f"/v2/models/{MODEL}/infer", {
            "id": "py-fp32", "parameters": FP32_PARAMS,
            "inputs": [{"name": "input", "shape": [2, 4], "datatype": "FP32", "data": x}]})
        out = self.output(resp, "py-fp32", "FP32", [2, 4])
        got = [f32(v) for v in flatten(out["data"])]
        difference = same_bits(got, [documented_relu_fp32(v, **FP32_PARAMS) for v in x])
        assert difference is None, difference
        return f"{fmt(x)} -> {fmt(got)}"

    def uint8_json(self):
        x = [0, 2, 3, 4, 200, 255]
        params = dict(max_value=100, threshold=3.5, negative_slope=0.5)
        resp = self.json(f"/v2/models/{MODEL}/infer", {
            "id": "py-uint8", "parameters": params,
            "inputs": [{"name": "input", "shape": [6], "datatype": "UINT8", "data": x}]})
        out = self.output(resp, "py-uint8", "UINT8", [6])
        got = flatten(out["data"])
        want = [documented_relu_int(v, 0, 255, **params) for v in x]
        assert got == want, f"{got}, want {want}"
        return f"{x} -> {got}"

    def fp32_binary(self):
        x = [f32(((i * 37) % 200) / 10 - 10) for i in range(1000)]
        data = struct.pack("<%df" % len(x), *x)
        header = json.dumps({
            "id": "py-binary", "parameters": FP32_PARAMS,
            "inputs": [{"name": "input", "shape": [10, 100], "datatype": "FP32",
                        "parameters": {"binary_data_size": len(data)}}],
            "outputs": [{"name": "output", "parameters": {"binary_data": True}}]}).encode()
        status, headers, body = self.http(
            f"/v2/models/{MODEL}/versions/{VERSION}/infer", header + data,
            {"Content-Type": "application/octet-stream",
             "Inference-Header-Content-Length": str(len(header))})
        assert status == 200, f"HTTP {status} {body[:300]!r}"
        length = headers.get("Inference-Header-Content-Length")
        assert length and length.isdigit() and 0 < int(length) <= len(body), \
            f"Inference-Header-Content-Length {length!r}"
        length = int(length)
        out = self.output(json.loads(body[:length]), "py-binary", "FP32", [10, 100])
        size = (out.get("parameters") or {}).get("binary_data_size")
        assert size == len(data) and len(body) == length + size, \
            f"binary_data_size {size}, body {len(body)} bytes, JSON {length}; want {len(data)}"
        got = list(struct.unpack("<%df" % len(x), body[length:]))
        difference = same_bits(got, [documented_relu_fp32(v, **FP32_PARAMS) for v in x])
        assert difference is None, difference
        return f"1000 FP32 ({len(data)} bytes) each way, JSON header {length} bytes"

    def error(self):
        header = json.dumps({"inputs": [{"name": "input", "shape": [2, 2], "datatype": "FP32",
                                         "parameters": {"binary_data_size": 12}}]}).encode()
        status, _, body = self.http(f"/v2/models/{MODEL}/infer", header + bytes(12),
                                    {"Inference-Header-Content-Length": str(len(header))})
        assert status == 400, f"HTTP {status}, want 400: {body[:300]!r}"
        message = json.loads(body).get("error")
        assert isinstance(message, str) and message, f"body {body!r}, want {{\"error\": ...}}"
        return f"400: {message}"


CHECKS = ["health", "metadata", "fp32_json", "uint8_json", "fp32_binary", "error"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True,
                        help="http://host:port of activation_server's HTTP/REST front")
    args = parser.parse_args()
    checks = Checks(args.url)
    try:
        checks.http("/v2/health/live")
    except OSError as e:
        print(f"setup: nothing answers at {args.url}: {e}", file=sys.stderr)
        return 2
    failed = 0
    for name in CHECKS:
        try:
            print(f"PASS {name}: {getattr(checks, name)()}")
        except (AssertionError, OSError, ValueError, KeyError) as e:
            failed += 1
            print(f"FAIL {name}: {type(e).__name__ + ': ' if not isinstance(e, AssertionError) else ''}{e}")
    print(f"{len(CHECKS) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
