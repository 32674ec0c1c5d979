"""A fault-injecting AWS endpoint: an HTTP proxy in front of moto that, per service and
operation, answers throttling errors, HTTP 500/503, slow responses, connection resets, or
forwards the request and then drops the answer ("succeeded on the server, response lost").

The functions and the tests reach it only through the standard endpoint settings
(`AWS_ENDPOINT_URL=http://127.0.0.1:<port>`); nothing in the code under test knows it is there.

    python tests/support/fault_proxy.py --upstream http://127.0.0.1:5000 [--port 0] [--seed 7]

It prints `listening on 127.0.0.1:<port>` once ready. Control is over HTTP on the same port
(paths no AWS API uses):

    PUT  /__faults__/rules   {"rules": [...], "seed": 7}   replaces the rules (and reseeds)
    GET  /__faults__/stats                                 what was seen, forwarded, injected
    POST /__faults__/reset                                 no rules, zero counts

A rule: {"service": "dynamodb" | "*", "operation": "PutItem" | "*", "fault": KIND,
"rate": 0.05} (each matching request, with that probability) or {"times": 2, "after": 1}
(skip the first `after` matches, then the next `times`: a script). KIND is one of
`throttle`, `http500`, `http503`, `slow` (wait `delay_s`, default 12 s, then forward: a
client with a shorter timeout has given up while the server may still apply it), `reset`
(close the connection before forwarding), `lost` (forward, then close without answering) and
`partial` (Kinesis PutRecords only: each entry fails with probability `fraction`, default
0.3, as a throttled shard answers: only the other entries are forwarded, and the answer has
ProvisionedThroughputExceededException for the failed ones, in their places).
The first matching rule that fires wins. The service is read from the SigV4 credential
scope, the operation from X-Amz-Target, the rpc-v2-cbor path, a query-protocol Action, or
the S3 method and path.

Python and Rust tests use it alike: `FaultProxy` below, `streamops_test_support::fault_proxy`.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import re
import socket
import struct
import sys
import threading
import time
import urllib.parse
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CONTROL = "/__faults__/"
KINDS = {"throttle", "http500", "http503", "slow", "reset", "lost", "partial"}
# Operations `partial` can half-succeed: (service, operation) -> how.
PARTIAL = {("kinesis", "PutRecords")}
_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer"}


def parse_rules(doc: dict) -> list[dict]:
    """Validated rules: a clear error names the rule and field that is wrong."""
    rules = doc.get("rules")
    if not isinstance(rules, list):
        raise ValueError('body must be {"rules": [...]}')
    out = []
    for i, r in enumerate(rules):
        if not isinstance(r, dict):
            raise ValueError(f"rule {i} is not an object")
        kind = r.get("fault")
        if kind not in KINDS:
            raise ValueError(f"rule {i}: fault must be one of {sorted(KINDS)}, not {kind!r}")
        rate, times = r.get("rate"), r.get("times")
        if (rate is None) == (times is None):
            raise ValueError(f"rule {i}: give exactly one of rate (0..1) or times (a count)")
        if rate is not None and not (isinstance(rate, (int, float)) and 0 <= rate <= 1):
            raise ValueError(f"rule {i}: rate must be a number in [0, 1]")
        if times is not None and not (isinstance(times, int) and times >= 0):
            raise ValueError(f"rule {i}: times must be a non-negative integer")
        out.append({"service": str(r.get("service", "*")), "operation": str(r.get("operation", "*")),
                    "fault": kind, "rate": rate, "times": times, "after": int(r.get("after", 0)),
                    "delay_s": float(r.get("delay_s", 12.0)), "fraction": float(r.get("fraction", 0.3)),
                    "matched": 0, "fired": 0})
        if kind == "partial" and (out[-1]["service"], out[-1]["operation"]) not in PARTIAL:
            raise ValueError(f"rule {i}: partial is supported for {sorted(PARTIAL)} only")
    return out


def operation_of(method: str, path: str, headers, body: bytes) -> str:
    target = headers.get("X-Amz-Target")
    if target:
        return target.rsplit(".", 1)[-1]
    if "/operation/" in path:  # rpc-v2-cbor: /service/<Service>/operation/<Operation>
        return path.rsplit("/operation/", 1)[1].split("?")[0]
    ctype = headers.get("Content-Type", "")
    if method == "POST" and "x-www-form-urlencoded" in ctype:
        action = urllib.parse.parse_qs(body.decode("utf-8", "replace")).get("Action")
        if action:
            return action[0]
    return _s3_operation(method, path, headers)


def _s3_operation(method: str, path: str, headers) -> str:
    url = urllib.parse.urlsplit(path)
    query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
    parts = [p for p in url.path.split("/") if p]
    on_object = len(parts) >= 2
    if method == "GET":
        if not on_object:
            return "ListObjectsV2" if "list-type" in query else ("ListBuckets" if not parts else "ListObjects")
        return "GetObject"
    if method == "PUT":
        if headers.get("x-amz-copy-source"):
            return "CopyObject"
        return "PutObject" if on_object else "CreateBucket"
    if method == "DELETE":
        return "DeleteObject" if on_object else "DeleteBucket"
    if method == "HEAD":
        return "HeadObject" if on_object else "HeadBucket"
    if method == "POST" and "delete" in query:
        return "DeleteObjects"
    return f"{method} {url.path}"


def throttle_response(service: str, headers) -> tuple[int, dict, bytes]:
    """A throttling error in the protocol the client speaks, so the SDK classifies it as such."""
    message = "Rate exceeded (injected by fault_proxy)"
    if headers.get("smithy-protocol") == "rpc-v2-cbor":
        body = _cbor_map({"__type": "ThrottlingException", "message": message})
        return 400, {"Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor"}, body
    if headers.get("X-Amz-Target"):
        code = "ProvisionedThroughputExceededException" if service in ("dynamodb", "kinesis") else "ThrottlingException"
        body = json.dumps({"__type": code, "message": message}).encode()
        return 400, {"Content-Type": "application/x-amz-json-1.1", "x-amzn-ErrorType": code}, body
    if service == "s3":
        return 503, {"Content-Type": "application/xml"}, (
            f"<Error><Code>SlowDown</Code><Message>{message}</Message></Error>").encode()
    return 400, {"Content-Type": "text/xml"}, (
        "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
        f"<Message>{message}</Message></Error><RequestId>fault-proxy</RequestId></ErrorResponse>").encode()


def _cbor_map(d: dict) -> bytes:
    """Just enough CBOR for an error body: a map of short text keys and values."""
    def text(s: str) -> bytes:
        b = s.encode()
        return (bytes([0x60 + len(b)]) if len(b) < 24 else bytes([0x78, len(b)])) + b
    return bytes([0xA0 + len(d)]) + b"".join(text(k) + text(v) for k, v in d.items())


class State:
    def __init__(self, upstream: str, seed: int):
        u = urllib.parse.urlsplit(upstream)
        self.upstream = (u.hostname or "127.0.0.1", u.port or 80)
        self.lock = threading.Lock()
        self.rules: list[dict] = []
        self.rng = random.Random(seed)
        self.seen: Counter = Counter()       # (service, operation) -> requests
        self.injected: Counter = Counter()   # (service, operation, fault) -> times

    def choose(self, service: str, operation: str) -> dict | None:
        with self.lock:
            self.seen[(service, operation)] += 1
            for r in self.rules:
                if r["service"] not in ("*", service) or r["operation"] not in ("*", operation):
                    continue
                r["matched"] += 1
                if r["rate"] is not None:
                    fire = self.rng.random() < r["rate"]
                else:
                    fire = r["after"] < r["matched"] <= r["after"] + r["times"]
                if fire:
                    r["fired"] += 1
                    self.injected[(service, operation, r["fault"])] += 1
                    return r
            return None

    def stats(self) -> dict:
        with self.lock:
            return {
                "seen": [{"service": s, "operation": o, "count": n} for (s, o), n in sorted(self.seen.items())],
                "injected": [{"service": s, "operation": o, "fault": f, "count": n}
                             for (s, o, f), n in sorted(self.injected.items())],
                "rules": [{k: r[k] for k in ("service", "operation", "fault", "matched", "fired")} for r in self.rules],
            }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "Proxy"

    def log_message(self, *args):
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _answer(self, status: int, headers: dict, body: bytes) -> None:
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _abort(self) -> None:
        """Closes the connection with a reset: the client sees no answer at all."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass

    def _control(self, body: bytes) -> None:
        state = self.server.state
        if self.command == "GET" and self.path.startswith(CONTROL + "stats"):
            return self._answer(200, {"Content-Type": "application/json"}, json.dumps(state.stats()).encode())
        if self.command == "PUT" and self.path.startswith(CONTROL + "rules"):
            try:
                doc = json.loads(body or b"{}")
                rules = parse_rules(doc)
            except (ValueError, json.JSONDecodeError) as e:
                return self._answer(400, {"Content-Type": "text/plain"}, str(e).encode())
            with state.lock:
                state.rules = rules
                if "seed" in doc:
                    state.rng = random.Random(int(doc["seed"]))
            return self._answer(200, {"Content-Type": "application/json"}, b'{"ok": true}')
        if self.command == "POST" and self.path.startswith(CONTROL + "reset"):
            with state.lock:
                state.rules, state.seen, state.injected = [], Counter(), Counter()
            return self._answer(200, {"Content-Type": "application/json"}, b'{"ok": true}')
        self._answer(404, {"Content-Type": "text/plain"}, b"unknown control path")

    def _forward(self, body: bytes) -> tuple[int, list, bytes]:
        conn = http.client.HTTPConnection(*self.server.state.upstream, timeout=120)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            headers["Content-Length"] = str(len(body))
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            # A HEAD answer's Content-Length is the object's size (S3 HeadObject reads it): keep it.
            dropped = _HOP_BY_HOP if self.command == "HEAD" else _HOP_BY_HOP | {"content-length"}
            kept = [(k, v) for k, v in resp.getheaders() if k.lower() not in dropped]
            return resp.status, kept, data
        finally:
            conn.close()

    def _handle(self) -> None:
        body = self._body()
        if self.path.startswith(CONTROL):
            return self._control(body)
        scope = _SCOPE.search(self.headers.get("Authorization", ""))
        service = scope.group(1) if scope else "unsigned"
        operation = operation_of(self.command, self.path, self.headers, body)
        rule = self.server.state.choose(service, operation)
        fault = rule["fault"] if rule else None
        if fault == "throttle":
            return self._answer(*throttle_response(service, self.headers))
        if fault in ("http500", "http503"):
            return self._answer(int(fault[4:]), {"Content-Type": "text/plain"}, b"injected by fault_proxy")
        if fault == "reset":
            return self._abort()
        if fault == "slow":
            time.sleep(rule["delay_s"])
        if fault == "partial":
            return self._half_succeed(body, rule["fraction"])
        status, headers, data = self._forward(body)
        if fault == "lost":
            return self._abort()
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        if self.command != "HEAD":
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            try:
                self.wfile.write(data)
            except OSError:
                self.close_connection = True  # the client gave up (its timeout): nothing to do

    def _half_succeed(self, body: bytes, fraction: float) -> None:
        """PutRecords with some entries throttled: forwards the rest, answers for all."""
        doc = json.loads(body)
        entries = doc.get("Records", [])
        with self.server.state.lock:
            failed = [self.server.state.rng.random() < fraction for _ in entries]
        doc["Records"] = [e for e, f in zip(entries, failed) if not f]
        if doc["Records"]:
            status, headers, data = self._forward(json.dumps(doc).encode())
            if status != 200:
                return self._answer(status, dict(headers), data)
            landed = iter(json.loads(data)["Records"])
        else:
            headers, landed = [("Content-Type", "application/x-amz-json-1.1")], iter(())
        throttled = {"ErrorCode": "ProvisionedThroughputExceededException",
                     "ErrorMessage": "Rate exceeded for shard (injected by fault_proxy)"}
        records = [throttled if f else next(landed) for f in failed]
        answer = {"FailedRecordCount": sum(failed), "Records": records}
        self._answer(200, {"Content-Type": "application/x-amz-json-1.1"}, json.dumps(answer).encode())

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = _handle


