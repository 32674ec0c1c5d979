"""The `streamops` ops CLI end to end: the built binary against the local stack (the functions
under `cargo lambda watch`, which serves the Lambda Invoke API; moto behind them), found through
the endpoints file the stack writes. Each test checks what the function did, not only what the
CLI printed: the DDL Athena was sent, a silence in the alerts function's list, a
quarantine object left as it was."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache" / "streamops" / "target"))
BINARY = TARGET / "debug" / "streamops"
TABLE = "enriched_events"


def cli(stack, *args: str) -> subprocess.CompletedProcess:
    """The binary with the local stack as its target and no AWS setting of the environment's."""
    if not BINARY.exists():
        pytest.fail(f"{BINARY} is missing (the stack fixture builds it with cargo build --workspace --bins)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and not k.startswith("STREAMOPS_")}
    return subprocess.run([str(BINARY), "--local", str(stack.endpoints_file), *args],
                          capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)


def json_lines(r: subprocess.CompletedProcess) -> list[dict]:
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


def registered_hours(stack, day: str) -> list[str]:
    """The hours of `day` the partitions function registered: the ALTER TABLE ... ADD PARTITION
    statements moto's Athena recorded (moto runs no query, so the catalog stays as it was)."""
    athena = stack.client("athena")
    wg = stack.cfn.ref("PartitionsWorkGroup")
    ids = athena.list_query_executions(WorkGroup=wg).get("QueryExecutionIds", [])
    sql = [athena.get_query_execution(QueryExecutionId=i)["QueryExecution"]["Query"] for i in ids]
    return sorted(re.findall(rf"`dt` = '{day}', `hour` = '(\d\d)'", "\n".join(sql)))


def test_scaler_status_lists_every_configured_target(stack):
    (answer,) = json_lines(cli(stack, "scaler", "status", "--output", "json"))
    targets = {t["target"]: t for t in answer["targets"]}
    assert set(targets) == {"raw-stream", "enriched-stream", "emr-task"}
    assert targets["raw-stream"]["policy"]["stream"] == stack.cfn.physical_name("RawStream")
    assert targets["raw-stream"]["observed"]["size"] >= 1
    table = cli(stack, "scaler", "status")
    assert table.returncode == 0 and "policy.stream" in table.stdout and "raw-stream" in table.stdout


def test_a_backfill_plans_unless_applied_and_shows_every_chunk(stack):
    window = ["--table", TABLE, "--from", "2031-03-01", "--to", "2031-03-02", "--chunk-size", "10"]
    plans = json_lines(cli(stack, "partitions", "backfill", *window, "-o", "json"))
    # 24 hours in chunks of 10: three invocations, each resumed from the last one's cursor.
    assert [p["periods_done"] for p in plans] == [10, 10, 4]
    assert [p["done"] for p in plans] == [False, False, True]
    assert all(p["dry_run"] and p["partitions_registered"] == 0 for p in plans), plans
    assert registered_hours(stack, "2031-03-01") == [], "a dry run ran DDL"

    applied = cli(stack, "partitions", "backfill", *window, "--apply", "--yes")
    assert applied.returncode == 0, applied.stderr
    chunk_lines = [line for line in applied.stdout.splitlines() if line.startswith("chunk ")]
    assert [line.split(":")[0] for line in chunk_lines] == ["chunk 1", "chunk 2", "chunk 3"], applied.stdout
    assert "partitions_registered       24" in applied.stdout, applied.stdout
    assert registered_hours(stack, "2031-03-01") == [f"{h:02d}" for h in range(24)]


def test_a_silence_is_created_and_listed(stack):
    (created,) = json_lines(cli(stack, "alerts", "silence", "--alarm-prefix", "streamops-cli-test-",
                                "--for", "2h", "--comment", "cli e2e", "--created-by", "e2e", "-o", "json"))
    silence = created["silence"]
    assert silence["alarm_name_prefix"] == "streamops-cli-test-" and silence["comment"] == "cli e2e"
    (listed,) = json_lines(cli(stack, "alerts", "silences", "-o", "json"))
    assert silence["id"] in [s["id"] for s in listed["silences"]]
    # Lifting it without --apply sends nothing: it is still listed.
    kept = cli(stack, "alerts", "unsilence", silence["id"])
    assert kept.returncode == 0 and "nothing was sent" in kept.stdout
    (listed,) = json_lines(cli(stack, "alerts", "silences", "-o", "json"))
    assert silence["id"] in [s["id"] for s in listed["silences"]]


@pytest.fixture
def quarantined(stack):
    """A quarantine object made by enrich itself (one record that is not JSON, invoked as a
    Kinesis batch), removed afterwards so the enrich tests see the bucket as they left it."""
    bucket = stack.cfn.physical_name("QuarantineBucket")
    s3 = stack.client("s3")
    before = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}
    event = json.loads((ROOT / "events" / "enrich" / "kinesis-docs-sample.json").read_text())
    event["Records"] = event["Records"][:1]
    event["Records"][0]["kinesis"]["data"] = base64.b64encode(b"{not json, from the cli test").decode()
    ok, out = stack.invoke("enrich", event)
    assert ok and out == {"batchItemFailures": []}, out
    (key,) = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])} - before
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    yield bucket, key, body
    s3.delete_object(Bucket=bucket, Key=key)


