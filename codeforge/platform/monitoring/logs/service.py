"""`monitoring.logs` and `monitoring.tail`: the log store's search and tail as operations."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from codeforge import catalog
from codeforge.catalog.errors import BadInput, FieldProblem
from codeforge.catalog.monitoring.logs import LogEntry, LogPage, LogsInput, TailInput, TailPage
from codeforge.catalog.monitoring.times import parse_time_ns_field
from codeforge.platform.context import Context
from codeforge.platform.monitoring.logs.backend import StoredLog
from codeforge.platform.monitoring.logs.query import LogQuery, LogQueryError, parse
from codeforge.platform.monitoring.runtime import monitoring_for
from codeforge.platform.registry import implements

__all__ = ["entry", "parse_query"]


def parse_query(text: str) -> LogQuery:
    try:
        return parse(text)
    except LogQueryError as exc:
        raise BadInput.of_fields(
            [
                FieldProblem(
                    "query",
                    f"at {exc.line}:{exc.column}: {exc.reason}",
                    'write {label="value"} first, then words, "phrases", -word and OR',
                )
            ]
        ) from None


def entry(found: StoredLog) -> LogEntry:
    return LogEntry(
        id=found.id,
        time=datetime.fromtimestamp(found.time_ns / 1e9, UTC),
        time_ns=found.time_ns,
        line=found.line,
        level=found.level,
        labels=found.labels,
        attributes=found.attributes,
        trace_id=found.trace_id,
        span_id=found.span_id,
    )


@implements(catalog.monitoring.logs.LOGS)
def search(ctx: Context, data: LogsInput) -> LogPage:
    project = ctx.require_project()
    query = parse_query(data.query)
    now_ns = time.time_ns()
    start = parse_time_ns_field("since", data.since, now_ns)
    end = parse_time_ns_field("until", data.until, now_ns)
    if start > end:
        raise BadInput.of_fields(
            [FieldProblem("since", "the range starts after it ends", "give `since` earlier than `until`")]
        )
    store = monitoring_for(ctx.settings).logs
    found = store.search(project.id, query, start, end, data.limit, data.newest_first)
    return LogPage(
        items=[entry(f) for f in found],
        query=data.query,
        start=datetime.fromtimestamp(start / 1e9, UTC),
        end=datetime.fromtimestamp(end / 1e9, UTC),
    )


@implements(catalog.monitoring.logs.TAIL)
def tail(ctx: Context, data: TailInput) -> TailPage:
    project = ctx.require_project()
    query = parse_query(data.query)
    store = monitoring_for(ctx.settings).logs
    after = int(data.after) if data.after else None
    found, cursor = store.tail(project.id, query, after, data.wait_s, data.limit)
    return TailPage(items=[entry(f) for f in found], cursor=str(cursor))
