"""The pieces every attack in attacks.py is built from.

Server starts activation_server on 127.0.0.1 (port 0, --port_file) and always
kills it; RssSampler reads VmRSS from /proc/<pid>/status every 50 ms in a
thread; H2Client is a small raw HTTP/2 client (python3-h2) that misbehaves on
purpose (windows never updated, streams never finished); RawH2 writes frames
by hand where h2's bookkeeping is too slow (rapid reset); victim() is a
well-behaved grpcio client on its own connection.

Everything here talks to 127.0.0.1 only, and every loop has a deadline.
Use Debian's /usr/bin/python3 (grpcio, numpy, protobuf, h2 from apt).
"""

import contextlib
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import grpc
import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.frame_buffer
import h2.settings
import hpack

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HOST = "127.0.0.1"
MIB = 1 << 20

# The Kubernetes pod settings (deploy/k8s): the flags every attack starts from.
POD_FLAGS = ("--max_inflight=48", "--max_message_bytes=4194304", "--threads=2")
# What an attack on the HTTP/REST front adds: serve it on a free port.
HTTP_FLAGS = (f"--http_address={HOST}:0",)

SERVICE = "/activation.v1.ActivationService/"
RELU = SERVICE + "Relu"
RELU_STREAM = SERVICE + "ReluStream"
GET_SERVER_INFO = SERVICE + "GetServerInfo"
HEALTH_CHECK = "/grpc.health.v1.Health/Check"
HEALTH_WATCH = "/grpc.health.v1.Health/Watch"

_CLK_TCK = os.sysconf("SC_CLK_TCK")
_pb2 = None


def pb2():
    """Returns activation_pb2, generated once per process with protoc."""
    global _pb2
    if _pb2 is None:
        out = tempfile.mkdtemp(prefix="adversarial-pb2-")
        subprocess.check_call([
            "/usr/bin/protoc", f"-I{REPO}/proto", f"--python_out={out}",
            "activation/v1/activation.proto"])
        sys.path.insert(0, out)
        from activation.v1 import activation_pb2  # noqa: E402
        _pb2 = activation_pb2
    return _pb2

_oip = None


def oip_pb2():
    """Returns (grpc_predict_v2_pb2, grpc_predict_v2_pb2_grpc), the Open
    Inference Protocol's messages and stubs, generated once per process."""
    global _oip
    if _oip is None:
        out = tempfile.mkdtemp(prefix="adversarial-oip-")
        subprocess.check_call([
            "/usr/bin/protoc", f"-I{REPO}/proto", f"--python_out={out}",
            f"--grpc_python_out={out}",
            "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin",
            "inference/grpc_predict_v2.proto"])
        sys.path.insert(0, out)
        from inference import grpc_predict_v2_pb2, grpc_predict_v2_pb2_grpc
        _oip = (grpc_predict_v2_pb2, grpc_predict_v2_pb2_grpc)
    return _oip


# --- Messages -----------------------------------------------------------

def grpc_frame(message, declared_length=None):
    """Returns the 5-byte gRPC prefix (uncompressed) plus `message`."""
    length = len(message) if declared_length is None else declared_length
    return b"\x00" + struct.pack(">I", length) + bytes(message)


def relu_request(elements=None, nbytes=None, shape=None, raw=None):
    """Returns a serialized FLOAT32 ReluRequest.

    Either `elements` (values cycling through -2..1), `nbytes` (rounded down to
    whole floats), or an explicit `shape` and `raw` payload.
    """
    m = pb2()
    if nbytes is not None:
        elements = nbytes // 4
    if shape is None:
        shape = [elements]
        raw = relu_payload(elements)
    req = m.ReluRequest(input=m.Tensor(dtype=m.DATA_TYPE_FLOAT32, shape=shape,
                                       raw_data=raw))
    return req.SerializeToString()


def relu_payload(elements):
    """Returns `elements` little-endian float32 values -2, -1, 0, 1, -2, ..."""
    pattern = struct.pack("<4f", -2.0, -1.0, 0.0, 1.0)
    whole, rest = divmod(elements, 4)
    return pattern * whole + pattern[:4 * rest]


