"""moto server with the EMR actions the scaler needs and moto 5 does not implement.

moto models EMR instance groups but not instance fleets (ListInstanceFleets answers HTTP 500)
nor managed scaling (GetManagedScalingPolicy). This module adds both to moto's EMR responder,
in memory and per cluster, following the EMR API's shapes, then runs moto's own server:

    python -m scripts.stack.moto_ext -H 127.0.0.1 -p 5000

It is an emulator extension (a mock of those five actions), not AWS: a fleet resize completes
at once, and fleets are created only through AddInstanceFleet (RunJobFlow ignores them).
Used by the local demo and by the Rust integration tests (tests/support).

It also keeps moto's SQS counting fast with thousands of messages in a queue (same answers),
and makes Kinesis' record numbering atomic (moto could give two records one number).

For the local stack's IAM enforcement it also checks signatures of form-encoded requests over
the bytes sent (check_signatures_over_the_sent_body) and, with STREAMOPS_MOTO_IAM_LOG=<file>,
logs every authorization decision there (log_iam_decisions).
"""

from __future__ import annotations

import itertools
import sys
import threading
from typing import Any

import moto.cloudformation.parsing as cfn_parsing
from moto.cloudformation.models import Stack as FakeStack
from moto.awslambda.models import EventSourceMapping, LambdaBackend
from moto.core.common_models import CloudFormationModel
from moto.core.exceptions import JsonRESTError as RESTError
from moto.core.responses import ActionResult, EmptyResult
from moto.emr.exceptions import ValidationException
from moto.emr.responses import ElasticMapReduceResponse
from moto.kinesis.models import kinesis_backends

# (account, region, cluster id) -> {fleet id: fleet} / managed scaling policy
FLEETS: dict[tuple[str, str, str], dict[str, dict[str, Any]]] = {}
MANAGED: dict[tuple[str, str, str], dict[str, Any]] = {}
_ids = itertools.count(1)


def _key(resp: ElasticMapReduceResponse) -> tuple[str, str, str]:
    cluster_id = resp._get_param("ClusterId")
    # Raises the EMR error for an unknown cluster, as AWS does.
    resp.backend.describe_cluster(cluster_id)
    return (resp.current_account, resp.region, cluster_id)


def add_instance_fleet(self: ElasticMapReduceResponse) -> ActionResult:
    key = _key(self)
    spec = self._get_param("InstanceFleet") or {}
    fleet_type = spec.get("InstanceFleetType")
    if fleet_type not in ("MASTER", "CORE", "TASK"):
        raise ValidationException("InstanceFleetType must be MASTER, CORE or TASK")
    fleet_id = f"if-{next(_ids):013d}"
    on_demand = int(spec.get("TargetOnDemandCapacity", 0))
    spot = int(spec.get("TargetSpotCapacity", 0))
    FLEETS.setdefault(key, {})[fleet_id] = {
        "Id": fleet_id,
        "Name": spec.get("Name", fleet_type.lower()),
        "Status": {"State": "RUNNING", "StateChangeReason": {}},
        "InstanceFleetType": fleet_type,
        "TargetOnDemandCapacity": on_demand,
        "TargetSpotCapacity": spot,
        "ProvisionedOnDemandCapacity": on_demand,
        "ProvisionedSpotCapacity": spot,
        "InstanceTypeSpecifications": [
            {"InstanceType": c.get("InstanceType", "m5.xlarge"), "WeightedCapacity": int(c.get("WeightedCapacity", 1))}
            for c in spec.get("InstanceTypeConfigs", [])
        ],
    }
    return ActionResult({"ClusterId": key[2], "InstanceFleetId": fleet_id})


def list_instance_fleets(self: ElasticMapReduceResponse) -> ActionResult:
    return ActionResult({"InstanceFleets": list(FLEETS.get(_key(self), {}).values())})


def modify_instance_fleet(self: ElasticMapReduceResponse) -> ActionResult:
    key = _key(self)
    spec = self._get_param("InstanceFleet") or {}
    fleet = FLEETS.get(key, {}).get(spec.get("InstanceFleetId", ""))
    if fleet is None:
        raise ValidationException(f"instance fleet {spec.get('InstanceFleetId')} not found in {key[2]}")
    for target, provisioned in (("TargetOnDemandCapacity", "ProvisionedOnDemandCapacity"),
                                ("TargetSpotCapacity", "ProvisionedSpotCapacity")):
        if target in spec:
            fleet[target] = fleet[provisioned] = int(spec[target])
    return EmptyResult()


def put_managed_scaling_policy(self: ElasticMapReduceResponse) -> ActionResult:
    MANAGED[_key(self)] = self._get_param("ManagedScalingPolicy") or {}
    return EmptyResult()


def get_managed_scaling_policy(self: ElasticMapReduceResponse) -> ActionResult:
    policy = MANAGED.get(_key(self))
    return ActionResult({"ManagedScalingPolicy": policy} if policy else {})


def remove_managed_scaling_policy(self: ElasticMapReduceResponse) -> ActionResult:
    MANAGED.pop(_key(self), None)
    return EmptyResult()


