"""moto server with the EMR actions the scaler needs and moto 5 does not implement.

moto models EMR instance groups but not instance fleets (ListInstanceFleets answers HTTP 500)
nor managed scaling (GetManagedScalingPolicy). This module adds both to moto's EMR responder,
in memory and per cluster, following the EMR API's shapes, then runs moto's own server:

    python -m scripts.stack.moto_ext -H 127.0.0.1 -p 5000

It is an emulator extension (a mock of those five actions), not AWS: a fleet resize completes
at once, and fleets are created only through AddInstanceFleet (RunJobFlow ignores them).
Used by the local demo and by the Rust integration tests (tests/support).
"""

from __future__ import annotations

import itertools
import sys
from typing import Any

from moto.core.responses import ActionResult, EmptyResult
from moto.emr.exceptions import ValidationException
from moto.emr.responses import ElasticMapReduceResponse

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


for _f in (add_instance_fleet, list_instance_fleets, modify_instance_fleet,
           put_managed_scaling_policy, get_managed_scaling_policy, remove_managed_scaling_policy):
    setattr(ElasticMapReduceResponse, _f.__name__, _f)


if __name__ == "__main__":
    from moto.server import main

    main(sys.argv[1:])
