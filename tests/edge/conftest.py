"""The edge's tests run real Caddy nodes (tests/servers/caddy.py) and real HTTP backends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers.caddy import EdgeWorld, edge_world


@pytest.fixture
def edge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[EdgeWorld]:
    """One node, "local"."""
    with edge_world(tmp_path / "edge", monkeypatch) as world:
        yield world


@pytest.fixture
def edge2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[EdgeWorld]:
    """Two nodes in two regions, each on its own loopback address."""
    with edge_world(tmp_path / "edge2", monkeypatch, nodes="eu@eu-west,us@us-east") as world:
        yield world
