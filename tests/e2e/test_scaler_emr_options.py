"""scaler end to end with the EMR options the main stack does not set, each on a stack of its
own (only the scaler served), IAM enforced as everywhere: a task instance *fleet* resized
(ListInstanceFleets, ModifyInstanceFleet), and a task-group scale-in that terminates the nodes a
YARN ResourceManager reports empty (ListInstances)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import conftest
from scripts.demos.scaler import load
from scripts.stack.local import LocalStack


def _stack(request, name: str, prepare) -> LocalStack:
    s = LocalStack(log_dir=conftest.ROOT / ".local" / f"e2e-logs-{name}")

    def stop():
        late = conftest.unwatch(s)
        s.stop()
        assert not late, f"calls refused outside any test's setup or call: {late}"

    request.addfinalizer(stop)
    s.start_moto()
    prepare(s)
    s.provision()
    s.enforce_iam()
    s.start_functions(only=["scaler"])
    conftest.watch(s)  # a refused call fails the test that made it, as on the session's stack
    return s


def _cluster(emr, groups: list[dict]) -> str:
    return emr.run_job_flow(
        Name="streamops-flink", ReleaseLabel="emr-7.5.0", JobFlowRole="EMR_EC2_DefaultRole", ServiceRole="EMR_DefaultRole",
        Instances={"InstanceGroups": groups, "KeepJobFlowAliveWhenNoSteps": True})["JobFlowId"]


def _group(name: str, role: str, n: int) -> dict:
    return {"Name": name, "InstanceRole": role, "InstanceType": "m5.xlarge", "InstanceCount": n}


@pytest.fixture(scope="module")
def fleet_stack(request):
    def prepare(s):
        emr = s.client("emr")
        cluster = _cluster(emr, [_group("master", "MASTER", 1), _group("core", "CORE", 2)])
        fleet = emr.add_instance_fleet(ClusterId=cluster, InstanceFleet={
            "Name": "task", "InstanceFleetType": "TASK", "TargetSpotCapacity": 2,
            "InstanceTypeConfigs": [{"InstanceType": "m5.xlarge", "WeightedCapacity": 1}]})["InstanceFleetId"]
        s.cfn.params.update(EmrClusterId=cluster, EmrTaskInstanceFleetId=fleet, EmrTaskFleetMarket="spot")

    return _stack(request, "fleet", prepare)


def test_the_task_fleet_grows_on_the_memory_alarm(fleet_stack):
    s = fleet_stack
    emr = s.client("emr")
    cluster, fleet = s.cfn.params["EmrClusterId"], s.cfn.params["EmrTaskInstanceFleetId"]
    ok, out = s.invoke("scaler", load("alarm-emr-memory-low.json"))
    assert ok, out
    assert out["decisions"][0]["decision"] == "act", out
    f = next(f for f in emr.list_instance_fleets(ClusterId=cluster)["InstanceFleets"] if f["Id"] == fleet)
    assert f["TargetSpotCapacity"] == 4, f


class _YarnRm(BaseHTTPRequestHandler):
    """/ws/v1/cluster/nodes of a ResourceManager: every node RUNNING, `busy` hosts with containers."""
    hosts: list[str] = []
    busy: set[str] = set()

    def do_GET(self):  # noqa: N802
        nodes = [{"nodeHostName": h, "state": "RUNNING", "numContainers": 3 if h in self.busy else 0} for h in self.hosts]
        body = json.dumps({"nodes": {"node": nodes}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def yarn_stack(request):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _YarnRm)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    request.addfinalizer(server.shutdown)

    def prepare(s):
        emr = s.client("emr")
        cluster = _cluster(emr, [_group("master", "MASTER", 1), _group("core", "CORE", 2), _group("task", "TASK", 3)])
        task = next(g["Id"] for g in emr.list_instance_groups(ClusterId=cluster)["InstanceGroups"] if g["Name"] == "task")
        s.cfn.params.update(EmrClusterId=cluster, EmrTaskInstanceGroupId=task,
                            EmrYarnResourceManagerUrl=f"http://127.0.0.1:{server.server_address[1]}")
        instances = emr.list_instances(ClusterId=cluster, InstanceGroupId=task)["Instances"]
        _YarnRm.hosts = [i["PrivateDnsName"] for i in instances]
        _YarnRm.busy = set(_YarnRm.hosts[:2])

    return _stack(request, "yarn", prepare)


def test_a_task_group_scale_in_terminates_the_node_yarn_reports_empty(yarn_stack):
    s = yarn_stack
    emr = s.client("emr")
    cluster, task = s.cfn.params["EmrClusterId"], s.cfn.params["EmrTaskInstanceGroupId"]
    ok, out = s.invoke("scaler", {"command": "scale", "target": "emr-task", "size": 2, "reason": "e2e scale-in"})
    assert ok, out
    assert out["decision"]["decision"] == "act", out
    g = next(g for g in emr.list_instance_groups(ClusterId=cluster)["InstanceGroups"] if g["Id"] == task)
    assert g["RequestedInstanceCount"] == 2, g
    assert "elasticmapreduce:ListInstances" in s.actions_used()["scaler"], "the scale-in asked EMR for the group's nodes"
