#!/usr/bin/python3
"""Checks the ghz configs in deploy/ghz against the proto and a live server.

    /usr/bin/python3 tests/deploy/check_ghz.py SERVER_BINARY

For every deploy/ghz/*.json:
  1. valid JSON with only keys ghz's config file knows, a host, insecure,
     sane counts and Go durations, and no "proto"/"protoset" (so it runs by
     reflection; README.md says how to add --proto);
  2. "call" names a method of activation.v1.ActivationService in the proto,
     and "data" has the shape the method wants (one object or a list for
     unary, a list of stream messages for ReluStream);
  3. every message decodes into ReluRequest with json_format.ParseDict
     (unknown fields fail) and its tensor is well formed: a dtype, one
     encoding, payload size = product(shape) x itemsize;
  4. every message fits ghz's send limit and its response (same size) the
     receive limit ("max-send-message-size", "max-recv-message-size" or
     gRPC-Go's defaults) and the server's default --max_message_bytes;
  5. every message is sent to SERVER_BINARY, started on 127.0.0.1:0 with
     metrics off: unary calls and one ReluStream per stream config must end
     OK, with one response per message of the same dtype, shape and encoding,
     FLOAT32 values matching the documented formula;
  6. the files are what deploy/ghz/generate.py writes, and the two 1 MiB
     configs carry the same tensor.
Python stubs are generated at start with /usr/bin/protoc and
/usr/bin/grpc_python_plugin (Debian's protobuf-compiler,
protobuf-compiler-grpc, python3-protobuf, python3-grpcio). Prints each check;
exits 1 on the first failure.
"""

import base64
import glob
import importlib.util
import json
import math
import os
import re
import signal
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
GHZ_DIR = os.path.join(ROOT, "deploy", "ghz")
PROTO_DIR = os.path.join(ROOT, "proto")
PROTO = "activation/v1/activation.proto"
SERVICE = "activation.v1.ActivationService"
SERVER_MAX_MESSAGE_BYTES = 64 << 20  # activation_server's default
GO_DEFAULT_RECV = 4 << 20  # gRPC-Go's default receive limit
GO_DEFAULT_SEND = (1 << 31) - 1
START_TIMEOUT_S = 20
STOP_TIMEOUT_S = 30

# The keys of ghz's config file (the json tags of its runner.Config).
GHZ_KEYS = {
    "proto", "protoset", "call", "import-paths", "cacert", "cert", "key",
    "cname", "skipTLS", "skip-verify", "insecure", "authority", "async", "rps",
    "load-schedule", "load-start", "load-end", "load-step",
    "load-step-duration", "load-max-duration", "concurrency",
    "concurrency-schedule", "concurrency-start", "concurrency-end",
    "concurrency-step", "concurrency-step-duration",
    "concurrency-max-duration", "total", "timeout", "duration",
    "max-duration", "duration-stop", "data", "data-file", "binary-file",
    "metadata", "metadata-file", "stream-interval", "stream-call-duration",
    "stream-call-count", "stream-dynamic-messages", "reflect-metadata",
    "output", "format", "skipFirst", "skip-first", "count-errors",
    "connections", "connect-timeout", "keepalive", "enable-compression",
    "lb-strategy", "name", "tags", "cpus", "debug", "host",
    "max-recv-message-size", "max-send-message-size",
}
DURATION_KEYS = {
    "timeout", "duration", "max-duration", "stream-interval",
    "stream-call-duration", "connect-timeout", "keepalive",
    "load-step-duration", "load-max-duration", "concurrency-step-duration",
    "concurrency-max-duration",
}
GO_DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$|^0$")
# go-humanize ParseBytes units.
BYTE_UNITS = {
    "": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "k": 10**3,
    "m": 10**6, "g": 10**9, "kib": 2**10, "mib": 2**20, "gib": 2**30,
    "ki": 2**10, "mi": 2**20, "gi": 2**30,
}
ITEMSIZE = {
    "FLOAT32": 4, "FLOAT64": 8, "FLOAT16": 2, "BFLOAT16": 2, "INT8": 1,
    "INT16": 2, "INT32": 4, "INT64": 8, "UINT8": 1, "UINT16": 2,
    "UINT32": 4, "UINT64": 8,
}


class CheckError(Exception):
    pass


def fail(message):
    raise CheckError(message)


