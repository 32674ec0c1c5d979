"""partitions end to end: S3 notifications (direct, through SQS, from EventBridge) in through
cargo lambda invoke, Athena DDL recorded by moto, the registry in DynamoDB, all on moto."""

from __future__ import annotations

import json
from pathlib import Path

EVENTS = Path(__file__).resolve().parents[2] / "events" / "partitions"


def load(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


def statements(stack) -> list[str]:
    athena = stack.client("athena")
    wg = stack.cfn.ref("PartitionsWorkGroup")
    ids = athena.list_query_executions(WorkGroup=wg).get("QueryExecutionIds", [])
    return [athena.get_query_execution(QueryExecutionId=i)["QueryExecution"]["Query"] for i in ids]


def s3_record(bucket: str, key: str) -> dict:
    return {"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1", "eventTime": "2026-11-23T10:00:00Z",
            "eventName": "ObjectCreated:Put", "userIdentity": {"principalId": "e2e"}, "requestParameters": {"sourceIPAddress": "127.0.0.1"},
            "responseElements": {}, "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": bucket}, "object": {"key": key, "size": 10}}}


def sqs_event(bucket: str, keys: list[str]) -> dict:
    return {"Records": [{"messageId": f"e2e-{i}", "receiptHandle": "rh", "body": json.dumps({"Records": [s3_record(bucket, k)]}),
                         "attributes": {}, "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                         "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q", "awsRegion": "us-east-1"}
                        for i, k in enumerate(keys)]}


def test_sample_events_register_once(stack):
    before = len(statements(stack))
    ok, resp = stack.invoke("partitions", load("s3-object-created.json"))
    assert ok, resp
    assert resp["registered"] + resp["already_present"] == 2, resp
    ok, again = stack.invoke("partitions", load("s3-object-created.json"))
    assert ok and again["registered"] == 0 and again["already_present"] == 2, again
    ok, eb = stack.invoke("partitions", load("eventbridge-object-created.json"))
    assert ok and eb["already_present"] == 1, eb
    ok, sqs = stack.invoke("partitions", load("sqs-s3-notifications.json"))
    assert ok and sqs == {"batchItemFailures": []}, sqs
    assert len(statements(stack)) - before <= 1


def test_a_burst_over_three_hours_is_one_statement_and_a_repeat_runs_none(stack):
    bucket = stack.cfn.ref("DataBucket")
    # As S3 sends them: form-URL-encoded, so `=` arrives as %3D.
    keys = [f"enriched/dt%3D2025-03-04/hour%3D{10 + i % 3:02d}/streamops-enriched-1-{i:04d}.gz" for i in range(60)]
    before = statements(stack)
    ok, resp = stack.invoke("partitions", sqs_event(bucket, keys))
    assert ok and resp == {"batchItemFailures": []}, resp
    new = statements(stack)[len(before):]
    assert len(new) == 1, new
    assert new[0].count("\nPARTITION (") == 3
    assert f"LOCATION 's3://{bucket}/enriched/dt=2025-03-04/hour=11/'" in new[0]
    ok, resp = stack.invoke("partitions", sqs_event(bucket, keys))
    assert ok and resp == {"batchItemFailures": []}, resp
    assert len(statements(stack)) == len(before) + 1


def test_an_injection_attempt_through_a_key_runs_no_sql(stack):
    bucket = stack.cfn.ref("DataBucket")
    before = len(statements(stack))
    evil = "enriched/dt%3D2025-03-05%27%29+LOCATION+%27s3%3A%2F%2Fevil%2F%27%3B+DROP+TABLE+enriched_events%3B+--/hour%3D10/x.gz"
    ok, resp = stack.invoke("partitions", {"Records": [s3_record(bucket, evil)]})
    assert ok, resp
    assert resp["skipped"] == {"invalid_key": 1} and resp["partitions"] == 0, resp
    assert len(statements(stack)) == before


def test_ops_commands(stack):
    bucket = stack.cfn.ref("DataBucket")
    s3 = stack.client("s3")
    for hour in ("03", "07"):
        s3.put_object(Bucket=bucket, Key=f"enriched/dt=2025-06-01/hour={hour}/part-0.gz", Body=b"{}\n")
    cmd = dict(load("ops-backfill.json"), **{"from": "2025-06-01", "to": "2025-06-02"})
    ok, plan = stack.invoke("partitions", cmd)
    assert ok, plan
    assert plan["dry_run"] is True and plan["partitions"] == 2 and plan["queries_run"] == 0, plan
    ok, status = stack.invoke("partitions", dict(load("ops-status.json"), **{"from": "2025-06-01", "to": "2025-06-02"}))
    assert ok, status
    assert [g["partition"] for g in status["gaps"]] == ["dt=2025-06-01/hour=03", "dt=2025-06-01/hour=07"], status
    ok, err = stack.invoke("partitions", {"command": "backfill", "table": "nope", "from": "2025-06-01", "to": "2025-06-02"})
    assert not ok and "no table \"nope\" is configured" in err, err


def test_a_removal_drops_the_hour_only_once_its_directory_is_empty(stack):
    """Through the binary with IAM enforced: a removal whose hour still holds an object keeps the
    partition; once the last object is gone the removal drops it (one DROP IF EXISTS) and
    forgets its registry mark."""
    bucket = stack.cfn.ref("DataBucket")
    s3 = stack.client("s3")
    keys = [f"enriched/dt=2025-04-01/hour=07/streamops-enriched-1-{i}.gz" for i in range(2)]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=b'{"event_id": 1}\n')
    ok, resp = stack.invoke("partitions", sqs_event(bucket, [k.replace("=", "%3D") for k in keys]))
    assert ok and resp == {"batchItemFailures": []}, resp

    def removal(key: str) -> dict:
        event = sqs_event(bucket, [key.replace("=", "%3D")])
        body = json.loads(event["Records"][0]["body"])
        body["Records"][0]["eventName"] = "ObjectRemoved:Delete"
        del body["Records"][0]["s3"]["object"]["size"]
        event["Records"][0]["body"] = json.dumps(body)
        return event

    s3.delete_object(Bucket=bucket, Key=keys[0])
    before = len(statements(stack))
    ok, resp = stack.invoke("partitions", removal(keys[0]))
    assert ok and resp == {"batchItemFailures": []}, resp
    assert len(statements(stack)) == before, "an hour with data left runs no DDL"

    s3.delete_object(Bucket=bucket, Key=keys[1])
    ok, resp = stack.invoke("partitions", removal(keys[1]))
    assert ok and resp == {"batchItemFailures": []}, resp
    new = statements(stack)[before:]
    assert new == ["ALTER TABLE `streamops`.`enriched_events` DROP IF EXISTS\n"
                   "PARTITION (`dt` = '2025-04-01', `hour` = '07')"], new
    ddb = stack.client("dynamodb")
    item = ddb.get_item(TableName=stack.cfn.physical_name("PartitionsRegistryTable"),
                        Key={"pk": {"S": "streamops.enriched_events/dt=2025-04-01/hour=07"}}, ConsistentRead=True)
    assert "Item" not in item, item
