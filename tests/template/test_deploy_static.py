"""What CloudFormation and IAM enforce at deploy time, checked without AWS: the rule functions
allowed in Rules, parameter combinations refused before anything is created, names that two
stacks or a redeploy would collide on, every alarm's metric emitted by something deployed, every
IAM action granted used (and every call granted), the KMS key policy's conditions, and that a
function failure reaches a person. Each check runs on the default parameters and with every
optional feature (parameter_sets.py). STREAMOPS_TEMPLATE=<file> runs them on another template."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

from emitted_metrics import emitted  # noqa: E402
from emitted_metrics import namespace as emf_namespace  # noqa: E402
from iam_map import code_actions, unmapped_operations  # noqa: E402
from parameter_sets import PARAMETER_SETS  # noqa: E402
from scripts.stack.cfn import NO_VALUE, Evaluator, Tag, load_template  # noqa: E402
from scripts.stack.sam import TEMPLATE as TEMPLATE_PATH  # noqa: E402
from scripts.stack.sam import translate  # noqa: E402

RAW = load_template(TEMPLATE_PATH)
TRANSLATED = translate()
FUNCTIONS = {"AlertsFunction": "alerts", "EnrichFunction": "enrich", "PartitionsFunction": "partitions",
             "CheckpointsFunction": "checkpoints", "ScalerFunction": "scaler"}
RULE_FUNCTIONS = {"Fn::And", "Fn::Contains", "Fn::EachMemberEquals", "Fn::EachMemberIn", "Fn::Equals",
                  "Fn::Not", "Fn::Or", "Fn::RefAll", "Fn::ValueOf", "Fn::ValueOfAll", "Ref", "Condition"}


def evaluator(params: dict, stack: str = "streamops", template: dict = TRANSLATED) -> Evaluator:
    return Evaluator(template, stack, params)


# ---------------------------------------------------------------- 1, 10: Rules


def _functions_in(node) -> set[str]:
    found = set()
    if isinstance(node, Tag):
        found.add("Ref" if node.name == "Ref" else f"Fn::{node.name}")
        found |= _functions_in(node.value)
    elif isinstance(node, dict):
        for k, v in node.items():
            if k.startswith("Fn::") or k == "Ref":
                found.add(k)
            found |= _functions_in(v)
    elif isinstance(node, list):
        for v in node:
            found |= _functions_in(v)
    return found


def test_rules_use_only_rule_functions():
    used = set()
    for name, rule in (RAW.get("Rules") or {}).items():
        bad = _functions_in(rule) - RULE_FUNCTIONS
        assert not bad, f"rule {name} uses {sorted(bad)}, which CloudFormation refuses in Rules"
        used |= _functions_in(rule)
    assert used, "the template has no Rules to check"


class RuleEvaluator:
    """The rule functions, as CloudFormation evaluates them against parameter values."""

    def __init__(self, params: dict):
        self.values = {k: str(v.get("Default", "")) for k, v in (RAW.get("Parameters") or {}).items()}
        self.values.update(params)
        self.types = {k: v.get("Type") for k, v in (RAW.get("Parameters") or {}).items()}

    def ev(self, node):
        if isinstance(node, Tag):
            return self.call("Ref" if node.name == "Ref" else f"Fn::{node.name}", node.value)
        if isinstance(node, dict) and len(node) == 1:
            (k, v), = node.items()
            return self.call(k, v)
        if isinstance(node, list):
            return [self.ev(x) for x in node]
        return node

    def call(self, fn: str, v):
        if fn == "Ref":
            value = self.values[v]
            return value.split(",") if self.types.get(v) == "CommaDelimitedList" else value
        args = v if isinstance(v, list) else [v]
        a = [self.ev(x) for x in args]
        return {
            "Fn::Equals": lambda: a[0] == a[1], "Fn::Not": lambda: not a[0], "Fn::And": lambda: all(a),
            "Fn::Or": lambda: any(a), "Fn::Contains": lambda: a[1] in a[0],
            "Fn::EachMemberEquals": lambda: all(x == a[1] for x in a[0]),
            "Fn::EachMemberIn": lambda: all(x in a[1] for x in a[0]),
        }[fn]()

    def refused_by(self) -> list[str]:
        out = []
        for name, rule in (RAW.get("Rules") or {}).items():
            if "RuleCondition" in rule and not self.ev(rule["RuleCondition"]):
                continue
            if not all(self.ev(x["Assert"]) for x in rule["Assertions"]):
                out.append(name)
        return out


@pytest.mark.parametrize("label", list(PARAMETER_SETS))
def test_documented_parameter_sets_pass_the_rules(label):
    assert RuleEvaluator(PARAMETER_SETS[label]).refused_by() == []


# Combinations that would deploy and then fail at cold start or never work: each must be refused.
REFUSED = [
    ({"FunctionSubnetIds": "subnet-a"}, "SubnetsNeedSecurityGroups"),
    ({"FunctionSubnetIds": "subnet-a", "FunctionSecurityGroupIds": "sg-1"}, "SubnetsNeedAFlinkEndpoint"),
    ({"MskClusterArn": "arn:aws:kafka:us-east-1:123456789012:cluster/a/b"}, "MskNeedsClusterAndTopic"),
    ({"MskTopic": "raw"}, "MskNeedsClusterAndTopic"),
    ({"EmrTaskInstanceGroupId": "ig-1"}, "TaskGroupNeedsItsCluster"),
    ({"EmrClusterId": "j-1", "EmrTaskInstanceGroupId": "ig-1", "EmrTaskInstanceFleetId": "if-1"}, "GroupOrFleetNotBoth"),
    ({"EmrClusterId": "j-1", "EmrYarnResourceManagerUrl": "http://h:8088"}, "YarnUrlIsForInstanceGroups"),
    ({"FlinkJobName": "j"}, "FlinkJobNeedsItsEndpoint"),
    ({"FlinkRestEndpoint": "http://h:8081", "FlinkJobName": "j", "FlinkRescaleMode": "savepoint"}, "SavepointModeNeedsAJar"),
    ({"FlinkRestEndpoint": "http://h:8081", "FlinkJobName": "j", "FlinkRescaleMode": "savepoint",
      "FlinkResubmitVia": "emr_step"}, "EmrStepResubmissionNeedsClusterAndJar"),
    ({"FlinkLagMetricDimensionName": "JobName"}, "FlinkLagDimensionNeedsNameAndValue"),
]


@pytest.mark.parametrize("params,rule", REFUSED, ids=[r for _, r in REFUSED])
def test_broken_combinations_are_refused_before_anything_is_created(params, rule):
    assert rule in RuleEvaluator(params).refused_by()


@pytest.mark.parametrize("raw,maximum", [(1, 1), (2, 1), (64, 16), (16, 2)])
def test_no_shard_parameters_make_the_scaler_fail_at_cold_start(raw, maximum):
    # CloudFormation rules cannot compare numbers: the scaler's policy must be valid for any.
    env = evaluator({"RawStreamShards": raw, "EnrichedStreamShards": raw, "ScalerMaxShards": maximum},
                    template=RAW).functions()["ScalerFunction"]["env"]
    for t in json.loads(env["SCALER_POLICIES"])["targets"]:
        assert 1 <= t["min"] <= t["max"], t


def test_free_text_parameters_that_functions_parse_are_constrained():
    params = RAW["Parameters"]
    for name in ["ExistingAlarmTopicArn", "MskClusterArn", "EmrClusterId", "EmrTaskInstanceGroupId",
                 "EmrTaskInstanceFleetId", "CheckpointPrefix", "SavepointPrefix", "FlinkRestEndpoint",
                 "EmrYarnResourceManagerUrl", "ExistingPiiKeySecretArn", "PartitionsGlueDatabaseName"]:
        pattern = params[name].get("AllowedPattern")
        assert pattern, f"{name} has no AllowedPattern"
        assert re.fullmatch(pattern, str(params[name].get("Default", ""))), f"{name}'s default fails its own pattern"
    assert not re.fullmatch(params["CheckpointPrefix"]["AllowedPattern"], "flink/checkpoints")
    assert not re.fullmatch(params["FlinkRestEndpoint"]["AllowedPattern"], "10.0.0.1:8081")


# ---------------------------------------------------------------- 2, 3: lifecycle and names

NAME_KEYS = ["TableName", "BucketName", "QueueName", "TopicName", "FunctionName", "LogGroupName", "AliasName",
             "DeliveryStreamName", "Name", "RoleName", "ManagedPolicyName"]


def _explicit_names(ev: Evaluator) -> dict[str, str]:
    out = {}
    for logical, res in ev.resources.items():
        if not ev.enabled(logical) or res["Type"] == "AWS::Kinesis::StreamConsumer":  # scoped by its stream
            continue
        props = res.get("Properties") or {}
        for key in NAME_KEYS:
            if key in props:
                out[f"{logical}.{key}"] = str(ev.eval(props[key]))
        if res["Type"] == "AWS::Glue::Database":
            out[f"{logical}.DatabaseInput.Name"] = str(ev.eval(props["DatabaseInput"]["Name"]))
    return out


@pytest.mark.parametrize("label", list(PARAMETER_SETS))
def test_two_stacks_name_nothing_alike(label):
    one = _explicit_names(evaluator(PARAMETER_SETS[label], "streamops-one"))
    two = _explicit_names(evaluator(PARAMETER_SETS[label], "streamops-two"))
    given = {str(v) for v in PARAMETER_SETS[label].values()}  # a name you give is yours to keep apart
    same = sorted(k for k in one if one[k] == two.get(k) and one[k] not in given)
    assert not same, f"named the same in two stacks of one account and region: {same}"


def test_retained_resources_have_generated_names_and_their_key_is_retained():
    retained = {k: r for k, r in RAW["Resources"].items() if r.get("DeletionPolicy") == "Retain"}
    assert "StreamopsKey" in retained, "the key that encrypts the retained data must be retained too"
    assert "EnrichPiiKeySecret" in retained, "a deleted PII key changes every pseudonym"
    for logical, res in retained.items():
        props = res.get("Properties") or {}
        fixed = [k for k in NAME_KEYS if k in props]
        assert not fixed, f"{logical} is retained and named {fixed}: a redeploy would collide with it"
        assert res.get("UpdateReplacePolicy") == "Retain", logical
    for logical, res in RAW["Resources"].items():
        if res["Type"] in ("AWS::DynamoDB::Table", "AWS::S3::Bucket", "AWS::KMS::Key", "AWS::SecretsManager::Secret"):
            assert res.get("DeletionPolicy") in ("Retain", "Delete"), f"{logical}: decide its lifecycle on purpose"


def test_a_redeploy_can_keep_the_pii_key():
    ev = evaluator({"ExistingPiiKeySecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:k-AbCdEf"}, template=RAW)
    assert not ev.enabled("EnrichPiiKeySecret")
    assert ev.functions()["EnrichFunction"]["env"]["ENRICH_PII_KEY_SECRET_ARN"].endswith(":secret:k-AbCdEf")


def test_the_glue_database_is_named_after_the_stack_unless_given():
    assert evaluator({}, "team-a-lake", RAW).physical_name("PartitionsGlueDatabase") == "team_a_lake"
    env = evaluator({}, "team-a-lake", RAW).functions()["PartitionsFunction"]["env"]
    assert json.loads(env["PARTITIONS_TABLES"])[0]["database"] == "team_a_lake"
    assert evaluator({"PartitionsGlueDatabaseName": "lake"}, "x", RAW).physical_name("PartitionsGlueDatabase") == "lake"


# ---------------------------------------------------------------- 4: reserved concurrency


def test_reserved_concurrency_is_off_unless_asked():
    for params, expect_reserved in [({}, False), ({"ReserveConcurrency": "true"}, True)]:
        ev = evaluator(params)
        values = [ev.eval(ev.resources[f]["Properties"].get("ReservedConcurrentExecutions", NO_VALUE)) for f in FUNCTIONS]
        if expect_reserved:
            assert all(v is not NO_VALUE for v in values), values
        else:
            assert all(v is NO_VALUE for v in values), f"reserved by default: {values}"


# ---------------------------------------------------------------- IAM


def _role_logical(ev: Evaluator, fn: str) -> str:
    role = ev.resources[fn]["Properties"]["Role"]
    return role["Fn::GetAtt"][0] if isinstance(role, dict) else role


def _statements(doc) -> list[dict]:
    st = doc.get("Statement", [])
    return [s for s in (st if isinstance(st, list) else [st]) if s is not NO_VALUE]


def role_policies(ev: Evaluator, role: str) -> list[tuple[str, dict]]:
    """(where, evaluated statement) for the role's inline policies and policies attached to it."""
    out = []
    for p in ev.eval(ev.resources[role]["Properties"].get("Policies", [])):
        out += [(f"{role}/{p['PolicyName']}", s) for s in _statements(p["PolicyDocument"])]
    for logical, res in ev.resources.items():
        if res["Type"] == "AWS::IAM::Policy" and ev.enabled(logical):
            props = ev.eval(res["Properties"])
            if role in [str(r) for r in props.get("Roles", [])] or ev.physical_name(role) in props.get("Roles", []):
                out += [(logical, s) for s in _statements(props["PolicyDocument"])]
    return out


