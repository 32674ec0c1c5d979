"""What the alerts soak sends, built by loading the real AWS shapes in events/alerts/ and
changing only what identifies a transition: CloudWatch alarm state changes through
EventBridge, their SNS twins and Lambda alarm-action twins, scaler decisions and EMR step
changes. Also the expected outcome of a sequence of transitions, written from the rules in
docs/alerts.md ("Dedup, resolved notices, silences"), not from the code."""

from __future__ import annotations

import copy
import json
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from .world import ROOT

EVENTS = ROOT / "events" / "alerts"
ACCOUNT, REGION = "123456789012", "us-east-1"


def fixture(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


def _cw_ts(t: datetime) -> str:
    """CloudWatch's state timestamp: 2026-11-23T10:00:13.250+0000."""
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}+0000"


def _eb_time(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Transition:
    """One thing that happened, which every copy of it reports."""
    lane: str          # the resource: alarm name, scaler target, cluster/step
    kind: str          # alarm | scaler | emr
    state: str         # the state the alert carries (ALARM, SCALED 2->4, FAILED)
    previous: str | None
    time: datetime
    prev_time: datetime
    index: int         # position in its lane's timeline
    eb_id: str = ""
    sns_id: str = ""

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.lane, self.state, int(self.time.timestamp() * 1000))

    @property
    def problem(self) -> bool:
        return self.state in ("ALARM", "INSUFFICIENT_DATA", "FAILED")


# ------------------------------------------------------------------ copies of a transition

def eb_alarm(t: Transition) -> dict:
    e = fixture("alarm-iterator-age-alarm.json")
    arn = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{t.lane}"
    e.update(id=t.eb_id, time=_eb_time(t.time), resources=[arn])
    d = e["detail"]
    d["alarmName"] = t.lane
    d["state"].update(value=t.state, timestamp=_cw_ts(t.time), reason=f"soak: now {t.state}")
    d["previousState"].update(value=t.previous, timestamp=_cw_ts(t.prev_time), reason=f"soak: was {t.previous}")
    return e


