"""crawler/cli/lean_imports.py: the command line's process leaves out what it never uses.

sqlite-utils imports numpy and httpx imports its own command-line client (rich, pygments)
whenever those are installed, as they are in the test environment (scipy brings numpy).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import sys
import crawler.cli.main  # what `pingcrawl` and `python -m crawler` import first
loaded = sorted(m for m in ("numpy", "rich", "pygments", "httpx._main") if m in sys.modules)
import sqlite_utils, httpx
db = sqlite_utils.Database(memory=True)
db["t"].insert({"a": 1})
assert db["t"].count == 1 and httpx.URL("http://a.test/").host == "a.test"
import numpy, httpx._main  # still there for anyone who asks
print(loaded, numpy.__name__, httpx._main.__name__)
"""


def test_the_command_line_loads_neither_numpy_nor_httpx_own_cli() -> None:
    import numpy  # noqa: F401  (installed here: the probe must not load it anyway)

    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["[]", "numpy", "httpx._main"]
