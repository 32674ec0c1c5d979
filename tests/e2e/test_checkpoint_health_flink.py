"""Checkpoint health against a real Flink 2.x (the local session cluster of the real-Flink tests,
checkpoints timing out after 2 s): a pipeline whose job checkpoints is healthy; when its job's
snapshots outlast the timeout (checkpoints blocked) it is failing, naming the last good point the
book has; when a job of the pipeline checkpoints again it is healthy. Each evaluation's event is
taken off the default bus (a rule to a queue, as the template's rule takes them to the alerts
function) and given to the alerts function: the blocked pipeline pages, the resumed one resolves,
the first healthy one sends nothing. The checkpoints binary asks the JobManager itself
(`flink_rest_url`, as `verify` does)."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest

from scripts.demos.checkpoints import s3_event
from scripts.flink.local_flink import LocalFlink

PIPELINE = "health-e2e"
# Checkpoints expire after 2 s (and do not fail the job); the statistics' cache refreshes every
# half second, so a running job's age stays within its three 1-second intervals.
SETTINGS = {"execution.checkpointing.timeout": "2 s", "execution.checkpointing.tolerable-failed-checkpoints": 1000,
            "web.refresh-interval": 500}


@pytest.fixture(scope="module")
def flink():
    work = Path(tempfile.mkdtemp(prefix="streamops-flink-health-"))
    f = LocalFlink(work, settings=SETTINGS)
    try:
        f.start()
        yield f
    finally:
        f.stop()
        shutil.rmtree(work, ignore_errors=True)


def health_queue(stack) -> str:
    """A default-bus rule sending the checkpoints function's health events to a queue. Without
    the template rule's `detail.function` (this stack's function name): under `cargo lambda
    watch` the function is named after its binary."""
    sqs, events = stack.client("sqs"), stack.client("events")
    name = f"health-{uuid.uuid4().hex[:8]}"
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {"source": ["streamops.checkpoints"], "detail-type": ["Checkpoint Health"]}
    events.put_rule(Name=name, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=name, Targets=[{"Id": "queue", "Arn": arn}])
    return url


def book_checkpoints(stack, flink: LocalFlink) -> None:
    """Mirrors the state directory into the checkpoint bucket and sends each new `_metadata`'s
    S3 event to the checkpoints binary, oldest first."""
    bucket = stack.cfn.physical_name("CheckpointBucket")
    s3 = stack.client("s3")
    metadata = []
    for path in sorted(p for p in flink.state.rglob("*") if p.is_file()):
        key = path.relative_to(flink.state).as_posix()
        s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
        if path.name == "_metadata":
            written = datetime.fromtimestamp(path.stat().st_mtime, tz=timezone.utc)
            metadata.append((written, key, path.stat().st_size))
    for when, key, size in sorted(metadata):
        ok, out = stack.invoke("checkpoints", s3_event(stack, "ObjectCreated:Put", key, size, when))
        assert ok, out


def health(stack, flink: LocalFlink) -> dict:
    ok, out = stack.invoke("checkpoints", {"command": "health", "pipeline": PIPELINE, "flink_rest_url": flink.rest})
    assert ok, out
    assert out["events_sent"] == 1, out
    return out["pipelines"][0]


def register(stack, job: str) -> None:
    ok, out = stack.invoke("checkpoints", {"command": "register-job", "pipeline": PIPELINE, "job_id": job})
    assert ok, out


def wait_failed(flink: LocalFlink, job: str, count: int, timeout: float = 90) -> None:
    """Until `history` shows `count` failed checkpoints (`counts.failed` runs ahead of it: it
    also counts checkpoints declined before the tasks ran, which the history does not list)."""
    def failed() -> int:
        return sum(h["status"] == "FAILED" for h in flink.checkpoints(job)["history"])

    deadline = time.monotonic() + timeout
    while failed() < count:
        assert time.monotonic() < deadline, f"fewer than {count} failed checkpoints of {job}"
        time.sleep(0.5)
    time.sleep(1)  # one statistics refresh after it


def test_health_fails_when_checkpoints_block_and_recovers_when_they_resume(stack, flink):
    queue = health_queue(stack)
    subscriber = stack.subscribe_queue("AlertsTopic", f"e2e-{uuid.uuid4().hex[:8]}")
    jar = flink.upload_job()

    first = flink.run_job(jar)
    register(stack, first)
    flink.wait_running(first)
    flink.wait_completed(first, 3)
    time.sleep(1)
    healthy = health(stack, flink)
    assert healthy["verdict"] == {"state": "healthy"}, healthy
    assert (healthy["consecutive_failures"], healthy["interval_seconds"], healthy["interval_from"]) == (0, 1, "flink_config")
    flink.cancel(first)
    flink.wait_state(first, "CANCELED")
    book_checkpoints(stack, flink)  # the first job's checkpoints reach the book

    # Blocked: the pipeline's job now snapshots for 5 s, past the 2 s checkpoint timeout.
    blocked = flink.run_job(jar, snapshot_delay_ms=5000)
    register(stack, blocked)
    flink.wait_running(blocked)
    wait_failed(flink, blocked, 3)
    failing = health(stack, flink)
    assert failing["verdict"]["state"] == "failing", failing
    assert failing["verdict"]["consecutive"] >= 3, failing
    assert failing["job_id"] == blocked
    good = failing["last_good"]
    assert good["known_from"] == "book", "the blocked job completed none: the book names the first job's"
    assert f"/flink/checkpoints/{first}/chk-" in good["location"], good
    flink.cancel(blocked)

    # Resumed: a job of the pipeline checkpoints again.
    resumed = flink.run_job(jar)
    register(stack, resumed)
    flink.wait_running(resumed)
    flink.wait_completed(resumed, 2)
    time.sleep(1)
    back = health(stack, flink)
    assert back["verdict"] == {"state": "healthy"}, back
    assert back["last_good"]["known_from"] == "flink_rest"
    flink.cancel(resumed)

    events = [json.loads(m["Body"]) for m in drain_events(stack, queue, 3)]
    assert [e["detail"]["state"] for e in events] == ["healthy", "failing", "healthy"], events
    published = []
    for e in events:
        ok, out = stack.invoke("alerts", e)
        assert ok, out
        published.append([a["decision"] for a in out["alerts"]])
    assert published == [["suppressed"], ["published"], ["published"]], published
    subjects = [m["Subject"] for m in stack.drain(subscriber, expect_at_least=2)]
    assert len(subjects) == 2, subjects
    assert subjects[0].startswith("CRITICAL: Checkpoints health-e2e:") and "failed in a row" in subjects[0], subjects
    assert subjects[1].startswith("RESOLVED: Checkpoints health-e2e: checkpointing again"), subjects


def drain_events(stack, queue: str, count: int, timeout: float = 10) -> list[dict]:
    sqs = stack.client("sqs")
    got: list[dict] = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        for m in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
            got.append(m)
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
    return got
