"""Lambda's asynchronous invocation path, for functions that EventBridge and SNS invoke
(alerts, checkpoints): several sandboxes take events from one internal queue; an invocation
that fails (an error, a crash, a timeout) is retried twice, each retry after the failed
attempt's deadline has passed (Lambda waits about a minute, then two; the functions' timeout
is 30 s, so a retry never overlaps the attempt it repeats); an event that fails all three
attempts goes to the on-failure destination (a DLQ or the event bus).

What happens to dead letters is the runbook's business: alerts' runbook says "replay by
invoking the function with each message's event". `replay_rounds` does that, a short while
after the third failure (an operator reacting to the DLQ alarm, compressed), at most that
many times per event; what still fails stays in `dead`.

Time is compressed, not reordered: a retry is due `timeout_s` plus a little after its failed
attempt started, which is the property the functions rely on (a claim taken by an attempt
expires at that attempt's deadline)."""

from __future__ import annotations

import heapq
import itertools
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

from .lambda_sim import Outcome

# Extra wait past the failed attempt's deadline before retry 1 and retry 2 (Lambda: ~1 and
# ~2 minutes after the failure, both past the 30 s timeout).
RETRY_EXTRA_S = (0.2, 0.8)
REPLAY_AFTER_S = 1.0
MAX_ATTEMPTS = 3  # the first and MaximumRetryAttempts: 2


@dataclass
class Delivery:
    event: dict
    tag: object = None      # what the scenario needs to judge the outcome
    attempt: int = 0        # 0 = first attempt of this delivery
    replays: int = 0        # times it came back from the DLQ
    due: float = 0.0
    outcomes: list[Outcome] = field(default_factory=list)


class AsyncSource:
    """`submit` events, then `run()` until nothing is queued or in flight; or `start()`,
    keep submitting while the workers run, and `close()`. `on_settled(delivery, ok)` is called
    (under the source's lock, so it may `submit` more) once a delivery succeeded or is
    finally dead."""

    def __init__(self, boxes: list, rng: random.Random, timeout_s: float = 4.0, crash_rate: float = 0.0,
                 kill_max_s: float = 0.15, replay_rounds: int = 2,
                 on_settled: Callable[[Delivery, bool], None] | None = None):
        self.boxes, self.rng, self.timeout_s = boxes, rng, timeout_s
        self.crash_rate, self.kill_max_s, self.replay_rounds = crash_rate, kill_max_s, replay_rounds
        self.on_settled = on_settled or (lambda d, ok: None)
        self.cond = threading.Condition(threading.RLock())
        self.queue: list = []
        self.seq = itertools.count()
        self.in_flight = 0
        self.holding = False
        self.threads: list[threading.Thread] = []
        self.invocations = self.retries = self.replays = self.crashes = 0
        self.errors: Counter = Counter()
        self.dead: list[Delivery] = []
        # (monotonic start, end, delivery, outcome kind) of every invocation: the scenarios
        # match side effects to the invocations that made them.
        self.log: list[tuple[float, float, Delivery, str]] = []

    def submit(self, event: dict, tag: object = None, delay_s: float = 0.0) -> None:
        self._push(Delivery(event, tag, due=time.monotonic() + delay_s))

    def _push(self, d: Delivery) -> None:
        with self.cond:
            heapq.heappush(self.queue, (d.due, next(self.seq), d))
            self.cond.notify_all()

    def run(self) -> None:
        self.start()
        self.close()

    def start(self) -> None:
        """Workers take events while the caller keeps submitting, until `close()`."""
        self.holding = True
        self.threads = [threading.Thread(target=self._worker, args=(b,), daemon=True) for b in self.boxes]
        for t in self.threads:
            t.start()

    def close(self) -> None:
        """No more submissions from outside: returns when everything queued has settled."""
        with self.cond:
            self.holding = False
            self.cond.notify_all()
        for t in self.threads:
            t.join()

    def _take(self) -> tuple[Delivery, float | None] | None:
        with self.cond:
            while True:
                now = time.monotonic()
                if self.queue and self.queue[0][0] <= now:
                    d = heapq.heappop(self.queue)[2]
                    self.in_flight += 1
                    crash = self.crash_rate and self.rng.random() < self.crash_rate
                    return d, (self.rng.uniform(0.0, self.kill_max_s) if crash else None)
                if not self.queue and self.in_flight == 0 and not self.holding:
                    self.cond.notify_all()
                    return None
                self.cond.wait(min(self.queue[0][0] - now, 0.5) if self.queue else 0.5)

    def _worker(self, box) -> None:
        while (job := self._take()) is not None:
            d, kill = job
            started = time.monotonic()
            out = box.invoke(d.event, timeout_s=self.timeout_s, kill_after_s=kill)
            self._settle(d, out, started)

    def _settle(self, d: Delivery, out: Outcome, started: float) -> None:
        with self.cond:
            self.invocations += 1
            d.outcomes.append(out)
            self.log.append((started, time.monotonic(), d, out.kind))
            if out.kind == "crashed" and not out.error_type:
                self.crashes += 1
            if out.ok:
                self.on_settled(d, True)
            else:
                self.errors[out.error_type or out.kind] += 1
                self._retry_or_dead(d, started)
            self.in_flight -= 1
            self.cond.notify_all()

    def _retry_or_dead(self, d: Delivery, started: float) -> None:
        deadline = started + self.timeout_s
        if d.attempt + 1 < MAX_ATTEMPTS:
            d.due = deadline + RETRY_EXTRA_S[d.attempt]
            d.attempt += 1
            self.retries += 1
            self._push(d)
        elif d.replays < self.replay_rounds:
            d.attempt, d.replays = 0, d.replays + 1
            d.due = deadline + REPLAY_AFTER_S
            self.replays += 1
            self._push(d)
        else:
            self.dead.append(d)
            self.on_settled(d, False)

    def invoked_during(self, t0: float, t1: float) -> list[tuple[float, float, Delivery, str]]:
        """The invocations whose run overlapped [t0, t1]."""
        with self.cond:
            return [e for e in self.log if e[0] <= t1 and e[1] >= t0]
