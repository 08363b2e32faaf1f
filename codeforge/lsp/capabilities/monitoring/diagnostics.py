"""Production errors as diagnostics at the lines that failed (docs/monitoring.md, "Editors").

One `monitoring.errors` for the session's project gives the error groups; each unresolved or
regressed group's raising frame (the last in-app frame that maps to a project file, `paths.py`)
gets an Error diagnostic on that line, the other in-app frames that map are its related
information. Files that are not open get theirs too, so the editor's Problems list shows every
production error of the project. Groups that are no longer active lose their diagnostics.

Published as the diagnostics layer `OWNER` (`features/layers.py`): the editor gets the union
with what other owners publish on the same files (pipeline test failures, agents), and a
refresh replaces only this layer.

Refreshed when the session starts (a `SessionHook`), when a file is opened or saved (open: at most every
`OPEN_REFRESH_S`), when the feed says errors changed (`feed.py`), after "Resolve error", and on
the command `codeforge.monitoring.refresh`. Concurrent asks share one request. A platform that
cannot be reached, an operation that fails, a frame that maps to nothing: no diagnostic and no
popup (the log says why), and what was published stays until the platform answers again.

This module publishes only for the files its groups land on, and never for codeforge.yaml:
a production stack frame is code.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.workspace.position_codec import ServerTextPosition, ServerTextRange

from codeforge.catalog.base import operation
from codeforge.catalog.errors import CodeForgeError
from codeforge.lsp.capabilities.monitoring.groups import ACTIVE_STATES, ErrorGroup, Frame, read_groups
from codeforge.lsp.capabilities.monitoring.paths import file_checker, map_deployed_path
from codeforge.lsp.features.layers import layer, publish_layer
from codeforge.lsp.project_yaml import is_project_file
from codeforge.lsp.reader import read_project, uri_of
from codeforge.lsp.session import CodeForgeSession

__all__ = [
    "ERRORS_OP",
    "OPEN_REFRESH_S",
    "OWNER",
    "SOURCE",
    "ErrorDiagnostics",
    "Where",
    "diagnostics_for",
    "monitored_project",
    "published",
    "refresh",
]

log = logging.getLogger(__name__)

SOURCE = "codeforge production"
OWNER = "monitoring.errors"  # the diagnostics layer (features/layers.py)
ERRORS_OP = "monitoring.errors"
OPEN_REFRESH_S = 10.0  # opening files one after another asks the platform at most this often
ERRORS_LIMIT = 200  # groups asked for (the newest); the Problems list is no error browser


@dataclass(frozen=True)
class Where:
    """The project the session monitors: its slug, its folder (deployed paths map into it)
    and codeforge.yaml's `monitoring.paths`."""

    project: str
    root: Path
    prefixes: dict[str, str]


@dataclass
class ErrorDiagnostics:
    """Per session: the groups behind the diagnostics, and the refresh's lock (what was
    published where is the layer's: `published(ls)`)."""

    groups: dict[str, ErrorGroup] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    asked: int = 0  # refreshes asked for
    done: int = 0  # the `asked` count the last finished refresh covered
    last_s: float = 0.0  # monotonic time of the last finished refresh


def monitored_project(ls: CodeForgeSession) -> Where | None:
    """codeforge.yaml's project, folder and path map; else the session's project and the
    workspace folder; None when there is no project or no folder."""
    try:
        doc = read_project(ls)
    except CodeForgeError:  # no codeforge.yaml, or one with errors (its diagnostics say so)
        project, root = ls.context_project(), ls.workspace_root()
        return Where(project, root, {}) if project and root is not None else None
    section = getattr(doc.model, "monitoring", None)
    paths = getattr(section, "paths", None) or (section.get("paths") if isinstance(section, dict) else None) or {}
    return Where(doc.project, doc.folder, {str(k): str(v) for k, v in dict(paths).items()})


def _ago(stamp: str, now: datetime | None = None) -> str:
    try:
        seen = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return stamp or "unknown"
    if seen.tzinfo is None:
        seen = seen.replace(tzinfo=UTC)
    seconds = max(0, int(((now or datetime.now(UTC)) - seen).total_seconds()))
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return "just now"


def _message(group: ErrorGroup) -> str:
    events = f"{group.count} event{'s' if group.count != 1 else ''}" if group.count else "events"
    state = ", regressed" if group.state == "regressed" else ""
    return f"{group.headline()} ({events}, last seen {_ago(group.last_seen)}{state})"


