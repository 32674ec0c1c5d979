"""The pipeline dashboard (PipelineDashboard) reads what is really there: every widget's metric is
an EMF metric a function emits (name, dimension names and the emitting service, read from the
Rust sources by emitted_metrics.py) or an AWS metric of a resource this stack deploys in the
configuration checked; its body is JSON in every parameter set; it covers what issue 21 asks
for; and every widget has its section in docs/dashboard.md."""

from __future__ import annotations

import copy
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

from emitted_metrics import emitted, namespace, non_literal_calls  # noqa: E402
from parameter_sets import PARAMETER_SETS  # noqa: E402
from scripts.stack.cfn import Evaluator, load_template  # noqa: E402

RAW = load_template(ROOT / "template.yaml")
EMITTED = emitted()
NAMESPACE = namespace()
SETS = {**PARAMETER_SETS, "polling": {"EnrichEnhancedFanOut": "false"}}
FUNCTIONS = {"AlertsFunction", "EnrichFunction", "PartitionsFunction", "CheckpointsFunction", "ScalerFunction"}
# SEARCH('{namespace,dim,...} filters', 'stat', period)
SEARCH = re.compile(r"^SEARCH\('\{([^}]*)\}\s*([^']*)',\s*'(\w+)',\s*(\d+)\)$")
FILTER = re.compile(r'(\w+)="([^"]*)"')
# Metric math the widgets may use over the ids of their own metrics.
MATH = {"DIFF_TIME", "RATE", "FILL", "SUM", "MAX", "MIN", "AVG", "METRICS"}


def evaluator(params: dict) -> Evaluator:
    return Evaluator(RAW, "streamops", params)


def body(ev: Evaluator) -> dict:
    return json.loads(ev.eval(RAW["Resources"]["PipelineDashboard"]["Properties"]["DashboardBody"]))


# ---------------------------------------------------------------- AWS metrics of this stack's resources


def _names(ev: Evaluator, kind: str) -> set[str]:
    return {ev.physical_name(k) for k, r in ev.resources.items() if r["Type"] == kind and ev.enabled(k)}


def _ours(kind: str, dimension: str):
    return lambda ev, dims: dims[dimension] in _names(ev, kind)


def _mappings(ev: Evaluator) -> list[dict]:
    return [ev.eval(r["Properties"]) for k, r in ev.resources.items()
            if r["Type"] == "AWS::Lambda::EventSourceMapping" and ev.enabled(k)]


def _polled(ev: Evaluator, dims: dict) -> bool:
    # GetRecords.* has data only when something polls the stream (a mapping on the stream itself,
    # or Firehose reading it); an enhanced fan-out consumer does not count.
    arn = f"arn:aws:kinesis:{ev.region}:{ev.account}:stream/{dims['StreamName']}"
    readers = [str(m.get("EventSourceArn")) for m in _mappings(ev)]
    readers += [str(ev.eval(r["Properties"]).get("KinesisStreamSourceConfiguration", {}).get("KinesisStreamARN"))
                for k, r in ev.resources.items() if r["Type"] == "AWS::KinesisFirehose::DeliveryStream" and ev.enabled(k)]
    return arn in readers


def _consumed(ev: Evaluator, dims: dict) -> bool:
    for k, r in ev.resources.items():
        if r["Type"] == "AWS::Kinesis::StreamConsumer" and ev.enabled(k) and ev.physical_name(k) == dims["ConsumerName"]:
            on_stream = ev.eval(r["Properties"]["StreamARN"]).endswith(f":stream/{dims['StreamName']}")
            return on_stream and any(str(m.get("EventSourceArn")) == ev.getatt(k, "ConsumerARN") for m in _mappings(ev))
    return False


def _stream_reader(ev: Evaluator, dims: dict) -> bool:
    arns = {str(m.get("EventSourceArn")) for m in _mappings(ev) if str(m.get("FunctionName")) == dims["FunctionName"]}
    return any(":kinesis:" in a or ":kafka:" in a for a in arns)


