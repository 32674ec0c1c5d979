"""alerts under faults, load and hostile ordering (issue 16): alarm state changes through
EventBridge with their SNS and Lambda alarm-action twins, scaler decisions and EMR step
changes, delivered at least once, out of order and concurrently, into the real binary, with
SNS Publish and the state table failing under it (soak), or the process killed inside
invocations (crash). Both go through Lambda's asynchronous path (async_source): EventBridge and
SNS invoke alerts asynchronously, so a failed invocation is retried twice after its deadline
and then dead-lettered, and the runbook replays dead letters.

Ground truth is an SQS queue subscribed to the alerts topic: every transition docs/alerts.md
says must be sent arrives exactly once (resolved notices included), nothing else arrives. The
one declared exception: a Publish whose answer was lost is retried and may reach the topic
twice (same `fingerprint`), and so may one whose invocation was killed or timed out after SNS
took it; such a duplicate is excused only if the proxy's wiretap (publish_tap) saw a lost Publish
answer for that very alert, or saw its Publish arrive during such an invocation, and is reported
in the notes.

Each lane (one alarm, one scaler target, one EMR step) sends its next transition only when
every copy of the previous one has settled: which transitions are news then depends only on
the order the lanes were fed in (including the transitions overtaken on purpose), not on how
faults happened to interleave the copies."""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

from .report import Row
from .alert_events import Transition, copies, expected, lanes, overtake
from .async_source import AsyncSource
from .publish_tap import Tap, tap
from .world import World

SIZES = {
    "short": {"events": 100, "per_lane": 4, "workers": 2, "crash_events": 50},
    "full": {"events": 1000, "per_lane": 6, "workers": 3, "crash_events": 300},
}

# SNS Publish throttled, failing or answered into the void; the state table throttled,
# failing, or applying a write whose answer is lost (the claim and its release).
SOAK_FAULTS = [
    {"service": "sns", "operation": "Publish", "fault": "throttle", "rate": 0.05},
    {"service": "sns", "operation": "Publish", "fault": "http500", "rate": 0.02},
    {"service": "sns", "operation": "Publish", "fault": "lost", "rate": 0.04},
    {"service": "dynamodb", "operation": "*", "fault": "throttle", "rate": 0.03},
    {"service": "dynamodb", "operation": "*", "fault": "http500", "rate": 0.01},
    {"service": "dynamodb", "operation": "PutItem", "fault": "lost", "rate": 0.03},
    {"service": "dynamodb", "operation": "UpdateItem", "fault": "lost", "rate": 0.03},
    {"service": "dynamodb", "operation": "DeleteItem", "fault": "lost", "rate": 0.03},
]

OVERTAKE_RATE = 0.08   # a transition arrives after the one that followed it
STALE_RATE = 0.10      # a late copy of an older, settled transition rides along


class Feeder:
    """Feeds each lane's transitions one at a time into the source; records settle order."""

    def __init__(self, source: AsyncSource, plan: list[list[tuple[Transition, list]]], rng: random.Random):
        self.source, self.plan, self.rng = source, plan, rng
        self.position = [0] * len(plan)
        self.outstanding = [0] * len(plan)
        self.settled: list[Transition] = []
        self.submitted = 0
        self.paths: Counter = Counter()
        source.on_settled = self.on_settled

    def start(self) -> None:
        for lane in range(len(self.plan)):
            self._feed(lane)

    def _feed(self, lane: int) -> None:
        if self.position[lane] >= len(self.plan[lane]):
            return
        t, deliveries = self.plan[lane][self.position[lane]]
        self.outstanding[lane] = len(deliveries)
        for path, event, of in deliveries:
            self.paths[path] += 1
            self.submitted += 1
            # Copies of one transition arrive close together, not in lockstep.
            self.source.submit(event, tag=(lane, of), delay_s=self.rng.uniform(0, 0.05))

    def on_settled(self, d, ok: bool) -> None:
        lane, _ = d.tag
        self.outstanding[lane] -= 1
        if self.outstanding[lane] == 0:
            self.settled.append(self.plan[lane][self.position[lane]][0])
            self.position[lane] += 1
            self._feed(lane)


