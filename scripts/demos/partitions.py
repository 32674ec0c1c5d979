"""Demo of the partitions function: Firehose-shaped objects land in the local data bucket, S3
notifies the partitions queue, the function registers each hour once with one ALTER TABLE
statement, a second burst of the same hours runs no query, and the ops commands plan a backfill
and, from the streamops CLI, report gaps; an hour whose data expires is dropped."""

from __future__ import annotations

import json
import uuid
from urllib.parse import quote_plus
from datetime import datetime, timedelta, timezone
from pathlib import Path

from . import cli, ui

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events" / "partitions"


def invoke(stack, payload: dict, label: str | None) -> tuple[bool, object]:
    """`cargo lambda invoke partitions` (a batch of queue messages goes in a file: it is larger
    than a command-line argument may be)."""
    if label:
        ui.step(label)
    return stack.invoke("partitions", payload)


def land_objects(stack, bucket: str, hours: list[datetime], per_hour: int, tag: str) -> list[str]:
    """Objects named the way the template's Firehose stream (dynamic partitioning on event time) names them."""
    s3 = stack.client("s3")
    keys = []
    for h in hours:
        for i in range(per_hour):
            ts = h + timedelta(minutes=i % 60)
            key = f"enriched/dt={h:%Y-%m-%d}/hour={h:%H}/streamops-enriched-1-{ts:%Y-%m-%d-%H-%M-%S}-{tag}{i:03d}.gz"
            s3.put_object(Bucket=bucket, Key=key, Body=b'{"event_id":"demo"}\n')
            keys.append(key)
    return keys


def queue_batch(stack, queue_url: str, queue_arn: str, expect: int) -> list[dict]:
    """Receives the S3 notifications from the queue and shapes them as Lambda's SQS event records."""
    sqs = stack.client("sqs")
    records: list[dict] = []
    while True:
        resp = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        msgs = resp.get("Messages", [])
        for m in msgs:
            records.append({"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                            "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
                            "md5OfBody": m.get("MD5OfBody", ""), "eventSource": "aws:sqs", "eventSourceARN": queue_arn,
                            "awsRegion": "us-east-1"})
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
        if not msgs or len(records) >= expect:
            return records


