"""A small Lambda service for soak and crash runs: the real function binary in its own
process (a "sandbox"), driven through the real Lambda Runtime API protocol on 127.0.0.1.

Each `Sandbox` serves one process at a time, one event at a time, as Lambda does. When the
process dies (a crash we caused with SIGKILL, or a panic that took it down), the invocation
reports `Crashed` and the next invocation starts a new process: a cold start in a new
sandbox. `invoke(..., kill_after_s=x)` kills the process x seconds after it took the event,
which is how the crash runs stop a function at a random point inside a batch.

Only this module knows the Runtime API; scenarios see `Outcome`s.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

API = "/2018-06-01/runtime"


@dataclass
class Outcome:
    """What one invocation came to: `ok` with the handler's response, an `error` the
    function reported (its errorType and message), or `crashed` (the process died)."""
    kind: str  # "ok" | "error" | "crashed" | "timeout"
    payload: object = None
    error_type: str = ""

    @property
    def ok(self) -> bool:
        return self.kind == "ok"


class _Api(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.pending: queue.Queue = queue.Queue()  # (request id, event bytes, deadline ms)
        self.results: dict[str, queue.Queue] = {}
        self.taken = threading.Event()
        self.init_error: str | None = None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Api

    def log_message(self, *args):
        pass

    def _reply(self, status: int, body: bytes = b"", headers: dict | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: N802
        if not self.path.startswith(API + "/invocation/next"):
            return self._reply(404)
        while True:
            try:
                request_id, event, deadline_ms = self.server.pending.get(timeout=1)
                break
            except queue.Empty:
                continue
        self.server.taken.set()
        self._reply(200, event, {
            "Lambda-Runtime-Aws-Request-Id": request_id,
            "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
            "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:123456789012:function:soak",
            "Lambda-Runtime-Trace-Id": "Root=1-00000000-000000000000000000000000",
            "Content-Type": "application/json",
        })

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.startswith(API + "/init/error"):
            self.server.init_error = body.decode("utf-8", "replace")
            return self._reply(202)
        parts = self.path.split("/")
        # /2018-06-01/runtime/invocation/<id>/response | /error
        if len(parts) >= 6 and parts[3] == "invocation":
            request_id, what = parts[4], parts[5]
            box = self.server.results.get(request_id)
            if box is not None:
                if what == "response":
                    box.put(Outcome("ok", json.loads(body) if body else None))
                else:
                    try:
                        doc = json.loads(body)
                    except json.JSONDecodeError:
                        doc = {"errorType": "unparsable", "errorMessage": body.decode("utf-8", "replace")}
                    box.put(Outcome("error", doc.get("errorMessage", ""), doc.get("errorType", "")))
            return self._reply(202)
        self._reply(404)


class Sandbox:
    """One function process at a time behind its own Runtime API."""

    def __init__(self, binary: Path, env: dict, log: Path):
        self.binary, self.env, self.log = binary, env, log
        self.api: _Api | None = None
        self.proc: subprocess.Popen | None = None
        self.cold_starts = 0
        self.crashes = 0

    def _ensure_process(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            return
        # A new Runtime API per process: a dead process's pending long poll must never take
        # the next event.
        self._stop_api()
        self.api = _Api()
        threading.Thread(target=self.api.serve_forever, daemon=True).start()
        self.log.parent.mkdir(parents=True, exist_ok=True)
        out = open(self.log, "ab")
        env = dict(self.env, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{self.api.server_address[1]}")
        self.proc = subprocess.Popen([str(self.binary)], env=env, stdout=out, stderr=subprocess.STDOUT)
        self.cold_starts += 1

    def invoke(self, event: dict | bytes, timeout_s: float = 60.0, kill_after_s: float | None = None) -> Outcome:
        self._ensure_process()
        assert self.api is not None
        request_id = str(uuid.uuid4())
        box: queue.Queue = queue.Queue()
        self.api.results[request_id] = box
        body = event if isinstance(event, bytes) else json.dumps(event).encode()
        self.api.taken.clear()
        self.api.pending.put((request_id, body, int((time.time() + timeout_s) * 1000)))
        try:
            return self._await(box, timeout_s, kill_after_s)
        finally:
            self.api.results.pop(request_id, None)

    def _await(self, box: queue.Queue, timeout_s: float, kill_after_s: float | None) -> Outcome:
        proc = self.proc
        assert proc is not None
        if kill_after_s is not None:
            if not self.api.taken.wait(timeout_s):
                return self._timed_out()
            time.sleep(kill_after_s)
            if box.empty():
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                if box.empty():
                    self.crashes += 1
                    return Outcome("crashed")
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                return box.get(timeout=0.05)
            except queue.Empty:
                if proc.poll() is not None:
                    # Died on its own (a panic with panic=abort, an OOM): what Lambda reports
                    # as Runtime.ExitError; the next invocation gets a new process.
                    return Outcome("crashed", error_type="Runtime.ExitError")
        return self._timed_out()

    def _timed_out(self) -> Outcome:
        """Lambda's timeout: the sandbox is torn down, the next invocation starts cold."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        return Outcome("timeout", error_type="Sandbox.Timedout")

    def _stop_api(self) -> None:
        if self.api is not None:
            self.api.shutdown()
            self.api.server_close()
            self.api = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._stop_api()
