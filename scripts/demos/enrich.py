"""Demo of the enrich function: a mixed batch of raw events goes into the local raw stream, is
read back the way a Kinesis event source mapping reads it (GetRecords into a Kinesis event),
and enrich turns it into enriched events, quarantined poison and a failure list."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from pathlib import Path

from . import cli, ui

EVENTS = Path(__file__).resolve().parents[2] / "events" / "enrich"

PRODUCTS = {
    "p-100": {"category": "books", "brand": "acme", "price_band": 3},
    "p-200": {"category": "games", "brand": "globex", "price_band": 4},
}


def raw_records() -> list[tuple[str, bytes]]:
    """(partition key, bytes): good events and one of each kind of poison a producer can send."""
    good = [
        {"event_id": "evt-0001", "event_type": "page_view", "user_id": "user-1", "product_id": "p-100",
         "email": "ada@example.com", "ip": "203.0.113.7", "phone": "+44 20 7946 0000",
         "ts": "2026-11-23T10:15:30.250Z", "properties": {"path": "/books/42"}},
        {"event_id": "evt-0002", "event_type": "add_to_cart", "user_id": "user-2", "product_id": "p-200",
         "email": "grace@example.com", "ts": 1795425331000},
        {"event_id": "evt-0003", "event_type": "search", "user_id": "user-3", "product_id": "p-999",
         "ts": 1795425332},
        {"event_id": "evt-0004", "event_type": "page_view", "user_id": "user-4", "ts": "2026-11-23T23:59:59.999-01:00"},
    ]
    poison = [
        b'{"event_id": "evt-0005", "event_type": ',           # truncated JSON
        b'["not", "an", "object"]',
        json.dumps({"event_id": "evt-0007", "event_type": "click", "ts": 1795425335}).encode(),  # no user_id
        json.dumps({"event_id": "evt-0008", "event_type": 8, "user_id": "u", "ts": 1795425335}).encode(),
        json.dumps({"event_id": "evt-0009", "event_type": "click", "user_id": "u", "ts": "next tuesday"}).encode(),
        b'{"event_id": "\xff\xfe"}',
    ]
    out = [(e["user_id"], json.dumps(e).encode()) for e in good]
    out += [(f"poison-{i}", p) for i, p in enumerate(poison)]
    return out


def esm_events(stack, stream: str) -> list[dict]:
    """What a Kinesis event source mapping would hand the function: one event per shard."""
    kin = stack.client("kinesis")
    desc = kin.describe_stream(StreamName=stream)["StreamDescription"]
    events = []
    for shard in desc["Shards"]:
        it = kin.get_shard_iterator(StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        got = kin.get_records(ShardIterator=it, Limit=10000)["Records"]
        if not got:
            continue
        events.append({"Records": [{
            "kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": r["PartitionKey"],
                        "sequenceNumber": r["SequenceNumber"], "data": base64.b64encode(r["Data"]).decode(),
                        "approximateArrivalTimestamp": r["ApproximateArrivalTimestamp"].timestamp()},
            "eventSource": "aws:kinesis", "eventVersion": "1.0",
            "eventID": f"{shard['ShardId']}:{r['SequenceNumber']}", "eventName": "aws:kinesis:record",
            "invokeIdentityArn": f"arn:aws:iam::123456789012:role/{stack.cfn.physical_name('EnrichFunction')}",
            "awsRegion": "us-east-1", "eventSourceARN": desc["StreamARN"],
        } for r in got]})
    return events


def read_stream(stack, stream: str) -> list[dict]:
    kin = stack.client("kinesis")
    out = []
    for shard in kin.describe_stream(StreamName=stream)["StreamDescription"]["Shards"]:
        it = kin.get_shard_iterator(StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        out += [json.loads(r["Data"]) for r in kin.get_records(ShardIterator=it, Limit=10000)["Records"]]
    return out


def quarantine(stack, bucket: str) -> dict[str, list[dict]]:
    s3 = stack.client("s3")
    out = {}
    for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        body = s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read().decode()
        out[o["Key"]] = [json.loads(line) for line in body.splitlines() if line.strip()]
    return out


def seed_reference(stack) -> None:
    ddb = stack.client("dynamodb")
    table = stack.cfn.physical_name("EnrichReferenceTable")
    for pk, attrs in PRODUCTS.items():
        item = {"pk": {"S": pk}, "category": {"S": attrs["category"]}, "brand": {"S": attrs["brand"]},
                "price_band": {"N": str(attrs["price_band"])}, "cost_cents": {"N": "1234"}}
        ddb.put_item(TableName=table, Item=item)


def kpl_batch(stack, raw: str, enriched: str, bucket: str) -> None:
    """A KPL producer's batch (aws-kinesis-agg, the KPL's aggregation format): 12 user records in
    two Kinesis records, one of them poison; enrich de-aggregates them (docs/enrich.md)."""
    import aws_kinesis_agg.aggregator as agg

    ui.step(f"A KPL producer (aws-kinesis-agg) writes 12 user records to {raw} as 2 aggregated Kinesis records")
    users = [json.dumps({"event_id": f"evt-kpl-{i:02}", "event_type": "page_view", "user_id": f"user-{i % 3}",
                         "product_id": "p-100", "ts": f"2026-11-23T10:20:{i:02}.000Z"}).encode() for i in range(11)]
    users.append(b'{"event_id": "evt-kpl-11", "event_type": ')  # a truncated one: poison inside an aggregate
    kin = stack.client("kinesis")
    sequences = set()
    for half in (users[:6], users[6:]):
        record = agg.AggRecord()
        for i, data in enumerate(half):
            record.add_user_record(f"user-{i % 3}", data)
        key, _, body = record.get_contents()
        sequences.add(kin.put_record(StreamName=raw, PartitionKey=key, Data=body)["SequenceNumber"])
    before = {e["_event_id"] for e in read_stream(stack, enriched)}
    quarantined_before = {k for k in quarantine(stack, bucket)}
    for ev in esm_events(stack, raw):
        ev["Records"] = [r for r in ev["Records"] if r["kinesis"]["sequenceNumber"] in sequences]
        if not ev["Records"]:
            continue
        ok, out = stack.invoke("enrich", ev)
        if not ok:
            ui.warn(f"invocation failed: {out}")
            return
        ui.detail(f"{len(ev['Records'])} Kinesis records in; response: {json.dumps(out)}")
    new = [e for e in read_stream(stack, enriched) if e["_event_id"] not in before]
    subs = sorted((e["_ingest"]["sequence_number"][-8:], e["_ingest"].get("sub_sequence_number")) for e in new)
    ui.detail(f"{len(new)} user records enriched, each with its sub-sequence number: "
              + ", ".join(f"...{seq}.{sub}" for seq, sub in subs), 6)
    poisoned = [e for k, v in quarantine(stack, bucket).items() if k not in quarantined_before for e in v]
    for e in poisoned:
        origin = e["origin"]
        ui.detail(f"quarantined: {e['reason']} at ...{origin['position'][-8:]} sub-sequence "
                  f"{origin.get('sub_sequence')}: {e['message']}", 6)
    ui.ok(f"12 user records in: {len(new)} enriched, {len(poisoned)} quarantined")


def run(stack) -> None:
    raw = stack.cfn.physical_name("RawStream")
    enriched = stack.cfn.physical_name("EnrichedStream")
    bucket = stack.cfn.physical_name("QuarantineBucket")
    seed_reference(stack)
    ui.detail(f"Reference table {stack.cfn.physical_name('EnrichReferenceTable')} holds products {', '.join(PRODUCTS)}.", 2)

    ui.step(f"A producer writes 10 raw events to {raw}: 4 good, 6 poison")
    records = raw_records()
    resp = stack.client("kinesis").put_records(StreamName=raw, Records=[{"Data": d, "PartitionKey": k} for k, d in records])
    ui.ok(f"PutRecords: {len(records) - resp['FailedRecordCount']} written")

    events = esm_events(stack, raw)
    total_failures = []
    for ev in events:
        shard = ev["Records"][0]["eventID"].split(":")[0]
        ui.step(f"The event source mapping delivers {len(ev['Records'])} records from {shard} to enrich")
        ok, out = stack.invoke("enrich", ev)
        if not ok:
            ui.warn(f"invocation failed: {out}")
            continue
        failures = out.get("batchItemFailures", []) if isinstance(out, dict) else out
        total_failures += failures
        ui.detail(f"response (batchItemFailures, what Lambda retries): {json.dumps(failures)}")

    ui.step(f"Enriched events on {enriched}")
    for e in sorted(read_stream(stack, enriched), key=lambda e: e["event_id"]):
        ui.detail(f"{e['event_id']}  {e['event_type']:<12} dt={e['dt']} hour={e['hour']} event_time={e['event_time']}")
        ui.detail(f"reference={e['_ingest']['reference']:<8} product={json.dumps(e.get('product'))}", 8)
        pii = {k: (v[:16] + '...' if isinstance(v, str) and len(v) > 20 else v) for k, v in e.items() if k in ("email", "ip", "phone")}
        ui.detail(f"pii: {json.dumps(pii)} (email HMAC-SHA256, ip masked, phone dropped)", 8)
        ui.detail(f"_event_id={e['_event_id']} shard={e['_ingest']['shard']} seq=...{e['_ingest']['sequence_number'][-8:]}", 8)

    ui.step(f"Quarantine (s3://{bucket})")
    q = quarantine(stack, bucket)
    for key, entries in q.items():
        ui.detail(f"{key}  ({len(entries)} records)")
        for entry in entries:
            ui.detail(f"{entry['reason']:<20} seq=...{entry['origin']['position'][-8:]}  {entry['message']}", 8)

    ok, out = cli.ops(stack, "enrich", "dry-run", "events/enrich/ops-dry-run-records.json",
                      label="ops: dry-run (events/enrich/ops-dry-run-records.json): the decisions, nothing written")
    if ok:
        for r in out["records"]:
            why = f" ({r['reason']}: {r['message']})" if r.get("reason") else ""
            ui.detail(f"record {r['position']}: {r['decision']}{why}")
    else:
        ui.warn(f"dry-run failed: {out}")

    if q:
        key = next(iter(q))
        ok, out = cli.ops(stack, "enrich", "replay", key,
                          label=f"ops: replay {key} (nothing was fixed, so every record stays quarantined)")
        ui.detail(json.dumps(out.get("summary") if ok else out))

    delivered = len(read_stream(stack, enriched))
    quarantined = sum(len(v) for v in q.values())
    ui.ok(f"{len(records)} records in: {delivered} enriched, {quarantined} quarantined, {len(total_failures)} to retry "
          f"({datetime.now(timezone.utc):%H:%M:%S} UTC)")

    kpl_batch(stack, raw, enriched, bucket)
