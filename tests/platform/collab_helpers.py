"""Helpers for tests/platform/test_collab.py: a session cast with every session role, calls
that return JSON, and the audit log."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.platform.conftest import Org

__all__ = ["Cast", "add_member", "audit", "cast", "invite", "problem", "start"]


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
