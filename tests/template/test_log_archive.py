"""The optional log archive (LogArchive), checked with the evaluator because moto's CloudFormation
has no Firehose, subscription filter or Glue types: off, nothing of it exists and the partitions
function knows one table; on, every function's log group is subscribed to the archive's delivery
stream through a role only CloudWatch Logs of this stack's log groups can assume, the stream
decompresses and extracts the lines into the prefix the suite_logs table and PARTITIONS_TABLES
name, the bucket notifies the partitions queue for it, the partitions role may register it, and
the table has a column for every metric and dimension the functions emit."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

from emitted_metrics import emitted  # noqa: E402
from parameter_sets import WITH_LOG_ARCHIVE  # noqa: E402
from scripts.stack.cfn import Evaluator, load_template  # noqa: E402

RAW = load_template(ROOT / "template.yaml")
LOG_GROUPS = {"AlertsLogGroup", "EnrichLogGroup", "PartitionsLogGroup", "CheckpointsLogGroup", "ScalerLogGroup"}
ARCHIVE_TYPES = {"AWS::KinesisFirehose::DeliveryStream", "AWS::Logs::SubscriptionFilter", "AWS::Glue::Table",
                 "AWS::IAM::Role", "AWS::Logs::LogGroup", "AWS::Logs::LogStream"}


def ev(on: bool) -> Evaluator:
    return Evaluator(RAW, "streamops", WITH_LOG_ARCHIVE if on else {})


def props(e: Evaluator, logical: str) -> dict:
    return e.eval(RAW["Resources"][logical]["Properties"])


def archive_resources() -> set[str]:
    return {k for k, r in RAW["Resources"].items() if r.get("Condition") == "HasLogArchive"}


def tables(e: Evaluator) -> list[dict]:
    return json.loads(e.functions()["PartitionsFunction"]["env"]["PARTITIONS_TABLES"])


def notified_prefixes(e: Evaluator) -> set[str]:
    queues = props(e, "DataBucket")["NotificationConfiguration"]["QueueConfigurations"]
    return {r["Value"] for q in queues for r in q["Filter"]["S3Key"]["Rules"] if r["Name"] == "prefix"}


def glue_grants(e: Evaluator) -> list[str]:
    statements = props(e, "PartitionsFunction")["Policies"][0]["Statement"]
    return next(s["Resource"] for s in statements if s["Sid"] == "CatalogOfTheEnrichedEventsTable")


def test_off_by_default_and_nothing_of_it_exists():
    e = ev(False)
    assert RAW["Parameters"]["LogArchive"]["Default"] == "false"
    names = archive_resources()
    assert {RAW["Resources"][k]["Type"] for k in names} == ARCHIVE_TYPES
    assert not any(e.enabled(k) for k in names)
    assert [t["table"] for t in tables(e)] == ["enriched_events"]
    assert notified_prefixes(e) == {"enriched/"}
    assert not any("suite_logs" in r for r in glue_grants(e))
    rules = props(e, "DataBucket")["LifecycleConfiguration"]["Rules"]
    assert not any(r.get("Prefix") == "logs/" for r in rules)


def test_every_function_log_group_is_subscribed_through_the_logs_role():
    e = ev(True)
    assert all(e.enabled(k) for k in archive_resources())
    stream_arn = f"arn:aws:firehose:{e.region}:{e.account}:deliverystream/{e.physical_name('LogArchiveDeliveryStream')}"
    subscribed = {}
    for k, r in e.resources.items():
        if r["Type"] == "AWS::Logs::SubscriptionFilter":
            p = props(e, k)
            assert p["DestinationArn"] == stream_arn, k
            assert p["RoleArn"] == e.getatt("LogArchiveSubscriptionRole", "Arn"), k
            assert p["FilterPattern"] == "", f"{k} archives only some lines"
            group = r["Properties"]["LogGroupName"]  # !Ref <log group>
            assert group.name == "Ref", k
            subscribed[group.value] = p["LogGroupName"]
    assert set(subscribed) == LOG_GROUPS, "every function's log group, and no other (not the archive's own: a loop)"
    role = props(e, "LogArchiveSubscriptionRole")
    trust = role["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"]["Service"] == f"logs.{e.region}.amazonaws.com"
    source = trust["Condition"]["ArnLike"]["aws:SourceArn"]
    assert trust["Condition"]["StringEquals"]["aws:SourceAccount"] == e.account
    for group in subscribed.values():
        arn = f"arn:aws:logs:{e.region}:{e.account}:log-group:{group}"
        assert arn.startswith(source.rstrip("*")), f"{group} cannot use the role ({source})"
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    assert [(s["Action"], s["Resource"]) for s in statements] == [(["firehose:PutRecord", "firehose:PutRecordBatch"], stream_arn)]


def test_the_stream_lands_decompressed_lines_where_the_table_and_partitions_look():
    e = ev(True)
    stream = props(e, "LogArchiveDeliveryStream")
    assert stream["DeliveryStreamType"] == "DirectPut"
    assert stream["DeliveryStreamEncryptionConfigurationInput"]["KeyType"] == "CUSTOMER_MANAGED_CMK"
    s3 = stream["ExtendedS3DestinationConfiguration"]
    processors = [(p["Type"], {x["ParameterName"]: x["ParameterValue"] for x in p.get("Parameters", [])})
                  for p in s3["ProcessingConfiguration"]["Processors"]]
    assert processors == [("Decompression", {"CompressionFormat": "GZIP"}),
                          ("CloudWatchLogProcessing", {"DataMessageExtraction": "true"}),
                          ("AppendDelimiterToRecord", {})]
    assert s3["Prefix"] == "logs/dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/", "the hive layout partitions parses"
    assert s3["BucketARN"] == e.getatt("DataBucket", "Arn") and s3["CompressionFormat"] == "GZIP"
    logs = next(t for t in tables(e) if t["table"] == "suite_logs")
    assert (logs["bucket"], logs["prefix"], logs["layout"]) == (e.physical_name("DataBucket"), "logs/", "hive")
    assert logs["database"] == e.physical_name("PartitionsGlueDatabase")
    assert s3["ErrorOutputPrefix"].startswith(logs["error_prefix"]), "error objects must be skipped, not registered"
    table = props(e, "PartitionsSuiteLogsTable")["TableInput"]
    assert table["Name"] == "suite_logs"
    assert table["StorageDescriptor"]["Location"] == f"s3://{e.physical_name('DataBucket')}/logs/"
    assert table["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"] == "org.openx.data.jsonserde.JsonSerDe"
    assert [k["Name"] for k in table["PartitionKeys"]] == ["dt", "hour"]
    assert notified_prefixes(e) == {"enriched/", "logs/"}
    assert any(r.endswith(f":table/{logs['database']}/suite_logs") for r in glue_grants(e))
    rules = props(e, "DataBucket")["LifecycleConfiguration"]["Rules"]
    assert {"Prefix": "logs/", "ExpirationInDays": WITH_LOG_ARCHIVE["LogArchiveRetentionDays"]}.items() <= \
        next(r for r in rules if r.get("Prefix") == "logs/").items()


def test_the_delivery_role_writes_only_the_archive_prefixes():
    e = ev(True)
    statements = [s for p in props(e, "LogArchiveDeliveryRole")["Policies"] for s in p["PolicyDocument"]["Statement"]]
    bucket = e.getatt("DataBucket", "Arn")
    writes = next(s for s in statements if "s3:PutObject" in s["Action"])
    assert sorted(writes["Resource"]) == [f"{bucket}/firehose-errors/logs/*", f"{bucket}/logs/*"]
    for s in statements:
        resources = s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]
        assert "*" not in resources and s["Effect"] == "Allow"


def test_the_table_has_a_column_for_every_emitted_metric_and_dimension():
    columns = {c["Name"]: c["Type"] for c in
               ev(True).eval(RAW["Resources"]["PartitionsSuiteLogsTable"]["Properties"])["TableInput"]["StorageDescriptor"]["Columns"]}
    assert all(name == name.lower() for name in columns), "Glue column names are lowercase"
    for m in emitted():
        want = "string" if m.kind == "record" else "double"
        assert columns.get(m.name.lower()) == want, f"suite_logs: {m.name} (from {m.service}) needs a {want} column"
        for d in m.dimensions:
            assert columns.get(d.lower()) == "string", f"suite_logs: dimension {d} of {m.name} needs a string column"
    for field in ("timestamp", "level", "message", "function", "requestid", "error_type", "type", "record"):
        assert field in columns, field