class Proxy(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, upstream: str, port: int = 0, seed: int = 7):
        super().__init__(("127.0.0.1", port), Handler)
        self.state = State(upstream, seed)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class FaultProxy:
    """The proxy in a thread of this Python process (tests), or a client of one elsewhere."""

    def __init__(self, upstream: str, seed: int = 7):
        self.server = Proxy(upstream, 0, seed)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.endpoint = self.server.endpoint

    def set_rules(self, rules: list[dict], seed: int | None = None) -> None:
        doc = {"rules": rules, **({"seed": seed} if seed is not None else {})}
        parsed = parse_rules(doc)
        with self.server.state.lock:
            self.server.state.rules = parsed
            if seed is not None:
                self.server.state.rng = random.Random(seed)

    def stats(self) -> dict:
        return self.server.state.stats()

    def injected_total(self, service: str | None = None) -> int:
        return sum(e["count"] for e in self.stats()["injected"] if service in (None, e["service"]))

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--upstream", required=True, help="the real endpoint (moto), http://127.0.0.1:PORT")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args()
    if urllib.parse.urlsplit(args.upstream).hostname not in ("127.0.0.1", "localhost"):
        raise SystemExit("the upstream must be on 127.0.0.1: this proxy is for local tests only")
    server = Proxy(args.upstream, args.port, args.seed)
    print(f"listening on 127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()
