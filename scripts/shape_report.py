#!/usr/bin/env python3
"""The code's shape in figures: the longest source files (lines before their test module), the
longest functions, and module cycles (a `use crate::x` graph per crate), for functions/, shared/ and cli/.

  python3 scripts/shape_report.py            # report
  python3 scripts/shape_report.py --check    # exit 1 past the limits (600 lines, 80-line functions, no cycle)
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FILE_LIMIT, FUNCTION_LIMIT = 600, 80
FN_START = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?(?:const\s+)?(?:async\s+)?(?:unsafe\s+)?fn\s+(\w+)")


def set_root(root: Path) -> None:
    global ROOT
    ROOT = root.resolve()


def crates() -> dict[str, Path]:
    out = {"shared": ROOT / "shared" / "src"}
    for manifest in sorted((ROOT / "functions").glob("*/Cargo.toml")):
        out[manifest.parent.name] = manifest.parent / "src"
    if (ROOT / "cli" / "src").is_dir():  # the ops CLI (docs/cli.md)
        out["cli"] = ROOT / "cli" / "src"
    return out


def code_part(path: Path) -> list[str]:
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        if re.match(r"\s*#\[cfg\(test\)\]", line):
            return lines[:i]
    return lines


def functions(path: Path) -> list[tuple[str, int, int]]:
    """(name, first line, length) of every fn, by brace matching from its signature."""
    lines = code_part(path)
    out = []
    i = 0
    while i < len(lines):
        m = FN_START.match(lines[i])
        if not m:
            i += 1
            continue
        depth, started, j = 0, False, i
        while j < len(lines):
            text = re.sub(r'"(?:\\.|[^"\\])*"', '""', lines[j].split("//")[0])
            depth += text.count("{") - text.count("}")
            started = started or "{" in text
            if ";" in text and not started:
                break  # a declaration without a body (trait method)
            if started and depth <= 0:
                out.append((m.group(1), i + 1, j - i + 1))
                break
            j += 1
        i += 1
    return out


def module_of(src: Path, path: Path) -> str:
    rel = path.relative_to(src).with_suffix("")
    parts = [p for p in rel.parts if p not in ("mod", "lib", "main")]
    return parts[0] if parts else "crate"


def cycles(src: Path) -> list[list[str]]:
    graph: dict[str, set[str]] = {}
    for path in src.rglob("*.rs"):
        if "bin" in path.relative_to(src).parts:
            continue
        me = module_of(src, path)
        # Code only: doc comments may link modules ([`crate::x`]) without depending on them.
        text = "\n".join(line.split("//")[0] for line in code_part(path))
        targets = set(re.findall(r"\bcrate::(\w+)", text))
        for group in re.findall(r"\bcrate::\{([^;]*)\}", text):  # use crate::{a, b::c, d::{e, f}}
            targets |= set(re.findall(r"(?:^|[{,])\s*(\w+)", re.sub(r"\{[^{}]*\}", "", group)))
        for target in targets - {me, "self"}:
            graph.setdefault(me, set()).add(target)
    found, seen = [], set()

    def walk(node: str, stack: list[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt in stack:
                cycle = stack[stack.index(nxt):]
                key = frozenset(cycle)
                if key not in seen:
                    seen.add(key)
                    found.append(cycle + [nxt])
            elif len(stack) < 12:
                walk(nxt, stack + [nxt])

    for start in sorted(graph):
        walk(start, [start])
    return found


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--top", type=int, default=5)
    ap.add_argument("--root", type=Path, default=ROOT, help="another checkout (e.g. an older commit's)")
    args = ap.parse_args()
    set_root(args.root)
    files, fns, all_cycles = [], [], []
    for crate, src in crates().items():
        for path in sorted(src.rglob("*.rs")):
            rel = path.relative_to(ROOT)
            files.append((len(code_part(path)), str(rel)))
            fns += [(n, f"{rel}:{line} {name}") for name, line, n in functions(path)]
        all_cycles += [(crate, c) for c in cycles(src)]
    files.sort(reverse=True)
    fns.sort(reverse=True)
    print(f"longest files (lines before tests): " + ", ".join(f"{p} {n}" for n, p in files[: args.top]))
    print(f"longest functions: " + ", ".join(f"{w} {n}" for n, w in fns[: args.top]))
    print(f"module cycles: {len(all_cycles)}" + "".join(f"\n  {c}: {' -> '.join(m)}" for c, m in all_cycles))
    over = [f"{p} ({n} lines)" for n, p in files if n > FILE_LIMIT] + [f"{w} ({n} lines)" for n, w in fns if n > FUNCTION_LIMIT]
    print(f"over the limits ({FILE_LIMIT}-line files, {FUNCTION_LIMIT}-line functions): {len(over)}")
    for o in over:
        print(f"  {o}")
    return 1 if args.check and (over or all_cycles) else 0


if __name__ == "__main__":
    sys.exit(main())
