#!/usr/bin/python3
"""Checks the ghz configs in deploy/ghz against the proto and a live server.

    /usr/bin/python3 tests/deploy/check_ghz.py SERVER_BINARY

For every deploy/ghz/*.json:
  1. valid JSON with only keys ghz's config file knows, a host, insecure,
     sane counts and Go durations, and no "proto"/"protoset" (so it runs by
     reflection; README.md says how to add --proto);
  2. "call" names a method of activation.v1.ActivationService or of the Open
     Inference Protocol's inference.GRPCInferenceService in the protos, and
     "data" has the shape the method wants (one object or a list for unary,
     a list of stream messages for a streaming method);
  3. every message decodes into the method's request (ReluRequest,
     ModelInferRequest) with json_format.ParseDict (unknown fields fail) and
     its tensor is well formed: a dtype, one encoding, payload size =
     product(shape) x itemsize; a ModelInferRequest names model relu and
     one input tensor "input";
  4. every message fits ghz's send limit and its response (same size) the
     receive limit ("max-send-message-size", "max-recv-message-size" or
     gRPC-Go's defaults) and the server's default --max_message_bytes;
  5. every message is sent to SERVER_BINARY, started on 127.0.0.1:0 with
     metrics and HTTP off: unary calls and one call per streaming config
     must end OK, with one response per message of the same dtype, shape and
     encoding,
     FLOAT32 values matching the documented formula (ModelInfer: parameters
     max_value, negative_slope and threshold; the id echoed);
  6. ghz itself keeps up: a call's deadline runs while ghz turns its JSON
     into a message, which is slow for numbers (the 1 MiB float_data config,
     262144 numbers, managed 10-20 calls/s on two cores). The wait that
     "concurrency" calls queued behind the encoder imply, at the low rate,
     must stay under a tenth of "timeout";
  7. the files are what deploy/ghz/generate.py writes, and the two 1 MiB
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
PROTOS = ["activation/v1/activation.proto", "inference/grpc_predict_v2.proto"]
SERVER_MAX_MESSAGE_BYTES = 64 << 20  # activation_server's default
GO_DEFAULT_RECV = 4 << 20  # gRPC-Go's default receive limit
GO_DEFAULT_SEND = (1 << 31) - 1
# ghz's JSON-to-message encoding of numbers (protojson), from the 1 MiB
# float_data config's 10-20 calls/s on two cores: the low end. Strings (the
# base64 of raw contents) cost a small fraction of this per byte.
GHZ_JSON_NUMBERS_PER_S = 262144 * 10
# How far under "timeout" the implied wait must stay.
GHZ_TIMEOUT_MARGIN = 10
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
# The Open Inference Protocol's datatype names for the same dtypes, and the
# typed-contents field each travels in (FP16 and BF16: raw only).
OIP_DATATYPE = {
    "FP32": "FLOAT32", "FP64": "FLOAT64", "FP16": "FLOAT16", "BF16": "BFLOAT16",
    "INT8": "INT8", "INT16": "INT16", "INT32": "INT32", "INT64": "INT64",
    "UINT8": "UINT8", "UINT16": "UINT16", "UINT32": "UINT32",
    "UINT64": "UINT64",
}
OIP_CONTENTS = {
    "FP32": "fp32_contents", "FP64": "fp64_contents", "INT8": "int_contents",
    "INT16": "int_contents", "INT32": "int_contents",
    "INT64": "int64_contents", "UINT8": "uint_contents",
    "UINT16": "uint_contents", "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
}


class CheckError(Exception):
    pass


def fail(message):
    raise CheckError(message)


class Stubs:
    """The generated modules of both protos: pb2 and pb2_grpc for
    activation.v1, oip and oip_grpc for inference."""

    def __init__(self, out_dir):
        subprocess.run(
            ["/usr/bin/protoc", "-I", PROTO_DIR, "--python_out=" + out_dir,
             "--grpc_python_out=" + out_dir,
             "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin"] +
            PROTOS, check=True)
        sys.path.insert(0, out_dir)
        from activation.v1 import activation_pb2, activation_pb2_grpc
        from inference import grpc_predict_v2_pb2, grpc_predict_v2_pb2_grpc
        self.pb2, self.pb2_grpc = activation_pb2, activation_pb2_grpc
        self.oip, self.oip_grpc = grpc_predict_v2_pb2, grpc_predict_v2_pb2_grpc

    def is_oip(self, method):
        """Returns whether method belongs to inference.GRPCInferenceService."""
        return method.containing_service.full_name == \
            "inference.GRPCInferenceService"

    def request_class(self, method):
        """Returns the generated class of method's request message."""
        module = self.oip if self.is_oip(method) else self.pb2
        return getattr(module, method.input_type.name)

    def stub(self, method, channel):
        """Returns the stub of method's service on channel."""
        if self.is_oip(method):
            return self.oip_grpc.GRPCInferenceServiceStub(channel)
        return self.pb2_grpc.ActivationServiceStub(channel)


