"""The `errors` pane (the project's error groups, most recently seen first) and the `error`
pane (one group: its stack, as a traceback and as frames, and its recent events)."""

from __future__ import annotations

from codeforge.catalog.errors import NotFound
from codeforge.platform.context import Context
from codeforge.platform.monitoring.panes.common import failure, monitoring, when_ns
from codeforge.platform.monitoring.records import StackFrame
from codeforge.platform.panes.content import Bars, Code, PaneContent, Section, Table
from codeforge.platform.panes.registry import item_pane, pane

__all__ = ["error", "errors", "traceback_text"]

STATE_COLORS = {"unresolved": "#cf222e", "regressed": "#bf3989", "resolved": "#1a7f37", "ignored": "#6e7781"}


@pane("errors", "Errors")
def errors(ctx: Context) -> PaneContent:
    project = ctx.require_project()
    sections: list[Section]
    try:
        groups = monitoring(ctx).errors.groups(project.id, limit=100)
    except Exception as exc:
        sections = [failure("Error groups", exc)]
    else:
        busiest = sorted(groups, key=lambda g: -g.count)[:10]
        sections = [
            Bars(
                "Most seen",
                [(f"{g.type} ({g.id[:8]})", g.count, f"{g.count} · {g.state}") for g in busiest],
                empty="no errors yet",
                colors={f"{g.type} ({g.id[:8]})": STATE_COLORS.get(g.state, "#2f81f7") for g in busiest},
            ),
            Table(
                f"Error groups ({len(groups)}, most recently seen first)",
                ["group", "error", "state", "count", "first seen (UTC)", "last seen (UTC)", "services", "where"],
                [
                    [
                        g.id,
                        f"{g.type}: {g.message}"[:140],
                        g.state,
                        str(g.count),
                        when_ns(g.first_seen_ns),
                        when_ns(g.last_seen_ns),
                        ", ".join(g.services),
                        g.culprit,
                    ]
                    for g in groups
                ],
                empty="no errors yet: exceptions in logs and traces are grouped here",
            ),
        ]
    return PaneContent(title=f"Errors — {project.slug}", subtitle="times in UTC", sections=sections, refresh_s=10)


def traceback_text(type_: str, message: str, frames: list[StackFrame]) -> str:
    """The stack as Python prints it, outermost call first; frames outside the app marked."""
    lines = ["Traceback (most recent call last):"]
    for f in frames:
        lines.append(f'  File "{f.path}", line {f.line}, in {f.function}{"" if f.in_app else "  [library]"}')
        if f.code:
            lines.append(f"    {f.code.strip()}")
    lines.append(f"{type_}: {message}" if message else type_)
    return "\n".join(lines)


@item_pane("error", "Error", item="error")
def error(ctx: Context, group_id: str) -> PaneContent:
    project = ctx.require_project()
    group = monitoring(ctx).errors.group(project.id, group_id.strip())
    if group is None:
        raise NotFound(
            f"project {project.slug!r} has no error group {group_id!r}",
            fix="pick a group id from the errors pane or monitoring.errors",
        )
    return PaneContent(
        title=f"{group.type}: {group.message}"[:200],
        subtitle=f"error group {group.id} · {group.state} · seen {group.count} times, "
        f"first {when_ns(group.first_seen_ns)}, last {when_ns(group.last_seen_ns)} UTC",
        sections=[
            Code("Stack (most recent call last)", traceback_text(group.type, group.message, group.frames)),
            Table(
                "Frames",
                ["#", "file", "line", "function", "in app"],
                [
                    [str(i + 1), f.path, str(f.line), f.function, "yes" if f.in_app else ""]
                    for i, f in enumerate(group.frames)
                ],
                empty="the events carried no stack frames",
            ),
            Table(
                "Recent events",
                ["time (UTC)", "service", "message", "source", "trace"],
                [[when_ns(e.time_ns), e.service, e.message[:160], e.source, e.trace_id] for e in group.events],
                empty="no events kept",
            ),
        ],
    )
