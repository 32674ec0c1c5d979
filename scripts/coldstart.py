#!/usr/bin/env python3
"""Measures a function binary's init time: from process start until it asks the Lambda Runtime
API for its first event (GET /2018-06-01/runtime/invocation/next). A fake Runtime API on
127.0.0.1 records the moment; the process is then stopped. Nothing else is contacted: client
construction is lazy about the network, so no AWS endpoint is needed.

  python scripts/coldstart.py --binary target/release/alerts --runs 30
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class RuntimeApi(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.first_poll = threading.Event()
        self.polled_at = 0.0


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        if self.path.startswith("/2018-06-01/runtime/invocation/next"):
            self.server.polled_at = time.perf_counter()
            self.server.first_poll.set()
            time.sleep(2)  # hold the long poll; the process is stopped meanwhile
        self.send_response(500)
        self.end_headers()

    def log_message(self, *args):
        pass


def measure(binary: str, env: dict) -> float:
    api = RuntimeApi()
    threading.Thread(target=api.serve_forever, daemon=True).start()
    env = dict(env, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{api.server_address[1]}")
    started = time.perf_counter()
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not api.first_poll.wait(10):
            raise SystemExit(f"{binary} did not poll the Runtime API within 10 s (exit code {proc.poll()})")
        return (api.polled_at - started) * 1000
    finally:
        proc.kill()
        proc.wait()
        api.shutdown()
        api.server_close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--binary", required=True)
    p.add_argument("--runs", type=int, default=30)
    args = p.parse_args()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "example",
        "AWS_SESSION_TOKEN": "example",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_LAMBDA_FUNCTION_NAME": "streamops-alerts",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/streamops-alerts",
        "AWS_LAMBDA_LOG_STREAM_NAME": "local",
        "ALERTS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:streamops-alerts",
        "ALERTS_TABLE_NAME": "streamops-alerts-state",
    }
    measure(args.binary, env)  # warm the page cache
    samples = sorted(measure(args.binary, env) for _ in range(args.runs))
    size = os.path.getsize(args.binary) / 1e6
    print(f"{os.path.basename(args.binary)}: {size:.1f} MB; init (process start -> first /invocation/next) over {args.runs} runs: "
          f"min {samples[0]:.1f} ms, median {statistics.median(samples):.1f} ms, "
          f"p90 {samples[int(len(samples) * 0.9) - 1]:.1f} ms, max {samples[-1]:.1f} ms")


if __name__ == "__main__":
    main()