def sns_alarm(t: Transition) -> dict:
    e = fixture("sns-alarm-notification.json")
    sns = e["Records"][0]["Sns"]
    msg = json.loads(sns["Message"])
    msg.update(AlarmName=t.lane, NewStateValue=t.state, OldStateValue=t.previous,
               StateChangeTime=_cw_ts(t.time), NewStateReason=f"soak: now {t.state}",
               AlarmArn=f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{t.lane}")
    sns.update(MessageId=t.sns_id, Message=json.dumps(msg), Subject=f'{t.state}: "{t.lane}" in US East (N. Virginia)',
               Timestamp=(t.time + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z"))
    return e


def lambda_action(t: Transition) -> dict:
    e = fixture("lambda-action-metric-alarm.json")
    e.update(alarmArn=f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{t.lane}", time=_cw_ts(t.time))
    d = e["alarmData"]
    d["alarmName"] = t.lane
    d["state"].update(value=t.state, timestamp=_cw_ts(t.time), reason=f"soak: now {t.state}")
    d["previousState"].update(value=t.previous, timestamp=_cw_ts(t.prev_time), reason=f"soak: was {t.previous}")
    return e


def scaler_decision(t: Transition) -> dict:
    e = fixture("scaler-decision-scaled.json")
    size_from, size_to = (int(x) for x in t.state.split(" ")[1].split("->"))
    at = t.time.isoformat()
    e.update(id=t.eb_id, time=_eb_time(t.time))
    e["detail"].update(decision_id=f"{t.lane}/{at}/0000", target=t.lane, outcome="scaled",
                       at=at, **{"from": size_from, "to": size_to})
    return e


def emr_step(t: Transition) -> dict:
    e = fixture("emr-step-failed.json")
    cluster, step = t.lane.split("/")
    e.update(id=t.eb_id, time=_eb_time(t.time))
    e["detail"].update(clusterId=cluster, stepId=step, state=t.state,
                       message=f"Step {step} in Amazon EMR cluster {cluster} is {t.state}.")
    return e


def copies(t: Transition, rng: random.Random) -> list[tuple[str, dict]]:
    """Every delivery of one transition: the EventBridge event, for alarms also an SNS twin
    and sometimes a Lambda alarm-action twin, and at-least-once duplicates of each."""
    if t.kind == "scaler":
        out = [("eventbridge", scaler_decision(t))]
    elif t.kind == "emr":
        out = [("eventbridge", emr_step(t))]
    else:
        out = [("eventbridge", eb_alarm(t))]
        if rng.random() < 0.7:
            out.append(("sns", sns_alarm(t)))
        if rng.random() < 0.2:
            out.append(("lambda-action", lambda_action(t)))
    for path, event in list(out):
        if rng.random() < 0.15:  # EventBridge and SNS deliver at least once
            out.append((path + "-duplicate", copy.deepcopy(event)))
    rng.shuffle(out)
    return out


# ------------------------------------------------------------------ timelines

def _alarm_states(rng: random.Random, n: int, new_alarm: bool) -> list[tuple[str, str]]:
    """(state, previous) pairs: a new alarm starts INSUFFICIENT_DATA -> OK (not a recovery)."""
    out, current = [], "OK"
    if new_alarm:
        out.append(("OK", "INSUFFICIENT_DATA"))
    while len(out) < n:
        nxt = rng.choices(["ALARM", "OK", "INSUFFICIENT_DATA"], weights=[45, 45, 10])[0]
        if nxt != current:
            out.append((nxt, current))
            current = nxt
    return out


def _lane_states(kind: str, rng: random.Random, n: int) -> list[tuple[str, str | None]]:
    if kind == "alarm":
        return _alarm_states(rng, n, new_alarm=rng.random() < 0.3)
    if kind == "scaler":
        sizes = [2]
        while len(sizes) <= n:
            sizes.append(rng.choice([s for s in (1, 2, 4, 8, 16) if s != sizes[-1]]))
        return [(f"SCALED {a}->{b}", None) for a, b in zip(sizes, sizes[1:])]
    return [(s, None) for s in ["PENDING", "RUNNING", rng.choice(["COMPLETED", "FAILED"])][:n]]


def timeline(lane: str, kind: str, rng: random.Random, n: int, start: datetime) -> list[Transition]:
    out, t, prev_t = [], start, start - timedelta(hours=1)
    for i, (state, previous) in enumerate(_lane_states(kind, rng, n)):
        t = t + timedelta(seconds=rng.randint(20, 400), milliseconds=rng.randint(0, 999))
        if kind == "emr":  # an EMR step alert's time is its event's, whole seconds
            t = t.replace(microsecond=0)
        out.append(Transition(lane, kind, state, previous, t, prev_t, i, str(uuid.UUID(int=rng.getrandbits(128))),
                              str(uuid.UUID(int=rng.getrandbits(128)))))
        prev_t = t
    return out


def lanes(prefix: str, rng: random.Random, n_lanes: int, per_lane: int) -> list[list[Transition]]:
    start = (datetime.now(timezone.utc) - timedelta(hours=6)).replace(microsecond=0)  # CloudWatch: ms
    out = []
    for i in range(n_lanes):
        kind = rng.choices(["alarm", "scaler", "emr"], weights=[80, 10, 10])[0]
        lane = {"alarm": f"{prefix}-alarm-{i:03d}", "scaler": f"{prefix}-stream-{i:03d}",
                "emr": f"j-{prefix.upper()}{i:03d}/s-{prefix.upper()}STEP{i:03d}"}[kind]
        out.append(timeline(lane, kind, rng, per_lane if kind != "emr" else 3, start))
    return out


def overtake(lane: list[Transition], rng: random.Random, rate: float) -> list[Transition]:
    """The order first deliveries arrive in: now and then a transition arrives after the one
    that followed it (EventBridge does not promise order)."""
    order = list(lane)
    i = 0
    while i + 1 < len(order):
        if rng.random() < rate:
            order[i], order[i + 1] = order[i + 1], order[i]
            i += 2
        else:
            i += 1
    return order


# ------------------------------------------------------------------ what must be sent

def expected(settled: list[Transition]) -> set[tuple[str, str, int]]:
    """The transitions that must be published exactly once, given the order in which each
    lane's transitions were settled. From docs/alerts.md: older than the newest state seen is
    out-of-order; the recorded state again (published inside the window, which is an hour,
    longer than a soak) is a repeat, and it is still the newest news (a transition older than
    the repeat is stale even if it is newer than the first report); an alarm's OK is a
    recovery only when a problem was notified, or, with nothing recorded, when the event says
    it left ALARM."""
    out: set = set()
    record: dict[str, dict] = {}
    for t in settled:
        r = record.get(t.lane)
        if r is not None and t.time < r["time"]:
            continue
        if r is not None and t.state == r["state"] and r["published"]:
            r["time"] = t.time  # a newer report of the same state: what came before it is stale
            continue
        if t.kind == "alarm" and t.state == "OK":
            recovery = r["problem"] if r is not None else t.previous == "ALARM"
            if not recovery:
                record[t.lane] = {"state": "OK", "time": t.time, "problem": False,
                                  "published": bool(r and r["published"])}
                continue
        out.add(t.key)
        record[t.lane] = {"state": t.state, "time": t.time, "problem": t.problem, "published": True}
    return out