def _listed(v) -> list:
    return v if isinstance(v, list) else [v]


def granted(ev: Evaluator, fn: str) -> dict[str, set]:
    actions: dict[str, set] = {}
    for where, s in role_policies(ev, _role_logical(ev, fn)):
        if s.get("Effect") == "Allow":
            for a in _listed(s["Action"]):
                actions.setdefault(a, set()).update(str(r) for r in _listed(s.get("Resource", [])))
    return actions


ALLOWED_MANAGED = {"AWSLambdaBasicExecutionRole", "AWSXrayWriteOnlyAccess", "AWSLambdaVPCAccessExecutionRole"}


def platform_actions(ev: Evaluator, fn: str) -> set[str]:
    """What Lambda and the services do with the function's role on its behalf."""
    c = ev.condition
    # Environment variables and every store here are encrypted with the suite's key.
    out = {"kms:Decrypt", "kms:GenerateDataKey"}
    if fn == "EnrichFunction":
        out |= {"kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:GetRecords",
                "kinesis:GetShardIterator", "kinesis:ListShards", "sqs:SendMessage"}
        if c("UseEnhancedFanOut"):
            out |= {"kinesis:SubscribeToShard", "kinesis:DescribeStreamConsumer"}
        if c("HasMsk"):
            out |= {"kafka:DescribeCluster", "kafka:DescribeClusterV2", "kafka:GetBootstrapBrokers",
                    "ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DescribeVpcs",
                    "ec2:DeleteNetworkInterface", "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups"}
        if c("MskIamAuth"):
            out |= {"kafka-cluster:Connect", "kafka-cluster:DescribeClusterDynamicConfiguration",
                    "kafka-cluster:DescribeTopic", "kafka-cluster:ReadData", "kafka-cluster:DescribeGroup",
                    "kafka-cluster:AlterGroup"}
    if fn == "PartitionsFunction":
        # The queue's mapping; Athena runs the DDL with the caller's rights on Glue and the results.
        out |= {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
                "glue:GetDatabase", "glue:GetTable", "glue:CreatePartition", "glue:BatchCreatePartition",
                "glue:DeletePartition", "glue:BatchDeletePartition",
                "s3:GetBucketLocation", "s3:ListBucket", "s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"}
        if c("HasIcebergTable"):
            # Athena's OPTIMIZE and VACUUM of the Iceberg table: a metadata commit in Glue, data
            # files rewritten and expired ones deleted.
            out |= {"glue:UpdateTable", "s3:DeleteObject"}
            # Its follow-up schedules invoke it with the maintenance schedule's role.
            out.add("iam:PassRole")
    if fn == "AlertsFunction":
        out.add("sqs:SendMessage")  # its on-failure destination (and the group flushes it queues)
        # The group flush queue's mapping.
        out |= {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}
    else:
        if fn != "EnrichFunction":
            # On-failure destination: the default event bus. (The scaler's code also puts its
            # decision events there; one grant serves both, and a set counts it once.)
            out.add("events:PutEvents")
    return out


