#!/usr/bin/env python3
"""Measures a function binary's init time: from process start until it asks the Lambda Runtime
API for its first event (GET /2018-06-01/runtime/invocation/next). A fake Runtime API on
127.0.0.1 records the moment; the process is then stopped. Nothing else is contacted: client
construction is lazy about the network, so no AWS endpoint is needed.

  python scripts/coldstart.py --bin-dir target/release --runs 30     # make coldstart

Every function (with its environment from template.yaml) and a do-nothing lambda_runtime binary
(the baseline, built with the same release profile) are measured in the same run, interleaved,
and each median is given as a multiple of the baseline's. enrich reads its PII key from Secrets
Manager during init, so a local moto server (127.0.0.1) holds one.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class RuntimeApi(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, event: bytes | None = None):
        super().__init__(("127.0.0.1", 0), Handler)
        self.first_poll = threading.Event()
        self.polled_at = 0.0
        self.event = event  # handed out on the first poll, as on an on-demand cold start
        self.answered = threading.Event()
        self.answered_at = 0.0
        self.answer = ""


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        if self.path.startswith("/2018-06-01/runtime/invocation/next"):
            first = not self.server.first_poll.is_set()
            self.server.polled_at = self.server.polled_at or time.perf_counter()
            self.server.first_poll.set()
            if first and self.server.event is not None:
                self.send_response(200)
                self.send_header("Lambda-Runtime-Aws-Request-Id", "coldstart-1")
                self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30_000))
                self.send_header("Lambda-Runtime-Invoked-Function-Arn",
                                 "arn:aws:lambda:us-east-1:123456789012:function:coldstart")
                self.send_header("Content-Length", str(len(self.server.event)))
                self.end_headers()
                self.wfile.write(self.server.event)
                return
            time.sleep(2)  # hold the long poll; the process is stopped meanwhile
        self.send_response(500)
        self.end_headers()

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if "/invocation/" in self.path:
            self.server.answered_at = time.perf_counter()
            self.server.answer = f"{self.path.rsplit('/', 1)[-1]}: {body[:300].decode(errors='replace')}"
            self.server.answered.set()
        self.send_response(202)
        self.end_headers()

    def log_message(self, *args):
        pass


def measure(binary: str, env: dict) -> float:
    return run_cold(binary, env, None)[0]


def run_cold(binary: str, env: dict, event: bytes | None) -> tuple[float, float | None]:
    """(ms to the first poll, ms to the first event's answer if `event` is given)."""
    api = RuntimeApi(event)
    threading.Thread(target=api.serve_forever, daemon=True).start()
    env = dict(env, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{api.server_address[1]}")
    started = time.perf_counter()
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not api.first_poll.wait(10):
            raise SystemExit(f"{binary} did not poll the Runtime API within 10 s (exit code {proc.poll()})")
        if event is None:
            return (api.polled_at - started) * 1000, None
        if not api.answered.wait(30):
            raise SystemExit(f"{binary} did not answer its first event within 30 s")
        if not api.answer.startswith("response"):
            raise SystemExit(f"{binary}'s first event failed: {api.answer}")
        return (api.polled_at - started) * 1000, (api.answered_at - started) * 1000
    finally:
        proc.kill()
        proc.wait()
        api.shutdown()
        api.server_close()


FUNCTIONS = ["alerts", "enrich", "partitions", "checkpoints", "scaler"]
BASELINE = "coldstart-baseline"


def function_env(binary: str, endpoint: str, secret_arn: str) -> dict:
    """What Lambda gives the function: its template environment, credentials, the platform's
    variables; the endpoint is a local moto (only enrich calls AWS during init: its PII key)."""
    import sys
    sys.path.insert(0, str(ROOT))
    from scripts.stack.cfn import Evaluator, load_template

    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_STREAM_NAME": "local",
        "AWS_LAMBDA_FUNCTION_NAME": binary,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        # What Lambda sets for a cold start on demand (not provisioned concurrency).
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{binary}",
        "AWS_ENDPOINT_URL": endpoint,
    }
    if binary == BASELINE:
        return env
    fns = {f["binary"]: f for f in Evaluator(load_template(ROOT / "template.yaml"), "streamops").functions().values()}
    env.update(fns[binary]["env"])
    env["AWS_LAMBDA_FUNCTION_NAME"] = fns[binary]["name"]
    if binary == "enrich":
        env["ENRICH_PII_KEY_SECRET_ARN"] = secret_arn
    return env


def start_moto() -> tuple[subprocess.Popen, str, str]:
    import socket
    import boto3

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    venv = Path(os.environ.get("STREAMOPS_VENV", ROOT / ".venv"))
    proc = subprocess.Popen([str(venv / "bin" / "python"), "-m", "scripts.stack.moto_ext", "-H", "127.0.0.1", "-p", str(port)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            sm = boto3.client("secretsmanager", endpoint_url=endpoint, region_name="us-east-1",
                              aws_access_key_id="testing", aws_secret_access_key="testing")
            arn = sm.create_secret(Name="streamops-pii-key", SecretString="k" * 64)["ARN"]
            return proc, endpoint, arn
        except Exception:
            if time.monotonic() > deadline:
                proc.kill()
                raise
            time.sleep(0.2)


def enrich_resources(endpoint: str, env: dict) -> None:
    """What enrich's first batch writes to and reads, in the local moto."""
    import boto3

    kw = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
              aws_secret_access_key="testing")
    boto3.client("kinesis", **kw).create_stream(StreamName=env["ENRICH_OUTPUT_STREAM"], ShardCount=1)
    ddb = boto3.client("dynamodb", **kw)
    for table in (env["ENRICH_LEDGER_TABLE"], env["ENRICH_REFERENCE_TABLE"]):
        ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
    boto3.client("s3", **kw).create_bucket(Bucket=env["ENRICH_QUARANTINE_BUCKET"])


def first_batch(bin_dir: str, endpoint: str, secret: str, runs: int) -> None:
    """enrich's cold start through its first batch (events/enrich/kinesis-mixed-batch.json), with
    the PII key read at init (provisioned concurrency) and left reading (on demand)."""
    base = function_env("enrich", endpoint, secret)
    enrich_resources(endpoint, base)
    event = (ROOT / "events" / "enrich" / "kinesis-mixed-batch.json").read_bytes()
    modes = {"key read at init": "provisioned-concurrency", "key read while polling": "on-demand"}
    results: dict[str, list[tuple[float, float]]] = {}
    for _round in range(2):  # the first round warms the page cache and moto, and is dropped
        results = {m: [] for m in modes}
        for _ in range(runs):
            for mode, init_type in modes.items():
                env = dict(base, AWS_LAMBDA_INITIALIZATION_TYPE=init_type)
                results[mode].append(run_cold(str(Path(bin_dir) / "enrich"), env, event))
    print(f"\nenrich, cold start through its first batch ({len(json.loads(event)['Records'])} records, "
          f"a local moto), {runs} interleaved runs each:")
    print(f"{'PII key':<24} {'init median':>12} {'first answer: min':>18} {'median':>8} {'p90':>8}")
    for mode, samples in results.items():
        init = statistics.median(s[0] for s in samples)
        answer = summary(sorted(s[1] for s in samples))
        print(f"{mode:<24} {init:>10.1f}ms {answer['min']:>16.1f}ms {answer['median']:>6.1f}ms {answer['p90']:>6.1f}ms")


def summary(samples: list[float]) -> dict:
    return {"min": samples[0], "median": statistics.median(samples), "p90": samples[int(len(samples) * 0.9) - 1],
            "max": samples[-1]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin-dir", required=True, help="where the release binaries are (target/release)")
    p.add_argument("--runs", type=int, default=30)
    p.add_argument("--only", action="append", help="a function to measure (default: all five)")
    p.add_argument("--no-first-batch", action="store_true", help="skip enrich's cold start through its first batch")
    args = p.parse_args()
    names = [BASELINE] + (args.only or FUNCTIONS)
    proc, endpoint, secret = start_moto()
    try:
        results = {}
        for _round in range(2):  # the first round warms the page cache and is dropped
            results = {n: [] for n in names}
            # Interleaved, so a busy moment on the machine hits every binary alike.
            for _ in range(args.runs):
                for n in names:
                    results[n].append(measure(str(Path(args.bin_dir) / n), function_env(n, endpoint, secret)))
        report(results, args)
        if "enrich" in names and not args.no_first_batch:
            first_batch(args.bin_dir, endpoint, secret, args.runs)
    finally:
        proc.kill()
        proc.wait()


def report(results: dict[str, list[float]], args) -> None:
    base = summary(sorted(results[BASELINE]))["median"]
    print(f"init (process start -> first /invocation/next), {args.runs} interleaved runs each, binaries in {args.bin_dir}:")
    print(f"{'binary':<20} {'size':>8} {'min':>8} {'median':>8} {'p90':>8} {'max':>8} {'x baseline':>11}")
    for n in results:
        s = summary(sorted(results[n]))
        size = os.path.getsize(Path(args.bin_dir) / n) / 1e6
        print(f"{n:<20} {size:>6.1f}MB {s['min']:>6.1f}ms {s['median']:>6.1f}ms {s['p90']:>6.1f}ms {s['max']:>6.1f}ms"
              f" {s['median'] / base:>10.1f}x", flush=True)


if __name__ == "__main__":
    main()
