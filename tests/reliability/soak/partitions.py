"""partitions under a burst: objects land in the data bucket under the template's layout
(`enriched/dt=YYYY-MM-DD/hour=HH/`, hive), moto's S3 notifies PartitionsQueue, and the SQS
event source mapping (sqs_mapping) drives the real binary, with Athena and DynamoDB faults, with
none, and with processes killed inside invocations.

Ground truth, read from moto, never from the function's answers:
- the catalog: every StartQueryExecution in the function's workgroup, grouped by its client
  request token (traced_lambda.AthenaStarts: Athena runs a retried start once, moto twice), each
  statement's partitions read from its SQL; a partition is in the catalog when a statement
  names it;
- the registry: its items, and a sampler that notes when each partition's mark was first seen
  `registered`.

Counting (docs/partitions.md, "Guarantees"): a partition whose statement ran after its
registered mark was seen is a *duplicate* (the docs promise none). A statement run again
before the mark existed (an answer lost, a query timed out, a crash between the statement and
the mark, a mark not confirmed) is the documented at-least-once of ADD IF NOT EXISTS: counted
in the notes. Lost: objects whose partition is in no statement at the end.
"""

from __future__ import annotations

import hashlib
import random
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

from .report import Row
from .traced_lambda import AthenaStarts, traced_sandbox
from .sqs_mapping import Mapping, configure_queue, dead_letters, max_receives
from .world import World

SIZES = {
    "short": {"objects": 600, "hours": 12, "budget_s": 150,
              "crash": {"objects": 200, "hours": 4, "crash_rate": 0.5, "max_crashes": 2, "budget_s": 200}},
    "full": {"objects": 10_000, "hours": 200, "budget_s": 3000,
             "crash": {"objects": 2_000, "hours": 40, "crash_rate": 0.3, "max_crashes": 8, "budget_s": 900}},
}
TABLE_ID = "streamops.enriched_events"
# The function's timeout in the soak and the queue's compressed visibility timeout (sqs_mapping:
# longer than an invocation, the redrive threshold scaled to match). Crash runs wait for the
# claims a killed invocation leaves (its deadline plus 60 s), so they run with a shorter one.
TIMING = {"faults": (15, 22), "crash": (8, 12)}
START = datetime(2026, 3, 1, tzinfo=timezone.utc)

FAULTS = [
    {"service": "athena", "operation": "StartQueryExecution", "fault": "throttle", "rate": 0.12},
    {"service": "athena", "operation": "StartQueryExecution", "fault": "http500", "rate": 0.05},
    {"service": "athena", "operation": "StartQueryExecution", "fault": "lost", "rate": 0.08},
    {"service": "athena", "operation": "GetQueryExecution", "fault": "throttle", "rate": 0.12},
    {"service": "athena", "operation": "GetQueryExecution", "fault": "http503", "rate": 0.05},
    {"service": "athena", "operation": "GetQueryExecution", "fault": "lost", "rate": 0.05},
    {"service": "dynamodb", "operation": "*", "fault": "throttle", "rate": 0.04},
    {"service": "dynamodb", "operation": "*", "fault": "http500", "rate": 0.02},
    {"service": "dynamodb", "operation": "*", "fault": "lost", "rate": 0.03},
]
_CLAUSE = re.compile(r"LOCATION '[^']*/enriched/(dt=[0-9-]+/hour=[0-9]+)/'")


def keys(objects: int, hours: int, seed: int) -> list[str]:
    """The burst as Firehose writes it: hour after hour, a little out of order (S3 notifications
    and a standard queue keep no order)."""
    rng = random.Random(seed)
    out = []
    for i in range(objects):
        t = START + timedelta(hours=i * hours // objects, seconds=rng.randrange(3600))
        out.append(f"enriched/dt={t:%Y-%m-%d}/hour={t:%H}/streamops-enriched-1-{t:%Y-%m-%d-%H-%M-%S}-{i:05d}.gz")
    for i in range(0, len(out) - 50, 50):
        window = out[i:i + 50]
        rng.shuffle(window)
        out[i:i + 50] = window
    return out


def partition_of(key: str) -> str:
    return "/".join(key.split("/")[1:3])


def produce(world: World, all_keys: list[str], producing: threading.Event) -> None:
    s3, bucket = world.client("s3"), world.stack.cfn.ref("DataBucket")
    try:
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda k: s3.put_object(Bucket=bucket, Key=k, Body=b'{"event_id": 1}\n'), all_keys))
    finally:
        producing.clear()


