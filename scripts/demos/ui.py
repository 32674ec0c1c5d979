"""Console output for the demo: readable with or without a terminal."""

from __future__ import annotations

import json
import sys

_TTY = sys.stdout.isatty()


def _c(code: str, text: str) -> str:
    return f"\033[{code}m{text}\033[0m" if _TTY else text


def section(name: str) -> None:
    print()
    print(_c("1;36", f"=== {name} " + "=" * max(0, 70 - len(name))), flush=True)


def step(text: str) -> None:
    print(_c("1", f"\n> {text}"), flush=True)


def ok(text: str) -> None:
    print(_c("32", f"  ok  {text}"), flush=True)


def warn(text: str) -> None:
    print(_c("33", f"  !!  {text}"), flush=True)


def detail(text: str, indent: int = 6) -> None:
    pad = " " * indent
    print("\n".join(pad + line for line in str(text).splitlines()), flush=True)


def as_json(value, indent: int = 6, max_lines: int = 40) -> None:
    lines = json.dumps(value, indent=2, ensure_ascii=False).splitlines()
    if len(lines) > max_lines:
        lines = lines[:max_lines] + [f"... ({len(lines) - max_lines} more lines)"]
    detail("\n".join(lines), indent)
