"""The `logs` pane: the lines a log query finds (every line when it is empty), newest first,
refreshed every 2 seconds while open: a live tail."""

from __future__ import annotations

from codeforge.catalog.errors import BadInput, FieldProblem
from codeforge.platform.context import Context
from codeforge.platform.monitoring.panes.common import failure, monitoring, when_ns
from codeforge.platform.panes.content import Log, PaneContent, Section
from codeforge.platform.panes.registry import item_pane

__all__ = ["LIMIT", "logs"]

LIMIT = 200


def _shown_labels(labels: dict[str, str]) -> str:
    rest = {k: v for k, v in labels.items() if k != "level"}
    return " {" + ", ".join(f"{k}={v}" for k, v in sorted(rest.items())) + "}" if rest else ""


def _search(ctx: Context, query: str) -> Section:
    from codeforge.platform.monitoring.logs.query import LogQueryError

    try:
        found = monitoring(ctx).logs.search(ctx.require_project().id, query, None, None, LIMIT, newest_first=True)
    except LogQueryError as exc:
        raise BadInput(
            f"the log query {query!r} does not parse",
            errors=[
                FieldProblem(
                    "item", str(exc), 'write words, "phrases", -excluded words and a {label="value"} selector first'
                )
            ],
        ) from None
    entries = [
        (
            f"{when_ns(r.time_ns)}.{r.time_ns // 1_000_000 % 1000:03d} {(r.level or '-').upper():<8}",
            f"{r.line}{_shown_labels(r.labels)}",
        )
        for r in found
    ]
    shown = f"newest {LIMIT}" if len(entries) == LIMIT else f"{len(entries)} line{'s' * (len(entries) != 1)}"
    return Log(
        f"Log lines ({shown}, newest first)",
        entries,
        empty=f"no log lines match {query!r} yet" if query else "no log lines yet: send some to /ingest/{project}/logs",
    )


@item_pane("logs", "Logs", item="query", optional=True)
def logs(ctx: Context, query: str) -> PaneContent:
    query = query.strip()
    try:
        section = _search(ctx, query)
    except BadInput:
        raise  # a query that does not parse refuses the link, naming the column
    except Exception as exc:
        section = failure("Log lines", exc)
    return PaneContent(
        title=f"Logs — {ctx.require_project().slug}",
        subtitle=f"query: {query}" if query else "every line · times in UTC",
        sections=[section],
        refresh_s=2,
    )
