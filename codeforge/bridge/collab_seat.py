"""A collaboration participant's seat on a shared terminal or debug session (docs/collab.md,
"Shared terminals and debugging").

`codeforge connect --terminal --attach ID --collab SESSION` and `--dap --join ID --collab
SESSION` name a collaboration session. The bridge then serves the host's terminal or debug
session to a participant of that session who is not its owner: read-write (typing, signals,
steps, breakpoints) while `may_edit` holds, watching only otherwise (a guest; a navigator in
pair mode). The answer is asked of the collaboration `Access` registry on every request, not
once per link, so a hand-over or a role change counts from the next keystroke or step, and
the participant's link closes when they are removed or the session ends.

The registry is the one the `/collab/` endpoint keeps (`ctx.shared["collab"].access`). A
session it has not heard of yet is admitted here as the endpoint does: `collab.admit` with
the connecting user's token. While a seat is taken it is admitted again every
`READMIT_EVERY` seconds, so the end of a session is noticed even when no Yjs client or
language server of it is connected to this bridge.

`codeforge.collab` is reached only through `codeforge.bridge.collab` (the bridge's one door
to it, test_rules), imported when a seat is taken.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from codeforge.bridge.sessions import ChannelContext
from codeforge.catalog.collab import ID_PATTERN  # the module declares collab.admit, called by name
from codeforge.catalog.errors import CodeForgeError, PlatformUnavailable

__all__ = ["READMIT_EVERY", "Seat", "SeatRefused", "take_seat"]

log = logging.getLogger(__name__)

READMIT_EVERY = 5.0
SESSION_ID = re.compile(ID_PATTERN)


class SeatRefused(Exception):
    """The participant may not take this seat; the message says why and what to do."""


class _Unanswered(SeatRefused):
    """The platform did not answer (away, or failing): no word on the participant."""


@dataclass(eq=False)
class Seat:
    """`username` in collaboration session `session`, as the bridge knows it now."""

    session: str
    username: str
    host: str  # the session's host: whose terminals and debug sessions are shared
    access: Any = field(repr=False)  # codeforge.collab.Access
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    end_reason: str = ""
    _unregister: Callable[[], None] | None = field(default=None, repr=False)
    _watch: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def role(self) -> str:
        participant = self.access.participant(self.session, self.username)
        return str(participant.role) if participant is not None else "former participant"

    def may_edit(self) -> bool:
        return not self.ended.is_set() and bool(self.access.may_edit(self.session, self.username))

    def why_not(self, what: str) -> str:
        """The refusal for `what` (e.g. "typing"), naming the role."""
        if self.ended.is_set():
            return f"{what} refused: {self.end_reason}"
        state = self.access.state(self.session)
        role = self.role
        if state is not None and state.mode == "pair" and role != "guest":
            return (
                f"{what} refused: you are a {role} in pair mode of collaboration session {self.session}; "
                f"only the driver ({state.driver}) may — ask for the hand-over"
            )
        return (
            f"{what} refused: you are a {role} in collaboration session {self.session} (read-only); "
            "ask the host for the driver or navigator role"
        )

    def close(self, reason: str) -> None:
        if not self.ended.is_set():
            self.end_reason = reason
            self.ended.set()

    def release(self) -> None:
        """The link is done: stop listening and re-admitting."""
        if self._unregister is not None:
            self._unregister()
            self._unregister = None
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None


def _access(ctx: ChannelContext) -> Any:
    hub = ctx.shared.get("collab")
    access = getattr(hub, "access", None)
    if access is None:
        raise SeatRefused("collaboration is not available on this bridge (its rooms did not start; see its log)")
    return access


async def _admit(ctx: ChannelContext, access: Any, session: str) -> None:
    """Ask the platform, as the connecting user, and tell the registry what it said."""
    from codeforge.bridge import collab as endpoint  # the door to codeforge.collab

    try:
        answer = await ctx.platform.call("collab.admit", {"session": session})
    except PlatformUnavailable:
        raise _Unanswered("the bridge cannot reach the platform to check the session; try again shortly") from None
    except CodeForgeError as exc:
        if exc.status == 410:
            access.end(session)
            raise SeatRefused(f"collaboration session {session} ended") from None
        if exc.status in (403, 404):
            raise SeatRefused(f"you are not a participant of collaboration session {session}: {exc.detail}") from None
        raise _Unanswered(
            f"the platform could not admit you to session {session} ({exc.status}: {exc.detail})"
        ) from None
    access.update(endpoint.SessionState.from_json(answer.session.model_dump(mode="json")))


async def take_seat(ctx: ChannelContext, session: str) -> Seat:
    """The connecting user's seat in `session`; SeatRefused when they are not (or no longer)
    a participant, or the session ended."""
    if not SESSION_ID.match(session):
        raise SeatRefused(f"bad collaboration session id {session[:40]!r}: the id `codeforge.collab.start` gave")
    access = _access(ctx)
    username = ctx.session.user.username
    known = access.state(session)
    if not access.admitted(session, username) and not (known is not None and known.state == "ended"):
        await _admit(ctx, access, session)  # unknown here, or not (yet) a participant: ask (an end is final)
    state = access.state(session)
    if state is None or state.state != "active":
        raise SeatRefused(f"collaboration session {session} ended")
    if state.participant(username) is None:
        raise SeatRefused(f"you are not a participant of collaboration session {session}")
    host = next((p.username for p in state.participants if p.host), None)
    if host is None:
        raise SeatRefused(f"collaboration session {session} has no host on record")
    seat = Seat(session, username, host, access)
    seat._unregister = access.register(session, username, seat.close)
    seat._watch = asyncio.ensure_future(_readmit(ctx, seat))
    return seat


async def _readmit(ctx: ChannelContext, seat: Seat) -> None:
    while not seat.ended.is_set():
        await asyncio.sleep(READMIT_EVERY)
        try:
            await _admit(ctx, seat.access, seat.session)
        except _Unanswered:  # the platform away a moment: the registry's last word stands
            pass
        except SeatRefused as refused:
            # Ended: the registry closed every connection (this seat too). Removed: this one.
            seat.close(str(refused))
        except Exception:
            log.debug("re-admitting %s to %s failed", seat.username, seat.session, exc_info=True)
        with contextlib.suppress(Exception):
            if not seat.access.admitted(seat.session, seat.username):
                seat.close(f"you are no longer a participant of collaboration session {seat.session}")
