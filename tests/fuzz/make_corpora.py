#!/usr/bin/python3
"""Writes the seed corpora of the fuzz targets (tests/fuzz/<target>_corpus/).

Deterministic: running it again rewrites the same files. The ReluRequest
seeds are encoded by hand (protobuf wire format) so that no generated Python
code is needed; the .npy seeds come from NumPy.

    /usr/bin/python3 tests/fuzz/make_corpora.py
"""

import io
import math
import pathlib
import shutil
import struct

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent

# ---- Protobuf wire format ----


def varint(value):
    value &= (1 << 64) - 1  # negative int64 as ten bytes, as protobuf does
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field_varint(number, value):
    return varint(number << 3) + varint(value)


def field_bytes(number, data):
    return varint(number << 3 | 2) + varint(len(data)) + data


def field_double(number, value):
    return varint(number << 3 | 1) + struct.pack("<d", value)


# activation.v1 DataType values and the struct codes of their elements.
DTYPES = {
    "FLOAT32": (1, "f"), "FLOAT64": (2, "d"), "FLOAT16": (3, "e"),
    "BFLOAT16": (4, None), "INT8": (5, "b"), "INT16": (6, "h"),
    "INT32": (7, "i"), "INT64": (8, "q"), "UINT8": (9, "B"),
    "UINT16": (10, "H"), "UINT32": (11, "I"), "UINT64": (12, "Q"),
}

FLOATS = [0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 6.0, 7.0, 1e-3, -1e30, math.inf,
          -math.inf, math.nan, 5.9e-8, 1e-40, 65504.0]


def bfloat16_bytes(values):
    out = b""
    for v in values:
        out += struct.pack("<f", v)[2:]
    return out


def elements(dtype, count):
    """`count` interesting elements of `dtype`, little-endian."""
    _, code = DTYPES[dtype]
    if dtype == "BFLOAT16":
        return bfloat16_bytes((FLOATS * 4)[:count])
    if code in "fde":
        values = (FLOATS * 4)[:count]
        if code == "e":  # beyond binary16: infinity, as a cast would give
            values = [math.copysign(math.inf, v) if abs(v) > 65504 else v
                      for v in values]
        return struct.pack("<%d%s" % (count, code), *values)
    bits = struct.calcsize(code) * 8
    if code.islower():
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    else:
        lo, hi = 0, (1 << bits) - 1
    pool = [lo, hi, 0, 1, -1, 2, -7, 6, 7, 100, lo + 1, hi - 1]
    pool = [v for v in pool if lo <= v <= hi]
    return struct.pack("<%d%s" % (count, code), *(pool * 4)[:count])


def tensor(dtype_value, shape, raw=b"", floats=None):
    body = b""
    if dtype_value:
        body += field_varint(1, dtype_value)
    if shape:
        body += field_bytes(2, b"".join(varint(d) for d in shape))
    if raw:
        body += field_bytes(3, raw)
    if floats:
        body += field_bytes(4, struct.pack("<%df" % len(floats), *floats))
    return body


def params(max_value=None, slope=0.0, threshold=0.0, mode=0):
    body = b""
    if max_value is not None:
        body += field_double(1, max_value)
    if slope:
        body += field_double(2, slope)
    if threshold:
        body += field_double(3, threshold)
    if mode:
        body += field_varint(4, mode)
    return body


def request(input_body, params_body=b""):
    out = field_bytes(1, input_body)
    if params_body:
        out += field_bytes(2, params_body)
    return out


def padded_varint(value, size):
    """`value` as a varint of exactly `size` bytes (padded with 0x80s)."""
    out = b""
    for i in range(size):
        low = value & 0x7F
        value >>= 7
        out += bytes([low | 0x80 if i + 1 < size else low])
    return out


