"""What each function calls, as IAM actions: the AWS SDK operations in its source (and in the
shared helpers it uses), mapped to the action each needs; plus what Lambda and the services do
with the function's role on its behalf. test_deploy_static.py compares this with what
template.yaml grants, so a grant nothing uses, or a call nothing grants, fails a test."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# SDK crate -> {fluent operation method: IAM action}. An operation added to the code but missing
# here fails test_every_sdk_call_is_mapped, so this table cannot silently fall behind.
SDK_OPERATIONS: dict[str, dict[str, str]] = {
    "dynamodb": {
        "get_item": "dynamodb:GetItem", "put_item": "dynamodb:PutItem", "update_item": "dynamodb:UpdateItem",
        "delete_item": "dynamodb:DeleteItem", "query": "dynamodb:Query", "scan": "dynamodb:Scan",
        "batch_get_item": "dynamodb:BatchGetItem", "batch_write_item": "dynamodb:BatchWriteItem",
    },
    "sns": {"publish": "sns:Publish"},
    "kinesis": {
        "put_records": "kinesis:PutRecords", "put_record": "kinesis:PutRecord",
        "describe_stream_summary": "kinesis:DescribeStreamSummary", "update_shard_count": "kinesis:UpdateShardCount",
        "describe_limits": "kinesis:DescribeLimits", "list_shards": "kinesis:ListShards",
    },
    "s3": {
        "put_object": "s3:PutObject", "get_object": "s3:GetObject", "head_object": "s3:GetObject",
        "delete_object": "s3:DeleteObject", "delete_objects": "s3:DeleteObject", "list_objects_v2": "s3:ListBucket",
    },
    "athena": {
        "start_query_execution": "athena:StartQueryExecution", "get_query_execution": "athena:GetQueryExecution",
        "stop_query_execution": "athena:StopQueryExecution",
    },
    "glue": {
        "batch_create_partition": "glue:BatchCreatePartition", "create_partition": "glue:CreatePartition",
        "get_partitions": "glue:GetPartitions", "get_partition": "glue:GetPartition", "get_table": "glue:GetTable",
        "get_database": "glue:GetDatabase", "batch_delete_partition": "glue:BatchDeletePartition",
        "get_schema_version": "glue:GetSchemaVersion",
    },
    "secretsmanager": {"get_secret_value": "secretsmanager:GetSecretValue"},
    "cloudwatch": {"get_metric_data": "cloudwatch:GetMetricData"},
    "emr": {
        "describe_cluster": "elasticmapreduce:DescribeCluster", "list_instance_groups": "elasticmapreduce:ListInstanceGroups",
        "modify_instance_groups": "elasticmapreduce:ModifyInstanceGroups",
        "list_instance_fleets": "elasticmapreduce:ListInstanceFleets",
        "modify_instance_fleet": "elasticmapreduce:ModifyInstanceFleet",
        "get_managed_scaling_policy": "elasticmapreduce:GetManagedScalingPolicy",
        "list_instances": "elasticmapreduce:ListInstances", "list_steps": "elasticmapreduce:ListSteps",
        "add_job_flow_steps": "elasticmapreduce:AddJobFlowSteps", "describe_step": "elasticmapreduce:DescribeStep",
    },
    "sqs": {"send_message": "sqs:SendMessage", "receive_message": "sqs:ReceiveMessage"},
    "eventbridge": {"put_events": "events:PutEvents"},
    "scheduler": {"create_schedule": "scheduler:CreateSchedule"},
}

# streamops-shared helpers that call DynamoDB: `module::function` -> the action it needs.
SHARED_HELPERS = {
    "dynamo::put_if_absent": "dynamodb:PutItem", "dynamo::put_if_newer": "dynamodb:PutItem",
    "dynamo::put_if_version": "dynamodb:PutItem", "dynamo::delete_if_equals": "dynamodb:DeleteItem",
    "dynamo::get_item": "dynamodb:GetItem", "lineage::register_job": "dynamodb:PutItem",
}

_SDK_USE = re.compile(r"aws_sdk_([a-z0-9]+)")
_METHOD = re.compile(r"\.\s*([a-z][a-z0-9_]*)\s*\(\s*\)")
_HELPER = re.compile(r"\b(dynamo|lineage)\s*::\s*([a-z_]+)\s*\(")


def _sources(crate: str) -> list[Path]:
    src = ROOT / "functions" / crate / "src"
    # The bench binary is no part of the deployed function.
    return [p for p in src.rglob("*.rs") if "bin" not in p.relative_to(src).parts]


def _without_tests(text: str) -> str:
    cut = re.search(r"^\s*#\[cfg\(test\)\]", text, re.M)
    return text[: cut.start()] if cut else text


def code_actions(crate: str) -> dict[str, set[str]]:
    """IAM action -> the files of the crate whose code needs it."""
    found: dict[str, set[str]] = {}
    for path in _sources(crate):
        text = _without_tests(path.read_text())
        for service in set(_SDK_USE.findall(text)) & set(SDK_OPERATIONS):
            for method in _METHOD.findall(text):
                action = SDK_OPERATIONS[service].get(method)
                if action:
                    found.setdefault(action, set()).add(path.name)
        for module, function in _HELPER.findall(text):
            action = SHARED_HELPERS.get(f"{module}::{function}")
            if action:
                found.setdefault(action, set()).add(path.name)
    return found


def unmapped_operations(crate: str) -> set[str]:
    """Methods called on an SDK client in files that use one SDK crate only and that no table
    entry names: a new operation nobody mapped to its IAM action."""
    out = set()
    for path in _sources(crate):
        text = _without_tests(path.read_text())
        services = set(_SDK_USE.findall(text)) & set(SDK_OPERATIONS)
        if len(services) != 1:
            continue
        (service,) = services
        for m in re.findall(r"\b(?:client|self\.client)\s*\.\s*([a-z][a-z0-9_]*)\s*\(\s*\)", text):
            if m not in SDK_OPERATIONS[service] and m not in {"clone", "config", "into"}:
                out.add(f"{path.name}: {service}.{m}")
    return out
