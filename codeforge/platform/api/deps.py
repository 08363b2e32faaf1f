"""Annotated dependencies of the routes."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from codeforge.catalog.errors import RateLimited
from codeforge.platform.auth.limits import AuthLimiter
from codeforge.platform.auth.tokens import TokenRefused
from codeforge.platform.context import Actor
from codeforge.platform.core import Platform

__all__ = [
    "BearerCredentials",
    "CurrentActor",
    "PlatformDep",
    "check_rate_limit",
    "client_address",
    "note_auth_failure",
    "sign_in",
]

log = logging.getLogger("codeforge.auth")

# Declares the bearer scheme in the OpenAPI document for every route that needs a token; a
# missing or malformed header still reaches get_actor, which answers 401 with the fix.
bearer = HTTPBearer(auto_error=False, description="An API token: `codeforge tokens create` or `codeforge up`.")


async def get_platform(request: Request) -> Platform:
    # async: a plain function dependency costs a worker-thread round trip per request.
    platform: Platform = request.app.state.platform
    return platform


PlatformDep = Annotated[Platform, Depends(get_platform)]


def client_address(request: Request) -> str:
    return request.client.host if request.client else ""


def _limiter(request: Request) -> AuthLimiter:
    limiter: AuthLimiter = request.app.state.auth_limiter
    return limiter


def check_rate_limit(request: Request, platform: Platform) -> None:
    """Refuse an address that failed to authenticate too often, even with a good token now."""
    wait = _limiter(request).retry_after(client_address(request))
    if wait:
        platform.metrics.auth_rate_limited.inc()
        raise RateLimited(
            "too many failed sign-ins from your address",
            fix=f"wait {wait} s and retry with a valid token (`codeforge tokens create`)",
            retry_after=wait,
        )


def note_auth_failure(request: Request, platform: Platform, reason: str) -> None:
    """Count, log (never the token) and rate-limit a failed authentication."""
    source = client_address(request)
    platform.metrics.auth_failures.labels(reason).inc()
    log.warning("authentication failed", extra={"source": source, "reason": reason, "path": request.url.path})
    if reason != "missing":  # a request without a token guesses nothing
        _limiter(request).failed(source)


def sign_in(
    request: Request,
    platform: Platform,
    credentials: HTTPAuthorizationCredentials | None,
    session: Session | None = None,
    project: str | None = None,
) -> Actor:
    """The actor behind the request's bearer token (in `session`, when given, with the
    `project` the request names looked up alongside), after the address's rate limit; a
    refusal is counted, logged and limited."""
    check_rate_limit(request, platform)
    token = credentials.credentials.strip() if credentials is not None else ""
    try:
        return platform.authenticate(token, client_address(request), session, project)
    except TokenRefused as exc:
        note_auth_failure(request, platform, exc.reason)
        raise


def get_actor(
    request: Request,
    platform: PlatformDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Actor:
    return sign_in(request, platform, credentials)


CurrentActor = Annotated[Actor, Depends(get_actor)]
# For a sync route that signs in itself (sign_in), in its own worker thread:
# a sync dependency costs a worker-thread round trip of its own on every request.
BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
