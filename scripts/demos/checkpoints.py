"""Demo of the checkpoints function: Flink-shaped checkpoint and savepoint objects land in the
local checkpoint bucket, their S3 events reach the function (as EventBridge would deliver them in
AWS), and the book in DynamoDB follows: the latest pointer advances, a redelivered event changes
nothing, a corrupt _metadata is never restorable, and a dry-run prune says what it would remove."""

from __future__ import annotations

import json
import struct
from datetime import datetime, timedelta, timezone
from pathlib import Path

from . import cli, ui

EVENTS = Path(__file__).resolve().parents[2] / "events" / "checkpoints"
JOB = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
PIPELINE = "clickstream-sessionizer"
MAGIC = 0x4960672D


def metadata(checkpoint_id: int) -> bytes:
    """A _metadata body as Flink starts it: magic number, format version, checkpoint id."""
    return struct.pack(">IIQ", MAGIC, 4, checkpoint_id) + b"operator state handles..."


def s3_event(stack, name: str, key: str, size: int | None, when: datetime) -> dict:
    e = json.loads((EVENTS / "s3-checkpoint-completed.json").read_text())
    r = e["Records"][0]
    r["eventName"] = name
    r["eventTime"] = when.isoformat().replace("+00:00", "Z")
    r["s3"]["bucket"]["name"] = stack.cfn.physical_name("CheckpointBucket")
    r["s3"]["object"]["key"] = key
    if size is None:
        r["s3"]["object"].pop("size", None)
    else:
        r["s3"]["object"]["size"] = size
    return e


def invoke(stack, label: str, payload: dict) -> dict | None:
    ui.step(label)
    ok, out = stack.invoke("checkpoints", payload)
    if not ok:
        ui.warn(f"invocation failed: {out}")
        return None
    if "outcomes" not in out:
        ui.as_json(out)
    for o in out.get("outcomes", []):
        detail = f"  ({o['detail']})" if o.get("detail") else ""
        ui.detail(f"{o['action']}: {o['key']}{detail}")
    return out


def run(stack) -> None:
    bucket = stack.cfn.physical_name("CheckpointBucket")
    s3 = stack.client("s3")
    base = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)

    def put(key: str, body: bytes) -> int:
        s3.put_object(Bucket=bucket, Key=key, Body=body)
        return len(body)

    ui.detail(f"Flink writes to s3://{bucket}/flink/checkpoints/ and /flink/savepoints/ (stack outputs: CheckpointBucketName).", 2)
    ok, out = cli.ops(stack, "checkpoints", "register-job", "--pipeline", PIPELINE, "--job-id", JOB,
                      label=f"ops: register-job {JOB[:8]}... as pipeline {PIPELINE}")
    if ok:
        ui.as_json(out)
    else:
        ui.warn(f"invocation failed: {out}")

    events = {}
    for i in (1, 2, 3):
        key = f"flink/checkpoints/{JOB}/chk-{i}/_metadata"
        put(f"flink/checkpoints/{JOB}/chk-{i}/7c1e-operator-state", b"\x01" * 256)
        size = put(key, metadata(i))
        events[i] = s3_event(stack, "ObjectCreated:Put", key, size, base + timedelta(minutes=i))
    put(f"flink/checkpoints/{JOB}/shared/8f14e45f-ceea-467e-a0c2", b"\x02" * 512)

    invoke(stack, "chk-1 completes", events[1])
    invoke(stack, "chk-3's event arrives before chk-2's", events[3])
    invoke(stack, "chk-2 arrives late: recorded, the latest pointer does not go back", events[2])
    invoke(stack, "EventBridge redelivers chk-3's event: nothing changes", events[3])
    invoke(stack, "Flink subsumes chk-1 and deletes its _metadata",
           s3_event(stack, "ObjectRemoved:Delete", f"flink/checkpoints/{JOB}/chk-1/_metadata", None, base + timedelta(minutes=4)))
    invoke(stack, "A file under shared/ (incremental RocksDB state) is not a restore point",
           s3_event(stack, "ObjectCreated:Put", f"flink/checkpoints/{JOB}/shared/8f14e45f-ceea-467e-a0c2", 512, base + timedelta(minutes=4)))
    corrupt = f"flink/checkpoints/{JOB}/chk-4/_metadata"
    put(corrupt, b"")
    invoke(stack, "chk-4's _metadata is zero bytes: recorded as corrupt, never restorable",
           s3_event(stack, "ObjectCreated:Put", corrupt, 0, base + timedelta(minutes=5)))
    for n, suffix in enumerate(("5d7e9f0a1b2c", "5d7e9f0a1b2d")):
        key = f"flink/savepoints/savepoint-a1b2c3-{suffix}/_metadata"
        size = put(key, metadata(10 + n))
        invoke(stack, f"A savepoint is taken (savepoint-a1b2c3-{suffix})",
               s3_event(stack, "ObjectCreated:Put", key, size, base - timedelta(days=3 - n)))

    ok, out = cli.ops(stack, "checkpoints", "latest", "--pipeline", PIPELINE,
                      label=f"ops: latest for {PIPELINE} (events/checkpoints/ops-latest.json)")
    ui.as_json(out if ok else {"error": out})
    ok, out = cli.ops(stack, "checkpoints", "latest", "--pipeline", PIPELINE, "--prefer", "savepoint",
                      label="ops: latest savepoint only")
    ui.as_json(out if ok else {"error": out})
    ok, out = cli.ops(stack, "checkpoints", "prune", "--pipeline", PIPELINE,
                      label="ops: prune, dry run (the default), with retention keep_savepoints=5, min_age_hours=24")
    if ok:
        for d in out["decisions"]:
            verdict = "PRUNE" if d["prune"] else f"keep ({d['kept_because']})"
            ui.detail(f"{verdict:<34} {d['location']}")
        ui.detail(f"orphaned chk directories: {out['orphaned_directories']}")
    else:
        ui.warn(f"prune failed: {out}")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    ui.ok(f"dry run: all {len(keys)} objects still in the bucket; shared/ is never touched")
