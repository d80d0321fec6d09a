"""Plain-text rendering of ``db.graph.stats()`` for ``pingcrawl stats``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import click


def print_stats(data: Mapping[str, Any]) -> None:
    """Print each section of the stats: numbers inline, mappings and rows indented."""
    for section, value in data.items():
        title = section.replace("_", " ")
        if isinstance(value, Mapping):
            click.echo(f"{title}:")
            if not value:
                click.echo("  (none)")
            for key, count in value.items():
                if isinstance(count, Mapping):
                    click.echo(f"  {key}:")
                    for inner, number in count.items():
                        click.echo(f"    {inner!s:<38} {number}")
                else:
                    click.echo(f"  {key!s:<40} {count}")
        elif isinstance(value, Sequence) and not isinstance(value, str):
            click.echo(f"{title}:")
            if not value:
                click.echo("  (none)")
            for row in value:
                click.echo("  " + _row(row))
        else:
            click.echo(f"{title}: {value}")


def _row(row: Any) -> str:
    if isinstance(row, Mapping):
        return "  ".join(f"{k}={v}" for k, v in row.items() if v is not None)
    if isinstance(row, Sequence) and not isinstance(row, str):
        return "  ".join(str(v) for v in row)
    return str(row)
