"""Collaboration sessions from the editor: `codeforge.collab.start/join/invite/leave/end/
handover/setMode/setRole` (docs/collab.md, "Language-server protocol").

Each command calls the platform's `collab.*` operation as the editor's user (the session's
platform client), then hands the session the platform answered to the bridge's `Access`
registry at once, so a role, a mode or a hand-over applies to the next keystroke of every
participant on this bridge without waiting for the next admission round. This editor's own
state follows the registry (`Access.on_change`), so a change made by anyone (another editor,
the CLI through the bridge's re-admission) reaches it the same way, and the editor hears of
it as `codeforge/collab/state`.

Rejoining after a restart: the relay of `codeforge connect` remembers the session from the
last `codeforge/collab/state` it passed on and, when it replays `initialize` to a restarted
bridge, puts it in `initializationOptions.collabSession`; the bridge hands it over
(`CollabHost.rejoin`) and the first document the replay opens rejoins it (`collab.admit`),
then every open document joins its room. The room comes back from the store, and an editor
whose text equals it adds nothing (its text goes in as a minimal diff, empty here).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any, Literal

from lsprotocol import types
from pydantic import ConfigDict, Field

from codeforge.catalog import collab as ops
from codeforge.catalog.base import Operation
from codeforge.catalog.errors import CodeForgeError, Conflict, Gone, PermissionDenied, PlatformUnavailable
from codeforge.collab.access import SessionState
from codeforge.lsp.capabilities.collab import documents
from codeforge.lsp.capabilities.collab.state import HOOKS, CollabHost, CollabState, active_host, collab_state
from codeforge.lsp.command import CommandArguments, lsp_command
from codeforge.lsp.contributions import Contributions, DocumentEvent, DocumentSubscriber
from codeforge.lsp.session import CodeForgeSession

__all__ = [
    "COMMANDS",
    "contribute",
    "ensure_rejoined",
    "enter",
    "leave_session",
    "notify_state",
    "state_payload",
]

log = logging.getLogger(__name__)

READMIT = 3.0  # seconds between asking the platform again about the session (see _readmit)
REJOIN_PATIENCE = 16.0  # a rejoin waits for an unreachable platform 1+2+4+8+16 s at most

Role = Literal["driver", "navigator", "guest"]
Mode = Literal["free", "pair"]


# -- the editor's view ---------------------------------------------------------------------------


def state_payload(ls: CodeForgeSession, state: CollabState) -> dict[str, Any]:
    """`codeforge/collab/state`: `{session: null}` out of a session."""
    session = state.session
    if session is None:
        return {"session": None}
    host = ls.state(CollabHost)
    me = state.participant
    hosting = next((p.username for p in session.participants if p.host), state.info.get("host"))
    return {
        "session": session.id,
        "title": state.info.get("title", ""),
        "role": me.role if me is not None else None,
        "mode": session.mode,
        "driver": session.driver,
        "host": hosting,
        "mayEdit": bool(host.access is not None and host.access.may_edit(session.id, host.username)),
        "following": state.following,
        "participants": [
            {"username": p.username, "name": p.name, "color": p.color, "role": p.role} for p in session.participants
        ],
    }


def notify_state(ls: CodeForgeSession) -> None:
    """Tell the editor, when anything of it changed."""
    state = collab_state(ls)
    payload = state_payload(ls, state)
    if payload == state.last_sent:
        return
    state.last_sent = payload
    ls.protocol.notify("codeforge/collab/state", payload)
    HOOKS.run(HOOKS.session_changed, ls, state)


def _tell(ls: CodeForgeSession, kind: types.MessageType, message: str) -> None:
    ls.window_show_message(types.ShowMessageParams(type=kind, message=f"CodeForge: {message}"))


# -- entering and leaving ---------------------------------------------------------------------------


def _listen(ls: CodeForgeSession, state: CollabState, host: CollabHost) -> None:
    """Follow the bridge's registry for this editor's session."""
    assert host.access is not None

    def changed(new: SessionState, _previous: SessionState | None) -> None:
        if state.session is None or new.id != state.session.id:
            return
        state.session = new
        state.participant = new.participant(host.username)
        if new.state == "ended":
            leave_session(ls, "the collaboration session ended")
        elif state.participant is None:
            leave_session(ls, "you are no longer a participant of the collaboration session")
        else:
            notify_state(ls)

    if state.unsubscribe is not None:
        state.unsubscribe()
    state.unsubscribe = host.access.on_change(changed)


async def enter(ls: CodeForgeSession, session: dict[str, Any]) -> None:
    """This editor is in `session` (the platform's object): the bridge learns it, every open
    document joins its room, the editor is told."""
    host = active_host(ls)
    state = collab_state(ls)
    known = SessionState.from_json(session)
    if state.session is not None and state.session.id != known.id:
        leave_session(ls)
    state.info = {k: session.get(k) for k in ("title", "host", "project", "created_at")}
    state.session = known
    state.participant = known.participant(host.username)
    state.generation += 1
    _listen(ls, state, host)
    assert host.access is not None
    host.access.update(known)
    # The registry may hold a newer view of this session (another editor changed it since).
    state.session = host.access.state(known.id) or known
    state.participant = state.session.participant(host.username)
    notify_state(ls)
    _start_ticker(ls, state)
    await documents.join_all(ls, state)


def leave_session(ls: CodeForgeSession, reason: str | None = None) -> None:
    """Out of the session here: documents leave their rooms, the editor is told (with
    `reason` as a message when it was not the user's doing)."""
    state = collab_state(ls)
    if state.session is None:
        return
    documents.leave_all(ls, state)
    if state.unsubscribe is not None:
        state.unsubscribe()
        state.unsubscribe = None
    if state.ticker is not None:
        state.ticker.cancel()
        state.ticker = None
    state.session = None
    state.participant = None
    state.info = {}
    state.following = None
    state.generation += 1
    notify_state(ls)
    if reason:
        _tell(ls, types.MessageType.Warning, reason)


def _start_ticker(ls: CodeForgeSession, state: CollabState) -> None:
    if state.ticker is None:
        state.ticker = ls.spawn(_in_session(ls, state))


async def _in_session(ls: CodeForgeSession, state: CollabState) -> None:
    """Runs while this editor is in a session: looks for conflicts, and asks the platform
    again who takes part (`_readmit`). The bridge cancels a language-server session's tasks
    when the session ends (the editor went for good): then its documents let their rooms go
    (holds, awareness, observers) and the registry forgets its listener; a `leave_session`
    has done that already and cancelled this task itself."""
    from codeforge.lsp.capabilities.collab.conflicts import watch  # conflicts imports this package's core only

    this = asyncio.current_task()
    try:
        await asyncio.gather(watch(ls, state), _readmit(ls, state))
    finally:
        if state.ticker is this and state.session is not None:
            state.ticker = None
            documents.leave_all(ls, state)
            if state.unsubscribe is not None:
                state.unsubscribe()
                state.unsubscribe = None


async def _readmit(ls: CodeForgeSession, state: CollabState) -> None:
    """Every READMIT seconds, `collab.admit` as this editor's user, into the bridge's registry:
    a change made on the platform directly (the CLI's `collab end`, `set-role`, `remove`)
    reaches the editors on this bridge even when no Yjs client of the session is connected
    (the endpoint re-admits only its own peers). Not audited by the platform."""
    host = active_host(ls)
    assert host.access is not None
    while True:
        await asyncio.sleep(READMIT)
        session = state.session
        if session is None:
            return
        try:
            admitted = await ls.platform.call(ops.ADMIT, {"session": session.id})
        except Gone:
            host.access.end(session.id)
            continue
        except PermissionDenied:  # no longer a participant
            known = host.access.state(session.id)
            if known is not None:
                kept = tuple(p for p in known.participants if p.username != host.username)
                host.access.update(dataclasses.replace(known, participants=kept))
            continue
        except CodeForgeError as exc:  # the platform away for a moment: ask again later
            log.info("could not ask the platform about session %s: %s", session.id, exc.message)
            continue
        except Exception:  # a bug here must not end the session's task (that lets the rooms go)
            log.exception("asking the platform about session %s", session.id)
            continue
        if isinstance(admitted, ops.Admitted) and state.session is not None and state.session.id == session.id:
            try:
                host.access.update(SessionState.from_json(admitted.session.model_dump(mode="json")))
            except ValueError:  # a session this bridge cannot read (newer platform): keep what it has
                log.exception("the platform's session %s could not be read", session.id)


async def ensure_rejoined(ls: CodeForgeSession) -> None:
    """Rejoin the session the bridge was told about at initialize (once per session)."""
    host = ls.state(CollabHost)
    state = collab_state(ls)
    if not host.rejoin or state.rejoin_tried or host.hub is None:
        return
    state.rejoin_tried = True
    delay = 1.0
    while True:
        try:
            admitted = await ls.platform.call(ops.ADMIT, {"session": host.rejoin})
            break
        except PlatformUnavailable as exc:  # the platform restarting too: a few more tries
            if state.session is not None:
                return  # the user started or joined one meanwhile
            if delay > REJOIN_PATIENCE:
                failure = exc.message
            else:
                await asyncio.sleep(delay)
                delay *= 2
                continue
        except CodeForgeError as exc:
            failure = exc.message
        log.info("not rejoining collaboration session %s: %s", host.rejoin, failure)
        notify_state(ls)
        _tell(ls, types.MessageType.Warning, f"not back in the collaboration session: {failure}")
        return
    if state.session is None and isinstance(admitted, ops.Admitted):  # not started/joined another meanwhile
        await enter(ls, admitted.session.model_dump(mode="json"))


# -- commands ---------------------------------------------------------------------------------


class StartArguments(CommandArguments):
    title: str = Field(default="", max_length=200, description="What the session is for.")
    mode: Mode = Field(default="free", description="free (everyone but guests edits) or pair (one driver).")


class InviteArguments(CommandArguments):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    role: Role = Field(default="navigator", description="The role the invitation gives.")
    expires_in_minutes: int | None = Field(
        default=None, alias="expiresInMinutes", ge=1, le=7 * 24 * 60, description="Minutes until it expires."
    )


class JoinArguments(CommandArguments):
    invitation: str = Field(min_length=1, max_length=2000, description="The invitation link or its token.")


class NoArguments(CommandArguments):
    pass


class UserArguments(CommandArguments):
    username: str = Field(min_length=1, max_length=63, description="A participant's username.")


class ModeArguments(CommandArguments):
    mode: Mode = Field(description="free or pair.")


class RoleArguments(CommandArguments):
    username: str = Field(min_length=1, max_length=63, description="A participant's username.")
    role: Role = Field(description="driver, navigator or guest.")


def _session_id(ls: CodeForgeSession) -> str:
    active_host(ls)
    session = collab_state(ls).session
    if session is None:
        raise Conflict(
            "this editor is in no collaboration session",
            fix="start one with codeforge.collab.start, or join one with codeforge.collab.join {invitation}",
        )
    return session.id


def _not_in_one(ls: CodeForgeSession) -> None:
    """One session per editor at a time: joining or starting another leaves nothing behind
    on the platform unsaid."""
    active_host(ls)
    state = collab_state(ls)
    if state.session is not None:
        raise Conflict(
            f"this editor is in collaboration session {state.session.id} already",
            fix="leave it first (codeforge.collab.leave), or end it (codeforge.collab.end)",
        )


async def _call(ls: CodeForgeSession, operation: Operation[Any, Any], data: dict[str, Any]) -> dict[str, Any]:
    out = await ls.platform.call(operation, data)
    result: dict[str, Any] = out.model_dump(mode="json")
    return result


def _apply(ls: CodeForgeSession, session: dict[str, Any]) -> dict[str, Any]:
    """The platform's answer into the bridge's registry, at once (everyone's roles follow)."""
    host = active_host(ls)
    assert host.access is not None
    host.access.update(SessionState.from_json(session))
    return session


@lsp_command("codeforge.collab.start", StartArguments)
async def start(ls: CodeForgeSession, args: StartArguments) -> dict[str, Any]:
    _not_in_one(ls)
    data: dict[str, Any] = {"title": args.title, "mode": args.mode}
    if project := ls.context_project():
        data["project"] = project
    session = await _call(ls, ops.START, data)
    await enter(ls, session)
    return session


@lsp_command("codeforge.collab.join", JoinArguments)
async def join(ls: CodeForgeSession, args: JoinArguments) -> dict[str, Any]:
    _not_in_one(ls)
    session = await _call(ls, ops.JOIN, {"invitation": args.invitation.strip()})
    await enter(ls, session)
    return session


@lsp_command("codeforge.collab.invite", InviteArguments)
async def invite(ls: CodeForgeSession, args: InviteArguments) -> dict[str, Any]:
    data: dict[str, Any] = {"session": _session_id(ls), "role": args.role}
    if args.expires_in_minutes is not None:
        data["expires_in_minutes"] = args.expires_in_minutes
    made = await _call(ls, ops.INVITE, data)
    # The token is the answer's only copy: returned to the editor, never logged or shown.
    return {"link": made["link"], "token": made["token"], "role": made["role"], "expiresAt": made["expires_at"]}


@lsp_command("codeforge.collab.leave", NoArguments)
async def leave(ls: CodeForgeSession, args: NoArguments) -> dict[str, Any]:
    session_id = _session_id(ls)
    session = await _call(ls, ops.LEAVE, {"session": session_id})
    leave_session(ls)  # before the registry hears it: leaving is not being removed
    return _apply(ls, session)


@lsp_command("codeforge.collab.end", NoArguments)
async def end(ls: CodeForgeSession, args: NoArguments) -> dict[str, Any]:
    session_id = _session_id(ls)
    session = await _call(ls, ops.END, {"session": session_id})
    leave_session(ls)
    return _apply(ls, session)


@lsp_command("codeforge.collab.handover", UserArguments)
async def handover(ls: CodeForgeSession, args: UserArguments) -> dict[str, Any]:
    session = await _call(ls, ops.HANDOVER, {"session": _session_id(ls), "username": args.username})
    return _apply(ls, session)


@lsp_command("codeforge.collab.setMode", ModeArguments)
async def set_mode(ls: CodeForgeSession, args: ModeArguments) -> dict[str, Any]:
    session = await _call(ls, ops.SET_MODE, {"session": _session_id(ls), "mode": args.mode})
    return _apply(ls, session)


@lsp_command("codeforge.collab.setRole", RoleArguments)
async def set_role(ls: CodeForgeSession, args: RoleArguments) -> dict[str, Any]:
    session = await _call(ls, ops.SET_ROLE, {"session": _session_id(ls), "username": args.username, "role": args.role})
    return _apply(ls, session)


COMMANDS = (start, join, invite, leave, end, handover, set_mode, set_role)


def _rejoin_on_open(ls: CodeForgeSession, event: DocumentEvent) -> Any:
    """A relay's replay after a restart opens the editor's documents: the first one rejoins
    the remembered session (and `enter` then joins every open document)."""
    if collab_state(ls).session is None and ls.state(CollabHost).rejoin:
        return ensure_rejoined(ls)
    return None


def contribute(c: Contributions) -> None:
    c.add(*COMMANDS)
    c.add(
        DocumentSubscriber(
            "collab-rejoin",
            _rejoin_on_open,
            events=frozenset({"open"}),
            wants=lambda ls, uri: ls.state(CollabHost).hub is not None,
        )
    )
