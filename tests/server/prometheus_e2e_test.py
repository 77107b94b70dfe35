#!/usr/bin/python3
"""End to end with a real Prometheus.

Starts activation_server and Debian's `prometheus` on loopback (temporary
config and data dir, scraping every second), makes a known, paced load of
Relu calls through the Python gRPC client, then asks Prometheus' HTTP API for
exact totals, sum(rate(grpc_server_handled_total[...])) and
histogram_quantile(0.99, ...), and checks them against what the client did.

  tests/server/prometheus_e2e_test.py SERVER_BINARY [--prometheus=/usr/bin/prometheus]

Prints one PASS/FAIL line per check and "N passed, N failed"; exit 0 only if
every check passed.
"""

import argparse
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LOAD_SECONDS = 8.0
CALLS_PER_SECOND = 40.0
INVALID_EVERY = 10  # every 10th call is INVALID_ARGUMENT
ELEMENTS = 4


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise RuntimeError(f"timed out after {timeout} s waiting for {what}")


def load_stubs(tmp):
    subprocess.check_call([
        "/usr/bin/protoc", f"-I{REPO}/proto", f"--python_out={tmp}",
        f"--grpc_python_out={tmp}",
        "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin",
        "activation/v1/activation.proto"])
    sys.path.insert(0, tmp)
    from activation.v1 import activation_pb2, activation_pb2_grpc  # noqa
    return activation_pb2, activation_pb2_grpc