FUNCTION = _ours("AWS::Serverless::Function", "FunctionName")
AWS_METRICS = {
    ("AWS/Lambda", "Errors", frozenset({"FunctionName"})): FUNCTION,
    ("AWS/Lambda", "Throttles", frozenset({"FunctionName"})): FUNCTION,
    ("AWS/Lambda", "Duration", frozenset({"FunctionName"})): FUNCTION,
    ("AWS/Lambda", "IteratorAge", frozenset({"FunctionName"})): _stream_reader,
    ("AWS/SQS", "ApproximateNumberOfMessagesVisible", frozenset({"QueueName"})): _ours("AWS::SQS::Queue", "QueueName"),
    ("AWS/Kinesis", "IncomingRecords", frozenset({"StreamName"})): _ours("AWS::Kinesis::Stream", "StreamName"),
    ("AWS/Kinesis", "WriteProvisionedThroughputExceeded", frozenset({"StreamName"})): _ours("AWS::Kinesis::Stream", "StreamName"),
    ("AWS/Kinesis", "GetRecords.IteratorAgeMilliseconds", frozenset({"StreamName"})): _polled,
    ("AWS/Kinesis", "SubscribeToShardEvent.MillisBehindLatest", frozenset({"StreamName", "ConsumerName"})): _consumed,
    ("AWS/Firehose", "DeliveryToS3.DataFreshness", frozenset({"DeliveryStreamName"})):
        _ours("AWS::KinesisFirehose::DeliveryStream", "DeliveryStreamName"),
    ("AWS/Firehose", "DeliveryToS3.Success", frozenset({"DeliveryStreamName"})):
        _ours("AWS::KinesisFirehose::DeliveryStream", "DeliveryStreamName"),
    ("AWS/Firehose", "DeliveryToIceberg.DataFreshness", frozenset({"DeliveryStreamName"})):
        _ours("AWS::KinesisFirehose::DeliveryStream", "DeliveryStreamName"),
}


# ---------------------------------------------------------------- the check


def _emf_emitted(name: str, dims: frozenset[str], service: str | None) -> bool:
    return any(m.name == name and m.dimensions == dims and (service is None or m.service == service) for m in EMITTED)


def read_metrics(widget: dict) -> list[tuple[str, str, dict]]:
    """(namespace, metric, {dimension: value or None}) for every metric a widget reads; SEARCH
    expressions give their schema's dimensions (a value only where the search filters on it)."""
    out = []
    for entry in widget["properties"].get("metrics", []):
        if isinstance(entry, list):
            spec = [e for e in entry if not isinstance(e, dict)]
            assert "." not in spec, f"{widget['properties']['title']}: write the metric out, no '.' shorthand"
            ns, name, rest = spec[0], spec[1], spec[2:]
            out.append((ns, name, dict(zip(rest[::2], rest[1::2]))))
        elif (m := SEARCH.match(entry["expression"])):
            schema = [s.strip() for s in m.group(1).split(",")]
            filters = dict(FILTER.findall(m.group(2)))
            dims = {d: filters.get(d) for d in schema[1:]}
            out.append((schema[0], filters.get("MetricName", ""), dims))
    return out


def problems(ev: Evaluator, dashboard: dict) -> tuple[list[str], int]:
    found, checked = [], 0
    for w in dashboard["widgets"]:
        if w["type"] != "metric":
            continue
        title = w["properties"]["title"]
        ids = {e["id"] for e in w["properties"]["metrics"] if isinstance(e, dict) and "id" in e}
        for e in w["properties"]["metrics"]:
            if isinstance(e, dict) and not SEARCH.match(e["expression"]):
                words = set(re.findall(r"[A-Za-z_]\w*", e["expression"]))
                unknown = words - ids - MATH
                if unknown:
                    found.append(f"{title}: expression {e['expression']!r} names {sorted(unknown)}, no metric of the widget")
        for ns, name, dims in read_metrics(w):
            checked += 1
            if ns == NAMESPACE:
                if not _emf_emitted(name, frozenset(dims), dims.get("service")):
                    found.append(f"{title}: no function emits {ns} {name} {sorted(dims)} (service {dims.get('service')})")
                continue
            emitter = AWS_METRICS.get((ns, name, frozenset(dims)))
            if emitter is None:
                found.append(f"{title}: {ns} {name} {sorted(dims)} is no AWS metric of a resource type the stack deploys")
            elif None in dims.values() or not emitter(ev, dims):
                found.append(f"{title}: {ns} {name} {dims} names nothing this stack deploys")
    return found, checked


@pytest.mark.parametrize("label", list(SETS))
def test_every_widget_reads_a_metric_something_deployed_emits(label):
    ev = evaluator(SETS[label])
    found, checked = problems(ev, body(ev))
    assert not found, "\n".join(found)
    assert checked >= 40


