"""The docs say what the code and the template do: every relative link and anchor in README.md
and docs/ resolves, every path to an example event exists, and every template parameter is in
the deploy page's table."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from scripts.stack.cfn import load_template  # noqa: E402

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def anchors(page: Path) -> set[str]:
    out = set()
    for line in page.read_text().splitlines():
        m = re.match(r"#+\s+(.*)", line)
        if m:
            slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
            out.add(slug)
    return out


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_relative_link_resolves(page):
    text = page.read_text()
    for target in LINK.findall(text):
        if re.match(r"[a-z]+://", target) or target.startswith("mailto:"):
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        assert dest.exists(), f"{page.name}: link to {target} goes nowhere"
        if anchor and dest.suffix == ".md":
            assert anchor in anchors(dest), f"{page.name}: no heading #{anchor} in {dest.name}"


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_example_event_named_exists(page):
    for path in set(re.findall(r"\bevents/[\w./-]+\.json", page.read_text())):
        assert (ROOT / path).exists(), f"{page.name} names {path}, which does not exist"


def test_every_template_parameter_is_documented_on_the_deploy_page():
    deploy = (ROOT / "docs" / "deploy.md").read_text()
    table = "\n".join(line for line in deploy.splitlines() if line.startswith("| `"))
    for name in load_template(ROOT / "template.yaml")["Parameters"]:
        assert f"`{name}`" in table, f"parameter {name} is not in docs/deploy.md's table"


def test_every_alarm_has_a_runbook_section():
    runbook = (ROOT / "docs" / "runbook.md").read_text()
    sections = set(re.findall(r"^### (\S+)$", runbook, re.M))
    for logical, res in load_template(ROOT / "template.yaml")["Resources"].items():
        if res["Type"] != "AWS::CloudWatch::Alarm":
            continue
        name = res["Properties"]["AlarmName"].value  # !Sub ${AWS::StackName}-<name>
        assert name.startswith("${AWS::StackName}-"), logical
        section = "streamops-" + name.removeprefix("${AWS::StackName}-")
        assert section in sections, f"alarm {logical} ({section}) has no section in docs/runbook.md"


# `path::name` in the guarantees table: the test file exists and defines that test.
PROOF = re.compile(r"`((?:functions|shared|tests)/[\w/.\-]+\.(?:rs|py))::(\w+)`")


def test_every_guarantee_names_a_test_that_exists():
    page = ROOT / "docs" / "reliability.md"
    proofs = PROOF.findall(page.read_text())
    assert len(proofs) >= 10, "the guarantees table names its tests as `path::test_name`"
    for path, name in proofs:
        source = ROOT / path
        assert source.is_file(), f"docs/reliability.md: {path} does not exist"
        defined = re.search(rf"(?:async fn|fn|def) {name}\b", source.read_text())
        assert defined, f"docs/reliability.md: {path} has no test {name}"
