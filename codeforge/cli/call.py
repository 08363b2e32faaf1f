"""`codeforge call`: join a collaboration session's call from a terminal (docs/voice.md).

Terminal editors (Neovim's `:CodeForge call`, JetBrains) run it. It finds the session (the
one active session you take part in, unless named) and its bridge (the project's live one
from `bridges.list`, unless `--bridge`), opens the audio devices through PyAV (or files),
joins with `CallClient` and shows who is in the call and who talks until Ctrl-C, `--for`
seconds, or the call ends. Every failure says what to do next; the token is never printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from codeforge.catalog.errors import CodeForgeError
from codeforge.cli.call_media import CallSetupError, Media, open_media
from codeforge.cli.render import console, err_console, show_error

if TYPE_CHECKING:
    from codeforge.collab.rtc.client import CallClient

__all__ = ["call"]

SESSION = re.compile(r"^[0-9a-f]{32}$")


# -- the session and its bridge -------------------------------------------------------------


def find_call(session: str | None, bridge: str | None) -> tuple[str, str, str]:
    """(session id, bridge URL, token) from the login and the platform."""
    from codeforge.client import PlatformClient
    from codeforge.config import load_client_config

    cfg = load_client_config()
    if not cfg.url or not cfg.token:
        raise CallSetupError("no platform login found", "run `codeforge up`, or set CODEFORGE_URL and CODEFORGE_TOKEN")
    if session is not None and not SESSION.match(session):
        raise CallSetupError(
            f"{session!r} is not a session id (32 hex digits)", "list yours with `codeforge collab list`", 2
        )
    if session is not None and bridge is not None:
        return session, bridge, cfg.token  # the bridge asks the platform itself, before the upgrade
    with PlatformClient(cfg.url, cfg.token) as client:
        if session is None:
            session, project = _my_session(client)
        else:
            project = client.call("collab.show", {"session": session}).project
        if bridge is None:
            bridge = _live_bridge(client, project)
    return session, bridge, cfg.token


def _my_session(client: Any) -> tuple[str, str]:
    from codeforge.project import current_project

    me = client.call("auth.whoami", {}).username
    project = current_project(Path.cwd())
    listed = client.call("collab.list", {"project": project, "state": "active"}).items
    mine = [s for s in listed if any(p.username == me for p in s.participants)]
    if not mine:
        raise CallSetupError(
            f"you take part in no active collaboration session of project {project}",
            "start one (`codeforge collab start`) or join one with an invitation, or name a session: "
            "codeforge call SESSION",
        )
    if len(mine) > 1:
        names = "; ".join(f"{s.id} ({s.title}, host {s.host})" for s in mine)
        raise CallSetupError(
            f"you take part in {len(mine)} active sessions: {names}", "name one: codeforge call SESSION", 2
        )
    return mine[0].id, project


def _live_bridge(client: Any, project: str) -> str:
    bridges = client.call("bridges.list", {"project": project}).bridges
    live = sorted((b for b in bridges if b.url and b.state == "live"), key=lambda b: b.last_seen, reverse=True)
    if not live:
        raise CallSetupError(
            f"no live bridge serves project {project}",
            "start one with `codeforge bridge FOLDER`, or give its address with --bridge ws://HOST:PORT",
        )
    return str(live[0].url)


# -- in the call ------------------------------------------------------------------------------


def _table(state: dict[str, Any] | None, you: str) -> Any:
    from rich.table import Table

    table = Table("", "participant", "role", "microphone", "share", "watching", header_style="bold")
    if state is None:
        return table
    table.title = "call ended" if state.get("state") == "ended" else "in the call"
    for p in state.get("participants", []):
        talking = "[green]●[/]" if p.get("talking") else " "
        name = p.get("name") or p["username"]
        who = escape(f"{name} ({p['username']})" if name != p["username"] else name)
        who += " [dim](you)[/]" if p["username"] == you else ""
        role = p.get("role", "") + (", host" if p.get("host") else "")
        mic = "[red]muted by host[/]" if p.get("muted_by_host") else ("[yellow]muted[/]" if p.get("muted") else "on")
        table.add_row(talking, who, escape(role), mic, escape(p.get("sharing") or ""), escape(p.get("watching") or ""))
    return table


def _changes(before: dict[str, Any] | None, after: dict[str, Any]) -> list[str]:
    """Lines for a log (not a terminal): joins, leaves, mutes, shares, who starts talking."""
    old = {p["username"]: p for p in (before or {}).get("participants", [])}
    new = {p["username"]: p for p in after.get("participants", [])}
    lines = [f"{u} joined" for u in new if u not in old] + [f"{u} left" for u in old if u not in new]
    for username, p in new.items():
        was = old.get(username)
        if was is None:
            continue
        if p.get("muted") != was.get("muted"):
            lines.append(f"{username} {'muted' if p.get('muted') else 'unmuted'}")
        if p.get("sharing") != was.get("sharing"):
            lines.append(f"{username} shares {p['sharing']}" if p.get("sharing") else f"{username} stopped sharing")
        if p.get("talking") and not was.get("talking"):
            lines.append(f"{username} talking")
    return lines


class _Screen:
    """What the user sees while in the call: a live table on a terminal, a line per change
    otherwise (Neovim's job, a log); refused controls as errors. It also follows `--watch`:
    the watched participant's share is asked for whenever they share (again)."""

    def __init__(self, client: CallClient, watch: str | None) -> None:
        from rich.live import Live

        self.client = client
        self.watch = watch
        self.asked = False
        self.last: dict[str, Any] | None = client.state
        self.live = Live(_table(client.state, client.you), console=console, auto_refresh=False)
        self.tasks: set[asyncio.Task[None]] = set()
        self.unsubscribe: list[Callable[[], None]] = []

    def start(self) -> None:
        client = self.client
        console.print(f"Joined the call as {client.you}; Ctrl-C leaves.", highlight=False, soft_wrap=True)
        others = [p["username"] for p in (client.state or {}).get("participants", []) if p["username"] != client.you]
        if others and not console.is_terminal:
            console.print(escape(f"In the call: {', '.join(others)}"), highlight=False, soft_wrap=True)
        self.unsubscribe = [client.on_state(self.changed), client.on_error(self.refused)]
        if console.is_terminal:
            self.live.start()
        self.follow(client.state)

    def stop(self) -> None:
        for unsubscribe in self.unsubscribe:
            unsubscribe()
        if console.is_terminal:
            self.live.stop()
        for task in self.tasks:
            task.cancel()

    def changed(self, state: dict[str, Any]) -> None:
        if console.is_terminal:
            self.live.update(_table(state, self.client.you), refresh=True)
        else:
            for line in _changes(self.last, state):
                console.print(escape(line), highlight=False, soft_wrap=True)
        self.last = state
        self.follow(state)

    def refused(self, message: str) -> None:
        err_console.print(f"[yellow]Refused:[/] {escape(message)}", highlight=False, soft_wrap=True)

    def follow(self, state: dict[str, Any] | None) -> None:
        """Ask to watch `--watch`'s share when it shares and we do not watch it yet."""
        if self.watch is None or state is None:
            return
        target = self.client.participant(self.watch)
        me = self.client.participant(self.client.you) or {}
        if target is None or not target.get("sharing"):
            self.asked = False
            return
        if me.get("watching") == self.watch or self.asked:
            return
        self.asked = True
        task = asyncio.ensure_future(self._watch())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _watch(self) -> None:
        with contextlib.suppress(Exception):  # closed meanwhile: the exit says why
            await self.client.watch(self.watch)


async def run_call(url: str, token: str, media: Media, *, watch: str | None, mute: bool, seconds: float | None) -> int:
    from aiortc.contrib.media import MediaBlackhole

    from codeforge.collab.rtc.client import CallClient, CallRefused, CallUnreachable

    client = CallClient(url, token, audio=media.audio, share=media.share, watch=watch is not None)
    try:
        await client.connect()
    except CallRefused as exc:
        err_console.print(
            f"[bold red]Error:[/] the bridge refused the call: {escape(exc.reason)} ({exc.status})",
            highlight=False,
            soft_wrap=True,
        )
        return 1
    except CallUnreachable as exc:
        err_console.print(f"[bold red]Error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        err_console.print(
            "[bold]What to do:[/] check the bridge runs (`codeforge bridges list`) or pass --bridge",
            highlight=False,
            soft_wrap=True,
        )
        return 1
    sinks = [media.output or MediaBlackhole()]
    sinks[0].addTrack(client.received_audio)
    if watch is not None and client.received_video is not None:
        sinks.append(media.video_output or MediaBlackhole())
        sinks[-1].addTrack(client.received_video)
    for sink in sinks:
        await sink.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        # Windows' event loop has no signal handlers: Ctrl-C raises KeyboardInterrupt there,
        # which leaves the call the same way (the `finally` below).
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    if mute:
        await client.mute(True)
    screen = _Screen(client, watch)
    try:
        screen.start()
        waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(client.wait_closed(timeout=1e9))]
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        for wait in waits:
            wait.cancel()
    finally:
        screen.stop()
        closed_by_bridge = client.closed
        await client.leave()
        for sink in sinks:
            with contextlib.suppress(Exception):
                await sink.stop()
        media.close()
    if closed_by_bridge:
        return _closed(client)
    console.print("Left the call.")
    return 0


