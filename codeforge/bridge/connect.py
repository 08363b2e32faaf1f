"""`codeforge connect URL`: the local half of a remote session, the same for every editor.

One process is one session (one id). `Connection.dial(channel, params)` opens a link and
keeps it: when its websocket drops it redials with backoff and the link resumes where it
stopped. When the bridge answers a resume with 410 (it restarted, or the grace period
passed) the session is gone: the connection takes a new session id and tells whoever
listens (`on_session_lost`), and the LSP relay (`relay.py`) replays what the editor said.

The modes (docs/bridge.md, "Client side") dispatch to the client halves of the other
channel modules, imported only when asked for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, InvalidStatus

from codeforge.bridge.link import MAX_MESSAGE, DialRefused, Link

__all__ = ["ConnectOptions", "Connection", "normalize_url", "run_connect"]

log = logging.getLogger(__name__)

RECEIVED = "X-CodeForge-Received"
RESUME = "X-CodeForge-Resume"
# Redial delays: quick at first (a blip), then every few seconds (a laptop asleep).
BACKOFF = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0)


def normalize_url(url: str) -> str:
    """ws[s]://host:port from what a person may paste (http[s]://, a bare host:port)."""
    if "://" not in url:
        url = "ws://" + url
    parts = urlsplit(url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    if scheme not in ("ws", "wss"):
        raise ValueError(f"{url!r} is not a bridge URL: use ws://HOST:PORT or wss://HOST:PORT")
    if not parts.hostname:
        raise ValueError(f"{url!r} names no host: use ws://HOST:PORT")
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


class Connection:
    """A session with one bridge: dials links and keeps them resumed."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        tls: ssl.SSLContext | None = None,
        open_timeout: float = 10.0,
    ) -> None:
        self.url = normalize_url(url)
        self._token = token
        self.tls = tls
        self.open_timeout = open_timeout
        self.session_id = uuid.uuid4().hex
        self.links: list[Link] = []
        self.on_state: list[Callable[[str], None]] = []  # "reconnecting" | "connected"
        self.on_session_lost: list[Callable[[str], None]] = []  # the new session id
        self._keepers: set[asyncio.Task[None]] = set()
        self._detached: set[str] = set()  # link ids redialling now

    # -- dialling -------------------------------------------------------------------------

    async def dial(self, channel: str, params: dict[str, str] | None = None) -> Link:
        """A new link on `channel`, once its first websocket is up (the `Dial` every client
        half gets). DialRefused when the bridge says no; OSError when it cannot be reached."""
        link = Link(self.session_id, uuid.uuid4().hex, dict(params or {}))
        socket, peer_received = await self._open(channel, link, resume=False)
        self.links.append(link)
        keeper = asyncio.create_task(self._keep(channel, link, socket, peer_received))
        self._keepers.add(keeper)
        keeper.add_done_callback(self._keepers.discard)
        attached = asyncio.ensure_future(link.wait_attached())
        await asyncio.wait({attached, keeper}, return_when=asyncio.FIRST_COMPLETED)
        attached.cancel()
        return link

    async def _open(self, channel: str, link: Link, *, resume: bool) -> tuple[ClientConnection, int]:
        query = urlencode({"session": link.session_id, "link": link.link_id, **link.params})
        headers = {"Authorization": f"Bearer {self._token}", RECEIVED: str(link.received)}
        if resume:
            headers[RESUME] = "1"
        try:
            socket = await connect(
                f"{self.url}/{channel}?{query}",
                additional_headers=headers,
                ssl=self.tls if self.url.startswith("wss:") else None,
                open_timeout=self.open_timeout,
                max_size=MAX_MESSAGE + 64,
                close_timeout=2,  # a closing handshake over a dead network must not hold the exit
                compression=None,
                proxy=None,  # a bridge is reached directly (loopback, a tunnel, the workspace's host)
                user_agent_header="codeforge-connect",
            )
        except InvalidStatus as exc:
            reason = exc.response.body.decode(errors="replace").strip() if exc.response.body else ""
            raise DialRefused(exc.response.status_code, reason or exc.response.reason_phrase) from None
        except InvalidHandshake as exc:
            raise OSError(f"{self.url} did not answer as a CodeForge bridge ({exc})") from None
        try:
            peer_received = int(socket.response.headers.get(RECEIVED, "0")) if socket.response else 0
        except ValueError:
            await socket.close()
            raise OSError(f"{self.url} sent a bad {RECEIVED} header") from None
        return socket, peer_received

    async def _keep(self, channel: str, link: Link, socket: ClientConnection, peer_received: int) -> None:
        """Carry the link; redial whenever its websocket drops, until the link is closed."""
        while True:
            await link.attach(socket, peer_received)
            if link.closed:
                self._drop(link)
                return
            self._set_detached(link, True)
            log.info("link %s (%s) lost its connection; redialling", link.link_id, channel)
            attempt = 0
            while True:
                await asyncio.sleep(BACKOFF[min(attempt, len(BACKOFF) - 1)])
                attempt += 1
                if link.closed:
                    self._drop(link)
                    return
                try:
                    socket, peer_received = await self._open(channel, link, resume=True)
                    break
                except DialRefused as refused:
                    if refused.status in (429, 502, 503):
                        log.info("the bridge cannot take the resume yet (%s); retrying", refused)
                        continue  # for now: the platform is busy or away
                    self._refused(link, refused)
                    self._drop(link)
                    return
                except (OSError, TimeoutError) as exc:
                    log.debug("redial of %s failed: %s", channel, exc)
            self._set_detached(link, False)

    def _refused(self, link: Link, refused: DialRefused) -> None:
        """A resume was refused: the link is over; 410 means the whole session is."""
        log.warning("the bridge refused to resume %s: %s", link.link_id, refused)
        link._mark_closed(f"{refused.status}: {refused.reason}")
        if refused.status == 410 and link.session_id == self.session_id:
            self.session_id = uuid.uuid4().hex
            for listener in self.on_session_lost:
                listener(self.session_id)

    def _drop(self, link: Link) -> None:
        """The link is over: forget it without announcing "connected" (nothing is; after a
        410 the LSP relay says what happens next)."""
        with contextlib.suppress(ValueError):
            self.links.remove(link)
        self._detached.discard(link.link_id)

    def _set_detached(self, link: Link, detached: bool) -> None:
        before = bool(self._detached)
        if detached:
            self._detached.add(link.link_id)
        else:
            self._detached.discard(link.link_id)
        after = bool(self._detached)
        if before != after:
            for listener in self.on_state:
                listener("reconnecting" if after else "connected")

    async def close(self) -> None:
        """Close every link (the bridge ends the session when its last link closes)."""
        await asyncio.gather(*(link.close("the client is done") for link in list(self.links)), return_exceptions=True)
        for keeper in list(self._keepers):
            keeper.cancel()
        await asyncio.gather(*self._keepers, return_exceptions=True)


# -- the command ------------------------------------------------------------------------


@dataclass
class ConnectOptions:
    url: str
    token: str | None = None
    lsp: str | None = None
    terminal: bool = False
    attach: str | None = None
    command: list[str] = field(default_factory=list)
    ports: bool = False
    as_json: bool = False
    forward: list[str] = field(default_factory=list)
    sync: Path | None = None
    once: bool = False
    ssh: bool = False
    dap: bool = False
    join: str | None = None
    collab: str | None = None
    local_root: Path | None = None
    cafile: Path | None = None
    log_level: str = "WARNING"


class UsageError(Exception):
    pass


def _mode(options: ConnectOptions) -> str:
    chosen = [
        name
        for name, on in (
            ("terminal", options.terminal),
            ("ports", options.ports),
            ("forward", bool(options.forward)),
            ("ssh", options.ssh),
            ("dap", options.dap),
        )
        if on
    ]
    if len(chosen) > 1:
        raise UsageError(f"choose one of --terminal, --ports, --forward, --ssh, --dap (got {', '.join(chosen)})")
    if chosen and options.lsp:
        raise UsageError(f"--lsp relays a language server; it does not go with --{chosen[0]}")
    if chosen and options.sync:
        raise UsageError(f"--sync goes alone or with a language server, not with --{chosen[0]}")
    if options.attach and not options.terminal:
        raise UsageError("--attach goes with --terminal")
    if options.command and not options.terminal:
        raise UsageError(f"a command ({' '.join(options.command)}) goes with --terminal only")
    if (options.join or options.local_root) and not options.dap:
        raise UsageError("--join and --local-root go with --dap")
    if options.collab is not None and not ((options.terminal and options.attach) or (options.dap and options.join)):
        raise UsageError(
            "--collab SESSION goes with --terminal --attach ID or --dap --join ID "
            "(the host's terminal or debug session in that collaboration session)"
        )
    if options.once and not options.sync:
        raise UsageError("--once goes with --sync")
    if chosen:
        return chosen[0]
    # `--sync` alone syncs; started by an editor (stdin a pipe) it runs beside the LSP relay.
    if options.sync and options.lsp is None and (options.once or sys.stdin.isatty()):
        return "sync"
    return "lsp"


def _tls(cafile: Path | None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if cafile is not None:
        try:
            context.load_verify_locations(cafile)
        except (OSError, ssl.SSLError) as exc:
            raise UsageError(f"cannot read the CA certificate {cafile}: {exc}") from None
    return context


def run_connect(options: ConnectOptions) -> int:
    """The CLI's `codeforge connect`: exit code 0 when the editor or the user ends it."""
    from codeforge.config import load_client_config

    logging.basicConfig(
        stream=sys.stderr, level=options.log_level.upper(), format="%(levelname)s %(name)s: %(message)s"
    )
    token = options.token or load_client_config().token
    try:
        if not token:
            raise UsageError("no platform token: pass --token, set CODEFORGE_TOKEN or run `codeforge up`")
        mode = _mode(options)
        if options.sync is not None and not options.sync.is_dir():
            raise UsageError(f"--sync {options.sync}: not a folder; create it or name the local copy of the workspace")
        connection = Connection(options.url, token, tls=_tls(options.cafile))
    except (UsageError, ValueError) as exc:
        print(f"codeforge connect: {exc}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_run(connection, options, mode))
    except UsageError as exc:
        print(f"codeforge connect: {exc}", file=sys.stderr)
        return 2
    except DialRefused as exc:
        print(f"codeforge connect: the bridge refused the connection: {exc.status} {exc.reason}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"codeforge connect: cannot reach the bridge at {connection.url}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


async def _run(connection: Connection, options: ConnectOptions, mode: str) -> int:
    dial = connection.dial
    try:
        if mode == "lsp":
            from codeforge.bridge.relay import LspRelay

            channel, params = ("lsp-proxy", {"name": options.lsp}) if options.lsp else ("lsp", {})
            return await LspRelay(connection, channel, params, sync_folder=options.sync).run()
        # Each mode's client half is imported when chosen: `--ssh` as a ProxyCommand, say,
        # starts with every ssh connection and should not load the language server's code.
        if mode == "sync":
            from codeforge.bridge.sync.client import run_sync

            assert options.sync is not None  # the mode says so
            return await run_sync(dial, options.sync, watch=not options.once, on_event=_print_event)
        if mode == "terminal":
            from codeforge.bridge.terminal import connect_terminal

            return await connect_terminal(dial, options.attach, options.command or None, collab=options.collab)
        if mode == "ports":
            from codeforge.bridge.ports import print_ports

            return await print_ports(dial, options.as_json)
        if mode == "forward":
            from codeforge.bridge.ports import forward

            return await forward(dial, options.forward)
        if mode == "dap":
            from codeforge.bridge.dap_relay import relay_dap

            return await relay_dap(dial, options.join, options.local_root, collab=options.collab)
        from codeforge.bridge.ssh import proxy_command

        return await proxy_command(dial)
    finally:
        await connection.close()


def _print_event(event: Any) -> None:
    print(f"{event.kind}: {event.message}", file=sys.stderr, flush=True)
