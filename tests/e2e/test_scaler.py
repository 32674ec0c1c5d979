"""scaler end to end: alarm events through `cargo lambda invoke` into the real binary, the raw
stream on moto resharded, the audit trail in DynamoDB."""

from __future__ import annotations

import copy

from scripts.demos.scaler import load, shards


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
