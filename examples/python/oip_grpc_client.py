#!/usr/bin/python3
"""Calls activation-service's Open Inference Protocol (KServe v2) gRPC API and
checks every answer.

Usage:
  /usr/bin/python3 examples/python/oip_grpc_client.py --target 127.0.0.1:PORT [--proto_root DIR]

Talks to inference.GRPCInferenceService, the service KServe, Triton and
MLServer clients speak, and prints one line per check:
  health_and_metadata  ServerLive, ServerReady, ModelReady, ServerMetadata,
                       ModelMetadata of model "relu" version "1";
  fp32_raw             FP32 in raw_input_contents with max_value,
                       negative_slope and threshold; the answer in
                       raw_output_contents, the id echoed;
  fp32_contents        the same parameters on FP32 in contents.fp32_contents;
  int8_contents        INT8 in contents.int_contents, max_value as an
                       int64_param: truncation and saturation;
  stream               ModelStreamInfer with three requests, answered in order;
  errors               an unknown model (NOT_FOUND) and a short
                       raw_input_contents (INVALID_ARGUMENT naming it).
Expected values are computed here: FP32 by numpy in float32 with the
DOCUMENTED formula of docs/semantics.md (bit for bit), integers exactly.
Exits 0 when all checks pass, 1 when one fails, 2 on a setup error.

Needs Debian's python3-grpcio, python3-numpy, python3-protobuf, protobuf-compiler
and protobuf-compiler-grpc: the stubs are generated at start-up with
/usr/bin/protoc and /usr/bin/grpc_python_plugin into a temporary directory.
"""

import argparse
import math
import os
import subprocess
import sys
import tempfile

import grpc
import numpy as np

DEFAULT_PROTO_ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "proto")
PROTO_FILE = "inference/grpc_predict_v2.proto"
MODEL, VERSION = "relu", "1"
TIMEOUT_S = 10
# The FP32 checks' parameters.
FP32_PARAMS = dict(max_value=6.0, negative_slope=0.1, threshold=0.5)


def load_stubs(proto_root, out_dir):
    """Generates the Python stubs for PROTO_FILE into out_dir and imports them."""
    subprocess.run(["/usr/bin/protoc", "-I", proto_root, f"--python_out={out_dir}",
                    f"--grpc_python_out={out_dir}",
                    "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin", PROTO_FILE],
                   check=True)
    sys.path.insert(0, out_dir)
    from inference import grpc_predict_v2_pb2, grpc_predict_v2_pb2_grpc
    return grpc_predict_v2_pb2, grpc_predict_v2_pb2_grpc


def documented_relu_fp32(x, max_value, negative_slope, threshold):
    """Returns DOCUMENTED-mode ReLU of float32 array x, evaluated in float32."""
    s, t = np.float32(negative_slope), np.float32(threshold)
    lower = s * (x - t) if s != 0 else np.zeros_like(x)  # slope 0 gives +0
    y = np.where(x >= t, x, lower)
    if max_value is not None:
        y = np.where(x >= np.float32(max_value), np.float32(max_value), y)
    return np.where(np.isnan(x), x, y).astype(np.float32)


def documented_relu_int(x, lo, hi, max_value=None, negative_slope=0.0, threshold=0.0):
    """Returns DOCUMENTED-mode ReLU of integer x for a type holding [lo, hi]:
    exact comparisons, the cap and the lower branch truncated toward zero and
    saturated (docs/semantics.md, "Integers")."""
    clamp = lambda v: max(lo, min(hi, v))  # noqa: E731
    if max_value is not None and x >= math.ceil(max_value):
        return clamp(math.trunc(max_value))
    if x >= math.ceil(threshold):
        return x
    if negative_slope == 0:
        return 0
    return clamp(math.trunc(negative_slope * (float(x) - threshold)))


def first_difference(got, want):
    """Returns a description of the first bitwise difference, or None."""
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape:
        return f"{got.size} elements, want {want.size}"
    if got.dtype == np.float32:
        differ = np.flatnonzero(got.view(np.uint32) != want.astype(np.float32).view(np.uint32))
    else:
        differ = np.flatnonzero(got != want)
    if differ.size:
        i = differ[0]
        return f"element {i} is {got[i]!r}, want {want[i]!r}"
    return None


def fmt(values):
    """Formats numbers for a human."""
    return "[" + ", ".join(f"{v:.7g}" for v in values) + "]"


