"""Helpers for tests/platform/test_collab.py and test_calls.py: a platform per backend, a
session cast with every session role, calls that return JSON, and the audit log."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from fastapi.testclient import TestClient

from codeforge.platform.app import create_app
from codeforge.platform.settings import Settings
from tests.conftest import require
from tests.platform.conftest import PG_ADMIN, Org, PlatformUnderTest, _postgres_up

__all__ = ["Cast", "add_member", "audit", "cast", "invite", "platform_on", "problem", "start"]


@contextlib.contextmanager
def platform_on(backend: str, base: Path) -> Iterator[PlatformUnderTest]:
    """A platform in process on SQLite (in `base`) or on a PostgreSQL database of its own,
    dropped afterwards."""
    dropped: str | None = None
    if backend == "sqlite":
        url = f"sqlite:///{base / 'state.db'}"
    else:
        require("postgresql", _postgres_up(), f"no PostgreSQL at {PG_ADMIN}")
        dropped = f"cf_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{dropped}"')
        url = f"postgresql+psycopg://{PG_ADMIN.rsplit('/', 1)[0].split('://', 1)[1]}/{dropped}"
    app = create_app(Settings(data_dir=Path(base / "data"), database_url=url, instance_id="test"))
    try:
        with TestClient(app) as api:
            yield PlatformUnderTest(api, app.state.platform)
    finally:
        if dropped:
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{dropped}" WITH (FORCE)')


def add_member(org: Org, key: str, role: str) -> None:
    """One more member with a token, under `org.tokens[key]` (username `<slug>-<key>`)."""
    username = f"{org.slug}-{key}"
    org.ok("owner", "members.add", {"username": username, "role": role})
    org.tokens[key] = org.ok("owner", "tokens.create", {"name": "t", "username": username})["token"]


def start(org: Org, who: str = "developer", **body: Any) -> dict[str, Any]:
    return dict(org.ok(who, "collab.start", {"project": "demo", **body}))


def invite(org: Org, session: str, role: str = "navigator", who: str = "developer", **body: Any) -> dict[str, Any]:
    return dict(org.ok(who, "collab.invite", {"session": session, "role": role, **body}))


def problem(org: Org, who: str, op: str, body: dict[str, Any], status: int) -> dict[str, Any]:
    response = org.call(who, op, body)
    assert response.status_code == status, (op, who, response.status_code, response.text)
    out = response.json()
    assert out["status"] == status and out["detail"], out
    return dict(out)


def audit(org: Org, operation: str) -> list[dict[str, Any]]:
    return list(org.ok("owner", "audit.list", {"operation": operation, "limit": 1000})["items"])


@dataclass
class Cast:
    """A session with one member in each session role: the host (a developer, driving), a
    navigator (another developer), a guest (a viewer, capped at guest) and an admin navigator;
    the owner is not in it."""

    id: str
    host: str = "developer"
    navigator: str = "dev2"
    guest: str = "viewer"
    admin: str = "admin"
    outsider: str = "owner"


def cast(org: Org, mode: str = "free") -> Cast:
    session = start(org, title="cast", mode=mode)
    sid = session["id"]
    navigators = invite(org, sid, "navigator")
    org.ok("dev2", "collab.join", {"invitation": navigators["token"]})
    org.ok("admin", "collab.join", {"invitation": navigators["link"]})
    org.ok("viewer", "collab.join", {"invitation": invite(org, sid, "guest")["token"]})
    return Cast(sid)
