"""The Avro fixtures are what the real producers make: the committed files in events/enrich/ are
exactly the output of tests/support/avro_fixture.py (fastavro bodies, aws-glue-schema-registry's
Glue framing), and the producer's own codec and fastavro read each valid value back as the
listed document. (functions/enrich/tests/avro_service.rs holds enrich's decoding to the list.)"""

from __future__ import annotations

import base64
import io
import json
import sys
from pathlib import Path
from uuid import UUID

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import fastavro  # noqa: E402
from aws_schema_registry import codec  # noqa: E402

from tests.support import avro_fixture  # noqa: E402


def test_the_committed_files_are_what_the_producers_make():
    for path, text in avro_fixture.render().items():
        assert path.read_text() == text, f"rerun: .venv/bin/python -m tests.support.avro_fixture ({path.name})"


def test_the_producers_codec_reads_the_valid_values_back_and_refuses_the_bad_header():
    event = json.loads((avro_fixture.OUT / "kinesis-avro-glue.json").read_text())
    expected = [json.loads(line) for line in (avro_fixture.OUT / "avro-glue.expected.jsonl").read_text().splitlines()]
    registry = {UUID(v["schemaVersionId"]): json.loads(v["definition"]) for v in avro_fixture.registry()}
    reader = fastavro.parse_schema(avro_fixture.V2)
    assert len(event["Records"]) == len(expected)
    for record, want in zip(event["Records"], expected):
        value = base64.b64decode(record["kinesis"]["data"])
        if want.get("poison") == "bad_wire_header":
            try:
                codec.decode(value)
            except codec.UnknownEncodingException:
                continue
            raise AssertionError("the codec read a value with no Glue header")
        data, schema_id = codec.decode(value)
        if "decodes" in want:
            got = fastavro.schemaless_reader(io.BytesIO(data), fastavro.parse_schema(registry[schema_id]), reader)
            got["ts"] = int(got["ts"].timestamp() * 1000)
            assert got == want["decodes"]
        else:
            assert str(schema_id) == want["schema"]
            assert (schema_id in registry) == (want["poison"] != "unknown_schema")
