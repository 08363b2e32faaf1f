"""What the log store's two backends (SQLite FTS5, PostgreSQL full-text) share: the stored
line as read back, the interface the store drives, and how a label set becomes a stream.

Streams as Loki's: each distinct label set of a project is a row with an id; a line stores
its stream's id, and a label selector is evaluated over the project's few streams (in Python,
regexes included) to a set of ids the query filters on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from codeforge.platform.monitoring.logs.query import LogQuery
from codeforge.platform.monitoring.records import LogRecord, matches

__all__ = ["Backend", "StoredLog", "labels_key", "selected_streams"]


@dataclass(slots=True)
class StoredLog:
    id: int  # increases in the order lines were stored: a tail's cursor
    time_ns: int
    line: str
    labels: dict[str, str]
    attributes: dict[str, Any] = field(default_factory=dict)
    level: str = ""
    trace_id: str = ""
    span_id: str = ""


def labels_key(labels: dict[str, str]) -> str:
    """The canonical text of a label set (sorted keys): the stream's identity."""
    return orjson.dumps(labels, option=orjson.OPT_SORT_KEYS).decode()


def selected_streams(streams: dict[int, dict[str, str]], query: LogQuery) -> list[int]:
    """The ids of the streams the query's selector matches (all, without one)."""
    if not query.matchers:
        return list(streams)
    return [sid for sid, labels in streams.items() if matches(labels, query.matchers)]


class Backend(Protocol):
    def prepare(self, project_id: str, records: list[LogRecord]) -> Any:
        """The part of storing that needs no transaction (streams looked up, rows encoded):
        `LogStore.ingest` calls it in the request's thread, so it runs beside the writer."""

    def write(self, prepared: list[Any]) -> int:
        """Store what `prepare` made of several requests, in order, in one transaction; the
        highest id stored."""

    def last_id(self) -> int: ...

    def streams(self, project_id: str) -> dict[int, dict[str, str]]: ...

    def search(
        self,
        project_id: str,
        query: LogQuery,
        start_ns: int | None,
        end_ns: int | None,
        limit: int,
        newest_first: bool,
        after_id: int | None = None,
    ) -> list[StoredLog]: ...

    def count(self, project_id: str, query: LogQuery, start_ns: int | None, end_ns: int | None) -> int: ...

    def delete_before(self, time_ns: int) -> int:
        """Retention: remove lines older than `time_ns`; how many went."""

    def maintain(self) -> None:
        """Idle-time upkeep (merging the full-text index's segments)."""

    def get_cursor(self, name: str) -> int: ...

    def set_cursor(self, name: str, value: int) -> None: ...

    def close(self) -> None: ...