def test_a_replay_dry_run_reports_and_changes_nothing(stack, quarantined):
    bucket, key, body = quarantined
    (answer,) = json_lines(cli(stack, "enrich", "replay", f"s3://{bucket}/{key}", "-o", "json"))
    assert answer["dry_run"] is True and answer["object"] == f"s3://{bucket}/{key}"
    assert [r["decision"] for r in answer["records"]] == ["quarantine"]
    assert answer["records"][0]["reason"] == "invalid_json"
    assert stack.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read() == body


def test_a_function_error_shows_its_type_and_message(stack):
    # What only the function knows: the table's layout is hourly, so a day granularity is refused.
    r = cli(stack, "partitions", "backfill", "--table", TABLE, "--from", "2031-03-01", "--to", "2031-03-02",
            "--granularity", "day")
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "the function answered with an error: Permanent." in r.stderr, r.stderr
    assert "granularity" in r.stderr, r.stderr


def invocations(stack, binary: str) -> int:
    """How many invocations of the function logged something: one request id per invocation in
    its JSON logs (the harness puts `requestId` on every line, and logs every refused command)."""
    text = stack.watch_log(binary).read_text(errors="replace")
    return len(set(re.findall(r'"requestId":"([^"]+)"', text)))


def test_unknown_targets_and_tables_are_refused_from_the_configuration_without_invoking(stack):
    assert "AWS_SECRET_ACCESS_KEY" not in stack.environment_file.read_text(), "keys in the environment file"
    before = {b: (invocations(stack, b), stack.watch_log(b).stat().st_size) for b in ("scaler", "partitions")}
    r = cli(stack, "scaler", "scale", "no-such-target", "3", "--apply", "--yes")
    assert r.returncode == 5, (r.stdout, r.stderr)
    assert r.stderr.strip() == ("streamops: unknown target \"no-such-target\"; known: raw-stream, enriched-stream, "
                                "emr-task (from the scaler function's SCALER_POLICIES); nothing was sent"), r.stderr
    r = cli(stack, "scaler", "pause", "raw-stream-typo")
    assert r.returncode == 5 and "unknown target \"raw-stream-typo\"" in r.stderr, r.stderr
    r = cli(stack, "partitions", "backfill", "--table", "enriched", "--from", "2031-03-01", "--to", "2031-03-02")
    assert r.returncode == 5, (r.stdout, r.stderr)
    assert "unknown table \"enriched\"; known: streamops.enriched_events, enriched_events" in r.stderr, r.stderr
    after = {b: (invocations(stack, b), stack.watch_log(b).stat().st_size) for b in ("scaler", "partitions")}
    assert after == before, "a function was invoked"
    # What the counter would have seen had the command been sent: the function refusing it.
    ok, out = stack.invoke("scaler", {"command": "scale", "target": "no-such-target", "size": 3, "reason": "e2e"})
    assert not ok and "unknown target" in str(out), out
    assert invocations(stack, "scaler") == before["scaler"][0] + 1
    # The same table spelled as the configuration knows it is sent and answered.
    r = cli(stack, "partitions", "status", "--table", f"streamops.{TABLE}", "--from", "2031-03-01", "--to", "2031-03-02")
    assert r.returncode == 0 and r.stderr == "" and "registered_count" in r.stdout, r.stderr


def test_an_unknown_pipeline_is_refused_from_the_book_without_invoking(stack):
    # The book knows a pipeline once a job is registered under it (read as the stack's operator).
    job = "c1e2e0000000000000000000000000aa"
    r = cli(stack, "checkpoints", "register-job", "--pipeline", "e2e-cli-pipeline", "--job-id", job)
    assert r.returncode == 0, (r.stdout, r.stderr)
    before = (invocations(stack, "checkpoints"), stack.watch_log("checkpoints").stat().st_size)
    r = cli(stack, "checkpoints", "latest", "--pipeline", "e2e-cli-pipline")
    assert r.returncode == 5, (r.stdout, r.stderr)
    assert r.stderr.startswith("streamops: unknown pipeline \"e2e-cli-pipline\"; known: "), r.stderr
    assert "e2e-cli-pipeline" in r.stderr and "(from the checkpoints function's book (table " in r.stderr, r.stderr
    assert (invocations(stack, "checkpoints"), stack.watch_log("checkpoints").stat().st_size) == before, \
        "the function was invoked"
    r = cli(stack, "checkpoints", "latest", "--pipeline", "e2e-cli-pipeline")
    assert r.returncode == 0 and r.stderr == "", (r.stdout, r.stderr)


def test_an_unreadable_configuration_is_a_warning_and_the_function_checks(stack, tmp_path):
    # An endpoints file whose stack wrote no environment file: the names cannot be checked here.
    endpoints = tmp_path / "endpoints.json"
    endpoints.write_text(stack.endpoints_file.read_text())
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and not k.startswith("STREAMOPS_")}
    r = subprocess.run([str(BINARY), "--local", str(endpoints), "scaler", "scale", "no-such-target", "3"],
                       capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "warning: target \"no-such-target\" not checked before sending: could not read the scaler function's configuration" in r.stderr
    assert "environment.json" in r.stderr and "Permanent.BadCommand: unknown target" in r.stderr, r.stderr


def test_bad_arguments_are_refused_without_invoking(stack):
    log = stack.watch_log("partitions")
    size = log.stat().st_size
    r = cli(stack, "partitions", "backfill", "--table", TABLE, "--from", "2031-02-30", "--to", "2031-03-02")
    assert r.returncode == 2 and "backfill `from`: \"2031-02-30\" is not a time" in r.stderr, r.stderr
    assert log.stat().st_size == size, "the function was invoked"
