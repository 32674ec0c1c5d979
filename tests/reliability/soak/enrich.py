"""enrich under faults, redelivery and crashes: every input (shard, sequence number) ends
exactly once in the enriched stream, the quarantine, or the on-failure destination.

The event source mapping is simulated as template.yaml configures it (EnrichKinesisMapping):
one invocation per shard at a time, ReportBatchItemFailures (a partial failure resumes from the
lowest failed sequence number), BisectBatchOnFunctionError, MaximumRetryAttempts 20, then the
batch goes to the on-failure destination. Ground truth is read from moto directly.

Rows:
- faults: 5% throttles, 5xx and half-succeeded PutRecords (entries throttled) on Kinesis, DynamoDB and S3, and lost answers on DynamoDB and
  S3. Promise: exactly once.
- lost-putrecords: also lost PutRecords answers. The SDK resends a PutRecords whose answer
  was lost, so its records can land twice: docs/enrich.md, at-least-once case (e). Counted in
  the notes; every other duplicate fails the row.
- crash: processes SIGKILLed at random points inside invocations (and the faults of the first
  row). A death after PutRecords and before the ledger write re-sends on redelivery: case (a),
  counted in the notes.
"""

from __future__ import annotations

import base64
import json
import random
import threading
import time
from collections import Counter
from pathlib import Path

from .report import Row
from .world import World

SIZES = {
    "short": {"records": 4_000, "shards": 4, "batch": 250},
    "full": {"records": 100_000, "shards": 4, "batch": 500},
}
MAX_RETRIES = 20  # EnrichKinesisMapping.MaximumRetryAttempts
POISON_RATE = 0.02
FAULTS = [
    {"service": "kinesis", "operation": "PutRecords", "fault": "throttle", "rate": 0.03},
    {"service": "kinesis", "operation": "PutRecords", "fault": "http500", "rate": 0.02},
    {"service": "dynamodb", "operation": "*", "fault": "throttle", "rate": 0.02},
    {"service": "dynamodb", "operation": "*", "fault": "http503", "rate": 0.015},
    {"service": "dynamodb", "operation": "*", "fault": "lost", "rate": 0.015},
    {"service": "s3", "operation": "PutObject", "fault": "http503", "rate": 0.03},
    {"service": "s3", "operation": "PutObject", "fault": "lost", "rate": 0.02},
]
# Scripted on top of the rates, so that even the short run meets every kind of fault: the
# first matching rule that fires wins, and these fire once each, early.
SCRIPTED = [
    {"service": "kinesis", "operation": "PutRecords", "fault": "throttle", "after": 1, "times": 1},
    {"service": "kinesis", "operation": "PutRecords", "fault": "http500", "after": 3, "times": 1},
    {"service": "kinesis", "operation": "PutRecords", "fault": "partial", "after": 5, "times": 2, "fraction": 0.5},
    {"service": "dynamodb", "operation": "GetItem", "fault": "lost", "after": 2, "times": 1},
    {"service": "dynamodb", "operation": "PutItem", "fault": "lost", "after": 0, "times": 1},
    {"service": "dynamodb", "operation": "BatchGetItem", "fault": "http503", "after": 1, "times": 2},
    {"service": "s3", "operation": "PutObject", "fault": "lost", "after": 1, "times": 1},
    {"service": "s3", "operation": "PutObject", "fault": "throttle", "after": 4, "times": 1},
    # Bursts longer than the SDK's 3 attempts (spread over the 4 shards' calls), so the
    # function itself fails and the mapping redelivers: an unreadable ledger fails the invocation (bisected, retried), a quarantine
    # that cannot be written reports its poison as failures (resumed from there).
    {"service": "dynamodb", "operation": "GetItem", "fault": "http503", "after": 6, "times": 9},
    {"service": "s3", "operation": "PutObject", "fault": "http503", "after": 7, "times": 9},
]
LOST_PUTRECORDS = [{"service": "kinesis", "operation": "PutRecords", "fault": "lost", "rate": 0.02}]


