"""Protobuf test data made by real producers, not by enrich: protoc (grpcio-tools) compiles the
.proto files, the protobuf package writes the messages, confluent-kafka's ProtobufSerializer
frames them as Confluent's wire format (magic byte, 4-byte schema id, the message indexes) and
aws-glue-schema-registry's codec puts the Glue header in front (version byte 3, compression byte
0 or 5 with zlib, the 16-byte schema version id).

    .venv/bin/python -m tests.support.protobuf_fixture          # rewrites the files below
    .venv/bin/python -m tests.support.protobuf_fixture --check  # exit 1 if they are not what it makes

Glue's Protobuf body is the message index as an unsigned varint, then the message (the Java
serializer's ProtobufWireFormatEncoder; the Python library has no Protobuf serializer): the
index of the message in the list of all the file's message types, nested ones included (map
entries too), sorted by full name (its MessageIndexFinder). That index is computed here, by
that rule, and written with the protobuf package's varint encoder.

Writes, in events/enrich/:
- kinesis-protobuf-glue.json: Glue-framed values in a Kinesis event;
- msk-protobuf-confluent.json: Confluent-framed values in an MSK event;
- protobuf-glue.expected.jsonl, protobuf-confluent.expected.jsonl: per record, in order, the
  JSON document it decodes to (the protobuf package's own JSON mapping with proto field names
  and fields without presence printed; int64 as numbers, as enrich writes them) or its poison;
- protobuf/registry.json: the schema versions the registries hold (Glue version ids and
  Confluent ids with their data format and .proto text).
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import tempfile
from pathlib import Path
from uuid import UUID

from aws_schema_registry import codec
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.protobuf import ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from google.protobuf.internal.encoder import _VarintBytes

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "events" / "enrich"
PROTO = OUT / "protobuf"

V1_ID = UUID("5d0e8f21-3c4b-4a69-b1d2-7e8f9a0b1c21")
V2_ID = UUID("9b3c5d7e-2f41-4a6b-8d9e-0f1a2b3c4d52")
AVRO_ID = UUID("3f1c9a52-6d1e-4b7a-9e0c-2a5b8d4f7e11")  # the Avro fixture's v1: not Protobuf
UNKNOWN_ID = UUID("00000000-0000-4000-8000-00000000beef")
UNKNOWN_CONFLUENT = 999

STREAM_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/streamops-raw"
SHARD = "shardId-000000000004"
SEQ_BASE = 49656734289010347629181453817302211489270936418302900000
ARRIVAL = 1795425336.0
TOPIC = "clicks-protobuf"
BIG = 2**53 + 7  # not a double: a number that loses its last bits in a float64


def compiled(name: str):
    """The message classes of protobuf/<name>, compiled by protoc."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "set.pb"
        from grpc_tools import protoc  # noqa: PLC0415

        include = Path(protoc.__file__).parent / "_proto"
        rc = protoc.main(["protoc", f"-I{PROTO}", f"-I{include}", "--include_imports",
                          f"--descriptor_set_out={out}", str(PROTO / name)])
        if rc != 0:
            raise SystemExit(f"protoc failed on {name}")
        fds = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    pool = descriptor_pool.DescriptorPool()
    for f in fds.file:
        pool.Add(f)
    file = pool.FindFileByName(name)
    return file, message_factory.GetMessageClass(pool.FindMessageTypeByName("streamops.Click"))


def glue_index(file, message) -> int:
    """The message's index as Glue's MessageIndexFinder assigns it."""
    queue, every = list(file.message_types_by_name.values()), []
    while queue:
        d = queue.pop(0)
        every.append(d)
        queue.extend(d.nested_types)
    return sorted(m.full_name for m in every).index(message.full_name)


def click(cls, i: int, **extra):
    m = cls(event_id=f"evt-proto-{i:04}", event_type=i % 3, user_id=f"user-{i % 4}",
            product_id="p-100" if i % 2 else "p-200", email=f"proto{i}@example.com",
            session_seq=BIG + i, trace=bytes([i, 0xff]), **extra)
    if i % 2:
        m.ip = f"198.51.100.{i}"
    m.ts.seconds, m.ts.nanos = 1795425300 + i, 123_000_000 * (i % 2)
    # One entry: the protobuf package writes a map's entries in an order that varies from
    # process to process (confluent-kafka's serializer cannot ask for its deterministic form),
    # and the committed files must be reproducible. Several entries, and their order, are
    # enrich's unit and property tests'.
    m.properties["path"] = f"/books/{i}"
    if i % 3 == 0:
        m.geo.country = "NL"
        m.geo.lat = 52.37
    return m


def document(message) -> dict:
    """The message as the protobuf package maps it to JSON, int64 as numbers."""
    doc = json_format.MessageToDict(message, preserving_proto_field_name=True,
                                    always_print_fields_with_no_presence=True)
    doc["session_seq"] = int(doc["session_seq"])
    return doc


def glue_value(file, message, version: UUID, compression: bool = False) -> bytes:
    body = _VarintBytes(glue_index(file, message.DESCRIPTOR)) + message.SerializeToString(deterministic=True)
    return codec.encode(body, version, compression=compression)


