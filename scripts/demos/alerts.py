"""Demo of the alerts function: alarm, EMR and failure events in, SNS alerts out, with dedup,
resolved notices, silences and a test alert, as a subscriber (an SQS queue) receives them; then an
alert storm (a cluster failure and 20 symptoms) collapsing into one notification; and an alarm
on the stream the scaler is resizing, which names the resize."""

from __future__ import annotations

import copy
import json
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

from . import cli, ui

EVENTS = Path(__file__).resolve().parents[2] / "events" / "alerts"


def load(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


def later_alarm() -> dict:
    """The iterator-age alarm firing again after its recovery (a new transition)."""
    e = copy.deepcopy(load("alarm-iterator-age-alarm.json"))
    e["id"] = "5a0c3e57-demo-refire"
    e["time"] = "2026-11-23T11:40:13Z"
    e["detail"]["previousState"] = load("alarm-iterator-age-ok.json")["detail"]["state"]
    e["detail"]["state"]["timestamp"] = "2026-11-23T11:40:13.250+0000"
    return e


def invoke(stack, label: str, payload: dict | str) -> None:
    ui.step(label)
    show(*stack.invoke("alerts", payload))


def ops(stack, label: str, *args: str) -> None:
    """An ops command, through the streamops CLI."""
    show(*cli.ops(stack, "alerts", *args, label=label))


def show(ok: bool, resp) -> None:
    if not ok:
        ui.warn(f"invocation failed: {resp}")
        return
    if isinstance(resp, dict) and "alerts" in resp:
        for a in resp["alerts"]:
            why = f" ({a['reason']})" if a.get("reason") else ""
            ui.detail(f"{a['decision'].upper()}{why}: [{a['severity']}] {a['title']}  fingerprint={a['fingerprint'][:12]}...")
    else:
        ui.as_json(resp)


def storm(stack) -> None:
    """Issue 17's outage: the stack's EMR cluster terminates, then 20 lag alarms on it fire.
    The template's inhibition rules (ALERTS_INHIBIT_RULES) mute the symptoms of the root cause."""
    queue = stack.subscribe_queue("AlertsTopic", "streamops-demo-storm-subscriber")
    cluster = stack.cfn.params.get("EmrClusterId")
    if not cluster:
        ui.warn("the alert storm needs the stack's EMR cluster, which the scaler section creates (run it too)")
        return
    now = datetime.now(timezone.utc)
    ui.step(f"An outage: EMR cluster {cluster} terminates with errors, then 20 lag alarms on it fire within a minute")
    root = copy.deepcopy(load("emr-cluster-terminated-with-errors.json"))
    root["id"], root["time"] = str(uuid.uuid4()), now.strftime("%Y-%m-%dT%H:%M:%SZ")
    root["detail"]["clusterId"] = cluster
    ok, resp = stack.invoke("alerts", root)
    if not ok:
        ui.warn(f"invocation failed: {resp}")
        return
    decisions: Counter = Counter()
    for i in range(20):
        alarm = copy.deepcopy(load("alarm-iterator-age-alarm.json"))
        alarm["id"] = str(uuid.uuid4())
        alarm["detail"]["alarmName"] = f"streamops-storm-lag-{i:02d}"
        alarm["detail"]["state"]["timestamp"] = now.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
        ok, resp = stack.invoke("alerts", alarm)
        for a in (resp.get("alerts", []) if ok and isinstance(resp, dict) else []):
            decisions[(a["decision"], a.get("reason"))] += 1
    ui.detail("the 20 alarms: " + ", ".join(f"{n} {d}{f' ({r})' if r else ''}" for (d, r), n in decisions.items()), 6)
    ok, listed = stack.invoke("alerts", load("ops-inhibitions.json"))
    if ok and isinstance(listed, dict):
        for i in listed.get("inhibitions", []):
            if i.get("muted_count"):
                ui.detail(f"ops: inhibitions: rule {i['rule']} muted {i['muted_count']} alarm(s) while {i['source_fingerprint'][:12]}... fires", 6)
    messages = stack.drain(queue, expect_at_least=1)
    ui.ok(f"{len(messages)} notification for 21 events: " + "; ".join(m.get("Subject", "") for m in messages))
    # What a 21st symptom would do, and why, without sending or recording anything.
    symptom = copy.deepcopy(alarm)
    symptom["id"] = str(uuid.uuid4())
    symptom["detail"]["alarmName"] = "streamops-storm-lag-20"
    ok, why = cli.ops(stack, "alerts", "explain", "-", stdin=json.dumps(symptom),
                      label="ops: explain what a 21st lag alarm would do (events/alerts/ops-explain.json; nothing is sent or recorded)")
    for a in (why.get("alerts", []) if ok and isinstance(why, dict) else []):
        muted = a.get("muted_by") or {}
        ui.detail(f"would {a['would']}" + (f" ({a['reason']})" if a.get("reason") else "")
                  + (f", muted by {muted.get('rule') or muted.get('silence') or muted.get('mute_window')}" if muted else ""), 6)
    muted = ok and isinstance(why, dict) and why["alerts"][0]["would"] == "suppress"
    sent = stack.drain(queue)
    if muted and not sent:
        ui.ok("explain named the inhibition rule that mutes it, and nothing was sent")
    else:
        ui.warn(f"explain should say the symptom is muted and send nothing: {why}; sent {len(sent)}")


def awareness(stack) -> None:
    """Suite awareness: the scaler starts resizing the raw stream, and an alarm on that stream
    then says so, with when the resize should settle (docs/alerts.md#suite-awareness)."""
    queue = stack.subscribe_queue("AlertsTopic", "streamops-demo-awareness-subscriber")
    stream = stack.cfn.physical_name("RawStream")
    now = datetime.now(timezone.utc)
    at = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    ui.step(f"The scaler starts resizing {stream} (its decision event), then a lag alarm on the stream fires")
    decision = copy.deepcopy(load("scaler-decision-scaled.json"))
    decision["id"] = str(uuid.uuid4())
    decision["detail"].update({"decision_id": f"raw-stream/{at}/demo", "at": at,
                               "about": {"stream": stream},
                               "settles_by": (now.replace(microsecond=0) + timedelta(minutes=5)).isoformat()})
    ok, resp = stack.invoke("alerts", decision)
    if not ok:
        ui.warn(f"invocation failed: {resp}")
        return
    stack.drain(queue)  # the decision's own info alert
    alarm = copy.deepcopy(load("alarm-iterator-age-alarm.json"))
    alarm["id"] = str(uuid.uuid4())
    alarm["detail"]["alarmName"] = "streamops-demo-lag-during-resize"
    alarm["detail"]["state"]["timestamp"] = now.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    alarm["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"] = {"StreamName": stream}
    show(*stack.invoke("alerts", alarm))
    messages = stack.drain(queue, expect_at_least=1)
    lines = [line.strip() for m in messages for line in m.get("Message", "").splitlines() if line.strip().startswith("scaler:")]
    if lines:
        ui.ok(f"the alarm says what the scaler is doing: {lines[0]}")
    else:
        ui.warn(f"the alarm should name the resize in progress; received {[m.get('Subject') for m in messages]}")


def run(stack) -> None:
    queue = stack.subscribe_queue("AlertsTopic", "streamops-demo-alerts-subscriber")
    ui.detail(f"An SQS queue subscribes to {stack.cfn.ref('AlertsTopic')} and shows what subscribers receive.", 2)
    invoke(stack, "CloudWatch alarm streamops-raw-iterator-age goes to ALARM (EventBridge)", load("alarm-iterator-age-alarm.json"))
    invoke(stack, "EventBridge redelivers the same event", load("alarm-iterator-age-alarm.json"))
    invoke(stack, "The same transition arrives through the alarm's SNS notification", load("sns-alarm-notification.json"))
    invoke(stack, "Composite alarm streamops-pipeline-degraded goes to ALARM", load("alarm-composite-alarm.json"))
    invoke(stack, "EMR cluster terminated with errors", load("emr-cluster-terminated-with-errors.json"))
    invoke(stack, "EMR step failed", load("emr-step-failed.json"))
    invoke(stack, "An asynchronous invocation of streamops-enrich failed (Lambda destination)", load("lambda-destination-failure.json"))
    invoke(stack, "An event type alerts has no special handling for (Glue job failed)", load("generic-event.json"))
    invoke(stack, "A newly created alarm's first evaluation: INSUFFICIENT_DATA -> OK", load("alarm-new-alarm-initial-ok.json"))
    invoke(stack, "streamops-raw-iterator-age recovers: ALARM -> OK", load("alarm-iterator-age-ok.json"))
    silence = load("ops-create-silence.json")
    ops(stack, "ops: create-silence for alarms starting with streamops-raw- (events/alerts/ops-create-silence.json)",
        "silence", "--alarm-prefix", silence["alarm_name_prefix"], "--for", f"{silence['duration_minutes']}m",
        "--created-by", silence["created_by"], "--comment", silence["comment"])
    invoke(stack, "streamops-raw-iterator-age fires again while silenced", later_alarm())
    ops(stack, "ops: list-silences", "silences")
    test = load("ops-send-test-alert.json")
    ops(stack, "ops: send-test-alert", "test-alert", "--severity", test["severity"], "--message", test["message"])

    ui.step("What the subscriber received")
    messages = stack.drain(queue, expect_at_least=8)
    for i, m in enumerate(messages, 1):
        attrs = {k: v["Value"] for k, v in (m.get("MessageAttributes") or {}).items()}
        ui.detail(f"--- message {i}: {m.get('Subject')}", 2)
        ui.detail(f"attributes: severity={attrs.get('severity')} source={attrs.get('source')} fingerprint={attrs.get('fingerprint')}", 6)
        body = m.get("Message", "").splitlines()
        ui.detail("\n".join(body[:14] + ([f"... ({len(body) - 14} more lines)"] if len(body) > 14 else [])), 6)
    ui.ok(f"{len(messages)} messages delivered for 14 invocations: the redelivery, the SNS duplicate, the initial OK and the silenced alarm sent nothing")

    # Before the storm, whose firing root cause would mute the lag alarm.
    awareness(stack)
    storm(stack)
