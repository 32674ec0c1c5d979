"""make soak: every function's soak and crash runs at full size, and the table.

    .venv/bin/python -m tests.reliability.soak [--size short|full] [--only enrich] [--seed 7]

Exits 1 if any run lost or duplicated something it promises not to."""

from __future__ import annotations

import argparse
import importlib
import time
from pathlib import Path

from .report import table
from .world import ROOT, build_binaries

FUNCTIONS = ["enrich", "partitions", "alerts", "checkpoints", "scaler"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", choices=["short", "full"], default="full")
    p.add_argument("--only", action="append", choices=FUNCTIONS)
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args()
    build_binaries()
    rows = []
    started = time.monotonic()
    for name in args.only or FUNCTIONS:
        module = importlib.import_module(f"tests.reliability.soak.{name}")
        log_dir = ROOT / ".local" / "soak" / name
        rows += module.run(args.size, log_dir, args.seed)
        print(table(rows), flush=True)
        print()
    print(f"soak ({args.size}, seed {args.seed}) in {time.monotonic() - started:.0f} s:")
    print(table(rows))
    if not all(r.clean for r in rows):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
