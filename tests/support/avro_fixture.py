"""Avro test data made by real producers, not by enrich: fastavro writes the Avro bodies (as the
Glue serializer for Python does) and aws-glue-schema-registry's codec frames them with the Glue
Schema Registry's wire header (version byte 3, compression byte 0 or 5 with zlib, the 16-byte
schema version id).

    .venv/bin/python -m tests.support.avro_fixture          # rewrites the files below
    .venv/bin/python -m tests.support.avro_fixture --check  # exit 1 if they are not what it makes

Writes, in events/enrich/:
- kinesis-avro-glue.json and msk-avro-glue.json: the same values as a Kinesis and an MSK event;
- avro-glue.expected.jsonl: per record, in order, what it is: the JSON document it decodes to
  (as fastavro reads it back with the reader schema), or the poison reason it must get;
- avro/registry.json: the schema versions a registry holds (id, data format, definition),
  what the tests' fake registry and the moto tests register;
- avro/click-v1.avsc, avro/click-v2.avsc: the writer schemas; v2 (a field added with a default)
  is the reader schema (ENRICH_AVRO_READER_SCHEMA_PATH), so v1 records decode by resolution.

Schema version ids are fixed here (a registry's are random) so the files are reproducible.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import sys
from pathlib import Path
from uuid import UUID

import fastavro
from aws_schema_registry import codec

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "events" / "enrich"

V1_ID = UUID("3f1c9a52-6d1e-4b7a-9e0c-2a5b8d4f7e11")
V2_ID = UUID("8a2d4c6e-1b3f-4d5a-8c7e-9f0a1b2c3d44")
LEGACY_ID = UUID("c4e5f6a7-b8c9-4dae-8f01-23456789abcd")
UNKNOWN_ID = UUID("00000000-0000-4000-8000-00000000dead")

FIELDS_V1 = [
    {"name": "event_id", "type": "string"},
    {"name": "event_type", "type": {"type": "enum", "name": "EventType", "symbols": ["page_view", "add_to_cart", "search"]}},
    {"name": "user_id", "type": "string"},
    {"name": "product_id", "type": ["null", "string"], "default": None},
    {"name": "email", "type": ["null", "string"], "default": None},
    {"name": "ip", "type": ["null", "string"], "default": None},
    {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "properties", "type": {"type": "map", "values": "string"}, "default": {}},
]
V1 = {"type": "record", "name": "Click", "namespace": "streamops", "fields": FIELDS_V1}
V2 = {**V1, "fields": FIELDS_V1 + [{"name": "channel", "type": "string", "default": "web"}]}
# Registered, but its user_id is a number: it does not resolve to the reader schema.
LEGACY = {**V1, "fields": [{**f, "type": "long"} if f["name"] == "user_id" else f for f in FIELDS_V1]}

STREAM_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/streamops-raw"
SHARD = "shardId-000000000003"
SEQ_BASE = 49656734289010347629181453817302211489270936418301800000
ARRIVAL = 1795425336.0
TOPIC = "clicks-avro"


def click(i: int, **extra) -> dict:
    """A valid event of the shipped clickstream spec, as an Avro record."""
    return {
        "event_id": f"evt-avro-{i:04}",
        "event_type": ["page_view", "add_to_cart", "search"][i % 3],
        "user_id": f"user-{i % 4}",
        "product_id": "p-100" if i % 2 else "p-200",
        "email": f"avro{i}@example.com",
        "ip": f"198.51.100.{i}",
        "ts": 1795425300000 + i * 1000,
        "properties": {"path": f"/books/{i}"},
        **extra,
    }


def body(schema: dict, record: dict) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(schema), record)
    return out.getvalue()


def read_as_reader(schema: dict, data: bytes) -> dict:
    """What the record is as the reader schema (v2) sees it, by fastavro's resolution."""
    value = fastavro.schemaless_reader(io.BytesIO(data), fastavro.parse_schema(schema), fastavro.parse_schema(V2))
    # enrich writes timestamp-millis as its number; fastavro hands back a datetime.
    value["ts"] = int(value["ts"].timestamp() * 1000)
    return value


