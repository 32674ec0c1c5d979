"""End-to-end tests: the real function binaries under `cargo lambda watch`, invoked with
`cargo lambda invoke`, talking to a moto server started for this test session, with resources
provisioned from template.yaml. Nothing is skipped: if a prerequisite is missing the session
fails with what to run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from scripts.stack.local import VENV, LocalStack  # noqa: E402


@pytest.fixture(scope="session")
def stack():
    for tool in ("moto_server", "cargo-lambda"):
        if not (VENV / "bin" / tool).exists():
            pytest.fail(f"{VENV / 'bin' / tool} is missing: run `make setup`", pytrace=False)
    build = subprocess.run(["cargo", "build", "--workspace", "--bins"], cwd=ROOT)
    if build.returncode != 0:
        pytest.fail("cargo build --workspace --bins failed", pytrace=False)
    s = LocalStack(log_dir=ROOT / ".local" / "e2e-logs")
    try:
        s.start_moto()
        # An EMR cluster on moto passed as EmrClusterId/EmrTaskInstanceGroupId, as the demo does.
        from scripts.demos.scaler import prepare as prepare_scaler

        prepare_scaler(s)
        s.provision()
        s.start_functions()
        yield s
    finally:
        s.stop()
