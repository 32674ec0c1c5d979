"""checkpoints under faults, reordering and crashes (issue 16): Flink jobs (flink_writer) write
checkpoints and savepoints into the checkpoint bucket while their S3 object events reach the
real binary the way the template wires them (EventBridge rule, asynchronous invocation:
retried twice after the deadline, then the on-failure destination, which only alerts a
person). Events are reordered, delivered twice, and some never arrive; then the `rescan` ops
command runs, and the DynamoDB book must equal the bucket. Then `prune` runs for real under
DynamoDB and S3 faults (or kills), and must not have deleted any point the book still needs.

Ground truth is the bucket itself (ListObjectsV2 straight to moto) and the writer's record of
what Flink did; the book is read straight from the table, never from the function's answers.

Rows: `soak` (events and rescan, DynamoDB and S3 faults), `prune` (prune under faults: lost =
a needed point's file deleted), `crash` (new jobs; events, rescan and prune with the process
killed inside invocations)."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

from .report import Row
from .async_source import AsyncSource
from .book_truth import Book, book_mismatches, needed
from .flink_writer import Flink, Job
from .publish_tap import quiet
from .world import World

SIZES = {
    "short": {"ticks": 5, "free_jobs": 2, "workers": 2},
    "full": {"ticks": 30, "free_jobs": 5, "workers": 3},
}
# Nothing is too young to prune in a soak that lasts a minute; two savepoints kept per pipeline.
RETENTION = {"default": {"keep_savepoints": 2, "min_age_hours": 0}}
DROP_RATE, DUPLICATE_RATE, FAR_RATE = 0.08, 0.12, 0.05

EVENT_FAULTS = [
    {"service": "dynamodb", "operation": "*", "fault": "throttle", "rate": 0.04},
    {"service": "dynamodb", "operation": "*", "fault": "http500", "rate": 0.01},
    {"service": "dynamodb", "operation": "PutItem", "fault": "lost", "rate": 0.03},
    {"service": "dynamodb", "operation": "UpdateItem", "fault": "lost", "rate": 0.03},
    {"service": "s3", "operation": "GetObject", "fault": "throttle", "rate": 0.04},
    {"service": "s3", "operation": "GetObject", "fault": "http500", "rate": 0.02},
    {"service": "s3", "operation": "ListObjectsV2", "fault": "throttle", "rate": 0.05},
]
PRUNE_FAULTS = EVENT_FAULTS + [
    {"service": "s3", "operation": "DeleteObjects", "fault": "lost", "rate": 0.08},
    {"service": "s3", "operation": "DeleteObjects", "fault": "throttle", "rate": 0.08},
    {"service": "s3", "operation": "DeleteObjects", "fault": "http500", "rate": 0.04},
]


class Ops:
    """An operator at the console: a synchronous invocation, tried again when it fails (a
    crash, an error), a handful of times."""

    def __init__(self, box, rng: random.Random, crash_rate: float = 0.0):
        self.box, self.rng, self.crash_rate = box, rng, crash_rate
        self.retries = self.crashes = 0

    def __call__(self, command: dict, attempts: int = 10) -> dict:
        last = None
        for _ in range(attempts):
            kill = self.rng.uniform(0.0, 1.0) if self.rng.random() < self.crash_rate else None
            last = self.box.invoke(command, timeout_s=30.0, kill_after_s=kill)
            if last.ok:
                return last.payload
            self.retries += 1
            self.crashes += last.kind == "crashed"
            time.sleep(0.3)
        raise RuntimeError(f"{command['command']} failed {attempts} times; last: {last}")


def _deliver(source: AsyncSource, events: list[dict], rng: random.Random, stats: dict) -> None:
    """S3 to EventBridge to Lambda: most events within a couple of seconds, some much later,
    some twice, some never."""
    for e in events:
        stats["produced"] += 1
        if rng.random() < DROP_RATE:
            stats["dropped"] += 1
            continue
        far = rng.random() < FAR_RATE
        source.submit(e, delay_s=rng.uniform(2.5, 4.5) if far else rng.uniform(0.0, 1.5))
        if rng.random() < DUPLICATE_RATE:
            stats["duplicated"] += 1
            source.submit(json.loads(json.dumps(e)), delay_s=rng.uniform(0.0, 3.5))


def _run_cluster(flink: Flink, ops: Ops, source: AsyncSource, rng: random.Random, ticks: int,
                 free_jobs: int, prefix: str, stats: dict) -> None:
    """A registered pipeline whose first job stops with a savepoint half-way and a second job
    restored from it, plus jobs nobody registered; events flow while they run."""
    first = flink.job(f"{prefix}-pipeline")
    ops({"command": "register-job", "pipeline": first.pipeline, "job_id": first.id})
    for _ in range(free_jobs):
        flink.job()
    source.start()
    sent = 0
    for tick in range(ticks):
        if tick == ticks // 2:
            _restart_from_savepoint(flink, ops, first, rng)
        flink.tick()
        _deliver(source, flink.events[sent:], rng, stats)
        sent = len(flink.events)
    source.close()


def _restart_from_savepoint(flink: Flink, ops: Ops, first: Job, rng: random.Random) -> None:
    """stop-with-savepoint, then the next job of the pipeline restored from that savepoint."""
    flink.next_second()
    sp = flink.savepoint(first)
    first.running = False
    second = flink.job(first.pipeline)
    second.restored_from, second.restore_mode = flink.location(sp), rng.choice(["CLAIM", "NO_CLAIM", "LEGACY"])
    ops({"command": "register-job", "pipeline": second.pipeline, "job_id": second.id,
         "restored_from": second.restored_from, "restore_mode": second.restore_mode})


def _pin_one(flink: Flink, ops: Ops, jobs: list[Job]) -> None:
    """Pins the oldest savepoint of a job with several (an operator before an upgrade)."""
    for j in jobs:
        sps = sorted((p for p in flink.points.values() if p.job == j.id and p.kind == "savepoint"),
                     key=lambda p: p.completed)
        if len(sps) >= 3:
            ops({"command": "pin", "location": flink.location(sps[0])})
            sps[0].pinned = True
            return


def _booked_row(name: str, flink: Flink, book: Book, jobs: list[Job], row: Row) -> None:
    """out: points the book has as the bucket has them; lost: points it has wrong (or a wrong
    latest pointer); duplicated: book entries for no point."""
    good, bad, phantoms = book_mismatches(flink, book, jobs, flink.keys())
    row.out = good
    row.lost += len(bad)
    row.duplicated += len(phantoms)
    row.notes.append(f"{name}: {good} of {len(flink.points)} points booked as the bucket has them")
    row.notes += [f"{name}: {m}" for m in (bad + phantoms)[:8]]


def _prune(flink: Flink, ops: Ops, source: AsyncSource, book: Book, jobs: list[Job], rng: random.Random,
           row: Row) -> None:
    """Prunes every pipeline until no point is left half-pruned, then sends the S3 events of
    what was deleted; checks every needed point and every shared/taskowned file survived."""
    before = flink.keys()
    need = needed(flink, jobs, before, RETENTION["default"]["keep_savepoints"])
    pipelines = sorted({j.pipeline for j in jobs})
    rounds = 0
    for pipeline in pipelines:
        for _ in range(5):
            rounds += 1
            ops({"command": "prune", "pipeline": pipeline, "dry_run": False})
            if not book.half_pruned(pipeline, jobs):
                break
    after = flink.keys()
    gone = [k for k in before - after if k.endswith("/_metadata")]
    for k in gone:  # what S3 tells EventBridge about the prune's deletes: nothing may change
        flink.event("deleted", k, flink.now())
        source.submit(flink.events[-1], delay_s=rng.uniform(0.0, 1.0))
    source.run()
    damaged = [(p, why) for p, why in need if any(k not in after for k in p.files)]
    lost_protected = [k for k in flink.protected if k not in after]
    row.lost += len(damaged) + len(lost_protected)
    row.retries += rounds - len(pipelines)
    row.notes.append(f"{len(pipelines)} pipelines pruned in {rounds} prune runs; {len(before - after)} objects "
                     f"deleted; {len(need)} points the book needs, {len(damaged)} damaged; "
                     f"{len(lost_protected)} shared/taskowned files deleted")
    row.notes += [f"DELETED a needed point ({why}): {p.dir}" for p, why in damaged[:5]]
    left = book.still_prunable(flink, jobs, after, need)
    if left:
        row.notes.append(f"{len(left)} point(s) the policy lets go were kept: {left[:3]}")


def _source_notes(row: Row, source: AsyncSource, stats: dict) -> None:
    row.notes.append(f"{stats['produced']} object events, {stats['dropped']} never delivered, "
                     f"{stats['duplicated']} delivered twice; {source.invocations} invocations, failed: "
                     + (", ".join(f"{k} {n}" for k, n in source.errors.most_common()) or "none")
                     + f"; {len(source.dead)} to the on-failure destination")


def _scenario(world: World, boxes: list, ops_box, book: Book, p: dict, seed: int, crash: bool) -> list[Row]:
    # One generator per part: what Flink writes is the same for a seed whatever the threads do.
    rng = random.Random(f"{seed}-cluster")
    flink = Flink(world.client("s3"), world.env("checkpoints")["CHECKPOINTS_BUCKET"], random.Random(f"{seed}-flink"))
    rate = 0.3 if crash else 0.0
    ops = Ops(ops_box, random.Random(f"{seed}-ops"), crash_rate=rate)
    crashes = random.Random(f"{seed}-crashes")
    source = AsyncSource(boxes, crashes, timeout_s=2.0, crash_rate=rate, kill_max_s=0.3, replay_rounds=0)
    stats = {"produced": 0, "dropped": 0, "duplicated": 0}
    first = Row("checkpoints", "crash" if crash else "soak")
    started, faults = time.monotonic(), world.proxy.injected_total()
    world.proxy.set_rules([] if crash else EVENT_FAULTS, seed=seed)
    try:
        _run_cluster(flink, ops, source, rng, p["ticks"], p["free_jobs"], f"{first.scenario}{seed}", stats)
        # The soak rescans everything; the crash run each of its jobs (the `job_id` form).
        for command in ([{"command": "rescan", "job_id": j.id} for j in flink.jobs] if crash
                        else [{"command": "rescan"}]):
            ops(command)
    finally:
        world.proxy.set_rules([])
    first.events_in, first.retries = stats["produced"], source.retries + ops.retries
    first.faults, first.crashes = world.proxy.injected_total() - faults, source.crashes
    _source_notes(first, source, stats)
    _booked_row("after rescan", flink, book, flink.jobs, first)
    first.wall_s = time.monotonic() - started

    second = first if crash else Row("checkpoints", "prune", events_in=len(flink.points))
    started, faults, retries = time.monotonic(), world.proxy.injected_total(), ops.retries
    world.proxy.set_rules([] if crash else PRUNE_FAULTS, seed=seed + 1)
    pruner = AsyncSource(boxes, crashes, timeout_s=2.0, crash_rate=rate, kill_max_s=0.3, replay_rounds=0)
    try:
        _pin_one(flink, ops, flink.jobs)
        _prune(flink, ops, pruner, book, flink.jobs, rng, second)
    finally:
        world.proxy.set_rules([])
    second.faults += world.proxy.injected_total() - faults
    second.retries += ops.retries - retries + pruner.retries
    second.crashes = source.crashes + pruner.crashes + ops.crashes
    _booked_row("after prune", flink, book, flink.jobs, second)
    second.wall_s += time.monotonic() - started
    return [first] if crash else [first, second]


def run(size: str, log_dir: Path, seed: int) -> list[Row]:
    p = SIZES[size]
    world = World(log_dir, seed)
    try:
        quiet(world.proxy)
        env = {"CHECKPOINTS_RETENTION": json.dumps(RETENTION)}
        boxes = [world.sandbox("checkpoints", **env) for _ in range(p["workers"])]
        ops_box = world.sandbox("checkpoints", **env)
        book = Book(world.client("dynamodb"), world.env("checkpoints")["CHECKPOINTS_TABLE"])
        return (_scenario(world, boxes, ops_box, book, p, seed, crash=False)
                + _scenario(world, boxes, ops_box, book, p, seed + 1, crash=True))
    finally:
        world.stop()
