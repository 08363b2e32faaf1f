"""`codeforge bridge FOLDER`: the websockets server of one workspace folder.

One path per channel (`/lsp`, `/sync`, …; 404 for any other). The handshake is checked
before the websocket opens (websockets' `process_request`): the ids, then the token with the
platform (`auth.py`), then the session's owner, then whether a resumed link is known (410
when it is not: the bridge restarted or the session ended). Only then does the connection
upgrade, and the link it carries resumes where the client's `X-CodeForge-Received` says.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import os
import re
import signal
import socket
import ssl
import sys
import time
import weakref
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.frames import CloseCode
from websockets.http11 import Request, Response

from codeforge.bridge.auth import FailureLimiter, Refused, bearer_token, sign_in
from codeforge.bridge.channels import CHANNELS, Serve, load_channels
from codeforge.bridge.link import MAX_MESSAGE, Link, LinkClosed
from codeforge.bridge.reporting import Reporter
from codeforge.bridge.sessions import ChannelContext, Identity, Session, Sessions
from codeforge.catalog import auth as _auth_ops  # noqa: F401  (declares auth.whoami, called by name)
from codeforge.catalog.bridges import ID_PATTERN
from codeforge.catalog.errors import CodeForgeError
from codeforge.client import AsyncPlatformClient
from codeforge.lsp.transport import ExpectedErrors

__all__ = ["Bridge", "BridgeOptions", "check_folder", "run_bridge"]

log = logging.getLogger(__name__)

ID = re.compile(ID_PATTERN)  # the ids the platform's bridges.* operations accept
RECEIVED = "X-CodeForge-Received"
RESUME = "X-CodeForge-Resume"
RECHECK_AFTER = 30.0  # seconds a new link of a live session goes on its session's token check


@dataclass
class BridgeOptions:
    folder: Path
    project: str | None = None
    host: str = "127.0.0.1"
    port: int = 8471
    cert: Path | None = None
    key: Path | None = None
    grace: float = 120.0
    url: str | None = None  # the platform's
    token: str | None = None  # the bridge's own
    bridge_id: str | None = None
    log_level: str = "INFO"


class BridgeError(Exception):
    """The bridge cannot start: the message says what is wrong and what to do."""


def check_folder(folder: Path) -> Path:
    """The folder, resolved; BridgeError when it is missing, not a folder or unreadable."""
    if not folder.exists():
        raise BridgeError(f"{folder} does not exist: give the workspace folder to serve")
    resolved = folder.resolve()
    if not resolved.is_dir():
        raise BridgeError(f"{folder} is not a folder: give the workspace folder to serve")
    if not os.access(resolved, os.R_OK | os.X_OK):
        raise BridgeError(f"{folder} is not readable by this user: fix its permissions or run as its owner")
    return resolved


def _tls(cert: Path | None, key: Path | None) -> ssl.SSLContext | None:
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise BridgeError("TLS needs both --cert and --key")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise BridgeError(f"cannot load the TLS certificate {cert} and key {key}: {exc}") from None
    return context


@dataclass
class _Handshake:
    """What `process_request` found, for the handler of the same connection."""

    channel: str
    session_id: str
    link_id: str
    params: dict[str, str]
    peer_received: int
    identity: Identity
    token: str = field(repr=False)
    platform: AsyncPlatformClient | None = field(repr=False)  # None: the session's token was checked just now
    received: int = 0  # ours, answered in the handshake


class Bridge:
    """The server: sessions, their links and the channels that serve them."""

    def __init__(
        self,
        workspace: Path,
        *,
        project: str,
        platform_url: str,
        token: str,
        bridge_id: str = "",
        grace: float = 120.0,
        tls: ssl.SSLContext | None = None,
        collab_store: Path | None = None,
    ) -> None:
        self.workspace = workspace
        self.project = project
        self.platform_url = platform_url.rstrip("/")
        self.bridge_id = bridge_id or _default_id(workspace)
        self.tls = tls
        self.sessions = Sessions(grace=grace)
        self.shared: dict[str, Any] = {}
        self.missing_channels: dict[str, str] = {}
        self.limiter = FailureLimiter()
        # Weak: a client that vanishes between the check and the upgrade leaves nothing behind.
        self._handshakes: weakref.WeakKeyDictionary[ServerConnection, _Handshake] = weakref.WeakKeyDictionary()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._server: Server | None = None
        self.url = ""
        self._token = token
        self.organization = ""  # the bridge's own (its token's), learnt from the platform
        self._organization_lock = asyncio.Lock()
        self.reporter = Reporter(self, token)
        self.collab: Any = None  # bridge.collab.CollabEndpoint: the /collab/ paths, once started
        self.collab_error = ""
        self._collab_store = collab_store
        self.calls: Any = None  # bridge.call.CallEndpoint: the /call/ paths, once started
        self.calls_error = ""

    # -- lifetime -------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen; returns the URL editors connect to."""
        self.missing_channels = load_channels()
        await self._start_collab()
        await self._start_calls()
        with contextlib.suppress(Refused):  # not fatal: asked again at the first handshake
            await self.own_organization()
        self._server = await serve(
            self._handle,
            host,
            port,
            process_request=self._process_request,
            process_response=self._process_response,
            ssl=self.tls,
            max_size=MAX_MESSAGE + 64,
            close_timeout=2,  # a closing handshake over a dead network must not hold the exit
            compression=None,  # keystrokes and LSP messages are small; deflate costs latency
            server_header=None,
        )
        bound = self._server.sockets[0].getsockname()
        shown = host if host not in ("0.0.0.0", "::", "") else socket.gethostname()
        shown = f"[{shown}]" if ":" in shown else shown
        self.url = f"{'wss' if self.tls else 'ws'}://{shown}:{bound[1]}"
        self.reporter.start()
        return self.url

    async def stop(self) -> None:
        """Stop: close every websocket (clients see the bridge go away and redial), then end
        every session without telling the links (a restarted bridge answers their resume
        with 410, which is how `connect` knows to start over)."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        await self.sessions.end_all("the bridge is stopping")
        await self.reporter.stop()
        if self.calls is not None:  # every call ends ("the bridge is stopping")
            await self.calls.stop()
            self.calls = None
            self.shared.pop("calls", None)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.collab is not None:  # after the websockets closed: writes the rooms' history
            await self.collab.stop()
            self.collab = None

    async def _start_collab(self) -> None:
        """The collaboration endpoint and its rooms' hub (`shared["collab"]`). Imported here,
        not at the top: codeforge.collab is the endpoint's dependency only (test_rules)."""
        from codeforge.bridge.collab import CollabEndpoint

        try:
            self.collab = await CollabEndpoint.start(self, self._collab_store)
        except Exception as exc:  # the other channels work without it
            log.exception("collaboration is not available")
            self.collab_error = f"{type(exc).__name__}: {exc}"
            return
        self.shared["collab"] = self.collab.hub

    async def _start_calls(self) -> None:
        """The call endpoint and the bridge's media server (`shared["calls"]`, docs/voice.md);
        it follows the sessions through the collaboration hub's access registry."""
        if self.collab is None:
            self.calls_error = f"collaboration is not available: {self.collab_error or 'stopped'}"
            return
        try:
            from codeforge.bridge.call import CallEndpoint

            self.calls = await CallEndpoint.start(self, self.collab.access, self._token)
        except Exception as exc:  # aiortc missing or broken: the other channels work without it
            log.exception("calls are not available")
            self.calls_error = f"{type(exc).__name__}: {exc}"
            return
        self.shared["calls"] = self.calls.server

    async def own_organization(self) -> str:
        """The organization of the bridge's own token: a project slug is only unique inside
        one, so an editor's token must belong to it too."""
        async with self._organization_lock:
            if not self.organization:
                platform = AsyncPlatformClient(self.platform_url, self._token, timeout=10.0)
                try:
                    self.organization = (await platform.call("auth.whoami", {})).organization
                except CodeForgeError as exc:
                    log.warning("cannot ask the platform who the bridge is: %s", exc.message)
                    raise Refused(503, "the bridge cannot reach the platform; try again shortly") from None
                finally:
                    await platform.aclose()
        return self.organization

    # -- the handshake --------------------------------------------------------------------

    async def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        try:
            if request.path.startswith("/collab/"):  # a Yjs client: bridge.collab checks it
                if self.collab is None:
                    raise Refused(
                        503, f"collaboration is not available on this bridge: {self.collab_error or 'stopped'}"
                    )
                await self.collab.check(connection, request, _peer(connection))
                return None
            if request.path.startswith("/call/"):  # a call's signalling: bridge.call checks it
                if self.calls is None:
                    raise Refused(503, f"calls are not available on this bridge: {self.calls_error or 'stopped'}")
                await self.calls.check(connection, request, _peer(connection))
                return None
            self._handshakes[connection] = await self._check(connection, request)
        except Refused as refused:
            log.info("refused %s %s: %s", _peer(connection), urlsplit(request.path).path, refused)
            response = connection.respond(HTTPStatus(refused.status), refused.reason + "\n")
            return response
        return None

    def _process_response(self, connection: ServerConnection, request: Request, response: Response) -> None:
        handshake = self._handshakes.get(connection)
        if handshake is None:
            return
        if response.status_code == 101:
            response.headers[RECEIVED] = str(handshake.received)
        else:  # the upgrade failed after the check: no handler will come for it
            del self._handshakes[connection]
            if handshake.platform is None:
                return
            closing = asyncio.ensure_future(handshake.platform.aclose())
            self._tasks.add(closing)
            closing.add_done_callback(self._tasks.discard)

    async def _check(self, connection: ServerConnection, request: Request) -> _Handshake:
        url = urlsplit(request.path)
        channel = url.path.strip("/")
        if channel not in CHANNELS:
            known = ", ".join(sorted(CHANNELS))
            why = f" ({self.missing_channels[channel]})" if channel in self.missing_channels else ""
            raise Refused(404, f"unknown channel {channel!r}{why}; this bridge serves: {known}")
        params = dict(parse_qsl(url.query))
        session_id, link_id = params.pop("session", ""), params.pop("link", "")
        if not ID.match(session_id) or not ID.match(link_id):
            raise Refused(400, "the URL needs ?session=<id>&link=<id> (letters, digits, _ . : @ + -)")
        headers: Headers = request.headers
        try:
            peer_received = int(headers.get(RECEIVED, "0"))
            if peer_received < 0:
                raise ValueError
        except ValueError:
            raise Refused(400, f"{RECEIVED} must be a message number (0 for a new link)") from None
        token = bearer_token(headers)
        address = _peer(connection).rpartition(":")[0]
        if token and (wait := self.limiter.retry_after(address, token)):
            raise Refused(429, f"too many refused tokens; retry in {wait} s with a valid one")
        resume = headers.get(RESUME) == "1"
        if (recent := self._recently_checked(session_id, token, resume=resume)) is not None:
            received = self._resume_point(session_id, link_id, channel, recent.user, resume=False)
            return _Handshake(channel, session_id, link_id, params, peer_received, recent.user, token, None, received)
        identity, platform = await sign_in(
            self, token, address=address, session=session_id, channel=channel, client=_peer(connection)
        )
        try:
            received = self._resume_point(session_id, link_id, channel, identity, resume=resume)
        except Refused:
            await platform.aclose()
            raise
        return _Handshake(channel, session_id, link_id, params, peer_received, identity, token, platform, received)

    def _recently_checked(self, session_id: str, token: str, *, resume: bool) -> Session | None:
        """The live session whose token this is, if the platform accepted it within
        RECHECK_AFTER seconds. A forward opens one link per TCP connection (a browser, several
        per page): each would otherwise cost a platform round trip and an audit record. A
        resume is always checked, so a revoked token never resumes."""
        session = self.sessions.get(session_id)
        if resume or session is None or session.ended or not session.attached or not token:
            return None
        if not hmac.compare_digest(session.token, token) or time.monotonic() - session.checked_at > RECHECK_AFTER:
            return None
        return session

    def _resume_point(self, session_id: str, link_id: str, channel: str, identity: Identity, *, resume: bool) -> int:
        session = self.sessions.get(session_id)
        if session is not None and not session.owned_by(identity):
            raise Refused(403, "this session belongs to another user: start your own (a new codeforge connect)")
        link = session.links.get(link_id) if session is not None else None
        if link is None:
            if resume:
                raise Refused(410, "session ended (the bridge restarted or the grace period passed): open a new one")
            return 0
        if session is not None and session.channels.get(link_id) != channel:
            raise Refused(400, f"link {link_id} belongs to channel {session.channels.get(link_id)}, not {channel}")
        return link.received

    # -- connections ----------------------------------------------------------------------

    async def _handle(self, connection: ServerConnection) -> None:
        if self.collab is not None and self.collab.owns(connection):
            await self.collab.serve(connection)
            return
        if self.calls is not None and self.calls.owns(connection):
            await self.calls.serve(connection)
            return
        handshake = self._handshakes.pop(connection)
        session = self.sessions.get(handshake.session_id)
        if session is None:
            if handshake.platform is None:  # it ended between the check and now
                await connection.close(CloseCode.GOING_AWAY, "session ended: open a new one")
                return
            session = self.sessions.open(handshake.session_id, handshake.identity, handshake.token, handshake.platform)
        elif handshake.platform is not None:
            session.checked_at = time.monotonic()
            await handshake.platform.aclose()  # the session keeps the client it opened with
        link = session.links.get(handshake.link_id)
        if link is None:
            # Strict: a client that ignores the window cannot fill the bridge's memory.
            link = Link(handshake.session_id, handshake.link_id, handshake.params, strict=True)
            self.sessions.add_link(session, handshake.channel, link)
            self._start_channel(CHANNELS[handshake.channel], link, session, handshake)
        self.sessions.websocket_attached(session)
        try:
            await link.attach(connection, handshake.peer_received)
        finally:
            self.sessions.websocket_detached(session)

    def _start_channel(self, serve_channel: Serve, link: Link, session: Session, handshake: _Handshake) -> None:
        context = ChannelContext(
            session=session,
            workspace=self.workspace,
            project=self.project,
            platform=session.platform,
            params=dict(handshake.params),
            shared=self.shared,
            sessions=self.sessions,
        )
        task = asyncio.create_task(_run_channel(handshake.channel, serve_channel, link, context))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


