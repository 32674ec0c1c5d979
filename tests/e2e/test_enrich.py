"""enrich end to end: raw events into the local raw stream, read back as a Kinesis event source
mapping would, through `cargo lambda invoke` into the real binary, which reads its PII key from
Secrets Manager and its reference data from DynamoDB, writes the enriched stream and quarantines
poison in S3, all on moto."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scripts.demos.enrich import esm_events, quarantine, raw_records, read_stream, seed_reference

EVENTS = Path(__file__).resolve().parents[2] / "events" / "enrich"


@pytest.fixture(scope="module")
def delivered(stack):
    seed_reference(stack)
    raw = stack.cfn.physical_name("RawStream")
    records = raw_records()
    stack.client("kinesis").put_records(StreamName=raw, Records=[{"Data": d, "PartitionKey": k} for k, d in records])
    responses = []
    for ev in esm_events(stack, raw):
        ok, out = stack.invoke("enrich", ev)
        assert ok, out
        responses.append(out)
    return records, responses


def test_every_raw_record_is_enriched_or_quarantined(stack, delivered):
    records, responses = delivered
    assert all(r == {"batchItemFailures": []} for r in responses), responses
    out = read_stream(stack, stack.cfn.physical_name("EnrichedStream"))
    q = quarantine(stack, stack.cfn.physical_name("QuarantineBucket"))
    entries = [e for v in q.values() for e in v]
    assert len(out) + len(entries) == len(records)
    assert sorted(e["event_id"] for e in out) == ["evt-0001", "evt-0002", "evt-0003", "evt-0004"]
    assert sorted(e["reason"] for e in entries) == sorted(
        ["invalid_json", "not_an_object", "missing_field", "wrong_type", "invalid_event_time", "invalid_utf8"])
    by_id = {e["event_id"]: e for e in out}
    assert by_id["evt-0001"]["product"] == {"category": "books", "brand": "acme", "price_band": 3}
    assert by_id["evt-0003"]["_ingest"]["reference"] == "missing"
    assert by_id["evt-0004"]["dt"] == "2026-11-24" and by_id["evt-0004"]["hour"] == "00"
    first = by_id["evt-0001"]
    assert len(first["email"]) == 64 and "phone" not in first and first["ip"].endswith(".7")
    assert "ada@example.com" not in json.dumps(out)


def test_dry_run_through_the_binary(stack):
    ok, out = stack.invoke("enrich", json.loads((EVENTS / "ops-dry-run-records.json").read_text()))
    assert ok, out
    assert [r["decision"] for r in out["records"]] == ["deliver", "quarantine", "quarantine"]


def test_unrecognized_payload_is_a_clear_error(stack):
    ok, out = stack.invoke("enrich", {"detail-type": "Something Else"})
    assert not ok
    assert "neither a Kinesis event" in out and "detail-type" in out


def test_replay_rewrites_the_quarantine_object_in_place(stack, delivered):
    bucket = stack.cfn.physical_name("QuarantineBucket")
    key, entries = next(iter(quarantine(stack, bucket).items()))
    ok, out = stack.invoke("enrich", {"command": "replay", "key": key})
    assert ok, out
    # Nothing was fixed: every record is poison again, and the object says so (replays counted).
    assert out["delivered"] == 0 and out["remaining_in_object"] == len(entries) and not out["object_deleted"], out
    again = quarantine(stack, bucket)[key]
    assert [e["event_id"] for e in again] == [e["event_id"] for e in entries]
    assert all(e["replays"] == 1 for e in again), again


def test_replay_from_a_bucket_the_role_does_not_grant_is_refused_clearly(stack, delivered):
    """The role reads and writes only the quarantine bucket's quarantine/ prefix: a custom
    `bucket` needs a grant of its own (in AWS as here)."""
    other = "e2e-elsewhere-quarantine"
    s3 = stack.client("s3")
    s3.create_bucket(Bucket=other)
    s3.put_object(Bucket=other, Key="quarantine/x.ndjson", Body=b"")
    before = stack.log_marks()
    ok, out = stack.invoke("enrich", {"command": "replay", "bucket": other, "key": "quarantine/x.ndjson"})
    denied = stack.acknowledge_denials(before)
    assert not ok and "AccessDenied" in out and f"s3://{other}/quarantine/x.ndjson" in out, out
    assert [(d.function, d.action, d.resource) for d in denied if d.line is None] == \
        [("enrich", "s3:GetObject", f"arn:aws:s3:::{other}/quarantine/x.ndjson")], denied