def notifications_for(keys: list[str], bucket: str, queue_arn: str) -> list[dict]:
    """What S3 would have sent, for a local stack whose bucket has no notification wiring."""
    now = datetime.now(timezone.utc).isoformat()
    out = []
    for k in keys:
        body = {"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1", "eventTime": now,
                             "eventName": "ObjectCreated:Put", "userIdentity": {"principalId": "demo"},
                             "requestParameters": {"sourceIPAddress": "127.0.0.1"}, "responseElements": {},
                             "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                                    "object": {"key": quote_plus(k, safe="/"), "size": 20}}}]}
        out.append({"messageId": str(uuid.uuid4()), "receiptHandle": "demo", "body": json.dumps(body), "attributes": {},
                    "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs", "eventSourceARN": queue_arn,
                    "awsRegion": "us-east-1"})
    return out


def ddl(stack, workgroup: str) -> list[str]:
    athena = stack.client("athena")
    ids = athena.list_query_executions(WorkGroup=workgroup).get("QueryExecutionIds", [])
    return [athena.get_query_execution(QueryExecutionId=i)["QueryExecution"]["Query"] for i in ids]


def burst(stack, bucket, queue_url, queue_arn, hours, per_hour, tag, label) -> None:
    ui.step(label)
    keys = land_objects(stack, bucket, hours, per_hour, tag)
    ui.detail(f"{len(keys)} objects put into s3://{bucket}/enriched/ over {len(hours)} hours", 2)
    records = queue_batch(stack, queue_url, queue_arn, len(keys))
    if records:
        ui.detail(f"S3 sent {len(records)} notifications to the partitions queue; they go to the function as one SQS batch", 2)
    else:
        ui.warn("no notifications arrived (the local stack has no bucket notification wiring); sending what S3 would send")
        records = notifications_for(keys, bucket, queue_arn)
    ok, resp = invoke(stack, {"Records": records}, None)
    if not ok:
        ui.warn(f"invocation failed: {resp}")
        return
    failures = resp.get("batchItemFailures", []) if isinstance(resp, dict) else resp
    ui.detail(f"response: {len(failures)} batch item failures", 6)


def run(stack) -> None:
    bucket = stack.cfn.ref("DataBucket")
    workgroup = stack.cfn.ref("PartitionsWorkGroup")
    queue_url = stack.cfn.ref("PartitionsQueue")
    queue_arn = stack.cfn.getatt("PartitionsQueue", "Arn")
    now = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    hours = [now - timedelta(hours=2), now - timedelta(hours=1), now]

    burst(stack, bucket, queue_url, queue_arn, hours, 100, "a", "A burst of 300 Firehose objects over 3 hours (S3 -> SQS -> partitions)")
    queries = ddl(stack, workgroup)
    ui.detail(f"Athena ran {len(queries)} statement(s) in workgroup {workgroup}:", 6)
    for q in queries:
        ui.detail(q, 8)

    burst(stack, bucket, queue_url, queue_arn, hours, 50, "b", "A second burst into the same 3 hours")
    again = ddl(stack, workgroup)
    ui.ok(f"no new query: still {len(again)} statement(s); the registry in DynamoDB already knew these hours")

    ui.step("A key someone crafted to inject SQL is rejected as poison")
    evil = "enriched/dt=2026-11-23') LOCATION 's3://evil/'; DROP TABLE enriched_events; --/hour=10/x.gz"
    stack.client("s3").put_object(Bucket=bucket, Key=evil, Body=b"x")
    records = queue_batch(stack, queue_url, queue_arn, 1) or notifications_for([evil], bucket, queue_arn)
    ok, resp = invoke(stack, {"Records": records}, None)
    ui.detail(f"response: {resp}; statements run so far: {len(ddl(stack, workgroup))} (the function logs reason=invalid_key)", 6)

    start = (now - timedelta(hours=6)).strftime("%Y-%m-%dT%H")
    end = (now + timedelta(hours=1)).strftime("%Y-%m-%dT%H")
    cmd = json.loads((EVENTS / "ops-backfill.json").read_text())
    ok, resp = cli.ops(stack, "partitions", "backfill", "--table", cmd["table"], "--from", start, "--to", end,
                       "--granularity", cmd["granularity"], "--confirm-data", "--chunk-size", str(cmd["chunk_size"]),
                       label=f"ops: backfill {start} .. {end}, confirm_data, dry run (events/partitions/ops-backfill.json)")
    if ok and isinstance(resp, dict):
        ui.detail(f"{resp['range']['periods']} hours, {resp['partitions']} with data, {resp['statements']} statement(s) planned, "
                  f"nothing run (dry_run={resp['dry_run']})", 6)
        ui.detail((resp.get("sample_statement") or "")[:600], 8)
    else:
        ui.warn(str(resp))

    # The operator's way to ask: the streamops CLI (cli/, docs/cli.md) against this stack.
    ui.step(f"ops from the terminal: streamops partitions status --table enriched_events --from {start} --to {end}")
    r = cli.run(stack, "partitions", "status", "--table", "enriched_events", "--from", start, "--to", end)
    if r.returncode == 0:
        for line in r.stdout.splitlines():
            ui.detail(line, 6)
        ui.detail("moto's Athena records DDL without applying it to its Glue catalog, so locally the hours registered "
                  "through Athena show as gaps; with PARTITIONS_MODE=glue (or in AWS) they show as registered.", 6)
    else:
        ui.warn(f"streamops exited {r.returncode}: {r.stderr.strip()}")

    expire_hour(stack, bucket, queue_url, queue_arn, workgroup, hours[0])


def expire_hour(stack, bucket: str, queue_url: str, queue_arn: str, workgroup: str, hour: datetime) -> None:
    """Every object of one hour deleted (as S3 Lifecycle expiring it would): the removal
    notifications reach the function, which lists the directory, finds it empty and drops it."""
    ui.step(f"The data of {hour:%Y-%m-%d} {hour:%H}:00 expires (its objects deleted): the removals drop its partition")
    s3 = stack.client("s3")
    prefix = f"enriched/dt={hour:%Y-%m-%d}/hour={hour:%H}/"
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for o in page.get("Contents", [])]
    for k in keys:
        s3.delete_object(Bucket=bucket, Key=k)
    records = queue_batch(stack, queue_url, queue_arn, len(keys))
    ui.detail(f"{len(keys)} objects deleted; S3 sent {len(records)} removal notifications to the partitions queue", 6)
    if not records:
        ui.warn("no removal notifications arrived; nothing to show")
        return
    before = len(ddl(stack, workgroup))
    ok, resp = invoke(stack, {"Records": records}, None)
    if not ok:
        ui.warn(f"invocation failed: {resp}")
        return
    drops = [q for q in ddl(stack, workgroup)[before:] if "DROP IF EXISTS" in q]
    ui.ok(f"{len(drops)} statement dropped the emptied hour; the other hours keep their partitions")
    for q in drops:
        ui.detail(q, 8)