def _closed(client: CallClient) -> int:
    """Say why the bridge closed the call; the exit status (0: nothing for the user to fix)."""
    event = client.event or {}
    code = client.close_code
    reason = escape(str(event.get("reason") or client.close_reason or "the bridge closed the call"))
    if event.get("type") == "ended" or code in (4410, 1000):
        console.print(f"The call ended: {reason}", highlight=False, soft_wrap=True)
        return 0
    if code == 4409:
        console.print(f"Left: {reason} (the call goes on there)", highlight=False, soft_wrap=True)
        return 0
    if code == 4403:
        message, fix = f"out of the call: {reason}", "ask the session's host to invite you again"
    elif code == 4408:
        message, fix = f"out of the call: {reason}", "check your network, then run `codeforge call` again"
    elif code == 4400:
        message = f"the bridge refused what this client sent: {reason}"
        fix = "use the same CodeForge version as the bridge"
    else:  # 1001 the bridge stopping, 1006 the connection broke
        message = f"the bridge went away ({code or 'no close'}: {reason})"
        fix = "run `codeforge call` again once the bridge is back (`codeforge bridges list`)"
    err_console.print(f"[bold red]Error:[/] {message}", highlight=False, soft_wrap=True)
    err_console.print(f"[bold]What to do:[/] {fix}", highlight=False, soft_wrap=True)
    return 1


