#!/usr/bin/env python3
"""The local demo: every function of the suite on moto, invoked with the sample events from
events/, printing what happened. Run through `make demo`.

  python scripts/demo.py [--only alerts,enrich] [--keep]

Builds the functions, starts moto on 127.0.0.1, provisions the template's resources under the
template's names, serves the functions with `cargo lambda watch`, runs each function's demo
section (scripts/demos/<function>.py) and stops everything on exit, error or Ctrl-C."""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.stack.local import LocalStack  # noqa: E402
from scripts.demos import ui  # noqa: E402

# The order the sections run in; a function whose section file does not exist yet is not shown.
SECTIONS = ["alerts", "enrich", "checkpoints", "partitions", "scaler"]


def build(sections: list[str]) -> None:
    ui.step("Building the functions (cargo build; the first build of the AWS SDK takes several minutes)")
    started = time.monotonic()
    # The streamops CLI too: the partitions section asks for status with it.
    packages = [arg for s in sections for arg in ("-p", s)] + ["-p", "streamops-cli"]
    r = subprocess.run(["cargo", "build", "--bins", *packages], cwd=ROOT)
    if r.returncode != 0:
        raise SystemExit("cargo build failed")
    ui.ok(f"built in {time.monotonic() - started:.0f}s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help="comma-separated sections to run (default: all)")
    parser.add_argument("--keep", action="store_true", help="leave moto and the functions running until Ctrl-C")
    parser.add_argument("--no-build", action="store_true", help="skip cargo build")
    parser.add_argument("--no-iam", action="store_true",
                        help="do not enforce IAM (by default each function runs as a moto IAM user holding exactly its role's actions)")
    args = parser.parse_args()
    wanted = args.only.split(",") if args.only else SECTIONS
    unknown = [w for w in wanted if w not in SECTIONS]
    if unknown:
        raise SystemExit(f"unknown section(s) {unknown}; known: {SECTIONS}")
    sections = [s for s in SECTIONS if s in wanted and (ROOT / "scripts" / "demos" / f"{s}.py").exists()]

    if not args.no_build:
        build(sections)
    stack = LocalStack()
    try:
        ui.step("Starting moto server on 127.0.0.1")
        ui.ok(f"moto at {stack.start_moto()}")
        for name in sections:
            # A section may create what the template takes as parameters (an EMR cluster id).
            prepare = getattr(importlib.import_module(f"scripts.demos.{name}"), "prepare", None)
            if prepare:
                prepare(stack)
        ui.step("Provisioning the resources of template.yaml (stack name 'streamops')")
        stack.provision()
        for line in stack.provisioned:
            ui.detail(f"created {line}")
        ui.detail(f"not needed locally: {len(stack.skipped)} resources (IAM, KMS, log groups, rules, ...)")
        if not args.no_iam:
            ui.step("Enforcing IAM: one moto IAM user per function, holding exactly its execution role's actions")
            stack.enforce_iam()
            for binary, p in sorted(stack.principals.items()):
                ui.detail(f"{p['user']}: {len(p['actions'])} actions of {p['logical']}'s role")
        ui.step("Starting the functions, one cargo lambda watch each")
        stack.start_functions()
        ports = ", ".join(f"{b} 127.0.0.1:{port}" for b, port in sorted(stack.watch_ports.items()))
        ui.ok(f"runtime API emulators: {ports}; each function's env from template.yaml in {stack.log_dir / 'env'}")
        for name in sections:
            ui.section(name)
            importlib.import_module(f"scripts.demos.{name}").run(stack)
        ui.section("done")
        print(f"Logs: {stack.log_dir}/moto.log, {stack.log_dir}/watch-<function>.log (the functions' JSON logs and EMF metrics)")
        denials = stack.denials_since() if stack.iam_enforced else []
        if denials:
            ui.warn("calls refused under the template's IAM grants:")
            for d in denials:
                ui.detail(repr(d))
            return 1
        if stack.iam_enforced:
            ui.ok(f"IAM enforced: no call refused (decisions in {stack.iam_log})")
        if args.keep:
            print(f"Still running: AWS_ENDPOINT_URL={stack.endpoint}; Ctrl-C to stop.")
            while True:
                time.sleep(3600)
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("SAM_CLI_TELEMETRY", "0")
    sys.exit(main())