# Code calls the scaler makes only with an option (SCALER_POLICIES built from the parameters).
SCALER_OPTIONS = {
    "elasticmapreduce:DescribeCluster": "ScalerCallsEmr", "elasticmapreduce:GetManagedScalingPolicy": "ScalerCallsEmr",
    "elasticmapreduce:ListInstanceGroups": "HasEmrTaskGroup", "elasticmapreduce:ModifyInstanceGroups": "HasEmrTaskGroup",
    "elasticmapreduce:ListInstanceFleets": "HasEmrTaskFleet", "elasticmapreduce:ModifyInstanceFleet": "HasEmrTaskFleet",
    "elasticmapreduce:ListInstances": "HasYarnRm",
    "elasticmapreduce:ListSteps": "ResubmitsByEmrStep", "elasticmapreduce:AddJobFlowSteps": "ResubmitsByEmrStep",
}


# Code calls enrich makes only with an option (the Glue registry for ENRICH_VALUE_FORMAT=avro-glue,
# protobuf-glue or jsonschema-glue).
ENRICH_OPTIONS = {"glue:GetSchemaVersion": "ReadsGlueSchemaRegistry"}


# Code calls partitions makes only with an option (follow-ups of Iceberg maintenance).
PARTITIONS_OPTIONS = {"scheduler:CreateSchedule": "HasIcebergTable"}