def test_a_widget_naming_a_metric_nobody_emits_is_caught():
    ev = evaluator({})
    dashboard = body(ev)
    broken = copy.deepcopy(dashboard)
    for w in broken["widgets"]:
        for e in w["properties"].get("metrics", []):
            if isinstance(e, list) and e[1] == "RecordsIn":
                e[1] = "RecordsInn"
            if isinstance(e, list) and e[:2] == ["AWS/Lambda", "Duration"]:
                e[3] = "someone-elses-function"
            if isinstance(e, dict) and "RecordsQuarantined" in e["expression"]:
                e["expression"] = e["expression"].replace("Reason}", "reason}")  # the dimension is `Reason`
            if isinstance(e, dict) and "ScalingSkipped" in e["expression"]:
                e["expression"] = e["expression"].replace('service="scaler"', 'service="alerts"')
            if isinstance(e, dict) and e["expression"].startswith("DIFF_TIME"):
                e["expression"] = "DIFF_TIME(nothing)"
    found, _ = problems(ev, broken)
    text = "\n".join(found)
    for expected in ["RecordsInn", "someone-elses-function", "RecordsQuarantined", "ScalingSkipped", "nothing"]:
        assert expected in text, f"not caught: {expected}\n{text}"
    assert not problems(ev, dashboard)[0]


def test_the_emf_scan_sees_every_metrics_call():
    assert not non_literal_calls(), "a metric named by a variable: emitted_metrics.py cannot see it"
    services = {m.service for m in EMITTED}
    assert services == {"alerts", "checkpoints", "enrich", "partitions", "scaler"}
    for s in services:
        assert any(m.name == "InvocationErrors" and m.service == s and m.dimensions == {"service", "class"} for m in EMITTED)
    assert any(m.name == "RecordsQuarantined" and m.dimensions == {"service", "Reason"} for m in EMITTED)
    assert len({m.name for m in EMITTED}) >= 30


@pytest.mark.parametrize("label", list(SETS))
def test_the_dashboard_covers_the_pipeline(label):
    ev = evaluator(SETS[label])
    read = {(ns, name, tuple(sorted(dims.items(), key=str))) for w in body(ev)["widgets"] if w["type"] == "metric"
            for ns, name, dims in read_metrics(w)}
    names = {(ns, name) for ns, name, _ in read}
    for fn in FUNCTIONS:
        for metric in ("Errors", "Throttles", "Duration"):
            assert ("AWS/Lambda", metric, (("FunctionName", ev.physical_name(fn)),)) in read, (fn, metric)
    for logical, metric in [("RawStream", "IncomingRecords"), ("EnrichedStream", "WriteProvisionedThroughputExceeded")]:
        assert ("AWS/Kinesis", metric, (("StreamName", ev.physical_name(logical)),)) in read, metric
    lag = "SubscribeToShardEvent.MillisBehindLatest" if ev.condition("UseEnhancedFanOut") else "GetRecords.IteratorAgeMilliseconds"
    assert ("AWS/Kinesis", lag) in names
    for emf in ["RecordsIn", "RecordsOut", "RecordsQuarantined", "InvocationErrors", "RegistrationLag", "LatestAdvanced",
                "ScalingActions", "ScalingSkipped", "ScalingDeferred", "AlertsPublished", "AlertsSuppressed"]:
        assert (NAMESPACE, emf) in names, emf
    # S3 destinations report DeliveryToS3.*, the Iceberg one DeliveryToIceberg.*.
    freshness = ("DeliveryToS3.DataFreshness", "DeliveryToIceberg.DataFreshness")
    streams = {dict(d)["DeliveryStreamName"] for ns, name, d in read if name in freshness}
    assert streams == _names(ev, "AWS::KinesisFirehose::DeliveryStream"), "every delivery stream's freshness"


@pytest.mark.parametrize("label", ["defaults", "polling"])
def test_the_widgets_fit_the_grid_without_overlapping(label):
    widgets = body(evaluator(SETS[label]))["widgets"]
    cells = set()
    for w in widgets:
        assert 0 <= w["x"] and w["x"] + w["width"] <= 24, w
        mine = {(x, y) for x in range(w["x"], w["x"] + w["width"]) for y in range(w["y"], w["y"] + w["height"])}
        assert not (cells & mine), f"{w['properties'].get('title')} overlaps another widget"
        cells |= mine


def test_every_widget_has_its_section_in_the_docs_with_a_runbook_entry():
    page = (ROOT / "docs" / "dashboard.md").read_text()
    sections = re.split(r"^### ", page, flags=re.M)[1:]
    by_title = {s.splitlines()[0].strip(): s for s in sections}
    for w in body(evaluator({}))["widgets"]:
        if w["type"] != "metric":
            continue
        title = w["properties"]["title"]
        assert title in by_title, f"widget {title!r} has no '### {title}' section in docs/dashboard.md"
        assert "runbook.md#" in by_title[title], f"docs/dashboard.md: {title!r} leads to no runbook entry"
