"""The certificates tests' servers: the session's BIND (tests/servers/bind.py: zone certs.test
answers 127.0.0.1 for every name), a Pebble resolving through it and connecting for HTTP-01
to `pebble.http_port`, and a `codeforge up` on that very port (its HTTP-01 endpoint is what
Pebble reaches). Projects own domains the way users make them theirs: domains.add, a TXT
record where the domain's owner would put it, domains.verify."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from codeforge.catalog.errors import Conflict
from codeforge.client import PlatformClient
from codeforge.platform.db import Database
from tests.conftest import RunningPlatform, free_port
from tests.conftest import run_operation as run
from tests.servers.bind import Bind, bind_server  # noqa: F401
from tests.servers.pebble import Pebble, start_pebble

__all__ = ["own_domain", "run"]


@pytest.fixture(scope="session")
def pebble(bind_server: Bind, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pebble]:  # noqa: F811
    server = start_pebble(tmp_path_factory.mktemp("pebble"), dns=bind_server.address, http_port=free_port())
    yield server
    server.stop()


def certs_platform(base: Path, pebble: Pebble, bind: Bind, **extra: str) -> RunningPlatform:
    """A `codeforge up` on pebble.http_port, its ACME and DNS settings pointing at them."""
    base.mkdir(parents=True, exist_ok=True)
    env = {**bind.env(), **pebble.platform_env(), "CODEFORGE_AUTH_FAILURES_PER_MINUTE": "100000", **extra}
    running = RunningPlatform(data_dir=base / "data", config_dir=base / "config", port=pebble.http_port, extra_env=env)
    running.data_dir.mkdir(exist_ok=True)
    running.start()
    return running


@pytest.fixture(scope="module")
def platform(
    pebble: Pebble,
    bind_server: Bind,  # noqa: F811
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningPlatform]:
    running = certs_platform(tmp_path_factory.mktemp("certs-platform"), pebble, bind_server)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(platform: RunningPlatform) -> Iterator[PlatformClient]:
    with PlatformClient(platform.url, platform.token, timeout=120) as c:
        yield c


def _has_operation(platform: RunningPlatform, name: str) -> bool:
    answer = httpx.get(
        f"{platform.url}/api/v1/catalog", headers={"Authorization": f"Bearer {platform.token}"}, timeout=30
    )
    answer.raise_for_status()
    return any(op["name"] == name for op in answer.json())


def own_domain(
    platform: RunningPlatform, client: PlatformClient, bind: Bind, domain: str, project: str, *, verify: bool = True
) -> None:
    """Make `domain` a domain of `project`, verified (or only added), as a user would: add it,
    publish the TXT proof in its zone, verify. Where this platform has no domains operations yet,
    the row they would make is written into the platform's database instead."""
    if _has_operation(platform, "domains.verify"):
        import codeforge.catalog.domains  # noqa: F401  (the client names operations from the catalog)

        try:
            added = run(client, "domains.add", {"project": project, "domain": domain})
        except Conflict:  # added by an earlier test
            added = run(client, "domains.show", {"project": project, "domain": domain})
        if not verify or added["verified"]:
            return
        zone = next(z for z in bind.zones if domain == z or domain.endswith("." + z))
        relative = "_codeforge-challenge" + ("" if domain == zone else "." + domain[: -len(zone) - 1])
        bind.update(zone, relative, "TXT", [f'"{added["token"]}"'])
        run(client, "domains.verify", {"project": project, "domain": domain, "method": "txt"})
        bind.update(zone, relative, "TXT", [])
        return
    from codeforge.platform.auth.models import Project
    from codeforge.platform.db import utcnow
    from codeforge.platform.domains.models import DomainRow

    db = Database(f"sqlite:///{platform.data_dir / 'codeforge.db'}")
    try:
        with db.session() as session:
            project_id = session.scalar(select(Project.id).where(Project.slug == project))
            assert project_id is not None
            session.add(
                DomainRow(
                    project_id=project_id,
                    name=domain,
                    token="t",
                    method="txt" if verify else None,
                    verified_at=utcnow() if verify else None,
                    owner_name=domain if verify else None,
                    created_by="test",
                )
            )
    finally:
        db.dispose()
