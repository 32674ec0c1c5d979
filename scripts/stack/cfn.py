"""A small CloudFormation evaluator: enough of the intrinsic functions (Ref, Sub, GetAtt, If,
Join, Select, conditions) to compute, from template.yaml itself, the physical names of the
resources and the environment each function gets. The local stack uses it so that what runs
locally is named and configured exactly as the template says."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"


class Tag:
    def __init__(self, name: str, value: Any):
        self.name, self.value = name, value

    def __repr__(self) -> str:
        return f"!{self.name} {self.value!r}"


class _Loader(yaml.SafeLoader):
    pass


def _construct(tag_name: str):
    def construct(loader: yaml.Loader, node: yaml.Node):
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if tag_name == "GetAtt":
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return Tag(tag_name, value)

    return construct


for _name in ["Ref", "Sub", "GetAtt", "If", "Join", "Select", "Split", "Equals", "Not", "And", "Or",
              "Condition", "FindInMap", "Base64", "GetAZs", "ImportValue", "Cidr"]:
    _Loader.add_constructor(f"!{_name}", _construct(_name))


def load_template(path: Path) -> dict:
    with open(path) as f:
        return yaml.load(f, Loader=_Loader)


NO_VALUE = object()

# Property that names each resource type, and how Ref / GetAtt Arn look for it.
NAME_PROPERTY = {
    "AWS::DynamoDB::Table": "TableName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::S3::Bucket": "BucketName",
    "AWS::Kinesis::Stream": "Name",
    "AWS::Serverless::Function": "FunctionName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::Glue::Database": None,
    "AWS::Athena::WorkGroup": "Name",
    "AWS::KinesisFirehose::DeliveryStream": "DeliveryStreamName",
    "AWS::KMS::Alias": "AliasName",
    "AWS::SecretsManager::Secret": "Name",
}


LOCAL_BUCKET_NAMES = {"DataBucket": "data", "CheckpointBucket": "checkpoints", "QuarantineBucket": "quarantine"}


class Evaluator:
    def __init__(self, template: dict, stack_name: str, parameters: dict | None = None,
                 region: str = REGION, account: str = ACCOUNT):
        self.t = template
        self.stack = stack_name
        self.region, self.account = region, account
        self.params = {}
        for name, spec in (template.get("Parameters") or {}).items():
            self.params[name] = str(spec.get("Default", ""))
        for k, v in (parameters or {}).items():
            if k not in self.params:
                raise KeyError(f"unknown template parameter {k!r}")
            self.params[k] = str(v)
        self.resources = template.get("Resources") or {}
        # Values learned from the real (moto) resources, e.g. queue URLs: {logical: {"Ref": .., "Arn": ..}}
        self.actual: dict[str, dict[str, str]] = {}
        self._conditions: dict[str, bool] = {}

    # ---------------------------------------------------------------- conditions
    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            self._conditions[name] = bool(self.eval((self.t.get("Conditions") or {})[name]))
        return self._conditions[name]

    def enabled(self, logical: str) -> bool:
        cond = self.resources[logical].get("Condition")
        return cond is None or self.condition(cond)

    # ---------------------------------------------------------------- names
    def physical_name(self, logical: str) -> str:
        res = self.resources[logical]
        prop = NAME_PROPERTY.get(res["Type"])
        props = res.get("Properties") or {}
        if res["Type"] == "AWS::Glue::Database":
            return str(self.eval(props["DatabaseInput"]["Name"]))
        if res["Type"] == "AWS::Kinesis::StreamConsumer":
            return str(self.eval(props["ConsumerName"]))
        if prop and prop in props:
            return str(self.eval(props[prop]))
        # A resource without a name gets one CloudFormation generates. Locally the buckets get
        # the names the sample events in events/ carry (they were fixed names once); the rest
        # <stack>-<logical id>-local, as CloudFormation's <stack>-<logical id>-<random>.
        if res["Type"] == "AWS::S3::Bucket" and logical in LOCAL_BUCKET_NAMES:
            return f"{self.stack}-{LOCAL_BUCKET_NAMES[logical]}-{self.account}-{self.region}"
        generated = f"{self.stack}-{logical}-local"
        return generated.lower() if res["Type"] == "AWS::S3::Bucket" else generated

    def ref(self, name: str) -> Any:
        pseudo = {
            "AWS::StackName": self.stack, "AWS::Region": self.region, "AWS::AccountId": self.account,
            "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com", "AWS::NoValue": NO_VALUE,
            "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{self.account}:stack/{self.stack}/local",
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.params:
            return self.params[name]
        if name in self.actual and "Ref" in self.actual[name]:
            return self.actual[name]["Ref"]
        res = self.resources[name]
        n, typ = self.physical_name(name), res["Type"]
        if typ == "AWS::SNS::Topic":
            return f"arn:aws:sns:{self.region}:{self.account}:{n}"
        if typ == "AWS::SQS::Queue":
            return f"https://sqs.{self.region}.amazonaws.com/{self.account}/{n}"
        return n

    def getatt(self, name: str, attr: str) -> str:
        if name in self.actual and attr in self.actual[name]:
            return self.actual[name][attr]
        typ = self.resources[name]["Type"]
        n = self.physical_name(name)
        arns = {
            "AWS::DynamoDB::Table": f"arn:aws:dynamodb:{self.region}:{self.account}:table/{n}",
            "AWS::SQS::Queue": f"arn:aws:sqs:{self.region}:{self.account}:{n}",
            "AWS::S3::Bucket": f"arn:aws:s3:::{n}",
            "AWS::Kinesis::Stream": f"arn:aws:kinesis:{self.region}:{self.account}:stream/{n}",
            "AWS::Serverless::Function": f"arn:aws:lambda:{self.region}:{self.account}:function:{n}",
            "AWS::Lambda::Function": f"arn:aws:lambda:{self.region}:{self.account}:function:{n}",
            "AWS::KMS::Key": f"arn:aws:kms:{self.region}:{self.account}:key/{name.lower()}",
            "AWS::SNS::Topic": f"arn:aws:sns:{self.region}:{self.account}:{n}",
            "AWS::IAM::Role": f"arn:aws:iam::{self.account}:role/{n}",
            "AWS::SecretsManager::Secret": f"arn:aws:secretsmanager:{self.region}:{self.account}:secret:{n}",
            "AWS::KinesisFirehose::DeliveryStream": f"arn:aws:firehose:{self.region}:{self.account}:deliverystream/{n}",
            # A log group's Arn attribute ends in :* (CloudFormation documents it so).
            "AWS::Logs::LogGroup": f"arn:aws:logs:{self.region}:{self.account}:log-group:{n}:*",
        }
        if attr in ("Arn", "StreamArn", "TopicArn") and typ in arns:
            return arns[typ]
        if attr == "QueueName":
            return n
        if typ == "AWS::Kinesis::StreamConsumer":
            stream = self.eval((self.resources[name].get("Properties") or {})["StreamARN"])
            return {"ConsumerARN": f"{stream}/consumer/{n}", "ConsumerName": n, "StreamARN": stream}[attr]
        if attr == "QueueUrl":
            return self.ref(name)
        raise KeyError(f"GetAtt {name}.{attr} is not supported by the local evaluator")

    # ---------------------------------------------------------------- intrinsics
    def eval(self, node: Any) -> Any:
        if isinstance(node, Tag):
            return getattr(self, f"_fn_{node.name}")(node.value)
        if isinstance(node, dict):
            if len(node) == 1:
                (k, v), = node.items()
                if k == "Ref":
                    return self.ref(v)
                if k.startswith("Fn::"):
                    return getattr(self, f"_fn_{k[4:]}")(v)
                if k == "Condition":
                    return self.condition(v)
            out = {}
            for k, v in node.items():
                ev = self.eval(v)
                if ev is not NO_VALUE:
                    out[k] = ev
            return out
        if isinstance(node, list):
            return [x for x in (self.eval(v) for v in node) if x is not NO_VALUE]
        return node

    def _fn_Ref(self, v):
        return self.ref(v)

    def _fn_GetAtt(self, v):
        name, attr = v if isinstance(v, list) else v.split(".", 1)
        return self.getatt(name, attr)

    def _fn_Sub(self, v):
        if isinstance(v, list):
            text, variables = v[0], {k: self.eval(x) for k, x in v[1].items()}
        else:
            text, variables = v, {}

        def repl(m: re.Match) -> str:
            expr = m.group(1)
            if expr.startswith("!"):
                return "${" + expr[1:] + "}"
            if expr in variables:
                return str(variables[expr])
            if "." in expr and not expr.startswith("AWS::"):
                name, attr = expr.split(".", 1)
                return str(self.getatt(name, attr))
            return str(self.ref(expr))

        return re.sub(r"\$\{([^}]+)\}", repl, text)

    def _fn_If(self, v):
        cond, a, b = v
        return self.eval(a if self.condition(cond) else b)

    def _fn_Equals(self, v):
        a, b = (self.eval(x) for x in v)
        return str(a) == str(b)

    def _fn_Not(self, v):
        return not self.eval(v[0])

    def _fn_And(self, v):
        return all(self.eval(x) for x in v)

    def _fn_Or(self, v):
        return any(self.eval(x) for x in v)

    def _fn_Condition(self, v):
        return self.condition(v)

    def _fn_Join(self, v):
        sep, items = v
        return sep.join(str(x) for x in self.eval(items))

    def _fn_Select(self, v):
        idx, items = v
        return self.eval(items)[int(self.eval(idx))]

    def _fn_Split(self, v):
        sep, text = v
        return str(self.eval(text)).split(sep)

    # ---------------------------------------------------------------- functions
    def functions(self) -> dict[str, dict]:
        """Logical id -> {"binary", "name", "env"} for every enabled function."""
        out = {}
        glob_env = (((self.t.get("Globals") or {}).get("Function") or {}).get("Environment") or {}).get("Variables") or {}
        for logical, res in self.resources.items():
            if res["Type"] != "AWS::Serverless::Function" or not self.enabled(logical):
                continue
            props = res.get("Properties") or {}
            env = dict(glob_env)
            env.update(((props.get("Environment") or {}).get("Variables")) or {})
            binary = ((res.get("Metadata") or {}).get("BuildProperties") or {}).get("Binary")
            out[logical] = {
                "binary": binary,
                "name": self.physical_name(logical),
                "env": {k: _env_str(self.eval(v)) for k, v in env.items()},
            }
        return out


def _env_str(v: Any) -> str:
    if v is NO_VALUE:
        return ""
    if isinstance(v, (dict, list)):
        return json.dumps(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)
