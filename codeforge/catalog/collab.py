"""Collaboration: sessions on a workspace, invitations, participants and their roles, review
comments anchored to text, and reviews of a change set (docs/collab.md).

Two callers besides people: the bridge calls `collab.admit` with the connecting user's token on
every collab websocket (403 not a participant, 410 the session ended), and the language server
calls the rest on an editor's behalf (`codeforge.collab.*` commands of its own wrap `start`,
`invite`, `join`, `leave`, `end`, `handover`, `comment`, `reply`, `resolve` and `reopen`, so
those and the machine-only `admit` and `move` stay out of editors' palettes).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from codeforge.catalog.base import Input, Operation, Permission, ProjectInput, declare
from codeforge.catalog.secrets import SECRET

__all__ = [
    "ADMIT",
    "COMMENT",
    "COMMENTS",
    "END",
    "HANDOVER",
    "ID_PATTERN",
    "INVITATION_TTL_MAX_MINUTES",
    "INVITE",
    "JOIN",
    "LEAVE",
    "LIST",
    "MOVE",
    "REMOVE",
    "REOPEN",
    "REPLY",
    "RESOLVE",
    "REVIEWS",
    "REVIEW_CLOSE",
    "REVIEW_CREATE",
    "REVIEW_SHOW",
    "SET_MODE",
    "SET_ROLE",
    "SHOW",
    "START",
    "AdmitInput",
    "Admitted",
    "Comment",
    "CommentInput",
    "CommentsInput",
    "Hunk",
    "Invitation",
    "InviteInput",
    "JoinInput",
    "Mode",
    "MoveInput",
    "Moved",
    "Participant",
    "ParticipantInput",
    "ReplyInput",
    "Review",
    "ReviewCreateInput",
    "ReviewDetail",
    "ReviewFile",
    "ReviewInput",
    "ReviewList",
    "ReviewListInput",
    "ReviewState",
    "ReviewSummary",
    "Session",
    "SessionInput",
    "SessionList",
    "SessionListInput",
    "SessionRole",
    "SessionState",
    "SetModeInput",
    "SetRoleInput",
    "StartInput",
    "Thread",
    "ThreadInput",
    "ThreadList",
    "ThreadState",
]

# Ids the platform makes (uuid4 hex): a value of another form is a typo, said as such (422).
ID_PATTERN = r"^[0-9a-f]{32}$"
_ID_HELP = "32 lowercase hex digits, as the platform printed it"
# An invitation lives a day unless its host says otherwise, a week at most.
INVITATION_TTL_MAX_MINUTES = 7 * 24 * 60
# A repository path, relative and in posix form: no NUL (Input refuses it anywhere), no leading
# slash, no `..` component (checked by the service, which names the component).
_PATH = Field(min_length=1, max_length=4096, description="File path relative to the workspace root, with / separators.")

SessionRole = Literal["driver", "navigator", "guest"]
Mode = Literal["free", "pair"]
SessionState = Literal["active", "ended"]
ThreadState = Literal["open", "resolved"]
ReviewState = Literal["open", "closed"]


def _id(what: str, values: str = "", *, optional: bool = False) -> Any:
    extra: dict[str, Any] = {"x-codeforge-values": values} if values else {}
    if optional:
        return Field(default=None, pattern=ID_PATTERN, description=f"{what}: {_ID_HELP}.", json_schema_extra=extra)
    return Field(pattern=ID_PATTERN, description=f"{what}: {_ID_HELP}.", json_schema_extra=extra)


def _session_id() -> Any:
    return _id("Id of the collaboration session", "collab.list#id")


def _thread_id() -> Any:
    return _id("Id of the comment thread", "collab.comments#id")


def _review_id() -> Any:
    return _id("Id of the review", "collab.reviews#id")


def _limit(default: int = 100) -> Any:
    return Field(default=default, ge=1, le=500, description="At most this many, newest first (1-500).")


# ---- sessions ---------------------------------------------------------------------------


class Participant(BaseModel):
    username: str
    name: str = Field(description="What other participants see next to the cursor.")
    color: str = Field(description="#rrggbb, distinct within the session while the palette lasts.")
    role: SessionRole
    host: bool


class Session(BaseModel):
    id: str
    project: str
    title: str
    host: str = Field(description="Username of the host (who started it).")
    mode: Mode = Field(description="free: drivers and navigators edit; pair: only `driver` edits.")
    driver: str = Field(description="Username of the one who drives (edits in pair mode).")
    state: SessionState
    created_at: datetime
    ended_at: datetime | None
    participants: list[Participant] = Field(description="Everyone in the session now, the host first.")


class SessionList(BaseModel):
    items: list[Session]


class StartInput(ProjectInput):
    title: str = Field(default="", max_length=200, description="What the session is for (shown to participants).")
    mode: Mode = Field(default="free", description="free (everyone but guests edits) or pair (one driver).")


class SessionListInput(ProjectInput):
    state: SessionState | None = Field(default=None, description="Only active or only ended sessions.")
    limit: int = _limit()


class SessionInput(Input):
    session: str = _session_id()


class AdmitInput(Input):
    session: str = _session_id()


class Admitted(BaseModel):
    participant: Participant = Field(description="The caller, as this session knows them.")
    session: Session


class InviteInput(Input):
    session: str = _session_id()
    role: SessionRole = Field(default="navigator", description="Role the invitation gives: driver, navigator or guest.")
    expires_in_minutes: int = Field(
        default=24 * 60,
        ge=1,
        le=INVITATION_TTL_MAX_MINUTES,
        description=f"Minutes until the invitation expires (1-{INVITATION_TTL_MAX_MINUTES}, default a day).",
    )


class Invitation(BaseModel):
    id: str
    token: str = Field(
        description="Shown once: pass it (or the link) to the people you invite; the platform keeps only its hash.",
        json_schema_extra=SECRET,
    )
    link: str = Field(description="codeforge://collab/join?… holding the token: shown once.", json_schema_extra=SECRET)
    role: SessionRole
    expires_at: datetime


class JoinInput(Input):
    invitation: str = Field(
        min_length=1,
        max_length=2000,
        description="The invitation: its token or the whole codeforge://collab/join link.",
        json_schema_extra={"format": "password"},
    )


class ParticipantInput(Input):
    session: str = _session_id()
    username: str = Field(min_length=1, max_length=63, description="Username of a participant.")


class SetRoleInput(ParticipantInput):
    role: SessionRole = Field(description="driver, navigator or guest (read only).")


class SetModeInput(Input):
    session: str = _session_id()
    mode: Mode = Field(description="free (everyone but guests edits) or pair (one driver at a time).")


# ---- comments ---------------------------------------------------------------------------


class Comment(BaseModel):
    id: str
    author: str
    body: str
    created_at: datetime


class Thread(BaseModel):
    id: str
    project: str
    session: str | None
    review: str | None
    path: str
    line: int = Field(description="0-based line, the last one the language server saw the anchor at.")
    anchor: str = Field(description="Opaque: base64 of a CRDT sticky index (codeforge/collab/comments.py).")
    quote: str = Field(description="The text the thread was made on, as it was.")
    state: ThreadState
    comments: list[Comment]
    created_at: datetime


class ThreadList(BaseModel):
    items: list[Thread]


class CommentInput(ProjectInput):
    path: str = _PATH
    line: int = Field(ge=0, le=10_000_000, description="0-based line the comment is on.")
    body: str = Field(min_length=1, max_length=20_000, description="The comment (Markdown).")
    anchor: str = Field(
        default="",
        max_length=1024,
        pattern=r"^[A-Za-z0-9+/=_-]*$",
        description="base64 of a CRDT sticky index that keeps the thread on its text (the language server fills it).",
    )
    quote: str = Field(default="", max_length=2000, description="The text commented on.")
    session: str | None = _id(
        "Session the comment is made in (its guests may comment)", "collab.list#id", optional=True
    )
    review: str | None = _id("Review the comment is on", "collab.reviews#id", optional=True)


class ThreadInput(Input):
    thread: str = _thread_id()


class ReplyInput(Input):
    thread: str = _thread_id()
    body: str = Field(min_length=1, max_length=20_000, description="The reply (Markdown).")


class CommentsInput(ProjectInput):
    path: str | None = Field(default=None, min_length=1, max_length=4096, description="Only threads on this file.")
    review: str | None = _id("Only threads of this review", "collab.reviews#id", optional=True)
    session: str | None = _id("Only threads of this session", "collab.list#id", optional=True)
    state: ThreadState | None = Field(default=None, description="Only open or only resolved threads.")
    limit: int = _limit()


class MoveInput(Input):
    thread: str = _thread_id()
    line: int = Field(ge=0, le=10_000_000, description="The thread's anchor's line now (0-based).")


class Moved(BaseModel):
    thread: str
    line: int


# ---- reviews ----------------------------------------------------------------------------


class Hunk(Input):
    # A diff line's leading " " and trailing spaces are content.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    old_start: int = Field(ge=0, le=10_000_000, description="First line of the hunk in the base (as in @@ -a,b).")
    old_lines: int = Field(ge=0, le=10_000_000)
    new_start: int = Field(ge=0, le=10_000_000, description="First line of the hunk in the change (as in @@ +c,d).")
    new_lines: int = Field(ge=0, le=10_000_000)
    # At least one: a hunk without lines is no change, and empty hunks by the hundred
    # thousand (each under every per-file limit) cost seconds to validate and store.
    lines: list[str] = Field(
        min_length=1, max_length=20_000, description='The hunk\'s lines (1-20,000), each with its " ", "+" or "-".'
    )


class ReviewFile(Input):
    path: str = _PATH
    hunks: list[Hunk] = Field(max_length=2_000)


class ReviewCreateInput(ProjectInput):
    title: str = Field(min_length=1, max_length=200, description="What the change is.")
    base_ref: str = Field(min_length=1, max_length=256, description="The git ref the change is against (e.g. HEAD).")
    files: list[ReviewFile] = Field(
        max_length=1_000, description="The change set (JSON): [{path, hunks: [{old_start, old_lines, …, lines}]}]."
    )


class ReviewListInput(ProjectInput):
    state: ReviewState | None = Field(default=None, description="Only open or only closed reviews.")
    limit: int = _limit()


class ReviewInput(Input):
    review: str = _review_id()


class Review(BaseModel):
    id: str
    project: str
    title: str
    base_ref: str
    author: str
    state: ReviewState
    created_at: datetime
    closed_at: datetime | None
    files: list[ReviewFile]


class ReviewDetail(Review):
    threads: list[Thread] = Field(description="The review's comment threads.")


class ReviewSummary(BaseModel):
    id: str
    project: str
    title: str
    base_ref: str
    author: str
    state: ReviewState
    created_at: datetime
    closed_at: datetime | None
    paths: list[str] = Field(description="The files the change touches.")


class ReviewList(BaseModel):
    items: list[ReviewSummary]


# ---- operations -------------------------------------------------------------------------

START = declare(
    Operation(
        name="collab.start",
        title="Start a collaboration session",
        input=StartInput,
        output=Session,
        permission=Permission.EDIT,
        target="{project}",
        palette=False,  # codeforge.collab.start (the language server) also joins the room
    )
)
LIST = declare(
    Operation(
        name="collab.list",
        title="List collaboration sessions",
        input=SessionListInput,
        output=SessionList,
        # Your own sessions; every session of the project with `manage` (checked by the service).
        permission=Permission.VIEW,
        target="{project}",
    )
)
SHOW = declare(
    Operation(
        name="collab.show",
        title="Show a collaboration session",
        input=SessionInput,
        output=Session,
        permission=Permission.VIEW,
        target="{session}",
    )
)
ADMIT = declare(
    Operation(
        name="collab.admit",
        title="Check a user may take part in a session (the bridge, on every collab websocket)",
        input=AdmitInput,
        output=Admitted,
        permission=Permission.VIEW,  # a read-only guest may be an organization viewer
        target="{session}",
        audit_success=False,  # every connection: refusals are audited, admissions not
        palette=False,
    )
)
INVITE = declare(
    Operation(
        name="collab.invite",
        title="Invite someone to a collaboration session",
        input=InviteInput,
        output=Invitation,
        permission=Permission.VIEW,  # the host only (checked by the service)
        target="{session}/{role}",  # never the token: it is in the output only, once
        palette=False,
    )
)
JOIN = declare(
    Operation(
        name="collab.join",
        title="Join a collaboration session with an invitation",
        input=JoinInput,
        output=Session,
        permission=Permission.VIEW,
        palette=False,  # no target: the input is the secret
    )
)
LEAVE = declare(
    Operation(
        name="collab.leave",
        title="Leave a collaboration session",
        input=SessionInput,
        output=Session,
        permission=Permission.VIEW,
        target="{session}",
        palette=False,
    )
)
REMOVE = declare(
    Operation(
        name="collab.remove",
        title="Remove a participant from a collaboration session",
        input=ParticipantInput,
        output=Session,
        permission=Permission.VIEW,  # the host only
        destructive=True,
        target="{session}/{username}",
    )
)
SET_ROLE = declare(
    Operation(
        name="collab.set_role",
        title="Set a participant's role in a collaboration session",
        input=SetRoleInput,
        output=Session,
        permission=Permission.VIEW,  # the host only
        target="{session}/{username}/{role}",
    )
)
SET_MODE = declare(
    Operation(
        name="collab.set_mode",
        title="Switch a collaboration session between free and pair mode",
        input=SetModeInput,
        output=Session,
        permission=Permission.VIEW,  # the host only
        target="{session}/{mode}",
    )
)
HANDOVER = declare(
    Operation(
        name="collab.handover",
        title="Hand the driving over to another participant",
        input=ParticipantInput,
        output=Session,
        permission=Permission.VIEW,  # the driver or the host
        target="{session}/{username}",
        palette=False,
    )
)
END = declare(
    Operation(
        name="collab.end",
        title="End a collaboration session",
        input=SessionInput,
        output=Session,
        permission=Permission.VIEW,  # the host, or `manage` (checked by the service)
        destructive=True,
        target="{session}",
        palette=False,
    )
)
COMMENT = declare(
    Operation(
        name="collab.comment",
        title="Comment on a line (starts a thread)",
        input=CommentInput,
        output=Thread,
        # `edit`, or a participant of the session named (a guest may comment, not edit).
        permission=Permission.VIEW,
        target="{project}/{path}",
        palette=False,
    )
)
REPLY = declare(
    Operation(
        name="collab.reply",
        title="Reply to a comment thread",
        input=ReplyInput,
        output=Thread,
        permission=Permission.VIEW,
        target="{thread}",
        palette=False,
    )
)
RESOLVE = declare(
    Operation(
        name="collab.resolve",
        title="Resolve a comment thread",
        input=ThreadInput,
        output=Thread,
        permission=Permission.VIEW,
        target="{thread}",
        palette=False,
    )
)
REOPEN = declare(
    Operation(
        name="collab.reopen",
        title="Reopen a resolved comment thread",
        input=ThreadInput,
        output=Thread,
        permission=Permission.VIEW,
        target="{thread}",
        palette=False,
    )
)
COMMENTS = declare(
    Operation(
        name="collab.comments",
        title="List comment threads",
        input=CommentsInput,
        output=ThreadList,
        permission=Permission.VIEW,
        target="{project}/{path}",
    )
)
MOVE = declare(
    Operation(
        name="collab.move",
        title="Record a thread's current line (the language server, as text moves)",
        input=MoveInput,
        output=Moved,
        permission=Permission.VIEW,
        target="{thread}",
        audit_success=False,  # at keystroke rate
        palette=False,
    )
)
REVIEW_CREATE = declare(
    Operation(
        name="collab.review_create",
        title="Open a review of a change set",
        input=ReviewCreateInput,
        output=Review,
        permission=Permission.EDIT,
        target="{project}/{title}",
    )
)
REVIEWS = declare(
    Operation(
        name="collab.reviews",
        title="List reviews",
        input=ReviewListInput,
        output=ReviewList,
        permission=Permission.VIEW,
        target="{project}",
    )
)
REVIEW_SHOW = declare(
    Operation(
        name="collab.review_show",
        title="Show a review with its threads",
        input=ReviewInput,
        output=ReviewDetail,
        permission=Permission.VIEW,
        target="{review}",
    )
)
REVIEW_CLOSE = declare(
    Operation(
        name="collab.review_close",
        title="Close a review",
        input=ReviewInput,
        output=Review,
        permission=Permission.EDIT,  # its author, or `manage` (checked by the service)
        destructive=True,
        target="{review}",
    )
)
