#!/usr/bin/python3
"""Writes the ghz configs of this directory (README.md says how to run them).

    /usr/bin/python3 deploy/ghz/generate.py           # rewrite the *.json
    /usr/bin/python3 deploy/ghz/generate.py --check   # exit 1 if any differs

The tensors are made here, deterministically, so the 1 MiB configs (too big to
edit by hand) can be reproduced and reviewed as this script. Both 1 MiB
configs carry the same 262144 FLOAT32 values: once as float_data (a JSON
list) and once as raw_data (little-endian bytes, base64 as proto3 JSON wants
for `bytes`). oip_model_infer.json calls the Open Inference Protocol's
inference.GRPCInferenceService/ModelInfer. tests/deploy/check_ghz.py checks the
files against this script and sends every request to a live server.
"""

import base64
import json
import os
import struct
import sys

CALL_UNARY = "activation.v1.ActivationService.Relu"
CALL_STREAM = "activation.v1.ActivationService.ReluStream"
CALL_MODEL_INFER = "inference.GRPCInferenceService.ModelInfer"
# The local run (scripts/run.sh); pass another host as ghz's last argument.
HOST = "127.0.0.1:50051"
ONE_MIB_ELEMENTS = 262144  # 1 MiB of FLOAT32
# Headroom over the 1 MiB messages (deploy/k8s's --max_message_bytes is
# 4 MiB). gRPC-Go's default receive limit is 4 MiB.
LARGE_MESSAGE_LIMIT = "16 MiB"
# Values cycled through the 1 MiB tensor: both branches, the cap, zero.
PATTERN = [-2, -1, -0.5, 0, 0.5, 1, 2, 8]
# The 1 MiB float_data config, sized for ghz rather than the server: ghz turns
# 1 MiB of JSON numbers into a message for every call (protojson), which
# manages 10-20 calls a second on two cores, and a call's deadline runs while
# it waits for that. At 50 calls in flight each waited 2.5-5 s on average and
# the tail passed the old 10 s timeout. With 4 in flight a call waits
# 0.2-0.4 s; 60 s leaves over 100x for a slower or busier load generator, and
# 100 calls take 5-10 s.
FLOAT_DATA_TOTAL, FLOAT_DATA_CONCURRENCY, FLOAT_DATA_TIMEOUT = 100, 4, "60s"


def _base(name, call, total, concurrency, timeout="10s"):
    """Returns the settings every config shares."""
    return {
        "name": name,
        "call": call,
        "host": HOST,
        "insecure": True,
        "total": total,
        "concurrency": concurrency,
        "connections": 1,
        "timeout": timeout,
    }


def _raw(fmt, values):
    """Returns values packed little-endian with struct format fmt, base64."""
    return base64.b64encode(struct.pack("<%d%s" % (len(values), fmt),
                                        *values)).decode("ascii")


def _bfloat16(values):
    """Returns values as BFLOAT16 (upper half of each binary32), base64."""
    packed = struct.pack("<%df" % len(values), *values)
    return base64.b64encode(b"".join(
        packed[i + 2:i + 4] for i in range(0, len(packed), 4))).decode("ascii")


def _tensor(dtype, shape, **payload):
    return dict({"dtype": "DATA_TYPE_" + dtype, "shape": shape}, **payload)


def one_mib_values():
    """Returns the 262144 values of the 1 MiB tensor."""
    return [PATTERN[i % len(PATTERN)] for i in range(ONE_MIB_ELEMENTS)]