def glue_values() -> list[tuple[str, bytes, dict]]:
    """(partition key, value, what it is) in order."""
    (f1, c1), (f2, c2) = compiled("click-v1.proto"), compiled("click-v2.proto")
    out = []
    for i in range(1, 4):
        m = click(c1, i)
        out.append((m.user_id, glue_value(f1, m, V1_ID), {"decodes": document(m)}))
    m = click(c2, 4, channel="app")
    out.append((m.user_id, glue_value(f2, m, V2_ID, compression=True), {"decodes": document(m)}))
    # Evolution: a v1 message next to v2 ones decodes with the v1 schema its header names.
    m = click(c1, 5)
    out.append((m.user_id, glue_value(f1, m, V1_ID, compression=True), {"decodes": document(m)}))
    # Poison: JSON with no header, an unregistered id, an Avro schema's id, a truncated message,
    # an index naming no message of the schema.
    out.append(("user-9", json.dumps({"event_id": "x"}).encode(), {"poison": "bad_wire_header"}))
    out.append(("user-9", glue_value(f1, click(c1, 7), UNKNOWN_ID), {"poison": "unknown_schema", "schema": str(UNKNOWN_ID)}))
    out.append(("user-9", glue_value(f1, click(c1, 8), AVRO_ID), {"poison": "unknown_schema", "schema": str(AVRO_ID)}))
    out.append(("user-9", glue_value(f1, click(c1, 9), V1_ID)[:-5], {"poison": "undecodable_protobuf", "schema": str(V1_ID)}))
    stray = codec.encode(_VarintBytes(7) + click(c1, 10).SerializeToString(deterministic=True), V1_ID)
    out.append(("user-9", stray, {"poison": "schema_mismatch", "schema": str(V1_ID)}))
    m = click(c2, 11, channel="web")
    out.append((m.user_id, glue_value(f2, m, V2_ID), {"decodes": document(m)}))
    return out


def confluent_values() -> list[tuple[str, bytes, dict]]:
    """Framed by confluent-kafka's serializer against a mock registry: v1 gets id 1, v2 id 2."""
    client = SchemaRegistryClient.new_client({"url": "mock://protobuf-fixture"})
    (_, c1), (_, c2) = compiled("click-v1.proto"), compiled("click-v2.proto")
    ctx = SerializationContext(TOPIC, MessageField.VALUE)
    conf = {"use.deprecated.format": False}
    s1, s2 = ProtobufSerializer(c1, client, conf), ProtobufSerializer(c2, client, conf)
    out = []
    for i in range(1, 3):
        m = click(c1, i)
        out.append((m.user_id, s1(m, ctx), {"decodes": document(m)}))
    m = click(c2, 3, channel="app")
    out.append((m.user_id, s2(m, ctx), {"decodes": document(m)}))
    m = click(c1, 4)
    out.append((m.user_id, s1(m, ctx), {"decodes": document(m)}))
    unknown = bytearray(s1(click(c1, 5), ctx))
    unknown[1:5] = UNKNOWN_CONFLUENT.to_bytes(4, "big")
    out.append(("user-9", bytes(unknown), {"poison": "unknown_schema", "schema": str(UNKNOWN_CONFLUENT)}))
    out.append(("user-9", s1(click(c1, 6), ctx)[:-4], {"poison": "undecodable_protobuf", "schema": "1"}))
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
        {"topic": TOPIC, "partition": 0, "offset": 200 + i, "timestamp": 1795425336000 + i,
         "timestampType": "CREATE_TIME", "key": base64.b64encode(key.encode()).decode(),
         "value": base64.b64encode(data).decode(), "headers": []}
        for i, (key, data, _) in enumerate(vals)
    ]
    return {"eventSource": "aws:kafka",
            "eventSourceArn": "arn:aws:kafka:us-east-1:123456789012:cluster/streamops/abc-1",
            "records": {f"{TOPIC}-0": lane}}


def registry() -> dict:
    """What each registry holds: Glue versions by id (one an Avro schema), Confluent ids."""
    v1, v2 = (PROTO / "click-v1.proto").read_text(), (PROTO / "click-v2.proto").read_text()
    avro = json.loads((OUT / "avro" / "registry.json").read_text())[0]
    return {
        "glue": [{"schemaVersionId": str(V1_ID), "dataFormat": "PROTOBUF", "definition": v1},
                 {"schemaVersionId": str(V2_ID), "dataFormat": "PROTOBUF", "definition": v2},
                 avro],
        "confluent": [{"id": 1, "schemaType": "PROTOBUF", "schema": v1},
                      {"id": 2, "schemaType": "PROTOBUF", "schema": v2}],
    }


def render() -> dict[Path, str]:
    glue, confluent = glue_values(), confluent_values()
    pretty = lambda v: json.dumps(v, indent=2) + "\n"  # noqa: E731
    lines = lambda vals: "".join(json.dumps(w, separators=(",", ":")) + "\n" for _, _, w in vals)  # noqa: E731
    return {
        OUT / "kinesis-protobuf-glue.json": pretty(kinesis_event(glue)),
        OUT / "msk-protobuf-confluent.json": pretty(msk_event(confluent)),
        OUT / "protobuf-glue.expected.jsonl": lines(glue),
        OUT / "protobuf-confluent.expected.jsonl": lines(confluent),
        PROTO / "registry.json": pretty(registry()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args()
    files = render()
    if args.check:
        stale = [p for p, text in files.items() if not p.exists() or p.read_text() != text]
        for p in stale:
            print(f"protobuf fixture: {p.relative_to(ROOT)} differs from what the producers make")
        print("protobuf fixture: " + ("up to date" if not stale else f"{len(stale)} file(s) differ"))
        return 1 if stale else 0
    for p, text in files.items():
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        print(f"wrote {p.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
