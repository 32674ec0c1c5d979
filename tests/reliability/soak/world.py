"""The local stack a soak run needs: moto with the template's resources, the fault proxy in
front of it, and function sandboxes whose SDK clients reach AWS only through the proxy (the
standard AWS_ENDPOINT_URL). The harness's own clients talk to moto directly, so checking
the results is never disturbed by the faults."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "support"))

from fault_proxy import FaultProxy  # noqa: E402
from scripts.stack.local import LocalStack  # noqa: E402

from .lambda_sim import Sandbox  # noqa: E402

TARGET = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache/streamops/target"))


def build_binaries() -> Path:
    """Debug builds of every function (what the e2e tests run); returns their directory."""
    r = subprocess.run(["cargo", "build", "--workspace", "--bins"], cwd=ROOT)
    if r.returncode != 0:
        raise SystemExit("cargo build --workspace --bins failed")
    return TARGET / "debug"


class World:
    def __init__(self, log_dir: Path, seed: int = 7, parameters: dict | None = None):
        self.log_dir = log_dir
        self.stack = LocalStack(parameters=parameters, log_dir=log_dir)
        self.stack.start_moto()
        self.prepare()
        self.stack.provision()
        self.proxy = FaultProxy(self.stack.endpoint, seed=seed)
        self.bin_dir = TARGET / "debug"
        self.sandboxes: list[Sandbox] = []

    def prepare(self) -> None:
        """Resources the template takes as parameters (an EMR cluster, as the demo does)."""
        from scripts.demos.scaler import prepare as prepare_scaler

        prepare_scaler(self.stack)

    def env(self, binary: str, **overrides: str) -> dict:
        env = self.stack.function_env(binary)
        env.update({"AWS_ENDPOINT_URL": self.proxy.endpoint, "AWS_LAMBDA_FUNCTION_NAME": binary,
                    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256", "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                    "PATH": os.environ.get("PATH", ""), "RUST_BACKTRACE": "1"})
        env.update(overrides)
        return env

    def sandbox(self, binary: str, **overrides: str) -> Sandbox:
        n = len(self.sandboxes)
        box = Sandbox(self.bin_dir / binary, self.env(binary, **overrides), self.log_dir / f"{binary}-{n}.log")
        self.sandboxes.append(box)
        return box

    def client(self, service: str):
        return self.stack.client(service)

    def stop(self) -> None:
        for s in self.sandboxes:
            s.stop()
        self.proxy.stop()
        self.stack.stop()