def configs():
    """Returns {file name: config} for every config of this directory."""
    small = [-3, -1.5, -0.5, -0.25, 0, 0.25, 0.5, 1, 1.5, 2, 3, 4, 5, 6, 7, 100]
    relu6 = {"max_value": 6}
    out = {}

    cfg = _base("unary small: 16 FLOAT32 (float_data), ReLU6", CALL_UNARY,
                20000, 50)
    cfg["data"] = {"input": _tensor("FLOAT32", [16], float_data=small),
                   "params": relu6}
    out["unary_small.json"] = cfg

    big = one_mib_values()
    for encoding in ("float_data", "raw_data"):
        payload = big if encoding == "float_data" else _raw("f", big)
        counts = ((FLOAT_DATA_TOTAL, FLOAT_DATA_CONCURRENCY, FLOAT_DATA_TIMEOUT)
                  if encoding == "float_data" else (500, 50))
        cfg = _base("unary 1 MiB: 262144 FLOAT32 (%s), ReLU6" % encoding,
                    CALL_UNARY, *counts)
        cfg["max-send-message-size"] = LARGE_MESSAGE_LIMIT
        cfg["max-recv-message-size"] = LARGE_MESSAGE_LIMIT
        cfg["data"] = {"input": _tensor("FLOAT32", [ONE_MIB_ELEMENTS],
                                        **{encoding: payload}),
                       "params": relu6}
        out["unary_1mib_%s.json" % encoding] = cfg

    # One call is one stream carrying these 10 messages, in order; dtypes,
    # encodings and parameters vary as a mixed client's would.
    eight = [-4, -1, -0.5, 0, 0.5, 1, 6, 9]
    messages = [
        {"input": _tensor("FLOAT32", [16], float_data=small), "params": relu6},
        {"input": _tensor("FLOAT32", [4, 4], raw_data=_raw("f", small)),
         "params": {"negative_slope": 0.5}},
        {"input": _tensor("FLOAT32", [2, 8], raw_data=_raw("f", small)),
         "params": {"max_value": 6, "negative_slope": 0.25, "threshold": 1,
                    "mode": "MODE_KERAS"}},
        {"input": _tensor("FLOAT64", [8], raw_data=_raw("d", eight)),
         "params": relu6},
        {"input": _tensor("FLOAT16", [8], raw_data=_raw("e", eight)),
         "params": {"max_value": 6, "negative_slope": 0.5}},
        {"input": _tensor("BFLOAT16", [8], raw_data=_bfloat16(eight))},
        {"input": _tensor("INT8", [16], raw_data=_raw("b", range(-8, 8))),
         "params": {"max_value": 5}},
        {"input": _tensor("INT32", [2, 3],
                          raw_data=_raw("i", [-70000, -1, 0, 1, 6, 70000])),
         "params": {"negative_slope": 0.5}},
        {"input": _tensor("UINT16", [4], raw_data=_raw("H", [0, 1, 6, 65535])),
         "params": {"max_value": 6}},
        {"input": _tensor("FLOAT32", [], float_data=[-1.5]),
         "params": {"negative_slope": 0.5}},
    ]
    cfg = _base("stream: ReluStream, 10 messages of mixed dtypes per call",
                CALL_STREAM, 2000, 50)
    cfg["data"] = messages
    out["stream.json"] = cfg

    # The Open Inference Protocol: model relu, 16 FP32 in raw_input_contents
    # (base64), ReLU's parameters as request parameters.
    cfg = _base("oip ModelInfer: 16 FP32 (raw_input_contents), max_value 6, "
                "negative_slope 0.1", CALL_MODEL_INFER, 20000, 50)
    cfg["data"] = {
        "model_name": "relu",
        "model_version": "1",
        "id": "ghz",
        "parameters": {"max_value": {"double_param": 6},
                       "negative_slope": {"double_param": 0.1}},
        "inputs": [{"name": "input", "datatype": "FP32", "shape": [16]}],
        "raw_input_contents": [_raw("f", small)],
    }
    out["oip_model_infer.json"] = cfg
    return out


def _json(value, indent):
    """Returns value as JSON: objects one key a line, lists of numbers on one
    line (the 1 MiB float_data would otherwise take 262144 lines)."""
    pad = "  " * (indent + 1)
    if isinstance(value, dict):
        items = ["%s%s: %s" % (pad, json.dumps(k), _json(v, indent + 1))
                 for k, v in value.items()]
        return "{\n%s\n%s}" % (",\n".join(items), "  " * indent)
    if isinstance(value, list) and any(isinstance(v, dict) for v in value):
        items = [pad + _json(v, indent + 1) for v in value]
        return "[\n%s\n%s]" % (",\n".join(items), "  " * indent)
    return json.dumps(value, separators=(", ", ": "))


def render(config):
    """Returns a config as the text of its file."""
    return _json(config, 0) + "\n"


def main(argv):
    directory = os.path.dirname(os.path.abspath(__file__))
    check = argv[1:] == ["--check"]
    if argv[1:] and not check:
        sys.exit("usage: generate.py [--check]")
    stale = []
    for name, config in configs().items():
        path = os.path.join(directory, name)
        text = render(config)
        if check:
            with open(path) as f:
                if f.read() != text:
                    stale.append(name)
        else:
            with open(path, "w") as f:
                f.write(text)
            print("wrote %s (%d bytes)" % (path, len(text)))
    if stale:
        sys.exit("out of date (run deploy/ghz/generate.py): " + ", ".join(stale))


if __name__ == "__main__":
    main(sys.argv)