def needed(ev: Evaluator, fn: str) -> set[str]:
    calls = set(code_actions(FUNCTIONS[fn]))
    if fn == "PartitionsFunction":
        calls = {a for a in calls if a not in PARTITIONS_OPTIONS or ev.condition(PARTITIONS_OPTIONS[a])}
    if fn == "ScalerFunction":
        calls = {a for a in calls if a not in SCALER_OPTIONS or ev.condition(SCALER_OPTIONS[a])}
    if fn == "EnrichFunction":
        calls = {a for a in calls if a not in ENRICH_OPTIONS or ev.condition(ENRICH_OPTIONS[a])}
    return calls | platform_actions(ev, fn)


@pytest.mark.parametrize("fn", list(FUNCTIONS))
def test_every_sdk_call_is_mapped_to_its_iam_action(fn):
    assert not unmapped_operations(FUNCTIONS[fn]), "add these operations to iam_map.SDK_OPERATIONS"
    assert code_actions(FUNCTIONS[fn]), f"no SDK call found in {FUNCTIONS[fn]}: is the scan still right?"


@pytest.mark.parametrize("label", list(PARAMETER_SETS))
@pytest.mark.parametrize("fn", list(FUNCTIONS))
def test_every_grant_is_used_and_every_call_granted(fn, label):
    ev = evaluator(PARAMETER_SETS[label])
    have, want = set(granted(ev, fn)), needed(ev, fn)
    assert not (want - have), f"{fn} calls {sorted(want - have)}, which its role does not grant ({label})"
    assert not (have - want), f"{fn}'s role grants {sorted(have - want)}, which nothing uses ({label})"
    managed = {str(m).rsplit("/", 1)[-1] for m in ev.eval(ev.resources[_role_logical(ev, fn)]["Properties"].get("ManagedPolicyArns", []))}
    assert managed <= ALLOWED_MANAGED, f"{fn} gets managed policies {sorted(managed - ALLOWED_MANAGED)}"
    if "AWSLambdaVPCAccessExecutionRole" in managed:
        assert ev.condition("FlinkInVpc")


def test_every_star_resource_says_why():
    lines = TEMPLATE_PATH.read_text().splitlines()
    for i, line in enumerate(lines):
        if re.search(r'Resource:\s*"\*"', line):
            context = lines[max(0, i - 3): i + 1]
            assert "#" in line or any(c.strip().startswith("#") for c in context), f"line {i + 1}: '*' without its reason"


ARN_OF_TYPE = ("AWS::DynamoDB::Table", "AWS::S3::Bucket", "AWS::Kinesis::Stream", "AWS::SNS::Topic", "AWS::SQS::Queue",
               "AWS::SecretsManager::Secret")


@pytest.mark.parametrize("fn", list(FUNCTIONS))
def test_every_resource_the_configuration_names_is_granted_and_nothing_else_of_the_stack(fn):
    ev = evaluator({})
    env = " ".join(evaluator({}, template=RAW).functions()[fn]["env"].values())
    grants = granted(ev, fn)
    resources = set().union(*grants.values())
    for logical, res in ev.resources.items():
        if res["Type"] not in ARN_OF_TYPE or not ev.enabled(logical):
            continue
        ref, name = str(ev.ref(logical)), ev.physical_name(logical)
        arn = ref if res["Type"] in ("AWS::SNS::Topic", "AWS::SecretsManager::Secret") else ev.getatt(logical, "Arn")
        named = ref in env or re.search(rf'(^|[\s"]){re.escape(name)}($|[\s"])', env)
        granted_here = any(r == arn or r.startswith(arn + "/") for r in resources)
        if named:
            assert granted_here, f"{fn}'s configuration names {logical}, which its policy does not"
        elif granted_here:
            # Wired by the template rather than read from the configuration: its event source or
            # on-failure destination.
            assert res["Type"] in ("AWS::SQS::Queue", "AWS::Kinesis::Stream"), f"{fn} is granted {logical}, which it never names"


# ---------------------------------------------------------------- 5, 7, 8: mappings and logs

MAPPING_NEEDS = {"consumer": {"kinesis:SubscribeToShard", "kinesis:DescribeStreamConsumer"},
                 "kinesis": {"kinesis:GetRecords", "kinesis:GetShardIterator"},
                 "sqs": {"sqs:ReceiveMessage", "sqs:DeleteMessage"}, "kafka": {"kafka:DescribeClusterV2"}}


@pytest.mark.parametrize("label", list(PARAMETER_SETS))
def test_each_event_source_mapping_can_read_when_it_is_created(label):
    ev = evaluator(PARAMETER_SETS[label])
    for logical, res in ev.resources.items():
        if res["Type"] != "AWS::Lambda::EventSourceMapping" or not ev.enabled(logical):
            continue
        props = ev.eval(res["Properties"])
        fn = next(f for f in FUNCTIONS if ev.physical_name(f) == props["FunctionName"])
        role = _role_logical(ev, fn)
        # Created after the function, so after its role; a separate policy only if depended on.
        ready = [s for where, s in role_policies(ev, role)
                 if where.startswith(f"{role}/") or where in _listed(res.get("DependsOn", []))]
        arn = str(props["EventSourceArn"])
        kind = "consumer" if "/consumer/" in arn else arn.split(":")[2]
        have = {a for s in ready for a in _listed(s["Action"])}
        assert MAPPING_NEEDS[kind] <= have, f"{logical} may start before its role can {sorted(MAPPING_NEEDS[kind] - have)}"


