"""checkpoints against a real Flink 2.x: a stateful job on a local session cluster (jars from the
PyPI package apache-flink-libraries, JDK 17) checkpoints and takes a savepoint into a local
directory with Flink's real layout; the directory is mirrored into the moto checkpoint bucket
and each `_metadata` object's S3 event goes through `cargo lambda invoke` to the checkpoints
binary. The book must agree with Flink's REST API, and the path `latest` returns must be one the
job really restarts from."""

from __future__ import annotations

import shutil
import time
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import pytest

from scripts.demos.checkpoints import s3_event
from scripts.flink.local_flink import LocalFlink

PIPELINE = "flink-e2e"


@pytest.fixture(scope="module")
def flink():
    work = Path(tempfile.mkdtemp(prefix="streamops-flink-"))
    f = LocalFlink(work)
    try:
        f.start()
        yield f
    finally:
        f.stop()
        shutil.rmtree(work, ignore_errors=True)


def mirror(stack, flink: LocalFlink) -> list[dict]:
    """Uploads the state directory to the checkpoint bucket under the same keys; returns the S3
    events of the `_metadata` objects in the order Flink wrote them."""
    bucket = stack.cfn.physical_name("CheckpointBucket")
    s3 = stack.client("s3")
    metadata = []
    for path in sorted(p for p in flink.state.rglob("*") if p.is_file()):
        key = path.relative_to(flink.state).as_posix()
        s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
        if path.name == "_metadata":
            written = datetime.fromtimestamp(path.stat().st_mtime, tz=timezone.utc)
            metadata.append((written, key, path.stat().st_size))
    return [s3_event(stack, "ObjectCreated:Put", key, size, when) for when, key, size in sorted(metadata)]


def as_local(flink: LocalFlink, stack, location: str) -> str:
    prefix = f"s3://{stack.cfn.physical_name('CheckpointBucket')}/"
    assert location.startswith(prefix), location
    return f"file://{flink.state / location[len(prefix):]}"


def test_book_matches_flink_and_latest_really_restores(stack, flink):
    jar = flink.upload_job()
    job = flink.run_job(jar)
    flink.wait_running(job)
    flink.wait_completed(job, 3)
    savepoint = flink.savepoint(job)
    flink.cancel(job)  # freezes the directory (checkpoints are retained on cancellation)
    flink.wait_state(job, "CANCELED")
    # The JobManager serves checkpoint statistics from a cached execution graph (refreshed every
    # web.refresh-interval, 3 s by default): wait until they show the savepoint.
    time.sleep(3.5)  # one refresh interval after the job ended: the statistics are final
    deadline = time.monotonic() + 30
    rest = flink.checkpoints(job)
    while not (rest["latest"].get("savepoint") and rest["latest"].get("completed")) and time.monotonic() < deadline:
        time.sleep(0.5)
        rest = flink.checkpoints(job)
    latest_checkpoint = rest["latest"]["completed"]
    assert latest_checkpoint is not None
    assert rest["latest"].get("savepoint") is not None, rest["latest"]

    ok, out = stack.invoke("checkpoints", {"command": "register-job", "pipeline": PIPELINE, "job_id": job})
    assert ok, out
    events = mirror(stack, flink)
    assert len(events) >= 2, "a completed checkpoint and the savepoint"
    for e in events + events[-1:]:  # the last one redelivered
        ok, out = stack.invoke("checkpoints", e)
        assert ok, out
        assert all(o["action"] != "corrupt" for o in out["outcomes"]), out

    bucket = stack.cfn.physical_name("CheckpointBucket")
    ok, cp = stack.invoke("checkpoints", {"command": "latest", "job_id": job, "prefer": "checkpoint"})
    assert ok, cp
    assert cp["checkpoint_id"] == latest_checkpoint["id"], (cp, latest_checkpoint)
    assert latest_checkpoint["external_path"].endswith(cp["location"].removeprefix(f"s3://{bucket}/").rstrip("/"))
    ok, sp = stack.invoke("checkpoints", {"command": "latest", "pipeline": PIPELINE, "prefer": "savepoint"})
    assert ok, sp
    assert savepoint.rstrip("/").endswith(sp["location"].removeprefix(f"s3://{bucket}/").rstrip("/"))
    assert sp["checkpoint_id"] == rest["latest"]["savepoint"]["id"], "savepoint id read from the real metadata header"

    ok, verdict = stack.invoke("checkpoints", {"command": "verify", "job_id": job, "flink_rest_url": flink.rest})
    assert ok, verdict
    assert verdict["in_sync"], verdict

    # The newest point of the pipeline is what an operator restores from: the job restarts from it.
    ok, latest = stack.invoke("checkpoints", {"command": "latest", "pipeline": PIPELINE})
    assert ok, latest
    restored_job = flink.run_job(jar, savepoint_path=as_local(flink, stack, latest["location"]))
    flink.wait_running(restored_job)
    restored = flink.checkpoints(restored_job)["latest"]["restored"]
    assert restored is not None, "the new job reports a restore"
    assert restored["external_path"].rstrip("/").endswith(latest["location"].removeprefix(f"s3://{bucket}/").rstrip("/"))
    flink.cancel(restored_job)
