"""What the monitoring panes share: reaching the telemetry stores, drawing a PromQL query over
time as a Chart, and sections that fail alone (a missing or broken part shows as a short
note in its section, never as a failed page)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from codeforge.catalog.errors import CodeForgeError
from codeforge.platform.context import Context
from codeforge.platform.monitoring.runtime import Monitoring, monitoring_for
from codeforge.platform.panes.content import Chart, Section, Table

__all__ = [
    "MAX_SERIES",
    "POINTS",
    "chart",
    "failure",
    "guarded",
    "monitoring",
    "now_ms",
    "series_label",
    "short_id",
    "step_ms",
    "when_ns",
]

log = logging.getLogger("codeforge.monitoring.panes")

MAX_SERIES = 12  # lines per chart; more are summed up in the chart's title
POINTS = 240  # points per line: one per 3 pixels of a chart


def monitoring(ctx: Context) -> Monitoring:
    return monitoring_for(ctx.settings)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def when_ns(time_ns: int) -> str:
    return datetime.fromtimestamp(time_ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%S")


def short_id(value: str, keep: int = 12) -> str:
    return value[:keep]


def series_label(labels: dict[str, str]) -> str:
    """A series as Prometheus writes it: name{label="value", ...}."""
    name = labels.get("__name__", "")
    rest = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
    return f"{name}{{{rest}}}" if rest or not name else name


def guarded(title: str, build: Callable[[], Section]) -> Section:
    """The section `build` makes, or a table saying why there is none: the part is not on this
    platform yet, or reading it failed (logged with its traceback)."""
    try:
        return build()
    except Exception as exc:
        return failure(title, exc)


def failure(title: str, exc: Exception) -> Table:
    """A section that says why it could not be filled."""
    if isinstance(exc, CodeForgeError):
        return Table(title, [], [], empty=f"not available: {exc.message}")
    if isinstance(exc, ImportError):
        return Table(title, [], [], empty=f"no data yet: this platform has no {exc.name or 'such'} part")
    log.exception("monitoring pane section failed", extra={"section": title}, exc_info=exc)
    return Table(title, [], [], empty=f"could not be read: {type(exc).__name__}: {exc}")


def step_ms(start: int, end: int) -> int:
    """The step a chart over [start, end] is evaluated at: POINTS points, at most one a second."""
    return max(1000, (end - start) // POINTS)


def _evaluate(mon: Monitoring, project_id: str, query: str, start: int, end: int) -> Any:
    from codeforge.platform.monitoring.metrics.promql import evaluate_range

    return evaluate_range(mon.metrics, project_id, query, start, end, step_ms(start, end))


def chart(ctx: Context, title: str, query: str, unit: str = "", *, range_ms: int = 3_600_000, **kw: Any) -> Chart:
    """`query` over the last `range_ms` as a Chart, one line per series (one without labels
    named by the query). When the data begins late in the range (a new project, a new target),
    the line is drawn over the time it has, at a finer step, rather than as a few points at the
    right edge."""
    from codeforge.platform.monitoring.metrics.promql import PromQLError

    mon, project_id = monitoring(ctx), ctx.require_project().id
    end = now_ms()
    start = end - range_ms
    try:
        matrix = _evaluate(mon, project_id, query, start, end)
        first = min((points[0][0] for _, points in matrix.series if points), default=None)
        if first is not None and first > start + range_ms * 3 // 4:
            start = max(start, first - 1000)
            matrix = _evaluate(mon, project_id, query, start, end)
    except PromQLError as exc:
        return Chart(title, [], unit=unit, empty=f"the query {query!r} failed: {exc}", **kw)
    series = [(series_label(labels) if labels else query, points) for labels, points in matrix.series]
    if len(series) > MAX_SERIES:
        title = f"{title} (first {MAX_SERIES} of {len(series)} series)"
        series = series[:MAX_SERIES]
    # The axis spans what was asked (the rendered SVG says it: data-start-ms, data-end-ms).
    return Chart(title, series, unit=unit, empty=f"no data yet for {query}", start_ms=start, end_ms=end, **kw)