class Checks:
    def __init__(self, pb, stub):
        self.pb, self.stub = pb, stub

    def request(self, datatype, shape, request_id, params, raw=None, **contents):
        """Returns a ModelInferRequest for model relu."""
        req = self.pb.ModelInferRequest(model_name=MODEL, model_version=VERSION, id=request_id)
        for name, value in params.items():
            p = req.parameters[name]
            if isinstance(value, str):
                p.string_param = value
            elif isinstance(value, int):
                p.int64_param = value
            else:
                p.double_param = value
        tensor = req.inputs.add(name="input", datatype=datatype, shape=shape)
        if raw is not None:
            req.raw_input_contents.append(raw)
        for field, values in contents.items():
            getattr(tensor.contents, field).extend(values)
        return req

    def check_envelope(self, resp, request_id, datatype, shape):
        """Asserts the response's model, id and single output tensor."""
        assert (resp.model_name, resp.model_version) == (MODEL, VERSION), \
            f"model {resp.model_name!r} version {resp.model_version!r}"
        assert resp.id == request_id, f"id {resp.id!r}, want {request_id!r}"
        assert len(resp.outputs) == 1, f"{len(resp.outputs)} outputs, want 1"
        out = resp.outputs[0]
        assert out.name == "output", f"output name {out.name!r}, want 'output'"
        assert out.datatype == datatype, f"datatype {out.datatype}, want {datatype}"
        assert list(out.shape) == shape, f"shape {list(out.shape)}, want {shape}"
        return out

    def health_and_metadata(self):
        pb, stub = self.pb, self.stub
        assert stub.ServerLive(pb.ServerLiveRequest(), timeout=TIMEOUT_S).live, "not live"
        assert stub.ServerReady(pb.ServerReadyRequest(), timeout=TIMEOUT_S).ready, "not ready"
        ready = stub.ModelReady(pb.ModelReadyRequest(name=MODEL, version=VERSION),
                                timeout=TIMEOUT_S)
        assert ready.ready, "model relu not ready"
        server = stub.ServerMetadata(pb.ServerMetadataRequest(), timeout=TIMEOUT_S)
        assert server.name, "ServerMetadata has no name"
        meta = stub.ModelMetadata(pb.ModelMetadataRequest(name=MODEL), timeout=TIMEOUT_S)
        assert meta.name == MODEL and VERSION in meta.versions, \
            f"ModelMetadata {meta.name!r} versions {list(meta.versions)}"
        ins = [(t.name, t.datatype) for t in meta.inputs]
        outs = [(t.name, t.datatype) for t in meta.outputs]
        assert [n for n, _ in ins] == ["input"] and [n for n, _ in outs] == ["output"], \
            f"tensors {ins} -> {outs}"
        return (f"live, ready, model {meta.name} versions {list(meta.versions)}, "
                f"{ins[0][0]} {ins[0][1]} -> {outs[0][0]} {outs[0][1]}; server {server.name} "
                f"{server.version}, extensions {list(server.extensions)}")

    def fp32_raw(self):
        x = np.array([[-3.0, -0.5, 0.0, 0.25], [0.5, 1.5, 6.0, 7.25]], dtype=np.float32)
        req = self.request("FP32", [2, 4], "fp32-raw", FP32_PARAMS,
                           raw=x.astype("<f4").tobytes())
        resp = self.stub.ModelInfer(req, timeout=TIMEOUT_S)
        out = self.check_envelope(resp, "fp32-raw", "FP32", [2, 4])
        assert len(resp.raw_output_contents) == 1, \
            f"{len(resp.raw_output_contents)} raw_output_contents, want 1 (the request's encoding)"
        assert not out.contents.fp32_contents, "answer in contents, want raw_output_contents"
        got = np.frombuffer(resp.raw_output_contents[0], dtype="<f4")
        difference = first_difference(got, documented_relu_fp32(x.ravel(), **FP32_PARAMS))
        assert difference is None, difference
        return f"{fmt(x.ravel())} -> {fmt(got)}"

    def fp32_contents(self):
        x = np.array([-2.0, -0.25, 0.4, 0.5, 5.999, 100.0], dtype=np.float32)
        req = self.request("FP32", [6], "fp32-contents", FP32_PARAMS,
                           fp32_contents=x.tolist())
        resp = self.stub.ModelInfer(req, timeout=TIMEOUT_S)
        out = self.check_envelope(resp, "fp32-contents", "FP32", [6])
        assert not resp.raw_output_contents, "answer in raw_output_contents, want contents"
        got = np.array(out.contents.fp32_contents, dtype=np.float32)
        difference = first_difference(got, documented_relu_fp32(x, **FP32_PARAMS))
        assert difference is None, difference
        return f"{fmt(x)} -> {fmt(got)}"

    def int8_contents(self):
        x = [-100, -7, -1, 0, 1, 4, 5, 127]
        params = dict(max_value=5, negative_slope=2.0)  # max_value as int64_param
        req = self.request("INT8", [8], "int8", params, int_contents=x)
        resp = self.stub.ModelInfer(req, timeout=TIMEOUT_S)
        out = self.check_envelope(resp, "int8", "INT8", [8])
        got = list(out.contents.int_contents)
        want = [documented_relu_int(v, -128, 127, **params) for v in x]
        assert got == want, f"{got}, want {want}"
        return f"{x} -> {got}"

    def stream(self):
        rng = np.random.default_rng(12)
        shapes = [[1], [3, 4], [1000]]
        inputs = [rng.uniform(-10, 10, size=s).astype(np.float32) for s in shapes]
        requests = [self.request("FP32", s, f"stream-{i}", FP32_PARAMS,
                                 raw=x.astype("<f4").tobytes())
                    for i, (s, x) in enumerate(zip(shapes, inputs))]
        answers = list(self.stub.ModelStreamInfer(iter(requests), timeout=TIMEOUT_S))
        assert len(answers) == len(requests), f"{len(answers)} answers, want {len(requests)}"
        for i, (answer, x, shape) in enumerate(zip(answers, inputs, shapes)):
            assert not answer.error_message, f"answer {i}: {answer.error_message}"
            resp = answer.infer_response
            self.check_envelope(resp, f"stream-{i}", "FP32", shape)
            got = np.frombuffer(resp.raw_output_contents[0], dtype="<f4")
            difference = first_difference(got, documented_relu_fp32(x.ravel(), **FP32_PARAMS))
            assert difference is None, f"answer {i}: {difference}"
        return f"{len(answers)} answers in order, shapes {shapes}"

    def errors(self):
        wrong_model = self.request("FP32", [1], "", {}, fp32_contents=[1.0])
        wrong_model.model_name = "resnet"
        short = self.request("FP32", [2, 2], "", {}, raw=bytes(12))  # 16 bytes needed
        lines = []
        for req, code, word in [(wrong_model, grpc.StatusCode.NOT_FOUND, "resnet"),
                                (short, grpc.StatusCode.INVALID_ARGUMENT, "raw_input_contents")]:
            try:
                self.stub.ModelInfer(req, timeout=TIMEOUT_S)
            except grpc.RpcError as e:
                assert e.code() == code, f"status {e.code()}, want {code}"
                assert word in (e.details() or ""), f"details {e.details()!r} lack {word!r}"
                lines.append(f"{code.name}: {e.details()}")
                continue
            raise AssertionError(f"the call succeeded, want {code.name}")
        return "; ".join(lines)


