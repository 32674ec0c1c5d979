"""Records what a real Flink 2.x JobManager answers on the two endpoints checkpoint health reads
(`GET /jobs/<id>/checkpoints` and `/checkpoints/config`) into events/checkpoints/flink/: a job that
checkpoints every second (`job-checkpoints.json`, `checkpoints-config.json`) and one whose every
checkpoint expires (snapshots slower than a 2 s checkpoint timeout: `job-checkpoints-failing.json`).
Uses the local session cluster of the real-Flink tests (scripts/flink/local_flink.py).

    .venv/bin/python -m scripts.flink.record_checkpoint_answers
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

from scripts.flink.local_flink import ROOT, LocalFlink

OUT = ROOT / "events" / "checkpoints" / "flink"


# Checkpoints time out after 2 s, and failing ones do not fail the job.
EXPIRING = {"execution.checkpointing.timeout": "2 s", "execution.checkpointing.tolerable-failed-checkpoints": 1000}


def save(name: str, answer: dict) -> None:
    (OUT / name).write_text(json.dumps(answer, indent=2) + "\n")


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="streamops-flink-record-"))
    flink = LocalFlink(work, settings=EXPIRING)
    try:
        flink.start()
        jar = flink.upload_job()
        healthy = flink.run_job(jar)
        flink.wait_running(healthy)
        flink.wait_completed(healthy, 3)
        time.sleep(3.5)  # one web.refresh-interval: the cached statistics show them
        save("job-checkpoints.json", flink.checkpoints(healthy))
        save("checkpoints-config.json", flink.get(f"/jobs/{healthy}/checkpoints/config"))
        flink.cancel(healthy)
        flink.wait_state(healthy, "CANCELED")
        failing = flink.run_job(jar, snapshot_delay_ms=5000)
        flink.wait_running(failing)
        deadline = time.monotonic() + 90
        while flink.checkpoints(failing)["counts"]["failed"] < 3 and time.monotonic() < deadline:
            time.sleep(1)
        time.sleep(3.5)
        save("job-checkpoints-failing.json", flink.checkpoints(failing))
        flink.cancel(failing)
    finally:
        flink.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