def query(prom_port, expr, at=None):
    params = {"query": expr}
    if at is not None:
        params["time"] = f"{at:.3f}"
    url = (f"http://127.0.0.1:{prom_port}/api/v1/query?"
           + urllib.parse.urlencode(params))
    with urllib.request.urlopen(url, timeout=10) as response:
        body = json.load(response)
    if body.get("status") != "success":
        raise RuntimeError(f"query {expr!r} failed: {body}")
    result = body["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("server")
    parser.add_argument("--prometheus", default="/usr/bin/prometheus")
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="prometheus_e2e_")
    processes = []
    results = []

    def check(name, ok, detail):
        results.append(ok)
        print(f"{'PASS' if ok else 'FAIL'} {name}: {detail}", flush=True)

    try:
        pb, pb_grpc = load_stubs(tmp)
        import grpc

        port_file = os.path.join(tmp, "ports")
        server = subprocess.Popen(
            [args.server, "--address=127.0.0.1:0",
             "--metrics_address=127.0.0.1:0", "--http_address=",
             f"--port_file={port_file}"],
            stderr=open(os.path.join(tmp, "server.log"), "w"))
        processes.append(server)

        def ports():
            if server.poll() is not None:
                raise RuntimeError(f"server exited with {server.returncode}")
            try:
                lines = open(port_file).read().split()
            except FileNotFoundError:
                return None
            return (int(lines[0]), int(lines[1])) if len(lines) >= 3 else None

        grpc_port, metrics_port = wait_for(ports, 20, "the server's port file")

        prom_port = free_port()
        config = os.path.join(tmp, "prometheus.yml")
        with open(config, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                    "scrape_configs:\n  - job_name: activation\n"
                    "    static_configs:\n"
                    f"      - targets: ['127.0.0.1:{metrics_port}']\n")
        prometheus = subprocess.Popen(
            [args.prometheus, f"--config.file={config}",
             f"--storage.tsdb.path={os.path.join(tmp, 'data')}",
             f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"],
            stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(tmp, "prometheus.log"), "w"))
        processes.append(prometheus)
        def scraped():
            if prometheus.poll() is not None:
                raise RuntimeError(f"prometheus exited with {prometheus.returncode}")
            try:
                return query(prom_port, 'up{job="activation"}') == 1.0
            except OSError:  # not listening yet
                return False

        wait_for(scraped, 30, "Prometheus to scrape the server")


        # The load: paced calls, every INVALID_EVERY-th one invalid.
        stub = pb_grpc.ActivationServiceStub(
            grpc.insecure_channel(f"127.0.0.1:{grpc_port}"))
        values = struct.pack(f"<{ELEMENTS}f", -1.0, 0.5, 2.0, 8.0)
        ok_calls = invalid_calls = 0
        latencies = []
        load_start = time.time()
        interval = 1.0 / CALLS_PER_SECOND
        next_call = time.monotonic()
        while time.time() - load_start < LOAD_SECONDS:
            request = pb.ReluRequest(input=pb.Tensor(
                dtype=pb.DATA_TYPE_FLOAT32, shape=[ELEMENTS], raw_data=values))
            invalid = (ok_calls + invalid_calls) % INVALID_EVERY == 0
            if invalid:
                request.params.max_value = -1
            started = time.monotonic()
            try:
                stub.Relu(request, timeout=10)
                ok_calls += 1
            except grpc.RpcError as e:
                if e.code() != grpc.StatusCode.INVALID_ARGUMENT:
                    raise
                invalid_calls += 1
            latencies.append(time.monotonic() - started)
            next_call += interval
            time.sleep(max(0.0, next_call - time.monotonic()))
        load_end = time.time()
        total = ok_calls + invalid_calls
        print(f"load: {total} calls ({ok_calls} OK, {invalid_calls} "
              f"INVALID_ARGUMENT) in {load_end - load_start:.1f} s", flush=True)
        time.sleep(3)  # at least two scrapes after the last call

        relu = ('grpc_service="activation.v1.ActivationService",'
                'grpc_method="Relu"')
        got = query(prom_port, f"sum(grpc_server_handled_total{{{relu}}})")
        check("handled_total", got == total, f"Prometheus {got}, client {total}")
        got = query(prom_port,
                    f'sum(grpc_server_handled_total{{{relu},grpc_code="OK"}})')
        check("handled_total OK", got == ok_calls,
              f"Prometheus {got}, client {ok_calls}")
        got = query(prom_port, f'sum(grpc_server_handled_total{{{relu},'
                               f'grpc_code="InvalidArgument"}})')
        check("handled_total INVALID_ARGUMENT", got == invalid_calls,
              f"Prometheus {got}, client {invalid_calls}")
        got = query(prom_port, 'sum(activation_elements_total{dtype="FLOAT32"})')
        check("elements_total", got == ok_calls * ELEMENTS,
              f"Prometheus {got}, client {ok_calls * ELEMENTS}")

        # Rates over the middle of the load, away from its ramps.
        window = 4
        at = load_start + LOAD_SECONDS - 1
        client_rate = total / (load_end - load_start)
        got = query(prom_port,
                    f"sum(rate(grpc_server_handled_total{{{relu}}}[{window}s]))",
                    at)
        check("rate", got is not None and 0.7 * client_rate <= got <= 1.3 * client_rate,
              f"sum(rate(...[{window}s])) = {got}, client {client_rate:.1f}/s")

        p99 = query(prom_port,
                    "histogram_quantile(0.99, sum by (le) (rate("
                    f"grpc_server_handling_seconds_bucket{{{relu}}}[{window}s])))",
                    at)
        slowest = max(latencies)
        # The server's handling time is part of the client's latency; the
        # estimate can sit at most one bucket (1.5x) above the true value, or
        # inside the first bucket (25 us) when calls are faster than that.
        check("p99", p99 is not None and 0 < p99 <= max(1.5 * slowest, 25e-6),
              f"histogram_quantile(0.99) = {p99}, client slowest {slowest:.6f} s")

    except Exception as e:  # report, then clean up
        check("setup", False, str(e))
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
        if processes:
            server = processes[0]
            check("server exit", server.returncode == 0,
                  f"exit code {server.returncode} after SIGTERM")
        if not all(results):
            for log in ("server.log", "prometheus.log"):
                path = os.path.join(tmp, log)
                if os.path.exists(path):
                    print(f"--- {log}\n{open(path).read()[-3000:]}")
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"{results.count(True)} passed, {results.count(False)} failed")
    return 0 if results and all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
