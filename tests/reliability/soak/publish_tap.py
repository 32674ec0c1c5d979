"""A wiretap on the fault proxy for SNS Publish: which messages reached SNS (moto), when, and
which of them had their answer dropped by a `lost` fault. alerts' docs declare one duplicate
per lost Publish answer (at-least-once to the topic); the soak may only excuse a duplicate
whose alert had such a lost answer, so it has to know which alert each lost answer was for.

It is installed on one proxy instance (`tap(world.proxy)`): the proxy's server takes its
request handler class per connection, so swapping it changes nothing for other proxies."""

from __future__ import annotations

import json
import socketserver
import sys
import threading
import time
import urllib.parse

from . import world  # noqa: F401  (puts tests/support, where fault_proxy lives, on sys.path)
import fault_proxy  # noqa: E402


def _publish_message(body: bytes) -> dict | None:
    """The alert a Publish request carries (the JSON message format), or None."""
    q = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
    if q.get("Action") != ["Publish"]:
        return None
    try:
        return json.loads(q.get("Message", [""])[0])
    except json.JSONDecodeError:
        return {"unparsed": q.get("Message", [""])[0][:200]}


class Tap:
    def __init__(self):
        self.lock = threading.Lock()
        # (monotonic time the proxy received the Publish, alert): SNS received it. The time is
        # the request's arrival, not its answer's: a process killed while its Publish is in
        # flight has still published (moto finishes the request), and that Publish belongs to
        # the invocation that sent it, which has ended by the time the answer comes back.
        self.forwarded: list[tuple[float, dict]] = []
        self.lost: list[tuple[float, dict]] = []        # of those, whose answer was dropped

    def record(self, which: list, body: bytes, at: float) -> None:
        alert = _publish_message(body)
        if alert is not None:
            with self.lock:
                which.append((at, alert))


class _TapHandler(fault_proxy.Handler):
    def _handle(self) -> None:
        self._tap_body = None  # one handler serves every request of a keep-alive connection
        super()._handle()

    def _forward(self, body: bytes):
        sent_at = time.monotonic()
        answer = super()._forward(body)
        self._tap_body, self._tap_sent_at = body, sent_at
        self.server.tap.record(self.server.tap.forwarded, body, sent_at)
        return answer

    def _abort(self) -> None:
        if self._tap_body is not None:  # forwarded, then dropped: a `lost` fault
            self.server.tap.record(self.server.tap.lost, self._tap_body, self._tap_sent_at)
        super()._abort()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = _handle


def tap(proxy) -> Tap:
    t = Tap()
    proxy.server.tap = t
    proxy.server.RequestHandlerClass = _TapHandler
    quiet(proxy)
    return t


def quiet(proxy) -> None:
    server = proxy.server

    def handle_error(request, client_address):
        # A killed sandbox or an SDK dropping its connection resets it mid-request: expected
        # in these runs, and a traceback per crash would bury anything that matters.
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            socketserver.BaseServer.handle_error(server, request, client_address)

    server.handle_error = handle_error
