"""alerts end to end: EventBridge/SNS events in through cargo lambda invoke, SNS messages out to
a subscriber queue, dedup state in DynamoDB, all on moto."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path

import pytest

EVENTS = Path(__file__).resolve().parents[2] / "events" / "alerts"


def load(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


def renamed(event: dict, alarm: str) -> dict:
    """The fixture for another alarm, so tests do not share dedup state."""
    e = copy.deepcopy(event)
    e["id"] = str(uuid.uuid4())
    e["detail"]["alarmName"] = alarm
    return e


@pytest.fixture
def subscriber(stack):
    return stack.subscribe_queue("AlertsTopic", f"e2e-{uuid.uuid4().hex[:8]}")


def decisions(resp: dict) -> list[tuple[str, str | None]]:
    return [(a["decision"], a.get("reason")) for a in resp["alerts"]]


def test_same_alarm_twice_is_one_message_and_ok_is_one_resolved_notice(stack, subscriber):
    alarm = renamed(load("alarm-iterator-age-alarm.json"), "e2e-iterator-age")
    ok1, r1 = stack.invoke("alerts", alarm)
    ok2, r2 = stack.invoke("alerts", alarm)
    assert ok1 and ok2, (r1, r2)
    assert decisions(r1) == [("published", None)]
    assert decisions(r2) == [("suppressed", "redelivered")]
    msgs = stack.drain(subscriber, expect_at_least=1)
    assert len(msgs) == 1
    assert msgs[0]["Subject"] == "CRITICAL: ALARM e2e-iterator-age (us-east-1)"
    assert msgs[0]["MessageAttributes"]["severity"]["Value"] == "critical"

    ok_event = renamed(load("alarm-iterator-age-ok.json"), "e2e-iterator-age")
    ok3, r3 = stack.invoke("alerts", ok_event)
    ok4, r4 = stack.invoke("alerts", ok_event)
    assert ok3 and ok4
    assert decisions(r3) == [("published", None)]
    assert decisions(r4) == [("suppressed", "redelivered")]
    msgs = stack.drain(subscriber, expect_at_least=1)
    assert [m["MessageAttributes"]["severity"]["Value"] for m in msgs] == ["resolved"]
    assert msgs[0]["Subject"] == "RESOLVED: OK e2e-iterator-age (us-east-1)"


def test_every_sample_event_is_accepted(stack, subscriber):
    published = 0
    for name in ["emr-cluster-terminated-with-errors.json", "emr-step-failed.json", "lambda-destination-failure.json",
                 "generic-event.json", "alarm-composite-alarm.json", "sns-alarm-notification.json"]:
        ok, resp = stack.invoke("alerts", load(name))
        assert ok, (name, resp)
        assert len(resp["alerts"]) == 1, name
        published += resp["alerts"][0]["decision"] == "published"
    assert len(stack.drain(subscriber, expect_at_least=published)) == published


def test_truncated_json_is_a_clear_error_not_a_crash(stack):
    ok, err = stack.invoke("alerts", '{"detail-type": "CloudWatch Alarm State Change", "source": "aws.cl')
    assert not ok
    assert "deserializ" in err.lower() or "eof" in err.lower(), err
    # The function is still healthy afterwards.
    ok, resp = stack.invoke("alerts", {"command": "list-silences"})
    assert ok, resp


def test_wrong_types_and_unknown_payloads_become_warnings(stack, subscriber):
    bad = renamed(load("alarm-iterator-age-alarm.json"), "e2e-bad-types")
    bad["detail"]["state"]["value"] = 7
    ok, resp = stack.invoke("alerts", bad)
    assert ok, resp
    assert resp["alerts"][0]["severity"] == "warning"
    assert resp["alerts"][0]["title"].startswith("Malformed CloudWatch Alarm State Change event")
    ok, resp = stack.invoke("alerts", {"something": "else", "id": str(uuid.uuid4())})
    assert ok and resp["alerts"][0]["severity"] == "warning"
    subjects = [m["Subject"] for m in stack.drain(subscriber, expect_at_least=2)]
    assert any(s.startswith("WARNING: Malformed CloudWatch Alarm State Change") for s in subjects), subjects


def test_ops_commands_round_trip(stack, subscriber):
    ok, created = stack.invoke("alerts", {"command": "create-silence", "alarm_name_prefix": "e2e-silenced-",
                                          "duration_minutes": 30, "comment": "e2e"})
    assert ok, created
    sid = created["silence"]["id"]
    ok, resp = stack.invoke("alerts", renamed(load("alarm-iterator-age-alarm.json"), "e2e-silenced-alarm"))
    assert ok and decisions(resp) == [("suppressed", "silenced")]
    ok, listed = stack.invoke("alerts", {"command": "list-silences"})
    assert ok and sid in [s["id"] for s in listed["silences"]]
    ok, removed = stack.invoke("alerts", {"command": "remove-silence", "id": sid})
    assert ok and removed["removed"] == sid
    ok, err = stack.invoke("alerts", {"command": "remove-silence", "id": sid})
    assert not ok and "no silence with id" in err
    ok, sent = stack.invoke("alerts", load("ops-send-test-alert.json"))
    assert ok, sent
    msgs = stack.drain(subscriber, expect_at_least=1)
    assert [m["Subject"] for m in msgs] == ["WARNING: Test alert from streamops (us-east-1)"]


def test_real_aws_alarm_and_emr_shapes_through_the_binary(stack, subscriber):
    """Issue 14: SNS alarm notifications without AlarmArn or Threshold are alarms, a Lambda alarm
    action dedupes with its EventBridge twin, a suppressed composite transition is not sent, an
    EMR instance group event is its own alert."""
    expected = {
        "sns-alarm-no-arn.json": ("published", None, "critical"),
        "sns-alarm-anomaly-alarm.json": ("published", None, "critical"),
        "emr-instance-group-arrested.json": ("published", None, "warning"),
        "alarm-composite-suppressed.json": ("suppressed", "actions-suppressed", "critical"),
    }
    for name, (decision, reason, severity) in expected.items():
        ok, resp = stack.invoke("alerts", load(name))
        assert ok, (name, resp)
        a = resp["alerts"][0]
        assert (a["decision"], a.get("reason"), a["severity"]) == (decision, reason, severity), (name, a)
    direct = copy.deepcopy(load("lambda-action-metric-alarm.json"))
    direct["alarmData"]["alarmName"] = "e2e-lambda-action"
    ok, resp = stack.invoke("alerts", direct)
    assert ok and decisions(resp) == [("published", None)], resp
    twin = renamed(load("alarm-iterator-age-alarm.json"), "e2e-lambda-action")
    ok, resp = stack.invoke("alerts", twin)
    assert ok and decisions(resp) == [("suppressed", "repeat-within-window")], resp
    subjects = sorted(m["Subject"] for m in stack.drain(subscriber, expect_at_least=4))
    assert subjects == sorted([
        "CRITICAL: ALARM streamops-enrich-errors (us-east-1)",
        "CRITICAL: ALARM streamops-raw-incoming-anomaly (us-east-1)",
        "WARNING: EMR instance group ig-3KXXXXXXTASK1 (TASK) ARRESTED (us-east-1)",
        "CRITICAL: ALARM e2e-lambda-action (us-east-1)",
    ]), subjects


def test_a_cluster_failure_mutes_the_lag_alarms_of_its_cluster(stack, subscriber):
    """Issue 17, through the binary with the template's default rules: the stack's EMR cluster
    (EmrClusterId) terminating with errors is sent; an iterator-age alarm of the stack, tied to
    that cluster by ALERTS_RESOURCE_LABELS, is recorded as inhibited and listed by
    `inhibitions`; its recovery is not sent (never heard). Last in the file: the source fires
    for the rest of the session."""
    from datetime import datetime, timezone

    cluster = stack.cfn.params["EmrClusterId"]
    now = datetime.now(timezone.utc)
    root = copy.deepcopy(load("emr-cluster-terminated-with-errors.json"))
    root["id"] = str(uuid.uuid4())
    root["time"] = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    root["detail"]["clusterId"] = cluster
    ok, resp = stack.invoke("alerts", root)
    assert ok and decisions(resp) == [("published", None)], resp
    source = resp["alerts"][0]["fingerprint"]

    lag = renamed(load("alarm-iterator-age-alarm.json"), "streamops-e2e-iterator-age")
    lag["detail"]["state"]["timestamp"] = now.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    ok, resp = stack.invoke("alerts", lag)
    assert ok and decisions(resp) == [("suppressed", "inhibited")], resp
    assert resp["alerts"][0]["inhibited_by"] == source
    assert resp["alerts"][0]["inhibit_rule"] == "emr-cluster-failed-lag"

    ok, listed = stack.invoke("alerts", load("ops-inhibitions.json"))
    assert ok, listed
    mine = [i for i in listed["inhibitions"] if i["source_fingerprint"] == source]
    assert [i["rule"] for i in mine if i["muted_count"]] == ["emr-cluster-failed-lag"], listed
    assert mine[0]["firing"] is True

    recovered = renamed(load("alarm-iterator-age-ok.json"), "streamops-e2e-iterator-age")
    recovered["detail"]["state"]["timestamp"] = now.strftime("%Y-%m-%dT%H:%M:%S.500+0000")
    ok, resp = stack.invoke("alerts", recovered)
    assert ok and decisions(resp) == [("suppressed", "not-a-recovery")], resp
    msgs = stack.drain(subscriber, expect_at_least=1)
    assert [m["Subject"] for m in msgs] == [
        f"CRITICAL: EMR cluster {cluster} (streamops-flink) TERMINATED_WITH_ERRORS (us-east-1)"]
