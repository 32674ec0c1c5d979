"""`streamops scaler scale` following a Flink rescale by savepoint to its end, on a real Flink 2.x
session cluster (scripts/flink/local_flink.py) and a stack of its own whose scaler policies have
the template's flink-job target (FlinkRestEndpoint, FlinkJobName, FlinkRescaleMode savepoint,
FlinkJarId), only the scaler served, IAM enforced.

`cargo lambda watch` gives every invocation ten minutes, in which a local rescale always
finishes; what leaves one running when the invocation returns is a savepoint slower than the
target's savepoint_timeout_seconds (reported once, still watched). So the job's snapshots take
four seconds (CountingJob's argument) and the target's timeout is one second (a policy field the
template leaves at its default). A thread stands in for the template's two-minute schedule,
sending the scaler's tick every few seconds, which carries the rescale on once the savepoint
completes; the CLI only reads the status meanwhile."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest

import conftest
from scripts.flink.local_flink import LocalFlink
from scripts.stack.local import LocalStack
from test_cli import cli

JOB_NAME = "streamops-counting-job"
SNAPSHOT_DELAY_MS = 4000
SAVEPOINT_TIMEOUT_S = 1


class Schedule:
    """The template's tick schedule, faster: `tick` every `every` seconds until stopped."""

    def __init__(self, stack: LocalStack, every: float = 8.0):
        self.stack, self.every = stack, every
        self.stopped = threading.Event()
        self.ticks = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stopped.wait(self.every):
            self.stack.invoke("scaler", {"command": "tick"}, timeout=60)
            self.ticks += 1

    def __enter__(self) -> "Schedule":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopped.set()
        self.thread.join(timeout=90)


@pytest.fixture(scope="module")
def flink():
    work = Path(tempfile.mkdtemp(prefix="streamops-cli-flink-"))
    f = LocalFlink(work)
    try:
        f.start()
        yield f
    finally:
        f.stop()
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="module")
def flink_stack(request, flink):
    build = subprocess.run(["cargo", "build", "-p", "scaler", "-p", "streamops-cli", "--bins"], cwd=conftest.ROOT)
    if build.returncode != 0:
        pytest.fail("cargo build of the scaler and the CLI failed", pytrace=False)
    jar = flink.upload_job()
    job = flink.run_job(jar, snapshot_delay_ms=SNAPSHOT_DELAY_MS)
    flink.wait_running(job)
    s = LocalStack(log_dir=conftest.ROOT / ".local" / "e2e-logs-flink")

    def stop():
        late = conftest.unwatch(s)
        s.stop()
        assert not late, f"calls refused outside any test's setup or call: {late}"

    request.addfinalizer(stop)
    s.start_moto()
    s.cfn.params.update(FlinkRestEndpoint=flink.rest, FlinkJobName=JOB_NAME, FlinkRescaleMode="savepoint",
                        FlinkJarId=jar, FlinkMaxParallelism="4")
    s.provision()
    s.enforce_iam()
    template_env = s.template_env

    def with_short_savepoint_timeout(binary: str) -> dict[str, str]:
        env = template_env(binary)
        if binary == "scaler":
            policies = json.loads(env["SCALER_POLICIES"])
            for t in policies["targets"]:
                if t["id"] == "flink-job":
                    t["savepoint_timeout_seconds"] = SAVEPOINT_TIMEOUT_S
            env["SCALER_POLICIES"] = json.dumps(policies)
        return env

    s.template_env = with_short_savepoint_timeout
    s.start_functions(only=["scaler"])
    conftest.watch(s)
    s.first_job = job
    return s


def running_jobs(flink: LocalFlink) -> list[dict]:
    jobs = flink.get("/jobs/overview")["jobs"]
    return [j for j in jobs if j["name"] == JOB_NAME and j["state"] == "RUNNING"]


def test_a_flink_rescale_left_running_is_followed_until_the_job_runs_at_its_new_parallelism(flink_stack, flink):
    old = flink_stack.first_job
    with Schedule(flink_stack) as schedule:
        r = cli(flink_stack, "scaler", "scale", "flink-job", "2", "--apply", "--yes", "--reason", "e2e",
                "--interval", "1s", "--timeout", "4m", "-o", "json")
    assert r.returncode == 0, (r.stdout, r.stderr)
    (answer,) = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    # The scale's own invocation returned with the savepoint overdue and still watched: followed.
    assert answer["decision"]["decision"] == "act" and answer["decision"]["to"] == 2, answer
    assert any(p["decision"] == "failed" and p["phase"]["phase"] == "stopping" for p in answer["progress"]), answer
    assert "not complete after 1 s" in answer["progress"][0]["error"], answer
    progress = [line for line in r.stderr.splitlines() if line.startswith("rescale of flink-job: ")]
    assert r.stderr.startswith("rescale of flink-job still running: following it"), r.stderr
    # Until the schedule's first tick (8 s) nothing carries the rescale on: the CLI saw it stopping.
    assert progress and all(line.startswith("rescale of flink-job: stopping (the savepoint of job") for line in progress), r.stderr
    assert schedule.ticks >= 1
    rescale = answer["rescale"]
    assert rescale["state"] == "done", rescale
    outcome = rescale["outcome"]
    assert outcome["decision"] == "rescaled" and outcome["from"] == 1 and outcome["to"] == 2, outcome
    assert outcome["savepoint"].startswith(f"file:{flink.state}/flink/savepoints/savepoint-"), outcome
    # What Flink says: the old job stopped with its savepoint, the new one runs at 2.
    (new,) = running_jobs(flink)
    assert new["jid"] == outcome["job_id"] != old
    assert flink.get(f"/jobs/{old}")["state"] == "FINISHED"
    assert {v["parallelism"] for v in flink.get(f"/jobs/{new['jid']}")["vertices"]} == {2}


def test_an_unknown_flink_target_is_refused_and_the_known_ones_listed(flink_stack):
    r = cli(flink_stack, "scaler", "scale", "flink-jobs", "2", "--apply", "--yes")
    assert r.returncode == 5, (r.stdout, r.stderr)
    assert "unknown target \"flink-jobs\"; known: raw-stream, enriched-stream, flink-job" in r.stderr, r.stderr