def generate_stubs(out_dir):
    """Compiles the proto to Python; returns (activation_pb2, _pb2_grpc)."""
    subprocess.run(
        ["/usr/bin/protoc", "-I", PROTO_DIR, "--python_out=" + out_dir,
         "--grpc_python_out=" + out_dir,
         "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin",
         PROTO], check=True)
    sys.path.insert(0, out_dir)
    from activation.v1 import activation_pb2, activation_pb2_grpc
    return activation_pb2, activation_pb2_grpc


def parse_bytes(text):
    """Returns the bytes of a go-humanize size such as "16 MiB"."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", str(text))
    if not m or m.group(2).lower() not in BYTE_UNITS:
        fail("%r is not a size ghz understands (e.g. \"16 MiB\")" % text)
    return int(float(m.group(1)) * BYTE_UNITS[m.group(2).lower()])


def find_method(pb2, call):
    """Returns the MethodDescriptor that a ghz "call" names."""
    m = re.fullmatch(r"([\w.]+)[./](\w+)", call or "")
    if not m:
        fail("call %r is not package.Service.Method" % call)
    service_name, method_name = m.groups()
    for service in pb2.DESCRIPTOR.services_by_name.values():
        if service.full_name == service_name:
            method = service.methods_by_name.get(method_name)
            if method is None:
                fail("%s has no method %s (it has %s)" % (
                    service_name, method_name,
                    ", ".join(sorted(service.methods_by_name))))
            return method
    fail("the proto defines no service %s" % service_name)


def check_settings(config):
    """Checks the keys other than "data"."""
    unknown = sorted(set(config) - GHZ_KEYS)
    if unknown:
        fail("keys ghz does not know: %s" % ", ".join(unknown))
    for key in ("proto", "protoset", "import-paths"):
        if key in config:
            fail("%r set: the configs run by reflection; pass --proto on the "
                 "command line instead (README.md)" % key)
    if not config.get("host"):
        fail("no host")
    if config.get("insecure") is not True:
        fail("insecure must be true (the server runs plaintext by default)")
    for key in ("total", "concurrency", "connections"):
        if not isinstance(config.get(key), int) or config[key] < 1:
            fail("%s must be a positive integer" % key)
    if config["total"] < config["concurrency"]:
        fail("total < concurrency: some workers would make no call")
    if config["connections"] > config["concurrency"]:
        fail("connections > concurrency: ghz refuses that")
    for key in DURATION_KEYS & set(config):
        if not GO_DURATION.match(str(config[key])):
            fail("%s=%r is not a Go duration" % (key, config[key]))


def check_tensor(pb2, request, where):
    """Checks that request.input is well formed; returns its payload bytes."""
    tensor = request.input
    if not request.HasField("input"):
        fail("%s: no input" % where)
    dtype = pb2.DataType.Name(tensor.dtype)[len("DATA_TYPE_"):]
    if dtype not in ITEMSIZE:
        fail("%s: dtype %s" % (where, dtype))
    if any(d < 0 for d in tensor.shape):
        fail("%s: negative dimension in %s" % (where, list(tensor.shape)))
    count = math.prod(tensor.shape)
    if tensor.raw_data and tensor.float_data:
        fail("%s: both raw_data and float_data" % where)
    if tensor.float_data or (count and not tensor.raw_data):
        if dtype != "FLOAT32":
            fail("%s: float_data with %s (FLOAT32 only)" % (where, dtype))
        if len(tensor.float_data) != count:
            fail("%s: %d float_data for shape %s" % (
                where, len(tensor.float_data), list(tensor.shape)))
        return 4 * count
    if len(tensor.raw_data) != count * ITEMSIZE[dtype]:
        fail("%s: raw_data has %d bytes; shape %s of %s needs %d" % (
            where, len(tensor.raw_data), list(tensor.shape), dtype,
            count * ITEMSIZE[dtype]))
    return len(tensor.raw_data)


def decode_data(pb2, config, method):
    """Returns the ReluRequests of config["data"], checked."""
    from google.protobuf import json_format
    data = config.get("data")
    streaming = method.client_streaming
    if isinstance(data, dict):
        items = [data]
    elif isinstance(data, list) and data and all(
            isinstance(d, dict) for d in data):
        items = data
    else:
        fail("data must be an object or a non-empty list of objects")
    if streaming and not isinstance(data, list):
        fail("%s streams: data should list the stream's messages" %
             method.name)
    if method.input_type.full_name != pb2.ReluRequest.DESCRIPTOR.full_name:
        fail("%s takes %s, not ReluRequest" % (method.name,
                                               method.input_type.full_name))
    requests = []
    for i, item in enumerate(items):
        request = pb2.ReluRequest()
        try:
            json_format.ParseDict(item, request)
        except json_format.ParseError as e:
            fail("data[%d] does not decode into ReluRequest: %s" % (i, e))
        requests.append(request)
    return requests


def check_sizes(pb2, config, requests):
    """Checks every request and its response against the message limits."""
    send = parse_bytes(config.get("max-send-message-size", GO_DEFAULT_SEND))
    recv = parse_bytes(config.get("max-recv-message-size", GO_DEFAULT_RECV))
    largest = 0
    for i, request in enumerate(requests):
        size = request.ByteSize()
        response = pb2.ReluResponse(output=request.input).ByteSize()
        largest = max(largest, size, response)
        if size > send:
            fail("data[%d]: %d bytes > max-send-message-size %d" % (i, size,
                                                                   send))
        if response > recv:
            fail("data[%d]: response of %d bytes > max-recv-message-size %d "
                 "(gRPC-Go's default is 4 MiB)" % (i, response, recv))
        if max(size, response) > SERVER_MAX_MESSAGE_BYTES:
            fail("data[%d]: over the server's default --max_message_bytes" % i)
    return largest, send, recv


def values(pb2, tensor):
    """Returns a FLOAT32 tensor's elements as Python floats, else None."""
    if tensor.dtype != pb2.DATA_TYPE_FLOAT32:
        return None
    if tensor.float_data:
        return list(tensor.float_data)
    n = len(tensor.raw_data) // 4
    return list(struct.unpack("<%df" % n, tensor.raw_data))


