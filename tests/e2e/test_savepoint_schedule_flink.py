"""Scheduled savepoints against a real Flink 2.x (the local session cluster of the real-Flink
tests): the checkpoints binary, under `cargo lambda watch` on moto with its template role and
ScheduledSavepointPipeline set, is invoked with the savepoint schedule's own input from
template.yaml (Scheduler's placeholders filled in as Scheduler fills them). Each slot's
savepoint is triggered through the JobManager's REST API, followed to completion, written by
Flink into the cluster's state directory (mirrored into the moto checkpoint bucket as Flink
writes, as S3 would hold it) and booked with trigger `scheduled`; after the third, retention
(keep 2, no minimum age) prunes the first. A retried slot takes no second savepoint, and the
`_metadata` object events arriving afterwards merge into the points already booked."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

import conftest
from scripts.demos.checkpoints import s3_event
from scripts.flink.local_flink import LocalFlink
from scripts.stack.local import LocalStack

PIPELINE = "savepoint-e2e"
SLOTS = ["2026-12-02T00:00:00Z", "2026-12-02T06:00:00Z", "2026-12-02T12:00:00Z"]


@pytest.fixture(scope="module")
def flink():
    work = Path(tempfile.mkdtemp(prefix="streamops-flink-savepoints-"))
    f = LocalFlink(work)
    try:
        f.start()
        yield f
    finally:
        f.stop()
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="module")
def savepoint_stack(request, flink):
    build = subprocess.run(["cargo", "build", "-p", "checkpoints", "--bins"], cwd=conftest.ROOT)
    if build.returncode != 0:
        pytest.fail("cargo build of the checkpoints function failed", pytrace=False)
    s = LocalStack(log_dir=conftest.ROOT / ".local" / "e2e-logs-savepoints")

    def stop():
        late = conftest.unwatch(s)
        s.stop()
        assert not late, f"calls refused outside any test's setup or call: {late}"

    request.addfinalizer(stop)
    s.start_moto()
    s.cfn.params.update(FlinkRestEndpoint=flink.rest, ScheduledSavepointPipeline=PIPELINE,
                        CheckpointRetention=json.dumps({"default": {"keep_savepoints": 2, "min_age_hours": 0}}))
    s.provision()
    s.enforce_iam()
    template_env = s.template_env

    def savepoints_into_the_local_state(binary: str) -> dict[str, str]:
        env = template_env(binary)
        if binary == "checkpoints":
            # The cluster writes to its local state directory, which stands in for the bucket.
            env["CHECKPOINTS_SAVEPOINT_TARGET"] = f"file://{flink.state}/flink/savepoints/"
        return env

    s.template_env = savepoints_into_the_local_state
    s.start_functions(only=["checkpoints"])
    conftest.watch(s)
    return s


class Mirror:
    """Uploads each file Flink writes under flink/savepoints/ once it has not changed for a
    moment, as S3 would hold it, while the function waits for its `_metadata`."""

    def __init__(self, stack, flink: LocalFlink):
        self.s3 = stack.client("s3")
        self.bucket = stack.cfn.physical_name("CheckpointBucket")
        self.root = flink.state
        self.sent: dict[str, tuple[int, float]] = {}
        self.metadata: list[tuple[datetime, str, int]] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stopped.wait(0.2):
            self.sync()

    def sync(self) -> None:
        for path in sorted(p for p in (self.root / "flink/savepoints").rglob("*") if p.is_file()):
            key = path.relative_to(self.root).as_posix()
            st = path.stat()
            if key in self.sent or time.time() - st.st_mtime < 0.3:
                continue
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=path.read_bytes())
            self.sent[key] = (st.st_size, st.st_mtime)
            if path.name == "_metadata":
                self.metadata.append((datetime.fromtimestamp(st.st_mtime, tz=timezone.utc), key, st.st_size))

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopped.set()
        self.thread.join()


def scheduled_input(stack, slot: str) -> dict:
    """The schedule's Input from template.yaml, with Scheduler's context attributes filled in."""
    target = stack.cfn.eval(stack.cfn.resources["CheckpointsSavepointSchedule"]["Properties"]["Target"])
    arn = f"arn:aws:scheduler:us-east-1:123456789012:schedule/default/{stack.cfn.stack}-savepoint"
    text = target["Input"].replace("<aws.scheduler.scheduled-time>", slot).replace("<aws.scheduler.schedule-arn>", arn)
    return json.loads(text)


def savepoint_dirs(flink: LocalFlink) -> list[str]:
    return sorted(p.name for p in (flink.state / "flink/savepoints").iterdir() if p.is_dir())


def test_scheduled_savepoints_are_taken_booked_and_kept_within_the_count(savepoint_stack, flink):
    stack = savepoint_stack
    assert stack.cfn.enabled("CheckpointsSavepointSchedule")
    jar = flink.upload_job()
    job = flink.run_job(jar)
    flink.wait_running(job)
    ok, out = stack.invoke("checkpoints", {"command": "register-job", "pipeline": PIPELINE, "job_id": job})
    assert ok, out
    flink.wait_completed(job, 1)

    answers = []
    with Mirror(stack, flink) as mirror:
        for slot in SLOTS:
            payload = scheduled_input(stack, slot)
            assert (payload["command"], payload["pipeline"], payload["dry_run"]) == ("savepoint", PIPELINE, False)
            ok, out = stack.invoke("checkpoints", payload)
            assert ok, out
            assert out["outcome"] == "completed", out
            assert (out["job_id"], out["job_from"]) == (job, "book")
            assert out["booked"]["action"] == "recorded_latest", out
            assert out["trigger"]["kind"] == "scheduled" and out["trigger"]["requested_by"].endswith("-savepoint")
            answers.append(out)
        # A retried invocation of the last slot (Lambda's retry, Scheduler's) takes none.
        ok, again = stack.invoke("checkpoints", scheduled_input(stack, SLOTS[-1]))
        assert ok, again
        assert again["outcome"] == "already_completed", again
        assert again["trigger"]["trigger_id"] == answers[-1]["trigger"]["trigger_id"]
        time.sleep(0.5)
        mirror.sync()

    on_disk = savepoint_dirs(flink)
    assert len(on_disk) == 3, f"one savepoint per slot, none for the retry: {on_disk}"
    locations = [a["state"]["location"] for a in answers]
    assert all(loc.startswith("file:") for loc in locations), locations
    taken = [loc.rstrip("/").rsplit("/", 1)[-1] for loc in locations]  # in slot order
    assert sorted(taken) == on_disk, (taken, on_disk)
    for name in taken:
        assert (flink.state / "flink/savepoints" / name / "_metadata").is_file()
    bucket = stack.cfn.physical_name("CheckpointBucket")
    booked = [f"s3://{bucket}/flink/savepoints/{name}/" for name in taken]
    # Retention after the third: keep 2 (no minimum age), so the first slot's goes.
    assert answers[0]["retention"]["pruned"] == [] and answers[1]["retention"]["pruned"] == []
    assert answers[2]["retention"]["pruned"] == [booked[0]], answers[2]["retention"]
    s3 = stack.client("s3")
    left = s3.list_objects_v2(Bucket=bucket, Prefix=f"flink/savepoints/{taken[0]}/").get("KeyCount", 0)
    assert left == 0, "the pruned savepoint's objects are deleted"

    # The object events arrive after the command booked each point: one point each, trigger kept.
    for when, key, size in sorted(mirror.metadata):
        ok, out = stack.invoke("checkpoints", s3_event(stack, "ObjectCreated:Put", key, size, when))
        assert ok, out
    ok, listed = stack.invoke("checkpoints", {"command": "list", "pipeline": PIPELINE})
    assert ok, listed
    savepoints = [p for p in listed["points"] if p["kind"] == "savepoint"]
    assert sorted(p["location"] for p in savepoints) == sorted(booked), savepoints
    by_location = {p["location"]: p for p in savepoints}
    assert by_location[booked[0]]["status"] == "pruned"
    for loc, answer in zip(booked[1:], answers[1:]):
        p = by_location[loc]
        assert p["status"] == "restorable", p
        assert p["trigger"]["kind"] == "scheduled" and p["trigger"]["trigger_id"] == answer["trigger"]["trigger_id"], p
    restorable = [p for p in savepoints if p["status"] == "restorable"]
    assert len(restorable) == 2, "history within the count limit"
    ok, latest = stack.invoke("checkpoints", {"command": "latest", "pipeline": PIPELINE, "prefer": "savepoint"})
    assert ok and latest["location"] == booked[-1], latest
    flink.cancel(job)
