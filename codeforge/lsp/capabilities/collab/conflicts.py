"""Merges that need a person: `codeforge/collab/conflict {id, uri, base, ours, theirs}` to the
editor, and `codeforge.collab.resolveConflict {id, choice, text?}` back.

A conflict is raised by a room's disk mirror (`codeforge.collab.disk`) when a change on disk
overlaps edits not yet saved, or when file sync finds the file changed on both machines
(`origin: "sync"`, handed over by the bridge's sync before it writes the other machine's
version); the room keeps its text meanwhile. The mirror has no listener of its own, so
while in a session this module looks at the rooms of the editor's documents a few times a
second (and at once after a save) and tells the editor of each conflict once. The choice is
applied to the room for everyone (the mirror puts it in as a diff); a sync conflict's choice
is also saved at once, so file sync takes it to the other machine as an ordinary change
(which holds what sync wrote here, so nothing clashes again), and the copy sync kept of the
workspace's version is deleted when it is unchanged (sync deletes it on the other side).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Literal

from lsprotocol import types
from pydantic import Field, model_validator

from codeforge.catalog.errors import BadInput, NotFound, PermissionDenied
from codeforge.collab.disk import DiskError
from codeforge.lsp.capabilities.collab.state import CollabHost, CollabState, DocSync, active_host, collab_state
from codeforge.lsp.command import CommandArguments, lsp_command
from codeforge.lsp.contributions import Contributions
from codeforge.lsp.session import CodeForgeSession

__all__ = ["ResolveArguments", "check", "conflict_params", "contribute", "open_conflicts", "resolve_conflict", "watch"]

log = logging.getLogger(__name__)

INTERVAL = 0.25  # seconds between looks at the rooms' conflicts


def open_conflicts(host: CollabHost, doc: DocSync) -> list[Any]:
    """The room's open conflicts (the room's list and its disk mirror's), oldest first."""
    found: dict[str, Any] = {}
    if doc.room is not None:
        for conflict in doc.room.conflicts:
            found.setdefault(conflict.id, conflict)
    mirror = host.hub.mirrors.get(doc.name) if host.hub is not None else None
    for conflict in getattr(mirror, "conflicts", {}).values():
        found.setdefault(conflict.id, conflict)
    return list(found.values())


def check(ls: CodeForgeSession, state: CollabState) -> None:
    """Tell the editor of every conflict it has not heard of yet."""
    host = ls.state(CollabHost)
    for doc in list(state.documents.values()):
        for conflict in open_conflicts(host, doc):
            if conflict.id in state.conflicts_told:
                continue
            state.conflicts_told.add(conflict.id)
            ls.protocol.notify("codeforge/collab/conflict", conflict_params(conflict, doc))


def conflict_params(conflict: Any, doc: DocSync) -> dict[str, Any]:
    """`codeforge/collab/conflict`'s params; `message` says what happened, for the person."""
    origin = getattr(conflict, "origin", "disk")
    params: dict[str, Any] = {
        "id": conflict.id,
        "uri": doc.uri,
        "base": conflict.base,
        "ours": conflict.ours,
        "theirs": conflict.theirs,
        "origin": origin,
    }
    if origin == "sync":
        params["copy"] = conflict.copy
        params["message"] = (
            f"{doc.name} changed both in the session and on the machine it is synced with (file sync): "
            "theirs is that machine's version, ours the session's; the choice is saved and synced back"
        )
    else:
        params["message"] = f"{doc.name} changed on disk while it had unsaved edits in the session"
    return params


async def watch(ls: CodeForgeSession, state: CollabState) -> None:
    """While in a session (the task is cancelled when it is left)."""
    while True:
        try:
            check(ls, state)
        except Exception:  # a room closing under us: the next look is fine
            log.exception("looking for conflicts")
        await asyncio.sleep(INTERVAL)


class ResolveArguments(CommandArguments):
    id: str = Field(min_length=1, max_length=64, description="The conflict's id (from codeforge/collab/conflict).")
    choice: Literal["ours", "theirs", "both", "text"] = Field(
        description="ours: the session's text; theirs: the disk's; both: both sides of each clash; text: `text`."
    )
    text: str | None = Field(default=None, description="The resolved text, with choice `text`.")

    @model_validator(mode="after")
    def _text_with_choice(self) -> ResolveArguments:
        if self.choice == "text" and self.text is None:
            raise ValueError("choice `text` needs the resolved text in `text`")
        if self.choice != "text" and self.text is not None:
            raise ValueError(f"`text` goes with choice `text`, not `{self.choice}`")
        return self


@lsp_command("codeforge.collab.resolveConflict", ResolveArguments)
async def resolve_conflict(ls: CodeForgeSession, args: ResolveArguments) -> dict[str, Any]:
    host = active_host(ls)
    state = collab_state(ls)
    if state.session is None:
        raise BadInput(
            "this editor is in no collaboration session",
            fix="conflicts are resolved inside a session: start or join one",
        )
    for doc in state.documents.values():
        conflict = next((c for c in open_conflicts(host, doc) if c.id == args.id), None)
        if conflict is None or doc.room is None:
            continue
        if host.access is None or not host.access.may_edit(state.session.id, host.username):
            role = state.participant.role if state.participant else "not a participant"
            raise PermissionDenied(
                f"you are {role} in this session and may not change {doc.name}",
                fix="ask the host for an editing role, or the driver to resolve it",
            )
        chosen = args.text if args.choice == "text" else conflict.choose(args.choice)
        assert chosen is not None
        if any(c.id == args.id for c in doc.room.conflicts):
            doc.room.resolve(args.id, chosen)
        else:  # known to the mirror only
            host.hub.mirrors[doc.name].resolve(args.id, chosen)  # type: ignore[union-attr]
        answer: dict[str, Any] = {"resolved": args.id, "uri": doc.uri}
        if getattr(conflict, "origin", "disk") == "sync":
            answer |= await _settle_sync(ls, host, doc, conflict)
        return answer
    raise NotFound(
        f"no open conflict {args.id} in this editor's documents (already resolved, or its file is not open)",
        fix="open the file the conflict is on; resolved conflicts need nothing more",
    )


async def _settle_sync(ls: CodeForgeSession, host: CollabHost, doc: DocSync, conflict: Any) -> dict[str, Any]:
    """A sync conflict's choice, to the file sync: saved now (sync sends it to the other
    machine, which holds the version sync wrote here, so it applies cleanly), and sync's
    copy of the workspace's version deleted when nobody changed it. `{saved, copyRemoved}`."""
    assert host.hub is not None
    saved = False
    try:
        saved = await host.hub.save(doc.name) is None
    except (DiskError, KeyError) as exc:
        ls.window_show_message(
            types.ShowMessageParams(
                type=types.MessageType.Warning,
                message=f"CodeForge: the resolution of {doc.name} is in the session but not saved ({exc}); "
                "save it to send it to the synced machine",
            )
        )
    mirror = host.hub.mirrors.get(doc.name)
    removed = bool(saved and mirror is not None and mirror.drop_copy(conflict))
    return {"saved": saved, "copyRemoved": conflict.copy if removed else None}


def contribute(c: Contributions) -> None:
    c.add(resolve_conflict)
