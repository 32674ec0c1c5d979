"""alerts grouping end to end, on a stack of its own (only alerts served, IAM enforced) with
AlertsGroupBy set: a storm of alarms joins one group and queues one flush on the template's
flush queue (the SQS delay the template's mapping would wait out); that message, delivered as
the mapping delivers it, publishes one notification listing every member, and its redelivery
publishes nothing."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path

import pytest

import conftest
from scripts.stack.local import LocalStack

EVENTS = Path(__file__).resolve().parents[2] / "events" / "alerts"


@pytest.fixture(scope="module")
def grouped(request) -> LocalStack:
    s = LocalStack(log_dir=conftest.ROOT / ".local" / "e2e-logs-alerts-grouping")

    def stop():
        late = conftest.unwatch(s)
        s.stop()
        assert not late, f"calls refused outside any test's setup or call: {late}"

    request.addfinalizer(stop)
    s.start_moto()
    s.cfn.params.update(AlertsGroupBy="account,region", AlertsGroupWait="0")
    s.provision()
    s.enforce_iam()
    s.start_functions(only=["alerts"])
    conftest.watch(s)
    return s


def alarm(name: str) -> dict:
    e = json.loads((EVENTS / "alarm-iterator-age-alarm.json").read_text())
    e = copy.deepcopy(e)
    e["id"] = str(uuid.uuid4())
    e["detail"]["alarmName"] = name
    return e


def sqs_event(bodies: list[dict]) -> dict:
    return {"Records": [{"messageId": str(uuid.uuid4()), "receiptHandle": "x", "body": json.dumps(b),
                         "attributes": {}, "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                         "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:streamops-alerts-group-flushes",
                         "awsRegion": "us-east-1"} for b in bodies]}


def test_a_storm_is_one_notification_and_a_redelivered_flush_sends_nothing(grouped):
    s = grouped
    subscriber = s.subscribe_queue("AlertsTopic", f"e2e-grouping-{uuid.uuid4().hex[:8]}")
    for i in range(5):
        ok, out = s.invoke("alerts", alarm(f"e2e-storm-{i}"))
        assert ok, out
        assert out["alerts"][0]["decision"] == "grouped", out
    flushes = s.drain(s.cfn.ref("AlertsGroupFlushQueue"), expect_at_least=1)
    assert len(flushes) == 1, flushes
    assert flushes[0]["group_flush"]["flush"] == 1
    assert s.drain(subscriber) == [], "nothing sent before the flush"

    ok, out = s.invoke("alerts", sqs_event(flushes))
    assert ok, out
    assert out["batchItemFailures"] == [], out
    assert out["flushes"][0]["outcome"]["result"] == "published", out
    msgs = s.drain(subscriber, expect_at_least=1)
    assert len(msgs) == 1, msgs
    assert msgs[0]["Subject"] == "CRITICAL: 5 alerts (account=123456789012, region=us-east-1)"
    for i in range(5):
        assert f"e2e-storm-{i} [ALARM]" in msgs[0]["Message"], msgs[0]["Message"]

    ok, again = s.invoke("alerts", sqs_event(flushes))
    assert ok and again["flushes"][0]["outcome"]["result"] == "nothing", again
    assert s.drain(subscriber) == []

    # The operator's view of it, with IAM enforced: the group, its five members, all notified.
    ok, listed = s.invoke("alerts", {"command": "groups"})
    assert ok, listed
    (group,) = [g for g in listed["groups"] if g["key"] == flushes[0]["group_flush"]["group"]]
    assert len(group["members"]) == 5 and group["pending"] == 0 and group["flushed"] == 1, group
    ok, why = s.invoke("alerts", {"command": "explain", "event": alarm("e2e-storm-0")})
    assert ok, why
    # Another delivery of the same transition (a new event id): a repeat inside the window.
    assert why["alerts"][0]["would"] == "suppress" and why["alerts"][0]["reason"] == "repeat-within-window", why
