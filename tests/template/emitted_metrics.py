"""The EMF metrics the functions emit, read from their Rust sources: every call of
shared::Metrics (`count`, `count_by`, `record`, `record_by`) with a literal metric name, under the service the
crate's `harness::run("<service>", ...)` names, plus the harness's own `InvocationErrors` (by
`class`) for every function run by the harness. Namespace: shared::METRICS_NAMESPACE.

The dashboard test checks every widget against this list, and the log archive's Glue table
declares a column for every metric and dimension in it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# `.count("Name", n)`, `.record("Name", unit, v)`, `.count_by("Name", "dimension", value, n)`,
# `.record_by("Name", "dimension", value, unit, v)`:
# the name (and the dimension) are literals at every call site (a call with a computed name
# would not be found, and test_every_metrics_call_names_its_metric_literally says so).
CALL = re.compile(r"\.(count|count_by|record|record_by)\(\s*\"([A-Za-z][A-Za-z0-9]*)\"\s*,(?:\s*\"([A-Za-z_]+)\")?")
ANY_CALL = re.compile(r"\bmetrics\s*\.\s*(count|count_by|record|record_by)\(\s*([^\s)]+)")
RUN = re.compile(r"harness::run\(\s*\"([a-z]+)\"")
NAMESPACE = re.compile(r'pub const METRICS_NAMESPACE: &str = "([^"]+)";')


@dataclass(frozen=True)
class Metric:
    namespace: str
    service: str
    name: str
    dimensions: frozenset[str]  # always with "service"
    kind: str  # count, count_by (summed: one number per document) or record (a number or a list)


def namespace() -> str:
    m = NAMESPACE.search((ROOT / "shared/src/lib.rs").read_text())
    assert m, "shared/src/lib.rs no longer defines METRICS_NAMESPACE as a literal"
    return m.group(1)


def _sources(crate: Path) -> list[Path]:
    # Only what the deployed binary runs: src/ without its bin/ tools (enrich-bench).
    return [p for p in sorted((crate / "src").rglob("*.rs")) if "bin" not in p.relative_to(crate / "src").parts]


def _calls(text: str) -> list[tuple[str, str, str | None]]:
    # Test modules capture metrics of their own: cut them off (`#[cfg(test)]` to the end).
    text = text.split("#[cfg(test)]", 1)[0]
    # `record_by` is an observation like `record` (a number or a list), with its dimension.
    return [("record" if kind == "record_by" else kind, name, dim or None) for kind, name, dim in CALL.findall(text)]


def non_literal_calls() -> list[str]:
    """metrics.<call>(<not a string literal>: a metric this scan cannot see."""
    out = []
    for crate in sorted((ROOT / "functions").iterdir()):
        for src in _sources(crate):
            for kind, first in ANY_CALL.findall(src.read_text().split("#[cfg(test)]", 1)[0]):
                if not first.startswith('"'):
                    out.append(f"{src.relative_to(ROOT)}: metrics.{kind}({first}")
    return out


def emitted() -> set[Metric]:
    ns = namespace()
    out: set[Metric] = set()
    harness = _calls((ROOT / "shared/src/harness.rs").read_text())
    for crate in sorted((ROOT / "functions").iterdir()):
        main = crate / "src" / "main.rs"
        if not main.is_file():
            continue
        m = RUN.search(main.read_text())
        assert m, f"{main.relative_to(ROOT)} does not call harness::run with a literal service name"
        service = m.group(1)
        calls = [c for src in _sources(crate) for c in _calls(src.read_text())] + harness
        for kind, name, dim in calls:
            dims = frozenset({"service"} | ({dim} if dim else set()))
            out.add(Metric(ns, service, name, dims, kind))
    return out