def call(
    session: Annotated[
        str | None, typer.Argument(help="Collaboration session id (default: the one active session you are in).")
    ] = None,
    bridge: Annotated[
        str | None, typer.Option(help="The bridge's URL, ws://HOST:PORT (default: the project's live bridge).")
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(
            "--input",
            help="Audio to send: a file, a device with --input-format, or none to listen only (default: the system's).",
        ),
    ] = None,
    input_format: Annotated[
        str | None, typer.Option(help="Input device format: pulse, alsa, avfoundation, lavfi (default by platform).")
    ] = None,
    target: Annotated[
        str | None,
        typer.Option("--output", help="Where the call's sound goes: a .wav file, or a device with --output-format."),
    ] = None,
    output_format: Annotated[str | None, typer.Option(help="Output device format: pulse, alsa, …")] = None,
    share: Annotated[Path | None, typer.Option(help="A video file to share (as your screen).")] = None,
    watch: Annotated[str | None, typer.Option(help="Watch this participant's share.")] = None,
    video_output: Annotated[
        Path | None, typer.Option(help="With --watch: write the share you watch to this file (.webm, .mp4).")
    ] = None,
    mute: Annotated[bool, typer.Option("--mute", help="Join muted.")] = False,
    seconds: Annotated[
        float | None, typer.Option("--for", min=0.1, help="Leave after this many seconds (default: at Ctrl-C).")
    ] = None,
) -> None:
    """Join the call of a collaboration session: talk and listen through the system's audio
    devices (or files), see who is in the call and who talks."""
    if video_output is not None and watch is None:
        err_console.print(
            "[bold red]Error:[/] --video-output writes the share you watch: add --watch USER", soft_wrap=True
        )
        raise typer.Exit(2)
    try:
        session_id, bridge_url, token = find_call(session, bridge)
        from codeforge.collab.rtc.client import call_url

        try:
            url = call_url(bridge_url, session_id)
        except ValueError as exc:
            raise CallSetupError(str(exc), "pass --bridge ws://HOST:PORT", 2) from None
        media = open_media(source, input_format, target, output_format, share, video_output)
    except CallSetupError as exc:
        err_console.print(f"[bold red]Error:[/] {escape(exc.message)}", highlight=False, soft_wrap=True)
        if exc.fix:
            err_console.print(f"[bold]What to do:[/] {escape(exc.fix)}", highlight=False, soft_wrap=True)
        raise typer.Exit(exc.code) from None
    except CodeForgeError as err:
        show_error(err)
        raise typer.Exit(1) from None
    code = asyncio.run(run_call(url, token, media, watch=watch, mute=mute, seconds=seconds))
    raise typer.Exit(code)