def test_msk_partial_failures_are_honoured_or_not_offered():
    base = {"MskClusterArn": "arn:aws:kafka:us-east-1:123456789012:cluster/raw/abc", "MskTopic": "raw"}
    partial = evaluator({**base, "EnrichMskFailureMode": "partial"}).eval(RAW["Resources"]["EnrichMskMapping"]["Properties"])
    assert partial["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert partial["ProvisionedPollerConfig"]["MinimumPollers"] >= 1, "Lambda reads Kafka batch failures only in provisioned mode"
    whole = evaluator({**base, "EnrichMskFailureMode": "fail-batch"}).eval(RAW["Resources"]["EnrichMskMapping"]["Properties"])
    assert "FunctionResponseTypes" not in whole


def test_log_groups_are_wired_and_named_without_the_function():
    ev = evaluator({})
    for fn in FUNCTIONS:
        group = ev.resources[fn]["Properties"].get("LoggingConfig", {}).get("LogGroup")
        assert group and "Ref" in group, f"{fn} does not write to the stack's log group (LoggingConfig.LogGroup)"
        res = ev.resources[group["Ref"]]
        assert res["Type"] == "AWS::Logs::LogGroup" and "RetentionInDays" in res["Properties"]
        assert fn not in json.dumps(res["Properties"]["LogGroupName"]), f"{group['Ref']} is named from {fn}: a cycle"


# ---------------------------------------------------------------- 6: alarms and what emits them


def _ours(kind: str):
    def check(ev: Evaluator, dims: dict) -> bool:
        names = {ev.physical_name(k) for k, r in ev.resources.items() if r["Type"] == kind and ev.enabled(k)}
        return all(v in names for k, v in dims.items() if k in ("FunctionName", "QueueName", "StreamName"))
    return check


def _read_by_get_records(ev: Evaluator, dims: dict) -> bool:
    stream_arn = f"arn:aws:kinesis:us-east-1:123456789012:stream/{dims['StreamName']}"
    readers = [ev.eval(r["Properties"]) for k, r in ev.resources.items() if ev.enabled(k) and
               r["Type"] in ("AWS::Lambda::EventSourceMapping", "AWS::KinesisFirehose::DeliveryStream")]
    return any(stream_arn in (str(p.get("EventSourceArn")), str(p.get("KinesisStreamSourceConfiguration", {}).get("KinesisStreamARN")))
               for p in readers)


def _read_by_consumer(ev: Evaluator, dims: dict) -> bool:
    consumers = [k for k, r in ev.resources.items() if r["Type"] == "AWS::Kinesis::StreamConsumer" and ev.enabled(k)
                 and ev.physical_name(k) == dims["ConsumerName"]]
    return bool(consumers) and any(str(ev.eval(r["Properties"].get("EventSourceArn"))) == ev.getatt(consumers[0], "ConsumerARN")
                                   for k, r in ev.resources.items()
                                   if r["Type"] == "AWS::Lambda::EventSourceMapping" and ev.enabled(k))


def _lambda_stream_reader(ev: Evaluator, dims: dict) -> bool:
    return _ours("AWS::Serverless::Function")(ev, dims) and any(
        ev.resources[k]["Type"] == "AWS::Lambda::EventSourceMapping" and ev.enabled(k)
        for k in ev.resources)


def _the_named_cluster(ev: Evaluator, dims: dict) -> bool:
    return dims.get("JobFlowId") == ev.params["EmrClusterId"] != ""


def _published_by_your_flink_job(ev: Evaluator, dims: dict) -> bool:
    want = {ev.params["FlinkLagMetricDimensionName"]: ev.params["FlinkLagMetricDimensionValue"]}
    return ev.params["FlinkLagMetricNamespace"] != "" and dims == {k: v for k, v in want.items() if k}


def _emitted_by_a_function(metric: str, dims: dict) -> bool:
    """One of our functions' EMF metrics, with exactly these dimensions (service among them)."""
    return any(m.name == metric and m.service == dims.get("service") and m.dimensions == frozenset(dims)
               for m in emitted())


# (namespace, metric, dimension names) -> who emits it, in the configuration being checked.
EMITTERS = {
    ("AWS/Lambda", "Errors", frozenset({"FunctionName"})): _ours("AWS::Serverless::Function"),
    ("AWS/Lambda", "Throttles", frozenset({"FunctionName"})): _ours("AWS::Serverless::Function"),
    ("AWS/Lambda", "IteratorAge", frozenset({"FunctionName"})): _lambda_stream_reader,
    ("AWS/SQS", "ApproximateNumberOfMessagesVisible", frozenset({"QueueName"})): _ours("AWS::SQS::Queue"),
    ("AWS/Kinesis", "WriteProvisionedThroughputExceeded", frozenset({"StreamName"})): _ours("AWS::Kinesis::Stream"),
    ("AWS/Kinesis", "GetRecords.IteratorAgeMilliseconds", frozenset({"StreamName"})): _read_by_get_records,
    ("AWS/Kinesis", "SubscribeToShardEvent.MillisBehindLatest", frozenset({"StreamName", "ConsumerName"})): _read_by_consumer,
    ("AWS/ElasticMapReduce", "YARNMemoryAvailablePercentage", frozenset({"JobFlowId"})): _the_named_cluster,
    ("AWS/ElasticMapReduce", "ContainerPendingRatio", frozenset({"JobFlowId"})): _the_named_cluster,
}


@pytest.mark.parametrize("label", list(PARAMETER_SETS) + ["polling"])
def test_every_alarm_watches_a_metric_something_deployed_emits(label):
    params = {"EnrichEnhancedFanOut": "false"} if label == "polling" else PARAMETER_SETS[label]
    ev = evaluator(params, template=RAW)
    checked = 0
    for logical, res in ev.resources.items():
        if res["Type"] != "AWS::CloudWatch::Alarm" or not ev.enabled(logical):
            continue
        p = ev.eval(res["Properties"])
        dims = {d["Name"]: str(d["Value"]) for d in p.get("Dimensions", [])}
        if p["Namespace"] == ev.params["FlinkLagMetricNamespace"]:
            emitted = _published_by_your_flink_job(ev, dims)
        elif p["Namespace"] == emf_namespace():
            emitted = _emitted_by_a_function(p["MetricName"], dims)
        else:
            emitter = EMITTERS.get((p["Namespace"], p["MetricName"], frozenset(dims)))
            assert emitter, f"{logical}: no known emitter of {p['Namespace']} {p['MetricName']} {sorted(dims)}"
            emitted = emitter(ev, dims)
        assert emitted, f"{logical} watches {p['MetricName']} {dims}, which nothing deployed emits ({label})"
        checked += 1
    assert checked >= 10


# ---------------------------------------------------------------- 9: failures reach a person


def _matches(pattern, event) -> bool:
    for key, want in pattern.items():
        if key not in event:
            return False
        got = event[key]
        if isinstance(want, dict):
            if not isinstance(got, dict) or not _matches(want, got):
                return False
            continue
        values = got if isinstance(got, list) else [got]
        if not any(_value_matches(w, v) for w in want for v in values):
            return False
    return True


def _value_matches(want, got) -> bool:
    if isinstance(want, dict) and "prefix" in want:
        return isinstance(got, str) and got.startswith(want["prefix"])
    return want == got


def test_every_async_function_failure_reaches_a_person():
    ev = evaluator({"ExistingAlarmTopicArn": "arn:aws:sns:us-east-1:123456789012:t"})
    sample = json.loads((ROOT / "events/alerts/lambda-destination-failure.json").read_text())
    rules = [ev.eval(r["Properties"]) for k, r in ev.resources.items() if r["Type"] == "AWS::Events::Rule" and ev.enabled(k)]
    alerts_arn = ev.getatt("AlertsFunction", "Arn")
    checked = 0
    for logical, res in ev.resources.items():
        if res["Type"] != "AWS::Lambda::EventInvokeConfig":
            continue
        props = ev.eval(res["Properties"])
        fn = next(f for f in FUNCTIONS if ev.physical_name(f) == props["FunctionName"])
        dest = str(props["DestinationConfig"]["OnFailure"]["Destination"])
        if fn == "AlertsFunction":
            # Its own failures bypass it: their queue's alarm notifies the topic directly.
            queue = next(k for k, r in ev.resources.items() if r["Type"] == "AWS::SQS::Queue" and ev.getatt(k, "Arn") == dest)
            alarm = ev.eval(ev.resources["AlertsDeadLettersAlarm"]["Properties"])
            assert alarm["Dimensions"][0]["Value"] == ev.physical_name(queue) and alarm["AlarmActions"]
        else:
            assert dest.endswith(":event-bus/default"), f"{fn}'s failures go to {dest}, which no person watches"
            event = json.loads(json.dumps(sample).replace("streamops-enrich", ev.physical_name(fn)))
            routed = [r for r in rules if _matches(r["EventPattern"], event)
                      and any(t["Arn"] == alerts_arn for t in r["Targets"])]
            assert routed, f"no rule takes {fn}'s failure record to the alerts function"
        checked += 1
    assert checked == len(FUNCTIONS) - 1  # enrich is invoked by its mappings only


def test_the_scalers_decisions_reach_this_stacks_alerts_function_only():
    ev = evaluator({})
    rules = [ev.eval(r["Properties"]) for k, r in ev.resources.items() if r["Type"] == "AWS::Events::Rule" and ev.enabled(k)]
    alerts_arn = ev.getatt("AlertsFunction", "Arn")
    event = json.loads((ROOT / "events/alerts/scaler-decision-scaled.json").read_text())
    event["detail"]["function"] = ev.physical_name("ScalerFunction")
    routed = [r for r in rules if _matches(r["EventPattern"], event) and any(t["Arn"] == alerts_arn for t in r["Targets"])]
    assert len(routed) == 1, "no rule (or more than one) takes the scaler's decisions to the alerts function"
    assert routed[0].get("State", "ENABLED") == "ENABLED"
    other = json.loads(json.dumps(event))
    other["detail"]["function"] = evaluator({}, stack="streamops-dev").physical_name("ScalerFunction")
    assert not any(_matches(r["EventPattern"], other) for r in routed), "another stack's scaler reaches this alerts function"
    env = evaluator({}, template=RAW).functions()["ScalerFunction"]["env"]
    assert "SCALER_ALERTS_TOPIC_ARN" not in env, "the scaler publishes through alerts, not to the topic"


def test_the_iceberg_maintenance_events_reach_this_stacks_alerts_function_only():
    ev = evaluator({})
    rules = [ev.eval(r["Properties"]) for k, r in ev.resources.items() if r["Type"] == "AWS::Events::Rule" and ev.enabled(k)]
    alerts_arn = ev.getatt("AlertsFunction", "Arn")
    event = json.loads((ROOT / "events/alerts/partitions-maintenance-failed.json").read_text())
    event["detail"]["function"] = ev.physical_name("PartitionsFunction")
    routed = [r for r in rules if _matches(r["EventPattern"], event) and any(t["Arn"] == alerts_arn for t in r["Targets"])]
    assert len(routed) == 1, "no rule (or more than one) takes partitions' maintenance events to the alerts function"
    other = json.loads(json.dumps(event))
    other["detail"]["function"] = evaluator({}, stack="streamops-dev").physical_name("PartitionsFunction")
    assert not any(_matches(r["EventPattern"], other) for r in routed), "another stack's partitions reaches this alerts function"


def test_the_iceberg_option_maintains_the_table_firehose_writes():
    ev = evaluator({"EnrichedIcebergTable": "true", "IcebergMaintenanceRate": "rate(6 hours)"}, template=RAW)
    tables = json.loads(ev.functions()["PartitionsFunction"]["env"]["PARTITIONS_TABLES"])
    (iceberg,) = [t for t in tables if t.get("format") == "iceberg"]
    glue = ev.eval(ev.resources["PartitionsEnrichedIcebergTable"]["Properties"])
    assert glue["OpenTableFormatInput"]["IcebergInput"]["MetadataOperation"] == "CREATE"
    assert iceberg["table"] == glue["TableInput"]["Name"]
    assert f"s3://{iceberg['bucket']}/{iceberg['prefix']}" == glue["TableInput"]["StorageDescriptor"]["Location"]
    assert iceberg["optimize_where"]["column"] in [k["Name"] for k in glue["TableInput"]["PartitionKeys"]]
    stream = ev.eval(ev.resources["EnrichedIcebergDeliveryStream"]["Properties"])
    (dest,) = stream["IcebergDestinationConfiguration"]["DestinationTableConfigurationList"]
    assert (dest["DestinationTableName"], dest["DestinationDatabaseName"]) == (iceberg["table"], iceberg["database"])
    schedule = ev.eval(ev.resources["IcebergMaintenanceSchedule"]["Properties"])
    assert schedule["ScheduleExpression"] == "rate(6 hours)"
    assert json.loads(schedule["Target"]["Input"]) == {"command": "maintain", "dry_run": False}
    assert schedule["Target"]["Arn"] == ev.getatt("PartitionsFunction", "Arn")
    off = evaluator({}, template=RAW)
    assert not off.enabled("IcebergMaintenanceSchedule") and not off.enabled("EnrichedIcebergDeliveryStream")
    assert all(t.get("format") != "iceberg" for t in json.loads(off.functions()["PartitionsFunction"]["env"]["PARTITIONS_TABLES"]))
    assert not off.functions()["PartitionsFunction"]["env"].get("PARTITIONS_MAINTENANCE_FOLLOW_UP")


def test_maintenance_follow_ups_invoke_this_function_with_the_schedule_role_under_the_granted_names():
    ev = evaluator({"EnrichedIcebergTable": "true"}, template=RAW)
    follow_up = json.loads(ev.functions()["PartitionsFunction"]["env"]["PARTITIONS_MAINTENANCE_FOLLOW_UP"])
    assert follow_up["target_arn"] == ev.getatt("PartitionsFunction", "Arn")
    assert follow_up["role_arn"] == ev.getatt("IcebergMaintenanceScheduleRole", "Arn")
    assert follow_up["dead_letter_arn"] == ev.getatt("PartitionsDeadLetterQueue", "Arn")
    grants = granted(evaluator({"EnrichedIcebergTable": "true"}), "PartitionsFunction")
    (schedules,) = grants["scheduler:CreateSchedule"]
    name = follow_up["name_prefix"] + "0123456789ab"
    assert schedules.endswith("schedule/default/" + follow_up["name_prefix"] + "*")
    assert re.fullmatch(r"[0-9A-Za-z_.-]{1,64}", name), name
    assert grants["iam:PassRole"] == {follow_up["role_arn"]}
    # The role may invoke exactly the function the schedules target.
    role = ev.eval(ev.resources["IcebergMaintenanceScheduleRole"]["Properties"])
    invoke = [st for p in role["Policies"] for st in p["PolicyDocument"]["Statement"] if st["Action"] == "lambda:InvokeFunction"]
    assert [st["Resource"] for st in invoke] == [follow_up["target_arn"]]


# ---------------------------------------------------------------- 13: the key policy

# Service principals whose KMS requests for this stack's deliveries carry aws:SourceAccount
# (AWS documentation on encrypted SNS topics and SQS queues): conditioning the others refuses
# every delivery without an error anyone sees.
CARRY_SOURCE_ACCOUNT = {"cloudwatch.amazonaws.com": True, "sns.amazonaws.com": True,
                        "events.amazonaws.com": False, "s3.amazonaws.com": False}


def test_key_policy_conditions_only_services_that_carry_them():
    ev = evaluator({})
    policy = ev.eval(ev.resources["StreamopsKey"]["Properties"]["KeyPolicy"])
    seen = set()
    for s in policy["Statement"]:
        services = _listed(s.get("Principal", {}).get("Service", []))
        conditioned = "aws:SourceAccount" in json.dumps(s.get("Condition", {})) or "aws:SourceArn" in json.dumps(s.get("Condition", {}))
        for svc in services:
            if svc in CARRY_SOURCE_ACCOUNT:
                seen.add(svc)
                assert conditioned == CARRY_SOURCE_ACCOUNT[svc], f"{svc}: source condition {conditioned}, documented {CARRY_SOURCE_ACCOUNT[svc]}"
    assert seen == set(CARRY_SOURCE_ACCOUNT)


# ---------------------------------------------------------------- what operators attach


def test_operators_get_attachable_policies_as_outputs():
    ev = evaluator({})
    out = RAW["Outputs"]
    for policy, output in [("RawStreamProducerPolicy", "RawStreamProducerPolicyArn"), ("FlinkOnEmrPolicy", "FlinkOnEmrPolicyArn")]:
        assert ev.resources[policy]["Type"] == "AWS::IAM::ManagedPolicy"
        assert "Export" in out[output]
    producer = {a for s in ev.eval(ev.resources["RawStreamProducerPolicy"]["Properties"])["PolicyDocument"]["Statement"]
                for a in _listed(s["Action"])}
    assert {"kinesis:PutRecords", "kms:GenerateDataKey"} <= producer
    flink = json.dumps(ev.eval(ev.resources["FlinkOnEmrPolicy"]["Properties"]))
    for needed_part in ["kinesis:GetRecords", "s3:PutObject", "kms:Decrypt", ev.getatt("CheckpointBucket", "Arn")]:
        assert needed_part in flink


def test_checkpoint_health_runs_on_its_schedule_alarms_on_age_and_reaches_this_stacks_alerts_only():
    for minutes, period in [("5", 300), ("10", 600), ("15", 900)]:
        ev = evaluator({"CheckpointHealthMinutes": minutes})
        schedule = ev.eval(ev.resources["CheckpointsHealthSchedule"]["Properties"])
        assert schedule["ScheduleExpression"] == f"rate({minutes} minutes)"
        assert schedule["Target"]["Arn"] == ev.getatt("CheckpointsFunction", "Arn")
        assert json.loads(schedule["Target"]["Input"]) == {"command": "health"}
        alarm = ev.eval(ev.resources["CheckpointAgeAlarm"]["Properties"])
        assert alarm["Period"] == period, "one evaluation per schedule period"
    assert ev.enabled("CheckpointsHealthSchedule"), "on by default"
    alarm = evaluator({"CheckpointAgeAlarmSeconds": "1200"}).eval(RAW["Resources"]["CheckpointAgeAlarm"]["Properties"])
    assert (alarm["MetricName"], alarm["Statistic"], alarm["Threshold"]) == ("CheckpointAgeSeconds", "Maximum", "1200")
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "checkpoints"}], "the series without the pipeline"
    ev = evaluator({})
    rules = [ev.eval(r["Properties"]) for k, r in ev.resources.items() if r["Type"] == "AWS::Events::Rule" and ev.enabled(k)]
    alerts_arn = ev.getatt("AlertsFunction", "Arn")
    event = json.loads((ROOT / "events/alerts/checkpoint-health-late.json").read_text())
    event["detail"]["function"] = ev.physical_name("CheckpointsFunction")
    routed = [r for r in rules if _matches(r["EventPattern"], event) and any(t["Arn"] == alerts_arn for t in r["Targets"])]
    assert len(routed) == 1, "no rule (or more than one) takes the health events to the alerts function"
    other = json.loads(json.dumps(event))
    other["detail"]["function"] = evaluator({}, stack="streamops-dev").physical_name("CheckpointsFunction")
    assert not any(_matches(r["EventPattern"], other) for r in routed), "another stack's checkpoints reaches this alerts function"