def relu_expected(elements):
    """Returns the raw_data ReLU gives for relu_payload(elements)."""
    pattern = struct.pack("<4f", 0.0, 0.0, 0.0, 1.0)
    whole, rest = divmod(elements, 4)
    return pattern * whole + pattern[:4 * rest]


def health_request(service):
    """Returns a serialized grpc.health.v1.HealthCheckRequest{service}."""
    return b"\x0a" + varint(len(service)) + service


def varint(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


# --- The server under attack ---------------------------------------------

class Server:
    """One activation_server process on 127.0.0.1 with a free port.

    Use as a context manager: the process is killed on exit whatever happened.
    """

    def __init__(self, binary, flags=(), start_timeout=15.0):
        self.workdir = tempfile.mkdtemp(prefix="adversarial-server-")
        port_file = os.path.join(self.workdir, "ports")
        self.log_path = os.path.join(self.workdir, "server.log")
        self.argv = [binary, f"--address={HOST}:0", f"--port_file={port_file}",
                     f"--metrics_address={HOST}:0", "--http_address=", *flags]
        # HTTP/REST is off unless a flag names an address (HTTP_FLAGS); the
        # port file then has a third line, the HTTP port.
        http = [f for f in self.argv if f.startswith("--http_address=")]
        self.serves_http = http[-1] != "--http_address="
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(self.argv, stdout=self._log,
                                        stderr=subprocess.STDOUT)
        self.pid = self.process.pid
        deadline = time.monotonic() + start_timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited {self.process.returncode}: "
                                   f"{self.log_tail()}")
            lines = _read_lines(port_file)
            if len(lines) >= (3 if self.serves_http else 2):
                self.port, self.metrics_port = int(lines[0]), int(lines[1])
                self.http_port = int(lines[2]) if self.serves_http else None
                break
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"no port file after {start_timeout} s")
            time.sleep(0.05)
        self.target = f"{HOST}:{self.port}"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()

    def alive(self):
        return self.process.poll() is None

    def rss_mib(self):
        """Returns VmRSS in MiB, or None once the process is gone."""
        try:
            with open(f"/proc/{self.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) / 1024.0
        except (FileNotFoundError, ProcessLookupError):
            pass
        return None

    def cpu_seconds(self):
        """Returns utime + stime of the process so far, in seconds."""
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _CLK_TCK

    def wait_cpu_idle(self, quiet=0.5, timeout=20.0):
        """Waits until the process uses < 5% CPU for `quiet` s; returns when."""
        start = time.monotonic()
        last = self.cpu_seconds()
        while time.monotonic() - start < timeout:
            time.sleep(quiet)
            now = self.cpu_seconds()
            if now - last < 0.05 * quiet:
                break
            last = now
        return time.monotonic() - start

    def resources(self):
        """Returns {"fds": open fds, "threads": tasks} of the process."""
        try:
            return {"fds": len(os.listdir(f"/proc/{self.pid}/fd")),
                    "threads": len(os.listdir(f"/proc/{self.pid}/task"))}
        except OSError:
            return {"fds": None, "threads": None}

    def log_lines(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace").splitlines()

    def metrics_text(self, timeout=10.0):
        url = f"http://{HOST}:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.read().decode()

    def metric(self, name, timeout=5.0):
        """Returns the sum of every sample of `name` on /metrics, or None."""
        try:
            text = self.metrics_text(timeout)
        except OSError:
            return None
        total, found = 0.0, False
        for line in text.splitlines():
            if line.startswith(name) and line[len(name):len(name) + 1] in " {":
                total += float(line.rsplit(" ", 1)[1])
                found = True
        return total if found else None

    def stop(self, sig=signal.SIGTERM, timeout=30.0):
        """Sends `sig` and returns the seconds until exit (None: killed)."""
        if not self.alive():
            return 0.0
        start = time.monotonic()
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout)
            return time.monotonic() - start
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._log.close()

    def log_tail(self, nbytes=2000):
        with open(self.log_path, "rb") as f:
            return f.read()[-nbytes:].decode(errors="replace")


def _read_lines(path):
    try:
        with open(path) as f:
            return [line for line in f.read().split("\n") if line.strip()]
    except FileNotFoundError:
        return []


class RssSampler:
    """Samples a Server's RSS every `period` s in a thread while entered.

    baseline is the first sample, peak the largest, after() a fresh sample.
    """

    def __init__(self, server, period=0.05):
        self.server = server
        self.period = period
        self.samples = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        first = self.server.rss_mib()
        self.samples.append((0.0, first))
        self._start = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _run(self):
        while not self._stop.wait(self.period):
            rss = self.server.rss_mib()
            if rss is None:
                return
            self.samples.append((time.monotonic() - self._start, rss))

    @property
    def baseline(self):
        return self.samples[0][1]

    @property
    def peak(self):
        return max(rss for _, rss in self.samples if rss is not None)

    def current(self):
        return self.server.rss_mib()

    def summary(self, after=None):
        """Returns rss_baseline_mib, rss_peak_mib, rss_after_mib, rounded."""
        after = self.current() if after is None else after
        return {"rss_baseline_mib": _r(self.baseline),
                "rss_peak_mib": _r(self.peak),
                "rss_after_mib": _r(after),
                "rss_samples": len(self.samples)}


def _r(value, digits=1):
    return None if value is None else round(value, digits)


# --- A well-behaved client -----------------------------------------------

# A well-behaved client's retry policy: UNAVAILABLE is retried with backoff
# (and the server's grpc-retry-pushback-ms), as activation::Client does.
RETRY_SERVICE_CONFIG = json.dumps({"methodConfig": [{
    "name": [{"service": "activation.v1.ActivationService"}],
    "retryPolicy": {"maxAttempts": 3, "initialBackoff": "0.1s",
                    "maxBackoff": "1s", "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"]}}]})