def decode_seeds():
    seeds = {}
    for name, (value, _) in DTYPES.items():
        count = 12
        shape = [3, 4] if value % 2 else [count]
        raw = elements(name, count)
        seeds["%s_plain" % name.lower()] = request(tensor(value, shape, raw))
        seeds["%s_capped" % name.lower()] = request(
            tensor(value, shape, raw), params(6.0, 0.2, -0.5, 1))
        if value <= 4:
            seeds["%s_keras" % name.lower()] = request(
                tensor(value, shape, raw), params(6.0, 0.1, 0.5, 2))
    seeds["float_data"] = request(
        tensor(1, [4], floats=[-1.0, 0.0, 2.5, math.nan]), params(1.0))
    seeds["leaky_keras"] = request(tensor(1, [2], floats=[-4.0, 4.0]),
                                   params(None, 0.25, 0.0, 2))
    seeds["empty"] = request(tensor(1, [0, 7]))
    seeds["scalar"] = request(tensor(2, [], struct.pack("<d", -3.0)))
    seeds["big_int_threshold"] = request(
        tensor(8, [3], elements("INT64", 3)), params(2.0**64, 0.5, 2.0**63))
    # Without a payload of their own, these describe the 16 KiB of raw_data
    # that fuzz_decode puts in front of every input for its split parse.
    seeds["split_float32"] = request(tensor(1, [4096]), params(6.0, 0.2))
    seeds["split_int8"] = request(tensor(5, [128, 128]), params(100.0, 0.5))
    seeds["split_bfloat16"] = request(tensor(4, [8192]),
                                      params(1.0, 0.1, 0.5, 2))
    # Keys and lengths protobuf reads in at most 5 bytes, as 32 bits: a raw
    # _data key with bit 32 set (still raw_data to protobuf), an input whose
    # length takes 6 bytes (refused).
    seeds["split_high_raw_key"] = request(
        tensor(1, [4096]) + padded_varint((1 << 32) + 26, 5) + b"\0")
    body = tensor(1, [4096])
    seeds["split_long_length"] = (b"\x0a" + padded_varint(len(body), 6) +
                                  body)
    # Refusals.
    seeds["no_input"] = params(6.0)
    seeds["negative_dim"] = request(tensor(1, [-1], b"\0" * 4))
    seeds["short_payload"] = request(tensor(1, [2, 2], b"\0" * 12))
    seeds["both_payloads"] = request(
        tensor(1, [1], struct.pack("<f", 1.0), [1.0]))
    seeds["unknown_dtype"] = request(tensor(13, [1], b"\0"))
    seeds["keras_int"] = request(tensor(5, [1], b"\xff"), params(mode=2))
    seeds["rank_65"] = request(tensor(9, [1] * 65, b"\x01"))
    seeds["overflow"] = request(tensor(9, [1 << 40, 1 << 40], b"\x01"))
    seeds["too_many"] = request(tensor(9, [1 << 21], b"\x01"))
    seeds["nan_slope"] = request(tensor(1, [1], b"\0" * 4),
                                 params(None, math.nan))
    return seeds


# ---- inference.ModelInferRequest (the Open Inference Protocol) ----

OIP_NAMES = {"FLOAT32": "FP32", "FLOAT64": "FP64", "FLOAT16": "FP16",
             "BFLOAT16": "BF16"}


def oip_parameter(name, value):
    """A map<string, InferParameter> entry: double, int64 or string."""
    if isinstance(value, str):
        body = field_bytes(3, value.encode())
    elif isinstance(value, int):
        body = field_varint(2, value)
    else:
        body = field_double(4, value)
    return field_bytes(1, name.encode()) + field_bytes(2, body)


def oip_request(datatype, shape, raw=None, contents=b"", parameters=(),
                model="relu", name="input", version=b""):
    tensor_body = (field_bytes(1, name.encode()) +
                   field_bytes(2, datatype.encode()))
    if shape:
        tensor_body += field_bytes(3, b"".join(varint(d) for d in shape))
    if contents:
        tensor_body += field_bytes(5, contents)
    out = field_bytes(1, model.encode())
    if version:
        out += field_bytes(2, version)
    out += field_bytes(3, b"id-1")
    for key, value in parameters:
        out += field_bytes(4, oip_parameter(key, value))
    out += field_bytes(5, tensor_body)
    if raw is not None:
        out += field_bytes(7, raw)
    return out


