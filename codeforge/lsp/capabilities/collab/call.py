"""Calls from the editor: `codeforge.call.join/leave/mute/share/watch/end/participants/link`
and the notification `codeforge/call/state` (docs/voice.md, "Language server (editors)").

The bridge's `CallServer` (`ls.state(CollabHost).calls`) holds the call of each collaboration
session. `join` takes the editor's own peer connection (a VS Code webview's offer): the
platform's `collab.call_join`, as the editor's user, says who they are in the call (role,
host, colour) and starts the call when the user may; the answer goes back to the editor.
Every other control acts on the call **by username**, so it reaches the user's media
whichever client carries it: the editor's webview, or a `codeforge call` process Neovim
started (which joined through `ws://bridge/call/<session>`; `link` says where that is).

Every editor in a session, in the call or not, hears `codeforge/call/state {call}` on every
change of its session's call (the server's `on_change`, which coalesces changes of `talking`
alone over 100 ms) and once when it enters the session (`{call: null}` when there is none),
so its participant list shows who is in the call, muted and talking.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from lsprotocol import types
from pydantic import Field

from codeforge.catalog.errors import (
    BadInput,
    CodeForgeError,
    Conflict,
    FieldProblem,
    Gone,
    NotFound,
    PermissionDenied,
)
from codeforge.lsp.capabilities.collab.presence import set_talking
from codeforge.lsp.capabilities.collab.state import HOOKS, CollabHost, CollabState, active_host, collab_state
from codeforge.lsp.command import CommandArguments, LspCommand, lsp_command
from codeforge.lsp.contributions import Contributions
from codeforge.lsp.session import CodeForgeSession

if TYPE_CHECKING:  # the media library loads with the first call, not with the language server
    from codeforge.collab.rtc import Call, CallServer

__all__ = ["COMMANDS", "STATE", "CallView", "call_json", "contribute", "notify_call"]

log = logging.getLogger(__name__)

STATE = "codeforge/call/state"
MAX_SDP = 200_000  # an offer with a few m-lines is a few kB; this bounds a runaway one

ShareKind = Literal["screen", "camera"]
_LEAVING: set[asyncio.Task[Any]] = set()  # leaves after an editor closed, held until done


@dataclass
class CallView:
    """One language-server session's view of its collaboration session's call."""

    session: str | None = None  # whose call changes are followed (the editor's session)
    unsubscribe: Callable[[], None] | None = None  # from CallServer.on_change
    last_sent: Any = dataclasses.field(default=None)  # the last `codeforge/call/state` params
    sent_once: bool = False
    joined: bool = False  # this editor's own peer connection is in the call (codeforge.call.join)
    keeper: asyncio.Task[Any] | None = None  # lives as long as the language-server session


# -- the state as JSON ------------------------------------------------------------------------


def call_json(state: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A `CallState` (a TypedDict of JSON values) as the notification and results carry it."""
    return None if state is None else dict(state)


def notify_call(ls: CodeForgeSession, state: Any, *, force: bool = False) -> None:
    """`codeforge/call/state {call}` to this editor, unless it said the same last."""
    view = ls.state(CallView)
    payload = {"call": call_json(state)}
    if not force and view.sent_once and payload == view.last_sent:
        return
    view.last_sent, view.sent_once = payload, True
    ls.protocol.notify(STATE, payload)


# -- following the session's call ---------------------------------------------------------------


def _follow(ls: CodeForgeSession, state: CollabState) -> None:
    """After every collaboration state change: follow the call of the session this editor is
    in now (`session_changed` hook)."""
    host = ls.state(CollabHost)
    view = ls.state(CallView)
    session = state.session_id
    if host.calls is None or session == view.session:
        return
    if view.unsubscribe is not None:
        view.unsubscribe()
        view.unsubscribe = None
    view.session = session
    # Another session (or none): the bridge takes this user out of the old one's call with
    # the session's members, so the editor's connection there is no longer ours to leave.
    view.joined = False
    if session is None:
        if view.sent_once and view.last_sent != {"call": None}:
            notify_call(ls, None)
        return
    calls = host.calls

    def changed(changed_session: str, call_state: Any) -> None:
        if changed_session != view.session:
            return
        try:
            notify_call(ls, call_state)
            mine = [p for p in (call_state or {}).get("participants", ()) if p["username"] == host.username]
            set_talking(ls, bool(mine) and mine[0]["talking"] and not mine[0]["muted"])
        except Exception:  # a closed editor link: its session's end unsubscribes
            log.debug("call state not sent to the editor", exc_info=True)

    view.unsubscribe = calls.on_change(changed)
    call = calls.call(session)
    notify_call(ls, call.state() if call is not None else None, force=True)
    if view.keeper is None:
        view.keeper = ls.spawn(_keep(ls, view))