def make_inputs(n: int, shards: int, rng: random.Random) -> dict[str, list[tuple[str, str, bytes]]]:
    """shard id -> [(sequence number, partition key, data)], about 2% poison of every kind."""
    out: dict[str, list] = {f"shardId-{i:012d}": [] for i in range(shards)}
    poison = [b'{"event_id": "x", "event_type": ', b'["not", "an", "object"]', b'{"event_id": "\xff\xfe"}',
              b'{"event_id": "p", "event_type": "click", "ts": 1795425335}']
    for i in range(n):
        shard = f"shardId-{i % shards:012d}"
        seq = f"4959{i:052d}"
        if rng.random() < POISON_RATE:
            data = rng.choice(poison)
        else:
            data = json.dumps({"event_id": f"evt-{i:07d}", "event_type": "page_view", "user_id": f"user-{i % 97}",
                               "product_id": rng.choice(["p-100", "p-200", "p-999"]), "email": f"u{i}@example.com",
                               "ts": 1795425331000 + i}).encode()
        out[shard].append((seq, f"pk-{i % 13}", data))
    return out


def kinesis_event(world: World, shard: str, records: list[tuple[str, str, bytes]]) -> dict:
    raw = world.stack.cfn.physical_name("RawStream")
    arn = f"arn:aws:kinesis:us-east-1:123456789012:stream/{raw}"
    return {"Records": [{
        "kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": pk, "sequenceNumber": seq,
                    "data": base64.b64encode(data).decode(), "approximateArrivalTimestamp": 1795425331.25},
        "eventSource": "aws:kinesis", "eventVersion": "1.0", "eventID": f"{shard}:{seq}",
        "eventName": "aws:kinesis:record", "invokeIdentityArn": "arn:aws:iam::123456789012:role/enrich",
        "awsRegion": "us-east-1", "eventSourceARN": arn} for seq, pk, data in records]}