class RegistrySampler(threading.Thread):
    """Notes when each partition's registry mark is first seen `registered` (epoch seconds)."""

    def __init__(self, world: World):
        super().__init__(daemon=True)
        self.ddb = world.client("dynamodb")
        self.table = world.stack.cfn.physical_name("PartitionsRegistryTable")
        self.first_registered: dict[str, float] = {}
        self.stopping = threading.Event()

    def items(self) -> list[dict]:
        out, start = [], {}
        while True:
            page = self.ddb.scan(TableName=self.table, **start)
            out += page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return out
            start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}

    def sample(self) -> None:
        items = self.items()
        # After the scan: every mark it saw was written before this moment, so a statement
        # submitted later ran for a partition already marked (never a false duplicate).
        seen = time.time()
        for i in items:
            p = i["pk"]["S"].split("/", 1)[1]
            if i.get("state", {}).get("S") == "registered":
                self.first_registered.setdefault(p, seen)

    def run(self) -> None:
        while not self.stopping.wait(0.3):
            self.sample()


def statements(world: World, starts: AthenaStarts) -> dict[str, dict]:
    """token -> {"sql", "submitted" (earliest), "executions"}: the statements as Athena ran them."""
    athena, wg = world.client("athena"), world.stack.cfn.ref("PartitionsWorkGroup")
    ids, kw = [], {}
    while True:
        page = athena.list_query_executions(WorkGroup=wg, MaxResults=50, **kw)
        ids += page.get("QueryExecutionIds", [])
        if not page.get("NextToken"):
            break
        kw = {"NextToken": page["NextToken"]}
    out: dict[str, dict] = {}
    for qid in ids:
        q = athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]
        at = q["Status"]["SubmissionDateTime"].timestamp()
        s = out.setdefault(starts.token(qid), {"sql": q["Query"], "submitted": at, "executions": 0})
        s["submitted"] = min(s["submitted"], at)
        s["executions"] += 1
    return out


def per_batch(stmts: dict[str, dict], request_ids: list[str]) -> dict[str, int]:
    """request id -> statements it ran, from the function's token sha256("{id}#{table}#{n}\\n{sql}")."""
    by_token = {}
    for rid in request_ids:
        for s in stmts.values():
            for n in range(4):
                by_token[hashlib.sha256(f"{rid}#{TABLE_ID}#{n}\n{s['sql']}".encode()).hexdigest()] = rid
    counts: dict[str, int] = {}
    for token in stmts:
        rid = by_token.get(token, "unattributed")
        counts[rid] = counts.get(rid, 0) + 1
    return counts


def verdict(row: Row, world: World, all_keys: list[str], stmts: dict[str, dict], sampler: RegistrySampler,
            mapping: Mapping, one_per_batch: bool) -> None:
    runs: dict[str, list[float]] = {}
    for s in stmts.values():
        for p in _CLAUSE.findall(s["sql"]):
            runs.setdefault(p, []).append(s["submitted"])
    objects: dict[str, int] = {}
    for k in all_keys:
        objects[partition_of(k)] = objects.get(partition_of(k), 0) + 1
    marks = {i["pk"]["S"].split("/", 1)[1]: i.get("state", {}).get("S") for i in sampler.items()}
    after_mark = rerun = 0
    for p, times in runs.items():
        seen = sampler.first_registered.get(p, float("inf"))
        late = sum(1 for t in times if t > seen)
        after_mark += late
        rerun += max(0, len(times) - late - 1)
    row.events_in = len(all_keys)
    row.out = sum(n for p, n in objects.items() if p in runs)
    row.lost = sum(n for p, n in objects.items() if p not in runs)
    row.duplicated = after_mark
    unmarked = sorted(p for p in objects if p in runs and marks.get(p) != "registered")
    row.notes.append(f"{len(objects)} partitions, {len(stmts)} statements "
                     f"({sum(s['executions'] for s in stmts.values())} moto executions), {len(mapping.invocations)} invocations "
                     f"({', '.join(f'{k} {v}' for k, v in sorted(_kinds(mapping).items()))})")
    if rerun:
        row.notes.append(f"at-least-once (documented): {rerun} statement runs for partitions not yet marked registered "
                         "(an answer lost, a query past its deadline, a crash or a failed mark before the registry said so)")
    if unmarked:
        row.notes.append(f"{len(unmarked)} partitions in the catalog whose registry mark is not `registered` "
                         f"(e.g. {unmarked[0]}): a later object re-runs one ADD IF NOT EXISTS")
    big = [s for s in stmts.values() if len(s["sql"].encode()) > 262_144]
    row.duplicated += len(big)
    if big:
        row.notes.append(f"{len(big)} statements over Athena's 262,144-byte limit")
    if one_per_batch:
        counts = per_batch(stmts, [i.request_id for i in mapping.invocations])
        extra = sum(n - 1 for n in counts.values() if n > 1)
        row.duplicated += extra
        row.notes.append(f"statements per batch: {max(counts.values(), default=0)} at most "
                         f"({len(counts)} batches ran one; {extra} ran more than one statement per table)")
    if mapping.budget_exhausted:
        row.notes.append("STOPPED AT THE TIME BUDGET before the queue was empty: objects still queued count as lost")
    dlq = dead_letters(world.client("sqs"), world.stack.cfn.ref("PartitionsDeadLetterQueue"))
    if dlq:
        row.notes.append(f"{len(dlq)} messages in the dead-letter queue")


