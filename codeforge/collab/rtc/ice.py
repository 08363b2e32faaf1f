"""ICE settings of calls: STUN/TURN servers, and host candidates that include loopback.

aioice (aiortc's ICE) gathers host candidates from every interface but leaves 127.0.0.1 out,
and it has no option to put it back. A call on one machine whose only interface is `lo` (a
container or network namespace with no network, a test) then has no candidate at all and
never connects. `include_loopback()` wraps `aioice.ice.get_host_addresses` (the one function
`Connection.gather_candidates` asks, by module global) so it adds 127.0.0.1: every peer
connection of the process, server and clients alike, then offers a loopback candidate beside
the others. On a machine with a LAN address both work; ICE picks whichever answers.

Without configured servers the configuration has **no** ICE servers: aiortc's default is
Google's public STUN server, which a bridge without internet access would wait on (and which
a call on loopback or a LAN does not need).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aioice.ice
from aiortc import RTCBundlePolicy, RTCConfiguration, RTCIceServer, RTCIceTransportPolicy
from aiortc.rtcicetransport import parse_stun_turn_uri

__all__ = ["IceSettings", "TurnServer", "ice_servers_json", "include_loopback", "rtc_configuration"]

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class TurnServer:
    url: str  # turn:host:port?transport=udp (or tcp; turns: for TLS)
    username: str
    credential: str = field(repr=False)  # a secret: kept out of reprs, logs and errors


@dataclass(frozen=True)
class IceSettings:
    stun: tuple[str, ...] = ()  # stun:host:port
    turn: tuple[TurnServer, ...] = ()
    # Only relayed candidates (iceTransportPolicy "relay"): everything through the TURN server,
    # for a network that lets nothing else through, or that must not see the client's address.
    relay_only: bool = False

    def __post_init__(self) -> None:
        for url in self.stun:
            _check_url(url, ("stun", "stuns"), "CODEFORGE_CALL_STUN")
        for server in self.turn:
            _check_url(server.url, ("turn", "turns"), "CODEFORGE_CALL_TURN")
        if self.relay_only and not self.turn:
            raise ValueError("relay-only needs a TURN server (CODEFORGE_CALL_TURN): nothing else relays")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> IceSettings:
        """`CODEFORGE_CALL_STUN`, `CODEFORGE_CALL_TURN` (comma-separated URLs),
        `CODEFORGE_CALL_TURN_USERNAME`, `CODEFORGE_CALL_TURN_PASSWORD`, `CODEFORGE_CALL_RELAY_ONLY`
        (1: relayed candidates only)."""
        env = os.environ if environ is None else environ
        stun = tuple(url.strip() for url in env.get("CODEFORGE_CALL_STUN", "").split(",") if url.strip())
        turn_urls = [url.strip() for url in env.get("CODEFORGE_CALL_TURN", "").split(",") if url.strip()]
        username = env.get("CODEFORGE_CALL_TURN_USERNAME", "")
        password = env.get("CODEFORGE_CALL_TURN_PASSWORD", "")
        if turn_urls and (not username or not password):
            missing = [
                name
                for name, value in (
                    ("CODEFORGE_CALL_TURN_USERNAME", username),
                    ("CODEFORGE_CALL_TURN_PASSWORD", password),
                )
                if not value
            ]
            raise ValueError(
                f"CODEFORGE_CALL_TURN is set but {' and '.join(missing)} is not: set both for the TURN server"
            )
        relay_only = env.get("CODEFORGE_CALL_RELAY_ONLY", "").strip().lower() in ("1", "true", "yes")
        turn = tuple(TurnServer(url, username, password) for url in turn_urls)
        return cls(stun=stun, turn=turn, relay_only=relay_only)


def _check_url(url: str, schemes: tuple[str, ...], variable: str) -> None:
    try:
        parsed = parse_stun_turn_uri(url)
    except ValueError as exc:
        raise ValueError(
            f"{variable}: {url!r} is not a {schemes[0]}: URL ({exc}); write {schemes[0]}:host:port"
        ) from None
    if parsed["scheme"] not in schemes:
        raise ValueError(f"{variable}: {url!r} is a {parsed['scheme']}: URL; expected {' or '.join(schemes)}:host:port")


def rtc_configuration(settings: IceSettings | None = None) -> RTCConfiguration:
    """The peer connection configuration for a call (server or client side). Installs the
    loopback host candidate (idempotent). aioice uses the first STUN and the first TURN server.
    Max-bundle: with aiortc's default policy a second video m-line made before negotiation
    (a share and a watch line) stays on a transport that is never used, and gets no video."""
    include_loopback()
    servers: list[RTCIceServer] = []
    if settings is not None:
        servers += [RTCIceServer(urls=url) for url in settings.stun]
        servers += [RTCIceServer(urls=t.url, username=t.username, credential=t.credential) for t in settings.turn]
    policy = RTCIceTransportPolicy.RELAY if settings is not None and settings.relay_only else RTCIceTransportPolicy.ALL
    return RTCConfiguration(iceServers=servers, iceTransportPolicy=policy, bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)


def ice_servers_json(settings: IceSettings | None) -> list[dict[str, Any]]:
    """What a browser's `RTCPeerConnection({iceServers})` takes (the TURN credential is given
    to participants: that is what it is for; it is never logged)."""
    if settings is None:
        return []
    out: list[dict[str, Any]] = [{"urls": url} for url in settings.stun]
    out += [{"urls": t.url, "username": t.username, "credential": t.credential} for t in settings.turn]
    return out


def include_loopback() -> None:
    """Make aioice gather a 127.0.0.1 host candidate too (once per process)."""
    current = aioice.ice.get_host_addresses
    if getattr(current, "_codeforge_loopback", False):
        return
    aioice.ice.get_host_addresses = _with_loopback(current)  # type: ignore[assignment]


def _with_loopback(original: Callable[[bool, bool], list[str]]) -> Callable[[bool, bool], list[str]]:
    def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        addresses = list(original(use_ipv4, use_ipv6))
        if use_ipv4 and LOOPBACK not in addresses:
            addresses.append(LOOPBACK)
        return addresses

    get_host_addresses._codeforge_loopback = True  # type: ignore[attr-defined]
    return get_host_addresses