async def _keep(ls: CodeForgeSession, view: CallView) -> None:
    """Runs as long as the language-server session (the bridge cancels its tasks when the
    editor goes): then the subscription ends, and the editor's own peer connection leaves."""
    try:
        await asyncio.Event().wait()
    finally:
        if view.unsubscribe is not None:
            view.unsubscribe()
            view.unsubscribe = None
        host = ls.state(CollabHost)
        if view.joined and view.session is not None and host.calls is not None:
            call = host.calls.call(view.session)
            if call is not None:
                # Not awaited here: the bridge moves on once its tasks are cancelled.
                leaving = asyncio.ensure_future(_quietly(call.leave(host.username, "the editor closed")))
                _LEAVING.add(leaving)
                leaving.add_done_callback(_LEAVING.discard)
        view.joined = False


async def _quietly(coro: Any) -> None:
    try:
        await coro
    except Exception:
        log.debug("leaving the call after the editor closed", exc_info=True)


# -- checks ------------------------------------------------------------------------------------


def _calls(ls: CodeForgeSession) -> CallServer:
    host = active_host(ls)
    if host.calls is None:
        raise Conflict(
            "this bridge runs no calls (its media server did not start)",
            fix="the bridge's log says why ('calls are not available'); fix that and restart the bridge",
        )
    return host.calls


def _session_id(ls: CodeForgeSession) -> str:
    active_host(ls)
    session = collab_state(ls).session
    if session is None:
        raise Conflict(
            "this editor is in no collaboration session (a call belongs to one)",
            fix="start one with codeforge.collab.start, or join one with codeforge.collab.join {invitation}",
        )
    return session.id


def _the_call(ls: CodeForgeSession) -> tuple[Call, str]:
    """The session's active call and this editor's username."""
    session = _session_id(ls)
    call = _calls(ls).call(session)
    if call is None or call.state()["state"] == "ended":
        raise Conflict(
            f"collaboration session {session} has no call going on",
            fix="start or join it with codeforge.call.join {sdp} (VS Code), or `codeforge call` (terminal editors)",
        )
    return call, ls.state(CollabHost).username


def _refusal(exc: Exception, *, field: str = "") -> CodeForgeError:
    """A `CallError` (code, message) as the error an LSP command answers."""
    code = getattr(exc, "code", 0)
    message = str(getattr(exc, "message", "") or exc)
    if code == 4400:
        problems = [FieldProblem(field, message, "")] if field else None
        return BadInput(message, errors=problems)
    if code == 4403:
        return PermissionDenied(message)
    if code == 4410:
        return Gone(message, fix="start a new call with codeforge.call.join, or `codeforge call`")
    if code == 4404:
        return NotFound(message)
    return Conflict(message)


def _is_call_error(exc: Exception) -> bool:
    from codeforge.collab.rtc import CallError

    return isinstance(exc, CallError)


def _result(call: Any) -> dict[str, Any]:
    return {"call": call_json(call.state())}


# -- commands --------------------------------------------------------------------------------


class JoinArguments(CommandArguments):
    sdp: str = Field(min_length=1, max_length=MAX_SDP, description="The editor's WebRTC offer (SDP).")


class NoArguments(CommandArguments):
    pass


class MuteArguments(CommandArguments):
    muted: bool = Field(default=True, description="true mutes, false unmutes (yourself only).")
    username: str | None = Field(
        default=None, min_length=1, max_length=63, description="Whom to mute (the host mutes others); omit: yourself."
    )


class ShareArguments(CommandArguments):
    kind: ShareKind | None = Field(description="screen or camera (after replaceTrack); null stops sharing.")


class WatchArguments(CommandArguments):
    username: str | None = Field(
        default=None, min_length=1, max_length=63, description="Whose share to watch; omit: none."
    )


def _member(joined: Any, username: str) -> Any:
    """The platform's `{member, call}` answer as the media server's `Member`."""
    from codeforge.collab.rtc import Member  # the media library loads with the first call

    data = joined.model_dump(mode="json") if hasattr(joined, "model_dump") else dict(joined)
    member = data.get("member") or {}
    return Member(
        username=str(member.get("username") or username),
        name=str(member.get("name") or username),
        color=str(member.get("color") or ""),
        role=member.get("role") or "guest",
        host=bool(member.get("host")),
    )