def parse_bytes(text):
    """Returns the bytes of a go-humanize size such as "16 MiB"."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", str(text))
    if not m or m.group(2).lower() not in BYTE_UNITS:
        fail("%r is not a size ghz understands (e.g. \"16 MiB\")" % text)
    return int(float(m.group(1)) * BYTE_UNITS[m.group(2).lower()])


def find_method(stubs, call):
    """Returns the MethodDescriptor that a ghz "call" names."""
    m = re.fullmatch(r"([\w.]+)[./](\w+)", call or "")
    if not m:
        fail("call %r is not package.Service.Method" % call)
    service_name, method_name = m.groups()
    for service in (list(stubs.pb2.DESCRIPTOR.services_by_name.values()) +
                    list(stubs.oip.DESCRIPTOR.services_by_name.values())):
        if service.full_name == service_name:
            method = service.methods_by_name.get(method_name)
            if method is None:
                fail("%s has no method %s (it has %s)" % (
                    service_name, method_name,
                    ", ".join(sorted(service.methods_by_name))))
            return method
    fail("the protos define no service %s" % service_name)


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


def json_numbers(value):
    """Returns how many JSON numbers value holds."""
    if isinstance(value, dict):
        return sum(json_numbers(v) for v in value.values())
    if isinstance(value, list):
        return sum(json_numbers(v) for v in value)
    return int(isinstance(value, (int, float)) and not isinstance(value, bool))


def check_encoder_wait(config):
    """Checks that concurrency calls queued behind ghz's JSON encoder end
    well inside the timeout; returns the implied wait in seconds."""
    seconds_per_call = json_numbers(config.get("data")) / GHZ_JSON_NUMBERS_PER_S
    wait = config["concurrency"] * seconds_per_call
    timeout = go_duration_seconds(config.get("timeout", "20s"))
    if wait * GHZ_TIMEOUT_MARGIN > timeout:
        fail("concurrency %d x %.3f s of JSON encoding per call = %.1f s "
             "queued per call; timeout %s needs to be over %dx that: lower "
             "concurrency or raise timeout" % (
                 config["concurrency"], seconds_per_call, wait,
                 config.get("timeout", "20s"), GHZ_TIMEOUT_MARGIN))
    return wait


def go_duration_seconds(text):
    """Returns the seconds of a Go duration such as "1m30s"."""
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60,
             "h": 3600}
    return sum(float(n) * units[u] for n, u in
               re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", str(text)))


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


def check_oip_tensor(request, where):
    """Checks a ModelInferRequest's model and tensor; returns its payload
    bytes."""
    if request.model_name != "relu" or request.model_version not in ("", "1"):
        fail("%s: model %r version %r; the server serves relu version 1" % (
            where, request.model_name, request.model_version))
    if [t.name for t in request.inputs] != ["input"]:
        fail("%s: inputs %s, want one named input" % (
            where, [t.name for t in request.inputs]))
    tensor = request.inputs[0]
    if tensor.datatype not in OIP_DATATYPE:
        fail("%s: datatype %r" % (where, tensor.datatype))
    if any(d < 0 for d in tensor.shape):
        fail("%s: negative dimension in %s" % (where, list(tensor.shape)))
    count = math.prod(tensor.shape)
    itemsize = ITEMSIZE[OIP_DATATYPE[tensor.datatype]]
    if request.raw_input_contents:
        if tensor.HasField("contents"):
            fail("%s: both raw_input_contents and contents" % where)
        raw = request.raw_input_contents
        if len(raw) != 1 or len(raw[0]) != count * itemsize:
            fail("%s: raw_input_contents %s bytes; shape %s of %s needs [%d]" %
                 (where, [len(r) for r in raw], list(tensor.shape),
                  tensor.datatype, count * itemsize))
        return len(raw[0])
    field = OIP_CONTENTS.get(tensor.datatype)
    values = getattr(tensor.contents, field) if field else []
    if field is None or len(values) != count:
        fail("%s: %s of %s needs %d values in contents.%s" % (
            where, list(tensor.shape), tensor.datatype, count, field))
    return count * itemsize


def decode_data(stubs, config, method):
    """Returns the requests of config["data"] (ReluRequest or
    ModelInferRequest, as the method takes), checked."""
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
    request_class = stubs.request_class(method)
    if request_class.__name__ not in ("ReluRequest", "ModelInferRequest"):
        fail("%s takes %s, which these checks do not know" % (
            method.name, method.input_type.full_name))
    requests = []
    for i, item in enumerate(items):
        request = request_class()
        try:
            json_format.ParseDict(item, request)
        except json_format.ParseError as e:
            fail("data[%d] does not decode into %s: %s" % (
                i, request_class.__name__, e))
        requests.append(request)
    return requests


def expected_response(stubs, request):
    """Returns a response of the size the server answers request with."""
    if isinstance(request, stubs.pb2.ReluRequest):
        return stubs.pb2.ReluResponse(output=request.input)
    response = stubs.oip.ModelInferResponse(
        model_name="relu", model_version="1", id=request.id,
        raw_output_contents=request.raw_input_contents)
    tensor = request.inputs[0]
    response.outputs.add(name="output", datatype=tensor.datatype,
                         shape=tensor.shape, contents=tensor.contents)
    return response


def check_sizes(stubs, config, requests):
    """Checks every request and its response against the message limits."""
    send = parse_bytes(config.get("max-send-message-size", GO_DEFAULT_SEND))
    recv = parse_bytes(config.get("max-recv-message-size", GO_DEFAULT_RECV))
    largest = 0
    for i, request in enumerate(requests):
        size = request.ByteSize()
        response = expected_response(stubs, request).ByteSize()
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


def oip_params(request):
    """Returns a ModelInferRequest's ReLU parameters as a ReluParams-like
    object (max_value, negative_slope, threshold; documented mode only)."""
    class Params:
        negative_slope, threshold, max_value = 0.0, 0.0, None

        def HasField(self, name):
            return getattr(self, name) is not None
    params = Params()
    for name, p in request.parameters.items():
        choice = p.WhichOneof("parameter_choice")
        if name == "mode":
            if p.string_param != "documented":
                return None
            continue
        if name not in ("max_value", "negative_slope", "threshold") or \
                choice not in ("double_param", "int64_param", "uint64_param"):
            fail("parameters.%s (%s) is no ReLU parameter" % (name, choice))
        setattr(params, name, float(getattr(p, choice)))
    return params


def check_oip_response(request, response, where):
    """Checks one ModelInferResponse against its ModelInferRequest."""
    if response.id != request.id:
        fail("%s: id %r, sent %r" % (where, response.id, request.id))
    sent = request.inputs[0]
    if len(response.outputs) != 1:
        fail("%s: %d outputs, want 1" % (where, len(response.outputs)))
    got = response.outputs[0]
    if (got.name, got.datatype, list(got.shape)) != (
            "output", sent.datatype, list(sent.shape)):
        fail("%s: output %s %s %s, sent %s %s" % (
            where, got.name, got.datatype, list(got.shape), sent.datatype,
            list(sent.shape)))
    if [len(r) for r in response.raw_output_contents] != [
            len(r) for r in request.raw_input_contents]:
        fail("%s: raw_output_contents differ in size from the request's" %
             where)
    params = oip_params(request)
    if sent.datatype != "FP32" or params is None:
        return
    if request.raw_input_contents:
        n = len(request.raw_input_contents[0]) // 4
        xs = struct.unpack("<%df" % n, request.raw_input_contents[0])
        ys = struct.unpack("<%df" % n, response.raw_output_contents[0])
    else:
        xs, ys = sent.contents.fp32_contents, got.contents.fp32_contents
    for j, (x, y) in enumerate(zip(xs, ys)):
        want = documented_relu(x, params)
        if not math.isclose(y, want, rel_tol=1e-6, abs_tol=1e-6):
            fail("%s: element %d: relu(%r) = %r, want %r" % (where, j, x, y,
                                                             want))


def check_response(pb2, request, response, where):
    """Checks one ReluResponse against its ReluRequest."""
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
    """activation_server on 127.0.0.1:0, metrics and HTTP off, stopped with
    SIGTERM."""

    def __init__(self, binary, tmp):
        self.port_file = os.path.join(tmp, "port")
        self.log = open(os.path.join(tmp, "server.log"), "w+")
        self.process = subprocess.Popen(
            [binary, "--address=127.0.0.1:0", "--metrics_address=",
             "--http_address=", "--port_file=" + self.port_file],
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


def send(stubs, port, method, requests, send_limit, recv_limit, name):
    """Sends requests as ghz would make one call of the config; checks it."""
    import grpc
    options = [("grpc.max_send_message_length", min(send_limit, 2**31 - 1)),
               ("grpc.max_receive_message_length", min(recv_limit, 2**31 - 1))]
    with grpc.insecure_channel("127.0.0.1:%d" % port, options) as channel:
        stub = stubs.stub(method, channel)
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
        where = "%s data[%d]" % (name, i)
        if stubs.is_oip(method):
            if method.server_streaming:
                if response.error_message:
                    fail("%s: error_message %s" % (where,
                                                   response.error_message))
                response = response.infer_response
            check_oip_response(request, response, where)
        else:
            check_response(stubs.pb2, request, response, where)
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
        stubs = Stubs(tmp)
        pb2 = stubs.pb2
        print("stubs: protoc %s" % " ".join(PROTOS))
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
                wait = check_encoder_wait(config)
                method = find_method(stubs, config.get("call"))
                requests = decode_data(stubs, config, method)
                payload = [check_oip_tensor(r, "data[%d]" % i)
                           if stubs.is_oip(method) else
                           check_tensor(pb2, r, "data[%d]" % i)
                           for i, r in enumerate(requests)]
                largest, send_limit, recv_limit = check_sizes(stubs, config,
                                                              requests)
            except CheckError as e:
                fail("%s: %s" % (name, e))
            checked[name] = (config, method, requests, send_limit, recv_limit)
            print("ok   %s: %s, %d message(s), payload %d bytes, largest "
                  "message %d bytes, JSON encoder queue %.2f s of %s" % (
                      name, method.full_name, len(requests), sum(payload),
                      largest, wait, config.get("timeout", "20s")))

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
                n = send(stubs, server.port, method, requests, send_limit,
                         recv_limit, name)
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
