"""One row of the soak table per function run, and how the table is printed."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Row:
    function: str
    scenario: str
    events_in: int = 0
    out: int = 0          # ended where they should (enriched, registered, published, booked, acted)
    lost: int = 0         # in, but nowhere at the end
    duplicated: int = 0   # ended twice (where the docs promise once)
    faults: int = 0       # injected by the proxy
    retries: int = 0      # redeliveries / re-invocations the event source would make
    crashes: int = 0      # processes killed (SIGKILL) inside an invocation
    wall_s: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return self.lost == 0 and self.duplicated == 0


HEADER = ("function", "scenario", "in", "out", "lost", "dup", "faults", "retries", "crashes", "wall s")


def table(rows: list[Row]) -> str:
    cells = [HEADER] + [(r.function, r.scenario, str(r.events_in), str(r.out), str(r.lost), str(r.duplicated),
                         str(r.faults), str(r.retries), str(r.crashes), f"{r.wall_s:.1f}") for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(HEADER))]
    lines = ["  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
             for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for r in rows:
        lines += [f"  {r.function}/{r.scenario}: {n}" for n in r.notes]
    return "\n".join(lines)
