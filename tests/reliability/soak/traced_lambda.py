"""What the partitions and scaler soaks need of the Lambda service beyond lambda_sim: invocations
with a request id the caller chooses, and an in-process recorder of the Athena statements as
Athena would count them.

- Lambda retries an asynchronous invocation with the *same* request id (the AWS knowledge
  center's "duplicate invocations with the same request ID are Lambda retries"), and the
  partitions function derives its Athena client request token from the request id. So the
  scaler's async retries must keep the id, and the partitions soak must know each
  invocation's id to tell which statements it ran.
- moto ignores StartQueryExecution's ClientRequestToken: a start the SDK retried after a lost
  answer becomes a second execution in moto, where Athena returns the first one. The recorder
  sees every start the fault proxy forwards and groups executions by their token, so a
  statement is counted the way Athena would run it.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid

from .lambda_sim import Outcome, Sandbox
from .world import World  # puts tests/support on sys.path

from fault_proxy import Handler  # noqa: E402


class TracedSandbox(Sandbox):
    """A Sandbox whose invocations carry a request id chosen by the caller (a retry keeps it)."""

    def invoke_as(self, request_id: str | None, event: dict | bytes, timeout_s: float = 60.0,
                  kill_after_s: float | None = None) -> tuple[str, Outcome]:
        self._ensure_process()
        assert self.api is not None
        request_id = request_id or str(uuid.uuid4())
        box: queue.Queue = queue.Queue()
        self.api.results[request_id] = box
        body = event if isinstance(event, bytes) else json.dumps(event).encode()
        self.api.taken.clear()
        self.api.pending.put((request_id, body, int((time.time() + timeout_s) * 1000)))
        try:
            return request_id, self._await(box, timeout_s, kill_after_s)
        finally:
            self.api.results.pop(request_id, None)


def traced_sandbox(world: World, binary: str, **env: str) -> TracedSandbox:
    n = len(world.sandboxes)
    box = TracedSandbox(world.bin_dir / binary, world.env(binary, **env), world.log_dir / f"{binary}-{n}.log")
    world.sandboxes.append(box)
    return box


class AthenaStarts:
    """Every StartQueryExecution the proxy forwarded: execution id -> (client request token, SQL)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.by_execution: dict[str, tuple[str, str]] = {}

    def install(self, world: World) -> None:
        starts = self

        class Recording(Handler):
            def _forward(self, body):
                status, headers, data = super()._forward(body)
                if self.headers.get("X-Amz-Target", "").endswith("AmazonAthena.StartQueryExecution") and status == 200:
                    req, resp = json.loads(body or b"{}"), json.loads(data or b"{}")
                    with starts.lock:
                        starts.by_execution[resp.get("QueryExecutionId", "")] = (
                            req.get("ClientRequestToken", ""), req.get("QueryString", ""))
                return status, headers, data

        # The proxy builds one handler per request from this attribute: recording from now on.
        world.proxy.server.RequestHandlerClass = Recording

    def token(self, execution_id: str) -> str:
        with self.lock:
            return self.by_execution.get(execution_id, ("exec:" + execution_id, ""))[0]
