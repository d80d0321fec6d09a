"""Imports the command line makes first, without optional parts pingcrawl never uses.

Two dependencies load heavy optional modules at import time whenever those happen to be
installed: sqlite-utils imports numpy (about 11 MB resident, to map numpy column types
pingcrawl never inserts) and httpx imports its own command-line client, which brings in
rich and pygments (about 6 MB). A crawl runs for hours next to other programs and its
memory is part of its politeness, so the ``pingcrawl`` process imports both libraries
with those modules hidden for the moment of the import; afterwards they import normally
for anyone who asks (nothing here changes what either library does for pingcrawl).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager

# library -> the optional module it imports on its own that the crawler does not need
UNUSED_EXTRAS = {"sqlite_utils": "numpy", "httpx": "httpx._main"}


@contextmanager
def _hidden(module: str) -> Iterator[None]:
    """``import module`` fails with ImportError inside (a ``None`` entry in
    ``sys.modules``), unless it was imported already."""
    if module in sys.modules:
        yield
        return
    sys.modules[module] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        if sys.modules.get(module, ()) is None:
            del sys.modules[module]


def import_without_unused_extras() -> None:
    for library, extra in UNUSED_EXTRAS.items():
        if library not in sys.modules:
            with _hidden(extra):
                importlib.import_module(library)
