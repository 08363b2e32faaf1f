"""Channel `ssh`: an SSH server for `ssh`, scp, rsync, JetBrains Gateway and VS Code
Remote-SSH, reached through `codeforge connect URL --ssh` as an OpenSSH ProxyCommand.

    ssh ──stdio── codeforge connect --ssh ══ link "ssh" ══ bridge: asyncssh server ── workspace
                   (proxy_command: raw bytes)               (socketpair, no listening port)

Two locks: the tunnel's websocket is authenticated by the platform token like every channel
(a revoked token never reaches the SSH server), and inside it the SSH client must prove a key
that the token's member registered on the platform (`sshkeys.*`). Each tunnel is one SSH
connection; `serve` runs it to its end (docs/bridge.md, "SSH").

With the link parameter `info=1` the channel answers one JSON text message instead, what
`codeforge ssh-config` writes down: the bridge's host key, its project, the member's name.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import pwd
import shutil
import socket
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh

from codeforge.bridge.link import Dial, DialRefused, Link, LinkClosed
from codeforge.bridge.project_env import base_env, project_env
from codeforge.bridge.sessions import ChannelContext
from codeforge.bridge.ssh_process import run_session
from codeforge.bridge.ssh_server import host_key, start_server, state_dir
from codeforge.catalog import sshkeys
from codeforge.catalog.errors import CodeForgeError

__all__ = ["REFUSED", "SshInfo", "fetch_info", "proxy_command", "serve"]

log = logging.getLogger(__name__)

# Prefix of a link's close reason that `proxy_command` shows the user (ssh prints our stderr).
REFUSED = "refused: "
_CHUNK = 65536
_PLATFORM_TIMEOUT_S = 15.0
# Close reasons of a tunnel that ended as it should (the SSH connection closed).
_NORMAL_ENDS = ("", "done", "closed")


@dataclass(frozen=True)
class SshInfo:
    """What a bridge says about its SSH server (the `info=1` answer)."""

    host_key: str  # "ssh-ed25519 AAAA…", for known_hosts
    project: str
    username: str


# -- the bridge's side -------------------------------------------------------------------------


def _host_key(ctx: ChannelContext) -> asyncssh.SSHKey:
    """The bridge's host key, loaded once per bridge (ctx.shared), kept in its state folder."""
    key = ctx.shared.get("ssh_host_key")
    if not isinstance(key, asyncssh.SSHKey):
        folder = ctx.shared.get("state_dir")
        key = host_key(Path(folder) if isinstance(folder, str | os.PathLike) else state_dir(ctx.workspace))
        ctx.shared["ssh_host_key"] = key
    return key


def _public_line(key: asyncssh.SSHKey) -> str:
    return " ".join(key.export_public_key("openssh").decode().split()[:2])


async def _authorized_keys(ctx: ChannelContext) -> list[str]:
    """The member's keys, asked with their own token: only they can log in on this tunnel."""
    async with asyncio.timeout(_PLATFORM_TIMEOUT_S):
        answer = await ctx.platform.call(sshkeys.LIST, {})
    if not isinstance(answer, sshkeys.SshKeyList):
        raise TypeError("unexpected answer from sshkeys.list")
    return [k.public_key for k in answer.items]


def _shell() -> str:
    with contextlib.suppress(KeyError):
        if (shell := pwd.getpwuid(os.getuid()).pw_shell) and os.access(shell, os.X_OK):
            return shell
    return shutil.which("bash") or "/bin/sh"


def _base_env(shell: str) -> dict[str, str]:
    return {**base_env(), "SHELL": shell}


async def _pump_in(link: Link, writer: asyncio.StreamWriter) -> None:
    """Link → SSH server. The link's end is the client's: EOF to the server."""
    with contextlib.suppress(LinkClosed, ConnectionError):
        while True:
            message = await link.receive()
            writer.write(message.encode() if isinstance(message, str) else message)
            await writer.drain()
    with contextlib.suppress(OSError):
        writer.write_eof()


async def _pump_out(reader: asyncio.StreamReader, link: Link) -> None:
    """SSH server → link, until the server closes the connection."""
    with contextlib.suppress(LinkClosed, ConnectionError):
        while data := await reader.read(_CHUNK):
            await link.send(data)


