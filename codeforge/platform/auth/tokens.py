"""API tokens: shown once, stored as a SHA-256 hash, expiring and revocable."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from codeforge.catalog import Role
from codeforge.catalog.errors import Unauthenticated
from codeforge.platform.auth.models import ApiToken, User
from codeforge.platform.context import Actor
from codeforge.platform.db import utcnow

__all__ = ["TokenRefused", "actor_of", "authenticate", "hash_token", "issue_token"]

PREFIX = "cf_"
_TOUCH_EVERY = timedelta(seconds=60)  # last_used_at is advisory: don't write on every request


class TokenRefused(Unauthenticated):
    """A refused token, with why in one word for metrics and logs: missing, unknown, revoked, expired."""

    def __init__(self, reason: str, detail: str, *, fix: str) -> None:
        super().__init__(detail, fix=fix)
        self.reason = reason


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def issue_token(session: Session, user: User, name: str, expires_in_days: int | None) -> tuple[ApiToken, str]:
    raw = PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    token = ApiToken(
        user_id=user.id,
        name=name,
        token_hash=hash_token(raw),
        prefix=raw[:10],
        created_at=now,
        expires_at=now + timedelta(days=expires_in_days) if expires_in_days else None,
    )
    session.add(token)
    session.flush()
    return token, raw


def authenticate(session: Session, raw: str, source: str) -> Actor:
    fix = "create a token with `codeforge tokens create` (or run `codeforge up` locally) and set CODEFORGE_TOKEN"
    if not raw:
        raise TokenRefused("missing", "no API token in the request (Authorization: Bearer …)", fix=fix)
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(raw)))
    if token is None:
        raise TokenRefused("unknown", "the API token is not known to this platform", fix=fix)
    return actor_of(session, token, source)


def actor_of(session: Session, token: ApiToken, source: str) -> Actor:
    """The actor behind a stored token, if the token is still valid."""
    fix = "create a token with `codeforge tokens create` (or run `codeforge up` locally) and set CODEFORGE_TOKEN"
    now = utcnow()
    if token.revoked_at is not None:
        raise TokenRefused(
            "revoked", f"the API token {token.name!r} was revoked on {token.revoked_at:%Y-%m-%d}", fix=fix
        )
    if token.expires_at is not None and token.expires_at <= now:
        raise TokenRefused("expired", f"the API token {token.name!r} expired on {token.expires_at:%Y-%m-%d}", fix=fix)
    if token.last_used_at is None or now - token.last_used_at > _TOUCH_EVERY:
        session.execute(update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=now))
    user = token.user
    return Actor(
        user_id=user.id,
        username=user.username,
        org_id=user.org_id,
        org_slug=user.org.slug,
        role=Role(user.role),
        token_id=token.id,
        token_name=token.name,
        source=source,
    )
