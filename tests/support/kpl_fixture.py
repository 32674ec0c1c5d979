"""KPL-aggregated Kinesis test data made by a real producer, aws-kinesis-agg (the KPL's
aggregation format in Python), not by enrich's own encoder.

    .venv/bin/python -m tests.support.kpl_fixture          # rewrites the two files below
    .venv/bin/python -m tests.support.kpl_fixture --check  # exit 1 if they are not what it makes

Writes events/enrich/kinesis-kpl-aggregated.json, a Kinesis event as Lambda delivers it, and,
next to it, kinesis-kpl-aggregated.users.jsonl: per Kinesis record, in order, what the producer
was given (its user records: partition key and data) or what the record is (plain, corrupt).
functions/enrich/tests/kpl.rs holds enrich's de-aggregation to that file, and
tests/template/test_kpl_fixture.py holds the committed files to this producer.

The batch: an aggregate of three valid clickstream events and a poison one (not JSON), some with
an explicit hash key; a plain (not aggregated) record; an aggregate the producer filled to its
size limit and split (the second part is the next record); and a real aggregate whose MD5
trailer was damaged in transit (corrupt: quarantined whole).
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from pathlib import Path

import aws_kinesis_agg.aggregator as agg

ROOT = Path(__file__).resolve().parents[2]
EVENT = ROOT / "events" / "enrich" / "kinesis-kpl-aggregated.json"
USERS = ROOT / "events" / "enrich" / "kinesis-kpl-aggregated.users.jsonl"

STREAM_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/streamops-raw"
SHARD = "shardId-000000000002"
SEQ_BASE = 49656734289010347629181453817302211489270936418301700000
ARRIVAL = 1795425336.0


def click(i: int, user: int) -> bytes:
    """A valid event of the shipped clickstream spec (functions/enrich/specs/clickstream.json)."""
    event = {
        "event_id": f"evt-kpl-{i:04}",
        "event_type": ["page_view", "add_to_cart", "search"][i % 3],
        "user_id": f"user-{user}",
        "product_id": f"p-{100 + i}",
        "email": f"kpl{i}@example.com",
        "ip": f"203.0.113.{i}",
        "ts": f"2026-11-23T10:16:{i:02}.000Z",
        "properties": {"path": f"/books/{i}"},
    }
    return json.dumps(event, separators=(",", ":")).encode()


def aggregate(users: list[tuple[str, bytes, str | None]]) -> bytes:
    record = agg.AggRecord()
    for key, data, hash_key in users:
        assert record.add_user_record(key, data, hash_key), "fits one aggregate"
    return record.get_contents()[2]


def split_by_the_producer(users: list[tuple[str, bytes]], max_size: int) -> list[bytes]:
    """The producer's own filling: RecordAggregator hands over a full aggregate and starts the
    next one when a user record does not fit."""
    aggregator = agg.RecordAggregator(max_size=max_size)
    out = []
    for key, data in users:
        full = aggregator.add_user_record(key, data)
        if full is not None:
            out.append(full.get_contents()[2])
    rest = aggregator.clear_and_get()
    if rest is not None:
        out.append(rest.get_contents()[2])
    return out


def build() -> tuple[dict, list[dict]]:
    """The event and, per Kinesis record, what it is."""
    first = [
        ("user-1", click(1, 1), None),
        ("user-2", click(2, 2), "170141183460469231731687303715884105728"),
        ("user-1", b'{"event_id": "evt-kpl-0003", "event_type": ', None),
        ("user-3", click(4, 3), None),
    ]
    split_users = [(f"user-{10 + i}", click(10 + i, 10 + i)) for i in range(5)]
    split = split_by_the_producer(split_users, max_size=700)
    damaged = bytearray(aggregate([("user-7", click(20, 7), None), ("user-8", click(21, 8), None)]))
    damaged[-1] ^= 0x01
    plain = click(5, 4)

    kinesis: list[tuple[str, bytes, dict]] = [
        ("user-1", aggregate(first), {"kind": "aggregate", "users": [(k, d) for k, d, _ in first]}),
        ("user-4", plain, {"kind": "plain"}),
    ]
    taken = 0
    for part in split:
        count = part_user_count(part)
        kinesis.append(
            (split_users[taken][0], part, {"kind": "aggregate", "users": split_users[taken : taken + count]})
        )
        taken += count
    assert taken == len(split_users) and len(split) >= 2, "the producer split the aggregate"
    kinesis.append(("user-7", bytes(damaged), {"kind": "corrupt"}))

    records, expected = [], []
    for i, (key, data, what) in enumerate(kinesis):
        seq = str(SEQ_BASE + 1000 * i)
        records.append(
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": key,
                    "sequenceNumber": seq,
                    "data": base64.b64encode(data).decode(),
                    "approximateArrivalTimestamp": ARRIVAL + i / 100,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"{SHARD}:{seq}",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": "arn:aws:iam::123456789012:role/streamops-enrich",
                "awsRegion": "us-east-1",
                "eventSourceARN": STREAM_ARN,
            }
        )
        line: dict = {"sequenceNumber": seq, "kind": what["kind"]}
        if what["kind"] == "aggregate":
            line["users"] = [
                {"partitionKey": k, "data": base64.b64encode(d).decode()} for k, d in what["users"]
            ]
        expected.append(line)
    return {"Records": records}, expected


def part_user_count(aggregate_bytes: bytes) -> int:
    """How many user records the producer put in one aggregate, read with its own protobuf."""
    from aws_kinesis_agg import messages_pb2

    message = messages_pb2.AggregatedRecord()
    message.ParseFromString(aggregate_bytes[4:-16])
    return len(message.records)


def render() -> tuple[str, str]:
    event, expected = build()
    return (
        json.dumps(event, indent=2) + "\n",
        "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in expected),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args()
    event, users = render()
    if args.check:
        same = EVENT.read_text() == event and USERS.read_text() == users
        print("kpl fixture: " + ("up to date" if same else "differs from what aws-kinesis-agg makes"))
        return 0 if same else 1
    EVENT.write_text(event)
    USERS.write_text(users)
    print(f"wrote {EVENT.relative_to(ROOT)} and {USERS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
