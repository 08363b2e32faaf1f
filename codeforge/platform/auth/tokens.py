"""API tokens: shown once, stored as a SHA-256 hash, expiring and revocable."""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy import Row, and_, bindparam, select, update
from sqlalchemy.orm import Session

from codeforge.catalog import Role
from codeforge.catalog.errors import Unauthenticated
from codeforge.platform.auth.models import ApiToken, Organization, Project, User
from codeforge.platform.context import Actor
from codeforge.platform.db import utcnow

__all__ = ["TokenRefused", "actor_of", "authenticate", "hash_token", "issue_token", "missing_token", "touch_token"]

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
# operation the request asked for. Built once: building costs more than running.
_SIGN_IN = (
    select(
        ApiToken.id.label("token_id"),
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
)
_BY_HASH = _SIGN_IN.where(ApiToken.token_hash == bindparam("token_hash"))
# With the project a request names, in the same round trip: on PostgreSQL each statement
# of a request is one, and the project is looked up on almost every request.
_BY_HASH_WITH_PROJECT = (
    _SIGN_IN.add_columns(Project)
    .outerjoin(Project, and_(Project.org_id == User.org_id, Project.slug == bindparam("project")))
    .where(ApiToken.token_hash == bindparam("token_hash"))
)
_BY_ID = _SIGN_IN.where(ApiToken.id == bindparam("token_id"))

_FIX = "create a token with `codeforge tokens create` (or run `codeforge up` locally) and set CODEFORGE_TOKEN"


def touch_token(session: Session, token_id: str) -> None:
    session.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=utcnow()))


def missing_token() -> TokenRefused:
    return TokenRefused("missing", "no API token in the request (Authorization: Bearer …)", fix=_FIX)


def authenticate(
    session: Session, raw: str, source: str, *, defer_touch: bool = False, project: str | None = None
) -> Actor:
    """The actor behind a raw token. Its last_used_at is written now, or with `defer_touch`
    left to the caller (the actor says `touch_due`). With `project` (a slug), the actor
    carries that project of its organization as `Actor.named_project`, looked up in the same
    query (None inside it: no such project in the organization)."""
    if not raw:
        raise missing_token()
    if project is None:
        row = session.execute(_BY_HASH, {"token_hash": hash_token(raw)}).first()
    else:
        row = session.execute(_BY_HASH_WITH_PROJECT, {"token_hash": hash_token(raw), "project": project}).first()
    if row is None:
        raise TokenRefused("unknown", "the API token is not known to this platform", fix=_FIX)
    actor = _actor(session, row, source, defer_touch=defer_touch)
    if project is not None:
        actor = dataclasses.replace(actor, named_project=(project, row.Project))
    return actor


def actor_of(session: Session, token_id: str, source: str) -> Actor | None:
    """The actor behind a stored token, if the token is still valid; None if it is gone."""
    row = session.execute(_BY_ID, {"token_id": token_id}).first()
    return None if row is None else _actor(session, row, source)


def _actor(session: Session, row: Row[*tuple[Any, ...]], source: str, *, defer_touch: bool = False) -> Actor:
    """The actor of a row of `_SIGN_IN`, unless its token is revoked or expired."""
    now = utcnow()
    if row.revoked_at is not None:
        raise TokenRefused("revoked", f"the API token {row.name!r} was revoked on {row.revoked_at:%Y-%m-%d}", fix=_FIX)
    if row.expires_at is not None and row.expires_at <= now:
        raise TokenRefused("expired", f"the API token {row.name!r} expired on {row.expires_at:%Y-%m-%d}", fix=_FIX)
    touch_due = row.last_used_at is None or now - row.last_used_at > _TOUCH_EVERY
    if touch_due and not defer_touch:
        touch_token(session, row.token_id)
    return Actor(
        user_id=row.user_id,
        username=row.username,
        org_id=row.org_id,
        org_slug=row.org_slug,
        role=Role(row.role),
        token_id=row.token_id,
        token_name=row.name,
        source=source,
        touch_due=touch_due and defer_touch,
    )
