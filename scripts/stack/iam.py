"""What each function's execution role may do, read from the SAM-translated template, and the
same grants as an IAM policy moto can enforce.

The role of a function is what `sam deploy` creates: the function's `Role` (SAM's generated
`<Function>Role` or an explicit `AWS::IAM::Role`), with

- the role's inline `Policies` (on a generated role: the function's `Policies` statements, SAM
  policy templates, event-source and destination statements, all already expanded by the
  translator),
- the AWS managed policies of `ManagedPolicyArns`, expanded from the copy moto bundles
  (moto/iam/aws_managed_policies.py), and customer managed policies of the template,
- every `AWS::IAM::Policy` / `AWS::IAM::ManagedPolicy` resource whose `Roles` names the role,

each honouring its `Condition` (and `Fn::If`) for the given parameters.

`principal_policy()` turns those statements into the policy of the moto IAM user a function runs
as in the local stack. What moto 5 can check, and how the policy follows from it:

- moto's authorizer checks the action of every request (as `<signing name>:<Action>`), but the
  resource only for S3 (bucket or bucket/key ARN) and SQS (queue ARN); every other service is
  checked against the resource `*`. So statements on S3 and SQS actions keep the template's
  resources, and every other statement gets `Resource: "*"` (otherwise moto would deny them all).
- the action prefix is the SigV4 signing name from the request's credential scope, not the IAM
  service prefix. They differ for CloudWatch (`monitoring`): see SIGNING_NAMES.
- S3 DeleteObjects (POST ?delete) is checked by moto as s3:DeleteObject on the *bucket* ARN
  (AWS checks each key): a grant of s3:DeleteObject on `bucket/...` also gets the bucket ARN.
- Conditions of statements are dropped (moto evaluates them against request parameters only).
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from .cfn import NO_VALUE, Evaluator

# IAM service prefix -> the SigV4 signing name moto puts in front of the action it checks.
# CloudWatch's API signs as "monitoring": `cloudwatch:GetMetricData` in a role arrives at moto
# as `monitoring:GetMetricData`. (Every other service the suite calls signs with its IAM prefix:
# dynamodb, sns, sqs, s3, kinesis, athena, glue, elasticmapreduce, secretsmanager, kms, logs, xray.)
SIGNING_NAMES = {"cloudwatch": "monitoring"}

# Services whose resources moto checks (everything else only against "*").
RESOURCE_CHECKED = {"s3", "sqs"}

STACK_NAME = "streamops"


class RoleError(ValueError):
    pass


@lru_cache(maxsize=1)
def aws_managed_policies() -> dict[str, dict]:
    """ARN -> policy document of the AWS managed policies moto ships."""
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    out = {}
    for name, p in json.loads(aws_managed_policies_data).items():
        out[f"arn:aws:iam::aws:policy{p.get('Path', '/')}{name}"] = p["Document"]
    return out


def _listify(v: Any) -> list:
    if v is None or v is NO_VALUE:
        return []
    return v if isinstance(v, list) else [v]


def _evaluator(translated: dict, parameters: dict | None, actual: dict | None = None) -> Evaluator:
    ev = Evaluator(translated, STACK_NAME, parameters)
    if actual:
        ev.actual.update(actual)
    return ev


def function_role(translated: dict, function_logical_id: str, ev: Evaluator | None = None) -> str:
    """Logical id of the role a function runs with (generated `<Fn>Role` or an explicit role)."""
    ev = ev or _evaluator(translated, None)
    res = translated["Resources"].get(function_logical_id)
    if res is None or res["Type"] != "AWS::Lambda::Function":
        raise RoleError(f"{function_logical_id} is not a function of the translated template")
    if not ev.enabled(function_logical_id):
        raise RoleError(f"{function_logical_id} is disabled by its condition for these parameters")
    role = res["Properties"]["Role"]
    while isinstance(role, dict) and "Fn::If" in role:
        cond, a, b = role["Fn::If"]
        role = a if ev.condition(cond) else b
    if isinstance(role, dict) and "Fn::GetAtt" in role:
        target = role["Fn::GetAtt"]
        name, attr = target if isinstance(target, list) else target.split(".", 1)
        if attr == "Arn" and translated["Resources"].get(name, {}).get("Type") == "AWS::IAM::Role":
            return name
    raise RoleError(f"{function_logical_id}: Role {role!r} is not a role of this template; its grants are unknown")


def _shallow(ev: Evaluator, node: Any) -> Any:
    """`node` with a top-level Fn::If (or Ref AWS::NoValue) resolved; nothing below evaluated, so
    resources the local evaluator cannot compute do not matter where they are not needed."""
    while isinstance(node, dict) and len(node) == 1:
        if "Fn::If" in node:
            cond, a, b = node["Fn::If"]
            node = a if ev.condition(cond) else b
        elif node.get("Ref") == "AWS::NoValue":
            return NO_VALUE
        else:
            break
    if isinstance(node, list):
        return [x for x in (_shallow(ev, v) for v in node) if x is not NO_VALUE]
    return node


def _refs_role(roles: Any, role: str) -> bool:
    return any(isinstance(r, dict) and r.get("Ref") == role for r in _listify(roles))


def role_statements(translated: dict, function_logical_id: str, parameters: dict | None = None,
                    actual: dict | None = None, with_resources: bool = False) -> list[dict]:
    """The statements of a function's execution role, each {"Source", "Effect", "Action": [...]}
    (plus "Resource": [...] evaluated, with `with_resources`; `actual` supplies attributes of
    real resources, e.g. queue ARNs, as LocalStack learned them)."""
    ev = _evaluator(translated, parameters, actual)
    resources = translated["Resources"]
    role = function_role(translated, function_logical_id, ev)
    props = resources[role].get("Properties") or {}
    documents: list[tuple[str, Any]] = []
    for p in _listify(_shallow(ev, props.get("Policies"))):
        p = _shallow(ev, p)
        if p is not NO_VALUE:
            documents.append((f"{role}/{ev.eval(p.get('PolicyName', '?'))}", p["PolicyDocument"]))
    for entry in _listify(_shallow(ev, props.get("ManagedPolicyArns"))):
        # A customer managed policy of this template, by Ref: its document, if enabled.
        if isinstance(entry, dict) and "Ref" in entry and resources.get(entry["Ref"], {}).get("Type") == "AWS::IAM::ManagedPolicy":
            if ev.enabled(entry["Ref"]):
                documents.append((entry["Ref"], resources[entry["Ref"]]["Properties"]["PolicyDocument"]))
            continue
        arn = ev.eval(entry)
        if arn is NO_VALUE:
            continue
        arn = str(arn).replace("arn:aws-cn:", "arn:aws:").replace("arn:aws-us-gov:", "arn:aws:")
        if arn not in aws_managed_policies():
            raise RoleError(f"{role}: managed policy {arn} is not one moto knows; its actions are unknown")
        documents.append((f"managed:{arn.rsplit('/', 1)[1]}", aws_managed_policies()[arn]))
    for logical, res in resources.items():
        if res["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy") and _refs_role((res.get("Properties") or {}).get("Roles"), role):
            if ev.enabled(logical):
                documents.append((logical, res["Properties"]["PolicyDocument"]))

    out = []
    for source, doc in documents:
        for st in _listify(_shallow(ev, _shallow(ev, doc).get("Statement"))):
            st = _shallow(ev, st)  # a whole statement under a condition
            if st is NO_VALUE:
                continue
            if "NotAction" in st or "NotResource" in st:
                raise RoleError(f"{source}: NotAction/NotResource statements are not supported here")
            actions = [str(a) for a in _listify(ev.eval(st.get("Action")))]
            entry = {"Source": source, "Effect": ev.eval(st.get("Effect", "Allow")), "Action": actions}
            if st.get("Sid"):
                entry["Sid"] = st["Sid"]
            if with_resources:
                try:
                    entry["Resource"] = [str(r) for r in _listify(ev.eval(st.get("Resource", "*")))]
                except KeyError as e:  # an attribute the local evaluator cannot compute
                    entry["Resource"] = None
                    entry["ResourceError"] = str(e)
            out.append(entry)
    return out


def role_actions(translated: dict, function_logical_id: str, parameters: dict | None = None) -> set[str]:
    """Every action the function's execution role allows, as the template writes them (wildcards
    such as `xray:Put*` kept literally)."""
    return {a for st in role_statements(translated, function_logical_id, parameters)
            if st["Effect"] == "Allow" for a in st["Action"]}


def _service(action: str) -> str:
    return action.split(":", 1)[0] if ":" in action else action


def signing_actions(action: str) -> list[str]:
    """The action as the role names it, and as moto sees it when the signing name differs."""
    service, _, name = action.partition(":")
    if service in SIGNING_NAMES:
        return [action, f"{SIGNING_NAMES[service]}:{name}"]
    return [action]


def principal_policy(statements: list[dict]) -> dict:
    """The policy document of the moto IAM user standing in for the role: exactly the role's
    actions (plus their signing-name twins), resources kept where moto checks them (S3, SQS)."""
    out = []
    for st in statements:
        checked = [a for a in st["Action"] if _service(a) in RESOURCE_CHECKED]
        unchecked = [a for a in st["Action"] if _service(a) not in RESOURCE_CHECKED]
        if unchecked:
            out.append({"Effect": st["Effect"], "Action": sorted({x for a in unchecked for x in signing_actions(a)}),
                        "Resource": "*"})
        if checked:
            if st.get("Resource") is None:
                raise RoleError(f"{st['Source']}: the resources of {checked} are needed (moto checks them) but "
                                f"could not be evaluated: {st.get('ResourceError', 'not evaluated')}")
            resources = list(st["Resource"])
            out.append({"Effect": st["Effect"], "Action": sorted(set(checked)), "Resource": resources})
            if st["Effect"] == "Allow" and "s3:DeleteObject" in checked:
                # moto checks DeleteObjects (POST ?delete) as s3:DeleteObject on the bucket ARN
                # (AWS: on each key): the buckets of the granted keys, for that action only.
                buckets = sorted({r.split("/", 1)[0] for r in resources if r.startswith("arn:aws:s3:::") and "/" in r})
                if buckets:
                    out.append({"Effect": "Allow", "Action": ["s3:DeleteObject"], "Resource": buckets})
    return {"Version": "2012-10-17", "Statement": out}


def function_logical_ids(translated: dict) -> list[str]:
    return [k for k, v in translated["Resources"].items() if v["Type"] == "AWS::Lambda::Function"]
