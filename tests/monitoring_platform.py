"""Shared platforms for the monitoring tests (a plugin of tests/conftest.py, so every module
that asks for them, in tests/monitoring, tests/lsp or tests/extensions, gets the same ones):
one `codeforge up` on SQLite for the whole session (scrape and alert loops on half-second intervals), one on PostgreSQL started by the
first test that asks; each test works in a project of its own (`project`)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from codeforge.catalog.errors import CodeForgeError
from codeforge.client import PlatformClient
from tests.conftest import RunningPlatform, require, start_platform
from tests.platform.conftest import PG_ADMIN, _postgres_up

FAST = {
    "CODEFORGE_MONITORING_SCRAPE_INTERVAL_S": "0.5",
    "CODEFORGE_MONITORING_SCRAPE_TIMEOUT_S": "2",
    "CODEFORGE_MONITORING_EVAL_INTERVAL_S": "0.5",
    "CODEFORGE_MONITORING_REMOTE_WRITE_INTERVAL_S": "0.5",
    "CODEFORGE_AUTH_FAILURES_PER_MINUTE": "100000",
}


@pytest.fixture(scope="session")
def monitored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPlatform]:
    running = start_platform(tmp_path_factory.mktemp("monitored"), **FAST)
    yield running
    running.stop()


@pytest.fixture(scope="session")
def monitored_pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPlatform]:
    """The same on PostgreSQL: logs and traces in the schema `monitoring` of its database."""
    require("postgresql", _postgres_up(), f"no PostgreSQL at {PG_ADMIN}")
    name = f"cf_mon_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0].split("://", 1)[1]
    running = start_platform(
        tmp_path_factory.mktemp("monitored-pg"), CODEFORGE_DATABASE_URL=f"postgresql+psycopg://{base}/{name}", **FAST
    )
    yield running
    running.stop()
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


_made: list[tuple[RunningPlatform, str]] = []  # projects the running test made


def new_project(platform: RunningPlatform, *, for_the_test: bool = True) -> str:
    """A fresh project on a shared platform, deleted when the test ends (a fixture wider
    than one test passes for_the_test=False and calls `delete_project` itself)."""
    slug = f"m{uuid.uuid4().hex[:10]}"
    PlatformClient(platform.url, platform.token).call("projects.create", {"slug": slug})
    if for_the_test:
        _made.append((platform, slug))
    return slug


def delete_project(platform: RunningPlatform, slug: str) -> None:
    """Delete the project, its targets and rules with it; nothing when the platform is gone."""
    if platform.process is None or platform.process.poll() is not None:
        return
    with contextlib.suppress(CodeForgeError, httpx.HTTPError), platform.client() as client:
        client.call("projects.delete", {"slug": slug})  # going away: nothing left to scrape either


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Delete the projects the test made, so the shared platform's half-second scrape and
    evaluation loops do not keep working on what earlier tests left for the rest of the run."""
    while _made:
        delete_project(*_made.pop())


@pytest.fixture
def project(monitored: RunningPlatform) -> str:
    """A fresh project on the shared platform, so tests never see each other's telemetry
    (deleted when the test ends)."""
    return new_project(monitored)


@pytest.fixture
def client(monitored: RunningPlatform) -> Iterator[PlatformClient]:
    yield PlatformClient(monitored.url, monitored.token)


def data_dir(platform: RunningPlatform) -> Path:
    return platform.data_dir