def values() -> list[tuple[str, bytes, dict]]:
    """(partition key, value, what it is) in order."""
    out = []
    for i in range(1, 4):
        rec = click(i)
        data = body(V1, rec)
        out.append((rec["user_id"], codec.encode(data, V1_ID), {"decodes": read_as_reader(V1, data)}))
    rec = click(4, channel="app")
    data = body(V2, rec)
    out.append((rec["user_id"], codec.encode(data, V2_ID, compression=True), {"decodes": read_as_reader(V2, data)}))
    rec = click(5)
    data = body(V1, rec)
    out.append((rec["user_id"], codec.encode(data, V1_ID, compression=True), {"decodes": read_as_reader(V1, data)}))
    # Poison: JSON with no header, a header naming no registered schema, a truncated body,
    # a registered schema that does not resolve to the reader schema.
    out.append(("user-9", json.dumps(click(6)).encode(), {"poison": "bad_wire_header"}))
    out.append(("user-9", codec.encode(body(V1, click(7)), UNKNOWN_ID), {"poison": "unknown_schema", "schema": str(UNKNOWN_ID)}))
    out.append(("user-9", codec.encode(body(V1, click(8)), V1_ID)[:-12], {"poison": "undecodable_avro", "schema": str(V1_ID)}))
    legacy = {**click(9), "user_id": 42}
    out.append(("user-9", codec.encode(body(LEGACY, legacy), LEGACY_ID), {"poison": "schema_mismatch", "schema": str(LEGACY_ID)}))
    rec = click(10)
    data = body(V1, rec)
    out.append((rec["user_id"], codec.encode(data, V1_ID), {"decodes": read_as_reader(V1, data)}))
    return out


def kinesis_event(vals: list[tuple[str, bytes, dict]]) -> dict:
    records = []
    for i, (key, data, _) in enumerate(vals):
        seq = str(SEQ_BASE + 1000 * i)
        records.append({
            "kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": key, "sequenceNumber": seq,
                        "data": base64.b64encode(data).decode(), "approximateArrivalTimestamp": ARRIVAL + i / 100},
            "eventSource": "aws:kinesis", "eventVersion": "1.0", "eventID": f"{SHARD}:{seq}",
            "eventName": "aws:kinesis:record", "invokeIdentityArn": "arn:aws:iam::123456789012:role/streamops-enrich",
            "awsRegion": "us-east-1", "eventSourceARN": STREAM_ARN,
        })
    return {"Records": records}


def msk_event(vals: list[tuple[str, bytes, dict]]) -> dict:
    lane = [
        {"topic": TOPIC, "partition": 0, "offset": 100 + i, "timestamp": 1795425336000 + i,
         "timestampType": "CREATE_TIME", "key": base64.b64encode(key.encode()).decode(),
         "value": base64.b64encode(data).decode(), "headers": []}
        for i, (key, data, _) in enumerate(vals)
    ]
    return {"eventSource": "aws:kafka",
            "eventSourceArn": "arn:aws:kafka:us-east-1:123456789012:cluster/streamops/abc-1",
            "records": {f"{TOPIC}-0": lane}}


def registry() -> list[dict]:
    return [{"schemaVersionId": str(i), "dataFormat": "AVRO", "definition": json.dumps(s, separators=(",", ":"))}
            for i, s in [(V1_ID, V1), (V2_ID, V2), (LEGACY_ID, LEGACY)]]


def render() -> dict[Path, str]:
    vals = values()
    pretty = lambda v: json.dumps(v, indent=2) + "\n"  # noqa: E731
    return {
        OUT / "kinesis-avro-glue.json": pretty(kinesis_event(vals)),
        OUT / "msk-avro-glue.json": pretty(msk_event(vals)),
        OUT / "avro-glue.expected.jsonl": "".join(json.dumps(w, separators=(",", ":")) + "\n" for _, _, w in vals),
        OUT / "avro" / "registry.json": pretty(registry()),
        OUT / "avro" / "click-v1.avsc": pretty(V1),
        OUT / "avro" / "click-v2.avsc": pretty(V2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args()
    files = render()
    if args.check:
        stale = [p for p, text in files.items() if not p.exists() or p.read_text() != text]
        for p in stale:
            print(f"avro fixture: {p.relative_to(ROOT)} differs from what fastavro and aws-glue-schema-registry make")
        print("avro fixture: " + ("up to date" if not stale else f"{len(stale)} file(s) differ"))
        return 1 if stale else 0
    for p, text in files.items():
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        print(f"wrote {p.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