def documented_relu(x, params):
    """tf.keras.layers.ReLU as its documentation states it (in double)."""
    max_value = params.max_value if params.HasField("max_value") else None
    if max_value is not None and x >= max_value:
        return max_value
    if x >= params.threshold:
        return x
    return params.negative_slope * (x - params.threshold)


def check_response(pb2, request, response, where):
    """Checks one response against its request."""
    got, sent = response.output, request.input
    if (got.dtype, list(got.shape)) != (sent.dtype, list(sent.shape)):
        fail("%s: response dtype/shape %s %s, sent %s %s" % (
            where, got.dtype, list(got.shape), sent.dtype, list(sent.shape)))
    if (bool(got.float_data), len(got.raw_data)) != (
            bool(sent.float_data), len(sent.raw_data)):
        fail("%s: response encoding or size differs from the request's" %
             where)
    xs, ys = values(pb2, sent), values(pb2, got)
    if xs is None or request.params.mode == pb2.MODE_KERAS:
        return
    for j, (x, y) in enumerate(zip(xs, ys)):
        want = documented_relu(x, request.params)
        if not math.isclose(y, want, rel_tol=1e-6, abs_tol=1e-6):
            fail("%s: element %d: relu(%r) = %r, want %r" % (where, j, x, y,
                                                             want))


