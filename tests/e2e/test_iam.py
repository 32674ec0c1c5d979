"""The local stack's IAM enforcement itself: each function runs as its own moto IAM user holding
exactly the actions its execution role gets from template.yaml, with only its own environment,
and moto refuses what the role does not grant."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from scripts.stack.iam import role_actions, signing_actions
from scripts.stack.sam import translate


def test_each_principal_holds_exactly_its_roles_actions(stack):
    translated = translate(stack.TEMPLATE)
    iam = stack.client("iam")
    assert set(stack.principals) == {"alerts", "enrich", "partitions", "checkpoints", "scaler"}
    for binary, p in stack.principals.items():
        expected = role_actions(translated, p["logical"], stack.cfn.params)
        doc = iam.get_user_policy(UserName=p["user"], PolicyName=p["user"])["PolicyDocument"]
        doc = json.loads(doc) if isinstance(doc, str) else doc
        held = {a for st in doc["Statement"] for a in st["Action"]}
        assert held == {x for a in expected for x in signing_actions(a)}, binary
        assert iam.list_attached_user_policies(UserName=p["user"])["AttachedPolicies"] == []
        assert iam.list_groups_for_user(UserName=p["user"])["Groups"] == []


def test_each_function_runs_with_its_own_environment_and_keys(stack):
    envs = {b: stack.function_env(b) for b in stack.principals}
    prefixes = {"alerts": "ALERTS_", "enrich": "ENRICH_", "partitions": "PARTITIONS_",
                "checkpoints": "CHECKPOINTS_", "scaler": "SCALER_"}
    for binary, env in envs.items():
        others = [k for k in env if any(k.startswith(p) for b, p in prefixes.items() if b != binary)]
        assert not others, (binary, others)
        assert env["AWS_ACCESS_KEY_ID"] == stack.principals[binary]["key"] != "testing"
        written = (stack.log_dir / "env" / f"{binary}.env").read_text()
        assert f"AWS_ACCESS_KEY_ID='{stack.principals[binary]['key']}'" in written
    assert len({env["AWS_ACCESS_KEY_ID"] for env in envs.values()}) == len(envs)
    # The calls of an invocation are made as that function's user.
    ok, out = stack.invoke("alerts", {"command": "list-silences"})
    assert ok, out
    assert "dynamodb:Query" in stack.actions_used()["alerts"]


@pytest.mark.parametrize("binary, call", [
    ("alerts", lambda c: c("kinesis").list_streams()),                # an action the role lacks
    ("partitions", lambda c: c("sns").list_topics()),
    # S3 resources are checked: enrich may read only the quarantine bucket's quarantine/ prefix.
    ("enrich", lambda c: c("s3").list_objects_v2(Bucket="streamops-quarantine-123456789012-us-east-1")),
])
def test_what_a_role_does_not_grant_is_refused(stack, binary, call):
    p = stack.principals[binary]
    before = stack.log_marks()
    with pytest.raises(ClientError) as e:
        call(lambda service: stack.client(service, (p["key"], p["secret"])))
    # (moto answers JSON-protocol services in XML here, so boto3 may only see the HTTP status)
    assert "AccessDenied" in str(e.value.response), e.value.response
    denied = stack.acknowledge_denials(before)
    assert [d.function for d in denied] == [binary], denied


def test_the_harness_itself_is_an_admin_not_the_dummy_credentials(stack):
    assert stack.credentials[0] != "testing"
    arn = stack.client("sts").get_caller_identity()["Arn"]
    assert arn.endswith(":user/streamops-harness-admin"), arn
    before = stack.log_marks()
    with pytest.raises(ClientError) as e:
        stack.client("sqs", ("testing", "testing")).list_queues()
    assert "InvalidClientTokenId" in str(e.value.response), e.value.response
    assert [d.kind for d in stack.acknowledge_denials(before)] == ["invalid-key"]
