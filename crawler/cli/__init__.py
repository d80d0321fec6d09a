"""Step 9 of the data flow: the ``pingcrawl`` command line, one module per command group."""

from crawler.cli.lean_imports import import_without_unused_extras

import_without_unused_extras()  # before any command module imports sqlite_utils or httpx