def oip_infer_seeds():
    seeds = {}
    relu6 = (("max_value", 6.0), ("negative_slope", 0.2), ("threshold", -1))
    # Without raw contents of their own, these describe the 16 KiB that
    # fuzz_oip_infer puts in front of every input for its split parse.
    seeds["split_int8"] = oip_request("INT8", [128, 128], parameters=relu6)
    seeds["split_fp32"] = oip_request("FP32", [4096], parameters=relu6)
    seeds["split_bf16_keras"] = oip_request(
        "BF16", [8192], parameters=relu6 + (("mode", "keras"),))
    for name, (value, code) in DTYPES.items():
        datatype = OIP_NAMES.get(name, name)
        raw = elements(name, 12)
        seeds["%s_raw" % name.lower()] = oip_request(datatype, [3, 4], raw,
                                                    parameters=relu6)
        if value <= 4:
            seeds["%s_keras" % name.lower()] = oip_request(
                datatype, [12], raw,
                parameters=relu6 + (("mode", "keras"),))
        if code in ("f", "d"):
            field = 6 if code == "f" else 7
            seeds["%s_typed" % name.lower()] = oip_request(
                datatype, [12], contents=field_bytes(field, raw),
                parameters=relu6)
        elif code and code in "bhiqBHIQ":
            values = struct.unpack("<12" + code, raw)
            field = {"b": 2, "h": 2, "i": 2, "q": 3,
                     "B": 4, "H": 4, "I": 4, "Q": 5}[code]
            packed = b"".join(varint(v) for v in values)
            seeds["%s_typed" % name.lower()] = oip_request(
                datatype, [12], contents=field_bytes(field, packed),
                parameters=relu6)
    seeds["empty"] = oip_request("FP32", [0, 3], b"")
    seeds["version_1"] = oip_request("FP32", [1], b"\0\0\x80\xbf",
                                     version=b"1")
    # Refusals.
    seeds["bool"] = oip_request("BOOL", [1], b"\x01")
    seeds["other_model"] = oip_request("FP32", [1], b"\0" * 4, model="resnet")
    seeds["short_raw"] = oip_request("FP32", [2, 2], b"\0" * 12)
    seeds["unknown_parameter"] = oip_request("FP32", [1], b"\0" * 4,
                                             parameters=(("alpha", 1.0),))
    seeds["int8_out_of_range"] = oip_request(
        "INT8", [1], contents=field_bytes(2, varint(300)))
    return seeds


