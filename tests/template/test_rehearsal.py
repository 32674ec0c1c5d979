"""The deploy rehearsal: the SAM-translated template (what `sam deploy` hands CloudFormation) is
created in moto's CloudFormation under two stack names side by side in one region, then one is
deleted and created again, for the default parameters and with every optional feature set.

This is what catches names that collide between two stacks or with what a deleted stack retained.
moto's CloudFormation skips some types (alarms, queue and bucket policies, secrets: it logs them as
unsupported), so those are covered by the static checks in test_deploy_static.py instead."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from scripts.stack.local import VENV, free_port, wait_for_port  # noqa: E402
from scripts.stack.sam import ARTIFACTS_BUCKET, CODE_KEY, translate  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from parameter_sets import PARAMETER_SETS  # noqa: E402

@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with open(log, "wb") as out:
        # moto with the project's extension: the CloudFormation and Lambda gaps it fills are
        # listed in scripts/stack/moto_ext.py.
        proc = subprocess.Popen([str(VENV / "bin" / "python"), "-m", "scripts.stack.moto_ext", "-H", "127.0.0.1",
                                 "-p", str(port)], stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        wait_for_port(port, 30, proc, "moto_server")
        kw = dict(endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                  aws_access_key_id="testing", aws_secret_access_key="testing")
        s3 = boto3.client("s3", **kw)
        s3.create_bucket(Bucket=ARTIFACTS_BUCKET)
        s3.put_object(Bucket=ARTIFACTS_BUCKET, Key=CODE_KEY, Body=b"PK\x05\x06" + b"\0" * 18)
        yield kw
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def body() -> str:
    return json.dumps(translate())


def wait(cf, name: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        stacks = cf.describe_stacks(StackName=name)["Stacks"]
        stack = stacks[0]
        if not stack["StackStatus"].endswith("IN_PROGRESS") or time.monotonic() > deadline:
            return stack
        time.sleep(0.3)


def failures(cf, name: str) -> list[str]:
    return [f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason')}"
            for e in cf.describe_stack_events(StackName=name)["StackEvents"] if "FAILED" in e["ResourceStatus"]]


def create(cf, name: str, body: str, params: dict) -> dict:
    cf.create_stack(StackName=name, TemplateBody=body, Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
                    Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()])
    stack = wait(cf, name)
    assert stack["StackStatus"] == "CREATE_COMPLETE", (name, failures(cf, name))
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def delete(cf, name: str) -> None:
    stack_id = cf.describe_stacks(StackName=name)["Stacks"][0]["StackId"]
    cf.delete_stack(StackName=name)
    stack = wait(cf, stack_id)
    assert stack["StackStatus"] == "DELETE_COMPLETE", (name, failures(cf, stack_id))


@pytest.mark.parametrize("label", list(PARAMETER_SETS))
def test_two_stacks_side_by_side_then_delete_and_redeploy(moto, body, label):
    params = PARAMETER_SETS[label]
    cf = boto3.client("cloudformation", **moto)
    first, second = f"{label}-a", f"{label}-b"
    out_a = create(cf, first, body, params)
    out_b = create(cf, second, body, params)
    # Nothing the two stacks name is shared, but what both were given (an existing secret, say).
    given = set(params.values())
    shared = {k for k in out_a if k in out_b and out_a[k] == out_b[k] and out_a[k] not in given}
    assert not shared, f"outputs equal in both stacks: {sorted(shared)}"
    delete(cf, first)
    # Retained resources (buckets, reference table, book, key) stay behind, and the same stack
    # name deploys again beside them.
    out_again = create(cf, first, body, params)
    assert out_again["AlertsFunctionName"] == out_a["AlertsFunctionName"]
    assert out_again["DataBucketName"] != out_a["DataBucketName"], "a redeploy must not reuse a retained bucket's name"
    buckets = {b["Name"] for b in boto3.client("s3", **moto).list_buckets()["Buckets"]}
    assert out_a["DataBucketName"] in buckets, "the data bucket is retained after delete"
    delete(cf, first)
    delete(cf, second)


def test_the_default_deploy_wires_what_the_functions_read(moto, body):
    cf = boto3.client("cloudformation", **moto)
    out = create(cf, "streamops", body, {})
    try:
        lam = boto3.client("lambda", **moto)
        alerts = lam.get_function_configuration(FunctionName=out["AlertsFunctionName"])
        env = alerts["Environment"]["Variables"]
        assert env["ALERTS_TABLE_NAME"] == "streamops-alerts-state"
        assert env["ALERTS_TOPIC_ARN"] == out["AlertsTopicArn"]
        enrich = lam.get_function_configuration(FunctionName=out["EnrichFunctionName"])["Environment"]["Variables"]
        assert enrich["ENRICH_OUTPUT_STREAM"] == out["EnrichedStreamName"]
        assert enrich["ENRICH_REFERENCE_TABLE"] == out["EnrichReferenceTableName"]
        assert enrich["ENRICH_QUARANTINE_BUCKET"] == out["QuarantineBucketName"]
        # The default reads through the enhanced fan-out consumer.
        mappings = lam.list_event_source_mappings(FunctionName=out["EnrichFunctionName"])["EventSourceMappings"]
        assert any("/consumer/" in m["EventSourceArn"] for m in mappings), mappings
        # (moto's CloudFormation has no Glue types: the database name is checked with the evaluator
        # in test_deploy_static.py.)
        # The pipeline dashboard, its body JSON with the stack's names substituted
        # (tests/template/test_dashboard.py checks what its widgets read).
        board = boto3.client("cloudwatch", **moto).get_dashboard(DashboardName="streamops-pipeline")
        widgets = json.loads(board["DashboardBody"])["widgets"]
        metrics = [m for w in widgets for m in w["properties"].get("metrics", []) if isinstance(m, list)]
        assert ["AWS/Kinesis", "IncomingRecords", "StreamName", out["RawStreamName"]] in [m[:4] for m in metrics]
        # moto's CloudFormation has no Firehose type: only the delivery stream's name stays unresolved.
        unresolved = set(re.findall(r"\$\{[^}]*\}", board["DashboardBody"]))
        assert unresolved <= {"${EnrichedDeliveryStream}"}, unresolved
    finally:
        delete(cf, "streamops")
