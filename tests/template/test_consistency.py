"""template.yaml against the code: every function in the template is a crate here and every crate
is deployed; every environment variable a function reads is set in the template; every folder in
events/ belongs to a function. (Each crate's own tests check that its events/ files parse as its input.)"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from scripts.stack.cfn import Evaluator, load_template  # noqa: E402

TEMPLATE = load_template(ROOT / "template.yaml")
# Variables read through shared::EnvReader, e.g. r.required("ALERTS_TOPIC_ARN", ...).
READ_CALL = re.compile(r"\.(?:required|optional|parsed_or|parsed_required|seconds_or|flag_or|json_optional)\(\s*\"([A-Z][A-Z0-9_]+)\"")
# Set by the Lambda runtime or the platform, never by the template.
PLATFORM_VARIABLES = {"AWS_REGION", "AWS_LAMBDA_LOG_LEVEL", "RUST_LOG", "AWS_LAMBDA_FUNCTION_NAME"}


def crates() -> dict[str, Path]:
    out = {}
    for manifest in sorted((ROOT / "functions").glob("*/Cargo.toml")):
        name = tomllib.loads(manifest.read_text())["package"]["name"]
        out[name] = manifest.parent
    return out


def template_functions() -> dict[str, dict]:
    return {k: v for k, v in TEMPLATE["Resources"].items() if v["Type"] == "AWS::Serverless::Function"}


def variables_read(crate_dir: Path) -> set[str]:
    found = set()
    for src in (crate_dir / "src").rglob("*.rs"):
        found.update(READ_CALL.findall(src.read_text()))
    return found - PLATFORM_VARIABLES


def test_every_template_function_is_a_crate_built_the_same_way():
    globals_fn = TEMPLATE["Globals"]["Function"]
    assert globals_fn["Runtime"] == "provided.al2023"
    assert globals_fn["Architectures"] == ["arm64"]
    known = crates()
    for logical, res in template_functions().items():
        meta = res.get("Metadata") or {}
        assert meta.get("BuildMethod") == "rust-cargolambda", logical
        binary = (meta.get("BuildProperties") or {}).get("Binary")
        assert binary in known, f"{logical} builds binary {binary!r}, which is no crate in functions/"


def test_every_crate_is_deployed_exactly_once():
    binaries = [(r.get("Metadata") or {}).get("BuildProperties", {}).get("Binary") for r in template_functions().values()]
    for name in crates():
        assert binaries.count(name) == 1, f"crate {name} is deployed {binaries.count(name)} times by template.yaml"


@pytest.mark.parametrize("crate", sorted(crates()))
def test_every_variable_a_function_reads_is_set_in_the_template(crate):
    cfn = Evaluator(TEMPLATE, "streamops")
    by_binary = {f["binary"]: f for f in cfn.functions().values()}
    reads = variables_read(crates()[crate])
    assert reads, f"{crate} reads no configuration through EnvReader: is the pattern still right?"
    env = by_binary[crate]["env"]
    missing = sorted(v for v in reads if v not in env)
    assert not missing, f"{crate} reads {missing}, which template.yaml does not set"


def test_every_events_folder_belongs_to_a_function():
    names = set(crates())
    for folder in (ROOT / "events").iterdir():
        if folder.is_dir():
            assert folder.name in names, f"events/{folder.name} names no function crate"


def test_the_enriched_tables_have_the_columns_enrich_writes():
    """The columns enrich's `columns` command derives from the shipped spec (committed as
    specs/clickstream.columns.json, which enrich's own test keeps equal to the command's
    answer) are the Glue tables' columns: the Hive table's exactly, the Iceberg table's with
    `hour` (its partition key is `dt` only). A column missing is a field Athena cannot read, or
    that Firehose's Iceberg destination drops."""
    import json

    derived = json.loads((ROOT / "functions/enrich/specs/clickstream.columns.json").read_text())
    want = [(c["name"], c["type"], c.get("comment")) for c in derived["columns"]]

    def columns(logical: str) -> tuple[list, list]:
        table = TEMPLATE["Resources"][logical]["Properties"]["TableInput"]
        cols = [(c["Name"], c["Type"], c.get("Comment")) for c in table["StorageDescriptor"]["Columns"]]
        return cols, [k["Name"] for k in table["PartitionKeys"]]

    hive, keys = columns("PartitionsEnrichedEventsTable")
    assert hive == want, "template.yaml's enriched_events columns differ from what enrich writes"
    assert keys == derived["partition_keys"]
    iceberg, keys = columns("PartitionsEnrichedIcebergTable")
    assert [c for c in iceberg if c[0] != "hour"] == want
    assert ("hour", "string", None) in iceberg and keys == ["dt"]
