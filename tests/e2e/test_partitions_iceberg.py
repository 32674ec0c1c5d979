"""partitions end to end with the Iceberg option (EnrichedIcebergTable=true) on a stack of its
own (only partitions served), IAM enforced: `maintain` runs OPTIMIZE then VACUUM of the
template's Iceberg table through moto's Athena, `status` of the table reads its lease and the
run back from the registry, and a follow-up whose lease is gone changes nothing. The follow-up
configuration the template renders is one the function can use (its dry run says follow-ups are
on)."""

from __future__ import annotations

import pytest

import conftest
from scripts.stack.local import LocalStack

TABLE = "enriched_iceberg"


@pytest.fixture(scope="module")
def iceberg_stack(request):
    s = LocalStack(log_dir=conftest.ROOT / ".local" / "e2e-logs-iceberg")

    def stop():
        late = conftest.unwatch(s)
        s.stop()
        assert not late, f"calls refused outside any test's setup or call: {late}"

    request.addfinalizer(stop)
    s.start_moto()
    s.cfn.params.update(EnrichedIcebergTable="true")
    s.provision()
    s.enforce_iam()
    s.start_functions(only=["partitions"])
    conftest.watch(s)
    return s


def _queries(stack) -> list[str]:
    athena = stack.client("athena")
    wg = stack.cfn.ref("PartitionsWorkGroup")
    ids = athena.list_query_executions(WorkGroup=wg).get("QueryExecutionIds", [])
    return [athena.get_query_execution(QueryExecutionId=i)["QueryExecution"]["Query"] for i in ids]


def test_maintain_runs_optimize_then_vacuum_and_status_reads_the_run_back(iceberg_stack):
    s = iceberg_stack
    ok, plan = s.invoke("partitions", {"command": "maintain", "table": TABLE})
    assert ok and plan["dry_run"], plan
    (table,) = plan["tables"]
    assert [st["operation"] for st in table["statements"]] == ["optimize", "vacuum"], plan
    before = len(_queries(s))

    ok, run = s.invoke("partitions", {"command": "maintain", "table": TABLE, "dry_run": False})
    assert ok, run
    outcomes = [(q["operation"], q["outcome"]) for q in run["tables"][0]["queries"]]
    assert outcomes == [("optimize", "succeeded"), ("vacuum", "succeeded")], run
    assert run["tables"][0]["follow_up"] == {"state": "none"}, run
    ran = _queries(s)[before:]
    assert ran[0].startswith(f'OPTIMIZE "{s.cfn.ref("PartitionsGlueDatabase")}"."{TABLE}" REWRITE DATA USING BIN_PACK WHERE "dt" >= '), ran
    assert ran[1].startswith("VACUUM "), ran

    ok, status = s.invoke("partitions", {"command": "status", "table": TABLE})
    assert ok, status
    assert status["format"] == "iceberg" and status["lease"] == {"state": "free"}, status
    assert status["last_run"]["tables"][0]["queries"][1]["outcome"] == "succeeded", status

    # A follow-up delivered after its run released the table: nothing to follow, nothing run.
    ok, stale = s.invoke("partitions", {"command": "maintain", "table": TABLE, "dry_run": False,
                                        "follow_up": "a-run-long-gone"})
    assert ok, stale
    assert stale["tables"][0]["queries"] == [] and stale["tables"][0]["note"].startswith("nothing to follow"), stale
    assert len(_queries(s)) == before + 2
    ok, again = s.invoke("partitions", {"command": "status", "table": TABLE})
    assert ok and again["last_run"] == status["last_run"], again


def test_the_rendered_follow_up_configuration_is_the_one_the_function_uses(iceberg_stack):
    ok, plan = iceberg_stack.invoke("partitions", {"command": "maintain"})
    assert ok, plan
    assert plan["follow_ups"] == {"state": "on", "every_seconds": 300}, plan
