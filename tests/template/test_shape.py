"""The code keeps its shape (docs/architecture.md): no source file over 600 lines before its
test module, no function over 80 lines, no module cycle, in functions/ and shared/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_no_long_files_long_functions_or_module_cycles():
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "shape_report.py"), "--check"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "module cycles: 0" in r.stdout and "over the limits (600-line files, 80-line functions): 0" in r.stdout
