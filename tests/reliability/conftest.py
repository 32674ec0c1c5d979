"""Reliability tests: the fault-injecting proxy (tests/support/fault_proxy.py) in front of a
moto server, and the soak and crash runs (tests/reliability/soak) at their short sizes."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "support"))

from scripts.stack.local import VENV, LocalStack  # noqa: E402


@pytest.fixture(scope="session")
def moto():
    if not (VENV / "bin" / "moto_server").exists():
        pytest.fail(f"{VENV / 'bin' / 'moto_server'} is missing: run `make setup`", pytrace=False)
    s = LocalStack(log_dir=ROOT / ".local" / "reliability-logs")
    s.start_moto()
    yield s
    s.stop()