def oip_json_seeds():
    """A first byte k (the last 4k bytes are the binary section), then the
    body of POST /v2/models/relu/infer."""
    seeds = {}
    values = {
        "FP32": "[-2, -0.5, 0, 0.1, 3.4028235e38, NaN, -Infinity, 7]",
        "FP64": "[-2, 1e-310, 0.1, 5e-324, 1.7976931348623157e308, 6, 7, -0]",
        "FP16": "[-2, 0.1, 65504, 6.0e-8, 0.099975586, NaN, 7, -0]",
        "BF16": "[-2, 0.1, 3.3895314e38, 1e-40, 1.5, NaN, 7, -0]",
        "INT8": "[-128, 127, 0, 1, -1, 6, 7, 100]",
        "INT16": "[-32768, 32767, 0, 1, -1, 6, 7, 100]",
        "INT32": "[-2147483648, 2147483647, 0, 1, -1, 6, 7, 100]",
        "INT64": "[-9223372036854775808, 9223372036854775807, 0, 1, -1, 6, 7, 1]",
        "UINT8": "[0, 255, 1, 2, 6, 7, 100, 3]",
        "UINT16": "[0, 65535, 1, 2, 6, 7, 100, 3]",
        "UINT32": "[0, 4294967295, 1, 2, 6, 7, 100, 3]",
        "UINT64": "[0, 18446744073709551615, 1, 2, 6, 7, 100, 3]",
    }
    params = ('"parameters": {"max_value": 6, "negative_slope": 0.25, '
              '"threshold": -1, "mode": "documented"}')
    for datatype, data in values.items():
        body = ('{"id": "x", %s, "inputs": [{"name": "input", "datatype": '
                '"%s", "shape": [8], "data": %s}]}' % (params, datatype, data))
        seeds["%s_flat" % datatype.lower()] = b"\0" + body.encode()
    seeds["nested"] = b"\0" + (
        b'{"inputs": [{"name": "input", "datatype": "FP32", "shape": [2, 2],'
        b' "data": [[1, -1], [2.5, -0.5]]}], "outputs": [{"name": "output"}]}')
    seeds["keras"] = b"\0" + (
        b'{"parameters": {"mode": "keras", "max_value": 1}, "inputs": [{"name":'
        b' "input", "datatype": "BF16", "shape": [3], "data": [1, 2, -3]}]}')
    binary = struct.pack("<4f", -1.0, 0.5, 9.0, math.nan)
    seeds["binary"] = bytes([4]) + (
        b'{"inputs": [{"name": "input", "datatype": "FP32", "shape": [4], '
        b'"parameters": {"binary_data_size": 16}}], "outputs": [{"name": '
        b'"output", "parameters": {"binary_data": true}}]}') + binary
    seeds["binary_output"] = b"\0" + (
        b'{"parameters": {"binary_data_output": true}, "inputs": [{"name": '
        b'"input", "datatype": "INT16", "shape": [2], "data": [-5, 5]}]}')
    # Refusals.
    seeds["deep"] = b"\0" + b'{"inputs": [{"data": ' + b"[" * 100 + b"]" * 100
    seeds["bool"] = b"\0" + (
        b'{"inputs": [{"name": "input", "datatype": "BOOL", "shape": [1], '
        b'"data": [true]}]}')
    seeds["string_data"] = b"\0" + (
        b'{"inputs": [{"name": "input", "datatype": "FP32", "shape": [1], '
        b'"data": ["1"]}]}')
    seeds["out_of_range"] = b"\0" + (
        b'{"inputs": [{"name": "input", "datatype": "UINT8", "shape": [1], '
        b'"data": [256]}]}')
    return seeds


def npy_seeds():
    seeds = {}
    rng = np.random.default_rng(11)
    for code in ["f2", "f4", "f8", "i1", "i2", "i4", "i8", "u1", "u2", "u4",
                 "u8"]:
        values = rng.integers(-100, 100, size=(2, 3)).astype(code)
        for order in "<>":
            buf = io.BytesIO()
            np.save(buf, values.astype(np.dtype(order + code)))
            seeds["%s_%s" % (code, "le" if order == "<" else "be")] = (
                buf.getvalue())
    for name, array in [
            ("fortran_2d", np.asfortranarray(np.arange(6.0).reshape(2, 3))),
            ("fortran_3d",
             np.asfortranarray(np.arange(24, dtype="<i4").reshape(2, 3, 4))),
            ("fortran_be",
             np.asfortranarray(np.arange(6, dtype=">f4").reshape(3, 2))),
            ("scalar", np.array(1.5, dtype="<f8")),
            ("empty", np.zeros((0, 3), dtype="<f4")),
            ("one_dim", np.arange(5, dtype="<u2"))]:
        buf = io.BytesIO()
        np.save(buf, array)
        seeds[name] = buf.getvalue()
    for version in [(2, 0), (3, 0)]:
        buf = io.BytesIO()
        np.lib.format.write_array(buf, np.arange(4, dtype="<f4"),
                                  version=version)
        seeds["version_%d" % version[0]] = buf.getvalue()
    good = seeds["f4_le"]
    seeds["bad_magic"] = b"\x93NUMPX" + good[6:]
    seeds["truncated"] = good[:40]
    header = b"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }"
    seeds["structured"] = (b"\x93NUMPY\x01\x00" +
                           struct.pack("<H", len(header)) + header + b"\0" * 4)
    return seeds


# ---- fuzz_relu_differential: [dtype][flags][param]x3[payload] ----

# Indices into kInterestingParams (fuzz_relu_differential.cc).
P_ZERO, P_HALF, P_ONE, P_SIX, P_TENTH, P_MINUS_07 = 0, 2, 3, 4, 5, 7
P_127_5, P_2_63, P_65504, P_FLT_MAX = 11, 20, 25, 27