# CloudFormation drops a list element that resolves to AWS::NoValue (e.g. a policy statement
# behind Fn::If); moto keeps it as None and then fails on it. Only the list case is changed.
_moto_clean_json = cfn_parsing.clean_json


def _clean_json_dropping_no_value(resource_json: Any, resources_map: Any) -> Any:
    if isinstance(resource_json, list):
        cleaned = (_clean_json_dropping_no_value(v, resources_map) for v in resource_json)
        return [v for v in cleaned if v is not None]
    return _moto_clean_json(resource_json, resources_map)


cfn_parsing.clean_json = _clean_json_dropping_no_value

# moto resolves a stack's outputs whenever it is described, and resolving a reference to a
# resource that is gone creates it again: describing a deleted stack (DescribeStacks by stack id)
# brought its streams back, and the next create of that stack name failed. A deleted stack has
# no outputs to resolve.
_moto_outputs = FakeStack.outputs


def _outputs_unless_deleted(self: FakeStack) -> Any:
    return None if self.status == "DELETE_COMPLETE" else _moto_outputs.fget(self)


FakeStack.outputs = property(_outputs_unless_deleted)


# moto's Lambda accepts only SQS, DynamoDB and Kinesis stream ARNs as event sources; AWS also
# takes an enhanced fan-out consumer's ARN and an MSK cluster's. Those mappings are recorded (moto
# never polls a source anyway), after checking the consumer exists.
_moto_create_esm = LambdaBackend.create_event_source_mapping


def _create_esm_for_consumers_and_msk(self: LambdaBackend, spec: dict[str, Any]) -> Any:
    arn = spec.get("EventSourceArn") or ""
    if ":kinesis:" in arn and "/consumer/" in arn:
        stream_arn = arn.split("/consumer/")[0]
        stream = kinesis_backends[self.account_id][self.region_name]._find_stream_by_arn(stream_arn)
        if not any(c.consumer_arn == arn for c in stream.consumers):
            raise RESTError("ResourceNotFoundException", f"no consumer {arn}")
    elif ":kafka:" not in arn:
        return _moto_create_esm(self, spec)
    func = self._lambdas.get_function_by_name_or_arn_with_qualifier(spec.get("FunctionName", ""))
    spec.update({"RegionName": self.region_name, "AccountId": self.account_id, "FunctionArn": func.function_arn})
    # moto's mapping model knows no Kafka source: build it as a Kinesis one, then set the ARN.
    esm = EventSourceMapping({**spec, "EventSourceArn": stream_arn_for_model(arn)})
    esm._event_source_arn = arn
    self._event_source_mappings[esm.uuid] = esm
    return esm


def stream_arn_for_model(arn: str) -> str:
    if ":kafka:" in arn:
        region, account = arn.split(":")[3:5]
        return f"arn:aws:kinesis:{region}:{account}:stream/msk-source"
    return arn


LambdaBackend.create_event_source_mapping = _create_esm_for_consumers_and_msk


class KinesisStreamConsumer(CloudFormationModel):
    """AWS::Kinesis::StreamConsumer, which moto's CloudFormation lacks (the enhanced fan-out
    consumer the template creates by default), on moto's own Kinesis consumers."""

    # moto files each model under the service its module is named after (this file may run as __main__).
    __module__ = "moto.kinesis.streamops_ext"

    def __init__(self, consumer: Any, account_id: str, region_name: str):
        self.consumer, self.account_id, self.region_name = consumer, account_id, region_name

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Kinesis::StreamConsumer"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "ConsumerName"

    @property
    def physical_resource_id(self) -> str:
        return self.consumer.consumer_arn

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("ConsumerARN", "ConsumerName", "StreamARN", "ConsumerStatus", "ConsumerCreationTimestamp")

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        c = self.consumer
        return {"ConsumerARN": c.consumer_arn, "ConsumerName": c.consumer_name, "StreamARN": c.stream_arn,
                "ConsumerStatus": "ACTIVE", "ConsumerCreationTimestamp": str(c.created)}[attribute_name]

    @classmethod
    def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: Any, account_id: str,
                                        region_name: str, **kwargs: Any) -> "KinesisStreamConsumer":
        props = cloudformation_json["Properties"]
        backend = kinesis_backends[account_id][region_name]
        consumer = backend.register_stream_consumer(props["StreamARN"], props["ConsumerName"])
        return cls(consumer, account_id, region_name)

    def delete(self, account_id: str, region_name: str) -> None:
        kinesis_backends[account_id][region_name].deregister_stream_consumer(
            self.consumer.stream_arn, self.consumer.consumer_name, self.consumer.consumer_arn)


for _f in (add_instance_fleet, list_instance_fleets, modify_instance_fleet,
           put_managed_scaling_policy, get_managed_scaling_policy, remove_managed_scaling_policy):
    setattr(ElasticMapReduceResponse, _f.__name__, _f)


# moto's Kinesis shard numbers a record as "highest sequence number + 1" and stores it under
# that number, with no lock: two PutRecords calls at once (one per shard poller, as Lambda
# runs them) can take the same number, and one record silently replaces the other (seen:
# 78 of 20,000 records gone with 4 concurrent writers). AWS never does this, so the soak runs
# would count moto's losses as ours: numbering and storing are made one step.
from moto.kinesis.models import Shard as _KinesisShard  # noqa: E402

