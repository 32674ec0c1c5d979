"""The KPL fixture is what the real producer makes: events/enrich/kinesis-kpl-aggregated.json
and its .users.jsonl are exactly the output of tests/support/kpl_fixture.py (aws-kinesis-agg),
and the producer's own deaggregator reads each aggregate back as the user records listed for it.
(functions/enrich/tests/kpl.rs holds enrich's de-aggregation to the same list.)"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from aws_kinesis_agg.deaggregator import deaggregate_records  # noqa: E402

from tests.support import kpl_fixture  # noqa: E402


def test_the_committed_fixture_is_what_aws_kinesis_agg_makes():
    event, users = kpl_fixture.render()
    assert kpl_fixture.EVENT.read_text() == event, "rerun: .venv/bin/python -m tests.support.kpl_fixture"
    assert kpl_fixture.USERS.read_text() == users


def test_the_producers_deaggregator_reads_the_listed_user_records():
    event = json.loads(kpl_fixture.EVENT.read_text())
    expected = [json.loads(line) for line in kpl_fixture.USERS.read_text().splitlines()]
    assert len(event["Records"]) == len(expected)
    kinds = [e["kind"] for e in expected]
    assert kinds.count("aggregate") >= 3 and "plain" in kinds and "corrupt" in kinds
    for record, want in zip(event["Records"], expected):
        assert record["kinesis"]["sequenceNumber"] == want["sequenceNumber"]
        got = deaggregate_records([record])
        if want["kind"] == "aggregate":
            assert [u["kinesis"]["subSequenceNumber"] for u in got] == list(range(len(want["users"])))
            assert [
                (u["kinesis"]["partitionKey"], base64.b64decode(u["kinesis"]["data"])) for u in got
            ] == [(u["partitionKey"], base64.b64decode(u["data"])) for u in want["users"]]
            assert {u["kinesis"]["sequenceNumber"] for u in got} == {want["sequenceNumber"]}
        else:
            # Plain, and the damaged aggregate: the producer's library hands both back as they
            # came (it reads a bad MD5 as "not an aggregate"; enrich quarantines it instead).
            assert got == [record]
            data = base64.b64decode(record["kinesis"]["data"])
            assert data.startswith(bytes([0xF3, 0x89, 0x9A, 0xC2])) == (want["kind"] == "corrupt")
