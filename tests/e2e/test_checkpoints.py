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


def test_prune_for_real_deletes_the_savepoints_beyond_retention(stack):
    """Retention (template default: keep 5 savepoints, none younger than 24 h): of seven old
    savepoints the two oldest go, objects and all, through ListObjectsV2 and DeleteObjects."""
    pipeline, job = "e2e-prune", "b2c3d4e5f60718293a4b5c6d7e8f90a1"
    bucket = stack.cfn.physical_name("CheckpointBucket")
    s3 = stack.client("s3")
    ok, out = stack.invoke("checkpoints", {"command": "register-job", "pipeline": pipeline, "job_id": job})
    assert ok, out
    base = datetime.now(timezone.utc) - timedelta(days=10)
    dirs = []
    for n in range(7):
        d = f"flink/savepoints/savepoint-{job[:6]}-{n:012x}/"
        body = metadata(100 + n)
        s3.put_object(Bucket=bucket, Key=d + "op-state-0", Body=b"\x01" * 64)
        s3.put_object(Bucket=bucket, Key=d + "_metadata", Body=body)
        ok, out = stack.invoke("checkpoints", s3_event(stack, "ObjectCreated:Put", d + "_metadata", len(body), base + timedelta(hours=n)))
        assert ok, out
        dirs.append(d)
    ok, plan = stack.invoke("checkpoints", {"command": "prune", "pipeline": pipeline, "dry_run": False})
    assert ok, plan
    pruned = sorted(d["location"] for d in plan["decisions"] if d["prune"])
    assert pruned == [f"s3://{bucket}/{d}" for d in dirs[:2]], plan
    left = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"flink/savepoints/savepoint-{job[:6]}-").get("Contents", [])}
    assert not any(k.startswith(tuple(dirs[:2])) for k in left), left
    assert all(d + "_metadata" in left for d in dirs[2:]), left
