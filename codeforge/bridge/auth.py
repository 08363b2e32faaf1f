"""Is this token allowed on this bridge's project? The platform says, through `bridges.attach`.

Every websocket handshake (a new link and every resume) asks, with the connecting token, so
a revoked token, a token of another organization or a member without write access is
refused before any data flows, also on a resume. The platform audits each call.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import codeforge.catalog.bridges  # noqa: F401  (declares bridges.attach, which the client calls by name)
from codeforge.bridge.sessions import Identity
from codeforge.catalog.errors import CodeForgeError, PlatformUnavailable
from codeforge.client import AsyncPlatformClient

__all__ = ["FailureLimiter", "Refused", "SigningBridge", "bearer_token", "check_token", "sign_in"]

log = logging.getLogger(__name__)


@dataclass
class Refused(Exception):
    """The handshake is refused: `status` (401, 403, 503…) and one line saying why."""

    status: int
    reason: str

    def __str__(self) -> str:
        return f"{self.status} {self.reason}"


async def check_token(
    platform_url: str,
    token: str,
    *,
    project: str,
    bridge: str,
    session: str,
    channel: str,
    client: str,
) -> tuple[Identity, AsyncPlatformClient]:
    """Who the token belongs to, and a platform client acting as them (the caller closes
    it); Refused when the platform says no or cannot answer."""
    if not token:
        raise Refused(401, "no token: send `Authorization: Bearer <platform token>` (codeforge connect --token)")
    platform = AsyncPlatformClient(platform_url, token, timeout=15.0)
    try:
        answer = await platform.call(
            "bridges.attach",
            {"project": project, "bridge": bridge, "session": session, "channel": channel, "client": client[:200]},
        )
    except PlatformUnavailable as exc:
        await platform.aclose()
        log.warning("cannot check a token: %s", exc.detail)
        raise Refused(503, "the bridge cannot reach the platform to check the token; try again shortly") from None
    except CodeForgeError as exc:
        await platform.aclose()
        raise _refusal(exc, project) from None
    except BaseException:
        await platform.aclose()
        raise
    return Identity(username=answer.username, role=answer.role, organization=answer.organization), platform


class SigningBridge(Protocol):
    """What `sign_in` needs of the bridge (`server.Bridge`)."""

    platform_url: str
    project: str
    bridge_id: str
    limiter: FailureLimiter

    async def own_organization(self) -> str: ...


def bearer_token(headers: Mapping[str, str], query: Mapping[str, str] | None = None) -> str:
    """The token of a websocket upgrade: `Authorization: Bearer …`, else `?token=` in `query`
    where the endpoint takes one (browsers and Yjs clients cannot set headers)."""
    scheme, _, token = headers.get("Authorization", "").partition(" ")
    token = token.strip() if scheme.lower() == "bearer" else ""
    return token or (query or {}).get("token", "").strip()


async def sign_in(
    bridge: SigningBridge, token: str, *, address: str, session: str, channel: str, client: str
) -> tuple[Identity, AsyncPlatformClient]:
    """`check_token` behind the bridge's failure limiter (429 while `address` keeps sending
    refused tokens; a refusal is counted), then the organization: a token of another one than
    the project's is refused (403). The caller closes the platform client."""
    limiter = bridge.limiter
    if token and (wait := limiter.retry_after(address, token)):
        raise Refused(429, f"too many refused tokens; retry in {wait} s with a valid one")
    try:
        identity, platform = await check_token(
            bridge.platform_url,
            token,
            project=bridge.project,
            bridge=bridge.bridge_id,
            session=session,
            channel=channel,
            client=client,
        )
    except Refused as refused:
        if refused.status == 401 and token:
            limiter.failed(address)
        raise
    limiter.accepted(token)
    try:
        if identity.organization != await bridge.own_organization():
            raise Refused(
                403, f"this token belongs to another organization than the project {bridge.project} this bridge serves"
            )
    except BaseException:
        await platform.aclose()
        raise
    return identity, platform


def _refusal(exc: CodeForgeError, project: str) -> Refused:
    # The platform's detail is safe to show (it never echoes a token) and says the most.
    if exc.status == 401:
        return Refused(401, f"token refused (bad, expired or revoked): {exc.detail}")
    if exc.status in (403, 404):
        return Refused(403, f"no access to project {project}: {exc.detail}")
    if exc.status in (400, 422):
        return Refused(400, f"bad connection parameters: {exc.message}")
    log.warning("bridges.attach failed with %s: %s", exc.status, exc.detail)
    return Refused(502, f"the platform could not check the token ({exc.status}); try again shortly")


@dataclass
class FailureLimiter:
    """Bad tokens are checked with the platform, which rate-limits failed sign-ins *per
    address*: every check comes from the bridge's address, so a client spraying bad tokens
    would get the bridge itself blocked (every user's handshake, the bridge's reports). The
    bridge therefore stops asking after `per_address` failures a minute from one client, and
    after `overall` failures a minute in all (below the platform's default of 20).

    A token the platform accepted lately still gets through (and is still checked, so a
    revoked one is refused): a spray cannot guess those, and a person behind the same address
    as a broken script, or who retried with a stale token, is not locked out."""

    per_address: int = 5
    overall: int = 15
    window: float = 60.0
    _by_address: dict[str, deque[float]] = field(default_factory=dict)
    _all: deque[float] = field(default_factory=deque)
    # Digests (never the tokens) of tokens the platform accepted, most recent last.
    _accepted: OrderedDict[str, None] = field(default_factory=OrderedDict)

    def _trim(self, times: deque[float], now: float) -> deque[float]:
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    @staticmethod
    def _digest(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    def accepted(self, token: str) -> None:
        digest = self._digest(token)
        self._accepted[digest] = None
        self._accepted.move_to_end(digest)
        while len(self._accepted) > 10_000:
            self._accepted.popitem(last=False)

    def retry_after(self, address: str, token: str = "") -> int:
        """Seconds until `address` may try `token` again; 0: now."""
        if token and self._digest(token) in self._accepted:
            return 0
        now = time.monotonic()
        mine = self._trim(self._by_address.get(address, deque()), now)
        every = self._trim(self._all, now)
        waits = [
            times[0] + self.window - now
            for times, limit in ((mine, self.per_address), (every, self.overall))
            if len(times) >= limit
        ]
        return int(max(waits)) + 1 if waits else 0

    def failed(self, address: str) -> None:
        now = time.monotonic()
        if len(self._by_address) > 10_000:  # bounded under a spray from many addresses
            self._by_address.clear()
        self._by_address.setdefault(address, deque()).append(now)
        self._all.append(now)
