#!/usr/bin/python3
"""Calls activation-service from Python and checks every answer.

Usage:
  /usr/bin/python3 examples/python/relu_client.py --target 127.0.0.1:PORT [--proto_root DIR]

Runs four checks against a running activation_server and prints one line per
check: Relu on a raw_data tensor, Relu on a float_data tensor, ReluStream with
five requests, and a malformed request that must fail with INVALID_ARGUMENT.
Expected values come from numpy, evaluating the DOCUMENTED-mode formula of
docs/semantics.md in float32; results must match bit for bit.
Exits 0 when all checks pass, 1 when one fails, 2 on a setup error.

Needs Debian's python3-grpcio, python3-numpy, python3-protobuf, protobuf-compiler
and protobuf-compiler-grpc: the stubs are generated at start-up with
/usr/bin/protoc and /usr/bin/grpc_python_plugin into a temporary directory.
"""

import argparse
import os
import subprocess
import sys
import tempfile

import grpc
import numpy as np

DEFAULT_PROTO_ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "proto")
PROTO_FILE = "activation/v1/activation.proto"
TIMEOUT_S = 10


def load_stubs(proto_root, out_dir):
    """Generates the Python stubs for PROTO_FILE into out_dir and imports them."""
    subprocess.run(["/usr/bin/protoc", "-I", proto_root, f"--python_out={out_dir}",
                    f"--grpc_python_out={out_dir}",
                    "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin", PROTO_FILE],
                   check=True)
    sys.path.insert(0, out_dir)
    from activation.v1 import activation_pb2, activation_pb2_grpc
    return activation_pb2, activation_pb2_grpc


def documented_relu(x, max_value, negative_slope, threshold):
    """Returns DOCUMENTED-mode ReLU of float32 array x, evaluated in float32."""
    s, t = np.float32(negative_slope), np.float32(threshold)
    lower = s * (x - t) if s != 0 else np.zeros_like(x)  # slope 0 gives +0
    y = np.where(x >= t, x, lower)
    if max_value is not None:
        y = np.where(x >= np.float32(max_value), np.float32(max_value), y)
    return np.where(np.isnan(x), x, y).astype(np.float32)


def fmt(values):
    """Formats float32 values for a human."""
    return "[" + ", ".join(f"{v:.7g}" for v in np.asarray(values, np.float32)) + "]"


def first_difference(got, want):
    """Returns a description of the first bitwise difference, or None if there is none."""
    got, want = np.asarray(got, np.float32), np.asarray(want, np.float32)
    if got.shape != want.shape:
        return f"{got.size} elements, want {want.size}"
    differ = np.flatnonzero(got.view(np.uint32) != want.view(np.uint32))
    if differ.size:
        i = differ[0]
        return f"element {i} is {got[i]:.9g}, want {want[i]:.9g}"
    return None


class Checks:
    PARAMS = dict(max_value=6.0, negative_slope=0.1, threshold=0.0)

    def __init__(self, pb, stub):
        self.pb, self.stub = pb, stub

    def request(self, x, encoding="raw_data"):
        t = self.pb.Tensor(dtype=self.pb.DATA_TYPE_FLOAT32, shape=list(x.shape))
        if encoding == "raw_data":
            t.raw_data = x.astype("<f4").tobytes()
        else:
            t.float_data.extend(x.ravel().tolist())
        params = self.pb.ReluParams(mode=self.pb.MODE_DOCUMENTED, **self.PARAMS)
        return self.pb.ReluRequest(input=t, params=params)

    def check_output(self, out, x, encoding):
        """Asserts out is documented_relu(x) in the given encoding."""
        assert out.dtype == self.pb.DATA_TYPE_FLOAT32, f"dtype {out.dtype}, want FLOAT32"
        assert list(out.shape) == list(x.shape), f"shape {list(out.shape)}, want {list(x.shape)}"
        other = "float_data" if encoding == "raw_data" else "raw_data"
        assert len(getattr(out, other)) == 0, f"response uses {other}, want {encoding} only"
        if encoding == "raw_data":
            got = np.frombuffer(out.raw_data, dtype="<f4")
        else:
            got = np.array(out.float_data, dtype=np.float32)
        want = documented_relu(x.astype(np.float32).ravel(), **self.PARAMS)
        difference = first_difference(got, want)
        assert difference is None, difference

    def relu_raw_data(self):
        x = np.array([[-3.0, -0.5, 0.0], [1.5, 6.0, 7.25]], dtype=np.float32)
        resp = self.stub.Relu(self.request(x), timeout=TIMEOUT_S)
        self.check_output(resp.output, x, "raw_data")
        return f"{fmt(x.ravel())} -> {fmt(np.frombuffer(resp.output.raw_data, '<f4'))}"

    def relu_float_data(self):
        x = np.array([-2.0, -0.25, 0.5, 5.999, 6.0, 100.0], dtype=np.float32)
        resp = self.stub.Relu(self.request(x, "float_data"), timeout=TIMEOUT_S)
        self.check_output(resp.output, x, "float_data")
        return f"{fmt(x)} -> {fmt(resp.output.float_data)}"

    def relu_stream(self):
        rng = np.random.default_rng(7)
        shapes = [[1], [3], [4, 4], [2, 5, 10], [1000]]
        inputs = [rng.uniform(-10, 10, size=s).astype(np.float32) for s in shapes]
        responses = list(self.stub.ReluStream(iter([self.request(x) for x in inputs]),
                                              timeout=TIMEOUT_S))
        assert len(responses) == len(inputs), f"{len(responses)} responses, want {len(inputs)}"
        for i, (resp, x) in enumerate(zip(responses, inputs)):
            try:
                self.check_output(resp.output, x, "raw_data")
            except AssertionError as e:
                raise AssertionError(f"response {i}: {e}") from None
        return f"{len(responses)} responses in order, shapes {shapes}"

    def invalid_argument(self):
        # 12 bytes where a [2, 2] FLOAT32 tensor needs 16.
        bad = self.pb.ReluRequest(input=self.pb.Tensor(
            dtype=self.pb.DATA_TYPE_FLOAT32, shape=[2, 2], raw_data=bytes(12)))
        try:
            self.stub.Relu(bad, timeout=TIMEOUT_S)
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, f"status {e.code()}"
            assert "raw_data" in (e.details() or ""), f"details {e.details()!r} lack 'raw_data'"
            return f"INVALID_ARGUMENT: {e.details()}"
        raise AssertionError("the call succeeded, want INVALID_ARGUMENT")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", required=True, help="host:port of activation_server")
    parser.add_argument("--proto_root", default=DEFAULT_PROTO_ROOT,
                        help="directory holding activation/v1/activation.proto")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="activation_stubs_") as out_dir:
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
            checks = Checks(pb, pb_grpc.ActivationServiceStub(channel))
            failed = 0
            for name in ["relu_raw_data", "relu_float_data", "relu_stream", "invalid_argument"]:
                try:
                    print(f"PASS {name}: {getattr(checks, name)()}")
                except (AssertionError, grpc.RpcError) as e:
                    failed += 1
                    detail = f"{e.code()}: {e.details()}" if isinstance(e, grpc.RpcError) else e
                    print(f"FAIL {name}: {detail}")
    print(f"{4 - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
