"""The platform in-process (FastAPI TestClient) over each state backend: SQLite and PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient

from codeforge.catalog import Role
from codeforge.platform.app import create_app
from codeforge.platform.auth.service import create_organization
from codeforge.platform.auth.tokens import issue_token
from codeforge.platform.core import Platform
from codeforge.platform.settings import Settings
from tests.conftest import require

PG_ADMIN = os.environ.get("CODEFORGE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


def _postgres_up() -> bool:
    try:
        psycopg.connect(PG_ADMIN, connect_timeout=2).close()
    except psycopg.Error:
        return False
    return True


@pytest.fixture(params=["sqlite", "postgresql"])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty platform database on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.db'}"
        return
    require("postgresql", _postgres_up(), f"no PostgreSQL at {PG_ADMIN}")
    name = f"cf_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0]
    yield f"postgresql+psycopg://{base.split('://', 1)[1]}/{name}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Org:
    """An organization seen through the API, with a token per member."""

    api: TestClient
    slug: str
    tokens: dict[str, str]

    def call(self, who: str, op: str, body: dict[str, Any] | None = None) -> httpx.Response:
        path = "/api/v1/" + op.replace(".", "/")
        return self.api.post(path, json=body or {}, headers={"Authorization": f"Bearer {self.tokens[who]}"})

    def ok(self, who: str, op: str, body: dict[str, Any] | None = None) -> Any:
        response = self.call(who, op, body)
        assert response.status_code < 300, response.text
        return response.json()


@dataclass
class PlatformUnderTest:
    api: TestClient
    platform: Platform

    def new_org(self, slug: str, project: str = "demo") -> Org:
        """An owner made directly in the database (as bootstrap does), the rest through the API."""
        with self.platform.db.session() as session:
            _, owner = create_organization(session, slug, f"{slug}-owner")
            _, raw = issue_token(session, owner, "test", None)
        org = Org(self.api, slug, {"owner": raw})
        org.ok("owner", "projects.create", {"slug": project})
        for role in (Role.ADMIN, Role.DEVELOPER, Role.VIEWER):
            username = f"{slug}-{role.value}"
            org.ok("owner", "members.add", {"username": username, "role": role.value})
            org.tokens[role.value] = org.ok("owner", "tokens.create", {"name": "t", "username": username})["token"]
        return org


@pytest.fixture
def put(state_url: str, tmp_path: Path) -> Iterator[PlatformUnderTest]:
    settings = Settings(data_dir=tmp_path / "data", database_url=state_url, instance_id="test")
    app = create_app(settings)
    with TestClient(app) as api:
        yield PlatformUnderTest(api, app.state.platform)


@pytest.fixture
def org(put: PlatformUnderTest) -> Org:
    return put.new_org("acme")