_kinesis_put_lock = threading.Lock()
_moto_shard_put_record = _KinesisShard.put_record


def _shard_put_record_atomically(self: _KinesisShard, *args: Any, **kwargs: Any) -> str:
    with _kinesis_put_lock:
        return _moto_shard_put_record(self, *args, **kwargs)


_KinesisShard.put_record = _shard_put_record_atomically


# moto's SQS recounts the whole queue on every SendMessage (it builds the queue's attributes,
# three approximate counts, to read one FIFO flag) and on every ReceiveMessage, reading the
# clock through datetime conversions once per message for each count. With the thousands of
# messages in flight a burst of S3 notifications leaves in the partitions queue, each S3 put
# then took tens of milliseconds and the full soak could not finish. Same answers, one clock
# read per call and plain comparisons (a message is visible after `visible_at` and delayed
# before `delayed_until`, as moto's own properties define them).
from moto.core.utils import unix_time_millis as _unix_time_millis  # noqa: E402
from moto.sqs.models import Queue as _SqsQueue  # noqa: E402


def _sqs_visible_messages(self: _SqsQueue) -> list:
    now = _unix_time_millis()
    return [m for m in self._messages if now > m.visible_at and not now < m.delayed_until]


def _sqs_count_delayed(self: _SqsQueue) -> int:
    now = _unix_time_millis()
    return sum(1 for m in self._messages if now < m.delayed_until)


def _sqs_count_not_visible(self: _SqsQueue) -> int:
    now = _unix_time_millis()
    return sum(1 for m in self._messages if not now > m.visible_at)


_SqsQueue.messages = property(_sqs_visible_messages)
_SqsQueue.approximate_number_of_messages_delayed = property(_sqs_count_delayed)
_SqsQueue.approximate_number_of_messages_not_visible = property(_sqs_count_not_visible)


def check_signatures_over_the_sent_body() -> None:
    """With IAM enforced moto recomputes each request's SigV4 signature. For a form-encoded
    (AWS query protocol: SNS, SQS query, CloudWatch, ...) request it has no body left by then
    (werkzeug parsed it into the form) and signs the parsed parameters re-encoded by botocore
    instead. The Rust SDK percent-encodes some characters differently from botocore, so its SNS
    Publish calls failed with SignatureDoesNotMatch although correctly signed. This keeps the
    bytes actually received and signs those, as AWS does."""
    import io
    import threading

    from moto.iam.access_control import IAMRequestBase
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    current = threading.local()  # werkzeug serves each request on one thread
    dispatch = DomainDispatcherApplication.__call__

    def __call__(self, environ, start_response):
        current.body = None
        if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
            length = int(environ.get("CONTENT_LENGTH") or 0)
            current.body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(current.body)
        try:
            return dispatch(self, environ, start_response)
        finally:
            current.body = None

    create = IAMRequestBase._create_aws_request

    def _create_aws_request(self):
        request = create(self)
        if getattr(current, "body", None) and not self._body:
            request.data = current.body
        return request

    DomainDispatcherApplication.__call__ = __call__
    IAMRequestBase._create_aws_request = _create_aws_request


def log_iam_decisions(path: str) -> None:
    """Appends one JSON line per authorization decision moto takes (while IAM is enforced) to
    `path`: {"decision": "allow" | "deny" | "invalid-key" | "bad-signature", "principal", "action",
    "resource"}. The local stack reads it to fail on denials and to list the actions each
    function's principal really used."""
    import json
    import threading

    from moto.iam.access_control import IAMRequest, IAMRequestBase, S3IAMRequest

    lock = threading.Lock()

    def write(decision: str, req: IAMRequestBase, resource: str | None = None) -> None:
        key = getattr(req, "_access_key", None)
        line = {"decision": decision, "principal": getattr(key, "arn", None),
                "action": getattr(req, "_action", None), "resource": resource or getattr(req, "_streamops_resource", None)}
        with lock, open(path, "a") as f:
            f.write(json.dumps(line) + "\n")

    check = IAMRequestBase.check_action_permitted

    def check_action_permitted(self, resource: str) -> None:
        self._streamops_resource = resource
        check(self, resource)
        write("allow", self, resource)

    IAMRequestBase.check_action_permitted = check_action_permitted
    for cls in (IAMRequest, S3IAMRequest):
        for method, decision in (("_raise_access_denied", "deny"), ("_raise_invalid_access_key", "invalid-key"),
                                 ("_raise_signature_does_not_match", "bad-signature")):
            def wrapped(self, *args, _original=getattr(cls, method), _decision=decision):
                write(_decision, self)
                return _original(self, *args)

            setattr(cls, method, wrapped)


if __name__ == "__main__":
    import os

    check_signatures_over_the_sent_body()
    if os.environ.get("STREAMOPS_MOTO_IAM_LOG"):
        log_iam_decisions(os.environ["STREAMOPS_MOTO_IAM_LOG"])
    from moto.server import main

    main(sys.argv[1:])