def _line_range(ls: CodeForgeSession, uri: str, line: int) -> types.Range | None:
    """The 0-based line's non-whitespace text in the client's encoding; None past the end
    (the file changed since that build was deployed)."""
    try:
        doc = ls.workspace.get_text_document(uri)
        lines = doc.lines
    except (OSError, UnicodeDecodeError, RuntimeError):
        return None
    if line >= len(lines):
        return None
    text = lines[line].rstrip("\r\n")
    start, end = len(text) - len(text.lstrip()), len(text.rstrip())
    if end <= start:  # a blank line: mark its start
        start, end = 0, 0
    return doc.range_to_client_units(
        ServerTextRange(ServerTextPosition(line, start), ServerTextPosition(line, max(end, start)))
    )


@dataclass(frozen=True)
class _Mapped:
    frame: Frame
    uri: str
    path: str  # project-relative
    range: types.Range


def _mapped_frames(ls: CodeForgeSession, where: Where, group: ErrorGroup, is_file: Any) -> list[_Mapped]:
    out = []
    for frame in group.in_app:
        relative = map_deployed_path(frame.path, prefixes=where.prefixes, is_file=is_file)
        if relative is None:
            continue
        uri = uri_of(where.root / relative)
        if is_project_file(uri):
            continue
        rng = _line_range(ls, uri, frame.line - 1)
        if rng is not None:
            out.append(_Mapped(frame, uri, relative, rng))
    return out


def diagnostics_for(ls: CodeForgeSession, where: Where, groups: list[ErrorGroup]) -> dict[str, list[types.Diagnostic]]:
    """URI → the diagnostics of the active groups whose frames map into the project."""
    is_file = file_checker(where.root)
    out: dict[str, list[types.Diagnostic]] = {}
    for group in groups:
        if group.state not in ACTIVE_STATES:
            continue
        mapped = _mapped_frames(ls, where, group, is_file)
        if not mapped:
            log.info("error group %s: no frame maps to a file of %s", group.id, where.root)
            continue
        raising, callers = mapped[-1], mapped[:-1]
        related = [
            types.DiagnosticRelatedInformation(
                location=types.Location(uri=m.uri, range=m.range),
                message=f"{m.frame.function} ({m.path}:{m.frame.line})",
            )
            for m in reversed(callers)  # the nearest caller first
        ]
        out.setdefault(raising.uri, []).append(
            types.Diagnostic(
                range=raising.range,
                message=_message(group),
                severity=types.DiagnosticSeverity.Error,
                source=SOURCE,
                code=group.id,
                related_information=related or None,
                data={"group": group.id, "path": raising.path, "line": raising.frame.line},
            )
        )
    return out


def published(ls: CodeForgeSession) -> dict[str, list[types.Diagnostic]]:
    """URI → the production-error diagnostics published there now."""
    return layer(ls, OWNER)


def _publish(ls: CodeForgeSession, fresh: dict[str, list[types.Diagnostic]]) -> None:
    # Files whose errors went get an empty layer; the union is re-sent only where it changed.
    for uri in sorted(set(published(ls)) | set(fresh)):
        publish_layer(ls, uri, OWNER, fresh.get(uri, []))


async def _fetch(ls: CodeForgeSession, where: Where) -> list[ErrorGroup]:
    op = operation(ERRORS_OP)
    data: dict[str, Any] = {"project": where.project}
    if "limit" in op.input.model_fields:
        data["limit"] = ERRORS_LIMIT
    answer = await ls.platform.call(op, data)
    return read_groups(answer.model_dump(mode="json") if hasattr(answer, "model_dump") else answer)


async def _refresh_once(ls: CodeForgeSession) -> None:
    state = ls.state(ErrorDiagnostics)
    where = monitored_project(ls)
    if where is None:
        log.info("no production errors as diagnostics: no project or no workspace folder")
        return
    try:
        groups = await _fetch(ls, where)
    except CodeForgeError as exc:
        log.info("production errors not refreshed: %s", exc.message)
        return
    state.groups = {g.id: g for g in groups}
    _publish(ls, diagnostics_for(ls, where, groups))


async def refresh(ls: CodeForgeSession, *, unless_newer_than_s: float = 0.0) -> None:
    """Ask the platform again and publish what changed. Asks made while one runs share the
    next one; with `unless_newer_than_s`, a refresh that finished that recently is enough."""
    state = ls.state(ErrorDiagnostics)
    state.asked += 1
    mine = state.asked
    async with state.lock:
        if state.done >= mine:
            return  # a refresh that started after this ask has finished
        if unless_newer_than_s and time.monotonic() - state.last_s < unless_newer_than_s:
            return
        started = state.asked
        try:
            await _refresh_once(ls)
        except Exception:  # a bug must not break the document events it runs in
            log.exception("refreshing production errors failed")
        state.done = started
        state.last_s = time.monotonic()
