"""A calendar of events, recurring or not, and their conflicts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

from timeplan.recurrence import Rule
from timeplan.workhours import WorkHours


@dataclass(frozen=True)
class Event:
    title: str
    start: datetime
    end: datetime
    rule: Rule | None = None

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"{self.title!r} ends before it starts")
        if self.start.tzinfo is None:
            raise ValueError(f"{self.title!r} needs a time zone")

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    def instances(self, first: datetime, last: datetime) -> list[tuple[datetime, datetime]]:
        """(start, end) of every instance overlapping [first, last)."""
        if self.rule is None:
            starts = [self.start]
        else:
            starts = self.rule.between(self.start, first - self.duration, last)
        return [(s, s + self.duration) for s in starts if s < last and s + self.duration > first]


@dataclass
class Calendar:
    events: list[Event] = field(default_factory=list)
    hours: WorkHours = field(default_factory=WorkHours)

    def add(self, event: Event) -> None:
        self.events.append(event)

    def on(self, day: date, tz: timezone = timezone.utc) -> list[tuple[datetime, datetime, Event]]:
        """Every instance touching `day`, by start time."""
        first = datetime.combine(day, datetime.min.time(), tz)
        last = first + timedelta(days=1)
        found = [(s, e, ev) for ev in self.events for s, e in ev.instances(first, last)]
        return sorted(found, key=lambda item: (item[0], item[1], item[2].title))

    def conflicts(self, day: date) -> list[tuple[Event, Event]]:
        """Pairs of events whose instances overlap on `day`."""
        instances = self.on(day)
        pairs = []
        for i, (s1, e1, ev1) in enumerate(instances):
            for s2, e2, ev2 in instances[i + 1 :]:
                if s2 < e1 and s1 < e2:
                    pairs.append((ev1, ev2))
        return pairs

    def busy(self, day: date) -> list[tuple[datetime, datetime]]:
        """The day's busy intervals, overlapping ones merged."""
        merged: list[tuple[datetime, datetime]] = []
        for start, end, _ in self.on(day):
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        return merged
