"""API tokens: stored hashed, expiring, revocable; every refusal says what to do."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from codeforge.platform.auth.models import ApiToken
from codeforge.platform.db import utcnow
from tests.platform.conftest import Org, PlatformUnderTest


def whoami(put: PlatformUnderTest, token: str | None):  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return put.api.post("/api/v1/auth/whoami", json={}, headers=headers)


def test_token_is_stored_hashed(put: PlatformUnderTest, org: Org) -> None:
    raw = org.tokens["developer"]
    with put.platform.db.session() as s:
        stored = [t.token_hash for t in s.scalars(select(ApiToken))]
    assert raw not in stored and all(len(h) == 64 for h in stored)
    assert whoami(put, raw).json()["username"] == "acme-developer"


def test_missing_unknown_and_malformed_tokens(put: PlatformUnderTest, org: Org) -> None:
    for token, words in [(None, "no API token"), ("cf_nope", "not known"), ("", "no API token")]:
        response = whoami(put, token)
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert words in response.json()["detail"] and "codeforge tokens create" in response.json()["fix"]


def test_expired_token_is_refused(put: PlatformUnderTest, org: Org) -> None:
    with put.platform.db.session() as s:
        s.execute(update(ApiToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    response = whoami(put, org.tokens["owner"])
    assert response.status_code == 401 and "expired" in response.json()["detail"]


def test_revoked_token_is_refused(put: PlatformUnderTest, org: Org) -> None:
    created = org.ok("developer", "tokens.create", {"name": "laptop", "expires_in_days": 1})
    assert whoami(put, created["token"]).status_code == 200
    assert org.ok("developer", "tokens.revoke", {"id": created["id"]})["revoked"] is True
    response = whoami(put, created["token"])
    assert response.status_code == 401 and "revoked" in response.json()["detail"]
    # A developer cannot revoke somebody else's token; an admin can.
    others = org.ok("owner", "tokens.list")["items"]
    viewer_token = next(t for t in others if t["username"] == "acme-viewer")
    assert org.call("developer", "tokens.revoke", {"id": viewer_token["id"]}).status_code == 404
    assert org.ok("admin", "tokens.revoke", {"id": viewer_token["id"]})["revoked"] is True


def test_token_expiry_bounds(org: Org) -> None:
    for bad in (0, -1, 100000, "soon"):
        response = org.call("owner", "tokens.create", {"name": "x", "expires_in_days": bad})
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "expires_in_days"
    never = org.ok("owner", "tokens.create", {"name": "ci", "expires_in_days": None})
    assert never["expires_at"] is None


def test_last_used_is_written_with_the_operation_and_a_failure_is_still_audited(
    put: PlatformUnderTest, org: Org
) -> None:
    """Sign-in runs in the operation's unit of work and leaves the token's last_used_at to
    its end: a success writes it; a failure rolls it back and is audited after the unit (on
    SQLite a failure audited while the unit held the write lock would wait for itself)."""
    with put.platform.db.session() as s:
        s.execute(update(ApiToken).values(last_used_at=None))
    missing = org.call("developer", "env.reveal", {"project": "demo", "name": "NOT_THERE"})
    assert missing.status_code == 404, missing.text
    with put.platform.db.session() as s:
        assert all(t.last_used_at is None for t in s.scalars(select(ApiToken)))
    listed = org.ok("developer", "env.list", {"project": "demo"})
    assert listed["items"] == []
    with put.platform.db.session() as s:
        used = {t.user.username: t.last_used_at for t in s.scalars(select(ApiToken))}
    assert used["acme-developer"] is not None and used["acme-owner"] is None
    outcomes = [
        (r["operation"], r["outcome"]) for r in org.ok("owner", "audit.list", {"actor": "acme-developer"})["items"]
    ]
    assert ("env.reveal", "failed: Not found") in outcomes and ("env.list", "succeeded") in outcomes