def _plan(prefix: str, rng: random.Random, events: int, per_lane: int) -> list[list[tuple[Transition, list]]]:
    """Lanes of (transition, deliveries) until `events` deliveries: each transition's copies,
    plus now and then a late copy of one of its lane's earlier transitions."""
    plan, total = [], 0
    while total < events:
        lane = lanes(f"{prefix}{len(plan):03d}", rng, 1, per_lane)[0]
        fed: list[tuple[Transition, list]] = []
        for t in overtake(lane, rng, OVERTAKE_RATE):
            deliveries = [(path, e, t) for path, e in copies(t, rng)]
            if fed and rng.random() < STALE_RATE:
                old = rng.choice(fed)[0]
                path, e = rng.choice(copies(old, rng))
                deliveries.append(("stale-" + path, e, old))
            fed.append((t, deliveries))
            total += len(deliveries)
        plan.append(fed)
    return plan


def _alert_key(alert: dict) -> tuple[str, str, int]:
    t = datetime.fromisoformat(alert["time"].replace("Z", "+00:00"))
    return (alert["resource"], alert["state"], int(t.timestamp() * 1000))


def _received(world: World, queue_url: str, prefix: str, at_least: int) -> Counter:
    """What the topic delivered for this scenario's lanes, from the subscribed queue. Anything
    that is no soak lane's (a `Malformed ...` warning about one of our events, say) is kept
    under its resource: nothing but the transitions due may arrive."""
    got: Counter = Counter()
    for envelope in world.stack.drain(queue_url, expect_at_least=at_least, wait_s=8.0):
        alert = json.loads(envelope["Message"])
        resource = alert.get("resource", "")
        if resource.startswith((prefix, f"j-{prefix.upper()}")):
            got[_alert_key(alert)] += 1
        elif not resource.startswith(("soak", "j-SOAK")):  # another scenario's late message is not ours
            got[(resource, alert.get("state", ""), 0)] += 1
    return got


def _lost_answers(tapped: Tap, since: float) -> Counter:
    return Counter(_alert_key(a) for t, a in tapped.lost if t >= since and "resource" in a)


def _died_after_publishing(source: AsyncSource, tapped: Tap) -> Counter:
    """Per alert, the invocations of one of its copies that ended without an answer (killed,
    or timed out) during which a Publish of that alert reached SNS: the process died after
    publishing, before releasing its claim, so the retry publishes again (docs/alerts.md)."""
    out: Counter = Counter()
    for start, end, d, kind in list(source.log):
        if kind not in ("crashed", "timeout"):
            continue
        key = d.tag[1].key
        if any(start <= t <= end and _alert_key(a) == key for t, a in tapped.forwarded if "resource" in a):
            out[key] += 1
    return out


def _judge(row: Row, want: set, got: Counter, excused: Counter, cause: str) -> None:
    """lost: to send, never arrived; duplicated: arrived twice without an excuse, or arrived
    though the docs say it must not be sent."""
    row.out = sum(1 for k in want if got[k] > 0)
    row.lost = sum(1 for k in want if got[k] == 0)
    extra = {k: got[k] - 1 for k in want if got[k] > 1}
    explained = sum(min(n, excused[k]) for k, n in extra.items())
    unwanted = {k: n for k, n in got.items() if k not in want}
    row.duplicated = sum(extra.values()) - explained + sum(unwanted.values())
    resolved = [k for k in want if k[1] == "OK"]
    row.notes.append(f"{len(want)} transitions to send, {row.out} sent; resolved notices: {len(resolved)} to send, "
                     f"{sum(1 for k in resolved if got[k] == 1)} sent once, "
                     f"{sum(1 for k in resolved if got[k] > 1)} more than once")
    if explained:
        row.notes.append(f"{explained} duplicate(s) at-least-once by design: {cause}")
    for k in [k for k in want if got[k] == 0][:5]:
        row.notes.append(f"LOST {k}")
    for k, n in list(unwanted.items())[:5]:
        row.notes.append(f"SENT BUT NOT NEWS {k} x{n}")
    for k, n in [(k, n) for k, n in extra.items() if n > excused[k]][:5]:
        row.notes.append(f"DUPLICATE {k} x{n + 1} (excused {excused[k]})")


