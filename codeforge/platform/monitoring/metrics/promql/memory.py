"""An in-memory SeriesSource: samples held in lists, selected with the same matcher rules as
the store (a missing label is the empty string; regexes anchored at both ends). For tests and
for evaluating over samples a caller already has."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence

from codeforge.platform.monitoring.records import Matcher, SeriesData, matches

__all__ = ["MemorySource"]


class MemorySource:
    def __init__(self) -> None:
        # project -> labels (sorted pairs) -> (times, values), both oldest first
        self._series: dict[str, dict[tuple[tuple[str, str], ...], tuple[list[int], list[float]]]] = {}

    def write(self, project_id: str, samples: Iterable[tuple[dict[str, str], int, float]]) -> None:
        """As MetricsStore.write: (labels with __name__, time in ms, value); kept in time order."""
        series = self._series.setdefault(project_id, {})
        for labels, time_ms, value in samples:
            times, values = series.setdefault(tuple(sorted(labels.items())), ([], []))
            at = bisect_right(times, time_ms)
            if at and times[at - 1] == time_ms:
                values[at - 1] = value  # the same time again: the later write wins
                continue
            times.insert(at, time_ms)
            values.insert(at, value)

    def select(self, project_id: str, matchers: Sequence[Matcher], start_ms: int, end_ms: int) -> list[SeriesData]:
        found = []
        for key, (times, values) in self._series.get(project_id, {}).items():
            labels = dict(key)
            if not matches(labels, matchers):
                continue
            lo, hi = bisect_left(times, start_ms), bisect_right(times, end_ms)
            if lo < hi:
                found.append(SeriesData(labels, times[lo:hi], values[lo:hi]))
        return found