async def serve(link: Link, ctx: ChannelContext) -> None:
    try:
        key = _host_key(ctx)
    except (OSError, asyncssh.KeyImportError) as exc:
        log.error("ssh: no host key: %s", exc)
        await link.close(f"{REFUSED}the bridge cannot read or keep its SSH host key ({exc}); see its log")
        return
    who = ctx.session.user.username
    if ctx.params.get("info") == "1":
        info = {"host_key": _public_line(key), "project": ctx.project, "username": who}
        await link.send(json.dumps(info))
        return
    try:
        authorized = await _authorized_keys(ctx)
    except CodeForgeError as exc:
        await link.close(f"{REFUSED}cannot read your SSH keys from the platform: {exc.message}")
        return
    except TimeoutError:
        await link.close(f"{REFUSED}the platform did not list your SSH keys within {_PLATFORM_TIMEOUT_S:.0f} s")
        return
    if not authorized:
        await link.close(f"{REFUSED}{who} has no SSH keys on the platform: run `codeforge ssh-config`")
        return
    ours, theirs = socket.socketpair()
    shell = _shell()
    base = _base_env(shell)
    sessions: set[asyncio.Task[Any]] = set()
    loading: asyncio.Future[tuple[dict[str, str], list[str]]] | None = None

    async def session(process: asyncssh.SSHServerProcess[bytes]) -> None:
        nonlocal loading
        task = asyncio.current_task()
        if task is not None:
            sessions.add(task)
        try:
            # The project's variables, as in CodeForge terminals: loaded once per connection,
            # when its first session starts (a tunnel that only forwards ports asks nothing).
            if loading is None:
                loading = asyncio.ensure_future(project_env(ctx))
            values, notes = await asyncio.shield(loading)
            env = {**base, **values, "CODEFORGE_PROJECT": ctx.project}
            await run_session(process, cwd=ctx.workspace, env=env, shell=shell, notes=notes)
        finally:
            sessions.discard(task)

    reader, writer = await asyncio.open_connection(sock=ours)
    pumps = [asyncio.ensure_future(_pump_in(link, writer)), asyncio.ensure_future(_pump_out(reader, link))]
    connection: asyncssh.SSHServerConnection | None = None
    try:
        connection = await start_server(
            theirs, host_key=key, authorized=authorized, who=who, workspace=ctx.workspace, session=session
        )
        log.info("ssh: %s logged in (session %s)", who, ctx.session.id)
        await connection.wait_closed()
    except (asyncssh.Error, OSError, TimeoutError) as exc:
        # Refused keys, a client that went away mid-handshake: the client has been told.
        log.info("ssh: connection of %s ended before login: %s", who, exc)
    finally:
        if connection is not None:
            connection.close()
        for task in list(sessions):
            task.cancel()  # their processes get SIGHUP, as when sshd loses a client
        await asyncio.gather(*sessions, return_exceptions=True)
        # What the server said last (a refusal, a disconnect message) reaches the client first.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                await pumps[1]
        for pump in pumps:
            pump.cancel()
        writer.close()
        theirs.close()


# -- the client's side (`codeforge connect URL --ssh`) ---------------------------------------


def _stdin_reader(loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[bytes]) -> None:
    """Reads standard input on its own daemon thread: os.read works on whatever OpenSSH (or a
    person) hands us, and a thread blocked in read never delays the process's exit."""
    while True:
        try:
            data = os.read(0, _CHUNK)
        except OSError:
            data = b""
        loop.call_soon_threadsafe(queue.put_nowait, data)
        if not data:
            return


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


async def proxy_command(dial: Dial) -> int:
    """Standard input and output ⇄ the bridge's SSH server, raw bytes, as a ProxyCommand."""
    try:
        link = await dial("ssh", {})
    except DialRefused as exc:
        print(f"codeforge connect --ssh: the bridge refused ({exc.status}): {exc.reason}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"codeforge connect --ssh: cannot reach the bridge: {exc}", file=sys.stderr)
        return 1
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=64)
    threading.Thread(target=_stdin_reader, args=(loop, queue), name="ssh-stdin", daemon=True).start()

    async def upstream() -> None:
        with contextlib.suppress(LinkClosed):
            while data := await queue.get():
                await link.send(data)
        await link.close()  # ssh closed our stdin: the connection is over

    async def downstream() -> str:
        try:
            while True:
                message = await link.receive()
                data = message.encode() if isinstance(message, str) else message
                await asyncio.to_thread(_write_all, 1, data)
        except LinkClosed as closed:
            return closed.reason
        except OSError:  # ssh is gone (EPIPE)
            return ""

    up = asyncio.ensure_future(upstream())
    try:
        reason = await downstream()
    finally:
        ours = up.done()  # we closed the link ourselves: ssh ended the connection
        up.cancel()
        await link.close()
    if reason.startswith(REFUSED):
        print(f"codeforge connect --ssh: {reason.removeprefix(REFUSED)}", file=sys.stderr)
        return 1
    if not ours and reason not in _NORMAL_ENDS:  # the session ended under us: say why
        print(f"codeforge connect --ssh: the bridge closed the tunnel: {reason}", file=sys.stderr)
    return 0


async def fetch_info(dial: Dial) -> SshInfo:
    """The bridge's host key, project and the member it knows us as (for `ssh-config`)."""
    link = await dial("ssh", {"info": "1"})
    try:
        answer = json.loads(await link.receive())
    finally:
        await link.close()
    return SshInfo(host_key=str(answer["host_key"]), project=str(answer["project"]), username=str(answer["username"]))