CHECKS = ["health_and_metadata", "fp32_raw", "fp32_contents", "int8_contents", "stream", "errors"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", required=True, help="host:port of activation_server's gRPC")
    parser.add_argument("--proto_root", default=DEFAULT_PROTO_ROOT,
                        help="directory holding inference/grpc_predict_v2.proto")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="oip_stubs_") as out_dir:
        try:
            pb, pb_grpc = load_stubs(args.proto_root, out_dir)
        except (OSError, subprocess.CalledProcessError) as e:
            print(f"setup: cannot generate stubs: {e}", file=sys.stderr)
            return 2
        with grpc.insecure_channel(args.target) as channel:
            try:
                grpc.channel_ready_future(channel).result(timeout=TIMEOUT_S)
            except grpc.FutureTimeoutError:
                print(f"setup: no server at {args.target} after {TIMEOUT_S} s", file=sys.stderr)
                return 2
            checks = Checks(pb, pb_grpc.GRPCInferenceServiceStub(channel))
            failed = 0
            for name in CHECKS:
                try:
                    print(f"PASS {name}: {getattr(checks, name)()}")
                except (AssertionError, grpc.RpcError) as e:
                    failed += 1
                    detail = f"{e.code()}: {e.details()}" if isinstance(e, grpc.RpcError) else e
                    print(f"FAIL {name}: {detail}")
    print(f"{len(CHECKS) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
