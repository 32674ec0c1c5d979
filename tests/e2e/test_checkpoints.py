"""checkpoints end to end: Flink-shaped objects in the local checkpoint bucket, their S3 events
through `cargo lambda invoke` into the real binary, the book in DynamoDB on moto."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from scripts.demos.checkpoints import JOB, metadata, s3_event

PIPELINE = "e2e-pipeline"


def test_latest_follows_completed_checkpoints_and_ignores_redelivery(stack):
    bucket = stack.cfn.physical_name("CheckpointBucket")
    s3 = stack.client("s3")
    base = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)
    ok, out = stack.invoke("checkpoints", {"command": "register-job", "pipeline": PIPELINE, "job_id": JOB})
    assert ok, out
    events = []
    for i in (7, 8):
        key = f"flink/checkpoints/{JOB}/chk-{i}/_metadata"
        body = metadata(i)
        s3.put_object(Bucket=bucket, Key=key, Body=body)
        events.append(s3_event(stack, "ObjectCreated:Put", key, len(body), base + timedelta(minutes=i)))
    for e in (events[1], events[0], events[1]):
        ok, out = stack.invoke("checkpoints", e)
        assert ok, out
    ok, latest = stack.invoke("checkpoints", {"command": "latest", "pipeline": PIPELINE})
    assert ok, latest
    assert latest["location"] == f"s3://{bucket}/flink/checkpoints/{JOB}/chk-8/"
    assert latest["checkpoint_id"] == 8


def test_bad_commands_are_clear_errors(stack):
    ok, out = stack.invoke("checkpoints", {"command": "latest"})
    assert not ok and "exactly one of `pipeline` and `job_id`" in out
    ok, out = stack.invoke("checkpoints", {"command": "restore"})
    assert not ok and "unknown command" in out