class ShardPoller:
    """One shard's event source mapping: batches in order, retries, bisection, on-failure."""

    def __init__(self, world: World, shard: str, records: list, batch: int, crash_rng: random.Random | None):
        self.world, self.shard, self.pending, self.batch = world, shard, list(records), batch
        self.sandbox = world.sandbox("enrich")
        self.crash_rng = crash_rng
        self.dead_lettered: list[str] = []
        self.retries = 0
        self.failure: BaseException | None = None
        self.in_crashed: set[str] = set()  # sequence numbers of batches a crash or timeout hit

    def run(self) -> None:
        try:
            while self.pending:
                self._deliver(self.pending[: self.batch])
        except BaseException as e:  # re-raised by the caller: a harness failure is not "lost"
            self.failure = e

    def _deliver(self, batch: list) -> None:
        """Delivers `batch` (the head of pending) until it is done or dead-lettered."""
        attempts = 0
        while batch:
            kill = self.crash_rng.uniform(0.0, 0.6) if self.crash_rng and self.crash_rng.random() < 0.25 else None
            outcome = self.sandbox.invoke(kinesis_event(self.world, self.shard, batch), timeout_s=60, kill_after_s=kill)
            if outcome.kind in ("crashed", "timeout"):
                self.in_crashed.update(r[0] for r in batch)
            if outcome.ok:
                failed = {f["itemIdentifier"] for f in (outcome.payload or {}).get("batchItemFailures", [])}
                if not failed:
                    self._done(len(batch))
                    return
                first = min(i for i, r in enumerate(batch) if r[0] in failed)
                self._done(first)
                batch = batch[first:]
            elif len(batch) > 1 and outcome.kind == "error":
                # BisectBatchOnFunctionError: the first half alone, then the rest.
                batch = batch[: len(batch) // 2]
            attempts += 1
            self.retries += 1
            if attempts > MAX_RETRIES:
                self.dead_lettered += [r[0] for r in batch]
                self._done(len(batch))
                return

    def _done(self, n: int) -> None:
        """The mapping's checkpoint moves past the first n pending records."""
        del self.pending[:n]


def read_outputs(world: World) -> tuple[Counter, Counter]:
    """(shard, sequence) counts in the enriched stream and in the quarantine."""
    kin, s3 = world.client("kinesis"), world.client("s3")
    stream = world.stack.cfn.physical_name("EnrichedStream")
    enriched: Counter = Counter()
    for sh in kin.describe_stream(StreamName=stream)["StreamDescription"]["Shards"]:
        it = kin.get_shard_iterator(StreamName=stream, ShardId=sh["ShardId"], ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while it:
            got = kin.get_records(ShardIterator=it, Limit=10000)
            for r in got["Records"]:
                ingest = json.loads(r["Data"])["_ingest"]
                enriched[(ingest["shard"], ingest["sequence_number"])] += 1
            it = got.get("NextShardIterator") if got["Records"] else None
    quarantined: Counter = Counter()
    bucket = world.stack.cfn.physical_name("QuarantineBucket")
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for o in page.get("Contents", []):
            for line in s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read().decode().splitlines():
                if line.strip():
                    origin = json.loads(line)["origin"]
                    quarantined[(origin["shard"], origin["position"])] += 1
    return enriched, quarantined


def seed_reference(world: World) -> None:
    from scripts.demos.enrich import seed_reference as seed

    seed(world.stack)


def one_run(scenario: str, size: dict, log_dir: Path, seed: int, rules: list, crash: bool) -> Row:
    world = World(log_dir / scenario, seed=seed)
    row = Row("enrich", scenario)
    try:
        seed_reference(world)
        rng = random.Random(seed)
        inputs = make_inputs(size["records"], size["shards"], rng)
        world.proxy.set_rules(rules, seed=seed)
        started = time.monotonic()
        pollers = [ShardPoller(world, shard, recs, size["batch"], random.Random(seed + i) if crash else None)
                   for i, (shard, recs) in enumerate(inputs.items())]
        threads = [threading.Thread(target=p.run) for p in pollers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for p in pollers:
            if p.failure is not None:
                raise RuntimeError(f"the {p.shard} poller failed") from p.failure
        row.wall_s = time.monotonic() - started
        world.proxy.set_rules([])
        account(row, world, inputs, pollers)
    finally:
        world.stop()
    return row


def account(row: Row, world: World, inputs: dict, pollers: list[ShardPoller]) -> None:
    enriched, quarantined = read_outputs(world)
    dead = Counter((p.shard, seq) for p in pollers for seq in p.dead_lettered)
    row.events_in = sum(len(v) for v in inputs.values())
    row.retries = sum(p.retries for p in pollers)
    row.crashes = sum(p.sandbox.crashes for p in pollers)
    row.faults = world.proxy.injected_total()
    extra = unexplained = 0
    crashed = {(p.shard, seq) for p in pollers for seq in p.in_crashed}
    missing, doubled = [], []
    for shard, recs in inputs.items():
        for seq, _pk, _data in recs:
            k = (shard, seq)
            n = enriched[k] + quarantined[k] + dead[k]
            if n == 0:
                row.lost += 1
                missing.append(f"{shard}:{seq[-6:]}")
            else:
                row.out += 1
                extra += n - 1
                if k not in crashed:
                    unexplained += n - 1
                    if n > 1:
                        doubled.append(f"{shard}:{seq[-6:]} enriched x{enriched[k]}, quarantined x{quarantined[k]}")
    if doubled:
        row.notes.append(f"written twice outside a crash: {', '.join(doubled[:5])}")
    if missing:
        row.notes.append(f"lost: {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
    stats = world.proxy.stats()["injected"]
    row.notes.append("injected: " + ", ".join(f"{e['service']} {e['operation']} {e['fault']} x{e['count']}" for e in stats))
    lost_puts = sum(e["count"] for e in stats if e["operation"] == "PutRecords" and e["fault"] == "lost")
    row.notes.append(f"{sum(enriched.values())} enriched, {sum(quarantined.values())} quarantined, "
                     f"{sum(dead.values())} to the on-failure destination; {row.faults} faults injected")
    # Duplicates the docs allow: records of a batch a crash hit (at-least-once (a)), and, only
    # when PutRecords answers were lost, any (case (e): the SDK re-sent the call).
    allowed = extra if lost_puts else extra - unexplained
    row.duplicated = extra - allowed
    if allowed:
        cause = [f"{lost_puts} PutRecords answers lost: docs/enrich.md at-least-once (e)"] if lost_puts else []
        if row.crashes:
            cause.append(f"{row.crashes} crashes inside a batch: at-least-once (a)")
        row.notes.append(f"{allowed} at-least-once duplicates ({'; '.join(cause)})")


def run(size: str, log_dir: Path, seed: int) -> list[Row]:
    s = SIZES[size]
    return [
        one_run("faults", s, log_dir, seed, SCRIPTED + FAULTS, crash=False),
        one_run("lost-putrecords", s, log_dir, seed, SCRIPTED + FAULTS + LOST_PUTRECORDS, crash=False),
        one_run("crash", s, log_dir, seed, SCRIPTED + FAULTS, crash=True),
    ]
