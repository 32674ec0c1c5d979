"""Demo of the scaler: the raw stream's iterator-age alarm fires (as EventBridge delivers it),
the scaler reshards the stream within its bounds, ignores the redelivered event, holds back a
new transition inside the cooldown, never acts on OK, and keeps an audit trail."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from . import ui

EVENTS = Path(__file__).resolve().parents[2] / "events" / "scaler"


def load(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


def shards(stack) -> int:
    name = stack.cfn.physical_name("RawStream")
    return stack.client("kinesis").describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["OpenShardCount"]


def invoke(stack, label: str, payload: dict) -> None:
    ui.step(label)
    ok, out = stack.invoke("scaler", payload)
    if not ok:
        ui.warn(f"invocation failed: {out}")
        return
    for d in out.get("decisions", []):
        if d["decision"] == "act":
            ui.detail(f"ACT   {d['target']}: {d['from']} -> {d['to']}  ({d['reason'][:90]})")
        else:
            ui.detail(f"SKIP  {d['target']}: {d['reason']}  ({d['detail'][:90]})")


def run(stack) -> None:
    raw = stack.cfn.physical_name("RawStream")
    alarm = load("alarm-raw-iterator-age.json")
    ui.detail(f"{raw} has {shards(stack)} shards; policy: raw-stream min 2, max 16, scale out x2, 5 min cooldown, 1 h before scaling in.", 2)
    invoke(stack, "Alarm streamops-raw-iterator-age goes to ALARM (events/scaler/alarm-raw-iterator-age.json)", alarm)
    ui.detail(f"{raw} now has {shards(stack)} open shards")
    invoke(stack, "EventBridge redelivers the same event", alarm)
    again = copy.deepcopy(alarm)
    again["detail"]["state"]["timestamp"] = "2026-11-23T10:02:13.250+0000"
    invoke(stack, "The alarm fires again two minutes later (a new transition, inside the cooldown)", again)
    invoke(stack, "The alarm recovers: OK never scales", load("alarm-raw-iterator-age-ok.json"))
    ui.step("ops: explain what the first event would do now (nothing is claimed or changed)")
    ok, out = stack.invoke("scaler", {"command": "explain", "event": again})
    ui.as_json(out["decisions"] if ok else out)
    ui.step("ops: status (events/scaler/ops-status.json)")
    ok, out = stack.invoke("scaler", {"command": "status"})
    if ok:
        for t in out["targets"]:
            ui.detail(f"{t['target']}: {t['observed']}, paused={t['paused']}, last size {t['last_size']}, "
                      f"scale-out cooldown left {t['scale_out_cooldown_left_seconds']} s, {len(t['recent_decisions'])} recent decisions")
    ui.ok(f"{raw}: {shards(stack)} shards after one resharding; duplicates and cooldowns audited, not acted on")
