"""scaler end to end: alarm events through `cargo lambda invoke` into the real binary, the raw
stream on moto resharded, the EMR task group resized and its scale-in held open for the tick,
an SNS-delivered alarm and its EventBridge twin claimed once, the audit trail in DynamoDB, and the
decisions worth a look put on the default event bus for the alerts function."""

from __future__ import annotations

import copy
import json
import time

from scripts.demos.scaler import load, shards, task_instances


def test_alarm_reshards_once_and_the_audit_shows_why(stack):
    before = shards(stack)
    alarm = copy.deepcopy(load("alarm-raw-iterator-age.json"))
    alarm["detail"]["state"]["timestamp"] = "2026-11-23T09:00:00.000+0000"  # its own transition
    ok, out = stack.invoke("scaler", alarm)
    assert ok, out
    acted = [d for d in out["decisions"] if d["decision"] == "act"]
    assert acted and acted[0]["from"] == before and acted[0]["to"] == min(before * 2, 16), out
    assert shards(stack) == acted[0]["to"]
    ok, again = stack.invoke("scaler", alarm)
    assert ok and again["decisions"][0]["reason"] == "duplicate", again
    ok, status = stack.invoke("scaler", {"command": "status"})
    assert ok, status
    raw = next(t for t in status["targets"] if t["target"] == "raw-stream")
    newest = raw["recent_decisions"][:2]
    assert [d["decision"] for d in newest] == ["skip", "act"], newest
    assert newest[0]["reason"] == "duplicate" and newest[1]["to"] == acted[0]["to"]


def test_bad_input_is_a_clear_error(stack):
    ok, out = stack.invoke("scaler", {"command": "scale", "target": "nope", "size": 3, "reason": "x"})
    assert not ok and "unknown target" in out
    ok, out = stack.invoke("scaler", {"detail-type": "EMR Step Status Change", "source": "aws.emr", "detail": {}})
    assert not ok and "detail-type" in out  # the message names what it got (cargo lambda wraps it)


def test_emr_task_group_grows_and_its_scale_in_waits_for_the_tick(stack):
    before = task_instances(stack)
    ok, out = stack.invoke("scaler", load("alarm-emr-memory-low.json"))
    assert ok, out
    assert out["decisions"][0]["decision"] == "act", out
    assert task_instances(stack) == before + 2
    ok, idle = stack.invoke("scaler", load("alarm-emr-memory-idle.json"))
    assert ok and idle["decisions"][0]["reason"] == "cooldown", idle
    ok, tick = stack.invoke("scaler", {"command": "tick"})
    assert ok, tick
    held = [d for d in tick["decisions"] if d["target"] == "emr-task"]
    assert held and held[0]["reason"] == "cooldown", tick
    assert task_instances(stack) == before + 2
    ok, status = stack.invoke("scaler", {"command": "status"})
    emr = next(t for t in status["targets"] if t["target"] == "emr-task")
    assert emr["open_decision"]["alarm"] == "streamops-emr-memory-idle", emr


def test_an_sns_delivered_alarm_and_its_eventbridge_twin_are_claimed_once(stack):
    sns = load("sns-alarm-raw-iterator-age.json")
    ok, first = stack.invoke("scaler", sns)
    assert ok, first
    assert first["decisions"][0]["reason"] != "duplicate", first
    ok, twin = stack.invoke("scaler", load("alarm-raw-iterator-age.json"))
    assert ok and twin["decisions"][0]["reason"] == "duplicate", twin


def test_real_sns_shapes_and_a_suppressed_transition(stack):
    """Issue 14: the SNS shapes CloudWatch sends (AlarmDescription null, no AlarmArn) are read,
    and a transition whose actions CloudWatch suppressed is skipped, not acted on."""
    ok, out = stack.invoke("scaler", load("sns-alarm-raw-write-throttled-null-description.json"))
    assert ok and out["state"] == "ALARM" and out["decisions"], out
    suppressed = copy.deepcopy(load("alarm-raw-iterator-age.json"))
    suppressed["detail"]["state"]["timestamp"] = "2026-11-23T08:00:00.000+0000"
    suppressed["detail"]["state"]["actionsSuppressedBy"] = "Alarm"
    before = shards(stack)
    ok, out = stack.invoke("scaler", suppressed)
    assert ok and {d["reason"] for d in out["decisions"]} == {"actions_suppressed"}, out
    assert shards(stack) == before
    ok, out = stack.invoke("scaler", load("sns-alarm-raw-iterator-age-ok-no-arn.json"))
    assert ok and out["state"] == "OK", out
    assert all(d["reason"] == "not_alarm" for d in out["decisions"]), out


# What the scaler tells the alerts function about, by decision (functions/scaler/src/notify.rs).
QUIET = {"duplicate", "not_alarm", "actions_suppressed"}


def _outcome(d: dict) -> str | None:
    if d["decision"] == "act":
        return "scaled"
    if d["decision"] == "defer":
        return "deferred"
    if d["decision"] == "skip" and d["reason"] not in QUIET:
        return "ineffective" if d["reason"] == "ineffective" else "blocked"
    return None


def test_decisions_worth_a_look_reach_the_default_bus_as_events_for_alerts(stack):
    """Notifications go through alerts: the binary puts a "Scaling Decision" event on the default
    bus for each decision worth a look (a rule with the template's source and detail-type sends
    them to a queue here; the local stack creates no rules), none for a duplicate."""
    events, sqs = stack.client("events"), stack.client("sqs")
    url = sqs.create_queue(QueueName="e2e-scaler-decisions")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {"source": ["streamops.scaler"], "detail-type": ["Scaling Decision"]}
    events.put_rule(Name="e2e-scaler-decisions", EventPattern=json.dumps(pattern))
    events.put_targets(Rule="e2e-scaler-decisions", Targets=[{"Id": "queue", "Arn": arn}])
    alarm = copy.deepcopy(load("alarm-raw-iterator-age.json"))
    alarm["detail"]["state"]["timestamp"] = "2026-11-23T07:00:00.000+0000"  # its own transition
    ok, out = stack.invoke("scaler", alarm)
    assert ok, out
    ok, again = stack.invoke("scaler", alarm)
    assert ok and again["decisions"][0]["reason"] == "duplicate", again
    expected = sorted((d["target"], _outcome(d)) for d in out["decisions"] if _outcome(d))
    assert expected, out
    got: list[dict] = []
    deadline = time.monotonic() + 20
    while len(got) < len(expected) and time.monotonic() < deadline:
        for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
            got.append(json.loads(m["Body"]))
    assert sorted((e["detail"]["target"], e["detail"]["outcome"]) for e in got) == expected, (got, out)
    raw = next(e for e in got if e["detail"]["target"] == "raw-stream")
    assert raw["source"] == "streamops.scaler" and raw["detail-type"] == "Scaling Decision"
    assert raw["detail"]["decision_id"].startswith("raw-stream/") and raw["detail"]["alarm"] == alarm["detail"]["alarmName"]
    time.sleep(2)
    late = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
    assert not late, f"the duplicate was notified: {late}"