def channel(target, max_metadata=None, retry=False):
    """Returns a grpcio channel with its own connection (no shared pool);
    with `retry`, one that retries UNAVAILABLE like activation::Client."""
    options = [("grpc.use_local_subchannel_pool", 1),
               ("grpc.max_receive_message_length", -1),
               ("grpc.max_send_message_length", -1)]
    if max_metadata:
        options.append(("grpc.max_metadata_size", max_metadata))
    if retry:
        options += [("grpc.enable_retries", 1),
                    ("grpc.service_config", RETRY_SERVICE_CONFIG)]
    return grpc.insecure_channel(target, options=options)


def raw_unary(chan, method):
    """Returns a bytes-in, bytes-out unary callable for `method`."""
    return chan.unary_unary(method, request_serializer=None,
                            response_deserializer=None)


def code_name(code):
    return code.name if code is not None else "NONE"


def victim(target, calls=20, deadline=2.0, elements=16, token=None):
    """Makes `calls` small Relu calls and one GetServerInfo on a new channel.

    Returns {"relu": {code: count}, "relu_wrong": n, "server_info": code,
    "max_latency_s": ...}. Each call has `deadline` seconds.
    """
    request = relu_request(elements=elements)
    expected = relu_expected(elements)
    metadata = [("authorization", f"Bearer {token}")] if token else None
    codes, wrong, worst = {}, 0, 0.0
    with channel(target) as chan:
        relu = raw_unary(chan, RELU)
        for _ in range(calls):
            start = time.monotonic()
            try:
                reply = relu(request, timeout=deadline, metadata=metadata)
                code = "OK"
                if pb2().ReluResponse.FromString(reply).output.raw_data != expected:
                    wrong += 1
            except grpc.RpcError as e:
                code = code_name(e.code())
            worst = max(worst, time.monotonic() - start)
            codes[code] = codes.get(code, 0) + 1
        start = time.monotonic()
        try:
            raw_unary(chan, GET_SERVER_INFO)(b"", timeout=deadline,
                                             metadata=metadata)
            info = "OK"
        except grpc.RpcError as e:
            info = code_name(e.code())
        worst = max(worst, time.monotonic() - start)
    return {"relu": codes, "relu_wrong": wrong, "server_info": info,
            "max_latency_s": round(worst, 3)}


