#!/usr/bin/python3
"""Request bodies for h2load, and a check that a server answers them.

Needs activation_pb2 on PYTHONPATH (protoc --python_out; bench/compare.sh
generates it) and, for `check`, Debian's python3-grpcio.

  relu_body.py body N FILE   writes one gRPC frame (flag 0, 4-byte big-endian
                             length, ReluRequest) of N FLOAT32 elements
                             (raw_data, shape [N]) to FILE
  relu_body.py check PORT FILE
                             sends FILE's message to 127.0.0.1:PORT
                             /activation.v1.ActivationService/Relu; exits 0
                             and prints "OK identity" or "OK relu" if the
                             call is OK and its output has the input's dtype
                             and shape and either the input's values or
                             their ReLU, 1 otherwise
"""

import array
import struct
import sys

from activation.v1 import activation_pb2

METHOD = "/activation.v1.ActivationService/Relu"


def little_endian(values):
    """Returns `values` (an array) with its bytes in little-endian order."""
    if sys.byteorder != "little":
        values.byteswap()
    return values


def write_body(elements, path):
    values = little_endian(
        array.array("f", (float(i % 7 - 3) for i in range(elements))))
    request = activation_pb2.ReluRequest()
    request.input.dtype = activation_pb2.DATA_TYPE_FLOAT32
    request.input.shape.append(elements)
    request.input.raw_data = values.tobytes()
    message = request.SerializeToString()
    with open(path, "wb") as f:
        f.write(struct.pack(">BI", 0, len(message)) + message)


def check(port, path):
    import grpc  # only here: `body` must work without grpcio

    with open(path, "rb") as f:
        frame = f.read()
    flag, length = struct.unpack(">BI", frame[:5])
    message = frame[5:]
    if flag != 0 or length != len(message):
        print(f"FAIL {path} is not one uncompressed gRPC frame")
        return 1
    request = activation_pb2.ReluRequest.FromString(message)
    options = [("grpc.max_receive_message_length", 1 << 30),
               ("grpc.max_send_message_length", 1 << 30)]
    target = f"127.0.0.1:{port}"
    with grpc.insecure_channel(target, options=options) as channel:
        try:
            answer = channel.unary_unary(METHOD)(message, timeout=120)
        except grpc.RpcError as e:
            print(f"FAIL {e.code().name}: {e.details()}")
            return 1
    output = activation_pb2.ReluResponse.FromString(answer).output
    if (output.dtype != request.input.dtype
            or output.shape != request.input.shape):
        print(f"FAIL output dtype {output.dtype} shape {list(output.shape)}")
        return 1
    inputs = little_endian(array.array("f", request.input.raw_data))
    outputs = little_endian(array.array("f", output.raw_data))
    if outputs == inputs:
        print("OK identity")
    elif outputs == array.array("f", (max(x, 0.0) for x in inputs)):
        print("OK relu")
    else:
        print("FAIL output values are neither the input nor its ReLU")
        return 1
    return 0


def main(argv):
    if len(argv) == 4 and argv[1] == "body":
        write_body(int(argv[2]), argv[3])
        return 0
    if len(argv) == 4 and argv[1] == "check":
        return check(int(argv[2]), argv[3])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