def test_scheduled_savepoints_run_for_one_pipeline_name_their_slot_and_reach_this_stacks_alerts_only():
    ev = evaluator({})
    assert not ev.enabled("CheckpointsSavepointSchedule") and not ev.enabled("CheckpointsSavepointScheduleRole"), "off by default"
    params = {"ScheduledSavepointPipeline": "clicks", "SavepointScheduleExpression": "cron(40 */6 * * ? *)",
              "FlinkRestEndpoint": "http://10.0.3.7:8081", "SavepointFormat": "native"}
    ev = evaluator(params)
    assert ev.enabled("CheckpointsSavepointSchedule")
    schedule = ev.eval(ev.resources["CheckpointsSavepointSchedule"]["Properties"])
    assert schedule["ScheduleExpression"] == "cron(40 */6 * * ? *)"
    target = schedule["Target"]
    assert target["Arn"] == ev.getatt("CheckpointsFunction", "Arn")
    assert target["DeadLetterConfig"]["Arn"] == ev.getatt("CheckpointsDeadLetterQueue", "Arn")
    # Scheduler's context attributes stay placeholders in the JSON: the same slot on a retry.
    assert json.loads(target["Input"]) == {
        "command": "savepoint", "pipeline": "clicks", "dry_run": False,
        "schedule_time": "<aws.scheduler.scheduled-time>", "requested_by": "<aws.scheduler.schedule-arn>"}
    role = ev.eval(ev.resources["CheckpointsSavepointScheduleRole"]["Properties"])
    statements = role["Policies"][0]["PolicyDocument"]["Statement"]
    invoke = [s for s in statements if s["Sid"] == "Invoke"][0]
    assert (invoke["Action"], invoke["Resource"]) == ("lambda:InvokeFunction", ev.getatt("CheckpointsFunction", "Arn"))
    assert {a for s in statements for a in _listed(s["Action"])} == {
        "lambda:InvokeFunction", "sqs:SendMessage", "kms:Decrypt", "kms:GenerateDataKey"}
    env = ev.eval(ev.resources["CheckpointsFunction"]["Properties"])["Environment"]["Variables"]
    assert env["CHECKPOINTS_SAVEPOINT_FORMAT"] == "native"
    assert env["CHECKPOINTS_SAVEPOINT_TARGET"] == f"s3://{ev.physical_name('CheckpointBucket')}/flink/savepoints/"
    rules = [ev.eval(r["Properties"]) for k, r in ev.resources.items() if r["Type"] == "AWS::Events::Rule" and ev.enabled(k)]
    alerts_arn = ev.getatt("AlertsFunction", "Arn")
    event = json.loads((ROOT / "events/alerts/savepoint-failed.json").read_text())
    event["detail"]["function"] = ev.physical_name("CheckpointsFunction")
    routed = [r for r in rules if _matches(r["EventPattern"], event) and any(t["Arn"] == alerts_arn for t in r["Targets"])]
    assert len(routed) == 1, "no rule (or more than one) takes the savepoint events to the alerts function"
    other = json.loads(json.dumps(event))
    other["detail"]["function"] = evaluator({}, stack="streamops-dev").physical_name("CheckpointsFunction")
    assert not any(_matches(r["EventPattern"], other) for r in routed), "another stack's checkpoints reaches this alerts function"
