"""API tokens: shown once, stored as a SHA-256 hash, expiring and revocable."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from codeforge.catalog import Role
from codeforge.catalog.errors import Unauthenticated
from codeforge.platform.auth.models import ApiToken, Organization, User
from codeforge.platform.context import Actor
from codeforge.platform.db import utcnow

__all__ = ["TokenRefused", "actor_of", "authenticate", "hash_token", "issue_token", "touch_token"]

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


# The token, its member and their organization in one query, as columns: every request
# authenticates, and loading three ORM objects (joined eager loading) cost as much as the
# operation the request asked for.
_BY_HASH = (
    select(
        ApiToken.id,
        ApiToken.name,
        ApiToken.revoked_at,
        ApiToken.expires_at,
        ApiToken.last_used_at,
        User.id.label("user_id"),
        User.username,
        User.org_id,
        User.role,
        Organization.slug.label("org_slug"),
    )
    .join(User, User.id == ApiToken.user_id)
    .join(Organization, Organization.id == User.org_id)
    .where(ApiToken.token_hash == bindparam("token_hash"))  # built once: building costs more than running
)


def touch_token(session: Session, token_id: str) -> None:
    session.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=utcnow()))


def authenticate(session: Session, raw: str, source: str, *, defer_touch: bool = False) -> Actor:
    """The actor behind a raw token. Its last_used_at is written now, or with `defer_touch`
    left to the caller (the actor says `touch_due`)."""
    fix = "create a token with `codeforge tokens create` (or run `codeforge up` locally) and set CODEFORGE_TOKEN"
    if not raw:
        raise TokenRefused("missing", "no API token in the request (Authorization: Bearer …)", fix=fix)
    row = session.execute(_BY_HASH, {"token_hash": hash_token(raw)}).first()
    if row is None:
        raise TokenRefused("unknown", "the API token is not known to this platform", fix=fix)
    return _actor(
        session,
        source,
        defer_touch=defer_touch,
        token_id=row.id,
        name=row.name,
        revoked_at=row.revoked_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        user_id=row.user_id,
        username=row.username,
        org_id=row.org_id,
        org_slug=row.org_slug,
        role=row.role,
    )


def actor_of(session: Session, token: ApiToken, source: str) -> Actor:
    """The actor behind a stored token, if the token is still valid."""
    user = token.user
    return _actor(
        session,
        source,
        token_id=token.id,
        name=token.name,
        revoked_at=token.revoked_at,
        expires_at=token.expires_at,
        last_used_at=token.last_used_at,
        user_id=user.id,
        username=user.username,
        org_id=user.org_id,
        org_slug=user.org.slug,
        role=user.role,
    )


def _actor(
    session: Session,
    source: str,
    *,
    defer_touch: bool = False,
    token_id: str,
    name: str,
    revoked_at: datetime | None,
    expires_at: datetime | None,
    last_used_at: datetime | None,
    user_id: str,
    username: str,
    org_id: str,
    org_slug: str,
    role: str,
) -> Actor:
    fix = "create a token with `codeforge tokens create` (or run `codeforge up` locally) and set CODEFORGE_TOKEN"
    now = utcnow()
    if revoked_at is not None:
        raise TokenRefused("revoked", f"the API token {name!r} was revoked on {revoked_at:%Y-%m-%d}", fix=fix)
    if expires_at is not None and expires_at <= now:
        raise TokenRefused("expired", f"the API token {name!r} expired on {expires_at:%Y-%m-%d}", fix=fix)
    touch_due = last_used_at is None or now - last_used_at > _TOUCH_EVERY
    if touch_due and not defer_touch:
        touch_token(session, token_id)
    return Actor(
        user_id=user_id,
        username=username,
        org_id=org_id,
        org_slug=org_slug,
        role=Role(role),
        token_id=token_id,
        token_name=name,
        source=source,
        touch_due=touch_due and defer_touch,
    )
