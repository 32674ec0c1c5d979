"""The fault proxy itself, against moto through boto3: each fault kind reaches the client as
the real service would send it, scripts fire exactly where they say, and `lost` really applies
the request on the server before dropping the answer."""

from __future__ import annotations

import json
import urllib.request

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError, ReadTimeoutError

from fault_proxy import FaultProxy, parse_rules


@pytest.fixture
def proxy(moto):
    p = FaultProxy(moto.endpoint, seed=3)
    yield p
    p.stop()


def client(proxy, service, **cfg):
    return boto3.client(service, endpoint_url=proxy.endpoint, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing",
                        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}, s3={"addressing_style": "path"},
                                      read_timeout=cfg.get("read_timeout", 30)))


@pytest.fixture
def table(moto):
    ddb = moto.client("dynamodb")
    name = "fault-proxy-t"
    try:
        ddb.create_table(TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    except ClientError:
        pass
    return name


def test_throttle_is_the_services_own_throttling_error(proxy, table, moto):
    proxy.set_rules([{"service": "dynamodb", "operation": "PutItem", "fault": "throttle", "times": 1}])
    ddb = client(proxy, "dynamodb")
    with pytest.raises(ClientError) as e:
        ddb.put_item(TableName=table, Item={"pk": {"S": "a"}})
    assert e.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
    assert "Item" not in moto.client("dynamodb").get_item(TableName=table, Key={"pk": {"S": "a"}})
    ddb.put_item(TableName=table, Item={"pk": {"S": "a"}})  # the script fired once only
    s3 = client(proxy, "s3")
    s3.create_bucket(Bucket="fp-bucket")
    proxy.set_rules([{"service": "s3", "operation": "PutObject", "fault": "throttle", "times": 1}])
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket="fp-bucket", Key="k", Body=b"x")
    assert e.value.response["Error"]["Code"] == "SlowDown"
    sns = client(proxy, "sns")
    proxy.set_rules([{"service": "sns", "operation": "CreateTopic", "fault": "throttle", "times": 1}])
    with pytest.raises(ClientError) as e:
        sns.create_topic(Name="fp-topic")
    assert e.value.response["Error"]["Code"] == "Throttling"


def test_lost_answer_applied_the_write(proxy, table, moto):
    proxy.set_rules([{"service": "dynamodb", "operation": "PutItem", "fault": "lost", "times": 1}])
    with pytest.raises((ConnectionClosedError, EndpointConnectionError)):
        client(proxy, "dynamodb").put_item(TableName=table, Item={"pk": {"S": "lost"}})
    assert moto.client("dynamodb").get_item(TableName=table, Key={"pk": {"S": "lost"}})["Item"]["pk"]["S"] == "lost"


def test_reset_does_not_reach_the_server(proxy, table, moto):
    proxy.set_rules([{"service": "dynamodb", "operation": "PutItem", "fault": "reset", "times": 1}])
    with pytest.raises((ConnectionClosedError, EndpointConnectionError)):
        client(proxy, "dynamodb").put_item(TableName=table, Item={"pk": {"S": "reset"}})
    assert "Item" not in moto.client("dynamodb").get_item(TableName=table, Key={"pk": {"S": "reset"}})


def test_5xx_and_slow(proxy, table):
    ddb = client(proxy, "dynamodb", read_timeout=1)
    proxy.set_rules([{"service": "dynamodb", "operation": "GetItem", "fault": "http503", "times": 1},
                     {"service": "dynamodb", "operation": "DescribeTable", "fault": "slow", "delay_s": 2, "times": 1}])
    with pytest.raises(ClientError) as e:
        ddb.get_item(TableName=table, Key={"pk": {"S": "x"}})
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    with pytest.raises(ReadTimeoutError):
        ddb.describe_table(TableName=table)


def test_script_after_and_rates_are_counted(proxy, table):
    ddb = client(proxy, "dynamodb")
    proxy.set_rules([{"service": "dynamodb", "operation": "GetItem", "fault": "http500", "after": 2, "times": 1}])
    outcomes = []
    for _ in range(4):
        try:
            ddb.get_item(TableName=table, Key={"pk": {"S": "x"}})
            outcomes.append("ok")
        except ClientError:
            outcomes.append("fault")
    assert outcomes == ["ok", "ok", "fault", "ok"]
    proxy.set_rules([{"service": "*", "operation": "*", "fault": "http500", "rate": 0.5}], seed=11)
    faults = 0
    for _ in range(200):
        try:
            ddb.get_item(TableName=table, Key={"pk": {"S": "x"}})
        except ClientError:
            faults += 1
    assert 60 < faults < 140
    assert proxy.injected_total("dynamodb") == faults + 1
    seen = {(e["service"], e["operation"]): e["count"] for e in proxy.stats()["seen"]}
    assert seen[("dynamodb", "GetItem")] == 204


def test_rules_are_validated_over_http(proxy):
    with pytest.raises(ValueError, match="rule 0: fault must be one of"):
        parse_rules({"rules": [{"fault": "explode", "rate": 1}]})
    with pytest.raises(ValueError, match="exactly one of rate"):
        parse_rules({"rules": [{"fault": "reset"}]})
    req = urllib.request.Request(proxy.endpoint + "/__faults__/rules", method="PUT",
                                 data=json.dumps({"rules": [{"fault": "lost", "rate": 2}]}).encode())
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req)
    assert e.value.code == 400 and b"rate must be a number in [0, 1]" in e.value.read()
    ok = urllib.request.Request(proxy.endpoint + "/__faults__/rules", method="PUT",
                                data=json.dumps({"rules": [{"fault": "lost", "times": 1, "operation": "Nope"}]}).encode())
    assert json.loads(urllib.request.urlopen(ok).read()) == {"ok": True}
    assert proxy.stats()["rules"][0]["operation"] == "Nope"


def test_partial_put_records_half_succeeds(proxy, moto):
    kin = moto.client("kinesis")
    kin.create_stream(StreamName="fp-partial", ShardCount=1)
    kin.get_waiter("stream_exists").wait(StreamName="fp-partial", WaiterConfig={"Delay": 0.2})
    proxy.set_rules([{"service": "kinesis", "operation": "PutRecords", "fault": "partial", "fraction": 0.5, "times": 1}])
    out = client(proxy, "kinesis").put_records(
        StreamName="fp-partial", Records=[{"Data": f"r{i}".encode(), "PartitionKey": "k"} for i in range(40)])
    failed = [i for i, r in enumerate(out["Records"]) if r.get("ErrorCode")]
    assert 0 < out["FailedRecordCount"] == len(failed) < 40
    assert all(out["Records"][i]["ErrorCode"] == "ProvisionedThroughputExceededException" for i in failed)
    it = kin.get_shard_iterator(StreamName="fp-partial", ShardId="shardId-000000000000",
                                ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    stored = [r["Data"] for r in kin.get_records(ShardIterator=it)["Records"]]
    assert stored == [f"r{i}".encode() for i in range(40) if i not in failed]
    with pytest.raises(ValueError, match="partial is supported for"):
        parse_rules({"rules": [{"service": "s3", "operation": "PutObject", "fault": "partial", "rate": 1}]})
