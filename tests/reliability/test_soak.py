"""The soak and crash runs at their short sizes (make soak runs the full ones): each function
through its real binary, faults injected, events redelivered as their sources do, processes
killed inside invocations. Nothing lost; nothing duplicated where the docs promise once."""

from __future__ import annotations

import importlib
import os

import pytest

from tests.reliability.soak.report import table
from tests.reliability.soak.world import ROOT, build_binaries

FUNCTIONS = ["enrich", "partitions", "alerts", "checkpoints", "scaler"]


@pytest.fixture(scope="session")
def binaries():
    return build_binaries()


@pytest.mark.parametrize("function", FUNCTIONS)
def test_short_soak(function, binaries):
    try:
        module = importlib.import_module(f"tests.reliability.soak.{function}")
    except ModuleNotFoundError as e:
        if e.name == f"tests.reliability.soak.{function}":
            pytest.fail(f"no soak scenario for {function} yet (tests/reliability/soak/{function}.py)")
        raise
    seed = int(os.environ.get("STREAMOPS_SOAK_SEED", "7"))
    rows = module.run("short", ROOT / ".local" / "soak-short" / function, seed)
    print(table(rows))
    assert rows, "the scenario ran nothing"
    for r in rows:
        assert r.events_in > 0 and r.out > 0, table([r])
        assert r.lost == 0 and r.duplicated == 0, table([r])
