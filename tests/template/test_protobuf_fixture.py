"""The Protobuf fixtures are what the real producers make: the committed files in events/enrich/
are exactly the output of tests/support/protobuf_fixture.py (protoc, the protobuf package,
aws-glue-schema-registry's Glue framing, confluent-kafka's serializer), and the producers' own
readers (the Glue codec, confluent-kafka's SchemaId, the protobuf package) read each valid value
back as the listed document. (functions/enrich/tests/protobuf_service.rs holds enrich's decoding
to the list.)"""

from __future__ import annotations

import base64
import io
import json
import sys
from pathlib import Path
from uuid import UUID

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from aws_schema_registry import codec  # noqa: E402
from confluent_kafka.schema_registry.common.serde import SchemaId  # noqa: E402
from google.protobuf.internal.decoder import _DecodeVarint  # noqa: E402

from tests.support import protobuf_fixture as pf  # noqa: E402


def expected(name: str) -> list[dict]:
    return [json.loads(line) for line in (pf.OUT / name).read_text().splitlines()]


def test_the_committed_files_are_what_the_producers_make():
    for path, text in pf.render().items():
        assert path.read_text() == text, f"rerun: .venv/bin/python -m tests.support.protobuf_fixture ({path.name})"


def test_the_glue_codec_and_protobuf_read_the_valid_values_back():
    event = json.loads((pf.OUT / "kinesis-protobuf-glue.json").read_text())
    want = expected("protobuf-glue.expected.jsonl")
    files = {pf.V1_ID: pf.compiled("click-v1.proto"), pf.V2_ID: pf.compiled("click-v2.proto")}
    registered = {UUID(v["schemaVersionId"]): v["dataFormat"] for v in pf.registry()["glue"]}
    assert len(event["Records"]) == len(want)
    for record, w in zip(event["Records"], want):
        value = base64.b64decode(record["kinesis"]["data"])
        if w.get("poison") == "bad_wire_header":
            try:
                codec.decode(value)
            except codec.UnknownEncodingException:
                continue
            raise AssertionError("the codec read a value with no Glue header")
        data, version = codec.decode(value)
        if "decodes" not in w:
            assert str(version) == w["schema"]
            assert registered.get(version) != "PROTOBUF" or w["poison"] != "unknown_schema"
            continue
        file, cls = files[version]
        index, start = _DecodeVarint(data, 0)
        assert index == pf.glue_index(file, cls.DESCRIPTOR), "the index names Click"
        assert pf.document(cls.FromString(data[start:])) == w["decodes"]


def test_confluent_kafkas_reader_and_protobuf_read_the_valid_values_back():
    event = json.loads((pf.OUT / "msk-protobuf-confluent.json").read_text())
    want = expected("protobuf-confluent.expected.jsonl")
    classes = {1: pf.compiled("click-v1.proto")[1], 2: pf.compiled("click-v2.proto")[1]}
    lane = event["records"][f"{pf.TOPIC}-0"]
    assert len(lane) == len(want)
    for record, w in zip(lane, want):
        payload = io.BytesIO(base64.b64decode(record["value"]))
        header = SchemaId("PROTOBUF")
        header.from_bytes(payload)
        if "decodes" not in w:
            assert str(header.id) == w["schema"]
            continue
        # v1's Click is the file's first message ([0], written as one 0 byte); v2's the second.
        assert header.message_indexes == ([0] if header.id == 1 else [1])
        assert pf.document(classes[header.id].FromString(payload.read())) == w["decodes"]
