"""Demo of the scaler: the raw stream's iterator-age alarm fires (as EventBridge delivers it),
the scaler reshards the stream within its bounds, ignores the redelivered event, holds back a
new transition inside the cooldown, never acts on OK; the EMR cluster's YARN memory alarm grows
its task group, and the idle-memory alarm's scale-in is held by the stabilisation window (and
stays open for the schedule's tick); everything lands in the audit trail."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from . import cli, ui

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


def prepare(stack) -> None:
    """An EMR cluster on moto (master, core, task groups) passed as EmrClusterId and
    EmrTaskInstanceGroupId, so the template's policies include the emr-task target."""
    emr = stack.client("emr")
    group = lambda name, role, n: {"Name": name, "InstanceRole": role, "InstanceType": "m5.xlarge", "InstanceCount": n}  # noqa: E731
    cluster = emr.run_job_flow(
        Name="streamops-flink", ReleaseLabel="emr-7.5.0", JobFlowRole="EMR_EC2_DefaultRole", ServiceRole="EMR_DefaultRole",
        Instances={"InstanceGroups": [group("master", "MASTER", 1), group("core", "CORE", 2), group("task", "TASK", 2)],
                   "KeepJobFlowAliveWhenNoSteps": True},
    )["JobFlowId"]
    task = next(g["Id"] for g in emr.list_instance_groups(ClusterId=cluster)["InstanceGroups"] if g["Name"] == "task")
    stack.cfn.params["EmrClusterId"] = cluster
    stack.cfn.params["EmrTaskInstanceGroupId"] = task
    ui.detail(f"EMR cluster {cluster} on moto (task group {task}, 2 instances) passed as EmrClusterId/EmrTaskInstanceGroupId")


def task_instances(stack) -> int:
    emr = stack.client("emr")
    cluster, task = stack.cfn.params["EmrClusterId"], stack.cfn.params["EmrTaskInstanceGroupId"]
    g = next(g for g in emr.list_instance_groups(ClusterId=cluster)["InstanceGroups"] if g["Id"] == task)
    return g["RequestedInstanceCount"]


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
    ui.detail(f"EMR task group: {task_instances(stack)} instances; policy emr-task min 1, max 10, +2 per scale-out, 1 h stabilisation before any scale-in")
    invoke(stack, "YARN memory available drops below 15% (events/scaler/alarm-emr-memory-low.json)", load("alarm-emr-memory-low.json"))
    ui.detail(f"EMR task group now requests {task_instances(stack)} instances")
    invoke(stack, "Minutes later most memory is idle (events/scaler/alarm-emr-memory-idle.json): inside the stabilisation window", load("alarm-emr-memory-idle.json"))
    ui.detail(f"EMR task group still requests {task_instances(stack)} instances")
    # The tick has no dry run of its own: the CLI sends it only with --apply.
    ok, out = cli.ops(stack, "scaler", "tick", "--apply", "--yes",
                      label="The schedule's tick (events/scaler/ops-tick.json) re-evaluates the open scale-in while the alarm still fires")
    for d in (out.get("decisions", []) if ok else []):
        ui.detail(f"{d['decision'].upper():5} {d['target']}: {d.get('reason', '')}  ({d.get('detail', '')[:90]})")
    if not ok:
        ui.warn(str(out))
    ok, out = cli.ops(stack, "scaler", "explain", "-", stdin=json.dumps(again),
                      label="ops: explain what the first event would do now (nothing is claimed or changed)")
    ui.as_json(out["decisions"] if ok else out)
    ok, out = cli.ops(stack, "scaler", "status", label="ops: status (events/scaler/ops-status.json)")
    if ok:
        for t in out["targets"]:
            observed = t["observed"]
            size = observed.get("size", observed.get("detail"))
            ui.detail(f"{t['target']}: {observed['observed']} (size {size}), paused={t['paused']}, last size {t['last_size']}, "
                      f"scale-out cooldown left {t['scale_out_cooldown_left_seconds']} s, {len(t['recent_decisions'])} recent decisions")
    ui.ok(f"{raw}: {shards(stack)} shards after one resharding; EMR task group {task_instances(stack)} instances after one resize; "
          "duplicates, cooldowns and the held scale-in audited, not acted on")
