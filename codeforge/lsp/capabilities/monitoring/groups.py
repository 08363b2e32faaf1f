"""An error group as `monitoring.errors` answers it, read into what the editor needs: its id,
the exception's type and message, how often and when it was last seen, its state, and the
latest event's stack frames (outermost call first, the raising frame last, as Python prints).

The JSON is the catalog's (`codeforge/catalog/monitoring/errors.py`); this reads only the
fields docs/monitoring.md names and tolerates the rest (and a few spellings of them), so an
added field never breaks the editor; a group it cannot read is skipped, not fatal.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = ["ACTIVE_STATES", "ErrorGroup", "Frame", "read_groups"]

log = logging.getLogger(__name__)

# The states the editor shows: an error that still happens (or happens again).
ACTIVE_STATES = frozenset(("unresolved", "regressed"))


@dataclass(frozen=True)
class Frame:
    path: str  # as the deployed program saw it
    line: int  # 1-based
    function: str
    in_app: bool
    code: str = ""


@dataclass(frozen=True)
class ErrorGroup:
    id: str
    type: str
    message: str
    count: int
    last_seen: str  # as the platform wrote it (RFC 3339)
    state: str
    frames: list[Frame] = field(default_factory=list)

    @property
    def in_app(self) -> list[Frame]:
        return [f for f in self.frames if f.in_app]

    @property
    def raising(self) -> Frame | None:
        """The frame that raised: the last in-app frame (the library frames under it are
        not the project's code)."""
        frames = self.in_app
        return frames[-1] if frames else None

    def headline(self) -> str:
        return f"{self.type}: {self.message}" if self.message else self.type

    def stack_text(self) -> str:
        """The stack as Python prints it, for the Bug Fixer's task."""
        lines = ["Traceback (most recent call last):"]
        for f in self.frames:
            lines.append(f'  File "{f.path}", line {f.line}, in {f.function}')
            if f.code:
                lines.append(f"    {f.code.strip()}")
        lines.append(self.headline())
        return "\n".join(lines)


def _first(data: dict[str, Any], *keys: str, default: Any = None) -> Any:
    for key in keys:
        if data.get(key) not in (None, ""):
            return data[key]
    return default


def _frame(raw: Any) -> Frame | None:
    if not isinstance(raw, dict):
        return None
    path = _first(raw, "path", "filename", "file", "abs_path")
    line = _first(raw, "line", "lineno")
    if not isinstance(path, str) or not isinstance(line, int) or isinstance(line, bool) or line < 1:
        return None
    return Frame(
        path=path,
        line=line,
        function=str(_first(raw, "function", "name", default="?")),
        in_app=bool(raw.get("in_app", True)),
        code=str(_first(raw, "code", "context_line", default="")),
    )


def _frames(raw: dict[str, Any]) -> list[Frame]:
    frames = raw.get("frames")
    if frames is None:  # the latest event's, when the group carries it as an object
        event = _first(raw, "latest", "latest_event", "event", default={})
        frames = event.get("frames") if isinstance(event, dict) else None
    return [f for f in (_frame(x) for x in frames or []) if f is not None]


def _group(raw: Any) -> ErrorGroup | None:
    if not isinstance(raw, dict):
        return None
    group_id = _first(raw, "id", "group", "fingerprint")
    if group_id is None:
        return None
    count = _first(raw, "count", "events", "times_seen", default=0)
    last_seen = _first(raw, "last_seen", "last_seen_at", default="")
    if not last_seen and isinstance(raw.get("last_seen_ns"), int):
        last_seen = datetime.fromtimestamp(raw["last_seen_ns"] / 1e9, UTC).isoformat()
    return ErrorGroup(
        id=str(group_id),
        type=str(_first(raw, "type", "exception_type", "title", default="Error")),
        message=str(_first(raw, "message", "value", default="")),
        count=count if isinstance(count, int) and not isinstance(count, bool) else 0,
        last_seen=str(last_seen),
        state=str(_first(raw, "state", "status", default="unresolved")),
        frames=_frames(raw),
    )


def read_groups(data: Any) -> list[ErrorGroup]:
    """The groups of a `monitoring.errors` answer (`{"items": [...]}`, `{"groups": [...]}` or
    the list itself); groups it cannot read are logged and left out."""
    if isinstance(data, dict):
        data = _first(data, "items", "groups", default=[])
    out = []
    for raw in data if isinstance(data, list) else []:
        group = _group(raw)
        if group is None:
            log.info("an error group the editor cannot read was left out: %.200r", raw)
            continue
        out.append(group)
    return out