async def _run_channel(name: str, serve_channel: Serve, link: Link, context: ChannelContext) -> None:
    reason = "done"
    try:
        await serve_channel(link, context)
    except LinkClosed:
        return
    except Exception as exc:  # a channel's bug ends its link, not the bridge
        log.exception("channel %s of session %s failed", name, link.session_id)
        reason = f"the bridge's {name} channel failed: {type(exc).__name__}"
    await link.close(reason)


def _peer(connection: ServerConnection) -> str:
    address = connection.remote_address
    return f"{address[0]}:{address[1]}" if isinstance(address, tuple) else str(address)


def _loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _default_id(workspace: Path) -> str:
    """Stable across restarts of the same bridge, so the platform lists it as one."""
    digest = hashlib.sha256(f"{socket.gethostname()}:{workspace}".encode()).hexdigest()[:12]
    return f"{socket.gethostname()[:40]}-{digest}".replace(" ", "-") if ID.match(socket.gethostname()) else digest


def run_bridge(options: BridgeOptions) -> int:
    """The CLI's `codeforge bridge`: check, listen, print the URL, serve until a signal."""
    from codeforge.config import load_client_config

    logging.basicConfig(
        stream=sys.stderr, level=options.log_level.upper(), format="%(levelname)s %(name)s: %(message)s"
    )
    # pygls logs every message it sends and receives at INFO and DEBUG: a secret an editor
    # reveals (env.reveal, tokens.create) would be written to the bridge's log. httpx logs
    # each platform request's URL at INFO, which says nothing the bridge's own lines don't.
    for noisy in ("pygls", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger("pygls.protocol.json_rpc").addFilter(ExpectedErrors())
    try:
        workspace = check_folder(options.folder)
        tls = _tls(options.cert, options.key)
    except BridgeError as exc:
        print(f"codeforge bridge: {exc}", file=sys.stderr)
        return 2
    cfg = load_client_config()
    token = options.token or cfg.token
    if not token:
        print(
            "codeforge bridge: no platform token: pass --token, set CODEFORGE_TOKEN or run `codeforge up`",
            file=sys.stderr,
        )
        return 2
    try:
        project = options.project or _project_of(workspace)
    except CodeForgeError as exc:  # a broken codeforge.yaml: say so rather than guess a project
        print(f"codeforge bridge: cannot tell the project: {exc.message}; or pass --project", file=sys.stderr)
        return 2
    bridge = Bridge(
        workspace,
        project=project,
        platform_url=options.url or cfg.url or "http://127.0.0.1:8470",
        token=token,
        bridge_id=options.bridge_id or "",
        grace=options.grace,
        tls=tls,
    )
    return asyncio.run(_serve_until_signal(bridge, options))


def _project_of(workspace: Path) -> str:
    from codeforge.project import current_project  # codeforge.yaml's `project:`, else the login's

    return current_project(workspace)


async def _serve_until_signal(bridge: Bridge, options: BridgeOptions) -> int:
    try:
        url = await bridge.start(options.host, options.port)
    except OSError as exc:
        print(
            f"codeforge bridge: cannot listen on {options.host}:{options.port}: {exc.strerror or exc}", file=sys.stderr
        )
        return 2
    print(
        f"codeforge bridge: serving {bridge.workspace} (project {bridge.project}) at {url}\n"
        f"  connect an editor with: codeforge connect {url}",
        flush=True,
    )
    if bridge.tls is None and not _loopback(options.host):
        print(
            f"codeforge bridge: warning: serving {options.host} without TLS: tokens cross the network in clear; "
            "pass --cert and --key, or put a TLS proxy in front",
            file=sys.stderr,
            flush=True,
        )
    if bridge.missing_channels:
        names = ", ".join(sorted(bridge.missing_channels))
        print(f"codeforge bridge: channels not available: {names} (see the log)", file=sys.stderr, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    with contextlib.suppress(Exception):
        await bridge.stop()
    return 0
