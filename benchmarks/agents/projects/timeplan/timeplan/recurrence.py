"""Recurrence rules: daily or weekly, every n, on some weekdays, a count or an end."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from timeplan.workhours import WEEKDAYS


@dataclass(frozen=True)
class Rule:
    freq: str = "daily"  # daily | weekly
    interval: int = 1
    weekdays: tuple[str, ...] = ()  # weekly only; empty: the start's weekday
    count: int | None = None
    until: datetime | None = None

    def __post_init__(self) -> None:
        if self.freq not in ("daily", "weekly"):
            raise ValueError(f"unknown frequency {self.freq!r}")
        if self.interval < 1:
            raise ValueError("interval must be at least 1")
        if self.weekdays and self.freq != "weekly":
            raise ValueError("weekdays need a weekly rule")

    def occurrences(self, start: datetime) -> Iterator[datetime]:
        """Every start time of the series, in order, from `start` itself."""
        if self.freq == "daily":
            candidates = (start + timedelta(days=i * self.interval) for i in _naturals())
        else:
            candidates = self._weekly(start)
        for produced, when in enumerate(candidates):
            if self.until is not None and when > self.until:
                return
            if self.count is not None and produced >= self.count:
                return
            yield when

    def _weekly(self, start: datetime) -> Iterator[datetime]:
        days = sorted(WEEKDAYS.index(d) for d in self.weekdays) or [start.weekday()]
        week_start = start - timedelta(days=start.weekday())
        for week in _naturals():
            base = week_start + timedelta(weeks=week * self.interval)
            for day in days:
                when = base + timedelta(days=day)
                if when >= start:
                    yield when

    def between(self, start: datetime, first: datetime, last: datetime) -> list[datetime]:
        """The occurrences that begin within [first, last)."""
        result = []
        for when in self.occurrences(start):
            if when >= last:
                break
            if when >= first:
                result.append(when)
        return result


def _naturals() -> Iterator[int]:
    n = 0
    while True:
        yield n
        n += 1
