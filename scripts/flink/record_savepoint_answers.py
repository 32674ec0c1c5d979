"""Records what a real Flink 2.x JobManager answers on the endpoints the checkpoints function's
`savepoint` command uses into events/checkpoints/flink/: the job overview, a savepoint trigger
with our own trigger id (and the same trigger sent again), its status in progress (a job whose
snapshots take 3 s) and completed, a savepoint Flink fails (a target directory it cannot
write), and the status of a trigger it does not know. Uses the local session cluster of the
real-Flink tests (scripts/flink/local_flink.py). Java stack traces are cut to their first lines
(and the serialized exception left out).

    .venv/bin/python -m scripts.flink.record_savepoint_answers
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
import urllib.error
from pathlib import Path

from scripts.flink.local_flink import ROOT, LocalFlink

OUT = ROOT / "events" / "checkpoints" / "flink"
TRIGGER = "5a7e0c1d2b3f40516273849a0b1c2d3e"
UNKNOWN = "00000000000000000000000000000001"


def cut(trace: str) -> str:
    """A Java stack trace's first three lines: what the function reads is the first."""
    return "\n".join(trace.split("\n")[:3])


def save(name: str, answer: dict) -> None:
    (OUT / name).write_text(json.dumps(answer, indent=2) + "\n")


def status(flink: LocalFlink, job: str, trigger: str) -> dict:
    return flink.get(f"/jobs/{job}/savepoints/{trigger}")


def until_completed(flink: LocalFlink, job: str, trigger: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = status(flink, job, trigger)
        if st["status"]["id"] == "COMPLETED":
            return st
        time.sleep(0.2)
    raise RuntimeError(f"savepoint {trigger} of {job} not completed in {timeout} s")


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="streamops-flink-record-sp-"))
    flink = LocalFlink(work, settings={"execution.checkpointing.timeout": "60 s"})
    try:
        flink.start()
        jar = flink.upload_job()
        job = flink.run_job(jar, snapshot_delay_ms=3000)
        flink.wait_running(job)
        save("jobs-overview.json", flink.get("/jobs/overview"))
        body = {"target-directory": f"file://{flink.state}/flink/savepoints", "cancel-job": False,
                "formatType": "CANONICAL", "triggerId": TRIGGER}
        save("savepoint-trigger.json", flink.post(f"/jobs/{job}/savepoints", body))
        save("savepoint-in-progress.json", status(flink, job, TRIGGER))
        save("savepoint-trigger-repeated.json", flink.post(f"/jobs/{job}/savepoints", body))
        save("savepoint-completed.json", until_completed(flink, job, TRIGGER))
        try:
            flink.get(f"/jobs/{job}/savepoints/{UNKNOWN}")
            raise RuntimeError("an unknown trigger was answered")
        except urllib.error.HTTPError as e:
            body_404 = json.loads(e.read())
            body_404["errors"] = [cut(t) for t in body_404["errors"]]
            save("savepoint-unknown-trigger.json", {"http_status": e.code, "body": body_404})
        bad = dict(body, **{"target-directory": "file:///proc/streamops-denied", "triggerId": TRIGGER[::-1]})
        flink.post(f"/jobs/{job}/savepoints", bad)
        failed = until_completed(flink, job, TRIGGER[::-1])
        cause = failed["operation"]["failure-cause"]
        cause["stack-trace"] = cut(cause["stack-trace"])
        cause.pop("serialized-throwable", None)  # the Java exception, serialized (36 KB)
        save("savepoint-failed.json", failed)
        flink.cancel(job)
    finally:
        flink.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