class Server:
    """activation_server on 127.0.0.1:0, metrics off, stopped with SIGTERM."""

    def __init__(self, binary, tmp):
        self.port_file = os.path.join(tmp, "port")
        self.log = open(os.path.join(tmp, "server.log"), "w+")
        self.process = subprocess.Popen(
            [binary, "--address=127.0.0.1:0", "--metrics_address=",
             "--port_file=" + self.port_file],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                fail("server exited with %d: %s" % (self.process.returncode,
                                                    self.output()))
            lines = self._port_lines()
            if len(lines) == 2:
                self.port = int(lines[0])
                return
            time.sleep(0.05)
        fail("server did not write %s within %d s" % (self.port_file,
                                                     START_TIMEOUT_S))

    def _port_lines(self):
        try:
            with open(self.port_file) as f:
                text = f.read()
        except FileNotFoundError:
            return []
        return text.split("\n")[:2] if text.count("\n") >= 2 else []

    def output(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop(self):
        """Sends SIGTERM; fails unless the server exits 0 in time."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                fail("server did not exit within %d s of SIGTERM" %
                     STOP_TIMEOUT_S)
        if self.process.returncode != 0:
            fail("server exited with %d: %s" % (self.process.returncode,
                                                self.output()))


def send(pb2, pb2_grpc, port, method, requests, send_limit, recv_limit, name):
    """Sends requests as ghz would make one call of the config; checks it."""
    import grpc
    options = [("grpc.max_send_message_length", min(send_limit, 2**31 - 1)),
               ("grpc.max_receive_message_length", min(recv_limit, 2**31 - 1))]
    with grpc.insecure_channel("127.0.0.1:%d" % port, options) as channel:
        stub = pb2_grpc.ActivationServiceStub(channel)
        try:
            if method.client_streaming:
                responses = list(getattr(stub, method.name)(iter(requests),
                                                            timeout=30))
                if len(responses) != len(requests):
                    fail("%s: %d responses to %d messages" % (
                        name, len(responses), len(requests)))
            else:
                responses = [getattr(stub, method.name)(r, timeout=30)
                             for r in requests]
        except grpc.RpcError as e:
            fail("%s: %s: %s" % (name, e.code().name, e.details()))
    for i, (request, response) in enumerate(zip(requests, responses)):
        check_response(pb2, request, response, "%s data[%d]" % (name, i))
    return len(responses)


def check_generated(configs):
    """Checks the files against generate.py and the 1 MiB pair's tensors."""
    spec = importlib.util.spec_from_file_location(
        "ghz_generate", os.path.join(GHZ_DIR, "generate.py"))
    generate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate)
    expected = generate.configs()
    if sorted(expected) != sorted(configs):
        fail("deploy/ghz has %s; generate.py makes %s" % (sorted(configs),
                                                         sorted(expected)))
    for name, config in expected.items():
        with open(os.path.join(GHZ_DIR, name)) as f:
            if f.read() != generate.render(config):
                fail("%s differs from what generate.py writes; run it" % name)
    return generate


def main(argv):
    if len(argv) != 2 or not os.access(argv[1], os.X_OK):
        sys.exit("usage: check_ghz.py SERVER_BINARY (an executable)")
    paths = sorted(glob.glob(os.path.join(GHZ_DIR, "*.json")))
    if not paths:
        fail("no configs in %s" % GHZ_DIR)
    with tempfile.TemporaryDirectory() as tmp:
        pb2, pb2_grpc = generate_stubs(tmp)
        print("stubs: protoc %s" % PROTO)
        checked = {}
        for path in paths:
            name = os.path.basename(path)
            try:
                with open(path) as f:
                    config = json.load(f)
            except json.JSONDecodeError as e:
                fail("%s: not valid JSON: %s" % (name, e))
            if not isinstance(config, dict):
                fail("%s: not a JSON object" % name)
            try:
                check_settings(config)
                method = find_method(pb2, config.get("call"))
                requests = decode_data(pb2, config, method)
                payload = [check_tensor(pb2, r, "data[%d]" % i)
                           for i, r in enumerate(requests)]
                largest, send_limit, recv_limit = check_sizes(pb2, config,
                                                              requests)
            except CheckError as e:
                fail("%s: %s" % (name, e))
            checked[name] = (config, method, requests, send_limit, recv_limit)
            print("ok   %s: %s, %d message(s), payload %d bytes, largest "
                  "message %d bytes" % (name, method.full_name, len(requests),
                                        sum(payload), largest))

        generate = check_generated(checked)
        print("ok   files match deploy/ghz/generate.py")
        float_data = checked["unary_1mib_float_data.json"][2][0].input
        raw_data = checked["unary_1mib_raw_data.json"][2][0].input
        if values(pb2, float_data) != values(pb2, raw_data) or values(
                pb2, raw_data) != [float(v) for v in generate.one_mib_values()]:
            fail("the two 1 MiB configs do not carry the same tensor")
        print("ok   unary_1mib_float_data.json and unary_1mib_raw_data.json "
              "carry the same 262144 values")

        server = Server(argv[1], tmp)
        print("server: %s on 127.0.0.1:%d" % (os.path.basename(argv[1]),
                                              server.port))
        try:
            for name, (config, method, requests, send_limit,
                       recv_limit) in checked.items():
                n = send(pb2, pb2_grpc, server.port, method, requests,
                         send_limit, recv_limit, name)
                print("ok   %s: %s answered %d message(s) OK, shapes and "
                      "values as sent" % (name, method.name, n))
        finally:
            server.stop()
        print("server: exited 0 after SIGTERM")
    print("check_ghz: %d configs valid and served" % len(checked))


if __name__ == "__main__":
    try:
        main(sys.argv)
    except CheckError as e:
        print("FAIL: %s" % e, file=sys.stderr)
        sys.exit(1)