class VictimThread(threading.Thread):
    """Runs victim() in a thread; .result holds its dict once joined."""

    def __init__(self, target, **kwargs):
        super().__init__(daemon=True)
        self._args = (target, kwargs)
        self.result = None

    def run(self):
        target, kwargs = self._args
        try:
            self.result = victim(target, **kwargs)
        except Exception as e:  # noqa: BLE001 - reported, not raised
            self.result = {"error": repr(e)}


# --- A raw HTTP/2 client that misbehaves ----------------------------------

class H2Client:
    """One HTTP/2 connection to the server, driven by python3-h2.

    A reader thread answers SETTINGS and PING (h2 queues the ACKs), records
    every stream's headers, trailers, DATA bytes and resets, and GOAWAY. With
    ack_data=False it never sends WINDOW_UPDATE, so the server can send at
    most the windows we announced. Thread-safe: one lock guards the h2 state
    and the socket's writes.
    """

    def __init__(self, port, initial_window=None, ack_data=True,
                 max_header_list=64 * MIB):
        self.sock = socket.create_connection((HOST, port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # Writes give up after 10 s without progress; reads poll (select).
        config = h2.config.H2Configuration(client_side=True,
                                           header_encoding=None)
        self.conn = h2.connection.H2Connection(config=config)
        settings = {h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: max_header_list}
        if initial_window is not None:
            settings[h2.settings.SettingCodes.INITIAL_WINDOW_SIZE] = initial_window
        self.conn.local_settings = h2.settings.Settings(
            client=True, initial_values=settings)
        self.conn.decoder.max_header_list_size = max_header_list
        # h2 refuses a header block of more than 64 CONTINUATION frames; the
        # server's huge error messages need far more (16 KiB frames).
        h2.frame_buffer.CONTINUATION_BACKLOG = max(
            h2.frame_buffer.CONTINUATION_BACKLOG, max_header_list // 16384 + 64)
        self.ack_data = ack_data
        self.port = port
        self.streams = {}
        self.goaway = None
        self.error = None
        self.closed = False
        self.cond = threading.Condition()
        with self.cond:
            self.conn.initiate_connection()
            self._flush()
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()

    def _flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def _read_loop(self):
        while not self._stop.is_set():
            try:
                if not _readable(self.sock):
                    continue
                data = self.sock.recv(1 << 20)
            except OSError as e:
                self._close(repr(e))
                return
            if not data:
                self._close("server closed the connection")
                return
            with self.cond:
                self._receive(data)
                self.cond.notify_all()

    def _receive(self, data):
        # receive_data() loses every event of a batch when one frame in it
        # raises (e.g. a WINDOW_UPDATE after GOAWAY), so go frame by frame.
        self.conn.incoming_buffer.add_data(data)
        self.conn.incoming_buffer.max_frame_size = self.conn.max_inbound_frame_size
        try:
            for f in self.conn.incoming_buffer:
                try:
                    events = self.conn._receive_frame(f)
                except h2.exceptions.ProtocolError as e:
                    self.error = self.error or repr(e)
                    continue
                for event in events:
                    self._on_event(event)
            self._flush()
        except (h2.exceptions.H2Error, OSError) as e:
            self.error = self.error or repr(e)

    def _close(self, why):
        with self.cond:
            self.closed = True
            self.error = self.error or why
            self.cond.notify_all()

    def _stream(self, sid):
        return self.streams.setdefault(sid, {
            "headers": None, "trailers": None, "data_bytes": 0,
            "reset": None, "ended": False})

    def _on_event(self, event):
        if isinstance(event, h2.events.ResponseReceived):
            self._stream(event.stream_id)["headers"] = dict(event.headers)
        elif isinstance(event, h2.events.TrailersReceived):
            self._stream(event.stream_id)["trailers"] = dict(event.headers)
        elif isinstance(event, h2.events.DataReceived):
            self._stream(event.stream_id)["data_bytes"] += len(event.data)
            if self.ack_data:
                self.conn.acknowledge_received_data(
                    event.flow_controlled_length, event.stream_id)
        elif isinstance(event, h2.events.StreamEnded):
            self._stream(event.stream_id)["ended"] = True
        elif isinstance(event, h2.events.StreamReset):
            self._stream(event.stream_id)["reset"] = int(event.error_code)
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.goaway = {"error_code": int(event.error_code),
                           "last_stream_id": event.last_stream_id,
                           "debug": (event.additional_data or b"")[:200].decode(
                               errors="replace")}

    def open_stream(self, path, metadata=(), end_stream=False):
        """Sends a gRPC call's HEADERS; returns the stream id."""
        headers = [(b":method", b"POST"), (b":scheme", b"http"),
                   (b":path", path.encode()),
                   (b":authority", f"{HOST}:{self.port}".encode()),
                   (b"content-type", b"application/grpc"),
                   (b"te", b"trailers")]
        headers += [(k.encode(), v.encode()) for k, v in metadata]
        with self.cond:
            sid = self.conn.get_next_available_stream_id()
            self.conn.send_headers(sid, headers, end_stream=end_stream)
            self._stream(sid)
            self._flush()
        return sid

    def send(self, sid, data, end_stream=False, deadline=None):
        """Sends `data` on `sid` as flow control allows.

        Returns the bytes sent: all of them, or fewer if the stream closed,
        the connection closed or `deadline` (time.monotonic()) passed.
        """
        view = memoryview(data)
        sent = 0
        while sent < len(view):
            with self.cond:
                while True:
                    if self.closed or self._stream_done(sid):
                        return sent
                    window = self.conn.local_flow_control_window(sid)
                    if window > 0:
                        break
                    if deadline is not None and time.monotonic() > deadline:
                        return sent
                    self.cond.wait(0.2)
                frame = self.conn.max_outbound_frame_size
                burst = min(window, len(view) - sent, 16 * frame)
                try:
                    end = sent + burst
                    while sent < end:
                        n = min(frame, end - sent)
                        last = end_stream and sent + n == len(view)
                        self.conn.send_data(sid, view[sent:sent + n].tobytes(),
                                            end_stream=last)
                        sent += n
                    self._flush()
                except (h2.exceptions.StreamClosedError, OSError):
                    return sent
        if end_stream and not view:
            with self.cond:
                self.conn.end_stream(sid)
                self._flush()
        return sent

    def _stream_done(self, sid):
        s = self.streams.get(sid, {})
        return s.get("reset") is not None or s.get("ended")

    def status(self, sid):
        """Returns the stream's grpc-status name, 'RST' or None (no answer)."""
        s = self.streams.get(sid)
        if not s:
            return None
        for block in (s["trailers"], s["headers"]):
            if block and b"grpc-status" in block:
                return _status_name(int(block[b"grpc-status"]))
        if s["reset"] is not None:
            return f"RST_{s['reset']}"
        return None

    def status_counts(self, sids):
        counts = {}
        for sid in sids:
            name = self.status(sid) or "no answer"
            counts[name] = counts.get(name, 0) + 1
        return counts

    def message(self, sid):
        s = self.streams.get(sid) or {}
        for block in (s.get("trailers"), s.get("headers")):
            if block and b"grpc-message" in block:
                return block[b"grpc-message"]
        return None

    def wait(self, predicate, timeout):
        """Waits until predicate() (called under the lock) or `timeout`."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    return predicate()
                self.cond.wait(min(left, 0.2))
            return True

    def close(self):
        self._stop.set()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self._reader.join(2)


def _readable(sock, timeout=0.2):
    return bool(select.select([sock], [], [], timeout)[0])


def _status_name(value):
    for code in grpc.StatusCode:
        if code.value[0] == value:
            return code.name
    return str(value)


# --- Frames by hand, for floods -------------------------------------------

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
FRAME_DATA, FRAME_HEADERS, FRAME_RST, FRAME_SETTINGS = 0x0, 0x1, 0x3, 0x4
FRAME_PING, FRAME_GOAWAY, FRAME_WINDOW_UPDATE = 0x6, 0x7, 0x8
FLAG_END_STREAM, FLAG_END_HEADERS, FLAG_ACK = 0x1, 0x4, 0x1


def frame(kind, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + \
        struct.pack(">I", sid) + payload


def stateless_header_block(path, port, metadata=()):
    """Returns an HPACK block that never touches the dynamic table.

    Replaying it on every stream is valid: each field is static-indexed or a
    literal "never indexed".
    """
    fields = [(b":method", b"POST"), (b":scheme", b"http"),
              hpack.NeverIndexedHeaderTuple(b":path", path.encode()),
              hpack.NeverIndexedHeaderTuple(b":authority",
                                            f"{HOST}:{port}".encode()),
              hpack.NeverIndexedHeaderTuple(b"content-type", b"application/grpc"),
              hpack.NeverIndexedHeaderTuple(b"te", b"trailers")]
    fields += [hpack.NeverIndexedHeaderTuple(k.encode(), v.encode())
               for k, v in metadata]
    return hpack.Encoder().encode(fields)


class RawH2:
    """A hand-framed HTTP/2 connection for floods.

    A reader thread parses frame headers only: it counts frames by type,
    answers SETTINGS and PING, and records GOAWAY. Writes are serialized by
    a lock.
    """

    def __init__(self, port):
        self.sock = socket.create_connection((HOST, port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.lock = threading.Lock()
        self.frames = {}
        self.goaway = None
        self.closed = None
        self._stop = threading.Event()
        # A large connection window so the server is never stuck on us.
        self.write(PREFACE + frame(FRAME_SETTINGS, 0, 0) +
                   frame(FRAME_WINDOW_UPDATE, 0, 0, struct.pack(">I", 1 << 30)))
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()

    def write(self, data):
        with self.lock:
            self.sock.sendall(data)

    def _read_exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            if not _readable(self.sock):
                if self._stop.is_set():
                    return None
                continue
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return bytes(buf)

    def _read_loop(self):
        try:
            while not self._stop.is_set():
                head = self._read_exact(9)
                if head is None:
                    break
                length = int.from_bytes(head[:3], "big")
                kind, flags = head[3], head[4]
                payload = self._read_exact(length) if length else b""
                if payload is None:
                    break
                self.frames[kind] = self.frames.get(kind, 0) + 1
                if kind == FRAME_SETTINGS and not flags & FLAG_ACK:
                    self.write(frame(FRAME_SETTINGS, FLAG_ACK, 0))
                elif kind == FRAME_PING and not flags & FLAG_ACK:
                    self.write(frame(FRAME_PING, FLAG_ACK, 0, payload))
                elif kind == FRAME_GOAWAY:
                    last, code = struct.unpack(">II", payload[:8])
                    self.goaway = {"error_code": code,
                                   "last_stream_id": last & 0x7FFFFFFF,
                                   "debug": payload[8:208].decode(
                                       errors="replace")}
        except OSError as e:
            self.closed = repr(e)
            return
        self.closed = self.closed or "server closed the connection"

    def close(self):
        self._stop.set()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self._reader.join(2)


# --- HTTP/1.1 by hand ------------------------------------------------------

INFER_PATH = "/v2/models/relu/infer"


def http_post(path, body, headers=(), close=True):
    """Returns the bytes of a POST with `body`, a Content-Length of its size
    unless `headers` (pairs of str) give one, and Connection: close."""
    lines = [f"POST {path} HTTP/1.1", f"Host: {HOST}"]
    if close:
        lines.append("Connection: close")
    if not any(k.lower() in ("content-length", "transfer-encoding")
               for k, _ in headers):
        lines.append(f"Content-Length: {len(body)}")
    lines += [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + bytes(body)


def http_exchange(port, data, timeout=10.0, shut_write=True):
    """Sends `data` on a new connection and reads until the server closes it
    or `timeout` passes. Returns (responses, closed_by_server): each response
    {"status", "headers" (lowercase names), "body"} as parsed from the
    bytes, several when the server answered several requests."""
    sock = socket.create_connection((HOST, port), timeout=timeout)
    received = bytearray()
    closed = False
    deadline = time.monotonic() + timeout
    try:
        sock.sendall(data)
        if shut_write:
            sock.shutdown(socket.SHUT_WR)
        while time.monotonic() < deadline:
            if not _readable(sock, min(0.2, deadline - time.monotonic())):
                continue
            chunk = sock.recv(1 << 20)
            if not chunk:
                closed = True
                break
            received += chunk
    except OSError:
        closed = True
    finally:
        sock.close()
    return parse_http_responses(bytes(received)), closed


def parse_http_responses(data):
    """Splits `data` into HTTP/1.x responses (Content-Length framed)."""
    responses = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            responses.append({"status": None, "headers": {},
                              "body": data[:200]})
            break
        lines = head.decode(errors="replace").split("\r\n")
        parts = lines[0].split(" ", 2)
        status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", len(rest)))
        responses.append({"status": status, "headers": headers,
                          "body": rest[:length]})
        data = rest[length:]
    return responses


def infer_json(data, datatype="FP32", shape=None, extra=""):
    """Returns an infer request's JSON: one input of `data` (a list, or JSON
    text), `shape` (default: [len(data)]), and `extra` text appended to the
    top-level object (e.g. ',"id":"7"')."""
    if shape is None:
        shape = [len(data)]
    text = data if isinstance(data, str) else json.dumps(data)
    return ('{"inputs":[{"name":"input","shape":%s,"datatype":"%s","data":%s}]'
            '%s}' % (json.dumps(shape), datatype, text, extra)).encode()


def http_victim(port, calls=10, timeout=2.0):
    """A polite REST client: `calls` times, on a new connection each, an
    infer of 4 FP32 values checked exactly, and GET /v2/health/ready.

    Returns {"infer": {status: count}, "infer_wrong": n, "ready": {...},
    "max_latency_s": ...}; a status of 0 means no answer within `timeout`.
    """
    request = http_post(INFER_PATH, infer_json([-2.0, -1.0, 0.5, 3.0]))
    ready = (f"GET /v2/health/ready HTTP/1.1\r\nHost: {HOST}\r\n"
             "Connection: close\r\n\r\n").encode()
    codes, ready_codes, wrong, worst = {}, {}, 0, 0.0
    for _ in range(calls):
        for data, counts in ((request, codes), (ready, ready_codes)):
            start = time.monotonic()
            try:
                responses, _ = http_exchange(port, data, timeout=timeout)
            except OSError:
                responses = []
            worst = max(worst, time.monotonic() - start)
            status = responses[0]["status"] if responses else 0
            status = status or 0
            counts[status] = counts.get(status, 0) + 1
            if data is request and status == 200:
                answer = json.loads(responses[0]["body"])
                if answer["outputs"][0]["data"] != [0, 0, 0.5, 3]:
                    wrong += 1
    return {"infer": codes, "infer_wrong": wrong, "ready": ready_codes,
            "max_latency_s": round(worst, 3)}


class HttpVictimThread(threading.Thread):
    """Runs http_victim() in a thread; .result holds its dict once joined."""

    def __init__(self, port, **kwargs):
        super().__init__(daemon=True)
        self._args = (port, kwargs)
        self.result = None

    def run(self):
        port, kwargs = self._args
        try:
            self.result = http_victim(port, **kwargs)
        except Exception as e:  # noqa: BLE001 - reported, not raised
            self.result = {"error": repr(e)}
