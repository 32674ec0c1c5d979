"""The execution role of each function as `sam deploy` creates it (scripts/stack/iam.py reads it
from the SAM-translated template): the e2e tests run every function as a moto IAM user holding
exactly these actions, so what is read here is what the functions are allowed locally."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from scripts.stack.iam import (  # noqa: E402
    aws_managed_policies,
    function_logical_ids,
    function_role,
    principal_policy,
    role_actions,
    role_statements,
)
from scripts.stack.sam import translate  # noqa: E402

BASIC_EXECUTION = {"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"}
EMR = {"EmrClusterId": "j-ABCDEF123", "EmrTaskInstanceGroupId": "ig-ABCDEF123"}


@pytest.fixture(scope="module")
def translated() -> dict:
    return translate()


def test_alerts_role_has_its_statements_and_the_managed_policies(translated):
    actions = role_actions(translated, "AlertsFunction", None)
    assert {"dynamodb:PutItem", "dynamodb:Query", "sns:Publish"} <= actions
    assert BASIC_EXECUTION <= actions, "AWSLambdaBasicExecutionRole, expanded from moto's managed policy data"
    assert "xray:PutTraceSegments" in actions, "AWSXrayWriteOnlyAccess (Tracing: Active)"
    assert "sqs:SendMessage" in actions, "SAM's statement for the on-failure destination"
    assert not any(a.startswith(("kinesis:", "s3:", "elasticmapreduce:")) for a in actions), sorted(actions)


def test_every_function_role_resolves_for_defaults_and_every_option(translated):
    everything = dict(EMR, MskClusterArn="arn:aws:kafka:us-east-1:123456789012:cluster/c/abc", MskTopic="raw",
                      FlinkRestEndpoint="http://10.0.0.5:8081", FunctionSubnetIds="subnet-1",
                      FunctionSecurityGroupIds="sg-1", EnrichEnhancedFanOut="true")
    for params in (None, everything):
        for logical in function_logical_ids(translated):
            assert BASIC_EXECUTION <= role_actions(translated, logical, params), (logical, params)
    assert function_role(translated, "ScalerFunction") == "ScalerRole"
    assert function_role(translated, "AlertsFunction") == "AlertsFunctionRole"


def test_a_conditional_policy_counts_only_when_its_condition_holds(translated):
    # ScalerEmrPolicy (Condition HasEmrTaskGroup), attached through Roles: [!Ref ScalerRole].
    without = role_actions(translated, "ScalerFunction", None)
    with_emr = role_actions(translated, "ScalerFunction", EMR)
    assert "elasticmapreduce:ModifyInstanceGroups" not in without
    assert "elasticmapreduce:ModifyInstanceGroups" in with_emr
    # EnrichFanOutPolicy (Condition UseEnhancedFanOut) on the role SAM generates for enrich.
    assert "kinesis:SubscribeToShard" in role_actions(translated, "EnrichFunction", {"EnrichEnhancedFanOut": "true"})
    assert "kinesis:SubscribeToShard" not in role_actions(translated, "EnrichFunction", {"EnrichEnhancedFanOut": "false"})


def test_a_managed_policy_under_fn_if_counts_only_when_its_condition_holds(translated):
    vpc = {"FlinkRestEndpoint": "http://10.0.0.5:8081", "FunctionSubnetIds": "subnet-1", "FunctionSecurityGroupIds": "sg-1"}
    assert "ec2:CreateNetworkInterface" not in role_actions(translated, "CheckpointsFunction", None)
    assert "ec2:CreateNetworkInterface" in role_actions(translated, "CheckpointsFunction", vpc), \
        "AWSLambdaVPCAccessExecutionRole when FlinkInVpc"


def test_moto_knows_the_managed_policies_the_template_attaches():
    policies = aws_managed_policies()
    for name in ("service-role/AWSLambdaBasicExecutionRole", "AWSXrayWriteOnlyAccess",
                 "service-role/AWSLambdaSQSQueueExecutionRole", "service-role/AWSLambdaVPCAccessExecutionRole"):
        assert f"arn:aws:iam::aws:policy/{name}" in policies


def test_the_local_principal_policy_keeps_the_actions_and_the_resources_moto_checks(translated):
    statements = role_statements(translated, "ScalerFunction", EMR, with_resources=True)
    policy = principal_policy(statements)
    granted = {a for st in policy["Statement"] for a in st["Action"]}
    assert role_actions(translated, "ScalerFunction", EMR) <= granted
    # CloudWatch signs as "monitoring": moto checks monitoring:GetMetricData.
    assert {"cloudwatch:GetMetricData", "monitoring:GetMetricData"} <= granted
    assert granted - role_actions(translated, "ScalerFunction", EMR) == {"monitoring:GetMetricData"}
    # moto checks resources for S3 and SQS only: those keep the template's, the rest are "*".
    for st in principal_policy(role_statements(translated, "CheckpointsFunction", None, with_resources=True))["Statement"]:
        if any(a.startswith(("s3:", "sqs:")) for a in st["Action"]):
            assert st["Resource"] != "*" and all(r.startswith(("arn:aws:s3:::streamops-checkpoints-", "arn:aws:sqs:"))
                                                 for r in st["Resource"]), st
        else:
            assert st["Resource"] == "*", st
