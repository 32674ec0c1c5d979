"""The demo's ops steps go through the `streamops` CLI (cli/, docs/cli.md), as an operator runs
them: the binary built with the functions, the local stack as its target (`--local` and its
endpoints file), each answer read back as JSON so the sections show the same facts as before."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from pathlib import Path

from . import ui

ROOT = Path(__file__).resolve().parents[2]


def binary() -> Path:
    target = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache" / "streamops" / "target"))
    return target / "debug" / "streamops"


def run(stack, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """`streamops --local <endpoints> ARGS...`, with no AWS setting of the environment's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and not k.startswith("STREAMOPS_")}
    return subprocess.run([str(binary()), "--local", str(stack.endpoints_file), *args], input=stdin,
                          capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)


def ops(stack, *args: str, label: str | None = None, stdin: str | None = None) -> tuple[bool, object]:
    """Runs one ops command with `--output json` and shows it as a step (`label`, then the
    command line). Returns (ok, the answer) like `stack.invoke`: the last JSON document printed
    (a backfill prints one per chunk), or the CLI's error text."""
    ui.step(label or f"ops: {args[0]} {args[1]}")
    ui.detail("$ streamops " + " ".join(shlex.quote(a) for a in args))
    r = run(stack, *args, "--output", "json", stdin=stdin)
    if r.returncode != 0:
        return False, f"streamops exited {r.returncode}: {r.stderr.strip()}"
    for line in r.stderr.splitlines():  # progress and warnings, as the operator sees them
        ui.detail(line)
    docs = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    return True, (docs[-1] if len(docs) == 1 else docs)
