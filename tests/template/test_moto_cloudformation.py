"""Smoke test that the template is well-formed as deployed: the SAM translator turns it into plain
CloudFormation (as `sam deploy` does) and moto's CloudFormation creates the stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from scripts.stack.local import VENV, free_port, wait_for_port  # noqa: E402
from scripts.stack.sam import ARTIFACTS_BUCKET, translate  # noqa: E402

ARTIFACTS = ARTIFACTS_BUCKET


def translated() -> dict:
    return translate()


@pytest.fixture(scope="module")
def moto():
    port = free_port()
    # moto with the project's extension (scripts/stack/moto_ext.py fills the CloudFormation gaps).
    proc = subprocess.Popen([str(VENV / "bin" / "python"), "-m", "scripts.stack.moto_ext", "-H", "127.0.0.1",
                             "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    try:
        wait_for_port(port, 30, proc, "moto_server")
        yield dict(endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                   aws_access_key_id="testing", aws_secret_access_key="testing")
    finally:
        proc.kill()
        proc.wait()


def test_translated_template_creates_in_moto_cloudformation(moto):
    body = translated()
    s3 = boto3.client("s3", **moto)
    s3.create_bucket(Bucket=ARTIFACTS)
    s3.put_object(Bucket=ARTIFACTS, Key="code.zip", Body=b"PK\x05\x06" + b"\0" * 18)
    cf = boto3.client("cloudformation", **moto)
    # moto's CloudFormation has no AWS::Kinesis::StreamConsumer: deploy the polling branch here;
    # cfn-lint and `sam validate` check the enhanced fan-out branch.
    cf.create_stack(StackName="streamops", TemplateBody=json.dumps(body), Capabilities=["CAPABILITY_IAM"],
                    Parameters=[{"ParameterKey": "EnrichEnhancedFanOut", "ParameterValue": "false"}])
    deadline = time.monotonic() + 120
    while True:
        stack = cf.describe_stacks(StackName="streamops")["Stacks"][0]
        if not stack["StackStatus"].endswith("IN_PROGRESS") or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    failures = [f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason')}"
                for e in cf.describe_stack_events(StackName="streamops")["StackEvents"] if "FAILED" in e["ResourceStatus"]]
    assert stack["StackStatus"] == "CREATE_COMPLETE", failures

    # What operators and the functions rely on exists under the template's names.
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    assert outputs["AlertsFunctionName"] == "streamops-alerts"
    assert "streamops-alerts-state" in boto3.client("dynamodb", **moto).list_tables()["TableNames"]
    env = boto3.client("lambda", **moto).get_function_configuration(FunctionName="streamops-alerts")["Environment"]["Variables"]
    assert env["ALERTS_TABLE_NAME"] == "streamops-alerts-state"
    assert env["ALERTS_TOPIC_ARN"].endswith(":streamops-alerts")
    enrich = boto3.client("lambda", **moto).get_function_configuration(FunctionName="streamops-enrich")["Environment"]["Variables"]
    assert enrich["ENRICH_OUTPUT_STREAM"] == "streamops-enriched"
    assert enrich["ENRICH_LEDGER_TABLE"] == "streamops-enrich-ledger"
    assert "streamops-enriched" in boto3.client("kinesis", **moto).list_streams()["StreamNames"]


def test_the_cli_finds_the_functions_of_a_stack_by_its_outputs(moto):
    """`streamops --stack NAME` reads the function's name from the stack's outputs and invokes
    it: moto's Lambda, which cannot run the code here (no Docker), answers the invocation of
    exactly that function; a stack that does not exist is named in a clear error."""
    cf = boto3.client("cloudformation", **moto)
    if not any(s["StackName"] == "streamops" for s in cf.describe_stacks()["Stacks"]):
        pytest.skip("needs the stack of test_translated_template_creates_in_moto_cloudformation")
    target = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache" / "streamops" / "target"))
    binary = target / "debug" / "streamops"
    if not binary.exists():
        subprocess.run(["cargo", "build", "-p", "streamops-cli"], cwd=ROOT, check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "STREAMOPS_"))}
    env.update(AWS_ENDPOINT_URL=moto["endpoint_url"], AWS_REGION="us-east-1",
               AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")

    def cli(*args):
        return subprocess.run([str(binary), *args], capture_output=True, text=True, env=env, timeout=120)

    r = cli("--stack", "streamops", "scaler", "status")
    # moto found the function the outputs name and tried to run it (in Docker, absent here): an
    # answer only an existing function gets, unlike a name nobody deployed.
    assert r.returncode == 1, r.stderr
    assert "the function answered with an error" in r.stderr and "docker" in r.stderr.lower(), r.stderr
    r = cli("--function", "streamops-nosuch", "scaler", "status")
    assert r.returncode == 3 and "docker" not in r.stderr.lower(), r.stderr

    # Names the deployment knows: the deployed scaler's SCALER_POLICIES, read with Lambda
    # GetFunctionConfiguration and the scaler's own reader, refuse a target before any invoke
    # (an invoke would have reached moto's Docker-less runner, as above).
    r = cli("--stack", "streamops", "scaler", "pause", "no-such-target")
    assert r.returncode == 5, (r.stdout, r.stderr)
    assert r.stderr.strip() == ("streamops: unknown target \"no-such-target\"; known: raw-stream, enriched-stream "
                                "(from the scaler function's SCALER_POLICIES); nothing was sent"), r.stderr
    # moto's CloudFormation leaves PARTITIONS_TABLES's nested ${PartitionsGlueDatabase} unresolved
    # and returns a numeric variable as a number (Lambda holds strings only): a configuration
    # that does not read is said in one line, and the command goes to the function.
    r = cli("--stack", "streamops", "partitions", "status", "--table", "enriched", "--from", "2026-11-01", "--to", "2026-11-02")
    (warning,) = [line for line in r.stderr.splitlines() if line.startswith("streamops: warning:")]
    assert warning.startswith("streamops: warning: table \"enriched\" not checked before sending: could not read the "
                              "partitions function's configuration (GetFunctionConfiguration: "), warning
    assert "PARTITIONS_REGISTRY_TABLE" not in warning and len(warning) < 400, warning
    assert r.returncode == 1 and "docker" in r.stderr.lower(), r.stderr
    # A known one is sent (and reaches moto's runner).
    r = cli("--stack", "streamops", "scaler", "pause", "raw-stream")
    assert r.returncode == 1 and "docker" in r.stderr.lower() and "warning" not in r.stderr, r.stderr

    r = cli("--stack", "nosuch", "scaler", "status")
    assert r.returncode == 3, r.stderr
    assert r.stderr.strip() == "streamops: describing stack nosuch: Stack with id nosuch does not exist", r.stderr