def table(index):
    return bytes([index * 4])


def raw_double(value):
    return b"\x01" + struct.pack("<d", value)


def quarter(k):
    return b"\x03" + struct.pack("<b", k)


def differential_seeds():
    seeds = {}
    order = ["FLOAT32", "FLOAT64", "FLOAT16", "BFLOAT16", "INT8", "INT16",
             "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"]
    for index, name in enumerate(order):
        payload = elements(name, 37)  # odd count: every kernel has a tail
        modes = [0, 1] if index < 4 else [0]
        for mode in modes:
            # flags: bit 0 KERAS, bit 1 max_value set, bits 2.. out offset.
            flags = mode | 2 | (5 << 2)
            seeds["%s_%s_capped" % (name.lower(), "keras" if mode else "doc")] = (
                bytes([index, flags]) + table(P_SIX) + table(P_TENTH) +
                table(P_MINUS_07) + payload)
            seeds["%s_%s_plain" % (name.lower(), "keras" if mode else "doc")] = (
                bytes([index, mode]) + table(P_ZERO) + table(P_ZERO) +
                table(P_ZERO) + payload)
        seeds["%s_edges" % name.lower()] = (
            bytes([index, 2 | (1 << 2)]) + table(P_127_5) + quarter(3) +
            raw_double(2.5) + payload)
    seeds["int64_huge"] = (bytes([7, 2]) + table(P_2_63) + table(P_HALF) +
                           table(P_2_63) + elements("INT64", 9))
    seeds["float16_limits"] = (bytes([2, 3]) + table(P_65504) + table(P_ONE) +
                               table(P_HALF) + elements("FLOAT16", 64))
    seeds["keras_float_max"] = (bytes([0, 1]) + table(P_ZERO) +
                                table(P_FLT_MAX) + table(P_ZERO) +
                                elements("FLOAT32", 16))
    seeds["invalid_slope"] = bytes([0, 0]) + table(0) + quarter(-4) + table(0)
    return seeds


# ---- fuzz_client_text: [flags][token length][token][text] ----


def client_text_seeds():
    token = b"s3cr3t-token"

    def seed(flags, text, tok=token):
        return bytes([flags, len(tok)]) + tok + text

    return {
        "exact": seed(0, b"Bearer " + token),
        "lower_two_spaces": seed(0, b"bearer  " + token),
        "tab": seed(0, b"Bearer \t" + token),
        "wrong_token": seed(0, b"Bearer s3cr3t-tokeN"),
        "longer_token": seed(0, b"Bearer " + token + b"x"),
        "no_space": seed(0, b"Bearer" + token),
        "basic": seed(0, b"Basic dXNlcjpwYXNz"),
        "empty": seed(0, b""),
        "absent": seed(1, b""),
        "built": seed(2 | (1 << 2) | (2 << 4), b""),
        "built_near_miss": seed(2, b"\x00"),
        "long_text": seed(0, b"x" * 300),
        "relu_path": seed(0, b"/activation.v1.ActivationService/Relu"),
        "health_path": seed(0, b"/grpc.health.v1.Health/Check"),
        "oip_live_path": seed(
            2, b"/inference.GRPCInferenceService/ServerLive", tok=b""),
        "reflection_path": seed(
            0, b"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"),
    }


def write(target, seeds):
    directory = HERE / ("%s_corpus" % target)
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir()
    for name, data in sorted(seeds.items()):
        (directory / name).write_bytes(data)
    print("%s: %d seeds" % (directory.relative_to(HERE.parent.parent),
                            len(seeds)))


def main():
    write("fuzz_decode", decode_seeds())
    write("fuzz_npy", npy_seeds())
    write("fuzz_relu_differential", differential_seeds())
    write("fuzz_client_text", client_text_seeds())
    write("fuzz_oip_infer", oip_infer_seeds())
    write("fuzz_oip_json", oip_json_seeds())


if __name__ == "__main__":
    main()
