"""Channel `lsp`: one CodeForge language-server session (pygls) per link.

A pygls `LanguageServer` serves exactly one client, so each link gets its own, built by
`codeforge.lsp.server.build_server` and run in the bridge's event loop. Each link message is
one JSON-RPC message (the relay in `codeforge connect` does the Content-Length framing for
the editor): it is parsed, its file URIs are rewritten from the editor's folder to the
workspace (`uris.UriMap`, made from `initialize`), and handed to the server's protocol; what
the server writes is rewritten back and sent on the link.

The session acts as the connecting user on the bridge's platform and project: the
`url`, `token` and `project` an editor may put in initializationOptions name its own
machine's view and are replaced by the bridge's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from codeforge.bridge.link import Link, LinkClosed
from codeforge.bridge.sessions import ChannelContext
from codeforge.bridge.uris import UriMap

__all__ = ["LinkWriter", "serve"]

log = logging.getLogger(__name__)

# initializationOptions the bridge decides (see the module's docstring).
_BRIDGE_DECIDES = ("url", "token", "project")


class LinkWriter:
    """pygls' writer: each message it writes (a JSON body, no headers) goes on the link,
    its URIs rewritten for the editor."""

    def __init__(self, link: Link) -> None:
        self.link = link
        self.uris: UriMap | None = None

    def write(self, data: bytes) -> None:
        if self.link.closed:
            return
        if self.uris is not None and not self.uris.identity:
            data = json.dumps(self.uris.to_editor(json.loads(data))).encode()
        # pygls writes synchronously; the window cannot make it wait, so this buffers.
        self.link.send_nowait(data.decode())

    def close(self) -> None:
        pass


def _initialize(message: dict[str, Any], ctx: ChannelContext) -> UriMap:
    params = message.get("params")
    if not isinstance(params, dict):
        params = message["params"] = {}
    options = params.get("initializationOptions")
    if isinstance(options, dict):
        for key in _BRIDGE_DECIDES:
            options.pop(key, None)
    return UriMap.from_initialize(params, ctx.workspace)


def _hand_collab(server: Any, ctx: ChannelContext, message: dict[str, Any]) -> None:
    """Collaboration (`codeforge/lsp/capabilities/collab/`) runs only where the bridge has a
    room hub (`shared["collab"]`): the session gets it, its access registry, the calls'
    server (`shared["calls"]`, docs/voice.md) and who the user is. `collabSession` in initializationOptions names a session to rejoin (the relay of
    `codeforge connect` puts it there when it replays to a restarted bridge)."""
    hub = ctx.shared.get("collab")
    if hub is None:
        return
    from codeforge.lsp.capabilities.collab.state import CollabHost

    options = message.get("params", {}).get("initializationOptions")
    rejoin = options.get("collabSession") if isinstance(options, dict) else None
    server.provide(
        CollabHost(
            hub=hub,
            access=getattr(hub, "access", None),
            username=ctx.session.user.username,
            organization=ctx.session.user.organization,
            workspace=ctx.workspace,
            rejoin=rejoin if isinstance(rejoin, str) and rejoin else None,
            calls=ctx.shared.get("calls"),
        )
    )


def _forget(protocol: Any) -> None:
    """pygls caches message types with `lru_cache` on the protocol's methods, keyed by the
    protocol instance: up to 128 entries that keep ended sessions' servers alive (tens of MB
    on a busy bridge). The cache is a lookup in a dict; emptying it when a session ends
    costs the live sessions nothing that matters."""
    for name in ("get_message_type", "get_result_type"):
        cached = getattr(type(protocol), name, None)
        if cached is not None and hasattr(cached, "cache_clear"):
            cached.cache_clear()


async def serve(link: Link, ctx: ChannelContext) -> None:
    from codeforge.lsp.features import lifecycle
    from codeforge.lsp.server import build_server  # the language server loads with the first session
    from codeforge.lsp.settings import ServerOptions

    server = build_server(ServerOptions(url=ctx.platform.base_url, token=ctx.session.token, project=ctx.project))
    writer = LinkWriter(link)
    protocol = server.protocol
    protocol.set_writer(writer, include_headers=False)
    try:
        async for text in link:
            try:
                message = json.loads(text)
            except ValueError:
                log.warning("session %s sent a message that is not JSON; dropped", link.session_id)
                continue
            if not isinstance(message, dict):
                continue
            method = message.get("method")
            if method == "exit":
                # pygls would sys.exit() the process: here it only ends this session.
                break
            if method == "initialize" and writer.uris is None:
                writer.uris = _initialize(message, ctx)
                _hand_collab(server, ctx, message)
            if writer.uris is not None and not writer.uris.identity:
                message = writer.uris.to_workspace(message)
            try:
                protocol.handle_message(protocol.structure_message(message))
            except Exception:  # a malformed message is the client's problem, not the bridge's
                log.exception("session %s: a message could not be handled", link.session_id)
    finally:
        with contextlib.suppress(Exception):
            await lifecycle.stop(server)  # a link that closed without `shutdown`: capabilities' hooks stop
            await server.close()
        for task in list(server._tasks):  # jobs it followed, checks it started
            task.cancel()
        if server._thread_pool is not None:  # made only if a handler ran in a thread
            server._thread_pool.shutdown(wait=False)
        _forget(server.protocol)
        await asyncio.sleep(0)
    if not link.closed:
        with contextlib.suppress(LinkClosed):
            await link.close("the editor exited the language server")