def _ice_servers(calls: Any) -> list[dict[str, Any]]:
    from codeforge.collab.rtc.ice import IceSettings, ice_servers_json

    settings = getattr(calls, "ice", None)
    return list(ice_servers_json(settings if settings is not None else IceSettings.from_env()))


def _on_event(ls: CodeForgeSession, view: CallView, session: str) -> Callable[[dict[str, Any]], None]:
    """What the call tells this editor's own peer connection. State changes reach every
    editor through `on_change`; only being taken out is said here."""

    def event(message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind not in ("removed", "ended") or view.session != session:
            return
        view.joined = False
        if kind == "removed" and message.get("code") == 4409:
            text = "your call goes on in another client (it joined as you)"
        elif kind == "removed":
            text = f"you are out of the call: {message.get('reason') or 'removed'}"
        else:
            text = f"the call ended: {message.get('reason') or 'ended'}"
        try:
            ls.window_show_message(types.ShowMessageParams(type=types.MessageType.Info, message=f"CodeForge: {text}"))
        except Exception:
            log.debug("could not tell the editor", exc_info=True)

    return event


@lsp_command("codeforge.call.join", JoinArguments)
async def join(ls: CodeForgeSession, args: JoinArguments) -> dict[str, Any]:
    session = _session_id(ls)
    calls = _calls(ls)
    host = ls.state(CollabHost)
    import codeforge.catalog.calls  # noqa: F401  (declares collab.call_join, called by name)

    joined = await ls.platform.call("collab.call_join", {"session": session})
    member = _member(joined, host.username)
    view = ls.state(CallView)
    _follow(ls, collab_state(ls))
    try:
        answered = await calls.join(session, member, args.sdp, _on_event(ls, view, session))
    except Exception as exc:
        if _is_call_error(exc):
            raise _refusal(exc, field="sdp") from None
        raise
    view.joined = True
    return {"sdp": answered.answer_sdp, "iceServers": _ice_servers(calls), "call": call_json(answered.call.state())}


@lsp_command("codeforge.call.leave", NoArguments)
async def leave(ls: CodeForgeSession, args: NoArguments) -> dict[str, Any]:
    call, me = _the_call(ls)
    if me not in {p["username"] for p in call.state()["participants"]}:
        raise Conflict("you are not in the call", fix="join it first (codeforge.call.join, or `codeforge call`)")
    try:
        await call.leave(me, "left")
    except Exception as exc:
        if _is_call_error(exc):
            raise _refusal(exc) from None
        raise
    ls.state(CallView).joined = False
    return _result(call)


@lsp_command("codeforge.call.mute", MuteArguments)
async def mute(ls: CodeForgeSession, args: MuteArguments) -> dict[str, Any]:
    call, me = _the_call(ls)
    target = args.username or me
    in_call = {p["username"] for p in call.state()["participants"]}
    if target not in in_call:
        who = ", ".join(sorted(in_call)) or "nobody"
        if target == me:
            raise Conflict("you are not in the call", fix="join it first (codeforge.call.join, or `codeforge call`)")
        raise NotFound(f"{target} is not in the call (in it: {who})", fix="give the username of someone in the call")
    try:
        call.mute(target, args.muted, by=me)
    except Exception as exc:
        if _is_call_error(exc):
            raise _refusal(exc) from None
        raise
    return _result(call)


@lsp_command("codeforge.call.share", ShareArguments)
async def share(ls: CodeForgeSession, args: ShareArguments) -> dict[str, Any]:
    call, me = _the_call(ls)
    try:
        call.share(me, args.kind)
    except Exception as exc:
        if _is_call_error(exc):
            raise _refusal(exc) from None
        raise
    return _result(call)


@lsp_command("codeforge.call.watch", WatchArguments)
async def watch(ls: CodeForgeSession, args: WatchArguments) -> dict[str, Any]:
    call, me = _the_call(ls)
    if args.username == me:
        raise BadInput(
            "you cannot watch your own share",
            errors=[FieldProblem("username", "that is you", "give the username of someone sharing")],
        )
    try:
        call.watch(me, args.username)
    except Exception as exc:
        if _is_call_error(exc):
            raise _refusal(exc) from None
        raise
    return _result(call)


@lsp_command("codeforge.call.end", NoArguments)
async def end(ls: CodeForgeSession, args: NoArguments) -> dict[str, Any]:
    """The platform decides who may end it (the host, an org admin) and audits it; the call
    ends here at once rather than at the bridge's next report."""
    call, _me = _the_call(ls)
    session = _session_id(ls)
    import codeforge.catalog.calls  # noqa: F401  (declares collab.call_end)

    await ls.platform.call("collab.call_end", {"session": session})
    await _calls(ls).end(session, f"{ls.state(CollabHost).username} ended the call")
    return _result(call)


@lsp_command("codeforge.call.participants", NoArguments)
async def participants(ls: CodeForgeSession, args: NoArguments) -> dict[str, Any]:
    session = _session_id(ls)
    calls = _calls(ls)
    call = calls.call(session)
    # The ICE servers too: a browser needs them (TURN behind NAT) before it makes its offer.
    return {"call": call_json(call.state()) if call is not None else None, "iceServers": _ice_servers(calls)}


@lsp_command("codeforge.call.link", NoArguments)
async def link(ls: CodeForgeSession, args: NoArguments) -> dict[str, Any]:
    """What `codeforge call` needs: the bridge's URL (as the bridge reports it to the
    platform: `bridges.list`, this workspace's live bridge) and the session."""
    session = _session_id(ls)
    _calls(ls)
    return {"bridge": await _bridge_url(ls), "session": session}


async def _bridge_url(ls: CodeForgeSession) -> str:
    import codeforge.catalog.bridges  # noqa: F401  (declares bridges.list)

    host = active_host(ls)
    project = ls.context_project()
    listed = await ls.platform.call("bridges.list", {"project": project} if project else {})
    bridges = listed.bridges if hasattr(listed, "bridges") else listed.get("bridges", [])
    workspace = str(host.workspace) if host.workspace is not None else None
    found = [b for b in bridges if _field(b, "workspace") == workspace] or list(bridges)
    found.sort(key=lambda b: _field(b, "state") != "live")
    if not found or not _field(found[0], "url"):
        raise Conflict(
            "the bridge's address is not known to the platform yet",
            fix="wait a few seconds (the bridge reports every few seconds) and try again, or pass --bridge URL to `codeforge call`",
        )
    return str(_field(found[0], "url"))


def _field(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, dict) else getattr(item, name, None)


COMMANDS = (join, leave, mute, share, watch, end, participants, link)


# -- the catalog's call operations, from an editor on a bridge ------------------------------------
# `collab.call_mute` and `collab.call_end` are palette operations (the CLI's too): the platform
# checks and audits them and the bridge applies them at its next report (<= 2 s). From an editor
# on the bridge that runs the call they apply here at once as well, and the editor's session
# fills `session` (a capability's command of the same name wins over the catalog's).


async def _catalog_then_apply(ls: CodeForgeSession, name: str, data: dict[str, Any]) -> Any:
    from codeforge.catalog import CATALOG
    from codeforge.lsp.commands import run_operation  # the catalog's own path: context, jobs, results

    session = collab_state(ls).session_id
    if session is not None and "session" not in data:
        data = {**data, "session": session}
    out = await run_operation(ls, CATALOG[name], data)
    host = ls.state(CollabHost)
    target = data.get("session")
    call = host.calls.call(target) if host.calls is not None and isinstance(target, str) else None
    if call is None:
        return out
    try:
        if name == "collab.call_end":
            await host.calls.end(target, f"{host.username} ended the call")
        else:
            call.mute(str(data.get("username") or host.username), bool(data.get("muted", True)), by=host.username)
    except Exception as exc:  # the platform allowed it (an admin, say): its next report applies it
        log.info("%s not applied at once on this bridge: %s", name, exc)
    return out


def _catalog_command(name: str, fields: tuple[str, ...]) -> LspCommand[dict[str, Any]]:
    async def handler(ls: CodeForgeSession, data: dict[str, Any]) -> Any:
        return await _catalog_then_apply(ls, name, data)

    return LspCommand(f"codeforge.{name}", None, handler, fields)


CATALOG_COMMANDS = (
    _catalog_command("collab.call_mute", ("session", "username", "muted")),
    _catalog_command("collab.call_end", ("session",)),
)


def contribute(c: Contributions) -> None:
    c.add(*COMMANDS, *CATALOG_COMMANDS)


HOOKS.session_changed.append(_follow)