def _dump(log_dir: Path, scenario: str, feeder: "Feeder", want: set, got: Counter) -> None:
    """Each lane's transitions in the order they settled, what was due and what arrived: the
    first thing to read when a row is not clean."""
    lanes_out: dict[str, list] = {}
    for t in feeder.settled:
        lanes_out.setdefault(t.lane, []).append(
            {"state": t.state, "previous": t.previous, "time": t.time.isoformat(), "index": t.index,
             "due": t.key in want, "arrived": got.get(t.key, 0)})
    log_dir.mkdir(parents=True, exist_ok=True)
    (log_dir / f"alerts-{scenario}-lanes.json").write_text(json.dumps(lanes_out, indent=1))


def _drive(world: World, scenario: str, p: dict, seed: int, events: int, crash_rate: float,
           boxes: list, queue_url: str, tapped: Tap) -> tuple[Row, AsyncSource, Feeder, Counter, float]:
    # One generator per part: the plan is the same for a seed whatever the threads do.
    prefix = f"soak{seed % 1000}{scenario[0]}"
    plan = _plan(prefix, random.Random(f"{seed}-plan"), events, p["per_lane"])
    source = AsyncSource(boxes, random.Random(f"{seed}-crashes"), timeout_s=2.5, crash_rate=crash_rate)
    feeder = Feeder(source, plan, random.Random(f"{seed}-arrivals"))
    faults_before, started = world.proxy.injected_total(), time.monotonic()
    feeder.start()
    source.run()
    want = expected(feeder.settled)
    got = _received(world, queue_url, prefix, len(want))
    _dump(world.log_dir, scenario, feeder, want, got)
    row = Row("alerts", scenario, events_in=feeder.submitted, faults=world.proxy.injected_total() - faults_before,
              retries=source.retries + source.replays, crashes=source.crashes)
    row.notes.append(f"{feeder.submitted} deliveries of {len(feeder.settled)} transitions in {len(plan)} lanes: "
                     + ", ".join(f"{k} {n}" for k, n in sorted(feeder.paths.items())))
    row.notes.append(f"{source.invocations} invocations; failed: "
                     + (", ".join(f"{k} {n}" for k, n in source.errors.most_common()) or "none")
                     + f"; {source.replays} dead letters replayed, {len(source.dead)} still dead")
    row.wall_s = time.monotonic() - started
    return row, source, feeder, got, started


def _soak(world: World, tapped: Tap, queue_url: str, p: dict, seed: int, boxes: list) -> Row:
    world.proxy.set_rules(SOAK_FAULTS, seed=seed)
    try:
        row, source, feeder, got, started = _drive(world, "soak", p, seed, p["events"], 0.0, boxes,
                                                   queue_url, tapped)
    finally:
        world.proxy.set_rules([])
    _judge(row, expected(feeder.settled), got,
           _lost_answers(tapped, started) + _died_after_publishing(source, tapped),
           "SNS took a Publish whose answer was lost, or the invocation timed out after SNS took it; "
           "the retry published again (same fingerprint)")
    return row


def _crash(world: World, tapped: Tap, queue_url: str, p: dict, seed: int, boxes: list) -> Row:
    row, source, feeder, got, started = _drive(world, "crash", p, seed, p["crash_events"], 0.35, boxes,
                                               queue_url, tapped)
    _judge(row, expected(feeder.settled), got, _died_after_publishing(source, tapped),
           "killed after SNS took the Publish, before the claim was released; the redelivery published again")
    return row


def run(size: str, log_dir: Path, seed: int) -> list[Row]:
    p = SIZES[size]
    world = World(log_dir, seed)
    try:
        queue_url = world.stack.subscribe_queue("AlertsTopic", "s1-alerts-watch")
        tapped = tap(world.proxy)
        # The JSON message format: the soak reads each alert's resource, state and time back.
        boxes = [world.sandbox("alerts", ALERTS_MESSAGE_FORMAT="json") for _ in range(p["workers"])]
        return [_soak(world, tapped, queue_url, p, seed, boxes),
                _crash(world, tapped, queue_url, p, seed + 1, boxes)]
    finally:
        world.stop()
