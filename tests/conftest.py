"""Shared pytest fixtures. The local test web lives in ``tests/siteserver.py``."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from siteserver import SiteServer


@pytest.fixture
def site() -> Iterator[SiteServer]:
    """A started :class:`SiteServer` on 127.0.0.1 (ephemeral port), stopped afterwards."""
    with SiteServer() as server:
        yield server


@pytest.fixture
def site_factory() -> Iterator[Callable[..., SiteServer]]:
    """Start more servers (``site_factory("127.0.0.2")``) for tests needing real hosts."""
    servers: list[SiteServer] = []

    def start(address: str = "127.0.0.1") -> SiteServer:
        servers.append(SiteServer(address).start())
        return servers[-1]

    yield start
    for server in servers:
        server.stop()