def _kinds(mapping: Mapping) -> dict[str, int]:
    kinds: dict[str, int] = {}
    for i in mapping.invocations:
        kinds[i.kind] = kinds.get(i.kind, 0) + 1
    return kinds


def burst(world: World, scenario: str, size: dict, seed: int, faults: list[dict], one_per_batch: bool,
          timing: tuple[int, int] = TIMING["faults"]) -> Row:
    """One row on its own World (made by the caller in the main thread: it sets signal handlers)."""
    started = time.monotonic()
    row = Row("partitions", scenario)
    try:
        sqs = world.client("sqs")
        queue, dlq = world.stack.cfn.ref("PartitionsQueue"), world.stack.cfn.ref("PartitionsDeadLetterQueue")
        timeout_s, visibility_s = timing
        configure_queue(sqs, queue, dlq, visibility_s, max_receives(timeout_s, visibility_s))
        sqs.purge_queue(QueueUrl=queue)  # the s3:TestEvent moto sent when provisioning configured it
        starts = AthenaStarts()
        starts.install(world)
        world.proxy.set_rules(faults, seed=seed)
        boxes = [traced_sandbox(world, "partitions") for _ in range(2)]  # MaximumConcurrency: 2
        mapping = Mapping(sqs, queue, boxes, timeout_s, crash_rate=size.get("crash_rate", 0.0),
                          max_crashes=size.get("max_crashes", 0), seed=seed)
        all_keys = keys(size["objects"], size["hours"], seed)
        producing = threading.Event()
        producing.set()
        sampler = RegistrySampler(world)
        sampler.start()
        producer = threading.Thread(target=produce, args=(world, all_keys, producing), daemon=True)
        producer.start()
        mapping.run(producing, size["budget_s"])
        producer.join()
        sampler.stopping.set()
        sampler.join()
        sampler.sample()
        world.proxy.set_rules([])
        row.faults = world.proxy.injected_total()
        row.retries = mapping.redeliveries
        row.crashes = sum(b.crashes for b in boxes)
        verdict(row, world, all_keys, statements(world, starts), sampler, mapping, one_per_batch)
    finally:
        world.stop()
    row.wall_s = time.monotonic() - started
    return row


def run(size: str, log_dir: Path, seed: int) -> list[Row]:
    s = SIZES[size]
    # The crash run mostly waits for stranded claims to expire: it runs beside the other two.
    # The three runs side by side, each on its own stack: the crash run mostly waits for
    # stranded claims to expire, and moto's S3 (one process per stack) bounds each burst.
    runs = [("burst, Athena+DynamoDB faults", "faults", s, FAULTS, False, TIMING["faults"]),
            ("burst, no faults", "no-faults", s, [], True, TIMING["faults"]),
            ("burst, crashes", "crashes", s["crash"], [], False, TIMING["crash"])]
    worlds = [World(log_dir / d, seed) for _, d, *_ in runs]  # in the main thread: signal handlers
    with ThreadPoolExecutor(len(runs)) as pool:
        futures = [pool.submit(burst, w, name, size, seed, faults, one, timing)
                   for w, (name, _, size, faults, one, timing) in zip(worlds, runs)]
        return [f.result() for f in futures]
